"""Neurite mask: thin bright ridges of the neurite channel, without somata or flat cells.

A neurite is a line a few µm wide at most that is brighter than what lies on either
side of it. Three cheap measures, all at scales given in µm, decide it:

- **ridge strength**: the most negative eigenvalue of the Hessian of the image smoothed
  at half the neurite width, less the other eigenvalue's magnitude (lines, not blobs);
- **contrast**: the image minus its grey opening with a window of ``neurite_max_width_um``
  (a white top-hat), i.e. how far the line stands above its surroundings, next to the
  brightness of the wide structure it sits on (opening minus background);
- **width**: the ridge strength one octave coarser relative to the fine one; a line
  thinner than the fine scale loses half its (scale-normalised) strength there, the tail
  of a spindle-shaped cell does not.

Pixels of weak ridges that are not part of a wider structure (the lower of the opening and
the darker side across the ridge: a mesh of neurites raises the opening, not the gaps beside
each neurite) form candidate pieces; a piece is kept when it contains a seed: a strong,
high-contrast, thin stretch standing well above any cell body under it. Faint processes of
flat cells never seed, texture inside cell bodies never passes the body test, and a neurite
that crosses a cell keeps its crossing. A piece without a thin seed is still kept when its
strong, high-contrast stretches that are only somewhat wider add up to a long line
(``_LONG_SEED_UM``): a neurite blurred by a focus drift looks as wide as the tail of a
spindle-shaped cell, but such tails are short. A piece without any strong seed is kept when
its thin pixels add up to a long line (``_FAINT_SEED_UM``): a neurite at 2-5x the pixel noise
never seeds, but noise never forms lines that long. A piece without a seed is also kept when
it is as strong as the field's own kept neurites (its median contrast at least
``_KEPT_FRACTION`` of theirs), thin, outside cell bodies and at least ``_LIKE_KEPT_UM`` of line:
a stretch of neurite whose seeds broke off. Finally, fainter neurites still are
added by a line detector that averages along the line
(:func:`screening.segment.faint_neurites.faint_neurites`): continuations of the kept neurites
and long thin lines, at least a fraction as strong as the field's own kept neurites. Around the
field's somata, when given, neurites are followed through the soma's halo, where the ridge
strength reads the halo's convex fall-off along the neurite as a blob.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from screening.config.segmentation import SEGMENTATION_DEFAULTS
from screening.plate import MAD_TO_SD
from screening.segment import filters
from screening.segment.faint_neurites import faint_neurites
from screening.segment.neurite_cleanup import clean_neurite_mask
from screening.segment.ridge_pieces import piece_medians, scale_ratio, seed_lengths

# Between seeds a neurite may fade to this fraction of ``neurite_ridge_snr`` (hysteresis).
_LOW_RIDGE_FRACTION = 0.5
# A seed stands above the wide structure under it by this factor (1.5x the body's own
# brightness), elsewhere a neurite pixel by at least 0.3x: texture inside somata and flat
# cells is only a small ripple on the body.
_SEED_BODY_RATIO = 1.5
_BODY_RATIO = 0.3
# The body test of a weak pixel also looks this many neurite widths either side of the ridge
# (lower_side_level), and its contrast must be at least this many pixel-noise sds.
_SIDE_WIDTHS = 1.5
_WEAK_CONTRAST_SNR = 2.0
# Scale-normalised ridge strength at twice the scale over that at the ridge scale: ~0.5
# for a line much thinner than the scale, ≥ 1 for structures as wide as the coarse scale
# (finite differences on the half-resolution grid read ~8 % lower than at full resolution).
_MAX_SEED_SCALE_RATIO = 0.9
# Seeds up to this ratio (blurred lines of ~1.5-2 px sigma read ~1.0-1.2; cell bodies and
# flat cells more) count towards a long seed, which keeps its piece when its skeleton is at
# least _LONG_SEED_UM long. In the blurred `hard` fields (sigma 1.7-1.9 px) such seed lines
# reach 20-60 µm; the tails of PC3 cells in the deepneurite images without neurites reach at
# most 13 µm.
_MAX_LONG_SEED_RATIO = 1.2
_LONG_SEED_UM = 20.0
# Faint neurites (2-5x the pixel noise): a weak pixel's contrast need only be _FAINT_CONTRAST_SNR
# x the top-hat's own noise (~0.45x the pixel noise) above its bias, and a piece without a
# strong seed is kept when its thin pixels standing above any body under them form a line
# _FAINT_SEED_UM long (pieces of pure noise at these levels stay under ~8 µm). A lower ridge
# threshold (3x its noise) found ~5 % more of the simulated arbors but 5 % more length on
# DeepNeurite, where out-of-focus neurites are not in the hand tracings.
_FAINT_CONTRAST_SNR = 3.0
_FAINT_SEED_UM = 20.0
# A piece without a seed is also kept when it is as strong as the field's own neurites: thin,
# outside cell bodies (at most _MAX_BODY_SHARE of its pixels in one), at least _LIKE_KEPT_UM of
# line, its median contrast at least _KEPT_FRACTION of the kept pieces' median. Such pieces are
# stretches of a neurite whose seeds broke off (on the simulated looks their median contrast is
# 0.57-0.66x the kept pieces', precision 0.99); the faint processes and out-of-focus neurites
# the DeepNeurite tracings leave out stand at 0.21x (median), and the tails of somata and flat
# cells that pass the other tests lie in cell bodies.
_KEPT_FRACTION = 0.4
_LIKE_KEPT_UM = 5.0
_MAX_BODY_SHARE = 0.2
# The ridge scale: a Gaussian of σ = this × the neurite width responds most to a line that wide;
# never under _MIN_RIDGE_SIGMA_PX (finite differences of the Hessian need ~1 px of smoothing).
_RIDGE_SIGMA_WIDTHS = 0.5
_MIN_RIDGE_SIGMA_PX = 1.0
# Noise levels are read on every this-many-th pixel (of the darker half): a robust statistic
# needs no more, and every estimate reads the same grid.
_NOISE_STEP_PX = 4
# White noise keeps sqrt(1 - 3 / (4 π σ²)) of its sd in the smoothing residual; the variance
# fraction is floored here where that formula (for σ over ~1 px) breaks down.
_MIN_RESIDUAL_VARIANCE = 0.1
# The top-hat's noise when the darker half shows none: the fraction of the pixel noise white
# noise keeps there at the default scales.
_TOPHAT_NOISE_FRACTION = 0.15
# A constant or noiseless (synthetic) image has no noise to scale the thresholds: the pixel noise
# is taken as this fraction of the image's maximum, the ridge noise as _FLAT_RIDGE_FRACTION of that.
_FLAT_NOISE_FRACTION = 1e-3
_FLAT_RIDGE_FRACTION = 1e-2
# Openings with windows under this (px) run at full resolution: halved, they would be under 3 px.
_HALF_RES_MIN_WINDOW_PX = 6
# An image with a side under this (px) has no room for a ridge and its two sides.
_MIN_SIDE_PX = 8
# A faint line _FAINT_SEED_UM long can only lie in a piece whose bounding box spans at least this
# fraction of that length (a diagonal line spans 1/sqrt(2) of it).
_MIN_SPAN_FRACTION = 0.7


def hessian_eigenvalues(smoothed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of the Hessian of an already smoothed image, by finite differences.

    Parameters
    ----------
    smoothed : (M, N) float array
        Image smoothed at the scale of interest (px).

    Returns
    -------
    low, high : (M, N) float32 arrays
        ``low <= high``; ``low`` is strongly negative across a bright line. Border pixels
        are 0.

    Notes
    -----
    Central differences on the smoothed image cost a fraction of Gaussian derivative
    filters (three extra full-size convolutions) and agree with them once the smoothing
    sigma is above ~1 px.
    """
    g = np.asarray(smoothed, dtype=np.float32)
    hrr, hcc, hrc = filters.central_hessian(g)
    return _eigenvalues(hrr, hcc, hrc)


def _eigenvalues(hrr, hcc, hrc):
    """Eigenvalues ``low <= high`` of the symmetric 2 x 2 matrices [[hrr, hrc], [hrc, hcc]]."""
    half_trace = 0.5 * (hrr + hcc)
    root = np.sqrt((0.5 * (hrr - hcc)) ** 2 + hrc**2)
    return half_trace - root, half_trace + root


def _robust_sd(values: np.ndarray, where: np.ndarray) -> float:
    """Standard deviation from the median absolute deviation of ``values`` on the noise grid
    (every :data:`_NOISE_STEP_PX` th pixel) where ``where``.

    ``where`` is a mask of that grid: which pixels the noise is read on.
    """
    sample = values[::_NOISE_STEP_PX, ::_NOISE_STEP_PX][where]
    return float(MAD_TO_SD * np.median(np.abs(sample - np.median(sample))))


def lower_side_level(
    smooth: np.ndarray, rows: np.ndarray, cols: np.ndarray, distance_px: float
) -> np.ndarray:
    """The darker of the two points ``distance_px`` either side of a ridge, across it.

    Parameters
    ----------
    smooth : (M, N) float array
        Smoothed image.
    rows, cols : int arrays
        Ridge pixels.
    distance_px : float
        How far across the ridge to look, px.

    Returns
    -------
    level : float array
        ``smooth`` (bilinear) at the darker of the two points; the direction across is the
        Hessian's eigenvector of its most negative eigenvalue at each pixel.

    Notes
    -----
    A cell body is bright on both sides of any line inside it; a neurite in a dense mesh has
    a gap on at least one side, even where neighbouring neurites raise a grey opening (the
    body estimate) over the whole mesh.
    """
    g = smooth
    r = np.clip(rows, 1, g.shape[0] - 2)
    c = np.clip(cols, 1, g.shape[1] - 2)
    hrr = g[r + 1, c] - 2 * g[r, c] + g[r - 1, c]
    hcc = g[r, c + 1] - 2 * g[r, c] + g[r, c - 1]
    hrc = 0.25 * (g[r + 1, c + 1] - g[r + 1, c - 1] - g[r - 1, c + 1] + g[r - 1, c - 1])
    low, _ = _eigenvalues(hrr, hcc, hrc)
    # Two forms of the same eigenvector; the longer one is well defined.
    first, second = np.stack([hrc, low - hrr]), np.stack([low - hcc, hrc])
    n1, n2 = np.hypot(*first), np.hypot(*second)
    across = np.where(n1 >= n2, first / np.maximum(n1, 1e-12), second / np.maximum(n2, 1e-12))
    step = distance_px * across
    plus = ndi.map_coordinates(g, [rows + step[0], cols + step[1]], order=1, mode="nearest")
    minus = ndi.map_coordinates(g, [rows - step[0], cols - step[1]], order=1, mode="nearest")
    return np.minimum(plus, minus)


def _opening(image: np.ndarray, size_px: float) -> np.ndarray:
    """Grey opening with a square window of about ``size_px``, computed at half resolution.

    The erosion's minimum over 2 x 2 blocks followed by the minimum over ``size / 2``
    blocks covers the same window; the opening is smooth at this scale, so nearest
    upsampling back loses nothing that matters, at a quarter of the cost.
    """
    if size_px < _HALF_RES_MIN_WINDOW_PX:
        k = filters.odd_window(size_px)
        return filters.maximum_filter(filters.minimum_filter(image, k), k)
    rows, cols = image.shape
    padded = np.pad(image, ((0, rows % 2), (0, cols % 2)), mode="edge")
    # Minimum over 2 x 2 blocks as three elementwise minima of strided views (numpy's
    # reduction over two axes of a reshaped view is ~10x slower).
    block_min = np.minimum(
        np.minimum(padded[0::2, 0::2], padded[0::2, 1::2]), np.minimum(padded[1::2, 0::2], padded[1::2, 1::2])
    )
    k = filters.odd_window(size_px / 2)
    small = filters.maximum_filter(filters.minimum_filter(block_min, k), k)
    return np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)[:rows, :cols]


def _clean_image(image: np.ndarray) -> np.ndarray:
    """Float32 copy with non-finite pixels set to the median of the finite ones."""
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"neurite image must be 2-D (rows, columns), got shape {arr.shape}")
    if arr.dtype.kind not in "uifb":
        raise ValueError(f"neurite image must be numeric, got dtype {arr.dtype}")
    out = arr.astype(np.float32)
    finite = np.isfinite(out)
    if not finite.all():
        out[~finite] = np.median(out[finite]) if finite.any() else 0.0
    return out


def _halo_ridges(smooth, low, high, where, threshold: float, body_radius_px: float) -> np.ndarray:
    """Ridge pixels on the falling rim of a soma, which the ridge strength misses.

    Along a neurite that leaves a soma, the soma's halo falls off convexly: the Hessian's
    second eigenvalue is positive, and the ridge strength (``-low - |high|``) subtracts it as
    if the line were a blob. Saddles are not blobs, so here only a negative ``high`` counts
    against the line. The rim of a rounded body is itself a weak saddle: its level lines curve
    with the body's radius, which makes ``low`` about ``-|gradient| / radius`` along them;
    that much is taken off, so only a line standing out from the rim's own curvature passes.

    Parameters
    ----------
    smooth : (M, N) float array
        The image smoothed at the ridge scale.
    low, high : (M, N) float arrays
        Hessian eigenvalues of ``smooth`` (:func:`hessian_eigenvalues`).
    where : (M, N) bool array
        Pixels to test.
    threshold : float
        The low ridge threshold, in the units of ``low`` (intensity per px²).
    body_radius_px : float
        Typical radius of a soma, px (taken as at least 1 px).

    Returns
    -------
    (M, N) bool array
        Pixels of ``where`` that pass.
    """
    rows, cols = filters.nonzero(where)
    saddle = -low[rows, cols] - np.maximum(-high[rows, cols], 0)
    r = np.clip(rows, 1, smooth.shape[0] - 2)
    c = np.clip(cols, 1, smooth.shape[1] - 2)
    gradient = 0.5 * np.hypot(smooth[r + 1, c] - smooth[r - 1, c], smooth[r, c + 1] - smooth[r, c - 1])
    ok = saddle - gradient / max(body_radius_px, 1.0) > threshold
    out = np.zeros(smooth.shape, dtype=bool)
    out[rows[ok], cols[ok]] = True
    return out


def _weak_ridge(smooth, candidate, contrast, body, background, *, floor: float, side_px: float) -> np.ndarray:
    """Ridge pixels that stand above the cell body under them (hysteresis low level).

    The body under a pixel is the lower of the grey opening (``body``) and the darker side
    across the ridge (:func:`lower_side_level`) above ``background``; the pixel's contrast
    must exceed ``_BODY_RATIO`` times it and ``floor``.
    """
    weak = candidate & (contrast > floor)
    # The side test can only pass pixels the opening test fails: look across only there.
    rows, cols = np.nonzero(weak & (contrast <= _BODY_RATIO * body))
    side = lower_side_level(smooth, rows, cols, side_px)
    side_body = np.maximum(side - (background if np.ndim(background) == 0 else background[rows, cols]), 0)
    weak[rows, cols] = contrast[rows, cols] > _BODY_RATIO * side_body
    return weak


def neurite_mask(
    image: np.ndarray,
    *,
    pixel_size_um: float,
    neurite_width_um: float = SEGMENTATION_DEFAULTS.neurite_width_um,
    neurite_max_width_um: float = SEGMENTATION_DEFAULTS.neurite_max_width_um,
    neurite_ridge_snr: float = SEGMENTATION_DEFAULTS.neurite_ridge_snr,
    neurite_contrast_snr: float = SEGMENTATION_DEFAULTS.neurite_contrast_snr,
    background: np.ndarray | float | None = None,
) -> np.ndarray:
    """Mask of the neurites in one channel of a field, cell bodies excluded.

    Parameters
    ----------
    image : (M, N) array
        Neurite channel (reporter or a neurite marker), any numeric dtype; NaN pixels are
        treated as background.
    pixel_size_um : float
        Pixel size, µm.
    neurite_width_um : float
        Typical neurite width, µm: the ridge scale.
    neurite_max_width_um : float
        Widest neurite, µm: anything wider is a cell body.
    neurite_ridge_snr : float
        A neurite must somewhere reach this ridge strength, in multiples of its noise.
    neurite_contrast_snr : float
        A neurite must somewhere stand this far above its surroundings, in pixel-noise σ.
    background : (M, N) array or float, optional
        Smooth background of ``image`` (e.g. from
        :func:`screening.segment.background.estimate_background`) when the caller has it;
        it only judges how bright the cell body under a ridge is. Default: the image
        median, enough for fields whose background varies by less than a neurite's
        contrast.

    Returns
    -------
    mask : (M, N) bool array
        Neurite pixels, a few px wide along each neurite; not inside a cell body (a ridge
        must stand above the wide structure under it).

    Notes
    -----
    See the module docstring. Noise levels are estimated from the darker half of the image
    itself (median absolute deviations), so thresholds are signal-to-noise ratios and the same
    defaults serve 8-bit and 16-bit images. Cost: two Gaussian filters, one at full and one at half
    resolution, two separable min/max filters and a labelling: ~60 ms for 1024² px.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).normal(100, 3, (64, 64))
    >>> img[32, 8:56] += 60
    >>> m = neurite_mask(img, pixel_size_um=0.65)
    >>> bool(m[32, 10:54].all()) and not m[:20].any()
    True
    """
    return neurite_mask_and_bodies(
        image, pixel_size_um=pixel_size_um, neurite_width_um=neurite_width_um,
        neurite_max_width_um=neurite_max_width_um, neurite_ridge_snr=neurite_ridge_snr,
        neurite_contrast_snr=neurite_contrast_snr, background=background,
    )[0]


def segment_neurites(
    image: np.ndarray,
    *,
    pixel_size_um: float,
    soma_diameter_um: float = SEGMENTATION_DEFAULTS.soma_diameter_um,
    neurite_width_um: float = SEGMENTATION_DEFAULTS.neurite_width_um,
    neurite_max_width_um: float = SEGMENTATION_DEFAULTS.neurite_max_width_um,
    neurite_ridge_snr: float = SEGMENTATION_DEFAULTS.neurite_ridge_snr,
    neurite_contrast_snr: float = SEGMENTATION_DEFAULTS.neurite_contrast_snr,
    background: np.ndarray | float | None = None,
    somata: np.ndarray | None = None,
    nuclei: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The neurite mask ready to skeletonise, and the cell bodies (where no gap is bridged).

    :func:`neurite_mask_and_bodies`, then the rings of ridge around cell bodies cleaned up
    (:func:`screening.segment.neurite_cleanup.clean_neurite_mask`): the skeleton of a ring would
    count its perimeter as neurite.

    Parameters
    ----------
    image, pixel_size_um, neurite_width_um, neurite_max_width_um, neurite_ridge_snr, neurite_contrast_snr, background
        As for :func:`neurite_mask`.
    soma_diameter_um : float
        Typical soma diameter, µm: rings of ridge up to a soma's area are filled; half of it
        is the soma radius of the halo rule (how far from a soma, and how sharply its rim curves).
    somata : (M, N) bool or label array, optional
        Pixels of the field's somata (non-zero): neurites are followed through their halos,
        outside the cell-body mask and up to a soma radius from a soma pixel (a square window of
        side 2 radii + 1 px; see ``_halo_ridges``). Default: none.
    nuclei : (M, N) int array, optional
        The field's nuclei: pieces that never leave one nucleus's cell are its rim
        (:func:`screening.segment.neurite_cleanup.without_cell_rims`).

    Returns
    -------
    mask, bodies : (M, N) bool arrays
        See :func:`neurite_mask_and_bodies`; ``mask`` without cell-body rings, wide parts and
        cell rims.
    """
    mask, bodies = neurite_mask_and_bodies(
        image, pixel_size_um=pixel_size_um, neurite_width_um=neurite_width_um,
        neurite_max_width_um=neurite_max_width_um, neurite_ridge_snr=neurite_ridge_snr,
        neurite_contrast_snr=neurite_contrast_snr, background=background,
        somata=somata, soma_diameter_um=soma_diameter_um,
    )
    mask = clean_neurite_mask(
        mask, image, background, soma_diameter_px=soma_diameter_um / pixel_size_um,
        max_width_px=neurite_max_width_um / pixel_size_um, nuclei=nuclei,
    )
    return mask, bodies


def neurite_mask_and_bodies(
    image: np.ndarray,
    *,
    pixel_size_um: float,
    neurite_width_um: float = SEGMENTATION_DEFAULTS.neurite_width_um,
    neurite_max_width_um: float = SEGMENTATION_DEFAULTS.neurite_max_width_um,
    neurite_ridge_snr: float = SEGMENTATION_DEFAULTS.neurite_ridge_snr,
    neurite_contrast_snr: float = SEGMENTATION_DEFAULTS.neurite_contrast_snr,
    background: np.ndarray | float | None = None,
    somata: np.ndarray | None = None,
    soma_diameter_um: float = SEGMENTATION_DEFAULTS.soma_diameter_um,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`neurite_mask` and the cell bodies it measured on the way.

    Parameters
    ----------
    image, pixel_size_um, neurite_width_um, neurite_max_width_um, neurite_ridge_snr, neurite_contrast_snr, background
        As for :func:`neurite_mask`.
    somata : (M, N) bool or label array, optional
        As for :func:`segment_neurites`.
    soma_diameter_um : float
        Typical soma diameter, µm: the halo zone and the rim curvature of :func:`_halo_ridges`
        (used only with ``somata``).

    Returns
    -------
    mask : (M, N) bool array
        As :func:`neurite_mask`, plus the neurites followed through the somata's halos.
    bodies : (M, N) bool array
        Structures wider than ``neurite_max_width_um`` (somata, flat cells) standing
        ``neurite_contrast_snr`` pixel-noise sds above the background: where no neurite gap
        is bridged (:func:`screening.measure.bridging.bridge_gaps`).
    """
    if not pixel_size_um > 0:
        raise ValueError(f"pixel_size_um must be positive, got {pixel_size_um}")
    if somata is not None:
        if np.shape(somata) != np.shape(image):
            raise ValueError(f"somata shape {np.shape(somata)} differs from the image's {np.shape(image)}")
        somata = np.asarray(somata) != 0  # a label image is read as its somata's pixels
    im = _clean_image(image)
    if min(im.shape) < _MIN_SIDE_PX:
        return np.zeros(im.shape, dtype=bool), np.zeros(im.shape, dtype=bool)

    sigma = max(_RIDGE_SIGMA_WIDTHS * neurite_width_um / pixel_size_um, _MIN_RIDGE_SIGMA_PX)
    smooth = filters.gaussian(im, sigma, mode="nearest")
    low, high = hessian_eigenvalues(smooth)
    ridge = np.maximum(-low - np.abs(high), 0)
    # Noise is read on the darker half of the field: in a dense culture neurites cover much of
    # it, and their own signal would inflate a field-wide estimate (up to 3x in the densest
    # `hard` fields), raising the thresholds exactly where most neurites are.
    sparse = smooth[::_NOISE_STEP_PX, ::_NOISE_STEP_PX]
    dark = sparse <= np.median(sparse)
    ridge_noise = _robust_sd(low, dark)

    # Pixel noise from the residual of the smoothing (see _MIN_RESIDUAL_VARIANCE).
    pixel_noise = _robust_sd(im - smooth, dark) / np.sqrt(
        max(1 - 3 / (4 * np.pi * sigma**2), _MIN_RESIDUAL_VARIANCE)
    )
    # Contrast: white top-hat against the wide structure (cell body) under the pixel.
    window = neurite_max_width_um / pixel_size_um
    opened = _opening(smooth, window)
    contrast = smooth - opened
    if background is None:
        background = float(np.median(im[::_NOISE_STEP_PX, ::_NOISE_STEP_PX]))
    body = np.maximum(opened - background, 0)

    if ridge_noise <= 0 or pixel_noise <= 0:
        # A constant or noiseless (synthetic) image: fall back to a tiny absolute floor.
        scale = max(float(np.abs(im).max()), 1.0) * _FLAT_NOISE_FRACTION
        ridge_noise = ridge_noise if ridge_noise > 0 else scale * _FLAT_RIDGE_FRACTION
        pixel_noise = pixel_noise if pixel_noise > 0 else scale

    bodies = body > neurite_contrast_snr * pixel_noise
    high_ridge = neurite_ridge_snr * ridge_noise
    # The top-hat's own noise: its spread on the darker half (white noise keeps ~0.15 of the
    # pixel noise there at the default scales), above its positive bias (a max of minima).
    contrast_bias = float(np.median(contrast[::_NOISE_STEP_PX, ::_NOISE_STEP_PX][dark]))
    contrast_noise = _robust_sd(contrast, dark)
    if contrast_noise <= 0:
        contrast_noise = _TOPHAT_NOISE_FRACTION * pixel_noise
    candidate = ridge > _LOW_RIDGE_FRACTION * high_ridge
    floor = min(_WEAK_CONTRAST_SNR * pixel_noise, contrast_bias + _FAINT_CONTRAST_SNR * contrast_noise)
    side_px = _SIDE_WIDTHS * neurite_width_um / pixel_size_um
    weak = _weak_ridge(smooth, candidate, contrast, body, background, floor=floor, side_px=side_px)
    labels, n = filters.label(weak, connectivity=8)
    if n == 0:
        return weak, bodies
    span = _spans(labels)

    seed = (
        weak
        & (ridge > high_ridge)
        & (contrast > neurite_contrast_snr * pixel_noise)
        & (contrast > _SEED_BODY_RATIO * body)
    )
    rows, cols = np.nonzero(seed)
    # Width test only where it matters (seed candidates), on a half-resolution copy of
    # the smoothed image: one octave coarser for a quarter of the cost.
    coarse = filters.gaussian(smooth[::2, ::2], np.sqrt(3.0) * sigma / 2, mode="nearest")
    coarse_low, _ = hessian_eigenvalues(coarse)
    # Full-resolution pixel (r, c) sits at (r / 2, c / 2) on the coarse grid; interpolate,
    # since the nearest coarse pixel can be off the ridge line by a pixel.
    ratio = scale_ratio(coarse_low, low, rows, cols)
    thin = ratio < _MAX_SEED_SCALE_RATIO
    keep = np.zeros(n + 1, dtype=bool)
    keep[labels[rows[thin], cols[thin]]] = True
    # Pieces without a thin seed: kept when their somewhat wider seeds form a long line.
    wide = (ratio < _MAX_LONG_SEED_RATIO) & ~keep[labels[rows, cols]]
    if wide.any():
        long_px = _LONG_SEED_UM / pixel_size_um
        keep |= seed_lengths(labels, rows[wide], cols[wide], n) >= long_px
    keep |= _faint_lines(labels, n, span, keep, weak & (contrast > _SEED_BODY_RATIO * body), coarse_low, low,
                         _FAINT_SEED_UM / pixel_size_um)
    keep |= _pieces_like_kept(labels, n, span, keep, contrast, bodies, coarse_low, low,
                              _LIKE_KEPT_UM / pixel_size_um)
    keep[0] = False
    kept = keep[labels]
    faint = faint_neurites(
        smooth, kept, allowed=(contrast > contrast_bias + contrast_noise) & (contrast > _BODY_RATIO * body) & ~bodies,
        noise_grid=dark, pixel_noise=pixel_noise, sigma_px=sigma, coarse_low=coarse_low, low=low,
        pixel_size_um=pixel_size_um, neurite_width_um=neurite_width_um,
    )
    mask = kept | faint
    if somata is None or not somata.any() or not mask.any():
        return mask, bodies
    # Neurites leaving a soma through its halo, added to what is kept only: were they candidates
    # from the start, the rims they come with would join the kept pieces and raise the reference
    # that the faint-line detector compares lines with.
    radius_px = 0.5 * soma_diameter_um / pixel_size_um
    halos = filters.maximum_filter(somata, filters.odd_window(2 * radius_px + 1)) & ~bodies & ~candidate
    halo = _halo_ridges(smooth, low, high, halos, _LOW_RIDGE_FRACTION * high_ridge, radius_px)
    halo = _weak_ridge(smooth, halo, contrast, body, background, floor=floor, side_px=side_px)
    return (mask | _attached(halo, mask) if halo.any() else mask), bodies


def _attached(extra: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pixels of ``extra`` connected (8-connectivity, through ``extra`` and ``mask``) to ``mask``."""
    labels, n = filters.label(extra | mask, connectivity=8)
    touches = np.zeros(n + 1, dtype=bool)
    touches[labels[mask]] = True
    return extra & touches[labels]


def _spans(labels: np.ndarray) -> np.ndarray:
    """Longer side (px) of each piece's bounding box, per label 0..n (0 for label 0)."""
    boxes = ndi.find_objects(labels)
    return np.array([0] + [max(b[0].stop - b[0].start, b[1].stop - b[1].start) if b else 0 for b in boxes])


def _pieces_like_kept(labels, n, span, keep, contrast, bodies, coarse_low, low, long_px: float) -> np.ndarray:
    """Pieces (bool per label 0..n) without a seed that are as strong as the field's kept pieces.

    Kept when thin (median scale ratio under ``_MAX_LONG_SEED_RATIO``), outside cell bodies
    (at most ``_MAX_BODY_SHARE`` of the piece in ``bodies``), with a median contrast at least
    ``_KEPT_FRACTION`` of the kept pieces' median, and pixels forming a line ``long_px`` long.
    A field without kept pieces has no reference: nothing is added.
    """
    out = np.zeros(n + 1, dtype=bool)
    rows, cols = filters.nonzero(labels > 0)
    piece = labels[rows, cols]
    kept = keep[piece]
    if not kept.any():
        return out
    typical = float(np.median(contrast[rows[kept], cols[kept]]))
    # Cheap tests first: a piece with fewer pixels than the line's length, or mostly in cell
    # bodies, fails whatever its medians.
    size = np.bincount(piece, minlength=n + 1)
    candidate = (
        (span >= _MIN_SPAN_FRACTION * long_px) & ~keep & (size >= long_px)
        & (np.bincount(piece, bodies[rows, cols], minlength=n + 1) <= _MAX_BODY_SHARE * size)
    )
    candidate[0] = False
    pick = candidate[piece]
    if not pick.any():
        return out
    rows, cols, piece = rows[pick], cols[pick], piece[pick]
    strong = piece_medians(contrast[rows, cols], piece, n) >= _KEPT_FRACTION * typical
    return _thin_lines(labels, n, rows, cols, strong, coarse_low, low, long_px)


def _faint_lines(labels, n, span, keep, faint, coarse_low, low, long_px: float) -> np.ndarray:
    """Pieces (bool per label 0..n) whose faint ridge pixels form a thin line ``long_px`` long.

    Noise never forms such lines (pieces of pure noise at these thresholds are under ~8 µm),
    nor do the short tails of flat cells. Thin is judged on the piece as a whole (the median
    scale ratio of its faint pixels under ``_MAX_LONG_SEED_RATIO``): at 2-5x the noise one
    pixel's ratio is too noisy, and a blurred, out-of-focus line (ratio ~1.4) would pass by
    chance along a long stretch.
    """
    out = np.zeros(n + 1, dtype=bool)
    # Only pieces whose bounding box (``span``, its longer side in px) could hold a line that long.
    candidate = (span >= _MIN_SPAN_FRACTION * long_px) & ~keep
    if not candidate.any():
        return out
    rows, cols = filters.nonzero(faint & candidate[labels])
    if rows.size == 0:
        return out
    return _thin_lines(labels, n, rows, cols, True, coarse_low, low, long_px)


def _thin_lines(labels, n, rows, cols, also, coarse_low, low, long_px: float) -> np.ndarray:
    """Pieces (bool per label 0..n) passing ``also`` (bool per label, or True) that are thin as a whole
    (median scale ratio of their pixels ``(rows, cols)`` under ``_MAX_LONG_SEED_RATIO``) and
    whose pixels form a line ``long_px`` long."""
    piece = labels[rows, cols]
    good = (also & (piece_medians(scale_ratio(coarse_low, low, rows, cols), piece, n) < _MAX_LONG_SEED_RATIO))[piece]
    if not good.any():
        return np.zeros(n + 1, dtype=bool)
    return seed_lengths(labels, rows[good], cols[good], n) >= long_px
