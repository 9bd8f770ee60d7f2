"""The work of one Dask task: read one field's files and measure it.

Runs on a worker; the client only sends file paths and the config, never pixels.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Mapping

import cv2
import numpy as np
import pandas as pd

from screening.config import RunConfig
from screening.io.planes import PlaneRule, as_plane_files, read_planes
from screening.measure.field import MEASUREMENT_FAILED, calibrate_fields, check_channels, measure_field
from screening.segment.calibration import Calibration
from screening.track.objects import thumbnail, thumbnail_factor


def failed_row(error: str) -> dict:
    """Row of a field that could not be read or measured."""
    return {
        "n_neurons": math.nan,
        "neurite_length_um": math.nan,
        "n_nuclei": math.nan,
        "qc_pass": False,
        "status": "failed",
        "error": error,
    }


def read_field(
    paths: Mapping[str, str | Mapping[int, str] | None],
    tokens: dict[str, str],
    plane_rule: PlaneRule | None = None,
) -> dict:
    """Read each role's image once (roles with the same files share the array).

    Parameters
    ----------
    paths : mapping
        Role -> its file (a single 2-D image, plane 1), or ``{plane: file}`` for a
        field imaged in several focal planes (:func:`screening.io.screen.field_planes`),
        or None when the role has no file.
    tokens : dict
        Role -> channel token, to name a missing channel.
    plane_rule : {"max", "mean"} or int, optional
        The plate's ``plates[].planes`` rule, applied to every role: maximum or mean
        projection, or the plane with that number. None means the roles are single
        2-D images and a role with several planes is an error (no rule is guessed).

    Returns
    -------
    dict
        Role -> 2-D array.

    Raises
    ------
    FileNotFoundError
        A role without a file.
    ValueError
        A chosen plane the field lacks, or several planes without a rule; the
        message names the channel, the plane and a file.
    """
    images, by_files = {}, {}
    if not any(paths.values()):
        raise FileNotFoundError("no image file for any channel of this field (missing images or timepoint folder)")
    for role, given in paths.items():
        if not given:
            raise FileNotFoundError(f"no file for channel {tokens[role]} ({role}) of this field")
        files = as_plane_files(given)
        key = tuple(sorted(files.items()))
        if key not in by_files:
            if plane_rule is None and len(files) > 1:
                raise ValueError(
                    f"channel {tokens[role]} ({role}) has {len(files)} planes (e.g. {files[min(files)]}) "
                    "but no plane rule was given; set plates[].planes"
                )
            rule = "max" if plane_rule is None else plane_rule  # one file: every projection is the file itself
            try:
                by_files[key] = read_planes(files, rule)
            except ValueError as exc:
                raise ValueError(f"channel {tokens[role]} ({role}): {exc}") from None
        images[role] = by_files[key]
    return images


def calibrate_plate_files(
    samples: list[Mapping[str, str | Mapping[int, str] | None]],
    config: RunConfig,
    pixel_size_um: float,
    plane_rule: PlaneRule | None = None,
) -> Calibration:
    """Calibrate a plate on a sample of its fields, from their files; never raises.

    ``samples`` holds one ``paths`` mapping per field (as :func:`read_field` takes). Fields
    that cannot be read are skipped; when none can, or calibration fails, the config's own
    sizes are kept and ``source`` says why.
    """
    cv2.setNumThreads(1)
    images, errors = [], []
    for paths in samples:
        try:
            images.append(read_field(paths, config.channels.tokens(), plane_rule))
        except Exception as exc:  # noqa: BLE001 - a bad sample field is skipped, the plate still calibrates
            errors.append(f"{type(exc).__name__}: {exc}")
    if not images:
        reason = errors[0] if errors else "no fields"
        return Calibration.prior(config.segmentation, f"config: no sample field could be read ({reason})")
    try:
        return calibrate_fields(images, config.segmentation, pixel_size_um=pixel_size_um)
    except Exception as exc:  # noqa: BLE001 - the run goes on with the config's sizes, saying why
        return Calibration.prior(config.segmentation, f"config: calibration failed ({type(exc).__name__}: {exc})")


def measure_field_files(
    paths: Mapping[str, str | Mapping[int, str] | None],
    config: RunConfig,
    pixel_size_um: float,
    plane_rule: PlaneRule | None = None,
    calibration: Calibration | None = None,
) -> dict:
    """Measure one field from its files; never raises (a failure becomes a ``failed`` row).

    ``paths`` and ``plane_rule`` are as in :func:`read_field` (the rule is the
    field's plate's ``plates[].planes``); ``calibration`` is the plate's (see
    :func:`calibrate_plate_files`; without it the field calibrates itself).
    """
    return measure_field_tracked(paths, config, pixel_size_um, plane_rule, calibration)[0]


def measure_field_tracked(
    paths: Mapping[str, str | Mapping[int, str] | None],
    config: RunConfig,
    pixel_size_um: float,
    plane_rule: PlaneRule | None = None,
    calibration: Calibration | None = None,
) -> tuple[dict, pd.DataFrame | None, np.ndarray | None]:
    """:func:`measure_field_files` plus what tracking needs from the pixels read.

    Returns
    -------
    row : dict
        The field row, with the image size ``height_px, width_px``.
    objects : DataFrame or None
        One row per counted soma, then per dim nucleus (:func:`screening.track.objects.tracking_objects`).
    thumbnail : ndarray or None
        The nuclear image (else the reporter) downsampled to about
        ``tracking.registration_pixel_um`` (:func:`screening.track.objects.thumbnail`),
        so registration never reads the images again.
    """
    # Dask runs one field per core; OpenCV's own thread pool would oversubscribe them.
    cv2.setNumThreads(1)
    try:
        images = read_field(paths, config.channels.tokens(), plane_rule)
    except Exception as exc:  # noqa: BLE001 - one unreadable field must not stop a plate
        return failed_row(f"{type(exc).__name__}: {_detail(exc)}"), None, None
    # Images that cannot be measured (shapes that differ, NaN pixels...) fail the field,
    # naming its files: they are not a field that QC judged.
    problem = check_channels(images, pixel_size_um)
    if problem:
        return failed_row(f"cannot measure: {problem} ({_files(paths)})"), None, None
    try:
        measured = measure_field(images, config, pixel_size_um=pixel_size_um, calibration=calibration)
        still = images.get("nuclei", images["reporter"])
        factor = thumbnail_factor(pixel_size_um, config.tracking.registration_pixel_um)
        small = thumbnail(still, factor) if min(still.shape) >= 8 * factor else None
    except Exception as exc:  # noqa: BLE001 - the one place a field's failure is caught in a run
        why = f"{MEASUREMENT_FAILED}: {type(exc).__name__}: {_detail(exc)} ({_files(paths)})"
        return failed_row(why), None, None
    row = dict(measured.row)
    row.update(status="ok", error="", height_px=int(still.shape[0]), width_px=int(still.shape[1]))
    return row, measured.objects, small


def _detail(exc: Exception) -> str:
    return str(exc) or traceback.format_exception_only(exc)[-1].strip()


def _files(paths: Mapping) -> str:
    """``role: file`` of each role (its first plane), to name a failed field's files."""
    named = []
    for role, given in paths.items():
        files = as_plane_files(given) if given else {}
        named.append(f"{role}: {files[min(files)] if files else 'none'}")
    return "; ".join(named)
