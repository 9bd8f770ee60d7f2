"""Read a run folder into tables for the report, never failing on a missing one.

The report is written at the end of every run, including runs where scoring
failed or a table is absent (an old run folder, a run without a positive
control, a folder copied without its parquet files). Each table here is either a
DataFrame or ``None``; ``missing`` and ``problems`` say which and why, so the
report can show what it could not draw instead of crashing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from screening.io.flags import FLAG_COLUMNS, flagged_mask, read_flags

# File name -> what the report loses without it (shown to the reader).
TABLE_FILES = {
    "manifest.json": "run summary (config, counts, timings, versions)",
    "fields.parquet": "survival curves from matched sites, QC-failure heatmaps, failed fields",
    "wells.parquet": "motor-neuron count heatmaps",
    "scores.csv": "per-patient hazard ratios (forest plots) and the neurite endpoint",
    "ranking.csv": "pooled ranking and the verdict",
    "plate_qc.csv": "plate QC table",
    "qc_flags.csv": "wells flagged by hand",
    "dose_response.csv": "dose-response trends",
}
OPTIONAL = {"qc_flags.csv", "dose_response.csv"}
WARNING_FILES = ("warnings.txt", "scoring_warnings.txt")


@dataclass
class RunTables:
    """Everything the report reads from one run folder.

    Attributes
    ----------
    run_dir : Path
    manifest : dict
        Empty when ``manifest.json`` is absent or unreadable.
    fields, wells, scores, ranking, plate_qc, flags, dose : DataFrame or None
        ``fields`` gains a bool ``flagged`` column from ``qc_flags.csv``.
    warnings : list of str
        Scoring warnings (from a warnings file or the manifest).
    missing : list of str
        File names that were not found.
    problems : list of str
        Files that exist but could not be read, with the reason.
    """

    run_dir: Path
    manifest: dict = field(default_factory=dict)
    fields: pd.DataFrame | None = None
    wells: pd.DataFrame | None = None
    scores: pd.DataFrame | None = None
    ranking: pd.DataFrame | None = None
    plate_qc: pd.DataFrame | None = None
    flags: pd.DataFrame | None = None
    dose: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def config(self) -> dict:
        """The run config as JSON data (empty without a manifest)."""
        return self.manifest.get("config") or {}


def _read(path: Path, tables: RunTables, reader):
    if not path.is_file():
        tables.missing.append(path.name)
        return None
    try:
        return reader(path)
    except Exception as exc:  # noqa: BLE001 - an unreadable table must not stop the report
        tables.problems.append(f"{path.name}: could not be read ({type(exc).__name__}: {exc})")
        return None


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"plate": str, "well": str, "patient": str, "compound": str})


def _require(table: pd.DataFrame | None, name: str, columns: list[str], tables: RunTables):
    """The table, or None with a problem naming the missing columns."""
    if table is None:
        return None
    absent = [c for c in columns if c not in table.columns]
    if absent:
        tables.problems.append(f"{name}: missing column(s) {', '.join(absent)}; left out of the report")
        return None
    return table


def _bool(series: pd.Series) -> pd.Series:
    """True/False however a CSV spelled them (``True``, ``true``, ``1``); NaN stays NaN."""
    if series.dtype == bool:
        return series
    text = series.astype(str).str.strip().str.lower()
    return text.map({"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False})


def _warnings(run_dir: Path, manifest: dict) -> list[str]:
    found: list[str] = []
    for name in WARNING_FILES:
        path = run_dir / name
        if path.is_file():
            found += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    path = run_dir / "warnings.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found += [str(w) for w in (data if isinstance(data, list) else data.get("warnings", []))]
        except (ValueError, AttributeError):
            found.append("warnings.json: not valid JSON")
    for key in ("warnings", "scoring_warnings"):
        value = manifest.get(key)
        if isinstance(value, list):
            found += [str(w) for w in value]
    return list(dict.fromkeys(found))


def load_run(run_dir: str | Path) -> RunTables:
    """Read every table of a run folder that exists.

    Parameters
    ----------
    run_dir : path
        A run folder (docs/outputs.md: ``manifest.json``, ``fields.parquet``, ...).

    Returns
    -------
    RunTables
    """
    run_dir = Path(run_dir)
    tables = RunTables(run_dir)
    tables.manifest = _read(run_dir / "manifest.json", tables, lambda p: json.loads(p.read_text())) or {}
    if not isinstance(tables.manifest, dict):
        tables.problems.append("manifest.json: not a JSON object")
        tables.manifest = {}
    fields = _read(run_dir / "fields.parquet", tables, pd.read_parquet)
    fields = _require(fields, "fields.parquet", ["plate", "well", "site", "day", "n_neurons", "qc_pass", "status"],
                      tables)
    flags = _read(run_dir / "qc_flags.csv", tables, lambda p: read_flags(p.parent))
    tables.flags = flags if flags is not None else None
    if fields is not None:
        fields = fields.copy()
        fields["qc_pass"] = _bool(fields["qc_pass"]).fillna(False).astype(bool)
        try:
            fields["flagged"] = flagged_mask(fields, flags if flags is not None else pd.DataFrame(columns=FLAG_COLUMNS))
        except (ValueError, TypeError) as exc:
            tables.problems.append(f"qc_flags.csv: could not be matched to fields ({exc})")
            fields["flagged"] = False
    tables.fields = fields
    tables.wells = _require(
        _read(run_dir / "wells.parquet", tables, pd.read_parquet), "wells.parquet",
        ["plate", "well", "day", "n_neurons"], tables,
    )
    tables.scores = _require(
        _read(run_dir / "scores.csv", tables, _read_csv), "scores.csv",
        ["patient", "compound", "concentration_um", "hazard_ratio", "hr_ci_low", "hr_ci_high"], tables,
    )
    tables.ranking = _require(
        _read(run_dir / "ranking.csv", tables, _read_csv), "ranking.csv",
        ["compound", "concentration_um", "hazard_ratio", "hr_ci_low", "hr_ci_high", "q_value", "rank"], tables,
    )
    plate_qc = _require(
        _read(run_dir / "plate_qc.csv", tables, _read_csv), "plate_qc.csv", ["plate", "pass"], tables,
    )
    if plate_qc is not None:
        plate_qc = plate_qc.assign(**{"pass": _bool(plate_qc["pass"])})
    tables.plate_qc = plate_qc
    tables.dose = _read(run_dir / "dose_response.csv", tables, _read_csv)
    tables.warnings = _warnings(run_dir, tables.manifest)
    return tables
