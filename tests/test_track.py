"""Registration, linking and the event rules on small synthetic series with known answers."""

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from screening.track.events import follow_site
from screening.track.link import link_frames, match
from screening.track.objects import soma_objects, thumbnail
from screening.track.register import register_series


def blobs(shape, centres, sigma=3.0):
    image = np.zeros(shape, np.float32)
    for y, x in centres:
        image[int(y), int(x)] = 1.0
    return ndi.gaussian_filter(image, sigma) * 1000 + 100


@pytest.mark.parametrize("shift", [(7.3, -4.6), (-12.8, 15.2), (0.4, 0.0)])
def test_register_recovers_known_subpixel_shift(shift):
    rng = np.random.default_rng(1)
    base = blobs((260, 260), rng.uniform(0, 260, (120, 2)))
    moved = ndi.shift(base, shift, order=3, mode="nearest")  # features move by +shift
    base, moved = base + rng.normal(0, 1, base.shape), moved + rng.normal(0, 1, base.shape)  # camera noise
    factor = 2
    result = register_series([thumbnail(base, factor), thumbnail(moved, factor)], scale=(factor, factor))
    # A feature at p in the moved image is at p - shift in the first: the returned shift undoes the move.
    assert result.loc[1, "shift_ok"]
    assert abs(result.loc[1, "shift_y_px"] + shift[0]) <= 0.5
    assert abs(result.loc[1, "shift_x_px"] + shift[1]) <= 0.5


def test_register_accumulates_and_flags_unsupported_shift():
    rng = np.random.default_rng(2)
    base = blobs((200, 200), rng.uniform(0, 200, (80, 2)))
    t1 = ndi.shift(base, (3, 2), order=1, mode="nearest")
    noise = rng.normal(size=(200, 200)).astype(np.float32)  # nothing in common with the site
    t3 = ndi.shift(base, (6, 5), order=1, mode="nearest")
    result = register_series([base, t1, noise, t3], upsample_factor=10)
    assert result["shift_ok"].tolist() == [True, True, False, True]
    # The flagged timepoint keeps its reference's shift; the next one is registered past it.
    assert np.allclose(result.loc[2, ["shift_y_px", "shift_x_px"]].to_numpy(float), [-3, -2], atol=0.2)
    assert np.allclose(result.loc[3, ["shift_y_px", "shift_x_px"]].to_numpy(float), [-6, -5], atol=0.2)
    big = register_series([base, t3], max_shift_px=5.0)
    assert not big.loc[1, "shift_ok"]


def test_soma_objects_centroids_areas_levels():
    labels = np.zeros((20, 30), int)
    labels[2:6, 3:7] = 1  # 16 px, centre (3.5, 4.5)
    labels[10:13, 20:29] = 3  # label 2 absent
    reporter = np.where(labels == 1, 10.0, np.where(labels == 3, 4.0, 0.0))
    table = soma_objects(labels, reporter)
    assert table["label"].tolist() == [1, 3]
    assert table[["y_px", "x_px"]].to_numpy().tolist() == [[3.5, 4.5], [11.0, 24.0]]
    assert table["area_px"].tolist() == [16, 27]
    assert table["reporter_level"].tolist() == [10.0, 4.0]
    assert table["nuclei_level"].isna().all()
    assert soma_objects(np.zeros((5, 5), int), np.zeros((5, 5))).empty


def test_match_is_global_not_greedy():
    a = np.array([[0.0, 0.0], [0.0, 9.0]])
    b = np.array([[0.0, 5.0], [0.0, 14.0]])
    # Greedy nearest neighbour would give a[1] -> b[0] (4 px) and leave a[0] unlinked.
    ia, ib = match(a, b, max_distance=10.0)
    assert sorted(zip(ia.tolist(), ib.tolist())) == [(0, 0), (1, 1)]


def test_crossing_and_drifting_neurons_keep_their_identity():
    # Two neurons pass each other side by side (6 px apart, 3 px a frame in opposite directions:
    # at frame 2 each is nearer the other's old position than a nearest-neighbour gate of 8 px
    # would need to tell them apart); a third drifts sideways 7 px a frame, near the gate.
    frames = []
    for k in range(5):
        frames.append(np.array([[40.0 + 3 * k, 50.0], [52.0 - 3 * k, 56.0], [100.0, 20.0 + 7 * k]]))
    ids = link_frames(frames, max_distance=8.0, max_gap=1)
    assert all(f.tolist() == [0, 1, 2] for f in ids)


def test_gap_of_one_timepoint_is_closed_and_two_are_not():
    p = np.array([[50.0, 50.0]])
    none = np.empty((0, 2))
    ids = link_frames([p, p, none, p + 1, p], max_distance=5.0, max_gap=1)
    assert [f.tolist() for f in ids] == [[0], [0], [], [0], [0]]
    ids = link_frames([p, none, none, p], max_distance=5.0, max_gap=1)
    assert [f.tolist() for f in ids] == [[0], [], [], [1]]


def test_dim_points_continue_tracks_but_never_start_one():
    p, q = np.array([[50.0, 50.0]]), np.array([[20.0, 20.0]])
    # A neuron seen, dim at frames 1 and 2, seen again; a dim point alone at q starts nothing.
    frames = [p, np.vstack([p + 1, q]), p + 2, p]
    dim = [np.array([False]), np.array([True, True]), np.array([True]), np.array([False])]
    ids = link_frames(frames, max_distance=5.0, max_gap=1, dim=dim)
    assert [f.tolist() for f in ids] == [[0], [0, -1], [0], [0]]
    # A counted soma is preferred to a nearer dim nucleus: the dim one is left on no track.
    frames = [p, np.vstack([p + 1, p + 3])]
    ids = link_frames(frames, max_distance=5.0, dim=[np.array([False]), np.array([True, False])])
    assert [f.tolist() for f in ids] == [[0], [-1, 0]]


def site(n_timepoints=5, usable=None, shifts=None, shape=(100, 100)):
    usable = [True] * n_timepoints if usable is None else usable
    shifts = [(0.0, 0.0)] * n_timepoints if shifts is None else shifts
    return pd.DataFrame({
        "timepoint": np.arange(1, n_timepoints + 1),
        "day": [0.0, 2.0, 4.0, 7.0, 10.0, 14.0][:n_timepoints],
        "tindex": np.arange(n_timepoints),
        "usable": usable,
        "shift_y_px": [s[0] for s in shifts],
        "shift_x_px": [s[1] for s in shifts],
        "height_px": shape[0],
        "width_px": shape[1],
    })


def objects(detections):
    """(timepoint, y, x) tuples -> objects table."""
    return pd.DataFrame(detections, columns=["timepoint", "y_px", "x_px"]).assign(area_px=100.0, reporter_level=1.0)


def follow(detections, series, **kw):
    kw = {"max_distance_px": 8.0, "max_gap": 1, "edge_margin_px": 5.0, **kw}
    return follow_site(objects(detections), series, **kw)


def test_events_death_survival_late_entry_and_edge():
    detections = (
        [(t, 30.0, 30.0) for t in (1, 2, 3, 4, 5)]  # survives: censored at the end
        + [(t, 60.0, 60.0) for t in (1, 2)]  # dies between timepoints 2 and 3
        + [(t, 40.0, 80.0) for t in (3, 4, 5)]  # appears late (reporter onset): at risk from 4
        + [(t, 97.0, 50.0) for t in (1, 2, 3)]  # lost at the border: left the field, not dead
        + [(3, 80.0, 20.0)]  # a one-off late detection (debris): never at risk, no death
    )
    out = follow(detections, site())
    n = out.neurons.set_index(["y_px", "x_px"])
    assert n.loc[(30.0, 30.0), ["died", "censor_reason", "last_timepoint"]].tolist() == [False, "end", 5]
    assert n.loc[(60.0, 60.0), ["died", "last_timepoint", "death_timepoint"]].tolist() == [True, 2, 3]
    assert n.loc[(40.0, 80.0), ["first_timepoint", "entry_timepoint", "died"]].tolist() == [3, 4, False]
    assert n.loc[(30.0, 30.0), "entry_timepoint"] == 1
    assert pd.isna(n.loc[(80.0, 20.0), "entry_timepoint"]) and pd.isna(n.loc[(80.0, 20.0), "entry_day"])
    assert n.loc[(97.0, 50.0), ["died", "censor_reason"]].tolist() == [False, "left_field"]
    iv = out.intervals.set_index("timepoint_start")
    # Interval 1-2: three at risk (the late neuron is not yet there), no death.
    assert iv.loc[1, ["at_risk", "deaths"]].tolist() == [3, 0]
    assert iv.loc[2, ["at_risk", "deaths"]].tolist() == [3, 1]
    # 3-4: only the survivor (the late neuron is confirmed at 4, the edge neuron was censored
    # at 3, the one-off detection never enters); 4-5: survivor and the late neuron.
    assert iv.loc[3, ["at_risk", "deaths", "entered"]].tolist() == [1, 0, 1]
    assert iv.loc[4, ["at_risk", "deaths"]].tolist() == [2, 0]
    assert iv["entered"].sum() == 1
    assert out.reversals == 0
    dead = out.tracks[out.tracks["status"] == "dead"]
    assert dead[["timepoint", "y_px", "x_px"]].to_numpy().tolist() == [[3, 60.0, 60.0]]


def test_zombie_is_not_a_death_and_is_counted():
    detections = [(t, 50.0, 50.0) for t in (1, 2, 4, 5)]  # missed at usable timepoint 3
    out = follow(detections, site())
    assert len(out.neurons) == 1 and not out.neurons.loc[0, "died"]
    assert out.reversals == 1
    assert out.tracks["status"].tolist() == ["alive", "alive", "missed", "alive", "alive"]
    assert out.intervals["deaths"].sum() == 0 and out.intervals["at_risk"].tolist() == [1, 1, 1, 1]


def test_a_neuron_that_dims_is_alive_not_dead():
    # Seen at 1-3, then only as a dim nucleus at 4 and 5 (its reporter under the cut-off).
    table = objects([(t, 50.0, 50.0) for t in (1, 2, 3, 4, 5)]).assign(dim=[False, False, False, True, True])
    kw = {"max_distance_px": 8.0, "max_gap": 1, "edge_margin_px": 5.0}
    out = follow_site(table, site(), **kw)
    assert out.neurons[["died", "censor_reason", "last_timepoint"]].values.tolist() == [[False, "end", 5]]
    assert out.tracks["dim"].tolist() == [False, False, False, True, True]
    # Without following dim nuclei, the same neuron dies after timepoint 3.
    out = follow_site(table, site(), follow_dim=False, **kw)
    assert out.neurons[["died", "last_timepoint"]].values.tolist() == [[True, 3]]
    # A dim nucleus alone never becomes a neuron.
    assert follow_site(table.assign(dim=True), site(), **kw).neurons.empty


def test_unusable_timepoint_is_bridged_and_long_outage_censors():
    detections = [(t, 50.0, 50.0) for t in (1, 2, 4, 5)] + [(t, 20.0, 20.0) for t in (1, 2)]
    out = follow(detections, site(usable=[True, True, False, True, True]))
    n = out.neurons.set_index("y_px")
    assert n.loc[50.0, ["died", "last_timepoint"]].tolist() == [False, 5]
    # The second neuron is gone at 4, the first usable timepoint after 2: died in (2, 4].
    assert n.loc[20.0, ["died", "death_timepoint"]].tolist() == [True, 4]
    iv = out.intervals
    assert iv[["interval", "interval_end"]].to_numpy().tolist() == [[0, 1], [1, 3], [3, 4]]
    assert iv["deaths"].tolist() == [0, 1, 0]
    assert out.reversals == 0
    # Two unusable timepoints in a row: more than max_gap, so the neuron is censored there.
    out = follow([(t, 50.0, 50.0) for t in (1, 2, 5)], site(usable=[True, True, False, False, True]))
    first = out.neurons.iloc[0]
    assert first[["died", "censor_reason", "last_timepoint"]].tolist() == [False, "field_unusable", 2]
    assert len(out.neurons) == 2  # found again at 5: a new neuron, delayed entry


def test_registration_shift_places_neurons_in_one_frame():
    # The stage moved by (+20, -15) px at timepoint 2: the image shows the neuron shifted the other way.
    shifts = [(0.0, 0.0), (20.0, -15.0), (20.0, -15.0)]
    detections = [(1, 50.0, 50.0), (2, 30.0, 65.0), (3, 30.0, 65.0)]
    out = follow(detections, site(3, shifts=shifts))
    assert len(out.neurons) == 1 and out.neurons.loc[0, "censor_reason"] == "end"
    without = follow(detections, site(3))
    assert len(without.neurons) == 2


def test_a_failed_first_field_is_not_the_registration_frame(tmp_path):
    from screening.config.tracking import TrackingConfig
    from screening.track.sites import register_fields
    from screening.track.store import write_well

    rng = np.random.default_rng(3)
    base = blobs((240, 240), rng.uniform(0, 240, (90, 2)))
    images = [rng.normal(size=base.shape), base, ndi.shift(base, (6, -4), order=1, mode="nearest")]
    config = TrackingConfig()
    px = config.registration_pixel_um / 2  # thumbnails at half the size
    keys = [f"P/A01/s1/t{t}" for t in range(3)]
    write_well(tmp_path, "P", "A01", [], {k: thumbnail(im, 2) for k, im in zip(keys, images)}, set())
    fields = pd.DataFrame({
        "plate": "P", "well": "A01", "site": 1, "timepoint": [0, 1, 2], "field_key": keys,
        "pixel_size_um": px, "height_px": 240, "width_px": 240,
        "qc_pass": [False, True, True], "status": "ok", "n_neurons": 5,
    })
    out = register_fields(fields, tmp_path, config)
    # The defocused first field gets no shift; the second is the frame the third is moved into.
    assert out["shift_ok"].tolist() == [False, True, True]
    assert np.isnan(out.loc[0, "shift_y_px"])
    assert np.allclose(out.loc[2, ["shift_y_px", "shift_x_px"]].to_numpy(float), [-6, 4], atol=0.5)


def test_the_edge_test_uses_the_next_image_frame():
    # Seen at y = 20 px, then gone. The stage moved: a position p in timepoint 2's image is at
    # p + shift in the first frame, so the neuron would be at 20 - shift_y there.
    detections = [(1, 20.0, 50.0)]
    left = follow(detections, site(2, shifts=[(0.0, 0.0), (18.0, 0.0)]))  # at y = 2: at the border
    assert left.neurons.loc[0, ["died", "censor_reason"]].tolist() == [False, "left_field"]
    died = follow(detections, site(2, shifts=[(0.0, 0.0), (-18.0, 0.0)]))  # at y = 38: inside, gone
    assert died.neurons.loc[0, "died"]
