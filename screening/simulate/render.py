"""Render one simulated field at one timepoint into 16-bit camera images.

The reporter channel (``w1``) shows motor-neuron somata (soft ellipses, brighter centre) with
their neurites (polylines splatted along their path, thicker primaries), dim reporter-negative
cells, bright fragments of neurons that died recently and occasional saturated debris. The
nuclear channel (``w2``) shows every living cell's nucleus (with chromatin texture) and the
small condensed nuclei of dead neurons. Both are blurred by the optics (PSF, focus drift or a
defocus), lit unevenly (vignetting, a gradient) and recorded with Poisson and read noise.

Geometry comes from :class:`~screening.simulate.model.SimulatedScreen`, the same object the truth
tables are computed from, so images and truth agree by construction; the per-field random
streams used here (textures, fragments, noise) never touch the truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from screening.simulate.model import (
    SimulatedScreen,
    alive,
    build_screen,
    reporter_visible,
    stream,
)
from screening.simulate.presets import Preset
from screening.simulate.truth import truth_row

REPORTER, NUCLEI = "w1", "w2"
STREAM_FIELD_STATIC, STREAM_FIELD_TIMEPOINT, STREAM_SAMPLE = 6, 7, 8
STREAM_NUCLEUS_TEXTURE = 10  # per field, so each nucleus keeps its foci over time
# Nucleus textures (Imaging.nucleus_texture), sizes as fractions of the nucleus diameter:
# chromocentres are 6-15 foci of sigma 0.06 d peaking 1-2x the nucleus within 0.75 of its
# radius; nucleoli 1-3 holes of sigma 0.12 d, 60-80 % deep, within half its radius.
_CHROMOCENTRES = dict(count=(6, 16), sigma=0.06, depth=(1.0, 2.0), reach=0.75)
_NUCLEOLI = dict(count=(1, 4), sigma=0.12, depth=(0.6, 0.8), reach=0.5)
# Beaded neurites (Imaging.neurite_profile): brightness 1 + amplitude * cos along the path, the
# period between these (µm) and the phase set per neuron, so the mean stays the smooth line's.
BEAD_AMPLITUDE = 0.7
BEAD_PERIOD_UM = (3.0, 5.0)
SATURATED_ADU = 2.0e5  # far above the 16-bit range: the camera clips it to 65535


@dataclass(frozen=True)
class RenderedField:
    """One field at one timepoint: its images, its truth row and what was drawn where.

    Attributes
    ----------
    images : dict of ndarray
        ``{"w1": reporter, "w2": nuclei}``, uint16, shape ``imaging.field_shape``.
    truth : dict
        The field's row of ``truth/fields.csv`` (``n_neurons``, ``neurite_length_um``, ...).
    objects : DataFrame
        One row per cell drawn: ``cell``, ``neuron`` (1-based number in the field, 0 for other
        cells), ``state`` (``motor_neuron``: alive, reporter on; ``reporter_negative``: alive,
        reporter off; ``fragments``: dead, debris still visible), ``row_px, col_px`` (soma
        centre), ``nucleus_row_px, nucleus_col_px`` and ``inside`` (centre within the image).
        The counted neurons are ``state == "motor_neuron" & inside``.
    """

    images: dict[str, np.ndarray]
    truth: dict
    objects: pd.DataFrame


def render_field(screen: SimulatedScreen, field: int | tuple[str, str, int], timepoint: int) -> RenderedField:
    """Render both channels of one field at one timepoint.

    Parameters
    ----------
    screen : SimulatedScreen
        From :func:`~screening.simulate.build_screen` (e.g. ``build_screen("small", seed=0)``).
    field : int or (plate, well, site)
        Row of ``screen.fields`` or its ``(plate, well, site)``.
    timepoint : int
        1-based timepoint index (as in ``TimePoint_<t>`` folders).

    Returns
    -------
    RenderedField
        Images (uint16), the truth row, and the drawn objects in pixel coordinates.
    """
    if not isinstance(field, int | np.integer):
        field = screen.field_index(*field)
    field, t = int(field), int(timepoint) - 1
    if not 0 <= t < len(screen.days):
        raise ValueError(f"timepoint {timepoint} out of range 1..{len(screen.days)}")
    imaging, culture = screen.preset.imaging, screen.preset.culture
    px = imaging.pixel_size_um
    shape = imaging.field_shape
    day = float(screen.days[t])
    static = stream(screen.seed, STREAM_FIELD_STATIC, field)
    noise = stream(screen.seed, STREAM_FIELD_TIMEPOINT, field, t)

    rows = np.flatnonzero(screen.cells["field"].to_numpy() == field)
    cells = screen.cells.iloc[rows]
    sx, sy = screen.shift_um[field, t]
    col = (cells["x_um"].to_numpy() - sx) / px - 0.5
    row = (cells["y_um"].to_numpy() - sy) / px - 0.5
    on = reporter_visible(cells, day)
    living = alive(cells, day)
    death = cells["death_day"].to_numpy()
    dead_visible = ~living & (day < cells["debris_end_day"].to_numpy())
    fragments = _fragments(static, cells, culture, imaging)

    reporter = np.zeros(shape, np.float32)
    nuclei = np.zeros(shape, np.float32)
    a = cells["soma_a_um"].to_numpy() / px
    b = cells["soma_b_um"].to_numpy() / px
    angle = cells["soma_angle"].to_numpy()
    bright = cells["brightness_adu"].to_numpy()
    dim = imaging.negative_cell_adu * cells["nucleus_adu"].to_numpy()
    soma_value = np.where(on, bright, np.where(cells["is_neuron"].to_numpy(), dim, bright))
    draw = living
    _add_ellipses(reporter, row[draw], col[draw], a[draw], b[draw], angle[draw], soma_value[draw],
                  profile=imaging.soma_profile)
    _add_neurites(reporter, screen, field, t, cells, on, (sx, sy))

    f = fragments[np.isin(fragments["index"], np.flatnonzero(dead_visible))]
    f_col = (f["x_um"] - sx) / px - 0.5
    f_row = (f["y_um"] - sy) / px - 0.5
    r = f["radius_um"] / px
    _add_ellipses(reporter, f_row, f_col, r, r, np.zeros(len(f)), f["adu"])

    n_col = col + cells["nucleus_dx_um"].to_numpy() / px
    n_row = row + cells["nucleus_dy_um"].to_numpy() / px
    n_val = imaging.nucleus_adu * cells["nucleus_adu"].to_numpy()
    na, nb = cells["nucleus_a_um"].to_numpy() / px, cells["nucleus_b_um"].to_numpy() / px
    condensed = imaging.dead_nucleus_um is not None
    # Dead neurons' nuclei that keep their live shape (faded, or like a live one) are drawn
    # with the living; condensed ones after the chromatin texture, as smooth bright discs.
    shown = living if condensed else living | dead_visible
    value = n_val if condensed else np.where(living, 1.0, imaging.dead_nucleus_brightness) * n_val
    _add_ellipses(nuclei, n_row[shown], n_col[shown], na[shown], nb[shown],
                  cells["nucleus_angle"].to_numpy()[shown], value[shown], profile=0.15)
    texture = ndi.gaussian_filter(noise.standard_normal(shape).astype(np.float32), 1.2)
    nuclei *= 1 + 0.25 * texture / (texture.std() + 1e-9)
    if imaging.nucleus_texture != "fine":
        rng = stream(screen.seed, STREAM_NUCLEUS_TEXTURE, field)
        foci = _nucleus_texture(rng, imaging.nucleus_texture, shape, n_row, n_col, na, nb,
                                cells["nucleus_angle"].to_numpy(), shown)
        nuclei *= 1 + foci if imaging.nucleus_texture == "chromocentres" else np.clip(1 - foci, 0, None)
    if condensed:  # pyknotic nuclei of neurons that died
        pr = np.full(dead_visible.sum(), imaging.dead_nucleus_um / px)
        _add_ellipses(nuclei, n_row[dead_visible], n_col[dead_visible], pr, pr, np.zeros(pr.size),
                      imaging.dead_nucleus_brightness * n_val[dead_visible])

    _add_saturated_debris(noise, reporter, nuclei, culture.saturated_debris_per_field, px)

    blur = float(screen.blur_px[field, t])
    light = _illumination(static, shape, imaging)
    images = {}
    for key, sharp, background in (
        (REPORTER, reporter, imaging.reporter_background_adu),
        (NUCLEI, nuclei, imaging.nuclei_background_adu),
    ):
        level = background * static.uniform(0.85, 1.15)
        signal = (ndi.gaussian_filter(sharp, blur) + level) * light
        images[key] = _camera(noise, signal, imaging)

    h, w = shape
    inside = (col >= -0.5) & (col < w - 0.5) & (row >= -0.5) & (row < h - 0.5)
    state = np.where(on, "motor_neuron", np.where(living, "reporter_negative", "fragments"))
    objects = pd.DataFrame(
        {
            "cell": rows,
            "neuron": cells["neuron"].to_numpy(),
            "state": state,
            "row_px": row,
            "col_px": col,
            "nucleus_row_px": n_row,
            "nucleus_col_px": n_col,
            "inside": inside,
            "death_day": death,
        }
    )[living | dead_visible].reset_index(drop=True)
    return RenderedField(images, truth_row(screen, field, t), objects)


def _nucleus_texture(rng, kind: str, shape, rows, cols, a, b, angle, shown) -> np.ndarray:
    """Foci (chromocentres) or holes (nucleoli) of every nucleus, as a relative level per px.

    Every cell of the field draws its foci (so a nucleus keeps them over time); those of
    ``shown`` nuclei are drawn, each a Gaussian peaking at its depth.
    """
    spec = _CHROMOCENTRES if kind == "chromocentres" else _NUCLEOLI
    n = rows.size
    count = rng.integers(*spec["count"], size=n)
    cell = np.repeat(np.arange(n), count)
    theta = rng.uniform(0, 2 * np.pi, cell.size)
    rho = spec["reach"] * np.sqrt(rng.uniform(0, 1, cell.size))
    depth = rng.uniform(*spec["depth"], size=cell.size)
    pick = shown[cell]
    cell, theta, rho, depth = cell[pick], theta[pick], rho[pick], depth[pick]
    u, v = rho * a[cell] * np.cos(theta), rho * b[cell] * np.sin(theta)
    cos, sin = np.cos(angle[cell]), np.sin(angle[cell])
    out = np.zeros(shape, np.float32)
    if cell.size == 0:
        return out
    sigma = spec["sigma"] * float(np.median(a[shown] + b[shown]))
    _splat(out, rows[cell] + u * sin + v * cos, cols[cell] + u * cos - v * sin, depth * 2 * np.pi * sigma**2)
    return ndi.gaussian_filter(out, sigma)


def _add_ellipses(image, rows, cols, a, b, angle, values, *, profile: float = 0.0) -> None:
    """Add soft-edged filled ellipses (semi-axes ``a, b`` px) in place.

    ``profile`` dims the rim relative to the centre (a thick cell body is brighter in the
    middle). The edge is anti-aliased over about one pixel.
    """
    h, w = image.shape
    for r, c, ai, bi, th, v in zip(rows, cols, a, b, angle, values, strict=True):
        reach = int(math.ceil(max(ai, bi))) + 2
        r0, r1 = max(0, int(r) - reach), min(h, int(r) + reach + 2)
        c0, c1 = max(0, int(c) - reach), min(w, int(c) + reach + 2)
        if r0 >= r1 or c0 >= c1:
            continue
        dy = np.arange(r0, r1, dtype=np.float32)[:, None] - r
        dx = np.arange(c0, c1, dtype=np.float32)[None, :] - c
        cos, sin = math.cos(th), math.sin(th)
        u = dx * cos + dy * sin
        v_ = -dx * sin + dy * cos
        rho = np.sqrt((u / ai) ** 2 + (v_ / bi) ** 2)
        edge = np.clip((1 - rho) * min(ai, bi) + 0.5, 0, 1)
        image[r0:r1, c0:c1] += v * edge * (1 - profile * np.minimum(rho, 1) ** 2)


def _splat(image, rows, cols, weights) -> None:
    """Add point weights to an image with bilinear interpolation (sub-pixel positions)."""
    h, w = image.shape
    r0, c0 = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    fr, fc = rows - r0, cols - c0
    flat = np.zeros(h * w, np.float64)
    for dr, dc, share in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc),
                          (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        rr, cc = r0 + dr, c0 + dc
        ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        flat += np.bincount(rr[ok] * w + cc[ok], weights=(share * weights)[ok], minlength=h * w)
    image += flat.reshape(h, w).astype(image.dtype)


def render_neurite_layer(screen: SimulatedScreen, field: int, timepoint: int, *, blur: bool = True) -> np.ndarray:
    """The neurites of one field-timepoint alone, noise-free: what the reporter image adds for them.

    Parameters
    ----------
    screen : SimulatedScreen
        From :func:`~screening.simulate.build_screen`.
    field : int
        Row of ``screen.fields``.
    timepoint : int
        1-based timepoint index.
    blur : bool
        Blur like the field's image (default); without, each neurite is its band of splatted
        lines (1-5 px wide), whose skeleton is the truth's centre line.

    Returns
    -------
    layer : (M, N) float32 array
        ADU above the background (before illumination and camera): where the truth's
        ``neurite_length_all_um`` lies in the image, for benchmarks.
    """
    t = int(timepoint) - 1
    cells = screen.cells.iloc[np.flatnonzero(screen.cells["field"].to_numpy() == field)]
    layer = np.zeros(screen.preset.imaging.field_shape, np.float32)
    _add_neurites(layer, screen, field, t, cells, reporter_visible(cells, float(screen.days[t])),
                  tuple(screen.shift_um[field, t]))
    return ndi.gaussian_filter(layer, float(screen.blur_px[field, t])) if blur else layer


def _add_neurites(image, screen: SimulatedScreen, field: int, t: int, cells, on, shift) -> None:
    """Draw the grown, visible part of every neurite of the field's neurons (reporter on)."""
    imaging = screen.preset.imaging
    px = imaging.pixel_size_um
    seg = screen.segments
    order, starts = screen.field_segments
    pick = order[starts[field] : starts[field + 1]]
    pick = pick[np.isin(seg["cell"][pick], cells.index.to_numpy()[on])]
    reach = screen.reach_um(float(screen.days[t]))
    cell = seg["cell"][pick]
    length = seg["length"][pick].astype(np.float64)
    p0 = seg["p0"][pick].astype(np.float64)
    u_max = np.clip((reach[cell] - p0) / length, 0.0, 1.0)
    keep = u_max > 0
    pick, cell, length, p0, u_max = pick[keep], cell[keep], length[keep], p0[keep], u_max[keep]
    # Sample each segment every half pixel; each sample carries its share of the length.
    n = np.maximum(1, np.ceil(length * u_max / (0.5 * px)).astype(np.int64))
    which = np.repeat(np.arange(pick.size), n)
    k = np.arange(which.size) - np.repeat(np.cumsum(n) - n, n)
    u = (k + 0.5) / n[which] * u_max[which]
    x0, y0 = seg["x0"][pick][which], seg["y0"][pick][which]
    dx, dy = (seg["x1"][pick] - seg["x0"][pick])[which], (seg["y1"][pick] - seg["y0"][pick])[which]
    cols = (x0 + u * dx - shift[0]) / px - 0.5
    rows = (y0 + u * dy - shift[1]) / px - 0.5
    step_px = (length * u_max / n / px)[which]
    # Peak brightness of a line is its weight per px / (sqrt(2 pi) sigma) after the PSF blur.
    bright = screen.cells["brightness_adu"].to_numpy()[cell][which]
    arbor = screen.cells["arbor_um"].to_numpy()[cell][which]
    taper = 1 - 0.4 * (p0[which] + u * length[which]) / np.maximum(arbor, 1e-6)
    gain = imaging.neurite_fraction * math.sqrt(2 * math.pi) * imaging.psf_sigma_px
    weight = step_px * bright * taper * gain
    if imaging.neurite_profile == "beaded":
        weight *= _bead_factor(cell[which], p0[which] + u * length[which])
    primary = seg["primary"][pick][which]
    norm = np.hypot(dx, dy) / px + 1e-9
    nx, ny = -dy / px / norm, dx / px / norm
    branch_lines, primary_lines = _neurite_lines(imaging)
    for keep, lines in ((~primary, branch_lines), (primary, primary_lines)):
        for offset, share in lines:
            _splat(image, rows[keep] + offset * nx[keep], cols[keep] + offset * ny[keep], share * weight[keep])


def _bead_factor(cell: np.ndarray, path_um: np.ndarray) -> np.ndarray:
    """Brightness factor of beaded neurites at path distance ``path_um`` (µm) along neurites of
    neurons ``cell``: varicosities every 3-5 µm (per neuron), 0.3-1.7x, mean 1."""
    golden = (np.asarray(cell, dtype=np.float64) * 0.6180339887) % 1.0  # spreads neurons' periods and phases
    period = BEAD_PERIOD_UM[0] + (BEAD_PERIOD_UM[1] - BEAD_PERIOD_UM[0]) * golden
    return 1 + BEAD_AMPLITUDE * np.cos(2 * np.pi * (path_um / period + 2 * golden))


def _neurite_lines(imaging) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Parallel lines (offset across the neurite in px, share of the weight) of branches and primaries.

    Without ``imaging.neurite_width_um``: primaries ~2 µm wide are three lines 0.6 px apart at
    half weight each, branches one line (a branch peaks at ``neurite_fraction`` of its soma).
    With it: lines at most 0.5 px apart fill a band of that width (branches half of it), and
    the shares make a primary's brightest pixel ``neurite_fraction`` after the PSF whatever
    its width (a band of width W px blurred by sigma px peaks at ``erf(W / (2 sqrt(2) sigma)) /
    W`` of its cross-section; splatting on the pixel grid adds 1/6 px² to sigma² on average); a
    branch carries 2/3 of a primary's cross-section, as without a width.
    """
    if imaging.neurite_width_um is None:
        return [(0.0, 1.0)], [(-0.6, 0.5), (0.0, 0.5), (0.6, 0.5)]
    sigma = imaging.psf_sigma_px
    sampled = math.sqrt(sigma**2 + 1 / 6)
    width = imaging.neurite_width_um / imaging.pixel_size_um
    # Shares relative to the weight, which puts a thin line's continuous peak at the target.
    scale = width / math.erf(width / (2 * math.sqrt(2) * sampled)) / (math.sqrt(2 * math.pi) * sigma)

    def band(w: float, total: float) -> list[tuple[float, float]]:
        n = max(1, math.ceil(w / 0.5))
        return [((k + 0.5) / n * w - w / 2, total / n) for k in range(n)]

    return band(width / 2, 2 / 3 * scale), band(width, scale)


def _fragments(rng: np.random.Generator, cells: pd.DataFrame, culture, imaging) -> pd.DataFrame:
    """Fixed fragment geometry of every cell of the field (only dead neurons' are drawn)."""
    n = len(cells)
    count = rng.integers(2, 6, n)
    index = np.repeat(np.arange(n), count)
    m = index.size
    adu = imaging.fragment_adu * np.exp(rng.normal(0, 0.4, m))
    adu = np.where(rng.random(m) < 0.04, SATURATED_ADU, adu)  # a few saturate the camera
    return pd.DataFrame(
        {
            "index": index,
            "x_um": cells["x_um"].to_numpy()[index] + rng.normal(0, 0.6 * culture.soma_radius_um, m),
            "y_um": cells["y_um"].to_numpy()[index] + rng.normal(0, 0.6 * culture.soma_radius_um, m),
            "radius_um": rng.uniform(1.0, 2.3, m),
            "adu": adu,
        }
    )


def _add_saturated_debris(rng, reporter, nuclei, mean: float, px: float) -> None:
    """Occasional bright particles (precipitate, dust) that saturate both channels."""
    n = rng.poisson(mean)
    h, w = reporter.shape
    rows, cols = rng.uniform(0, h, n), rng.uniform(0, w, n)
    radius = rng.uniform(2.0, 6.0, n) / px
    zeros = np.zeros(n)
    _add_ellipses(reporter, rows, cols, radius, radius * rng.uniform(0.6, 1.0, n), zeros, np.full(n, SATURATED_ADU))
    _add_ellipses(nuclei, rows, cols, radius, radius, zeros, np.full(n, 0.5 * SATURATED_ADU))


def _illumination(rng, shape, imaging) -> np.ndarray:
    """Relative illumination: radial vignetting times a linear gradient in a random direction."""
    h, w = shape
    yy = (np.arange(h, dtype=np.float32)[:, None] + 0.5) / h - 0.5
    xx = (np.arange(w, dtype=np.float32)[None, :] + 0.5) / w - 0.5
    rho2 = (xx**2 + yy**2) / 0.5
    direction = rng.uniform(0, 2 * np.pi)
    gradient = 1 + imaging.gradient * (xx * math.cos(direction) + yy * math.sin(direction))
    return (1 - imaging.vignetting * rho2) * gradient


def _camera(rng, signal, imaging) -> np.ndarray:
    """Photon shot noise, read noise and the camera offset; clipped to 16 bits."""
    electrons = rng.poisson(np.maximum(signal, 0) / imaging.gain_adu_per_e)
    adu = electrons * imaging.gain_adu_per_e + rng.normal(imaging.offset_adu, imaging.read_noise_adu, signal.shape)
    return np.clip(np.rint(adu), 0, 65535).astype(np.uint16)


def sample_fields(preset: str | Preset = "small", seed: int = 0, n: int = 8, *,
                  include_defocused: bool = False) -> list[RenderedField]:
    """Render ``n`` random field-timepoints of a preset, in memory (for benchmarks).

    The preset sets the difficulty: ``demo`` and ``small`` are typical cultures, ``hard``
    is dense and clumped with a dim reporter and more debris, ``screen`` is the full screen.

    Parameters
    ----------
    preset : str or Preset
    seed : int
        Seed of the screen and of the choice of fields.
    n : int
        Number of fields (at most the number of field-timepoints available).
    include_defocused : bool
        Also draw defocused fields (their truth is the true content, not what is visible).

    Returns
    -------
    list of RenderedField

    Examples
    --------
    >>> fields = sample_fields("demo", seed=0, n=2)
    >>> fields[0].images["w1"].dtype, int(fields[0].truth["n_neurons"]) >= 0
    (dtype('uint16'), True)
    """
    screen = build_screen(preset, seed)
    candidates = np.argwhere(np.ones_like(screen.defocused) if include_defocused else ~screen.defocused)
    rng = stream(seed, STREAM_SAMPLE)
    chosen = candidates[rng.choice(len(candidates), size=min(n, len(candidates)), replace=False)]
    return [render_field(screen, int(f), int(t) + 1) for f, t in chosen]
