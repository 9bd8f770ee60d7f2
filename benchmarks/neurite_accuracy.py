"""Neurite length accuracy and speed: this project's ridge mask against two classical baselines.

Data sets (see ../shared/data/README.md; nominal pixel sizes, since the files carry none):

- ``neurites_deepneurite`` (14 images, 0.65 µm/px): axons among PC3 cells. 0.65 µm/px is the
  20x objective with a 2x2-binned sCMOS these screens use, and it fits what the images show:
  axons ~3 px (2 µm) wide, the neuron soma in -61 ~30 px (20 µm), PC3 cells 40-80 px (25-50 µm).
  Truth: skan length of the hand-drawn masks (px).
- ``neurites_neuronj`` (0.65 µm/px, same reasoning: soma ~30 px, neurites 2-4 px wide). Each of
  the 4 traced neurites counts as recovered when the skeleton path between its traced end
  points (shortest path along the skeleton graph) is within 15 % of the traced length.
- simulated fields (``screening.simulate.sample_fields``; the preset's own pixel size):
  truth is the true visible arbor length, µm.

Methods, all measured by skan ``branch_distance`` on a skeleton:
``screening`` (:func:`screening.measure.field.field_neurites`, no soma labels),
``otsu`` (global Otsu threshold), ``sato`` (Sato ridge filter, sigmas 1-3 px, then Otsu).

Run: ``python benchmarks/neurite_accuracy.py [--quick] [--field-only]``; :func:`neurite_rows` returns the
table rows for ``benchmarks/segment_accuracy.py``.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from scipy.sparse.csgraph import dijkstra
from skimage import filters
from skimage.morphology import skeletonize

from screening.config import SegmentationConfig
from screening.measure.field import field_neurites
from screening.measure.neurites import skeleton_lengths

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classical import sato_skeleton  # noqa: E402
from real_plates import truth_measured_as_ours  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEEPNEURITE_PX_UM = 0.65
NEURONJ_PX_UM = 0.65
EMPTY_IMAGES = ("xonaopt3-PC3-2-64.tif", "xonaopt3-PC3-2-68.tif")
NEURONJ_TOLERANCE = 0.15


# --- methods: image -> (skeleton, length µm) ---------------------------------------------


def _ours(image, pixel_size_um, params):
    res = field_neurites(image, np.zeros(image.shape, np.int32), params, pixel_size_um=pixel_size_um)
    return res.skeleton, res.total_length_um


def _skeleton_of(mask, pixel_size_um, params):
    skel, length, _ = skeleton_lengths(
        skeletonize(mask), pixel_size_um=pixel_size_um, min_length_um=params.min_neurite_length_um
    )
    return skel, length


def _otsu(image, pixel_size_um, params):
    img = image.astype(np.float32)
    return _skeleton_of(img > filters.threshold_otsu(img), pixel_size_um, params)


def _sato(image, pixel_size_um, params):
    return sato_skeleton(image, pixel_size_um=pixel_size_um, min_length_um=params.min_neurite_length_um)


METHODS = {"screening": _ours, "otsu": _otsu, "sato": _sato}


# --- data sets -------------------------------------------------------------------------


def _deepneurite():
    """(file, image, truth px, truth px measured as ours) of each DeepNeurite image
    (:func:`real_plates.truth_measured_as_ours` says why two truths)."""
    folder = DATA / "neurites_deepneurite"
    truth = pd.read_csv(folder / "gt_lengths.csv")
    as_ours = truth_measured_as_ours(DATA, "NEU2", truth["file"])
    for row, ours in zip(truth.itertuples(), as_ours, strict=True):
        yield row.file, tifffile.imread(folder / "image" / row.file), float(row.skan_branch_distance_px), ours


def _neuronj_image():
    page = tifffile.TiffFile(DATA / "neurites_neuronj" / "neurites.tif").pages[0]
    index = page.asarray()
    # Palette image: the intensity is the palette's green value, not the index.
    return page.colormap[1][index].astype(np.float32) / 257.0 if page.colormap is not None else index


def _neuronj_tracings():
    """(x, y) vertex arrays of each traced segment in ``neurites.ndf``."""
    text = (DATA / "neurites_neuronj" / "neurites.ndf").read_text().splitlines()
    tracings, current = [], None
    for line in text:
        if line.startswith("// Segment"):
            current = []
            tracings.append(current)
        elif line.startswith("//"):
            current = None
        elif current is not None and re.fullmatch(r"-?\d+(\.\d+)?", line.strip()):
            current.append(float(line))
    return [np.asarray(t).reshape(-1, 2) for t in tracings if len(t) >= 4]


def _path_error(skeleton, xy, pixel_size_um):
    """Relative error of the skeleton path between the traced end points vs the traced length."""
    traced = float(np.sum(np.hypot(*np.diff(xy, axis=0).T)))
    built = skeleton_lengths(skeleton, pixel_size_um=1.0)[2]
    if built is None:
        return traced, np.nan, np.inf
    graph = built[0]
    coords = graph.coordinates
    ends = []
    # A skeleton that stops short of a traced tip snaps to it from up to the tolerance
    # (15 % of the traced length) away; the missing stretch then counts in the error.
    for x, y in (xy[0], xy[-1]):
        d = np.hypot(coords[:, 0] - y, coords[:, 1] - x)
        ends.append(int(np.argmin(d)) if d.min() <= NEURONJ_TOLERANCE * traced else None)
    if None in ends:
        return traced, np.nan, np.inf
    found = float(dijkstra(graph.graph, directed=False, indices=ends[0])[ends[1]])
    return traced, found, abs(found - traced) / traced if np.isfinite(found) else np.inf


def _time_per_512(method, image, pixel_size_um, params, repeats=2):
    method(image, pixel_size_um, params)
    t0 = time.process_time()
    for _ in range(repeats):
        method(image, pixel_size_um, params)
    per_call = (time.process_time() - t0) / repeats
    return 1000 * per_call * (512 * 512) / image.size


def _sim_fields(seeds, n, presets):
    from screening.simulate.render import sample_fields

    for preset in presets:
        for seed in seeds:
            for f in sample_fields(preset, seed=seed, n=n):
                yield preset, seed, f


def neurite_rows(*, quick: bool = False, params: SegmentationConfig | None = None) -> list[dict]:
    """One row per method x data set: Pearson r, median relative error and extras.

    Parameters
    ----------
    quick : bool
        Fewer simulated fields (for a check while developing).
    params : SegmentationConfig, optional
        Defaults if omitted.

    Returns
    -------
    list of dict
        Keys ``method, dataset, n, pearson_r, median_rel_error, empty_lengths_px,
        neuronj_path_errors, ms_per_512``.
    """
    params = params or SegmentationConfig()
    rows = []
    deep = list(_deepneurite())
    nj_image, nj_traces = _neuronj_image(), _neuronj_tracings()
    sim = list(_sim_fields(seeds=(0, 1, 2), n=4 if quick else 12, presets=("small", "hard")))
    for name, method in METHODS.items():
        px = DEEPNEURITE_PX_UM
        lengths = np.array([method(img, px, params)[1] / px for _, img, *_ in deep])
        files = [f for f, *_ in deep]
        empty = {f: lengths[files.index(f)] for f in EMPTY_IMAGES}
        for column, dataset in ((2, "deepneurite (14)"), (3, "deepneurite (14), truth measured as ours")):
            truth = np.array([d[column] for d in deep])
            big = truth > 500
            rel = np.abs(lengths - truth) / np.where(truth > 0, truth, np.nan)
            rows.append(
                {
                    "method": name,
                    "dataset": dataset,
                    "n": len(deep),
                    "pearson_r": float(np.corrcoef(lengths, truth)[0, 1]),
                    "median_rel_error": float(np.median(rel[big])),
                    "empty_lengths_px": ", ".join(f"{v:.0f}" for v in empty.values()) if column == 2 else "",
                    "neuronj_path_errors": "",
                    "ms_per_512": _time_per_512(method, deep[0][1], px, params) if column == 2 else np.nan,
                }
            )
        skel, total = method(nj_image, NEURONJ_PX_UM, params)
        errors = [_path_error(skel, xy, NEURONJ_PX_UM)[2] for xy in nj_traces]
        rows.append(
            {
                "method": name,
                "dataset": "neuronj (4 paths)",
                "n": len(errors),
                "pearson_r": np.nan,
                "median_rel_error": float(np.median(errors)),
                "empty_lengths_px": f"total {total / NEURONJ_PX_UM:.0f}",
                "neuronj_path_errors": ", ".join(f"{e:.2f}" for e in errors)
                + f" ({sum(e <= NEURONJ_TOLERANCE for e in errors)}/{len(errors)} within 15 %)",
                "ms_per_512": np.nan,
            }
        )
        for preset in ("small", "hard"):
            chosen = [f for p, _, f in sim if p == preset]
            if not chosen:
                continue
            spx = chosen[0].truth.get("pixel_size_um", None) or _preset_px(preset)
            got = np.array([method(f.images["w1"], spx, params)[1] for f in chosen])
            want = np.array([float(f.truth["neurite_length_um"]) for f in chosen])
            ok = want > 0
            rows.append(
                {
                    "method": name,
                    "dataset": f"simulated {preset} (seeds 0-2)",
                    "n": len(chosen),
                    "pearson_r": float(np.corrcoef(got, want)[0, 1]),
                    "median_rel_error": float(np.median(np.abs(got[ok] - want[ok]) / want[ok])),
                    "empty_lengths_px": "",
                    "neuronj_path_errors": f"bias {np.sum(got) / np.sum(want) - 1:+.1%}",
                    "ms_per_512": _time_per_512(method, chosen[0].images["w1"], spx, params, repeats=1),
                }
            )
    return rows


def measure_field_rows(
    *, presets=("small", "hard"), seeds=(0, 1, 2), n: int = 16, config=None
) -> list[dict]:
    """Neurite length through :func:`screening.measure.field.measure_field` on simulated fields.

    The same fields, configuration, calibration and truth as the neurite rows of
    ``benchmarks/segment_accuracy.py`` (``sample_fields(preset, seed, n)``, reporter + nuclei,
    the reporter as neurite channel, each screen calibrated on its first-timepoint fields;
    truth: all visible neurite in the field, ``neurite_length_all_um``, the definition of
    ``neurite_length_um``), without its count, baseline and QC work: ~1 min for both presets
    instead of ~10.

    Returns
    -------
    list of dict
        One row per preset: ``dataset, n, median_rel_error, bias, pearson_r, s_per_field``.
    """
    from segment_accuracy import plate_calibration  # benchmarks/ is on the path: this script's folder

    from screening.config.run import RunConfig
    from screening.measure.field import measure_field
    from screening.simulate import build_screen, sample_fields

    config = config or RunConfig(
        name="bench",
        channels={"reporter": "w1", "nuclei": "w2"},
        plates=[{"id": "P", "path": ".", "layout": "l.csv"}],
    )
    rows = []
    for preset in presets:
        px = _preset_px(preset)
        got, want, seconds = [], [], 0.0
        for seed in seeds:
            calibration = plate_calibration(build_screen(preset, seed))
            for f in sample_fields(preset, seed=seed, n=n):
                channels = {"reporter": f.images["w1"], "nuclei": f.images["w2"], "neurites": f.images["w1"]}
                t0 = time.process_time()
                row = measure_field(channels, config, pixel_size_um=px, calibration=calibration).row
                seconds += time.process_time() - t0
                got.append(row["neurite_length_um"])
                want.append(float(f.truth["neurite_length_all_um"]))
        got, want = np.asarray(got), np.asarray(want)
        ok = want > 0
        rows.append(
            {
                "dataset": f"simulated {preset}, seeds {seeds[0]}-{seeds[-1]} ({len(got)} fields)",
                "n": len(got),
                "median_rel_error": float(np.median(np.abs(got[ok] - want[ok]) / want[ok])),
                "bias": float(got.sum() / want.sum() - 1),
                "pearson_r": float(np.corrcoef(got, want)[0, 1]),
                "s_per_field": seconds / len(got),
            }
        )
    return rows


def _preset_px(preset):
    from screening.simulate import get_preset

    return get_preset(preset).imaging.pixel_size_um


def to_markdown(rows: list[dict]) -> str:
    head = "| method | data set | n | Pearson r | median rel. error | empty images (px) / total | NeuronJ path errors / bias | ms per 512² |"
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        fmt = lambda v, p: "" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{p}f}"
        lines.append(
            f"| {r['method']} | {r['dataset']} | {r['n']} | {fmt(r['pearson_r'], 3)} | {fmt(r['median_rel_error'], 3)} "
            f"| {r['empty_lengths_px']} | {r['neuronj_path_errors']} | {fmt(r['ms_per_512'], 0)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer simulated fields")
    parser.add_argument(
        "--field-only",
        action="store_true",
        help="only the measure_field neurite rows on simulated small and hard (~1 min)",
    )
    args = parser.parse_args()
    if not args.field_only:
        print(to_markdown(neurite_rows(quick=args.quick)))
        print()
    print("| data set (measure_field, reporter + nuclei) | n | median rel. error | total bias | Pearson r | s per field |")
    print("|---|---|---|---|---|---|")
    for r in measure_field_rows(seeds=(0,) if args.quick else (0, 1, 2)):
        print(
            f"| {r['dataset']} | {r['n']} | {r['median_rel_error']:.3f} | {r['bias']:+.1%} | {r['pearson_r']:.4f} "
            f"| {r['s_per_field']:.2f} |"
        )


if __name__ == "__main__":
    main()
