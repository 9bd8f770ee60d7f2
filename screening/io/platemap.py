"""Plate maps (``layout.csv``): well -> patient line, compound, dose, role."""

from __future__ import annotations

import csv
import difflib
from pathlib import Path

import pandas as pd

from screening.io.wells import normalize_well

COLUMNS = ("well", "patient", "compound", "concentration_um", "role")
ROLES = ("vehicle", "positive_control", "treatment", "empty")
ROLE_SYNONYMS = {"negative_control": "vehicle"}


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


def _parse_row(row: dict, where: str, problems: list[str]) -> dict | None:
    out = {}
    try:
        out["well"] = normalize_well(row["well"])
    except ValueError as exc:
        problems.append(f"{where}, column well: {exc}")
        return None
    role = _role(row["role"] or "")
    if role is None:
        close = difflib.get_close_matches((row["role"] or "").strip().lower(), ROLES + tuple(ROLE_SYNONYMS), n=1)
        hint = f"did you mean {close[0]}?" if close else f"use one of {', '.join(ROLES)}"
        problems.append(f"{where}, column role: unknown role {row['role']!r}; {hint}")
        return None
    conc = _concentration(row["concentration_um"] or "", role)
    if conc is None:
        problems.append(
            f"{where}, column concentration_um: {row['concentration_um']!r} is not a number (µM)"
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
        CSV with columns ``well, patient, compound, concentration_um, role``.
        ``A1`` and ``A01`` are accepted; ``negative_control`` means ``vehicle``;
        a blank concentration means 0 µM except for treatments.

    Returns
    -------
    DataFrame
        One row per well, wells normalized to ``A01`` form.

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
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise PlateMapError(
                path, [f"{path}, line 1: missing column(s) {', '.join(missing)}; need {','.join(COLUMNS)}"]
            )
        reader.fieldnames = header
        rows, problems, seen = [], [], {}
        for line, raw in enumerate(reader, start=2):
            if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
                continue
            where = f"{path}, line {line}"
            parsed = _parse_row(raw, where, problems)
            if parsed is None:
                continue
            if parsed["well"] in seen:
                problems.append(
                    f"{where}, column well: {parsed['well']} is mapped twice (also line {seen[parsed['well']]})"
                )
                continue
            seen[parsed["well"]] = line
            rows.append(parsed)
    if problems:
        raise PlateMapError(path, problems)
    return pd.DataFrame(rows, columns=list(COLUMNS))
