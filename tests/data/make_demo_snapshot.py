"""Write the demo run's tables as the snapshot ``tests/test_demo_snapshot.py`` compares with.

The snapshot pins behaviour across refactors (issue #20): a change meant to keep every number
must leave the demo's tables as they were. A change meant to move numbers regenerates it, and
its commit says why:

    .venv/bin/screening run configs/example.yaml --out runs/example --force
    .venv/bin/python tests/data/make_demo_snapshot.py runs/example
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent / "demo_snapshot"
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


def main(run: str) -> None:
    HERE.mkdir(exist_ok=True)
    for name in TABLES:
        read_table(Path(run), name).to_csv(HERE / f"{name}.csv", index=False)
        print(f"wrote {HERE / name}.csv")


if __name__ == "__main__":
    main(sys.argv[1])
