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

Adding a vendor is one module with one parser function, named in :data:`PARSERS` below.
"""

from __future__ import annotations

from pathlib import Path

from screening.io.discovery import cellvoyager, imagexpress, incucyte, operetta, pattern
from screening.io.discovery.base import (
    IMAGE_KEYS,
    INDEX_COLUMNS,
    OPTIONAL_COLUMNS,
    TABLE_COLUMNS,
    DiscoveredPlate,
    Parser,
    days_since_first_scan,
    tiff_files,
)
from screening.io.wells import normalize_well

#: Layout name (the config's ``plates[].format``) -> its parser.
PARSERS: dict[str, Parser] = {
    "cellvoyager": cellvoyager.parse_cellvoyager,
    "imagexpress": imagexpress.parse_imagexpress,
    "incucyte": incucyte.parse_incucyte,
    "operetta": operetta.parse_operetta,
    "pattern": pattern.parse_pattern,
}

__all__ = [
    "IMAGE_KEYS", "INDEX_COLUMNS", "OPTIONAL_COLUMNS", "PARSERS", "TABLE_COLUMNS", "DiscoveredPlate",
    "available_formats", "days_since_first_scan", "discover_plate", "tiff_files",
]


def available_formats() -> list[str]:
    return sorted(PARSERS)


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
        found = PARSERS["pattern"](Path(path), pattern=fmt.pattern)
    elif fmt in PARSERS:
        found = PARSERS[fmt](Path(path))
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
