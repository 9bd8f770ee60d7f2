"""What a run folder guarantees: one writer at a time, and tables that belong together.

- **Lock.** ``run``, ``score`` and ``report`` hold an exclusive ``flock`` on
  ``<run>/.screening.lock`` while they write; the file records the holder's pid,
  host and command, so a second process is refused with a message naming them.
  The kernel drops the lock when its holder dies, so the lock of a killed run is
  stale by construction: the next command takes it over (and says so).
- **Table records.** ``manifest.json`` holds, under ``tables``, the SHA-256 and size
  of every table a command wrote, and for the tables made from ``fields.parquet``
  (wells, scores, ranking, plate QC, dose response, warnings, report) the
  checksum of the ``fields.parquet`` and ``qc_flags.csv`` they were made from.
  :func:`table_problems` compares the files with these records, so a table cut
  short, or left from an earlier run by an interrupted rerun, is found before it
  is reported as if whole.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from screening.io.atomic import write_error

LOCK_FILE = ".screening.lock"
MANIFEST = "manifest.json"
FIELDS = "fields.parquet"
FLAGS = "qc_flags.csv"
#: Tables made from fields.parquet (and qc_flags.csv) by scoring, in the order they are written.
SCORED = ["wells.parquet", "scores.csv", "ranking.csv", "plate_qc.csv", "dose_response.csv", "warnings.txt"]
#: Tables of tracked neurons, written by scoring when the run has two or more timepoints.
TRACKED = ["neurons.parquet", "tracks.parquet"]
REPORT = "report.html"


class RunFolderBusy(RuntimeError):
    """Another screening process holds the run folder's lock."""


class RunFolderDamaged(ValueError):
    """A run folder whose manifest or tables are missing, unreadable or do not belong together."""


def _holder(fd: int) -> dict:
    """What the lock file says about its (last) holder; {} when it says nothing readable."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def _describe(holder: dict) -> str:
    if not holder:
        return "another screening process"
    alive = "" if holder.get("host") != socket.gethostname() else (
        ", running" if _alive(holder.get("pid")) else ", not running")
    return (f"`{holder.get('command', 'screening')}` (pid {holder.get('pid')} on {holder.get('host')}{alive}, "
            f"since {holder.get('started', '?')})")


@contextmanager
def run_lock(run_dir: str | Path, command: str):
    """Hold the run folder's lock for the block; yields the stale holder taken over ({} if none).

    Raises
    ------
    RunFolderBusy
        When another process holds it: the message names the holder and the lock file.
    WriteError
        When the lock file cannot be created (the folder is not writable).
    """
    path = Path(run_dir) / LOCK_FILE
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise write_error(path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise RunFolderBusy(
                f"{Path(run_dir)} is in use by {_describe(holder)}; wait for it to finish or use another "
                f"--out (lock: {path})"
            ) from None
        # A holder that just finished unlinked the file we opened: lock the new one instead.
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    stale = _holder(fd)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
          "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(me).encode())
    try:
        yield stale
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def describe_stale(stale: dict) -> str:
    """A note for a lock taken over from a killed process ("" when there was none)."""
    return f"note: took over the lock left by {_describe(stale)}, which was stopped" if stale else ""


def digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def table_record(path: str | Path, made_from: dict | None = None) -> dict:
    """``{"sha256", "bytes"[, "made_from"]}`` of a table just written."""
    record = {"sha256": digest(path), "bytes": os.path.getsize(path)}
    if made_from is not None:
        record["made_from"] = made_from
    return record


def sources(run_dir: str | Path) -> dict:
    """Checksums of what scoring reads: ``fields.parquet`` and ``qc_flags.csv`` (None: absent)."""
    run_dir = Path(run_dir)
    return {name: digest(run_dir / name) if (run_dir / name).is_file() else None for name in (FIELDS, FLAGS)}


def read_manifest(run_dir: str | Path) -> dict:
    """``manifest.json`` of a run folder.

    Raises
    ------
    RunFolderDamaged
        When there is none (not a run folder), or it is not a JSON object with a config.
    """
    run_dir = Path(run_dir)
    path = run_dir / MANIFEST
    if not path.is_file():
        raise RunFolderDamaged(f"{run_dir}: no {MANIFEST}; is this a run folder? (made by `screening run`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunFolderDamaged(
            f"{path}: damaged ({type(exc).__name__}: {exc}); rerun `screening run CONFIG --out {run_dir}` "
            "to rewrite it (measured fields are reused)"
        ) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        raise RunFolderDamaged(
            f"{path}: damaged (no config in it); rerun `screening run CONFIG --out {run_dir}` to rewrite it"
        )
    return manifest


def _problem(run_dir: Path, name: str, records: dict) -> str:
    path = run_dir / name
    record = records.get(name)
    if record is None:
        return f"{path}: not recorded in {MANIFEST} (the command that writes it was interrupted)"
    if not path.is_file():
        return f"{path}: not found"
    if os.path.getsize(path) != record.get("bytes") or digest(path) != record.get("sha256"):
        return (f"{path}: not the file {MANIFEST} records ({os.path.getsize(path)} bytes, recorded "
                f"{record.get('bytes')}): cut short, edited, or left from another run")
    made = record.get("made_from", {}).get(FIELDS)
    fields = records.get(FIELDS, {}).get("sha256")
    if made is not None and made != fields:
        return f"{path}: made from another {FIELDS} than the one {MANIFEST} records"
    return ""


def table_problems(run_dir: str | Path, manifest: dict, names: list[str]) -> list[str]:
    """Tables among ``names`` that are missing or differ from the manifest's records.

    A manifest without ``tables`` (run folders made before they were recorded)
    gives no problem: there is nothing to check against.
    """
    records = manifest.get("tables")
    if not isinstance(records, dict):
        return []
    run_dir = Path(run_dir)
    return [p for p in (_problem(run_dir, name, records) for name in names) if p]


def flags_changed(run_dir: str | Path, manifest: dict) -> bool:
    """True when ``qc_flags.csv`` is not the one the scores were made from."""
    record = (manifest.get("tables") or {}).get("scores.csv") or {}
    if "made_from" not in record:
        return False
    return record["made_from"].get(FLAGS) != sources(run_dir)[FLAGS]


__all__ = [
    "LOCK_FILE", "REPORT", "SCORED", "TRACKED", "RunFolderBusy", "RunFolderDamaged", "describe_stale", "digest",
    "flags_changed", "read_manifest", "run_lock", "sources", "table_problems", "table_record",
]
