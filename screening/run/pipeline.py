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
grow with the plate. ``run``, ``score`` and ``report`` hold the run folder's lock
while they write, and record in ``manifest.json`` the checksum of every table and
of the ``fields.parquet`` it was made from (:mod:`screening.io.runfolder`;
docs/run-folder.md).
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

from screening.run.aggregate import aggregate_wells
from screening.run.cluster import dask_client
from screening.config import RunConfig
from screening.config.run import config_hash
from screening.io.flags import FlagsError, check_flags, flagged_mask, read_flags
from screening.io import runfolder
from screening.io.atomic import check_writable_dir, make_dirs, write_atomic, write_text_atomic
from screening.io.runfolder import RunFolderDamaged, run_lock, table_problems, table_record
from screening.io.screen import field_planes, field_table, key_inputs
from screening.plate import FIELD_COLUMNS, FIELD_KEYS
from screening.run.progress import FieldProgress
from screening.report import write_report
from screening.report.calibration import CALIBRATION_FILE
from screening.score import ScoreResult, score_screen, write_scores
from screening.score.pooling import RANKING_COLUMNS
from screening.score.screen import SCORES_COLUMNS
from screening.score.warnings import ScoringWarning, scoring_failed_warning, unique
from screening.segment.calibration import Calibration
from screening.run.shards import field_key, read_shards, write_shard
from screening.run.tasks import calibrate_plate_files, measure_field_tracked
from screening.track.sites import choose_survival, register_fields, track_run, write_tracks
from screening.track.store import WellBuffer, drop_untracked
from screening.validate import check_screen

#: Counts, stored as nullable integers (NA: failed field, or no nuclear channel for n_nuclei).
COUNT_COLUMNS = {"n_neurons": "Int64", "n_nuclei": "Int64"}
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


@dataclass
class Plan:
    """What a run will measure: one row per field (:func:`plan_fields`) and the input warnings
    (fields that will fail: unreadable or missing files, missing timepoints)."""

    fields: pd.DataFrame
    warnings: list[str]


def plan_run(config: RunConfig) -> Plan:
    """Every field of the screen with its paths, pixel size and resume key.

    Raises
    ------
    InputError
        What ``screening validate`` calls an error (config, plate maps, images of
        mixed shapes, a folder under two plate ids...), every one listed.
    """
    screen = check_screen(config)
    if screen.errors:
        raise InputError("cannot run (`screening validate CONFIG` lists every problem):\n" + "\n".join(screen.errors))
    fields = field_table(screen, config)
    if fields.empty:
        raise InputError("cannot run: no fields found in any plate")
    fields["pixel_size_um"] = fields["plate"].map(screen.pixel_size_um).astype(float)
    mhash = config.measurement_hash()
    keys = []
    for row in fields.to_dict("records"):
        # Every plane file and the plate's plane rule are part of the key: changing the rule recomputes.
        files, rule_text = key_inputs(row, screen.plane_rules[row["plate"]])
        keys.append(field_key(files, f"{mhash}:{row['pixel_size_um']}{rule_text}"))
    fields["field_key"] = keys
    return Plan(fields, screen.warnings)


def plan_fields(config: RunConfig) -> pd.DataFrame:
    """The fields table of :func:`plan_run`; raises InputError."""
    return plan_run(config).fields


def _reusable(run_dir: Path, fields: pd.DataFrame, force: bool, log: Console) -> dict[str, dict]:
    if force:
        return {}
    stored, unreadable = read_shards(run_dir)
    for problem in unreadable:
        log.print(f"warning: {problem}", soft_wrap=True)
    if stored.empty or "field_key" not in stored:
        return {}
    stored = stored[stored["field_key"].isin(set(fields["field_key"]))]
    return {row["field_key"]: row for row in stored.to_dict("records")}


def _measure(
    config, todo: pd.DataFrame, rows_by_well, pending, run_dir, progress, calibrations=None
) -> None:
    """Stream one task per field through Dask; write each well's shard when its last field lands.

    ``calibrations`` maps plate -> its :class:`Calibration` (None: each field calibrates itself).
    """
    calibrations = calibrations or {}
    from distributed import as_completed

    records = todo.to_dict("records")
    rules = config.plane_rules()
    tracking = WellBuffer(run_dir)
    with dask_client(config.compute) as client:
        remote_config = client.scatter(config, broadcast=True)

        def submit(rec):
            future = client.submit(
                measure_field_tracked, field_planes(rec), remote_config, rec["pixel_size_um"], rules[rec["plate"]],
                calibrations.get(rec["plate"]), key=f"field-{rec['field_key']}", pure=False,
            )
            future.record = rec
            return future

        stream = iter(records)
        in_flight = as_completed([submit(r) for _, r in zip(range(config.compute.batch_size), stream)])
        for future in in_flight:
            rec = future.record
            result, objects, thumb = future.result()
            row = {**rec, **result}
            future.release()
            well = (rec["plate"], rec["well"])
            rows_by_well[well].append(row)
            tracking.add(rec, objects, thumb)
            pending[well] -= 1
            if pending[well] == 0:
                tracking.flush(*well, {r["field_key"] for r in rows_by_well[well]})
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


def calibration_keys(samples: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Plate -> the key of its calibration sample: its fields' resume keys (files, pixel size,
    plane rule and measurement config), so new images or a new config calibrate again."""
    return {plate: config_hash(list(rows["field_key"])) for plate, rows in samples.items()}


def calibrate_plates(config: RunConfig, fields: pd.DataFrame, run_dir: Path, *, force=False,
                     log=None) -> dict[str, Calibration]:
    """One Dask task per plate calibrates it on a sample of its fields; writes ``calibration.csv``.

    A plate whose sample (files, sizes, mtimes), pixel size, plane rule and measurement config
    are those of its stored row is not calibrated again (unless ``force``).
    """
    samples = calibration_samples(fields, config.segmentation.calibration_fields)
    rules = config.plane_rules()
    keys = calibration_keys(samples)
    table = read_calibrations(run_dir)
    stored = {} if force else {
        str(r["plate"]): r for r in table.to_dict("records") if r.get("calibration_key") == keys.get(str(r["plate"]))
    }
    result = {plate: Calibration.from_row(stored[plate]) for plate in samples if plate in stored}
    todo = [plate for plate in samples if plate not in result]
    if todo:
        with dask_client(config.compute) as client:
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
    if todo or len(stored) != len(table):  # an unchanged table is not written again
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


def measure_screen(
    config, run_dir, *, force=False, log=None, fields=None
) -> tuple[pd.DataFrame, dict]:
    """Measure every field (reusing stored shards); returns the fields table and counts.

    ``fields`` is :func:`plan_fields` when already made.
    """
    fields = plan_fields(config) if fields is None else fields
    calibrations = calibrate_plates(config, fields, run_dir, force=force, log=log)
    fields = with_calibration_keys(fields, calibrations)
    reuse = drop_untracked(_reusable(run_dir, fields, force, log or Console(stderr=True)), run_dir)
    is_reused = fields["field_key"].isin(reuse)
    todo = fields[~is_reused]
    rows_by_well: dict[tuple, list] = defaultdict(list)
    for rec in fields[is_reused].to_dict("records"):
        rows_by_well[(rec["plate"], rec["well"])].append({**reuse[rec["field_key"]], **rec})
    pending = todo.groupby(["plate", "well"]).size().to_dict()
    if len(todo):
        with FieldProgress(len(todo), log) as progress:
            _measure(config, todo, rows_by_well, pending, run_dir, progress, calibrations)
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


def write_manifest(run_dir: Path, config: RunConfig, fields: pd.DataFrame, counts: dict, timings: dict,
                   *, input_warnings: list[str] = ()) -> Path:
    """Write ``manifest.json`` for a freshly written ``fields.parquet``.

    Its ``tables`` record holds ``fields.parquet`` only: the tables of an earlier
    scoring are not made from it, until scoring records them again.
    """
    # files_<role> holds every plane file of a role (path_<role> is its first), so it alone counts the inputs.
    paths = [p for files in fields.filter(regex="^files_").to_numpy().ravel() if files is not None for p in files]
    manifest = {
        "name": config.name,
        "config": config.model_dump(mode="json"),
        "config_hash": config.measurement_hash(),
        "versions": _versions(),
        "input_files": int(len(set(p for p in paths if isinstance(p, str)))),
        "input_warnings": list(input_warnings),
        "fields": {
            "total": len(fields),
            "ok": int((fields["status"] == "ok").sum()),
            "failed": int((fields["status"] == "failed").sum()),
            **counts,
        },
        "timings_s": timings,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "tables": {runfolder.FIELDS: table_record(run_dir / runfolder.FIELDS)},
    }
    return _write_json(run_dir, manifest)


def _write_json(run_dir: Path, manifest: dict) -> Path:
    return write_text_atomic(run_dir / runfolder.MANIFEST, json.dumps(manifest, indent=2, default=str))


def _record(run_dir: Path, manifest: dict, names: list[str], made_from: dict) -> dict:
    """Add the checksums of freshly written tables (and what they were made from) to the manifest."""
    tables = {**manifest.get("tables", {}), **{n: table_record(run_dir / n, made_from) for n in names}}
    manifest = {**manifest, "tables": tables}
    _write_json(run_dir, manifest)
    return manifest


def read_manifest(run_dir: Path) -> dict:
    """``manifest.json`` of a run folder; raises RunFolderDamaged (missing, unreadable)."""
    return runfolder.read_manifest(run_dir)


def _failure_message(fields: pd.DataFrame, limit: float) -> str:
    failed = fields[fields["status"] == "failed"]
    if len(fields) == 0 or len(failed) / len(fields) <= limit:
        return ""
    first = "; ".join(f"{r.plate} {r.well} s{r.site} t{r.timepoint}: {r.error}" for r in failed.head(3).itertuples())
    return (
        f"{len(failed)} of {len(fields)} fields failed (> compute.max_failed_fraction {limit:g}); first: {first}"
    )


def run_screen(config: RunConfig, *, out_dir=None, force=False, log=None) -> RunResult:
    """Measure, aggregate, score and report a whole screen into its run folder.

    Workers and the scheduler are ``config.compute`` (the command line folds its overrides in
    with :meth:`RunConfig.with_compute`).

    The inputs are checked before the run folder is made, so bad input leaves no
    folder behind; a run that fails before writing anything removes the folder it made.

    Raises
    ------
    InputError
        Inputs that stop the run (exit 1).
    WriteError
        The run folder cannot be made or written (exit 4).
    RunFolderBusy
        Another process holds the run folder (exit 5).
    SchedulerError
        The scheduler cannot be started or reached (exit 7).
    """
    log = log or Console(stderr=True)
    run_dir = Path(out_dir or config.output)
    check_writable_dir(run_dir)
    plan = plan_run(config)
    for warning in plan.warnings:
        log.print(f"warning: {warning}", soft_wrap=True)
    created = not run_dir.exists()
    make_dirs(run_dir)
    try:
        with run_lock(run_dir, f"screening run {config.name}") as stale:
            if stale:
                log.print(runfolder.describe_stale(stale), soft_wrap=True)
            return _run_locked(config, plan, run_dir, force, log)
    finally:
        if created and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()


def _run_locked(config, plan: Plan, run_dir: Path, force, log) -> RunResult:
    t0 = time.monotonic()
    fields, counts = measure_screen(config, run_dir, force=force, log=log, fields=plan.fields)
    t_measure = time.monotonic() - t0
    fields = order_columns(register_fields(fields, run_dir, config.tracking))
    t_register = time.monotonic() - t0 - t_measure
    write_table(fields, run_dir / runfolder.FIELDS)
    manifest_args = (run_dir, config, fields, counts)
    write_manifest(*manifest_args, {"measure": round(t_measure, 3)}, input_warnings=plan.warnings)
    written = _score_and_report(run_dir, config, log)
    wall = time.monotonic() - t0
    manifest = read_manifest(run_dir)
    manifest["timings_s"] = {"measure": round(t_measure, 3), "register": round(t_register, 3), "total": round(wall, 3)}
    _write_json(run_dir, manifest)
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
    """Rebuild wells.parquet (honouring qc_flags.csv), then scores and report, from fields.parquet.

    Raises
    ------
    InputError
        ``qc_flags.csv`` has problems (each named by file, line and column).
    RunFolderDamaged
        No or a damaged manifest, or a ``fields.parquet`` that is not the one it records.
    RunFolderBusy
        Another process holds the run folder.
    """
    run_dir = Path(run_dir)
    with run_lock(run_dir, "screening score"):
        manifest = read_manifest(run_dir)
        problems = table_problems(run_dir, manifest, [runfolder.FIELDS])
        if problems:
            raise RunFolderDamaged(
                f"{problems[0]}; rerun `screening run CONFIG --out {run_dir}` to rebuild it (measured fields are reused)"
            )
        if config is None:
            config = RunConfig.model_validate(manifest["config"])
        return _score_and_report(run_dir, config, log)


def _read_fields(run_dir: Path) -> pd.DataFrame:
    path = run_dir / runfolder.FIELDS
    if not path.is_file():
        raise RunFolderDamaged(f"{path}: not found; run `screening run CONFIG --out {run_dir}` first")
    try:
        fields = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any parquet error means the same to the user
        raise RunFolderDamaged(
            f"{path}: unreadable ({type(exc).__name__}: {exc}); rerun `screening run CONFIG --out {run_dir}`"
        ) from None
    try:
        flags = read_flags(run_dir)
        problems = check_flags(flags, fields, run_dir)
    except FlagsError as exc:
        problems = exc.problems
    if problems:
        raise InputError("qc_flags.csv has problem(s); fix them and rerun `screening score`:\n" + "\n".join(problems))
    return fields.assign(flagged=flagged_mask(fields, flags))


def _score_and_report(run_dir: Path, config: RunConfig, log) -> list[Path]:
    """wells.parquet, the score tables and report.html from fields.parquet, each recorded in the manifest."""
    log = log or Console(stderr=True)
    fields = _read_fields(run_dir)
    made_from = runfolder.sources(run_dir)
    manifest = read_manifest(run_dir)
    if runfolder.FIELDS not in manifest.get("tables", {}):  # a run folder made before tables were recorded
        manifest = _record(run_dir, manifest, [runfolder.FIELDS], None)
    wells = aggregate_wells(fields)
    written = [write_table(wells, run_dir / "wells.parquet")]
    tracked = track_run(fields, run_dir, config.tracking)
    written += write_tracks(tracked, run_dir, log=log)
    result = _score(fields, wells, config, tracked)
    inputs = [ScoringWarning("input", text) for text in manifest.get("input_warnings", [])]
    result.warnings = unique([*inputs, *result.warnings])
    for warning in result.warnings:
        log.print(f"warning: {warning.line}", soft_wrap=True)
    written += list(write_scores(result, run_dir).values())
    # Tables of tracks are recorded when written and forgotten when tracking is off (one timepoint).
    tracked_names = runfolder.TRACKED if tracked is not None else []
    manifest = {**manifest, "tables": {k: v for k, v in manifest.get("tables", {}).items()
                                       if k not in runfolder.TRACKED}}
    manifest = _record(run_dir, manifest, [*runfolder.SCORED, *tracked_names], made_from)
    written.append(write_report(run_dir))
    _record(run_dir, manifest, [runfolder.REPORT], made_from)
    return written


def _score(fields: pd.DataFrame, wells: pd.DataFrame, config: RunConfig, tracked=None) -> ScoreResult:
    """:func:`score_screen` on tracked survival where ``scoring.survival`` and the tracks allow it
    (:func:`choose_survival`, else net counts, saying why). It must never stop a run that measured
    its fields: an error becomes empty score tables and a warning that says so (kept in
    warnings.txt and the report)."""
    try:
        intervals, why_counts = choose_survival(tracked, config.scoring)
        result = score_screen(fields, wells, config.scoring, tracked_intervals=intervals)
        result.warnings[:0] = [ScoringWarning("survival_source", why_counts)] if why_counts else []
        return result
    except Exception as exc:  # noqa: BLE001 - the measurements are written; say why there are no scores
        return ScoreResult(scores=pd.DataFrame(columns=SCORES_COLUMNS), ranking=pd.DataFrame(columns=RANKING_COLUMNS),
                           plate_qc=pd.DataFrame(), dose_response=pd.DataFrame(),
                           warnings=[scoring_failed_warning(exc)])


def report_run(run_dir, *, log=None) -> Path:
    """Rewrite report.html from the run folder's tables, once they are checked against the manifest.

    Raises
    ------
    RunFolderDamaged
        A table is missing, cut short or not made from the recorded ``fields.parquet``.
    RunFolderBusy
        Another process holds the run folder.
    """
    run_dir = Path(run_dir)
    log = log or Console(stderr=True)
    with run_lock(run_dir, "screening report"):
        manifest = read_manifest(run_dir)
        if table_problems(run_dir, manifest, [runfolder.FIELDS]):
            fix = f"rerun `screening run CONFIG --out {run_dir}` (measured fields are reused)"
        else:
            fix = f"run `screening score {run_dir}` to rebuild them from fields.parquet"
        tracked = [n for n in runfolder.TRACKED if n in manifest.get("tables", {})]
        problems = table_problems(run_dir, manifest, [runfolder.FIELDS, *runfolder.SCORED, *tracked])
        if problems:
            raise RunFolderDamaged("the run folder's tables do not belong together:\n" + "\n".join(problems)
                                   + f"\n{fix}")
        if "tables" not in manifest:
            log.print(f"warning: {run_dir / runfolder.MANIFEST} records no table checksums (an older run "
                      "folder): the tables were not checked", soft_wrap=True)
        if runfolder.flags_changed(run_dir, manifest):
            log.print(f"warning: qc_flags.csv changed since the scores were made; `screening score {run_dir}` "
                      "applies it", soft_wrap=True)
        path = write_report(run_dir)
        if "tables" in manifest:
            _record(run_dir, manifest, [runfolder.REPORT], manifest["tables"]["scores.csv"].get("made_from"))
        return path


__all__ = ["InputError", "Plan", "RunResult", "measure_screen", "plan_run", "run_screen", "score_run"]
