"""Self-calibration: sizes and the reporter cut-off come from the images, not from fixed discs.

Synthetic fields of known nucleus and soma size and brightness, counted with the default
config (whose 10 µm nucleus and 15 µm soma are only priors).
"""

import numpy as np
import pytest
from scipy import ndimage as ndi

from screening.config import RunConfig, SegmentationConfig
from screening.measure.field import measure_field
from screening.measure.neurites import measure_neurites
from screening.segment.neurites import segment_neurites
from screening.segment.calibration import Calibration, calibrate, two_population_cutoff
from screening.segment.scale import blob_diameters
from screening.segment.somata import count_motor_neurons

PX = 0.65


@pytest.fixture(scope="module")
def config():
    return RunConfig(name="t", channels={"reporter": "w1", "nuclei": "w2"},
                     plates=[{"id": "P1", "path": "p", "layout": "p/layout.csv"}])


def _disc(shape, centre, radius):
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def _ellipse(shape, centre, a, b, angle):
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    dy, dx = yy - centre[0], xx - centre[1]
    u, v = dx * np.cos(angle) + dy * np.sin(angle), -dx * np.sin(angle) + dy * np.cos(angle)
    return (u / a) ** 2 + (v / b) ** 2 <= 1


def culture(nucleus_um, soma_um, *, neuron_every=2, shape=None, seed=0, nucleus_brightness=None, dead=(),
            cytoplasmic=False, negative_reporter=60.0):
    """Reporter and nuclear images (uint16) of cells on a jittered grid, soma and nucleus of the
    given diameters (µm; nuclei are ellipses of semi-axes 0.95-1.2 and 0.75-0.95 of the radius,
    as the simulator draws them, so 0.7-1.15x the disc's area, brightness sd 0.2 lognormal):
    every ``neuron_every``-th cell a motor neuron (bright soma), the rest reporter-negative (dim soma). ``nucleus_brightness`` maps a cell index to a brightness factor;
    ``dead`` lists cell indices drawn as dead neurons (a condensed, 2.5x bright nucleus of half
    the diameter and reporter fragments, no soma); ``cytoplasmic``: the reporter leaves every
    nucleus dark (a neuron's soma is a bright ring, a negative cell's a dim one);
    ``negative_reporter``: a negative cell's reporter, ADU (a neuron's is 1000). Returns
    (reporter, nuclei, n_neurons)."""
    rng = np.random.default_rng(seed)
    step = 1.6 * soma_um / PX
    shape = shape or (int(8 * step), int(8 * step))
    reporter, nuclei = np.zeros(shape), np.zeros(shape)
    n_neurons, k = 0, 0
    for r0 in np.arange(step / 2, shape[0] - step / 2, step):
        for c0 in np.arange(step / 2, shape[1] - step / 2, step):
            r, c = r0 + rng.uniform(-0.15, 0.15) * step, c0 + rng.uniform(-0.15, 0.15) * step
            nucleus = (nucleus_brightness or {}).get(k, 1.0) * 800.0 * np.exp(rng.normal(0, 0.2))
            if k in dead:
                for dr, dc in ((-0.3, 0.0), (0.3, 0.2), (0.0, -0.35)):
                    spot = _disc(shape, (r + dr * soma_um / PX, c + dc * soma_um / PX), 0.12 * soma_um / PX)
                    reporter = np.maximum(reporter, 2500.0 * spot)
                nuclei = np.maximum(nuclei, 2.5 * nucleus * _disc(shape, (r, c), nucleus_um / 4 / PX))
            else:
                neuron = k % neuron_every == 0
                n_neurons += neuron
                level = 1000.0 if neuron else negative_reporter
                reporter = np.maximum(reporter, level * _disc(shape, (r, c), soma_um / 2 / PX))
                radius = nucleus_um / 2 / PX
                shape_ = _ellipse(shape, (r, c), radius * rng.uniform(0.95, 1.2), radius * rng.uniform(0.75, 0.95),
                                  rng.uniform(0, np.pi))
                nuclei = np.maximum(nuclei, nucleus * shape_)
                if cytoplasmic:
                    reporter[shape_] = 0.0
            k += 1

    def camera(image, background):
        image = ndi.gaussian_filter(image, 1.0) + background
        return np.clip(0.25 * rng.poisson(image / 0.25) + rng.normal(100, 1.5, shape), 0, 65535).astype(np.uint16)

    return camera(reporter, 60), camera(nuclei, 25), n_neurons


@pytest.mark.parametrize(("nucleus_um", "soma_um"), [(6.0, 10.0), (14.0, 23.0)])
def test_small_and_large_nuclei_both_count_right_with_defaults(config, nucleus_um, soma_um):
    reporter, nuclei, n = culture(nucleus_um, soma_um)
    row = measure_field({"reporter": reporter, "nuclei": nuclei}, config, pixel_size_um=PX).row
    assert n >= 20
    assert row["n_neurons"] == n
    assert row["n_nuclei"] == 2 * n - 1 or row["n_nuclei"] == 2 * n  # every nucleus, none split or dropped


@pytest.mark.parametrize("nucleus_um", [7.0, 12.0])
def test_calibration_recovers_the_nucleus_diameter(nucleus_um):
    fields = []
    for seed in range(2):
        reporter, nuclei, _ = culture(nucleus_um, nucleus_um / 0.6, seed=seed)
        fields.append({"reporter": reporter, "nuclei": nuclei})
    cal = calibrate(fields, pixel_size_um=PX)
    assert cal.source == "images"
    assert cal.nucleus_diameter_um == pytest.approx(nucleus_um, rel=0.15)
    assert cal.soma_diameter_um == pytest.approx(nucleus_um / 0.6, rel=0.25)
    # A nucleus diameter outside the config's range is clipped to it (the prior bounds it).
    narrow = calibrate(fields, pixel_size_um=PX, nucleus_diameter_um=10.0, calibration_range=1.1)
    assert 10.0 / 1.1 - 1e-9 <= narrow.nucleus_diameter_um <= 10.0 * 1.1 + 1e-9


def test_a_bright_live_nucleus_is_never_called_dead():
    # Small nuclei (6 µm, under half the 10 µm default disc): with a fixed disc every one of
    # them looked condensed, and the brighter ones were thrown out as dead.
    bright = {k: 2.5 for k in range(0, 40, 4)}  # every other neuron: a 2.5x brighter live nucleus
    reporter, nuclei, n = culture(6.0, 10.0, nucleus_brightness=bright, dead=(7, 21))
    cal = calibrate([{"reporter": reporter, "nuclei": nuclei}], pixel_size_um=PX)
    result = count_motor_neurons(reporter, nuclei, pixel_size_um=PX, calibration=cal, **cal.sizes())
    assert result.n == n  # every neuron, the 2.5x bright ones too
    assert result.n_fragments <= 2  # nuclei called dead: at most the two condensed, bright ones


def test_a_neurite_at_three_times_the_pixel_noise_is_measured():
    rng = np.random.default_rng(3)
    shape = (200, 400)
    line = np.zeros(shape)
    line[99:102, 40:360] = 1.0  # 320 px (208 µm), 2 µm wide
    line = ndi.gaussian_filter(line, 0.9)
    noise = 10.0
    image = 3 * noise * line / line.max() + rng.normal(500, noise, shape)
    mask, bodies = segment_neurites(image, pixel_size_um=PX)
    res = measure_neurites(mask, np.zeros(shape, np.int32), pixel_size_um=PX, bodies=bodies)
    assert res.total_length_um == pytest.approx(320 * PX, rel=0.15)
    # ... and pure noise of the same level gives nothing.
    mask, bodies = segment_neurites(rng.normal(500, noise, shape), pixel_size_um=PX)
    empty = measure_neurites(mask, np.zeros(shape, np.int32), pixel_size_um=PX, bodies=bodies)
    assert empty.total_length_um == 0.0


def test_blob_diameters_read_disc_sizes():
    shape = (300, 300)
    image = np.zeros(shape)
    for i, d in enumerate((8, 8, 8, 20, 20, 20)):
        image += 100.0 * _disc(shape, (50 + 100 * (i // 3), 50 + 100 * (i % 3)), d / 2)
    found = np.sort(blob_diameters(ndi.gaussian_filter(image, 1.0), min_diameter_px=4, max_diameter_px=40))
    assert len(found) == 6
    assert found[:3] == pytest.approx(8, rel=0.15) and found[3:] == pytest.approx(20, rel=0.15)


def test_two_population_cutoff_splits_two_populations_and_refuses_one():
    rng = np.random.default_rng(0)
    negatives = np.exp(rng.normal(np.log(50), 0.25, 300))
    positives = np.exp(rng.normal(np.log(500), 0.35, 150))
    cutoff, negative = two_population_cutoff(np.concatenate([negatives, positives]))
    assert 120 < cutoff < 220 and negative == pytest.approx(50, rel=0.1)
    assert np.isnan(two_population_cutoff(negatives)[0])


def test_a_cytoplasmic_reporter_is_told_from_the_plate_and_its_neurons_counted(config):
    plates = {kind: [culture(8.0, 16.0, seed=seed, cytoplasmic=kind == "cytoplasmic") for seed in range(2)]
              for kind in ("cytoplasmic", "filling")}
    share = {kind: calibrate([{"reporter": r, "nuclei": nu} for r, nu, _ in fields], pixel_size_um=PX)
             for kind, fields in plates.items()}
    assert share["cytoplasmic"].reporter_hole_share > 0.5 and share["filling"].reporter_hole_share < 0.1
    reporter, nuclei, n = plates["cytoplasmic"][0]
    row = measure_field({"reporter": reporter, "nuclei": nuclei}, config, pixel_size_um=PX,
                        calibration=share["cytoplasmic"]).row
    assert n >= 20 and row["n_neurons"] == n


def test_a_cytoplasmic_plate_reads_its_negative_cells_from_their_own_cytoplasm(config):
    # Every nucleus dark; the negative cells' cytoplasm dim (25 ADU, ~4 pixel-noise sds: no
    # bright cell round their nuclei). Their level is their cytoplasm's, not the dark nucleus's
    # (2.3 ADU when only nuclei with a bright cell round them were filled), so the cut-off lies
    # between the two cell populations, not between a neuron and an empty nucleus.
    fields = [culture(8.0, 16.0, seed=seed, cytoplasmic=True, negative_reporter=25.0) for seed in range(2)]
    cal = calibrate([{"reporter": r, "nuclei": nu} for r, nu, _ in fields], pixel_size_um=PX)
    assert cal.reporter_hole_share > 0.5
    assert 10.0 < cal.reporter_negative_level < 25.0  # the smoothed ring's crest reads a little under it
    for reporter, nuclei, n in fields:
        row = measure_field({"reporter": reporter, "nuclei": nuclei}, config, pixel_size_um=PX, calibration=cal).row
        assert row["n_neurons"] == n


def test_a_calibration_row_written_before_a_column_existed_reads_with_its_default():
    row = Calibration(9.0, 15.0, 50.0, 55.5, n_fields=8, source="images").row()
    del row["reporter_hole_share"]
    assert np.isnan(Calibration.from_row(row).reporter_hole_share)


def test_calibration_row_round_trips():
    cal = Calibration(9.87654, 14.5, 50.0, 55.5, nucleus_area_um2=70.123456, reporter_cutoff=float("nan"),
                      n_fields=8, n_nuclei=321, source="images")
    back = Calibration.from_row(cal.row())
    assert back.nucleus_diameter_um == 9.877 and back.n_nuclei == 321 and np.isnan(back.reporter_cutoff)
    assert back.segmentation(SegmentationConfig()).nucleus_diameter_um == 9.877
