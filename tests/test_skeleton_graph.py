"""The vectorised skeleton graph equals skan's own, branch for branch."""

import numpy as np
import pandas as pd
import pytest
import skan
from skan.csr import pixel_graph
from skimage.draw import line
from skimage.morphology import skeletonize

from screening.measure.skeleton_graph import junction_mst, skeleton_graph


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


def test_junction_blob_is_reduced():
    # The reduction is real: the 3x3 blob has more junction-junction edges than its tree.
    skeleton = _cross_with_junction_blob()
    graph, _ = pixel_graph(skeleton, mask=skeleton, connectivity=2)
    assert junction_mst(graph).nnz < graph.nnz
