"""Kaplan-Meier curves of tracked neurons per arm, with delayed entry and numbers at risk.

For display (the report) and the benchmark; the hazard ratios come from the grouped-time
model (:mod:`screening.score.survival`). Each tracked neuron enters at its ``entry_day``: the
first day for neurons seen then, a late arrival's second sighting (late reporter onset, drift
into the field: left truncation); it leaves at the day
its death was seen (the end of the interval it died in) or, censored, at the last day it
was seen alive. statsmodels' ``SurvfuncRight(time, status, entry=...)`` does the product-limit
estimate with that risk set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.duration.survfunc import SurvfuncRight

ARM_KEYS = ["patient", "compound", "concentration_um", "role"]
KM_COLUMNS = ARM_KEYS + ["day", "survival", "se", "at_risk", "events"]


def neuron_times(neurons: pd.DataFrame) -> pd.DataFrame:
    """Entry, exit (days) and event of every tracked neuron that was followed over some time.

    Parameters
    ----------
    neurons : DataFrame
        ``neurons.parquet`` rows (``first_day, last_day, death_day, died``) with any other
        columns (plate map) carried along.

    Returns
    -------
    DataFrame
        ``neurons`` plus ``entry`` (``entry_day``: the day it joins the risk set), ``time``
        (death day if it died, else last day seen) and ``event`` (1 = died); neurons with
        ``time <= entry`` or no entry (seen once and censored, or a late arrival seen once) are
        left out: they add nothing to a risk set.
    """
    out = neurons.copy()
    died = out["died"].astype(bool).to_numpy()
    # The day a neuron joins the risk set (a late arrival: its second sighting); runs made
    # before that rule have only first_day.
    out["entry"] = out["entry_day" if "entry_day" in out else "first_day"].astype(float)
    out["time"] = np.where(died, out["death_day"].astype(float), out["last_day"].astype(float))
    out["event"] = died.astype(int)
    return out[out["time"] > out["entry"]].reset_index(drop=True)


def km_curve(times: pd.DataFrame, days) -> pd.DataFrame:
    """Product-limit survival of one group evaluated at ``days``.

    Parameters
    ----------
    times : DataFrame
        :func:`neuron_times` rows of one group.
    days : sequence of float
        Where to evaluate (the screen's timepoint days).

    Returns
    -------
    DataFrame
        ``day, survival, se`` (Greenwood), ``at_risk`` (neurons at risk of the deaths seen at
        that day: entered before it and not yet dead or censored before it, the product-limit
        estimator's risk set; at the first day, the neurons present from the start) and
        ``events`` (deaths seen at that day).
    """
    days = np.asarray(sorted(set(float(d) for d in days)))
    entry, time, event = (times[c].to_numpy(float) for c in ("entry", "time", "event"))
    # A neuron entering at day d is not at risk of deaths seen at d (statsmodels' rule, which
    # gives ``survival``), so the table counts the same risk set the curve is computed from.
    entered = [entry <= d if i == 0 else entry < d for i, d in enumerate(days)]
    at_risk = [int((e & (time >= d)).sum()) for e, d in zip(entered, days)]
    events = [int(((time == d) & (event == 1)).sum()) for d in days]
    surv = np.ones(len(days))
    se = np.zeros(len(days))
    if len(times) and event.sum() > 0:
        fit = SurvfuncRight(time, event, entry=entry)
        idx = np.searchsorted(fit.surv_times, days, side="right") - 1
        has = idx >= 0
        surv[has] = fit.surv_prob[idx[has]]
        se[has] = fit.surv_prob_se[idx[has]]
    return pd.DataFrame({"day": days, "survival": surv, "se": se, "at_risk": at_risk, "events": events})


def km_by_arm(neurons: pd.DataFrame, days) -> pd.DataFrame:
    """:func:`km_curve` per patient × compound × concentration (× role): :data:`KM_COLUMNS`.

    ``neurons`` needs the plate-map columns ``patient, compound, concentration_um, role``.
    """
    times = neuron_times(neurons)
    parts = []
    for key, group in times.groupby(ARM_KEYS, dropna=False, sort=True):
        parts.append(km_curve(group, days).assign(**dict(zip(ARM_KEYS, key))))
    if not parts:
        return pd.DataFrame(columns=KM_COLUMNS)
    return pd.concat(parts, ignore_index=True)[KM_COLUMNS]
