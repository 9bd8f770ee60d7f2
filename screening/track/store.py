"""Per-well stores of each field's somata and registration thumbnail, beside the field shards.

``<run>/objects/<plate>/<well>.parquet``: one row per soma (``plate, well, site, timepoint,
field_key`` and :data:`screening.track.objects.OBJECT_COLUMNS`).
``<run>/thumbs/<plate>/<well>.npz``: one downsampled image per measured field, named by its
``field_key``. Both are keyed like the field rows of :mod:`screening.run.shards` and written
atomically before the well's shard, so a field whose shard row is stored has its somata and
thumbnail stored too, and a rerun reuses all three or recomputes the field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from screening.io.atomic import write_atomic
from screening.track.objects import OBJECT_COLUMNS

OBJECT_DIR, THUMB_DIR = "objects", "thumbs"
OBJECT_KEYS = ["plate", "well", "site", "timepoint", "field_key"]


def _path(run_dir, folder: str, plate: str, well: str, suffix: str) -> Path:
    return Path(run_dir) / folder / str(plate) / f"{well}{suffix}"


def read_well_thumbs(run_dir, plate: str, well: str) -> dict[str, np.ndarray]:
    """Field key -> thumbnail of one well (empty when none is stored)."""
    path = _path(run_dir, THUMB_DIR, plate, well, ".npz")
    if not path.is_file():
        return {}
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def read_well_objects(run_dir, plate: str, well: str) -> pd.DataFrame:
    path = _path(run_dir, OBJECT_DIR, plate, well, ".parquet")
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=OBJECT_KEYS + OBJECT_COLUMNS)


def read_objects(run_dir) -> pd.DataFrame:
    """Every stored soma of a run folder."""
    files = sorted((Path(run_dir) / OBJECT_DIR).glob("*/*.parquet"))
    tables = [t for t in (pd.read_parquet(f) for f in files) if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=OBJECT_KEYS + OBJECT_COLUMNS)


def stored_keys(run_dir) -> set[str]:
    """Field keys whose thumbnail (and so somata) are stored."""
    keys: set[str] = set()
    for path in (Path(run_dir) / THUMB_DIR).glob("*/*.npz"):
        with np.load(path) as data:
            keys.update(data.files)
    return keys


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as handle:  # a file object: np.savez would append .npz to a path
        np.savez(handle, **arrays)


def write_well(
    run_dir, plate: str, well: str, objects: list[pd.DataFrame], thumbs: dict[str, np.ndarray], keep: set[str]
) -> None:
    """Store one well's somata and thumbnails: the new fields' plus the stored ones in ``keep``.

    Parameters
    ----------
    objects : list of DataFrame
        Somata of the newly measured fields (:data:`OBJECT_KEYS` + object columns).
    thumbs : dict
        Field key -> thumbnail of the newly measured fields.
    keep : set of str
        Field keys of this well reused from the store (their entries are carried over).
    """
    old_thumbs = read_well_thumbs(run_dir, plate, well)
    all_thumbs = {k: v for k, v in old_thumbs.items() if k in keep} | thumbs
    old = read_well_objects(run_dir, plate, well)
    parts = [old[old["field_key"].isin(keep)], *objects]
    table = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else old.iloc[:0]
    write_atomic(_path(run_dir, THUMB_DIR, plate, well, ".npz"), lambda tmp: _save_npz(tmp, all_thumbs))
    write_atomic(_path(run_dir, OBJECT_DIR, plate, well, ".parquet"), lambda tmp: table.to_parquet(tmp, index=False))


class WellBuffer:
    """Each newly measured field's somata and thumbnail, held until its well is complete."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.objects: dict[tuple, list[pd.DataFrame]] = {}
        self.thumbs: dict[tuple, dict[str, np.ndarray]] = {}
        self.new: dict[tuple, set[str]] = {}

    def add(self, rec: dict, objects: pd.DataFrame | None, thumb: np.ndarray | None) -> None:
        """Keep one field's results (``rec``: its field row with ``plate, well, site, timepoint, field_key``)."""
        well = (rec["plate"], rec["well"])
        self.objects.setdefault(well, [])
        self.thumbs.setdefault(well, {})
        self.new.setdefault(well, set()).add(rec["field_key"])
        if objects is not None and len(objects):
            self.objects[well].append(objects.assign(**{k: rec[k] for k in OBJECT_KEYS})[OBJECT_KEYS + OBJECT_COLUMNS])
        if thumb is not None:
            self.thumbs[well][rec["field_key"]] = thumb

    def flush(self, plate: str, well: str, well_keys: set[str]) -> None:
        """Write the well (the stored entries of its reused fields, ``well_keys`` not measured now, carried over)."""
        objects = self.objects.pop((plate, well), [])
        thumbs = self.thumbs.pop((plate, well), {})
        new = self.new.pop((plate, well), set())
        write_well(self.run_dir, plate, well, objects, thumbs, keep=well_keys - new)


def drop_untracked(reuse: dict[str, dict], run_dir) -> dict[str, dict]:
    """Stored field rows that can be reused with tracking: measured fields need a stored thumbnail.

    Runs made before tracking (or interrupted between the stores) remeasure those fields.
    """
    keys = stored_keys(run_dir)
    return {k: row for k, row in reuse.items() if k in keys or row.get("status") != "ok"}
