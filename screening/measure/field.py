"""One field's channels -> one row of measurements: the function the pipeline calls per field."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from screening.config.run import RunConfig
from screening.config.segmentation import SegmentationConfig
from screening.measure.neurites import NeuriteMeasurement, measure_neurites
from screening.measure.qc import blank_channel, field_qc, focus_score, foreground_mask
from screening.segment import filters
from screening.segment.background import estimate_background
from screening.segment.calibration import Calibration, calibrate
from screening.segment.neurites import segment_neurites
from screening.segment.nuclei import segment_nuclei
from screening.segment.somata import count_motor_neurons, saturated_mask
from screening.track.objects import tracking_objects

ROLES = ("reporter", "nuclei", "neurites")
#: Start of ``qc_reason`` when the measurement raised: the field failed, it was not judged.
MEASUREMENT_FAILED = "measurement failed"
# Smallest field worth measuring: a couple of somata across (at 0.65 µm/px, 32 px ≈ 21 µm).
_MIN_SIDE_PX = 32
# A field with this fraction of its pixels saturated or more holds nothing to segment.
_MAX_SATURATED_TO_SEGMENT = 0.5
# Saturated particles are debris with this much around them, µm (their glare).
_DEBRIS_MARGIN_UM = 1.0
# The foreground fraction is read on every this-many-th pixel: a fraction needs no more.
_FOREGROUND_STEP_PX = 2


@dataclass(frozen=True)
class FieldMeasurement:
    """What :func:`measure_field` returns.

    Attributes
    ----------
    row : dict
        Flat scalars: ``n_neurons`` (int), ``neurite_length_um`` (all neurite skeleton in
        the field, whoever it belongs to), ``neurite_density_um_per_mm2`` (that per mm² of
        field), ``neurite_assigned_um`` (reached along the skeleton from a counted soma),
        ``neurite_unassigned_um`` (reaching no soma), ``neurite_outside_um`` (reaching no
        soma and entering from the border: neurons outside the field), so that length =
        assigned + unassigned + outside; ``neurite_length_per_neuron_um`` (assigned /
        neurons), ``n_nuclei`` (NaN without a nuclear channel), ``qc_pass`` (bool),
        ``qc_reason`` (str, "" when passed), ``focus_score``, ``saturated_fraction``,
        ``debris_fraction``, ``foreground_fraction``, ``n_fragments``,
        ``reporter_negative_level``, ``reporter_threshold``. See docs/measurements.md.
    images : dict of ndarray or None
        With ``return_images``: ``soma_labels``, ``nuclei_labels`` (when there
        is a nuclear channel) and ``neurite_skeleton`` (bool).
    objects : DataFrame or None
        One row per counted soma, then per dim nucleus (:func:`screening.track.objects.tracking_objects`:
        centroid, area, reporter and nuclear level, ``dim``) for tracking; None when the
        field was not segmented.
    """

    row: dict
    images: dict[str, np.ndarray] | None = None
    objects: pd.DataFrame | None = None


def _empty_row(has_nuclei: bool) -> dict:
    return {
        "n_neurons": 0,
        "neurite_length_um": 0.0,
        "neurite_density_um_per_mm2": 0.0,
        "neurite_assigned_um": 0.0,
        "neurite_length_per_neuron_um": float("nan"),
        "n_nuclei": 0.0 if has_nuclei else float("nan"),
        "qc_pass": False,
        "qc_reason": "",
        "focus_score": float("nan"),
        "saturated_fraction": float("nan"),
        "debris_fraction": float("nan"),
        "foreground_fraction": float("nan"),
        "n_fragments": 0,
        "reporter_negative_level": float("nan"),
        "reporter_threshold": float("nan"),
        "neurite_unassigned_um": 0.0,
        "neurite_outside_um": 0.0,
    }


def check_channels(channels: dict, pixel_size_um) -> str:
    """Why these channels cannot be measured ("" when they can).

    Checks the roles, that every channel is a finite, numeric, 2-D array of
    at least 32 × 32 pixels with the same shape as the reporter, and the
    pixel size.
    """
    if not isinstance(channels, dict) or "reporter" not in channels:
        return "no reporter channel"
    unknown = set(channels) - set(ROLES)
    if unknown:
        return f"unknown channel role(s) {sorted(unknown)}; use {ROLES}"
    if not (isinstance(pixel_size_um, int | float) and math.isfinite(pixel_size_um) and pixel_size_um > 0):
        return f"pixel size must be a positive number of µm, got {pixel_size_um!r}"
    shape = None
    for role in ROLES:
        if role not in channels or channels[role] is None:
            continue
        image = np.asarray(channels[role])
        if image.dtype.kind not in "uifb":
            return f"{role} image has non-numeric dtype {image.dtype}"
        if image.ndim != 2:
            return f"{role} image is {image.ndim}-D with shape {image.shape}; expected one 2-D plane"
        if min(image.shape) < _MIN_SIDE_PX:
            return f"{role} image shape {image.shape} is too small (under {_MIN_SIDE_PX} px a side)"
        if shape is not None and image.shape != shape:
            return f"{role} image shape {image.shape} differs from reporter shape {shape}"
        shape = image.shape
        if image.dtype.kind == "f":
            bad = int(np.count_nonzero(~np.isfinite(image)))
            if bad:
                return f"{role} image has {bad} NaN or infinite pixels"
    return ""


def measure_field(
    channels: dict[str, np.ndarray],
    config: RunConfig,
    *,
    pixel_size_um: float,
    calibration: Calibration | None = None,
    return_images: bool = False,
) -> FieldMeasurement:
    """Measure one field: motor neurons, neurite length, nuclei and field QC.

    Parameters
    ----------
    channels : dict of str to (M, N) array
        Role -> image: ``"reporter"`` (required), ``"nuclei"`` (optional),
        ``"neurites"`` (optional; may be the reporter array itself; defaults
        to the reporter).
    config : RunConfig
        Uses ``config.segmentation`` (sizes in µm) and ``config.qc``.
    pixel_size_um : float
        Pixel size, µm.
    calibration : Calibration, optional
        The plate's calibration (:func:`screening.segment.calibration.calibrate` on a sample
        of its fields; the pipeline makes one per plate). Default: calibrate on this field
        alone (sizes within ``segmentation.calibration_range`` of the config's; the config's
        own sizes where the field holds too few nuclei).
    return_images : bool
        Also return the label and skeleton images (for display).

    Returns
    -------
    FieldMeasurement
        ``.row`` (flat scalars, see :class:`FieldMeasurement`) and ``.images``.
        Bad input (missing reporter, wrong dimensions or shapes, NaN pixels,
        an all-black, constant or all-saturated image) gives a row with
        ``qc_pass`` False and the reason in ``qc_reason``. A failure of the neurite
        measurement alone keeps the counts and fails the field's QC with the reason.

    Raises
    ------
    Exception
        Whatever else goes wrong inside the measurement (a bug, memory): the caller decides
        what one field's failure means (the run's field task records a failed field, the napari
        plugin shows the problem), so it is caught once, there.
    """
    has_nuclei = isinstance(channels, dict) and channels.get("nuclei") is not None
    problem = check_channels(channels, pixel_size_um)
    if problem:
        row = _empty_row(has_nuclei)
        row["qc_reason"] = problem
        return FieldMeasurement(row, {} if return_images else None)
    measured = _measure(channels, config, float(pixel_size_um), calibration, return_images)
    blank = blank_channel(channels)  # one channel lost while the others look fine: not a field of 0 neurons
    if blank:
        measured.row.update(qc_pass=False, qc_reason="; ".join(r for r in (measured.row["qc_reason"], blank) if r))
    return measured


def _measure(channels, config: RunConfig, pixel_size_um: float, calibration, return_images: bool) -> FieldMeasurement:
    qc_config = config.qc
    reporter = np.asarray(channels["reporter"])
    nuclei = channels.get("nuclei")
    nuclei = None if nuclei is None else np.asarray(nuclei)
    neurites = channels.get("neurites")
    neurites = reporter if neurites is None else np.asarray(neurites)
    row = _empty_row(nuclei is not None)

    present = [im for im in (reporter, nuclei) if im is not None]
    saturated = np.zeros(reporter.shape, bool)
    for image in present:
        saturated |= saturated_mask(image)
    step = _FOREGROUND_STEP_PX
    foreground = max(
        float(foreground_mask(im[::step, ::step], pixel_size_um=step * pixel_size_um).mean()) for im in present
    )
    # Mean over channels: a field is sharp when its stains are.
    scores = [focus_score(im, pixel_size_um=pixel_size_um, exclude=saturated) for im in present]
    scores = [s for s in scores if np.isfinite(s)]
    focus = float(np.mean(scores)) if scores else float("nan")
    sat_fraction = float(saturated.mean())

    images: dict[str, np.ndarray] = {}
    failures: list[str] = []
    objects = None
    if foreground >= qc_config.min_foreground_fraction and sat_fraction < _MAX_SATURATED_TO_SEGMENT:
        if calibration is None:
            calibration = calibrate_fields([{"reporter": reporter, "nuclei": nuclei}], config.segmentation,
                                           pixel_size_um=pixel_size_um)
        seg = calibration.segmentation(config.segmentation)
        nuclei_labels = None
        if nuclei is not None:
            nuclei_labels = segment_nuclei(
                nuclei, pixel_size_um=pixel_size_um, nucleus_diameter_um=seg.nucleus_diameter_um,
                background_radius_um=seg.background_radius_um, typical_area_um2=calibration.nucleus_area_um2,
            )
        count = count_motor_neurons(
            reporter, nuclei, pixel_size_um=pixel_size_um, soma_diameter_um=seg.soma_diameter_um,
            nucleus_diameter_um=seg.nucleus_diameter_um, min_soma_area_um2=seg.min_soma_area_um2,
            reporter_positive_ratio=seg.reporter_positive_ratio, background_radius_um=seg.background_radius_um,
            nuclei_labels=nuclei_labels, calibration=calibration,
        )
        if _same_image(neurites, reporter):
            background = count.reporter_background
            if count.reporter_fill is not None:
                # A neuron's dark nucleus filled as for the count: its soma's ring is a body, not neurite.
                neurites = neurites + count.reporter_fill
        else:
            background = estimate_background(
                neurites, radius_um=seg.background_radius_um, pixel_size_um=pixel_size_um
            )
        try:
            neurite = field_neurites(
                neurites, count.soma_labels, seg, pixel_size_um=pixel_size_um, background=background,
                nuclei=nuclei_labels,
            )
            length, assigned = float(neurite.total_length_um), neurite.assigned_length_um
        except Exception as exc:  # noqa: BLE001 -- keep the counts, fail the field with the reason
            neurite, length, assigned = None, float("nan"), float("nan")
            failures.append(f"neurite measurement failed: {type(exc).__name__}: {exc}")
        debris = _debris_fraction(
            saturated, count, pixel_size_um, min_soma_area_px=seg.min_soma_area_um2 / pixel_size_um**2
        )
        level = count.reporter_smooth if count.reporter_smooth is not None else reporter
        objects = tracking_objects(count.soma_labels, count.dim_labels, level, nuclei)
        row.update(
            n_neurons=int(count.n),
            neurite_length_um=length,
            neurite_density_um_per_mm2=length / (reporter.size * pixel_size_um**2 * 1e-6),
            neurite_assigned_um=assigned,
            neurite_length_per_neuron_um=assigned / count.n if count.n else float("nan"),
            n_nuclei=float(nuclei_labels.max()) if nuclei_labels is not None else float("nan"),
            n_fragments=int(count.n_fragments),
            reporter_negative_level=float(count.negative_level),
            reporter_threshold=float(count.threshold),
            neurite_unassigned_um=float(getattr(neurite, "unassigned_length_um", float("nan"))),
            neurite_outside_um=float(getattr(neurite, "outside_length_um", float("nan"))),
        )
        if return_images:
            images["soma_labels"] = count.soma_labels
            if nuclei_labels is not None:
                images["nuclei_labels"] = nuclei_labels
            images["neurite_skeleton"] = (
                np.asarray(neurite.skeleton, bool) if neurite is not None else np.zeros(reporter.shape, bool)
            )
    else:
        debris = sat_fraction
    row.update(field_qc(
        focus=focus,
        saturated_fraction=sat_fraction,
        debris_fraction=debris,
        foreground_fraction=foreground,
        config=qc_config,
    ))
    if failures:
        row["qc_pass"] = False
        row["qc_reason"] = "; ".join([r for r in (row["qc_reason"], *failures) if r])
    return FieldMeasurement(row, images if return_images else None, objects)


def calibrate_fields(
    fields_: list[dict[str, np.ndarray | None]], segmentation: SegmentationConfig, *, pixel_size_um: float
) -> Calibration:
    """:func:`screening.segment.calibration.calibrate` with the config's sizes as priors.

    Parameters
    ----------
    fields_ : list of dict
        Role -> image (``"reporter"``, optionally ``"nuclei"``) of a plate's sample fields.
    segmentation : SegmentationConfig
        Its sizes are the priors, ``calibration_range`` their bound.
    pixel_size_um : float
        Pixel size, µm.
    """
    return calibrate(
        fields_, pixel_size_um=pixel_size_um, nucleus_diameter_um=segmentation.nucleus_diameter_um,
        soma_diameter_um=segmentation.soma_diameter_um, background_radius_um=segmentation.background_radius_um,
        min_soma_area_um2=segmentation.min_soma_area_um2,
        reporter_positive_ratio=segmentation.reporter_positive_ratio,
        calibration_range=segmentation.calibration_range,
    )


def field_neurites(
    image: np.ndarray,
    soma_labels: np.ndarray,
    segmentation: SegmentationConfig,
    *,
    pixel_size_um: float,
    background: np.ndarray | float | None = None,
    nuclei: np.ndarray | None = None,
) -> NeuriteMeasurement:
    """The neurites of a field: its neurite channel segmented
    (:func:`screening.segment.neurites.segment_neurites`), then measured per soma
    (:func:`screening.measure.neurites.measure_neurites`), with the config's settings.

    Parameters
    ----------
    image : (M, N) array
        Neurite channel.
    soma_labels : (M, N) int array
        Counted somata (0 = background).
    segmentation : SegmentationConfig
        Sizes (µm) and ratios of the neurite mask and the length filter.
    pixel_size_um : float
        Pixel size, µm.
    background : (M, N) array or float, optional
        Smooth background of ``image``.
    nuclei : (M, N) int array, optional
        The field's nuclei: a piece of mask that never leaves one nucleus's cell is its rim.
    """
    mask, bodies = segment_neurites(
        image, pixel_size_um=pixel_size_um, soma_diameter_um=segmentation.soma_diameter_um,
        neurite_width_um=segmentation.neurite_width_um, neurite_max_width_um=segmentation.neurite_max_width_um,
        neurite_ridge_snr=segmentation.neurite_ridge_snr, neurite_contrast_snr=segmentation.neurite_contrast_snr,
        background=background, somata=soma_labels, nuclei=nuclei,
    )
    return measure_neurites(
        mask, soma_labels, pixel_size_um=pixel_size_um, bodies=bodies,
        neurite_width_um=segmentation.neurite_width_um, min_neurite_length_um=segmentation.min_neurite_length_um,
    )


def _same_image(a: np.ndarray, b: np.ndarray) -> bool:
    """Same pixels in the same layout (the neurite role defaults to the reporter)."""
    return a is b or (
        a.shape == b.shape
        and a.dtype == b.dtype
        and a.strides == b.strides
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


def _debris_fraction(saturated, count, pixel_size_um: float, *, min_soma_area_px: float) -> float:
    """Area of saturated particles and small bright reporter blobs (dead-cell
    fragments), as a fraction of the field.

    Blobs above the positivity threshold but smaller than
    ``min_soma_area_px`` and not part of a counted soma are debris.
    """
    bright = (count.reporter_smooth > max(count.threshold, 1e-6)) & (count.soma_labels == 0)
    labels, n = filters.label(bright, connectivity=4)
    if n:
        area = np.bincount(labels[bright], minlength=n + 1)  # label 0's area is not needed
        small = area < min_soma_area_px
        small[0] = False
        bright = small[labels]
    grow = 2 * max(round(_DEBRIS_MARGIN_UM / pixel_size_um), 1) + 1
    debris = bright | filters.maximum_filter(saturated, grow)
    return float(debris.mean())
