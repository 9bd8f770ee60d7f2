"""The typical size of the blobs of an image (nuclei, somata), read off the image itself.

Scale-space blob detection (Lindeberg 1998): the scale-normalised Laplacian of Gaussian
``-σ² ∇²(G_σ * I)`` of a bright disc of diameter ``D`` peaks at its centre at ``σ = D / (2√2)``
whatever its brightness. So the scale at which each blob's response peaks gives its diameter,
and the median over the strongest blobs of a few fields gives the plate's typical size,
without assuming one.
"""

from __future__ import annotations

import cv2
import numpy as np

from screening.segment import filters

# Diameters tried per octave (a factor of 2): the peak scale is then refined by a parabola
# through the log-scale neighbours, so a few steps are enough.
_STEPS_PER_OCTAVE = 4
# Blobs whose response is under this fraction of the strongest ones (90th percentile of the
# maxima) are too faint or too small to say their size reliably.
_STRONG_FRACTION = 0.25
# The image is shrunk until the smallest σ tried spans at least this many pixels (speed).
_MIN_SIGMA_PX = 1.5


def blob_diameters(
    image: np.ndarray,
    *,
    min_diameter_px: float,
    max_diameter_px: float,
    at: np.ndarray | None = None,
    noise_sigma: float | None = None,
    with_responses: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Diameter (px) of the strongest bright blobs of an image, from the scale of their peak LoG response.

    Parameters
    ----------
    image : (M, N) array
        Background-subtracted image (blobs brighter than their surroundings).
    min_diameter_px, max_diameter_px : float
        Range of diameters tried, px. A blob whose response peaks at either end of the range
        is left out (its size is outside it).
    at : (K, 2) int array, optional
        (row, col) of the blobs to size (e.g. the centres of segmented nuclei). Default: the
        local maxima of the response over space and scale, the strongest of them
        (``_STRONG_FRACTION`` of the 90th percentile and above 5 noise sds of the response).
    noise_sigma : float, optional
        Pixel noise sd of ``image``; only used to drop blobs indistinguishable from noise.
    with_responses : bool
        Also return each blob's peak response (to pick the strongest of the ``at`` blobs).

    Returns
    -------
    (B,) float array
        One diameter per blob sized, px (empty when none); with ``with_responses``, a tuple
        of it and the blobs' peak normalised LoG responses.

    Notes
    -----
    Diameters are tried on a geometric grid (``_STEPS_PER_OCTAVE`` per octave); each blob's
    peak is refined by a parabola through log-scale neighbours. A disc blurred by the optics
    reads somewhat larger than the disc; an ellipse reads between its axes.
    """
    image = np.asarray(image, dtype=np.float32)
    lo, hi = float(min_diameter_px), float(max_diameter_px)
    if not 0 < lo < hi:
        raise ValueError(f"need 0 < min_diameter_px < max_diameter_px, got {lo}, {hi}")
    n = max(int(np.ceil(_STEPS_PER_OCTAVE * np.log2(hi / lo))) + 1, 3)
    diameters = np.geomspace(lo, hi, n)
    sigmas = diameters / (2 * np.sqrt(2))
    factor = max(int(sigmas[0] // _MIN_SIGMA_PX), 1)
    small = _shrink(image, factor)
    stack = np.stack([_normalised_log(small, s / factor) for s in sigmas])
    if at is None:
        rows, cols = _strong_maxima(stack, sigmas / factor, noise_sigma, factor)
    else:
        at = np.asarray(at, dtype=float).reshape(-1, 2) / factor
        rows = np.clip(np.rint(at[:, 0]).astype(int), 0, small.shape[0] - 1)
        cols = np.clip(np.rint(at[:, 1]).astype(int), 0, small.shape[1] - 1)
    if rows.size == 0:
        return (np.zeros(0), np.zeros(0)) if with_responses else np.zeros(0)
    responses = stack[:, rows, cols]
    best = np.argmax(responses, axis=0)
    inner = (best > 0) & (best < n - 1) & (responses.max(axis=0) > 0)
    best, responses = best[inner], responses[:, inner]
    k = np.arange(best.size)
    r0, r1, r2 = responses[best - 1, k], responses[best, k], responses[best + 1, k]
    curvature = r0 - 2 * r1 + r2
    shift = np.where(curvature < 0, 0.5 * (r0 - r2) / np.where(curvature < 0, curvature, -1), 0.0)
    log_step = np.log(diameters[1] / diameters[0])
    sized = np.exp(np.log(diameters[best]) + np.clip(shift, -0.5, 0.5) * log_step)
    return (sized, r1) if with_responses else sized


def _shrink(image: np.ndarray, factor: int) -> np.ndarray:
    if factor <= 1:
        return image
    h, w = (s // factor * factor for s in image.shape)
    return cv2.resize(image[:h, :w], (w // factor, h // factor), interpolation=cv2.INTER_AREA)


def _normalised_log(image: np.ndarray, sigma: float) -> np.ndarray:
    """``-σ² ∇²(G_σ * image)``: positive at the centre of a bright blob."""
    smooth = filters.gaussian(image, sigma, truncate=3.0)
    return -(sigma**2) * cv2.Laplacian(smooth, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)


def _strong_maxima(stack: np.ndarray, sigmas: np.ndarray, noise_sigma: float | None, factor: int):
    """(rows, cols) of the strong maxima of the response over space and scale.

    A maximum must be the largest response within its own diameter at its scale and not
    smaller than at the neighbouring scales: texture inside a large nucleus peaks at a small
    scale but not within the large nucleus's diameter.
    """
    found = []
    for i, sigma in enumerate(sigmas):
        layer = stack[i]
        window = filters.odd_window(2 * np.sqrt(2) * sigma)
        peak = (layer >= filters.maximum_filter(layer, window)) & (layer > 0)
        if i > 0:
            peak &= layer >= stack[i - 1]
        if i < len(sigmas) - 1:
            peak &= layer >= stack[i + 1]
        rows, cols = np.nonzero(peak)
        found.append((rows, cols, layer[rows, cols]))
    rows, cols, values = (np.concatenate(parts) for parts in zip(*found, strict=True))
    if rows.size == 0:
        return rows, cols
    floor = _STRONG_FRACTION * float(np.percentile(values, 90))
    if noise_sigma is not None and noise_sigma > 0:
        # White noise of sd s gives a normalised LoG of sd s / (sqrt(2 pi) σ) (block means of
        # factor² pixels carry s / factor); a blob must stand 5 such sds out at the finest scale.
        floor = max(floor, 5 * noise_sigma / factor / (np.sqrt(2 * np.pi) * sigmas[0]))
    strong = values > floor
    return rows[strong], cols[strong]
