"""Typed run configuration, built once from YAML and passed down.

Every default lives in these models, in physical units (µm, days). Sections
are split by concept: :mod:`.segmentation` (field measurement and field QC),
:mod:`.scoring` (statistics), :mod:`.tracking` (registration and linking) and :mod:`.compute` (schedulers); this module
holds the run-level model and the YAML loader.
"""

from screening.config.compute import ComputeConfig, SlurmConfig
from screening.config.errors import ConfigError
from screening.config.run import (
    ChannelsConfig,
    PatternFormat,
    PlateConfig,
    RunConfig,
    config_hash,
    load_config,
    parse_config,
)
from screening.config.scoring import ScoringConfig
from screening.config.segmentation import FieldQCConfig, SegmentationConfig
from screening.config.tracking import TrackingConfig

__all__ = [
    "ChannelsConfig",
    "ComputeConfig",
    "ConfigError",
    "FieldQCConfig",
    "PatternFormat",
    "PlateConfig",
    "RunConfig",
    "ScoringConfig",
    "SegmentationConfig",
    "SlurmConfig",
    "TrackingConfig",
    "config_hash",
    "load_config",
    "parse_config",
]
