"""How much of the neurite error on simulated looks follows each field's blur (in-focus fields only).

The simulator draws every field with its own optical blur (``blur_px`` in ``truth/fields.csv``);
fields over the defocus cut are flagged and left out of every accuracy figure, but the in-focus
ones still differ by ~15 % (sd, in log) within a plate. This script reads the runs that
``look_grid.py`` cached under ``benchmarks/out/looks`` (nothing is re-measured) and prints, per
look: the correlation of each field's ``neurite_length_um`` / truth with its blur, the elasticity
of that ratio on blur relative to the plate's median (slope of log ratio on log blur), and the
neurite error and r on all in-focus fields beside those on the fields at most
``SHARP_BLUR`` x the plate's median blur.

Run: ``python benchmarks/look_grid.py --seeds 8`` (and ``--looks --first-seed 9 --seeds 16``) first,
then ``python benchmarks/neurite_blur.py`` (a few seconds).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from look_grid import BARS, KEYS, MIN_NEURITE_TRUTH_UM, OUT  # noqa: E402

SHARP_BLUR = 1.15  # x the plate's median blur


def neurite_scores(fields: pd.DataFrame) -> tuple[float, float]:
    """(median relative error over fields with enough truth, Pearson r) of ``neurite_length_um``."""
    got, want = fields["neurite_length_um"].to_numpy(float), fields["neurite_length_all_um"].to_numpy(float)
    big = want >= MIN_NEURITE_TRUTH_UM
    return float(np.median(np.abs(got[big] - want[big]) / want[big])), float(np.corrcoef(got, want)[0, 1])


def look_row(folder: Path) -> dict | None:
    """One look's blur figures, or None when the look has no cached run."""
    truth_csv, fields_parquet = folder / "plate" / "truth" / "fields.csv", folder / "run" / "fields.parquet"
    if not (truth_csv.exists() and fields_parquet.exists()):
        return None
    truth = pd.read_csv(truth_csv, dtype={"plate": str})
    m = truth.merge(pd.read_parquet(fields_parquet), on=KEYS, suffixes=("_true", ""))
    m = m[~m["defocused"] & (m["status"] == "ok")]
    relative_blur = m["blur_px"] / m["blur_px"].median()
    ratio = m["neurite_length_um"] / m["neurite_length_all_um"]
    measured = ratio > 0
    error, r = neurite_scores(m)
    sharp = relative_blur <= SHARP_BLUR
    error_sharp, r_sharp = neurite_scores(m[sharp])
    return {
        "look": folder.name,
        "fields (sharp)": f"{len(m)} ({int(sharp.sum())})",
        "blur sd (log)": float(np.std(np.log(relative_blur))),
        "corr(ratio, blur)": float(np.corrcoef(ratio, m["blur_px"])[0, 1]),
        "elasticity": float(np.polyfit(np.log(relative_blur[measured]), np.log(ratio[measured]), 1)[0]),
        "neurite error / r": f"{error:.3f} / {r:.3f}",
        "sharp fields: error / r": f"{error_sharp:.3f} / {r_sharp:.3f}",
        "_r": r,
        "_r_sharp": r_sharp,
    }


def main() -> None:
    rows = [row for folder in sorted(OUT.iterdir()) if (row := look_row(folder)) is not None]
    if not rows:
        raise SystemExit(f"no cached look_grid.py runs under {OUT}: run benchmarks/look_grid.py first")
    table = pd.DataFrame(rows)
    shown = table.drop(columns=["_r", "_r_sharp"])
    print("| " + " | ".join(shown.columns) + " |")
    print("|---" * shown.shape[1] + "|")
    for row in shown.itertuples(index=False):
        print("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row) + " |")
    bar = BARS["neurite r"]
    print(f"\nmedian corr(ratio, blur) {table['corr(ratio, blur)'].median():.2f}, "
          f"median elasticity {table['elasticity'].median():.2f}; "
          f"looks with neurite r >= {bar}: {int((table['_r'] >= bar).sum())} of {len(table)} on all in-focus fields, "
          f"{int((table['_r_sharp'] >= bar).sum())} on the fields at most {SHARP_BLUR}x the plate's median blur")


if __name__ == "__main__":
    main()
