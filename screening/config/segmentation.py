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

    soma_diameter_um: float = Field(
        15.0, gt=0, description="typical motor-neuron soma diameter (the prior: each plate measures its own)"
    )
    nucleus_diameter_um: float = Field(
        10.0, gt=0, description="typical nucleus diameter (the prior: each plate measures its own)"
    )
    calibration_range: float = Field(
        3.0,
        ge=1,
        description="sizes measured on a plate's own images stay within this factor of the values here "
        "(1: no calibration of sizes; see docs/measurements.md)",
    )
    calibration_fields: int = Field(
        24, ge=1, description="first-timepoint fields per plate read to calibrate it (spread over its wells)"
    )
    background_radius_um: float = Field(
        50.0, gt=0, description="radius of the smooth background estimate; several soma diameters"
    )
    min_soma_area_um2: float = Field(
        60.0,
        ge=0,
        description=(
            "smaller reporter blobs are debris (the debris fraction; and somata when counting without a "
            "nuclear channel; with one, dead cells are told by their condensed nuclei instead)"
        ),
    )
    reporter_positive_ratio: float = Field(
        2.0,
        gt=1,
        description="a neuron's reporter level is at least this × the reporter-negative cells' level "
        "(a floor under the plate's calibrated cut-off, which lies halfway between its two populations)",
    )
    neurite_width_um: float = Field(2.0, gt=0, description="typical neurite width (ridge scale)")
    min_neurite_length_um: float = Field(
        10.0, ge=0, description="skeleton pieces shorter than this are dropped as noise"
    )
    neurite_max_width_um: float = Field(
        6.0,
        gt=0,
        description="brighter structures wider than this (cell bodies, flat cells) are not neurites",
    )
    neurite_ridge_snr: float = Field(
        8.0,
        gt=0,
        description="a neurite must somewhere reach this ridge strength, in multiples of its noise; "
        "it may fall to half of it in between",
    )
    neurite_contrast_snr: float = Field(
        4.0,
        ge=0,
        description="a neurite must somewhere stand this far above its surroundings, in multiples "
        "of the pixel noise (faint processes of flat cells do not)",
    )


#: The default segmentation settings: what image functions use for a value not given.
SEGMENTATION_DEFAULTS = SegmentationConfig()


class FieldQCConfig(BaseModel):
    """Thresholds that decide ``qc_pass`` for a field."""

    model_config = ConfigDict(extra="forbid")

    min_focus: float = Field(
        0.14, ge=0, le=1, description="fields with a focus score (0..1, fine/mid band energy) below this fail"
    )
    max_saturated_fraction: float = Field(
        0.01, ge=0, le=1, description="fields with more of their pixels at the camera's ceiling (saturated) fail"
    )
    max_debris_fraction: float = Field(
        0.05, ge=0, le=1, description="area of saturated debris and dead-cell fragments / field area"
    )
    min_foreground_fraction: float = Field(
        0.001, ge=0, le=1, description="below this fraction of pixels above background the field is empty"
    )
