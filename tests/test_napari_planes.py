"""The napari plugin on a z-stacked plate: it shows and re-segments what the run measured.

Part of the committed demo is copied into MetaXpress ``ZStep_1..3`` folders (plane 1 and 3
dimmer copies, plane 3 with a bright square of its own) and run through the pipeline;
the plugin's images must then be the plate's ``plates[].planes`` reduction of the plane
files (computed here with numpy from the files), not the lowest plane, and its overlays
the library's segmentation of that image.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml

from .conftest import demo_patient_wells, run_screening, write_zsteps

SQUARE = (slice(200, 216), slice(200, 216))  # bright only in plane 3: the max projection keeps it


def _planes(image: np.ndarray) -> list[np.ndarray]:
    third = image // 3
    third[SQUARE] = np.iinfo(image.dtype).max // 2
    return [image // 2, image, third]


@pytest.fixture(scope="module")
def zstack_run(tmp_path_factory) -> Path:
    """One patient's vehicle and treated well of the demo as 3 z planes, run by ``screening run`` (subprocess)."""
    root = tmp_path_factory.mktemp("zstack")
    config, plate, src, keep = demo_patient_wells()
    (root / "z").mkdir()
    keep.to_csv(root / "z" / "layout.csv", index=False)
    write_zsteps(src, keep, root / "z", _planes)
    raw = {**config, "compute": {"scheduler": "threads", "workers": 1},
           "plates": [{**plate, "path": "z", "layout": "z/layout.csv"}]}
    (root / "z.yaml").write_text(yaml.safe_dump(raw))
    out = root / "run"
    run_screening("run", root / "z.yaml", "--out", out)
    return out


def _with_rule(run: Path, rule, dest: Path) -> Path:
    """A copy of the run folder whose config says ``plates[].planes: rule`` (what the plugin reads)."""
    shutil.copytree(run, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["config"]["plates"][0]["planes"] = rule
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def _treated_field(fields: pd.DataFrame) -> dict:
    treated = fields[fields["role"] == "treatment"]
    return treated[treated["timepoint"] == treated["timepoint"].max()].sort_values("site").iloc[0].to_dict()


def _expected(files, rule) -> np.ndarray:
    """The plane rule applied with numpy to the field's plane files (independent of the library)."""
    stack = np.stack([tifffile.imread(f) for f in files])
    if rule == "max":
        return stack.max(axis=0)
    if rule == "mean":
        return stack.astype(float).mean(axis=0)
    return stack[rule - 1]


def _library(rec: dict, config, rule, calibration=None):
    """The library's measurement of the field as the pipeline does it (images and table row)."""
    from screening.io.screen import field_planes
    from screening.measure.field import measure_field
    from screening.run.tasks import read_field

    images = read_field(field_planes(rec), config.channels.tokens(), rule)
    return measure_field(images, config, pixel_size_um=rec["pixel_size_um"], calibration=calibration,
                         return_images=True)


def test_run_table_carries_every_plane_file(zstack_run):
    fields = pd.read_parquet(zstack_run / "fields.parquet")
    assert (fields["status"] == "ok").all()
    assert {"plane_numbers", "files_reporter", "files_nuclei", "files_neurites"} <= set(fields)
    assert all(list(p) == [1, 2, 3] for p in fields["plane_numbers"])
    rec = _treated_field(fields)
    assert all(f"ZStep_{k}" in f for k, f in zip((1, 2, 3), rec["files_reporter"], strict=True))
    assert "ZStep_1" in rec["path_reporter"]  # the lowest plane: what the plugin used to show


@pytest.mark.parametrize("rule", ["max", 2, "mean"])
def test_images_and_overlays_follow_the_plate_rule(zstack_run, tmp_path, rule):
    from screening_napari import images as img
    from screening_napari.run import QCRun

    cache = img.FieldCache()
    run = QCRun.open(_with_rule(zstack_run, rule, tmp_path / "run"))
    assert img.plane_rule(run.config, "PLATE01") == rule
    rec = _treated_field(run.fields)
    fields = run.well_fields("PLATE01", rec["well"])
    sites, timepoints, _ = img.field_grid(fields)
    at = (sites.index(rec["site"]), timepoints.index(rec["timepoint"]))

    expected = {role: _expected(rec[f"files_{role}"], rule) for role in ("reporter", "nuclei")}
    lowest = tifffile.imread(rec["path_reporter"])
    for role, want in expected.items():
        shape, dtype = img.field_shape(fields, role, rule)
        assert dtype == want.dtype
        shown = np.asarray(img.channel_stack(fields, role, shape, dtype, rule, cache=cache)[at])
        np.testing.assert_array_equal(shown, want)
    assert not np.array_equal(expected["reporter"], lowest)  # so showing plane 1 would fail

    shape, _ = img.field_shape(fields)
    overlays = img.overlay_stacks(fields, run.config, shape, cache=cache)  # segments on the spot
    ref = _library(rec, run.config, rule)
    assert ref.images["soma_labels"].max() > 0
    for name in ("soma_labels", "nuclei_labels"):
        np.testing.assert_array_equal(np.asarray(overlays[name][at]), ref.images[name])
    np.testing.assert_array_equal(np.asarray(overlays["neurite_skeleton"][at]) > 0, ref.images["neurite_skeleton"] > 0)
    # the overlays are not those of the lowest plane
    plane1 = _library(rec, run.config, 1).images
    assert not np.array_equal(plane1["soma_labels"], ref.images["soma_labels"]) or not np.array_equal(
        plane1["neurite_skeleton"] > 0, ref.images["neurite_skeleton"] > 0
    )
    if rule == "max":  # the run measured exactly this image
        row = pd.read_parquet(zstack_run / "fields.parquet").set_index(["well", "site", "timepoint"])
        assert row.loc[(rec["well"], rec["site"], rec["timepoint"]), "n_neurons"] == ref.row["n_neurons"]


def test_single_plane_fields_keep_their_paths_as_cache_keys():
    from screening_napari import images as img

    from screening.io.screen import field_paths

    old = {"path_reporter": "/a.tif", "path_neurites": "/a.tif", "path_nuclei": "/b.tif"}  # runs before planes
    new = {**old, "plane_numbers": (1,), "files_reporter": ("/a.tif",), "files_neurites": ("/a.tif",),
           "files_nuclei": ("/b.tif",)}
    for rec in (old, new):
        for rule in ("max", "mean"):
            assert img.field_sources(rec, rule) == field_paths(rec)
    assert img.field_sources({**new, "path_nuclei": None, "files_nuclei": None})["nuclei"] is None
    z = {"path_reporter": "/z1.tif", "plane_numbers": (1, 2), "files_reporter": ("/z1.tif", "/z2.tif")}
    assert img.field_sources(z, "max") == {"reporter": ("max", ((1, "/z1.tif"), (2, "/z2.tif")))}
    assert img.field_sources(z, 2)["reporter"] == (2, ((1, "/z1.tif"), (2, "/z2.tif")))


@pytest.mark.napari
def test_widget_shows_the_projection_and_its_segmentation(zstack_run, make_napari_viewer, qtbot, tmp_path):
    from screening_napari.widget import QCWidget

    run_dir = tmp_path / "run"
    shutil.copytree(zstack_run, run_dir)
    viewer = make_napari_viewer(show=True)
    widget = QCWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Run QC")
    assert widget.open_run(run_dir) is not None
    rec = _treated_field(widget.run.fields)
    widget.show_well(rec["well"])
    t_index = len(widget._timepoints) - 1
    viewer.dims.current_step = (widget._sites.index(rec["site"]), t_index, 0, 0)
    qtbot.waitUntil(widget.overlays_ready, timeout=60_000)
    qtbot.wait(20)
    at = (widget._sites.index(rec["site"]), t_index)
    np.testing.assert_array_equal(
        np.asarray(viewer.layers["reporter"].data[at]), _expected(rec["files_reporter"], "max")
    )
    # The run's own config: the plugin shows what the run measured, with the plate's calibration.
    ref = _library(rec, widget.run.config, "max", widget.run.calibrations[rec["plate"]]).images
    np.testing.assert_array_equal(np.asarray(viewer.layers["soma labels"].data[at]), ref["soma_labels"])
    np.testing.assert_array_equal(np.asarray(viewer.layers["nuclei labels"].data[at]), ref["nuclei_labels"])
    assert "segmentation:" not in widget.status.text()


def test_each_widget_cache_is_its_own(tmp_path, monkeypatch):
    from screening_napari import images as img

    path = str(tmp_path / "a.tif")
    tifffile.imwrite(path, np.arange(12, dtype=np.uint16).reshape(3, 4))
    reads = []
    real = img.read_image
    monkeypatch.setattr(img, "read_image", lambda p: reads.append(p) or real(p))
    first, second = img.FieldCache(), img.FieldCache()
    np.testing.assert_array_equal(first.image(path), np.arange(12).reshape(3, 4))
    first.image(path)
    assert len(reads) == 1  # cached
    second.image(path)
    assert len(reads) == 2  # another widget's cache holds nothing of the first's
    first.errors["x"] = "broken"
    assert second.errors == {}
    first.clear()
    first.image(path)
    assert len(reads) == 3 and first.errors == {}
