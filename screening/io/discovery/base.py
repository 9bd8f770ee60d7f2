"""What every layout parser shares: the index columns, :class:`DiscoveredPlate` and file helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

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
