"""Small tables the report draws: survival curves, hits, failing plates, QC per well.

Pure functions of the run's tables; no plotting, no HTML.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from screening.plate import MAP_COLUMNS, usable_fields

ARM_KEYS = MAP_COLUMNS


def with_plate_map(fields: pd.DataFrame, wells: pd.DataFrame | None) -> pd.DataFrame:
    """``fields`` with the plate-map columns, joined from ``wells`` when fields lacks them."""
    missing = [c for c in MAP_COLUMNS if c not in fields.columns]
    if not missing or wells is None or not set(missing) <= set(wells.columns):
        return fields
    plate_map = wells[["plate", "well", *missing]].drop_duplicates(["plate", "well"])
    return fields.merge(plate_map, on=["plate", "well"], how="left")


def well_survival_curves(
    fields: pd.DataFrame, *, window_days: tuple[float, float] | None = None
) -> pd.DataFrame:
    """Fraction of each well's day-0 motor neurons alive at each later day.

    Only sites usable (``status == 'ok'``, ``qc_pass``, not ``flagged``) both at
    the first day and at that day count, so a failed field does not look like
    deaths (docs/outputs.md, "usable").

    Parameters
    ----------
    fields : DataFrame
        ``plate, well, site, day, n_neurons, qc_pass, status`` (``flagged``
        optional) and the plate-map columns.
    window_days : (float, float), optional
        First and last day shown (days); default all.

    Returns
    -------
    DataFrame
        ``plate, well, day, survival`` plus the plate-map columns; ``survival``
        is NaN when no site is usable at both days or none had neurons at day 0.
    """
    data = fields.copy()
    if "flagged" not in data:
        data["flagged"] = False
    data["_usable"] = usable_fields(data)
    data["_usable"] &= data["n_neurons"].notna()
    if window_days is not None:
        data = data[(data["day"] >= window_days[0]) & (data["day"] <= window_days[1])]
    if data.empty:
        return pd.DataFrame(columns=["plate", "well", "day", "survival", *MAP_COLUMNS])
    first_day = data.groupby("plate")["day"].transform("min")
    start = data[data["day"] == first_day].set_index(["plate", "well", "site"])[["_usable", "n_neurons"]]
    joined = data.join(start.add_suffix("_start"), on=["plate", "well", "site"])
    both = joined[joined["_usable"] & joined["_usable_start"].fillna(False).astype(bool)]
    sums = both.groupby(["plate", "well", "day"])[["n_neurons", "n_neurons_start"]].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        sums["survival"] = (sums["n_neurons"] / sums["n_neurons_start"]).where(sums["n_neurons_start"] > 0)
    keys = data.groupby(["plate", "well", "day"])[[c for c in MAP_COLUMNS if c in data]].first()
    out = keys.join(sums[["survival"]], how="left").reset_index()
    return out


def arm_curves(curves: pd.DataFrame, *, confidence: float = 0.95) -> pd.DataFrame:
    """Mean survival of each patient × arm × day over well replicates, with a t band.

    Parameters
    ----------
    curves : DataFrame
        Output of :func:`well_survival_curves`.
    confidence : float
        Level of the band (default 0.95).

    Returns
    -------
    DataFrame
        ``patient, compound, concentration_um, role, day, mean, ci_low,
        ci_high, n_wells``; the band is NaN with fewer than two wells.
    """
    cols = ARM_KEYS + ["day", "mean", "ci_low", "ci_high", "n_wells"]
    data = curves.dropna(subset=["survival"])
    if data.empty or not set(ARM_KEYS) <= set(data.columns):
        return pd.DataFrame(columns=cols)
    agg = (
        data.groupby(ARM_KEYS + ["day"], dropna=False, observed=True)["survival"]
        .agg(mean="mean", sd="std", n_wells="count")
        .reset_index()
    )
    n = agg["n_wells"].to_numpy(float)
    crit = stats.t.ppf(0.5 + confidence / 2, np.where(n > 1, n - 1, np.nan))
    half = crit * agg["sd"].to_numpy(float) / np.sqrt(n)
    agg["ci_low"] = agg["mean"] - half
    agg["ci_high"] = agg["mean"] + half
    return agg[cols]


def hits(ranking: pd.DataFrame, fdr_q: float) -> pd.DataFrame:
    """Ranked rows with ``q_value < fdr_q``, best rank first (protective and harmful alike)."""
    q = pd.to_numeric(ranking["q_value"], errors="coerce")
    out = ranking[(q < fdr_q) & ranking["rank"].notna()]
    return out.sort_values("rank", kind="stable")


def ranked(ranking: pd.DataFrame) -> pd.DataFrame:
    """Rows that carry a rank, in rank order."""
    return ranking[ranking["rank"].notna()].sort_values("rank", kind="stable")


def failed_plates(plate_qc: pd.DataFrame) -> pd.DataFrame:
    """Plate × patient rows whose ``pass`` is False."""
    return plate_qc[plate_qc["pass"].eq(False)]


def neurite_by_arm(scores: pd.DataFrame) -> pd.DataFrame:
    """Geometric mean over patients of the per-patient ``neurite_ratio`` per compound × concentration.

    Returns
    -------
    DataFrame
        ``compound, concentration_um, neurite_ratio, n_neurite_patients``
        (empty without a ``neurite_ratio`` column).
    """
    cols = ["compound", "concentration_um", "neurite_ratio", "n_neurite_patients"]
    if "neurite_ratio" not in scores:
        return pd.DataFrame(columns=cols)
    data = scores[["compound", "concentration_um", "neurite_ratio"]].copy()
    data["_log"] = np.log(pd.to_numeric(data["neurite_ratio"], errors="coerce").where(lambda s: s > 0))
    out = (
        data.groupby(["compound", "concentration_um"], dropna=False)["_log"]
        .agg(neurite_ratio="mean", n_neurite_patients="count")
        .reset_index()
    )
    out["neurite_ratio"] = np.exp(out["neurite_ratio"])
    return out[cols]


def qc_by_well(fields: pd.DataFrame) -> pd.DataFrame:
    """Fields per well (all timepoints) that failed, failed QC or were flagged.

    Returns
    -------
    DataFrame
        ``plate, well, n_fields, n_failed, n_qc_fail, n_flagged, n_bad`` where
        ``n_bad`` counts fields with any of the three.
    """
    failed = fields["status"].ne("ok")
    qc_fail = ~failed & ~fields["qc_pass"].astype(bool)
    flagged = fields["flagged"].fillna(False).astype(bool) if "flagged" in fields else pd.Series(False, fields.index)
    data = pd.DataFrame({
        "plate": fields["plate"], "well": fields["well"], "n_failed": failed, "n_qc_fail": qc_fail,
        "n_flagged": flagged, "n_bad": failed | qc_fail | flagged,
    })
    out = data.groupby(["plate", "well"]).agg(
        n_fields=("n_bad", "size"), n_failed=("n_failed", "sum"), n_qc_fail=("n_qc_fail", "sum"),
        n_flagged=("n_flagged", "sum"), n_bad=("n_bad", "sum"),
    )
    return out.reset_index()


def count_at(wells: pd.DataFrame, which: str) -> pd.DataFrame:
    """Motor neurons per well at each plate's first (``which='first'``) or last day.

    Returns
    -------
    DataFrame
        ``plate, well, day, n_neurons``.
    """
    day = wells.groupby("plate")["day"].transform("min" if which == "first" else "max")
    return wells.loc[wells["day"] == day, ["plate", "well", "day", "n_neurons"]].reset_index(drop=True)


def error_summary(fields: pd.DataFrame) -> pd.DataFrame:
    """Failed fields grouped by error message: ``error, n_fields, example``."""
    failed = fields[fields["status"].ne("ok")]
    if failed.empty:
        return pd.DataFrame(columns=["error", "n_fields", "example"])
    errors = failed["error"].fillna("(no message)") if "error" in failed else pd.Series("(no message)", failed.index)
    example = failed["plate"].astype(str) + " " + failed["well"].astype(str) + " s" + failed["site"].astype(str)
    if "timepoint" in failed:
        example = example + " t" + failed["timepoint"].astype(str)
    out = pd.DataFrame({"error": errors.astype(str), "example": example})
    out = out.groupby("error", sort=False).agg(n_fields=("example", "size"), example=("example", "first"))
    return out.reset_index().sort_values("n_fields", ascending=False, kind="stable")
