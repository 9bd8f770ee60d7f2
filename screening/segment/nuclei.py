"""Nuclei: instance labels from a nuclear stain, touching nuclei split, debris rejected."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.measure import regionprops
from skimage.segmentation import watershed

from screening.config.segmentation import SegmentationConfig
from screening.segment.background import subtract_background


def noise_sigma(image: np.ndarray) -> float:
    """Robust standard deviation of pixel noise, from neighbour differences.

    Differences of horizontal neighbours cancel anything smooth (background,
    the inside of a cell); their median absolute deviation ignores edges.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.shape[1] < 2:
        return 0.0
    d = image[:, 1:] - image[:, :-1]
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2))


def _gauss_noise_factor(sigma: float) -> float:
    """How much a 2-D Gaussian of ``sigma`` px shrinks white-noise std."""
    return 1.0 / (2.0 * np.sqrt(np.pi) * max(sigma, 0.5))


def segment_nuclei(
    image: np.ndarray,
    *,
    pixel_size_um: float,
    params: SegmentationConfig | None = None,
    _opts: dict | None = None,
) -> np.ndarray:
    """Instance labels of the nuclei in one nuclear-stain image.

    Parameters
    ----------
    image : (M, N) array
        Nuclear stain (e.g. Hoechst), any numeric dtype.
    pixel_size_um : float
        Pixel size, µm.
    params : SegmentationConfig, optional
        Uses ``nucleus_diameter_um`` and ``background_radius_um``; defaults
        when omitted.

    Returns
    -------
    labels : (M, N) int32 array
        0 is background, 1..n the nuclei.

    Notes
    -----
    1. Background subtraction, light Gaussian smoothing; noise from neighbour
       differences.
    2. Candidate foreground: smoothed signal a few noise σ above background
       (dim nuclei of a 100-fold range are kept).
    3. Seeds: maxima of a Laplacian-of-Gaussian at the nucleus scale, at least
       ~0.4 diameters apart; watershed of the smoothed image within the
       candidates gives one region per seed.
    4. Each region keeps its pixels above a fraction of its own peak, so a
       dim and a bright nucleus each get a boundary at their own half-height.
    5. Objects smaller than a quarter of a nominal nucleus or of low solidity
       (debris, out-of-focus smears) are dropped.
    """
    params = params or SegmentationConfig()
    o = dict(blob=0.5, mind=0.4, h=None, frac=0.3, k=4.0)
    o.update(_opts or {})
    image = np.asarray(image, dtype=np.float32)
    d_px = params.nucleus_diameter_um / pixel_size_um
    corrected = subtract_background(
        image, radius_um=params.background_radius_um, pixel_size_um=pixel_size_um
    )
    sigma_noise = noise_sigma(image)
    s_small = max(0.08 * d_px, 1.0)
    smooth = ndi.gaussian_filter(corrected, s_small)
    noise_s = sigma_noise * _gauss_noise_factor(s_small)
    low = max(o['k'] * noise_s, 1e-6)
    candidates = smooth > low
    candidates = ndi.binary_opening(candidates, iterations=1)
    if not candidates.any():
        return np.zeros(image.shape, np.int32)

    if o.get('dip'):
        from skimage.morphology import h_maxima
        s_seed = max(o.get('sseed', 0.1) * d_px, 1.0)
        sm2 = ndi.gaussian_filter(corrected, s_seed)
        c = o.get('c', 3.0) * sigma_noise * _gauss_noise_factor(s_seed)
        L = np.log(np.maximum(sm2, 0) + c)
        peaks_img = h_maxima(L, np.log(1 / (1 - o['dip']))) & candidates
        markers, _ = ndi.label(peaks_img)
    else:
        # Blob detector at the nucleus scale: responds to a dim nucleus beside a
        # bright one (a shoulder, no intensity maximum) as well as to isolated ones.
        s_blob = o['blob'] * d_px / np.sqrt(2)
        log = -ndi.gaussian_laplace(corrected, s_blob) * s_blob**2
        peaks = peak_local_max(
            log,
            min_distance=max(int(o['mind'] * d_px), 1),
            threshold_abs=low * 0.5,
            labels=candidates.astype(np.int32),
            exclude_border=False,
        )
        markers = np.zeros(image.shape, np.int32)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    regions = watershed(-smooth, markers, mask=candidates)

    labels = _refine(regions, smooth, low, o['frac'])
    if o['h'] is not None:
        labels = _split_by_shape(labels, d_px, o['h'])
    return _filter(labels, corrected, d_px, sigma_noise, o)


def _refine(regions: np.ndarray, smooth: np.ndarray, low: float, frac: float = 0.3) -> np.ndarray:
    out = np.zeros(regions.shape, np.int32)
    n = 0
    for obj in regionprops(regions, intensity_image=smooth):
        sl = obj.slice
        own = obj.image
        vals = smooth[sl][own]
        peak = np.percentile(vals, 95)
        keep = own & (smooth[sl] > max(low, frac * peak))
        keep = ndi.binary_fill_holes(keep)
        lab, k = ndi.label(keep)
        if k == 0:
            continue
        if k > 1:
            sizes = ndi.sum(keep, lab, np.arange(1, k + 1))
            keep = lab == (1 + int(np.argmax(sizes)))
        n += 1
        out[sl][keep] = n
    return out


def _split_by_shape(labels: np.ndarray, d_px: float, h_frac: float = 0.06) -> np.ndarray:
    from skimage.morphology import h_maxima
    dist = ndi.distance_transform_edt(labels > 0)
    # Pixels on the line where two labels meet are boundaries too.
    edges = ndi.maximum_filter(labels, 3) != ndi.minimum_filter(np.where(labels > 0, labels, labels.max() + 1), 3)
    dist = ndi.distance_transform_edt((labels > 0) & ~edges)
    dist = ndi.gaussian_filter(dist, 1.0)
    peaks = h_maxima(dist, h_frac * d_px) & (labels > 0)
    markers, _ = ndi.label(peaks)
    return watershed(-dist, markers, mask=labels > 0).astype(np.int32)


def _filter(labels, corrected, d_px, sigma_noise, o) -> np.ndarray:
    min_area = o.get('amin', 0.3) * np.pi * (d_px / 2) ** 2
    out = np.zeros_like(labels)
    n = 0
    for obj in regionprops(labels, intensity_image=corrected):
        if obj.area < min_area or obj.solidity < o.get('sol', 0.85) or obj.intensity_mean < o.get('snr', 3) * sigma_noise:
            continue
        n += 1
        out[obj.slice][obj.image] = n
    return out
