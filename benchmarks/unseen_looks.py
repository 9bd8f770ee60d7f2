"""Looks the simulator does not draw: the middle look's plate with its images changed, through `screening run`.

Every look of ``look_grid.py`` comes from one renderer, so a rule could fit how that renderer
draws a cell rather than cells. This script takes the middle look's plate (and, for a thin and
a thick cytoplasm, the nucleus/soma 0.8 and 0.4 looks', and the ``varied`` look of seed 7;
simulated by ``look_grid.py`` and cached there), rewrites its TIFFs the way other cultures,
reporters and renderers look, and runs each changed plate
through ``screening run`` with the defaults, scored against the same truth as ``look_grid.py``
(count error, bias and r, neurite error and r on the in-focus fields, and the field's total
neurite length over the truth's: with the unchanged look's as reference, a change that adds
length there adds false neurite; the classical baseline beside it). The changes, each applied
to every field and timepoint:

- **reporter excluded from nuclei** (``exclude``): a cytoplasmic reporter leaves the nucleus
  darker; the reporter signal over a nucleus is scaled down by the fraction given, in
  proportion to the nuclear stain there (its 20th percentile is background, 0.7 of the way to
  its 99.5th percentile is a whole nucleus);
- **reporter enriched in nuclei** (``enrich``): a reporter that gathers in the nucleus
  (a nuclear-localised fluorescent protein), the same weight, scaled up;
- **granular reporter** (``granular``): the reporter above the field's median, where it stands
  3 noise sds above it (cells and neurites), times exp(a × smooth Gaussian noise) of 1.5 µm
  grain, unit sd (vesicles, uneven expression along somata and neurites).

Run: ``python benchmarks/unseen_looks.py [CHANGE ...]`` (~15 min on one core once the source plates
are cached; ``python benchmarks/look_grid.py --looks middle "nucleus/soma 0.8" "nucleus/soma 0.4"
--first-seed 7 --seeds 1`` simulates them).
Changed plates go to ``benchmarks/out/unseen/<change>/plate``.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from look_grid import classical_fields, look_preset, run_screening, scores, simulate  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "unseen"
BACKGROUND_PERCENTILE = 20
NUCLEUS_PERCENTILE = 99.5
WHOLE_NUCLEUS = 0.7  # of the way from background to the bright percentile: weight 1
GRAIN_UM = 1.5
CELL_NOISE_SDS = 3.0  # the grain is laid on pixels this many noise sds above the field's median


def nucleus_weight(nuclei: np.ndarray) -> np.ndarray:
    """0 on background, 1 inside a nucleus, from the nuclear stain alone."""
    nuclei = nuclei.astype(float)
    low, high = np.percentile(nuclei, [BACKGROUND_PERCENTILE, NUCLEUS_PERCENTILE])
    return np.clip((nuclei - low) / max(WHOLE_NUCLEUS * (high - low), 1.0), 0.0, 1.0)


def change(kind: str, amount: float, reporter: np.ndarray, nuclei: np.ndarray, *, pixel_size_um: float,
           seed: int) -> np.ndarray:
    """The reporter image of a field after one change (see the module docstring)."""
    image = reporter.astype(float)
    base = np.percentile(image, BACKGROUND_PERCENTILE)
    signal = image - base
    if kind == "exclude":
        signal *= 1.0 - amount * nucleus_weight(nuclei)
    elif kind == "enrich":
        signal *= 1.0 + amount * nucleus_weight(nuclei)
    elif kind == "granular":
        grain = ndi.gaussian_filter(np.random.default_rng(seed).normal(size=image.shape), GRAIN_UM / pixel_size_um)
        level = np.median(image)
        noise = 1.4826 * np.median(np.abs(image - level))
        cells = image > level + CELL_NOISE_SDS * noise  # the background's noise keeps its own look
        signal[cells] = (image - level)[cells] * np.exp(amount * grain[cells] / grain.std()) + (level - base)
    else:
        raise ValueError(f"unknown change {kind!r}")
    return np.clip(base + signal, 0, np.iinfo(reporter.dtype).max).astype(reporter.dtype)


# name -> (change, amount, look of look_grid.py whose plate is changed)
CHANGES = {
    "reporter excluded from nuclei 60 %": ("exclude", 0.6, "middle"),
    "reporter excluded from nuclei 90 %": ("exclude", 0.9, "middle"),
    "reporter excluded from nuclei 100 %": ("exclude", 1.0, "middle"),
    "reporter enriched in nuclei 2x": ("enrich", 1.0, "middle"),
    "granular reporter 0.3": ("granular", 0.3, "middle"),
    "granular reporter 0.5": ("granular", 0.5, "middle"),
    # Thin cytoplasm: the soma only 1.25x the nucleus's diameter, its ring a few px wide.
    "nucleus/soma 0.8, reporter excluded from nuclei 90 %": ("exclude", 0.9, "nucleus/soma 0.8"),
    "nucleus/soma 0.8, reporter excluded from nuclei 100 %": ("exclude", 1.0, "nucleus/soma 0.8"),
    # Thick cytoplasm: the soma 2.5x the nucleus's diameter, reporter-negative cells under and
    # beside large somata.
    "nucleus/soma 0.4, reporter excluded from nuclei 90 %": ("exclude", 0.9, "nucleus/soma 0.4"),
    "nucleus/soma 0.4, reporter excluded from nuclei 100 %": ("exclude", 1.0, "nucleus/soma 0.4"),
    # A varied look (nucleus/soma 0.72, reporter contrast 4x, 0.93 µm/px).
    "seed 7, reporter excluded from nuclei 100 %": ("exclude", 1.0, "seed 7"),
}


def changed_plate(source: Path, name: str, kind: str, amount: float, pixel_size_um: float) -> Path:
    """A copy of the plate folder with every reporter image changed (cached by change)."""
    plate = OUT / name.replace(" ", "_").replace("%", "pct").replace("/", "-").replace(",", "") / "plate"
    stamp = {"source": str(source), "kind": kind, "amount": amount,
             "change": hashlib.sha256(inspect.getsource(change).encode()).hexdigest()[:16],
             "source_stamp": (source / "stamp.json").read_text()}
    if (plate / "stamp.json").exists() and json.loads((plate / "stamp.json").read_text()) == stamp:
        return plate
    if plate.exists():
        shutil.rmtree(plate)
    (plate.parent / "classical.parquet").unlink(missing_ok=True)  # the baseline's cache of the old images
    shutil.copytree(source, plate)
    changed_any = False
    for reporter_path in sorted(p for p in plate.rglob("*") if p.name.lower().endswith("_w1.tif")):
        nuclei = tifffile.imread(reporter_path.with_name(reporter_path.name[:-len("1.tif")] + "2" + reporter_path.suffix))
        seed = int(hashlib.sha256(str(reporter_path.relative_to(plate)).encode()).hexdigest()[:8], 16)
        changed = change(kind, amount, tifffile.imread(reporter_path), nuclei, pixel_size_um=pixel_size_um, seed=seed)
        tifffile.imwrite(reporter_path, changed)
        changed_any = True
    if not changed_any:
        raise RuntimeError(f"no reporter images (*_w1.tif) under {plate}")
    (plate / "stamp.json").write_text(json.dumps(stamp))
    return plate


def row(name: str, plate: Path, run: Path, pixel_size_um: float) -> dict:
    truth = pd.read_csv(plate / "truth" / "fields.csv")
    ours, seconds = run_screening(plate, run)
    return {"change": name, "screening": scores(truth, ours),
            "classical": scores(truth, classical_fields(plate, truth, pixel_size_um, fresh=False)),
            "seconds": seconds}


def table(rows: list[dict]) -> str:
    lines = ["| change | MN error | MN bias | MN r | neurite error | neurite r | neurite total / truth "
             "| classical MN error / bias / r | classical neurite error / r |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s, c = r["screening"], r["classical"]
        lines.append(
            f"| {r['change']} | {s['count error']:.3f} | {s['bias']:+.1%} | {s['count r']:.3f} | "
            f"{s['neurite error']:.3f} | {s['neurite r']:.3f} | {1 + s['neurite bias']:.3f} | "
            f"{c['count error']:.3f} / {c['bias']:+.1%} / "
            f"{c['count r']:.3f} | {c['neurite error']:.3f} / {c['neurite r']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("changes", nargs="*", default=list(CHANGES), help=f"changes ({', '.join(CHANGES)})")
    args = parser.parse_args()
    rows, sources = [], {}
    for name in args.changes:
        kind, amount, look = CHANGES[name]
        if look not in sources:  # the unchanged look first: the reference for its changes
            preset, seed = look_preset(look)
            source = simulate(look, preset, seed, fresh=False)
            px = float(json.loads((source / "truth" / "look.json").read_text())["pixel_size_um"])
            sources[look] = source, px
            folder = "none" if look == "middle" else "none_" + look.replace(" ", "_").replace("/", "-")
            rows.append(row(f"none (the {look} look)", source, OUT / folder / "run", px))
        source, px = sources[look]
        plate = changed_plate(source, name, kind, amount, px)
        rows.append(row(name, plate, plate.parent / "run", px))
        print(f"{name}: {rows[-1]['screening']}", flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
