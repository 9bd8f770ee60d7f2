"""Clean-up of a neurite mask before it is skeletonised: rings of ridge around cell bodies.

The skeleton of a closed ring of ridge (the rim of a soma, a hollow fragment) would count its
perimeter as neurite, so holes of the mask up to a soma's area are filled when they are bright
(a cell body inside its rim) or alone in their piece of mask (a hollow ring), and whatever a
disk of ``neurite_max_width_um`` then fits in (the filled body) is dropped. The dark gaps of a
mesh of neurites stay open: filled, a dense mesh would skeletonise into one line. With the
field's nuclei, an open ring goes too: a piece that never leaves one nucleus's cell and curves
round it (:func:`without_cell_rims`).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi

from screening.segment import filters

# Holes of the neurite mask up to this many soma areas are filled: a ring of ridge around a
# soma or a fragment is its edge, not a neurite.
FILL_SOMA_AREAS = 1.0
# ... when the hole is at least this bright (above background) relative to the mask around it.
BRIGHT_HOLE_FRACTION = 0.7
# Without a background, the image's median on every this-many-th pixel stands for it (a field is
# mostly background, and a median needs no more pixels).
_BACKGROUND_STEP_PX = 4
# A cell's rim reaches this many soma diameters from its nucleus's edge: 0.2 for a nucleus of
# 0.6 soma diameters, and a crescent round an off-centre nucleus reaches further.
_RIM_SOMA_FRACTION = 0.3
# ... and curves round it over at least this angle (rad): a quarter turn.
_RIM_MIN_SPAN = np.pi / 2


def clean_neurite_mask(
    mask: np.ndarray,
    image: np.ndarray,
    background: np.ndarray | float | None,
    *,
    soma_diameter_px: float,
    max_width_px: float,
    nuclei: np.ndarray | None = None,
) -> np.ndarray:
    """``mask`` with cell-body rings filled (:func:`fill_small_holes`), wide parts dropped
    (:func:`drop_wide_parts`) and, given the nuclei, cell rims dropped (:func:`without_cell_rims`).

    Parameters
    ----------
    mask : (M, N) bool array
        Neurite mask (:func:`screening.segment.neurites.neurite_mask`).
    image : (M, N) array
        The channel the mask came from.
    background : (M, N) array, float or None
        Its smooth background (None: its median).
    soma_diameter_px : float
        Typical soma diameter, px: holes up to :data:`FILL_SOMA_AREAS` of its disc are filled.
    max_width_px : float
        Widest neurite, px: parts a disk this wide fits in are dropped.
    nuclei : (M, N) int array, optional
        The field's nuclei (0 = background); a rim reaches ``_RIM_SOMA_FRACTION`` soma diameters.
    """
    soma_area_px = np.pi * (0.5 * soma_diameter_px) ** 2
    mask = fill_small_holes(mask, FILL_SOMA_AREAS * soma_area_px, image, background)
    mask = drop_wide_parts(mask, max_width_px)
    if nuclei is not None:
        mask = without_cell_rims(mask, nuclei, reach_px=_RIM_SOMA_FRACTION * soma_diameter_px)
    return mask


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
        least ``BRIGHT_HOLE_FRACTION`` of the mean of the mask pixels around it) or the only
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
    flat, small, area = filters.small_holes(mask, max_area_px)
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
        background = float(np.median(image[::_BACKGROUND_STEP_PX, ::_BACKGROUND_STEP_PX]))

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
    return (inside >= BRIGHT_HOLE_FRACTION * around) | (holes_per_piece[piece_of_hole] == 1)


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


def without_cell_rims(mask: np.ndarray, nuclei: np.ndarray, *, reach_px: float) -> np.ndarray:
    """``mask`` without the pieces that never leave one nucleus's cell.

    A reporter kept out of the nucleus draws a cell as a ring, or a crescent round an off-centre
    nucleus, thinner than a neurite may be wide: a curved ridge. A piece of mask whose pixels all
    lie within ``reach_px`` of the same nucleus (its nearest) and that curves round it over at
    least ``_RIM_MIN_SPAN`` is such a rim; a neurite leaves, and a stub of one points away.

    Parameters
    ----------
    mask : (M, N) bool array
    nuclei : (M, N) int array
        Nuclei labels (0 = background).
    reach_px : float
        How far from its nucleus a cell's rim reaches, px (chessboard distance).
    """
    nuclei = np.asarray(nuclei)
    if not nuclei.any() or not mask.any():
        return mask
    pieces, n = filters.label(mask, connectivity=8)
    # A rim has no pixel beyond reach of every nucleus (chessboard px: a square's reach) ...
    reach = int(reach_px)
    near = filters.maximum_filter(nuclei > 0, 2 * reach + 1)
    beyond = np.zeros(n + 1, dtype=bool)
    beyond[pieces[mask & ~near]] = True
    candidates = np.flatnonzero(~beyond[1:]) + 1
    if candidates.size == 0:
        return mask
    _, centre_row, centre_col = filters.label_centroids(nuclei)
    boxes = ndi.find_objects(pieces)
    rim = np.zeros(n + 1, dtype=bool)
    for k in candidates:
        # Every nucleus within reach of the piece lies within reach of its box: the nearest
        # nucleus of each of its pixels is found in that window alone, not over the whole field.
        rows, cols = boxes[k - 1]
        window = (slice(max(rows.start - reach, 0), rows.stop + reach),
                  slice(max(cols.start - reach, 0), cols.stop + reach))
        own = pieces[window] == k
        owner = filters.nearest_marker(nuclei[window])[1][own]
        # ... and one nearest nucleus throughout, round which it curves: a stub of neurite near a
        # soma points away from it.
        if owner.min() != owner.max():
            continue
        r, c = np.nonzero(own)
        j = owner[0] - 1
        dy = r + window[0].start - centre_row[j]
        dx = c + window[1].start - centre_col[j]
        rim[k] = angular_span(dy, dx) >= _RIM_MIN_SPAN
    return mask & ~rim[pieces] if rim.any() else mask


def angular_span(dy: np.ndarray, dx: np.ndarray) -> float:
    """Angle (rad) that points at offsets (dy, dx) cover round the origin: 2π less the widest gap."""
    angles = np.sort(np.arctan2(dy, dx))
    if angles.size < 2:
        return 0.0
    gaps = np.diff(np.concatenate([angles, angles[:1] + 2 * np.pi]))
    return float(2 * np.pi - gaps.max())
