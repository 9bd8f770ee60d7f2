"""One row per soma of a field, and the small image each field keeps for registration."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from screening.plate import MAD_TO_SD
from screening.segment import filters

OBJECT_COLUMNS = ["label", "y_px", "x_px", "area_px", "reporter_level", "nuclei_level", "dim"]


def soma_objects(
    soma_labels: np.ndarray, reporter: np.ndarray, nuclei: np.ndarray | None = None
) -> pd.DataFrame:
    """Centroid, area and mean levels of every labelled soma.

    Parameters
    ----------
    soma_labels : (M, N) int array
        0 = background, 1..n = somata (as :func:`screening.segment.somata.count_motor_neurons`
        returns them).
    reporter : (M, N) array
        Reporter image the levels are read from (e.g. background-subtracted).
    nuclei : (M, N) array, optional
        Nuclear image; without it ``nuclei_level`` is NaN.

    Returns
    -------
    DataFrame
        :data:`OBJECT_COLUMNS`, one row per label present: ``y_px, x_px`` (centroid, px,
        row/column of the image), ``area_px`` (px), ``reporter_level`` and
        ``nuclei_level`` (mean over the soma, image units); ``dim`` False.
    """
    soma_labels = np.asarray(soma_labels)
    # Somata cover a small part of the field: work on their pixels only, found by OpenCV's
    # scan (~5x numpy's), in raster order.
    rows, cols = filters.nonzero(soma_labels != 0)
    if rows.size == 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in OBJECT_COLUMNS}).astype({"label": int, "dim": bool})
    labels = soma_labels[rows, cols]
    n = int(labels.max()) + 1
    area = np.bincount(labels, minlength=n).astype(float)
    present = np.flatnonzero(area > 0)

    def mean(values):
        return (np.bincount(labels, weights=values, minlength=n) / np.maximum(area, 1))[present]

    return pd.DataFrame(
        {
            "label": present.astype(int),
            "y_px": mean(rows.astype(float)),
            "x_px": mean(cols.astype(float)),
            "area_px": area[present],
            "reporter_level": mean(np.asarray(reporter)[rows, cols].astype(float)),
            "nuclei_level": mean(np.asarray(nuclei)[rows, cols].astype(float)) if nuclei is not None else np.nan,
            "dim": False,
        }
    )


def tracking_objects(
    soma_labels: np.ndarray, dim_labels: np.ndarray | None, reporter: np.ndarray, nuclei: np.ndarray | None = None
) -> pd.DataFrame:
    """What tracking stores of a field: the counted somata, then the dim nuclei (``dim`` True).

    ``dim_labels`` (:attr:`screening.segment.somata.MotorNeuronCount.dim_labels`, or None)
    are uncounted nuclei whose reporter lies just under the cut-off: tracking may continue a
    known neuron on one, never start one. ``label`` numbers each kind in its own label image.
    """
    somata = soma_objects(soma_labels, reporter, nuclei)
    if dim_labels is None or not dim_labels.any():
        return somata
    dim = soma_objects(dim_labels, reporter, nuclei).assign(dim=True)
    return pd.concat([somata, dim], ignore_index=True) if len(somata) else dim


def thumbnail_factor(pixel_size_um: float, registration_pixel_um: float) -> int:
    """Integer downsampling factor that brings ``pixel_size_um`` near ``registration_pixel_um``."""
    return max(1, round(registration_pixel_um / pixel_size_um))


def thumbnail(image: np.ndarray, factor: int) -> np.ndarray:
    """Block-mean downsampled image, centred and scaled to unit spread, as float16.

    Parameters
    ----------
    image : (M, N) array
    factor : int
        Block size (px); the result is ``(M // factor, N // factor)``.

    Returns
    -------
    (M // factor, N // factor) float16 array
        Median subtracted, divided by 1.4826 × MAD, so a store of thumbnails takes two
        bytes a pixel whatever the camera's range.
    """
    image = np.asarray(image, np.float32)
    h, w = image.shape[0] // factor, image.shape[1] // factor
    small = cv2.resize(image[: h * factor, : w * factor], (w, h), interpolation=cv2.INTER_AREA)
    centre = np.median(small)
    spread = MAD_TO_SD * np.median(np.abs(small - centre))
    if not spread > 0:
        spread = float(small.std()) or 1.0
    return np.clip((small - centre) / spread, -6e4, 6e4).astype(np.float16)
