"""QC flags set by a person (``qc_flags.csv``: ``plate, well, site, reason``).

A flag with an empty ``site`` covers every site of the well. Flags are read when
wells are aggregated and when scoring, never when measuring, so changing them
only needs ``screening score``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from screening.io.atomic import write_atomic
from screening.io.wells import normalize_well

FLAG_COLUMNS = ["plate", "well", "site", "reason"]
FLAGS_FILE = "qc_flags.csv"


def read_flags(run_dir: str | Path) -> pd.DataFrame:
    """Read ``qc_flags.csv`` from a run folder (an empty table when there is none)."""
    path = Path(run_dir) / FLAGS_FILE
    if not path.is_file():
        return pd.DataFrame(columns=FLAG_COLUMNS)
    flags = pd.read_csv(path, dtype={"plate": str, "well": str, "reason": str})
    missing = [c for c in FLAG_COLUMNS[:2] if c not in flags]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; need {','.join(FLAG_COLUMNS)}")
    flags = flags.reindex(columns=FLAG_COLUMNS)
    flags["well"] = flags["well"].map(normalize_well)
    flags["site"] = pd.to_numeric(flags["site"], errors="coerce").astype("Int64")
    flags["reason"] = flags["reason"].fillna("")
    return flags


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
