"""The generic layout: a regular expression with named groups.

The pattern is searched in each TIFF's path relative to the plate folder, with
forward slashes. Groups ``well``, ``site`` and ``channel`` are required;
``timepoint`` and ``plane`` (the 1-based z plane of a stack stored one file per
plane) default to 1. A ``plate`` group is accepted and ignored (the
config's plate id names the plate).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from screening.io.discovery.base import DiscoveredPlate, tiff_files


def parse_pattern(root: Path, *, pattern: str) -> DiscoveredPlate:
    """Index every TIFF below ``root`` whose relative path matches ``pattern``."""
    regex = re.compile(pattern)
    rows = []
    for path in tiff_files(root):
        match = regex.search(path.relative_to(root).as_posix())
        if not match:
            continue
        groups = match.groupdict()
        rows.append(
            {
                "well": groups["well"],
                "site": int(groups["site"]),
                "channel": groups["channel"],
                "timepoint": int(groups.get("timepoint") or 1),
                "plane": int(groups.get("plane") or 1),
                "path": str(path),
            }
        )
    return DiscoveredPlate(pd.DataFrame(rows, columns=["well", "site", "channel", "timepoint", "plane", "path"]))
