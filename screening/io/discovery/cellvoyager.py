"""Yokogawa CellVoyager CV7000 / CV8000 / CQ1 measurement folders.

The measurement folder holds the TIFFs and two XML files in the
``http://www.yokogawa.co.jp/BTS/BTSSchema/1.0`` namespace (prefix ``bts``):

- ``MeasurementData.mlf``: one ``bts:MeasurementRecord`` per image, attributes
  ``bts:Type`` (``IMG``; ``ERR`` marks an acquisition error), ``bts:Row``,
  ``bts:Column``, ``bts:FieldIndex``, ``bts:TimePoint``, ``bts:ZIndex``, ``bts:Ch``,
  and the file name as text, e.g. ``PL1_B03_T0001F001L01A01Z01C01.tif``;
- ``MeasurementDetail.mrf``: one ``bts:MeasurementChannel`` per channel with
  ``bts:HorizontalPixelDimension`` (µm per pixel), and the name of the measurement
  setting in ``bts:MeasurementSettingFileName``;
- the measurement setting (``<name>.mes``), whose ``bts:Channel`` elements give each
  channel's ``bts:Target`` (``DAPI``, ``488``, ``BF`` ...): the plate's ``channel_names``.

Index: ``site`` = FieldIndex, ``timepoint`` = TimePoint (both 1-based as written),
``channel`` = ``C<Ch>`` zero-padded to two digits (``C01``, the token in file names),
``plane`` = ZIndex (reduced by ``plates[].planes`` like the Operetta planes),
``day`` = days from the plate's first record (``bts:Time``) to the start of the timepoint.
"""

from __future__ import annotations

from pathlib import Path, PureWindowsPath

import pandas as pd

from screening.io.discovery.base import DiscoveredPlate, days_since_first_scan
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
    """``well, site, channel, timepoint, plane, stamp, file`` of every IMG record, and problems.

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
                    "stamp": _attr(rec, "Time") or None,
                    "file": (rec.text or "").strip(),
                }
            )
        except (TypeError, ValueError):
            problems.append(f"{path}: record #{n + 1} (well {well}) lacks Row/Column/FieldIndex/Ch; skipped")
    return pd.DataFrame(rows, columns=COLUMNS[:5] + ["stamp", "file"]), problems


def read_measurement_detail(path: Path) -> tuple[list[float], str | None]:
    """Pixel sizes (µm) of the channels in ``MeasurementDetail.mrf``, and its measurement setting file name."""
    root = parse_xml(path)
    sizes = []
    for channel in root.iter(BTS + "MeasurementChannel"):
        value = _attr(channel, "HorizontalPixelDimension")
        if value:
            sizes.append(float(value))
    return sizes, _attr(root, "MeasurementSettingFileName")


def read_channel_targets(path: Path) -> dict[str, str]:
    """Channel token (``C01``) -> ``bts:Target`` of each channel of a ``.mes`` measurement setting."""
    names = {}
    for channel in parse_xml(path).iter(BTS + "Channel"):
        ch, target = _attr(channel, "Ch"), (_attr(channel, "Target") or "").strip()
        if ch and ch.isdigit() and target:
            names[f"C{int(ch):02d}"] = target
    return names


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
    images["day"] = days_since_first_scan(images["timepoint"], images["stamp"])
    index = images.dropna(subset=["path"])[COLUMNS[:-1] + ["day", "path"]]
    index = index.sort_values(["plane"], kind="stable").reset_index(drop=True)
    detail = _find(root, DETAIL_FILE)
    sizes, setting = read_measurement_detail(detail) if detail else ([], None)
    pixel_um, more = plate_pixel_size(sizes, detail)
    mes = _find(root, PureWindowsPath(setting).name) if setting else None
    names = read_channel_targets(mes) if mes else {}
    return DiscoveredPlate(index, pixel_um, capped(problems) + capped(missing) + more, names)
