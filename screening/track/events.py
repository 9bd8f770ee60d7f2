"""One site's neurons followed over time: tracks, deaths, censoring and the intervals at risk.

Rules (docs/tracking.md):

- A neuron is a track of somata linked over the site's *usable* timepoints (measured,
  passed field QC, not flagged, registration trusted). It enters at its first timepoint
  (delayed entry: late reporter onset or a neuron moving in neither inflates survival nor
  counts as a death).
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
]
TRACK_COLUMNS = [
    "track_id", "timepoint", "day", "status", "y_px", "x_px", "y_reg_px", "x_reg_px",
    "area_px", "reporter_level", "nuclei_level",
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
) -> SiteTracks:
    """Link one site's somata over time and call each neuron's outcome.

    Parameters
    ----------
    objects : DataFrame
        Somata of the site: ``timepoint, y_px, x_px`` (px, that image's frame) and
        optionally ``area_px, reporter_level, nuclei_level``.
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

    Returns
    -------
    SiteTracks
        ``neurons`` (:data:`NEURON_COLUMNS`), ``tracks`` (:data:`TRACK_COLUMNS`, one row per
        neuron and timepoint from its first to its death or last sighting; ``status`` is
        ``alive``, ``missed`` (usable but not found, bridged), ``unusable`` (bridged) or
        ``dead`` (the timepoint where it was found gone)), ``intervals``
        (:data:`INTERVAL_COLUMNS`, per pair of consecutive usable timepoints at most
        ``max_gap`` apart: neurons at risk at the start, deaths in it, tracks entering at
        its end) and ``reversals`` (misses bridged: deaths that would have been called).
    """
    series = series.sort_values("tindex").reset_index(drop=True)
    usable = series[series["usable"].astype(bool)].reset_index(drop=True)
    objects = objects[objects["timepoint"].isin(usable["timepoint"])]
    by_tp = {tp: g for tp, g in objects.groupby("timepoint", sort=False)}
    frames, registered = [], []
    for row in usable.itertuples():
        g = by_tp.get(row.timepoint, objects.iloc[:0])
        frames.append(g)
        registered.append(
            np.column_stack([g["y_px"].to_numpy(float) + row.shift_y_px, g["x_px"].to_numpy(float) + row.shift_x_px])
        )
    ids = link_frames(registered, usable["tindex"].to_numpy(), max_distance=max_distance_px, max_gap=max_gap)

    seen = _seen_table(frames, registered, ids, usable)
    neurons, tracks = [], []
    u_tindex = usable["tindex"].to_numpy()
    last_tindex = int(series["tindex"].max()) if len(series) else -1
    for track_id, rows in seen.groupby("track_id", sort=True):
        first, last = int(rows["u"].iloc[0]), int(rows["u"].iloc[-1])
        nxt = last + 1 if last + 1 < len(usable) else None
        reason, died = "", False
        if nxt is None or u_tindex[nxt] - u_tindex[last] - 1 > max_gap:
            reason = "end" if u_tindex[last] == last_tindex else "field_unusable"
            nxt = None
        else:
            ref = rows.iloc[-1]
            at = usable.iloc[nxt]
            y, x = ref["y_reg_px"] - at["shift_y_px"], ref["x_reg_px"] - at["shift_x_px"]
            inside = (edge_margin_px <= y < at["height_px"] - edge_margin_px) and (
                edge_margin_px <= x < at["width_px"] - edge_margin_px
            )
            died = bool(inside)
            reason = "" if died else "left_field"
        track_rows = _track_rows(rows, series, usable, first, last, nxt if died else None)
        track_rows.insert(0, "track_id", track_id)
        tracks.append(track_rows)
        head = rows.iloc[0]
        neurons.append({
            "track_id": track_id,
            "first_timepoint": int(usable.at[first, "timepoint"]),
            "last_timepoint": int(usable.at[last, "timepoint"]),
            "died": died,
            "censor_reason": reason,
            "y_px": float(head["y_px"]),
            "x_px": float(head["x_px"]),
            "first_day": float(usable.at[first, "day"]),
            "last_day": float(usable.at[last, "day"]),
            "death_timepoint": float(usable.at[nxt, "timepoint"]) if died else np.nan,
            "death_day": float(usable.at[nxt, "day"]) if died else np.nan,
            "n_seen": len(rows),
            "n_missed": int((track_rows["status"] == "missed").sum()),
        })
    neurons = pd.DataFrame(neurons, columns=NEURON_COLUMNS)
    tracks = pd.concat(tracks, ignore_index=True) if tracks else pd.DataFrame(columns=TRACK_COLUMNS)
    intervals = _intervals(neurons, usable, max_gap)
    return SiteTracks(neurons, tracks[TRACK_COLUMNS], intervals, int(neurons["n_missed"].sum()))


def _seen_table(frames, registered, ids, usable) -> pd.DataFrame:
    """One row per detection with its track id and usable-frame index ``u``."""
    parts = []
    for u, (g, reg, tid) in enumerate(zip(frames, registered, ids)):
        part = pd.DataFrame({
            "track_id": tid, "u": u,
            "y_px": g["y_px"].to_numpy(float), "x_px": g["x_px"].to_numpy(float),
            "y_reg_px": reg[:, 0], "x_reg_px": reg[:, 1],
        })
        for col in ("area_px", "reporter_level", "nuclei_level"):
            part[col] = g[col].to_numpy(float) if col in g else np.nan
        parts.append(part)
    seen = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["track_id", "u"])
    return seen.sort_values(["track_id", "u"], kind="stable")


def _track_rows(rows, series, usable, first, last, death) -> pd.DataFrame:
    """Per-timepoint rows of one neuron: seen, missed, unusable (bridged) and its death."""
    start, stop = usable.at[first, "tindex"], usable.at[death if death is not None else last, "tindex"]
    span = series[(series["tindex"] >= start) & (series["tindex"] <= stop)]
    seen = rows.set_index(usable.loc[rows["u"], "timepoint"].to_numpy())
    out = span[["timepoint", "day", "shift_y_px", "shift_x_px"]].reset_index(drop=True)
    known = out["timepoint"].isin(seen.index)
    usable_tp = set(usable["timepoint"])
    out["status"] = np.where(known, "alive", np.where(out["timepoint"].isin(usable_tp), "missed", "unusable"))
    if death is not None:
        out.loc[out.index[-1], "status"] = "dead"
    # Unseen timepoints carry the last registered position, placed in that image's frame.
    reg = seen.reindex(out["timepoint"])[["y_reg_px", "x_reg_px"]].ffill().to_numpy()
    out["y_reg_px"], out["x_reg_px"] = reg[:, 0], reg[:, 1]
    out["y_px"] = np.where(known, seen["y_px"].reindex(out["timepoint"]).to_numpy(), reg[:, 0] - out["shift_y_px"])
    out["x_px"] = np.where(known, seen["x_px"].reindex(out["timepoint"]).to_numpy(), reg[:, 1] - out["shift_x_px"])
    for col in ("area_px", "reporter_level", "nuclei_level"):
        out[col] = seen[col].reindex(out["timepoint"]).to_numpy(float)
    return out.drop(columns=["shift_y_px", "shift_x_px"])


def _intervals(neurons: pd.DataFrame, usable: pd.DataFrame, max_gap: int) -> pd.DataFrame:
    """Neurons at risk, deaths and entries per pair of consecutive usable timepoints."""
    t = usable["tindex"].to_numpy()
    pairs = [k for k in range(len(usable) - 1) if t[k + 1] - t[k] - 1 <= max_gap]
    if not pairs:
        return pd.DataFrame(columns=INTERVAL_COLUMNS)
    tp = usable["timepoint"].to_numpy()
    u_of = {int(v): k for k, v in enumerate(tp)}
    first = neurons["first_timepoint"].map(u_of).to_numpy()
    last = neurons["last_timepoint"].map(u_of).to_numpy()
    died = neurons["died"].to_numpy(bool)
    rows = []
    for k in pairs:
        # At risk: entered by k and seen alive at k or later (or dies right after k).
        at_risk = (first <= k) & (last >= k) & ((last > k) | died)
        rows.append({
            "timepoint_start": int(tp[k]), "timepoint_end": int(tp[k + 1]),
            "interval": int(t[k]), "interval_end": int(t[k + 1]),
            "day_start": float(usable.at[k, "day"]), "day_end": float(usable.at[k + 1, "day"]),
            "at_risk": int(at_risk.sum()),
            "deaths": int((at_risk & died & (last == k)).sum()),
            "entered": int((first == k + 1).sum()),
        })
    return pd.DataFrame(rows, columns=INTERVAL_COLUMNS)
