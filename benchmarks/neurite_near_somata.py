"""Field-level neurite recall by distance from the drawn somata (where the missing length lies).

For each look (``look_grid.py``'s grid names, or ``seed N``), 8 fields at day-index 3 are rendered
and measured with :func:`screening.measure.field.measure_field` (defaults, the look's pixel size,
the field calibrating itself); its ``neurite_skeleton`` (the mask's skeleton with gap and soma
joins, what ``neurite_length_um`` sums) is compared with the skeleton of the noise-free neurite
layer, as in ``neurite_recall.py``. The truth skeleton is split by its distance from the nearest
drawn soma of a visible motor neuron (0: over a soma; the truth starts at the soma's edge, so
that is neurite crossing a soma). Printed per look: each band's share of the truth skeleton
and its recall (within ``max(2 px, 1.5 µm)``), and the share of the measured soma labels'
pixels that lie inside drawn somata (under 1: our somata reach past the drawn ones). The truth
within ``NEAR_UM`` of a soma (over none) is split in two: the *root* of a neuron's own primary
neurite (its first ``ROOT_UM``, where it leaves its soma) and neurite *passing* another cell's
soma or a neuron's own branches.

Run: ``python benchmarks/neurite_near_somata.py middle "seed 6" "neurites 20x noise"`` (~6 s per look).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import line
from skimage.morphology import skeletonize

from screening.config import RunConfig
from screening.measure.field import measure_field
from screening.simulate import build_screen, render_field
from screening.simulate.model import reporter_visible
from screening.simulate.render import render_neurite_layer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from look_grid import look_preset  # noqa: E402
from neurite_recall import soma_mask  # noqa: E402

BANDS_UM = (0.0, 1e-6, 1.5, 3.0, 6.0, 10.0, np.inf)
NEAR_UM = 10.0  # the truth this close to a soma (over none) is split into roots and passing neurite
ROOT_UM = 8.0  # a primary neurite's first µm from its soma's edge
CONFIG = RunConfig(name="near", channels={"reporter": "w1", "nuclei": "w2"},
                   plates=[{"id": "P", "path": ".", "layout": "l.csv"}])
FIELDS, TIMEPOINT = 8, 3


def root_mask(screen, field: int, timepoint: int) -> np.ndarray:
    """Pixels within 2 px of the first ``ROOT_UM`` of every primary neurite of the field's visible
    motor neurons (the segments the renderer draws, as straight lines)."""
    px = screen.preset.imaging.pixel_size_um
    shape = screen.preset.imaging.field_shape
    seg = screen.segments
    order, starts = screen.field_segments
    pick = order[starts[field]: starts[field + 1]]
    cells = screen.cells.iloc[np.flatnonzero(screen.cells["field"].to_numpy() == field)]
    visible = cells.index.to_numpy()[reporter_visible(cells, float(screen.days[timepoint - 1]))]
    pick = pick[np.isin(seg["cell"][pick], visible) & seg["primary"][pick] & (seg["p0"][pick] < ROOT_UM)]
    sx, sy = screen.shift_um[field, timepoint - 1]
    mask = np.zeros(shape, bool)
    for i in pick:
        rr, cc = line(*(int(round(v)) for v in ((seg["y0"][i] - sy) / px - 0.5, (seg["x0"][i] - sx) / px - 0.5,
                                                (seg["y1"][i] - sy) / px - 0.5, (seg["x1"][i] - sx) / px - 0.5)))
        ok = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
        mask[rr[ok], cc[ok]] = True
    return ndi.binary_dilation(mask, iterations=2)


def look_bands(name: str) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """(share of the truth skeleton per band, recall per band, our soma pixels inside drawn somata,
    [root share, root recall, passing share, passing recall] within ``NEAR_UM`` of a soma)."""
    preset, seed = look_preset(name)
    screen = build_screen(preset, seed)
    px = preset.imaging.pixel_size_um
    tol = max(2.0, 1.5 / px)
    n = len(BANDS_UM) - 1
    total, found, ours_px, ours_in = np.zeros(n), np.zeros(n), 0, 0
    near = np.zeros(4)  # root truth, root found, passing truth, passing found
    for field in np.linspace(0, len(screen.fields) - 1, FIELDS).astype(int):
        rendered = render_field(screen, int(field), TIMEPOINT)
        if rendered.truth["defocused"]:
            continue
        m = measure_field({"reporter": rendered.images["w1"], "nuclei": rendered.images["w2"]}, CONFIG,
                          pixel_size_um=px, return_images=True)
        truth = skeletonize(render_neurite_layer(screen, int(field), TIMEPOINT, blur=False) > 0)
        somata = soma_mask(screen, int(field), TIMEPOINT)
        distance = ndi.distance_transform_edt(~somata)[truth] * px
        band = np.digitize(distance, BANDS_UM) - 1
        hit = (ndi.distance_transform_edt(~m.images["neurite_skeleton"]) <= tol)[truth]
        close = (distance > 0) & (distance <= NEAR_UM)
        root = root_mask(screen, int(field), TIMEPOINT)[truth]
        near += [np.count_nonzero(close & root), np.count_nonzero(close & root & hit),
                 np.count_nonzero(close & ~root), np.count_nonzero(close & ~root & hit)]
        total += np.bincount(band, minlength=n)[:n]
        found += np.bincount(band[hit], minlength=n)[:n]
        ours = m.images["soma_labels"] > 0
        ours_px += np.count_nonzero(ours)
        ours_in += np.count_nonzero(ours & somata)
    split = np.array([near[0] / total.sum(), near[1] / max(near[0], 1), near[2] / total.sum(), near[3] / max(near[2], 1)])
    return total / total.sum(), found / np.maximum(total, 1), ours_in / max(ours_px, 1), split


def main(looks: list[str]) -> None:
    names = ["over a soma"] + [f"{a:g}-{b:g} µm" for a, b in zip(BANDS_UM[1:-1], BANDS_UM[2:], strict=True)]
    print("| look | " + " | ".join(f"{b}: recall (share)" for b in names) + " | our soma px inside drawn somata "
          f"| within {NEAR_UM:g} µm, roots: recall (share) | within {NEAR_UM:g} µm, passing: recall (share) |")
    print("|---" * (len(names) + 4) + "|")
    for name in looks:
        share, recall, inside, split = look_bands(name)
        cells = " | ".join(f"{r:.2f} ({s:.0%})" for r, s in zip(recall, share, strict=True))
        print(f"| {name} | {cells} | {inside:.3f} | {split[1]:.2f} ({split[0]:.0%}) | {split[3]:.2f} ({split[2]:.0%}) |",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["middle", "seed 6", "neurites 20x noise"])
