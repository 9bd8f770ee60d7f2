"""One site's neurons followed over time: tracks, deaths, censoring and the intervals at risk.

Rules (docs/tracking.md):

- A neuron is a track of somata linked over the site's *usable* timepoints (measured,
  passed field QC, not flagged, registration trusted). A neuron seen at the site's first
  usable timepoint is at risk from there. One that appears later (late reporter onset, a
  neuron moving in) enters the risk set at its *second* sighting (delayed entry: it neither
  inflates survival nor counts as a death): a one-off false detection (debris, a dim
  negative cell crossing the cut-off once) would otherwise enter and "die" at the same rate in
  every arm and pull hazard ratios toward 1 (on the ``hard`` preset the median |log HR
  error| fell from 0.118 to 0.082 with this rule; benchmarks/README.md). A late track seen
  once is kept in the tables, ``censor_reason`` ``unconfirmed``, never at risk, never dead.
- It dies in the interval between the last timepoint it is seen alive and the next usable
  timepoint, where it is gone. "Gone" includes dead by morphology: the soma finder does not
  count a soma whose reporter is lost, whose nucleus is condensed or that has fragmented.
- It is censored at its last timepoint seen alive when that is the site's last timepoint
  (``end``), when no usable timepoint follows within ``max_gap`` (``field_unusable``), or
  when its position in the next usable image lies within the edge margin or outside
  (``left_field``).
- A neuron missed at a usable timepoint and found again in place within ``max_gap``
  timepoints was never dead: gap closing keeps one track and the miss is counted as a
  reversal ("zombie").
- A followed neuron whose reporter dips just under the cut-off (a *dim* nucleus: stored, not
  counted) is still alive: its track continues on the dim nucleus (``dim`` in ``tracks``).
  A dim nucleus never starts a track. Without this, a living neuron missed twice in a row
  (or once at the last timepoint) "dies" at the same rate in every arm, and hazard ratios
  shrink toward 1 (benchmarks/README.md, "Tracking").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from screening.track.link import link_frames

SERIES_COLUMNS = ["timepoint", "day", "tindex", "usable", "shift_y_px", "shift_x_px", "height_px", "width_px"]
NEURON_COLUMNS = [
    "track_id", "first_timepoint", "last_timepoint", "died", "censor_reason", "y_px", "x_px",
    "first_day", "last_day", "death_timepoint", "death_day", "n_seen", "n_missed",
    "entry_timepoint", "entry_day",
]
TRACK_COLUMNS = [
    "track_id", "timepoint", "day", "status", "y_px", "x_px", "y_reg_px", "x_reg_px",
    "area_px", "reporter_level", "nuclei_level", "dim",
]
INTERVAL_COLUMNS = [
    "timepoint_start", "timepoint_end", "interval", "interval_end", "day_start", "day_end",
    "at_risk", "deaths", "entered",
]


@dataclass
class SiteTracks:
    """What :func:`follow_site` returns (tables without the site's keys)."""

    neurons: pd.DataFrame
    tracks: pd.DataFrame
    intervals: pd.DataFrame
    reversals: int


def follow_site(
    objects: pd.DataFrame,
    series: pd.DataFrame,
    *,
    max_distance_px: float,
    max_gap: int = 1,
    edge_margin_px: float = 0.0,
    follow_dim: bool = True,
) -> SiteTracks:
    """Link one site's somata over time and call each neuron's outcome.

    Parameters
    ----------
    objects : DataFrame
        Somata of the site: ``timepoint, y_px, x_px`` (px, that image's frame) and
        optionally ``area_px, reporter_level, nuclei_level`` and ``dim`` (True: a dim
        nucleus, which may continue a track but not start one).
    series : DataFrame
        One row per timepoint of the site (:data:`SERIES_COLUMNS`): ``tindex`` is the
        timepoint's index among the plate's ordered timepoints, ``usable`` whether its
        somata can be used (QC, flags, trusted registration), ``shift_y_px, shift_x_px``
        what to add to a position in that image to place it in the site's reference frame,
        ``height_px, width_px`` the image size.
    max_distance_px : float
        Largest link between two usable timepoints (registered positions), px.
    max_gap : int
        Timepoints a neuron may go unseen (missed or unusable) and stay the same neuron.
    edge_margin_px : float
        Last seen this close to (or beyond) the next usable image's border: censored
        ``left_field`` rather than dead, px.
    follow_dim : bool
        Continue tracks on dim nuclei (False: dim rows are ignored).

    Returns
    -------
    SiteTracks
        ``neurons`` (:data:`NEURON_COLUMNS`), ``tracks`` (:data:`TRACK_COLUMNS`, one row per
        neuron and timepoint from its first to its death or last sighting; ``status`` is
        ``alive``, ``missed`` (usable but not found, bridged), ``unusable`` (bridged) or
        ``dead`` (the timepoint where it was found gone); ``dim`` True where it was seen as a
        dim nucleus), ``intervals``
        (:data:`INTERVAL_COLUMNS`, per pair of consecutive usable timepoints at most
        ``max_gap`` apart: neurons at risk at the start, deaths in it, tracks entering at
        its end) and ``reversals`` (misses bridged: deaths that would have been called).
    """
    series = series.sort_values("tindex").reset_index(drop=True)
    usable = series[series["usable"].astype(bool)].reset_index(drop=True)
    objects = objects[objects["timepoint"].isin(usable["timepoint"])]
    # Stores written before dim nuclei existed have no ``dim``: all their rows are counted somata.
    dim = objects["dim"].fillna(False).astype(bool) if "dim" in objects else pd.Series(False, index=objects.index)
    objects = objects.assign(dim=dim)
    if not follow_dim:
        objects = objects[~objects["dim"]]
    by_tp = {tp: g for tp, g in objects.groupby("timepoint", sort=False)}
    frames, registered = [], []
    for row in usable.itertuples():
        g = by_tp.get(row.timepoint, objects.iloc[:0])
        frames.append(g)
        registered.append(
            np.column_stack([g["y_px"].to_numpy(float) + row.shift_y_px, g["x_px"].to_numpy(float) + row.shift_x_px])
        )
    ids = link_frames(registered, usable["tindex"].to_numpy(), max_distance=max_distance_px, max_gap=max_gap,
                      dim=[g["dim"].to_numpy(bool) for g in frames])
    # Dim nuclei that continue no track are nobody.
    on = [i >= 0 for i in ids]
    frames = [g[k] for g, k in zip(frames, on)]
    registered = [r[k] for r, k in zip(registered, on)]
    ids = [i[k] for i, k in zip(ids, on)]

    seen = _seen_table(frames, registered, ids)
    neurons = _outcomes(seen, series, usable, max_gap, edge_margin_px)
    tracks = _track_rows(seen, neurons, series, usable)
    intervals = _intervals(neurons, usable, max_gap)
    return SiteTracks(neurons, tracks, intervals, int(neurons["n_missed"].sum()))


def _seen_table(frames, registered, ids) -> dict[str, np.ndarray]:
    """Every detection's track id, usable-frame index ``u``, positions and levels, sorted by (track, u)."""
    n = [len(g) for g in frames]
    cols = {
        "track_id": np.concatenate(ids) if ids else np.empty(0, int),
        "u": np.repeat(np.arange(len(frames)), n),
        "y_px": np.concatenate([g["y_px"].to_numpy(float) for g in frames]) if frames else np.empty(0),
        "x_px": np.concatenate([g["x_px"].to_numpy(float) for g in frames]) if frames else np.empty(0),
        "y_reg_px": np.concatenate([r[:, 0] for r in registered]) if frames else np.empty(0),
        "x_reg_px": np.concatenate([r[:, 1] for r in registered]) if frames else np.empty(0),
    }
    for col in ("area_px", "reporter_level", "nuclei_level"):
        parts = [g[col].to_numpy(float) if col in g else np.full(len(g), np.nan) for g in frames]
        cols[col] = np.concatenate(parts) if parts else np.empty(0)
    cols["dim"] = np.concatenate([g["dim"].to_numpy(bool) for g in frames]) if frames else np.empty(0, bool)
    order = np.lexsort((cols["u"], cols["track_id"]))
    return {k: v[order] for k, v in cols.items()}


def _outcomes(seen, series, usable, max_gap, edge_margin_px) -> pd.DataFrame:
    """One row per track: first and last usable frame seen, death or censoring reason."""
    track = seen["track_id"]
    if track.size == 0:
        return pd.DataFrame(columns=NEURON_COLUMNS)
    starts = np.flatnonzero(np.r_[True, track[1:] != track[:-1]])
    ends = np.r_[starts[1:], track.size] - 1
    first, last = seen["u"][starts], seen["u"][ends]
    u_tindex = usable["tindex"].to_numpy()
    nxt = last + 1
    has_next = nxt < len(usable)
    nxt_c = np.minimum(nxt, len(usable) - 1)
    bridged = has_next & (u_tindex[nxt_c] - u_tindex[last] - 1 <= max_gap)
    # Where the neuron would be in the next usable image: its registered position, unshifted there.
    y = seen["y_reg_px"][ends] - usable["shift_y_px"].to_numpy(float)[nxt_c]
    x = seen["x_reg_px"][ends] - usable["shift_x_px"].to_numpy(float)[nxt_c]
    h, w = usable["height_px"].to_numpy(float)[nxt_c], usable["width_px"].to_numpy(float)[nxt_c]
    inside = (y >= edge_margin_px) & (y < h - edge_margin_px) & (x >= edge_margin_px) & (x < w - edge_margin_px)
    n_seen = ends - starts + 1
    entry = _entry_frame(first, seen["u"][np.minimum(starts + 1, track.size - 1)], n_seen)
    has_entry = entry >= 0
    entry_c = np.maximum(entry, 0)
    died = bridged & inside & has_entry
    at_end = u_tindex[last] == series["tindex"].max()
    reason = np.where(died, "", np.where(bridged, "left_field", np.where(at_end, "end", "field_unusable")))
    reason = np.where(has_entry, reason, "unconfirmed")
    tp, day = usable["timepoint"].to_numpy(), usable["day"].to_numpy(float)
    return pd.DataFrame({
        "track_id": track[starts],
        "first_timepoint": tp[first].astype(int),
        "last_timepoint": tp[last].astype(int),
        "died": died,
        "censor_reason": reason,
        "y_px": seen["y_px"][starts],
        "x_px": seen["x_px"][starts],
        "first_day": day[first],
        "last_day": day[last],
        "death_timepoint": _int_or_na(tp[nxt_c], died),
        "death_day": np.where(died, day[nxt_c], np.nan),
        "n_seen": n_seen,
        "n_missed": last - first + 1 - n_seen,
        "entry_timepoint": _int_or_na(tp[entry_c], has_entry),
        "entry_day": np.where(has_entry, day[entry_c], np.nan),
    })[NEURON_COLUMNS]


def _int_or_na(values: np.ndarray, keep: np.ndarray) -> pd.arrays.IntegerArray:
    """Timepoints as nullable integers: ``values`` where ``keep``, <NA> elsewhere."""
    return pd.Series(np.where(keep, values, 0), dtype="Int64").where(keep).array


def _entry_frame(first: np.ndarray, second: np.ndarray, n_seen: np.ndarray) -> np.ndarray:
    """Usable-frame index from which each track is at risk; -1 for a late track seen only once.

    Tracks seen in the first usable frame enter there; later tracks at their second sighting.
    """
    return np.where(first == 0, 0, np.where(n_seen >= 2, second, -1))


def _track_rows(seen, neurons: pd.DataFrame, series: pd.DataFrame, usable: pd.DataFrame) -> pd.DataFrame:
    """Per-timepoint rows of every neuron: seen, missed, unusable (bridged) and its death."""
    if neurons.empty:
        return pd.DataFrame(columns=TRACK_COLUMNS)
    pos_of = {int(t): i for i, t in enumerate(series["timepoint"])}  # series is sorted by tindex
    start = neurons["first_timepoint"].map(pos_of).to_numpy()
    stop_tp = np.where(neurons["died"], neurons["death_timepoint"].fillna(-1), neurons["last_timepoint"]).astype(int)
    stop = pd.Series(stop_tp).map(pos_of).to_numpy()
    length = stop - start + 1
    row_track = np.repeat(np.arange(len(neurons)), length)
    row_pos = np.repeat(start, length) + np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
    # Detection of each (track, series position), -1 where unseen.
    u_pos = usable["timepoint"].map(pos_of).to_numpy()
    det = np.full((len(neurons), len(series)), -1)
    track_index = np.searchsorted(neurons["track_id"].to_numpy(), seen["track_id"])
    det[track_index, u_pos[seen["u"]]] = np.arange(seen["track_id"].size)
    found = det[row_track, row_pos]
    # The last detection at or before each row (rows of a track start with one): forward fill.
    last_found = np.maximum.accumulate(np.where(found >= 0, np.arange(found.size), 0))
    ref = found[last_found]
    usable_pos = np.zeros(len(series), bool)
    usable_pos[u_pos] = True
    status = np.where(found >= 0, "alive", np.where(usable_pos[row_pos], "missed", "unusable"))
    is_last = np.r_[row_track[1:] != row_track[:-1], True]
    status = np.where(is_last & neurons["died"].to_numpy()[row_track], "dead", status)
    shift_y = series["shift_y_px"].to_numpy(float)[row_pos]
    shift_x = series["shift_x_px"].to_numpy(float)[row_pos]
    y_reg, x_reg = seen["y_reg_px"][ref], seen["x_reg_px"][ref]
    seen_here = found >= 0
    out = {
        "track_id": neurons["track_id"].to_numpy()[row_track],
        "timepoint": series["timepoint"].to_numpy()[row_pos],
        "day": series["day"].to_numpy(float)[row_pos],
        "status": status,
        "y_px": np.where(seen_here, seen["y_px"][found], y_reg - shift_y),
        "x_px": np.where(seen_here, seen["x_px"][found], x_reg - shift_x),
        "y_reg_px": y_reg,
        "x_reg_px": x_reg,
    }
    for col in ("area_px", "reporter_level", "nuclei_level"):
        out[col] = np.where(seen_here, seen[col][found], np.nan)
    out["dim"] = seen_here & seen["dim"][found]
    return pd.DataFrame(out)[TRACK_COLUMNS]


def _intervals(neurons: pd.DataFrame, usable: pd.DataFrame, max_gap: int) -> pd.DataFrame:
    """Neurons at risk, deaths and entries per pair of consecutive usable timepoints."""
    t = usable["tindex"].to_numpy()
    pairs = [k for k in range(len(usable) - 1) if t[k + 1] - t[k] - 1 <= max_gap]
    if not pairs:
        return pd.DataFrame(columns=INTERVAL_COLUMNS)
    tp = usable["timepoint"].to_numpy()
    u_of = {int(v): k for k, v in enumerate(tp)}
    entry = neurons["entry_timepoint"].map(u_of).fillna(len(usable)).to_numpy(float)
    last = neurons["last_timepoint"].map(u_of).to_numpy()
    died = neurons["died"].to_numpy(bool)
    rows = []
    for k in pairs:
        # At risk: entered by k and seen alive at k or later (or dies right after k).
        at_risk = (entry <= k) & (last >= k) & ((last > k) | died)
        rows.append({
            "timepoint_start": int(tp[k]), "timepoint_end": int(tp[k + 1]),
            "interval": int(t[k]), "interval_end": int(t[k + 1]),
            "day_start": float(usable.at[k, "day"]), "day_end": float(usable.at[k + 1, "day"]),
            "at_risk": int(at_risk.sum()),
            "deaths": int((at_risk & died & (last == k)).sum()),
            "entered": int((entry == k + 1).sum()),
        })
    return pd.DataFrame(rows, columns=INTERVAL_COLUMNS)
