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
from scipy import ndimage as ndi

from screening.segment import filters

# Diameters tried per octave (a factor of 2): the peak scale is then refined by a parabola
# through the log-scale neighbours, so a few steps are enough.
_STEPS_PER_OCTAVE = 4
# Blobs whose response is under this fraction of the strongest ones (90th percentile of the
# maxima) are too faint or too small to say their size reliably.
_STRONG_FRACTION = 0.25
_STRONG_PERCENTILE = 90  # "the strongest ones": robust to one very bright blob, unlike the maximum
# A blob must stand this many noise sds of the response out at the finest scale (fewer lets
# noise maxima in on an empty field).
_MIN_RESPONSE_SNR = 5
# The LoG's Gaussian reaches this many σ: the weight beyond is under 1 %, and shorter is faster.
_LOG_TRUNCATE_SDS = 3.0
# The image is shrunk until the smallest σ tried spans at least this many pixels (speed).
_MIN_SIGMA_PX = 3.0


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
    layers = [_Layer.of(image, sigma) for sigma in sigmas]
    if at is None:
        rows, cols = _strong_maxima(layers, noise_sigma)
    else:
        at = np.asarray(at, dtype=float).reshape(-1, 2)
        rows, cols = at[:, 0], at[:, 1]
    if rows.size == 0:
        return (np.zeros(0), np.zeros(0)) if with_responses else np.zeros(0)
    responses = np.stack([layer.sample(rows, cols) for layer in layers])
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


class _Layer:
    """The normalised LoG at one scale, on a grid shrunk by ``factor`` so that σ spans
    ``_MIN_SIGMA_PX`` pixels there (a coarse scale needs no fine grid: ~5x faster over the
    scales of a calibration than at full resolution)."""

    def __init__(self, values: np.ndarray, factor: int, sigma: float):
        self.values, self.factor, self.sigma = values, factor, sigma

    @classmethod
    def of(cls, image: np.ndarray, sigma: float) -> _Layer:
        factor = max(int(sigma // _MIN_SIGMA_PX), 1)
        return cls(_normalised_log(_shrink(image, factor), sigma / factor), factor, sigma)

    def to_image(self, rows, cols):
        """Layer grid (row, col) -> image pixel coordinates (a block's centre)."""
        return (np.asarray(rows) + 0.5) * self.factor - 0.5, (np.asarray(cols) + 0.5) * self.factor - 0.5

    def sample(self, rows, cols) -> np.ndarray:
        """The response at image coordinates (bilinear on the layer's grid)."""
        r = (np.asarray(rows, float) + 0.5) / self.factor - 0.5
        c = (np.asarray(cols, float) + 0.5) / self.factor - 0.5
        return ndi.map_coordinates(self.values, [r, c], order=1, mode="nearest")


def _shrink(image: np.ndarray, factor: int) -> np.ndarray:
    if factor <= 1:
        return image
    h, w = (s // factor * factor for s in image.shape)
    return cv2.resize(image[:h, :w], (w // factor, h // factor), interpolation=cv2.INTER_AREA)


def _normalised_log(image: np.ndarray, sigma: float) -> np.ndarray:
    """``-σ² ∇²(G_σ * image)``: positive at the centre of a bright blob."""
    smooth = filters.gaussian(image, sigma, truncate=_LOG_TRUNCATE_SDS)
    return -(sigma**2) * cv2.Laplacian(smooth, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)


def _strong_maxima(layers: list[_Layer], noise_sigma: float | None):
    """(rows, cols), image px, of the strong maxima of the response over space and scale.

    A maximum must be the largest response within its own diameter at its scale and not
    smaller than at the neighbouring scales: texture inside a large nucleus peaks at a small
    scale but not within the large nucleus's diameter.
    """
    found = []
    for i, layer in enumerate(layers):
        values = layer.values
        window = filters.odd_window(2 * np.sqrt(2) * layer.sigma / layer.factor)
        r, c = np.nonzero((values >= filters.maximum_filter(values, window)) & (values > 0))
        rows, cols = layer.to_image(r, c)
        value = values[r, c]
        keep = np.ones(value.size, bool)
        for j in (i - 1, i + 1):
            if 0 <= j < len(layers):
                keep &= value >= layers[j].sample(rows, cols)
        found.append((rows[keep], cols[keep], value[keep]))
    rows, cols, values = (np.concatenate(parts) for parts in zip(*found, strict=True))
    if rows.size == 0:
        return rows, cols
    floor = _STRONG_FRACTION * float(np.percentile(values, _STRONG_PERCENTILE))
    if noise_sigma is not None and noise_sigma > 0:
        # White noise of sd s gives a normalised LoG of sd s / (sqrt(2 pi) σ) at σ px; a blob
        # must stand _MIN_RESPONSE_SNR such sds out at the finest scale.
        floor = max(floor, _MIN_RESPONSE_SNR * noise_sigma / (np.sqrt(2 * np.pi) * layers[0].sigma))
    strong = values > floor
    return rows[strong], cols[strong]

