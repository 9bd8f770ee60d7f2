"""Every real ground-truth set through `screening run`, as a user meets it, beside the classical baseline.

``../shared/tools/real_plates.py`` lays each set of ``../shared/data`` out as an ImageXpress
plate with a run config (``make OUT``: NEU2 = ``neurites_deepneurite``, NEUT =
``neurites_deepneurite_train``, DSB = ``nuclei_dsb2018``, HELA = ``nuclei_hela``, U2OS =
``nuclei_u2os``; neurite images at 0.65 µm/px, nuclei images at the size where their median
labelled nucleus is 10 µm unless the TIFFs carry one, as HeLa's 0.645 µm/px do). This script
makes those plates, runs ``screening run CONFIG --workers 1`` on each into a fresh run folder,
prints the tool's own ``score`` lines, and scores the runs itself beside the classical
baseline of ``classical.py`` on the same images in the same run:

- nuclei sets: per image |n_nuclei - truth| / truth, median per set, and the total against
  the truth's; the baseline is Otsu + watershed told the diameter read off the set's images.
- neurite sets (truth: skan length of the hand-drawn masks, px): Pearson r and median relative
  error over images with > 500 px of truth, total against truth, and the length on the images
  with no neurite; for ``neurite_length_um`` and for the field's whole skeleton
  (``look_grid.all_skeleton_um``: the same figure before and after ``neurite_length_um``
  counts border pieces, issue #16), and for ``neurite_length_um`` against the hand-drawn masks
  measured as the product measures (the shipped truth is skan's step sum, ~4 % longer); the
  baseline is Sato (sigmas 1-3 px) + Otsu + skeleton, measured as ours.

Run: ``python benchmarks/real_plates.py`` (~3 min on one core; plates and runs in
``benchmarks/out/real_plates``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from screening.config import SegmentationConfig
from screening.measure.neurites import neurite_skeleton_length

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classical import clip_bright, otsu_watershed_nuclei, sato_skeleton, typical_diameter_px  # noqa: E402
from look_grid import all_skeleton_um  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "real_plates"
SATO_SIGMAS_PX = (1, 2, 3)  # the data README's setting at these images' 0.65 µm/px
MIN_TRUTH_PX = 500  # images with more truth enter the neurite error
EMPTY_TRUTH_PX = 100  # images with less truth are the "empty" ones


def find_tool() -> Path:
    """``shared/tools/real_plates.py`` in the nearest parent folder that has one."""
    for parent in Path(__file__).resolve().parents:
        tool = parent / "shared" / "tools" / "real_plates.py"
        if tool.is_file():
            return tool
    raise FileNotFoundError("no shared/tools/real_plates.py above this repository; the real sets are needed")


def _run(command: list[str], log: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True)
    log.write_text(done.stdout + done.stderr)
    return done


def run_plates(out: Path, tool: Path) -> tuple[dict[str, float], dict[str, str]]:
    """Make the plates and run ``screening run`` on each config.

    Returns seconds per plate, and per plate whose run exited non-zero after writing
    ``fields.parquet`` (a later stage failed) the exit code and the error's last line.
    """
    made = _run([sys.executable, str(tool), "make", str(out)], out.parent / "make.log")
    if made.returncode:
        raise RuntimeError(f"{tool} make failed:\n{made.stderr[-2000:]}")
    seconds, problems = {}, {}
    for config in sorted(out.glob("*.yaml")):
        plate = config.stem
        run_dir = out / "runs" / plate
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        done = _run([sys.executable, "-m", "screening", "run", str(config), "--workers", "1"],
                    out / "runs" / f"{plate}.log")
        seconds[plate] = time.monotonic() - t0
        if not (run_dir / "fields.parquet").exists():
            raise RuntimeError(f"screening run {config} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        if done.returncode:
            last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
            problems[plate] = f"exit {done.returncode} after writing fields.parquet: {last}"
    return seconds, problems


def _image(out: Path, row) -> np.ndarray:
    return tifffile.imread(out / row.plate / f"{row.plate}_{row.well}_s{row.site}_w1.tif")


def nuclei_rows(out: Path, truth: pd.DataFrame, seconds: dict) -> list[dict]:
    rows = []
    for plate, t in truth[truth["gt_count"].notna()].groupby("plate", sort=False):
        fields = pd.read_parquet(out / "runs" / plate / "fields.parquet")
        m = t.merge(fields, on=["plate", "well", "site"], how="left")
        images = [clip_bright(_image(out, row)) for row in t.itertuples()]
        diameter = typical_diameter_px(images)
        classical = np.array([otsu_watershed_nuclei(im, diameter_px=diameter).max() for im in images], float)
        gt = t["gt_count"].to_numpy(float)
        for method, found in (("screening run (n_nuclei)", m["n_nuclei"].to_numpy(float)),
                              (f"classical: Otsu + watershed, diameter {diameter:.1f} px read off", classical)):
            rel = np.abs(found - gt) / gt
            rows.append({
                "set": plate, "images": len(t), "method": method, "median rel. count error": f"{np.median(rel):.3f}",
                "total / truth": f"{np.nansum(found) / gt.sum():.3f}",
                "worst image": f"{t['source'].iloc[int(np.nanargmax(rel))]} ({np.nanmax(rel):.2f})",
                "s (run)": f"{seconds.get(plate, np.nan):.0f}" if method.startswith("screening") else "",
            })
    return rows


# The neurite plates' data folders, for the hand-drawn masks (the truth measured as ours).
NEURITE_SETS = {"NEU2": "neurites_deepneurite", "NEUT": "neurites_deepneurite_train"}


def truth_measured_as_ours(data: Path, plate: str, sources: pd.Series) -> np.ndarray:
    """Each image's hand-drawn mask measured as the product measures a skeleton (px).

    The sets' truth (``gt_length_px``) is skan's ``branch_distance``: a sum of 1 and sqrt(2) px
    steps, which reads lines ~4 % long; ``neurite_skeleton_length`` averages the path over three
    pixels first (docs/measurements.md). Scoring against both shows what is the estimator's.
    """
    folder = data / NEURITE_SETS[plate] / "label"
    return np.array([neurite_skeleton_length(tifffile.imread(folder / name) > 0, pixel_size_um=1.0)
                     for name in sources])


def neurite_rows(out: Path, truth: pd.DataFrame, seconds: dict, data: Path) -> list[dict]:
    rows = []
    min_length = SegmentationConfig().min_neurite_length_um
    for plate, t in truth[truth["gt_length_px"].notna()].groupby("plate", sort=False):
        fields = pd.read_parquet(out / "runs" / plate / "fields.parquet")
        m = t.merge(fields, on=["plate", "well", "site"], how="left")
        px = m["pixel_size_um"].to_numpy(float)
        classical = np.array([
            sato_skeleton(clip_bright(_image(out, row)), pixel_size_um=p, min_length_um=min_length,
                          sigmas_px=SATO_SIGMAS_PX)[1]
            for row, p in zip(t.itertuples(), px, strict=True)
        ]) / px
        shipped = t["gt_length_px"].to_numpy(float)
        big, empty = shipped > MIN_TRUTH_PX, shipped < EMPTY_TRUTH_PX
        ours = m["neurite_length_um"].to_numpy(float) / px
        for method, found, gt in (("screening run: neurite_length_um", ours, shipped),
                                  ("screening run: all skeleton parts", all_skeleton_um(m).to_numpy(float) / px, shipped),
                                  ("screening run: neurite_length_um, truth measured as ours", ours,
                                   truth_measured_as_ours(data, plate, t["source"])),
                                  ("classical: Sato + Otsu + skan", classical, shipped)):
            found = np.nan_to_num(found)
            rows.append({
                "set": plate, "images": f"{len(t)} ({int(big.sum())} > {MIN_TRUTH_PX} px)", "method": method,
                "Pearson r": f"{np.corrcoef(found, gt)[0, 1]:.3f}",
                "median rel. error": f"{np.median(np.abs(found[big] - gt[big]) / gt[big]):.3f}",
                "total / truth": f"{found.sum() / gt.sum():.3f}",
                "empty images (px)": ", ".join(f"{v:.0f}" for v in found[empty]) or "none in the set",
                "s (run)": f"{seconds.get(plate, np.nan):.0f}" if method == "screening run: neurite_length_um" else "",
            })
    return rows


def to_markdown(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    return "\n".join(lines + ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the plates and runs")
    args = parser.parse_args()
    tool = find_tool()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    seconds, problems = run_plates(out, tool)
    scored = subprocess.run([sys.executable, str(tool), "score", str(out)], capture_output=True, text=True)
    truth = pd.read_csv(out / "truth.csv")
    print("### Nuclei sets through `screening run`\n")
    print(to_markdown(nuclei_rows(out, truth, seconds)))
    print("\n### Neurite sets through `screening run`\n")
    print(to_markdown(neurite_rows(out, truth, seconds, tool.parents[1] / "data")))
    for plate, problem in problems.items():
        print(f"\n**{plate}: `screening run` {problem}** (log: {out / 'runs' / plate}.log)")
    print(f"\n`{tool.name} score` says:\n\n```\n{scored.stdout.strip()}{scored.stderr.strip()}\n```")
    print(f"\n({time.monotonic() - t0:.0f} s in all)")


if __name__ == "__main__":
    main()
