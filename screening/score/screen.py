"""The scoring stage end to end: fields and wells in, scores, ranking and plate QC out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from screening.config.scoring import ScoringConfig
from screening.io.atomic import write_atomic, write_text_atomic
from screening.score.dose import dose_response
from screening.plate import FIELD_KEYS, MAP_COLUMNS, is_vehicle, usable_fields
from screening.score.intervals import in_window, rise_flags, site_intervals, zero_start_sites
from screening.score.neurite import NEURITE_COLUMNS, neurite_ratios
from screening.score.plate_qc import edge_wells, plate_qc
from screening.score.pooling import (
    RANKING_COLUMNS,
    bh_qvalues,
    call_arms,
    pool_screen,
    rank_candidates,
)
from screening.score.survival import SURVIVAL_COLUMNS, fit_survival
from screening.score.warnings import (
    ScoringWarning,
    no_positive_control_warning,
    plate_qc_warning,
    render,
    rising_counts_warning,
    unique,
    zero_start_warning,
)

SCORES_COLUMNS = [
    "patient", "compound", "concentration_um", "hazard_ratio", "hr_ci_low", "hr_ci_high",
    "p_value", "q_value", "neurite_ratio", "rank", "call",
]
WARNINGS_FILE = "warnings.txt"
#: What the ``note`` column of ``scores`` says about an arm (besides the survival fit's
#: :data:`screening.score.survival.NOTES`); ``{max_rise}`` is ``max_rise_fraction``.
NOTES = {
    "no_intervals": "no usable intervals (no neurons at risk or no usable fields)",
    "rising_counts": "neuron counts rose by > {max_rise:.0%} in some wells (hidden deaths bias HR down)",
    "zero_start_sites": ("some sites had no motor neurons at their first timepoint: they count only from "
                         "when neurons appear"),
    "patient_failed_qc": "every plate of this patient failed QC: left out of pooling",
}
#: What scoring reads from each field row.
SCORED_FIELD_COLUMNS = [*FIELD_KEYS, "day", "n_neurons", "qc_pass", "status", *MAP_COLUMNS]


@dataclass
class ScoreResult:
    """Tables of one scoring run (the columns of docs/outputs.md first in each)."""

    scores: pd.DataFrame
    ranking: pd.DataFrame
    plate_qc: pd.DataFrame
    dose_response: pd.DataFrame
    warnings: list[ScoringWarning] = field(default_factory=list)


def _with_positive_control(fields: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    if config.positive_control is None:
        return fields
    fields = fields.copy()
    pc = fields["compound"].eq(config.positive_control) & ~is_vehicle(fields["role"], config.baseline_role)
    fields.loc[pc, "role"] = "positive_control"
    return fields


def _arms(fields: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """Every patient × compound × concentration of the plate map except vehicle and empty."""
    keep = ~is_vehicle(fields["role"], config.baseline_role) & fields["role"].ne("empty")
    return (
        fields[keep].groupby(["patient", "compound", "concentration_um"], observed=True, dropna=False)
        .agg(role=("role", "first"))
        .reset_index()
    )


def no_estimate_reason(fields: pd.DataFrame, arms: pd.DataFrame, config: ScoringConfig) -> str:
    """Why the screen as a whole gives no hazard ratio ("" when it may give some).

    Hazard ratios need a treated arm and deaths between two timepoints, so a plate
    of vehicle wells, or a single imaging day (validation and assay-development
    plates), yields counts and neurite lengths but no estimate.
    """
    if fields.empty:
        return "no hazard ratios: no fields in the fields table"
    if arms.empty:
        return (f"no hazard ratios: the plate maps hold no treatment or positive-control wells "
                f"(only {config.baseline_role} and empty wells); counts and neurites are in wells.parquet")
    usable = fields[usable_fields(fields) & in_window(fields["day"], config.window_days)]
    days = sorted(usable["day"].dropna().unique())
    if len(days) < 2:
        found = f"day {days[0]:g}" if days else "none"
        return (f"no hazard ratios: survival needs fields that passed QC at two or more timepoints "
                f"(found {len(days)}: {found}); counts and neurites are in wells.parquet")
    return ""


def _without_estimates(arms: pd.DataFrame, qc: pd.DataFrame, warnings: list[ScoringWarning],
                       reason: str) -> ScoreResult:
    """Empty scores, ranking and dose tables (contract columns) when nothing can be estimated."""
    scores = arms.reindex(columns=SCORES_COLUMNS + ["role", "note"]).assign(note=reason)
    return ScoreResult(scores=scores, ranking=pd.DataFrame(columns=RANKING_COLUMNS), plate_qc=qc,
                       dose_response=pd.DataFrame(),
                       warnings=unique([ScoringWarning("no_estimates", reason), *warnings]))


def _append(notes: pd.Series, mask, text: str) -> pd.Series:
    notes = notes.copy()
    notes[mask] = (notes[mask] + "; " + text).str.strip("; ")
    return notes


def score_screen(
    fields: pd.DataFrame,
    wells: pd.DataFrame,
    config: ScoringConfig | None = None,
    *,
    tracked_intervals: pd.DataFrame | None = None,
) -> ScoreResult:
    """Score a screen: plate QC, per-patient survival and neurites, pooled ranking, FDR.

    Parameters
    ----------
    fields : DataFrame
        One row per plate × well × site × timepoint (``fields.parquet`` joined
        with the plate map and ``flagged`` from ``qc_flags.csv``); needs
        :data:`SCORED_FIELD_COLUMNS`.
    wells : DataFrame
        ``wells.parquet`` (per well × timepoint sums over usable fields).
    config : ScoringConfig, optional
    tracked_intervals : DataFrame, optional
        Neurons at risk and deaths per site and interval from tracked neurons
        (:func:`screening.track.sites.tracked_intervals`); the survival model uses them
        instead of net counts, and ``scores.survival`` says which was used.

    Returns
    -------
    ScoreResult
        ``scores`` (per patient × compound × concentration), ``ranking``
        (pooled), ``plate_qc``, ``dose_response`` and ``warnings`` (one line
        per problem, naming patient, plate or compound).

    Raises
    ------
    ValueError
        When ``fields`` lacks a required column (a contract error, not bad data).
    """
    config = config or ScoringConfig()
    missing = [c for c in SCORED_FIELD_COLUMNS if c not in fields]
    if missing:
        raise ValueError(f"fields table lacks column(s) {missing}; expected {SCORED_FIELD_COLUMNS}")
    alpha = 1 - config.confidence
    fields = _with_positive_control(fields, config)
    wells = _with_positive_control(wells, config) if len(wells) else wells
    qc = plate_qc(
        fields, baseline_role=config.baseline_role, positive_control=config.positive_control,
        window_days=config.window_days, min_z_prime=config.min_z_prime, min_ssmd=config.min_ssmd,
        min_vehicle_survival=config.min_vehicle_survival, max_position_effect=config.max_position_effect,
    )
    warnings = _qc_warnings(qc)
    arms = _arms(fields, config)
    reason = no_estimate_reason(fields, arms, config)
    if reason:
        return _without_estimates(arms, qc, warnings, reason)

    intervals = _model_intervals(fields, tracked_intervals, config)
    intervals, excluded_patients = _without_failed_plates(intervals, qc, config)
    survival, covariances = fit_survival(
        intervals, baseline_role=config.baseline_role, se_correction=config.se_correction,
        adjust_edge=config.adjust_edge, alpha=alpha,
    )
    scores = _survival_scores(arms, survival, "counts" if tracked_intervals is None else "tracked")
    scores = _with_rising_wells(scores, intervals, config, warnings)
    scores = _with_zero_start_sites(scores, fields, config, warnings)
    scores = _with_neurites(scores, wells, config, alpha)
    scores = _with_calls(scores, excluded_patients, config)
    ranking = pool_screen(scores, candidates=None, method=config.pooling, alpha=alpha, fdr_q=config.fdr_q)
    doses = dose_response(scores, ranking, covariances, alpha=alpha)

    for _, row in scores[scores["log_hr"].isna()].iterrows():
        warnings.append(ScoringWarning("not_estimated", row["note"], patient=row["patient"], compound=row["compound"],
                                       concentration_um=row["concentration_um"]))
    if not fields["role"].eq("positive_control").any():
        warnings.append(no_positive_control_warning())
    extra = [c for c in scores.columns if c not in SCORES_COLUMNS]
    scores = scores[SCORES_COLUMNS + extra].sort_values(["patient", "compound", "concentration_um"], ignore_index=True)
    ranking = ranking.sort_values(["rank", "compound", "concentration_um"], na_position="last", ignore_index=True)
    return ScoreResult(scores=scores, ranking=ranking, plate_qc=qc, dose_response=doses,
                       warnings=unique(warnings))


def _qc_warnings(qc: pd.DataFrame) -> list[ScoringWarning]:
    """One warning per plate × patient that failed QC or carries a QC note."""
    found = (plate_qc_warning(p, patient, passed, note)
             for p, patient, passed, note in zip(qc["plate"], qc["patient"], qc["pass"], qc["note"]))
    return [w for w in found if w is not None]


def _model_intervals(fields: pd.DataFrame, tracked_intervals: pd.DataFrame | None,
                     config: ScoringConfig) -> pd.DataFrame:
    """Site × interval rows the survival model fits (net counts or tracked neurons), with ``edge``."""
    if tracked_intervals is None:
        intervals = site_intervals(fields, window_days=config.window_days)
    else:
        intervals = tracked_intervals.copy()
    edge = edge_wells(fields[["plate", "well"]].drop_duplicates())
    edge_of = dict(zip(zip(fields.loc[edge.index, "plate"], fields.loc[edge.index, "well"]), edge))
    intervals["edge"] = [edge_of.get(k, False) for k in zip(intervals["plate"], intervals["well"])]
    return intervals


def _without_failed_plates(intervals: pd.DataFrame, qc: pd.DataFrame, config: ScoringConfig) -> tuple[pd.DataFrame, set]:
    """Intervals without failed plate × patient pairs (when configured), and the patients left out of pooling.

    A patient with no passing plate is still scored on everything but kept out of pooling.
    """
    excluded: set = set()
    if not (config.exclude_failed_plates and len(qc)):
        return intervals, excluded
    passing = set(zip(qc.loc[qc["pass"], "plate"], qc.loc[qc["pass"], "patient"]))
    pair = pd.Series(list(zip(intervals["plate"], intervals["patient"])), index=intervals.index)
    ok = pair.isin(passing)
    for patient, rows in intervals.groupby("patient", observed=True):
        if not ok[rows.index].any():
            excluded.add(patient)
            ok[rows.index] = True
    return intervals[ok], excluded


def _survival_scores(arms: pd.DataFrame, survival: pd.DataFrame, source: str) -> pd.DataFrame:
    """Every arm with its survival fit (``survival`` says from counts or tracked neurons)."""
    scores = arms.merge(survival.drop(columns=["role"]), on=["patient", "compound", "concentration_um"], how="left")
    scores["survival"] = source
    scores["note"] = scores["note"].fillna(NOTES["no_intervals"])
    for col in ("n_wells", "n_vehicle_wells"):
        scores[col] = scores[col].fillna(0).astype(int)
    return scores


def _count_per_arm(scores: pd.DataFrame, rows: pd.DataFrame) -> list[int]:
    counts = rows.groupby(["patient", "compound", "concentration_um"], observed=True, dropna=False).size()
    return [int(counts.get((p, c, d), 0)) for p, c, d in zip(scores["patient"], scores["compound"], scores["concentration_um"])]


def _with_rising_wells(scores, intervals, config: ScoringConfig, warnings: list[ScoringWarning]) -> pd.DataFrame:
    """``rise_wells`` per arm (counts rose: deaths hidden), with a note and a warning per patient."""
    flags = rise_flags(intervals, max_rise_fraction=config.max_rise_fraction)
    well_arm = intervals.drop_duplicates(["plate", "well"])[["plate", "well", "compound", "concentration_um"]]
    flags = flags.merge(well_arm, on=["plate", "well"], how="left")
    scores["rise_wells"] = _count_per_arm(scores, flags)
    scores["note"] = _append(scores["note"], scores["rise_wells"] > 0,
                             NOTES["rising_counts"].format(max_rise=config.max_rise_fraction))
    for patient, g in flags.groupby("patient", observed=True):
        warnings.append(rising_counts_warning(patient, list(zip(g["plate"], g["well"])), config.max_rise_fraction))
    return scores


def _with_zero_start_sites(scores, fields, config: ScoringConfig, warnings: list[ScoringWarning]) -> pd.DataFrame:
    """``zero_start_sites`` per arm (no neurons at the first timepoint), with a note and a warning."""
    zero = zero_start_sites(fields, window_days=config.window_days)
    scores["zero_start_sites"] = _count_per_arm(scores, zero)
    scores["note"] = _append(scores["note"], scores["zero_start_sites"] > 0, NOTES["zero_start_sites"])
    for patient, g in zero.groupby("patient", observed=True):
        warnings.append(zero_start_warning(patient, list(zip(g["plate"], g["well"], g["site"]))))
    return scores


def _with_neurites(scores, wells, config: ScoringConfig, alpha: float) -> pd.DataFrame:
    """The neurite endpoint per arm (NaN, with a note, without a wells table)."""
    if len(wells):
        neurites = neurite_ratios(wells, baseline_role=config.baseline_role, window_days=config.window_days, alpha=alpha)
        scores = scores.merge(neurites, on=["patient", "compound", "concentration_um"], how="left")
    else:
        for col in NEURITE_COLUMNS:
            scores[col] = np.nan if col != "neurite_note" else "no wells table"
    scores["neurite_note"] = scores["neurite_note"].fillna("")
    return scores


def _with_calls(scores: pd.DataFrame, excluded_patients: set, config: ScoringConfig) -> pd.DataFrame:
    """Per patient: q-values of the treatment arms (BH), ranks and calls; who is pooled."""
    scores["pooled"] = scores["log_hr"].notna() & ~scores["patient"].isin(excluded_patients)
    scores["note"] = _append(scores["note"], scores["patient"].isin(excluded_patients), NOTES["patient_failed_qc"])
    treatment = scores["role"].eq("treatment")
    scores["q_value"] = np.nan
    scores["rank"] = np.nan
    scores["call"] = ""
    for _patient, g in scores.groupby("patient", observed=True):
        cand = treatment[g.index]
        scores.loc[g.index[cand.to_numpy()], "q_value"] = bh_qvalues(g.loc[cand, "p_value"])
        scores.loc[g.index, "rank"] = rank_candidates(g, cand, config.fdr_q)
        scores.loc[g.index, "call"] = call_arms(g, cand, config.fdr_q)
    return scores


#: Columns of the score tables that hold whole numbers (NaN where there is none).
INTEGER_COLUMNS = ("rank", "n_patients", "n_wells", "n_vehicle_wells")


def write_scores(result: ScoreResult, run_dir: str | Path) -> dict[str, Path]:
    """Write ``scores.csv``, ``ranking.csv``, ``plate_qc.csv``, ``dose_response.csv`` and ``warnings.txt``.

    Every file is written beside its target and renamed onto it, so a reader
    (the report, the napari plugin) never sees half a file. ``warnings.txt``
    holds :attr:`ScoreResult.warnings`, one per line (patients without vehicle
    wells, failed plates, large count rises, arms without an estimate, ...); it
    is always written, empty when there is no warning, so a re-score never
    leaves the warnings of an earlier scoring behind. ``report.html`` lists it.

    Parameters
    ----------
    result : ScoreResult
        From :func:`score_screen`.
    run_dir : str or Path
        The run folder (created if absent).

    Returns
    -------
    dict
        Table name (``scores``, ``ranking``, ``plate_qc``, ``dose_response``,
        ``warnings``) -> path written.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in (
        ("scores", result.scores), ("ranking", result.ranking),
        ("plate_qc", result.plate_qc), ("dose_response", result.dose_response),
    ):
        # Written as integers ("3", blank when unranked), not as floats ("3.0").
        table = table.astype({c: "Int64" for c in INTEGER_COLUMNS if c in table})
        paths[name] = write_atomic(run_dir / f"{name}.csv", lambda tmp, t=table: t.to_csv(tmp, index=False))
    lines = [render(w) for w in result.warnings]
    paths["warnings"] = write_text_atomic(run_dir / WARNINGS_FILE, "".join(f"{line}\n" for line in lines if line))
    return paths


__all__ = ["RANKING_COLUMNS", "SCORES_COLUMNS", "SURVIVAL_COLUMNS", "WARNINGS_FILE", "ScoreResult", "score_screen", "write_scores"]
