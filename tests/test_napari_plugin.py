"""The napari QC plugin (plugins/screening_napari) on a small run folder written here.

The run folder has known counts in its tables (so metrics have known answers) and
fields rendered by the simulator (so the library's segmentation has neurons to draw). Display tests run under Xvfb (pytest-xvfb).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from screening.config import load_config, parse_config

WELLS = {  # well: patient, compound, concentration_um, role, well counts at days 0, 4, 8
    "A01": ("pt1", "DMSO", 0.0, "vehicle", (40, 28, 20)),
    "A02": ("pt1", "DMSO", 0.0, "vehicle", (42, 30, 22)),
    "A03": ("pt1", "cpd", 10.0, "treatment", (40, 37, 34)),
    "A04": ("pt1", "cpd", 10.0, "treatment", (42, 38, 34)),
    "B01": ("pt2", "DMSO", 0.0, "vehicle", (40, 28, 20)),
    "B02": ("pt2", "DMSO", 0.0, "vehicle", (40, 30, 20)),
    "B03": ("pt2", "cpd", 10.0, "treatment", (40, 36, 32)),
    "B04": ("pt2", "cpd", 10.0, "treatment", (38, 34, 30)),
}
DAYS = {1: 0.0, 2: 4.0, 3: 8.0}
SHAPE = (256, 256)


def _field_images(index: int, timepoint: int) -> tuple[np.ndarray, np.ndarray]:
    """Reporter and nuclei images of one simulated field (the demo preset's 256 x 256 px fields)."""
    from screening.simulate import build_screen
    from screening.simulate.render import render_field

    screen = build_screen("demo", seed=0)
    field = render_field(screen, index % len(screen.fields), timepoint)
    return field.images["w1"], field.images["w2"]


def make_run(root: Path) -> Path:
    """A scored run folder: one plate, two patients, vehicle and one compound, 2 sites, 3 days.

    Each site holds half its well's count (site 2 one more), so well totals are
    ``2 * (count // 2) + 1``.
    """
    plate_dir = root / "data" / "P1"
    plate_dir.mkdir(parents=True)
    layout = "well,patient,compound,concentration_um,role\n" + "".join(
        f"{w},{p},{c},{k},{r}\n" for w, (p, c, k, r, _) in WELLS.items()
    ) + "B05,,,,empty\n"
    (plate_dir / "layout.csv").write_text(layout)
    config = parse_config(
        {
            "name": "fake", "pixel_size_um": 0.65, "channels": {"reporter": "w1", "nuclei": "w2"},
            "timepoints": DAYS, "plates": [{"id": "P1", "path": "data/P1", "layout": "data/P1/layout.csv"}],
        },
        base_dir=root,
    )
    rows = []
    for t, day in DAYS.items():
        seed = 0
        (plate_dir / f"TimePoint_{t}").mkdir()
        for well, (patient, compound, conc, role, counts) in WELLS.items():
            for site in (1, 2):
                reporter, nuclei = _field_images(seed, t)
                seed += 1
                p_rep = plate_dir / f"TimePoint_{t}" / f"P1_{well}_s{site}_w1.TIF"
                p_nuc = plate_dir / f"TimePoint_{t}" / f"P1_{well}_s{site}_w2.TIF"
                tifffile.imwrite(p_rep, reporter)
                tifffile.imwrite(p_nuc, nuclei)
                n = counts[t - 1] // 2 + (site - 1)
                rows.append({
                    "plate": "P1", "well": well, "site": site, "timepoint": t, "day": day,
                    "n_neurons": float(n), "neurite_length_um": 50.0 * n, "n_nuclei": 2.0 * n,
                    "qc_pass": True, "status": "ok", "error": "",
                    "path_reporter": str(p_rep), "path_neurites": str(p_rep), "path_nuclei": str(p_nuc),
                    "pixel_size_um": 0.65, "field_key": f"k{t}-{seed - 1}",
                    "patient": patient, "compound": compound, "concentration_um": conc, "role": role,
                })
    run = root / "runs" / "fake"
    run.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(run / "fields.parquet", index=False)
    (run / "manifest.json").write_text(json.dumps({"name": "fake", "config": config.model_dump(mode="json")}))
    from screening.run.pipeline import score_run

    score_run(run, config=config)
    return run


@pytest.fixture(scope="module")
def template_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("fake_screen"))


@pytest.fixture
def run_dir(template_run, tmp_path) -> Path:
    """A fresh copy of the scored run folder (the images are shared, read-only)."""
    run = tmp_path / "fake"
    shutil.copytree(template_run, run)
    return run


def library_images(run_dir: Path, well: str, site: int, timepoint: int) -> dict:
    """What the library itself makes of one field (the reference for the overlay layers)."""
    from screening.config import RunConfig
    from screening.io.screen import field_paths
    from screening.measure.field import measure_field
    from screening.run.pipeline import load_calibrations, read_manifest
    from screening.run.tasks import read_field

    config = RunConfig.model_validate(read_manifest(run_dir)["config"])
    fields = pd.read_parquet(run_dir / "fields.parquet")
    rec = fields[(fields["well"] == well) & (fields["site"] == site) & (fields["timepoint"] == timepoint)]
    rec = rec.iloc[0].to_dict()
    images = read_field(field_paths(rec), config.channels.tokens())
    calibration = load_calibrations(run_dir).get(rec["plate"])  # the plate's, as the run measured it (if any)
    return dict(measure_field(images, config, pixel_size_um=rec["pixel_size_um"], calibration=calibration,
                              return_images=True).images)


# --- no display needed --------------------------------------------------------------


def test_manifest_validates():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution("screening")
    manifest.validate_imports()
    assert [r.command for r in manifest.contributions.readers] == ["screening.get_reader"]
    assert manifest.contributions.readers[0].accepts_directories
    assert [w.display_name for w in manifest.contributions.widgets] == ["Run QC"]


def test_reader_claims_run_folders_only(run_dir, tmp_path):
    from screening_napari import get_reader

    assert callable(get_reader(str(run_dir)))
    assert get_reader(str(tmp_path)) is None  # no manifest.json / fields.parquet
    assert get_reader(str(run_dir / "fields.parquet")) is None


def test_pixel_size_is_the_runs_or_none_never_a_guess(run_dir):
    from screening_napari.run import QCRun

    run = QCRun.open(run_dir)
    assert run.pixel_size_um("P1") == 0.65
    assert run.pixel_size_um("no such plate") is None
    run.fields = run.fields.drop(columns="pixel_size_um")  # a run that recorded none
    assert run.pixel_size_um("P1") is None


def test_plate_metrics_known_answers(run_dir):
    from screening_napari.run import QCRun

    run = QCRun.open(run_dir)
    assert run.plate_shape("P1") == (4, 6)  # wells A01-B05 fit a 24-well plate
    assert run.roles("P1")["B05"] == "empty"
    neurons = run.well_values("P1", "motor neurons", day=8.0)
    assert neurons["A01"] == 21 and neurons["A03"] == 35  # 2 * (count // 2) + 1
    assert run.well_values("P1", "motor neurons", day=0.0)["A02"] == 43
    survival = run.well_values("P1", "survival fraction")
    assert survival["A01"] == pytest.approx(21 / 41)
    assert run.well_values("P1", "neurite length per neuron", day=4.0)["B02"] == pytest.approx(50.0)
    assert (run.well_values("P1", "QC pass") == 1.0).all()
    scores = pd.read_csv(run_dir / "scores.csv")
    hr = run.well_values("P1", "hazard ratio")
    pt1 = scores.loc[(scores["patient"] == "pt1") & (scores["compound"] == "cpd"), "hazard_ratio"].item()
    assert hr["A04"] == pytest.approx(pt1)
    assert np.isnan(hr["A01"])  # vehicle wells have no HR of their own
    grid = run.plate_grid("P1", "motor neurons", day=8.0)
    assert grid.shape == (4, 6) and grid[0, 0] == 21 and grid[1, 3] == 31
    assert np.isnan(grid[1, 4]) and np.isnan(grid[3, 5])  # the empty well, and a well not on the map


def test_flags_round_trip(run_dir):
    from screening_napari.run import QCRun

    run = QCRun.open(run_dir)
    run.set_flag("P1", "A3", None, " bubble ")
    run.set_flag("P1", "B02", 2, "out of focus")
    run.set_flag("P1", "B02", 2, "debris")  # replaces the flag on the same field
    flags = pd.read_csv(run_dir / "qc_flags.csv", dtype=str, keep_default_na=False)
    assert flags.to_dict("records") == [
        {"plate": "P1", "well": "A03", "site": "", "reason": "bubble"},
        {"plate": "P1", "well": "B02", "site": "2", "reason": "debris"},
    ]
    assert run.well_values("P1", "QC pass")["B02"] == pytest.approx(0.5)  # site 2 at all 3 days
    run.remove_flag("P1", "A03")
    run.remove_flag("P1", "B02", 2)
    assert pd.read_csv(run_dir / "qc_flags.csv").empty


def test_tuned_config_is_a_loadable_copy(run_dir, tmp_path):
    from screening_napari.run import QCRun
    from screening_napari.tuning import save_tuned_config

    from screening.config.segmentation import SegmentationConfig

    run = QCRun.open(run_dir)
    path = save_tuned_config(run.config, SegmentationConfig(soma_diameter_um=21.5), run_dir, tmp_path / "t.yaml")
    loaded = load_config(path)
    assert loaded.segmentation.soma_diameter_um == 21.5
    assert loaded.plates[0].path == run.config.plates[0].path
    assert loaded.output == run_dir.parent / f"{run_dir.name}-tuned"  # never the inspected run folder


# --- in a viewer (Xvfb) -------------------------------------------------------------


@pytest.fixture
def qc(make_napari_viewer, run_dir):
    """(viewer, QC widget) with the fake run open."""
    from screening_napari.widget import QCWidget

    viewer = make_napari_viewer(show=True)
    widget = QCWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Run QC")
    assert widget.open_run(run_dir) is not None
    return viewer, widget


def _show_field(qtbot, viewer, widget, site_index: int, time_index: int) -> None:
    """Move the sliders to a field and wait for its background segmentation to be drawn."""
    viewer.dims.current_step = (site_index, time_index, 0, 0)
    qtbot.waitUntil(widget.overlays_ready, timeout=60_000)
    qtbot.wait(20)


def _click_well(qtbot, plate_view, well: str) -> None:
    """A real mouse click on the heatmap cell of ``well``."""
    from qtpy.QtCore import QPoint, Qt

    from screening.io.wells import well_row_col

    r, c = well_row_col(well)
    canvas = plate_view.canvas
    canvas.draw()
    x, y = plate_view._ax.transData.transform((c, r))
    ratio = canvas.device_pixel_ratio
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(x / ratio), int(canvas.height() - y / ratio)))


@pytest.mark.napari
def test_open_run_adds_plate_view(qc, run_dir):
    viewer, widget = qc
    assert widget.plate_view.grid.shape == (4, 6)
    assert widget.metric == "motor neurons" and widget.day == 8.0  # last day by default
    assert widget.plate_view.grid[0, 0] == 21
    assert [widget.well_combo.itemText(i) for i in range(widget.well_combo.count())] == list(WELLS)
    assert widget.ranking_table.rowCount() == len(pd.read_csv(run_dir / "ranking.csv"))
    widget.metric_combo.setCurrentText("survival fraction")
    assert widget.plate_view.grid[0, 0] == pytest.approx(21 / 41)
    assert len(viewer.layers) == 0  # opening reads tables only
    # a folder that is not a run is named in the status line; the open run stays
    assert widget.open_run(run_dir.parent) is None
    assert "not a run folder" in widget.status.text() and widget.run.run_dir == run_dir


@pytest.mark.napari
def test_napari_open_uses_the_reader(make_napari_viewer, run_dir):
    viewer = make_napari_viewer()
    viewer.open(str(run_dir), plugin="screening")
    _, widget = viewer.window.add_plugin_dock_widget("screening", "Run QC")  # the docked one
    assert widget.run is not None and widget.run.run_dir == run_dir
    assert widget.plate_view.grid.shape == (4, 6)


@pytest.mark.napari
def test_clicked_well_layers_match_library(qc, qtbot, run_dir):
    viewer, widget = qc
    _click_well(qtbot, widget.plate_view, "A03")
    assert widget.well == "A03"
    names = {layer.name for layer in viewer.layers}
    assert {"reporter", "nuclei", "soma labels", "nuclei labels", "neurite skeleton"} <= names
    reporter = viewer.layers["reporter"].data
    assert reporter.shape == (2, 3, *SHAPE)  # site, timepoint, y, x
    fields = pd.read_parquet(run_dir / "fields.parquet").set_index(["well", "site", "timepoint"])
    expected = tifffile.imread(fields.loc[("A03", 2, 3), "path_reporter"])
    np.testing.assert_array_equal(np.asarray(reporter[1, 2]), expected)
    _show_field(qtbot, viewer, widget, 1, 2)
    ref = library_images(run_dir, "A03", 2, 3)
    assert ref["soma_labels"].max() > 0  # the fixture's somata are found, so the comparison means something
    np.testing.assert_array_equal(np.asarray(viewer.layers["soma labels"].data[1, 2]), ref["soma_labels"])
    np.testing.assert_array_equal(
        np.asarray(viewer.layers["neurite skeleton"].data[1, 2]) > 0, np.asarray(ref["neurite_skeleton"]) > 0
    )
    np.testing.assert_array_equal(np.asarray(viewer.layers["nuclei labels"].data[1, 2]), ref["nuclei_labels"])
    from screening_napari.widget import _scale_bar

    assert _scale_bar(viewer).visible  # images in µm get a scale bar
    # choosing from the list shows another well in the same layers
    widget.show_well("B04")
    assert widget.well == "B04" and len([ly for ly in viewer.layers if ly.name == "reporter"]) == 1
    expected = tifffile.imread(fields.loc[("B04", 1, 1), "path_reporter"])
    np.testing.assert_array_equal(np.asarray(viewer.layers["reporter"].data[0, 0]), expected)


@pytest.mark.napari
def test_screenshot_shows_image_and_overlays(qc, qtbot):
    viewer, widget = qc
    widget.show_well("A01")
    _show_field(qtbot, viewer, widget, 0, 0)
    qtbot.wait(50)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot[..., :3].std() > 5  # not blank
    for name in ("soma labels", "neurite skeleton"):
        viewer.layers[name].visible = False
        without = viewer.screenshot(canvas_only=True, flash=False)
        viewer.layers[name].visible = True
        changed = np.abs(shot[..., :3].astype(int) - without[..., :3].astype(int)).sum(-1) > 30
        assert changed.sum() > 200, name  # the overlay draws visible pixels


@pytest.mark.napari
def test_flag_and_rescore_change_the_well(qc, qtbot, run_dir):
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QPushButton

    viewer, widget = qc
    buttons = {b.text(): b for b in widget.findChildren(QPushButton)}
    before_scores = pd.read_csv(run_dir / "scores.csv").set_index("patient")
    widget.show_well("A03")
    widget.reason_edit.setText("bubble")
    qtbot.mouseClick(buttons["Flag well"], Qt.MouseButton.LeftButton)
    flags = pd.read_csv(run_dir / "qc_flags.csv", dtype=str, keep_default_na=False)
    assert flags.to_dict("records") == [{"plate": "P1", "well": "A03", "site": "", "reason": "bubble"}]
    assert "A03" in widget.run.flagged_wells("P1")

    qtbot.mouseClick(widget.rescore_button, Qt.MouseButton.LeftButton)
    wells = pd.read_parquet(run_dir / "wells.parquet")
    a03 = wells[wells["well"] == "A03"]
    assert (a03["n_fields"] == 0).all() and a03["n_neurons"].isna().all()
    assert (wells.loc[wells["well"] == "A04", "n_fields"] == 2).all()
    after_scores = pd.read_csv(run_dir / "scores.csv").set_index("patient")
    assert after_scores.loc["pt1", "n_wells"] == before_scores.loc["pt1", "n_wells"] - 1
    assert after_scores.loc["pt1", "hazard_ratio"] != pytest.approx(before_scores.loc["pt1", "hazard_ratio"])
    assert after_scores.loc["pt2", "hazard_ratio"] == pytest.approx(before_scores.loc["pt2", "hazard_ratio"])
    assert np.isnan(widget.plate_view.grid[0, 2])  # the heatmap no longer counts A03

    # a field flag names the site on screen; unflagging the well leaves it alone
    viewer.dims.current_step = (1, 0, 0, 0)
    qtbot.mouseClick(buttons["Flag field"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(buttons["Unflag well"], Qt.MouseButton.LeftButton)
    flags = pd.read_csv(run_dir / "qc_flags.csv", dtype=str, keep_default_na=False)
    assert flags.to_dict("records") == [{"plate": "P1", "well": "A03", "site": "2", "reason": "bubble"}]


@pytest.mark.napari
def test_tuning_resegments_the_field(qc, qtbot, run_dir):
    viewer, widget = qc
    widget.show_well("A02")
    _show_field(qtbot, viewer, widget, 0, 1)
    before = np.asarray(viewer.layers["soma labels"].data[0, 1]).copy()
    widget.tuner.spins["reporter_positive_ratio"].value = 20.0  # only the brightest somata still count
    _show_field(qtbot, viewer, widget, 0, 1)
    after = np.asarray(viewer.layers["soma labels"].data[0, 1])
    assert widget.config.segmentation.reporter_positive_ratio == 20.0
    from screening.measure.field import measure_field
    from screening.run.tasks import read_field

    fields = pd.read_parquet(run_dir / "fields.parquet")
    rec = fields[(fields["well"] == "A02") & (fields["site"] == 1) & (fields["timepoint"] == 2)].iloc[0]
    paths = {"reporter": rec["path_reporter"], "neurites": rec["path_neurites"], "nuclei": rec["path_nuclei"]}
    ref = measure_field(read_field(paths, widget.config.channels.tokens()), widget.config,
                        pixel_size_um=0.65, return_images=True).images["soma_labels"]
    np.testing.assert_array_equal(after, ref)
    assert after.max() < before.max()  # fewer neurons, redrawn on the same layer


# --- the committed demo screen, through the real pipeline ---------------------------------


@pytest.mark.napari
def test_demo_run_in_the_plugin(demo_run, make_napari_viewer, qtbot, tmp_path):
    from qtpy.QtCore import Qt

    run_dir = tmp_path / "run"
    shutil.copytree(demo_run, run_dir)
    viewer = make_napari_viewer(show=True)
    viewer.open(str(run_dir), plugin="screening")
    _, widget = viewer.window.add_plugin_dock_widget("screening", "Run QC")
    wells = pd.read_parquet(run_dir / "wells.parquet")
    last = wells[wells["day"] == wells["day"].max()]
    grid = widget.plate_view.grid
    from screening.io.wells import well_row_col

    for rec in last.itertuples():
        r, c = well_row_col(rec.well)
        assert grid[r, c] == pytest.approx(rec.n_neurons, nan_ok=True), rec.well

    treated = last[last["role"] == "treatment"].sort_values("well").iloc[0]
    _click_well(qtbot, widget.plate_view, treated.well)
    assert widget.well == treated.well
    fields = pd.read_parquet(run_dir / "fields.parquet")
    mine = fields[fields["well"] == treated.well]
    site, tp = int(mine["site"].min()), int(mine["timepoint"].max())
    _show_field(qtbot, viewer, widget, 0, mine["timepoint"].nunique() - 1)
    ref = library_images(run_dir, treated.well, site, tp)
    shown = np.asarray(viewer.layers["soma labels"].data[0, -1])
    np.testing.assert_array_equal(shown, ref["soma_labels"])
    assert shown.max() > 0
    path = mine.loc[mine["timepoint"] == tp, "path_reporter"].iloc[0]
    np.testing.assert_array_equal(np.asarray(viewer.layers["reporter"].data[0, -1]), tifffile.imread(path))

    qtbot.wait(50)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    viewer.layers["soma labels"].visible = False
    without = viewer.screenshot(canvas_only=True, flash=False)
    assert shot[..., :3].std() > 5
    assert (np.abs(shot[..., :3].astype(int) - without[..., :3].astype(int)).sum(-1) > 30).sum() > 200

    before = pd.read_csv(run_dir / "scores.csv")
    key = (before["patient"] == treated.patient) & (before["compound"] == treated.compound) & (
        before["concentration_um"] == treated.concentration_um
    )
    widget.reason_edit.setText("demo flag")
    widget.flag(site=False)
    qtbot.mouseClick(widget.rescore_button, Qt.MouseButton.LeftButton)
    after_wells = pd.read_parquet(run_dir / "wells.parquet")
    assert (after_wells.loc[after_wells["well"] == treated.well, "n_fields"] == 0).all()
    after = pd.read_csv(run_dir / "scores.csv")
    assert after.loc[key, "n_wells"].item() == before.loc[key, "n_wells"].item() - 1


@pytest.mark.napari
def test_well_selector_empty_until_a_well_is_shown(qc):
    _, widget = qc
    assert widget.well_combo.currentText() == "" and widget.well is None
    widget.show_well("A03")
    assert widget.well_combo.currentText() == "A03"


@pytest.mark.napari
def test_counts_plot_shows_the_well_survival_fraction(qc):
    _, widget = qc
    widget.show_well("A01")
    line = widget.counts_plot.survival_ax.get_lines()[0]
    # Site 1 holds count // 2 and site 2 one more: well totals 41, 29, 21 at days 0, 4, 8 (WELLS A01).
    np.testing.assert_allclose(line.get_xdata(), [0.0, 4.0, 8.0])
    np.testing.assert_allclose(line.get_ydata(), [1.0, 29 / 41, 21 / 41])


@pytest.mark.napari
def test_sliders_labelled_with_timepoint_and_day(qc, qtbot):
    viewer, widget = qc
    widget.show_well("A01")
    _show_field(qtbot, viewer, widget, 1, 2)
    assert viewer.dims.axis_labels[:2] == ("site 2", "timepoint 3 · day 8")
    assert "site 2 timepoint 3 (day 8)" in widget.status.text()


@pytest.mark.napari
def test_ranking_headers_are_readable(qc):
    _, widget = qc
    headers = [widget.ranking_table.horizontalHeaderItem(i).text() for i in range(widget.ranking_table.columnCount())]
    assert headers[:5] == ["Rank", "Compound", "µM", "HR", "95% CI low"]
    assert not any("_" in h for h in headers)


@pytest.mark.napari
def test_hazard_ratio_heatmap_is_log_and_centred_on_one(qc):
    _, widget = qc
    widget.metric_combo.setCurrentText("hazard ratio")
    image = widget.plate_view._ax.images[0]
    norm = image.norm
    assert norm(1.0) == pytest.approx(0.5)  # neutral in the middle of the diverging map
    assert norm(2.0) - 0.5 == pytest.approx(0.5 - norm(0.5))  # 2x and 0.5x equally far
    assert image.get_cmap().name.startswith("RdBu")


@pytest.mark.napari
def test_heatmap_draw_raises_no_matplotlib_warning(qc, recwarn):
    _, widget = qc
    widget.metric_combo.setCurrentText("QC pass")
    widget.plate_view.canvas.draw()
    assert not [w for w in recwarn if "matplotlib" in str(w.filename) or "edgecolor" in str(w.message)]


def test_tuning_labels_show_units():
    from screening_napari.tuning import readable_label

    assert readable_label("min_soma_area_um2") == "min soma area (µm²)"
    assert readable_label("soma_diameter_um") == "soma diameter (µm)"
    assert readable_label("neurite_ridge_snr") == "neurite ridge snr"


@pytest.mark.napari
def test_two_widgets_keep_their_own_caches_and_closing_one_frees_it(make_napari_viewer, run_dir, qtbot):
    from screening_napari.widget import QCWidget

    widgets = []
    for _ in range(2):
        viewer = make_napari_viewer(show=True)
        widget = QCWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Run QC")
        assert widget.open_run(run_dir) is not None
        widgets.append((viewer, widget))
    (viewer1, first), (viewer2, second) = widgets
    assert first.cache is not second.cache
    first.show_well("A01")
    _show_field(qtbot, viewer1, first, 0, 0)
    assert len(first.cache) >= 2 and len(second.cache) == 0  # reporter image, its segmentation; none in the other
    second.show_well("A02")
    _show_field(qtbot, viewer2, second, 0, 0)
    held = len(second.cache)
    assert held >= 2
    viewer1.window.remove_dock_widget(first)  # what napari's close button on the dock does
    assert len(first.cache) == 0 and first.cache.errors == {}
    assert len(second.cache) == held  # the other viewer's widget keeps what it holds


@pytest.mark.napari
def test_run_without_pixel_size_is_shown_in_px_and_says_so(make_napari_viewer, run_dir, qtbot):
    from screening_napari.widget import QCWidget

    fields = pd.read_parquet(run_dir / "fields.parquet")
    viewer = make_napari_viewer(show=True)
    widget = QCWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Run QC")
    widget.open_run(run_dir)
    widget.show_well("A01")
    assert str(viewer.layers["reporter"].units[-1]) == "micrometer"
    assert viewer.layers["reporter"].scale[-1] == pytest.approx(0.65)
    fields["pixel_size_um"] = np.nan  # a run that recorded none
    fields.to_parquet(run_dir / "fields.parquet")
    widget.open_run(run_dir)
    widget.show_well("A01")
    _show_field(qtbot, viewer, widget, 0, 0)
    for name in ("reporter", "soma labels"):  # the same layers, now in px: the scale bar reads px, not a guessed µm
        assert [str(u) for u in viewer.layers[name].units[-2:]] == ["pixel", "pixel"]
        assert tuple(viewer.layers[name].scale[-2:]) == (1, 1)
    assert "no pixel size" in widget.status.text()
    assert "pixel size must be a positive number" in widget.status.text()  # the overlays say why they are empty
