"""Tracks in the napari well browser: registered images, the Tracks layer, deaths, a neuron's history."""

from __future__ import annotations

import shutil

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import tifffile

from screening_napari.tracks import history, registered_stack, site_tracks, translate


def test_translate_moves_content_and_fills_zeros():
    plane = np.arange(20).reshape(4, 5)
    moved = translate(plane, 1, -2)
    assert moved[1, 0] == plane[0, 2] and moved[3, 2] == plane[2, 4]
    assert (moved[0] == 0).all() and (moved[:, -2:] == 0).all()


def test_registered_stack_moves_each_field_by_its_own_shift():
    fields = pd.DataFrame({
        "site": [1, 1, 2, 2], "timepoint": [1, 2, 1, 2],
        "shift_y_px": [0.0, 2.4, 0.0, -1.0], "shift_x_px": [0.0, -3.0, 0.0, 1.0],
        "shift_ok": [True, True, True, False],
    })
    stack = da.from_array(np.random.default_rng(0).random((2, 2, 6, 7)), chunks=(1, 1, 6, 7))
    out = np.asarray(registered_stack(stack, fields))
    np.testing.assert_array_equal(out[0, 1], translate(np.asarray(stack[0, 1]), 2, -3))
    np.testing.assert_array_equal(out[1, 1], np.asarray(stack[1, 1]))  # untrusted shift: left as imaged


def _tracks():
    return pd.DataFrame({
        "track_id": [0, 0, 0, 1, 1],
        "timepoint": [1, 2, 3, 1, 2],
        "day": [0.0, 3.0, 7.0, 0.0, 3.0],
        "status": ["alive", "alive", "alive", "alive", "dead"],
        "y_px": [10.0, 11.0, 12.0, 50.0, 50.0], "x_px": [20.0, 20.0, 20.0, 60.0, 60.0],
        "y_reg_px": [10.0, 10.0, 10.0, 50.0, 49.0], "x_reg_px": [20.0, 21.0, 22.0, 60.0, 61.0],
        "area_px": [100.0, 101.0, 99.0, 80.0, np.nan], "reporter_level": [5.0, 5.0, 4.0, 3.0, np.nan],
        "dim": [False, False, True, False, False],
    })


def test_site_tracks_layer_data():
    data = site_tracks(_tracks(), [1, 2, 3])
    assert data["tracks"].shape == (5, 4)
    assert data["tracks"][:, 1].tolist() == [0, 1, 2, 0, 1]  # slider index, not the timepoint number
    np.testing.assert_array_equal(data["deaths"], [[1, 49.0, 61.0]])
    assert data["neurons"].shape == (4, 3) and data["neuron_ids"].tolist() == [0, 0, 0, 1]
    raw = site_tracks(_tracks(), [1, 2, 3], registered=False)
    assert raw["tracks"][1, 2:].tolist() == [11.0, 20.0]


def test_history_says_fate_and_each_timepoint():
    neurons = pd.DataFrame({"track_id": [1], "died": [True], "last_timepoint": [1], "death_timepoint": [2.0],
                            "censor_reason": [""]})
    text = history(_tracks(), neurons, 1)
    assert text.splitlines() == [
        "neuron 1: died between timepoints 1 and 2", "t1 day 0: alive, 80 px, reporter 3", "t2 day 3: dead",
    ]
    neurons = pd.DataFrame({"track_id": [0], "died": [False], "last_timepoint": [3], "censor_reason": ["end"]})
    assert history(_tracks(), neurons, 0).splitlines()[-1] == (
        "t3 day 7: alive, 99 px, reporter 4 (dim: reporter under the cut-off)")


@pytest.mark.napari
def test_demo_well_shows_registered_tracks_and_a_neurons_history(demo_run, make_napari_viewer, qtbot, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(demo_run, run_dir)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("screening", "Run QC")
    widget.open_run(run_dir)
    widget.register_box.setChecked(True)
    tracks = pd.read_parquet(run_dir / "tracks.parquet")
    fields = pd.read_parquet(run_dir / "fields.parquet")
    dead = tracks[tracks["status"] == "dead"].iloc[0]
    widget.show_well(dead["well"])
    site = int(dead["site"])
    sites = sorted(fields.loc[fields["well"] == dead["well"], "site"].unique())
    viewer.dims.current_step = (sites.index(site), 0, 0, 0)
    qtbot.wait(20)
    for name in ("tracks", "deaths", "tracked neurons"):
        assert name in viewer.layers
    assert len(viewer.layers["deaths"].data) >= 1
    # The reporter layer shows each field moved by its registration shift.
    rec = fields[(fields["well"] == dead["well"]) & (fields["site"] == site)].sort_values("timepoint").iloc[-1]
    shown = np.asarray(viewer.layers["reporter"].data[sites.index(site), -1])
    expected = translate(tifffile.imread(rec["path_reporter"]), round(rec["shift_y_px"]), round(rec["shift_x_px"]))
    np.testing.assert_array_equal(shown, expected)
    # A click near a neuron at its first timepoint selects it and shows its history.
    neuron = tracks[(tracks["well"] == dead["well"]) & (tracks["site"] == site) & (tracks["track_id"] == dead["track_id"])]
    first = neuron.iloc[0]
    timepoints = sorted(fields.loc[fields["well"] == dead["well"], "timepoint"].unique())
    px = float(rec["pixel_size_um"])
    found = widget.track_view.neuron_at(timepoints.index(first["timepoint"]), first["y_reg_px"] + 2, first["x_reg_px"], px)
    assert found == dead["track_id"]
    text = widget.track_view.select(found)
    assert text.startswith(f"neuron {found}: died") and widget.neuron_label.text() == text
