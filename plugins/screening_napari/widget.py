"""The "Run QC" dock widget: open a run, plate heatmap, well browser, flags, re-score, tuning.

Thin over the library: tables and metrics come from :class:`~screening_napari.run.QCRun`,
images and overlays from :mod:`screening_napari.images` (which calls
``screening.measure.field.measure_field``), re-scoring from
:func:`screening.run.pipeline.score_run`.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from qtpy.QtCore import QEvent, Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from screening.config.segmentation import SegmentationConfig
from screening_napari import images as img
from screening_napari.plots import CountsPlot, PlateView
from screening_napari.run import DAY_METRICS, METRICS, QCRun
from screening_napari.tracks import TrackView
from screening_napari.tuning import SegmentationTuner, save_tuned_config

RANKING_COLUMNS = ["rank", "compound", "concentration_um", "hazard_ratio", "hr_ci_low", "hr_ci_high",
                   "q_value", "n_patients", "responder_fraction"]
AXIS_LABELS = ("site", "timepoint", "y", "x")
#: ranking.csv column -> header a reader understands.
RANKING_HEADERS = {
    "rank": "Rank", "compound": "Compound", "concentration_um": "µM", "hazard_ratio": "HR",
    "hr_ci_low": "95% CI low", "hr_ci_high": "95% CI high", "p_value": "p", "q_value": "q",
    "n_patients": "Patients", "responder_fraction": "Responders", "call": "Call",
}
#: Status note for a run that recorded no pixel size (its layers are drawn in px).
NO_PIXEL_SIZE = "the run recorded no pixel size: layers in px, not µm (rerun with pixel_size_um in the config)"


def _scale_bar(viewer):
    """The viewer's scale-bar overlay: ``viewer.canvas.overlays`` from napari 0.9 on (where
    ``viewer.scale_bar`` is deprecated), ``viewer.scale_bar`` before."""
    canvas = getattr(viewer, "canvas", None)
    overlays = getattr(canvas, "overlays", None)
    if overlays is not None and "scale_bar" in overlays:
        return overlays["scale_bar"]
    return viewer.scale_bar


def _row(*widgets) -> QHBoxLayout:
    layout = QHBoxLayout()
    for w in widgets:
        layout.addWidget(w) if isinstance(w, QWidget) else layout.addLayout(w)
    return layout


class QCWidget(QWidget):
    """Visual QC of one run folder in a napari viewer.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer

    Notes
    -----
    Images appear as soon as a well is chosen; each shown field is segmented
    once in a background thread and its overlays drawn when ready, so the time
    slider and the well list never wait for segmentation.
    """

    _segmented = Signal()  # emitted from the segmentation thread; handled on the GUI thread

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.cache = img.FieldCache()  # this widget's images and segmentations, cleared when it closes
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="screening-segment")
        self._pending: dict[tuple, object] = {}
        self._pending_lock = threading.Lock()
        self._segmented.connect(self._refresh_overlays)
        executor, cache = self._executor, self.cache  # not self: the slot must outlive the Python wrapper
        self.destroyed.connect(lambda *_: (executor.shutdown(wait=False, cancel_futures=True), cache.clear()))
        self.run: QCRun | None = None
        self.config = None  # RunConfig used for overlays (the run's, or the tuned one)
        self.plate: str | None = None
        self.well: str | None = None
        self._sites: list[int] = []
        self._timepoints: list[int] = []
        self._days: dict[int, float] = {}
        self._fields = pd.DataFrame()

        # run and plate controls
        self.path_edit = QLineEdit(placeholderText="run folder (made by `screening run`)")
        browse = QPushButton("Open run…")
        browse.clicked.connect(self._browse)
        self.path_edit.returnPressed.connect(lambda: self.open_run(self.path_edit.text()))
        self.plate_combo = QComboBox()
        self.metric_combo = QComboBox()
        self.metric_combo.addItems(list(METRICS))
        self.day_combo = QComboBox()
        for combo in (self.plate_combo, self.metric_combo, self.day_combo):
            combo.currentIndexChanged.connect(self.refresh_plate)
        self.plate_view = PlateView()
        self.plate_view.well_clicked.connect(self.show_well)
        self.rescore_button = QPushButton("Re-score")
        self.rescore_button.setToolTip("rebuild wells.parquet and scores from fields.parquet and qc_flags.csv")
        self.rescore_button.clicked.connect(self.rescore)

        # well browser
        self.well_combo = QComboBox()
        self.well_combo.activated.connect(lambda i: self.show_well(self.well_combo.itemText(i)))
        self.well_label = QLabel("")
        self.well_label.setWordWrap(True)
        self.counts_plot = CountsPlot()
        self.reason_edit = QLineEdit(placeholderText="reason (e.g. bubble, out of focus)")
        buttons = {}
        for text, slot in (
            ("Flag well", lambda: self.flag(site=False)),
            ("Flag field", lambda: self.flag(site=True)),
            ("Unflag well", lambda: self.unflag(site=False)),
            ("Unflag field", lambda: self.unflag(site=True)),
        ):
            buttons[text] = QPushButton(text)
            buttons[text].clicked.connect(slot)
        self.flags_label = QLabel("")
        self.flags_label.setWordWrap(True)
        self.neuron_label = QLabel("")  # a clicked tracked neuron's history
        self.track_view = TrackView(self.viewer, self.neuron_label)
        self.register_box = QCheckBox("registered timepoints")
        self.register_box.setChecked(False)  # as imaged by default: what the files hold
        self.register_box.setToolTip("show each timepoint moved into its site's first frame, as tracks are drawn")
        self.register_box.toggled.connect(self._set_registered)
        well_tab = QWidget()
        wl = QVBoxLayout(well_tab)
        wl.addLayout(_row(QLabel("well"), self.well_combo))
        wl.addWidget(self.well_label)
        wl.addWidget(self.counts_plot)
        wl.addWidget(self.reason_edit)
        wl.addLayout(_row(buttons["Flag well"], buttons["Flag field"]))
        wl.addLayout(_row(buttons["Unflag well"], buttons["Unflag field"]))
        wl.addWidget(self.flags_label)
        wl.addWidget(self.register_box)
        wl.addWidget(self.neuron_label)

        # ranking and tuning
        self.ranking_table = QTableWidget()
        self.ranking_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.tuner = SegmentationTuner(self.retune, self.save_config)

        self.tabs = QTabWidget()
        self.tabs.addTab(well_tab, "Well")
        self.tabs.addTab(self.ranking_table, "Ranking")
        self.tabs.addTab(self.tuner.native, "Tune segmentation")

        self.status = QLabel("open a run folder")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(_row(self.path_edit, browse))
        layout.addLayout(_row(QLabel("plate"), self.plate_combo, QLabel("day"), self.day_combo))
        layout.addLayout(_row(QLabel("colour by"), self.metric_combo, self.rescore_button))
        layout.addWidget(self.plate_view, stretch=3)
        layout.addWidget(self.tabs, stretch=2)
        layout.addWidget(self.status)

        self.viewer.dims.events.current_step.connect(self._on_step)

    def changeEvent(self, event) -> None:
        """Closed by napari (its dock's close button takes the widget out of the dock): free the cache.

        The layers it made stay in the viewer (and read again on demand), so the widget itself
        lives on; only what it held in memory goes.
        """
        if event.type() == QEvent.Type.ParentChange and self.parent() is None:
            self._cancel_pending()
            self.cache.clear()
        super().changeEvent(event)

    # -- opening -------------------------------------------------------------------
    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a run folder")
        if folder:
            self.open_run(folder)

    def open_run(self, run_dir: str | Path) -> QCRun | None:
        """Load a run folder's tables and draw the plate view (reads no image)."""
        try:
            run = QCRun.open(run_dir)
        except Exception as exc:  # noqa: BLE001 - show any problem, never crash napari
            self.status.setText(str(exc))
            return None
        self.run, self.config = run, run.config
        self.well = None
        self.track_view.load(run.run_dir)
        self.cache.clear()
        self.path_edit.setText(str(run.run_dir))
        self.tuner.set_values(run.config.segmentation)
        self.tuner.path.value = run.run_dir / "config-tuned.yaml"
        for combo, items in ((self.plate_combo, run.plates), (self.day_combo, [f"{d:g}" for d in run.days])):
            with _blocked(combo):
                combo.clear()
                combo.addItems(items)
        if run.days:
            with _blocked(self.day_combo):
                self.day_combo.setCurrentIndex(len(run.days) - 1)
        self.refresh_plate()
        self.refresh_ranking()
        n_fields = len(run.fields)
        self.status.setText(f"{run.run_dir.name}: {len(run.plates)} plate(s), {n_fields} fields; click a well")
        return run

    # -- plate view ----------------------------------------------------------------
    @property
    def metric(self) -> str:
        return self.metric_combo.currentText()

    @property
    def day(self) -> float | None:
        text = self.day_combo.currentText()
        return float(text) if text else None

    def refresh_plate(self, *_) -> None:
        """Redraw the heatmap for the chosen plate, metric and day."""
        if self.run is None or not self.plate_combo.currentText():
            return
        plate = self.plate_combo.currentText()
        if plate != self.plate:
            self.plate = plate
            with _blocked(self.well_combo):
                self.well_combo.clear()
                self.well_combo.addItems(self.run.imaged_wells(plate))
                self.well_combo.setCurrentIndex(-1)  # no well is shown until one is picked
        metric, day = self.metric, self.day
        self.day_combo.setEnabled(metric in DAY_METRICS)
        try:
            grid = self.run.plate_grid(plate, metric, day)
            flagged = self.run.flagged_wells(plate)
        except ValueError as exc:  # e.g. a hand-edited qc_flags.csv without its columns
            self.status.setText(str(exc))
            return
        title = f"{plate}: {metric}" + (f" at day {day:g}" if metric in DAY_METRICS and day is not None else "")
        self.plate_view.show_plate(
            grid,
            roles=self.run.roles(plate),
            flagged=flagged,
            label=metric + (" (µm)" if "length" in metric else "") + (" (log scale)" if metric == "hazard ratio" else ""),
            title=title,
            cmap="RdBu_r" if metric == "hazard ratio" else "viridis",
            ratio=metric == "hazard ratio",
        )
        self.plate_view.highlight(self.well)

    def refresh_ranking(self) -> None:
        """Fill the ranking table from ``ranking.csv`` (best rank first)."""
        table = self.run.ranking if self.run is not None else None
        if table is None or table.empty:
            self.ranking_table.clear()
            self.ranking_table.setRowCount(0)
            return
        cols = [c for c in RANKING_COLUMNS if c in table]
        table = table.sort_values("rank") if "rank" in table else table
        self.ranking_table.setColumnCount(len(cols))
        self.ranking_table.setHorizontalHeaderLabels([RANKING_HEADERS.get(c, c) for c in cols])
        self.ranking_table.setRowCount(len(table))
        for i, rec in enumerate(table[cols].itertuples(index=False)):
            for j, value in enumerate(rec):
                text = f"{value:.3g}" if isinstance(value, float) else str(value)
                self.ranking_table.setItem(i, j, QTableWidgetItem(text))
        self.ranking_table.resizeColumnsToContents()

    # -- well browser --------------------------------------------------------------
    def show_well(self, well: str) -> None:
        """Show one well's fields as lazy (site, timepoint, y, x) layers with overlays and its counts."""
        if self.run is None or self.plate is None:
            return
        fields = self.run.well_fields(self.plate, well)
        if fields.empty:
            self.status.setText(f"{self.plate} {well}: no imaged fields (empty well?)")
            return
        try:
            shape, dtype = img.field_shape(fields)
        except (FileNotFoundError, OSError) as exc:
            self.status.setText(f"{self.plate} {well}: {exc}")
            return
        first_well = self.well is None
        self.well = fields["well"].iloc[0]
        self._fields = fields
        self._sites, self._timepoints, _ = img.field_grid(fields)
        self._days = dict(zip(fields["timepoint"].astype(int), fields["day"].astype(float), strict=False))
        scale, units = img.layer_geometry(self._pixel_size())
        roles = [r for r in ("reporter", "nuclei") if f"path_{r}" in fields and fields[f"path_{r}"].notna().any()]
        if "path_neurites" in fields and (fields["path_neurites"] != fields["path_reporter"]).any():
            roles.append("neurites")  # a separate neurite marker (TUJ1, MAP2)
        rule = img.plane_rule(self.run.config, self.plate)  # z-stacks: the projection the run measured
        for role in roles:
            if rule == "mean":  # a mean projection is float64 (read_planes)
                dtype = img.field_shape(fields, role, rule)[1]
            stack = img.channel_stack(fields, role, shape, dtype, rule, cache=self.cache)
            stack = self.track_view.registered(stack, fields)
            limits = self._limits(fields, role, rule)
            self._set_layer("image", role, stack, scale, units, colormap=img.CHANNEL_COLORMAPS[role],
                            blending="additive", contrast_limits=limits)
        self._set_overlays(fields, shape)
        self.viewer.dims.axis_labels = AXIS_LABELS
        _scale_bar(self.viewer).visible = True
        if first_well:
            self.viewer.reset_view()
        with _blocked(self.well_combo):
            self.well_combo.setCurrentText(self.well)
        self.plate_view.highlight(self.well)
        self._show_counts()
        self._show_flags()
        self._on_step()

    def _set_registered(self, on: bool) -> None:
        self.track_view.register = bool(on)
        if self.well is not None:
            self.show_well(self.well)

    def _limits(self, fields, role, rule) -> tuple[float, float]:
        sources = (img.field_sources(rec, rule).get(role) for rec in fields.to_dict("records"))
        try:
            return img.contrast_limits(self.cache.image(next(s for s in sources if s)))
        except Exception:  # noqa: BLE001 - unreadable first field: napari's dtype range is fine
            return (0.0, 1.0)

    def _set_overlays(self, fields, shape) -> None:
        self._cancel_pending()
        scale, units = img.layer_geometry(self._pixel_size())
        # The run's plate calibrations while its own config is shown; a tuned config calibrates each field.
        calibrations = self.run.calibrations if self.config is self.run.config else None
        stacks = img.overlay_stacks(fields, self.config, shape, cache=self.cache, request=self._request_segmentation,
                                    calibrations=calibrations)
        stacks = {k: self.track_view.registered(v, fields) for k, v in stacks.items()}
        has_nuclei = bool(self.config.channels.nuclei)
        for key, name in img.OVERLAYS.items():
            if key == "nuclei_labels" and not has_nuclei:
                continue
            # cache=False: napari's dask cache would keep the zeros shown while a field is segmented
            if key == "neurite_skeleton":
                self._set_layer("image", name, stacks[key], scale, units, colormap="magenta", blending="additive",
                                contrast_limits=(0, 1), cache=False)
            else:
                self._set_layer("labels", name, stacks[key], scale, units,
                                opacity=0.45 if key == "soma_labels" else 0.8,
                                cache=False)
                if key == "nuclei_labels":
                    self.viewer.layers[name].contour = 1

    def _set_layer(self, kind: str, name: str, data, scale, units, **kwargs) -> None:
        """Replace a layer's data in place (keeps the user's display choices) or add the layer."""
        if name in self.viewer.layers:
            layer = self.viewer.layers[name]
            layer.data = data
            if tuple(layer.scale) != tuple(scale):  # every setter re-slices: skip the no-ops
                layer.scale = scale
            if tuple(map(str, layer.units)) != tuple(map(str, units)):
                layer.units = units
            if "contrast_limits" in kwargs:
                layer.contrast_limits = kwargs["contrast_limits"]
            return
        add = self.viewer.add_image if kind == "image" else self.viewer.add_labels
        if kind == "image":
            kwargs.setdefault("multiscale", False)
        add(data, name=name, scale=scale, units=units, **kwargs)

    # -- background segmentation ---------------------------------------------------
    def _request_segmentation(self, paths, config, pixel_size_um, calibration=None) -> None:
        """Segment a field in the background thread (once), then refresh the overlays."""
        key = img.segmentation_key(paths, config, pixel_size_um, calibration)
        with self._pending_lock:
            if key in self._pending:
                return
            future = self._executor.submit(self.cache.segmentation, paths, config, pixel_size_um=pixel_size_um,
                                           calibration=calibration)
            self._pending[key] = future
        future.add_done_callback(self._emit_segmented)

    def _emit_segmented(self, _future) -> None:
        try:
            self._segmented.emit()
        except RuntimeError:  # the widget was closed meanwhile
            pass

    def _refresh_overlays(self) -> None:
        with self._pending_lock:
            self._pending = {k: f for k, f in self._pending.items() if not f.done()}
        for name in img.OVERLAYS.values():
            if name in self.viewer.layers:
                self.viewer.layers[name].refresh()
        self._on_step()

    def _cancel_pending(self) -> None:
        """Drop queued segmentations of the previous well (a running one finishes and is cached)."""
        with self._pending_lock:
            for future in self._pending.values():
                future.cancel()
            self._pending = {k: f for k, f in self._pending.items() if not f.done()}

    def overlays_ready(self) -> bool:
        """True when no segmentation is queued or running (the overlays on screen are final)."""
        with self._pending_lock:
            return not self._pending

    def current_field(self) -> tuple[int, int] | None:
        """(site, timepoint) on screen, from the viewer's sliders."""
        if not self._sites or self.viewer.dims.ndim < 4:
            return None
        step = self.viewer.dims.current_step
        s = min(max(int(step[0]), 0), len(self._sites) - 1)
        t = min(max(int(step[1]), 0), len(self._timepoints) - 1)
        return self._sites[s], self._timepoints[t]

    def _pixel_size(self) -> float | None:
        """The plate's pixel size (µm) as the run recorded it; None when it recorded none (layers in px)."""
        return self.run.pixel_size_um(self.plate) if self.run is not None else None

    def _on_step(self, *_) -> None:
        field = self.current_field()
        if field is None or self.run is None:
            return
        site, tp = field
        day = self._days.get(tp)
        px = self._pixel_size()
        self.track_view.show(self.plate, self.well, site, self._timepoints, px)
        self.counts_plot.mark_day(day)
        # The sliders count from 0; their labels name the site, timepoint and day shown, as the status bar does.
        when = f"timepoint {tp}" + (f" · day {day:g}" if day is not None else "")
        self.viewer.dims.axis_labels = (f"site {site}", when, *AXIS_LABELS[2:])
        problems = [v for k, v in self.cache.errors.items() if k[:4] == (self.plate, self.well, site, tp)]
        shown = self._fields[(self._fields["site"] == site) & (self._fields["timepoint"] == tp)]
        if len(shown):
            paths = img.field_sources(shown.iloc[0].to_dict(), img.plane_rule(self.config, self.plate))
            problem = self.cache.errors.get(("segmentation", *sorted(paths.items())))
            if problem:
                problems.append(f"segmentation: {problem}")
        if px is None:
            problems.append(NO_PIXEL_SIZE)
        if not self.overlays_ready():
            problems.append("segmenting…")
        text = f"{self.plate} {self.well} site {site} timepoint {tp}" + (f" (day {day:g})" if day is not None else "")
        self.status.setText(text + ("; " + "; ".join(problems) if problems else ""))

    def _show_counts(self) -> None:
        totals, sites = self.run.well_counts(self.plate, self.well)
        info = self.run.well_info(self.plate, self.well)
        self.well_label.setText(
            f"{self.plate} {self.well}: {info.get('patient', '?')}, {info.get('compound', '?')} "
            f"{info.get('concentration_um', '')} µM ({info.get('role', '?')})"
        )
        self.counts_plot.show_counts(totals, sites, title=f"{self.well} motor neurons",
                                     survival=self.run.well_survival(self.plate, self.well))

    def _show_flags(self) -> None:
        flags = self.run.flags
        mine = flags[(flags["plate"] == self.plate) & (flags["well"] == self.well)]
        lines = [
            f"{'whole well' if pd.isna(r.site) else f'site {r.site}'}: "
            f"{r.reason or '(no reason)'}"
            for r in mine.itertuples()
        ]
        self.flags_label.setText("flags: " + ("; ".join(lines) if lines else "none"))

    # -- flags and re-scoring ------------------------------------------------------
    def flag(self, site: bool = False, reason: str | None = None) -> None:
        """Flag the shown well (or, with ``site=True``, the shown field's site) in qc_flags.csv."""
        ok, target = self._target(site)
        if not ok:
            return
        reason = self.reason_edit.text() if reason is None else reason
        self.run.set_flag(self.plate, self.well, target, reason)
        self._after_flags_changed()

    def unflag(self, site: bool = False) -> None:
        """Remove the flag on the shown well (or on the shown field's site)."""
        ok, target = self._target(site)
        if not ok:
            return
        self.run.remove_flag(self.plate, self.well, target)
        self._after_flags_changed()

    def _target(self, site: bool) -> tuple[bool, int | None]:
        """(usable, site): site None means the whole well."""
        if self.run is None or self.well is None:
            self.status.setText("choose a well first")
            return False, None
        if not site:
            return True, None
        field = self.current_field()
        if field is None:
            self.status.setText("no field shown")
            return False, None
        return True, field[0]

    def _after_flags_changed(self) -> None:
        self._show_flags()
        self._show_counts()
        self.refresh_plate()
        self.status.setText("qc_flags.csv updated; press Re-score to rebuild wells and scores")

    def rescore(self) -> None:
        """Run the library's scoring stage on the updated flags and refresh the views."""
        if self.run is None:
            return
        from screening.run.pipeline import score_run

        self.status.setText("re-scoring…")
        self.setCursor(Qt.CursorShape.WaitCursor)
        try:
            score_run(self.run.run_dir, config=self.run.config)
        except Exception as exc:  # noqa: BLE001 - a scoring failure is shown, not raised into Qt
            self.status.setText(f"re-scoring failed: {exc}")
            return
        finally:
            self.unsetCursor()
        self.run.reload_scores()
        self.refresh_plate()
        self.refresh_ranking()
        if self.well:
            self._show_counts()
        self.status.setText("re-scored: wells.parquet, scores.csv and ranking.csv rewritten")

    # -- segmentation tuning -------------------------------------------------------
    def retune(self, segmentation: SegmentationConfig) -> None:
        """Re-segment with new parameters: the overlays of the shown well are rebuilt lazily."""
        if self.run is None:
            return
        self.config = self.run.config.model_copy(update={"segmentation": segmentation})
        if self.well is not None:
            fields = self.run.well_fields(self.plate, self.well)
            shape, _ = img.field_shape(fields)
            self._set_overlays(fields, shape)

    def save_config(self, segmentation: SegmentationConfig, path: Path) -> Path | None:
        """Save the run's config with ``segmentation`` as a YAML copy at ``path``."""
        if self.run is None:
            return None
        written = save_tuned_config(self.run.config, segmentation, self.run.run_dir, Path(path))
        self.tuner.message.value = f"saved {written.name}"
        return written


class _blocked:
    """Block a Qt widget's signals inside a ``with`` block."""

    def __init__(self, widget):
        self.widget = widget

    def __enter__(self):
        self._old = self.widget.blockSignals(True)

    def __exit__(self, *exc):
        self.widget.blockSignals(self._old)


__all__ = ["QCWidget"]
