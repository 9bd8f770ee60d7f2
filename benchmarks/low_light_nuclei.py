"""Nuclei in low light, through `screening run`: colonies of touching nuclei of widely spread brightness.

Nuclei marked by a fluorescent fusion protein and imaged with little light (live-cell confocal,
as in the Cell Tracking Challenge's mouse ES-cell set, one of the held-out sets of issue #16)
look unlike the project's simulator: a few photons per pixel, nuclei 0.3-4x the median
brightness with no link to size, dark nucleoli, and colonies where dim nuclei press against
bright ones. This script draws such plates itself (nothing here comes from the simulator),
runs each through ``screening run`` with the defaults and only the pixel size, and counts
nuclei against the drawn ones, beside the classical baseline (``classical.py``: Otsu +
watershed told the diameter read off the images).

Each image: 1024² px at 0.24 µm/px (nuclei ~11 µm, ~45 px), two or three colonies of touching
nuclei and a few lone ones; each nucleus an ellipse with a lognormal brightness, a smooth
±20 % texture and 1-3 dark nucleoli (60 % darker, 1-1.6 µm); optical blur 1.5 px, a 30 %
gradient, Poisson (photon) noise over a background of 4 counts; 8-bit unless noted.

Run: ``python benchmarks/low_light_nuclei.py [VARIANT ...]`` (~1 min per variant on one core;
plates and runs in ``benchmarks/out/low_light``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
import yaml
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classical import clip_bright, otsu_watershed_nuclei, typical_diameter_px  # noqa: E402
from segment_accuracy import to_markdown  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "low_light"
SIDE_PX = 1024
PIXEL_SIZE_UM = 0.24
NUCLEUS_UM = 11.0
IMAGES = 8
MAX_TRIES = 10_000  # placements tried per colony and for the lone nuclei


@dataclass(frozen=True)
class Variant:
    median_counts: float = 25.0  # median nucleus brightness above background, photons per pixel
    spread: float = 0.7  # lognormal sd of nucleus brightness
    colonies: int = 2
    per_colony: int = 12
    lone: int = 6
    background: float = 4.0
    blur_px: float = 1.5
    dtype: str = "uint8"


VARIANTS = {
    "bright, 16-bit": Variant(median_counts=200.0, dtype="uint16"),
    "low light": Variant(),
    "very low light": Variant(median_counts=10.0),
    "brightness spread 1.0": Variant(spread=1.0),
    "dense colonies": Variant(colonies=3, per_colony=16, lone=2),
}


def _centres(rng, v: Variant, r_px: float) -> list[np.ndarray]:
    """Colonies grown nucleus by nucleus (each touching one already placed), then lone nuclei."""
    centres = []
    for _ in range(v.colonies):
        colony = [rng.uniform(0.25, 0.75, 2) * SIDE_PX]
        for _ in range(MAX_TRIES):  # a colony hemmed in by the others stays smaller
            if len(colony) == v.per_colony:
                break
            base = colony[rng.integers(len(colony))]
            angle = rng.uniform(0, 2 * np.pi)
            p = base + 1.85 * r_px * np.array([np.cos(angle), np.sin(angle)])
            apart = all(np.hypot(*(p - q)) > 1.7 * r_px for q in centres + colony)
            if apart and (p > r_px).all() and (p < SIDE_PX - r_px).all():
                colony.append(p)
        centres += colony
    lone = 0
    for _ in range(MAX_TRIES):
        if lone == v.lone:
            break
        p = rng.uniform(r_px, SIDE_PX - r_px, 2)
        if all(np.hypot(*(p - q)) > 2.5 * r_px for q in centres):
            centres.append(p)
            lone += 1
    return centres


def _nucleus(rng, shape, r_px: float, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Brightness and mask of one nucleus in a box of ``shape`` centred on it."""
    y, x = (np.mgrid[: shape[0], : shape[1]] - np.array(shape)[:, None, None] / 2).astype(np.float32)
    a, b, theta = r_px * rng.uniform(0.9, 1.15), r_px * rng.uniform(0.75, 0.95), rng.uniform(0, np.pi)
    u = (x * np.cos(theta) + y * np.sin(theta)) / a
    w = (-x * np.sin(theta) + y * np.cos(theta)) / b
    grain = ndi.gaussian_filter(rng.normal(size=shape), 0.15 * r_px)
    texture = 1 + 0.2 * grain / max(grain.std(), 1e-6)
    for _ in range(rng.integers(1, 4)):
        ny, nx = rng.uniform(-0.5, 0.5, 2) * r_px
        sigma = rng.uniform(1.0, 1.6) / PIXEL_SIZE_UM / 2
        texture *= 1 - 0.6 * np.exp(-((y - ny) ** 2 + (x - nx) ** 2) / (2 * sigma**2))
    return level * texture, u**2 + w**2 <= 1


def draw_image(rng, v: Variant) -> tuple[np.ndarray, int]:
    """One image and its number of nuclei."""
    r_px = NUCLEUS_UM / PIXEL_SIZE_UM / 2
    image = np.zeros((SIDE_PX, SIDE_PX), np.float32)
    taken = np.zeros(image.shape, bool)
    centres = _centres(rng, v, r_px)
    half = int(1.3 * r_px)
    for cy, cx in centres:
        y0, x0 = int(cy) - half, int(cx) - half
        box = (slice(max(y0, 0), min(y0 + 2 * half, SIDE_PX)), slice(max(x0, 0), min(x0 + 2 * half, SIDE_PX)))
        value, inside = _nucleus(rng, (2 * half, 2 * half), r_px, v.median_counts * np.exp(v.spread * rng.normal()))
        crop = (slice(box[0].start - y0, box[0].stop - y0), slice(box[1].start - x0, box[1].stop - x0))
        new = inside[crop] & ~taken[box]  # a nucleus drawn earlier stays on top
        image[box][new] = value[crop][new]
        taken[box] |= new
    gradient = 1 + 0.3 * (np.arange(SIDE_PX, dtype=np.float32) / SIDE_PX - 0.5)
    photons = (ndi.gaussian_filter(image, v.blur_px) + v.background) * gradient[None, :]
    counts = rng.poisson(np.clip(photons, 0, None))
    return np.clip(counts, 0, np.iinfo(v.dtype).max).astype(v.dtype), len(centres)


def make_plate(folder: Path, v: Variant, seed: int) -> pd.DataFrame:
    """An ImageXpress plate of ``IMAGES`` wells (one site, one timepoint) and its config; the truth."""
    plate = folder / "LOWLIGHT"
    plate.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    truth = []
    for i in range(IMAGES):
        well = f"A{i + 1:02d}"
        image, n = draw_image(rng, v)
        tifffile.imwrite(plate / f"LOWLIGHT_{well}_s1_w1.tif", image)
        truth.append({"plate": "LOWLIGHT", "well": well, "site": 1, "n_true": n})
    pd.DataFrame({"well": [t["well"] for t in truth], "patient": "P1", "compound": "DMSO",
                  "concentration_um": 0.0, "role": "vehicle"}).to_csv(plate / "layout.csv", index=False)
    config = {"name": "low-light", "output": str(folder / "run"), "pixel_size_um": PIXEL_SIZE_UM,
              "channels": {"reporter": "w1", "nuclei": "w1"}, "timepoints": {1: 0.0},
              "plates": [{"id": "LOWLIGHT", "path": str(plate), "format": "imagexpress",
                          "layout": str(plate / "layout.csv")}]}
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return pd.DataFrame(truth)


def measure_variant(name: str, v: Variant, seed: int) -> list[dict]:
    folder = OUT / name.replace(" ", "_").replace(",", "")
    if folder.exists():
        shutil.rmtree(folder)
    truth = make_plate(folder, v, seed)
    done = subprocess.run([sys.executable, "-m", "screening", "run", str(folder / "config.yaml"), "--workers", "1"],
                          capture_output=True, text=True)
    fields = folder / "run" / "fields.parquet"
    if not fields.exists():
        raise RuntimeError(f"screening run failed on {name!r} (exit {done.returncode}):\n{done.stderr[-2000:]}")
    found = truth.merge(pd.read_parquet(fields), on=["plate", "well", "site"])["n_nuclei"].to_numpy(float)
    images = [clip_bright(tifffile.imread(folder / "LOWLIGHT" / f"LOWLIGHT_{w}_s1_w1.tif")) for w in truth["well"]]
    diameter = typical_diameter_px(images)
    classical = np.array([otsu_watershed_nuclei(im, diameter_px=diameter).max() for im in images], float)
    n_true = truth["n_true"].to_numpy(float)
    rows = []
    for method, got in (("screening run", found), (f"classical, diameter {diameter:.0f} px read off", classical)):
        rows.append({
            "look": name, "method": method, "nuclei (truth)": f"{got.sum():.0f} ({n_true.sum():.0f})",
            "median rel. count error": f"{np.median(np.abs(got - n_true) / n_true):.3f}",
            "total / truth": f"{got.sum() / n_true.sum():.3f}",
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", default=list(VARIANTS), help="looks to run (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown look(s) {sorted(unknown)}; choose from {list(VARIANTS)}")
    print(to_markdown([row for name in args.variants for row in measure_variant(name, VARIANTS[name], args.seed)]))


if __name__ == "__main__":
    main()
