"""Plate discovery: a vendor's file layout -> one index table.

Each layout is one module that registers a parser with :func:`register`. A parser
takes the plate folder (and its format options) and returns a
:class:`DiscoveredPlate`; :func:`discover_plate` adds the plate id and checks the
columns, so every layout yields the same table::

    plate, well, site, channel, timepoint, plane, day, path

``plane`` and ``day`` are optional for a parser (:data:`OPTIONAL_COLUMNS`):
``plane`` is the 1-based focal plane of a z-stack (1 when the layout has none) and
``day`` the days since the plate's first scan when the files carry acquisition
times (Incucyte), NaN otherwise.

Adding a vendor is one module with one ``@register("name")`` function, imported below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from screening.io.wells import normalize_well

INDEX_COLUMNS = ["plate", "well", "site", "channel", "timepoint", "path"]
#: Columns a parser may add; discover_plate fills them when it does not (plane 1, day NaN).
OPTIONAL_COLUMNS = {"plane": 1, "day": float("nan")}
#: Column order of :func:`discover_plate`'s index.
TABLE_COLUMNS = INDEX_COLUMNS[:-1] + list(OPTIONAL_COLUMNS) + ["path"]
#: One image file: a field's channel in one plane.
IMAGE_KEYS = ["well", "site", "channel", "timepoint", "plane"]


@dataclass
class DiscoveredPlate:
    """What a parser found in one plate folder.

    Attributes
    ----------
    index : DataFrame
        ``well, site, channel, timepoint, path`` (one row per image file), optionally
        ``plane`` (1-based z plane) and ``day`` (days since the plate's first scan).
    pixel_size_um : float or None
        µm per pixel when the layout's metadata carries it.
    problems : list of str
        Problems found while parsing (e.g. an image listed in metadata but missing).
    channel_names : dict
        Channel token -> the name the layout's metadata gives it (``DAPI``, ``HB9::GFP``,
        ``488``), where it gives one; ``screening init`` names channel roles from it.
    """

    index: pd.DataFrame
    pixel_size_um: float | None = None
    problems: list[str] = field(default_factory=list)
    channel_names: dict[str, str] = field(default_factory=dict)


Parser = Callable[..., DiscoveredPlate]
_PARSERS: dict[str, Parser] = {}


def register(name: str) -> Callable[[Parser], Parser]:
    """Register a layout parser under ``name`` (the config's ``plates[].format``)."""

    def decorate(func: Parser) -> Parser:
        _PARSERS[name] = func
        return func

    return decorate


def available_formats() -> list[str]:
    return sorted(_PARSERS)


def discover_plate(plate_id: str, path: Path, fmt) -> DiscoveredPlate:
    """Index one plate folder.

    Parameters
    ----------
    plate_id : str
        The config's plate id, written into the ``plate`` column.
    path : Path
        The plate folder.
    fmt : str or PatternFormat
        A registered layout name, or an object with a ``pattern`` attribute.
    """
    if not Path(path).is_dir():
        raise FileNotFoundError(f"{path}: plate folder not found (plate {plate_id}); check plates[].path")
    if hasattr(fmt, "pattern"):
        found = _PARSERS["pattern"](Path(path), pattern=fmt.pattern)
    elif fmt in _PARSERS:
        found = _PARSERS[fmt](Path(path))
    else:
        raise ValueError(f"plate {plate_id}: no parser for format {fmt!r}; known: {available_formats()}")
    index = found.index.copy()
    for column, fill in OPTIONAL_COLUMNS.items():
        if column not in index:
            index[column] = fill
    index["well"] = index["well"].map(normalize_well)
    index["site"] = index["site"].astype(int)
    index["timepoint"] = index["timepoint"].astype(int)
    index["plane"] = index["plane"].astype(int)
    index["day"] = index["day"].astype(float)
    index["channel"] = index["channel"].astype(str)
    index["path"] = index["path"].astype(str)
    index.insert(0, "plate", plate_id)
    index = index[TABLE_COLUMNS].sort_values(["well", "site", "timepoint", "channel", "plane"], kind="stable")
    repeated = index.duplicated(IMAGE_KEYS)
    if repeated.any():
        first = index[repeated].iloc[0]
        found.problems.append(
            f"plate {plate_id}: {int(repeated.sum())} file(s) repeat a well/site/channel/timepoint/plane "
            f"(e.g. {first['path']}); only the first file of each is used"
        )
        index = index[~repeated]
    found.index = index.reset_index(drop=True)
    return found


def days_since_first_scan(timepoints: pd.Series, stamps: pd.Series) -> pd.Series:
    """Day of each image: from the plate's first scan to the start of the image's timepoint.

    Parameters
    ----------
    timepoints : Series of int
    stamps : sequence of str or None
        ISO 8601 acquisition time of each image (all with a UTC offset or all without); a scan
        starts at its earliest stamp, so images stamped as a scan proceeds share a day.

    Returns
    -------
    Series of float
        Days (fractional, rounded to 1e-6); NaN for a timepoint without any stamp.
    """
    stamps = pd.to_datetime(pd.Series(stamps, index=timepoints.index, dtype=object), utc=True, format="ISO8601")
    starts = stamps.groupby(timepoints).min()
    days = (starts - starts.min()).dt.total_seconds() / 86400.0
    return timepoints.map(days.round(6)).astype(float)


def tiff_files(root: Path):
    """Every ``.tif``/``.tiff`` file below ``root`` (any case), skipping ``_thumb`` previews."""
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in (".tif", ".tiff") and "_thumb" not in p.name.lower() and p.is_file():
            yield p


# Import layouts last so their @register calls run (one module per vendor).
from screening.io.discovery import cellvoyager, imagexpress, incucyte, operetta, pattern  # noqa: E402,F401
