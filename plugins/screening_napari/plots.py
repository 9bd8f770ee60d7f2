"""Matplotlib views inside Qt: the plate heatmap and a well's counts over time.

Drawing only: the values come from :class:`screening_napari.run.QCRun`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

NO_VALUE = "#4a4d54"  # wells without a value (empty, no usable field)
#: Role -> (marker, colour, legend text) drawn on its wells; treatment wells are unmarked.
ROLE_STYLES = {
    "vehicle": ("o", "white", "vehicle"),
    "positive_control": ("+", "white", "positive control"),
    "empty": ("s", "#9a9da3", "empty"),
}


def row_letters(row: int) -> str:
    """Zero-based plate row -> letters (0 -> A, 25 -> Z, 26 -> AA), as in well names."""
    letters = ""
    row += 1
    while row:
        row, rem = divmod(row - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def well_name(row: int, col: int) -> str:
    """Zero-based (row, column) -> ``A01``-style well name (inverse of ``well_row_col``)."""
    return f"{row_letters(row)}{col + 1:02d}"


def _style(fig: Figure) -> None:
    fig.patch.set_facecolor("#262930")  # napari's dark theme background


def _dark_axes(ax) -> None:
    ax.set_facecolor("#262930")
    for spine in ax.spines.values():
        spine.set_color("#8a8d93")
    ax.tick_params(colors="#d0d2d6", labelsize=7)
    ax.xaxis.label.set_color("#d0d2d6")
    ax.yaxis.label.set_color("#d0d2d6")
    ax.title.set_color("#d0d2d6")


class PlateView(QWidget):
    """A plate heatmap (rows × columns) with well labels, role markers, flags and a colour bar.

    Clicking a well emits :attr:`well_clicked` with its name (``B03``).
    """

    well_clicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.figure = Figure(figsize=(5.0, 3.4), dpi=90)
        _style(self.figure)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumHeight(240)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.grid = np.zeros((0, 0))
        self.wells: set[str] = set()
        self._highlight = None
        self._background = None
        self.canvas.mpl_connect("button_press_event", self._on_click)
        self.canvas.mpl_connect("draw_event", self._on_draw)
        self.canvas.mpl_connect("motion_notify_event", self._on_move)
        self.roles: dict[str, str] = {}

    def show_plate(
        self,
        grid: np.ndarray,
        *,
        roles: dict[str, str],
        flagged: set[str],
        label: str,
        title: str = "",
        cmap: str = "viridis",
        ratio: bool = False,
    ) -> None:
        """Draw ``grid`` (rows, columns; NaN = no value) with roles and flags marked on the wells.

        ``ratio`` draws a ratio (a hazard ratio) on a log scale centred on 1, with a
        diverging ``cmap``: 0.5 and 2 are equally far from neutral, as in the report.
        """
        self.grid = np.asarray(grid, float)
        self.wells = set(roles)
        self.roles = dict(roles)
        n_rows, n_cols = self.grid.shape
        self.figure.clear()
        ax = self.figure.add_axes((0.07, 0.17, 0.74, 0.68))
        cax = self.figure.add_axes((0.84, 0.17, 0.025, 0.68))
        image = ax.imshow(self.grid, cmap=self._cmap(cmap), norm=_norm(self.grid, ratio), aspect="equal")
        bar = self.figure.colorbar(image, cax=cax)
        bar.set_label(label, color="#d0d2d6", fontsize=7)
        bar.ax.tick_params(colors="#d0d2d6", labelsize=7)
        ax.set_xticks(range(n_cols), [str(c + 1) for c in range(n_cols)])
        ax.set_yticks(range(n_rows), [row_letters(r) for r in range(n_rows)])
        ax.xaxis.tick_top()
        small = max(n_rows, n_cols) > 12
        fontsize = 5 if small else 7
        size = 14 if small else 40
        # one scatter artist per role (not one text per well): redraws stay fast on 384 wells
        for role, (marker, colour, name) in ROLE_STYLES.items():
            pos = np.array([_row_col(w) for w, r in roles.items() if r == role]).reshape(-1, 2)
            if len(pos):
                if marker in ("+", "x"):  # line markers have no face: colour them as a whole
                    style = {"c": colour}
                else:
                    style = {"facecolors": "none", "edgecolors": colour}
                ax.scatter(pos[:, 1], pos[:, 0], s=size, marker=marker, label=name, linewidths=1.2, **style)
        pos = np.array([_row_col(w) for w in flagged]).reshape(-1, 2)
        if len(pos):
            ax.scatter(pos[:, 1], pos[:, 0], s=size * 2.5, marker="x", color="#ff4040", linewidths=1.5,
                       label="flagged")
        ax.set_xlim(-0.5, n_cols - 0.5)
        ax.set_ylim(n_rows - 0.5, -0.5)
        _dark_axes(ax)
        ax.tick_params(labelsize=fontsize)
        self.figure.suptitle(title, fontsize=8, color="#d0d2d6", y=0.985)
        handles, _ = ax.get_legend_handles_labels()
        handles.append(Patch(facecolor=NO_VALUE, edgecolor="#8a8d93", label="no value"))
        if handles:
            legend = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.02), ncol=4, fontsize=6.5, frameon=False,
                               handletextpad=0.2, columnspacing=0.8)
            for text in legend.get_texts():
                text.set_color("#d0d2d6")
        self._ax = ax
        self._highlight = None
        self._background = None
        self.canvas.draw_idle()

    @staticmethod
    def _cmap(name: str):
        import matplotlib

        # Wells without a value (empty, no usable field) in grey.
        return matplotlib.colormaps[name].with_extremes(bad=NO_VALUE)

    def highlight(self, well: str | None) -> None:
        """Outline one well (the one shown in the viewer).

        Blitted over the last full drawing, so moving it does not redraw a 384-well plate.
        """
        if not hasattr(self, "_ax"):
            return
        if self._highlight is None:
            self._highlight = self._ax.add_patch(
                Rectangle((0, 0), 1, 1, fill=False, edgecolor="#ff9900", lw=2.0, animated=True, visible=False)
            )
        if well:
            r, c = _row_col(well)
            self._highlight.set_xy((c - 0.5, r - 0.5))
        self._highlight.set_visible(bool(well))
        self._blit()

    def _on_draw(self, _event) -> None:
        """After a full drawing: keep it as the background the highlight is blitted on."""
        self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        if self._highlight is not None and self._highlight.get_visible():
            self._ax.draw_artist(self._highlight)

    def _blit(self) -> None:
        if self._background is None:
            self.canvas.draw_idle()  # _on_draw draws the highlight once the canvas is drawn
            return
        self.canvas.restore_region(self._background)
        if self._highlight.get_visible():
            self._ax.draw_artist(self._highlight)
        self.canvas.blit(self.figure.bbox)

    def _well_at(self, event) -> str | None:
        if event.inaxes is None or event.xdata is None or event.inaxes is not getattr(self, "_ax", None):
            return None
        r, c = round(event.ydata), round(event.xdata)
        if 0 <= r < self.grid.shape[0] and 0 <= c < self.grid.shape[1]:
            return well_name(r, c)
        return None

    def _on_move(self, event) -> None:
        """Tooltip naming the well under the mouse, its role and its value."""
        well = self._well_at(event)
        if well is None:
            self.canvas.setToolTip("")
            return
        r, c = _row_col(well)
        value = self.grid[r, c]
        role = self.roles.get(well, "not on the plate map")
        self.canvas.setToolTip(f"{well} ({role}): " + (f"{value:.3g}" if np.isfinite(value) else "no value"))

    def _on_click(self, event) -> None:
        well = self._well_at(event)
        if well is not None:
            self.well_clicked.emit(well)


def _norm(grid: np.ndarray, ratio: bool):
    """Colour scale of a plate grid: the values' range, or for ratios a log scale symmetric about 1."""
    finite = grid[np.isfinite(grid)]
    if ratio:
        positive = finite[finite > 0]
        reach = float(np.abs(np.log(positive)).max()) if positive.size else 0.0
        reach = max(reach, np.log(1.25))  # a near-neutral plate is not stretched to full colour
        return LogNorm(np.exp(-reach), np.exp(reach))
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return Normalize(vmin, vmax if vmax > vmin else vmin + 1)


def _row_col(well: str) -> tuple[int, int]:
    from screening.io.wells import well_row_col

    return well_row_col(well)


class CountsPlot(QWidget):
    """Motor neurons over time for one well: the well total and each site's own series."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.figure = Figure(figsize=(4.0, 1.9), dpi=90)
        _style(self.figure)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(150)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self._marker = None
        self.ax = None

    def show_counts(
        self, totals: pd.DataFrame, sites: pd.DataFrame, title: str = "", survival: pd.DataFrame | None = None
    ) -> None:
        """Draw the well total (thick) and per-site counts (thin; hollow where not usable), and
        ``survival`` (``day, survival``: fraction of the first day's neurons, sites usable at both days)
        on the right-hand axis."""
        self.figure.clear()
        ax = self.figure.add_axes((0.14, 0.24, 0.82, 0.62))
        for site, series in sites.sort_values("day").groupby("site"):
            ax.plot(series["day"], series["n_neurons"], color="#7fb3d5", lw=0.8, alpha=0.8)
            bad = series[~series["usable"]]
            ax.plot(bad["day"], bad["n_neurons"], "o", mfc="none", mec="#ff4040", ms=4)
        if len(totals):
            ax.plot(totals["day"], totals["n_neurons"], "-o", color="#f5b041", lw=2, ms=3, label="well")
        ax.set_xlabel("day", fontsize=7)
        ax.set_ylabel("motor neurons", fontsize=7)
        ax.set_title(title, fontsize=8)
        _dark_axes(ax)
        self.survival_ax = None
        if survival is not None and survival["survival"].notna().any():
            right = ax.twinx()
            s = survival.dropna(subset=["survival"]).sort_values("day")
            right.plot(s["day"], s["survival"], "--s", color="#58d68d", lw=1.4, ms=3, label="survival")
            right.set_ylim(0, max(1.05, float(s["survival"].max()) * 1.05))
            right.set_ylabel("surviving fraction", fontsize=7, color="#58d68d")
            _dark_axes(right)
            right.yaxis.label.set_color("#58d68d")
            self.survival_ax = right
        self.ax = ax
        self._marker = None
        self.canvas.draw_idle()

    def mark_day(self, day: float | None) -> None:
        """A vertical line at the day shown in the viewer."""
        if self.ax is None:
            return
        if self._marker is not None:
            self._marker.remove()
            self._marker = None
        if day is not None:
            self._marker = self.ax.axvline(day, color="#d0d2d6", lw=0.8, ls="--")
        self.canvas.draw_idle()


__all__ = ["CountsPlot", "PlateView", "row_letters", "well_name"]
