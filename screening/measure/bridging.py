"""Gap closing of a neurite skeleton: facing end points joined, faded branches met at a shallow angle.

A neurite that fades or breaks into beads for a few µm leaves two skeleton pieces whose end
points face each other across the gap. Facing end points are joined by a straight line
(:func:`bridge_gaps`) before pieces are measured (:mod:`screening.measure.neurites`), so the
neurite is measured, assigned and kept as one piece, as a person tracing it would (NeuronJ,
NeuriteTracer). An end that faces no end but aims at the side of another neurite running at a
shallow angle (a branch fading before it meets its parent, a neurite that runs on along another)
is joined to that side.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import cKDTree
from skimage.draw import line

from screening.segment import filters

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
# Ends that aim at a soma (join_ends_to_somata): rays every 15° over the end-to-end cone.
_SOMA_RAYS = 7
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
_WINDOW_3X3 = np.array(((0, 0),) + _NEIGHBOURS)  # a pixel and its 8 neighbours, centre first


def near_border(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], width_px: int) -> np.ndarray:
    """Whether each pixel ``(rows, cols)`` lies within ``width_px`` of the border of ``shape``.

    The one border test of the neurite measurement: pieces that bridge_gaps leaves alone are the
    pieces that :mod:`screening.measure.neurites` may call outside the field, so both draw the border the same way.
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
    # Central ray first: of rays that meet a piece equally near, the one nearest the aim wins.
    angles = np.linspace(-cone_deg, cone_deg, n_rays)
    angles = np.radians(angles[np.argsort(np.abs(angles), kind="stable")])
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
    rows, cols = _end_points(skeleton)
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
        near = near_border(sk_rows, sk_cols, skeleton.shape, max(int(border_px), 1))
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


def _end_points(skeleton: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the skeleton pixels with exactly one 8-neighbour."""
    sk8 = skeleton.view(np.uint8)
    rows, cols = filters.nonzero(skeleton)
    ring = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.uint8)
    one = cv2.filter2D(sk8, -1, ring, borderType=cv2.BORDER_CONSTANT)[rows, cols] == 1
    return rows[one], cols[one]


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


def join_ends_to_somata(
    skeleton: np.ndarray,
    soma_labels: np.ndarray,
    bodies: np.ndarray,
    *,
    pixel_size_um: float,
    background_px: float = 0.0,
) -> np.ndarray:
    """``skeleton`` with end points that aim at a soma joined to it across cell-body pixels.

    A neurite leaves its soma where the soma's blurred edge is still brighter than the
    background, so the neurite mask (which leaves cell bodies out) stops a few µm short of
    it. An end point within ``_BRIDGE_UM`` of a soma label whose direction (over its last
    ``_END_DIRECTION_UM``) aims at it within ``_BRIDGE_CONE_DEG`` is joined to the soma by a
    straight line when the pixels of that line lie in ``bodies``, a soma or the skeleton, but
    for at most ``background_px`` of them: the gap is the soma's rim, not background that a
    neurite merely points across.

    Parameters
    ----------
    skeleton : (M, N) bool array
        One-pixel-wide skeleton.
    soma_labels : (M, N) int array
        Soma labels (0 = background).
    bodies : (M, N) bool array
        Cell bodies (:func:`screening.segment.neurites.segment_neurites`).
    pixel_size_um : float
        Pixel size, µm.
    background_px : float
        Pixels of a join that may lie outside cell bodies, somata and the skeleton, px.

    Returns
    -------
    (M, N) bool array
        The skeleton plus the joins.
    """
    skeleton = np.asarray(skeleton, dtype=bool)
    somata = soma_labels > 0
    reach_px = int(np.floor(_BRIDGE_UM / pixel_size_um + 1e-9))
    rows, cols = _end_points(skeleton)
    if rows.size == 0 or not somata.any():
        return skeleton
    touching = cv2.dilate(somata.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    near = cv2.dilate(somata.view(np.uint8), np.ones((2 * reach_px + 1,) * 2, np.uint8)).view(bool)
    pick = near[rows, cols] & ~touching[rows, cols]
    rows, cols = rows[pick], cols[pick]
    direction = _end_directions(skeleton, rows, cols, max(round(_END_DIRECTION_UM / pixel_size_um), 2))
    aimed = np.isfinite(direction[:, 0])
    rows, cols, direction = rows[aimed], cols[aimed], direction[aimed]
    if rows.size == 0:
        return skeleton
    usable = np.ones(int(soma_labels.max()) + 1, dtype=bool)
    usable[0] = False
    stops = touching.copy()
    stops[[0, -1], :] = stops[:, [0, -1]] = True  # rays clipped to the image stop at its edge
    soma, _, at_r, at_c = _ray_hits(soma_labels, stops, usable, rows, cols, direction, reach_px,
                                    _BRIDGE_CONE_DEG, _SOMA_RAYS)
    out = skeleton.copy()
    for k in np.flatnonzero(soma):
        rr, cc = line(rows[k], cols[k], at_r[k], at_c[k])
        if np.count_nonzero(~(bodies[rr, cc] | somata[rr, cc] | skeleton[rr, cc])) <= background_px:
            out[rr, cc] = True
    return out
