"""The generative model of a simulated screen: cells, neurite arbors, deaths and the microscope.

:func:`build_screen` turns a preset and a seed into a :class:`SimulatedScreen`: plain arrays and tables
with every cell of every field (positions in µm in the field's nominal frame, reporter onset,
death and debris times in days), every neurite segment, and every field-timepoint's stage
shift and blur. Nothing here renders pixels (:mod:`.render`) or computes the truth tables
(:mod:`.truth`); both read the same :class:`SimulatedScreen`, which is how images and truth agree.

The whole screen is drawn at once with vectorised numpy from a few named random streams, so
a ``screen`` preset (~100k cells, ~1M neurite segments) builds in a fraction of a second.

Biology (per motor neuron): death time from a Weibull hazard
``h(t) = h0_patient(t) * HR(compound, dose) * exp(b_well) * edge``, ``b_well ~ N(0, sd)``
(lognormal well effect), edge wells an extra factor; a fraction of neurons switch the
reporter on after day 0 (so early counts can rise); neurites grow outward from the soma,
reaching a fraction ``g(day)`` of their final path length, and retract over
``degeneration_days`` before the soma dies; fragments stay visible for a while after death.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from screening.simulate.design import plate_layouts
from screening.simulate.presets import Preset, get_preset

# Named random streams: each concern draws from its own stream so that, e.g., changing how
# arbors are drawn does not move the cells. Rendering uses per-field streams (see render.py).
STREAM_DESIGN, STREAM_WELLS, STREAM_CELLS, STREAM_ARBORS, STREAM_ACQUISITION = 1, 2, 3, 4, 5


def stream(seed: int, *keys: int) -> np.random.Generator:
    """A random generator for one named stream (and e.g. field and timepoint) of a seed."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, keys)]))


@dataclass(frozen=True)
class SimulatedScreen:
    """One simulated screen, before rendering.

    Attributes
    ----------
    preset, seed
        What it was built from.
    layout : DataFrame
        Every well of every plate (``plate, well, patient, compound, concentration_um, role,
        true_hr, neurite_factor, edge, row, col``).
    wells : DataFrame
        Imaged wells, with ``well_effect`` (the hazard multiplier of the well, edge included).
    fields : DataFrame
        One row per imaged field (index = field id): ``plate, well, site`` and its well's columns.
    days : ndarray, shape (T,)
        Day of timepoint index ``t + 1``.
    shift_um : ndarray, shape (F, T, 2)
        Stage position error (x, y) in µm of each field at each timepoint; the image shows the
        field frame region ``[shift, shift + size)``.
    blur_px : ndarray, shape (F, T)
        Gaussian blur sigma (px) of the optics at that acquisition (PSF, focus drift, defocus).
    defocused : ndarray of bool, shape (F, T)
    cells : DataFrame
        One row per cell (motor neurons and reporter-negative cells), positions in µm in the
        field frame (the nominal field is ``[0, width_um) x [0, height_um)``).
    segments : dict of ndarray
        Straight neurite pieces, one array per key (a dict rather than a DataFrame: ~1M rows
        and only whole-column arithmetic): ``cell`` (row of ``cells``), ``x0, y0, x1, y1``
        (µm, float32), ``p0`` (path distance from the soma edge at the start, µm),
        ``length`` (µm), ``primary`` (bool).
    """

    preset: Preset
    seed: int
    layout: pd.DataFrame
    wells: pd.DataFrame
    fields: pd.DataFrame
    days: np.ndarray
    shift_um: np.ndarray
    blur_px: np.ndarray
    defocused: np.ndarray
    cells: pd.DataFrame
    segments: dict[str, np.ndarray]

    @property
    def size_um(self) -> tuple[float, float]:
        """Field (width, height) in µm."""
        h, w = self.preset.imaging.field_shape
        px = self.preset.imaging.pixel_size_um
        return w * px, h * px

    def field_index(self, plate: str, well: str, site: int) -> int:
        f = self.fields
        hit = np.flatnonzero((f["plate"] == plate) & (f["well"] == well) & (f["site"] == site))
        if hit.size == 0:
            raise KeyError(f"no imaged field {plate} {well} s{site} in preset {self.preset.name!r}")
        return int(hit[0])

    @functools.cached_property
    def field_segments(self) -> tuple[np.ndarray, np.ndarray]:
        """Segment indices grouped by field, and where each field's group starts (F + 1)."""
        seg_field = self.cells["field"].to_numpy()[self.segments["cell"]]
        order = np.argsort(seg_field, kind="stable")
        return order, np.searchsorted(seg_field[order], np.arange(len(self.fields) + 1))

    @functools.cached_property
    def _derived(self) -> dict:
        return {}

    def derived(self, name: str, make):
        """What ``make(self)`` returns, computed once per screen (its truth tables, for one)."""
        if name not in self._derived:
            self._derived[name] = make(self)
        return self._derived[name]

    def reach_um(self, day: float) -> np.ndarray:
        """Visible neurite path reach (µm from the soma edge) of every cell at ``day``.

        Zero for reporter-negative cells, for neurons whose reporter is still off and for
        dead neurons.
        """
        c = self.cells
        culture = self.preset.culture
        growth = culture.growth_at_day0 + (1 - culture.growth_at_day0) * (
            1 - math.exp(-day / culture.growth_tau_days)
        )
        time_left = c["death_day"].to_numpy() - day
        degeneration = np.clip(time_left / culture.degeneration_days, 0.0, 1.0)
        visible = reporter_visible(c, day)
        return np.where(visible, c["arbor_um"].to_numpy() * growth * degeneration, 0.0)


def reporter_visible(cells: pd.DataFrame, day: float) -> np.ndarray:
    """Motor neurons alive with the reporter on at ``day`` (bool per cell)."""
    return (
        cells["is_neuron"].to_numpy()
        & (cells["onset_day"].to_numpy() <= day)
        & (day < cells["death_day"].to_numpy())
    )


def alive(cells: pd.DataFrame, day: float) -> np.ndarray:
    """Cells alive at ``day``: every reporter-negative cell and the neurons not yet dead."""
    return day < cells["death_day"].to_numpy()


@functools.lru_cache(maxsize=2)  # a screen preset holds ~60 MB of arrays
def build_screen(preset: str | Preset = "screen", seed: int = 0) -> SimulatedScreen:
    """Draw a whole simulated screen (no pixels). Cached: same arguments, same object.

    Parameters
    ----------
    preset : str or Preset
        A name in :data:`screening.simulate.PRESET_NAMES` or a preset object.
    seed : int
        Same seed, same screen (and, for ``varied``, the same look).
    """
    seed = int(seed)
    preset = get_preset(preset, seed)
    design, culture, imaging = preset.design, preset.culture, preset.imaging
    layout = plate_layouts(design, stream(seed, STREAM_DESIGN))
    wells = _wells(layout, preset, stream(seed, STREAM_WELLS))
    fields = _fields(wells, imaging.sites)
    days = np.asarray(imaging.days, dtype=float)
    shift, blur, defocused = _acquisition(fields, preset, stream(seed, STREAM_ACQUISITION))
    cells = _cells(fields, wells, preset, stream(seed, STREAM_CELLS))
    segments, cells["arbor_um"] = _arbors(cells, culture, stream(seed, STREAM_ARBORS))
    return SimulatedScreen(preset, seed, layout, wells, fields, days, shift, blur, defocused, cells, segments)


def _wells(layout: pd.DataFrame, preset: Preset, rng: np.random.Generator) -> pd.DataFrame:
    culture = preset.culture
    wells = layout[layout["role"] != "empty"].reset_index(drop=True)
    n = len(wells)
    effect = np.exp(rng.normal(0.0, culture.well_effect_sd, n))
    wells["well_effect"] = effect * np.where(wells["edge"], culture.edge_hazard_ratio, 1.0)
    sd = culture.density_sd_well
    wells["density_factor"] = np.exp(rng.normal(-sd * sd / 2, sd, n))
    survival = {p.id: p.vehicle_survival_end for p in preset.design.patients}
    # Weibull scale so that vehicle neurons (multiplier 1) survive to the last day with the
    # patient's fraction: S(t) = exp(-(t / scale) ** shape).
    last = max(preset.imaging.days)
    wells["weibull_scale_day"] = [
        last / (-math.log(survival[p])) ** (1 / culture.hazard_shape) for p in wells["patient"]
    ]
    return wells


def _fields(wells: pd.DataFrame, sites: int) -> pd.DataFrame:
    fields = wells.loc[wells.index.repeat(sites)].reset_index(names="well_index")
    fields.insert(2, "site", np.tile(np.arange(1, sites + 1), len(wells)))
    return fields[["plate", "well", "site", "well_index", "patient", "compound", "concentration_um",
                   "role", "row", "col", "edge"]]


def _acquisition(fields: pd.DataFrame, preset: Preset, rng: np.random.Generator):
    imaging = preset.imaging
    n_f, n_t = len(fields), len(imaging.days)
    shift = rng.normal(0.0, imaging.stage_shift_um, (n_f, n_t, 2))
    # Focus drifts slowly along a plate's acquisition (serpentine over rows), by a random
    # amount at each timepoint.
    col = np.where(fields["row"] % 2 == 0, fields["col"], 1000 - fields["col"])
    order = pd.DataFrame({"plate": fields["plate"], "key": fields["row"] * 10000 + col * 10 + fields["site"]})
    progress = order.groupby("plate")["key"].rank(pct=True).to_numpy()
    plates = fields["plate"].unique()
    amplitude = rng.uniform(0.0, imaging.focus_drift_px, (len(plates), n_t))
    plate_index = pd.Categorical(fields["plate"], categories=plates).codes
    blur = imaging.psf_sigma_px + amplitude[plate_index] * progress[:, None]
    defocused = np.zeros((n_f, n_t), dtype=bool)
    if imaging.defocus_fraction > 0:
        n_def = max(1, round(imaging.defocus_fraction * n_f * n_t))
        pick = rng.choice(n_f * n_t, size=n_def, replace=False)
        defocused.flat[pick] = True
        blur.flat[pick] = rng.uniform(*imaging.defocus_blur_px, n_def)
    return shift, blur, defocused


def _cells(fields: pd.DataFrame, wells: pd.DataFrame, preset: Preset, rng: np.random.Generator) -> pd.DataFrame:
    culture, imaging = preset.culture, preset.imaging
    h, w = imaging.field_shape
    m = imaging.margin_um
    width, height = w * imaging.pixel_size_um + 2 * m, h * imaging.pixel_size_um + 2 * m
    area_mm2 = width * height * 1e-6
    n_f = len(fields)
    well_of = fields["well_index"].to_numpy()

    # Cells: a Poisson number per field, part uniform, part in Gaussian clumps (Thomas process).
    sd = culture.density_sd_field
    density = wells["density_factor"].to_numpy()[well_of] * np.exp(rng.normal(-sd * sd / 2, sd, n_f))
    per_cell_type = culture.neurons_per_mm2 * (1 + culture.other_cells_per_neuron)
    n_cells = rng.poisson(per_cell_type * area_mm2 * density)
    field = np.repeat(np.arange(n_f), n_cells)
    n = field.size
    x = rng.uniform(-m, width - m, n)
    y = rng.uniform(-m, height - m, n)
    n_clumps = rng.poisson(culture.clumps_per_mm2 * area_mm2 * density)
    clump_start = np.cumsum(n_clumps) - n_clumps
    cx = rng.uniform(-m, width - m, n_clumps.sum())
    cy = rng.uniform(-m, height - m, n_clumps.sum())
    clumped = (rng.random(n) < culture.clump_fraction) & (n_clumps[field] > 0)
    which = clump_start[field] + np.floor(rng.random(n) * n_clumps[field]).astype(int)
    which = np.where(clumped, which, 0)
    if cx.size:
        x = np.where(clumped, cx[which] + rng.normal(0, culture.clump_radius_um, n), x)
        y = np.where(clumped, cy[which] + rng.normal(0, culture.clump_radius_um, n), y)

    # Nuclei cannot overlap much: drop the later cell of every too-close pair (Matérn thinning).
    # Fields are laid side by side far apart so one tree serves the whole screen.
    spacing = width + 10 * m
    tree = cKDTree(np.column_stack([x + field * spacing, y]))
    pairs = tree.query_pairs(culture.min_nucleus_distance_um, output_type="ndarray")
    keep = np.ones(n, dtype=bool)
    keep[pairs.max(axis=1)] = False
    field, x, y = field[keep], x[keep], y[keep]
    n = field.size

    is_neuron = rng.random(n) < 1 / (1 + culture.other_cells_per_neuron)
    wi = well_of[field]
    onset = np.where(rng.random(n) < culture.late_onset_fraction,
                     rng.uniform(0, culture.late_onset_max_day, n), 0.0)
    # Weibull death time with a proportional hazard multiplier m: T = scale * (E / m) ** (1/k).
    multiplier = wells["true_hr"].to_numpy()[wi] * wells["well_effect"].to_numpy()[wi]
    scale = wells["weibull_scale_day"].to_numpy()[wi]
    death = scale * (rng.exponential(1.0, n) / multiplier) ** (1 / culture.hazard_shape)
    death = np.where(is_neuron, death, np.inf)
    debris_end = death + rng.exponential(culture.debris_days, n)

    r = culture.soma_radius_um
    soma_scale = np.where(is_neuron, 1.0, 0.8)
    long_axis = r * rng.uniform(1.0, 1.3, n) * soma_scale
    short_axis = r * rng.uniform(0.7, 0.9, n) * soma_scale
    brightness = np.where(
        is_neuron,
        imaging.soma_adu * np.exp(rng.normal(0, imaging.soma_sd, n)),
        imaging.negative_cell_adu * np.exp(rng.normal(0, 0.3, n)),
    )
    rn = culture.nucleus_radius_um
    neuron_no = np.zeros(n, dtype=int)
    order = np.flatnonzero(is_neuron)
    counts = np.bincount(field[order], minlength=n_f)
    neuron_no[order] = np.arange(order.size) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    return pd.DataFrame(
        {
            "field": field,
            "x_um": x,
            "y_um": y,
            "is_neuron": is_neuron,
            "neuron": neuron_no,  # 1-based number of the motor neuron in its field; 0: other cell
            "onset_day": np.where(is_neuron, onset, np.nan),
            "death_day": death,
            "debris_end_day": debris_end,
            "hazard_multiplier": np.where(is_neuron, multiplier, np.nan),
            "soma_a_um": long_axis,
            "soma_b_um": short_axis,
            "soma_angle": rng.uniform(0, np.pi, n),
            "brightness_adu": brightness,
            "nucleus_dx_um": rng.normal(0, culture.nucleus_offset_um, n),
            "nucleus_dy_um": rng.normal(0, culture.nucleus_offset_um, n),
            "nucleus_a_um": rn * rng.uniform(0.95, 1.2, n),
            "nucleus_b_um": rn * rng.uniform(0.75, 0.95, n),
            "nucleus_angle": rng.uniform(0, np.pi, n),
            # Relative to Imaging.nucleus_adu, drawn apart from the nucleus size.
            "nucleus_adu": np.exp(rng.normal(0, culture.nucleus_brightness_sd, n)),
            "neurite_factor": wells["neurite_factor"].to_numpy()[wi],
        }
    )


def _group_cumsum(values: np.ndarray, first: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each group (groups contiguous, ``first`` their start index)."""
    total = np.cumsum(values)
    return total - (total[first] - values[first])[group]


def _walks(rng, x0, y0, theta0, length, p0, step, turn_sd):
    """Persistent random walks, one per branch; returns per-step segment arrays."""
    n_steps = np.maximum(1, np.ceil(length / step).astype(int))
    branch = np.repeat(np.arange(length.size), n_steps)
    first = np.cumsum(n_steps) - n_steps
    k = np.arange(branch.size) - first[branch]
    theta = theta0[branch] + _group_cumsum(rng.normal(0, turn_sd, branch.size), first, branch)
    seg_len = np.minimum(step, length[branch] - k * step)
    dx, dy = seg_len * np.cos(theta), seg_len * np.sin(theta)
    x1 = x0[branch] + _group_cumsum(dx, first, branch)
    y1 = y0[branch] + _group_cumsum(dy, first, branch)
    return dict(branch=branch, x0=x1 - dx, y0=y1 - dy, x1=x1, y1=y1, p0=p0[branch] + k * step,
                length=seg_len, theta=theta, first=first)


def _arbors(cells: pd.DataFrame, culture, rng: np.random.Generator):
    """Neurite arbors of every motor neuron: primary neurites from the soma edge, plus branches.

    Returns the segments (dict of arrays) and each cell's arbor path reach (µm, the longest
    soma-to-tip path; 0 for reporter-negative cells).
    """
    neurons = np.flatnonzero(cells["is_neuron"].to_numpy())
    n_primary = np.clip(1 + rng.poisson(culture.primary_neurites - 1, neurons.size), 1, 6)
    cell = np.repeat(neurons, n_primary)
    first = np.cumsum(n_primary) - n_primary
    k = np.arange(cell.size) - np.repeat(first, n_primary)
    spread = rng.uniform(0, 2 * np.pi, neurons.size)
    theta = np.repeat(spread, n_primary) + 2 * np.pi * k / np.repeat(n_primary, n_primary)
    theta += rng.normal(0, 0.35, cell.size)
    factor = cells["neurite_factor"].to_numpy()[cell]
    length = culture.primary_length_um * factor * np.exp(rng.normal(0, culture.length_sd, cell.size))
    # Start on the soma ellipse, in the neurite's direction.
    a, b = cells["soma_a_um"].to_numpy()[cell], cells["soma_b_um"].to_numpy()[cell]
    rel = theta - cells["soma_angle"].to_numpy()[cell]
    r_edge = a * b / np.hypot(b * np.cos(rel), a * np.sin(rel))
    x0 = cells["x_um"].to_numpy()[cell] + r_edge * np.cos(theta)
    y0 = cells["y_um"].to_numpy()[cell] + r_edge * np.sin(theta)
    prim = _walks(rng, x0, y0, theta, length, np.zeros(cell.size), culture.neurite_step_um,
                  culture.neurite_turn_sd)

    # Side branches leave a primary at a random point of its path, at 25-60 degrees.
    n_side = rng.poisson(culture.branches_per_100um * length / 100)
    parent = np.repeat(np.arange(cell.size), n_side)
    at = rng.uniform(0.15, 0.85, parent.size) * length[parent]
    seg = prim["first"][parent] + np.floor(at / culture.neurite_step_um).astype(int)
    sign = np.where(rng.random(parent.size) < 0.5, -1.0, 1.0)
    side_theta = prim["theta"][seg] + sign * rng.uniform(0.45, 1.05, parent.size)
    side_length = 0.6 * culture.primary_length_um * factor[parent] * np.exp(
        rng.normal(0, culture.length_sd, parent.size))
    side = _walks(rng, prim["x0"][seg], prim["y0"][seg], side_theta, side_length, prim["p0"][seg],
                  culture.neurite_step_um, culture.neurite_turn_sd)

    out = {key: np.concatenate([prim[key], side[key]]).astype(np.float32)
           for key in ("x0", "y0", "x1", "y1", "p0", "length")}
    out["cell"] = np.concatenate([cell[prim["branch"]], cell[parent][side["branch"]]])
    out["primary"] = np.concatenate([np.ones(prim["branch"].size, bool), np.zeros(side["branch"].size, bool)])
    reach = np.zeros(len(cells))
    np.maximum.at(reach, cell, length)
    np.maximum.at(reach, cell[parent], prim["p0"][seg] + side_length)
    return out, reach
