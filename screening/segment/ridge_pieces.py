"""Measures of the pieces of a ridge mask: seed skeleton length, width ratio, per-piece medians.

Shared by the ridge mask (:mod:`screening.segment.neurites`) and the faint-line detector
(:mod:`screening.segment.faint_neurites`), which judge pieces by the same rules.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import skeletonize


def seed_lengths(labels: np.ndarray, rows: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
    """Skeleton length (px) of the seed pixels ``(rows, cols)`` in each piece of ``labels``.

    Parameters
    ----------
    labels : (M, N) int array
        Candidate pieces, 1..n.
    rows, cols : int arrays
        Seed pixels, each inside a piece.
    n : int
        Number of pieces.

    Returns
    -------
    lengths : (n + 1,) float array
        Skeleton pixels of the seeds per piece label (0 for label 0 and pieces without seeds).

    Notes
    -----
    Each piece's seeds are skeletonised in their own bounding box: the candidates are a few
    short stretches, and one skeletonisation of the whole field would cost ~13 ms per 1024².
    Pixels are counted, so a diagonal line reads up to ~30 % short: a safe side for a test
    that keeps pieces.
    """
    lengths = np.zeros(n + 1)
    piece = labels[rows, cols]
    order = np.argsort(piece, kind="stable")
    piece, rows, cols = piece[order], rows[order], cols[order]
    starts = np.flatnonzero(np.r_[True, piece[1:] != piece[:-1]])
    for lo, hi in zip(starts, np.r_[starts[1:], piece.size], strict=True):
        r, c = rows[lo:hi], cols[lo:hi]
        crop = np.zeros((r.max() - r.min() + 3, c.max() - c.min() + 3), dtype=bool)
        crop[r - r.min() + 1, c - c.min() + 1] = True
        lengths[piece[lo]] = np.count_nonzero(skeletonize(crop))
    return lengths


def scale_ratio(coarse_low: np.ndarray, low: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Scale-normalised ridge strength one octave coarser over that at the ridge scale.

    Parameters
    ----------
    coarse_low : (ceil(M / 2), ceil(N / 2)) float array
        Most negative Hessian eigenvalue on the half-resolution grid, smoothed to twice the
        ridge scale.
    low : (M, N) float array
        Most negative Hessian eigenvalue at the ridge scale.
    rows, cols : int arrays
        Full-resolution pixels.

    Returns
    -------
    ratio : float array
        ~0.5 on a line much thinner than the ridge scale, >= 1 on structures as wide as the
        coarse scale.

    Notes
    -----
    Full-resolution pixel (r, c) sits at (r / 2, c / 2) on the coarse grid; the coarse value is
    interpolated there, since the nearest coarse pixel can be off the ridge line by a pixel.
    Normalised strengths: (2 sigma)^2 * (d2 / 4 per coarse px^2) / (sigma^2 * d2) = the ratio.
    """
    at_coarse = ndi.map_coordinates(coarse_low, [rows / 2.0, cols / 2.0], order=1, mode="nearest")
    return np.maximum(-at_coarse, 0) / np.maximum(-low[rows, cols], 1e-12)


def piece_medians(values: np.ndarray, piece: np.ndarray, n: int) -> np.ndarray:
    """Median of ``values`` per label of ``piece`` (labels 0..n; inf where a label has no value)."""
    median = np.full(n + 1, np.inf)
    order = np.lexsort((values, piece))
    starts = np.searchsorted(piece[order], np.arange(n + 2))
    counts = np.diff(starts)
    has = counts > 0
    median[has] = values[order][starts[:-1][has] + counts[has] // 2]
    return median
