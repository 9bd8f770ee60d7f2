"""Faint neurites: lines at 2-5x the pixel noise that no ridge seed of the neurite mask reaches.

A neurite too faint for any one pixel to stand out is still a line. The curvature across it,
averaged along it over ``_LINE_LENGTH_UM``, stands well above the same average on the empty
background, where noise averages out. Eight directions are tried; a pixel is on a faint line
when the best direction's average is above ``_LINE_SNR`` times its spread on the darker half
of the field. It must also be the maximum across the line (a centre line, one pixel wide)
and darker on both sides by a margin, which the rim of a cell body is not. A blob responds
in every direction, a line only along itself.

Centre-line pieces are kept in two cases:

- **continuations**: pieces at least ``_CONTINUATION_UM`` long in all that touch a neurite the
  ridge mask kept: the faint distal part of a neurite, or a stretch between two kept pieces.
  A faint line breaks where its response dips under the floor; its fragments (each at least
  ``_FRAGMENT_UM``, 8 µm) count as one chain across gaps up to ``_JOIN_UM`` (6 µm). A chain as
  wide as a flat cell at the coarse scale (``_MAX_CONTINUATION_RATIO``) runs along its rim and is
  not a continuation;
- **faint neurites on their own**: a thin piece (``_THIN_SCALE_RATIO``, the width test of
  the ridge mask), or a thin chain of fragments as above, at least ``_FAINT_SEED_UM`` (14 µm)
  long. Out-of-focus neurites and the tails of flat cells are wider; noise does not form lines
  that long.

A faint line must also reach ``_TYPICAL_FRACTION`` of the response of the neurites the ridge
mask kept in the same field, read on their centre lines as a faint line's is. Where a field's
neurites are themselves faint, the noise floor decides; where they are bright, a line a
fraction as strong is an out-of-focus neurite or the rim of a flat cell, which the hand
tracings of real images leave out. A field without kept neurites gets no faint lines; one
whose kept pixels hold no centre line (rims of cell bodies) gets them at the noise floor.

Everything runs on the smoothed image at half resolution when the ridge scale allows it (a
quarter of the pixels; the curvature is already smooth over ``2 sigma`` px), and the centre
line is brought back to full resolution two pixels wide.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi

from screening.plate import MAD_TO_SD
from screening.segment import filters
from screening.segment.ridge_pieces import piece_medians, scale_ratio, seed_lengths

# Curvature averaged along this length (µm): ~sqrt(length / width) times the single-pixel SNR of
# a straight line, while a neurite's meander (~0.25 rad per 8 µm) keeps it inside the window.
_LINE_LENGTH_UM = 10.0
_LINE_ANGLES = 8
# The best direction's average must exceed its spread on the darker half this many times.
_LINE_SNR = 4.0
# A faint line reaches at least this fraction of the response of the field's own kept neurites
# (their median). Where the neurites are faint (2-6x the pixel noise) the noise floor above is
# higher and this rule does nothing; where they are bright, as in the DeepNeurite images (~9x),
# the out-of-focus neurites and the rims of flat cells that the hand tracings leave out stay
# out: with the noise floor alone they added 0.05 to its median error (0.060 -> 0.111), at 0.3
# nothing, while the simulated faint looks kept their gain (benchmarks/README.md).
_TYPICAL_FRACTION = 0.3
# Fewer kept neurite pixels than this (on the detector's grid): no reference, no faint lines.
_MIN_REFERENCE_PX = 50
# The reference is read where the kept neurites are lines as the detector sees them (centre
# lines, darker on both sides), as a faint line is read. In fields of faint neurites the ridge
# mask may keep little but the rims of bright somata, which respond several times as much as
# the neurites: in the median over the whole kept mask they set a floor no faint neurite of the
# field reached (benchmarks/README.md). Kept pixels with fewer centre lines than this are rims
# and bodies, not neurites: nothing to compare with, the noise floor alone decides.
_MIN_REFERENCE_CENTRE_PX = 10
# A line responds along itself; a blob (a soma) about as much in every direction.
_ISOTROPY_FRACTION = 0.5
# Beside a strong neurite, lines a few px off it at a slightly different angle still respond:
# a faint pixel must reach this fraction of the strongest response within _NEAR_WIDTHS widths
# (the window's full width: a neuron's own faint neurite running alongside a bright one a few
# widths away was suppressed at 3).
_NEAR_WIDTHS = 2.0
_LOCAL_PEAK_FRACTION = 0.5
# Both sides of the line, _SIDE_WIDTHS widths away, darker by this many pixel-noise sds (on the
# smoothed image, whose noise is ~0.2 of the pixel noise: ~1.4 of its sds). A rim of a cell body
# is brighter on one side and fails whatever the margin; at 0.5 (~2.8 sds) faint neurites at
# 2-3x the noise failed it too: the 3x-noise look's neurite error 0.410 -> 0.370 at 0.25, the real
# DeepNeurite sets unchanged (benchmarks/README.md, twelfth stop).
_SIDE_WIDTHS = 1.5
_EDGE_MARGIN_SNR = 0.25
# Continuations of kept neurites at least this long (µm): side spurs and beads along a
# neurite are shorter.
_CONTINUATION_UM = 10.0
# A faint neurite's response dips under the floor here and there, breaking its centre line
# into fragments: fragments at least _FRAGMENT_UM long with gaps up to _JOIN_UM between them
# are one chain for the continuation test. Shorter specks along bright neurites are side lobes
# of their curvature or short crossing lines, which the hand tracings leave out: with every
# speck in a chain, NEU2 / NEUT median error 0.090 / 0.130 (0.061 / 0.094 without chains),
# and a speck chained across a faint stretch of NeuronJ trace 4 took the bridge that joins it
# (5 µm fragments); with 8 µm fragments 0.067 / 0.108, NeuronJ 4 of 4 (benchmarks/README.md).
_JOIN_UM = 6.0
_FRAGMENT_UM = 8.0
# A chain wider than this (its median coarse-over-fine ridge strength; thin lines ~0.5, blurred
# ones up to ~1.4) is no continuation: it runs along the rim of a flat cell, which is wide at
# the coarse scale. On the DeepNeurite image without neurites `-64.tif` such a chain took 138 px
# along a spindle-shaped cell; at 1.5 it is gone, and the simulated looks lose 1-3 % of their
# length, about half of it false (mask precision +1 %; at 1.2 they lost 4-6 %; benchmarks/README.md).
_MAX_CONTINUATION_RATIO = 1.5
# A piece, or a chain of fragments, on its own: at least this long (µm) and thin (median
# coarse-over-fine ridge strength under this; ~0.5 for a thin line, >= 1 for structures as wide
# as the coarse scale). At the ridge mask's 1.2, faint out-of-focus neurites of the DeepNeurite
# images (not in the hand tracings) passed: 0.135 -> 0.058 median error on the NEU2 images at
# 1.0. Noise lines end near the averaging length (_LINE_LENGTH_UM); at 14 µm fields of noise with
# 3x-noise neurites gained no length, at 10 µm the pieces are where noise lines end
# (benchmarks/README.md).
_FAINT_SEED_UM = 14.0
_THIN_SCALE_RATIO = 1.0
# The half-resolution grid needs this much smoothing (px) not to alias the curvature.
_HALF_RES_MIN_SIGMA_PX = 1.5


def line_kernel(length_px: float, angle: float) -> np.ndarray:
    """Kernel that averages along a straight line.

    Parameters
    ----------
    length_px : float
        Line length, px.
    angle : float
        Direction of the line, rad from the column axis towards increasing rows.

    Returns
    -------
    kernel : (K, K) float32 array
        Bilinear samples of the line every half pixel, summing to 1.
    """
    half = int(np.ceil(length_px / 2))
    kernel = np.zeros((2 * half + 1, 2 * half + 1), dtype=np.float32)
    t = np.linspace(-length_px / 2, length_px / 2, max(2, int(np.ceil(2 * length_px)) + 1))
    r, c = half + t * np.sin(angle), half + t * np.cos(angle)
    r0, c0 = np.floor(r).astype(int), np.floor(c).astype(int)
    fr, fc = r - r0, c - c0
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        np.add.at(kernel, (np.clip(r0 + dr, 0, 2 * half), np.clip(c0 + dc, 0, 2 * half)), w)
    return kernel / kernel.sum()


def oriented_line_response(
    smooth: np.ndarray, length_px: float, n_angles: int = _LINE_ANGLES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Curvature across a line averaged along it, in ``n_angles`` directions.

    Parameters
    ----------
    smooth : (M, N) float array
        Image smoothed at the ridge scale.
    length_px : float
        Averaging length along the line, px.
    n_angles : int
        Directions ``pi * k / n_angles``, k = 0..n_angles - 1 (rad from the column axis).

    Returns
    -------
    best, worst : (M, N) float32 arrays
        Largest and smallest average over the directions (positive on a bright line).
    which : (M, N) int8 array
        Index ``k`` of the best direction.
    """
    g = np.asarray(smooth, dtype=np.float32)
    hrr, hcc, hrc = filters.central_hessian(g)
    # Curvature across direction angle: -(mean + half_diff cos 2a - hrc sin 2a), with the normal
    # (cos a, -sin a) in (row, column).
    mean, half_diff = -0.5 * (hrr + hcc), -0.5 * (hrr - hcc)
    best = np.full(g.shape, -np.inf, dtype=np.float32)
    worst = np.full(g.shape, np.inf, dtype=np.float32)
    which = np.zeros(g.shape, dtype=np.int8)
    for k in range(n_angles):
        angle = np.pi * k / n_angles
        curvature = cv2.addWeighted(half_diff, float(np.cos(2 * angle)), hrc, float(np.sin(2 * angle)), 0.0)
        curvature += mean
        along = cv2.filter2D(curvature, -1, line_kernel(length_px, angle), borderType=cv2.BORDER_REPLICATE)
        np.putmask(which, along > best, k)  # faster than a boolean-index assignment
        np.maximum(best, along, out=best)
        np.minimum(worst, along, out=worst)
    return best, worst, which


def across_maximum(response: np.ndarray, which: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                   n_angles: int = _LINE_ANGLES) -> np.ndarray:
    """Whether ``response`` at each pixel is at least its two neighbours across its best direction.

    Non-maximum suppression at the given pixels: the centre line of each line, one or two
    pixels wide.
    """
    angle = np.pi * which[rows, cols] / n_angles
    dr, dc = np.rint(np.cos(angle)).astype(int), np.rint(-np.sin(angle)).astype(int)
    h, w = response.shape
    here = response[rows, cols]
    plus = response[np.clip(rows + dr, 0, h - 1), np.clip(cols + dc, 0, w - 1)]
    minus = response[np.clip(rows - dr, 0, h - 1), np.clip(cols - dc, 0, w - 1)]
    return (here >= plus) & (here >= minus)


def _darker_on_both_sides(smooth, rows, cols, angles, side_px: float, margin: float) -> np.ndarray:
    """Whether ``smooth`` at each pixel exceeds both points ``side_px`` across it by ``margin``."""
    step_r, step_c = side_px * np.cos(angles), -side_px * np.sin(angles)
    plus = ndi.map_coordinates(smooth, [rows + step_r, cols + step_c], order=1, mode="nearest")
    minus = ndi.map_coordinates(smooth, [rows - step_r, cols - step_c], order=1, mode="nearest")
    return smooth[rows, cols] - np.maximum(plus, minus) > margin


def _centre_line(smooth, best, which, rows, cols, width_px: float, pixel_noise: float) -> np.ndarray:
    """Whether each pixel ``(rows, cols)`` is on the centre line of a line: the maximum of
    ``best`` across its best direction and ``smooth`` darker on both sides by a margin."""
    angles = np.pi * which[rows, cols] / _LINE_ANGLES
    return across_maximum(best, which, rows, cols) & _darker_on_both_sides(
        smooth, rows, cols, angles, _SIDE_WIDTHS * width_px, _EDGE_MARGIN_SNR * pixel_noise
    )


def _reference_floor(best: np.ndarray, kept: np.ndarray, kept_centre: np.ndarray, centre: float) -> float:
    """The line response a faint line must reach beside the field's own neurites.

    ``_TYPICAL_FRACTION`` of the way from the background's response (``centre``) to the
    median response over the centre lines of the neurites the ridge mask kept (``kept_centre``);
    infinite without ``_MIN_REFERENCE_PX`` kept pixels (nothing to continue, nothing to compare
    with), no floor (``-inf``) when fewer than ``_MIN_REFERENCE_CENTRE_PX`` of them are centre
    lines (the kept pixels are rims of cell bodies: the field's neurites are all faint).
    """
    if np.count_nonzero(kept) < _MIN_REFERENCE_PX:
        return np.inf
    if np.count_nonzero(kept_centre) < _MIN_REFERENCE_CENTRE_PX:
        return -np.inf
    return centre + _TYPICAL_FRACTION * (float(np.median(best[kept_centre])) - centre)


def faint_neurites(
    smooth: np.ndarray,
    kept: np.ndarray,
    *,
    allowed: np.ndarray,
    noise_grid: np.ndarray,
    pixel_noise: float,
    sigma_px: float,
    coarse_low: np.ndarray,
    low: np.ndarray,
    pixel_size_um: float,
    neurite_width_um: float,
) -> np.ndarray:
    """Faint neurite pixels to add to the ridge mask ``kept`` (see the module docstring).

    Parameters
    ----------
    smooth : (M, N) float32 array
        Neurite channel smoothed at the ridge scale ``sigma_px``.
    kept : (M, N) bool array
        The ridge mask's neurites.
    allowed : (M, N) bool array
        Pixels that may be neurite (standing above the cell body under them, not in one).
    noise_grid : bool array
        The darker half of the field on the ``[::4, ::4]`` grid, where noise is read.
    pixel_noise : float
        Pixel noise sd (ADU).
    sigma_px : float
        Ridge scale, px.
    coarse_low, low : float arrays
        The ridge mask's Hessian eigenvalues one octave coarser (half resolution) and at the
        ridge scale: the width test (:func:`screening.segment.ridge_pieces.scale_ratio`).
    pixel_size_um, neurite_width_um : float
        Pixel size and typical neurite width, µm.

    Returns
    -------
    faint : (M, N) bool array
        Pixels of faint neurites, ``kept`` excluded; centre lines about 4 px wide.
    """
    step = 2 if sigma_px >= _HALF_RES_MIN_SIGMA_PX else 1
    g = np.ascontiguousarray(smooth[::step, ::step])
    width_px = neurite_width_um / pixel_size_um / step
    best, worst, which = oriented_line_response(g, _LINE_LENGTH_UM / pixel_size_um / step)
    sample = best[:: 4 // step, :: 4 // step][: noise_grid.shape[0], : noise_grid.shape[1]][noise_grid]
    centre = float(np.median(sample))
    spread = float(MAD_TO_SD * np.median(np.abs(sample - centre)))
    anisotropic = worst < _ISOTROPY_FRACTION * best
    own = kept[::step, ::step]
    own_centre = np.zeros_like(own)
    rows, cols = filters.nonzero(own & anisotropic)
    own_centre[rows, cols] = _centre_line(g, best, which, rows, cols, width_px, pixel_noise)
    floor = max(centre + _LINE_SNR * spread, _reference_floor(best, own, own_centre, centre))
    line = (best > floor) & anisotropic & allowed[::step, ::step]
    line &= best >= _LOCAL_PEAK_FRACTION * filters.maximum_filter(best, filters.odd_window(_NEAR_WIDTHS * width_px))
    rows, cols = filters.nonzero(line)
    line[rows, cols] = _centre_line(g, best, which, rows, cols, width_px, pixel_noise)
    if step > 1:
        line = np.repeat(np.repeat(line, step, axis=0), step, axis=1)[: smooth.shape[0], : smooth.shape[1]]
    line &= ~kept
    # The centre line of a faint neurite breaks here and there; one pixel either side closes
    # those gaps and leaves a line thin enough to skeletonise cleanly.
    grown = filters.maximum_filter(line.view(np.uint8), 3).astype(bool) & ~kept
    labels, n = filters.label(grown, connectivity=8)
    if n == 0:
        return grown
    rows, cols = filters.nonzero(line)  # line lies inside grown: both exclude kept
    piece = labels[rows, cols]
    chain = _chains(line, piece, rows, cols, n, gap_px=_JOIN_UM / pixel_size_um)
    # Skeletonise only pieces with enough centre-line pixels to count (most are specks).
    enough = np.bincount(piece, minlength=n + 1) >= _FRAGMENT_UM / pixel_size_um
    pick = enough[piece]
    rows, cols, piece = rows[pick], cols[pick], piece[pick]
    lengths = seed_lengths(labels, rows, cols, n) if rows.size else np.zeros(n + 1)
    touching = np.zeros(n + 1, dtype=bool)
    touching[labels[filters.maximum_filter(kept.view(np.uint8), 3).astype(bool)]] = True
    chain_length = np.bincount(chain, weights=lengths)
    chain_touching = np.bincount(chain, weights=touching) > 0
    ratio = scale_ratio(coarse_low, low, rows, cols)
    chain_ratio = piece_medians(ratio, chain[piece], int(chain.max()))
    continuation = (chain_touching & (chain_ratio < _MAX_CONTINUATION_RATIO)
                    & (chain_length >= _CONTINUATION_UM / pixel_size_um))
    standalone = (chain_ratio < _THIN_SCALE_RATIO) & (chain_length >= _FAINT_SEED_UM / pixel_size_um)
    thin = piece_medians(ratio, piece, n) < _THIN_SCALE_RATIO
    keep = (enough & (continuation | standalone)[chain]) | (thin & (lengths >= _FAINT_SEED_UM / pixel_size_um))
    keep[0] = False
    return keep[labels]


def _chains(line: np.ndarray, piece: np.ndarray, rows: np.ndarray, cols: np.ndarray, n: int,
            gap_px: float) -> np.ndarray:
    """Chain id of each piece 0..n: pieces whose centre-line pixels ``(rows, cols)`` of ``line``
    (in pieces ``piece``) come within ``gap_px`` of each other, directly or through other pieces,
    share one (0 for label 0)."""
    reach = filters.maximum_filter(line.view(np.uint8), filters.odd_window(gap_px)).view(bool)
    near, _ = filters.label(reach, connectivity=8)
    chain = np.zeros(n + 1, dtype=np.int64)
    chain[piece] = near[rows, cols]
    return chain
