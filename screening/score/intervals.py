"""Deaths and neurons at risk per site and interval, from each site's own series.

A well × site imaged at successive timepoints is one series of motor-neuron
counts. Between two consecutive timepoints of the scored window the drop in
count is the number of deaths and the count at the start is the number at risk.
An interval enters only when the site is usable (``qc_pass``, ``status == 'ok'``,
not ``flagged``) at *both* of its ends, so a defocused or flagged field is never
read as deaths, and two well totals built from different fields are never
differenced.

Rising counts
-------------
Net counts rise when neurons mature into reporter-positive cells or enter the
field. A rise is not a negative death: the interval is scored with zero deaths,
the rise is kept in the ``rise`` column, and the next interval starts from the
higher count (the newcomers join the risk set late, which is delayed entry and
keeps the proportional-hazards likelihood valid). Deaths hidden by newcomers in
the same interval cannot be seen, so a large rise biases that well's hazard
down; :func:`rise_flags` flags wells whose rise exceeds a fraction of those at
risk, and the scoring stage names them in the patient's ``note``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from screening.plate import MAP_COLUMNS, SITE_KEYS, usable_fields


def in_window(days: pd.Series, window_days: tuple[float, float] | None) -> pd.Series:
    """Boolean mask of days inside the closed window (all True without one)."""
    if window_days is None:
        return pd.Series(True, index=days.index)
    first, last = window_days
    return (days >= first) & (days <= last)


def site_intervals(
    fields: pd.DataFrame, *, window_days: tuple[float, float] | None = None
) -> pd.DataFrame:
    """One row per site and pair of consecutive timepoints usable at both ends.

    Parameters
    ----------
    fields : DataFrame
        One row per plate × well × site × timepoint with ``day``, ``n_neurons``,
        ``qc_pass``, ``status`` (``flagged`` optional) and the plate-map columns
        ``patient, compound, concentration_um, role``.
    window_days : (float, float), optional
        First and last day scored (days); default all timepoints.

    Returns
    -------
    DataFrame
        ``plate, well, site`` and the plate-map columns, ``interval`` (index of
        the interval's first timepoint among the window's timepoints of that
        plate), ``day_start``, ``day_end`` (days), ``at_risk`` (count at the
        start), ``deaths`` (drop in count, >= 0) and ``rise`` (increase, >= 0).
        Intervals with nobody at risk are left out.
    """
    columns = SITE_KEYS + MAP_COLUMNS + [
        "interval", "day_start", "day_end", "at_risk", "deaths", "rise",
    ]
    data = fields[in_window(fields["day"], window_days)].copy()
    if data.empty:
        return pd.DataFrame(columns=columns)
    data["_usable"] = usable_fields(data).to_numpy()
    # Interval index from the plate's own ordered timepoints, so a missing
    # site-timepoint row cannot shift the interval another site is in.
    days = data.groupby(["plate", "timepoint"], observed=True)["day"].first().reset_index()
    days = days.sort_values(["plate", "timepoint"])
    days["_tindex"] = days.groupby("plate", observed=True).cumcount()
    data = data.merge(days[["plate", "timepoint", "_tindex"]], on=["plate", "timepoint"])
    data = data.sort_values(SITE_KEYS + ["_tindex"])

    nxt = data.groupby(SITE_KEYS, observed=True, sort=False)[["_tindex", "day", "n_neurons", "_usable"]].shift(-1)
    keep = (
        data["_usable"].to_numpy()
        & nxt["_usable"].eq(True).to_numpy()
        & (nxt["_tindex"].to_numpy() == data["_tindex"].to_numpy() + 1)
    )
    start = data[keep]
    end = nxt[keep]
    at_risk = np.round(start["n_neurons"].to_numpy(float))
    later = np.round(end["n_neurons"].to_numpy(float))
    out = start[SITE_KEYS + MAP_COLUMNS].copy()
    out["interval"] = start["_tindex"].to_numpy().astype(int)
    out["day_start"] = start["day"].to_numpy(float)
    out["day_end"] = end["day"].to_numpy(float)
    out["at_risk"] = at_risk
    out["deaths"] = np.clip(at_risk - later, 0, None)
    out["rise"] = np.clip(later - at_risk, 0, None)
    out = out[out["at_risk"] > 0]
    return out[columns].reset_index(drop=True)


def zero_start_sites(
    fields: pd.DataFrame, *, window_days: tuple[float, float] | None = None
) -> pd.DataFrame:
    """Sites with no motor neuron at their first usable timepoint but some later.

    Nobody is at risk in such a site until neurons appear, so its first
    intervals carry no information (they are left out by
    :func:`site_intervals`) and the neurons that appear enter the risk set
    late. A whole arm that starts at zero is scored only from the timepoint
    its neurons show up, which the scoring stage says in the ``note``.

    Parameters
    ----------
    fields : DataFrame
        As for :func:`site_intervals`.
    window_days : (float, float), optional
        First and last day scored (days); default all timepoints.

    Returns
    -------
    DataFrame
        One row per such site: ``plate, well, site``, the plate-map columns,
        ``first_day`` (day of its first usable timepoint) and ``first_positive_day``.
    """
    columns = SITE_KEYS + MAP_COLUMNS + ["first_day", "first_positive_day"]
    data = fields[in_window(fields["day"], window_days)]
    data = data[usable_fields(data).to_numpy()].sort_values(SITE_KEYS + ["day"])
    if data.empty:
        return pd.DataFrame(columns=columns)
    groups = data.groupby(SITE_KEYS, observed=True, sort=False)
    first = groups.head(1).set_index(SITE_KEYS)
    positive = data[data["n_neurons"] > 0].groupby(SITE_KEYS, observed=True)["day"].min()
    out = first[first["n_neurons"] <= 0].join(positive.rename("first_positive_day"), how="inner")
    out = out.rename(columns={"day": "first_day"}).reset_index()
    return out[columns].reset_index(drop=True)


def rise_flags(intervals: pd.DataFrame, *, max_rise_fraction: float) -> pd.DataFrame:
    """Wells whose summed counts rise by more than a fraction of those at risk.

    Parameters
    ----------
    intervals : DataFrame
        From :func:`site_intervals`.
    max_rise_fraction : float
        A well is flagged when, in any interval, the rise summed over its sites
        exceeds this fraction of the neurons at risk in those sites.

    Returns
    -------
    DataFrame
        One row per flagged well: ``plate, well, patient, interval,
        rise_fraction`` (the largest over intervals).
    """
    keys = ["plate", "well", "patient", "interval"]
    per = intervals.groupby(keys, observed=True)[["rise", "at_risk"]].sum().reset_index()
    per["rise_fraction"] = per["rise"] / per["at_risk"]
    per = per.sort_values("rise_fraction", ascending=False).drop_duplicates(["plate", "well"])
    flagged = per[per["rise_fraction"] > max_rise_fraction]
    return flagged[keys + ["rise_fraction"]].reset_index(drop=True)
