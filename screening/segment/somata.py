"""Motor neurons: reporter-positive somata, counted with or without a nuclear stain."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import threshold_otsu
from skimage.segmentation import watershed

from screening.config.segmentation import SEGMENTATION_DEFAULTS
from screening.segment import filters
from screening.segment.background import estimate_background
from screening.segment.calibration import Calibration
from screening.segment.dark_nuclei import CYTOPLASMIC_SHARE, dark_nuclei, fill_holes, hole_share
from screening.segment.nuclei import (
    MERGED_AREA, border_labels, label_percentile, noise_sigma, segment_nuclei, solidity,
)

_LEVEL_PERCENTILE = 20  # a nucleus's reporter level: most of it must lie under a soma
# A nucleus's reporter must also be flat across it (median / 95th percentile, see
# flatness): a nucleus under the rim of a neighbour's soma sees a slope.
_FLAT_PERCENTILES = (50, 95)
_MIN_POSITIVE_SNR = 6.0  # a positive soma is at least this many pixel-noise σ above background
# A nucleus over MERGED_AREA × the plate's typical nucleus area (the field's median when
# uncalibrated) that is also elongated (long / short axis over _MERGED_ELONGATION) or
# not convex (solidity under _MERGED_SOLIDITY) is two merged nuclei (singles reach ~1.2
# of the median area, merged pairs ~1.4-2.0 on the simulated fields): each half is judged
# on its own, so a neuron merged with a negative still counts. A large round nucleus is
# one nucleus, however large.
_MERGED_ELONGATION = 1.6
_MERGED_SOLIDITY = 0.85
# Dead (pyknotic) nuclei are condensed AND bright, both outliers of the plate's live
# population: area under min(_PYKNOTIC_AREA, exp(-_PYKNOTIC_AREA_SDS × area spread)) × the
# plate's median nucleus (beyond ~1 % of live nuclei; condensed nuclei of the simulated screens
# are 0.34-0.44x, live ones above 0.56x), and brightness over max(_PYKNOTIC_BRIGHTNESS,
# exp(_PYKNOTIC_BRIGHT_SDS × brightness spread)) × the field's median nucleus (brighter than
# most live nuclei; not the dim part of a live nucleus segmented alone). Small alone or bright
# alone (the bright end of the live population) is never enough.
_PYKNOTIC_AREA = 0.5
_PYKNOTIC_AREA_SDS = 3.0
_PYKNOTIC_BRIGHTNESS = 1.2
_PYKNOTIC_BRIGHT_SDS = 1.0
# Saturated pixels are a particle of debris (and every nucleus they touch is debris) only where
# they touch a nucleus far brighter than the field's median nucleus: over max(_DEBRIS_BRIGHTNESS,
# exp(_DEBRIS_BRIGHT_SDS × brightness spread)) × it (the simulated particles are ~30x; live
# nuclei stay within ~2x). A soma clipped by an 8-bit export holds only ordinary nuclei.
_DEBRIS_BRIGHTNESS = 2.0
_DEBRIS_BRIGHT_SDS = 4.0
# Spread (sd of log) of live nuclei's area and brightness when no plate calibration measured
# them: the middle of the spreads measured on the simulated looks and the real sets.
_DEFAULT_LOG_SPREAD = 0.25
# Reporter smoothing, as a fraction of the soma diameter: removes pixel noise, keeps a soma's
# edge; at least _MIN_SMOOTH_SIGMA_PX (a narrower Gaussian barely smooths).
_SMOOTH_SOMA_FRACTION = 0.08
_MIN_SMOOTH_SIGMA_PX = 1.0
# Side of the square that opens the reporter (soma_bodies), as a fraction of the soma
# diameter: about the area of a disc of half the diameter, and separable.
_OPENING_SOMA_FRACTION = 0.45
# A soma grows from its nucleus over the opened reporter at most this × its diameter ...
_SOMA_REACH_DIAMETERS = 0.75
# ... down to this fraction of its own level (the soma's edge).
_SOMA_EDGE_FRACTION = 0.5
# Without nuclei: reporter maxima are found on the opening smoothed by this × the soma
# diameter (the opening leaves flat tops) ...
_PEAK_SMOOTH_SOMA_FRACTION = 0.15
# ... at least this × the diameter apart, ...
_PEAK_SEPARATION_DIAMETERS = 0.4
# ... and a candidate's level is read in a disc of this × the diameter round its peak.
_CORE_RADIUS_DIAMETERS = 0.25
# The reporter's smoothing kernel reaches this many σ: the weight beyond is under 1 %, and a
# shorter kernel is faster.
_SMOOTH_TRUNCATE_SDS = 3.0
# The opening's square is at least this many px a side: a 1 px opening changes nothing.
_MIN_OPENING_PX = 2
# The background's typical level is its median on every this-many-th pixel (it is smooth).
_BACKGROUND_SAMPLE_STEP_PX = 8
# Flat-field correction only where the background stands this many noise σ above zero (a
# dark background's shape is noise), and never by more than these factors.
_FLAT_FIELD_MIN_SNR = 10.0
_FLAT_FIELD_LIMITS = (0.3, 3.0)
# The negative population's level starts at this percentile of the candidates' levels
# (most candidates of a field are negative) and settles within this many iterations.
_NEGATIVE_START_PERCENTILE = 20
_NEGATIVE_ITERATIONS = 10
# A field's Otsu cut-off is kept under this × the lower bound (``reporter_positive_ratio`` ×
# the negative level): with one population only, Otsu would split it anywhere.
_OTSU_CAP_RATIOS = 2.0
# Otsu's threshold needs at least this many candidates to see two populations in a field.
_MIN_OTSU_CANDIDATES = 8
# Levels are clipped at the noise floor divided by this before their logarithm (a level at or
# under 0 has none; one far under the floor is negative whatever its value).
_LOG_FLOOR_DIVISOR = 10
# Saturation is a plateau of at least this many pixels at the image maximum (one is just the
# brightest pixel).
_MIN_SATURATED_PX = 4
# A candidate below the cut-off is "dim" (kept for tracking, not counted) above this point
# between the negative level (0) and the cut-off (1), in log: a followed neuron whose reporter
# dips under the cut-off for a timepoint is still nearer the cut-off than the negatives are.
_DIM_LOG_FRACTION = 0.5
# One soma, one neuron: two counted nuclei whose somata touch and together cover under
# _ONE_SOMA_AREAS x the field's typical soma (the median soma touching no other counted soma) share
# one soma, and the one with the smaller share is a reporter-negative cell lying under it. Judged
# only where a soma is at least _MIN_SOMA_NUCLEI nuclei in area (a second nucleus wholly under a
# soma needs room) and the field has _MIN_SINGLE_SOMATA somata touching no other to say what a
# soma is. On looks with large somata (nucleus/soma diameter 0.4-0.45) such pairs are 17 of 18
# (and 17 of 17) reporter-negative cells, against 4 of 113 (5 of 99) pairs of neurons; where the
# soma is under ~2.5 nuclei, no negative cell lies wholly under one (benchmarks/README.md, "One
# soma, one neuron").
_ONE_SOMA_AREAS = 1.2
_MIN_SOMA_NUCLEI = 3.0
_MIN_SINGLE_SOMATA = 5
# A neuron that died may keep a faded nucleus among bright fragments of its soma for a while.
# Dead by evidence, two outliers at once: the soma's smoothed reporter is fragmented (its median
# over its 95th percentile under _FRAGMENTED_FRACTION x the field's median soma: a soma is one
# body, fragments are blobs with gaps between them) and its nucleus is faded (mean under
# exp(-_FADED_SDS x brightness spread) x the field's median nucleus). Judged where the field has
# _MIN_REFERENCE_SOMATA counted somata to say what a soma looks like. Fragmented with a bright
# nucleus was tried too: on the `small` screen it dropped 9 living neurons for 4 dead ones
# (benchmarks/README.md, "Dead by evidence: faded and fragmented").
_FRAGMENTED_FRACTION = 0.5
_FADED_SDS = 3.0
_MIN_REFERENCE_SOMATA = 5


@dataclass(frozen=True)
class MotorNeuronCount:
    """Result of :func:`count_motor_neurons`; unpacks as ``n, soma_labels``.

    Attributes
    ----------
    n : int
        Motor neurons whose centre lies inside the image.
    soma_labels : (M, N) int32 array
        One label per counted motor neuron (its soma, neurites cut off).
    nuclei_labels : (M, N) int32 array or None
        All nuclei found (with a nuclear channel).
    n_candidates : int
        Nuclei (or reporter blobs) examined; a merged pair of nuclei counts as its two halves.
    negative_level : float
        Reporter level of the reporter-negative population (illumination-corrected ADU).
    threshold : float
        Reporter level above which a candidate counted as positive.
    n_fragments : int
        Candidates rejected as fragments of dead neurons.
    reporter_background : (M, N) float32 array or None
        Smooth background of the reporter (reused for the neurite mask).
    reporter_smooth : (M, N) float32 array or None
        Background-subtracted, flat-field-corrected, smoothed reporter, with dark nuclei filled
        where the reporter is cytoplasmic (:func:`~screening.segment.dark_nuclei.fill_holes`).
    reporter_fill : (M, N) float32 array or None
        What filling dark nuclei added, in the reporter image's ADU (0 off nuclei; None where
        nothing was filled): the reporter image plus it is the image a cytoplasmic reporter
        would be with its neurons' nuclei as bright as the soma round them.
    candidate_levels : (K,) float array
        Reporter level × flatness of every candidate examined, the value compared with the
        threshold (for a plate's pooled cut-off).
    dim_labels : (M, N) int32 array or None
        Nuclei (with a nuclear channel) that are not counted but whose level lies in the upper
        half (in log) between the negative level and the threshold, neither pyknotic nor
        debris: a known neuron whose reporter dips under the cut-off for a while, for tracking
        to follow (:func:`screening.track.link.link_frames`); never counted, never a new neuron.
    """

    n: int
    soma_labels: np.ndarray
    nuclei_labels: np.ndarray | None
    n_candidates: int
    negative_level: float
    threshold: float
    n_fragments: int
    reporter_background: np.ndarray | None = field(default=None, repr=False)
    reporter_smooth: np.ndarray | None = field(default=None, repr=False)
    reporter_fill: np.ndarray | None = field(default=None, repr=False)
    candidate_levels: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    dim_labels: np.ndarray | None = field(default=None, repr=False)

    def __iter__(self):
        return iter((self.n, self.soma_labels))


def reporter_signal(
    reporter: np.ndarray,
    *,
    pixel_size_um: float,
    background_radius_um: float,
    background: np.ndarray | None = None,
    sigma: float | None = None,
) -> np.ndarray:
    """Background-subtracted reporter divided by the relative illumination (flat field).

    Vignetting multiplies cells and background alike, so dividing by the
    background's shape makes a cell's level comparable across the field.
    ``background`` (from :func:`estimate_background` with ``background_radius_um``, µm) and
    ``sigma`` (pixel noise) are computed when not given.
    """
    reporter = np.asarray(reporter, dtype=np.float32)
    if background is None:
        background = estimate_background(
            reporter, radius_um=background_radius_um, pixel_size_um=pixel_size_um
        )
    sigma = noise_sigma(reporter) if sigma is None else sigma
    signal = reporter - background
    illumination = relative_illumination(background, sigma)
    if illumination is not None:
        signal /= illumination
    return signal


def relative_illumination(background: np.ndarray, sigma: float) -> np.ndarray | None:
    """The background's shape relative to its median (the flat field), or None where the
    background is too dark to have one (under ``_FLAT_FIELD_MIN_SNR`` × ``sigma``, ADU)."""
    level = float(np.median(background[::_BACKGROUND_SAMPLE_STEP_PX, ::_BACKGROUND_SAMPLE_STEP_PX]))
    if level <= _FLAT_FIELD_MIN_SNR * max(sigma, 1e-6):
        return None
    return np.clip(background / level, *_FLAT_FIELD_LIMITS)


def soma_bodies(signal: np.ndarray, *, soma_diameter_px: float) -> np.ndarray:
    """Reporter with everything thinner than half a soma removed (grey opening).

    A square of about half a soma diameter (``soma_diameter_px``, px) fits inside a soma but
    not inside a neurite (even a bundle) or a fragment of a dead cell, so the opening keeps
    somata at their level and takes neurites and fragments away.
    """
    # A square rather than a disc: separable, four 1-D passes instead of a 2-D footprint.
    side = max(round(_OPENING_SOMA_FRACTION * soma_diameter_px), _MIN_OPENING_PX)
    return filters.grey_opening(signal, side)


def negative_level(values: np.ndarray, ratio: float, floor: float) -> float:
    """Typical reporter level of the reporter-negative candidates.

    Starts from the :data:`_NEGATIVE_START_PERCENTILE` th percentile and iterates: the negatives are the
    values below ``ratio`` × level, the level is their median. Values under
    ``floor`` (noise) always count as negative.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return floor / ratio
    level = max(float(np.percentile(values, _NEGATIVE_START_PERCENTILE)), floor / ratio)
    for _ in range(_NEGATIVE_ITERATIONS):
        negatives = values[values < ratio * level]
        if negatives.size == 0:
            break
        new = max(float(np.median(negatives)), floor / ratio)
        if np.isclose(new, level):
            break
        level = new
    return level


def flatness(median: np.ndarray, high: np.ndarray) -> np.ndarray:
    """How flat a nucleus's reporter is: its median over its 95th percentile, in [0, 1].

    Parameters
    ----------
    median, high : arrays of float
        Median and 95th percentile of the opened reporter over each nucleus
        (illumination-corrected ADU).

    Returns
    -------
    ndarray of float
        1 for a nucleus under the middle of a soma (the opened reporter is
        about level there); well under 1 for a reporter-negative nucleus
        under the rim of a neighbour's soma, whose reporter rises towards
        the neighbour. 0 where ``high`` is not positive (no soma at all).
    """
    median, high = np.asarray(median, float), np.asarray(high, float)
    ok = np.isfinite(median) & np.isfinite(high) & (high > 0)
    ratio = np.divide(median, high, out=np.zeros(np.broadcast(median, high).shape), where=ok)
    return np.clip(ratio, 0.0, 1.0)


def split_merged(labels: np.ndarray, n: int, too_large: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut each flagged label in two across its long axis, through its centroid.

    Parameters
    ----------
    labels : (M, N) int array
        Nuclei, 0 background, 1..n.
    n : int
        Number of labels.
    too_large : (n,) bool array
        Labels to cut (merged pairs of nuclei).

    Returns
    -------
    halves : (M, N) int32 array
        The labels with the far half of every flagged label ``k`` (the part
        on the positive side of its long axis) relabelled ``n + 1 + j`` for
        the ``j``-th flagged label; other labels unchanged.
    parent : (n + n_flagged,) int array
        Original label (1..n) of every label of ``halves``.

    Notes
    -----
    Two merged nuclei lie along the long axis of the pair (from the second
    moments of the label's pixels), so the cut through the centroid
    perpendicular to it separates them; no scale is needed.
    """
    labels = np.asarray(labels, np.int32)
    flagged = np.flatnonzero(too_large) + 1
    parent = np.concatenate([np.arange(1, n + 1), flagged])
    if flagged.size == 0:
        return labels, parent
    halves = labels.copy()
    slices = ndi.find_objects(labels, max_label=n)
    # Per flagged label, in its bounding box: a few labels per field, so a
    # loop over small boxes is cheaper than any whole-image pass.
    for j, lab in enumerate(flagged):
        box = slices[lab - 1]
        rows, cols = np.nonzero(labels[box] == lab)
        dr, dc = rows - rows.mean(), cols - cols.mean()
        theta = 0.5 * np.arctan2(2 * (dr * dc).sum(), (dr * dr).sum() - (dc * dc).sum())  # long axis
        far = dr * np.cos(theta) + dc * np.sin(theta) > 0
        halves[box][rows[far], cols[far]] = n + 1 + j
    return halves, parent


def positivity_threshold(
    values: np.ndarray, negative: float, ratio: float, floor: float, *, max_ratio: float | None = None
) -> float:
    """Reporter level above which a candidate is a motor neuron.

    Otsu's threshold on log levels falls in the gap between a field's
    negative and positive populations; it is kept between ``ratio`` and
    :data:`_OTSU_CAP_RATIOS` × ``ratio`` times the negative level, so a field without neurons (one
    population, which Otsu would cut in half) stays at ``ratio`` × negative.
    ``max_ratio`` changes the upper bound (``inf``: no upper bound).
    """
    low, high = ratio * negative, (max_ratio or _OTSU_CAP_RATIOS * ratio) * negative
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    threshold = low
    if values.size >= _MIN_OTSU_CANDIDATES:
        logs = np.log(np.maximum(values, max(floor, 1e-6) / _LOG_FLOOR_DIVISOR))
        if np.ptp(logs) > 0:
            threshold = float(np.clip(np.exp(threshold_otsu(logs)), low, high))
    return max(threshold, floor)


def centre_inside(mask: np.ndarray, touches: tuple[bool, bool, bool, bool]) -> bool:
    """Whether a border-cut object's full outline would have its centre inside the image.

    For a disc cut by a border, the centre is inside exactly when the
    object's depth into the image is at least half its widest chord
    parallel to that border. ``mask`` is the object's bounding-box image
    and ``touches`` says which borders (top, bottom, left, right) it meets.
    """
    rows = mask.sum(axis=1)  # chords parallel to the top and bottom borders
    cols = mask.sum(axis=0)  # chords parallel to the left and right borders
    depth_v, depth_h = mask.shape
    top, bottom, left, right = touches
    cut_v = (top or bottom) and depth_v < 0.5 * rows.max()
    cut_h = (left or right) and depth_h < 0.5 * cols.max()
    return not (cut_v or cut_h)


def _keep_centred(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Drop from ``keep`` (bool per label, index 0 unused) the border objects centred outside."""
    h, w = labels.shape
    slices = ndi.find_objects(labels)
    for lab in np.flatnonzero(border_labels(labels, keep.size - 1) & keep):
        rows, cols = slices[lab - 1]
        touches = (rows.start == 0, rows.stop == h, cols.start == 0, cols.stop == w)
        keep[lab] = centre_inside(labels[rows, cols] == lab, touches)
    return keep


def saturated_mask(image: np.ndarray) -> np.ndarray:
    """Pixels at the camera's ceiling: the image maximum when a plateau of pixels shares it.

    Works whatever the bit depth (a 12-bit camera in a 16-bit file clips at
    4095): one pixel at the maximum is just the brightest pixel, a plateau of
    several is clipping. Float images are not tested (returns all False).
    """
    image = np.asarray(image)
    if image.size == 0 or not np.issubdtype(image.dtype, np.integer):
        return np.zeros(image.shape, bool)
    top = image.max()
    mask = image == top
    return mask if mask.sum() >= _MIN_SATURATED_PX and top > 0 else np.zeros(image.shape, bool)


def count_motor_neurons(
    reporter: np.ndarray,
    nuclei: np.ndarray | None = None,
    *,
    pixel_size_um: float,
    soma_diameter_um: float = SEGMENTATION_DEFAULTS.soma_diameter_um,
    nucleus_diameter_um: float = SEGMENTATION_DEFAULTS.nucleus_diameter_um,
    min_soma_area_um2: float = SEGMENTATION_DEFAULTS.min_soma_area_um2,
    reporter_positive_ratio: float = SEGMENTATION_DEFAULTS.reporter_positive_ratio,
    background_radius_um: float = SEGMENTATION_DEFAULTS.background_radius_um,
    nuclei_labels: np.ndarray | None = None,
    calibration: Calibration | None = None,
) -> MotorNeuronCount:
    """Count reporter-positive motor neurons in one field.

    Parameters
    ----------
    reporter : (M, N) array
        Motor-neuron reporter channel (e.g. HB9::GFP).
    nuclei : (M, N) array, optional
        Nuclear stain. With it, every nucleus is a candidate; without it,
        somata are found in the reporter channel alone.
    pixel_size_um : float
        Pixel size, µm.
    soma_diameter_um : float
        Typical soma diameter, µm: the scale of the reporter's smoothing, opening and soma growth.
    nucleus_diameter_um : float
        Typical nucleus diameter, µm (to segment ``nuclei`` when ``nuclei_labels`` is not given).
    min_soma_area_um2 : float
        Smallest soma when counting without nuclei, µm².
    reporter_positive_ratio : float
        A neuron's reporter level is at least this × the reporter-negative population's level.
    background_radius_um : float
        Radius of the smooth background estimate, µm.
    nuclei_labels : (M, N) int array, optional
        Nuclei already segmented (saves segmenting ``nuclei`` again).
    calibration : Calibration, optional
        The plate's calibration (:func:`screening.segment.calibration.calibrate`): its reporter
        cut-off, typical nucleus area and live-population spreads are used (its sizes are the
        caller's to pass, e.g. ``**calibration.sizes()``). Without it, each field decides alone.

    Returns
    -------
    MotorNeuronCount
        Unpacks as ``n, soma_labels``.

    Notes
    -----
    With nuclei, a nucleus is a motor neuron when

    - its reporter level exceeds the field's positivity threshold. The
      level is the 20th percentile over the nucleus of the reporter after
      background subtraction, flat-field correction and a grey opening that
      removes neurites and fragments: most of the nucleus must lie under a
      soma, so a reporter-negative nucleus that a neighbour's soma or a
      neurite half covers stays negative. The threshold is the
      plate's calibrated cut-off (halfway, in log, between its negative and
      positive populations), and at least ``reporter_positive_ratio`` × the
      negative population's level; without a calibrated cut-off, the
      field's Otsu threshold on its log levels, between
      ``reporter_positive_ratio`` and twice that × the median level of the
      field's reporter-negative population (found by iterating on the
      lower values); and at least 6 pixel-noise σ;
    - that level × the nucleus's reporter flatness (median / 95th percentile
      over the nucleus) still exceeds the threshold: a reporter-negative
      nucleus under the rim of a neighbour's soma sees the reporter rise
      towards the neighbour (flatness ~0.5-0.7), a neuron's own nucleus sits
      under the middle of its soma (~0.9-1). Not where the reporter is
      cytoplasmic (below): it is left out of every nucleus, so a nucleus sees
      no neighbour's soma over it, and the slope it sees is its own ring;
    - it does not share its soma with a counted neighbour: where somata are
      large (see ``_ONE_SOMA_AREAS``), of two touching somata that together
      cover about one soma, the smaller share is a reporter-negative cell
      lying under the other's soma;
    - a nucleus over 1.5 × the typical nucleus area that is elongated or not
      convex (a merged pair) is judged as two halves, cut across its long
      axis: a neuron merged with a reporter-negative neighbour counts once,
      two neurons twice;
    - it is not pyknotic (condensed and bright at once, both outliers of the
      plate's live population; see ``_PYKNOTIC_AREA``) and not saturated
      debris: condensed under clipped reporter, or beside a clipped particle that
      glows in the nuclear channel too (see ``_DEBRIS_BRIGHTNESS``); a soma that
      merely clips the reporter (an 8-bit export) still counts.
    - it is not a neuron that died a little before: its soma's smoothed reporter is
      fragments rather than one body (median / 95th percentile over the soma under half
      the field's median soma's) and its nucleus is faded (3 brightness spreads under the
      field's median nucleus), both at once (see ``_FRAGMENTED_FRACTION``); a dim live
      nucleus under an intact soma, or a normal one among bright blobs, still counts.

    Where the reporter is cytoplasmic (a quarter or more of the nuclei with a bright cell
    round them are darker than it: the plate's ``reporter_hole_share``, else the field's), each
    such nucleus is first raised to the crest of its cell
    (:func:`~screening.segment.dark_nuclei.dark_nuclei`,
    :func:`~screening.segment.dark_nuclei.fill_holes`), so that a soma seen as a ring round its
    dark nucleus is a soma again.

    Without nuclei, somata are maxima of the opened reporter, positive by
    the same rule on their core level, and at least ``min_soma_area_um2``.
    Objects cut by the border count when their centre is inside (depth ≥
    half the widest chord).
    """
    reporter_raw = np.asarray(reporter)
    sigma = noise_sigma(reporter_raw)
    background = estimate_background(
        reporter_raw, radius_um=background_radius_um, pixel_size_um=pixel_size_um
    )
    signal = reporter_signal(
        reporter_raw, pixel_size_um=pixel_size_um, background_radius_um=background_radius_um,
        background=background, sigma=sigma,
    )
    d_px = soma_diameter_um / pixel_size_um
    smooth = filters.gaussian(
        signal, max(_SMOOTH_SOMA_FRACTION * d_px, _MIN_SMOOTH_SIGMA_PX), truncate=_SMOOTH_TRUNCATE_SDS
    )
    del signal
    saturated = saturated_mask(reporter_raw)
    with_nuclei = nuclei is not None or nuclei_labels is not None
    if with_nuclei and nuclei_labels is None:
        nuclei_labels = segment_nuclei(
            nuclei, pixel_size_um=pixel_size_um, nucleus_diameter_um=nucleus_diameter_um,
            background_radius_um=background_radius_um,
            typical_area_um2=calibration.nucleus_area_um2 if calibration is not None else math.nan,
        )
    fill = None
    if with_nuclei:
        nuclei_labels = np.asarray(nuclei_labels)
        smooth, fill = _filled_if_cytoplasmic(
            smooth, nuclei_labels, background, sigma, calibration, soma_diameter_px=d_px,
            nucleus_diameter_px=nucleus_diameter_um / pixel_size_um,
        )
    bodies = soma_bodies(smooth, soma_diameter_px=d_px)
    if with_nuclei:
        if nuclei is not None:
            saturated |= saturated_mask(nuclei)
        result = _count_with_nuclei(
            smooth, bodies, sigma, nuclei, nuclei_labels, saturated, calibration,
            pixel_size_um=pixel_size_um, soma_diameter_px=d_px, positive_ratio=reporter_positive_ratio,
            cytoplasmic=fill is not None,
        )
    else:
        result = _count_from_reporter(
            bodies, sigma, saturated, soma_diameter_px=d_px, positive_ratio=reporter_positive_ratio,
            min_soma_area_px=min_soma_area_um2 / pixel_size_um**2,
        )
    return replace(result, reporter_background=background, reporter_smooth=smooth, reporter_fill=fill)


def reporter_holes(smooth: np.ndarray, nuclei_labels: np.ndarray, sigma: float, *, soma_diameter_px: float,
                   nucleus_diameter_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`~screening.segment.dark_nuclei.dark_nuclei` of the count's smoothed reporter, a cell
    round a nucleus standing :data:`_MIN_POSITIVE_SNR` pixel-noise sds (``sigma``, ADU) over the
    background as a positive soma must: (crest, ringed, hole) per nucleus."""
    return dark_nuclei(smooth, nuclei_labels, soma_diameter_px=soma_diameter_px,
                       nucleus_diameter_px=nucleus_diameter_px, floor=_MIN_POSITIVE_SNR * sigma)


def _filled_if_cytoplasmic(smooth, nuclei_labels, background, sigma, calibration, *, soma_diameter_px: float,
                           nucleus_diameter_px: float):
    """(smooth with its holes filled where the reporter is cytoplasmic, what the fill added in
    the reporter image's ADU or None); see :func:`reporter_holes`."""
    share = calibration.reporter_hole_share if calibration is not None else math.nan
    if share < CYTOPLASMIC_SHARE:  # the plate's reporter fills its cells: no hole is filled
        return smooth, None
    crest, ringed, hole = reporter_holes(smooth, nuclei_labels, sigma, soma_diameter_px=soma_diameter_px,
                                         nucleus_diameter_px=nucleus_diameter_px)
    if not (share if np.isfinite(share) else hole_share(ringed, hole)) >= CYTOPLASMIC_SHARE:
        return smooth, None
    filled = fill_holes(smooth, nuclei_labels, crest, hole)
    illumination = relative_illumination(background, sigma)
    return filled, (filled - smooth) * (illumination if illumination is not None else 1.0)


def _count_with_nuclei(smooth, bodies, sigma, nuclei, nuclei_labels, saturated, calibration, *,
                       pixel_size_um: float, soma_diameter_px: float, positive_ratio: float,
                       cytoplasmic: bool) -> MotorNeuronCount:
    nuclei_labels = np.asarray(nuclei_labels, dtype=np.int32)
    n_nuc = int(nuclei_labels.max())
    if n_nuc == 0:
        return MotorNeuronCount(0, np.zeros(nuclei_labels.shape, np.int32), nuclei_labels, 0, 0.0, 0.0, 0)
    nuc_area = np.bincount(nuclei_labels[nuclei_labels != 0], minlength=n_nuc + 1)[1:]
    # The typical nucleus: the plate's median (calibrated) or, uncalibrated, the field's.
    typical_area = calibration.nucleus_area_um2 / pixel_size_um**2 if calibration is not None else math.nan
    if not np.isfinite(typical_area):
        typical_area = float(np.median(nuc_area[nuc_area > 0]))
    # Merged pairs (not cut by the border, whose pieces are smaller anyway)
    # become two candidates; everything below is per candidate.
    merged = _merged_pairs(nuclei_labels, nuc_area, typical_area)
    merged[border_labels(nuclei_labels, n_nuc)[1:]] = False
    labels, parent = split_merged(nuclei_labels, n_nuc, merged)
    n_lab = parent.size
    area = np.bincount(labels[labels != 0], minlength=n_lab + 1)[1:]
    present = area > 0
    level, median, high = label_percentile(bodies, labels, n_lab, (_LEVEL_PERCENTILE, *_FLAT_PERCENTILES))
    # Saturated pixels are few: index them rather than a weighted bincount
    # over the whole field (~15 ms at 1024²).
    touched = np.zeros(n_nuc + 1, bool)
    touched[nuclei_labels[saturated]] = True
    touched = touched[1:]

    pyknotic = np.zeros(n_nuc, bool)
    faded = None
    if nuclei is not None:
        touched, pyknotic, faded = _debris_and_pyknotic(nuclei, nuclei_labels, nuc_area, touched, saturated,
                                                        typical_area, calibration)
    debris = touched[parent - 1]
    pyknotic = pyknotic[parent - 1]  # judged on the whole nuclei (a half of a merged pair is not small)
    candidate = present & ~pyknotic & ~debris

    floor = _MIN_POSITIVE_SNR * sigma
    ratio = positive_ratio
    cutoff = calibration.reporter_cutoff if calibration is not None else float("nan")
    if np.isfinite(cutoff):
        neg = calibration.reporter_negative_level
        threshold = max(cutoff, ratio * neg, floor)
    else:
        neg = negative_level(level[candidate], ratio, floor)
        threshold = positivity_threshold(level[candidate], neg, ratio, floor)
    # The threshold comes from the plain levels (the two populations); the
    # flatness only discounts a candidate's own level, so a negative nucleus
    # half under a neighbour's soma (bright on one side) falls below it. A
    # cytoplasmic reporter is left out of every nucleus, a neighbour's soma's
    # too: the slope a nucleus sees there is its own ring blurred in from the
    # side (steepest for an off-centre nucleus), which would count against a neuron.
    score = level if cytoplasmic else level * flatness(median, high)  # flatness <= 1
    positive = candidate & (score > threshold)
    dim = candidate & ~positive & (score > dim_level(threshold, neg))
    # One border pass for both kinds: whether an object's centre is inside does not depend on its kind.
    centred = _keep_centred(labels, np.concatenate([[False], positive | dim]))[1:]
    counted = np.flatnonzero(centred & positive) + 1
    reach_px = _SOMA_REACH_DIAMETERS * soma_diameter_px
    somata = _somata_from_nuclei(bodies, labels, counted, level, reach_px=reach_px)
    counted, somata = _drop_counted(counted, somata, _under_a_neighbours_soma(somata, area[counted - 1]))
    if faded is not None:
        dead = np.flatnonzero(_fragmented(smooth, somata, counted.size) & faded[parent[counted - 1] - 1])
        counted, somata = _drop_counted(counted, somata, dead)
    return MotorNeuronCount(
        int(counted.size), somata, nuclei_labels, int(candidate.sum()), float(neg), float(threshold),
        int((pyknotic[:n_nuc] & (nuc_area > 0)).sum()), candidate_levels=score[candidate],
        dim_labels=_relabel(labels, np.flatnonzero(centred & dim) + 1),
    )


def _drop_counted(counted: np.ndarray, somata: np.ndarray, drop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``counted`` (nucleus labels) and ``somata`` (labels 1..K, one per counted) without the
    indices ``drop`` (into 0..K-1).

    Growing the somata again without them would give the same somata less theirs: their nuclei
    still compete for pixels as uncounted ones, and each pixel goes to the same nearest nucleus.
    """
    if drop.size == 0:
        return counted, somata
    kept = np.delete(np.arange(1, counted.size + 1), drop)
    return counted[kept - 1], _relabel(somata, kept)


def _under_a_neighbours_soma(somata: np.ndarray, nucleus_area: np.ndarray) -> np.ndarray:
    """Which counted nuclei (indices into the labels 1..K of ``somata``) share a neighbour's soma.

    See ``_ONE_SOMA_AREAS``: of two touching somata that together are under one typical soma,
    the smaller is dropped; pairs are taken from the smallest together, and a nucleus dropped
    once is not compared again.
    """
    k = nucleus_area.size
    area = np.bincount(somata[somata != 0], minlength=k + 1)[1:].astype(float)
    pairs = _touching_pairs(somata)
    alone = np.ones(k, dtype=bool)
    alone[pairs.ravel() - 1] = False
    if alone.sum() < _MIN_SINGLE_SOMATA or pairs.size == 0:
        return np.zeros(0, dtype=int)
    typical = float(np.median(area[alone]))
    if typical < _MIN_SOMA_NUCLEI * float(np.median(nucleus_area)):
        return np.zeros(0, dtype=int)
    together = area[pairs[:, 0] - 1] + area[pairs[:, 1] - 1]
    dropped: set[int] = set()
    for i in np.argsort(together, kind="stable"):
        if together[i] >= _ONE_SOMA_AREAS * typical:
            break
        a, b = (int(x) - 1 for x in pairs[i])
        if a not in dropped and b not in dropped:
            dropped.add(a if area[a] < area[b] else b)
    return np.array(sorted(dropped), dtype=int)


def _touching_pairs(labels: np.ndarray) -> np.ndarray:
    """Pairs of different labels with 8-connected touching pixels, (P, 2) with the smaller label first."""
    rows, cols = filters.nonzero(labels > 0)
    own = labels[rows, cols]
    h, w = labels.shape
    found = []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):  # each touching pair of pixels seen once
        r, c = rows + dr, cols + dc
        ok = (r < h) & (c >= 0) & (c < w)
        other = labels[r[ok], c[ok]]
        edge = (other > 0) & (other != own[ok])
        found.append(np.sort(np.c_[own[ok][edge], other[edge]], axis=1))
    pairs = np.concatenate(found)
    return np.unique(pairs, axis=0) if pairs.size else np.zeros((0, 2), dtype=labels.dtype)


def dim_level(threshold: float, negative: float) -> float:
    """Level above which an uncounted candidate is dim rather than negative (see ``_DIM_LOG_FRACTION``)."""
    if negative <= 0 or threshold <= negative:
        return threshold
    return float(negative * (threshold / negative) ** _DIM_LOG_FRACTION)


def _relabel(labels: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """``labels`` keeping only the labels in ``chosen``, numbered 1..len(chosen)."""
    lookup = np.zeros(int(labels.max()) + 1, np.int32)
    lookup[chosen] = np.arange(1, chosen.size + 1)
    return lookup[labels]


def _merged_pairs(labels: np.ndarray, area: np.ndarray, typical_area: float) -> np.ndarray:
    """Bool per label 1..n: large (over ``MERGED_AREA`` × ``typical_area``) and elongated or not convex."""
    large = np.flatnonzero(area > MERGED_AREA * typical_area)
    merged = np.zeros(area.size, bool)
    if large.size == 0:
        return merged
    slices = ndi.find_objects(labels, max_label=area.size)
    for k in large:
        mask = labels[slices[k]] == k + 1
        rows, cols = np.nonzero(mask)
        cov = np.cov(np.stack([rows, cols]).astype(float))
        eig = np.linalg.eigvalsh(cov)
        elongation = np.sqrt(eig[1] / max(eig[0], 1e-9))
        merged[k] = elongation > _MERGED_ELONGATION or solidity(mask) < _MERGED_SOLIDITY
    return merged


def _debris_and_pyknotic(nuclei, labels, area, touched, saturated, typical_area: float, calibration):
    """(debris, pyknotic, faded), bool per nucleus label 1..n; debris among those ``touched`` by ``saturated`` pixels.

    Clipped fragments around a condensed nucleus are a dead neuron's; any other nucleus under
    clipped pixels is debris only beside a particle that glows in the nuclear channel too (dust,
    precipitate): a neuron whose soma clips the reporter (an 8-bit export, a long exposure)
    keeps an ordinary nucleus.
    """
    brightness = _mean_per_label(nuclei, labels, area.size)
    spread = calibration.nucleus_brightness_spread if calibration is not None else _DEFAULT_LOG_SPREAD
    typical = np.median(brightness[area > 0]) if (area > 0).any() else 0.0
    glowing = brightness > typical * max(_DEBRIS_BRIGHTNESS, np.exp(_DEBRIS_BRIGHT_SDS * spread))
    condensed = _condensed(area, typical_area, calibration)
    debris = (touched & condensed) | _touching_particles(saturated, labels, touched & glowing)
    bright, faded = _brightness_outliers(brightness, area, debris, calibration)
    return debris, condensed & bright, faded


def _fragmented(smooth: np.ndarray, somata: np.ndarray, k: int) -> np.ndarray:
    """Bool per soma label 1..k: its reporter is fragments, not one body (see ``_FRAGMENTED_FRACTION``)."""
    if k < _MIN_REFERENCE_SOMATA:
        return np.zeros(k, dtype=bool)
    median, high = label_percentile(smooth, somata, k, (50, 95))
    score = median / np.maximum(high, 1e-12)
    return score < _FRAGMENTED_FRACTION * np.nanmedian(score)


def _touching_particles(saturated: np.ndarray, labels: np.ndarray, glowing: np.ndarray) -> np.ndarray:
    """Bool per nucleus label 1..n: touches a saturated patch that holds a glowing nucleus.

    A particle clips the reporter over its own (glowing) nucleus and the reporter of any
    nucleus beside it, which then reads positive; a soma clipped by an 8-bit export holds only
    ordinary nuclei.
    """
    out = np.zeros(glowing.size, bool)
    if not glowing.any():
        return out
    patches, n = filters.label(saturated, connectivity=8)
    particle = np.zeros(n + 1, bool)
    particle[patches[np.concatenate([[False], glowing])[labels]]] = True
    particle[0] = False
    hit = particle[patches] & (labels > 0)
    out[labels[hit] - 1] = True
    return out


def _mean_per_label(image: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``image`` over each label 1..n (0 where a label has no pixels)."""
    # Sums over the labelled pixels only (a fraction of the field): the same sums as over the
    # whole field, several times faster.
    flat = labels.ravel()
    on = np.flatnonzero(flat != 0)  # on a bool mask numpy's scan is ~8x faster than on labels
    values = np.asarray(image).ravel()[on].astype(np.float64)
    total = np.bincount(flat[on], weights=values, minlength=n + 1)[1:]
    area = np.bincount(flat[on], minlength=n + 1)[1:]
    return total / np.maximum(area, 1)


def _condensed(area, typical_area: float, calibration) -> np.ndarray:
    """Bool per nucleus: an outlier of the live population's area (the small half of pyknotic)."""
    area_spread = calibration.nucleus_area_spread if calibration is not None else _DEFAULT_LOG_SPREAD
    return area < typical_area * min(_PYKNOTIC_AREA, np.exp(-_PYKNOTIC_AREA_SDS * area_spread))


def _brightness_outliers(brightness, area, debris, calibration) -> tuple[np.ndarray, np.ndarray]:
    """(bright, faded), bool per nucleus: brighter than most live nuclei of the field (the bright
    half of pyknotic), and dimmer than nearly all of them (see ``_FADED_SDS``)."""
    whole = (area > 0) & ~debris
    typical = np.median(brightness[whole]) if whole.any() else 0.0
    spread = calibration.nucleus_brightness_spread if calibration is not None else _DEFAULT_LOG_SPREAD
    bright = brightness > typical * max(_PYKNOTIC_BRIGHTNESS, np.exp(_PYKNOTIC_BRIGHT_SDS * spread))
    return bright, (area > 0) & (brightness < typical * np.exp(-_FADED_SDS * spread))


def _somata_from_nuclei(bodies, labels, counted, level, *, reach_px: float) -> np.ndarray:
    """Soma of each counted nucleus: its nucleus grown over the opened reporter
    by at most ``reach_px`` (nearest nucleus wins, so a neighbour's cell is not
    claimed), down to :data:`_SOMA_EDGE_FRACTION` of the nucleus's own level."""
    if counted.size == 0:
        return np.zeros(labels.shape, np.int32)
    markers = _relabel(labels, counted)
    # Other nuclei compete for pixels, then are dropped.
    markers[(labels > 0) & (markers == 0)] = counted.size + 1
    # Nearest nucleus within reach (chessboard metric: fast, and the soma's
    # own outline comes from the intensity cut below, not from this reach).
    dist, nearest = filters.nearest_marker(markers)
    grown = np.where(dist <= reach_px, nearest, 0)
    own_level = np.concatenate([[np.inf], level[counted - 1], [np.inf]])
    inside = (bodies > _SOMA_EDGE_FRACTION * own_level[grown]) | ((markers > 0) & (markers == grown))
    return np.where(inside & (grown <= counted.size), grown, 0).astype(np.int32)


def _count_from_reporter(bodies, sigma, saturated, *, soma_diameter_px: float, positive_ratio: float,
                         min_soma_area_px: float) -> MotorNeuronCount:
    d_px = soma_diameter_px
    floor = _MIN_POSITIVE_SNR * sigma
    empty = np.zeros(bodies.shape, np.int32)
    # The opening leaves flat tops; smoothing gives each soma one maximum.
    rounded = filters.gaussian(bodies, _PEAK_SMOOTH_SOMA_FRACTION * d_px)
    peaks = peak_local_max(
        rounded, min_distance=max(int(_PEAK_SEPARATION_DIAMETERS * d_px), 1), threshold_abs=max(floor, 1e-6), exclude_border=False
    )
    if len(peaks) == 0:
        return MotorNeuronCount(0, empty, None, 0, 0.0, floor, 0)
    # Seeded regions first, so each candidate's level is the 20th percentile
    # of its own core (a disc of a quarter soma diameter round its peak).
    markers = np.zeros(bodies.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    near = filters.distance_transform_edt(markers == 0) < _CORE_RADIUS_DIAMETERS * d_px
    cores = watershed(-bodies, markers, mask=near)
    n = len(peaks)
    level = label_percentile(bodies, cores, n, _LEVEL_PERCENTILE)
    level = np.nan_to_num(level)
    ratio = positive_ratio
    neg = negative_level(level, ratio, floor)
    # Without nuclei the candidates are mostly faint maxima (remains of
    # neurites, noise); the gap to the somata is wide, so Otsu is not capped.
    threshold = positivity_threshold(level, neg, ratio, floor, max_ratio=np.inf)
    debris = np.bincount(cores.ravel(), weights=saturated.ravel(), minlength=n + 1)[1:] > 0
    positive = (level > threshold) & ~debris
    own_level = np.concatenate([[np.inf], np.where(positive, level, np.inf)])
    near = filters.distance_transform_edt(markers == 0) < _SOMA_REACH_DIAMETERS * d_px
    regions = watershed(-bodies, markers, mask=near & (bodies > _SOMA_EDGE_FRACTION * threshold))
    regions = np.where(bodies > _SOMA_EDGE_FRACTION * own_level[regions], regions, 0)
    min_area = min_soma_area_px
    area = np.bincount(regions.ravel(), minlength=n + 1)
    keep = np.concatenate([[False], positive]) & (area >= min_area)
    n_fragments = int((np.concatenate([[False], positive]) & (area < min_area)).sum())
    keep = _keep_centred(regions, keep)
    lookup = np.zeros(keep.size, np.int32)
    lookup[keep] = np.arange(1, keep.sum() + 1)
    return MotorNeuronCount(int(keep.sum()), lookup[regions], None, n, float(neg), float(threshold), n_fragments)
