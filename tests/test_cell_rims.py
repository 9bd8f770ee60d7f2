"""A reporter kept out of the nucleus draws each cell as a ring or crescent: a rim, not a neurite."""

import numpy as np
import pytest

from screening.segment.neurite_cleanup import angular_span, without_cell_rims


def _disc(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (np.hypot(yy - centre[0], xx - centre[1]) <= radius).astype(float)


def test_a_piece_curving_round_one_nucleus_is_a_rim_and_a_stub_pointing_away_is_not():
    # A cytoplasmic reporter leaves a dark nucleus in a bright ring; round an off-centre nucleus
    # the ring is a crescent, which the neurite mask reads as a curved line (benchmarks/README.md,
    # "Looks the simulator does not draw"). A neurite's base near its soma points away instead.
    shape = (100, 100)
    nuclei = (_disc(shape, (50, 50), 8) > 0).astype(int)
    yy, xx = np.mgrid[:100, :100]
    r, theta = np.hypot(yy - 50, xx - 50), np.arctan2(yy - 50, xx - 50)
    crescent = (np.abs(r - 11) <= 0.7) & (theta > 0.6) & (theta < 2.8)  # 126° round the nucleus
    stub = (yy == 50) & (xx >= 60) & (xx <= 66)  # a neurite's base, pointing away
    far = (yy == 20) & (xx >= 10) & (xx <= 40)  # a neurite nowhere near
    kept = without_cell_rims(crescent | stub | far, nuclei, reach_px=8)
    assert not (kept & crescent).any()
    assert (kept == (stub | far)).all()
    assert angular_span(np.array([1.0, 0.0, -1.0]), np.array([0.0, 1.0, 0.0])) == pytest.approx(np.pi)


def test_a_curve_shared_by_two_nuclei_is_kept_and_a_rim_at_the_image_border_goes():
    # The nearest nucleus is read in a window round each piece: a curve whose pixels lie nearest
    # to two different nuclei is no one cell's rim, and a crescent whose window is cut by the
    # image's edge is still found.
    shape = (80, 120)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    nuclei = np.zeros(shape, int)
    nuclei[_disc(shape, (40, 40), 6) > 0] = 1
    nuclei[_disc(shape, (40, 62), 6) > 0] = 2
    nuclei[_disc(shape, (5, 100), 6) > 0] = 3
    r1, t1 = np.hypot(yy - 40, xx - 51), np.arctan2(yy - 40, xx - 51)
    shared = (np.abs(r1 - 9) <= 0.7) & (t1 > 0.4) & (t1 < 2.7)  # an arc below, between nuclei 1 and 2
    r3, t3 = np.hypot(yy - 5, xx - 100), np.arctan2(yy - 5, xx - 100)
    border_rim = (np.abs(r3 - 9) <= 0.7) & (t3 > -0.5) & (t3 < 2.5) & (yy >= 0)
    kept = without_cell_rims(shared | border_rim, nuclei, reach_px=8)
    assert (kept == shared).all()
