"""The run-level config model (every key: docs/config.md) and its YAML loader."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from screening.config.compute import ComputeConfig
from screening.config.errors import ConfigError, describe_validation_error
from screening.config.scoring import ScoringConfig
from screening.config.segmentation import FieldQCConfig, SegmentationConfig
from screening.config.tracking import TrackingConfig
from screening.plate import VENDOR_FORMATS



class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChannelsConfig(_Strict):
    """Channel role -> channel token as it appears in file names (``w1``, ``ch2``, ``C01``)."""

    reporter: str = Field(description="motor-neuron reporter, soma and neurites (e.g. HB9::GFP)")
    nuclei: str | None = Field(None, description="nuclear stain; optional")
    neurites: str | None = Field(None, description="neurite marker; defaults to the reporter")

    @property
    def neurite_token(self) -> str:
        return self.neurites or self.reporter

    def tokens(self) -> dict[str, str]:
        """Role -> token for every configured role (neurites resolved to reporter when unset)."""
        roles = {"reporter": self.reporter, "neurites": self.neurite_token}
        if self.nuclei:
            roles["nuclei"] = self.nuclei
        return roles


class PatternFormat(_Strict):
    """A generic layout: a regular expression on the path relative to the plate folder.

    Named groups ``well``, ``site`` and ``channel`` are required; ``plate``,
    ``timepoint`` and ``plane`` (1-based z plane) are optional.
    """

    pattern: str = Field(description="regular expression searched in each TIFF's path below the plate folder")

    @field_validator("pattern")
    @classmethod
    def _has_groups(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        missing = {"well", "site", "channel"} - set(compiled.groupindex)
        if missing:
            raise ValueError(f"pattern lacks named group(s) {sorted(missing)}; use (?P<well>...)")
        return value


#: How a field imaged in several focal planes becomes one 2-D image per channel.
PlaneRule = Literal["max", "mean"] | Annotated[int, Field(strict=True, ge=1)]
PLANE_PROJECTIONS = ("max", "mean")


class PlateConfig(_Strict):
    """One plate: where its images are and which layout they follow."""

    id: str = Field(description="plate id, written into every table's plate column")
    path: Path = Field(description="the plate's image folder")
    format: str | PatternFormat = Field(
        "imagexpress",
        description="file layout: imagexpress, operetta, cellvoyager, incucyte, or {pattern: REGEX} (docs/layouts.md)",
    )
    layout: Path = Field(
        description="plate map CSV: well, patient, compound, concentration_uM, role (docs/plate-map.md)"
    )
    planes: PlaneRule = Field(
        "max",
        description=(
            "fields imaged in several focal (z) planes, one file per plane: 'max' = maximum-intensity "
            "projection (pixelwise maximum over the planes, keeps neurites in focus in any plane; same "
            "intensity units as the files), 'mean' = pixelwise mean over the planes (float), or a plane "
            "number (1-based, as the instrument numbers them: Harmony PlaneID, CellVoyager ZIndex, "
            "MetaXpress ZStep_<k>) to measure that plane only; a field without that plane fails, naming "
            "file and plane. Single-plane fields are read as they are under 'max' and 'mean'"
        ),
    )

    @field_validator("format")
    @classmethod
    def _known_format(cls, value):
        if isinstance(value, str) and value.lower() not in VENDOR_FORMATS:
            raise ValueError(f"unknown format {value!r}; use one of {VENDOR_FORMATS} or {{pattern: REGEX}}")
        return value.lower() if isinstance(value, str) else value

    @field_validator("planes", mode="before")
    @classmethod
    def _plane_rule(cls, value):
        # One clear message instead of one per union member.
        if isinstance(value, str) and value.strip().lower() in PLANE_PROJECTIONS:
            return value.strip().lower()
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        raise ValueError("use 'max', 'mean' or a plane number (1, 2, ... as the files number them)")


class RunConfig(_Strict):
    """A whole screen: plates, channels, timepoints and how to measure and score them."""

    name: str = Field(description="name of the screen; the default run folder is runs/<name>")
    output: Path | None = Field(None, description="run folder; default runs/<name> beside the config")
    pixel_size_um: float | None = Field(None, gt=0, description="µm per pixel; optional if the TIFFs carry it")
    channels: ChannelsConfig
    timepoints: dict[int, float] | None = Field(
        None,
        description=(
            "timepoint index in paths -> day (days since the start of the assay); when given it wins over "
            "days the files carry. Default: days from the files' acquisition times where they carry them "
            "(Incucyte file names, Harmony AbsTime, CellVoyager bts:Time, MetaXpress TIFF metadata: fractional "
            "days since the plate's first scan), else a single timepoint at day 0"
        ),
    )
    plates: list[PlateConfig] = Field(min_length=1, description="one entry per plate")
    segmentation: SegmentationConfig = SegmentationConfig()
    qc: FieldQCConfig = FieldQCConfig()
    scoring: ScoringConfig = ScoringConfig()
    tracking: TrackingConfig = TrackingConfig()
    compute: ComputeConfig = ComputeConfig()

    @model_validator(mode="after")
    def _unique_plates(self):
        ids = [p.id for p in self.plates]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"plate id(s) used twice: {dupes}")
        return self

    def plane_rules(self) -> dict[str, PlaneRule]:
        """Plate id -> its ``plates[].planes`` rule (how a z-stack becomes one image)."""
        return {plate.id: plate.planes for plate in self.plates}

    def day_of(self, timepoint: int) -> float | None:
        """Day of a timepoint index, or None when the config gives it none."""
        if self.timepoints is None:
            return 0.0 if timepoint == 1 else None
        return self.timepoints.get(timepoint)

    def with_compute(self, *, workers: int | None = None, address: str | None = None) -> "RunConfig":
        """This config with the command line's ``--workers`` and ``--address`` folded into ``compute``.

        The one place those overrides enter: everything downstream reads ``config.compute``.
        """
        update = {k: v for k, v in (("workers", workers), ("address", address)) if v is not None}
        if not update:
            return self
        return self.model_copy(update={"compute": self.compute.model_copy(update=update)})

    def measurement_hash(self) -> str:
        """Hash of everything that changes a field's measurements (resume key)."""
        return config_hash(
            {
                "segmentation": self.segmentation.model_dump(mode="json"),
                "qc": self.qc.model_dump(mode="json"),
                "channels": self.channels.model_dump(mode="json"),
                "pixel_size_um": self.pixel_size_um,
                # Each field stores a registration thumbnail at this pixel size.
                "registration_pixel_um": self.tracking.registration_pixel_um,
            }
        )


def config_hash(data) -> str:
    """Stable short hash of JSON-able data (sorted keys)."""
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _resolve_paths(config: RunConfig, base: Path) -> RunConfig:
    def resolve(p: Path) -> Path:
        return p if p.is_absolute() else (base / p)

    plates = [
        plate.model_copy(update={"path": resolve(plate.path), "layout": resolve(plate.layout)})
        for plate in config.plates
    ]
    output = resolve(config.output) if config.output else base / "runs" / config.name
    return config.model_copy(update={"plates": plates, "output": output})


def parse_config(data: dict, *, base_dir: Path, source: str = "<config>") -> RunConfig:
    """Build a :class:`RunConfig` from a mapping; relative paths resolve against ``base_dir``.

    Raises
    ------
    ConfigError
        One line per problem, each naming the dotted key.
    """
    if not isinstance(data, dict):
        raise ConfigError(source, ["the file must hold a YAML mapping (key: value lines)"])
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, describe_validation_error(RunConfig, exc)) from None
    return _resolve_paths(config, base_dir)


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML run config; relative paths resolve against the config file's folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, ["config file not found; check the path"])
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"not valid YAML: {exc}".replace("\n", " ")]) from None
    return parse_config(data, base_dir=path.resolve().parent, source=str(path))
