"""Segmentation accuracy: nuclei on real images, motor-neuron counts, neurite length and field QC
on simulated screens, each against the classical baseline labs run today, in one table.

Real images (../shared/data, read-only; nominal pixel sizes, since the files carry none):

- ``nuclei_dsb2018`` at 0.42 µm/px and ``nuclei_hela`` (Cell Tracking Challenge N2DL-HeLa)
  at 0.39 µm/px. The images carry no pixel size and the benchmark tells each set only a
  nominal one: the size at which the median ground-truth nucleus (equivalent diameter 23.7 px
  in dsb2018, 25.9 px pooled over the HeLa frames) is the configured 10 µm nucleus. The
  published N2DL-HeLa pixel size is larger (about 0.65 µm, which makes HeLa nuclei ~17 µm);
  telling the pipeline "these nuclei are 10 µm" is the honest statement of what was tuned:
  nothing per image, one scale per set. The same defaults serve both sets and the simulated
  screens (0.65 µm/px, 10 µm nuclei).
- F1 is instance F1 at IoU > 0.5 (one-to-one). The HeLa ground truth leaves out almost every
  nucleus cut by the image border (6 of 859 annotated) while the pipeline keeps border
  objects (a cut soma counts when its centre is inside), so a second column scores with
  border-touching objects removed from both prediction and truth.

Simulated screens (``screening.simulate.sample_fields``; presets ``small`` and ``hard``, seeds
0-2, then seeds 3-8 held out: defaults were chosen looking at seeds 0-2): per-field count error
relative to max(true, 20), total bias, Pearson r; neurite length from
:func:`screening.measure.measure_field` against the true visible arbor length; QC: the fraction of
defocused fields that fail QC and of sharp fields that fail QC.

Baselines: nuclei by global Otsu + distance-transform watershed (the CellProfiler-like
pipeline); counts by those nuclei plus a global Otsu threshold on the reporter (a nucleus is
a neuron when its mean reporter is above it).

Run: ``python benchmarks/segment_accuracy.py [--quick]`` (prints markdown tables).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from skimage import filters

from screening.config import RunConfig, SegmentationConfig
from screening.measure.field import measure_field
from screening.segment.calibration import calibrate
from screening.segment.nuclei import segment_nuclei
from screening.segment.somata import count_motor_neurons

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classical import mean_per_label, otsu_watershed_nuclei  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NOMINAL_NUCLEUS_UM = SegmentationConfig().nucleus_diameter_um
# Median ground-truth nucleus equivalent diameter (px), measured once on the truth masks.
DSB_NUCLEUS_PX, HELA_NUCLEUS_PX = 23.7, 25.9
DSB_PX_UM = NOMINAL_NUCLEUS_UM / DSB_NUCLEUS_PX  # 0.42
HELA_PX_UM = NOMINAL_NUCLEUS_UM / HELA_NUCLEUS_PX  # 0.39
HELA_PUBLISHED_PX_UM = 0.645  # Cell Tracking Challenge, Fluo-N2DL-HeLa
HELA_FRAMES = (13, 52, 75, 79)


def read_image(path: Path) -> np.ndarray:
    """TIFF reader that also opens the LZW-compressed HeLa files (Pillow; no imagecodecs)."""
    try:
        import tifffile

        return tifffile.imread(path)
    except ValueError:  # LZW needs imagecodecs; Pillow reads it
        from PIL import Image

        return np.array(Image.open(path))


# --- baselines -------------------------------------------------------------------------------


def baseline_nuclei(image: np.ndarray, *, pixel_size_um: float) -> np.ndarray:
    """Global Otsu threshold + distance-transform watershed, told the configured nucleus size."""
    return otsu_watershed_nuclei(image, diameter_px=NOMINAL_NUCLEUS_UM / pixel_size_um)


def baseline_count(reporter, nuclei, *, pixel_size_um: float) -> int:
    """Baseline nuclei whose mean reporter is above the field's global Otsu threshold."""
    labels = baseline_nuclei(nuclei, pixel_size_um=pixel_size_um)
    if labels.max() == 0:
        return 0
    mean = mean_per_label(reporter, labels)
    return int(np.sum(mean[np.isfinite(mean)] > filters.threshold_otsu(np.asarray(reporter, np.float32))))


# --- scores ----------------------------------------------------------------------------------


def match_counts(gt: np.ndarray, pred: np.ndarray) -> tuple[int, int, int]:
    """(true positives at IoU > 0.5, objects in truth, objects predicted)."""
    g, p = gt.ravel().astype(np.int64), pred.ravel().astype(np.int64)
    n_p = int(p.max()) + 1
    inter = np.bincount(g * n_p + p, minlength=(int(g.max()) + 1) * n_p).reshape(-1, n_p)
    union = inter.sum(1)[:, None] + inter.sum(0)[None, :] - inter
    iou = inter[1:, 1:] / np.maximum(union[1:, 1:], 1)
    return int((iou > 0.5).sum()), len(np.unique(gt)) - 1, len(np.unique(pred)) - 1


def drop_border(labels: np.ndarray) -> np.ndarray:
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    out = labels.copy()
    out[np.isin(out, edge[edge > 0])] = 0
    return out


def nuclei_rows() -> list[dict]:
    sets = {
        "nuclei_dsb2018": (
            [(read_image(DATA / "nuclei_dsb2018" / "img2d.tif"), read_image(DATA / "nuclei_dsb2018" / "mask2d.tif"))],
            DSB_PX_UM,
        ),
        "nuclei_hela (4 frames)": (
            [
                (read_image(DATA / "nuclei_hela" / "img" / f"t{t}.tif"), read_image(DATA / "nuclei_hela" / "gt" / f"man_seg{t}.tif"))
                for t in HELA_FRAMES
            ],
            HELA_PX_UM,
        ),
    }
    # Robustness: the HeLa frames at their published pixel size, nuclei ~1.7x the nominal size.
    sets["nuclei_hela (4 frames), published size"] = (sets["nuclei_hela (4 frames)"][0], HELA_PUBLISHED_PX_UM)
    methods = {
        "screening": _calibrated_nuclei,
        "baseline: Otsu + watershed": lambda im, px, _: baseline_nuclei(im, pixel_size_um=px),
    }
    rows = []
    for name, (items, px) in sets.items():
        # The set is one plate: calibrated once on all of its images, as `screening run` does.
        cal = calibrate([{"reporter": im, "nuclei": im} for im, _ in items], pixel_size_um=px)
        for method, fn in methods.items():
            if "published" in name and method != "screening":
                continue
            tp = n_gt = n_pred = tp_b = n_gt_b = n_pred_b = 0
            seconds = 0.0
            for image, gt in items:
                t0 = time.perf_counter()
                pred = fn(image, px, cal)
                seconds += time.perf_counter() - t0
                a, b, c = match_counts(gt, pred)
                tp, n_gt, n_pred = tp + a, n_gt + b, n_pred + c
                a, b, c = match_counts(drop_border(gt), drop_border(pred))
                tp_b, n_gt_b, n_pred_b = tp_b + a, n_gt_b + b, n_pred_b + c
            rows.append({
                "data set": f"{name} @ {px:.2f} µm/px",
                "method": method,
                "found / truth": f"{n_pred} / {n_gt}",
                "F1 (IoU 0.5)": f"{2 * tp / (n_gt + n_pred):.3f}",
                "F1, border objects removed": f"{2 * tp_b / (n_gt_b + n_pred_b):.3f}",
                "count error": f"{(n_pred - n_gt) / n_gt:+.1%}",
                "s per image": f"{seconds / len(items):.2f}",
            })
    return rows


def _calibrated_nuclei(image, px, cal):
    return segment_nuclei(image, pixel_size_um=px, nucleus_diameter_um=cal.nucleus_diameter_um,
                          background_radius_um=cal.background_radius_um, typical_area_um2=cal.nucleus_area_um2)


def plate_calibration(screen, n: int | None = None, *, with_nuclei: bool = True):
    """The screen's calibration as `screening run` makes it: on ``n`` first-timepoint fields (in
    focus; default the config's ``segmentation.calibration_fields``)."""
    from screening.simulate import render_field

    n = SegmentationConfig().calibration_fields if n is None else n
    rng = np.random.default_rng(0)
    sharp = np.flatnonzero(~screen.defocused[:, 0])
    chosen = rng.choice(sharp, size=min(n, sharp.size), replace=False)
    fields = [render_field(screen, int(f), 1).images for f in chosen]
    return calibrate([{"reporter": f["w1"], "nuclei": f["w2"] if with_nuclei else None} for f in fields],
                     pixel_size_um=screen.preset.imaging.pixel_size_um)


def _config(with_nuclei: bool) -> RunConfig:
    channels = {"reporter": "w1", "nuclei": "w2"} if with_nuclei else {"reporter": "w1"}
    return RunConfig(name="bench", channels=channels, plates=[{"id": "P", "path": ".", "layout": "l.csv"}])


def _count_scores(got, want) -> dict:
    got, want = np.asarray(got, float), np.asarray(want, float)
    rel = np.abs(got - want) / np.maximum(want, 20)
    return {
        "median rel. error": f"{np.median(rel):.3f}",
        "total bias": f"{got.sum() / want.sum() - 1:+.1%}",
        "Pearson r": f"{np.corrcoef(got, want)[0, 1]:.4f}",
    }


def simulated_rows(
    *, seeds=(0, 1, 2), n=16, presets=("small", "hard"), qc: bool = True
) -> tuple[list[dict], list[dict]]:
    """Count and neurite rows, and (with ``qc``) QC rows, on simulated fields."""
    from screening.simulate import build_screen, render_field, sample_fields

    rows, qc_rows = [], []
    nuc_config = _config(True)
    for preset in presets:
        cals = {seed: plate_calibration(build_screen(preset, seed)) for seed in seeds}
        rep_cals = {seed: plate_calibration(build_screen(preset, seed), with_nuclei=False) for seed in seeds}
        fields = [(f, seed) for seed in seeds for f in sample_fields(preset, seed=seed, n=n)]
        px = build_screen(preset, seeds[0]).preset.imaging.pixel_size_um
        truth = [int(f.truth["n_neurons"]) for f, _ in fields]
        # neurite_length_um is all neurite in the field, whoever it belongs to.
        length_truth = [float(f.truth["neurite_length_all_um"]) for f, _ in fields]
        ours, ours_len, rep_only, base = [], [], [], []
        for f, seed in fields:
            channels = {"reporter": f.images["w1"], "nuclei": f.images["w2"], "neurites": f.images["w1"]}
            row = measure_field(channels, nuc_config, pixel_size_um=px, calibration=cals[seed]).row
            ours.append(row["n_neurons"])
            ours_len.append(row["neurite_length_um"])
            rep_only.append(count_motor_neurons(f.images["w1"], pixel_size_um=px, calibration=rep_cals[seed],
                                               **rep_cals[seed].sizes()).n)
            base.append(baseline_count(f.images["w1"], f.images["w2"], pixel_size_um=px))
        label = f"simulated {preset}, seeds {seeds[0]}-{seeds[-1]} ({len(fields)} fields)"
        for method, got in (
            ("screening (reporter + nuclei)", ours),
            ("screening (reporter only)", rep_only),
            ("baseline: Otsu nuclei + Otsu reporter", base),
        ):
            rows.append({"data set": label, "measure": "motor neurons", "method": method, **_count_scores(got, truth)})
        got, want = np.asarray(ours_len), np.asarray(length_truth)
        ok = want > 0
        rows.append({
            "data set": label, "measure": "neurite length (measure_field)", "method": "screening (reporter + nuclei)",
            "median rel. error": f"{np.median(np.abs(got[ok] - want[ok]) / want[ok]):.3f}",
            "total bias": f"{got.sum() / want.sum() - 1:+.1%}",
            "Pearson r": f"{np.corrcoef(got, want)[0, 1]:.4f}",
        })

        if not qc:
            continue
        # QC: every defocused field-timepoint of each seed (up to 20) and as many sharp ones.
        flagged = {True: [], False: []}
        for seed in seeds:
            screen = build_screen(preset, seed)
            rng = np.random.default_rng(seed)
            blurred = np.argwhere(screen.defocused)[:20]
            sharp = np.argwhere(~screen.defocused)
            sharp = sharp[rng.choice(len(sharp), size=min(len(sharp), max(len(blurred), n)), replace=False)]
            for defocused, chosen in ((True, blurred), (False, sharp)):
                for fi, ti in chosen:
                    r = render_field(screen, int(fi), int(ti) + 1)
                    channels = {"reporter": r.images["w1"], "nuclei": r.images["w2"]}
                    qc_row = measure_field(channels, nuc_config, pixel_size_um=px, calibration=cals[seed]).row
                    flagged[defocused].append(not qc_row["qc_pass"])
        qc_rows.append({
            "data set": f"simulated {preset}, seeds {seeds[0]}-{seeds[-1]}",
            "defocused fields flagged": f"{np.mean(flagged[True]):.1%} of {len(flagged[True])}",
            "sharp fields flagged": f"{np.mean(flagged[False]):.1%} of {len(flagged[False])}",
        })
    return rows, qc_rows


def to_markdown(rows: list[dict]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer simulated fields, no neurite rows")
    args = parser.parse_args()
    if DATA.is_dir():
        print("### Nuclei on real images\n")
        print(to_markdown(nuclei_rows()))
    else:
        print(f"(real images not found at {DATA}; nuclei rows skipped)")
    rows, qc_rows = simulated_rows(n=4 if args.quick else 16)
    print("\n### Motor-neuron counts and neurite length on simulated screens\n")
    print(to_markdown(rows))
    if not args.quick:
        # Held out: the defaults were chosen looking at seeds 0-2; seeds 3-8 are the check.
        held_out, _ = simulated_rows(seeds=tuple(range(3, 9)), n=16, qc=False)
        print("\n### The same on held-out seeds 3-8\n")
        print(to_markdown(held_out))
    print("\n### Field QC on simulated screens\n")
    print(to_markdown(qc_rows))
    if not args.quick:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from neurite_accuracy import neurite_rows
        from neurite_accuracy import to_markdown as neurite_markdown

        print("\n### Neurite length (benchmarks/neurite_accuracy.py)\n")
        print(neurite_markdown(neurite_rows()))


if __name__ == "__main__":
    main()
