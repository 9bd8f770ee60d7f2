"""Molecular Devices ImageXpress / MetaXpress layout.

``<plate>/TimePoint_<t>/<name>_<WELL>_s<site>_w<channel>[<UUID>].TIF``; a plate
without ``TimePoint_`` folders is one timepoint. A z-stack is written one folder per
plane, ``TimePoint_<t>/ZStep_<k>/<name>_<WELL>_s<site>_w<channel>.TIF``: ``k`` is the
``plane`` (1-based). MetaXpress may also save its own 2-D projection of the stack in
the ``TimePoint_<t>`` folder itself; for an image that has ``ZStep_`` planes, that
file is left out, so the planes are reduced by the config's ``plates[].planes`` rule
like every layout's. A file outside ``ZStep_`` folders is plane 1. MetaXpress leaves out ``_s<site>``
when a well has one site and ``_w<channel>`` when there is one wavelength; both
then default to 1. ``_thumb`` previews are ignored. When the plate folder holds
the ``.HTD`` plate description, images it lists without a file are reported and its
``WaveName`` entries name the channels (``channel_names``).

``day``: MetaXpress writes each image's acquisition time into the TIFF
(``<prop id="acquisition-time-local" value="20240816 09:49:42.978"/>`` in the
MetaMorph ImageDescription); the first file of each timepoint is read for it, and
the day is the time since the plate's first timepoint. NaN when the files carry none.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import tifffile

from screening.io.discovery.base import DiscoveredPlate, days_since_first_scan, tiff_files
from screening.io.discovery.htd import htd_channel_names, htd_problems

FILE_NAME = re.compile(
    r"^(?P<name>.*?)_(?P<well>[A-Za-z]{1,2}\d{1,2})"
    r"(?:_s(?P<site>\d+))?(?:_w(?P<channel>\d+))?"
    r"(?P<uuid>[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12})?"
    r"\.tiff?$",
    re.IGNORECASE,
)
TIMEPOINT_DIR = re.compile(r"^TimePoint_(\d+)$", re.IGNORECASE)
ZSTEP_DIR = re.compile(r"^ZStep_(\d+)$", re.IGNORECASE)
ACQUISITION_TIME = re.compile(
    r'id="acquisition-time-local"[^>]*?value="(\d{4})(\d{2})(\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)"'
)


def acquisition_time(path: str | Path) -> str | None:
    """ISO 8601 local acquisition time MetaXpress wrote into a TIFF, or None when it wrote none."""
    try:
        with tifffile.TiffFile(path) as tif:
            description = tif.pages.first.description or ""
    except Exception:  # noqa: BLE001 - an unreadable file is reported by validate's header check
        return None
    match = ACQUISITION_TIME.search(description) if description.lstrip().startswith("<MetaData>") else None
    return f"{match[1]}-{match[2]}-{match[3]}T{match[4]}" if match else None


def timepoint_days(index: pd.DataFrame) -> pd.Series:
    """Day of each image from the acquisition time of its timepoint's first file (NaN without one)."""
    if index.empty:
        return pd.Series(dtype=float)
    first = index.sort_values("path").groupby("timepoint")["path"].first()
    stamps = index["timepoint"].map({t: acquisition_time(p) for t, p in first.items()})
    return days_since_first_scan(index["timepoint"], stamps)


def _folder_number(path: Path, root: Path, pattern: re.Pattern) -> int | None:
    """The number of the first folder between ``root`` and the file that matches ``pattern``."""
    for part in path.relative_to(root).parts[:-1]:
        match = pattern.match(part)
        if match:
            return int(match.group(1))
    return None


def drop_projections(index: pd.DataFrame) -> pd.DataFrame:
    """Leave out files outside ``ZStep_`` folders for images that also have ``ZStep_`` planes.

    Parameters
    ----------
    index : DataFrame
        ``well, site, channel, timepoint, plane, path`` and a bool ``zstep`` column
        (the file is in a ``ZStep_<k>`` folder).

    Returns
    -------
    DataFrame
        The same columns without ``zstep``; MetaXpress's own projections dropped.
    """
    keys = ["well", "site", "channel", "timepoint"]
    stacked = index[index["zstep"]].groupby(keys).size().rename("n_zsteps").reset_index()
    merged = index.merge(stacked, on=keys, how="left")
    keep = merged["zstep"] | merged["n_zsteps"].isna()
    return index[keep.to_numpy()].drop(columns="zstep")


def parse_imagexpress(root: Path) -> DiscoveredPlate:
    """Index an ImageXpress plate folder; files that do not fit the naming are skipped."""
    rows = []
    for path in tiff_files(root):
        match = FILE_NAME.match(path.name)
        if not match:
            continue
        timepoint = _folder_number(path, root, TIMEPOINT_DIR)
        zstep = _folder_number(path, root, ZSTEP_DIR)
        rows.append(
            {
                "well": match["well"],
                "site": int(match["site"] or 1),
                "channel": f"w{int(match['channel'] or 1)}",
                "timepoint": 1 if timepoint is None else timepoint,
                "plane": 1 if zstep is None else zstep,
                "zstep": zstep is not None,
                "path": str(path),
            }
        )
    columns = ["well", "site", "channel", "timepoint", "plane", "zstep", "path"]
    index = drop_projections(pd.DataFrame(rows, columns=columns).astype({"zstep": bool}))
    index["day"] = timepoint_days(index)
    # The .HTD (when MetaXpress left one) says what was acquired, so absent files can be named.
    return DiscoveredPlate(index, problems=htd_problems(root, index), channel_names=htd_channel_names(root))
