"""Smooth background (gradient, vignetting, out-of-focus haze) removed before thresholding."""

from __future__ import annotations

import cv2
import numpy as np
from screening.segment import filters

# The opening runs on a copy shrunk so that the radius spans about this many
# pixels: enough to keep the estimate smooth, few enough to be fast (a 2048²
# field becomes ~100² whatever its pixel size).
_RADIUS_DOWNSAMPLED_PX = 6
# The opening is smoothed by a Gaussian of this × its radius: takes off its flat-topped steps,
# keeps its shape at the scale of the radius.
_SMOOTH_RADII = 0.5


def _block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor`` × ``factor`` blocks (edge-padded to a multiple)."""
    if factor <= 1:
        return image.astype(np.float32, copy=False)
    pad = [(0, (-s) % factor) for s in image.shape]
    padded = np.pad(image.astype(np.float32, copy=False), pad, mode="edge")
    h, w = padded.shape
    return padded.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


def estimate_background(image: np.ndarray, *, radius_um: float, pixel_size_um: float) -> np.ndarray:
    """Smooth background of a field: a grey opening larger than any cell, then smoothed.

    Parameters
    ----------
    image : (M, N) array
        One channel of a field.
    radius_um : float
        Radius of the opening, µm. Objects narrower than about twice this
        (somata, nuclei, clumps of a few cells) do not lift the estimate.
    pixel_size_um : float
        Pixel size, µm.

    Returns
    -------
    background : (M, N) float32 array
        Same shape as ``image``.

    Notes
    -----
    The opening (minimum then maximum filter) is computed on a block-mean
    copy shrunk so the radius spans ~6 pixels, then smoothed with a Gaussian
    and enlarged back with linear interpolation. Block averaging also takes
    the noise out of the minimum, which would otherwise bias it low.
    """
    image = np.asarray(image, dtype=np.float32)
    radius_px = max(radius_um / pixel_size_um, 1.0)
    factor = max(int(radius_px // _RADIUS_DOWNSAMPLED_PX), 1)
    small = _block_mean(image, factor)
    r = max(round(radius_px / factor), 1)
    size = 2 * r + 1
    opened = filters.grey_opening(small, size, mode="nearest")
    smooth = filters.gaussian(opened, _SMOOTH_RADII * r, mode="nearest")
    if factor == 1:
        return smooth
    # Linear interpolation with OpenCV's pixel-centre convention, which is the
    # block-centre convention: block i sits at (i + 0.5) * factor - 0.5 px.
    h, w = smooth.shape
    full = cv2.resize(smooth, (w * factor, h * factor), interpolation=cv2.INTER_LINEAR)
    return full[: image.shape[0], : image.shape[1]]


def subtract_background(image: np.ndarray, *, radius_um: float, pixel_size_um: float) -> np.ndarray:
    """Image minus its smooth background (:func:`estimate_background`).

    Parameters
    ----------
    image : (M, N) array
        One channel of a field (any numeric dtype).
    radius_um : float
        Radius of the background estimate, µm; several soma diameters.
    pixel_size_um : float
        Pixel size, µm.

    Returns
    -------
    corrected : (M, N) float32 array
        Background near 0 (noise makes some pixels negative; they are kept so
        noise statistics stay unbiased).

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:200, :200]
    >>> field = 100 + 0.5 * xx + 500.0 * ((yy - 100) ** 2 + (xx - 100) ** 2 < 64)
    >>> out = subtract_background(field, radius_um=30, pixel_size_um=1.0)
    >>> bool(abs(out[20, 20]) < 5 and out[100, 100] > 450)
    True
    """
    image = np.asarray(image, dtype=np.float32)
    return image - estimate_background(image, radius_um=radius_um, pixel_size_um=pixel_size_um)
