"""Matplotlib figures of the report, rendered to inline SVG.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot, no
global backend state), so the report can be written from a worker thread.
SVG keeps text as text (``svg.fonttype = 'none'``): small, sharp when zoomed,
and searchable in the browser.
"""

from __future__ import annotations

import io
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps, rc_context
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

from screening.io.atomic import write_atomic
from screening.io.wells import well_row_col
from screening.plate import is_vehicle

VEHICLE_COLOR = "#6b7280"
CONTROL_COLOR = "#1f6fb4"
HIT_COLOR = "#1a7f37"
POOLED_COLOR = "#12263f"
HARM_COLOR = "#b42318"
OTHER_COLOR = "#9aa3ad"
NO_DATA_COLOR = "#b8bec6"  # wells without data: darker than "0 failed" (white), never a colour of the scale
HR_LIMITS = (0.02, 50.0)  # forest/dose axes are clipped here: beyond it a ratio is not a measurement

STYLE = {
    "svg.fonttype": "none",
    "font.size": 9,
    "font.family": "DejaVu Sans",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
}

_counter = iter(range(10**9))


@contextmanager
def style(salt: str | None = None):
    """Report style; ``salt`` makes the SVG's internal ids unique within the page."""
    with rc_context({**STYLE, "svg.hashsalt": salt or f"fig{next(_counter)}"}):
        yield


def to_svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no metadata)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    # The RDF metadata block only names schemas; drop it so no URL appears in the page.
    return re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)


@dataclass
class FigureSink:
    """Collects the report's figures by name, so each is also saved as SVG and PNG files."""

    figures: dict[str, Figure] = field(default_factory=dict)

    def svg(self, fig: Figure, name: str) -> str:
        """Keep ``fig`` under ``name`` and return it as inline SVG (:func:`to_svg`)."""
        self.figures[_file_name(name)] = fig
        return to_svg(fig)

    def write(self, folder: Path, *, dpi: int = 150) -> list[Path]:
        """Write every figure as ``<name>.svg`` and ``<name>.png`` into ``folder`` (atomically)."""
        written = []
        for name, fig in self.figures.items():
            for fmt in ("svg", "png"):
                def save(tmp, fig=fig, fmt=fmt):
                    fig.savefig(tmp, format=fmt, dpi=dpi, metadata={"Date": None} if fmt == "svg" else None)
                written.append(write_atomic(Path(folder) / f"{name}.{fmt}", save))
        return written


def _file_name(name: str) -> str:
    """A figure name safe as a file name on every system."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "figure"


def figure_svg(fig: Figure, name: str, sink: FigureSink | None) -> str:
    """Inline SVG of ``fig``, also kept by ``sink`` under ``name`` when there is one."""
    return sink.svg(fig, name) if sink is not None else to_svg(fig)


def to_png_array(fig: Figure, dpi: int = 60) -> np.ndarray:
    """RGBA pixels of the figure (for tests that a figure is not blank)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


# Candidate ratio ticks, coarse to fine: an axis takes the coarsest set giving it >= 3 ticks.
RATIO_TICK_SETS = (
    (0.01, 0.1, 1, 10, 100),
    (0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50),
    (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10),
    (0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 1.75, 2),
    (0.8, 0.85, 0.9, 0.95, 1, 1.05, 1.1, 1.15, 1.2, 1.25),
)


def _ratio_axis(axis, lo: float, hi: float) -> None:
    """Log-scaled ratio axis labelled with round ratios (at least 3 where the range allows)."""
    for candidates in RATIO_TICK_SETS:
        ticks = [t for t in candidates if lo <= t <= hi]
        if len(ticks) >= 3:
            break
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    axis.set_minor_locator(NullLocator())


def _hr_axis(ax, lo: float, hi: float) -> None:
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.axvline(1.0, color="#333", lw=0.8, zorder=0)
    _ratio_axis(ax.xaxis, lo, hi)


def _hr_limits(values, floor: tuple[float, float] = (0.5, 2.0)) -> tuple[float, float]:
    """Axis limits of ratios: the data with a margin, at least ``floor``, within :data:`HR_LIMITS`."""
    v = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), float)
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) == 0:
        return floor[0] / 1.15, floor[1] * 1.15
    lo = max(min(v.min(), floor[0]) / 1.15, HR_LIMITS[0])
    hi = min(max(v.max(), floor[1]) * 1.15, HR_LIMITS[1])
    return lo, hi


def _conc_colors(concentrations) -> dict:
    """Darker orange for higher concentrations."""
    concs = sorted(set(float(c) for c in concentrations))
    shades = np.linspace(0.45, 0.9, len(concs)) if len(concs) > 1 else [0.75]
    return {c: colormaps["Oranges"](s) for c, s in zip(concs, shades, strict=True)}


def _band(ax, g: pd.DataFrame, color, label, ls="-") -> None:
    g = g.sort_values("day")
    ax.plot(g["day"], g["mean"], color=color, lw=1.6, ls=ls, marker="o", ms=2.5, label=label)
    ok = g["ci_low"].notna() & g["ci_high"].notna()
    if ok.any():
        ax.fill_between(g.loc[ok, "day"], g.loc[ok, "ci_low"], g.loc[ok, "ci_high"], color=color,
                        alpha=0.18, lw=0)


def survival_figure(
    curves: pd.DataFrame, compounds: list[str], patients: list[str], *, baseline_role: str = "vehicle",
    positive: set[str] | None = None,
) -> Figure:
    """Small multiples: one row per compound, one column per patient.

    Each panel shows the patient's vehicle wells (grey), positive control
    (blue, dashed) and the compound at each concentration (oranges, darker is
    higher), as the mean fraction of day-0 motor neurons alive with its band.

    Parameters
    ----------
    curves : DataFrame
        :func:`screening.report.summaries.arm_curves` output.
    compounds, patients : list of str
        Rows and columns, in order.
    positive : set of str, optional
        Compound names drawn as the positive control (default: role
        ``positive_control``).
    """

    vehicle = is_vehicle(curves["role"].astype(str), baseline_role)
    pos = curves["role"].eq("positive_control")
    if positive:
        pos |= curves["compound"].isin(positive)
    nrows, ncols = max(len(compounds), 1), max(len(patients), 1)
    fig = Figure(figsize=(2.9 * ncols + 0.6, 2.0 * nrows + 0.5), layout="constrained")
    axes = np.atleast_2d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False))
    # The axis follows the means; a wide band (few neurons, few wells) is clipped, not the scale.
    ymax = np.nanmax(np.r_[curves["mean"].to_numpy(float), 1.0]) * 1.1
    for i, compound in enumerate(compounds):
        for j, patient in enumerate(patients):
            ax = axes[i, j]
            mine = curves["patient"].eq(patient)
            veh = curves[mine & vehicle]
            if len(veh):
                _band(ax, veh.groupby("day", as_index=False)[["mean", "ci_low", "ci_high"]].mean(),
                      VEHICLE_COLOR, "vehicle")
            pc = curves[mine & pos]
            for name, g in pc.groupby("compound"):
                if name != compound:
                    _band(ax, g.groupby("day", as_index=False)[["mean", "ci_low", "ci_high"]].mean(),
                          CONTROL_COLOR, f"{name} (+ctrl)", ls="--")
            arm = curves[mine & curves["compound"].eq(compound) & ~vehicle]
            colors = _conc_colors(arm["concentration_um"]) if len(arm) else {}
            for c, g in arm.groupby("concentration_um"):
                color = CONTROL_COLOR if pos[g.index].any() else colors[float(c)]
                _band(ax, g, color, f"{compound} {c:g} µM")
            if arm.empty:
                ax.text(0.5, 0.5, "no usable wells", ha="center", va="center", transform=ax.transAxes,
                        color=OTHER_COLOR)
            ax.set_title(f"{compound} · {patient}", loc="left")
            ax.set_ylim(0, min(max(ymax, 1.05), 3.0))
            ax.axhline(1.0, color="#ccc", lw=0.6, zorder=0)
            if j == 0:
                ax.set_ylabel("alive / day 0")
            if i == nrows - 1:
                ax.set_xlabel("day")
            if j == ncols - 1 and ax.get_legend_handles_labels()[0]:
                ax.legend(loc="lower left", fontsize=7, handlelength=1.6)
    return fig


def plate_grid(wells, values, shape: tuple[int, int]) -> np.ndarray:
    """Values laid out on the plate (NaN where no well)."""
    grid = np.full(shape, np.nan)
    for w, v in zip(wells, values, strict=True):
        r, c = well_row_col(str(w))
        if 0 <= r < shape[0] and 0 <= c < shape[1] and pd.notna(v):  # counts are nullable integers
            grid[r, c] = v
    return grid


def _row_label(i: int) -> str:
    return chr(65 + i) if i < 26 else chr(64 + i // 26) + chr(65 + i % 26)


def plate_heatmaps(panels: list[tuple[str, pd.DataFrame, str]], plate: str, shape: tuple[int, int]) -> Figure:
    """One plate's heatmaps side by side.

    Parameters
    ----------
    panels : list of (title, table, kind)
        ``table`` has ``well`` and ``value``; ``kind`` is ``count`` (shared
        viridis scale across count panels) or ``bad`` (reds from 0).
    plate : str
    shape : (rows, columns)
    """
    counts = [t["value"].to_numpy(float) for _, t, k in panels if k == "count"]
    allc = np.concatenate(counts) if counts else np.array([])
    allc = allc[np.isfinite(allc)]
    count_norm = Normalize(0, max(float(allc.max()) if len(allc) else 1.0, 1.0))
    width = 0.32 * min(shape[1], 24) + 1.3
    height = 0.3 * min(shape[0], 16) + 0.9
    # Wide plates (384 wells and up) stack their panels so each stays readable.
    stack = shape[1] > 12
    fig = Figure(figsize=(width, height * len(panels)) if stack else (width * len(panels), height),
                 layout="constrained")
    grid = (len(panels), 1) if stack else (1, len(panels))
    axes = fig.subplots(*grid, squeeze=False).ravel()
    for ax, (title, tab, kind) in zip(axes, panels, strict=True):
        grid = plate_grid(tab["well"], tab["value"], shape)
        if kind == "count":
            cmap, norm = colormaps["viridis"].with_extremes(bad=NO_DATA_COLOR), count_norm
        else:
            top = np.nanmax(grid) if np.isfinite(grid).any() else 1
            cmap, norm = colormaps["Reds"].with_extremes(bad=NO_DATA_COLOR), Normalize(0, max(top, 1))
        masked = np.ma.masked_invalid(grid)
        im = ax.imshow(masked, cmap=cmap, norm=norm, aspect="equal")
        # "No data" wells are also hatched, so they read apart from any value in print and for colour-blind readers.
        for r, c in zip(*np.nonzero(np.ma.getmaskarray(masked)), strict=True):
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, hatch="///", edgecolor="white", lw=0))
        step = 1 if shape[1] <= 24 else 2
        size = 8 if shape[1] <= 12 else 6.5
        ax.set_xticks(range(0, shape[1], step), [str(c + 1) for c in range(0, shape[1], step)], fontsize=size)
        ax.set_yticks(range(0, shape[0], step), [_row_label(r) for r in range(0, shape[0], step)], fontsize=size)
        ax.tick_params(length=0)
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
        ax.set_title(f"{plate}: {title}", loc="left", fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02)
    return fig


def forest_figure(compound: str, scores: pd.DataFrame, pooled: pd.DataFrame) -> Figure:
    """Per-patient hazard ratios with CIs and the pooled estimate (diamond) of one compound.

    Parameters
    ----------
    scores : DataFrame
        This compound's rows of ``scores.csv``.
    pooled : DataFrame
        This compound's rows of ``ranking.csv``.
    """
    rows = []  # (label, hr, lo, hi, kind)
    concs = sorted(set(scores["concentration_um"].dropna()) | set(pooled["concentration_um"].dropna()))
    for c in concs:
        s = scores[scores["concentration_um"] == c].sort_values("patient")
        for r in s.itertuples():
            rows.append((f"{r.patient} · {c:g} µM", r.hazard_ratio, r.hr_ci_low, r.hr_ci_high, "patient"))
        for r in pooled[pooled["concentration_um"] == c].itertuples():
            rows.append((f"pooled · {c:g} µM", r.hazard_ratio, r.hr_ci_low, r.hr_ci_high, "pooled"))
    n = max(len(rows), 1)
    fig = Figure(figsize=(4.2, 0.55 + 0.22 * n), layout="constrained")
    ax = fig.subplots()
    lo, hi = _hr_limits([v for r in rows for v in r[1:4]])
    _hr_axis(ax, lo, hi)
    def clip(v):
        return float(np.clip(v, lo, hi))

    for y, (_, hr, low, high, kind) in enumerate(rows):
        yy = n - 1 - y
        color = "#333" if kind == "patient" else POOLED_COLOR
        if np.isfinite(low) and np.isfinite(high):
            ax.plot([clip(low), clip(high)], [yy, yy], color=color, lw=1.2)
            # An interval cut at the axis ends in an arrow: it goes on beyond what is drawn.
            if low < lo:
                ax.plot([lo], [yy], marker="<", color=color, ms=5, clip_on=False, zorder=4)
            if high > hi:
                ax.plot([hi], [yy], marker=">", color=color, ms=5, clip_on=False, zorder=4)
        if not np.isfinite(hr):
            ax.text(np.sqrt(lo * hi), yy, "not estimable", ha="center", va="center", fontsize=7, color=OTHER_COLOR)
            continue
        if kind == "pooled":
            x = clip(hr)
            xl = clip(low) if np.isfinite(low) else x / 1.1
            xh = clip(high) if np.isfinite(high) else x * 1.1
            ax.fill([xl, x, xh, x], [yy, yy + 0.3, yy, yy - 0.3], color=POOLED_COLOR, zorder=3)
        else:
            ax.plot([clip(hr)], [yy], "s", color="#333", ms=4, zorder=3)
    ax.set_yticks(range(n), [r[0] for r in rows][::-1] if rows else [""])
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("hazard ratio vs vehicle (< 1: protects)")
    ax.set_title(compound, loc="left")
    return fig


def neurite_figure(table: pd.DataFrame, *, fdr_q: float) -> Figure:
    """Pooled hazard ratio against neurite ratio, one point per compound × concentration.

    Parameters
    ----------
    table : DataFrame
        ``compound, concentration_um, hazard_ratio, q_value, neurite_ratio``.
    """
    fig = Figure(figsize=(5.2, 3.4), layout="constrained")
    ax = fig.subplots()
    data = table.dropna(subset=["hazard_ratio", "neurite_ratio"])
    data = data[(data["hazard_ratio"] > 0) & (data["neurite_ratio"] > 0)]
    lo, hi = _hr_limits(data["hazard_ratio"])
    _hr_axis(ax, lo, hi)
    ax.set_yscale("log")
    ylo, yhi = _hr_limits(data["neurite_ratio"], floor=(0.8, 1.25))
    ax.set_ylim(ylo, yhi)
    _ratio_axis(ax.yaxis, ylo, yhi)
    ax.axhline(1.0, color="#333", lw=0.8, zorder=0)
    q = pd.to_numeric(data["q_value"], errors="coerce")
    hit = (q < fdr_q).to_numpy()
    colors = np.where(hit & (data["hazard_ratio"] < 1), HIT_COLOR, np.where(hit, HARM_COLOR, OTHER_COLOR))
    ax.scatter(np.clip(data["hazard_ratio"], lo, hi), data["neurite_ratio"], c=list(colors), s=28, zorder=3)
    order = data.assign(_q=q).sort_values(["_q", "hazard_ratio"]).head(8)
    for r in order.itertuples():
        ax.annotate(f"{r.compound} {r.concentration_um:g}", (np.clip(r.hazard_ratio, lo, hi), r.neurite_ratio),
                    xytext=(4, 3), textcoords="offset points", fontsize=7)
    ax.set_xlabel("pooled hazard ratio (< 1: fewer deaths)")
    ax.set_ylabel("neurite length / neuron vs vehicle")
    return fig


def dose_figure(compound: str, scores: pd.DataFrame, pooled: pd.DataFrame, title_note: str = "") -> Figure:
    """Hazard ratio against concentration: per patient (faint) and pooled (with CI)."""
    fig = Figure(figsize=(3.6, 2.8), layout="constrained")
    ax = fig.subplots()
    pooled = pooled[pooled["concentration_um"] > 0].sort_values("concentration_um")
    scores = scores[scores["concentration_um"] > 0]
    lo, hi = _hr_limits(pd.concat([scores["hazard_ratio"], pooled["hr_ci_low"], pooled["hr_ci_high"],
                                   pooled["hazard_ratio"]]))
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    ax.axhline(1.0, color="#333", lw=0.8, zorder=0)
    ax.set_xscale("log")
    for _, g in scores.groupby("patient"):
        g = g.sort_values("concentration_um")
        ax.plot(g["concentration_um"], np.clip(g["hazard_ratio"], lo, hi), "-o", color=OTHER_COLOR, lw=0.8,
                ms=3, alpha=0.8)
    if len(pooled):
        hr = np.clip(pooled["hazard_ratio"].to_numpy(float), lo, hi)
        err_lo = np.clip(hr - np.clip(pooled["hr_ci_low"].to_numpy(float), lo, hi), 0, None)
        err_hi = np.clip(np.clip(pooled["hr_ci_high"].to_numpy(float), lo, hi) - hr, 0, None)
        ax.errorbar(pooled["concentration_um"], hr, yerr=[np.nan_to_num(err_lo), np.nan_to_num(err_hi)],
                    fmt="-D", color=POOLED_COLOR, ms=5, lw=1.6, capsize=3, label="pooled")
    ax.plot([], [], "-o", color=OTHER_COLOR, ms=3, lw=0.8, label="per patient")
    ax.legend(loc="best")
    _ratio_axis(ax.yaxis, lo, hi)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.set_xlabel("concentration (µM)")
    ax.set_ylabel("hazard ratio")
    ax.set_title(compound + (f"\n{title_note}" if title_note else ""), loc="left")
    return fig


__all__ = [
    "FigureSink", "dose_figure", "figure_svg", "forest_figure", "neurite_figure", "plate_grid", "plate_heatmaps",
    "style", "survival_figure", "to_png_array", "to_svg",
]
