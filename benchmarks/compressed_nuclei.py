"""Nuclei counts on the real U2OS set saved as JPEG, against the same images uncompressed.

Public image sets often come as JPEG. Compression removes the pixel noise that neighbour
differences read, so noise-scaled thresholds fall. This measures how far counts move, on
``segment_nuclei`` with the sizes ``screening run`` calibrates on the U2OS plate
(``real_plates.py``: 0.091 µm/px, nucleus 8.8 µm, background radius 50 µm, median nucleus
area 78.7 µm² for the cut by size).

Run: ``python benchmarks/compressed_nuclei.py`` (~1 min); needs ``../shared/data/nuclei_u2os``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from PIL import Image

from screening.segment.nuclei import noise_sigma, segment_nuclei

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nuclei_u2os"
SIZES = dict(pixel_size_um=0.091, nucleus_diameter_um=8.8, background_radius_um=50.0, typical_area_um2=78.7)
QUALITIES = (None, 75, 40)


def as_jpeg(image: np.ndarray, quality: int | None) -> np.ndarray:
    """``image`` (uint8) after a JPEG round trip at ``quality`` (None: unchanged)."""
    if quality is None:
        return image
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer))


def main() -> None:
    truth = pd.read_csv(DATA / "counts.csv").set_index("image")["n_nuclei"]
    rows = []
    for path in sorted((DATA / "img").glob("*.tif")):
        image = tifffile.imread(path)
        row = {"image": path.stem, "truth": int(truth[path.stem])}
        for q in QUALITIES:
            compressed = as_jpeg(image, q)
            row[f"count {q or 'tiff'}"] = int(segment_nuclei(compressed, **SIZES).max())
            row[f"noise {q or 'tiff'}"] = round(noise_sigma(compressed), 2)
        rows.append(row)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    print("\n| image format | median rel. count error | total / truth | pixel noise read (median, grey levels) |")
    print("|---|---|---|---|")
    for q in QUALITIES:
        key = q or "tiff"
        err = (table[f"count {key}"] - table["truth"]).abs() / table["truth"]
        label = "TIFF" if q is None else f"JPEG quality {q}"
        print(f"| {label} | {err.median():.3f} | {table[f'count {key}'].sum() / table['truth'].sum():.3f} "
              f"| {table[f'noise {key}'].median():.2f} |")


if __name__ == "__main__":
    main()
