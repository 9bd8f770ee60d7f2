"""QC flags set by a person (``qc_flags.csv``: ``plate, well, site, reason``).

A flag with an empty ``site`` covers every site of the well. Flags are read when
wells are aggregated and when scoring, never when measuring, so changing them
only needs ``screening score``. The file is checked like a plate map: every
problem names the file, line and column, with a suggestion; a flag that names a
plate, well or site the run does not have is an error (:func:`check_flags`), so
a typo cannot silently leave a bad well in the scores.
"""

from __future__ import annotations

import csv
import difflib
from pathlib import Path

import numpy as np
import pandas as pd

from screening.io.atomic import write_atomic
from screening.io.wells import normalize_well

FLAG_COLUMNS = ["plate", "well", "site", "reason"]
FLAGS_FILE = "qc_flags.csv"


class FlagsError(ValueError):
    """A ``qc_flags.csv`` that cannot be used; ``problems`` holds one line each (file, line, column)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _suggest(value: str, choices, what: str) -> str:
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    if close:
        return f"did you mean {close[0]}?"
    listed = sorted(str(c) for c in choices)
    return f"the run's {what}: {', '.join(listed[:8])}{' ...' if len(listed) > 8 else ''}"


def _site(value: str) -> int | None:
    """Site number of a flag, None for the whole well; ValueError when it is not one."""
    text = value.strip()
    if not text:
        return None
    number = float(text)  # "2.0" from a spreadsheet is site 2
    if number != int(number) or number < 1:
        raise ValueError(text)
    return int(number)


def _parse(path: Path, rows: list[list[str]]) -> tuple[list[dict], list[str]]:
    header = [h.strip().lower() for h in rows[0]] if rows else []
    problems = []
    missing = [c for c in FLAG_COLUMNS[:2] if c not in header]
    unknown = [h for h in header if h not in FLAG_COLUMNS]
    for name in unknown:
        problems.append(f"{path}, line 1: unknown column {name!r}; {_suggest(name, FLAG_COLUMNS, 'columns')}")
    if missing:
        problems.append(f"{path}, line 1: missing column(s) {', '.join(missing)}; need {','.join(FLAG_COLUMNS)}")
        return [], problems
    flags = []
    for line, values in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in values):
            continue
        where = f"{path}, line {line}"
        if len(values) != len(header):
            problems.append(f"{where}: {len(values)} value(s) for {len(header)} column(s) ({','.join(header)}); "
                            "quote a reason that contains commas")
            continue
        row = dict(zip(header, values, strict=True))
        plate = row["plate"].strip()
        if not plate:
            problems.append(f"{where}, column plate: empty; name the plate id of the run")
            continue
        try:
            well = normalize_well(row["well"])
        except ValueError as exc:
            problems.append(f"{where}, column well: {exc}")
            continue
        try:
            site = _site(row.get("site", ""))
        except ValueError:
            problems.append(f"{where}, column site: {row['site'].strip()!r} is not a site number (1, 2, ...); "
                            "leave it empty to flag every site of the well")
            continue
        flags.append({"line": line, "plate": plate, "well": well, "site": site, "reason": row.get("reason", "")})
    return flags, problems


def read_flags(run_dir: str | Path) -> pd.DataFrame:
    """Read ``qc_flags.csv`` from a run folder (an empty table when there is none).

    Returns
    -------
    DataFrame
        :data:`FLAG_COLUMNS` (``site`` Int64, NA: the whole well), indexed by the
        file's line numbers (for :func:`check_flags` messages).

    Raises
    ------
    FlagsError
        Every problem, each naming the file, line and column: a file that is not
        UTF-8 text, missing or unknown columns, a row with too many or too few
        values, an empty plate, a well that is not ``A01``-style, a site that is
        not a positive whole number.
    """
    path = Path(run_dir) / FLAGS_FILE
    if not path.is_file():
        return pd.DataFrame(columns=FLAG_COLUMNS).astype({"site": "Int64"})
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise FlagsError([f"{path}: not a readable CSV file ({exc}); write it as UTF-8 text with columns "
                          f"{','.join(FLAG_COLUMNS)}"]) from None
    flags, problems = _parse(path, rows)
    if problems:
        raise FlagsError(problems)
    table = pd.DataFrame(flags, columns=["line", *FLAG_COLUMNS]).set_index("line")
    table.index.name = None
    table["site"] = table["site"].astype("Int64")
    table["reason"] = table["reason"].fillna("").astype(str)
    return table


def check_flags(flags: pd.DataFrame, fields: pd.DataFrame, run_dir: str | Path) -> list[str]:
    """Flags that name a plate, well or site the run does not have (one problem each, with a suggestion).

    Parameters
    ----------
    flags : DataFrame
        From :func:`read_flags` (index: line numbers).
    fields : DataFrame
        The run's ``fields.parquet`` (``plate, well, site``).
    run_dir : path
        The run folder, to name the file.
    """
    path = Path(run_dir) / FLAGS_FILE
    plates = set(fields["plate"])
    wells = fields.groupby("plate")["well"].agg(set).to_dict()
    sites = fields.groupby(["plate", "well"])["site"].agg(lambda s: set(s.astype(int))).to_dict()
    problems = []
    for line, flag in flags.iterrows():
        where = f"{path}, line {line}"
        if flag["plate"] not in plates:
            problems.append(f"{where}, column plate: {flag['plate']!r} is not a plate of this run; "
                            f"{_suggest(flag['plate'], plates, 'plates')}")
        elif flag["well"] not in wells[flag["plate"]]:
            problems.append(f"{where}, column well: plate {flag['plate']} has no imaged well {flag['well']}; "
                            f"{_suggest(flag['well'], wells[flag['plate']], 'wells')}")
        elif pd.notna(flag["site"]) and int(flag["site"]) not in sites[(flag["plate"], flag["well"])]:
            found = sorted(sites[(flag["plate"], flag["well"])])
            problems.append(f"{where}, column site: well {flag['plate']}:{flag['well']} has no site {flag['site']} "
                            f"(its sites: {found}); leave site empty to flag the whole well")
    return problems


def write_flags(run_dir: str | Path, flags: pd.DataFrame) -> Path:
    """Write ``qc_flags.csv`` atomically, one row per flag, sorted."""
    table = flags.reindex(columns=FLAG_COLUMNS).drop_duplicates(FLAG_COLUMNS[:3], keep="last")
    table = table.sort_values(FLAG_COLUMNS[:3], na_position="first", kind="stable")
    return write_atomic(Path(run_dir) / FLAGS_FILE, lambda tmp: table.to_csv(tmp, index=False))


def flagged_mask(fields: pd.DataFrame, flags: pd.DataFrame) -> np.ndarray:
    """True for each field row covered by a flag (its well with no site, or its exact site)."""
    if flags.empty:
        return np.zeros(len(fields), bool)
    whole = set(zip(*(flags.loc[flags["site"].isna(), c] for c in ("plate", "well")), strict=True))
    sites = set(
        zip(*(flags.loc[flags["site"].notna(), c] for c in ("plate", "well")),
            flags.loc[flags["site"].notna(), "site"].astype(int), strict=True)
    )
    keys = zip(fields["plate"], fields["well"], fields["site"].astype(int), strict=True)
    return np.array([(p, w) in whole or (p, w, s) in sites for p, w, s in keys], bool)
