"""Ground-truth tables of a simulated screen, computed from the geometric model (no pixels).

Counts and lengths follow the microscope: a neuron is counted in a field at a timepoint when
it is alive, its reporter is on and its soma centre lies inside the region the stage actually
imaged (nominal field moved by that timepoint's stage error). Neurite length is the visible
part of the arbor polylines clipped to that region (exact segment clipping, not a mask).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from screening.plate import FIELD_KEYS
from screening.simulate.design import LAYOUT_COLUMNS
from screening.simulate.model import SimulatedScreen, alive, build_screen, reporter_visible
from screening.simulate.presets import Preset

EFFECT_COLUMNS = ["patient", "compound", "concentration_um", "role", "true_hr", "neurite_factor"]
NEURON_COLUMNS = ["plate", "well", "site", "neuron", "patient", "onset_day", "death_day"]


def clip_fraction(x0, y0, x1, y1, width, height):
    """Parameter range ``[u0, u1]`` of segments ``P(u) = P0 + u (P1 - P0)`` inside a rectangle.

    Liang-Barsky clipping against ``[0, width) x [0, height)``; ``u1 <= u0`` means outside.
    """
    dx, dy = x1 - x0, y1 - y0
    u0 = np.zeros_like(x0)
    u1 = np.ones_like(x0)
    with np.errstate(divide="ignore", invalid="ignore"):
        for p, q in ((-dx, x0), (dx, width - x0), (-dy, y0), (dy, height - y0)):
            ratio = q / p
            u0 = np.where(p < 0, np.maximum(u0, ratio), u0)
            u1 = np.where(p > 0, np.minimum(u1, ratio), u1)
            u1 = np.where((p == 0) & (q < 0), -1.0, u1)
    return u0, u1


def visible_length(screen: SimulatedScreen, t: int, *, safe: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Visible length (µm) of every neurite segment in its field's image at timepoint index ``t``.

    A segment shows its grown, not yet retracted part ``[0, u_max]`` (nothing when the neuron
    is dead or its reporter is off), clipped to the region the stage imaged. ``safe`` (from
    :func:`safe_segments`) marks segments inside the image at every timepoint, which need no
    clipping.

    Returns
    -------
    length : ndarray
        Visible µm per segment (``screen.segments`` order).
    u_max : ndarray
        Grown fraction of each segment (what a renderer draws before the image border clips it).
    """
    seg = screen.segments
    width, height = screen.size_um
    reach = screen.reach_um(float(screen.days[t])).astype(np.float32)[seg["cell"]]
    length = seg["length"]
    u_max = np.clip((reach - seg["p0"]) / length, 0.0, 1.0)
    visible = length * u_max
    clip = np.flatnonzero(u_max > 0) if safe is None else np.flatnonzero(~safe & (u_max > 0))
    cells = seg["cell"][clip]
    shift = screen.shift_um[:, t, :].astype(np.float32)[screen.cells["field"].to_numpy()[cells]]
    u0, u1 = clip_fraction(seg["x0"][clip] - shift[:, 0], seg["y0"][clip] - shift[:, 1],
                           seg["x1"][clip] - shift[:, 0], seg["y1"][clip] - shift[:, 1], width, height)
    visible[clip] = length[clip] * np.clip(np.minimum(u1, u_max[clip]) - u0, 0.0, None)
    return visible, u_max


def safe_segments(screen: SimulatedScreen) -> np.ndarray:
    """Segments inside their field's image whatever the stage error of any timepoint (bool)."""
    seg = screen.segments
    width, height = screen.size_um
    worst = np.abs(screen.shift_um).max(axis=1).astype(np.float32)  # (F, 2)
    w = worst[screen.cells["field"].to_numpy()[seg["cell"]]]
    return (
        (np.minimum(seg["x0"], seg["x1"]) >= w[:, 0]) & (np.maximum(seg["x0"], seg["x1"]) < width - w[:, 0])
        & (np.minimum(seg["y0"], seg["y1"]) >= w[:, 1]) & (np.maximum(seg["y0"], seg["y1"]) < height - w[:, 1])
    )


def field_truth(screen: SimulatedScreen) -> pd.DataFrame:
    """Per field and timepoint: neurons, neurite length (µm), nuclei, as the microscope saw them.

    Columns: ``plate, well, site, timepoint, day, n_neurons, neurite_length_um, n_nuclei,
    defocused`` plus ``neurite_length_all_um`` (visible neurite of every neuron, including
    those whose soma lies outside the field), ``blur_px`` and ``shift_x_um, shift_y_um``.
    """
    cells = screen.cells
    n_f = len(screen.fields)
    field = cells["field"].to_numpy()
    seg_cell = screen.segments["cell"]
    seg_field = field[seg_cell]
    safe = safe_segments(screen)
    rows = []
    for t, day in enumerate(screen.days):
        shift = screen.shift_um[:, t, :]
        inside = inside_field(screen, t)
        counted = reporter_visible(cells, day) & inside
        visible, _ = visible_length(screen, t, safe=safe)
        rows.append(
            pd.DataFrame(
                {
                    "field": np.arange(n_f),
                    "timepoint": t + 1,
                    "day": float(day),
                    "n_neurons": np.bincount(field[counted], minlength=n_f),
                    "neurite_length_um": np.bincount(seg_field, visible * counted[seg_cell], minlength=n_f),
                    "n_nuclei": np.bincount(field[alive(cells, day) & inside], minlength=n_f),
                    "defocused": screen.defocused[:, t],
                    "neurite_length_all_um": np.bincount(seg_field, visible, minlength=n_f),
                    "blur_px": screen.blur_px[:, t],
                    "shift_x_um": shift[:, 0],
                    "shift_y_um": shift[:, 1],
                }
            )
        )
    table = pd.concat(rows, ignore_index=True)
    where = screen.fields[["plate", "well", "site"]].iloc[table["field"]].reset_index(drop=True)
    table = pd.concat([where, table.drop(columns="field")], axis=1)
    return table.sort_values(FIELD_KEYS, kind="stable").reset_index(drop=True)


def screen_field_truth(screen: SimulatedScreen) -> pd.DataFrame:
    """:func:`field_truth` of ``screen``, computed once per screen."""
    return screen.derived("field_truth", field_truth)


def truth_row(screen: SimulatedScreen, field: int, t: int) -> dict:
    """Row of the ``fields`` truth of field id ``field`` at timepoint index ``t`` (0-based)."""
    lookup = screen.derived("field_truth_index", _truth_index)
    plate, well, site = screen.fields.loc[field, ["plate", "well", "site"]]
    return screen_field_truth(screen).iloc[lookup[(plate, well, int(site), t + 1)]].to_dict()


def _truth_index(screen: SimulatedScreen) -> dict:
    keys = screen_field_truth(screen)[FIELD_KEYS].itertuples(index=False, name=None)
    return {key: i for i, key in enumerate(keys)}


def inside_field(screen: SimulatedScreen, t: int) -> np.ndarray:
    """Cells whose centre lies inside their field's image at timepoint index ``t`` (bool)."""
    cells = screen.cells
    width, height = screen.size_um
    shift = screen.shift_um[cells["field"].to_numpy(), t, :]
    x = cells["x_um"].to_numpy() - shift[:, 0]
    y = cells["y_um"].to_numpy() - shift[:, 1]
    return (x >= 0) & (x < width) & (y >= 0) & (y < height)


def effect_truth(screen: SimulatedScreen) -> pd.DataFrame:
    """True hazard ratio and neurite factor per patient x compound x concentration (imaged arms)."""
    arms = screen.wells[EFFECT_COLUMNS].drop_duplicates(["patient", "compound", "concentration_um"])
    return arms.sort_values(["patient", "role", "compound", "concentration_um"]).reset_index(drop=True)


def neuron_truth(screen: SimulatedScreen) -> pd.DataFrame:
    """One row per simulated motor neuron (also those in the margin around the field).

    ``death_day`` is ``inf`` for neurons alive at the last day. Extra columns: ``compound,
    concentration_um, role, x_um, y_um`` (field frame), ``hazard_multiplier`` (compound x well x
    edge) and ``in_field`` (soma inside the nominal field).
    """
    cells = screen.cells[screen.cells["is_neuron"]]
    fields = screen.fields.iloc[cells["field"]].reset_index(drop=True)
    width, height = screen.size_um
    death = cells["death_day"].to_numpy()
    x, y = cells["x_um"].to_numpy(), cells["y_um"].to_numpy()
    table = pd.DataFrame(
        {
            "plate": fields["plate"],
            "well": fields["well"],
            "site": fields["site"],
            "neuron": cells["neuron"].to_numpy(),
            "patient": fields["patient"],
            "onset_day": cells["onset_day"].to_numpy(),
            "death_day": np.where(death > screen.days.max(), np.inf, death),
            "compound": fields["compound"],
            "concentration_um": fields["concentration_um"],
            "role": fields["role"],
            "x_um": x,
            "y_um": y,
            "hazard_multiplier": cells["hazard_multiplier"].to_numpy(),
            "in_field": (x >= 0) & (x < width) & (y >= 0) & (y < height),
        }
    )
    return table.sort_values(["plate", "well", "site", "neuron"], kind="stable").reset_index(drop=True)


def layout_truth(screen: SimulatedScreen) -> pd.DataFrame:
    """The plate maps as written (``plate`` plus the ``layout.csv`` columns)."""
    return screen.layout[["plate", *LAYOUT_COLUMNS]].copy()


def well_truth(screen: SimulatedScreen) -> pd.DataFrame:
    """Imaged wells with their random effects (``well_effect`` includes the edge factor)."""
    cols = ["plate", "well", "patient", "compound", "concentration_um", "role", "edge",
            "well_effect", "density_factor"]
    return screen.wells[cols].copy()


def truth_tables(screen: SimulatedScreen) -> dict[str, pd.DataFrame]:
    return {
        "fields": screen_field_truth(screen),
        "effects": effect_truth(screen),
        "neurons": neuron_truth(screen),
        "layout": layout_truth(screen),
        "wells": well_truth(screen),
    }


def simulate_truth(preset: str | Preset = "screen", seed: int = 0) -> dict[str, pd.DataFrame]:
    """Ground truth of a simulated screen without rendering any image.

    Parameters
    ----------
    preset : str or Preset
        Name in :data:`screening.simulate.PRESETS` (``demo``, ``small``, ``screen``, ``null``,
        ``hard``) or a preset object.
    seed : int
        Random seed; the truth equals what ``simulate_screen(outdir, preset=..., seed=...)``
        writes to ``truth/``.

    Returns
    -------
    dict of DataFrame
        ``fields`` (per plate, well, site, timepoint: ``n_neurons``, ``neurite_length_um``,
        ``n_nuclei``, ``defocused``, ...), ``effects`` (per patient x compound x concentration:
        ``true_hr``, ``neurite_factor``), ``neurons`` (one row per motor neuron: ``onset_day``,
        ``death_day``, inf if it survives), ``layout`` (plate maps with a ``plate`` column) and
        ``wells`` (per-well random effects).

    Examples
    --------
    >>> truth = simulate_truth("null", seed=1)
    >>> bool((truth["effects"].query("role == 'treatment'")["true_hr"] == 1).all())
    True
    """
    return truth_tables(build_screen(preset, seed))
