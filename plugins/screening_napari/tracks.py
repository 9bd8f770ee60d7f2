"""Tracked neurons in the well browser: a Tracks layer over the images (registered with the
"registered timepoints" box, as imaged without), deaths marked, and a click on a neuron
shows its history.

Reads ``tracks.parquet``/``neurons.parquet`` of the run folder (written by the scoring
stage) and the registration columns of ``fields.parquet``; analyses nothing itself.
"""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
from qtpy.QtCore import QTimer

from screening_napari import images as img

TRACK_LAYERS = {"tracks": "tracks", "deaths": "deaths", "neurons": "tracked neurons"}
_PICK_RADIUS_UM = 10.0  # a click within this of a neuron's centre selects it


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path) if path.is_file() else pd.DataFrame()
    except Exception:  # noqa: BLE001 -- an unreadable table means no tracks shown, not a crash
        return pd.DataFrame()


def site_shifts(fields: pd.DataFrame) -> np.ndarray:
    """(n_sites, n_timepoints, 2) whole-pixel registration shifts of a well's fields (0 where untrusted)."""
    sites, timepoints, rows = img.field_grid(fields)
    shifts = np.zeros((len(sites), len(timepoints), 2), int)
    for i, s in enumerate(sites):
        for j, t in enumerate(timepoints):
            rec = rows.get((s, t))
            if rec is not None and rec.get("shift_ok") and np.isfinite(rec.get("shift_y_px", np.nan)):
                shifts[i, j] = round(rec["shift_y_px"]), round(rec["shift_x_px"])
    return shifts


def translate(plane: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``plane`` moved by (dy, dx) whole pixels along its last two axes, zeros where nothing came in."""
    out = np.zeros_like(plane)
    h, w = plane.shape[-2:]
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[..., max(dy, 0): h + min(dy, 0), max(dx, 0): w + min(dx, 0)] = \
        plane[..., max(-dy, 0): h + min(-dy, 0), max(-dx, 0): w + min(-dx, 0)]
    return out


def registered_stack(stack: da.Array, fields: pd.DataFrame) -> da.Array:
    """A well's lazy (site, timepoint, y, x) stack with every field moved into its site's first frame.

    A feature at ``p`` in a field's image lands at ``p + shift`` (``shift_y_px, shift_x_px`` of
    ``fields.parquet``, rounded), where tracks draw it. Without registration columns the
    stack is returned as it is.
    """
    if "shift_y_px" not in fields:
        return stack
    shifts = site_shifts(fields)
    stack = stack.rechunk((1, 1, *stack.shape[-2:]))

    def move(block, block_info=None):
        s, t = block_info[0]["chunk-location"][:2]
        return translate(block, *shifts[s, t])

    return stack.map_blocks(move, dtype=stack.dtype)


def site_tracks(tracks: pd.DataFrame, timepoints: list[int], *, registered: bool = True) -> dict[str, np.ndarray]:
    """Layer data of one site's tracks: ``tracks`` (id, t, y, x), ``deaths`` and ``neurons`` (t, y, x), px.

    ``t`` is the index of the timepoint in ``timepoints`` (the viewer's slider); positions
    are registered (the site's first frame) or in each image's own frame.
    """
    index = {int(t): i for i, t in enumerate(timepoints)}
    y, x = ("y_reg_px", "x_reg_px") if registered else ("y_px", "x_px")
    rows = tracks[tracks["timepoint"].astype(int).isin(index)]
    t = rows["timepoint"].astype(int).map(index).to_numpy(float)
    pos = rows[[y, x]].to_numpy(float)
    dead = (rows["status"] == "dead").to_numpy()
    seen = (rows["status"] == "alive").to_numpy()
    return {
        "tracks": np.column_stack([rows["track_id"].to_numpy(float), t, pos]),
        "deaths": np.column_stack([t[dead], pos[dead]]),
        "neurons": np.column_stack([t[seen], pos[seen]]),
        "neuron_ids": rows["track_id"].to_numpy()[seen],
    }


def history(tracks: pd.DataFrame, neurons: pd.DataFrame, track_id: int) -> str:
    """One neuron's record: its fate and each timepoint's status, area and reporter level (and whether dim)."""
    mine = tracks[tracks["track_id"] == track_id].sort_values("timepoint")
    fate = neurons[neurons["track_id"] == track_id]
    head = f"neuron {track_id}"
    if len(fate):
        n = fate.iloc[0]
        head += (f": died between timepoints {int(n['last_timepoint'])} and {int(n['death_timepoint'])}"
                 if n["died"] else f": censored ({n['censor_reason']}) after timepoint {int(n['last_timepoint'])}")
    lines = [
        f"t{int(r.timepoint)} day {r.day:g}: {r.status}"
        + (f", {r.area_px:.0f} px, reporter {r.reporter_level:.3g}" if r.status == "alive" else "")
        + (" (dim: reporter under the cut-off)" if bool(getattr(r, "dim", False)) else "")
        for r in mine.itertuples()
    ]
    return "\n".join([head, *lines])


class TrackView:
    """The tracks, deaths and clickable neurons of the shown site, kept in step with the sliders.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    label : QLabel
        Where a clicked neuron's history is written.
    """

    def __init__(self, viewer, label):
        self.viewer, self.label = viewer, label
        self.register = False  # True: every timepoint moved into its site's first frame
        self.tracks = self.neurons = pd.DataFrame()
        self._shown: tuple | None = None
        self._ids = np.empty(0)
        self._site_tracks = pd.DataFrame()
        self._site_neurons = pd.DataFrame()
        self._px: float | None = None  # µm per pixel of the shown site; None: the run recorded none

    def load(self, run_dir) -> None:
        """Read the run folder's tracks (none shown when the run has none)."""
        self.tracks = _read(Path(run_dir) / "tracks.parquet")
        self.neurons = _read(Path(run_dir) / "neurons.parquet")
        self._shown = None

    @property
    def available(self) -> bool:
        return not self.tracks.empty

    def registered(self, stack: da.Array, fields: pd.DataFrame) -> da.Array:
        """The stack as shown: registered when tracks exist and :attr:`register` is on."""
        return registered_stack(stack, fields) if self.available and self.register else stack

    def show(self, plate: str, well: str, site: int, timepoints: list[int], px: float | None) -> None:
        """Draw the site's layers (only when the site or the frame changed); ``px``: µm per pixel, or None (px)."""
        key = (plate, well, site, tuple(timepoints), self.register, px)
        if not self.available or key == self._shown:
            return
        self._shown, self._px = key, px
        where = (self.tracks["plate"] == plate) & (self.tracks["well"] == well) & (self.tracks["site"] == site)
        self._site_tracks = self.tracks[where]
        wn = (self.neurons["plate"] == plate) & (self.neurons["well"] == well) & (self.neurons["site"] == site)
        self._site_neurons = self.neurons[wn]
        data = site_tracks(self._site_tracks, timepoints, registered=self.register)
        self._ids = data["neuron_ids"]
        # Drawn on the next turn of the event loop: adding layers from inside the dims event
        # that called us makes napari's layer list paint rows it has not sized yet.
        scale, units = img.layer_geometry(px)  # (timepoint, y, x): the image layers' last three axes
        QTimer.singleShot(0, lambda: self._draw(data, scale[1:], units[1:]))

    def _draw(self, data: dict, scale, units) -> None:
        for kind in ("tracks", "deaths", "neurons"):
            self._layer(kind, data[kind], scale, units)

    def _layer(self, kind: str, data: np.ndarray, scale, units) -> None:
        """Update a layer in place (removing a layer napari is still drawing crashes its layer list)."""
        name = TRACK_LAYERS[kind]
        data = data if kind == "tracks" else data.reshape(-1, 3)
        if name in self.viewer.layers:
            layer = self.viewer.layers[name]
            if len(data) or kind != "tracks":  # an empty Tracks layer is not allowed: hide the old one
                layer.data = data
                layer.scale, layer.units = scale, units
            layer.visible = bool(len(data)) or kind != "tracks"
            return
        if kind == "tracks":
            if len(data):
                self.viewer.add_tracks(data, name=name, scale=scale, units=units, tail_length=10,
                                       blending="translucent")
        elif kind == "deaths":
            self.viewer.add_points(data, name=name, scale=scale, units=units, symbol="x", size=12,
                                   face_color="red", border_color="red")
        else:
            layer = self.viewer.add_points(data, name=name, scale=scale, units=units, size=8, opacity=0.4,
                                           face_color="transparent", border_color="yellow")
            layer.mouse_drag_callbacks.append(self._on_click)

    def neuron_at(self, t_index: int, y_px: float, x_px: float, px: float | None) -> int | None:
        """Track id of the neuron shown nearest (y, x) at that timepoint, within the pick radius.

        ``px`` is µm per pixel; None (a run without a pixel size) picks the nearest neuron at any distance.
        """
        layer = self.viewer.layers[TRACK_LAYERS["neurons"]] if TRACK_LAYERS["neurons"] in self.viewer.layers else None
        if layer is None or not len(layer.data):
            return None
        pts = np.asarray(layer.data)
        here = np.flatnonzero(np.round(pts[:, 0]) == t_index)
        if not here.size:
            return None
        d = np.hypot(pts[here, 1] - y_px, pts[here, 2] - x_px)
        best = here[np.argmin(d)]
        return int(self._ids[best]) if px is None or d.min() * px <= _PICK_RADIUS_UM else None

    def select(self, track_id: int) -> str:
        """Show one neuron's history in the label; returns the text."""
        text = history(self._site_tracks, self._site_neurons, track_id)
        self.label.setText(text)
        return text

    def _on_click(self, layer, event) -> None:
        t, y, x = layer.world_to_data(event.position)[-3:]
        found = self.neuron_at(int(round(t)), y, x, self._px)
        if found is not None:
            self.select(found)
