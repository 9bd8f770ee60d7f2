"""Statistics parameters: survival model, plate QC thresholds, pooling and FDR.

Owned by :mod:`screening.score`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ScoringConfig(BaseModel):
    """How measurements become hazard ratios, plate QC and a ranking."""

    model_config = ConfigDict(extra="forbid")

    baseline_role: str = Field("vehicle", description="role every compound is compared against")
    positive_control: str | None = Field(
        None, description="compound name of the positive control; default: wells with that role"
    )
    window_days: tuple[float, float] | None = Field(
        None, description="(first, last) day scored; default: all timepoints"
    )
    fdr_q: float = Field(0.1, gt=0, lt=1, description="q-value below which a compound is a hit")
    min_z_prime: float = Field(0.0, description="plates below this robust Z' fail QC")
    min_vehicle_survival: float = Field(
        0.3, ge=0, le=1, description="vehicle survival fraction at the end below this fails QC"
    )
    exclude_failed_plates: bool = Field(True, description="leave QC-failed plates out of pooling")
    max_rise_fraction: float = Field(
        0.1, ge=0, description="flag wells whose counts rise by more than this fraction"
    )
