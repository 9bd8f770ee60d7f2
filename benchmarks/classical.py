"""The classical baseline, a CellProfiler-like pipeline set up the way a user would set it up.

- Images: clipped at their 99.5th percentile before any global threshold (:func:`clip_bright`).
- Nuclei: Gaussian smoothing, global Otsu threshold, hole filling, distance-transform watershed
  (declumping by shape), objects under 0.3 of the typical nucleus disc dropped. The typical
  diameter is the one thing a CellProfiler user types in (IdentifyPrimaryObjects' diameter
  range); :func:`typical_diameter_px` reads it off the images, as a user measuring a few
  isolated nuclei would.
- Motor neurons: nuclei whose mean reporter lies above the valley of the plate's pooled
  per-nucleus reporter histogram (:func:`valley_threshold`), the cut-off a user picks by eye
  from that histogram.
- Neurites: Sato ridge filter, global Otsu threshold on the ridge response, skeleton, skan
  branch lengths (every piece in the field, the NeuroTrack / CellProfiler per-image figure).

Used by ``segment_accuracy.py``, ``neurite_accuracy.py``, ``look_grid.py`` and ``real_plates.py``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage import filters, measure
from skimage.feature import peak_local_max
from skimage.morphology import skeletonize
from skimage.segmentation import relabel_sequential, watershed

from screening.measure.neurites import skeleton_lengths


def clip_bright(image: np.ndarray, percentile: float = 99.5) -> np.ndarray:
    """The image clipped at its ``percentile``: the upper bound a user gives a global threshold so
    that a few saturated specks (debris, precipitate) do not set it."""
    return np.minimum(image, np.percentile(image, percentile))


def otsu_watershed_nuclei(image: np.ndarray, *, diameter_px: float) -> np.ndarray:
    """Global Otsu threshold + distance-transform watershed, the classical nuclei pipeline (labels 1..n)."""
    smooth = ndi.gaussian_filter(np.asarray(image, np.float32), 1.0)
    mask = ndi.binary_fill_holes(smooth > filters.threshold_otsu(smooth))
    dist = ndi.distance_transform_edt(mask)
    labels, _ = ndi.label(mask)
    peaks = peak_local_max(dist, min_distance=max(int(0.35 * diameter_px), 1), labels=labels,
                           exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    out = watershed(-dist, markers, mask=mask)
    area = np.bincount(out.ravel())
    small = area < 0.3 * np.pi * (diameter_px / 2) ** 2
    small[0] = False
    out[small[out]] = 0
    return relabel_sequential(out)[0]


def typical_diameter_px(images) -> float:
    """Median equivalent diameter (px) of the isolated nuclei of a few images.

    Isolated: Otsu objects of the smoothed image that are convex (solidity > 0.9, so not two
    touching nuclei) and larger than 9 px. Falls back to all objects when none is convex.
    """
    diameters, fallback = [], []
    for image in images:
        smooth = ndi.gaussian_filter(np.asarray(image, np.float32), 1.0)
        labels = measure.label(ndi.binary_fill_holes(smooth > filters.threshold_otsu(smooth)))
        props = measure.regionprops_table(labels, properties=("area", "solidity"))
        big = props["area"] > 9
        d = 2 * np.sqrt(props["area"] / np.pi)
        diameters += list(d[big & (props["solidity"] > 0.9)])
        fallback += list(d[big])
    chosen = diameters or fallback
    if not chosen:
        raise ValueError("no nuclei found to read a diameter off")
    return float(np.median(chosen))


def mean_per_label(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean of ``image`` in each label 1..max (NaN for labels with no pixels)."""
    n = int(labels.max())
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    total = np.bincount(labels.ravel(), weights=np.asarray(image, np.float64).ravel(), minlength=n + 1)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / area


def valley_threshold(values: np.ndarray, *, bins: int = 128) -> float:
    """The valley between the two main modes of the histogram of ``log(values)``.

    The histogram is smoothed (Gaussian, 2 bins); the cut-off is its lowest point between
    its two highest local maxima. With fewer than two maxima, Otsu on the log values.
    """
    logs = np.log(np.asarray(values, float)[np.asarray(values) > 0])
    counts, edges = np.histogram(logs, bins=bins)
    smooth = ndi.gaussian_filter1d(counts.astype(float), 2.0)
    inner = smooth[1:-1]
    peaks = np.flatnonzero((inner > smooth[:-2]) & (inner >= smooth[2:])) + 1
    if len(peaks) < 2:
        return float(np.exp(filters.threshold_otsu(logs)))
    a, b = sorted(peaks[np.argsort(smooth[peaks])[-2:]])
    valley = a + int(np.argmin(smooth[a : b + 1]))
    return float(np.exp((edges[valley] + edges[valley + 1]) / 2))


def sato_skeleton(image: np.ndarray, *, pixel_size_um: float, min_length_um: float,
                  sigmas_px=(1, 2, 3)) -> tuple[np.ndarray, float]:
    """Sato ridge filter + Otsu + skeleton + skan: (skeleton, total length in µm)."""
    ridge = filters.sato(np.asarray(image, np.float32), sigmas=sigmas_px, black_ridges=False)
    try:
        skeleton, length, _ = skeleton_lengths(
            skeletonize(ridge > filters.threshold_otsu(ridge)), pixel_size_um=pixel_size_um,
            min_length_um=min_length_um,
        )
    except ValueError:  # skan refuses a skeleton of isolated pixels: nothing to measure
        return np.zeros(ridge.shape, bool), 0.0
    return skeleton, float(length)
