"""Pooling patients: random-effects meta-analysis, FDR and ranking.

Per compound × concentration, the per-patient log hazard ratios are combined by
DerSimonian-Laird random effects (:func:`statsmodels.stats.meta_analysis.combine_effects`,
``method_re="dl"``), the between-patient variance tau² floored at 0. A per-patient
standard error from 3-4 wells is itself uncertain (t on few df), and treating it as known
makes the pooled test anti-conservative. The default (``pooling = "dl_satterthwaite"``) refers
the pooled estimate to a t distribution whose df come from the patients' own
(Welch-Satterthwaite, each patient's share of the pooled variance with its df): one patient
dominating the pool keeps its own t test, and many patients with ample df give the normal test.
``"dl_t_inflated"`` instead inflates each patient's variance so that its normal interval equals
its t interval (``se² · (t_df / z)²``) and tests against the normal: right at 95 % but far too
small a p-value beyond it when one patient with ~2 df dominates (a null arm of the demo read
p 0.0005 pooled against 0.015 in its one informative patient). With ``"hksj"`` the pooled
interval uses the Hartung-Knapp-Sidik-Jonkman scale and t on k - 1 df.

Benjamini-Hochberg q-values run over all ranked compounds × concentrations.
Each ranked arm gets a ``call``: ``protective`` (HR < 1 and q < ``fdr_q``),
``toxic`` (HR > 1 and q < ``fdr_q``: significantly more neurons die) or ``neutral``.
Ranks run protective, then neutral, then toxic arms, each group by its upper HR
bound (then HR), so rank 1 is the most confidently protective arm and a harmful arm
never ranks above a neutral one. The positive control and the vehicle are not ranked.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests

RANKING_COLUMNS = [
    "compound", "concentration_um", "hazard_ratio", "hr_ci_low", "hr_ci_high",
    "p_value", "q_value", "n_patients", "responder_fraction", "rank", "call",
]
CALLS = ("protective", "neutral", "toxic")  # also the ranking order of the groups


def bh_qvalues(p_values) -> np.ndarray:
    """Benjamini-Hochberg q-values; NaN p-values stay NaN and do not count in m."""
    p = np.asarray(p_values, float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return q


def call_arms(table: pd.DataFrame, candidates: pd.Series, fdr_q: float) -> pd.Series:
    """``protective`` / ``neutral`` / ``toxic`` for candidate rows with an HR ("" for others).

    An arm is called when its q-value is below ``fdr_q``: protective with HR < 1,
    toxic with HR > 1; every other estimated arm is neutral.
    """
    hr, q = table["hazard_ratio"], table["q_value"]
    significant = q.notna() & (q < fdr_q)
    call = np.where(significant & (hr < 1), "protective", np.where(significant & (hr > 1), "toxic", "neutral"))
    estimated = candidates & hr.notna()
    return pd.Series(np.where(estimated, call, ""), index=table.index)


def rank_candidates(table: pd.DataFrame, candidates: pd.Series, fdr_q: float) -> pd.Series:
    """Rank 1..n of candidate rows (NaN for others): protective, neutral, then toxic
    arms (:func:`call_arms`), each group by upper HR bound, then HR."""
    call = call_arms(table, candidates, fdr_q)
    ranked = table.assign(_group=call.map({c: i for i, c in enumerate(CALLS)}))[call != ""]
    order = ranked.sort_values(["_group", "hr_ci_high", "hazard_ratio"], na_position="last")
    rank = pd.Series(np.nan, index=table.index)
    rank[order.index] = np.arange(1, len(order) + 1)
    return rank


def effective_variance(se, df, *, alpha: float = 0.05) -> np.ndarray:
    """Variance whose normal interval equals the t interval on ``df`` degrees of freedom."""
    se = np.asarray(se, float)
    df = np.asarray(df, float)
    z = stats.norm.ppf(1 - alpha / 2)
    t = stats.t.ppf(1 - alpha / 2, np.where(df > 0, df, np.nan))
    return (se * np.where(np.isfinite(t), t / z, 1.0)) ** 2


def satterthwaite_df(weights, se, df) -> float:
    """Degrees of freedom of ``sum(weights * y)`` for estimates ``y`` of standard errors ``se``
    with ``df`` each (Welch-Satterthwaite; infinite df add nothing; inf when all are)."""
    share = (np.asarray(weights, float) * np.asarray(se, float)) ** 2
    df = np.asarray(df, float)
    finite = np.isfinite(df) & (df > 0)
    spread = np.sum(share[finite] ** 2 / df[finite])
    return float(np.sum(share) ** 2 / spread) if spread > 0 else np.inf


def pool_patients(
    log_hr, se, df, *, method: str = "dl_satterthwaite", alpha: float = 0.05
) -> dict:
    """Random-effects pooled log HR of one compound × concentration.

    Parameters
    ----------
    log_hr, se, df : array_like
        Per-patient log HRs, standard errors and degrees of freedom; rows with a
        NaN are left out.
    method : {"dl_satterthwaite", "dl_t_inflated", "dl", "hksj"}
        ``dl``: DerSimonian-Laird with the standard errors taken as known and
        normal quantiles; ``dl_satterthwaite``: the same, with t quantiles on the
        Welch-Satterthwaite df of the patients' own (default; :func:`satterthwaite_df`);
        ``dl_t_inflated``: each variance inflated to its t interval, normal quantiles;
        ``hksj``: DL weights, Hartung-Knapp scale and t on k - 1 df.
    alpha : float
        1 - confidence level.

    Returns
    -------
    dict
        ``log_hr, se, ci_low, ci_high`` (log scale), ``p_value``, ``tau2``,
        ``i2``, ``n_patients``.
    """
    log_hr, se, df = (np.asarray(x, float) for x in (log_hr, se, df))
    ok = np.isfinite(log_hr) & np.isfinite(se) & (se > 0)
    out = dict(log_hr=np.nan, se=np.nan, ci_low=np.nan, ci_high=np.nan, p_value=np.nan,
               tau2=np.nan, i2=np.nan, n_patients=int(ok.sum()))
    if not ok.any():
        return out
    y = log_hr[ok]
    var = effective_variance(se[ok], df[ok], alpha=alpha) if method == "dl_t_inflated" else se[ok] ** 2
    z = stats.norm.ppf(1 - alpha / 2)
    if len(y) == 1:
        # One patient: its own small-sample interval.
        crit = stats.t.ppf(1 - alpha / 2, df[ok][0]) if df[ok][0] > 0 else np.nan
        s = se[ok][0]
        out.update(log_hr=y[0], se=s, ci_low=y[0] - crit * s, ci_high=y[0] + crit * s,
                   p_value=2 * stats.t.sf(abs(y[0] / s), df[ok][0]), tau2=0.0, i2=0.0)
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = combine_effects(y, var, method_re="dl")
    # DerSimonian-Laird's moment estimate can be negative: floor at 0 and recompute
    # the random-effects mean with that tau².
    tau2 = max(float(res.tau2), 0.0)
    w = 1.0 / (var + tau2)
    mean = float(np.sum(w * y) / np.sum(w))
    if method == "hksj":
        k = len(y)
        scale = np.sum(w * (y - mean) ** 2) / (k - 1)
        s = float(np.sqrt(scale / np.sum(w)))
        crit = stats.t.ppf(1 - alpha / 2, k - 1)
        p = 2 * stats.t.sf(abs(mean / s), k - 1) if s > 0 else np.nan
    elif method == "dl_satterthwaite":
        s = float(np.sqrt(1.0 / np.sum(w)))
        # The tau² part of each patient's variance is taken as known (infinite df).
        dof = satterthwaite_df(w / np.sum(w), se[ok], df[ok])
        crit = stats.t.ppf(1 - alpha / 2, dof) if np.isfinite(dof) else z
        p = 2 * (stats.t.sf(abs(mean / s), dof) if np.isfinite(dof) else stats.norm.sf(abs(mean / s)))
    else:
        s = float(np.sqrt(1.0 / np.sum(w)))
        crit = z
        p = 2 * stats.norm.sf(abs(mean / s))
    out.update(log_hr=mean, se=s, ci_low=mean - crit * s, ci_high=mean + crit * s, p_value=p,
               tau2=tau2, i2=max(float(res.i2), 0.0))
    return out


def pool_screen(
    scores: pd.DataFrame, *, candidates: pd.Series | None = None, method: str = "dl_satterthwaite",
    alpha: float = 0.05, fdr_q: float = 0.1,
) -> pd.DataFrame:
    """Pooled ranking over patients (:data:`RANKING_COLUMNS` first).

    Parameters
    ----------
    scores : DataFrame
        Per-patient rows with ``compound, concentration_um, role, log_hr, se,
        df, hr_ci_high`` and ``pooled`` (bool: the row may enter pooling).
    candidates : Series of bool, optional
        Rows that are ranked and enter the FDR (default: role ``treatment``).
    method : str
        See :func:`pool_patients`.
    fdr_q : float
        q-value below which an arm is called protective or toxic (:func:`call_arms`).

    Returns
    -------
    DataFrame
        One row per compound × concentration; extra columns ``log_hr``, ``se``,
        ``tau2``, ``i2``, ``role``, ``note``.
    """
    rows = []
    for key, g in scores.groupby(["compound", "concentration_um"], observed=True, sort=True, dropna=False):
        use = g[g["pooled"]] if "pooled" in g else g
        fit = pool_patients(use["log_hr"], use["se"], use["df"], method=method, alpha=alpha)
        ok = use["hr_ci_high"].notna()
        responders = (use.loc[ok, "hr_ci_high"] < 1).mean() if ok.any() else np.nan
        note = ""
        if fit["n_patients"] == 0 and g["log_hr"].notna().any():
            note = "every patient with an estimate is left out of pooling (plate QC failed)"
        elif fit["n_patients"] == 0:
            note = "no patient with an estimate"
        elif fit["n_patients"] == 1:
            note = "one patient only: no between-patient variance"
        rows.append({
            "compound": key[0], "concentration_um": key[1],
            "hazard_ratio": np.exp(fit["log_hr"]), "hr_ci_low": np.exp(fit["ci_low"]),
            "hr_ci_high": np.exp(fit["ci_high"]), "p_value": fit["p_value"],
            "n_patients": fit["n_patients"], "responder_fraction": responders,
            "log_hr": fit["log_hr"], "se": fit["se"], "tau2": fit["tau2"], "i2": fit["i2"],
            "role": g["role"].iloc[0], "note": note,
        })
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=RANKING_COLUMNS + ["log_hr", "se", "tau2", "i2", "role", "note"])
    if candidates is None:
        candidates = table["role"].eq("treatment")
    table["q_value"] = np.nan
    table.loc[candidates, "q_value"] = bh_qvalues(table.loc[candidates, "p_value"])
    table["rank"] = rank_candidates(table, candidates, fdr_q)
    table["call"] = call_arms(table, candidates, fdr_q)
    extra = [c for c in table.columns if c not in RANKING_COLUMNS]
    return table[RANKING_COLUMNS + extra]
