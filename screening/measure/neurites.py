"""Neurite length of a field from the skeleton graph (skan), in µm, and per soma.

Lengths are skan ``branch_distance`` sums with ``spacing = pixel size``: a diagonal
step counts sqrt(2) px, so diagonal neurites are neither over- nor under-counted (pixel
counting over-counts by up to ~8 %).

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

Somata are not cut out of the ridge mask: the mask's own tests (a line, standing above the
cell body under it) keep soma interiors out, and a soma label that also covers a neurite's
base or a neighbouring cell would otherwise cut the neurite there. The skeleton of a closed
ring of ridge (the rim of a soma, a hollow fragment) would count its perimeter, so holes of
the mask up to a soma's area are filled before skeletonising when they are bright (a cell body
inside its rim) or alone in their piece of mask (a hollow ring), and whatever a disk of
``neurite_max_width_um`` then fits in (the filled body) is dropped. The dark gaps of a mesh of
neurites stay open: filled, a dense mesh would skeletonise into one line.

Gap closing: a neurite that fades or breaks into beads for a few µm leaves two skeleton
pieces whose end points face each other across the gap. Facing end points are joined by a
straight line (:func:`bridge_gaps`) before pieces are measured, so the neurite is measured,
assigned and kept as one piece, as a person tracing it would (NeuronJ, NeuriteTracer). An end
that faces no end but aims at the side of another neurite running at a shallow angle (a branch
fading before it meets its parent, a neurite that runs on along another) is joined to that side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import skan
from scipy import ndimage as ndi
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from skimage.draw import line
from skimage.morphology import skeletonize

from screening.config.segmentation import SegmentationConfig
from screening.measure.skeleton_graph import skeleton_graph
from screening.segment import filters
from screening.segment.neurites import neurite_mask_and_bodies

# A neurite touches its soma when its skeleton comes this close (the mask stops a little
# short of the soma edge, where the soma's own brightness hides the ridge), in multiples
# of the neurite width.
_ATTACH_WIDTHS = 1.5
# Holes of the neurite mask up to this many soma areas (soma_diameter_um) are filled: a ring
# of ridge around a soma or a fragment is its edge, not a neurite.
_FILL_SOMA_AREAS = 1.0
# ... when the hole is at least this bright (above background) relative to the mask around it.
_BRIGHT_HOLE_FRACTION = 0.7
# Gap closing (bridge_gaps): two skeleton end points up to _BRIDGE_UM apart are joined when
# each one's direction (over its last _END_DIRECTION_UM of skeleton) points at the other
# within _BRIDGE_CONE_DEG. Up to _SHORT_BRIDGE_UM (3 neurite widths) one end within
# _SHORT_BRIDGE_CONE_DEG is enough: over beads a few px long the direction is poorly defined.
# The gaps the NeuronJ tracings cross where the neurite is invisible span 8-12.8 µm between
# skeleton ends (one more in trace 4, between a neurite and its next bead, spans 13.4 µm);
# two unrelated neurites rarely end face to face that close.
_BRIDGE_UM = 13.0
_BRIDGE_CONE_DEG = 45.0
_SHORT_BRIDGE_UM = 6.0
_SHORT_BRIDGE_CONE_DEG = 60.0
_END_DIRECTION_UM = 5.0
# Shallow-angle joins (bridge_gaps, after the end-to-end pairs): an end point left unjoined is
# joined to the skeleton of another piece up to _BRIDGE_UM away when its direction aims at it
# within _MERGE_CONE_DEG and that piece runs within _MERGE_ANGLE_DEG of the same direction
# there: a neurite that fades where it meets another at a shallow angle (a branch point, two
# neurites that run on together; NeuronJ trace 4 fades out 13.4 µm before its next bead, where
# a parallel strand runs on into that bead). A tip meeting a neurite at a steeper angle is a
# contact, not a join.
# Only one end has a direction here, so its aim is narrower: for random orientations one 30°
# aim and the 45° angle pass by chance about as often (1 in 12) as the two 45° aims of the
# end-to-end rule (1 in 16).
_MERGE_CONE_DEG = 30.0
_MERGE_ANGLE_DEG = 45.0
# Rays fanned over the aim cone (every 15°): a line parallel to the end's direction, anywhere
# in the cone within the reach, crosses at least one of them.
_MERGE_RAYS = 5
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
_WINDOW_3X3 = np.array(((0, 0),) + _NEIGHBOURS)  # a pixel and its 8 neighbours, centre first


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
        Sum of skan ``branch_distance`` over the kept pieces.
    graph : (skan.Skeleton, pandas.DataFrame) or None
        The skan graph of the *input* skeleton and its branch table with a boolean
        ``kept`` column, for callers that need branches.
    """
    skeleton = np.asarray(skeleton, dtype=bool)
    built = _graph(skeleton, pixel_size_um)
    if built is None:
        return np.zeros_like(skeleton), 0.0, None
    graph, table = built
    piece_length = table.groupby("skeleton_id")["branch_distance"].transform("sum")
    table["kept"] = (piece_length >= min_length_um).to_numpy()
    if table["kept"].all():
        return skeleton, float(table["branch_distance"].sum()), (graph, table)
    kept = np.zeros_like(skeleton)
    paths = graph.paths.tocsr()
    nodes = paths[np.flatnonzero(table["kept"].to_numpy())].indices
    coords = graph.coordinates[nodes].astype(int)
    kept[coords[:, 0], coords[:, 1]] = True
    return kept, float(table.loc[table["kept"], "branch_distance"].sum()), (graph, table)


def neurite_skeleton_length(mask: np.ndarray, *, pixel_size_um: float, min_length_um: float = 0.0) -> float:
    """Length of the skeleton of a neurite mask, µm (skan ``branch_distance``).

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


def fill_small_holes(
    mask: np.ndarray,
    max_area_px: float,
    image: np.ndarray | None = None,
    background: np.ndarray | float | None = None,
) -> np.ndarray:
    """``mask`` with its small holes filled: the inside of a ring of ridge around a cell body.

    Parameters
    ----------
    mask : (M, N) bool array
    max_area_px : float
        Holes (background regions not touching the image border, 4-connected) smaller than
        this are filled, px.
    image : (M, N) array, optional
        With it, a hole is filled only when it is bright (its mean above ``background`` at
        least ``_BRIGHT_HOLE_FRACTION`` of the mean of the mask pixels around it) or the only
        small hole of its piece of mask. The inside of a soma is as bright as its rim, and a
        hollow ring is one piece with one hole; the gaps of a mesh of neurites are dark and
        many to a piece.
    background : (M, N) array or float, optional
        Background of ``image``; default its median.

    Returns
    -------
    (M, N) bool array
    """
    mask = np.ascontiguousarray(mask, dtype=bool)
    if not mask.any() or max_area_px <= 0:
        return mask
    # Labels without stats and areas by bincount: ~40 % faster than OpenCV's stats here.
    n, holes = cv2.connectedComponents((~mask).view(np.uint8), connectivity=4)
    flat = holes.ravel()
    border = np.zeros(n, dtype=bool)
    for edge in (holes[0], holes[-1], holes[:, 0], holes[:, -1]):
        border[edge] = True
    area = np.bincount(flat, minlength=n)
    small = (area < max_area_px) & ~border
    small[0] = False  # label 0 is the mask itself
    at = np.flatnonzero(small[flat])
    if image is not None and at.size:
        small &= _bright_or_alone(mask, flat, at, small, area, np.asarray(image), background)
        at = at[small[flat[at]]]
    out = mask.copy()
    out.ravel()[at] = True
    return out


def _bright_or_alone(mask, holes, at, small, area, image, background) -> np.ndarray:
    """Which holes are bright or the only small hole of their piece.

    ``holes`` are the flat hole labels, ``at`` the flat indices of the small holes' pixels,
    ``area`` the pixels of each hole label.

    Only the pixels of small holes and their 4 neighbours are read (holes are 4-connected, so
    those neighbours are the mask around them): small holes do not touch the image border, so
    every neighbour index is inside the image.
    """
    n = small.size
    width = mask.shape[1]
    hole = holes[at]
    if background is None:
        background = float(np.median(image[::4, ::4]))

    def level(idx):
        bg = background if np.ndim(background) == 0 else np.asarray(background).ravel()[idx]
        return image.ravel()[idx].astype(np.float64) - bg

    inside = np.bincount(hole, weights=level(at), minlength=n) / np.maximum(area, 1)
    # Mask pixels next to each hole (a pixel touching a hole at two places counts twice).
    steps = np.array([-width, -1, 1, width])
    nb = (at[:, None] + steps).ravel()
    nb_hole = np.repeat(hole, steps.size)
    on_mask = mask.ravel()[nb]
    nb, nb_hole = nb[on_mask], nb_hole[on_mask]
    ring_px = np.bincount(nb_hole, minlength=n)
    around = np.bincount(nb_hole, weights=level(nb), minlength=n) / np.maximum(ring_px, 1)
    _, piece = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
    piece_of_hole = np.zeros(n, np.int64)
    piece_of_hole[nb_hole] = piece.ravel()[nb]
    holes_per_piece = np.bincount(piece_of_hole[small], minlength=int(piece_of_hole.max()) + 1)
    return (inside >= _BRIGHT_HOLE_FRACTION * around) | (holes_per_piece[piece_of_hole] == 1)


def drop_wide_parts(mask: np.ndarray, max_width_px: float) -> np.ndarray:
    """``mask`` without the parts a disk of ``max_width_px`` diameter fits in (cell bodies),
    and the pixel around them (the opening leaves slivers along a curved edge).

    A filled soma rim is a disk; a neurite, however bright, is narrower.
    """
    size = filters.odd_window(max_width_px)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    mask = np.ascontiguousarray(mask, dtype=bool)
    wide = cv2.dilate(cv2.morphologyEx(mask.view(np.uint8), cv2.MORPH_OPEN, disk), np.ones((3, 3), np.uint8))
    return mask & (wide == 0)


def _near_border(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], width_px: int) -> np.ndarray:
    """Whether each pixel ``(rows, cols)`` lies within ``width_px`` of the border of ``shape``.

    The one border test of this module: pieces that bridge_gaps leaves alone are the pieces
    that _assign may call outside the field, so both must draw the border the same way.
    """
    return (rows < width_px) | (cols < width_px) | (rows >= shape[0] - width_px) | (cols >= shape[1] - width_px)


def _end_directions(skeleton: np.ndarray, rows: np.ndarray, cols: np.ndarray, steps: int) -> np.ndarray:
    """Unit vector from the point ``steps`` px back along the skeleton to each end point
    (NaN where the piece is shorter than 2 px), (row, col) order.

    All end points walk at once, each step to the first skeleton neighbour not yet on its
    path (at a fork, either branch). Following the skeleton, rather than averaging all
    skeleton pixels nearby, keeps a short fork at the tip from bending the direction.
    """
    padded = np.pad(skeleton, 1)  # no bounds checks: the pad is never skeleton
    offsets = np.array(_NEIGHBOURS)
    r, c = rows + 1, cols + 1
    path = [(r, c)]
    for _ in range(steps):
        next_r = r[:, None] + offsets[:, 0]
        next_c = c[:, None] + offsets[:, 1]
        free = padded[next_r, next_c]
        for pr, pc in path:
            free &= (next_r != pr[:, None]) | (next_c != pc[:, None])
        moves = np.flatnonzero(free.any(axis=1))
        if moves.size == 0:
            break
        first = free[moves].argmax(axis=1)
        r, c = r.copy(), c.copy()
        r[moves], c[moves] = next_r[moves, first], next_c[moves, first]
        path.append((r, c))
    v = np.c_[rows + 1 - r, cols + 1 - c].astype(float)
    norm = np.hypot(v[:, 0], v[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((norm >= 2)[:, None], v / norm[:, None], np.nan)


def _ray_hits(
    labels: np.ndarray, stops: np.ndarray, usable: np.ndarray, rows: np.ndarray, cols: np.ndarray,
    direction: np.ndarray, reach_px: int, cone_deg: float, n_rays: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The skeleton piece that each end point meets first along rays within its aim cone.

    Parameters
    ----------
    labels : (M, N) int array
        Skeleton pieces, 1..n.
    stops : (M, N) bool array
        Pixels within one pixel of the skeleton (3 x 3 dilation) and the image's outer frame:
        a ray stops there (samples beyond the image are clipped onto the frame).
    usable : (n + 1,) bool array
        Pieces that may be met (False for label 0 and pieces that must stay apart).
    rows, cols : int arrays
        End points, px.
    direction : (K, 2) float array
        Unit direction of each end point, (row, col).
    reach_px : int
        Longest ray, px.
    cone_deg : float
        Half-angle of the aim cone, degrees.
    n_rays : int
        Rays fanned evenly over the cone (odd: one along ``direction``).

    Returns
    -------
    piece : int array
        Piece met first, 0 where no ray meets a usable piece other than the end's own.
    step : int array
        Distance along the chosen ray at which it met it, px.
    piece_rows, piece_cols : int arrays
        Where an end meets its piece: the piece's first pixel (centre, then the 8 neighbours)
        in the 3 x 3 around the chosen ray's stop; the stop itself where no piece is met.

    Notes
    -----
    A ray stops at its first sample, from 2 px on, with a skeleton pixel in its 3 x 3
    neighbourhood (so it cannot slip between the pixels of a diagonal line): it meets the
    piece found there, or nothing when that is the end's own piece (a curl of its own tip),
    an unusable one or the image border; a bridge drawn along it touches no third piece. The
    nearest ray with a hit wins. About a hundred lookups per end point, instead of a search
    of every skeleton pixel within the reach.
    """
    angles = np.radians(np.linspace(-cone_deg, cone_deg, n_rays))
    cos, sin = np.cos(angles), np.sin(angles)
    ray_r = direction[:, None, 0] * cos - direction[:, None, 1] * sin
    ray_c = direction[:, None, 0] * sin + direction[:, None, 1] * cos
    # Samples from 2 px on (the end's own pixels are within 1 px), after the end point itself,
    # which never stops a ray: argmax over the samples is 0 for rays that stop nowhere.
    t = np.r_[0, 2 : reach_px + 1].astype(np.float32)
    pr = np.rint(rows[:, None, None] + ray_r[:, :, None].astype(np.float32) * t).astype(np.intp)
    pc = np.rint(cols[:, None, None] + ray_c[:, :, None].astype(np.float32) * t).astype(np.intp)
    stop = stops[np.clip(pr, 0, labels.shape[0] - 1), np.clip(pc, 0, labels.shape[1] - 1)]
    stop[:, :, 0] = False
    first = stop.argmax(axis=2)  # 0: the ray never stops
    k_end, k_ray = np.nonzero(first)
    k_step = first[k_end, k_ray]
    r, c = pr[k_end, k_ray, k_step], pc[k_end, k_ray, k_step]
    inside = (r >= 1) & (c >= 1) & (r < labels.shape[0] - 1) & (c < labels.shape[1] - 1)
    k_end, k_ray, r, c = k_end[inside], k_ray[inside], r[inside], c[inside]
    # The piece around each stop: another usable piece than the end's own, else nothing.
    around = labels[r[:, None] + _WINDOW_3X3[:, 0], c[:, None] + _WINDOW_3X3[:, 1]]
    own = labels[rows, cols]
    other = np.where((around > 0) & (around != own[k_end, None]), around, 0).max(axis=1)
    met = np.zeros(first.shape, np.int64)
    met[k_end, k_ray] = np.where(usable[other], other, 0)
    reach = np.where(met > 0, first, t.size)
    ray = reach.argmin(axis=1)
    k = np.arange(rows.size)
    step = first[k, ray]
    piece, at_r, at_c = met[k, ray], pr[k, ray, step], pc[k, ray, step]
    # The met piece's pixel in the 3 x 3 around the stop (the first in window order).
    hit = piece > 0
    around = labels[at_r[hit, None] + _WINDOW_3X3[:, 0], at_c[hit, None] + _WINDOW_3X3[:, 1]]
    pick = _WINDOW_3X3[(around == piece[hit, None]).argmax(axis=1)]
    at_r[hit] += pick[:, 0]
    at_c[hit] += pick[:, 1]
    return piece, t[step].astype(np.intp), at_r, at_c


def _line_axes(labels: np.ndarray, rows: np.ndarray, cols: np.ndarray, half: int = 3) -> np.ndarray:
    """Unit axis (row, col; sign arbitrary) of the skeleton piece at each pixel ``(rows, cols)``.

    The principal axis of that piece's pixels within ``half`` px (a (2 half + 1)² window):
    the local direction of a line, whichever way it is crossed. NaN where the window holds
    fewer than 2 of its pixels.
    """
    d = np.arange(-half, half + 1)
    dr, dc = (a.ravel() for a in np.meshgrid(d, d, indexing="ij"))
    rr = np.clip(rows[:, None] + dr, 0, labels.shape[0] - 1)
    cc = np.clip(cols[:, None] + dc, 0, labels.shape[1] - 1)
    w = (labels[rr, cc] == labels[rows, cols][:, None]).astype(float)
    n = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mr, mc = (w * dr).sum(axis=1) / n, (w * dc).sum(axis=1) / n
        srr = (w * dr**2).sum(axis=1) / n - mr**2
        scc = (w * dc**2).sum(axis=1) / n - mc**2
        src = (w * dr * dc).sum(axis=1) / n - mr * mc
    theta = 0.5 * np.arctan2(2 * src, srr - scc)
    axis = np.c_[np.cos(theta), np.sin(theta)]
    return np.where((n >= 2)[:, None], axis, np.nan)


def bridge_gaps(
    skeleton: np.ndarray,
    *,
    pixel_size_um: float,
    barrier: np.ndarray | None = None,
    border_px: int | None = None,
) -> np.ndarray:
    """``skeleton`` with facing end points of different pieces joined by straight lines.

    Parameters
    ----------
    skeleton : (M, N) bool array
        One-pixel-wide skeleton.
    pixel_size_um : float
        Pixel size, µm.
    barrier : (M, N) bool array, optional
        Pixels no bridge may cross: cell bodies and soma labels (two neurites ending at
        either side of a soma face each other across it).
    border_px : int, optional
        Pieces with a pixel within this distance of the image border are not bridged (see
        ``measure_neurites``: whether such a piece reaches a soma decides whether it counts,
        and a guessed bridge should not decide that). Default: all pieces may be bridged.

    Returns
    -------
    (M, N) bool array
        The skeleton plus the bridges (8-connected lines between the joined end points).

    Notes
    -----
    Two end points of different pieces (8-connected) up to ``_BRIDGE_UM`` apart are joined
    when each one's direction, over its last ``_END_DIRECTION_UM`` of skeleton, points at the
    other within ``_BRIDGE_CONE_DEG``; up to ``_SHORT_BRIDGE_UM`` apart, when one of them points
    at the other within ``_SHORT_BRIDGE_CONE_DEG``. Candidate pairs are taken shortest first,
    each end point is joined at most once, and a pair whose line crosses ``barrier`` is not
    joined. Only the geometry decides, not the intensity along the gap: in the gaps of beaded
    or faded neurites it is often at the background level (the NeuronJ tracings cross 8-13 µm
    of it), so a test on it would not tell such a gap from two unrelated pieces; the facing
    directions do. The end directions are a short walk along the skeleton per end point in
    a candidate pair (~10-50 µs each).

    End points left unjoined then join the side of another piece they aim at within
    ``_MERGE_CONE_DEG``, up to ``_BRIDGE_UM`` along the aim (rays one px apart), where that
    piece runs within ``_MERGE_ANGLE_DEG`` of the end's direction: a neurite that fades where
    it meets another at a shallow angle (``_merge_joins``; not across ``barrier``, not with
    pieces at the border, one bridge per pair of pieces).
    """
    skeleton = np.asarray(skeleton, dtype=bool)
    sk8 = skeleton.view(np.uint8)
    ring = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.uint8)
    neighbours = cv2.filter2D(sk8, -1, ring, borderType=cv2.BORDER_CONSTANT)
    rows, cols = np.nonzero(skeleton & (neighbours == 1))
    if rows.size == 0:
        return skeleton
    ends = np.c_[rows, cols].astype(float)
    pairs = cKDTree(ends).query_pairs(_BRIDGE_UM / pixel_size_um, output_type="ndarray").reshape(-1, 2)
    labels, n_pieces = filters.label(skeleton, connectivity=8)
    piece = labels[rows, cols]
    allowed = piece[pairs[:, 0]] != piece[pairs[:, 1]]
    on_edge = np.zeros(n_pieces + 1, dtype=bool)
    if border_px is not None:
        sk_rows, sk_cols = np.nonzero(skeleton)
        near = _near_border(sk_rows, sk_cols, skeleton.shape, max(int(border_px), 1))
        on_edge[labels[sk_rows[near], sk_cols[near]]] = True
        allowed &= ~on_edge[piece[pairs[:, 0]]] & ~on_edge[piece[pairs[:, 1]]]
    pairs = pairs[allowed]
    # Directions only for the end points in a candidate pair (the walk is the slow part).
    involved = np.unique(pairs)
    direction = np.full(ends.shape, np.nan)
    steps = max(round(_END_DIRECTION_UM / pixel_size_um), 2)
    direction[involved] = _end_directions(skeleton, rows[involved], cols[involved], steps)
    i, j = pairs.T
    chord = ends[j] - ends[i]
    gap = np.hypot(chord[:, 0], chord[:, 1])
    unit = chord / gap[:, None]
    # Cosines of the angle between each end's direction and the way to the other end.
    cos_i = np.nan_to_num(np.sum(direction[i] * unit, axis=1), nan=-1.0)
    cos_j = np.nan_to_num(np.sum(direction[j] * -unit, axis=1), nan=-1.0)
    both = np.minimum(cos_i, cos_j) >= np.cos(np.radians(_BRIDGE_CONE_DEG))
    one = (gap * pixel_size_um <= _SHORT_BRIDGE_UM) & (
        np.maximum(cos_i, cos_j) >= np.cos(np.radians(_SHORT_BRIDGE_CONE_DEG))
    )
    ok = np.flatnonzero(both | one)
    out = skeleton.copy()
    joined = np.zeros(ends.shape[0], dtype=bool)
    joined_pairs = []
    for k in ok[np.argsort(gap[ok], kind="stable")]:
        a, b = i[k], j[k]
        if joined[a] or joined[b]:
            continue
        if _join(out, rows[a], cols[a], rows[b], cols[b], barrier):
            joined[a] = joined[b] = True
            joined_pairs.append(sorted((piece[a], piece[b])))
    _merge_joins(
        out, skeleton, labels, on_edge, rows, cols, direction, ~joined, barrier,
        np.array(joined_pairs, np.int64).reshape(-1, 2), pixel_size_um,
    )
    return out


def _join(out: np.ndarray, r0: int, c0: int, r1: int, c1: int, barrier: np.ndarray | None) -> bool:
    """Draw the straight bridge (r0, c0)-(r1, c1) into ``out`` unless it crosses ``barrier``."""
    rr, cc = line(r0, c0, r1, c1)
    if barrier is not None and barrier[rr, cc].any():
        return False
    out[rr, cc] = True
    return True


def _merge_joins(
    out: np.ndarray, skeleton: np.ndarray, labels: np.ndarray, on_edge: np.ndarray, rows: np.ndarray,
    cols: np.ndarray, direction: np.ndarray, free: np.ndarray, barrier: np.ndarray | None,
    joined_pairs: np.ndarray, pixel_size_um: float,
) -> None:
    """Join the ``free`` end points to the skeleton of another piece they meet at a shallow angle.

    See ``_MERGE_CONE_DEG``: along rays within the end's aim cone, up to ``_BRIDGE_UM``, the
    first other piece met (not one at the border when ``on_edge`` marks pieces), where that
    piece runs within ``_MERGE_ANGLE_DEG`` of the end's direction, unless the bridge crosses
    ``barrier``. Two pieces are joined once: not again when already in ``joined_pairs``
    ((P, 2) array of joined pieces, smaller label first), and by the nearest of several ends.
    Only end points with a known ``direction`` are tried: those with another piece's end point
    within the reach (the end-to-end test walked them); walking every end point would cost
    ~5 ms per 1024² field. Draws into ``out``.
    """
    idx = np.flatnonzero(free & np.isfinite(direction[:, 0]))
    idx = idx[~on_edge[labels[rows[idx], cols[idx]]]]
    if idx.size == 0:
        return
    usable = ~on_edge
    usable[0] = False
    reach_px = int(np.floor(_BRIDGE_UM / pixel_size_um + 1e-9))
    stops = cv2.dilate(skeleton.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    stops[[0, -1], :] = stops[:, [0, -1]] = True  # rays clipped to the image stop at its edge
    piece, step, at_r, at_c = _ray_hits(
        labels, stops, usable, rows[idx], cols[idx], direction[idx], reach_px, _MERGE_CONE_DEG, _MERGE_RAYS
    )
    hit = np.flatnonzero(piece > 0)
    if hit.size == 0:
        return
    # The met piece's axis at the pixel the ray reached.
    r1, c1 = at_r[hit], at_c[hit]
    axis = _line_axes(labels, r1, c1)
    parallel = np.abs(np.sum(axis * direction[idx[hit]], axis=1)) >= np.cos(np.radians(_MERGE_ANGLE_DEG))
    ok = np.nan_to_num(parallel, nan=0.0).astype(bool)
    hit, r1, c1 = hit[ok], r1[ok], c1[ok]
    r0, c0 = rows[idx[hit]], cols[idx[hit]]
    line_r, line_c, drawn = _straight_lines(r0, c0, r1, c1)
    if barrier is not None:
        keep = ~np.any(drawn & barrier[line_r, line_c], axis=1)
        hit, line_r, line_c, drawn = hit[keep], line_r[keep], line_c[keep], drawn[keep]
    # One bridge per pair of pieces (a second would close a loop): the shortest, and none
    # between pieces the end-to-end bridges already joined.
    own = labels[rows[idx[hit]], cols[idx[hit]]].astype(np.int64)
    pair = np.sort(np.c_[own, piece[hit]], axis=1)
    key = pair[:, 0] * on_edge.size + pair[:, 1]
    done = joined_pairs[:, 0] * on_edge.size + joined_pairs[:, 1]
    order = np.argsort(step[hit], kind="stable")
    _, first = np.unique(key[order], return_index=True)
    chosen = order[first]
    chosen = chosen[~np.isin(key[chosen], done)]
    drawn = drawn[chosen]
    out[line_r[chosen][drawn], line_c[chosen][drawn]] = True


def _straight_lines(
    r0: np.ndarray, c0: np.ndarray, r1: np.ndarray, c1: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels of the one-pixel-wide straight lines (r0, c0)-(r1, c1), all at once.

    Returns
    -------
    line_rows, line_cols : (K, L) int arrays
        One pixel per step along each line's longer axis (as ``skimage.draw.line``); rows
        beyond a line's own length repeat its last pixel.
    drawn : (K, L) bool array
        Which of them belong to the line.
    """
    span = np.maximum(np.abs(r1 - r0), np.abs(c1 - c0))
    k = np.arange(int(span.max(initial=0)) + 1)
    drawn = k <= span[:, None]
    frac = np.minimum(k, span[:, None]) / np.maximum(span, 1)[:, None]
    line_rows = np.rint(r0[:, None] + (r1 - r0)[:, None] * frac).astype(np.intp)
    line_cols = np.rint(c0[:, None] + (c1 - c0)[:, None] * frac).astype(np.intp)
    return line_rows, line_cols, drawn


def _assign(graph, table, soma_labels: np.ndarray, attach_px: float) -> tuple[dict[int, float], float, float]:
    """Length per soma label (nearest along the skeleton), the unassigned rest, and the part
    of that rest in pieces touching the image border (within ``attach_px``), µm."""
    kept = table["kept"].to_numpy()
    lengths = table["branch_distance"].to_numpy()
    coords = graph.coordinates.astype(int)
    size = 2 * int(np.ceil(attach_px)) + 1
    # Which soma each skeleton pixel touches (max label where several are in reach).
    near = filters.maximum_filter(soma_labels, size)[coords[:, 0], coords[:, 1]]
    sources = np.flatnonzero(near > 0)
    per_soma: dict[int, float] = {}
    # Pieces (skan skeleton ids) with a pixel within the attach distance of the border.
    on_edge = _near_border(coords[:, 0], coords[:, 1], soma_labels.shape, int(np.ceil(attach_px)))
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
    neurite_image: np.ndarray,
    soma_labels: np.ndarray,
    *,
    pixel_size_um: float,
    params: SegmentationConfig | None = None,
    background: np.ndarray | float | None = None,
) -> NeuriteMeasurement:
    """Neurite length of a field, in total and per soma.

    Parameters
    ----------
    neurite_image : (M, N) array
        Neurite channel (reporter by default).
    soma_labels : (M, N) int array
        Soma labels (0 = background); may be all zeros. Somata are the roots of the
        per-soma assignment (they are not cut out of the neurite mask; see the module
        docstring).
    pixel_size_um : float
        Pixel size, µm.
    params : SegmentationConfig, optional
        Uses the ``neurite_*`` fields and ``min_neurite_length_um``; defaults if omitted.
    background : (M, N) array or float, optional
        Smooth background of ``neurite_image``, passed to
        :func:`screening.segment.neurites.neurite_mask`.

    Returns
    -------
    NeuriteMeasurement
        See the module docstring for how pieces are assigned.
    """
    params = params if params is not None else SegmentationConfig()
    soma_labels = np.asarray(soma_labels)
    if soma_labels.shape != np.shape(neurite_image):
        raise ValueError(
            f"soma_labels shape {soma_labels.shape} differs from neurite image shape {np.shape(neurite_image)}"
        )
    if soma_labels.dtype.kind not in "iub":
        raise ValueError(f"soma_labels must be an integer label image, got dtype {soma_labels.dtype}")
    soma_labels = soma_labels.astype(np.int32, copy=False)
    flat = soma_labels.ravel()
    # bincount, not np.unique: a sort of every pixel costs ~25 ms on a 1024² field.
    somata = {int(k): 0.0 for k in np.flatnonzero(np.bincount(flat[flat > 0]))}
    mask, bodies = neurite_mask_and_bodies(
        neurite_image, pixel_size_um=pixel_size_um, params=params, background=background
    )
    soma_area_px = np.pi * (0.5 * params.soma_diameter_um / pixel_size_um) ** 2
    mask = fill_small_holes(mask, _FILL_SOMA_AREAS * soma_area_px, neurite_image, background)
    mask = drop_wide_parts(mask, params.neurite_max_width_um / pixel_size_um)
    attach_px = _ATTACH_WIDTHS * params.neurite_width_um / pixel_size_um
    # Bridge before the length filter: the beads of a beaded neurite are pieces shorter
    # than min_neurite_length_um that only count once joined. No bridge crosses a cell body
    # or soma label; with somata, none joins a piece at the image border (see bridge_gaps).
    bridged = bridge_gaps(
        skeletonize(mask),
        pixel_size_um=pixel_size_um,
        barrier=bodies | (soma_labels > 0) if somata else bodies,
        border_px=int(np.ceil(attach_px)) if somata else None,
    )
    skeleton, total, built = skeleton_lengths(
        bridged,
        pixel_size_um=pixel_size_um,
        min_length_um=params.min_neurite_length_um,
    )
    if built is None or not somata:
        return NeuriteMeasurement(total, somata, total, skeleton)
    graph, table = built
    per_soma, unassigned, outside = _assign(graph, table, soma_labels, attach_px)
    somata.update(per_soma)
    return NeuriteMeasurement(total, somata, unassigned - outside, skeleton, outside)
