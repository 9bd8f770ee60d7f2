"""Write a simulated screen to disk: ImageXpress folders, plate maps, a run config and the truth.

Layout (ImageXpress, docs/layouts.md)::

    <outdir>/config.yaml
    <outdir>/<PLATE>/layout.csv
    <outdir>/<PLATE>/TimePoint_<t>/<PLATE>_<WELL>_s<site>_w<channel>.TIF
    <outdir>/truth/{fields,effects,neurons,wells}.csv
    <outdir>/truth/look.json        (``varied`` and other presets with a drawn look)

TIFFs are 16-bit, zlib-compressed, with the pixel size in the resolution tags and no date
or software tag, so the same preset and seed give byte-identical files.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
import yaml
from rich.console import Console

from screening.run.progress import FieldProgress
from screening.simulate.design import LAYOUT_COLUMNS
from screening.simulate.look import look_record
from screening.simulate.model import SimulatedScreen, build_screen
from screening.simulate.presets import Preset
from screening.simulate.render import NUCLEI, REPORTER, render_field
from screening.simulate.truth import truth_tables

TRUTH_FILES = ("fields", "effects", "neurons", "wells")


def image_name(plate: str, well: str, site: int, channel: str) -> str:
    """ImageXpress file name of one channel of one field (``channel`` like ``w1``)."""
    return f"{plate}_{well}_s{site}_{channel}.TIF"


def write_tiff(path: Path, image: np.ndarray, pixel_size_um: float) -> None:
    """A 16-bit zlib-compressed TIFF carrying the pixel size, without timestamps."""
    per_cm = 1e4 / pixel_size_um
    tifffile.imwrite(
        path, image, compression="zlib", resolution=(per_cm, per_cm), resolutionunit="CENTIMETER",
        metadata=None, software=False, datetime=False,
    )


def run_config(screen: SimulatedScreen, *, root: str = ".", name: str | None = None,
               output: str | None = None) -> dict:
    """The run config (as a mapping) of a simulated screen; plate paths under ``root``."""
    imaging = screen.preset.imaging
    root = root.rstrip("/")
    prefix = "" if root in ("", ".") else root + "/"
    name = name or f"simulated-{screen.preset.name}-seed{screen.seed}"
    config = {
        "name": name,
        "output": output or f"runs/{name}",
        "pixel_size_um": imaging.pixel_size_um,
        "channels": {"reporter": REPORTER, "nuclei": NUCLEI},
        "timepoints": {t + 1: float(day) for t, day in enumerate(screen.days)},
        "plates": [
            {"id": plate, "path": f"{prefix}{plate}", "format": "imagexpress",
             "layout": f"{prefix}{plate}/layout.csv"}
            for plate in screen.layout["plate"].unique()
        ],
    }
    return config


def dump_config(config: dict, header: str) -> str:
    return header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _header(screen: SimulatedScreen) -> str:
    return (
        f"# Simulated screen: preset {screen.preset.name!r}, seed {screen.seed}\n"
        f"# ({screen.preset.description}).\n"
        "# Written by `screening simulate`; ground truth in truth/.\n"
    )


def simulate_screen(outdir: Path, *, preset: str | Preset = "demo", seed: int = 0,
                    overwrite: bool = False, log: Console | None = None) -> Path:
    """Write a synthetic screen with ground truth and a ready run config.

    Parameters
    ----------
    outdir : Path
        Folder to write; created if missing. It must be empty unless ``overwrite``.
    preset : str or Preset
        Name in :data:`screening.simulate.PRESET_NAMES` or a preset object.
    seed : int
        Same preset and seed, byte-identical files (``varied`` draws its look from it).
    overwrite : bool
        Replace what a previous simulation wrote there (plate folders, ``truth/``,
        ``config.yaml``); other files are left alone.
    log : rich Console, optional
        Where to show progress (a bar on a terminal, a line every 10 s otherwise);
        None: silent.

    Returns
    -------
    Path
        The written ``config.yaml``.

    Notes
    -----
    Everything is written to a temporary folder beside ``outdir`` first and moved in at the
    end, so an interrupted run leaves no half-written screen.
    """
    outdir = Path(outdir)
    screen = build_screen(preset, seed)
    plates = list(screen.layout["plate"].unique())
    mine = [*plates, "truth", "config.yaml"]
    if outdir.exists() and not outdir.is_dir():
        raise FileExistsError(f"{outdir} is a file; give a folder to write the screen into")
    if outdir.is_dir() and any(outdir.iterdir()) and not overwrite:
        raise FileExistsError(f"{outdir} is not empty; choose a new folder or pass overwrite")
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{outdir.name}-", dir=outdir.parent) as tmp:
        tmp = Path(tmp)
        _write_screen(screen, tmp, log)
        for item in mine:
            target = outdir / item
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            (tmp / item).rename(target)
    return outdir / "config.yaml"


def _write_screen(screen: SimulatedScreen, out: Path, log: Console | None = None) -> None:
    imaging = screen.preset.imaging
    layout = screen.layout
    for plate, plate_map in layout.groupby("plate", sort=True):
        folder = out / plate
        folder.mkdir()
        plate_map[LAYOUT_COLUMNS].to_csv(folder / "layout.csv", index=False)
        for t in range(len(screen.days)):
            (folder / f"TimePoint_{t + 1}").mkdir()
    total = len(screen.fields) * len(screen.days)
    with FieldProgress(total, log, verb=("rendering", "rendered")) if log else nullcontext() as progress:
        for field in range(len(screen.fields)):
            plate, well, site = screen.fields.loc[field, ["plate", "well", "site"]]
            for t in range(len(screen.days)):
                rendered = render_field(screen, field, t + 1)
                folder = out / plate / f"TimePoint_{t + 1}"
                for channel, image in rendered.images.items():
                    write_tiff(folder / image_name(plate, well, int(site), channel), image, imaging.pixel_size_um)
                if progress:
                    progress.advance()
    truth = out / "truth"
    truth.mkdir()
    tables = truth_tables(screen)
    for key in TRUTH_FILES:
        tables[key].to_csv(truth / f"{key}.csv", index=False)
    if screen.preset.look is not None:
        record = json.dumps(look_record(screen.preset), indent=2, ensure_ascii=False)
        (truth / "look.json").write_text(record + "\n")
    (out / "config.yaml").write_text(dump_config(run_config(screen), _header(screen)))


def read_truth(outdir: Path) -> dict[str, pd.DataFrame]:
    """Read the truth tables a simulation wrote (``fields``, ``effects``, ``neurons``, ``wells``).

    ``layout`` is rebuilt from the plate maps, with a ``plate`` column, so the result
    compares equal to :func:`~screening.simulate.simulate_truth`.
    """
    outdir = Path(outdir)
    tables = {key: pd.read_csv(outdir / "truth" / f"{key}.csv", keep_default_na=False,
                               na_values=[""]) for key in TRUTH_FILES}
    config = yaml.safe_load((outdir / "config.yaml").read_text())
    maps = []
    for plate in config["plates"]:
        frame = pd.read_csv(outdir / plate["layout"], keep_default_na=False, dtype={"patient": str,
                                                                                     "compound": str})
        maps.append(frame.assign(plate=plate["id"])[["plate", *LAYOUT_COLUMNS]])
    tables["layout"] = pd.concat(maps, ignore_index=True)
    return tables


def write_example(repo_root: Path) -> Path:
    """Regenerate the committed example: ``example_plates/`` (demo preset, seed 0) and
    ``configs/example.yaml`` pointing at it. Returns the config path.
    """
    repo_root = Path(repo_root)
    plates = repo_root / "example_plates"
    simulate_screen(plates, preset="demo", seed=0, overwrite=True)
    (plates / "config.yaml").unlink()  # configs/example.yaml is the one to use
    screen = build_screen("demo", 0)
    config = run_config(screen, root="../example_plates", name="example", output="../runs/example")
    header = (
        "# The demo screen in example_plates/ (synthetic: preset 'demo', seed 0; truth in\n"
        "# example_plates/truth/). Regenerate both with\n"
        "#   python -c \"from screening.simulate import write_example; write_example('.')\"\n"
    )
    path = repo_root / "configs" / "example.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(dump_config(config, header))
    return path
