"""Sartorius Incucyte image exports.

The Incucyte software exports one TIFF per well, image (field) and scan::

    <plate>/<channel>/<vessel>_<well>_<image>_<yyyy>y<mm>m<dd>d_<hh>h<mm>m.tif
    e.g.  PLATE01/green/VID1042_B3_2_2024y03m05d_14h00m.tif

- ``well`` as written (``B3``) becomes ``B03``; ``site`` is the image number.
- ``channel`` is the name of the sub-folder of the plate folder that holds the file
  (``green``, ``red``, ``phase``: export each channel into its own folder). A
  one-channel export kept in the plate folder itself has the channel token ``image``.
- ``timepoint`` numbers the scans 1, 2, ... in time order. One scan's images carry
  the same time stamp; stamps less than :data:`SCAN_GAP` apart are treated as one
  scan, so a plate exported with per-image stamps still forms whole timepoints.
- ``day`` (an extra column) is the time since the plate's first scan, in days. The
  config's ``timepoints:`` mapping, when given, takes precedence over it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from screening.io.discovery.base import DiscoveredPlate, tiff_files

FILE_NAME = re.compile(
    r"^(?P<vessel>.+)_(?P<well>[A-Za-z]{1,2}\d{1,2})_(?P<image>\d+)_"
    r"(?P<year>\d{4})y(?P<month>\d{2})m(?P<day>\d{2})d_(?P<hour>\d{2})h(?P<minute>\d{2})m\.tiff?$",
    re.IGNORECASE,
)
#: Stamps closer than this belong to one scan (a plate scan takes minutes; scans are hours apart).
SCAN_GAP = timedelta(minutes=20)
#: Channel token of files directly in the plate folder.
ROOT_CHANNEL = "image"


def stamp_of(match: re.Match) -> datetime:
    """The scan time written in an Incucyte file name."""
    parts = {k: int(match[k]) for k in ("year", "month", "day", "hour", "minute")}
    return datetime(**parts)


def scan_numbers(stamps: pd.Series, gap: timedelta = SCAN_GAP) -> tuple[pd.Series, pd.Series]:
    """Timepoint (1-based scan number) and day since the first scan of each time stamp.

    Parameters
    ----------
    stamps : Series of datetime
    gap : timedelta
        Consecutive distinct stamps closer than this are one scan.

    Returns
    -------
    timepoint : Series of int
    day : Series of float
        Days from the first scan to the start of the image's scan.
    """
    distinct = sorted(set(stamps))
    scan_of, starts, previous = {}, [], None
    for stamp in distinct:
        # Gaps are measured stamp to stamp, so a slow scan with spread-out stamps stays one scan.
        if previous is None or stamp - previous >= gap:
            starts.append(stamp)
        scan_of[stamp], previous = len(starts), stamp
    timepoint = stamps.map(scan_of).astype(int)
    day = timepoint.map(lambda t: (starts[t - 1] - starts[0]).total_seconds() / 86400.0)
    return timepoint, day.round(6)


def _channel(path: Path, root: Path) -> str:
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else ROOT_CHANNEL


def parse_incucyte(root: Path) -> DiscoveredPlate:
    """Index an Incucyte export folder; TIFFs that do not fit the naming are skipped."""
    rows = []
    for path in tiff_files(root):
        match = FILE_NAME.match(path.name)
        if not match:
            continue
        rows.append(
            {
                "well": match["well"],
                "site": int(match["image"]),
                "channel": _channel(path, root),
                "stamp": stamp_of(match),
                "path": str(path),
            }
        )
    table = pd.DataFrame(rows, columns=["well", "site", "channel", "stamp", "path"])
    if table.empty:
        return DiscoveredPlate(table.drop(columns="stamp").assign(timepoint=[], day=[]))
    table["timepoint"], table["day"] = scan_numbers(table["stamp"])
    return DiscoveredPlate(table[["well", "site", "channel", "timepoint", "day", "path"]])
