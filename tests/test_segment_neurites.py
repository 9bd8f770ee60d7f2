"""Neurite mask and skeleton lengths on small synthetic images with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.draw import disk, line

from screening.measure.neurites import measure_neurites, neurite_skeleton_length
from screening.segment.neurites import neurite_mask, segment_neurites

PX = 0.65  # µm


def _measure(image, soma_labels, **settings):
    """Segment, then measure, as a field's measurement does (default mask settings)."""
    mask, bodies = segment_neurites(image, pixel_size_um=PX)
    return measure_neurites(mask, soma_labels, pixel_size_um=PX, bodies=bodies, **settings)


def _field(shape=(160, 160), seed=0):
    """Camera-like background: 100 ADU with Gaussian noise of sd 3."""
    return np.random.default_rng(seed).normal(100.0, 3.0, shape)


def _draw(image, r0, c0, r1, c1, amplitude=80.0):
    """A 1-px line blurred to ~2 µm width, added to ``image``."""
    canvas = np.zeros(image.shape)
    rr, cc = line(r0, c0, r1, c1)
    canvas[rr, cc] = 1.0
    image += amplitude * 2.5 * ndi.gaussian_filter(canvas, 1.0)
    return image


# --- neurite_skeleton_length: known lengths -------------------------------------------


def test_horizontal_line_length_in_um():
    mask = np.zeros((20, 60), bool)
    mask[10, 5:55] = True  # 50 pixel centres, 49 steps
    assert neurite_skeleton_length(mask, pixel_size_um=1.0) == pytest.approx(49.0)


def test_diagonal_line_is_not_over_counted():
    mask = np.zeros((60, 60), bool)
    idx = np.arange(5, 55)
    mask[idx, idx] = True  # 49 diagonal steps of sqrt(2) px, 50 pixels
    assert neurite_skeleton_length(mask, pixel_size_um=1.0) == pytest.approx(49 * np.sqrt(2), rel=1e-6)


def test_length_scales_with_pixel_size():
    mask = np.zeros((20, 60), bool)
    mask[10, 5:55] = True
    assert neurite_skeleton_length(mask, pixel_size_um=0.65) == pytest.approx(49 * 0.65)
    assert neurite_skeleton_length(mask, pixel_size_um=2.0) == pytest.approx(98.0)


def test_thick_line_measures_its_centre_line():
    mask = np.zeros((30, 80), bool)
    mask[13:18, 10:70] = True  # 5 px wide bar, 60 px long
    # the skeleton of a bar stops ~half a width short of each end
    assert 50 <= neurite_skeleton_length(mask, pixel_size_um=1.0) <= 60


def test_pieces_shorter_than_min_length_are_dropped():
    mask = np.zeros((40, 80), bool)
    mask[10, 5:55] = True  # 49 µm
    mask[30, 5:12] = True  # 6 µm
    assert neurite_skeleton_length(mask, pixel_size_um=1.0) == pytest.approx(55.0)
    assert neurite_skeleton_length(mask, pixel_size_um=1.0, min_length_um=10) == pytest.approx(49.0)


def test_empty_mask_is_zero():
    assert neurite_skeleton_length(np.zeros((30, 30), bool), pixel_size_um=0.65) == 0.0
    one = np.zeros((30, 30), bool)
    one[5, 5] = True
    assert neurite_skeleton_length(one, pixel_size_um=0.65) == 0.0


# --- neurite_mask ----------------------------------------------------------------------


def test_mask_finds_a_line_and_not_the_noise():
    img = _draw(_field(), 80, 20, 80, 140)
    m = neurite_mask(img, pixel_size_um=PX)
    assert m[80, 25:136].all()
    assert not m[:60].any() and not m[100:].any()


def test_mask_is_empty_on_noise_and_constant_images():
    assert not neurite_mask(_field(), pixel_size_um=PX).any()
    assert not neurite_mask(np.full((64, 64), 7, np.uint16), pixel_size_um=PX).any()
    assert not neurite_mask(np.zeros((64, 64)), pixel_size_um=PX).any()


def test_soma_interior_is_excluded():
    # A neurite through a bright soma: the ridge inside the body does not stand above it.
    img = _draw(_field(), 80, 20, 80, 140)
    rr, cc = disk((80, 80), 12, shape=img.shape)
    img[rr, cc] += 400
    core = np.zeros(img.shape, bool)
    core[disk((80, 80), 8, shape=img.shape)] = True
    m = neurite_mask(img, pixel_size_um=PX)
    assert not (m & core).any()
    assert m[80, 25:60].all() and m[80, 100:136].all()


def test_wide_bright_cell_is_not_a_neurite():
    img = _field()
    rr, cc = disk((80, 80), 20, shape=img.shape)  # 26 µm cell body, no neurite
    img[rr, cc] += 150
    img = ndi.gaussian_filter(img, 1.0)
    assert neurite_skeleton_length(neurite_mask(img, pixel_size_um=PX), pixel_size_um=PX) < 5


def _blurred_line(length_px, sigma_px=1.7, amplitude=80.0):
    """A 1-px horizontal line blurred as by a focus drift (peak ``amplitude`` above noise)."""
    img = _field()
    canvas = np.zeros(img.shape)
    canvas[80, 30 : 30 + length_px] = 1.0
    return img + amplitude * np.sqrt(2 * np.pi) * sigma_px * ndi.gaussian_filter(canvas, sigma_px)


def test_long_blurred_neurite_seeds_but_a_short_blurred_stretch_does_not():
    # Too wide for the width test of the seeds; a 65 µm line is a neurite, a 16 µm stretch
    # as wide may be the tail of a spindle-shaped cell.
    assert neurite_mask(_blurred_line(100), pixel_size_um=PX)[80, 35:125].all()
    assert not neurite_mask(_blurred_line(25), pixel_size_um=PX).any()


def test_nan_pixels_do_not_crash_and_bad_shapes_are_named():
    img = _draw(_field(), 80, 20, 80, 140)
    img[0:10, 0:10] = np.nan
    assert neurite_mask(img, pixel_size_um=PX)[80, 30:130].all()
    with pytest.raises(ValueError, match="2-D"):
        neurite_mask(np.zeros((4, 4, 4)), pixel_size_um=PX)


# --- measure_neurites ------------------------------------------------------------------


def test_measure_straight_neurite_length_in_um():
    img = _draw(_field(), 80, 20, 80, 140)  # 120 px = 78 µm
    res = _measure(img, np.zeros(img.shape, np.int32))
    assert res.total_length_um == pytest.approx(120 * PX, rel=0.08)
    assert res.length_per_soma_um == {}
    assert res.unassigned_length_um == pytest.approx(res.total_length_um)
    assert res.skeleton.dtype == bool and res.skeleton.shape == img.shape


def test_measure_diagonal_neurite_is_not_over_counted():
    img = _draw(_field(), 20, 20, 140, 140)  # 120 * sqrt(2) px
    res = _measure(img, np.zeros(img.shape, np.int32))
    assert res.total_length_um == pytest.approx(120 * np.sqrt(2) * PX, rel=0.08)


def test_two_neurites_are_assigned_to_their_somata():
    img = _field((160, 240))
    labels = np.zeros(img.shape, np.int32)
    for lab, (r, c0, c1) in enumerate([(50, 30, 200), (120, 30, 120)], start=1):
        rr, cc = disk((r, c0), 10, shape=img.shape)
        img[rr, cc] += 400
        labels[rr, cc] = lab
        _draw(img, r, c0 + 10, r, c1)
    res = _measure(img, labels)
    long_um, short_um = 160 * PX, 80 * PX
    assert res.length_per_soma_um[1] == pytest.approx(long_um, rel=0.12)
    assert res.length_per_soma_um[2] == pytest.approx(short_um, rel=0.12)
    assert res.unassigned_length_um < 5
    assert res.total_length_um == pytest.approx(sum(res.length_per_soma_um.values()) + res.unassigned_length_um)


def test_piece_far_from_any_soma_stays_unassigned():
    img = _field((160, 240))
    labels = np.zeros(img.shape, np.int32)
    rr, cc = disk((40, 30), 10, shape=img.shape)
    img[rr, cc] += 400
    labels[rr, cc] = 1
    _draw(img, 120, 60, 120, 200)  # 140 px, touches no soma
    res = _measure(img, labels)
    assert res.length_per_soma_um == {1: 0.0}
    assert res.unassigned_length_um == pytest.approx(140 * PX, rel=0.08)


def test_short_pieces_are_dropped_by_min_length():
    img = _draw(_field(), 40, 20, 40, 140)  # 78 µm
    _draw(img, 110, 60, 110, 70)  # 6.5 µm
    zeros = np.zeros(img.shape, np.int32)
    kept = _measure(img, zeros, min_neurite_length_um=10)
    both = _measure(img, zeros, min_neurite_length_um=0)
    assert kept.total_length_um == pytest.approx(120 * PX, rel=0.08)
    assert both.total_length_um - kept.total_length_um == pytest.approx(10 * PX, abs=3 * PX)
    assert not kept.skeleton[100:].any()


def test_empty_image_gives_zero():
    res = _measure(np.zeros((64, 64), np.uint16), np.zeros((64, 64), np.int32))
    assert res.total_length_um == 0.0 and res.unassigned_length_um == 0.0
    assert not res.skeleton.any()


def test_piece_entering_from_the_border_without_soma_is_outside_but_in_the_total():
    img = _field((160, 240))
    labels = np.zeros(img.shape, np.int32)
    rr, cc = disk((40, 60), 10, shape=img.shape)
    img[rr, cc] += 400
    labels[rr, cc] = 1
    _draw(img, 40, 70, 40, 170)  # 100 px from soma 1
    _draw(img, 120, 0, 120, 140)  # 140 px entering from the left border, reaches no soma
    res = _measure(img, labels)
    assert res.length_per_soma_um[1] == pytest.approx(100 * PX, rel=0.12)
    assert res.outside_length_um == pytest.approx(140 * PX, rel=0.08)
    assert res.unassigned_length_um < 5
    # The field's length is all neurite in it, whoever it belongs to; the soma keeps its own.
    assert res.assigned_length_um == pytest.approx(res.length_per_soma_um[1])
    assert res.total_length_um == pytest.approx(
        res.assigned_length_um + res.unassigned_length_um + res.outside_length_um
    )
    assert res.total_length_um == pytest.approx(240 * PX, rel=0.1)


def test_border_piece_counts_when_there_are_no_somata():
    img = _draw(_field((160, 240)), 120, 0, 120, 140)
    res = _measure(img, np.zeros(img.shape, np.int32))
    assert res.outside_length_um == 0.0
    assert res.total_length_um == pytest.approx(140 * PX, rel=0.08)


def test_neurite_over_a_soma_label_is_not_cut():
    # A soma label that also covers a stretch of a neurite (a label grown along a bright
    # neurite base): the neurite stays one piece and keeps its length.
    img = _draw(_field((160, 240)), 80, 20, 80, 220)  # 200 px
    labels = np.zeros(img.shape, np.int32)
    labels[76:85, 100:130] = 1  # thin label lying on the neurite; no soma brightness
    res = _measure(img, labels)
    assert res.total_length_um == pytest.approx(200 * PX, rel=0.08)
    assert res.length_per_soma_um[1] == pytest.approx(res.total_length_um, rel=0.01)


def test_ring_of_ridge_counts_its_filled_skeleton_not_its_perimeter():
    # A hollow ring of 8 µm radius (the rim of a soma, a hollow fragment) is not 50 µm of neurite.
    img = _field()
    canvas = np.zeros(img.shape)
    rr, cc = disk((80, 80), 13, shape=img.shape)
    canvas[rr, cc] = 1
    rr, cc = disk((80, 80), 11, shape=img.shape)
    canvas[rr, cc] = 0
    img += 200 * ndi.gaussian_filter(canvas, 1.0)
    res = _measure(img, np.zeros(img.shape, np.int32))
    assert res.total_length_um < 0.3 * 2 * np.pi * 12 * PX


def test_fill_small_holes_keeps_large_holes_and_border_regions():
    from screening.segment.neurite_cleanup import fill_small_holes

    mask = np.zeros((40, 60), bool)
    mask[5:15, 5:15] = True
    mask[8:12, 8:12] = False  # hole of 16 px
    mask[5:35, 25:55] = True
    mask[10:30, 30:50] = False  # hole of 400 px
    mask[:, 0] = False
    out = fill_small_holes(mask, 100)
    assert out[8:12, 8:12].all()
    assert not out[10:30, 30:50].any()
    assert not out[20, 0] and not out[0, 20]
    assert (out | mask).sum() == mask.sum() + 16


# --- gap closing -------------------------------------------------------------------------


def _one_piece(skeleton):
    return ndi.label(skeleton, np.ones((3, 3)))[1] == 1


def test_faded_stretch_between_two_neurite_pieces_is_bridged():
    # A neurite fading out for 16 px (10 µm) between two bright pieces, with two faint beads
    # in the gap (below the ridge threshold): measured as one piece, gap included.
    img = _draw(_field((160, 200)), 80, 20, 80, 90)
    _draw(img, 80, 106, 80, 180)
    _draw(img, 80, 95, 80, 96, amplitude=20.0)
    _draw(img, 80, 101, 80, 102, amplitude=20.0)
    res = _measure(img, np.zeros(img.shape, np.int32))
    assert _one_piece(res.skeleton)
    assert res.total_length_um == pytest.approx(160 * PX, rel=0.08)


def test_pieces_that_do_not_face_each_other_or_are_far_apart_stay_apart():
    from screening.measure.bridging import bridge_gaps

    img = _field((200, 240))
    _draw(img, 40, 20, 40, 100)  # parallel pieces, 16 px apart sideways, overlapping ends
    _draw(img, 56, 90, 56, 170)
    _draw(img, 120, 20, 120, 100)  # collinear, but 30 px (19.5 µm) apart: beyond the reach
    _draw(img, 120, 130, 120, 210)
    _draw(img, 160, 20, 160, 100)  # at a right angle, 10 px from the end: a T, not a gap
    _draw(img, 150, 110, 190, 110)
    res = _measure(img, np.zeros(img.shape, np.int32))
    assert ndi.label(res.skeleton, np.ones((3, 3)))[1] == 6
    # Nothing to bridge on a skeleton of one piece or none.
    single = np.zeros((20, 40), bool)
    single[10, 5:35] = True
    assert (bridge_gaps(single, pixel_size_um=PX) == single).all()
    assert not bridge_gaps(np.zeros((20, 40), bool), pixel_size_um=PX).any()


def _skeleton(*segments, shape=(140, 200)):
    """One-pixel-wide skeleton of straight segments (r0, c0, r1, c1)."""
    skeleton = np.zeros(shape, bool)
    for r0, c0, r1, c1 in segments:
        rr, cc = line(r0, c0, r1, c1)
        skeleton[rr, cc] = True
    return skeleton


def test_neurite_fading_into_another_at_a_shallow_angle_is_joined_to_its_side():
    from screening.measure.bridging import bridge_gaps

    # A neurite descending at 22° ends 12 px (7.8 µm) above a horizontal one whose end lies
    # 13 px behind (no end-to-end bridge: neither end faces the other). The end aims at the
    # horizontal neurite within 30°, which runs within 45° of its direction: one bridge from
    # the end to that neurite's nearest pixel in the aim cone, one piece.
    skeleton = _skeleton((50, 20, 78, 90), (90, 85, 90, 190))
    out = bridge_gaps(skeleton, pixel_size_um=PX)
    added = np.argwhere(out & ~skeleton)
    assert _one_piece(out)
    assert len(added) == 11  # a thin straight line from (79, 91) down to row 89
    assert tuple(added[0]) == (79, 91) and added[-1][0] == 89
    # A neurite ahead that runs at ~80° to the end's direction: a contact, not a join.
    steep = _skeleton((50, 20, 78, 90), (110, 85, 76, 105))
    assert (bridge_gaps(steep, pixel_size_um=PX) == steep).all()
    # Beside a parallel neurite 12 px to the side: out of the 30° aim within the reach.
    beside = _skeleton((78, 20, 78, 90), (90, 85, 90, 190))
    assert (bridge_gaps(beside, pixel_size_um=PX) == beside).all()


def test_neurites_ending_at_either_side_of_a_soma_are_not_bridged_through_it():
    # Two neurites stop at the edge of a bright 8 µm soma and face each other across it,
    # 9 µm apart: without soma labels, the cell body itself is the barrier.
    img = _draw(_field((160, 200)), 80, 20, 80, 93)
    _draw(img, 80, 107, 80, 180)
    rr, cc = disk((80, 100), 6, shape=img.shape)
    img[rr, cc] += 400
    res = _measure(img, np.zeros(img.shape, np.int32))
    assert not res.skeleton[70:91, 97:104].any()



def test_an_end_aiming_at_a_soma_across_its_rim_is_joined_to_it():
    from screening.measure.bridging import join_ends_to_somata

    # A soma label (disk of radius 10 px) inside its rim (cell body, radius 18 px); a neurite
    # ends inside the rim 17 px right of the centre, aiming at it: joined across the rim to
    # the soma's edge (column 69), 8 px (5.2 µm) added along its aim. One ending beside the
    # soma but aiming past it (at 90°), and one aiming at it from 4 px outside the rim (across
    # background), are left alone unless that much background is allowed.
    soma = np.zeros((120, 200), np.int32)
    rr, cc = disk((60, 60), 10, shape=soma.shape)
    soma[rr, cc] = 1
    bodies = np.zeros(soma.shape, bool)
    rr, cc = disk((60, 60), 18, shape=soma.shape)
    bodies[rr, cc] = True
    aiming = _skeleton((60, 77, 60, 150), shape=soma.shape)
    out = join_ends_to_somata(aiming, soma, bodies, pixel_size_um=PX)
    added = np.argwhere(out & ~aiming)
    assert len(added) == 8 and set(added[:, 1]) == set(range(69, 77)) and np.abs(added[:, 0] - 60).max() <= 1
    passing = _skeleton((110, 78, 60, 78), shape=soma.shape)  # ends level with the soma, aiming up
    assert (join_ends_to_somata(passing, soma, bodies, pixel_size_um=PX) == passing).all()
    across_background = _skeleton((60, 82, 60, 150), shape=soma.shape)
    assert (join_ends_to_somata(across_background, soma, bodies, pixel_size_um=PX) == across_background).all()
    # Up to background_px of the line may be background (the field measurement allows the
    # attach distance, 1.5 neurite widths): 4 px of it is crossed at 5, 10 px is not.
    joined = join_ends_to_somata(across_background, soma, bodies, pixel_size_um=PX, background_px=5)
    assert set(np.argwhere(joined & ~across_background)[:, 1]) == set(range(69, 82))
    farther = _skeleton((60, 88, 60, 150), shape=soma.shape)
    assert (join_ends_to_somata(farther, soma, bodies, pixel_size_um=PX, background_px=5) == farther).all()


# --- dense meshes, bright and dark holes, wide parts ------------------------------------


def _mesh(spacing_px: int, shape=(200, 200), amplitude=80.0):
    """A square grid of blurred lines ``spacing_px`` apart: a dense mesh of neurites."""
    img = _field(shape)
    for k in range(20, shape[0] - 20, spacing_px):
        _draw(img, k, 10, k, shape[1] - 10, amplitude)
        _draw(img, 10, k, shape[0] - 10, k, amplitude)
    return img


def test_every_line_of_a_dense_mesh_is_found():
    # Lines 10 px (6.5 µm) apart cover much of the field and raise both a field-wide noise
    # estimate and the grey opening (the body estimate) over the whole mesh; each line is
    # still a neurite, so the mask crosses every line of the mesh between the crossings.
    img = _mesh(10)
    mask = neurite_mask(img, pixel_size_um=PX)
    rows = range(20, 180, 10)
    between = [(r + 5) for r in rows][:-1]  # half-way between two horizontal lines
    for col in range(20, 180, 10):
        hit = [mask[r - 2 : r + 3, col - 1 : col + 2].any() for r in between]
        assert all(hit), f"vertical line at column {col} broken"


def test_mesh_length_is_the_sum_of_its_lines():
    img = _mesh(12)
    n_lines = len(range(20, 180, 12))
    # each line runs from px 10 to 190; the skeleton stops a little short at free ends
    want = 2 * n_lines * 180 * PX
    got = _measure(img, np.zeros(img.shape, np.int32)).total_length_um
    assert 0.85 * want <= got <= 1.05 * want


def test_dark_holes_stay_open_bright_holes_fill():
    from screening.segment.neurite_cleanup import fill_small_holes

    image = np.full((60, 100), 10.0)
    mask = np.zeros(image.shape, bool)
    for c0 in (5, 55):
        mask[10:40, c0 : c0 + 30] = True
        mask[15:35, c0 + 5 : c0 + 25] = False  # hole of 400 px
    image[mask] = 100.0
    image[15:35, 60:80] = 100.0  # right-hand hole as bright as its rim: a cell body
    mask[45:55, 5:95] = True  # a second piece joins both: each hole is one of two
    mask[40:45, 10] = mask[40:45, 60] = True
    out = fill_small_holes(mask, 1000, image, background=10.0)
    assert not out[15:35, 10:30].any()  # dark: a gap between neurites
    assert out[15:35, 60:80].all()  # bright: the inside of a rim


def test_a_lone_dark_ring_is_filled_as_one_piece_with_one_hole():
    from screening.segment.neurite_cleanup import fill_small_holes

    image = np.full((40, 40), 10.0)
    mask = np.zeros(image.shape, bool)
    mask[5:35, 5:35] = True
    mask[10:30, 10:30] = False
    image[mask] = 100.0
    assert fill_small_holes(mask, 1000, image, background=10.0)[10:30, 10:30].all()


def test_drop_wide_parts_removes_a_disk_and_keeps_lines():
    from screening.segment.neurite_cleanup import drop_wide_parts

    mask = np.zeros((80, 120), bool)
    rr, cc = disk((40, 40), 14)
    mask[rr, cc] = True  # a filled soma, 28 px across
    mask[39:42, 54:115] = True  # a 3 px neurite leaving it
    out = drop_wide_parts(mask, 9)
    assert not out[30:50, 30:50].any()
    assert out[39:42, 60:115].all()


def test_skeleton_of_isolated_pixels_measures_zero():
    from screening.measure.neurites import skeleton_lengths

    skeleton = np.zeros((30, 30), bool)
    skeleton[5, 5] = skeleton[20, 20] = True
    kept, length, graph = skeleton_lengths(skeleton, pixel_size_um=PX)
    assert length == 0.0 and graph is None and not kept.any()


def test_lower_side_level_reads_the_darker_side_across_a_line():
    from screening.segment.neurites import lower_side_level

    img = np.full((60, 60), 100.0)
    img[:, :30] += 50.0  # a wide bright body on the left half
    img = ndi.gaussian_filter(_draw(img, 5, 40, 55, 40, 80.0), 1.5)  # a vertical line at column 40
    level = lower_side_level(img, np.array([30]), np.array([40]), 5.0)
    assert level[0] == pytest.approx(100.0, abs=3.0)
    # inside the body, both sides are body
    level_in = lower_side_level(_draw(img.copy(), 5, 15, 55, 15), np.array([30]), np.array([15]), 5.0)
    assert level_in[0] > 140.0


# --- faint neurites: lines at 2-3x the pixel noise ---------------------------------------


def _draw_path(image, rows, cols, amplitude, brightness=None):
    """A 1-px path through ``(rows, cols)`` blurred as :func:`_draw`'s lines (peak ~``amplitude``);
    ``brightness`` scales each point (1 by default), a pixel taking the mean of its points."""
    at = (np.round(rows).astype(int), np.round(cols).astype(int))
    total, count = np.zeros(image.shape), np.zeros(image.shape)
    np.add.at(total, at, 1.0 if brightness is None else brightness)
    np.add.at(count, at, 1)
    canvas = np.divide(total, count, out=np.zeros(image.shape), where=count > 0)
    image += amplitude * 2.5 * ndi.gaussian_filter(canvas, 1.0)
    return image


_T = np.linspace(0.0, 1.0, 2000)


def _soma_with_neurites(seed: int, peak: float):
    """A 15 µm soma (900 ADU, its edge blurred by 1.3 µm) with four straight neurites of ``peak``
    ADU leaving it radially; the distance of every pixel from the soma's centre, px."""
    img = _field((200, 200), seed=seed)
    r = np.hypot(*(np.mgrid[:200, :200] - 100.0))
    img += 900.0 * ndi.gaussian_filter((r <= 11.5).astype(float), 2.0)
    lines = np.zeros((200, 200), bool)
    for angle in (0.3, 1.9, 3.6, 5.0):
        (r0, r1), (c0, c1) = 100 + np.outer((np.sin(angle), np.cos(angle)), (11.5, 95)).round().astype(int)
        rr, cc = line(r0, c0, r1, c1)
        inside = (rr >= 0) & (rr < 200) & (cc >= 0) & (cc < 200)
        lines[rr[inside], cc[inside]] = True
    img += peak * 2.5 * ndi.gaussian_filter(lines.astype(float), 1.0)
    return img, lines, r


def test_somata_of_another_shape_are_refused():
    with pytest.raises(ValueError, match="somata shape"):
        segment_neurites(_field(), pixel_size_um=PX, somata=np.zeros((10, 10), bool))


def test_somata_given_as_labels_read_as_their_pixels():
    # A soma label image (label 2 here) is the somata's pixels, not a bit pattern.
    img, _, r = _soma_with_neurites(0, 18.0)
    as_mask, _ = segment_neurites(img, pixel_size_um=PX, soma_diameter_um=15.0, somata=r <= 11.5)
    as_labels, _ = segment_neurites(img, pixel_size_um=PX, soma_diameter_um=15.0, somata=2 * (r <= 11.5))
    without, _ = segment_neurites(img, pixel_size_um=PX, soma_diameter_um=15.0)
    assert np.array_equal(as_labels, as_mask) and not np.array_equal(as_mask, without)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("peak", [18.0, 36.0])  # 6x and 12x the noise sd
def test_neurites_are_found_through_their_somas_halo(seed, peak):
    # Where a neurite leaves its soma, the soma's blurred edge falls off convexly along it: the
    # ridge strength read that as a blob and the mask began 3-4 µm out (0.70-0.74 of the first
    # 12 µm found). Saddles less the rim's own curvature find the neurite up to ~2 µm of the rim.
    img, lines, r = _soma_with_neurites(seed, peak)
    m, _ = segment_neurites(img, pixel_size_um=PX, soma_diameter_um=15.0, somata=r <= 11.5)
    found = lines & (ndi.distance_transform_edt(~m) <= 2)
    first_12_um = lines & (r > 11.5) & (r < 30)
    assert np.count_nonzero(found & first_12_um) >= 0.8 * np.count_nonzero(first_12_um)
    # and the soma's rim between the neurites stays out of the mask
    assert np.count_nonzero(m & ~ndi.binary_dilation(lines, iterations=3) & (r > 14)) <= 5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_halo_ridge_that_joins_no_kept_neurite_is_not_added(seed):
    # The halo rule only extends neurites the mask already keeps: a saddle on a soma's rim is no
    # evidence of a neurite by itself. A soma with a bright neurite to the right and a 5 µm stub
    # (3x the noise) to the left that reaches no kept piece: the stub's 8-9 halo px would be added
    # without that condition.
    img = _field((200, 200), seed=seed)
    r = np.hypot(*(np.mgrid[:200, :200] - 100.0))
    img += 900.0 * ndi.gaussian_filter((r <= 11.5).astype(float), 2.0)
    img = _draw(img, 100, 112, 100, 195, amplitude=36.0)
    img = _draw(img, 100, 88, 100, 80, amplitude=9.0)
    m, _ = segment_neurites(img, pixel_size_um=PX, soma_diameter_um=15.0, somata=r <= 11.5)
    assert m[100, 120:190].all()  # the kept neurite
    assert not m[:, :100][r[:, :100] > 11.5].any()  # nothing on the stub's side


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_meandering_neurite_at_twice_the_noise_is_found(seed):
    # One bright neurite (10x the noise sd of 3), a faint meandering one continuing it and
    # another on its own, both 2x the noise at their peak: single pixels never stand out, the
    # line does. The ridge mask alone found 0.75 of them.
    img = _field((240, 240), seed=seed)
    _draw_path(img, 60 + 0 * _T, 10 + 100 * _T, 30.0)
    _draw_path(img, 60 + 12 * np.sin(9 * _T), 110 + 120 * _T, 6.0)
    _draw_path(img, 170 + 12 * np.sin(11 * _T + 1), 10 + 220 * _T, 6.0)
    m = neurite_mask(img, pixel_size_um=PX)
    assert m[35:90, 115:225].any(axis=0).mean() >= 0.95  # the continuation, column by column
    assert m[150:195, 15:225].any(axis=0).mean() >= 0.95  # the line on its own
    assert not m[100:140].any()  # and nothing in the empty band between them


def _beaded_path(image, rows, cols, amplitude, period_um=4.0):
    """A path like :func:`_draw_path` with varicosities: brightness 0.3-1.7x of ``amplitude``
    every ``period_um`` along it (mean ``amplitude``)."""
    steps = np.hypot(np.diff(rows), np.diff(cols))
    path_um = np.concatenate([[0.0], np.cumsum(steps)]) * PX
    return _draw_path(image, rows, cols, amplitude, 1 + 0.7 * np.cos(2 * np.pi * path_um / period_um))


def _field_with_a_beaded_neurite(seed, amplitude):
    img = _field((240, 240), seed=seed)
    img = _draw_path(img, 60 + 0 * _T, 10 + 100 * _T, 30.0)  # a bright neurite elsewhere in the field
    _beaded_path(img, 170 + 12 * np.sin(7 * _T), 10 + 220 * _T, amplitude)
    m = neurite_mask(img, pixel_size_um=PX)
    assert not m[100:140].any()  # nothing in the empty band between the two
    return m[145:195, 15:225].any(axis=0).mean()  # the beaded one, column by column


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_beaded_neurite_is_found_as_one_line(seed):
    # Axons and degenerating neurites show varicosities: beads every few µm, with the stretches
    # between them at a third of the mean. At 6x the noise sd (troughs 1.8x) the neurite is one
    # line along its whole run.
    assert _field_with_a_beaded_neurite(seed, 18.0) >= 0.99


def test_a_faint_beaded_neurite_is_found_on_most_noise_draws():
    # At 3x the noise sd its troughs are under one noise sd: on 5 of 6 noise draws it is found
    # along >= 96 % of its run (the sixth: 56 %).
    found = [_field_with_a_beaded_neurite(seed, 9.0) for seed in range(6)]
    assert sum(f >= 0.9 for f in found) >= 5


def test_a_line_six_times_fainter_than_the_fields_neurites_is_not_added(monkeypatch):
    # Neurites at 10x the noise and a thin line at 1.7x: in a field of bright neurites, lines that
    # faint are out of focus or another structure (the DeepNeurite hand tracings leave them out),
    # so the faint-line detector adds none of it (the ridge mask alone finds a seventh); without
    # its reference to the field's own neurites it adds most of it.
    from screening.segment import faint_neurites

    def found():
        share = []
        for seed in range(4):
            img = _field((240, 240), seed=seed)
            for row in (30, 90, 150):
                _draw_path(img, row + 0 * _T, 10 + 220 * _T, 30.0)
            _draw_path(img, 200 + 10 * np.sin(9 * _T), 10 + 220 * _T, 5.0)
            share.append(neurite_mask(img, pixel_size_um=PX)[180:225, 15:225].any(axis=0).mean())
        return float(np.mean(share))

    assert found() < 0.3
    monkeypatch.setattr(faint_neurites, "_TYPICAL_FRACTION", 0.0)
    assert found() > 0.8


def _simulated_recall_precision(preset, screen_seed: int, field: int) -> tuple[float, float]:
    """Recall and precision of the neurite mask's skeleton against the drawn neurites of one
    simulated field at day 7 (timepoint 3), within max(2 px, 1.5 µm)."""
    from skimage.morphology import skeletonize

    from screening.simulate import build_screen, render_field
    from screening.simulate.render import render_neurite_layer

    screen = build_screen(preset, screen_seed)
    px = screen.preset.imaging.pixel_size_um
    truth = skeletonize(render_neurite_layer(screen, field, 3, blur=False) > 0)
    ours = skeletonize(segment_neurites(render_field(screen, field, 3).images["w1"], pixel_size_um=px)[0])
    tol = max(2.0, 1.5 / px)
    recall = np.count_nonzero(truth & (ndi.distance_transform_edt(~ours) <= tol)) / np.count_nonzero(truth)
    precision = np.count_nonzero(ours & (ndi.distance_transform_edt(~truth) <= tol)) / np.count_nonzero(ours)
    return recall, precision


@pytest.mark.parametrize("field", [21, 28, 35])
def test_faint_neurites_are_found_where_the_ridge_mask_kept_only_soma_rims(field):
    # A simulated look (varied seed 16: neurites at ~3x the noise, 0.92 µm/px) whose fields at
    # day 7 hold little the ridge mask keeps but the rims of bright somata, responding several
    # times as much as the neurites. Read over the whole kept mask, that reference left out
    # every faint neurite (recall of the drawn neurites 0.085, 0.009, 0.002 in these fields);
    # read on the kept neurites' centre lines (a rim is bright on one side) 0.24, 0.17, 0.12.
    from screening.simulate import varied_preset

    recall, precision = _simulated_recall_precision(varied_preset(16), 16, field)
    assert recall >= 0.1
    assert precision >= 0.85


def test_faint_neurites_need_stand_only_a_little_above_both_sides():
    # Fields of the look with neurites at 3x the noise (day 7). Both sides of a faint line must
    # be darker than its centre; asked to be 0.5 pixel-noise sds darker (~2.8 sds of the
    # smoothed image's noise), the faint neurites' own noise failed it: recall over these
    # fields 0.54; at 0.25, 0.59, at the same precision within 0.015.
    from screening.simulate import varied_preset

    found = [_simulated_recall_precision(varied_preset(None, neurite_snr=3.0), 0, field) for field in (9, 26, 33)]
    assert np.mean([recall for recall, _ in found]) >= 0.57
    assert min(precision for _, precision in found) >= 0.94


@pytest.mark.parametrize(("field", "least"), [(7, 0.17), (11, 0.23)])
def test_a_faint_neurite_broken_into_fragments_is_found_on_its_own(field, least):
    # Neurites at 1.5x the noise (the middle look otherwise, day 7): the line response of such a
    # neurite dips under the floor here and there, breaking its centre line into fragments of
    # 8-14 µm that touch no kept neurite. Counted as one line across gaps up to 6 µm (as a
    # continuation's fragments are) they are a faint neurite on their own: recall of the drawn
    # neurites 0.13 -> 0.20 and 0.18 -> 0.27 in these fields, precision 0.95-0.96 either way.
    from screening.simulate import varied_preset

    recall, precision = _simulated_recall_precision(varied_preset(None, neurite_snr=1.5), 0, field)
    assert recall >= least
    assert precision >= 0.9


def test_line_kernel_averages_along_its_direction():
    from screening.segment.faint_neurites import line_kernel

    k = line_kernel(10.0, np.pi / 4)  # 45° towards increasing rows: the main diagonal
    rows, cols = np.indices(k.shape)
    assert np.isclose(k.sum(), 1.0)
    assert np.isclose(k[np.abs(rows - cols) <= 1].sum(), 1.0)  # on the diagonal, bilinear spread
    assert k.shape == (11, 11)


def test_oriented_line_response_points_along_the_line():
    from screening.segment.faint_neurites import oriented_line_response

    img = np.zeros((64, 64), np.float32)
    rr, cc = line(8, 8, 56, 56)  # rows increase with columns: 45°, direction index 2 of 8
    img[rr, cc] = 1.0
    best, worst, which = oriented_line_response(ndi.gaussian_filter(img, 1.5), 15.0)
    assert which[32, 32] == 2
    assert best[32, 32] > 0 and worst[32, 32] < 0.5 * best[32, 32]


@pytest.mark.parametrize("seed", range(5))
def test_a_short_faint_neurite_on_its_own_is_found(seed):
    # 19.5 µm of neurite at 2.3x the noise beside nothing, in a field whose other neurite is at
    # 6x: its centre line is ~15 µm (the line average fades over the last few µm at each end),
    # above the 14 µm a faint line on its own needs (at 20 µm it was found in 2 fields of 5).
    img = _field((200, 200), seed=seed)
    _draw_path(img, 40 + 0 * _T, 10 + 180 * _T, 18.0)
    _draw_path(img, 140 + 0 * _T, 60 + 30 * _T, 7.0)
    m = neurite_mask(img, pixel_size_um=PX)
    assert m[136:145, 60:90].any(axis=0).mean() >= 0.75
    assert not m[60:120].any()


def test_fragments_of_a_broken_faint_line_are_one_chain_across_short_gaps():
    # A faint neurite's centre line breaks where its response dips under the floor: fragments
    # 3 px apart are one chain (a 5 px reach), a fragment 9 px further on is another.
    from screening.segment.faint_neurites import _chains
    from screening.segment.filters import label

    line = np.zeros((20, 80), bool)
    for c0, c1 in ((2, 14), (17, 29), (32, 44), (53, 65)):
        line[10, c0:c1] = True
    labels, n = label(line, connectivity=8)
    rows, cols = np.nonzero(line)
    chain = _chains(line, labels[rows, cols], rows, cols, n, gap_px=5.0)
    ids = chain[labels[10, [5, 20, 35, 60]]]
    assert n == 4 and ids[0] == ids[1] == ids[2] != ids[3]
    assert chain[0] == 0




def _short_line_found(neurite_amplitude: float, cell_amplitude: float = 0.0) -> tuple[float, int]:
    """Share of a 10 µm line at 3x the noise found, in fields whose other neurites peak at
    ``neurite_amplitude`` (mean over 6 fields), on a flat cell of ``cell_amplitude``; and the
    mask pixels over the cell and its rim (all fields)."""
    share, on_cell = [], 0
    for seed in range(6):
        img = _field((200, 200), seed=seed)
        for row in (30, 80):
            _draw_path(img, row + 0 * _T, 10 + 180 * _T, neurite_amplitude)
        cell = np.zeros(img.shape)
        cell[disk((150, 68), 18, shape=img.shape)] = cell_amplitude
        img += ndi.gaussian_filter(cell, 2.0)
        _draw_path(img, 150 + 0 * _T, 60 + 16 * _T, 9.0)
        m = neurite_mask(img, pixel_size_um=PX)
        assert not m[110:128].any() and not m[174:].any()
        share.append(m[146:155, 60:76].any(axis=0).mean())
        on_cell += int(m[128:174, 44:92].sum())
    return float(np.mean(share)), on_cell


def test_a_short_line_as_strong_as_the_fields_neurites_is_kept_but_not_on_a_cell(monkeypatch):
    # A 10 µm line at 3x the noise never seeds and is too short to be a faint line on its own;
    # beside neurites at 4x the noise it is as strong as they are (a neurite whose seeds broke
    # off) and is kept (the code before found none of it); beside neurites at 10x it is a
    # fainter structure and stays out. On a flat cell nothing is kept: without the body test,
    # arcs of the cell's rim would be.
    from screening.segment import neurites

    assert _short_line_found(12.0)[0] >= 0.85
    assert _short_line_found(30.0)[0] <= 0.1
    assert _short_line_found(12.0, cell_amplitude=20.0)[1] == 0
    monkeypatch.setattr(neurites, "_MAX_BODY_SHARE", 1.0)
    assert _short_line_found(12.0, cell_amplitude=20.0)[1] > 0


_DEEPNEURITE = Path(__file__).parents[2] / "shared" / "data" / "neurites_deepneurite"


@pytest.mark.skipif(not _DEEPNEURITE.is_dir(), reason="shared real-data folder ../shared/data absent")
@pytest.mark.parametrize("name", ["xonaopt3-PC3-2-64.tif", "xonaopt3-PC3-2-68.tif"])
def test_deepneurite_images_without_neurites_measure_under_500_px(name):
    # Issue #3's bar, below the field level (no somata; benchmarks/neurite_accuracy.py): the
    # spindle-shaped PC3 cells and their processes are not neurites. On -64 a chain of faint
    # fragments along the rim of a flat cell read 622 px before chains had to be narrow.
    import tifffile

    from screening.config.segmentation import SegmentationConfig
    from screening.measure.field import field_neurites

    image = tifffile.imread(_DEEPNEURITE / "image" / name)
    found = field_neurites(image, np.zeros(image.shape, np.int32), SegmentationConfig(), pixel_size_um=PX)
    assert found.total_length_um / PX < 500
