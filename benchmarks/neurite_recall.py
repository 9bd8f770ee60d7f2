"""Where the neurite mask finds and misses the simulator's neurites, by how faint they are.

For each look (``look_grid.py``'s grid names, or ``seed N`` for a ``varied`` look), fields of
one timepoint are rendered in memory together with their neurites alone, noise-free
(:func:`screening.simulate.render.render_neurite_layer`). The truth skeleton is the skeleton of
that layer; the product's is the skeleton of
:func:`screening.segment.neurites.segment_neurites` on the rendered reporter image, given the
somata :func:`screening.segment.somata.count_motor_neurons` counts there (the mask the field
measurement skeletonises, with the default sizes rather than the plate's calibrated ones, and
the look's pixel size). Per look:

- **ceiling**: length of the truth skeleton (of the noise-free, unblurred neurite layer; measured
  as the product measures its own, :func:`screening.measure.neurites.neurite_skeleton_length`)
  over the truth's ``neurite_length_all_um`` (all of it; and off the drawn somata, which the
  mask leaves out by design): what any skeleton of the image could read, since overlapping neurites and neurite over somata have one skeleton;
- **recall / precision**: truth skeleton pixels within ``max(2 px, 1.5 µm)`` of the product's
  skeleton, and the reverse;
- **recall by contrast**: the truth skeleton split by the layer's value there in units of the
  look's pixel noise;
- **over another cell's body**: the truth skeleton over a reporter-negative cell's drawn body
  (which the mask leaves out as a cell body), its recall and share of the truth skeleton;
- **bright recall by distance from a soma**: the truth skeleton brighter than ``BRIGHT`` x the
  noise, split by its distance from the nearest drawn soma (0: over a soma).

Run: ``python benchmarks/neurite_recall.py middle "neurites 3x noise" "seed 3"`` (~20 s per look).
A diagnostic of the mask, below the field level; the field figures through ``screening run``
are ``look_grid.py``'s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import ellipse
from skimage.morphology import skeletonize

from screening.measure.neurites import neurite_skeleton_length
from screening.segment.neurites import segment_neurites
from screening.segment.somata import count_motor_neurons
from screening.simulate import build_screen, render_field
from screening.simulate.model import alive, reporter_visible
from screening.simulate.render import render_neurite_layer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from look_grid import GRID, look_preset  # noqa: E402

CONTRAST_BINS = (0.0, 2.0, 3.0, 5.0, 10.0, np.inf)  # x the pixel noise
BRIGHT = 5.0  # x the pixel noise: neurite any detector should find
SOMA_BINS_UM = (0.0, 1e-6, 3.0, 10.0, np.inf)  # distance from the nearest drawn soma


def soma_mask(screen, field: int, timepoint: int, *, every_cell: bool = False) -> np.ndarray:
    """The drawn somata of the field's visible motor neurons (``every_cell``: of every living cell,
    reporter-negative ones included, as the renderer draws them).

    The ellipses the renderer draws: semi-axis ``soma_a_um`` along ``soma_angle`` (rad from the
    column axis towards increasing rows), ``soma_b_um`` across it.
    """
    px = screen.preset.imaging.pixel_size_um
    shape = screen.preset.imaging.field_shape
    t = timepoint - 1
    cells = screen.cells.iloc[np.flatnonzero(screen.cells["field"].to_numpy() == field)]
    day = float(screen.days[t])
    on = alive(cells, day) if every_cell else reporter_visible(cells, day)
    sx, sy = screen.shift_um[field, t]
    mask = np.zeros(shape, bool)
    for (_, c), visible in zip(cells.iterrows(), on, strict=True):
        if visible:
            # skimage's ellipse takes the row semi-axis first and turns it by -rotation.
            rr, cc = ellipse((c["y_um"] - sy) / px - 0.5, (c["x_um"] - sx) / px - 0.5, c["soma_b_um"] / px,
                             c["soma_a_um"] / px, shape=shape, rotation=-c["soma_angle"])
            mask[rr, cc] = True
    return mask


def look_rows(name: str, fields: int, timepoint: int) -> dict:
    """Ceiling, recall, precision and recall by contrast of one look."""
    preset, seed = look_preset(name)
    screen = build_screen(preset, seed)
    px = screen.preset.imaging.pixel_size_um
    noise = preset.look.reporter_noise_adu
    tol = max(2.0, 1.5 / px)
    sums = dict(truth_um=0.0, skel=0.0, skel_off=0.0, tp=0, nt=0, op=0, no=0, other=0, other_found=0)
    found_by_bin, all_by_bin = np.zeros(len(CONTRAST_BINS) - 1), np.zeros(len(CONTRAST_BINS) - 1)
    found_near, all_near = np.zeros(len(SOMA_BINS_UM) - 1), np.zeros(len(SOMA_BINS_UM) - 1)
    for field in np.linspace(0, len(screen.fields) - 1, fields).astype(int):
        rendered = render_field(screen, int(field), timepoint)
        layer = render_neurite_layer(screen, int(field), timepoint)
        truth = skeletonize(render_neurite_layer(screen, int(field), timepoint, blur=False) > 0)
        # As the field measurement does, the neurites are followed through the counted somata's halos
        # (somata counted here with the default sizes, not the plate's calibrated ones).
        counted = count_motor_neurons(rendered.images["w1"], rendered.images["w2"], pixel_size_um=px).soma_labels > 0
        ours = skeletonize(segment_neurites(rendered.images["w1"], pixel_size_um=px, somata=counted)[0])
        near_ours = ndi.distance_transform_edt(~ours) <= tol
        near_truth = ndi.distance_transform_edt(~truth) <= tol
        sums["truth_um"] += rendered.truth["neurite_length_all_um"]
        sums["skel"] += neurite_skeleton_length(truth, pixel_size_um=px)
        somata = soma_mask(screen, int(field), timepoint)
        others = soma_mask(screen, int(field), timepoint, every_cell=True) & ~somata
        sums["other"] += np.count_nonzero(truth & others)
        sums["other_found"] += np.count_nonzero(truth & others & near_ours)
        sums["skel_off"] += neurite_skeleton_length(truth & ~somata, pixel_size_um=px)
        bright = truth & (layer > BRIGHT * noise)
        where = np.digitize(ndi.distance_transform_edt(~somata)[bright] * px, SOMA_BINS_UM) - 1
        all_near += np.bincount(where, minlength=all_near.size)[: all_near.size]
        found_near += np.bincount(where[near_ours[bright]], minlength=all_near.size)[: all_near.size]
        sums["tp"] += np.count_nonzero(truth & near_ours)
        sums["nt"] += np.count_nonzero(truth)
        sums["op"] += np.count_nonzero(ours & near_truth)
        sums["no"] += np.count_nonzero(ours)
        which = np.digitize(layer[truth] / noise, CONTRAST_BINS) - 1
        found = near_ours[truth]
        all_by_bin += np.bincount(which, minlength=all_by_bin.size)[: all_by_bin.size]
        found_by_bin += np.bincount(which[found], minlength=all_by_bin.size)[: all_by_bin.size]
    by_bin = _shares(found_by_bin, all_by_bin)
    near = _shares(found_near, all_near)
    return {
        "look": name,
        "ceiling (all / off somata)": f"{sums['skel'] / sums['truth_um']:.2f} / {sums['skel_off'] / sums['truth_um']:.2f}",
        "recall": f"{sums['tp'] / max(sums['nt'], 1):.3f}",
        "precision": f"{sums['op'] / max(sums['no'], 1):.3f}",
        **{f"recall at {lo:g}-{hi:g}x noise (share)": b for lo, hi, b in zip(CONTRAST_BINS, CONTRAST_BINS[1:], by_bin, strict=False)},
        "over another cell's body (share)": _shares(np.array([sums["other_found"]]), np.array([sums["other"]]),
                                                    sums["nt"])[0],
        **{name: b for name, b in zip(("bright: over a soma", "bright: < 3 µm from one", "bright: 3-10 µm",
                                       "bright: > 10 µm"), near, strict=True)},
    }


def _shares(found: np.ndarray, total: np.ndarray, whole: float | None = None) -> list[str]:
    """'recall (share of ``whole``, default the bins' total)' per bin."""
    share = total / max(total.sum() if whole is None else whole, 1)
    return [f"{f / a:.2f} ({s:.0%})" if a else "-" for f, a, s in zip(found, total, share, strict=True)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("looks", nargs="+", help=f"grid looks ({', '.join(GRID)}) or 'seed N'")
    parser.add_argument("--fields", type=int, default=10, help="fields per look")
    parser.add_argument("--timepoint", type=int, default=3, help="1-based timepoint (3: day 7 on the grid looks)")
    args = parser.parse_args(argv)
    rows = [look_rows(name, args.fields, args.timepoint) for name in args.looks]
    header = list(rows[0])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in header) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
