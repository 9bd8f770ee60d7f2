"""The run's config as the report reads it from ``manifest.json``: typed, with the
defaults of :mod:`screening.config` (the report keeps none of its own)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from screening.config import RunConfig, ScoringConfig
from screening.config.errors import describe_validation_error


class _Plate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str


class ReportConfig(BaseModel):
    """What the report shows of a run config: its name, plates, timepoints and scoring."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    plates: list[_Plate] = []
    timepoints: dict[int, float] | None = None
    scoring: ScoringConfig = ScoringConfig()


def report_config(config: dict) -> tuple[ReportConfig, str | None]:
    """The stored run config as a :class:`ReportConfig`, and a problem when it could not be read.

    Parameters
    ----------
    config : dict
        ``manifest.json``'s ``config`` (empty without a manifest).

    Returns
    -------
    ReportConfig
        Every run stores a whole :class:`~screening.config.RunConfig`; a config
        that is not one (written by an older version or by hand) is read for the
        parts the report shows. When even those do not validate, the defaults.
    str or None
        Why the defaults were used, naming the config keys.
    """
    try:
        run = RunConfig.model_validate(config)
    except ValidationError:
        pass
    else:
        return ReportConfig.model_validate(run.model_dump()), None
    try:
        return ReportConfig.model_validate(config), None
    except ValidationError as exc:
        lines = describe_validation_error(ReportConfig, exc)
        return ReportConfig(), (f"manifest.json: the run config could not be read ({'; '.join(lines)}); "
                                "the report shows the default scoring settings")
