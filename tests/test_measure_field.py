"""measure_field: one row per field; bad input gives a failed-QC row with a reason, never an exception."""

import numpy as np
import pytest

from screening.config import RunConfig
from tests.test_segment_somata import NEGATIVES, make_field

PX = 0.65


@pytest.fixture(scope="module")
def config():
    return RunConfig(
        name="t", channels={"reporter": "w1", "nuclei": "w2"},
        plates=[{"id": "P1", "path": "p", "layout": "p/layout.csv"}],
    )


def measure(channels, config, **kw):
    from screening.measure.field import measure_field

    return measure_field(channels, config, pixel_size_um=PX, **kw)


def test_good_field_row_and_images(config):
    reporter, nuclei = make_field(neurons=[(60, 60), (140, 140)], negatives=NEGATIVES)
    m = measure({"reporter": reporter, "nuclei": nuclei, "neurites": reporter}, config, return_images=True)
    row = m.row
    assert row["n_neurons"] == 2 and isinstance(row["n_neurons"], int)
    assert row["n_nuclei"] == 10
    assert row["qc_pass"] is True and row["qc_reason"] == ""
    for key in ("neurite_length_um", "focus_score", "saturated_fraction", "debris_fraction"):
        assert np.isscalar(row[key])
    assert set(m.images) == {"soma_labels", "nuclei_labels", "neurite_skeleton"}
    assert m.images["soma_labels"].shape == reporter.shape and m.images["neurite_skeleton"].dtype == bool


def test_without_nuclei_n_nuclei_is_nan(config):
    reporter, _ = make_field(neurons=[(60, 60), (140, 140)], negatives=NEGATIVES)
    m = measure({"reporter": reporter}, config)
    assert np.isnan(m.row["n_nuclei"]) and m.row["n_neurons"] == 2 and m.images is None


def _bad_inputs():
    rng = np.random.default_rng(0)
    good = rng.integers(90, 110, (64, 64)).astype(np.uint16)
    nan = good.astype(np.float32)
    nan[3, 3] = np.nan
    return {
        "all black": ({"reporter": np.zeros((64, 64), np.uint16)}, "empty field"),
        "all saturated": ({"reporter": np.full((64, 64), 65535, np.uint16)}, "saturated"),
        "constant": ({"reporter": np.full((64, 64), 300, np.uint16)}, "empty field"),
        "no cells": ({"reporter": good, "nuclei": good}, "empty field"),
        "nan": ({"reporter": nan}, "NaN"),
        "3-D": ({"reporter": np.zeros((2, 64, 64))}, "3-D"),
        "tiny": ({"reporter": np.zeros((5, 64))}, "too small"),
        "shapes differ": ({"reporter": good, "nuclei": good[:40]}, "differs"),
        "no reporter": ({"nuclei": good}, "no reporter"),
        "strings": ({"reporter": np.array([["a"] * 64] * 64)}, "dtype"),
    }


@pytest.mark.parametrize("case", list(_bad_inputs()))
def test_bad_input_gives_failed_row(case, config):
    channels, reason = _bad_inputs()[case]
    m = measure(channels, config)
    assert m.row["qc_pass"] is False
    assert reason in m.row["qc_reason"]
    assert m.row["n_neurons"] == 0


def test_odd_field_shape_is_measured(config):
    reporter, nuclei = make_field(neurons=[(60, 60)], negatives=NEGATIVES, shape=(201, 187))
    m = measure({"reporter": reporter, "nuclei": nuclei}, config)
    assert m.row["n_neurons"] == 1 and m.row["qc_pass"]


def test_neurite_failure_keeps_counts_and_fails_qc(config, monkeypatch):
    import screening.measure.field as field

    def broken(*args, **kwargs):
        raise ValueError("index pointer size 0 should be 1")

    monkeypatch.setattr(field, "measure_neurites", broken)
    reporter, nuclei = make_field(neurons=[(60, 60), (140, 140)], negatives=NEGATIVES)
    row = measure({"reporter": reporter, "nuclei": nuclei}, config).row
    assert row["n_neurons"] == 2 and np.isnan(row["neurite_length_um"])
    assert row["qc_pass"] is False and "neurite measurement failed: ValueError" in row["qc_reason"]


def test_a_ring_soma_of_a_cytoplasmic_reporter_is_not_measured_as_neurite(config):
    # Three neurons whose reporter leaves the nucleus dark (a ring), each with one straight
    # neurite of 70 px, among reporter-negative cells; the reporter is also the neurite channel.
    from tests.test_segment_somata import _disc

    shape = (220, 220)
    rng = np.random.default_rng(3)
    reporter, nuclei = np.zeros(shape), np.zeros(shape)
    centres = [(50, 40), (110, 40), (170, 40)]
    for r, c in centres:
        reporter = np.maximum(reporter, 1000.0 * _disc(shape, (r, c), 11))
        reporter[r - 1 : r + 2, c + 11 : c + 81] = 400.0
        reporter[_disc(shape, (r, c), 7)] = 0.0
        nuclei = np.maximum(nuclei, 800.0 * _disc(shape, (r, c), 7))
    for r, c in [(20, 150), (80, 190), (140, 150), (200, 190), (200, 100), (20, 100)]:  # reporter-negative cells
        reporter = np.maximum(reporter, 60.0 * _disc(shape, (r, c), 9))
        nuclei = np.maximum(nuclei, 800.0 * _disc(shape, (r, c), 7))

    def camera(image, background):
        from scipy import ndimage as ndi

        image = ndi.gaussian_filter(image, 1.0) + background
        return np.clip(0.25 * rng.poisson(image / 0.25) + rng.normal(100, 1.5, shape), 0, 65535).astype(np.uint16)

    reporter, nuclei = camera(reporter, 60), camera(nuclei, 25)
    row = measure({"reporter": reporter, "nuclei": nuclei, "neurites": reporter}, config).row
    drawn_um = 3 * 70 * PX
    assert row["n_neurons"] == 3
    assert 0.8 * drawn_um < row["neurite_length_um"] < 1.15 * drawn_um
