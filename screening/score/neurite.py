"""Neurite endpoint: neurite length per neuron against the same patient's vehicle.

Two figures per patient × compound × concentration, both ratios of geometric
means over wells (a ratio is compared on the log scale, where well-to-well
spread is roughly symmetric):

- ``neurite_ratio``: neurite length per neuron (µm) at the last timepoint of the
  scored window;
- ``neurite_auc_ratio``: the same, averaged over the window (trapezoidal area
  under the curve divided by the window length in days), which uses every
  timepoint and is less noisy when neurons die late.

Each well's value is divided by the geometric mean of the vehicle wells on its
own plate (plate as a stratum); the 95 % CI is Welch's t interval for the
difference of log means, back-transformed. Well values come from
``wells.parquet`` (sums over usable fields), which are for display and endpoints (docs/outputs.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from screening.plate import is_vehicle
from screening.score.intervals import in_window
from screening.score.survival import ARM

NEURITE_COLUMNS = [
    "neurite_ratio", "neurite_ci_low", "neurite_ci_high",
    "neurite_auc_ratio", "neurite_auc_ci_low", "neurite_auc_ci_high", "neurite_note",
]


def welch_log_ratio(arm: np.ndarray, ref: np.ndarray, *, alpha: float = 0.05) -> tuple[float, float, float]:
    """Ratio of geometric means and its Welch t confidence interval.

    Parameters
    ----------
    arm, ref : ndarray
        Log values of the treated and the reference wells.
    alpha : float
        1 - confidence level.

    Returns
    -------
    ratio, ci_low, ci_high : float
        NaN CI with fewer than two wells on either side; NaN ratio without wells.
    """
    arm = np.asarray(arm, float)
    ref = np.asarray(ref, float)
    if len(arm) == 0 or len(ref) == 0:
        return np.nan, np.nan, np.nan
    diff = arm.mean() - ref.mean()
    if len(arm) < 2 or len(ref) < 2:
        return float(np.exp(diff)), np.nan, np.nan
    va = arm.var(ddof=1) / len(arm)
    vr = ref.var(ddof=1) / len(ref)
    se = np.sqrt(va + vr)
    if se == 0:
        return float(np.exp(diff)), float(np.exp(diff)), float(np.exp(diff))
    df = (va + vr) ** 2 / (va**2 / (len(arm) - 1) + vr**2 / (len(ref) - 1))
    crit = stats.t.ppf(1 - alpha / 2, df)
    return float(np.exp(diff)), float(np.exp(diff - crit * se)), float(np.exp(diff + crit * se))


def well_neurite_values(wells: pd.DataFrame, *, window_days: tuple[float, float] | None = None) -> pd.DataFrame:
    """Per well: neurite length per neuron at the window's end and its time average.

    Parameters
    ----------
    wells : DataFrame
        ``wells.parquet`` rows (plate, well, timepoint, day, plate-map columns,
        ``neurite_length_per_neuron_um``, ``n_fields``).
    window_days : (float, float), optional
        Scored window (days).

    Returns
    -------
    DataFrame
        One row per plate × well with the plate-map columns, ``end_um`` (µm at
        the plate's last window timepoint, NaN when unusable there) and
        ``mean_um`` (time-averaged µm; NaN unless the well is usable at the
        window's first and last timepoints).
    """
    data = wells[in_window(wells["day"], window_days)].copy()
    value = data["neurite_length_per_neuron_um"].where(data["n_fields"] > 0)
    data["_v"] = value.where(value > 0)
    bounds = data.groupby("plate", observed=True)["day"].agg(["min", "max"])
    rows = []
    for (plate, well), g in data.groupby(["plate", "well"], observed=True, sort=True):
        first, last = bounds.loc[plate, "min"], bounds.loc[plate, "max"]
        g = g.sort_values("day")
        ok = g[g["_v"].notna()]
        end = ok.loc[ok["day"] == last, "_v"]
        end_um = float(end.iloc[0]) if len(end) else np.nan
        mean_um = np.nan
        if len(ok) and ok["day"].iloc[0] == first and ok["day"].iloc[-1] == last:
            if last > first:
                mean_um = float(np.trapezoid(ok["_v"], ok["day"]) / (last - first))
            else:
                mean_um = end_um
        first_row = g.iloc[0]
        rows.append({
            "plate": plate, "well": well,
            **{c: first_row[c] for c in ["patient", *ARM, "role"]},
            "end_um": end_um, "mean_um": mean_um,
        })
    return pd.DataFrame(rows, columns=["plate", "well", "patient", *ARM, "role", "end_um", "mean_um"])


def neurite_ratios(
    wells: pd.DataFrame,
    *,
    baseline_role: str = "vehicle",
    window_days: tuple[float, float] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Neurite ratios of every patient × compound × concentration vs that patient's vehicle.

    Returns
    -------
    DataFrame
        ``patient, compound, concentration_um`` and :data:`NEURITE_COLUMNS`.
    """
    values = well_neurite_values(wells, window_days=window_days)
    out = []
    for patient, pw in values.groupby("patient", observed=True, sort=True):
        vehicle = is_vehicle(pw["role"], baseline_role)
        logs = {}
        for col in ("end_um", "mean_um"):
            log = np.log(pw[col])
            ref = log[vehicle].groupby(pw.loc[vehicle, "plate"]).mean()
            # Plate as a stratum: wells on a plate without vehicle wells get NaN.
            logs[col] = log - pw["plate"].map(ref)
        arms = pw[~vehicle & (pw["role"] != "empty")]
        for key, aw in arms.groupby(ARM, observed=True, sort=True, dropna=False):
            row = {"patient": patient, "compound": key[0], "concentration_um": key[1]}
            notes = []
            for col, prefix in (("end_um", "neurite"), ("mean_um", "neurite_auc")):
                a = logs[col][aw.index].dropna().to_numpy()
                r = logs[col][vehicle].dropna().to_numpy()
                ratio, lo, hi = welch_log_ratio(a, r, alpha=alpha)
                row[f"{prefix}_ratio"], row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"] = ratio, lo, hi
                if col == "end_um":
                    if len(r) == 0:
                        notes.append("no vehicle wells with neurites at the end")
                    elif len(a) == 0:
                        notes.append("no wells with neurons at the end")
                    elif len(a) < 2 or len(r) < 2:
                        notes.append("fewer than two wells: neurite CI not given")
            row["neurite_note"] = "; ".join(notes)
            out.append(row)
    return pd.DataFrame(out, columns=["patient", *ARM, *NEURITE_COLUMNS])
