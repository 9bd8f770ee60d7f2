"""The OpenCV filters return what the scipy.ndimage calls they replace return."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from screening.segment import filters


@pytest.fixture
def image():
    rng = np.random.default_rng(1)
    img = ndi.gaussian_filter(rng.normal(100, 20, (67, 90)), 2).astype(np.float32)
    img[10:20, 30:45] += 80  # a plateau and edges for the morphology
    return img


@pytest.mark.parametrize("mode", ["reflect", "nearest"])
@pytest.mark.parametrize("sigma", [0.8, 1.0, 2.5])
def test_gaussian_matches_ndimage(image, sigma, mode):
    for truncate in (3.0, 4.0):
        ours = filters.gaussian(image, sigma, truncate=truncate, mode=mode)
        ref = ndi.gaussian_filter(image, sigma, truncate=truncate, mode=mode)
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("size", [3, 4, 7, 8])
@pytest.mark.parametrize("mode", ["reflect", "nearest"])
def test_minimum_maximum_opening_match_ndimage(image, size, mode):
    np.testing.assert_array_equal(filters.maximum_filter(image, size, mode=mode), ndi.maximum_filter(image, size, mode=mode))
    np.testing.assert_array_equal(filters.minimum_filter(image, size, mode=mode), ndi.minimum_filter(image, size, mode=mode))
    np.testing.assert_array_equal(
        filters.grey_opening(image, size, mode=mode), ndi.grey_opening(image, size=(size, size), mode=mode)
    )


def test_maximum_filter_keeps_dtype_of_bool_and_int_labels():
    labels = np.zeros((20, 20), np.int32)
    labels[5, 5], labels[15, 12] = 70000, 3  # above uint16: goes through float64 exactly
    out = filters.maximum_filter(labels, 3)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, ndi.maximum_filter(labels, 3))
    mask = labels > 0
    grown = filters.maximum_filter(mask, 5)
    assert grown.dtype == bool and grown.sum() == 50


def test_binary_opening_matches_ndimage_including_border():
    rng = np.random.default_rng(2)
    mask = ndi.gaussian_filter(rng.random((80, 70)), 1.5) > 0.5
    mask[0, :] = True  # objects touching the border are eroded there, as ndimage does
    np.testing.assert_array_equal(filters.binary_opening(mask), ndi.binary_opening(mask))


def test_distance_transform_matches_ndimage():
    rng = np.random.default_rng(3)
    mask = ndi.gaussian_filter(rng.random((90, 60)), 3) > 0.5
    np.testing.assert_allclose(filters.distance_transform_edt(mask), ndi.distance_transform_edt(mask), atol=1e-4)
    # A disc of radius 10: the centre is 10 px (+/- a pixel) from the background.
    yy, xx = np.mgrid[:41, :41]
    disc = (yy - 20) ** 2 + (xx - 20) ** 2 <= 100
    assert 10 <= filters.distance_transform_edt(disc)[20, 20] <= 11
    full = np.ones((5, 6), bool)
    np.testing.assert_allclose(filters.distance_transform_edt(full), ndi.distance_transform_edt(full))


def test_nearest_marker_is_the_chessboard_nearest():
    markers = np.zeros((30, 40), np.int32)
    markers[5, 5] = 7
    markers[20:23, 30:33] = 2
    distance, nearest = filters.nearest_marker(markers)
    assert nearest[0, 0] == 7 and distance[0, 0] == 5
    assert nearest[29, 39] == 2 and distance[29, 39] == 7  # chessboard: max(29-22, 39-32)
    ref, (ir, ic) = ndi.distance_transform_cdt(markers == 0, metric="chessboard", return_indices=True)
    np.testing.assert_array_equal(distance, ref)
    # Away from ties the owner is the same as ndimage's.
    d7 = np.maximum(abs(np.arange(30)[:, None] - 5), abs(np.arange(40)[None, :] - 5))
    clear = abs(d7 - ref) > 0
    np.testing.assert_array_equal(nearest[clear], markers[ir, ic][clear])
    empty_d, empty_n = filters.nearest_marker(np.zeros((4, 4), np.int32))
    assert np.isinf(empty_d).all() and not empty_n.any()


@pytest.mark.parametrize("connectivity", [4, 8])
def test_label_finds_the_same_pieces_as_ndimage(connectivity):
    rng = np.random.default_rng(4)
    mask = ndi.gaussian_filter(rng.random((70, 80)), 1.2) > 0.52
    ours, n = filters.label(mask, connectivity=connectivity)
    structure = np.ones((3, 3)) if connectivity == 8 else None
    ref, n_ref = ndi.label(mask, structure=structure)
    assert n == n_ref > 5
    # Same partition: each of our labels maps to exactly one of ndimage's and back.
    pairs = {(a, b) for a, b in zip(ours[mask], ref[mask], strict=True)}
    assert len(pairs) == n
    assert (ours > 0).sum() == mask.sum() and ours.dtype == np.int32


def test_distance_transform_is_exact_and_the_same_on_every_call():
    # A watershed of the distance map breaks ties on its last bit: it must not vary (issue #20's
    # small-screen snapshot caught one nucleus split in one run and not the next).
    yy, xx = np.mgrid[:29, :21]
    for a, b, tilt in ((12, 7, 0.4), (9, 8, 1.1), (13, 5, -0.7)):
        u = (yy - 14) * np.cos(tilt) + (xx - 10) * np.sin(tilt)
        v = -(yy - 14) * np.sin(tilt) + (xx - 10) * np.cos(tilt)
        blob = (u / a) ** 2 + (v / b) ** 2 <= 1  # a nucleus-sized ellipse
        exact = ndi.distance_transform_edt(blob).astype(np.float32)
        for _ in range(6):
            assert np.array_equal(filters.distance_transform_edt(blob), exact)


def test_nonzero_is_numpys_in_raster_order():
    from screening.segment.filters import nonzero

    mask = np.random.default_rng(0).random((37, 53)) > 0.9
    rows, cols = nonzero(mask)
    want_rows, want_cols = np.nonzero(mask)
    assert np.array_equal(rows, want_rows) and np.array_equal(cols, want_cols)
    assert [a.size for a in nonzero(np.zeros((5, 7), bool))] == [0, 0]


def test_distance_transform_is_exact_far_from_the_background_too():
    # Under 1024 px the square is rounded in float32, beyond it in float64: both exact.
    rng = np.random.default_rng(3)
    blobs = ndi.gaussian_filter(rng.random((300, 400)), 6) > 0.5
    row = np.ones((1, 2600), bool)
    row[0, 0] = False
    for mask in (blobs, row):
        exact = ndi.distance_transform_edt(mask).astype(np.float32)
        assert np.array_equal(filters.distance_transform_edt(mask), exact)
    assert filters.distance_transform_edt(row).max() == 2599


def test_label_centroids_match_ndimage_and_mark_absent_labels():
    rng = np.random.default_rng(3)
    labels, n = ndi.label(rng.random((80, 90)) > 0.7)
    labels[labels == 5] = 0  # a label number with no pixel
    area, row, col = filters.label_centroids(labels)
    assert area.size == row.size == col.size == n
    present = np.arange(1, n + 1) != 5
    want = np.asarray(ndi.center_of_mass(labels > 0, labels, np.arange(1, n + 1))[:4]
                      + ndi.center_of_mass(labels > 0, labels, np.arange(6, n + 1)))
    np.testing.assert_array_equal(np.column_stack([row, col])[present], want)
    np.testing.assert_array_equal(area, np.bincount(labels.ravel(), minlength=n + 1)[1:])
    assert area[4] == 0 and np.isnan(row[4]) and np.isnan(col[4])
    empty = filters.label_centroids(np.zeros((5, 5), np.int32))
    assert all(a.size == 0 for a in empty)
