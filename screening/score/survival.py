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
from dataclasses import dataclass

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


#: Why an arm has no estimate (or no CI), as written in the ``note`` column; ``{role}`` is the
#: baseline role, ``{patient}`` the patient, ``{error}`` the exception's type.
NOTES = {
    "no_vehicle_wells": "no {role} wells for patient {patient}: no reference",
    "no_vehicle_at_risk": "no {role} neurons at risk for patient {patient}",
    "no_vehicle_deaths": "no deaths in {role} wells of patient {patient}: hazard ratios not estimable",
    "no_vehicle_on_plate": "no {role} wells on this arm's plate(s)",
    "plates_left_out": "wells on plates without vehicle wells left out",
    "no_at_risk": "no neurons at risk (zero counts at the start or no usable fields)",
    "no_deaths": "no deaths in this arm: hazard ratio not estimable (would be 0)",
    "all_dead": "all neurons died in every scored interval: hazard ratio not estimable (would be infinite)",
    "no_informative_interval": "no informative interval (nobody or everybody died in each)",
    "no_fit": "model did not fit ({error})",
    "separated": "fit separated or did not converge: hazard ratio not estimable",
    "one_well": "one well only: no between-well error, CI and p not given",
    "no_se": "standard error not estimable",
}


def _no_fit() -> dict:
    """The covariance result of a patient with no fitted arm."""
    return {"arms": [], "cov": np.empty((0, 0))}


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
        fewer deaths than in the vehicle wells; ``note`` (from :data:`NOTES`) says
        why an arm has no estimate.
    cov : dict
        ``{"arms": list of (compound, concentration_um), "cov": ndarray}``, the
        covariance of the estimated log HRs (for dose-response trends).
    """
    data = _keyed_rows(intervals, baseline_role)
    arms = _empty_estimates(data)
    cov = _estimate_arms(arms, data, baseline_role=baseline_role, se_correction=se_correction,
                         adjust_edge=adjust_edge)
    return _with_intervals(arms, alpha), cov


def _keyed_rows(intervals: pd.DataFrame, baseline_role: str) -> pd.DataFrame:
    """``intervals`` with ``well_id`` (plate:well), ``_vehicle`` and ``_arm`` ((compound, concentration), None for vehicle)."""
    data = intervals.assign(
        well_id=intervals["plate"].astype(str) + ":" + intervals["well"].astype(str),
        _vehicle=is_vehicle(intervals["role"], baseline_role),
    )
    arm_of_row = pd.Series(list(zip(data["compound"], data["concentration_um"])), index=data.index)
    data["_arm"] = arm_of_row.where(~data["_vehicle"], None)
    return data


def _empty_estimates(data: pd.DataFrame) -> pd.DataFrame:
    """One row per arm (not vehicle, not empty) with its wells, neurons at risk and deaths, the
    patient, the vehicle well count and empty estimate columns."""
    vehicle = data["_vehicle"]
    rows = data[~vehicle & (data["role"] != "empty")]
    if rows.empty:
        arms = pd.DataFrame(columns=ARM + ["role", "n_wells", "at_risk", "deaths"])
    else:
        arms = (
            rows.groupby(ARM, observed=True, dropna=False)
            .agg(role=("role", "first"), n_wells=("well_id", "nunique"),
                 at_risk=("at_risk", "sum"), deaths=("deaths", "sum"))
            .reset_index()
        )
    arms.insert(0, "patient", data["patient"].iloc[0] if len(data) else None)
    arms["n_vehicle_wells"] = data.loc[vehicle, "well_id"].nunique()
    for col in ("log_hr", "se", "df", "p_value"):
        arms[col] = np.nan
    arms["note"] = ""
    return arms


def _estimate_arms(arms: pd.DataFrame, data: pd.DataFrame, *, baseline_role: str, se_correction: str,
                   adjust_edge: bool) -> dict:
    """Fit the arms that can be estimated, writing estimates and notes into ``arms``; their covariance."""
    if arms.empty:
        return _no_fit()
    why_not = _vehicle_note(data[data["_vehicle"]], baseline_role, arms["patient"].iloc[0])
    if why_not:
        arms["note"] = why_not
        return _no_fit()
    # An arm is compared with vehicle wells of its own plate.
    veh_plates = set(data.loc[data["_vehicle"], "plate"])
    usable_arms = _eligible_arms(arms, data, veh_plates, baseline_role)
    if not usable_arms:
        return _no_fit()
    data = data[data["plate"].isin(veh_plates) & (data["_vehicle"] | data["_arm"].isin(usable_arms))]
    design = _design(data, usable_arms, adjust_edge)
    _add_note(arms, [key for key in usable_arms if key not in design.arms], NOTES["no_informative_interval"])
    if design.empty:
        return _no_fit()
    try:
        fit = _fit(design, se_correction)
    except Exception as exc:  # noqa: BLE001 - a degenerate table must not crash the screen
        _add_note(arms, design.arms, NOTES["no_fit"].format(error=type(exc).__name__))
        return _no_fit()
    _fill_estimates(arms, design.arms, fit)
    return {"arms": design.arms, "cov": fit.cov}


def _with_intervals(arms: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Hazard ratios and their t-based confidence intervals from ``log_hr, se, df``: :data:`SURVIVAL_COLUMNS`."""
    table = arms.copy()
    crit = stats.t.ppf(1 - alpha / 2, table["df"].where(table["df"] > 0))
    table["hazard_ratio"] = np.exp(table["log_hr"])
    table["hr_ci_low"] = np.exp(table["log_hr"] - crit * table["se"])
    table["hr_ci_high"] = np.exp(table["log_hr"] + crit * table["se"])
    table["note"] = table["note"].str.strip("; ")
    return table[SURVIVAL_COLUMNS]


def _vehicle_note(veh_rows: pd.DataFrame, baseline_role: str, patient) -> str | None:
    """Why the patient's vehicle wells give no reference, or None."""
    if veh_rows.empty:
        return NOTES["no_vehicle_wells"].format(role=baseline_role, patient=patient)
    if veh_rows["at_risk"].sum() == 0:
        return NOTES["no_vehicle_at_risk"].format(role=baseline_role, patient=patient)
    if veh_rows["deaths"].sum() == 0:
        return NOTES["no_vehicle_deaths"].format(role=baseline_role, patient=patient)
    return None


def _arm_note(rows: pd.DataFrame) -> str | None:
    """Why an arm's rows cannot carry an estimate, or None."""
    if rows.empty or rows["at_risk"].sum() == 0:
        return NOTES["no_at_risk"]
    if rows["deaths"].sum() == 0:
        return NOTES["no_deaths"]
    if (rows["deaths"] == rows["at_risk"]).all():
        return NOTES["all_dead"]
    return None


def _arm_rows(arms: pd.DataFrame, key: tuple) -> pd.Index:
    """Index of the row of arm ``key`` (compound, concentration) in ``arms``."""
    return arms.index[(arms["compound"] == key[0]) & (arms["concentration_um"] == key[1])]


def _add_note(arms: pd.DataFrame, keys: list[tuple], text: str) -> None:
    """Append ``text`` to the notes of the arms ``keys`` ((compound, concentration))."""
    for key in keys:
        arms.loc[_arm_rows(arms, key), "note"] += "; " + text


def _eligible_arms(arms: pd.DataFrame, data: pd.DataFrame, veh_plates: set, baseline_role: str) -> list[tuple]:
    """(compound, concentration) of the arms that can be estimated; the others get a note in ``arms``."""
    usable = []
    for i, arm in arms.iterrows():
        key = (arm["compound"], arm["concentration_um"])
        mine = data[data["_arm"] == key]
        on_veh_plate = mine["plate"].isin(veh_plates)
        if not on_veh_plate.any():
            arms.at[i, "note"] = NOTES["no_vehicle_on_plate"].format(role=baseline_role)
            continue
        if not on_veh_plate.all():
            arms.at[i, "note"] += "; " + NOTES["plates_left_out"]
        why_not = _arm_note(mine[on_veh_plate])
        if why_not:
            arms.at[i, "note"] += "; " + why_not
            continue
        usable.append(key)
    return usable


@dataclass
class _Design:
    """The grouped-time model's rows (well × stratum) and design matrix."""

    exog: np.ndarray
    at_risk: np.ndarray
    deaths: np.ndarray
    wells: np.ndarray
    arm_columns: np.ndarray
    arms: list[tuple]

    @property
    def empty(self) -> bool:
        return self.exog.shape[0] == 0 or not self.arms


def _design(data: pd.DataFrame, usable_arms: list[tuple], adjust_edge: bool) -> _Design:
    """Stratum intercepts, one indicator per arm (vehicle is the reference) and the edge covariate.

    Sites of one well share covariates and the cluster: summing them per well × stratum leaves
    the binomial likelihood and the well scores unchanged. The stratum is the interval (per
    plate when the patient spans plates); an interval that bridges an unusable timepoint
    (tracked survival) is its own stratum.
    """
    interval = data["interval"].astype(str)
    if "interval_end" in data:
        interval = interval + "-" + data["interval_end"].astype(str)
    plate = data["plate"].astype(str) + "|" if data["plate"].nunique() > 1 else ""
    rows = data.assign(
        _stratum=plate + interval,
        _arm_index=data["_arm"].map({k: j for j, k in enumerate(usable_arms)}).fillna(-1).astype(int),
        _edge=data["edge"].astype(float) if adjust_edge and "edge" in data else 0.0,
    )
    grouped = (
        rows.groupby(["well_id", "_stratum", "_arm_index", "_edge"], observed=True)[["at_risk", "deaths"]]
        .sum()
        .reset_index()
    )
    # A stratum where nobody or everybody dies says nothing about the arms (its intercept
    # runs to -inf / +inf); leaving it out avoids a separated fit.
    per = grouped.groupby("_stratum")[["at_risk", "deaths"]].sum()
    informative = per.index[(per["deaths"] > 0) & (per["deaths"] < per["at_risk"])]
    grouped = grouped[grouped["_stratum"].isin(informative)]
    present = sorted(set(grouped["_arm_index"]) - {-1})
    if grouped.empty or not present or (grouped["_arm_index"] == -1).sum() == 0:
        return _Design(np.empty((0, 0)), np.empty(0), np.empty(0), np.empty(0), np.empty(0, int),
                       [usable_arms[j] for j in present] if not grouped.empty and present else [])
    strata = pd.get_dummies(grouped["_stratum"], dtype=float)
    arm_dummies = np.column_stack([(grouped["_arm_index"] == j).to_numpy(float) for j in present])
    exog = np.column_stack([strata.to_numpy(), arm_dummies])
    edge = grouped["_edge"].to_numpy(float)
    if np.ptp(edge) > 0:
        exog = np.column_stack([exog, edge])
    return _Design(
        exog=exog, at_risk=grouped["at_risk"].to_numpy(float), deaths=grouped["deaths"].to_numpy(float),
        wells=grouped["well_id"].to_numpy(), arm_columns=np.arange(strata.shape[1], strata.shape[1] + len(present)),
        arms=[usable_arms[j] for j in present],
    )


@dataclass
class _Fit:
    """Arm log HRs of a fitted model, their covariance and degrees of freedom."""

    beta: np.ndarray
    cov: np.ndarray
    df: np.ndarray
    converged: bool


def _fit(design: _Design, se_correction: str) -> _Fit:
    """Binomial GLM with a complementary log-log link, well-clustered errors (CR2 or CR1)."""
    n, d = design.at_risk, design.deaths
    model = sm.GLM(np.column_stack([d, n - d]), design.exog,
                   family=sm.families.Binomial(link=sm.families.links.CLogLog()))
    cols = design.arm_columns
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if se_correction == "cr1":
            res = model.fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(design.wells)[0]}, use_t=True)
            cov_all = np.asarray(res.cov_params())
            df = np.full(len(cols), float(len(np.unique(design.wells)) - 1))
        else:
            res = model.fit()
            cov_all, df = _cr2(design, np.asarray(res.params))
    return _Fit(np.asarray(res.params)[cols], cov_all[np.ix_(cols, cols)], df, bool(res.converged))


def _cr2(design: _Design, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CR2 covariance and Bell-McCaffrey df of the arm columns, from the GLM's working weights."""
    n, d, exog = design.at_risk, design.deaths, design.exog
    eta = exog @ params
    mu = np.clip(-np.expm1(-np.exp(eta)), 1e-12, 1 - 1e-12)
    dmu = np.exp(eta - np.exp(eta))
    weight = n * dmu**2 / (mu * (1 - mu))
    wexog = exog * np.sqrt(weight)[:, None]
    wresid = (d - n * mu) / np.sqrt(n * mu * (1 - mu))  # Pearson residuals
    return cr2_covariance(wexog, wresid, design.wells, columns=design.arm_columns)


def _fill_estimates(arms: pd.DataFrame, fitted_arms: list[tuple], fit: _Fit) -> None:
    """Write each fitted arm's log HR, SE, df and p into ``arms``, or a note saying why not."""
    se = np.sqrt(np.clip(np.diag(fit.cov), 0, None))
    for j, key in enumerate(fitted_arms):
        i = _arm_rows(arms, key)
        b = fit.beta[j]
        if not np.isfinite(b) or abs(b) > MAX_ABS_LOG_HR or not fit.converged:
            _add_note(arms, [key], NOTES["separated"])
            continue
        arms.loc[i, "log_hr"] = b
        if int(arms.loc[i, "n_wells"].iloc[0]) < 2:
            _add_note(arms, [key], NOTES["one_well"])
            continue
        if not (se[j] > 0 and np.isfinite(fit.df[j]) and fit.df[j] > 0):
            _add_note(arms, [key], NOTES["no_se"])
            continue
        arms.loc[i, "se"] = se[j]
        arms.loc[i, "df"] = fit.df[j]
        arms.loc[i, "p_value"] = 2 * stats.t.sf(abs(b / se[j]), fit.df[j])


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
