"""Finished field results on disk, grouped per well, so a rerun resumes.

``<run>/shards/<plate>/<well>.parquet`` holds one row per measured field of that
well, with a ``field_key`` column: a hash of the field's input files (path, size,
mtime) and of the measurement config. A rerun reuses a stored row only when its
key still matches; a shard is written atomically, so a killed run leaves whole
shards or none. Grouping per well keeps a 60,000-field screen to a few thousand files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from screening.io.atomic import write_atomic

SHARD_DIR = "shards"


def field_key(paths: dict[str, str | None], measurement_hash: str) -> str:
    """Hash of a field's inputs: each role's path, size and mtime, plus the config hash."""
    parts = [measurement_hash]
    for role in sorted(paths):
        path = paths[role]
        try:
            stat = os.stat(path) if path else None
        except OSError:
            stat = None
        parts.append(f"{role}={path}:{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def shard_path(run_dir: Path, plate: str, well: str) -> Path:
    return Path(run_dir) / SHARD_DIR / plate / f"{well}.parquet"


def read_shards(run_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """Every stored field row of a run folder (empty when nothing is stored yet).

    Returns
    -------
    rows : DataFrame
    unreadable : list of str
        One line per shard that could not be read (damaged by hand or by the
        disk: a shard is never written in part); its well is measured again.
    """
    files = sorted((Path(run_dir) / SHARD_DIR).glob("*/*.parquet"))
    tables, unreadable = [], []
    for path in files:
        try:
            tables.append(pd.read_parquet(path))
        except Exception as exc:  # noqa: BLE001 - any parquet error: measure the well again
            unreadable.append(f"{path}: unreadable shard ({type(exc).__name__}); its well is measured again")
    return (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()), unreadable


def write_shard(run_dir: Path, plate: str, well: str, rows: pd.DataFrame) -> Path:
    """Write one well's field rows atomically, replacing the previous shard."""
    return write_atomic(shard_path(run_dir, plate, well), lambda tmp: rows.to_parquet(tmp, index=False))
