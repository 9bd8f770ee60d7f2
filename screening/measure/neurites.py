"""Neurite length of a field from the skeleton graph (skan), in µm, and per soma.

Lengths are measured along each branch of the skan graph, its pixel path averaged over three
consecutive pixels first (:func:`screening.measure.skeleton_graph.path_lengths`): a digital
line is a staircase, and its steps (1 or sqrt(2) px each, skan's ``branch_distance``) are
up to 8 % longer than the line (4 % on average over angles, 4-6 % on circles and meanders);
averaged, they read within 1 % of their length (pixel counting is off by up to -29 % on diagonals).

Assignment to somata: every skeleton pixel belongs to the soma it reaches first along
the skeleton (multi-source Dijkstra on skan's pixel graph, from the skeleton pixels that
touch each soma); each skan branch goes to the owner of its middle pixel. Pieces that
reach no soma along the skeleton are **left unassigned** (``unassigned_length_um``):
their soma is outside the field, faded or below the reporter threshold, and giving them
to the nearest soma by straight-line distance would inflate a neighbour's arbor. Of those,
the pieces that also touch the image border (``outside_length_um``, only when there are
soma labels) enter the field from a neuron whose soma lies outside it. ``total_length_um``
is all of it, whoever it belongs to (the per-image figure of Incucyte NeuroTrack and
CellProfiler): ``total = assigned (sum per soma) + unassigned + outside``; a per-neuron
length divides only the assigned part.

The mask measured here is the segmentation's (:func:`screening.segment.neurites.segment_neurites`:
ridges, with rings of ridge around cell bodies cleaned up). Somata are not cut out of it: the
mask's own tests (a line, standing above the cell body under it) keep soma interiors out, and a
soma label that also covers a neurite's base or a neighbouring cell would otherwise cut the
neurite there.

Gap closing: facing skeleton end points are joined before pieces are measured
(:func:`screening.measure.bridging.bridge_gaps`), so a neurite that fades or breaks into beads
for a few µm is measured, assigned and kept as one piece.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import skan
from scipy.sparse.csgraph import dijkstra
from skimage.morphology import skeletonize

from screening.config.segmentation import SEGMENTATION_DEFAULTS
from screening.measure.bridging import bridge_gaps, join_ends_to_somata, near_border
from screening.measure.skeleton_graph import path_lengths, skeleton_graph
from screening.segment import filters

# A neurite touches its soma when its skeleton comes this close (the mask stops a little
# short of the soma edge, where the soma's own brightness hides the ridge), in multiples
# of the neurite width.
_ATTACH_WIDTHS = 1.5


@dataclass
class NeuriteMeasurement:
    """Neurite lengths of one field.

    Attributes
    ----------
    total_length_um : float
        Length of every kept skeleton piece in the field, µm.
    length_per_soma_um : dict[int, float]
        Soma label -> length of the neurites reached first from that soma along the
        skeleton, µm. Every label of ``soma_labels`` is a key (0.0 without neurites).
    unassigned_length_um : float
        Length of pieces that reach no soma along the skeleton and do not touch the image
        border, µm.
    skeleton : (M, N) bool array
        The kept skeleton, for display.
    outside_length_um : float
        Length of pieces that reach no soma and touch the image border (neurites of neurons
        outside the field), µm; in ``total_length_um``, not in ``unassigned_length_um``.
        0.0 without soma labels.
    """

    total_length_um: float
    length_per_soma_um: dict[int, float]
    unassigned_length_um: float
    skeleton: np.ndarray = field(repr=False)
    outside_length_um: float = 0.0

    @property
    def assigned_length_um(self) -> float:
        """Length reached from the somata (the sum over ``length_per_soma_um``), µm."""
        return float(sum(self.length_per_soma_um.values()))


def _has_neighbours(skeleton: np.ndarray) -> bool:
    """Whether any two pixels of ``skeleton`` touch (8-connectivity)."""
    s = skeleton
    return bool(
        (s[1:] & s[:-1]).any() or (s[:, 1:] & s[:, :-1]).any()
        or (s[1:, 1:] & s[:-1, :-1]).any() or (s[1:, :-1] & s[:-1, 1:]).any()
    )


def _graph(skeleton: np.ndarray, pixel_size_um: float):
    """skan graph and per-branch table, or None for a skeleton without any branch."""
    if not _has_neighbours(skeleton):
        return None  # skan cannot build a graph of isolated pixels only
    graph = skeleton_graph(skeleton, spacing=pixel_size_um)
    table = skan.summarize(graph, separator="_")
    if table.empty:
        return None
    table["length_um"] = path_lengths(graph, spacing=pixel_size_um)
    return graph, table


def skeleton_lengths(
    skeleton: np.ndarray, *, pixel_size_um: float, min_length_um: float = 0.0
) -> tuple[np.ndarray, float, tuple | None]:
    """Skeleton with pieces shorter than ``min_length_um`` removed, and its length.

    Parameters
    ----------
    skeleton : (M, N) bool array
        One-pixel-wide skeleton.
    pixel_size_um : float
        Pixel size, µm.
    min_length_um : float
        Connected pieces (all their branches together) shorter than this are dropped, µm.

    Returns
    -------
    kept : (M, N) bool array
    length_um : float
        Length of the kept pieces (:func:`screening.measure.skeleton_graph.path_lengths`), µm.
    graph : (skan.Skeleton, pandas.DataFrame) or None
        The skan graph of the *input* skeleton and its branch table with a boolean
        ``kept`` column, for callers that need branches.
    """
    skeleton = np.asarray(skeleton, dtype=bool)
    built = _graph(skeleton, pixel_size_um)
    if built is None:
        return np.zeros_like(skeleton), 0.0, None
    graph, table = built
    piece_length = table.groupby("skeleton_id")["length_um"].transform("sum")
    table["kept"] = (piece_length >= min_length_um).to_numpy()
    if table["kept"].all():
        return skeleton, float(table["length_um"].sum()), (graph, table)
    kept = np.zeros_like(skeleton)
    paths = graph.paths.tocsr()
    nodes = paths[np.flatnonzero(table["kept"].to_numpy())].indices
    coords = graph.coordinates[nodes].astype(int)
    kept[coords[:, 0], coords[:, 1]] = True
    return kept, float(table.loc[table["kept"], "length_um"].sum()), (graph, table)


def neurite_skeleton_length(mask: np.ndarray, *, pixel_size_um: float, min_length_um: float = 0.0) -> float:
    """Length of the skeleton of a neurite mask, µm (along its branches, see the module docstring).

    Parameters
    ----------
    mask : (M, N) bool array
        Neurite mask (any width: it is skeletonised first).
    pixel_size_um : float
        Pixel size, µm.
    min_length_um : float, optional
        Skeleton pieces shorter than this are not counted, µm.

    Returns
    -------
    length_um : float
        0.0 for an empty mask.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((20, 20), bool)
    >>> np.fill_diagonal(mask, True)
    >>> round(neurite_skeleton_length(mask, pixel_size_um=0.5), 3)  # 19 diagonal steps
    13.435
    """
    if not pixel_size_um > 0:
        raise ValueError(f"pixel_size_um must be positive, got {pixel_size_um}")
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"neurite mask must be 2-D, got shape {mask.shape}")
    _, length, _ = skeleton_lengths(skeletonize(mask), pixel_size_um=pixel_size_um, min_length_um=min_length_um)
    return length


def _assign(graph, table, soma_labels: np.ndarray, attach_px: float) -> tuple[dict[int, float], float, float]:
    """Length per soma label (nearest along the skeleton), the unassigned rest, and the part
    of that rest in pieces touching the image border (within ``attach_px``), µm."""
    kept = table["kept"].to_numpy()
    lengths = table["length_um"].to_numpy()
    coords = graph.coordinates.astype(int)
    size = 2 * int(np.ceil(attach_px)) + 1
    # Which soma each skeleton pixel touches (max label where several are in reach).
    near = filters.maximum_filter(soma_labels, size)[coords[:, 0], coords[:, 1]]
    sources = np.flatnonzero(near > 0)
    per_soma: dict[int, float] = {}
    # Pieces (skan skeleton ids) with a pixel within the attach distance of the border.
    on_edge = near_border(coords[:, 0], coords[:, 1], soma_labels.shape, int(np.ceil(attach_px)))
    paths = graph.paths.tocsr()
    piece = table["skeleton_id"].to_numpy()
    node_piece = np.full(coords.shape[0], -1, np.int64)
    node_piece[paths.indices] = np.repeat(piece, np.diff(paths.indptr))
    branch_on_edge = np.isin(piece, node_piece[on_edge & (node_piece >= 0)])
    if sources.size == 0:
        return per_soma, float(lengths[kept].sum()), float(lengths[kept & branch_on_edge].sum())
    dist, _, origin = dijkstra(graph.graph, directed=False, indices=sources, min_only=True, return_predecessors=True)
    middle = paths.indices[paths.indptr[:-1] + np.diff(paths.indptr) // 2]
    owner_node = origin[middle]
    reached = kept & (owner_node >= 0) & np.isfinite(dist[middle])
    owner = np.where(reached, near[np.where(owner_node >= 0, owner_node, 0)], 0)
    sums = np.bincount(owner[reached], weights=lengths[reached], minlength=int(soma_labels.max()) + 1)
    per_soma = {int(k): float(sums[k]) for k in np.flatnonzero(sums)}
    # The branches of a piece are connected: a piece is reached when any branch is.
    outside = kept & branch_on_edge & ~np.isin(piece, piece[reached])
    return per_soma, float(lengths[kept & ~reached].sum()), float(lengths[outside].sum())


def measure_neurites(
    mask: np.ndarray,
    soma_labels: np.ndarray,
    *,
    pixel_size_um: float,
    bodies: np.ndarray | None = None,
    neurite_width_um: float = SEGMENTATION_DEFAULTS.neurite_width_um,
    min_neurite_length_um: float = SEGMENTATION_DEFAULTS.min_neurite_length_um,
) -> NeuriteMeasurement:
    """Neurite length of a field, in total and per soma.

    Parameters
    ----------
    mask : (M, N) bool array
        Neurite mask (:func:`screening.segment.neurites.segment_neurites`); skeletonised here.
    soma_labels : (M, N) int array
        Soma labels (0 = background); may be all zeros. Somata are the roots of the
        per-soma assignment (they are not cut out of the neurite mask; see the module
        docstring).
    pixel_size_um : float
        Pixel size, µm.
    bodies : (M, N) bool array, optional
        Cell bodies (from :func:`~screening.segment.neurites.segment_neurites`): no gap is
        bridged across them. Default: none.
    neurite_width_um : float
        Typical neurite width, µm: a skeleton this close to a soma (in widths, see
        ``_ATTACH_WIDTHS``) touches it.
    min_neurite_length_um : float
        Pieces shorter than this (after gap bridging) are dropped, µm.

    Returns
    -------
    NeuriteMeasurement
        See the module docstring for how pieces are assigned.
    """
    mask = np.asarray(mask, dtype=bool)
    soma_labels = np.asarray(soma_labels)
    if soma_labels.shape != mask.shape:
        raise ValueError(f"soma_labels shape {soma_labels.shape} differs from neurite mask shape {mask.shape}")
    if soma_labels.dtype.kind not in "iub":
        raise ValueError(f"soma_labels must be an integer label image, got dtype {soma_labels.dtype}")
    if bodies is None:
        bodies = np.zeros(mask.shape, dtype=bool)
    soma_labels = soma_labels.astype(np.int32, copy=False)
    flat = soma_labels.ravel()
    # bincount, not np.unique: a sort of every pixel costs ~25 ms on a 1024² field.
    somata = {int(k): 0.0 for k in np.flatnonzero(np.bincount(flat[flat > 0]))}
    attach_px = _ATTACH_WIDTHS * neurite_width_um / pixel_size_um
    # Bridge before the length filter: the beads of a beaded neurite are pieces shorter
    # than min_neurite_length_um that only count once joined. No bridge crosses a cell body
    # or soma label; with somata, none joins a piece at the image border (see bridge_gaps).
    bridged = bridge_gaps(
        skeletonize(mask),
        pixel_size_um=pixel_size_um,
        barrier=bodies | (soma_labels > 0) if somata else bodies,
        border_px=int(np.ceil(attach_px)) if somata else None,
    )
    # A neurite's mask stops at its soma's rim (a cell body): the end that aims at the soma
    # across the rim is joined to it, as a person tracing the neurite would. The rim a soma
    # label leaves may be background for up to the attach distance, within which a skeleton
    # already counts as touching its soma.
    if somata:
        bridged = join_ends_to_somata(bridged, soma_labels, bodies, pixel_size_um=pixel_size_um,
                                      background_px=attach_px)
    skeleton, total, built = skeleton_lengths(
        bridged,
        pixel_size_um=pixel_size_um,
        min_length_um=min_neurite_length_um,
    )
    if built is None or not somata:
        return NeuriteMeasurement(total, somata, total, skeleton)
    graph, table = built
    per_soma, unassigned, outside = _assign(graph, table, soma_labels, attach_px)
    somata.update(per_soma)
    return NeuriteMeasurement(total, somata, unassigned - outside, skeleton, outside)
