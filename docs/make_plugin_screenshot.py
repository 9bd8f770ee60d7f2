"""Write docs/plugin.png: the napari QC plugin on the demo run.

Usage (needs a display; on a headless machine wrap it in ``xvfb-run -a``)::

    python docs/make_plugin_screenshot.py                 # runs configs/example.yaml into runs/example first
    python docs/make_plugin_screenshot.py --run RUN_DIR   # an existing run folder

The demo run is made once with ``screening run configs/example.yaml --out runs/example``
and reused (the pipeline resumes finished fields).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def ensure_run(config: Path, out: Path) -> Path:
    """Run the pipeline into ``out`` unless it already holds a finished run."""
    if not (out / "fields.parquet").is_file():
        subprocess.run([sys.executable, "-m", "screening", "run", str(config), "--out", str(out)], check=True)
    return out


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="run folder (default: run the demo config into runs/example)")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "example.yaml")
    parser.add_argument("--well", help="well to show (default: the first treatment well)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "plugin.png")
    args = parser.parse_args(argv)
    run_dir = args.run or ensure_run(args.config, REPO / "runs" / "example")

    import napari
    from qtpy.QtWidgets import QApplication
    from screening_napari.reader import qc_widget

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 900)
    widget = qc_widget(viewer)
    if widget.open_run(run_dir) is None:
        raise SystemExit(widget.status.text())
    plate = widget.plate
    well = args.well or next(
        (w for w, role in widget.run.roles(plate).items() if role == "treatment" and w in widget.run.imaged_wells(plate)),
        widget.run.imaged_wells(plate)[0],
    )
    widget.show_well(well)
    last = len(widget._timepoints) - 1
    viewer.dims.current_step = (0, last // 2, 0, 0)
    for _ in range(5):
        QApplication.processEvents()
    viewer.reset_view()
    while not widget.overlays_ready():  # the shown field is segmented in the background
        QApplication.processEvents()
        time.sleep(0.01)
    for _ in range(5):
        QApplication.processEvents()
    shot = viewer.screenshot(canvas_only=False, flash=False)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from skimage.io import imsave

    imsave(args.out, shot, check_contrast=False)
    viewer.close()
    print(f"wrote {args.out} ({shot.shape[1]}x{shot.shape[0]} px): {plate} {well}")
    return args.out


if __name__ == "__main__":
    main()
