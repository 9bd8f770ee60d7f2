"""Plate discovery: a vendor's file layout -> one index table.

Each layout is one module that registers a parser with :func:`register`. A parser
takes the plate folder (and its format options) and returns a
:class:`DiscoveredPlate`; :func:`discover_plate` adds the plate id and checks the
columns, so every layout yields the same table::

    well, site, channel, timepoint, path

Adding a vendor is one module with one ``@register("name")`` function, imported below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from screening.io.wells import normalize_well

INDEX_COLUMNS = ["plate", "well", "site", "channel", "timepoint", "path"]


@dataclass
class DiscoveredPlate:
    """What a parser found in one plate folder.

    Attributes
    ----------
    index : DataFrame
        ``well, site, channel, timepoint, path`` (one row per image file).
    pixel_size_um : float or None
        µm per pixel when the layout's metadata carries it.
    problems : list of str
        Problems found while parsing (e.g. an image listed in metadata but missing).
    """

    index: pd.DataFrame
    pixel_size_um: float | None = None
    problems: list[str] = field(default_factory=list)


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
    index["well"] = index["well"].map(normalize_well)
    index["site"] = index["site"].astype(int)
    index["timepoint"] = index["timepoint"].astype(int)
    index["channel"] = index["channel"].astype(str)
    index["path"] = index["path"].astype(str)
    index.insert(0, "plate", plate_id)
    index = index[INDEX_COLUMNS].sort_values(["well", "site", "timepoint", "channel"], kind="stable")
    found.index = index.reset_index(drop=True)
    repeated = index.duplicated(["well", "site", "channel", "timepoint"]).sum()
    if repeated:
        # Z planes are not reduced yet (screening/io/planes.py is not wired into the run).
        found.problems.append(
            f"plate {plate_id}: {repeated} image(s) repeat a well/site/channel/timepoint (several Z planes?); "
            "only the first plane of each is measured"
        )
    return found


def tiff_files(root: Path):
    """Every ``.tif``/``.tiff`` file below ``root`` (any case), skipping ``_thumb`` previews."""
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in (".tif", ".tiff") and "_thumb" not in p.name.lower() and p.is_file():
            yield p


# Import layouts last so their @register calls run (one module per vendor).
from screening.io.discovery import cellvoyager, imagexpress, incucyte, operetta, pattern  # noqa: E402,F401
