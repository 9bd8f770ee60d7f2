"""Field quality: focus, saturation, debris, emptiness; ``qc_pass`` from the config thresholds."""

from __future__ import annotations

import functools

import numpy as np

from screening.config.segmentation import FieldQCConfig
from screening.segment import filters
from screening.segment.nuclei import noise_sigma as _noise_sigma

# Band-pass scales of the focus score, in µm: fine detail (edges of nuclei,
# neurites) against the scale of whole nuclei. Blur moves energy out of the
# fine band first, whatever the number of cells.
_FOCUS_SCALES_UM = (0.65, 1.3, 2.6)
_CROP_PX = 512
_FOCUS_TRUNCATE = 3.0  # kernels reach 3 sigma
# The focus score sums its band energies by tiles of a few cells (µm), none weighing more than
# _ENERGY_CAP times the 90th percentile of the tiles' energies: one very bright particle weighs as
# a couple of tiles. Capped at the median instead, the many faint tiles of a JPEG export (block
# edges in the fine band) outweighed the cells and defocused fields read sharp.
_FOCUS_TILE_UM = 50.0
_ENERGY_CAP = 2.0
_CAP_QUANTILE = 0.9


def foreground_mask(
    image: np.ndarray, *, pixel_size_um: float, snr: float = 5.0, noise_sigma: float | None = None
) -> np.ndarray:
    """Pixels clearly above the background (smoothed, ``snr`` × smoothed noise).

    The background is the image's median, good enough for a mask whose only
    use is to say where there is something (focus, emptiness). ``noise_sigma``
    (pixel noise, image units) is estimated from ``image`` unless given.
    """
    # In the image's own dtype (integer: exact fast path).
    noise = _noise_sigma(image) if noise_sigma is None else noise_sigma
    image = np.asarray(image, dtype=np.float32)
    sigma_px = max(1.0 / pixel_size_um, 1.0)
    smooth = filters.gaussian(image, sigma_px, truncate=3.0)
    noise = noise / (2 * np.sqrt(np.pi) * sigma_px)
    return smooth > np.median(smooth) + snr * max(noise, 1e-6)


def focus_score(
    image: np.ndarray,
    *,
    pixel_size_um: float,
    mask: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
) -> float:
    """Sharpness of a field in 0..1, independent of how many cells it holds.

    Parameters
    ----------
    image : (M, N) array
        One channel (the nuclear stain when there is one: sharp edges).
    pixel_size_um : float
        Pixel size, µm.
    mask : (M, N) bool array, optional
        Foreground to score; default :func:`foreground_mask` dilated by the
        largest scale. NaN when the mask is empty.
    exclude : (M, N) bool array, optional
        Pixels never scored (e.g. saturated debris, whose clipped edges look sharp).

    Returns
    -------
    float
        ``F / (F + M)``: F is the energy of the fine band (difference of
        Gaussians at 0.65 and 1.3 µm), M that of the mid band (1.3 and 2.6 µm),
        each less the share the pixel noise leaves in it, summed over the
        foreground (of a centred crop of at most 512² px, when it holds
        foreground) by tiles of ``_FOCUS_TILE_UM``, none weighing more than
        ``_ENERGY_CAP`` times the 90th percentile of the tiles. A sharp field of
        nuclei scores ~0.3-0.45 at 0.65 µm/px, a defocused one < 0.15. Being a
        ratio over the foreground, it does not grow with the number of cells,
        and one very bright particle weighs as a couple of tiles, not as the
        whole field.
    """
    # The noise estimate reads the image in its own dtype (integer images: an exact fast path).
    raw = np.asarray(image)
    image = raw.astype(np.float32)
    if mask is not None:
        mask = np.asarray(mask, bool)
    # Focus is a property of the whole field: a centred crop of at most
    # _CROP_PX² pixels is enough and bounds the cost on big fields.
    crop = tuple(slice(max((s - _CROP_PX) // 2, 0), max((s - _CROP_PX) // 2, 0) + _CROP_PX) for s in image.shape)
    if mask is None or mask[crop].any():
        image, raw = image[crop], raw[crop]
        mask = None if mask is None else mask[crop]
        exclude = None if exclude is None else np.asarray(exclude, bool)[crop]
    s0, s1, s2 = (max(s / pixel_size_um, 0.5) for s in _FOCUS_SCALES_UM)
    g0, g1, g2 = (filters.gaussian(image, s, truncate=_FOCUS_TRUNCATE) for s in (s0, s1, s2))
    sigma = _noise_sigma(raw)
    if mask is None:
        mask = foreground_mask(raw, pixel_size_um=pixel_size_um, noise_sigma=sigma)
        mask = filters.maximum_filter(mask, 2 * max(round(2 * s2), 1) + 1)
    if exclude is not None:
        mask = mask & ~exclude
    # Band energies per tile of a few cells, so that one very bright object (a particle under the
    # camera's ceiling, whose edges and shot noise outweigh every cell) can be kept to its share.
    tile = max(round(_FOCUS_TILE_UM / pixel_size_um), 8)
    count = _tile_sums(mask.astype(np.float32), tile)
    fine, mid = (_tile_sums(np.square(a - b) * mask, tile) for a, b in ((g0, g1), (g1, g2)))
    used = count > 0
    count, fine, mid = count[used], fine[used] / count[used], mid[used] / count[used]
    # White noise of sd σ leaves σ² × the band filter's gain in each band.
    fine = np.maximum(fine - sigma**2 * _dog_noise_gain(s0, s1), 0.0)
    mid = np.maximum(mid - sigma**2 * _dog_noise_gain(s1, s2), 0.0)
    energy = fine + mid
    scored = energy > 0
    if not scored.any():
        return float("nan")
    # Each tile weighs by its band energy, as one sum over the field would, but capped.
    weight = count * np.minimum(energy, _ENERGY_CAP * np.quantile(energy[scored], _CAP_QUANTILE))
    return float(np.sum(weight[scored] * fine[scored] / energy[scored]) / np.sum(weight[scored]))


def _tile_sums(values: np.ndarray, tile: int) -> np.ndarray:
    """Sums of ``values`` over square tiles of ``tile`` px (ragged at the far edges), flattened."""
    rows = np.add.reduceat(values, np.arange(0, values.shape[0], tile), axis=0, dtype=np.float64)
    return np.add.reduceat(rows, np.arange(0, values.shape[1], tile), axis=1).ravel()


@functools.lru_cache(maxsize=64)
def _dog_noise_gain(a: float, b: float) -> float:
    """Variance of (G_a - G_b) * white noise of unit variance, for the filters the score uses.

    Read off the discrete kernel itself (the sum of its squared weights). The closed form of
    continuous Gaussians, ``1/(4 pi a^2) + 1/(4 pi b^2) - 1/(pi (a^2 + b^2))``, holds from
    ~1 px up but reads two thirds of it at 0.5 px, the fine scale at ~1.3 µm/px: the noise left in
    the fine band kept defocused fields above ``min_focus`` (benchmarks/README.md).
    """
    radius = int(np.ceil(_FOCUS_TRUNCATE * max(a, b))) + 1
    delta = np.zeros((2 * radius + 1, 2 * radius + 1), np.float32)
    delta[radius, radius] = 1.0
    kernel = filters.gaussian(delta, a, truncate=_FOCUS_TRUNCATE) - filters.gaussian(delta, b, truncate=_FOCUS_TRUNCATE)
    return float(np.sum(kernel.astype(np.float64) ** 2))


def blank_channel(channels: dict, *, share: float = 0.999) -> str:
    """Why a field's channels carry no signal ("" when every one does).

    A camera image always has noise, so a channel whose pixels (every 4th row
    and column: enough for a share) are at least ``share`` one value was not
    acquired: an all-zero or constant file, or an export that lost the channel.
    Counting such a field would read as a field of zero neurons (deaths).

    Parameters
    ----------
    channels : dict of str to (M, N) array or None
        Role -> image, as given to :func:`screening.measure.field.measure_field`.
    share : float
        Share of pixels at one value (0..1) from which a channel is blank.
    """
    for role, image in channels.items():
        if image is None:
            continue
        sample = np.asarray(image)[::4, ::4].astype(np.float32, copy=False)
        value = np.median(sample)
        same = float(np.mean(sample == value)) if sample.size else 1.0
        if same >= share:
            return f"no signal in the {role} channel ({same:.1%} of pixels are {value:g})"
    return ""


def saturated_fraction(image: np.ndarray) -> float:
    """Fraction of pixels at the camera's ceiling (see :func:`screening.segment.somata.saturated_mask`)."""
    from screening.segment.somata import saturated_mask

    image = np.asarray(image)
    return float(saturated_mask(image).mean()) if image.size else 0.0


def field_qc(
    *,
    focus: float,
    saturated_fraction: float,
    debris_fraction: float,
    foreground_fraction: float,
    config: FieldQCConfig | None = None,
) -> dict:
    """Decide ``qc_pass`` for a field from its QC measures.

    Parameters
    ----------
    focus : float
        :func:`focus_score` (NaN when nothing to score).
    saturated_fraction, debris_fraction, foreground_fraction : float
        Fractions of the field's area (0..1).
    config : FieldQCConfig, optional
        Thresholds; defaults when omitted.

    Returns
    -------
    dict
        ``qc_pass`` (bool), ``qc_reason`` ("" when passed, otherwise every
        failed check, ``; ``-separated), and the four measures.

    Examples
    --------
    >>> field_qc(focus=0.05, saturated_fraction=0.0, debris_fraction=0.0,
    ...          foreground_fraction=0.2)["qc_reason"]
    'out of focus (focus 0.050 < 0.14)'
    """
    config = config or FieldQCConfig()
    reasons = []
    if not foreground_fraction >= config.min_foreground_fraction:
        reasons.append(f"empty field (foreground {foreground_fraction:.4f} < {config.min_foreground_fraction:g})")
    elif not focus >= config.min_focus:
        reasons.append(f"out of focus (focus {focus:.3f} < {config.min_focus:g})")
    if saturated_fraction > config.max_saturated_fraction:
        reasons.append(
            f"saturated ({saturated_fraction:.3f} of pixels > {config.max_saturated_fraction:g})"
        )
    if debris_fraction > config.max_debris_fraction:
        reasons.append(f"debris ({debris_fraction:.3f} of area > {config.max_debris_fraction:g})")
    return {
        "qc_pass": not reasons,
        "qc_reason": "; ".join(reasons),
        "focus_score": float(focus),
        "saturated_fraction": float(saturated_fraction),
        "debris_fraction": float(debris_fraction),
        "foreground_fraction": float(foreground_fraction),
    }
