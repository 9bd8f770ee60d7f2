"""Shared fixtures: tiny screens written to tmp_path, the shared real-data folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
#: Fixtures that open Qt windows: a test using one needs a display.
GUI_FIXTURES = {"qtbot", "qapp", "make_napari_viewer", "make_napari_viewer_proxy"}


def display_problem(env=os.environ) -> str:
    """Why Qt cannot open a window here ("" when it can).

    pytest-xvfb starts Xvfb and sets DISPLAY before collection, so this is asked
    after it. Without a display Qt aborts the whole process (no exception to catch),
    so GUI tests must be skipped before they start.
    """
    if env.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal") or env.get("WAYLAND_DISPLAY"):
        return ""
    display = env.get("DISPLAY", "")
    if not display:
        return "no display (DISPLAY unset): install Xvfb so pytest-xvfb provides one (.ci/run does)"
    host, _, number = display.rpartition(":")
    socket = Path(f"/tmp/.X11-unix/X{number.split('.')[0]}")
    if host in ("", "unix") and not socket.exists():
        return f"no X server for DISPLAY={display} ({socket} absent): start one, or install Xvfb for pytest-xvfb"
    return ""


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow_build`` first; skip, with the reason shown in the summary, every GUI
    test when there is no display.

    ``slow_build`` tests need a session fixture that takes minutes to build: first, one
    pytest-xdist worker builds it while the others run the rest; last, the others would idle.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow_build") is None)
    problem = display_problem()
    if not problem:
        return
    skip = pytest.mark.skip(reason=f"GUI test skipped: {problem}")
    for item in items:
        if item.get_closest_marker("napari") or GUI_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(skip)


def write_tiny_plate(root: Path, *, wells=("A01", "A02", "B01", "B02"), sites=(1, 2), timepoints=(1, 2),
                     channels=(1, 2), shape=(32, 32), name="P1") -> list[Path]:
    """An ImageXpress-style plate of small random uint16 images."""
    rng = np.random.default_rng(0)
    paths = []
    for t in timepoints:
        folder = root / f"TimePoint_{t}"
        folder.mkdir(parents=True, exist_ok=True)
        for well in wells:
            for s in sites:
                for c in channels:
                    path = folder / f"{name}_{well}_s{s}_w{c}.TIF"
                    tifffile.imwrite(path, rng.integers(0, 4000, shape, dtype=np.uint16))
                    paths.append(path)
    return paths


LAYOUT = """well,patient,compound,concentration_um,role
A01,pt1,DMSO,0,vehicle
A02,pt1,riluzole,10,treatment
B01,pt2,DMSO,0,vehicle
B02,pt2,riluzole,10,treatment
"""


def write_tiny_screen(root: Path, *, shape=(32, 32)) -> Path:
    """A two-patient, four-well, two-site, two-timepoint plate under ``root`` with its config; returns the config path."""
    plate = root / "data" / "P1"
    write_tiny_plate(plate, shape=shape)
    (plate / "layout.csv").write_text(LAYOUT)
    config = {
        "name": "tiny",
        "pixel_size_um": 0.65,
        "channels": {"reporter": "w1", "nuclei": "w2"},
        "timepoints": {1: 0, 2: 7},
        "plates": [{"id": "P1", "path": "data/P1", "format": "imagexpress", "layout": "data/P1/layout.csv"}],
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def tiny_screen(tmp_path) -> Path:
    """:func:`write_tiny_screen` in ``tmp_path``; returns the config path."""
    return write_tiny_screen(tmp_path)


def run_screening(*args, timeout: float = 600) -> None:
    """``python -m screening ARGS`` in a subprocess (a run's Dask scheduler and napari's Qt event
    loop stay apart); fails the test with the end of its stderr unless it succeeds."""
    cmd = [sys.executable, "-m", "screening", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder that ``build(folder)`` fills, built once per test session and shared read-only.

    Under pytest-xdist (``make test`` runs two or more workers) every worker has its own
    session, so a session fixture would build the same run once per worker, each competing
    for the same cores. The workers share the parent of their temporary directories: the
    first to take the lock builds there, the others wait for it and reuse the folder.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    folder = tmp_path_factory.getbasetemp().parent / name
    done = folder / ".built"
    with FileLock(f"{folder}.lock"):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a worker that failed building left it half done
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """``screening run configs/example.yaml`` once per session (the real measurements and images)."""
    def build(root: Path) -> None:
        run_screening("run", REPO / "configs" / "example.yaml", "--out", root / "run")

    return built_once(tmp_path_factory, "demo", build) / "run"


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """Preset ``small`` (seed 0) simulated and run with ``screening run``, once per session (~2 min)."""
    def build(root: Path) -> None:
        run_screening("simulate", root / "screen", "--preset", "small", "--seed", "0", timeout=900)
        run_screening("run", root / "screen" / "config.yaml", "--out", root / "run", timeout=900)

    return built_once(tmp_path_factory, "small", build) / "run"


def demo_patient_wells() -> tuple[dict, dict, Path, pd.DataFrame]:
    """The demo config, its plate entry, its image folder and one vehicle and one treated
    well of its first patient (the plate-map rows), for small copies of the demo."""
    config = yaml.safe_load((REPO / "configs" / "example.yaml").read_text())
    plate = config["plates"][0]
    src = (REPO / "configs" / plate["path"]).resolve()
    layout = pd.read_csv((REPO / "configs" / plate["layout"]).resolve())
    first = layout["patient"].dropna().iloc[0]
    return config, plate, src, layout[layout["patient"] == first].groupby("role").head(1)


def write_zsteps(src: Path, wells: pd.DataFrame, dest: Path, planes_of) -> list[Path]:
    """Write each image of ``wells`` under ``src`` as MetaXpress ``ZStep_<k>`` planes in ``dest``.

    ``planes_of(image)`` returns the planes (1, 2, ...) of one image. Returns the source images.
    """
    sources = [p for p in src.rglob("*.TIF") if any(f"_{w}_" in p.name for w in wells["well"])]
    for path in sources:
        rel = path.relative_to(src)
        for k, plane in enumerate(planes_of(tifffile.imread(path)), start=1):
            out = dest / rel.parent / f"ZStep_{k}" / rel.name
            out.parent.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(out, plane)
    return sources
