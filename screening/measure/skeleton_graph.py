"""skan's skeleton graph, built with a vectorised junction clean-up.

``skan.Skeleton(image)`` replaces every cluster of junction pixels (degree > 2) by its
minimum spanning tree so that a blob of touching junction pixels does not make a tangle
of tiny branches. skan 0.13 does that clean-up (``skan.csr._mst_junctions``) with a Python
loop over every non-junction pixel: on a 1024² neurite field (~25,000 skeleton pixels) it
takes ~45 ms, a tenth of the whole field's measurement. :func:`junction_mst` does the
same operation with array indexing (~2 ms), and :func:`skeleton_graph` assembles the
``Skeleton`` from skan's own public pieces (``PathGraph.from_graph``,
``Skeleton.from_path_graph``), on the pixel graph of :func:`skeleton_pixel_graph` (skan's
``pixel_graph`` with its node numbers looked up in an array: ~5 ms less per 1024² field). The
result is the same graph, paths and ``summarize`` table as ``skan.Skeleton``
(tests/test_skeleton_graph.py compares them).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import skan
from scipy.sparse import csgraph
from skan.csr import PathGraph

# The 8 neighbours (row, column offsets) in the order skan's ``pixel_graph`` lists them (nearest
# first), so that :func:`skeleton_pixel_graph` builds its graph entry for entry.
_NEIGHBOURS = np.array([[-1, 0], [0, 1], [0, -1], [1, 0], [-1, -1], [-1, 1], [1, -1], [1, 1]])


def junction_mst(graph: sp.csr_matrix) -> sp.csr_matrix:
    """Pixel graph with each cluster of junction pixels reduced to its minimum spanning tree.

    Parameters
    ----------
    graph : (N, N) sparse matrix
        Symmetric pixel adjacency, values = distances between neighbouring pixels.

    Returns
    -------
    (N, N) csr_matrix
        ``graph`` without the edges between junction pixels (degree ≥ 3) that are not in
        the minimum spanning tree of the junction-only subgraph (skan's ``_mst_junctions``).
    """
    graph = sp.csr_matrix(graph)
    n = graph.shape[0]
    junction = np.asarray((graph != 0).sum(axis=0)).ravel() >= 3
    rows = np.repeat(np.arange(n), np.diff(graph.indptr))
    keep = junction[rows] & junction[graph.indices] & (graph.data != 0)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=n))])
    between_junctions = sp.csr_matrix((graph.data[keep], graph.indices[keep], indptr), shape=graph.shape)
    between_junctions.sort_indices()
    tree = csgraph.minimum_spanning_tree(between_junctions)
    return graph - (between_junctions - (tree + tree.T))


def skeleton_pixel_graph(skeleton: np.ndarray, *, spacing: float) -> tuple[sp.csr_matrix, np.ndarray]:
    """``skan.csr.pixel_graph(skeleton, mask=skeleton, connectivity=2, spacing=...)`` of a 2-D bool skeleton.

    skan numbers the neighbours with ``skimage.util.map_array`` (a hash lookup, ~6 ms for a
    1024² neurite field); an array of node numbers over the padded image does it by indexing.

    Returns
    -------
    graph : (N, N) csr_matrix
        Distance (units of ``spacing``) between 8-connected skeleton pixels.
    nodes : (N,) int array
        Raveled index of each node's pixel in ``skeleton``.
    """
    padded = np.pad(np.asarray(skeleton, dtype=bool), 1)
    nodes_padded = np.flatnonzero(padded)
    n = nodes_padded.size
    neighbours = nodes_padded[:, None] + _NEIGHBOURS @ np.array([padded.shape[1], 1])
    present = padded.ravel()[neighbours]
    number = np.zeros(padded.size, dtype=np.intp)
    number[nodes_padded] = np.arange(n)
    distance = np.sqrt(np.sum((_NEIGHBOURS * float(spacing)) ** 2, axis=1))
    graph = sp.coo_matrix(
        (np.broadcast_to(distance, neighbours.shape)[present],
         (np.repeat(np.arange(n), present.sum(axis=1)), number[neighbours[present]])),
        shape=(n, n),
    ).tocsr()
    return graph, np.flatnonzero(skeleton)


def skeleton_graph(skeleton: np.ndarray, *, spacing: float) -> skan.Skeleton:
    """``skan.Skeleton(skeleton, spacing=spacing)`` for a 2-D bool skeleton, faster.

    Parameters
    ----------
    skeleton : (M, N) bool array
        One-pixel-wide skeleton with at least one pixel.
    spacing : float
        Pixel size (µm per px); branch distances come out in µm.

    Returns
    -------
    skan.Skeleton
        Built without keeping the image (``skeleton_image`` is None).
    """
    skeleton = np.asarray(skeleton, dtype=bool)
    graph, pixel_indices = skeleton_pixel_graph(skeleton, spacing=spacing)
    coordinates = np.transpose(np.unravel_index(pixel_indices, skeleton.shape))
    paths = PathGraph.from_graph(
        adj=junction_mst(graph),
        node_coordinates=coordinates,
        node_values=skeleton[tuple(coordinates.T)],
        spacing=spacing,
    )
    return skan.Skeleton.from_path_graph(paths)


def path_lengths(graph: skan.Skeleton, *, spacing: float, half_window: int = 1) -> np.ndarray:
    """Length of each path (branch) of ``graph`` along its pixels after a moving average.

    Parameters
    ----------
    graph : skan.Skeleton
        Skeleton graph (:func:`skeleton_graph`).
    spacing : float
        Pixel size (µm per px).
    half_window : int
        The path's pixel coordinates are averaged over ``2 * half_window + 1`` consecutive
        pixels (fewer near the ends, so the end points stay where they are).

    Returns
    -------
    (n_paths,) float array
        In the order of ``graph.paths`` and of ``skan.summarize``'s rows, µm.

    Notes
    -----
    skan's ``branch_distance`` adds 1 or sqrt(2) px per step: a digital line is a staircase
    and its steps are longer than the line: up to 8 % at 22.5 deg, 4 % on average over angles,
    4-6 % on circles and meanders; averaged over three pixels, within 1 %
    (tests/test_skeleton_graph.py, docs/measurements.md).
    """
    paths = graph.paths.tocsr()
    counts = np.diff(paths.indptr)
    xy = graph.coordinates[paths.indices].astype(np.float64)
    path = np.repeat(np.arange(counts.size), counts)
    k = np.arange(path.size) - paths.indptr[path]  # position along its path
    reach = np.minimum(np.minimum(k, counts[path] - 1 - k), half_window)
    total = np.vstack([np.zeros((1, xy.shape[1])), np.cumsum(xy, axis=0)])
    at = np.arange(path.size)
    smooth = (total[at + reach + 1] - total[at - reach]) / (2 * reach + 1)[:, None]
    steps = np.hypot(*np.diff(smooth, axis=0).T)
    same = path[1:] == path[:-1]
    return spacing * np.bincount(path[1:][same], weights=steps[same], minlength=counts.size)
