"""The screen run: the one place the Dask graph is built.

``run_screen`` turns a config into a run folder::

    load_screen ─► field_table (one row per field, file paths only)
       ─► one Dask task per plate (tasks.calibrate_plate_files): sizes and reporter cut-off
          from a sample of its first-timepoint fields ─► calibration.csv (reused while the
          sample's files and the config are unchanged); each plate's calibration joins its
          fields' keys
       ─► reuse stored shards whose field_key matches
       ─► one Dask task per remaining field (tasks.measure_field_files), streamed,
          at most compute.batch_size in flight; each finished well's rows -> shard
       ─► fields.parquet ─► wells.parquet ─► scores (screening.score) ─► report.html

The client holds paths and result rows, never pixels, so its memory does not
grow with the plate.
"""

from __future__ import annotations

import json
import platform
import time
from collections import defaultdict
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from screening.aggregate import aggregate_wells
from screening.cluster import SchedulerError, dask_client
from screening.config import RunConfig
from screening.config.run import config_hash
from screening.flags import flagged_mask, read_flags
from screening.io.atomic import write_atomic, write_text_atomic
from screening.io.pixelsize import pixel_size_conflict
from screening.io.screen import FIELD_KEYS, field_planes, field_table, key_inputs, load_screen
from screening.progress import FieldProgress
from screening.report import write_report
from screening.report.calibration import CALIBRATION_FILE
from screening.score import score_screen, write_scores
from screening.segment.calibration import Calibration
from screening.shards import field_key, read_shards, write_shard
from screening.tasks import calibrate_plate_files, measure_field_files

FIELD_COLUMNS = [
    "plate", "well", "site", "timepoint", "day", "n_neurons", "neurite_length_um", "n_nuclei",
    "qc_pass", "status", "error",
]
#: Counts, stored as nullable integers (NA: failed field, or no nuclear channel for n_nuclei).
COUNT_COLUMNS = {"n_neurons": "Int64", "n_nuclei": "Int64"}
MAP_COLUMNS = ["patient", "compound", "concentration_um", "role"]
PACKAGES = ["screening", "numpy", "scipy", "scikit-image", "skan", "dask", "distributed", "pandas",
            "statsmodels", "tifffile", "pydantic"]


class InputError(ValueError):
    """Inputs that stop a run before it starts (config, plate map, files)."""


@dataclass
class RunResult:
    """Outcome of :func:`run_screen`."""

    run_dir: Path
    n_fields: int
    n_ok: int
    n_failed: int
    n_reused: int
    n_computed: int
    wall_s: float
    failure_message: str = ""

    @property
    def too_many_failed(self) -> bool:
        return bool(self.failure_message)


def resolve_pixel_size(config: RunConfig, found: dict[str, float], plate: str) -> float:
    """µm per pixel of a plate: the config's value, else the one the files carry (> 1 % apart: error)."""
    conflict = pixel_size_conflict(config.pixel_size_um, found.get(plate), plate=plate, source="its files")
    if conflict:
        raise InputError(conflict)
    if config.pixel_size_um is not None:
        return config.pixel_size_um
    if plate in found:
        return found[plate]
    raise InputError(
        f"plate {plate}: pixel size unknown; set pixel_size_um in the config (µm per pixel, e.g. 0.65 for 20x)"
    )


def plan_fields(config: RunConfig) -> pd.DataFrame:
    """Every field of the screen with its paths, pixel size and resume key; raises InputError."""
    screen = load_screen(config)
    if screen.errors:
        raise InputError("cannot run:\n" + "\n".join(screen.errors))
    fields = field_table(screen, config)
    if fields.empty:
        raise InputError("cannot run: no fields found in any plate")
    fields["pixel_size_um"] = [resolve_pixel_size(config, screen.pixel_size_um, p) for p in fields["plate"]]
    mhash = config.measurement_hash()
    keys = []
    for row in fields.to_dict("records"):
        # Every plane file and the plate's plane rule are part of the key: changing the rule recomputes.
        files, rule_text = key_inputs(row, screen.plane_rules[row["plate"]])
        keys.append(field_key(files, f"{mhash}:{row['pixel_size_um']}{rule_text}"))
    fields["field_key"] = keys
    return fields


def _reusable(run_dir: Path, fields: pd.DataFrame, force: bool) -> dict[str, dict]:
    if force:
        return {}
    stored = read_shards(run_dir)
    if stored.empty or "field_key" not in stored:
        return {}
    stored = stored[stored["field_key"].isin(set(fields["field_key"]))]
    return {row["field_key"]: row for row in stored.to_dict("records")}


def _measure(
    config, todo: pd.DataFrame, rows_by_well, pending, run_dir, progress, workers, address, calibrations=None
) -> None:
    """Stream one task per field through Dask; write each well's shard when its last field lands.

    ``calibrations`` maps plate -> its :class:`Calibration` (None: each field calibrates itself).
    """
    calibrations = calibrations or {}
    from distributed import as_completed

    records = todo.to_dict("records")
    rules = config.plane_rules()
    with dask_client(config.compute, workers=workers, address=address) as client:
        remote_config = client.scatter(config, broadcast=True)

        def submit(rec):
            future = client.submit(
                measure_field_files, field_planes(rec), remote_config, rec["pixel_size_um"], rules[rec["plate"]],
                calibrations.get(rec["plate"]), key=f"field-{rec['field_key']}", pure=False,
            )
            future.record = rec
            return future

        stream = iter(records)
        in_flight = as_completed([submit(r) for _, r in zip(range(config.compute.batch_size), stream)])
        for future in in_flight:
            rec = future.record
            row = {**rec, **future.result()}
            future.release()
            well = (rec["plate"], rec["well"])
            rows_by_well[well].append(row)
            pending[well] -= 1
            if pending[well] == 0:
                write_shard(run_dir, *well, pd.DataFrame(rows_by_well[well]))
            progress.advance()
            nxt = next(stream, None)
            if nxt is not None:
                in_flight.add(submit(nxt))


def order_columns(fields: pd.DataFrame) -> pd.DataFrame:
    """Contract columns first (docs/outputs.md), the rest alphabetically; rows by field keys; counts as integers."""
    extras = sorted(c for c in fields.columns if c not in FIELD_COLUMNS)
    out = fields[FIELD_COLUMNS + extras].sort_values(FIELD_KEYS, kind="stable").reset_index(drop=True)
    out["qc_pass"] = out["qc_pass"].astype(bool)
    return out.astype(COUNT_COLUMNS)


def calibration_samples(fields: pd.DataFrame, n: int) -> dict[str, pd.DataFrame]:
    """Per plate, up to ``n`` of its first-timepoint fields with a reporter file, spread over its wells."""
    out = {}
    for plate, rows in fields.groupby("plate", sort=True):
        first = rows[rows["timepoint"] == rows["timepoint"].min()]
        first = first[first["path_reporter"].map(lambda v: isinstance(v, str) and bool(v))]
        first = first.sort_values(["well", "site"], kind="stable")
        if len(first) > n:
            first = first.iloc[np.unique(np.linspace(0, len(first) - 1, n).round().astype(int))]
        out[str(plate)] = first
    return out


def read_calibrations(run_dir: Path) -> pd.DataFrame:
    """``calibration.csv`` of a run folder (one row per plate), or an empty table."""
    path = Path(run_dir) / CALIBRATION_FILE
    return pd.read_csv(path, dtype={"plate": str}) if path.is_file() else pd.DataFrame()


def load_calibrations(run_dir: Path) -> dict[str, Calibration]:
    """Plate -> its :class:`Calibration` from a run folder's ``calibration.csv`` (empty without one)."""
    return {str(r["plate"]): Calibration.from_row(r) for r in read_calibrations(run_dir).to_dict("records")}


def calibrate_plates(config: RunConfig, fields: pd.DataFrame, run_dir: Path, *, workers=None, address=None,
                     force=False, log=None) -> dict[str, Calibration]:
    """One Dask task per plate calibrates it on a sample of its fields; writes ``calibration.csv``.

    A plate whose sample (files, sizes, mtimes), pixel size, plane rule and measurement config
    are those of its stored row is not calibrated again (unless ``force``).
    """
    samples = calibration_samples(fields, config.segmentation.calibration_fields)
    rules = config.plane_rules()
    # The sample's field keys hold its files, the pixel size, the plane rule and the config hash.
    keys = {plate: config_hash(list(rows["field_key"])) for plate, rows in samples.items()}
    stored = {} if force else {
        str(r["plate"]): r for r in read_calibrations(run_dir).to_dict("records")
        if r.get("calibration_key") == keys.get(str(r["plate"]))
    }
    result = {plate: Calibration.from_row(stored[plate]) for plate in samples if plate in stored}
    todo = [plate for plate in samples if plate not in result]
    if todo:
        with dask_client(config.compute, workers=workers, address=address) as client:
            futures = {
                plate: client.submit(
                    calibrate_plate_files, [field_planes(r) for r in samples[plate].to_dict("records")], config,
                    _plate_pixel_size(fields, plate), rules[plate],
                    key=f"calibrate-{plate}-{keys[plate]}", pure=False,
                )
                for plate in todo
            }
            for plate, future in futures.items():
                # As stored (4 significant digits): a rerun that reads the file measures the same.
                result[plate] = Calibration.from_row(future.result().row())
    rows = [{"plate": plate, **result[plate].row(), "calibration_key": keys[plate]} for plate in samples]
    write_atomic(Path(run_dir) / CALIBRATION_FILE, lambda tmp: pd.DataFrame(rows).to_csv(tmp, index=False))
    if log is not None:
        for plate in todo:
            log.print(f"calibrated {plate}: {describe_calibration(result[plate])}", soft_wrap=True)
    return result


def _plate_pixel_size(fields: pd.DataFrame, plate: str) -> float:
    return float(fields.loc[fields["plate"].astype(str) == plate, "pixel_size_um"].iloc[0])


def describe_calibration(cal: Calibration) -> str:
    """One line: what a plate's calibration decided."""
    cutoff = f"{cal.reporter_cutoff:.4g} ADU" if np.isfinite(cal.reporter_cutoff) else "per field"
    return (f"nucleus {cal.nucleus_diameter_um:.1f} µm, soma {cal.soma_diameter_um:.1f} µm, "
            f"reporter cut-off {cutoff} ({cal.n_fields} fields, {cal.n_nuclei} nuclei sized; {cal.source})")


def with_calibration_keys(fields: pd.DataFrame, calibrations: dict[str, Calibration]) -> pd.DataFrame:
    """Each field's resume key joined with its plate's calibration: a changed calibration recomputes."""
    hashes = {plate: config_hash(cal.row()) for plate, cal in calibrations.items()}
    keys = [config_hash([k, hashes.get(str(p), "")])[:20] for k, p in zip(fields["field_key"], fields["plate"], strict=True)]
    return fields.assign(field_key=keys)


def measure_screen(config, run_dir, *, workers=None, address=None, force=False, log=None) -> tuple[pd.DataFrame, dict]:
    """Measure every field (reusing stored shards); returns the fields table and counts."""
    fields = plan_fields(config)
    calibrations = calibrate_plates(config, fields, run_dir, workers=workers, address=address, force=force, log=log)
    fields = with_calibration_keys(fields, calibrations)
    reuse = _reusable(run_dir, fields, force)
    is_reused = fields["field_key"].isin(reuse)
    todo = fields[~is_reused]
    rows_by_well: dict[tuple, list] = defaultdict(list)
    for rec in fields[is_reused].to_dict("records"):
        rows_by_well[(rec["plate"], rec["well"])].append({**reuse[rec["field_key"]], **rec})
    pending = todo.groupby(["plate", "well"]).size().to_dict()
    if len(todo):
        with FieldProgress(len(todo), log) as progress:
            _measure(config, todo, rows_by_well, pending, run_dir, progress, workers, address, calibrations)
    table = pd.DataFrame([r for well_rows in rows_by_well.values() for r in well_rows])
    counts = {"reused": int(is_reused.sum()), "computed": len(todo)}
    return order_columns(table), counts


def apply_flags(fields: pd.DataFrame, run_dir: Path) -> pd.DataFrame:
    """Mark the fields covered by ``qc_flags.csv`` (column ``flagged``)."""
    return fields.assign(flagged=flagged_mask(fields, read_flags(run_dir)))


def write_table(df: pd.DataFrame, path: Path) -> Path:
    return write_atomic(path, lambda tmp: df.to_parquet(tmp, index=False))


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def write_manifest(run_dir: Path, config: RunConfig, fields: pd.DataFrame, counts: dict, timings: dict) -> Path:
    # files_<role> holds every plane file of a role (path_<role> is its first), so it alone counts the inputs.
    paths = [p for files in fields.filter(regex="^files_").to_numpy().ravel() if files is not None for p in files]
    manifest = {
        "name": config.name,
        "config": config.model_dump(mode="json"),
        "config_hash": config.measurement_hash(),
        "versions": _versions(),
        "input_files": int(len(set(p for p in paths if isinstance(p, str)))),
        "fields": {
            "total": len(fields),
            "ok": int((fields["status"] == "ok").sum()),
            "failed": int((fields["status"] == "failed").sum()),
            **counts,
        },
        "timings_s": timings,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return write_text_atomic(run_dir / "manifest.json", json.dumps(manifest, indent=2, default=str))


def read_manifest(run_dir: Path) -> dict:
    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        raise InputError(f"{run_dir}: no manifest.json; is this a run folder? (made by screening run)")
    return json.loads(path.read_text())


def _failure_message(fields: pd.DataFrame, limit: float) -> str:
    failed = fields[fields["status"] == "failed"]
    if len(fields) == 0 or len(failed) / len(fields) <= limit:
        return ""
    first = "; ".join(f"{r.plate} {r.well} s{r.site} t{r.timepoint}: {r.error}" for r in failed.head(3).itertuples())
    return (
        f"{len(failed)} of {len(fields)} fields failed (> compute.max_failed_fraction {limit:g}); first: {first}"
    )


def run_screen(config: RunConfig, *, out_dir=None, workers=None, scheduler=None, force=False, log=None) -> RunResult:
    """Measure, aggregate, score and report a whole screen into its run folder."""
    log = log or Console(stderr=True)
    run_dir = Path(out_dir or config.output)
    run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    try:
        fields, counts = measure_screen(config, run_dir, workers=workers, address=scheduler, force=force, log=log)
    except SchedulerError as exc:
        raise InputError(str(exc)) from None
    t_measure = time.monotonic() - t0
    write_table(fields, run_dir / "fields.parquet")
    write_manifest(run_dir, config, fields, counts, {"measure": round(t_measure, 3)})
    written = score_run(run_dir, log=log, config=config)
    wall = time.monotonic() - t0
    write_manifest(run_dir, config, fields, counts, {"measure": round(t_measure, 3), "total": round(wall, 3)})
    n_ok = int((fields["status"] == "ok").sum())
    result = RunResult(
        run_dir, len(fields), n_ok, len(fields) - n_ok, counts["reused"], counts["computed"], wall,
        _failure_message(fields, config.compute.max_failed_fraction),
    )
    rate = counts["computed"] / t_measure if t_measure > 0 else float("nan")
    log.print(
        f"fields: {result.n_ok} ok, {result.n_failed} failed, {result.n_reused} reused; "
        f"{wall:.1f} s wall, {rate:.2f} fields/s measured; wrote {', '.join(p.name for p in written)}"
    )
    if result.n_failed and not result.too_many_failed:
        log.print(f"warning: {result.n_failed} field(s) failed; see the error column of fields.parquet")
    return result


def score_run(run_dir, *, log=None, config: RunConfig | None = None) -> list[Path]:
    """Rebuild wells.parquet (honouring qc_flags.csv), then scores and report, from fields.parquet."""
    run_dir = Path(run_dir)
    if config is None:
        config = RunConfig.model_validate(read_manifest(run_dir)["config"])
    path = run_dir / "fields.parquet"
    if not path.is_file():
        raise InputError(f"{path}: not found; run `screening run CONFIG` first")
    try:
        fields = apply_flags(pd.read_parquet(path), run_dir)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    wells = aggregate_wells(fields)
    written = [write_table(wells, run_dir / "wells.parquet")]
    written += _score_tables(fields, wells, config, run_dir, log)
    return [*written, report_run(run_dir)]


def _score_tables(fields, wells, config, run_dir, log) -> list[Path]:
    result = score_screen(fields, wells, config.scoring)
    for warning in result.warnings:
        (log or Console(stderr=True)).print(f"warning: {warning}", soft_wrap=True)
    return list(write_scores(result, run_dir).values())


def report_run(run_dir) -> Path:
    """Rewrite report.html from the run folder's tables."""
    run_dir = Path(run_dir)
    read_manifest(run_dir)  # a clear error when this is not a run folder
    return write_report(run_dir)


__all__ = ["InputError", "RunResult", "measure_screen", "run_screen", "score_run"]
