"""Nuclei darker than the cell round them: how a cytoplasmic reporter is told and its neurons kept.

A reporter that fills the cell (HB9::GFP) is brightest over the nucleus; a cytoplasmic one (a
cytoplasmic fluorescent protein, a MAP2 or βIII-tubulin stain) leaves the nucleus dark and the
soma a ring round it, thinner than the grey opening the count reads somata on
(:func:`screening.segment.somata.count_motor_neurons`). Here each nucleus gets the crest of the
cell round it and is called *darker* when it is much darker than that crest, a *hole* when that
crest is also bright (ringed); a plate whose ringed nuclei are mostly holes has a cytoplasmic
reporter. There every darker nucleus is filled to its crest: a neuron's to its soma's level, a
reporter-negative cell's to its own dim cytoplasm, so both populations are read where the
reporter is. Filled only where ringed, the negative cells kept the near-zero level over their
nuclei, the plate's negative population fell to it, and the cut-off between the two populations
with it: with the soma 2.5x the nucleus's diameter the count read +46 % (benchmarks/README.md).
"""

from __future__ import annotations

import math

import numpy as np

from screening.segment import filters

# A cytoplasmic reporter (or a MAP2 / βIII-tubulin stain) leaves a neuron's nucleus darker than
# the soma round it, a ring the opening would remove. The crest round a nucleus: the brightest
# reporter along each of _RING_RAYS rays from its centre in the cytoplasm past its edge (a band
# half the soma's diameter less the nucleus's wide, at least _MIN_BAND_PX), at the
# _RING_PERCENTILE th percentile of the rays, so the cell must enclose it nearly all the way round.
# A nucleus with a crest over the caller's floor (6 noise sds in the count) is "ringed"; one
# whose own level is under _HOLE_FRACTION x its crest is darker than its cell, a hole if ringed.
_RING_RAYS = 16
_RING_PERCENTILE = 20
_MIN_BAND_PX = 2.0
_HOLE_FRACTION = 0.7
# Darker nuclei are filled (raised to their crest) only where the reporter is cytoplasmic: at least
# CYTOPLASMIC_SHARE of the ringed nuclei are holes (the plate's share from its calibration, else
# the field's, from at least _MIN_RINGED ringed nuclei). Where the reporter fills the cell the
# few holes are reporter-negative cells squeezed between somata and neurites: 0-2 % of the ringed
# nuclei on the simulated looks (fields up to 9 %); with the reporter 90-100 % darker over the
# nuclei 69-88 % (fields from 46 %) (benchmarks/README.md, "Looks the simulator does not draw").
CYTOPLASMIC_SHARE = 0.25
_MIN_RINGED = 5
# A nucleus's own level, the same percentile as the count's reporter level of a nucleus.
_OWN_PERCENTILE = 20


def dark_nuclei(smooth: np.ndarray, nuclei_labels: np.ndarray, *, soma_diameter_px: float,
                nucleus_diameter_px: float, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nuclei darker than the cell round them: the holes a cytoplasmic reporter leaves.

    Parameters
    ----------
    smooth : (M, N) float array
        Smoothed reporter signal (background-subtracted, ADU).
    nuclei_labels : (M, N) int array
        Nuclei 1..n, 0 is background.
    soma_diameter_px, nucleus_diameter_px : float
        Typical soma and nucleus diameters, px: a nucleus's cell is looked for within a soma
        diameter of its centre, its crest in the cytoplasm, a band half their difference wide
        (at least :data:`_MIN_BAND_PX`) past the nucleus's edge.
    floor : float
        A crest over this level (ADU) is a bright cell round the nucleus.

    Returns
    -------
    crest : (n,) float array
        Per nucleus, the crest of the cell round it (:func:`enclosing_crest`), ADU; -inf where none.
    ringed : (n,) bool array
        The crest stands over ``floor``.
    darker : (n,) bool array
        The nucleus's own level (the :data:`_OWN_PERCENTILE` th percentile of the rays' samples
        inside it) is under :data:`_HOLE_FRACTION` × its crest; ``ringed & darker`` are the
        holes. A nucleus whose reporter fills its cell, brightest over the nucleus, is not
        darker; nor is one on the slope of a neighbour's soma, bright on one side (its crest
        is the dark side's).
    """
    n = int(nuclei_labels.max())
    if n == 0:
        return np.zeros(0), np.zeros(0, bool), np.zeros(0, bool)
    band_px = max(0.5 * (soma_diameter_px - nucleus_diameter_px), _MIN_BAND_PX)
    crest, own = enclosing_crest(smooth, nuclei_labels, reach_px=soma_diameter_px, band_px=band_px)
    return crest, crest > floor, own < _HOLE_FRACTION * crest


def hole_share(ringed: np.ndarray, darker: np.ndarray) -> float:
    """Share of the ringed nuclei that are darker than their cell (holes); NaN under
    :data:`_MIN_RINGED` ringed nuclei."""
    n = int(np.count_nonzero(ringed))
    return np.count_nonzero(ringed & darker) / n if n >= _MIN_RINGED else math.nan


def fill_holes(smooth: np.ndarray, nuclei_labels: np.ndarray, crest: np.ndarray, darker: np.ndarray) -> np.ndarray:
    """``smooth`` with every nucleus in ``darker`` raised to its crest (see :func:`dark_nuclei`); the rest unchanged."""
    level = np.concatenate([[-np.inf], np.where(darker, crest, -np.inf)]).astype(smooth.dtype)
    return np.maximum(smooth, level[nuclei_labels])


def enclosing_crest(smooth: np.ndarray, labels: np.ndarray, *, reach_px: float,
                    band_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Per label 1..``labels.max()``, (the crest of the cell round it, -inf where there is none;
    the label's own level, the :data:`_OWN_PERCENTILE` th percentile of the rays' samples inside it).

    Along :data:`_RING_RAYS` rays from the label's centre (out to ``reach_px``, px), the
    brightest ``smooth`` in the first ``band_px`` px past the label's edge; the crest is the
    :data:`_RING_PERCENTILE` th percentile of those maxima, so a cell must enclose the label
    nearly all the way round to give it a bright crest. Sampling the label along the same rays
    costs a fraction of a percentile over all its pixels.
    """
    count, cy, cx = filters.label_centroids(labels)
    n = count.size
    # An absent label's rays start at the corner; its crest is -inf below.
    cy, cx = np.nan_to_num(cy), np.nan_to_num(cx)
    angle = np.linspace(0, 2 * np.pi, _RING_RAYS, endpoint=False)
    radius = np.arange(1, max(int(reach_px), 2) + 1)
    y = np.rint(cy[:, None, None] + radius * np.sin(angle)[:, None]).astype(np.intp)
    x = np.rint(cx[:, None, None] + radius * np.cos(angle)[:, None]).astype(np.intp)
    inside = (y >= 0) & (y < labels.shape[0]) & (x >= 0) & (x < labels.shape[1])
    y, x = np.where(inside, y, 0), np.where(inside, x, 0)
    own = labels[y, x] == np.arange(1, n + 1)[:, None, None]
    # The band: the first band_px samples of each ray past the nucleus's edge, in the image.
    edge = np.argmax(~own, axis=2)[..., None]
    step = np.arange(radius.size)
    band = inside & ~own & (step >= edge) & (step < edge + band_px)
    values = np.where(band, smooth[y, x], -np.inf)
    ray_max = values.max(axis=2)  # (n, rays)
    # A ray that leaves the image at once says nothing.
    ray_max[~np.isfinite(ray_max)] = np.nan
    crest, seen = _lower_percentile(ray_max, _RING_PERCENTILE)
    crest[(count == 0) | (seen == 0) | ~(crest > 0)] = -np.inf
    inner = np.where(own & inside, smooth[y, x], np.nan).reshape(n, -1)
    return crest, _lower_percentile(inner, _OWN_PERCENTILE)[0]


def _lower_percentile(values: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise ``q`` th percentile (lower, as :func:`screening.segment.nuclei.label_percentile`)
    of the finite values of a 2-D array, NaN where a row has none, and the number of finite values
    per row."""
    ordered = np.sort(values, axis=1)  # NaN last
    seen = np.isfinite(ordered).sum(axis=1)
    pick = np.floor(q / 100 * np.maximum(seen - 1, 0)).astype(np.intp)
    level = ordered[np.arange(values.shape[0]), pick]
    return np.where(seen > 0, level, np.nan), seen
