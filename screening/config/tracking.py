"""Tracking parameters: registration of timepoints, linking of somata, death and censoring rules.

Owned by :mod:`screening.track`. Distances in µm, converted to pixels once per plate
where the pixel size is known. Only ``registration_pixel_um`` changes what a field task
stores (the registration thumbnail), so only it enters the measurement hash; the rest is
applied when ``screening run`` or ``screening score`` links the stored somata.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrackingConfig(BaseModel):
    """How each site's somata become neurons followed over time."""

    model_config = ConfigDict(extra="forbid")

    registration_pixel_um: float = Field(
        2.0, gt=0,
        description="pixel size (µm) of the downsampled image each field keeps for registration "
        "(nuclear channel, else reporter): a nucleus is ~5 pixels across, so sparse fields still "
        "register to ~0.2 px (benchmarks/README.md, Tracking); 0.23 MB per 1024² field at 0.65 µm/px",
    )
    upsample_factor: int = Field(
        10, ge=1,
        description="sub-pixel precision of the correlation: 1/upsample_factor of a registration pixel "
        "(10: 0.2 µm; the cost of the upsampled DFT grows with it)"
    )
    max_shift_um: float = Field(
        100.0, gt=0,
        description="a shift between consecutive timepoints larger than this (µm) is implausible for a "
        "plate reader's stage and is flagged (shift_ok false) rather than trusted",
    )
    min_registration_correlation: float = Field(
        0.3, ge=-1, le=1,
        description="Pearson correlation of the two registered images over their overlap below which "
        "a shift is poorly supported and flagged (shift_ok false)",
    )
    max_link_distance_um: float = Field(
        10.0, gt=0,
        description="largest distance (µm, registered positions) between a soma at one usable timepoint "
        "and the same neuron at the next; about two thirds of a soma diameter",
    )
    max_gap: int = Field(
        1, ge=0,
        description="timepoints a neuron may go unseen and still be the same neuron: a missed detection "
        "at a usable timepoint (a 'zombie' reversal, counted) or an unusable timepoint bridged",
    )
    follow_dim_nuclei: bool = Field(
        True,
        description="continue a followed neuron on a dim nucleus (reporter under the plate's cut-off "
        "but in the upper half, in log, of the way up from the negative cells): a living neuron "
        "missed twice is otherwise called dead in every arm alike, which shrinks hazard ratios",
    )
    edge_margin_um: float = Field(
        10.0, ge=0,
        description="a neuron last seen within this distance (µm) of the border of the next usable "
        "image (after registration) is censored as having left the field, not counted as dead",
    )
