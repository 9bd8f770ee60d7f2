"""Write a run's tables as a snapshot ``tests/test_snapshots.py`` compares with.

The snapshots pin behaviour across refactors (issue #20): a change meant to keep every number
must leave the tables of the demo run and of a simulated ``small`` screen as they were. A change
meant to move numbers regenerates them, and its commit says why:

    .venv/bin/screening run configs/example.yaml --out runs/example --force
    .venv/bin/python tests/data/make_snapshot.py runs/example demo
    .venv/bin/screening simulate runs/small-screen --preset small --seed 0
    .venv/bin/screening run runs/small-screen/config.yaml --out runs/small --force
    .venv/bin/python tests/data/make_snapshot.py runs/small small
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
#: The screens pinned: the demo run (configs/example.yaml) and preset ``small``, seed 0.
SCREENS = ("demo", "small")


def snapshot_dir(screen: str) -> Path:
    return HERE / f"{screen}_snapshot"

TABLES = {
    "fields": ("fields.parquet", ["plate", "well", "site", "timepoint"],
               ["n_neurons", "n_nuclei", "neurite_length_um", "neurite_assigned_um", "qc_pass", "qc_reason",
                "focus_score", "shift_y_px", "shift_x_px", "shift_ok"]),
    "wells": ("wells.parquet", ["plate", "well", "timepoint"], None),
    "scores": ("scores.csv", ["patient", "compound", "concentration_um"], None),
    "ranking": ("ranking.csv", ["compound", "concentration_um"], None),
    "plate_qc": ("plate_qc.csv", ["plate", "patient"], None),
    "neurons": ("neurons.parquet", ["plate", "well", "site", "track_id"], None),
}


def read_table(run: Path, name: str) -> pd.DataFrame:
    """One run table, its snapshot columns, sorted by its keys."""
    file, keys, columns = TABLES[name]
    path = Path(run) / file
    table = pd.read_parquet(path) if file.endswith(".parquet") else pd.read_csv(path)
    if columns is not None:
        table = table[keys + columns]
    return table.sort_values(keys).reset_index(drop=True)


def main(run: str, screen: str) -> None:
    if screen not in SCREENS:
        raise SystemExit(f"unknown screen {screen!r}; one of {SCREENS}")
    out = snapshot_dir(screen)
    out.mkdir(exist_ok=True)
    for name in TABLES:
        read_table(Path(run), name).to_csv(out / f"{name}.csv", index=False)
        print(f"wrote {out / name}.csv")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: make_snapshot.py RUN_FOLDER {demo,small}")
    main(sys.argv[1], sys.argv[2])
