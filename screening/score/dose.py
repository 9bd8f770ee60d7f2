"""Dose response: trend of log hazard ratio with log concentration.

For every compound tested at two or more positive concentrations, the log HR is
regressed on log10 concentration (µM) by generalized least squares with the
estimates' own covariance: per patient the GLM's cluster-robust covariance of
that compound's arms (they share the vehicle wells, so they are correlated),
pooled the random-effects variances of the pooled estimates (taken as
independent). A negative ``slope`` (log HR per tenfold concentration) with a
small ``p_value`` is a monotone protective trend.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

DOSE_COLUMNS = [
    "compound", "patient", "n_concentrations", "slope", "slope_se",
    "slope_ci_low", "slope_ci_high", "p_value",
]


def gls_slope(log_hr, log_conc, cov, *, df: float | None = None, alpha: float = 0.05) -> dict:
    """Slope of ``log_hr`` on ``log_conc`` by GLS with covariance ``cov``.

    Parameters
    ----------
    df : float, optional
        Degrees of freedom of the covariance (t quantiles); None: normal.

    Returns
    -------
    dict
        ``slope, slope_se, slope_ci_low, slope_ci_high, p_value`` (NaN with
        fewer than two points or a singular covariance).
    """
    y = np.asarray(log_hr, float)
    x = np.asarray(log_conc, float)
    out = dict(slope=np.nan, slope_se=np.nan, slope_ci_low=np.nan, slope_ci_high=np.nan, p_value=np.nan)
    if len(y) < 2 or np.ptp(x) == 0:
        return out
    design = np.column_stack([np.ones_like(x), x])
    try:
        inv = np.linalg.inv(np.asarray(cov, float))
        info = design.T @ inv @ design
        var = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return out
    beta = var @ design.T @ inv @ y
    se = float(np.sqrt(var[1, 1])) if var[1, 1] > 0 else np.nan
    if not np.isfinite(se):
        return out
    dist = stats.t(df) if df is not None and df > 0 else stats.norm()
    z = dist.ppf(1 - alpha / 2)
    out.update(slope=float(beta[1]), slope_se=se, slope_ci_low=float(beta[1] - z * se),
               slope_ci_high=float(beta[1] + z * se), p_value=float(2 * dist.sf(abs(beta[1] / se))))
    return out


def dose_response(
    scores: pd.DataFrame, ranking: pd.DataFrame, covariances: dict, *, alpha: float = 0.05
) -> pd.DataFrame:
    """Dose-response trends per compound, per patient and pooled (``patient == "pooled"``).

    Parameters
    ----------
    scores : DataFrame
        Per-patient rows with ``patient, compound, concentration_um, log_hr, role``.
    ranking : DataFrame
        Pooled rows with ``compound, concentration_um, log_hr, se``.
    covariances : dict
        Patient -> ``{"arms": [(compound, conc), ...], "cov": ndarray}`` from
        :func:`screening.score.survival.fit_survival`.

    Returns
    -------
    DataFrame with :data:`DOSE_COLUMNS`.
    """
    rows = []
    treated = scores[scores["role"].eq("treatment")]
    for (patient, compound), g in treated.groupby(["patient", "compound"], observed=True, sort=True):
        g = g[(g["concentration_um"] > 0) & g["log_hr"].notna()]
        if g["concentration_um"].nunique() < 2:
            continue
        fitted = covariances.get(patient, {"arms": [], "cov": np.empty((0, 0))})
        index = {arm: i for i, arm in enumerate(fitted["arms"])}
        idx = [index.get((compound, c)) for c in g["concentration_um"]]
        if any(i is None for i in idx):
            continue
        cov = fitted["cov"][np.ix_(idx, idx)]
        # Few wells per arm: t on the smallest of the arms' Bell-McCaffrey df.
        df = float(g["df"].min()) if g["df"].notna().any() else None
        fit = gls_slope(g["log_hr"], np.log10(g["concentration_um"]), cov, df=df, alpha=alpha)
        rows.append({"compound": compound, "patient": patient, "n_concentrations": len(g), **fit})
    pooled = ranking[ranking["role"].eq("treatment")] if "role" in ranking else ranking
    for compound, g in pooled.groupby("compound", observed=True, sort=True):
        g = g[(g["concentration_um"] > 0) & g["log_hr"].notna() & (g["se"] > 0)]
        if g["concentration_um"].nunique() < 2:
            continue
        fit = gls_slope(g["log_hr"], np.log10(g["concentration_um"]), np.diag(g["se"] ** 2), alpha=alpha)
        rows.append({"compound": compound, "patient": "pooled", "n_concentrations": len(g), **fit})
    return pd.DataFrame(rows, columns=DOSE_COLUMNS)
