"""Statistics parameters: survival model, plate QC thresholds, pooling and FDR.

Owned by :mod:`screening.score`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ScoringConfig(BaseModel):
    """How measurements become hazard ratios, plate QC and a ranking."""

    model_config = ConfigDict(extra="forbid")

    baseline_role: str = Field("vehicle", description="role every compound is compared against")
    survival: Literal["tracked", "counts"] = Field(
        "tracked",
        description="neurons at risk and deaths per interval from tracked neurons (neurons.parquet; "
        "needs two or more timepoints) or from net counts per site; tracked falls back to counts, "
        "with a warning, when the run has no tracks",
    )
    positive_control: str | None = Field(
        None, description="compound name of the positive control; default: wells with that role"
    )
    window_days: tuple[float, float] | None = Field(
        None, description="(first, last) day scored; default: all timepoints"
    )
    confidence: float = Field(0.95, gt=0, lt=1, description="confidence level of every interval")
    se_correction: Literal["cr2", "cr1"] = Field(
        "cr2",
        description="well-clustered SE correction: cr2 (bias-reduced, Bell-McCaffrey t df) "
        "or cr1 (statsmodels cluster, t on n_wells - 1 df)",
    )
    adjust_edge: bool = Field(
        True, description="outer-ring wells get their own hazard term in the survival model"
    )
    pooling: Literal["dl_satterthwaite", "dl_t_inflated", "dl", "hksj"] = Field(
        "dl_satterthwaite",
        description="DerSimonian-Laird referred to t on the Welch-Satterthwaite df of the patients' own, "
        "DL with per-patient variances inflated to their t intervals (normal test), plain DL "
        "(variances known), or DL with Hartung-Knapp-Sidik-Jonkman t intervals",
    )
    fdr_q: float = Field(0.1, gt=0, lt=1, description="q-value below which a compound is a hit")
    min_z_prime: float | None = Field(
        None,
        description="plates below this robust Z' fail QC; default None: reported, not gated "
        "(with 4 positive-control wells and survival fractions, Z' of good plates often reads < 0)",
    )
    min_ssmd: float | None = Field(
        1.0, description="plates whose |SSMD| between positive control and vehicle is below this fail QC"
    )
    min_vehicle_survival: float = Field(
        0.3, ge=0, le=1, description="vehicle survival fraction at the end below this fails QC"
    )
    max_position_effect: float = Field(
        0.5, ge=0,
        description="largest row/column/edge effect on vehicle survival, as a fraction of its median",
    )
    exclude_failed_plates: bool = Field(True, description="leave QC-failed plates out of pooling")
    max_rise_fraction: float = Field(
        0.2, ge=0,
        description="flag wells whose counts rise, in one interval, by more than this fraction of those at risk "
        "(late reporter onset and neurons drifting into the field make rises of ~10 % common)",
    )
