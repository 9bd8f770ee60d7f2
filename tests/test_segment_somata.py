"""Motor-neuron counting: reporter-positive somata only, fragments and negatives not counted,
border somata counted by where their centre lies."""

from dataclasses import replace

import numpy as np
from scipy import ndimage as ndi

from screening.config.segmentation import SEGMENTATION_DEFAULTS
from screening.segment.calibration import Calibration, calibrate
from screening.segment.dark_nuclei import dark_nuclei, fill_holes
from screening.segment.nuclei import noise_sigma
from screening.segment.somata import (
    centre_inside,
    flatness,
    count_motor_neurons,
    negative_level,
    positivity_threshold,
    reporter_holes,
    saturated_mask,
)

PX = 0.65  # µm per pixel: 15 µm soma ≈ 23 px, 10 µm nucleus ≈ 15 px


def _disc(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def make_field(neurons=(), negatives=(), fragments=(), shape=(200, 200), seed=0, dim=(), dim_level=0.0, dying=()):
    """Reporter and nuclear images (uint16) of discs: neurons (bright soma + nucleus),
    reporter-negative cells (dim soma + nucleus), fragments of dead cells (small very bright
    reporter blobs + a small bright condensed nucleus), and ``dying`` cells ``(centre,
    nucleus_level, fragmented)``: a live-sized nucleus ``nucleus_level`` x as bright as the others
    under an intact soma, or among three bright fragments."""
    rng = np.random.default_rng(seed)
    reporter = np.zeros(shape)
    nuclei = np.zeros(shape)
    for centre in neurons:
        reporter = np.maximum(reporter, 1000.0 * _disc(shape, centre, 11))
        nuclei = np.maximum(nuclei, 800.0 * _disc(shape, centre, 7))
    for centre in negatives:
        reporter = np.maximum(reporter, 60.0 * _disc(shape, centre, 9))
        nuclei = np.maximum(nuclei, 800.0 * _disc(shape, centre, 7))
    for centre in dim:
        reporter = np.maximum(reporter, dim_level * _disc(shape, centre, 11))
        nuclei = np.maximum(nuclei, 800.0 * _disc(shape, centre, 7))
    for r, c in fragments:
        for dr, dc in ((-3, 0), (3, 2), (0, -4)):
            reporter = np.maximum(reporter, 2500.0 * _disc(shape, (r + dr, c + dc), 2))
        nuclei = np.maximum(nuclei, 1600.0 * _disc(shape, (r, c), 4))
    for (r, c), nucleus_level, fragmented in dying:
        if fragmented:
            for dr, dc in ((0, 0), (-7, 5), (6, -6)):
                reporter = np.maximum(reporter, 2500.0 * _disc(shape, (r + dr, c + dc), 4))
        else:
            reporter = np.maximum(reporter, 1000.0 * _disc(shape, (r, c), 11))
        nuclei = np.maximum(nuclei, 800.0 * nucleus_level * _disc(shape, (r, c), 7))

    def camera(image, background):
        image = ndi.gaussian_filter(image, 1.0) + background
        # Shot noise at 0.25 ADU per electron (as the simulator), read noise, offset.
        electrons = rng.poisson(image / 0.25)
        return np.clip(0.25 * electrons + rng.normal(100, 1.5, shape), 0, 65535).astype(np.uint16)

    return camera(reporter, 60), camera(nuclei, 25)


NEGATIVES = [(30, 30), (30, 170), (100, 100), (170, 30), (170, 170), (60, 130), (140, 60), (100, 30)]


def test_reporter_negative_nuclei_not_counted():
    reporter, nuclei = make_field(neurons=[(60, 60), (140, 140)], negatives=NEGATIVES)
    result = count_motor_neurons(reporter, nuclei, pixel_size_um=PX)
    n, somata = result  # unpacks as (n, soma_labels)
    assert n == 2
    assert result.nuclei_labels.max() == 10  # every nucleus was found, 8 of them negative
    assert somata[60, 60] > 0 and somata[140, 140] > 0 and somata[60, 60] != somata[140, 140]
    assert somata[100, 100] == 0  # a negative cell's soma is not a motor neuron's


def test_dim_nuclei_are_kept_for_tracking_but_not_counted():
    # A plate cut-off of 240 ADU over negatives at 60: the dim band is 120-240 (halfway in log).
    calibration = replace(Calibration.prior(SEGMENTATION_DEFAULTS), reporter_cutoff=240.0, reporter_negative_level=60.0)
    dim_cells, faint_cells = [(60, 140), (140, 60)], [(100, 170)]
    reporter, nuclei = make_field(neurons=[(60, 60), (140, 140)], negatives=NEGATIVES[:3], dim=dim_cells, dim_level=180.0)
    result = count_motor_neurons(reporter, nuclei, pixel_size_um=PX, calibration=calibration)
    assert result.n == 2 and result.threshold == 240.0
    assert all(result.dim_labels[c] > 0 for c in dim_cells) and result.dim_labels.max() == 2
    assert all(result.soma_labels[c] == 0 for c in dim_cells)
    # Just over the negatives (100 ADU, under the band): neither counted nor dim.
    reporter, nuclei = make_field(neurons=[(60, 60)], negatives=NEGATIVES[:3], dim=faint_cells, dim_level=100.0)
    result = count_motor_neurons(reporter, nuclei, pixel_size_um=PX, calibration=calibration)
    assert result.n == 1 and result.dim_labels.max() == 0


def test_fragment_of_dead_neuron_not_counted():
    reporter, nuclei = make_field(neurons=[(60, 60)], negatives=NEGATIVES, fragments=[(140, 140)])
    assert count_motor_neurons(reporter, nuclei, pixel_size_um=PX).n == 1
    # Without the nuclear channel the fragments are too small to be a soma.
    assert count_motor_neurons(reporter, pixel_size_um=PX).n == 1


def _field_with_one_dying_neuron(nucleus_level, fragmented, seed):
    """Seven neurons, eight reporter-negative cells and one dying cell at (120, 120)."""
    neurons = [(40, 40), (40, 120), (40, 200), (120, 40), (120, 200), (200, 40), (200, 120)]
    negatives = [(80, 80), (80, 160), (160, 80), (160, 160), (200, 200), (20, 80), (80, 20), (20, 160)]
    return make_field(neurons=neurons, negatives=negatives, shape=(240, 240), seed=seed,
                      dying=[((120, 120), nucleus_level, fragmented)])


def test_a_faded_nucleus_among_fragments_is_a_dead_neuron_but_either_sign_alone_is_not():
    # A neuron that died keeps its nucleus, faded to a third, among bright fragments of its
    # soma: two outliers at once. A dim live nucleus under an intact soma, and a normal nucleus
    # among bright blobs, are each one sign only and still count.
    for seed in range(2):
        assert count_motor_neurons(*_field_with_one_dying_neuron(0.35, True, seed), pixel_size_um=PX).n == 7
        assert count_motor_neurons(*_field_with_one_dying_neuron(0.35, False, seed), pixel_size_um=PX).n == 8
        assert count_motor_neurons(*_field_with_one_dying_neuron(1.0, True, seed), pixel_size_um=PX).n == 8


def test_border_soma_counted_when_centre_inside():
    # Centre 4 px inside the top border: counted; centre 4 px outside the left border: not.
    reporter, nuclei = make_field(neurons=[(4, 100), (100, -4), (100, 100)], negatives=NEGATIVES[:5])
    result = count_motor_neurons(reporter, nuclei, pixel_size_um=PX)
    assert result.n == 2
    assert result.soma_labels[6, 100] > 0 and result.soma_labels[100, 2] == 0
    assert count_motor_neurons(reporter, pixel_size_um=PX).n == 2


def test_reporter_only_counts_somata():
    reporter, _ = make_field(neurons=[(50, 50), (50, 150), (150, 100)], negatives=NEGATIVES[:4])
    assert count_motor_neurons(reporter, pixel_size_um=PX).n == 3


def test_no_cells_counts_zero():
    reporter, nuclei = make_field()
    result = count_motor_neurons(reporter, nuclei, pixel_size_um=PX)
    assert result.n == 0 and result.soma_labels.max() == 0


def test_centre_inside_rule_on_discs():
    shape = (40, 40)
    inside = _disc((60, 40), (24, 20), 10)[20:]  # centre 4 px inside the top border
    outside = _disc((60, 40), (16, 20), 10)[20:]  # centre 4 px outside
    assert inside.shape == shape
    assert centre_inside(inside[:, 8:33], (True, False, False, False))
    assert not centre_inside(outside[:, 8:33][: outside.any(axis=1).sum()], (True, False, False, False))


def test_negative_level_and_threshold():
    rng = np.random.default_rng(0)
    negatives = 50 * np.exp(rng.normal(0, 0.3, 60))
    positives = 1000 * np.exp(rng.normal(0, 0.3, 20))
    values = np.concatenate([negatives, positives])
    level = negative_level(values, 2.5, floor=1.0)
    assert 40 < level < 60  # the negatives' median, untouched by the positives
    threshold = positivity_threshold(values, level, 2.5, floor=1.0)
    assert negatives.max() < threshold < positives.min()
    # One population only (no neurons): the threshold stays at ratio × level.
    assert positivity_threshold(negatives, level, 2.5, floor=1.0) == 2.5 * level


def test_saturated_mask_needs_a_plateau():
    image = np.arange(100, dtype=np.uint16).reshape(10, 10)
    assert not saturated_mask(image).any()  # one brightest pixel is not clipping
    image[:2, :3] = 4095  # a 12-bit camera's ceiling, six pixels
    assert saturated_mask(image).sum() == 6


def test_flatness_of_centred_and_rim_nuclei():
    # Median / 95th percentile, clipped to [0, 1]; 0 without any reporter.
    assert np.allclose(flatness([900.0, 300.0, 0.0, 5.0], [1000.0, 1000.0, 0.0, np.nan]), [0.9, 0.3, 0.0, 0.0])


def test_label_percentile_several_at_once():
    from screening.segment.nuclei import label_percentile

    labels = np.array([[1, 1, 1, 1, 0], [2, 2, 0, 3, 3]])
    values = np.array([[4.0, 1.0, 3.0, 2.0, 9.0], [5.0, 6.0, 9.0, 7.0, 7.0]])
    both = label_percentile(values, labels, 4, (0, 100))
    assert both.shape == (2, 4)
    assert np.array_equal(both[:, :3], [[1, 5, 7], [4, 6, 7]]) and np.isnan(both[:, 3]).all()
    assert np.array_equal(label_percentile(values, labels, 3, 50), both[0, :3] * 0 + [2, 5, 7])


def test_nucleus_on_the_slope_of_a_neighbours_soma_not_counted():
    # A neuron (bright soma with a bright centre) and a reporter-negative nucleus on
    # its rim: most of that nucleus is under the soma (20th percentile above the
    # threshold), but the reporter rises across it towards the neuron.
    shape = (160, 160)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    rho2 = ((yy - 80) ** 2 + (xx - 70) ** 2) / 24.0**2
    soma = np.where(rho2 < 1, 1 - 0.8 * rho2, 0.0)
    rng = np.random.default_rng(1)
    reporter = 250.0 * soma
    nuclei = np.zeros(shape)
    centres = [(80, 70), (80, 86)] + [(r, c) for r in (20, 140) for c in (20, 60, 100, 140)]
    for r, c in centres:
        nuclei = np.maximum(nuclei, 800.0 * _disc(shape, (r, c), 7))
        if (r, c) not in centres[:2]:  # reporter-negative cells: dim somata
            reporter = np.maximum(reporter, 60.0 * _disc(shape, (r, c), 9))
    reporter = rng.poisson(ndi.gaussian_filter(reporter, 1.0) + 60).astype(np.uint16) + 100
    nuclei = rng.poisson(ndi.gaussian_filter(nuclei, 1.0) + 25).astype(np.uint16) + 100
    result = count_motor_neurons(reporter, nuclei, pixel_size_um=PX)
    assert result.nuclei_labels.max() == 10
    assert result.n == 1 and result.soma_labels[80, 70] > 0 and result.soma_labels[80, 86] != result.soma_labels[80, 70]
    # Without the flatness rule the rim nucleus would count: its 20th percentile is above the threshold.
    from screening.config import SegmentationConfig
    from screening.segment.nuclei import label_percentile
    from screening.segment.somata import soma_bodies

    bodies = soma_bodies(result.reporter_smooth, soma_diameter_px=SegmentationConfig().soma_diameter_um / PX)
    rim = result.nuclei_labels[80, 86]
    assert label_percentile(bodies, result.nuclei_labels, 10, 20)[rim - 1] > result.threshold


def test_split_merged_cuts_across_the_long_axis():
    from screening.segment.somata import split_merged

    shape = (40, 60)
    pair = _disc(shape, (20, 20), 7) | _disc(shape, (20, 33), 7)  # two nuclei side by side
    labels = np.where(pair, 2, 0).astype(np.int32)
    labels[_disc(shape, (5, 50), 3)] = 1  # a small one, left alone
    halves, parent = split_merged(labels, 2, np.array([False, True]))
    assert parent.tolist() == [1, 2, 2]
    assert {halves[20, 20], halves[20, 33]} == {2, 3}  # one nucleus in each half
    assert halves[5, 50] == 1 and (halves[pair] > 0).all()
    assert abs((halves == 2).sum() - (halves == 3).sum()) <= 14  # halves of about equal size


def test_merged_nuclei_counted_by_halves():
    # A neuron's nucleus merged with a reporter-negative neighbour's: one neuron; two
    # neurons whose nuclei merged: two.
    negatives = [(30, 30), (30, 170), (100, 100), (170, 30), (170, 170), (100, 30)]
    reporter, nuclei = make_field(neurons=[(50, 100), (150, 100), (150, 114)], negatives=[*negatives, (50, 114)])
    labels = np.zeros(reporter.shape, np.int32)
    for k, centre in enumerate(negatives, start=1):
        labels[_disc(reporter.shape, centre, 7)] = k
    labels[_disc(reporter.shape, (50, 100), 7) | _disc(reporter.shape, (50, 114), 7)] = 7  # neuron + negative
    labels[_disc(reporter.shape, (150, 100), 7) | _disc(reporter.shape, (150, 114), 7)] = 8  # two neurons
    result = count_motor_neurons(reporter, nuclei, pixel_size_um=PX, nuclei_labels=labels)
    assert result.n == 3
    assert result.nuclei_labels is labels or np.array_equal(result.nuclei_labels, labels)  # nuclei as given
    assert result.soma_labels[50, 100] > 0 and result.soma_labels[50, 118] == 0


def test_a_neuron_whose_soma_clips_the_reporter_counts_but_glowing_debris_does_not():
    # An 8-bit export (or a long exposure) clips the brightest somata at the ceiling: their
    # nuclei are ordinary, so they are neurons. A particle of dust glows in the nuclear channel
    # too (the simulated ones ~30x a nucleus): debris, whatever reporter it has.
    neurons = [(60, 60), (140, 140), (60, 140)]
    reporter, nuclei = make_field(neurons=neurons, negatives=NEGATIVES)
    ceiling = np.percentile(reporter, 99.0)  # the brightest 1 % of pixels clip
    clipped = np.minimum(reporter, ceiling).astype(np.uint16)
    result = count_motor_neurons(clipped, nuclei, pixel_size_um=PX)
    assert saturated_mask(clipped).sum() > 50  # the somata do clip
    assert result.n == len(neurons)

    dust = _disc(reporter.shape, (140, 60), 6)
    reporter[dust], nuclei[dust] = 65535, 25000
    assert count_motor_neurons(reporter, nuclei, pixel_size_um=PX).n == len(neurons)


def _large_flat_somata_field(extra):
    """Reporter and nuclei of neurons with flat somata 2.5x their nucleus (radius 22 px, nucleus 8
    px), six alone and those of ``extra``: ((soma centre), [nucleus centres]) with the first
    nucleus the neuron's; other nuclei there are reporter-negative cells lying under it. Six
    reporter-negative cells (dim bodies) stand apart."""
    shape = (300, 300)
    rng = np.random.default_rng(2)
    reporter, nuclei = np.zeros(shape), np.zeros(shape)
    cells = [((r, c), [(r, c)]) for r in (40, 150) for c in (40, 150, 260)] + list(extra)
    for soma, inside in cells:
        reporter = np.maximum(reporter, 1000.0 * _disc(shape, soma, 22))
        for centre in inside:
            nuclei = np.maximum(nuclei, 800.0 * _disc(shape, centre, 8))
    for centre in ((95, 95), (95, 205), (200, 95), (200, 205), (95, 280), (280, 280)):
        reporter = np.maximum(reporter, 60.0 * _disc(shape, centre, 12))
        nuclei = np.maximum(nuclei, 800.0 * _disc(shape, centre, 8))
    reporter = rng.poisson(ndi.gaussian_filter(reporter, 1.0) + 60).astype(np.uint16) + 100
    nuclei = rng.poisson(ndi.gaussian_filter(nuclei, 1.0) + 25).astype(np.uint16) + 100
    return count_motor_neurons(reporter, nuclei, pixel_size_um=PX, soma_diameter_um=44 * PX,
                               nucleus_diameter_um=16 * PX)


def test_a_negative_nucleus_wholly_under_a_neurons_flat_soma_is_not_a_second_neuron():
    # Under a flat soma the reporter gives no slope to tell them apart: two nuclei in what is one
    # soma's area are one neuron and a cell beneath it. Two neurons whose somata touch are two.
    one_soma_two_nuclei = ((255, 60), [(255, 52), (255, 70)])
    result = _large_flat_somata_field([one_soma_two_nuclei])
    assert result.nuclei_labels.max() == 14
    assert result.n == 7
    assert result.soma_labels[255, 52] > 0 and result.soma_labels[255, 70] == 0  # the neuron keeps its soma
    touching_neurons = [((255, 170), [(255, 170)]), ((255, 212), [(255, 212)])]
    assert _large_flat_somata_field(touching_neurons).n == 8


def test_a_cytoplasmic_reporter_that_leaves_the_nucleus_dark_still_counts_its_neuron():
    # Four neurons whose reporter is a ring (none over the nucleus: a cytoplasmic GFP or a MAP2
    # stain), a reporter-negative cell touching each one's soma, and four negatives alone.
    shape = (200, 200)
    neurons = [(50, 50), (50, 150), (150, 50), (150, 150)]
    beside = [(50, 72), (72, 150), (150, 72), (128, 150)]  # 22 px apart: nuclei 8 px apart
    reporter, nuclei = make_field(neurons=neurons, negatives=beside + [(100, 20), (100, 100), (20, 100), (180, 100)],
                                  shape=shape)
    holes = np.zeros(shape, bool)
    for centre in neurons:
        holes |= _disc(shape, centre, 7)
    background = np.median(reporter[:8, :8])
    hollow = np.where(holes, background + (reporter - background) * 0.0, reporter).astype(np.uint16)
    result = count_motor_neurons(hollow, nuclei, pixel_size_um=PX)
    assert result.n == 4
    for centre in neurons:
        assert result.soma_labels[centre] > 0
    for centre in beside:
        assert result.soma_labels[centre] == 0 or result.soma_labels[centre] in {
            result.soma_labels[n] for n in neurons}  # the neighbour's soma may reach it; not its own


def test_only_a_nucleus_darker_than_the_cell_all_round_it_is_a_hole_and_filled():
    shape = (120, 240)
    smooth = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.int32)
    # 1: a ring soma (level 100) round a dark nucleus (level 5); 2: a filled soma, brightest
    # (150) over its nucleus; 3: a dark nucleus beside a soma (level 100) on one side only.
    smooth[_disc(shape, (60, 40), 12)] = 100.0
    smooth[_disc(shape, (60, 40), 7)] = 5.0
    labels[_disc(shape, (60, 40), 7)] = 1
    smooth[_disc(shape, (60, 120), 12)] = 100.0
    smooth[_disc(shape, (60, 120), 7)] = 150.0
    labels[_disc(shape, (60, 120), 7)] = 2
    smooth[_disc(shape, (60, 200), 12)] = 100.0
    labels[_disc(shape, (60, 180), 7)] = 3
    smooth[labels == 3] = 5.0
    crest, ringed, hole = dark_nuclei(smooth, labels, soma_diameter_px=24, nucleus_diameter_px=14, floor=20.0)
    assert crest[0] == 100.0 and ringed.tolist() == [True, True, False] and hole.tolist() == [True, False, False]
    filled = fill_holes(smooth, labels, crest, hole)
    assert np.allclose(filled[labels == 1], 100.0)  # the ring's level, all over the nucleus
    assert np.array_equal(filled[labels != 1], smooth[labels != 1])  # the others as they were


def test_a_negative_nucleus_enclosed_by_neurites_on_a_filling_reporter_is_not_filled():
    # A reporter that fills its cells: six neurons, and one reporter-negative cell whose nucleus
    # is ringed by bright neurites (the one hole of the field: under a quarter of the ringed).
    shape = (200, 200)
    neurons = [(40, 40), (40, 160), (160, 40), (160, 160), (100, 30), (100, 170)]
    reporter, nuclei = make_field(neurons=neurons, negatives=NEGATIVES[:3], shape=shape)
    lines = np.zeros(shape)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    lines[np.abs(np.hypot(yy - 100, xx - 100) - 9.5) < 1.5] = 700.0  # a neurite coiled round (100, 100)
    reporter = np.maximum(reporter, (ndi.gaussian_filter(lines, 1.0) + 100).astype(np.uint16))
    result = count_motor_neurons(reporter, nuclei, pixel_size_um=PX)
    _, ringed, hole = reporter_holes(result.reporter_smooth, result.nuclei_labels, noise_sigma(reporter),
                                     soma_diameter_px=SEGMENTATION_DEFAULTS.soma_diameter_um / PX,
                                     nucleus_diameter_px=SEGMENTATION_DEFAULTS.nucleus_diameter_um / PX)
    assert hole.sum() == 1 and ringed.sum() >= 7
    assert result.reporter_fill is None and result.n == 6 and result.soma_labels[100, 100] == 0


def _cytoplasmic_field(seed):
    """Eight neurons whose cytoplasmic reporter leaves the nucleus dark (10 %), one neuron whose
    nucleus sits 8 px off its soma's centre (reaching 4 px past its edge) and keeps 70 % of the
    reporter, and six reporter-negative cells with dim cytoplasm and dark nuclei."""
    shape = (240, 240)
    rng = np.random.default_rng(seed)
    reporter, nuclei = np.zeros(shape), np.zeros(shape)
    keep = np.ones(shape)
    somata = [(40 + 80 * i, 40 + 80 * j) for i in range(3) for j in range(3)]
    for k, soma in enumerate(somata):
        reporter = np.maximum(reporter, 1000.0 * _disc(shape, soma, 11))
        centre = (soma[0], soma[1] + 8) if k == 4 else soma
        nuclei = np.maximum(nuclei, 800.0 * _disc(shape, centre, 7))
        keep[_disc(shape, centre, 7)] = 0.7 if k == 4 else 0.1
    for centre in ((80, 80), (80, 160), (160, 80), (160, 160), (120, 200), (200, 120)):
        reporter = np.maximum(reporter, 25.0 * _disc(shape, centre, 9))
        nuclei = np.maximum(nuclei, 800.0 * _disc(shape, centre, 7))
        keep[_disc(shape, centre, 7)] = 0.1
    reporter = rng.poisson(ndi.gaussian_filter(reporter * keep, 1.0) + 60).astype(np.uint16) + 100
    nuclei = rng.poisson(ndi.gaussian_filter(nuclei, 1.0) + 25).astype(np.uint16) + 100
    return reporter, nuclei


def test_on_a_cytoplasmic_plate_a_nucleus_is_judged_without_its_flatness():
    # The reporter is left out of every nucleus there, a neighbour's soma's too: the slope an
    # off-centre nucleus sees is its own ring, and it must not count against the neuron.
    fields = [_cytoplasmic_field(seed) for seed in range(3)]
    cal = calibrate([{"reporter": r, "nuclei": n} for r, n in fields], pixel_size_um=PX)
    assert cal.reporter_hole_share >= 0.25
    reporter, nuclei = fields[0]
    cytoplasmic = count_motor_neurons(reporter, nuclei, pixel_size_um=PX, calibration=cal, **cal.sizes())
    filling = count_motor_neurons(reporter, nuclei, pixel_size_um=PX, calibration=replace(cal, reporter_hole_share=0.0),
                                  **cal.sizes())
    assert cytoplasmic.n == 9 and cytoplasmic.soma_labels[120, 128] > 0
    off_centre = cytoplasmic.nuclei_labels[120, 128] - 1
    assert cytoplasmic.n_candidates == filling.n_candidates == cytoplasmic.nuclei_labels.max()  # one score per nucleus
    # Not filled either way (it keeps 70 % of its ring): the same level, discounted by its flatness
    # only where the reporter fills its cells (there, a nucleus half off a soma is a negative cell
    # under a neighbour's rim).
    assert filling.candidate_levels[off_centre] < 0.8 * cytoplasmic.candidate_levels[off_centre]
