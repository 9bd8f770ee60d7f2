"""Plate maps (``layout.csv``): well -> patient line, compound, dose, role."""

from __future__ import annotations

import csv
import difflib
from pathlib import Path

import pandas as pd

from screening.io.wells import normalize_well
from screening.plate import ROLE_SYNONYMS, ROLES

COLUMNS = ("well", "patient", "compound", "concentration_um", "role")
#: Concentrations are micromolar; ``concentration_uM`` (what ``screening init`` writes) and
#: ``concentration_µM`` are read as ``concentration_um``, the column name of every output table.
COLUMN_SYNONYMS = {"concentration_uM": "concentration_um", "concentration_µM": "concentration_um"}
TEMPLATE_COLUMNS = ("well", "patient", "compound", "concentration_uM", "role")


class PlateMapError(ValueError):
    """A plate map that cannot be used; ``problems`` holds one line each, naming file, line and column."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(problems))


def _role(value: str) -> str | None:
    role = value.strip().lower().replace(" ", "_").replace("-", "_")
    role = ROLE_SYNONYMS.get(role, role)
    return role if role in ROLES else None


def _concentration(value: str, role: str) -> float | None:
    if value.strip() == "":
        return None if role in ("treatment",) else 0.0
    try:
        return float(value)
    except ValueError:
        return None


def _parse_row(row: dict, where: str, problems: list[str], conc_column: str = "concentration_um") -> dict | None:
    out = {}
    try:
        out["well"] = normalize_well(row["well"])
    except ValueError as exc:
        problems.append(f"{where}, column well: {exc}")
        return None
    role = _role(row["role"] or "")
    if not (row["role"] or "").strip():
        problems.append(f"{where}, column role: empty; use one of {', '.join(ROLES)}")
        return None
    if role is None:
        close = difflib.get_close_matches((row["role"] or "").strip().lower(), ROLES + tuple(ROLE_SYNONYMS), n=1)
        hint = f"did you mean {close[0]}?" if close else f"use one of {', '.join(ROLES)}"
        problems.append(f"{where}, column role: unknown role {row['role']!r}; {hint}")
        return None
    conc = _concentration(row["concentration_um"] or "", role)
    if conc is None:
        problems.append(
            f"{where}, column {conc_column}: {row['concentration_um']!r} is not a number (µM)"
        )
        return None
    patient = (row["patient"] or "").strip()
    compound = (row["compound"] or "").strip()
    if role != "empty" and not patient:
        problems.append(f"{where}, column patient: empty; every non-empty well needs a patient line")
        return None
    if role != "empty" and not compound:
        problems.append(f"{where}, column compound: empty; name the compound (or DMSO for vehicle)")
        return None
    out.update(patient=patient, compound=compound, concentration_um=conc, role=role)
    return out


def read_plate_map(path: str | Path) -> pd.DataFrame:
    """Read and check a plate map.

    Parameters
    ----------
    path : path-like
        CSV with columns ``well, patient, compound, concentration_uM, role``
        (concentration in µM; ``concentration_um`` is the same column).
        ``A1`` and ``A01`` are accepted; ``negative_control`` means ``vehicle``;
        a blank concentration means 0 µM except for treatments. Rows with only a
        well (a ``screening init`` template not filled in yet) are named together.

    Returns
    -------
    DataFrame
        One row per well, wells normalized to ``A01`` form; columns :data:`COLUMNS`.

    Raises
    ------
    PlateMapError
        Listing every problem, each naming the file, line and column.
    """
    path = Path(path)
    if not path.is_file():
        raise PlateMapError(path, [f"{path}: plate map not found; check plates[].layout in the config"])
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        spelled = [h.strip() for h in (reader.fieldnames or [])]
        header = [COLUMN_SYNONYMS.get(h, h) for h in spelled]
        conc_column = dict(zip(header, spelled, strict=True)).get("concentration_um", "concentration_um")
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise PlateMapError(
                path, [f"{path}, line 1: missing column(s) {', '.join(missing)}; need {','.join(TEMPLATE_COLUMNS)}"]
            )
        reader.fieldnames = header
        rows, problems, seen, unfilled = [], [], {}, []
        for line, raw in enumerate(reader, start=2):
            if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
                continue
            if not any((raw.get(c) or "").strip() for c in COLUMNS[1:]):  # a template row: only the well
                unfilled.append((raw.get("well") or "").strip())
                continue
            where = f"{path}, line {line}"
            parsed = _parse_row(raw, where, problems, conc_column)
            if parsed is None:
                continue
            if parsed["well"] in seen:
                problems.append(
                    f"{where}, column well: {parsed['well']} is mapped twice (also line {seen[parsed['well']]})"
                )
                continue
            seen[parsed["well"]] = line
            rows.append(parsed)
    if unfilled:
        shown = ", ".join(unfilled[:8]) + (f" and {len(unfilled) - 8} more" if len(unfilled) > 8 else "")
        problems.append(
            f"{path}: {len(unfilled)} well(s) not filled in yet ({shown}): give each a role (vehicle, "
            "positive_control, treatment, or empty for a well to leave out) and, unless empty, its patient, "
            "compound and concentration_uM (µM); see docs/plate-map.md"
        )
    if problems:
        raise PlateMapError(path, problems)
    return pd.DataFrame(rows, columns=list(COLUMNS))
