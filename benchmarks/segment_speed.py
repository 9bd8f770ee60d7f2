"""Speed of one field's measurement, single-threaded: ours against the classical ridge-filter baseline.

Fields are simulated two-channel (reporter + nuclei) uint16 fields of the ``small`` preset's
culture at 1024² and 2048² px (0.65 µm/px). For each size and method: seconds per field,
fields/s per core and the peak memory allocated while measuring one field (tracemalloc,
which sees numpy's buffers). A second table splits our time into steps (which one dominates).

- ``screening``: :func:`screening.measure.measure_field` (nuclei, motor-neuron count, neurite
  mask + skeleton + skan lengths + per-soma assignment, field QC) with the plate's calibration:
  everything the pipeline does per field. The calibration itself
  (:func:`screening.segment.calibration.calibrate` on the config's ``calibration_fields``) runs once
  per plate; its time is printed apart, and per field of a 96-well × 4-site × 6-timepoint plate.
- ``baseline``: Otsu + distance-transform watershed nuclei, positive by an Otsu threshold on
  the reporter; neurites by a Sato ridge filter (sigmas 1-3 px) + Otsu + skeletonize + skan.

Run: ``python benchmarks/segment_speed.py [--quick]`` (single-threaded: the script pins BLAS,
OpenMP, numba and OpenCV to one thread).
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"

import argparse
import dataclasses
import functools
import sys
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
from skimage import filters
from skimage.morphology import skeletonize

from screening.config import RunConfig
from screening.measure.field import calibrate_fields, field_neurites, measure_field
from screening.measure.neurites import skeleton_lengths
from screening.measure.qc import focus_score, foreground_mask
from screening.segment.background import estimate_background
from screening.segment.nuclei import segment_nuclei
from screening.segment.somata import count_motor_neurons

cv2.setNumThreads(1)  # OpenCV's pool too: one core
sys.path.insert(0, str(Path(__file__).resolve().parent))
from segment_accuracy import baseline_count

PX_UM = 0.65
CONFIG = RunConfig(
    name="speed", channels={"reporter": "w1", "nuclei": "w2"}, plates=[{"id": "P", "path": ".", "layout": "l.csv"}]
)


def fields(size: int, n: int) -> list[dict]:
    """``n`` simulated two-channel fields of ``size``² px (uint16)."""
    from screening.simulate import build_screen, get_preset, render_field

    preset = get_preset("small")
    imaging = dataclasses.replace(preset.imaging, field_shape=(size, size))
    screen = build_screen(dataclasses.replace(preset, name=f"small-{size}", imaging=imaging), 0)
    out = []
    for i in range(n):
        r = render_field(screen, i, 3)
        out.append({"reporter": r.images["w1"], "nuclei": r.images["w2"], "neurites": r.images["w1"]})
    return out


def ours(channels: dict, calibration=None) -> None:
    measure_field(channels, CONFIG, pixel_size_um=PX_UM, calibration=calibration)


def calibration_seconds(items) -> tuple[float, object]:
    """Seconds to calibrate one plate on ``calibration_fields`` of ``items`` (cycled), and the calibration."""
    n = CONFIG.segmentation.calibration_fields
    sample = [items[i % len(items)] for i in range(n)]
    t0 = time.perf_counter()
    calibration = calibrate_fields(sample, CONFIG.segmentation, pixel_size_um=PX_UM)
    return time.perf_counter() - t0, calibration


def baseline(channels: dict) -> None:
    baseline_count(channels["reporter"], channels["nuclei"], pixel_size_um=PX_UM)
    image = channels["neurites"].astype(np.float32)
    ridge = filters.sato(image, sigmas=(1, 2, 3), black_ridges=False)
    skeleton = skeletonize(ridge > filters.threshold_otsu(ridge))
    try:  # skan Skeleton + summarize
        skeleton_lengths(skeleton, pixel_size_um=PX_UM)
    except ValueError:  # skan fails on a skeleton of isolated pixels; the baseline's time is spent
        pass


def time_method(method, items) -> tuple[float, float]:
    """(seconds per field, peak MB of one field)."""
    method(items[0])  # warm-up: imports, numba compilation
    t0 = time.perf_counter()
    for channels in items:
        method(channels)
    seconds = (time.perf_counter() - t0) / len(items)
    tracemalloc.start()
    method(items[0])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20


def steps(items, calibration) -> dict[str, float]:
    """Our seconds per field split by step."""
    seg = calibration.segmentation(CONFIG.segmentation)
    total = {"field QC (focus, saturation, foreground)": 0.0, "nuclei": 0.0, "motor neurons": 0.0,
             "neurites (mask, skeleton, skan, assignment)": 0.0}
    for ch in items:
        t0 = time.perf_counter()
        for key in ("reporter", "nuclei"):
            focus_score(ch[key], pixel_size_um=PX_UM, mask=foreground_mask(ch[key], pixel_size_um=PX_UM))
        t1 = time.perf_counter()
        labels = segment_nuclei(ch["nuclei"], pixel_size_um=PX_UM, nucleus_diameter_um=seg.nucleus_diameter_um,
                                background_radius_um=seg.background_radius_um)
        t2 = time.perf_counter()
        count = count_motor_neurons(ch["reporter"], ch["nuclei"], pixel_size_um=PX_UM, nuclei_labels=labels,
                                    reporter_positive_ratio=seg.reporter_positive_ratio, calibration=calibration,
                                    **calibration.sizes())
        t3 = time.perf_counter()
        bg = estimate_background(ch["neurites"], radius_um=seg.background_radius_um, pixel_size_um=PX_UM)
        field_neurites(ch["neurites"], count.soma_labels, seg, pixel_size_um=PX_UM, background=bg)
        t4 = time.perf_counter()
        for key, dt in zip(total, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            total[key] += dt
    return {k: v / len(items) for k, v in total.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer fields")
    args = parser.parse_args()
    sizes = {1024: 2 if args.quick else 6, 2048: 1 if args.quick else 3}
    print("| field (2 channels, uint16) | method | s per field | fields/s per core | peak MB per field | speed-up |")
    print("|---|---|---|---|---|---|")
    step_rows, calibration_rows = {}, {}
    for size, n in sizes.items():
        items = fields(size, n + 1)
        calibration_rows[size], calibration = calibration_seconds(items)
        s_base, mb_base = time_method(baseline, items)
        s_ours, mb_ours = time_method(functools.partial(ours, calibration=calibration), items)
        print(f"| {size}² | baseline: Otsu+watershed nuclei, Sato+Otsu neurites | {s_base:.2f} | {1 / s_base:.2f} | {mb_base:.0f} | 1.0x |")
        print(f"| {size}² | screening `measure_field` | {s_ours:.2f} | {1 / s_ours:.2f} | {mb_ours:.0f} | {s_base / s_ours:.1f}x |")
        step_rows[size] = steps(items[:n], calibration)
    plate_fields = 96 * 4 * 6
    print("\n| calibration, once per plate | " + " | ".join(f"{s}²" for s in calibration_rows) + " |")
    print("|---|" + "---|" * len(calibration_rows))
    print(f"| s per plate ({CONFIG.segmentation.calibration_fields} fields) | "
          + " | ".join(f"{v:.1f}" for v in calibration_rows.values()) + " |")
    print(f"| s per field of a {plate_fields}-field plate | "
          + " | ".join(f"{v / plate_fields:.4f}" for v in calibration_rows.values()) + " |")
    print("\n| step (our time per field, s) | " + " | ".join(f"{s}²" for s in step_rows) + " |")
    print("|---|" + "---|" * len(step_rows))
    for key in next(iter(step_rows.values())):
        print(f"| {key} | " + " | ".join(f"{step_rows[s][key]:.3f}" for s in step_rows) + " |")


if __name__ == "__main__":
    main()
