"""Field measurement parameters, in µm, with defaults that work on every validated data set.

Owned by the segmentation code (:mod:`screening.segment`, :mod:`screening.measure`).
Changing any value here changes :func:`screening.config.config_hash` of the
segmentation section, so a rerun recomputes the fields.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SegmentationConfig(BaseModel):
    """How one field becomes counts and lengths. Sizes in µm, areas in µm²."""

    model_config = ConfigDict(extra="forbid")

    soma_diameter_um: float = Field(15.0, gt=0, description="typical motor-neuron soma diameter")
    nucleus_diameter_um: float = Field(10.0, gt=0, description="typical nucleus diameter")
    background_radius_um: float = Field(
        50.0, gt=0, description="radius of the smooth background estimate; several soma diameters"
    )
    min_soma_area_um2: float = Field(60.0, ge=0, description="smaller reporter blobs are debris")
    reporter_positive_ratio: float = Field(
        2.0, gt=0, description="soma reporter signal / reporter-negative level to count as a neuron"
    )
    neurite_width_um: float = Field(2.0, gt=0, description="typical neurite width (ridge scale)")
    min_neurite_length_um: float = Field(
        10.0, ge=0, description="skeleton pieces shorter than this are dropped as noise"
    )


class FieldQCConfig(BaseModel):
    """Thresholds that decide ``qc_pass`` for a field."""

    model_config = ConfigDict(extra="forbid")

    min_focus: float = Field(0.1, description="fields with a focus score below this fail")
    max_saturated_fraction: float = Field(0.01, ge=0, le=1)
    max_debris_fraction: float = Field(0.05, ge=0, le=1)
