"""Plate quality: robust Z', SSMD, vehicle survival and position effects.

All figures use each well's survival fraction over the scored window: the count
at the plate's last window timepoint over the count at its first, summed over
the well's sites usable at *both* timepoints (so a defocused field does not read
as dead neurons).

- Robust Z' = 1 - 3 (s_p + s_n) / |m_p - m_n| with median m and s = 1.4826 MAD,
  between positive-control and vehicle wells (Zhang et al. 1999, robust form).
- SSMD beta = (m_p - m_n) / sqrt(s_p² + s_n²), with the same robust m and s
  (Zhang 2007); positive when the positive control protects.
- Position effects: vehicle survival divided by the patient's vehicle median on
  the plate, laid out on the plate grid and decomposed by Tukey's median polish
  into row and column effects; residuals over 1.4826 MAD are B-scores (Brideau
  et al. 2003). ``edge_effect`` is the median of edge vehicle wells minus the
  median of interior ones (at least three of each); ``position_effect`` is the largest absolute row or
  column effect among rows and columns holding at least three vehicle wells
  (fewer cannot tell a row effect from one odd well).

A plate × patient passes when |SSMD| >= ``min_ssmd`` and Z' >= ``min_z_prime``
(each gate optional; skipped, with a note, when the plate has no positive
control), vehicle survival >= ``min_vehicle_survival``
and both position figures are within ``max_position_effect``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from screening.plate import MAD_TO_SD, is_vehicle, plate_shape, usable_fields, well_position
from screening.score.intervals import in_window

PLATE_QC_COLUMNS = ["plate", "patient", "z_prime", "ssmd", "vehicle_survival_end", "pass"]


def robust_location_scale(values) -> tuple[float, float]:
    """Median and 1.4826·MAD (a standard deviation for normal data); NaN when empty."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return np.nan, np.nan
    med = float(np.median(values))
    return med, float(MAD_TO_SD * np.median(np.abs(values - med)))


def robust_z_prime(positive, negative) -> float:
    """Robust Z' factor between two groups of well values (NaN if either has < 2 wells)."""
    if np.isfinite(np.asarray(positive, float)).sum() < 2 or np.isfinite(np.asarray(negative, float)).sum() < 2:
        return np.nan
    mp, sp = robust_location_scale(positive)
    mn, sn = robust_location_scale(negative)
    if mp == mn:
        return -np.inf if sp + sn > 0 else np.nan
    return 1 - 3 * (sp + sn) / abs(mp - mn)


def ssmd(positive, negative) -> float:
    """Robust strictly standardized mean difference (positive minus negative)."""
    if np.isfinite(np.asarray(positive, float)).sum() < 2 or np.isfinite(np.asarray(negative, float)).sum() < 2:
        return np.nan
    mp, sp = robust_location_scale(positive)
    mn, sn = robust_location_scale(negative)
    spread = np.hypot(sp, sn)
    if spread == 0:
        return np.nan
    return (mp - mn) / spread


def median_polish(table: np.ndarray, *, max_iter: int = 10, tol: float = 1e-6):
    """Tukey's median polish of a 2-D table that may hold NaN (missing cells).

    Returns
    -------
    overall : float
    row_effects : ndarray, shape (n_rows,)
    col_effects : ndarray, shape (n_cols,)
    residuals : ndarray, same shape as ``table`` (NaN where the table is)
    """
    resid = np.array(table, float)
    rows = np.zeros(resid.shape[0])
    cols = np.zeros(resid.shape[1])
    # Rows and columns without any cell have no effect and stay out of the medians.
    has_row = np.isfinite(resid).any(axis=1)
    has_col = np.isfinite(resid).any(axis=0)
    overall = 0.0
    if not has_row.any():
        return overall, rows, cols, resid
    with np.errstate(all="ignore"), _quiet():
        for _ in range(max_iter):
            r = np.nan_to_num(np.nanmedian(resid, axis=1))
            resid -= r[:, None]
            rows += r
            shift = np.median(cols[has_col])
            cols[has_col] -= shift
            overall += shift
            c = np.nan_to_num(np.nanmedian(resid, axis=0))
            resid -= c[None, :]
            cols += c
            shift = np.median(rows[has_row])
            rows[has_row] -= shift
            overall += shift
            if np.nanmax(np.abs(np.concatenate([r, c])), initial=0) < tol:
                break
    return overall, rows, cols, resid


class _quiet:
    """Silence 'All-NaN slice' warnings of nanmedian on empty rows or columns."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def b_scores(residuals: np.ndarray) -> np.ndarray:
    """Median-polish residuals divided by their 1.4826·MAD."""
    _, scale = robust_location_scale(residuals.ravel())
    if not scale or not np.isfinite(scale):
        return np.full_like(residuals, np.nan)
    return residuals / scale


def well_survival(fields: pd.DataFrame, *, window_days: tuple[float, float] | None = None) -> pd.DataFrame:
    """Survival fraction over the window per well, from sites usable at both ends.

    Returns
    -------
    DataFrame
        ``plate, well, patient, compound, concentration_um, role, n_start,
        n_end, survival`` (NaN without usable sites or neurons at the start).
    """
    data = fields[in_window(fields["day"], window_days)].copy()
    data["_usable"] = usable_fields(data).to_numpy()
    bounds = data.groupby("plate", observed=True)["day"].agg(first="min", last="max")
    data = data.join(bounds, on="plate")
    keys = ["plate", "well", "site"]
    start = data[data["day"] == data["first"]].set_index(keys)
    end = data[data["day"] == data["last"]].set_index(keys)
    both = start[["_usable", "n_neurons"]].join(end[["_usable", "n_neurons"]].add_suffix("_end"), how="inner")
    both = both[both["_usable"] & both["_usable_end"] & (start["day"].reindex(both.index) < end["day"].reindex(both.index))]
    sums = both.groupby(level=["plate", "well"])[["n_neurons", "n_neurons_end"]].sum()
    info = data.groupby(["plate", "well"], observed=True)[["patient", "compound", "concentration_um", "role"]].first()
    out = info.join(sums, how="left").reset_index()
    out = out.rename(columns={"n_neurons": "n_start", "n_neurons_end": "n_end"})
    with np.errstate(divide="ignore", invalid="ignore"):
        out["survival"] = (out["n_end"] / out["n_start"]).where(out["n_start"] > 0)
    return out


def edge_wells(table: pd.DataFrame) -> pd.Series:
    """True for wells in the outer ring of their plate (plate size from all its wells).

    Parameters
    ----------
    table : DataFrame
        With ``plate`` and ``well`` columns (any number of rows per well).
    """
    out = pd.Series(False, index=table.index)
    for plate, g in table.groupby("plate", observed=True):
        names = g["well"].unique()
        n_rows, n_cols = plate_shape(names)
        pos = {w: well_position(w) for w in names}
        edge = {w: r >= 0 and (r in (0, n_rows - 1) or c in (0, n_cols - 1)) for w, (r, c) in pos.items()}
        out[g.index] = g["well"].map(edge).to_numpy(bool)
    return out


def position_effects(vehicle: pd.DataFrame, *, shape: tuple[int, int] | None = None) -> dict:
    """Row/column/edge effects of normalized vehicle survival on one plate.

    Parameters
    ----------
    vehicle : DataFrame
        Vehicle wells of one plate with ``well``, ``patient`` and ``survival``.
    shape : (int, int), optional
        Plate rows and columns (default: :func:`plate_shape` of these wells);
        the outermost ones are the edge.

    Returns
    -------
    dict
        ``position_effect``, ``edge_effect`` (fractions of the vehicle median)
        and ``max_abs_bscore``.
    """
    v = vehicle.dropna(subset=["survival"]).copy()
    out = {"position_effect": np.nan, "edge_effect": np.nan, "max_abs_bscore": np.nan}
    if v.empty:
        return out
    med = v.groupby("patient", observed=True)["survival"].transform("median")
    v["_norm"] = (v["survival"] / med).where(med > 0)
    v = v.dropna(subset=["_norm"])
    pos = np.array([well_position(w) for w in v["well"]]).reshape(-1, 2)
    v = v[(pos[:, 0] >= 0)]
    pos = pos[pos[:, 0] >= 0]
    if v.empty:
        return out
    shape = shape or plate_shape(v["well"])
    shape = (max(shape[0], pos[:, 0].max() + 1), max(shape[1], pos[:, 1].max() + 1))
    grid = np.full(shape, np.nan)
    grid[pos[:, 0], pos[:, 1]] = v["_norm"].to_numpy()
    _, rows, cols, resid = median_polish(grid)
    counted_rows = np.isfinite(grid).sum(axis=1) >= 3
    counted_cols = np.isfinite(grid).sum(axis=0) >= 3
    effects = np.concatenate([rows[counted_rows], cols[counted_cols]])
    if len(effects):
        out["position_effect"] = float(np.max(np.abs(effects)))
    # With one vehicle well in a row or column its residual is 0 by construction;
    # B-scores mean something only where both hold two or more wells.
    dense = (np.isfinite(grid).sum(axis=1)[:, None] >= 2) & (np.isfinite(grid).sum(axis=0)[None, :] >= 2)
    scores = b_scores(np.where(dense, resid, np.nan))
    if np.isfinite(scores).any():
        out["max_abs_bscore"] = float(np.nanmax(np.abs(scores)))
    n_rows, n_cols = grid.shape
    edge = (pos[:, 0] == 0) | (pos[:, 1] == 0) | (pos[:, 0] == n_rows - 1) | (pos[:, 1] == n_cols - 1)
    if edge.sum() >= 3 and (~edge).sum() >= 3:
        vals = v["_norm"].to_numpy()
        out["edge_effect"] = float(np.median(vals[edge]) - np.median(vals[~edge]))
    return out


def plate_qc(
    fields: pd.DataFrame,
    *,
    baseline_role: str = "vehicle",
    positive_control: str | None = None,
    window_days: tuple[float, float] | None = None,
    min_z_prime: float | None = None,
    min_ssmd: float | None = 1.0,
    min_vehicle_survival: float = 0.3,
    max_position_effect: float = 0.5,
) -> pd.DataFrame:
    """QC table per plate × patient (:data:`PLATE_QC_COLUMNS` first).

    Extra columns: ``n_vehicle_wells``, ``n_positive_wells``,
    ``positive_survival_end``, ``position_effect``, ``edge_effect``,
    ``max_abs_bscore`` and ``note`` (why a plate failed or what was not checked).
    """
    survival = well_survival(fields, window_days=window_days)
    vehicle = is_vehicle(survival["role"], baseline_role)
    positive = survival["role"].eq("positive_control")
    if positive_control is not None:
        positive = positive | survival["compound"].eq(positive_control)
    survival["_veh"], survival["_pos"] = vehicle, positive
    rows = []
    for plate, pw in survival.groupby("plate", observed=True, sort=True):
        # The plate's extent (hence its edge) comes from all its wells, not the vehicle ones.
        pos_fx = position_effects(pw[pw["_veh"]], shape=plate_shape(pw["well"]))
        for patient, g in pw.groupby("patient", observed=True, sort=True):
            veh = g.loc[g["_veh"], "survival"].dropna()
            pc = g.loc[g["_pos"], "survival"].dropna()
            notes = []
            zp = robust_z_prime(pc, veh)
            beta = ssmd(pc, veh)
            veh_end = float(np.median(veh)) if len(veh) else np.nan
            ok = True
            if len(veh) == 0:
                notes.append("no usable vehicle wells")
                ok = False
            if g["_pos"].sum() == 0:
                notes.append("no positive control on this plate: Z' and SSMD not computed")
            elif len(pc) < 2 or len(veh) < 2:
                notes.append("fewer than two usable control wells: Z' and SSMD not computed")
            if min_z_prime is not None and np.isfinite(zp) and zp < min_z_prime:
                notes.append(f"Z' {zp:.2f} < {min_z_prime}")
                ok = False
            if min_ssmd is not None and np.isfinite(beta) and abs(beta) < min_ssmd:
                notes.append(f"|SSMD| {abs(beta):.2f} < {min_ssmd}")
                ok = False
            if np.isfinite(veh_end) and veh_end < min_vehicle_survival:
                notes.append(f"vehicle survival {veh_end:.2f} < {min_vehicle_survival}")
                ok = False
            for name in ("position_effect", "edge_effect"):
                value = pos_fx[name]
                if np.isfinite(value) and abs(value) > max_position_effect:
                    notes.append(f"{name.replace('_', ' ')} {value:+.2f} beyond ±{max_position_effect}")
                    ok = False
            rows.append({
                "plate": plate, "patient": patient, "z_prime": zp, "ssmd": beta,
                "vehicle_survival_end": veh_end, "pass": ok,
                "n_vehicle_wells": int(g["_veh"].sum()), "n_positive_wells": int(g["_pos"].sum()),
                "positive_survival_end": float(np.median(pc)) if len(pc) else np.nan,
                **pos_fx, "note": "; ".join(notes),
            })
    return pd.DataFrame(rows, columns=PLATE_QC_COLUMNS + [
        "n_vehicle_wells", "n_positive_wells", "positive_survival_end",
        "position_effect", "edge_effect", "max_abs_bscore", "note",
    ])
