"""Real nuclei sets of different sources run as ONE plate through `screening run`.

The held-out suite ran dsb2018 and HeLa images together as one plate: one pixel size, one
per-plate calibration for images whose nuclei differ in size and texture. This script does the
same with ``../shared/data``: the dsb2018 image and the 4 HeLa frames (and, with ``--u2os``, the
16 U2OS images, whose nuclei are ~5x larger in pixels) are cropped to their top-left
``--size``² px (one plate needs one image shape), laid out as an ImageXpress plate, one image per
well, and run with ``screening run CONFIG --workers 1`` at each ``--pixel-um``. Truth per crop:
the ground-truth labels whose centroid (in the whole image) lies inside the crop. Printed per
source set: median |n_nuclei - truth| / truth and the total against the truth's, and the
plate's calibrated nucleus diameter.

Run: ``python benchmarks/mixed_real_plate.py`` (~1 min; plates and runs in
``benchmarks/out/mixed_real_plate``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
import yaml
from scipy import ndimage as ndi

OUT = Path(__file__).resolve().parent / "out" / "mixed_real_plate"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ROWS = "ABCDEFGH"


def sources(data: Path, u2os: bool) -> list[tuple[str, Path, Path]]:
    """(set, image, ground-truth labels) of every image to put on the plate."""
    out = [("dsb2018", data / "nuclei_dsb2018" / "img2d.tif", data / "nuclei_dsb2018" / "mask2d.tif")]
    out += [("HeLa", f, data / "nuclei_hela" / "gt" / f"man_seg{f.stem[1:]}.tif")
            for f in sorted((data / "nuclei_hela" / "img").glob("*.tif"))]
    if u2os:
        out += [("U2OS", f, data / "nuclei_u2os" / "gt" / f.name) for f in sorted((data / "nuclei_u2os" / "img").glob("*.tif"))]
    return out


def crop_count(labels: np.ndarray, size: int) -> int:
    """Ground-truth nuclei whose centroid (in the whole image) lies in the top-left ``size``² crop."""
    ids = np.unique(labels)[1:]
    if ids.size == 0:
        return 0
    centre = np.asarray(ndi.center_of_mass(np.ones_like(labels), labels, ids)).reshape(-1, 2)
    return int(((centre[:, 0] < size) & (centre[:, 1] < size)).sum())


def make_plate(folder: Path, items: list[tuple[str, Path, Path]], size: int, pixel_um: float) -> tuple[Path, pd.DataFrame]:
    """Write the cropped plate, its layout and run config; return the config and the truth table."""
    plate = folder / "MIX"
    plate.mkdir(parents=True, exist_ok=True)
    truth, layout = [], []
    for i, (name, image, gt) in enumerate(items):
        well = f"{ROWS[i // 12]}{i % 12 + 1:02d}"
        tifffile.imwrite(plate / f"MIX_{well}_s1_w1.tif", tifffile.imread(image)[:size, :size])
        truth.append({"well": well, "site": 1, "set": name, "source": image.name,
                      "gt_count": crop_count(tifffile.imread(gt), size)})
        layout.append({"well": well, "patient": "R1", "compound": "DMSO", "concentration_um": 0.0, "role": "vehicle"})
    pd.DataFrame(layout).to_csv(plate / "layout.csv", index=False)
    config = {"name": "mixed-real", "output": str(folder / "run"), "pixel_size_um": pixel_um,
              "channels": {"reporter": "w1", "nuclei": "w1"}, "timepoints": {1: 0},
              "plates": [{"id": "MIX", "path": str(plate), "format": "imagexpress", "layout": str(plate / "layout.csv")}]}
    path = folder / "MIX.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, pd.DataFrame(truth)


def score(folder: Path, truth: pd.DataFrame) -> pd.DataFrame:
    """Median relative count error and total against truth, per source set."""
    fields = pd.read_parquet(folder / "run" / "fields.parquet")
    m = truth.merge(fields, on=["well", "site"], how="left")
    m["rel"] = (m["n_nuclei"] - m["gt_count"]).abs() / m["gt_count"]
    return m.groupby("set", sort=False).agg(images=("rel", "size"), median_rel_error=("rel", "median"),
                                            counted=("n_nuclei", "sum"), truth=("gt_count", "sum"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pixel-um", type=float, nargs="+", default=[0.422, 0.5, 0.645],
                        help="pixel sizes the plate is run at (dsb2018's 10 µm rule, between, HeLa's own)")
    parser.add_argument("--size", type=int, default=512, help="crop side, px (dsb2018's image is 512²)")
    parser.add_argument("--u2os", action="store_true", help="add the U2OS images (nuclei ~5x larger in px)")
    args = parser.parse_args()
    items = sources(DATA, args.u2os)
    print("| pixel µm | set | images | median rel. count error | counted / truth | calibrated nucleus µm |")
    print("|---|---|---|---|---|---|")
    for px in args.pixel_um:
        folder = OUT / f"px{px}{'-u2os' if args.u2os else ''}"
        shutil.rmtree(folder, ignore_errors=True)
        config, truth = make_plate(folder, items, args.size, px)
        done = subprocess.run([sys.executable, "-m", "screening", "run", str(config), "--workers", "1"],
                              capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"screening run {config} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        nucleus = pd.read_csv(folder / "run" / "calibration.csv")["nucleus_diameter_um"].iloc[0]
        for name, r in score(folder, truth).iterrows():
            print(f"| {px} | {name} | {r.images} | {r.median_rel_error:.3f} | {r.counted:.0f} / {r.truth:.0f} | {nucleus:.1f} |")


if __name__ == "__main__":
    main()
