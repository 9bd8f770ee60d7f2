"""Simulated plates exported the way images often leave a microscope: 8-bit, or 8-bit JPEG.

A lab's images are not always the camera's 16-bit TIFFs: an 8-bit export with the display range
set by auto-contrast, or a JPEG of it, is common in shared and older data. This takes cached
``look_grid.py`` plates (run that first), rewrites every TIFF as such an export, runs
``screening run`` on the copy with the same config, and scores it against the same truth as
the original (``look_grid.scores``: in-focus fields, count error vs max(true, 20), bias, r).

Export: per plate and channel, the 0.1th-99.9th percentile of a sample of fields is stretched to
0-255 (auto-contrast), rounded and clipped; ``jpeg`` then writes it with PIL at quality 75 and
reads it back into the TIFF.

Run: ``python benchmarks/exported_plates.py [LOOK ...]`` (default: middle, noisy camera, pixel
1.3 µm; ~1 min per look and export once the look grid's plates are cached).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compressed_nuclei import as_jpeg  # noqa: E402
from look_grid import GRID, folder, run_screening, scores  # noqa: E402

EXPORTS = ("16-bit", "8-bit", "8-bit JPEG q75")
DEFAULT_LOOKS = ["middle", "noisy camera, high background", "pixel 1.3 µm"]
_RANGE_PERCENTILES = (0.1, 99.9)
_SAMPLE_FIELDS = 24


def display_range(paths: list[Path]) -> tuple[float, float]:
    """Auto-contrast range (low, high) of a channel from a sample of its fields."""
    step = max(len(paths) // _SAMPLE_FIELDS, 1)
    sample = np.concatenate([tifffile.imread(p)[::4, ::4].ravel() for p in paths[::step]])
    low, high = np.percentile(sample, _RANGE_PERCENTILES)
    return float(low), float(max(high, low + 1))


def export(image: np.ndarray, low: float, high: float, jpeg: bool) -> np.ndarray:
    out = np.clip(np.round((image.astype(np.float64) - low) * 255.0 / (high - low)), 0, 255).astype(np.uint8)
    return as_jpeg(out, 75) if jpeg else out


def exported_plate(plate: Path, target: Path, jpeg: bool) -> Path:
    """Copy of the look's plate (its config's paths are relative) with every TIFF exported."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(plate, target, ignore=shutil.ignore_patterns("*.TIF", "*.tif"))
    tiffs = sorted(p for p in plate.rglob("*") if p.suffix.lower() == ".tif")
    by_channel: dict[str, list[Path]] = {}
    for p in tiffs:
        by_channel.setdefault(p.stem.rsplit("_", 1)[-1], []).append(p)
    for paths in by_channel.values():
        low, high = display_range(paths)
        for p in paths:
            tifffile.imwrite(target / p.relative_to(plate), export(tifffile.imread(p), low, high, jpeg))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("looks", nargs="*", default=DEFAULT_LOOKS, help="look_grid looks: " + ", ".join(GRID))
    args = parser.parse_args()
    print("| look | export | fields | MN error | MN bias | MN r | nuclei bias |")
    print("|---|---|---|---|---|---|---|")
    for key in args.looks:
        plate = folder(key) / "plate"
        if not (plate / "config.yaml").exists():
            sys.exit(f"{plate} is missing: run `python benchmarks/look_grid.py --looks '{key}'` first")
        truth = pd.read_csv(plate / "truth" / "fields.csv")
        for name in EXPORTS:
            if name == "16-bit":
                run_plate = plate
            else:
                run_plate = exported_plate(plate, folder(key) / name.replace(" ", "_"), jpeg="JPEG" in name)
            fields, _ = run_screening(run_plate, run_plate.parent / f"run_{name.replace(' ', '_')}")
            s = scores(truth, fields)
            n = scores(truth.assign(n_neurons=truth["n_nuclei"]), fields, count="n_nuclei")
            print(f"| {key} | {name} | {s['fields']} | {s['count error']:.3f} | {s['bias']:+.1%} | "
                  f"{s['count r']:.3f} | {n['bias']:+.1%} |", flush=True)


if __name__ == "__main__":
    main()
