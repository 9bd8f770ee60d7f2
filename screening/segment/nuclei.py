"""Nuclei: instance labels from a nuclear stain, touching nuclei split, debris rejected."""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import ndimage as ndi
from scipy.cluster.vq import kmeans2
from skimage.measure import label
from skimage.segmentation import watershed

from screening.config.segmentation import SEGMENTATION_DEFAULTS
from screening.plate import MAD_TO_SD
from screening.segment import filters
from screening.segment.background import subtract_background

# Method constants, as fractions of the nominal nucleus diameter d (or of
# intensities). They are not user settings: the user-facing sizes are the µm
# values in SegmentationConfig, and these ratios were chosen once for all data
# sets (benchmarks/segment_accuracy.py).
_DETECT_SNR = 4.0  # candidate pixels: smoothed signal > this many (smoothed) noise σ
_CORE_FRACTION = 0.55  # seed cores: pixels above this fraction of the local peak ...
_PEAK_WINDOW = 0.5  # ... within a window of this × d (a dim nucleus sees its own peak) ...
# ... of the image smoothed at this × d: a nucleus's peak is its brightness at the nucleus's own
# scale, not that of its brightest chromocentre (mouse nuclei in Hoechst) or of the rim around a
# dark nucleolus (GFP fusions), which would leave only the foci above the core fraction and cut
# one textured nucleus into several (benchmarks/README.md, "Textured nuclei"). 0.2 × d fixes the
# textures as well but cut dsb2018's F1 to 0.876 (0.908 at 0.12 d).
_PEAK_SMOOTH_DIAMETERS = 0.12
_NUCLEOLUS_AREA = 0.25  # holes in a core up to this × the nominal disc are filled (see _seeds)
_EDGE_FRACTION = 0.4  # object boundary: this fraction of the object's own peak
_SEED_DIST = 0.25  # distance-transform maxima at least this × d apart
_CORE_SHARE = 0.8  # a seed whose share of the cores is this × nominal disc holds it (see _seeds) ...
_DIM_SHARE = 0.5  # ... and so does a share whose median is under this × the brightest share of its piece
_CONCAVE_SOLIDITY = 0.92  # objects less convex than this are tried for a split
_MIN_AREA = 0.3  # × area of the nominal disc
_MIN_SOLIDITY = 0.83  # less convex objects are smears or clumps of debris ...
_CLUMP_AREA = 1.0  # ... unless at least this × the nominal disc: then a clump of nuclei
# An object's mean must stand this many sds above the means of the background's own patches the
# size of a nucleus's core (a square of _CORE_BOX × d, read away from every candidate). In pixel
# noise that is ~0.3 σ for 40 px nuclei and ~1 σ for 7 px ones; a fixed 3 pixel-noise σ dropped
# dim nuclei of low-light images (1-3 σ per pixel, 1,300-1,500 px each: benchmarks/low_light_nuclei.py),
# whose means stand out from the background by far more than any patch of it does.
_MIN_MEAN_SNR = 5.0
_CORE_BOX = 0.5
# Background that varies more than this times what white noise of the read pixel noise would is
# patchy (JPEG): an object's mean must then also stand _PATCH_SNR times that spread (as the pixel
# noise that would smooth to it) above it. JPEG exports read 3-4x (`benchmarks/exported_plates.py`);
# white noise reads ~1.
_PATCHY_FACTOR = 2.0
_PATCH_SNR = 3.0
# ... and, in an image of integer grey levels, this many levels: an 8-bit JPEG whose background
# sits at 2-3 levels is flat blocks one level apart, which formed hundreds of "nuclei" 0.5-1 level
# high in a field of 55 (benchmarks/README.md, "Nuclei in low light").
_MIN_GREY_LEVELS = 1.5
_SMOOTH_DIAMETERS = 0.08  # smoothing σ: takes out pixel noise, keeps the dim gap between touching nuclei
_MIN_SMOOTH_SIGMA_PX = 1.0  # ... at least this: a narrower Gaussian barely smooths
_MIN_PEAK_WINDOW_PX = 3  # the local-peak window of a tiny nucleus still has a centre and neighbours
# The cores' distance map is smoothed by this σ so a plateau of equal distances has one maximum,
# and a seed lies at least this far inside its core (not on its edge).
_DISTANCE_SMOOTH_PX = 1.0
_MIN_SEED_DEPTH_PX = 0.5
_PEAK_PERCENTILE = 95  # a region's peak: robust to a single hot pixel, unlike its maximum
_SPLIT_MIN_AREAS = 2  # only objects that could hold two nuclei of the minimum area are split ...
_SPLIT_SEED_DIAMETERS = 0.3  # ... from distance maxima at least this × d apart ...
# ... and at least this many px: maxima 1 px apart are one plateau of the distance map, not two
# nuclei. Under 6.7 px nuclei, 0.3 d truncates to 1 px, and pixelation alone (a jagged outline, a
# pixel hanging off) made single nuclei "more convex in two halves": on a varied look of 6 px
# nuclei (seed 23), 25 of 852 neurons were counted twice, 2 with this floor (benchmarks/README.md).
_MIN_SPLIT_SEED_GAP_PX = 2
_SPLIT_SOLIDITY_GAIN = 0.03  # ... when the parts' mean solidity beats the whole's by this
# A notched object over this × the plate's typical nucleus area that the distance map cannot cut
# (two nuclei pressed side by side have one distance centre) is cut into round(area / typical)
# parts by size alone; the motor-neuron count reads a merged pair by the same area.
MERGED_AREA = 1.5
# ... when its notch is at least this many px and this × d deep (the deepest point of its outline
# under the convex hull). A nucleus a few px across is jagged by the pixel grid and the noise:
# large single nuclei of 4-8 px fell under the solidity test by one such jag (<= 0.73 px deep;
# a quarter of them were cut without this floor), while the neck between two pressed nuclei is
# 0.14-0.4 d deep (dsb2018, HeLa, U2OS: 5-27 px; simulated looks with nuclei over 12 px: 2.7-8 px).
_MIN_NOTCH_PX = 2.0
_MIN_NOTCH_DIAMETERS = 0.1
# An object is a patch of background, not a nucleus, when its mean lies at least this factor and
# this many robust sds (in log) under the field's _FAINT_TOP_PERCENTILE th percentile; judged
# only when the field has this many objects.
_FAINT_SDS = 5.0
_FAINT_MIN_RATIO = 10.0
_FAINT_MIN_OBJECTS = 3
_FAINT_TOP_PERCENTILE = 90
_BACKGROUND_MARGIN_SIGMAS = 2  # the background's spread is read this many smoothing σ from any candidate
_MIN_BACKGROUND_SAMPLE = 200  # fewer background samples than this: white noise is all there is to go on
_NOISE_ROW_STEP = 3  # noise is read on every this-many-th row: plenty for a robust statistic
# Smoothed white noise keeps 1 / (2 sqrt(pi) σ) of its sd for σ over about this (px); a narrower
# Gaussian leaves it almost as it was.
_MIN_NOISE_SIGMA_PX = 0.5


def noise_sigma(image: np.ndarray) -> float:
    """Robust standard deviation of pixel noise, from neighbour differences.

    Differences of horizontal neighbours cancel anything smooth (background,
    the inside of a cell); the spread of their middle half ignores edges.

    Notes
    -----
    Camera images hold integers, and their differences too: in a dark 8-bit field most
    differences are exactly 0, so the median absolute deviation of the integers reads 0 or
    whole grey levels (0, 1.05, 2.1 ...), and a noise of 0 makes every flicker of the
    background a nucleus. Each integer is therefore read as spread over its grey level (the
    quantiles of grouped data, interpolated in the histogram): half the inter-quartile range
    equals the median absolute deviation of a symmetric distribution, and stays continuous.
    """
    image = np.asarray(image)
    if image.ndim != 2 or image.shape[1] < 2:
        return 0.0
    rows = image[::_NOISE_ROW_STEP]
    histogram = np.abs(rows).max(initial=0) < 2**17  # differences fit a histogram of ≤ 2^18 bins
    if histogram and _whole_numbers(rows):
        mad = _grouped_half_iqr(np.diff(rows.astype(np.int64), axis=1))
    else:
        rows = rows.astype(np.float32)
        d = rows[:, 1:] - rows[:, :-1]
        mad = np.median(np.abs(d - np.median(d)))
    return float(MAD_TO_SD * mad / np.sqrt(2))


def _whole_numbers(values: np.ndarray) -> bool:
    """Whether every value is a whole number: an integer dtype, or floats without a fraction."""
    if np.issubdtype(values.dtype, np.integer):
        return True
    return values.dtype.kind == "f" and np.array_equal(values, np.round(values))


def _grouped_half_iqr(values: np.ndarray) -> float:
    """Half the inter-quartile range of integers, each read as uniform over [k - 0.5, k + 0.5].

    A histogram gives the quartiles ~5x faster than ``np.percentile``'s partition (a noise
    estimate is taken about eight times per field).
    """
    lo = int(values.min())
    counts = np.bincount((values - lo).ravel())
    cum = np.cumsum(counts)
    quartiles = []
    for q in (0.25, 0.75):
        target = q * cum[-1]
        k = int(np.searchsorted(cum, target))  # the first grey level whose cumulative count reaches it
        before = cum[k - 1] if k else 0
        quartiles.append(lo + k - 0.5 + (target - before) / counts[k])
    return 0.5 * (quartiles[1] - quartiles[0])


def smoothed_noise(sigma_noise: float, sigma_px: float) -> float:
    """Std of white noise ``sigma_noise`` after a 2-D Gaussian of ``sigma_px`` px."""
    return sigma_noise / (2.0 * np.sqrt(np.pi) * max(sigma_px, _MIN_NOISE_SIGMA_PX))


def segment_nuclei(
    image: np.ndarray,
    *,
    pixel_size_um: float,
    nucleus_diameter_um: float = SEGMENTATION_DEFAULTS.nucleus_diameter_um,
    background_radius_um: float = SEGMENTATION_DEFAULTS.background_radius_um,
    typical_area_um2: float = math.nan,
) -> np.ndarray:
    """Instance labels of the nuclei in one nuclear-stain image.

    Parameters
    ----------
    image : (M, N) array
        Nuclear stain (e.g. Hoechst), any numeric dtype.
    pixel_size_um : float
        Pixel size, µm.
    nucleus_diameter_um : float
        Typical nucleus diameter, µm: the scale of every step.
    background_radius_um : float
        Radius of the background estimate, µm (:func:`screening.segment.background.subtract_background`).
    typical_area_um2 : float
        The plate's median nucleus area, µm² (its calibration's ``nucleus_area_um2``): notched
        objects over 1.5x of it that step 4 cannot split are cut by size (NaN: not done).

    Returns
    -------
    labels : (M, N) int32 array
        0 is background, 1..n the nuclei. Nuclei cut by the border are kept.

    Notes
    -----
    1. Background subtraction, Gaussian smoothing (σ = 0.08 d); pixel noise
       from neighbour differences. Candidates: smoothed signal 4 noise σ
       above background, so dim nuclei next to 100-fold brighter ones stay.
    2. Seeds: "cores" above 55 % of the local peak (window d / 2, so a dim
       nucleus beside a bright one still has a core; the peak read at the
       nucleus's scale, 0.12 d, so chromocentres do not make their own cores;
       holes in a core, as around a dark nucleolus, filled) cut dim gaps between
       touching nuclei; maxima of the cores' distance transform at least
       d / 4 apart split cores that touch at a neck; a seed whose share of
       the cores is the size of a nucleus's core keeps that share, so a
       nucleus touching a brighter one with no dim gap is not flooded by it;
       so does a seed alone in its piece of the cores, whatever its size, and
       one whose share is under half as bright as the brightest share of its
       piece (a dim nucleus pressed against a bright one).
       A watershed of the smoothed image from the seeds gives one region
       per nucleus.
    3. Each region keeps its pixels above 40 % of its own peak, so a dim and
       a bright nucleus each get their boundary at their own edge.
    4. Objects with a notch (solidity < 0.92) are split along the watershed
       of their distance transform when that makes the parts more convex.
       One that this leaves whole, that is over 1.5x the typical area and
       whose notch is at least 2 px and d / 10 deep is cut into
       round(area / typical) parts by k-means on its pixels.
    5. Debris and out-of-focus smears are dropped: area < 0.3 × nominal
       disc, solidity < 0.83 (unless the object is at least a nominal disc:
       a clump of nuclei), or mean signal under 5 sds of the background's own
       means over a nucleus's core (on a patchy, compressed background also
       under 3 sds of its spread read as pixel noise; in an image of integer
       grey levels also under 1.5 levels).
    """
    image = np.asarray(image, dtype=np.float32)
    d_px = nucleus_diameter_um / pixel_size_um
    corrected = subtract_background(image, radius_um=background_radius_um, pixel_size_um=pixel_size_um)
    sigma_noise = noise_sigma(image)
    s_small = max(_SMOOTH_DIAMETERS * d_px, _MIN_SMOOTH_SIGMA_PX)
    smooth = filters.gaussian(corrected, s_small)
    low = max(_DETECT_SNR * smoothed_noise(sigma_noise, s_small), 1e-6)
    candidates = filters.binary_opening(smooth > low)
    if not candidates.any():
        return np.zeros(image.shape, np.int32)
    labels = _detect(smooth, candidates, d_px, low)
    labels, solidities = _split_concave(labels, d_px, typical_area_um2 / pixel_size_um**2)
    min_mean = _min_object_mean(smooth, candidates, sigma_noise, s_small, d_px)
    if _whole_numbers(image[::_NOISE_ROW_STEP]):
        # Integer grey levels: a compressed image's flat background breaks into plateaus one level
        # apart, as large as nuclei, which no spread of the background shows.
        min_mean = max(min_mean, _MIN_GREY_LEVELS)
    return _filter(labels, solidities, corrected, d_px, min_mean)


def _min_object_mean(smooth: np.ndarray, candidates: np.ndarray, sigma_noise: float, s_small: float,
                     d_px: float) -> float:
    """The mean (above background) an object must reach to be more than a patch of background.

    ``_MIN_MEAN_SNR`` sds of the background's own means over a nucleus's core (a square of
    ``_CORE_BOX`` × d; where too little background is left, of white noise of the pixel noise
    averaged over it). Where the smoothed background varies more than ``_PATCHY_FACTOR`` times
    what white noise of the pixel noise would (a JPEG removes the pixel noise that neighbour
    differences read but keeps its slow patches), the noise is not white and its patches can
    look like dim nuclei: then also ``_PATCH_SNR`` times that spread, as the pixel noise that
    would smooth to it.
    """
    away = _away_from(candidates, 2 * _BACKGROUND_MARGIN_SIGMAS * s_small + 1)
    box = filters.odd_window(_CORE_BOX * d_px)
    core_means = _background_spread(filters.box_mean(smooth, box), away)
    minimum = _MIN_MEAN_SNR * max(core_means, sigma_noise / box)
    spread = _background_spread(smooth, away)
    if spread > _PATCHY_FACTOR * smoothed_noise(sigma_noise, s_small):
        minimum = max(minimum, _PATCH_SNR * spread / smoothed_noise(1.0, s_small))
    return minimum


def _away_from(candidates: np.ndarray, margin_px: float) -> np.ndarray:
    """Pixels of the noise grid (every ``_NOISE_ROW_STEP`` th row and column) farther than
    ``margin_px / 2`` from every candidate."""
    step = _NOISE_ROW_STEP
    window = max(filters.odd_window(margin_px) // step, 1)
    return ~filters.maximum_filter(candidates[::step, ::step].astype(np.uint8), window).astype(bool)


def _background_spread(values: np.ndarray, away: np.ndarray) -> float:
    """Robust sd of ``values`` on the noise grid where ``away`` (:func:`_away_from`); 0 when too little is left."""
    step = _NOISE_ROW_STEP
    sample = values[::step, ::step][away]
    if sample.size < _MIN_BACKGROUND_SAMPLE:
        return 0.0
    return float(MAD_TO_SD * np.median(np.abs(sample - np.median(sample))))


def _detect(smooth: np.ndarray, candidates: np.ndarray, d_px: float, low: float) -> np.ndarray:
    markers = _seeds(smooth, candidates, d_px)
    regions = watershed(-smooth, markers, mask=candidates)
    return _refine(regions, smooth, low)


def _seeds(smooth: np.ndarray, candidates: np.ndarray, d_px: float) -> np.ndarray:
    """Watershed markers: one per nucleus, as a point or as the nucleus's share of the cores.

    Notes
    -----
    Seeds are maxima of the cores' distance transform, not of the intensity.
    Two nuclei touching side by side with no dim gap between them form one
    core with two distance maxima, but an intensity watershed from two point
    seeds lets the brighter nucleus flood the other one (whose seed sits on
    the common plateau, below parts of its own nucleus): the second seed is
    left a sliver that the size filter drops, and the pair is counted as one
    (most of the nuclei missed on dsb2018, and merged pairs on the simulated
    fields). So each seed first takes its share of the cores (watershed of
    the distance map, i.e. the split at the neck); a share at least the core
    of a nominal nucleus (_CORE_SHARE × the nominal disc; the core of a lone
    nucleus is ~0.8 of its area on dsb2018, HeLa and the simulated fields)
    is a nucleus and becomes the marker as a whole, so the intensity
    watershed only settles the dim rims. So does a share that is the whole of
    its piece of the cores (:func:`_alone_in_core`) and one much dimmer than
    its piece's brightest share (:func:`_dimmer_than_piece`). Other, smaller
    shares (bumps of one irregular or elongated nucleus) stay point seeds and merge.
    """
    nucleus_scale = filters.gaussian(smooth, _PEAK_SMOOTH_DIAMETERS * d_px)
    local_peak = filters.maximum_filter(nucleus_scale, max(int(_PEAK_WINDOW * d_px), _MIN_PEAK_WINDOW_PX))
    core = candidates & (smooth > _CORE_FRACTION * local_peak)
    # A dark nucleolus leaves a hole in its nucleus's core, and a core with a hole has two
    # distance maxima: filled, it has one. The dim gap between touching nuclei opens onto the
    # background at both ends of their contact, so it is no hole.
    holes, small, _ = filters.small_holes(core, _NUCLEOLUS_AREA * np.pi * (d_px / 2) ** 2)
    core |= small[holes].reshape(core.shape)
    dist = filters.gaussian(filters.distance_transform_edt(core), _DISTANCE_SMOOTH_PX)
    # Maxima of the distance map at least _SEED_DIST × d apart (a plateau
    # of equal maxima is one seed).
    size = 2 * max(int(_SEED_DIST * d_px), 1) + 1
    peaks = core & (dist >= filters.maximum_filter(dist, size)) & (dist > _MIN_SEED_DEPTH_PX)
    markers, n = ndi.label(peaks, structure=np.ones((3, 3)))
    if n == 0:
        return markers
    shares = watershed(-dist, markers, mask=core)
    holds = np.bincount(shares[shares != 0], minlength=n + 1) >= _CORE_SHARE * np.pi * (d_px / 2) ** 2
    pieces, _ = filters.label(core, connectivity=4)  # the shares' watershed joins 4-neighbours
    piece_of = _piece_of(pieces, markers, n)
    holds |= _alone_in_core(piece_of)
    holds |= _dimmer_than_piece(smooth, shares, piece_of)
    holds[0] = False
    at = np.flatnonzero(core)  # shares are 0 off the cores
    share = shares.ravel()[at]
    whole = holds[share]
    markers.ravel()[at[whole]] = share[whole]
    return markers


def _piece_of(pieces: np.ndarray, markers: np.ndarray, n: int) -> np.ndarray:
    """The piece of the cores each marker 0..n lies in (0 for label 0)."""
    at = np.flatnonzero(markers)
    piece_of = np.zeros(n + 1, np.int64)
    piece_of[markers.ravel()[at]] = pieces.ravel()[at]
    return piece_of


def _dimmer_than_piece(smooth: np.ndarray, shares: np.ndarray, piece_of: np.ndarray) -> np.ndarray:
    """Whether each share 0..n is much dimmer than the brightest share of its piece of the cores (bool;
    ``piece_of`` from :func:`_piece_of`).

    Shares of one nucleus (bumps of an irregular or elongated one) differ in level by its texture;
    a share under ``_DIM_SHARE`` × the median of the brightest share in its piece is another,
    dimmer nucleus whose core touches a brighter one's. As a point seed it sits off its own
    intensity maximum (its pixels facing the neighbour are lifted by the neighbour's blur), so the
    neighbour floods it first (benchmarks/low_light_nuclei.py: 16 of the 22 nuclei the 16-bit look
    lost went that way, beside 2-13x brighter ones). Cores of neighbours of similar level touch,
    so in a colony a piece can chain several nuclei. At 0.6 textured nuclei (bright foci) start to
    split: benchmarks/README.md, "Nuclei in low light".
    """
    level = np.zeros(piece_of.size)
    level[1:] = np.nan_to_num(label_percentile(smooth, shares, piece_of.size - 1, 50))
    brightest = np.zeros(int(piece_of.max()) + 1)
    np.maximum.at(brightest, piece_of, level)
    return level < _DIM_SHARE * brightest[piece_of]


def _alone_in_core(piece_of: np.ndarray) -> np.ndarray:
    """Whether each marker 0..n is the only one in its connected piece of the cores (bool per label;
    ``piece_of`` from :func:`_piece_of`).

    Such a seed's share is its whole core, whatever its size: nothing in it can be split. A dim
    nucleus pressed against a much brighter one loses the core pixels near it (their local peak
    is the neighbour's), so its share falls under the core of a nominal nucleus; as a point seed
    it was flooded by the neighbour's whole share and lost (benchmarks/low_light_nuclei.py:
    nuclei 0.3-4x the median brightness in colonies).
    """
    seeds_in_piece = np.bincount(piece_of[1:], minlength=int(piece_of.max()) + 1)
    alone = seeds_in_piece[piece_of] == 1
    alone[0] = False
    return alone


def _refine(regions: np.ndarray, smooth: np.ndarray, low: float) -> np.ndarray:
    """Per-region threshold at a fraction of the region's own peak (95th
    percentile); each region keeps its largest connected piece."""
    n = int(regions.max())
    if n == 0:
        return regions.astype(np.int32)
    peak = np.nan_to_num(label_percentile(smooth, regions, n, _PEAK_PERCENTILE))
    cut = np.concatenate([[np.inf], np.maximum(low, _EDGE_FRACTION * peak)])
    # Work on the regions' pixels only (flat indices): a few % of the field.
    at = np.flatnonzero(regions != 0)  # on a bool mask numpy's scan is ~8x faster than on labels
    region = regions.ravel()[at]
    above = smooth.ravel()[at] > cut[region]
    at, region = at[above], region[above]
    kept = np.zeros(regions.size, np.int32)
    kept[at] = region
    # Connected pieces of equal label; keep the largest piece of each region.
    piece = label(kept.reshape(regions.shape), connectivity=1).ravel()[at]
    size = np.bincount(piece)
    owner = np.zeros(size.size, np.int64)
    owner[piece] = region
    order = np.lexsort((-size[1:], owner[1:])) + 1  # by region, largest first
    first = np.zeros(size.size, bool)
    first[order[np.r_[True, owner[order][1:] != owner[order][:-1]]]] = True
    largest = first[piece]
    at, region = at[largest], region[largest]
    used = np.zeros(n + 1, bool)
    used[region] = True
    lookup = np.zeros(n + 1, np.int32)
    lookup[used] = np.arange(1, used.sum() + 1)
    out = np.zeros(regions.size, np.int32)
    out[at] = lookup[region]
    return out.reshape(regions.shape)


def label_percentile(values: np.ndarray, labels: np.ndarray, n: int, q) -> np.ndarray:
    """``q``-th percentile (lower) of ``values`` within each label 1..n; NaN where a label is absent.

    Parameters
    ----------
    values : (M, N) array
    labels : (M, N) int array
        0 is background.
    n : int
        Number of labels.
    q : float or sequence of float
        Percentile(s), 0-100.

    Returns
    -------
    (n,) float array for a scalar ``q``; (len(q), n) for a sequence (one sort serves them all).
    """
    flat = labels.ravel()
    on = flat > 0
    lab = flat[on]
    val = values.ravel()[on]
    # One argsort of "label + value scaled into [0, 1)" orders by label, then
    # value: ~4x faster than np.lexsort. Values closer than ~1e-10 of their
    # range may swap, which moves a percentile by no more than that.
    lo = float(val.min()) if val.size else 0.0
    span = float(val.max()) - lo if val.size else 0.0
    if val.size and np.isfinite(span):
        key = lab + (val.astype(np.float64) - lo) / (span * (1 + 1e-9) + 1e-300)
        order = np.argsort(key)
    else:  # NaN or inf values: lexsort puts them last within their label
        order = np.lexsort((val, lab))
    lab, val = lab[order], val[order]
    starts = np.searchsorted(lab, np.arange(1, n + 2))
    counts = np.diff(starts)
    qs = np.atleast_1d(np.asarray(q, dtype=float))
    out = np.full((qs.size, n), np.nan)
    has = counts > 0
    for row, qi in zip(out, qs, strict=True):
        pos = starts[:-1] + np.floor((counts - 1) * qi / 100).astype(int)
        row[has] = val[pos[has]]
    return out[0] if np.ndim(q) == 0 else out


def solidity(mask: np.ndarray) -> float:
    """Area / convex-hull area of a binary mask of pixel squares (as regionprops).

    The hull of the pixel centres (from the outline's pixels, OpenCV), grown
    by the pixel square (Minkowski sum: hull area + width + height + 1):
    about 10x faster than ``regionprops(...).solidity``, which rasterises it.
    """
    area = int(np.count_nonzero(mask))
    if area < 3:
        return 1.0
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = np.concatenate(contours)
    hull = cv2.contourArea(cv2.convexHull(outline))  # 0 for pixels on a line
    _, _, width, height = cv2.boundingRect(outline)
    return float(min(area / (hull + (width - 1) + (height - 1) + 1), 1.0))


def _split_concave(labels: np.ndarray, d_px: float, typical_area_px: float) -> tuple[np.ndarray, list[float]]:
    """Split objects with a notch in their outline along the distance-transform watershed,
    or by size (:func:`split_by_size`) when that fails, they are over ``MERGED_AREA`` ×
    ``typical_area_px`` (NaN: never) and their notch is deeper than the pixel grid's jag.

    Returns the new labels (objects and their parts numbered in label order) and
    the solidity of each (index label - 1).
    """
    # Per-object work only where needed: areas by bincount, boxes by find_objects (no
    # regionprops objects, whose per-object Python holds the GIL a 2-thread run shares).
    area = np.bincount(labels[labels != 0], minlength=int(labels.max(initial=0)) + 1)
    min_area = _MIN_AREA * np.pi * (d_px / 2) ** 2
    lookup = np.zeros(area.size, labels.dtype)
    solidities: list[float] = []
    splits = []
    for lab, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        if area[lab] < min_area:  # dropped by the filter anyway
            solidities.append(1.0)
            lookup[lab] = len(solidities)
            continue
        image = labels[box] == lab
        whole = solidity(image)
        concave = whole < _CONCAVE_SOLIDITY and area[lab] > _SPLIT_MIN_AREAS * min_area
        split = _try_split(image, whole, d_px, min_area) if concave else None
        if (split is None and concave and area[lab] > MERGED_AREA * typical_area_px
                and notch_depth(image) >= max(_MIN_NOTCH_PX, _MIN_NOTCH_DIAMETERS * d_px)):
            split = split_by_size(image, round(area[lab] / typical_area_px), min_area)
        if split is None:
            solidities.append(whole)
            lookup[lab] = len(solidities)
            continue
        for part, value in zip(*split, strict=True):
            solidities.append(value)
            splits.append((box, part, len(solidities)))
    out = lookup[labels]
    for box, part, new_label in splits:
        out[box][part] = new_label
    return out, solidities


def _try_split(image, whole: float, d_px: float, min_area: float):
    mask = np.pad(image, 1)
    dist = filters.distance_transform_edt(mask)
    peaks = spaced_maxima(dist, max(int(_SPLIT_SEED_DIAMETERS * d_px), _MIN_SPLIT_SEED_GAP_PX))
    if len(peaks) < 2:
        return None
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    ws = watershed(-dist, markers, mask=mask)[1:-1, 1:-1]
    parts = [ws == i for i in range(1, len(peaks) + 1)]
    parts = [p for p in parts if p.any()]
    if min(p.sum() for p in parts) < min_area:
        return None
    # Accept only when the parts are clearly more convex than the whole.
    values = [solidity(p) for p in parts]
    return (parts, values) if np.mean(values) > whole + _SPLIT_SOLIDITY_GAIN else None


def notch_depth(mask: np.ndarray) -> float:
    """Depth (px) of the deepest notch in a binary object's outline: the largest distance of an
    outline point from the convex hull's edge it lies under (OpenCV convexity defects); 0 for a
    convex object."""
    contours, _ = cv2.findContours(np.pad(mask, 1).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=len)
    if len(outline) < 4:
        return 0.0
    defects = cv2.convexityDefects(outline, cv2.convexHull(outline, returnPoints=False))
    if defects is None or defects.size == 0:
        return 0.0
    return float(defects.reshape(-1, 4)[:, 3].max()) / 256  # fixed point, 8 fraction bits


def split_by_size(mask: np.ndarray, k: int, min_area: float):
    """Cut ``mask`` into ``k`` parts (at least 2) of about equal area: k-means of its pixel coordinates.

    The centres start spread along the object's long axis (its pixels' quantiles), so the result
    does not depend on a random start. Returns ``(parts, solidities)``, or None when a part would
    be under ``min_area`` px.
    """
    k = max(int(k), 2)
    points = np.argwhere(mask).astype(float)
    centred = points - points.mean(axis=0)
    axis = np.linalg.eigh(np.cov(centred.T))[1][:, -1]
    along = centred @ axis
    start = points[np.argsort(along)[((np.arange(k) + 0.5) / k * len(points)).astype(int)]]
    _, part = kmeans2(points, start, minit="matrix")
    sizes = np.bincount(part, minlength=k)
    if sizes.min() < min_area:
        return None
    index = np.zeros(mask.shape, np.int32)
    index[mask] = part + 1
    parts = [index == i for i in range(1, k + 1)]
    return parts, [solidity(p) for p in parts]


def spaced_maxima(image: np.ndarray, min_distance: int) -> np.ndarray:
    """Coordinates of the positive local maxima of ``image``, highest first, none
    closer than ``min_distance`` px (Chebyshev) to a higher one kept.

    What ``skimage.feature.peak_local_max(image, min_distance=min_distance,
    exclude_border=False)`` returns for a distance map (equal on every object of
    the benchmark fields), ~5x faster on the few maxima of one object.
    """
    size = 2 * min_distance + 1
    candidates = (image == filters.maximum_filter(image, size, mode="nearest")) & (image > 0)
    coords = np.argwhere(candidates)
    coords = coords[np.argsort(-image[candidates], kind="stable")]
    kept: list[np.ndarray] = []
    for point in coords:
        if all(np.abs(point - other).max() >= min_distance for other in kept):
            kept.append(point)
    return np.array(kept, dtype=np.intp).reshape(-1, 2)


def _filter(labels, solidities, corrected, d_px: float, min_mean: float) -> np.ndarray:
    """Drop debris: small, not convex (unless nucleus-sized), or too faint objects; relabel 1..n.

    A non-convex object at least a nominal nucleus in area is a clump of
    nuclei that would not split (touching nuclei without a notch deep enough),
    not debris: dropping it lost every nucleus in it (on the simulated fields,
    13 of the 70 missed motor neurons of ``small`` and ``hard``). It is kept
    whole; the motor-neuron count judges merged pairs by halves.
    """
    n = int(labels.max())
    if n == 0:
        return labels
    nominal = np.pi * (d_px / 2) ** 2
    at = np.flatnonzero(labels != 0)  # the objects' pixels only: a few % of the field
    label_at = labels.ravel()[at]
    area = np.bincount(label_at, minlength=n + 1)[1:]
    total = np.bincount(label_at, weights=corrected.ravel()[at], minlength=n + 1)[1:]
    mean = total / np.maximum(area, 1)
    shaped = (np.asarray(solidities) >= _MIN_SOLIDITY) | (area >= _CLUMP_AREA * nominal)
    keep = (area >= _MIN_AREA * nominal) & shaped & (mean >= min_mean)
    keep &= ~faint_outliers(mean, keep)
    lookup = np.zeros(n + 1, np.int32)
    lookup[1:][keep] = np.arange(1, keep.sum() + 1)
    out = np.zeros(labels.size, np.int32)
    out[at] = lookup[label_at]
    return out.reshape(labels.shape)


def faint_outliers(mean: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Bool per object: far fainter than the field's own nuclei (patches of background).

    Parameters
    ----------
    mean : float array
        Each object's mean signal above background (ADU).
    kept : bool array
        Objects that passed the other tests; only they define the field's nuclei.

    Returns
    -------
    bool array
        Objects whose log mean lies at least a factor ``_FAINT_MIN_RATIO``, and more than
        ``_FAINT_SDS`` robust sds of the bright population, under the field's 90th percentile.

    Notes
    -----
    Where the pixel noise under-reads what the background does (JPEG removes the pixel noise
    but keeps slow patches and its 8 x 8 blocks), such patches pass a test scaled by the noise,
    and in a field of small nuclei they can outnumber the nuclei several times. The nuclei are
    read from the top: the 90th percentile of the log means (a few saturated particles cannot
    carry it), and their spread from the objects within ``_FAINT_MIN_RATIO`` of it (a broad
    population drops nothing). Fewer than ``_FAINT_MIN_OBJECTS`` objects are no population.
    """
    out = np.zeros(mean.shape, bool)
    ok = kept & (mean > 0)
    if ok.sum() < _FAINT_MIN_OBJECTS:
        return out
    logs = np.log(mean[ok])
    top = np.percentile(logs, _FAINT_TOP_PERCENTILE)
    bright = logs[logs >= top - np.log(_FAINT_MIN_RATIO)]
    spread = MAD_TO_SD * np.median(np.abs(bright - np.median(bright)))
    out[ok] = logs < top - max(_FAINT_SDS * spread, np.log(_FAINT_MIN_RATIO))
    return out


def border_labels(labels: np.ndarray, n: int) -> np.ndarray:
    """Bool per label 0..n (index = label): touches the image border; index 0 is False."""
    edge = np.zeros(n + 1, bool)
    edge[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
    edge[0] = False
    return edge
