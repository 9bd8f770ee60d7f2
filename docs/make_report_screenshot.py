"""Screenshot of the demo run's report for the README (docs/report.png).

Usage (from the repository root)::

    python docs/make_report_screenshot.py                 # runs/example, runs the demo first if absent
    python docs/make_report_screenshot.py --run RUN_DIR --out docs/report.png --height 1700

Rewrites ``RUN_DIR/report.html`` from the run folder's tables, then renders it
with headless Chromium (Debian's ``chromium`` package) offline: host names
resolve nowhere and the proxy points nowhere, so the picture shows exactly what
a reader without a network sees.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    sys.exit("error: no Chromium found; install Debian's chromium package (apt-get install chromium)")


def ensure_run(run_dir: Path, config: Path) -> None:
    """Run the demo screen into ``run_dir`` unless it already holds a finished run."""
    if (run_dir / "manifest.json").is_file() and (run_dir / "ranking.csv").is_file():
        return
    print(f"{run_dir}: no finished run; running {config} (the demo takes about a minute)")
    from screening.config import load_config
    from screening.run.pipeline import run_screen

    run_screen(load_config(config), out_dir=run_dir)


def screenshot(html: Path, png: Path, *, width: int, height: int) -> None:
    """Render ``html`` offline with headless Chromium into ``png`` (``width`` x ``height`` px)."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        args = [
            find_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9", "--hide-scrollbars", f"--window-size={width},{height}",
            f"--screenshot={png.resolve()}", html.resolve().as_uri(),
        ]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or not png.is_file():
        sys.exit(f"error: chromium failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=REPO / "runs" / "example", help="run folder")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "example.yaml",
                        help="config run when the run folder is absent")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "report.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1700)
    args = parser.parse_args(argv)

    from screening.report import write_report

    ensure_run(args.run, args.config)
    html = write_report(args.run)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    screenshot(html, args.out, width=args.width, height=args.height)
    print(f"wrote {args.out} from {html} ({html.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
