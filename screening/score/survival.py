"""Per-patient hazard ratios against the same patient's vehicle wells.

Grouped-time proportional hazards: the probability that a neuron at risk at the
start of interval *k* dies before its end is ``1 - exp(-exp(alpha_k + beta_arm))``
(binomial GLM, complementary log-log link). ``alpha_k`` is one intercept per
interval (per plate × interval when the patient spans plates, i.e. the plate is a
stratum) and ``beta_arm`` is the log hazard ratio of a compound × concentration
against the vehicle wells. The cloglog link makes ``exp(beta)`` the ratio of
continuous-time hazards whatever the interval lengths, which is why it agrees
with a Cox model fitted to one row per neuron.

Standard errors are clustered by well (counts of sites in one well share the
well's culture) with the CR2 small-sample correction and Bell-McCaffrey degrees
of freedom (:mod:`screening.score.clustered`), or, with
``ScoringConfig.se_correction = "cr1"``, statsmodels' ``cov_type="cluster"``
with t quantiles on ``n_wells - 1`` degrees of freedom.

Arms that cannot be estimated are reported with NaN and a ``note`` saying why:
no vehicle wells, no neurons at risk, no deaths, every neuron dead in every
scored interval, or (CI and p only) a single well.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from screening.plate import is_vehicle
from screening.score.clustered import cr2_covariance

ARM = ["compound", "concentration_um"]
MAX_ABS_LOG_HR = 10.0  # beyond this the fit has separated: exp(10) is not a measured ratio

SURVIVAL_COLUMNS = [
    "patient", "compound", "concentration_um", "role", "log_hr", "se", "df",
    "hazard_ratio", "hr_ci_low", "hr_ci_high", "p_value",
    "n_wells", "n_vehicle_wells", "at_risk", "deaths", "note",
]


def _arm_table(data: pd.DataFrame, vehicle: pd.Series) -> pd.DataFrame:
    arms = data[~vehicle & (data["role"] != "empty")]
    if arms.empty:
        return pd.DataFrame(columns=ARM + ["role", "n_wells", "at_risk", "deaths"])
    return (
        arms.groupby(ARM, observed=True, dropna=False)
        .agg(
            role=("role", "first"),
            n_wells=("well_id", "nunique"),
            at_risk=("at_risk", "sum"),
            deaths=("deaths", "sum"),
        )
        .reset_index()
    )


def _exclusion_note(rows: pd.DataFrame) -> str | None:
    """Why an arm's rows cannot carry an estimate, or None."""
    if rows.empty or rows["at_risk"].sum() == 0:
        return "no neurons at risk (zero counts at the start or no usable fields)"
    if rows["deaths"].sum() == 0:
        return "no deaths in this arm: hazard ratio not estimable (would be 0)"
    if (rows["deaths"] == rows["at_risk"]).all():
        return "all neurons died in every scored interval: hazard ratio not estimable (would be infinite)"
    return None


def fit_patient(
    intervals: pd.DataFrame,
    *,
    baseline_role: str = "vehicle",
    se_correction: str = "cr2",
    adjust_edge: bool = True,
    alpha: float = 0.05,
) -> tuple[pd.DataFrame, dict]:
    """Hazard ratio of every compound × concentration of one patient vs its vehicle.

    Parameters
    ----------
    intervals : DataFrame
        One patient's rows of :func:`screening.score.intervals.site_intervals`.
    baseline_role : str
        Plate-map role of the reference wells.
    se_correction : {"cr2", "cr1"}
        Small-sample correction of the well-clustered standard errors.
    adjust_edge : bool
        With an ``edge`` column (outer-ring wells), add it as a covariate: edge
        wells dry faster and die sooner; with randomized layouts this is noise
        the model can remove rather than a bias.
    alpha : float
        1 - confidence level of the intervals.

    Returns
    -------
    table : DataFrame
        One row per arm with :data:`SURVIVAL_COLUMNS`; ``hazard_ratio`` < 1 means
        fewer deaths than in the vehicle wells.
    cov : dict
        ``{"arms": list of (compound, concentration_um), "cov": ndarray}``, the
        covariance of the estimated log HRs (for dose-response trends).
    """
    patient = intervals["patient"].iloc[0] if len(intervals) else None
    data = intervals.copy()
    data["well_id"] = data["plate"].astype(str) + ":" + data["well"].astype(str)
    vehicle = is_vehicle(data["role"], baseline_role)
    arms = _arm_table(data, vehicle)
    arms.insert(0, "patient", patient)
    arms["n_vehicle_wells"] = data.loc[vehicle, "well_id"].nunique()
    for col in ("log_hr", "se", "df", "p_value"):
        arms[col] = np.nan
    arms["note"] = ""
    empty_cov = {"arms": [], "cov": np.empty((0, 0))}

    def finish(table):
        table = table.copy()
        crit = stats.t.ppf(1 - alpha / 2, table["df"].where(table["df"] > 0))
        table["hazard_ratio"] = np.exp(table["log_hr"])
        table["hr_ci_low"] = np.exp(table["log_hr"] - crit * table["se"])
        table["hr_ci_high"] = np.exp(table["log_hr"] + crit * table["se"])
        table["note"] = table["note"].str.strip("; ")
        return table[SURVIVAL_COLUMNS]

    if arms.empty:
        return finish(arms.reindex(columns=SURVIVAL_COLUMNS)), empty_cov
    veh_rows = data[vehicle]
    veh_note = None
    if veh_rows.empty:
        veh_note = f"no {baseline_role} wells for patient {patient}: no reference"
    elif veh_rows["at_risk"].sum() == 0:
        veh_note = f"no {baseline_role} neurons at risk for patient {patient}"
    elif veh_rows["deaths"].sum() == 0:
        veh_note = f"no deaths in {baseline_role} wells of patient {patient}: hazard ratios not estimable"
    if veh_note:
        arms["note"] = veh_note
        return finish(arms), empty_cov

    # Keep only plates holding this patient's vehicle wells (an arm is compared
    # with vehicle wells of its own plate).
    veh_plates = set(veh_rows["plate"])
    keep = data["plate"].isin(veh_plates)
    arm_key = list(zip(data["compound"], data["concentration_um"]))
    data["_arm"] = pd.Series(arm_key, index=data.index).where(~vehicle, None)
    usable_arms = []
    for i, arm in arms.iterrows():
        key = (arm["compound"], arm["concentration_um"])
        mine = data[(data["_arm"] == key)]
        if not mine["plate"].isin(veh_plates).any():
            arms.at[i, "note"] = f"no {baseline_role} wells on this arm's plate(s)"
            continue
        if not mine["plate"].isin(veh_plates).all():
            arms.at[i, "note"] += "; wells on plates without vehicle wells left out"
        note = _exclusion_note(mine[mine["plate"].isin(veh_plates)])
        if note:
            arms.at[i, "note"] += "; " + note
            continue
        usable_arms.append(key)
    model_rows = keep & (vehicle | data["_arm"].isin(usable_arms))
    data = data[model_rows]
    if not usable_arms:
        return finish(arms), empty_cov

    # Sites of one well share covariates and the cluster: summing them per
    # well × interval leaves the binomial likelihood and the well scores unchanged.
    multi_plate = data["plate"].nunique() > 1
    # An interval that bridges an unusable timepoint (tracked survival) is its own stratum.
    interval = data["interval"].astype(str)
    if "interval_end" in data:
        interval = interval + "-" + data["interval_end"].astype(str)
    data["_stratum"] = (data["plate"].astype(str) + "|" if multi_plate else "") + interval
    data["_arm_index"] = data["_arm"].map({k: j for j, k in enumerate(usable_arms)}).fillna(-1).astype(int)
    data["_edge"] = data["edge"].astype(float) if adjust_edge and "edge" in data else 0.0
    grouped = (
        data.groupby(["well_id", "_stratum", "_arm_index", "_edge"], observed=True)[["at_risk", "deaths"]]
        .sum()
        .reset_index()
    )
    # A stratum where nobody or everybody dies says nothing about the arms (its
    # intercept runs to -inf / +inf); leaving it out avoids a separated fit.
    per = grouped.groupby("_stratum")[["at_risk", "deaths"]].sum()
    informative = per.index[(per["deaths"] > 0) & (per["deaths"] < per["at_risk"])]
    grouped = grouped[grouped["_stratum"].isin(informative)]
    present = sorted(set(grouped["_arm_index"]) - {-1})
    lost = [usable_arms[j] for j in range(len(usable_arms)) if j not in present]
    for key in lost:
        i = arms.index[(arms["compound"] == key[0]) & (arms["concentration_um"] == key[1])]
        arms.loc[i, "note"] += "; no informative interval (nobody or everybody died in each)"
    if grouped.empty or not present or (grouped["_arm_index"] == -1).sum() == 0:
        return finish(arms), empty_cov
    fitted_arms = [usable_arms[j] for j in present]
    strata = pd.get_dummies(grouped["_stratum"], dtype=float)
    arm_dummies = np.column_stack([(grouped["_arm_index"] == j).to_numpy(float) for j in present])
    exog = np.column_stack([strata.to_numpy(), arm_dummies])
    edge = grouped["_edge"].to_numpy(float)
    if np.ptp(edge) > 0:
        exog = np.column_stack([exog, edge])
    arm_cols = np.arange(strata.shape[1], exog.shape[1])
    n = grouped["at_risk"].to_numpy(float)
    d = grouped["deaths"].to_numpy(float)
    groups = grouped["well_id"].to_numpy()

    model = sm.GLM(
        np.column_stack([d, n - d]), exog,
        family=sm.families.Binomial(link=sm.families.links.CLogLog()),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if se_correction == "cr1":
                res = model.fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(groups)[0]}, use_t=True)
            else:
                res = model.fit()
        except Exception as exc:  # a degenerate table must not crash the screen
            for key in fitted_arms:
                i = arms.index[(arms["compound"] == key[0]) & (arms["concentration_um"] == key[1])]
                arms.loc[i, "note"] += f"; model did not fit ({type(exc).__name__})"
            return finish(arms), empty_cov
    beta = np.asarray(res.params)[arm_cols]
    if se_correction == "cr1":
        cov_all = np.asarray(res.cov_params())
        df = np.full(len(arm_cols), float(len(np.unique(groups)) - 1))
    else:
        eta = exog @ np.asarray(res.params)
        mu = np.clip(-np.expm1(-np.exp(eta)), 1e-12, 1 - 1e-12)
        dmu = np.exp(eta - np.exp(eta))
        weight = n * dmu**2 / (mu * (1 - mu))
        wexog = exog * np.sqrt(weight)[:, None]
        wresid = (d - n * mu) / np.sqrt(n * mu * (1 - mu))  # Pearson residuals
        cov_all, df = cr2_covariance(wexog, wresid, groups, columns=arm_cols)
    cov = cov_all[np.ix_(arm_cols, arm_cols)]
    se = np.sqrt(np.clip(np.diag(cov), 0, None))

    for j, key in enumerate(fitted_arms):
        i = arms.index[(arms["compound"] == key[0]) & (arms["concentration_um"] == key[1])]
        b = beta[j]
        if not np.isfinite(b) or abs(b) > MAX_ABS_LOG_HR or not res.converged:
            arms.loc[i, "note"] += "; fit separated or did not converge: hazard ratio not estimable"
            continue
        arms.loc[i, "log_hr"] = b
        n_wells = int(arms.loc[i, "n_wells"].iloc[0])
        if n_wells < 2:
            arms.loc[i, "note"] += "; one well only: no between-well error, CI and p not given"
            continue
        if not (se[j] > 0 and np.isfinite(df[j]) and df[j] > 0):
            arms.loc[i, "note"] += "; standard error not estimable"
            continue
        arms.loc[i, "se"] = se[j]
        arms.loc[i, "df"] = df[j]
        arms.loc[i, "p_value"] = 2 * stats.t.sf(abs(b / se[j]), df[j])
    return finish(arms), {"arms": fitted_arms, "cov": cov}


def fit_survival(
    intervals: pd.DataFrame,
    *,
    baseline_role: str = "vehicle",
    se_correction: str = "cr2",
    adjust_edge: bool = True,
    alpha: float = 0.05,
) -> tuple[pd.DataFrame, dict]:
    """:func:`fit_patient` for every patient; returns the stacked table and covariances by patient."""
    tables, covs = [], {}
    for patient, rows in intervals.groupby("patient", observed=True, sort=True):
        table, cov = fit_patient(
            rows, baseline_role=baseline_role, se_correction=se_correction, adjust_edge=adjust_edge, alpha=alpha
        )
        tables.append(table)
        covs[patient] = cov
    if not tables:
        return pd.DataFrame(columns=SURVIVAL_COLUMNS), covs
    return pd.concat(tables, ignore_index=True), covs
