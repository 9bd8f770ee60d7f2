"""Registration of a site's timepoints to its first: cross-correlation on small images."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal.windows import tukey
from skimage.registration import phase_cross_correlation

SHIFT_COLUMNS = ["shift_y_px", "shift_x_px", "shift_ok", "registration_correlation"]


def overlap_correlation(
    reference: np.ndarray, moving: np.ndarray, shift: tuple[float, float], *, min_overlap: float = 0.3
) -> float:
    """Pearson correlation of ``reference`` and ``moving`` moved by ``shift`` (px), over their overlap.

    ``shift`` is what :func:`skimage.registration.phase_cross_correlation` returns: a feature at
    ``p`` in ``moving`` is at ``p + shift`` in ``reference``. Rounded to whole pixels. NaN when
    the overlap is under ``min_overlap`` of the image (a thin strip can correlate by chance;
    skimage's ``overlap_ratio`` plays the same part).
    """
    dy, dx = (int(round(s)) for s in shift)
    h, w = reference.shape
    if (h - abs(dy)) * (w - abs(dx)) < min_overlap * h * w or abs(dy) >= h or abs(dx) >= w:
        return float("nan")
    ref = reference[max(dy, 0): h + min(dy, 0), max(dx, 0): w + min(dx, 0)].astype(float).ravel()
    mov = moving[max(-dy, 0): h + min(-dy, 0), max(-dx, 0): w + min(-dx, 0)].astype(float).ravel()
    if ref.size < 16 or ref.std() == 0 or mov.std() == 0:
        return float("nan")
    return float(np.corrcoef(ref, mov)[0, 1])


def _tame(image: np.ndarray, quantile: float = 0.99) -> np.ndarray:
    """Image clipped at its ``quantile`` level, mean removed (float32).

    Saturated debris, new at every timepoint, would otherwise dominate both the
    correlation that finds the shift and the one that judges it.
    """
    image = np.asarray(image, np.float32)
    k = int(quantile * (image.size - 1))
    clipped = np.minimum(image, np.partition(image.ravel(), k)[k])
    return clipped - clipped.mean()


def _shift(reference: np.ndarray, moving: np.ndarray, upsample_factor: int) -> tuple[np.ndarray, float]:
    """Shift (px) that registers ``moving`` onto ``reference``, and its overlap correlation.

    Cross-correlation of the windowed images (a Tukey window, flat over the middle 70 %
    and tapered to zero at the borders, stops the borders from correlating without
    weighting a sparse field's few cells by where they happen to lie) to sub-pixel precision, then disambiguation: a correlation peak at
    ``s`` also means ``s - size`` along each axis (the DFT is periodic), and the candidate
    whose overlap correlates best is kept. That is skimage's ``disambiguate=True``, done
    here on the unwindowed images: on the windowed ones, whose borders are zero, the
    wrapped candidate can win (seen on the demo plate: half-field errors). Plain rather
    than phase-normalised correlation: on smooth, sparse fluorescence the phase
    normalisation amplifies the empty high frequencies (1 px errors on 2 px shifts where
    the plain correlation is within 0.1 px). The images come through :func:`_tame`.
    """
    window = np.outer(*(tukey(n, 0.3) for n in reference.shape)).astype(np.float32)
    shift, _, _ = phase_cross_correlation(
        reference * window, moving * window, upsample_factor=upsample_factor, normalization=None
    )
    best, best_r = shift, -np.inf
    alternatives = [(s, s - np.sign(s) * n) if s != 0 else (s,) for s, n in zip(shift, reference.shape)]
    for dy in alternatives[0]:
        for dx in alternatives[1]:
            r = overlap_correlation(reference, moving, (dy, dx))
            if np.isfinite(r) and r > best_r:
                best, best_r = np.array([dy, dx]), r
    return np.asarray(best, float), float(best_r) if np.isfinite(best_r) else float("nan")


def register_series(
    images: list[np.ndarray | None],
    *,
    scale: tuple[float, float] = (1.0, 1.0),
    upsample_factor: int = 10,
    max_shift_px: float = np.inf,
    min_correlation: float = 0.3,
) -> pd.DataFrame:
    """Shift of every timepoint of one site to its first, from consecutive pairs.

    Each image is registered against the last image whose shift was trusted (the first
    image, then each accepted one), and the pair's shift is added to that image's shift.
    A shift larger than ``max_shift_px`` or whose images correlate below
    ``min_correlation`` over their overlap is flagged and not trusted: its timepoint
    gets the reference's shift and ``shift_ok`` False, and the next image is registered
    against the reference again.

    Parameters
    ----------
    images : list of (m, n) arrays or None
        The site's (downsampled) images in time order; None where there is none (a failed
        field). The first one defines the frame.
    scale : (float, float)
        Full-resolution pixels per image pixel along (y, x): shifts are returned in
        full-resolution pixels.
    upsample_factor : int
        Sub-pixel precision of the phase correlation (1/upsample_factor image pixel).
    max_shift_px : float
        Largest plausible shift between two consecutive timepoints, full-resolution px.
    min_correlation : float
        Smallest Pearson correlation of the registered pair over its overlap.

    Returns
    -------
    DataFrame
        One row per image: ``shift_y_px, shift_x_px`` (add to a position in that image to
        get its position in the first image, full-resolution px), ``shift_ok`` (bool) and
        ``registration_correlation`` (NaN for the first image and missing ones).
    """
    n = len(images)
    shifts = np.full((n, 2), np.nan)
    ok = np.zeros(n, bool)
    corrs = np.full(n, np.nan)
    ref_index = next((i for i, im in enumerate(images) if im is not None), None)
    images = [None if im is None else _tame(im) for im in images]
    if ref_index is not None:
        shifts[ref_index], ok[ref_index] = 0.0, True
        for i in range(ref_index + 1, n):
            if images[i] is None:
                continue
            shifts[i] = shifts[ref_index]  # until trusted: where the reference is
            if images[i].shape != images[ref_index].shape:
                continue
            step, corrs[i] = _shift(images[ref_index], images[i], upsample_factor)
            step = step * np.asarray(scale, float)
            if np.hypot(*step) <= max_shift_px and corrs[i] >= min_correlation:
                shifts[i], ok[i] = shifts[ref_index] + step, True
                ref_index = i
    out = pd.DataFrame({
        "shift_y_px": shifts[:, 0], "shift_x_px": shifts[:, 1], "shift_ok": ok, "registration_correlation": corrs,
    })
    return out
