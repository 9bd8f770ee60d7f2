"""Molecular Devices ImageXpress / MetaXpress layout.

``<plate>/TimePoint_<t>/<name>_<WELL>_s<site>_w<channel>[<UUID>].TIF``; a plate
without ``TimePoint_`` folders is one timepoint. MetaXpress leaves out ``_s<site>``
when a well has one site and ``_w<channel>`` when there is one wavelength; both
then default to 1. ``_thumb`` previews are ignored. When the plate folder holds
the ``.HTD`` plate description, images it lists without a file are reported.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from screening.io.discovery import DiscoveredPlate, register, tiff_files
from screening.io.discovery.htd import htd_problems

FILE_NAME = re.compile(
    r"^(?P<name>.*?)_(?P<well>[A-Za-z]{1,2}\d{1,2})"
    r"(?:_s(?P<site>\d+))?(?:_w(?P<channel>\d+))?"
    r"(?P<uuid>[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12})?"
    r"\.tiff?$",
    re.IGNORECASE,
)
TIMEPOINT_DIR = re.compile(r"^TimePoint_(\d+)$", re.IGNORECASE)


def _timepoint(path: Path, root: Path) -> int:
    for part in path.relative_to(root).parts[:-1]:
        match = TIMEPOINT_DIR.match(part)
        if match:
            return int(match.group(1))
    return 1


@register("imagexpress")
def parse_imagexpress(root: Path) -> DiscoveredPlate:
    """Index an ImageXpress plate folder; files that do not fit the naming are skipped."""
    rows = []
    for path in tiff_files(root):
        match = FILE_NAME.match(path.name)
        if not match:
            continue
        rows.append(
            {
                "well": match["well"],
                "site": int(match["site"] or 1),
                "channel": f"w{int(match['channel'] or 1)}",
                "timepoint": _timepoint(path, root),
                "path": str(path),
            }
        )
    index = pd.DataFrame(rows, columns=["well", "site", "channel", "timepoint", "path"])
    # The .HTD (when MetaXpress left one) says what was acquired, so absent files can be named.
    return DiscoveredPlate(index, problems=htd_problems(root, index))
