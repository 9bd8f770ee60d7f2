"""The vectorised skeleton graph equals skan's own, branch for branch; path lengths are the curves' own."""

import numpy as np
import pandas as pd
import pytest
import skan
from skan.csr import pixel_graph
from skimage.draw import line
from skimage.morphology import skeletonize

from screening.measure.skeleton_graph import junction_mst, path_lengths, skeleton_graph, skeleton_pixel_graph


def _cross_with_junction_blob() -> np.ndarray:
    image = np.zeros((40, 40), bool)
    image[20, 2:38] = True
    image[2:38, 20] = True
    image[19:22, 19:22] = True  # a 3x3 cluster of junction pixels: skan keeps its MST only
    rr, cc = line(3, 3, 36, 36)
    image[rr, cc] = True
    return image


def _ring_and_spur() -> np.ndarray:
    yy, xx = np.mgrid[:50, :50]
    image = np.abs(np.hypot(yy - 25, xx - 25) - 15) < 0.7
    image[25, 40:49] = True
    return skeletonize(image)


def _random_skeleton(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.zeros((160, 160), bool)
    for _ in range(25):
        r0, c0, r1, c1 = rng.integers(0, 160, 4)
        image[line(r0, c0, r1, c1)] = True
    return skeletonize(image)


@pytest.mark.parametrize(
    "skeleton",
    [_cross_with_junction_blob(), _ring_and_spur(), _random_skeleton(0), _random_skeleton(1),
     np.eye(12, dtype=bool)],
    ids=["junction-blob", "ring", "random-0", "random-1", "diagonal"],
)
def test_skeleton_graph_equals_skan(skeleton):
    ours = skeleton_graph(skeleton, spacing=0.65)
    theirs = skan.Skeleton(skeleton, spacing=0.65)
    assert (ours.graph != theirs.graph).nnz == 0
    assert np.array_equal(ours.coordinates, theirs.coordinates)
    pd.testing.assert_frame_equal(skan.summarize(ours, separator="_"), skan.summarize(theirs, separator="_"))


@pytest.mark.parametrize(
    "skeleton",
    [_cross_with_junction_blob(), _random_skeleton(2), np.eye(12, dtype=bool), np.ones((3, 4), bool)],
    ids=["junction-blob", "random-2", "diagonal", "full"],
)
def test_skeleton_pixel_graph_is_skans_entry_for_entry(skeleton):
    ours, nodes = skeleton_pixel_graph(skeleton, spacing=0.65)
    theirs, their_nodes = pixel_graph(skeleton, mask=skeleton, connectivity=2, spacing=np.full(2, 0.65))
    assert np.array_equal(nodes, their_nodes)
    for attribute in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(ours, attribute), getattr(theirs, attribute))


def test_junction_blob_is_reduced():
    # The reduction is real: the 3x3 blob has more junction-junction edges than its tree.
    skeleton = _cross_with_junction_blob()
    graph, _ = pixel_graph(skeleton, mask=skeleton, connectivity=2)
    assert junction_mst(graph).nnz < graph.nnz


def _digital_curve(rows, cols, shape=(300, 300)) -> np.ndarray:
    image = np.zeros(shape, bool)
    image[np.round(rows).astype(int), np.round(cols).astype(int)] = True
    return skeletonize(image)


def _length_ratios(rows, cols) -> tuple[float, float]:
    """(path_lengths, skan branch_distance) of the curve's digital skeleton / its true length."""
    true = float(np.sum(np.hypot(np.diff(rows), np.diff(cols))))
    graph = skeleton_graph(_digital_curve(rows, cols), spacing=1.0)
    steps = skan.summarize(graph, separator="_")["branch_distance"].sum()
    return path_lengths(graph, spacing=1.0).sum() / true, steps / true


@pytest.mark.parametrize("angle_deg", [10, 22.5, 30, 60, 67.5, 80, 112.5, 157.5])
def test_straight_lines_at_any_angle_measure_their_length(angle_deg):
    # Steps of 1 and sqrt(2) px read a digital line 5-8 % long at these angles (circles 5 %);
    # averaged over three pixels the path reads within 1 % (the staircase's corners cut).
    t = np.linspace(0, 200, 20001)
    a = np.deg2rad(angle_deg)
    smoothed, steps = _length_ratios(150 + (t - 100) * np.sin(a), 150 + (t - 100) * np.cos(a))
    assert abs(smoothed - 1) <= 0.02
    assert steps - 1 >= 0.01  # what the plain steps read


@pytest.mark.parametrize("radius", [15, 30, 60])
def test_circles_and_meanders_measure_their_length(radius):
    t = np.linspace(0, 2 * np.pi, 40001)
    smoothed, steps = _length_ratios(150 + radius * np.sin(t), 150 + radius * np.cos(t))
    assert abs(smoothed - 1) <= 0.02 and steps > 1.03
    t = np.linspace(0, 200, 40001)
    smoothed, _ = _length_ratios(150 + 15 * np.sin(t / radius), 50 + t)
    assert abs(smoothed - 1) <= 0.02


def test_path_lengths_without_averaging_are_skans_branch_distance():
    graph = skeleton_graph(_cross_with_junction_blob(), spacing=0.5)
    table = skan.summarize(graph, separator="_")
    np.testing.assert_allclose(path_lengths(graph, spacing=0.5, half_window=0), table["branch_distance"])
