"""How fast the napari QC plugin opens a 384-well run and shows wells.

Builds a 384-well run folder (16 x 24 wells, 2 sites, the simulator's 6 days, 512 x 512 px
fields): the images are a pool of fields rendered by the simulator (preset ``small``),
linked under a distinct path per well, site, timepoint and channel so the plugin's
per-path caches never help; counts come from the simulator's truth and the tables from
the library (``score_run``). Then it opens the run in the "Run QC" widget and clicks
through 20 wells, timing each from the click until napari has drawn the well's images,
and until the shown field's overlays (segmented by ``measure_field`` in the widget's
background thread) are drawn too.

Usage (needs a display; wrap it in ``xvfb-run -a`` on a headless machine)::

    python benchmarks/plugin_speed.py [--wells 20] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

N_ROWS, N_COLS, SITES = 16, 24, 2


def _row(i: int) -> str:
    return chr(65 + i)


def render_pool(n_fields: int, out: Path) -> tuple[list[dict], tuple[float, ...]]:
    """Render ``n_fields`` simulated fields at every timepoint; returns per-field file paths and counts."""
    from screening.simulate import build_screen
    from screening.simulate.render import render_field

    screen = build_screen("small", seed=0)
    days = tuple(float(d) for d in screen.days)
    pool = []
    for f in range(min(n_fields, len(screen.fields))):
        entry = {"w1": [], "w2": [], "n": []}
        for t in range(1, len(days) + 1):
            field = render_field(screen, f, t)
            for ch in ("w1", "w2"):
                path = out / f"pool_f{f}_t{t}_{ch}.tif"
                tifffile.imwrite(path, field.images[ch])
                entry[ch].append(path)
            entry["n"].append(float(field.truth["n_neurons"]))
        pool.append(entry)
    return pool, days


def make_run(root: Path, n_pool: int = 12) -> Path:
    """A scored 384-well run folder under ``root`` (see the module docstring)."""
    from screening.config import parse_config
    from screening.run.pipeline import score_run

    pool_dir = root / "pool"
    pool_dir.mkdir(parents=True, exist_ok=True)
    pool, days = render_pool(n_pool, pool_dir)
    plate_dir = root / "PLATE384"
    layout, rows = [], []
    rng = np.random.default_rng(0)
    for r in range(N_ROWS):
        patient = "pt1" if r < N_ROWS // 2 else "pt2"
        for c in range(N_COLS):
            well = f"{_row(r)}{c + 1:02d}"
            if c in (0, 1):
                entry = (patient, "DMSO", 0.0, "vehicle")
            elif c == 22:
                entry = (patient, "kenpaullone", 5.0, "positive_control")
            elif c == 23:
                layout.append((well, "", "", "", "empty"))
                continue
            else:
                entry = (patient, f"cpd{(c - 2) // 2:02d}", 10.0 if c % 2 else 1.0, "treatment")
            layout.append((well, *entry))
            for site in range(1, SITES + 1):
                src = pool[int(rng.integers(len(pool)))]
                for t, day in enumerate(days, start=1):
                    paths = {}
                    for ch in ("w1", "w2"):
                        link = plate_dir / f"TimePoint_{t}" / f"PLATE384_{well}_s{site}_{ch}.tif"
                        link.parent.mkdir(parents=True, exist_ok=True)
                        link.symlink_to(src[ch][t - 1])
                        paths[ch] = str(link)
                    rows.append({
                        "plate": "PLATE384", "well": well, "site": site, "timepoint": t, "day": day,
                        "n_neurons": src["n"][t - 1], "neurite_length_um": 40.0 * src["n"][t - 1],
                        "n_nuclei": np.nan, "qc_pass": True, "status": "ok", "error": "",
                        "path_reporter": paths["w1"], "path_neurites": paths["w1"], "path_nuclei": paths["w2"],
                        "pixel_size_um": 0.65, "field_key": f"{well}-{site}-{t}",
                        "patient": entry[0], "compound": entry[1], "concentration_um": entry[2], "role": entry[3],
                    })
    pd.DataFrame(layout, columns=["well", "patient", "compound", "concentration_um", "role"]).to_csv(
        plate_dir / "layout.csv", index=False
    )
    config = parse_config(
        {
            "name": "plugin-speed", "pixel_size_um": 0.65, "channels": {"reporter": "w1", "nuclei": "w2"},
            "timepoints": {t: d for t, d in enumerate(days, start=1)},
            "plates": [{"id": "PLATE384", "path": str(plate_dir), "layout": str(plate_dir / "layout.csv")}],
        },
        base_dir=root,
    )
    run = root / "run"
    run.mkdir(exist_ok=True)
    pd.DataFrame(rows).to_parquet(run / "fields.parquet", index=False)
    (run / "manifest.json").write_text(json.dumps({"name": config.name, "config": config.model_dump(mode="json")}))
    score_run(run, config=config)
    return run


def _settle(app, until: float = 0.0) -> None:
    """Process Qt events (napari draws on the event loop)."""
    app.processEvents()
    while time.perf_counter() < until:
        app.processEvents()


def time_clicks(run: Path, n_wells: int) -> dict:
    """Open the run, then show ``n_wells + 1`` wells; times to images drawn and to overlays drawn."""
    import napari
    from qtpy.QtWidgets import QApplication
    from screening_napari.widget import QCWidget

    app = QApplication.instance() or QApplication([])
    viewer = napari.Viewer(show=True)
    t0 = time.perf_counter()
    widget = QCWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Run QC")
    widget.open_run(run)
    _settle(app)
    t_open = time.perf_counter() - t0
    wells = widget.run.imaged_wells(widget.plate)
    picks = [wells[i] for i in np.linspace(0, len(wells) - 1, n_wells + 1).astype(int)]
    shown, overlaid = [], []
    for well in picks:
        t0 = time.perf_counter()
        widget.show_well(well)
        _settle(app)
        shown.append(time.perf_counter() - t0)
        while not widget.overlays_ready():
            app.processEvents()
            time.sleep(0.002)
        _settle(app)
        overlaid.append(time.perf_counter() - t0)
    viewer.close()
    # the first well also creates the layers and compiles the segmentation's first calls: reported apart
    return {"open_s": t_open, "first": (shown[0], overlaid[0]), "shown": shown[1:], "overlaid": overlaid[1:]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, default=20)
    parser.add_argument("--workdir", type=Path, help="keep the generated run here (default: a temp folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp)
        run = root / "run" if (root / "run" / "manifest.json").is_file() else make_run(root)
        n_fields = len(pd.read_parquet(run / "fields.parquet"))
        print(f"run: 384-well plate ({N_ROWS}x{N_COLS}), {n_fields} fields, 512x512 px, {SITES} sites\n")
        r = time_clicks(run, args.wells)
        print("| step | open run (s) | first well (s) | median s/well | max s/well | wells |")
        print("|---|---|---|---|---|---|")
        for name, key, first in (("images drawn", "shown", 0), ("overlays drawn", "overlaid", 1)):
            per = r[key]
            print(f"| {name} | {r['open_s']:.2f} | {r['first'][first]:.2f} | "
                  f"{statistics.median(per):.2f} | {max(per):.2f} | {len(per)} |")


if __name__ == "__main__":
    main()
