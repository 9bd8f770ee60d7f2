"""The synthetic screen: determinism, files and config, and truth that agrees with the images."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from screening.config import load_config
from screening.simulate.truth import screen_field_truth
from screening.simulate import (
    PRESETS,
    Compound,
    Culture,
    Design,
    Imaging,
    Patient,
    Preset,
    build_screen,
    get_preset,
    read_truth,
    render_field,
    sample_fields,
    simulate_screen,
    simulate_truth,
)
from screening.simulate.truth import clip_fraction

# A screen of 9 tiny fields x 2 timepoints: fast to write and compare.
TINY = Preset(
    "tiny",
    "test preset",
    Design(
        patients=(Patient("P1", 0.5),),
        compounds=(Compound("cpdA", (10.0,), hr_max=0.5),),
        positive_control=Compound("ctrl", (5.0,), hr_max=0.3),
        replicate_wells=3,
        vehicle_wells=3,
    ),
    Culture(neurons_per_mm2=600.0),
    Imaging(field_shape=(96, 96), sites=1, days=(0, 7), defocus_fraction=0.05),
)

# Well separated, evenly bright somata, dim neurites, no debris, no stage error: every
# reporter-bright blob of the image is one soma, so blobs can be counted against the truth.
SPARSE = replace(
    TINY,
    culture=replace(
        TINY.culture,
        clump_fraction=0.0,
        min_nucleus_distance_um=26.0,
        debris_days=1e-9,
        saturated_debris_per_field=0.0,
    ),
    imaging=replace(
        TINY.imaging,
        field_shape=(160, 160),
        margin_um=0.0,
        stage_shift_um=0.0,
        defocus_fraction=0.0,
        focus_drift_px=0.0,
        soma_sd=0.1,
        neurite_fraction=0.12,
        days=(0, 4, 14),
    ),
)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_screen(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "screen"
    simulate_screen(out, preset=TINY, seed=3)
    return out


def test_same_seed_gives_identical_bytes(tiny_screen, tmp_path):
    again = simulate_screen(tmp_path / "again", preset=TINY, seed=3).parent
    first, second = _files(tiny_screen), _files(again)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []


def test_other_seed_gives_other_images(tiny_screen, tmp_path):
    other = _files(simulate_screen(tmp_path / "other", preset=TINY, seed=4).parent)
    first = _files(tiny_screen)
    # The plate layout is randomised too, so compare contents, not names.
    images = {v for k, v in first.items() if k.endswith(".TIF")}
    other_images = {v for k, v in other.items() if k.endswith(".TIF")}
    assert len(images) == 36 and not images & other_images
    assert first["PLATE01/layout.csv"] != other["PLATE01/layout.csv"]


def test_imagexpress_layout_and_16_bit_images(tiny_screen):
    import tifffile

    tiffs = sorted(p.relative_to(tiny_screen).as_posix() for p in tiny_screen.rglob("*.TIF"))
    # 9 wells x 1 site x 2 timepoints x 2 channels
    assert len(tiffs) == 36
    assert "PLATE01/TimePoint_2/PLATE01_" in tiffs[-1] and tiffs[-1].endswith("_s1_w2.TIF")
    image = tifffile.imread(tiny_screen / tiffs[0])
    assert image.dtype == np.uint16 and image.shape == (96, 96)


def test_config_and_layout_load(tiny_screen):
    config = load_config(tiny_screen / "config.yaml")
    assert config.pixel_size_um == 0.65
    assert config.channels.reporter == "w1" and config.channels.nuclei == "w2"
    assert config.timepoints == {1: 0.0, 2: 7.0}
    (plate,) = config.plates
    assert plate.id == "PLATE01" and plate.format == "imagexpress"
    assert plate.path == tiny_screen / "PLATE01" and plate.layout.is_file()
    layout = pd.read_csv(plate.layout, keep_default_na=False)
    assert list(layout.columns) == ["well", "patient", "compound", "concentration_um", "role"]
    assert len(layout) == 96  # the whole plate, unused wells "empty"
    roles = layout["role"].value_counts().to_dict()
    assert roles == {"empty": 87, "vehicle": 3, "positive_control": 3, "treatment": 3}
    vehicle = layout[layout["role"] == "vehicle"]
    assert set(vehicle["compound"]) == {"DMSO"} and set(vehicle["concentration_um"]) == {0.0}


def test_written_truth_equals_simulate_truth(tiny_screen):
    written = read_truth(tiny_screen)
    direct = simulate_truth(TINY, seed=3)
    for key in ("fields", "effects", "neurons", "layout"):
        pd.testing.assert_frame_equal(written[key], direct[key], check_dtype=False, obj=key)
    fields = direct["fields"]
    assert len(fields) == 18 and fields["defocused"].sum() == 1


def test_effects_follow_the_hill_curves():
    effects = simulate_truth(TINY, seed=0)["effects"].set_index("compound")
    # log HR(c) = log(hr_max) * c / (c + ec50), ec50 = 1 µM
    assert effects.loc["cpdA", "true_hr"] == pytest.approx(math.exp(math.log(0.5) * 10 / 11))
    assert effects.loc["ctrl", "true_hr"] == pytest.approx(math.exp(math.log(0.3) * 5 / 6))
    assert effects.loc["DMSO", "true_hr"] == 1.0


def test_null_preset_has_no_compound_effect():
    effects = simulate_truth("null", seed=0)["effects"]
    treatment = effects[effects["role"] == "treatment"]
    assert len(treatment) == 3 * 15  # 3 patients x 15 compound-concentrations
    assert (treatment["true_hr"] == 1).all() and (treatment["neurite_factor"] == 1).all()
    assert (effects.loc[effects["role"] == "positive_control", "true_hr"] < 0.5).all()


def test_screen_preset_design_and_densities():
    truth = simulate_truth("screen", seed=0)
    effects = truth["effects"]
    assert effects["patient"].nunique() == 3
    assert effects.loc[effects["role"] == "treatment", "compound"].nunique() == 8
    hr = effects.loc[effects["role"] == "treatment", "true_hr"]
    assert hr.min() < 0.5 and hr.max() > 1.1 and (hr == 1).sum() >= 9
    day0 = truth["fields"].query("day == 0")
    assert 15 <= day0["n_neurons"].mean() <= 40


def test_counted_neurons_are_the_bright_somata_in_the_image():
    screen = build_screen(SPARSE, seed=1)
    truth = screen_field_truth(screen)
    imaging = SPARSE.imaging
    checked = 0
    for field in range(len(screen.fields)):
        for t in range(1, len(screen.days) + 1):
            rendered = render_field(screen, field, t)
            drawn = rendered.objects
            n_drawn = int(((drawn["state"] == "motor_neuron") & drawn["inside"]).sum())
            assert n_drawn == rendered.truth["n_neurons"]
            # Somata are >= ~1000 ADU above the background; neurites and negative cells < 300.
            reporter = rendered.images["w1"].astype(float)
            threshold = imaging.offset_adu + imaging.reporter_background_adu + 500
            labels, n = ndi.label(reporter > threshold)
            areas = np.bincount(labels.ravel())[1:]
            assert int((areas >= 30).sum()) == rendered.truth["n_neurons"], (field, t)
            checked += rendered.truth["n_neurons"]
    assert checked > 50
    assert truth["n_neurons"].sum() == checked


def test_nuclei_of_every_living_cell_are_drawn():
    screen = build_screen(SPARSE, seed=2)
    rendered = render_field(screen, 0, 1)
    drawn = rendered.objects
    living = drawn["state"] != "fragments"
    assert int((living & drawn["inside"]).sum()) == rendered.truth["n_nuclei"]
    nuclei = rendered.images["w2"].astype(float)
    labels, n = ndi.label(nuclei > SPARSE.imaging.offset_adu + 300)
    rows = np.clip(np.rint(drawn.loc[living, "nucleus_row_px"]).astype(int), 0, 159)
    cols = np.clip(np.rint(drawn.loc[living, "nucleus_col_px"]).astype(int), 0, 159)
    inside = drawn.loc[living, "inside"].to_numpy()
    # Each living cell inside the image has a bright nucleus at its drawn position.
    assert (labels[rows[inside], cols[inside]] > 0).all()


def test_counts_rise_with_late_reporter_onset_and_fall_with_deaths():
    late = replace(SPARSE, culture=replace(SPARSE.culture, late_onset_fraction=1.0, late_onset_max_day=3.0))
    fields = simulate_truth(late, seed=0)["fields"]
    per_day = fields.groupby("day")["n_neurons"].sum()
    assert per_day[0.0] == 0  # no reporter on yet
    assert per_day[4.0] > per_day[14.0] > 0


def test_stage_shift_moves_somata_across_the_border():
    truth = simulate_truth("screen", seed=0)
    neurons = truth["neurons"]
    fields = truth["fields"]
    # The nominal field holds every neuron counted in it at any timepoint except those the
    # stage error brought in: counts are not bounded by the neurons of the nominal field.
    nominal = neurons[neurons["in_field"]].groupby(["plate", "well", "site"]).size()
    most = fields.groupby(["plate", "well", "site"])["n_neurons"].max()
    assert (most > nominal.reindex(most.index, fill_value=0)).any()


def test_death_times_follow_the_proportional_hazards_model():
    # Under the model a neuron with hazard multiplier m (compound x well x edge) of a patient
    # whose vehicle neurons survive to day 14 with fraction s survives with probability s**m.
    neurons = simulate_truth("screen", seed=0)["neurons"]  # ~40k neurons
    s = {p.id: p.vehicle_survival_end for p in PRESETS["screen"].design.patients}
    expected = neurons["patient"].map(s) ** neurons["hazard_multiplier"]
    observed = np.isinf(neurons["death_day"])
    bins = pd.qcut(neurons["hazard_multiplier"], 4, labels=False)
    by_bin = pd.DataFrame({"expected": expected, "observed": observed}).groupby(bins).mean()
    np.testing.assert_allclose(by_bin["observed"], by_bin["expected"], atol=0.02)
    assert by_bin["expected"].iloc[0] - by_bin["expected"].iloc[-1] > 0.2  # the check has power


def test_clip_fraction_known_segments():
    x0 = np.array([-5.0, 2.0, 2.0, 20.0, 5.0])
    y0 = np.array([5.0, 2.0, 5.0, 20.0, -5.0])
    x1 = np.array([5.0, 8.0, 15.0, 30.0, 5.0])
    y1 = np.array([5.0, 8.0, 5.0, 30.0, 15.0])
    u0, u1 = clip_fraction(x0, y0, x1, y1, 10.0, 10.0)
    inside = np.clip(u1 - u0, 0, None)
    # entering from the left: half inside; wholly inside; leaving right: 8 of 13;
    # wholly outside; vertical through: 10 of 20
    np.testing.assert_allclose(inside, [0.5, 1.0, 8 / 13, 0.0, 0.5])


def test_sample_fields_returns_fields_with_truth():
    fields = sample_fields(TINY, seed=0, n=3)
    assert len(fields) == 3
    for f in fields:
        assert set(f.images) == {"w1", "w2"}
        assert f.images["w1"].shape == (96, 96) and not f.truth["defocused"]
    keys = {(f.truth["well"], f.truth["timepoint"]) for f in fields}
    assert len(keys) == 3


def test_defocused_field_is_blurred():
    screen = build_screen(TINY, seed=3)
    f, t = np.argwhere(screen.defocused)[0]
    sharp_t = 1 - t  # the same field's other timepoint is in focus
    blurry = render_field(screen, int(f), int(t) + 1).images["w1"].astype(float)
    sharp = render_field(screen, int(f), int(sharp_t) + 1).images["w1"].astype(float)

    def focus(image):
        return ndi.laplace(ndi.gaussian_filter(image, 1.0)).var() / image.mean() ** 2

    assert focus(blurry) < 0.2 * focus(sharp)


def test_presets_are_listed_and_unknown_names_are_refused():
    assert {"demo", "small", "screen", "null", "hard"} <= set(PRESETS)
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        simulate_truth("nope")


def test_refuses_to_write_into_a_non_empty_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not empty"):
        simulate_screen(tmp_path, preset=TINY, seed=0)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


# --- the committed example pins the fixed presets' pixels ------------------------------------


def test_demo_preset_regenerates_the_committed_example_pixel_for_pixel(tmp_path):
    import tifffile

    committed = Path(__file__).resolve().parents[1] / "example_plates"
    simulate_screen(tmp_path / "demo", preset="demo", seed=0)
    images = sorted(committed.rglob("*.TIF"))
    assert len(images) == 192
    for path in images:
        again = tmp_path / "demo" / path.relative_to(committed)
        assert np.array_equal(tifffile.imread(path), tifffile.imread(again)), path.name
    for table in ("fields", "neurons", "effects", "wells"):
        name = f"truth/{table}.csv"  # the same values (the CSV float text varies with pandas)
        pd.testing.assert_frame_equal(pd.read_csv(committed / name), pd.read_csv(tmp_path / "demo" / name), obj=name)
    assert not (tmp_path / "demo" / "truth" / "look.json").exists()


# --- varied: the look drawn per seed ---------------------------------------------------------


def test_varied_looks_differ_across_seeds_and_cover_their_ranges():
    from screening.simulate import LOOK_RANGES, draw_look
    from screening.simulate.look import CHOICES, NOT_DRAWN, NUMERIC_RANGES, Look

    looks = [draw_look(seed) for seed in range(200)]
    assert draw_look(7) == looks[7]
    assert len(set(looks)) == 200
    for name, (low, high, scale) in NUMERIC_RANGES.items():
        values = np.array([getattr(look, name) for look in looks])
        assert values.min() >= low and values.max() <= high, name
        if scale == "log":
            values, low, high = np.log(values), np.log(low), np.log(high)
        # 200 uniform draws reach within 5 % of both ends of the range.
        assert values.min() < low + 0.05 * (high - low) and values.max() > high - 0.05 * (high - low), name
    for name, options in CHOICES.items():
        drawn = {getattr(look, name) for look in looks}
        assert drawn == ({getattr(Look(), name)} if name in NOT_DRAWN else set(options)), name
    assert set(LOOK_RANGES) == set(NUMERIC_RANGES) | set(CHOICES)
    # The named preset draws the look from the screen's seed.
    assert get_preset("varied", 11).look == draw_look(11)


@pytest.mark.parametrize("px", [0.3, 0.65, 1.3])
def test_varied_preset_scales_the_field_and_cells_with_its_look(px):
    from screening.simulate import Look, varied_preset

    preset = varied_preset(None, pixel_size_um=px, nucleus_diameter_um=6.0, nucleus_soma_ratio=0.4,
                           reporter_contrast=20.0)
    imaging, culture = preset.imaging, preset.culture
    assert preset.look == Look(pixel_size_um=px, nucleus_diameter_um=6.0, nucleus_soma_ratio=0.4,
                               reporter_contrast=20.0)
    side_um = imaging.field_shape[0] * px
    assert imaging.pixel_size_um == px and abs(side_um - 333) < 8 * px  # ~0.11 mm² of culture
    assert culture.nucleus_radius_um == 3.0 and culture.soma_radius_um == pytest.approx(7.5)
    assert imaging.soma_adu / imaging.negative_cell_adu == pytest.approx(20.0)
    assert imaging.psf_sigma_px * px == pytest.approx(max(0.5 * px, 0.58))


def test_nucleus_textures_add_bright_foci_or_dark_holes_and_leave_the_truth():
    from screening.simulate import build_screen, render_field, varied_preset

    images, truths = {}, {}
    for texture in ("fine", "chromocentres", "nucleoli"):
        rendered = render_field(build_screen(varied_preset(None, nucleus_texture=texture), 0), 0, 1)
        images[texture], truths[texture] = rendered.images["w2"].astype(float), rendered.truth
    # The same cells in the same places: the nuclei of the fine look mark them in every look.
    fine = images["fine"]
    inside = fine > 0.5 * (np.median(fine) + np.percentile(fine, 99.5))
    ratio = {t: image[inside] / np.median(image[inside]) for t, image in images.items()}
    assert np.percentile(ratio["chromocentres"], 99) > np.percentile(ratio["fine"], 99) + 0.3  # foci 2-3x
    assert np.percentile(ratio["nucleoli"], 2) < np.percentile(ratio["fine"], 2) - 0.1  # holes 20-40 %
    assert truths["chromocentres"]["n_nuclei"] == truths["nucleoli"]["n_nuclei"] == truths["fine"]["n_nuclei"]


def test_beaded_neurites_swing_along_their_path_and_keep_their_mean_and_truth():
    from screening.simulate import build_screen, render_field, varied_preset
    from screening.simulate.render import render_neurite_layer

    layers, truths = {}, {}
    for profile in ("smooth", "beaded"):
        screen = build_screen(varied_preset(None, neurite_profile=profile), 0)
        layers[profile] = render_neurite_layer(screen, 0, 2, blur=False)
        truths[profile] = render_field(screen, 0, 2).truth
    on = layers["smooth"] > 0
    assert np.array_equal(on, layers["beaded"] > 0)  # the same neurites in the same places
    ratio = layers["beaded"][on] / layers["smooth"][on]
    assert abs(layers["beaded"].sum() / layers["smooth"].sum() - 1) < 0.05  # same mean brightness
    assert np.percentile(ratio, 5) < 0.5 and np.percentile(ratio, 95) > 1.5  # beads and troughs
    assert truths["beaded"]["neurite_length_um"] == truths["smooth"]["neurite_length_um"]


def test_varied_preset_refuses_values_outside_the_look_space():
    from screening.simulate import varied_preset

    with pytest.raises(ValueError, match="nucleus_diameter_um=20.0 is outside its range 5.0-14.0"):
        varied_preset(None, nucleus_diameter_um=20.0)
    with pytest.raises(ValueError, match="dead_nucleus='gone'"):
        varied_preset(3, dead_nucleus="gone")
    with pytest.raises(ValueError, match=r"unknown look value\(s\) \['colour'\]"):
        varied_preset(None, colour="red")


def _tiny_varied(seed: int | None = None, **look):
    """A varied look on the tiny design (9 fields, 2 timepoints): fast to write."""
    from screening.simulate import varied_preset

    preset = varied_preset(seed, **look)
    return replace(preset, design=TINY.design, imaging=replace(preset.imaging, sites=1, days=(0, 7)))


def test_varied_screen_writes_its_look_and_is_reproducible(tmp_path):
    import json

    preset = _tiny_varied(5)
    first = simulate_screen(tmp_path / "a", preset=preset, seed=5).parent
    second = simulate_screen(tmp_path / "b", preset=preset, seed=5).parent
    assert _files(first) == _files(second)
    record = json.loads((first / "truth" / "look.json").read_text())
    look = preset.look
    assert {k: record[k] for k in ("pixel_size_um", "nucleus_diameter_um", "dead_nucleus", "neurite_snr")} == {
        "pixel_size_um": look.pixel_size_um, "nucleus_diameter_um": look.nucleus_diameter_um,
        "dead_nucleus": look.dead_nucleus, "neurite_snr": look.neurite_snr}
    assert record["derived"]["field_shape_px"] == list(preset.imaging.field_shape)
    assert load_config(first / "config.yaml").pixel_size_um == look.pixel_size_um
    written, direct = read_truth(first), simulate_truth(preset, seed=5)
    for key in ("fields", "neurons"):
        pd.testing.assert_frame_equal(written[key], direct[key], check_dtype=False, obj=key)


def _sparse(preset):
    """Well separated cells, no debris, no stage error, no margin: blobs can be counted."""
    culture = replace(preset.culture, clump_fraction=0.0, min_nucleus_distance_um=4 * preset.culture.soma_radius_um,
                      saturated_debris_per_field=0.0, neurons_per_mm2=150.0)
    imaging = replace(preset.imaging, margin_um=0.0, stage_shift_um=0.0, defocus_fraction=0.0, focus_drift_px=0.0)
    return replace(preset, culture=culture, imaging=imaging)


@pytest.mark.parametrize(("px", "diameter"), [(0.3, 14.0), (1.3, 5.0), (0.65, 9.0)])
def test_varied_nuclei_have_the_looks_size_and_the_truths_count(px, diameter):
    preset = _sparse(_tiny_varied(None, pixel_size_um=px, nucleus_diameter_um=diameter))
    screen = build_screen(preset, seed=1)
    counted, sizes = 0, []
    for field in range(3):
        rendered = render_field(screen, field, 1)  # day 0: nobody dead yet
        image = rendered.images["w2"].astype(float)
        level = preset.imaging.offset_adu + preset.imaging.nuclei_background_adu
        labels, n = ndi.label(image > level + 0.4 * preset.imaging.nucleus_adu)
        areas = np.bincount(labels.ravel())[1:]
        areas = areas[areas * px**2 > 2.0]  # noise specks are far smaller than any nucleus
        assert len(areas) == rendered.truth["n_nuclei"], field
        counted += len(areas)
        sizes += list(2 * np.sqrt(areas / np.pi) * px)
    assert counted > 15
    # Semi-axes 0.95-1.2 and 0.75-0.95 of the radius: equivalent diameter ~0.96x the nominal one.
    assert np.median(sizes) == pytest.approx(0.96 * diameter, rel=0.12)


@pytest.mark.parametrize(("mode", "low", "high"), [("condensed", 1.5, 4.0), ("faded", 0.2, 0.6),
                                                    ("like_live", 0.8, 1.25)])
def test_varied_dead_nuclei_are_condensed_faded_or_like_live(mode, low, high):
    preset = _sparse(_tiny_varied(None, dead_nucleus=mode, nucleus_brightness_sd=0.05))
    preset = replace(preset, culture=replace(preset.culture, debris_days=20.0))
    screen = build_screen(preset, seed=2)
    dead, live = [], []
    background = preset.imaging.offset_adu + preset.imaging.nuclei_background_adu
    for field in range(len(screen.fields)):
        rendered = render_field(screen, field, 2)  # day 7
        nuclei = ndi.gaussian_filter(rendered.images["w2"].astype(float), 1.0) - background
        drawn = rendered.objects[rendered.objects["inside"]]
        r = np.clip(np.rint(drawn["nucleus_row_px"]).astype(int), 0, nuclei.shape[0] - 1)
        c = np.clip(np.rint(drawn["nucleus_col_px"]).astype(int), 0, nuclei.shape[1] - 1)
        value = nuclei[r, c]
        dead += list(value[drawn["state"].to_numpy() == "fragments"])
        live += list(value[drawn["state"].to_numpy() != "fragments"])
    assert len(dead) >= 5 and len(live) >= 20
    assert low < np.median(dead) / np.median(live) < high


@pytest.mark.parametrize(("px", "width_um"), [(0.3, 1.0), (0.3, 3.0), (1.3, 1.0), (1.3, 3.0)])
def test_varied_primary_neurites_peak_at_their_set_brightness_whatever_the_width(px, width_um):
    from screening.simulate.render import _neurite_lines, _splat

    imaging = _tiny_varied(None, pixel_size_um=px, neurite_width_um=width_um).imaging
    # A horizontal primary, one sample per half pixel, as the renderer splats it: weight per
    # px gain * step = neurite_fraction * sqrt(2 pi) sigma for a soma of brightness 1.
    cols = np.arange(20, 180, 0.5)
    weight = np.full(cols.size, 0.5 * imaging.neurite_fraction * math.sqrt(2 * math.pi) * imaging.psf_sigma_px)
    branch, primary = _neurite_lines(imaging)
    peaks = []
    for row in (31.0, 31.25, 31.5, 31.75):  # where the line falls on the pixel grid
        image = np.zeros((64, 200), np.float32)
        for offset, share in primary:
            _splat(image, np.full(cols.size, row + offset), cols, share * weight)
        peaks.append(ndi.gaussian_filter(image, imaging.psf_sigma_px)[:, 60:140].max(axis=0).mean())
    assert np.mean(peaks) == pytest.approx(imaging.neurite_fraction, rel=0.08)
    assert sum(s for _, s in branch) == pytest.approx(2 / 3 * sum(s for _, s in primary))


def test_the_drawn_neurites_are_the_truths_neurite_length():
    """The skeleton of the neurite layer alone reads the truth's ``neurite_length_all_um``: the
    benchmarks score the mask against what the image really shows (benchmarks/neurite_recall.py)."""
    from screening.measure.neurites import neurite_skeleton_length
    from screening.simulate.render import render_neurite_layer

    screen = build_screen("small", seed=0)
    px = screen.preset.imaging.pixel_size_um
    drawn = truth = 0.0
    for field in (0, 5, 11):
        layer = render_neurite_layer(screen, field, 4, blur=False)
        drawn += neurite_skeleton_length(layer > 0, pixel_size_um=px)
        truth += render_field(screen, field, 4).truth["neurite_length_all_um"]
        blurred = render_neurite_layer(screen, field, 4)
        assert blurred.sum() == pytest.approx(layer.sum(), rel=0.02)  # blurring keeps the signal
    assert truth > 1000
    # Crossings and neurites over somata share one skeleton; the splatted bands add a few % of spurs.
    assert drawn / truth == pytest.approx(1.0, abs=0.1)
