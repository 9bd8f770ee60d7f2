"""Yokogawa CellVoyager CV7000 / CV8000 / CQ1 measurement folders.

The measurement folder holds the TIFFs and two XML files in the
``http://www.yokogawa.co.jp/BTS/BTSSchema/1.0`` namespace (prefix ``bts``):

- ``MeasurementData.mlf``: one ``bts:MeasurementRecord`` per image, attributes
  ``bts:Type`` (``IMG``; ``ERR`` marks an acquisition error), ``bts:Row``,
  ``bts:Column``, ``bts:FieldIndex``, ``bts:TimePoint``, ``bts:ZIndex``, ``bts:Ch``,
  and the file name as text, e.g. ``PL1_B03_T0001F001L01A01Z01C01.tif``;
- ``MeasurementDetail.mrf``: one ``bts:MeasurementChannel`` per channel with
  ``bts:HorizontalPixelDimension`` (µm per pixel).

Index: ``site`` = FieldIndex, ``timepoint`` = TimePoint (both 1-based as written),
``channel`` = ``C<Ch>`` zero-padded to two digits (``C01``, the token in file names),
``plane`` = ZIndex (reduced by ``plates[].planes`` like the Operetta planes).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from screening.io.discovery import DiscoveredPlate, register
from screening.io.discovery.operetta import (
    capped,
    parse_xml,
    plate_pixel_size,
    well_name,
)

BTS = "{http://www.yokogawa.co.jp/BTS/BTSSchema/1.0}"
DATA_FILE = "MeasurementData.mlf"
DETAIL_FILE = "MeasurementDetail.mrf"
COLUMNS = ["well", "site", "channel", "timepoint", "plane", "path"]


def _find(root: Path, name: str) -> Path | None:
    matches = [p for p in root.iterdir() if p.name.lower() == name.lower() and p.is_file()]
    return matches[0] if matches else None


def _attr(element, name: str) -> str | None:
    # Written with the bts: prefix; accept a bare attribute from hand-made files too.
    return element.get(BTS + name, element.get(name))


def read_measurement_data(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """``well, site, channel, timepoint, plane, file`` of every IMG record, and problems.

    ``TimePoint`` is the attribute CellVoyager writes; ``TimePointIndex`` is accepted too.
    """
    root = parse_xml(path)
    rows, problems = [], []
    for n, rec in enumerate(el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "MeasurementRecord"):
        kind = (_attr(rec, "Type") or "IMG").upper()
        try:
            well = well_name(int(_attr(rec, "Row")), int(_attr(rec, "Column")))
        except (TypeError, ValueError):
            well = "?"
        if kind != "IMG":
            if kind == "ERR":
                problems.append(f"{path}: record #{n + 1} (well {well}) is an acquisition error (bts:Type=ERR)")
            continue
        try:
            rows.append(
                {
                    "well": well,
                    "site": int(_attr(rec, "FieldIndex")),
                    "channel": f"C{int(_attr(rec, 'Ch')):02d}",
                    "timepoint": int(_attr(rec, "TimePoint") or _attr(rec, "TimePointIndex") or 1),
                    "plane": int(_attr(rec, "ZIndex") or 1),
                    "file": (rec.text or "").strip(),
                }
            )
        except (TypeError, ValueError):
            problems.append(f"{path}: record #{n + 1} (well {well}) lacks Row/Column/FieldIndex/Ch; skipped")
    return pd.DataFrame(rows, columns=COLUMNS[:5] + ["file"]), problems


def read_measurement_detail(path: Path) -> list[float]:
    """Pixel sizes (µm) of the channels in ``MeasurementDetail.mrf``."""
    root = parse_xml(path)
    sizes = []
    for channel in root.iter(BTS + "MeasurementChannel"):
        value = _attr(channel, "HorizontalPixelDimension")
        if value:
            sizes.append(float(value))
    return sizes


@register("cellvoyager")
def parse_cellvoyager(root: Path) -> DiscoveredPlate:
    """Index a CellVoyager measurement folder from ``MeasurementData.mlf``.

    Records whose file is absent are reported and left out; files the ``.mlf``
    does not list are ignored.
    """
    data = _find(root, DATA_FILE)
    if data is None:
        raise FileNotFoundError(f"{root}: no {DATA_FILE}; is this a CellVoyager measurement folder?")
    images, problems = read_measurement_data(data)
    missing, paths = [], []
    for row in images.itertuples():
        path = root / row.file
        if not row.file or not path.is_file():
            where = f"well {row.well} field {row.site} {row.channel} timepoint {row.timepoint} Z {row.plane}"
            missing.append(f"{data}: {where} lists {row.file or 'no file name'}, which is missing from {root}")
            paths.append(None)
        else:
            paths.append(str(path))
    images["path"] = paths
    index = images.dropna(subset=["path"])[COLUMNS].sort_values(["plane"], kind="stable").reset_index(drop=True)
    detail = _find(root, DETAIL_FILE)
    pixel_um, more = plate_pixel_size(read_measurement_detail(detail), detail) if detail else (None, [])
    return DiscoveredPlate(index, pixel_um, capped(problems) + capped(missing) + more)
