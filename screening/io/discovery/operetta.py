"""PerkinElmer / Revvity Operetta CLS and Opera Phenix: a Harmony export.

A Harmony export folder holds ``Index.idx.xml`` (Harmony 4-5) or ``Index.xml``
(Harmony 6+), either in the plate folder or in its ``Images/`` sub-folder, beside
the image files. The XML lists every image::

    <EvaluationInputData xmlns="http://www.perkinelmer.com/PEHH/HarmonyV5" ...>
      <Images>
        <Image Version="1">
          <URL>r01c01f01p01-ch1sk1fk1fl1.tiff</URL>
          <Row>1</Row><Col>1</Col><FieldID>1</FieldID><PlaneID>1</PlaneID>
          <TimepointID>0</TimepointID><ChannelID>1</ChannelID>
          <ImageResolutionX Unit="m">6.4998E-07</ImageResolutionX> ...

Rows, columns, fields, planes, channels and timepoints come from the XML, not from
file names. The index this module returns has one row per image *plane*:

- ``site`` is the ``FieldID``; ``channel`` is ``ch<ChannelID>`` (the token in file names);
- ``timepoint`` is ``TimepointID + 1`` (Harmony counts from 0; the ``sk`` number in
  file names, like ImageXpress's ``TimePoint_1``, counts from 1);
- ``plane`` is the ``PlaneID`` (1-based). A field imaged in several planes has several
  rows per channel; the run reduces them by the plate's ``plates[].planes`` rule
  (:func:`screening.io.planes.read_planes`: maximum projection by default, mean, or one chosen plane).

``day`` is the time from the plate's first scan (the earliest ``AbsTime``) to the
start of the image's timepoint, in days; ``channel_names`` gives each channel's
``ChannelName``.

The pixel size is ``ImageResolutionX`` (per image in Harmony 5, per channel in the
``Maps/Map/Entry`` elements of Harmony 6), converted from its ``Unit`` (metres) to µm.
"""

from __future__ import annotations

import string
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path, PureWindowsPath

import pandas as pd

from screening.io.discovery.base import DiscoveredPlate, days_since_first_scan
from screening.io.pixelsize import CONFLICT_TOLERANCE, to_um

INDEX_NAMES = ("Index.idx.xml", "Index.xml")
COLUMNS = ["well", "site", "channel", "timepoint", "plane", "path"]


def well_name(row: int, col: int) -> str:
    """``A01``-style name of a 1-based plate row and column (``(2, 3)`` -> ``B03``)."""
    letters = string.ascii_uppercase
    r = row - 1
    prefix = letters[r] if r < 26 else letters[r // 26 - 1] + letters[r % 26]
    return f"{prefix}{col:02d}"


def find_index(root: Path) -> Path:
    """The Harmony index file of a plate folder (also looked for in ``Images/``).

    Raises
    ------
    FileNotFoundError
        When neither ``Index.idx.xml`` nor ``Index.xml`` is there.
    """
    for folder in (root, root / "Images"):
        for name in INDEX_NAMES:
            if (folder / name).is_file():
                return folder / name
    raise FileNotFoundError(
        f"{root}: no Index.idx.xml or Index.xml (nor in {root / 'Images'}); "
        "export the measurement from Harmony with its index, or check plates[].format"
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _resolution_um(element: ET.Element) -> float | None:
    res = _child(element, "ImageResolutionX")
    if res is None or not (res.text or "").strip():
        return None
    return to_um(float(res.text), res.get("Unit", "m"))


def parse_xml(path: Path) -> ET.Element:
    """Parse a vendor XML file; raises ValueError naming the file when it is not valid XML."""
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path}: not valid XML ({exc}); the export may be incomplete, export it again") from None


def read_harmony_index(path: Path) -> tuple[pd.DataFrame, list[float], list[str]]:
    """Every ``Image`` of a Harmony index as a table, the pixel sizes it gives (µm), and problems.

    Returns
    -------
    images : DataFrame
        ``well, site, channel, timepoint, plane, url, stamp, channel_name`` (``url`` as
        written, maybe empty; ``stamp`` the ``AbsTime``, ISO 8601, or None;
        ``channel_name`` as written, e.g. ``HOECHST 33342``, maybe empty).
    pixel_sizes : list of float
        Every ``ImageResolutionX`` found, in µm.
    problems : list of str
    """
    root = parse_xml(path)
    images_el = _child(root, "Images")
    if images_el is None:
        raise ValueError(f"{path}: no <Images> element; is this a Harmony Index.xml?")
    rows, sizes, problems = [], [], []
    for n, image in enumerate(el for el in images_el if _local(el.tag) == "Image"):
        values = {_local(c.tag): (c.text or "").strip() for c in image}
        try:
            rows.append(
                {
                    "well": well_name(int(values["Row"]), int(values["Col"])),
                    "site": int(values["FieldID"]),
                    "channel": f"ch{int(values['ChannelID'])}",
                    "timepoint": int(values.get("TimepointID") or 0) + 1,
                    "plane": int(values.get("PlaneID") or 1),
                    "url": values.get("URL", ""),
                    "stamp": values.get("AbsTime") or None,
                    "channel_name": values.get("ChannelName", ""),
                }
            )
        except (KeyError, ValueError) as exc:
            problems.append(f"{path}: image #{n + 1} ({values.get('id', 'no id')}) lacks a usable {exc}; skipped")
            continue
        um = _resolution_um(image)
        if um is not None:
            sizes.append(um)
    entry_names = {}
    for entry in root.iter():
        if _local(entry.tag) == "Entry" and entry.get("ChannelID") is not None:
            um = _resolution_um(entry)
            if um is not None:
                sizes.append(um)
            name = _child(entry, "ChannelName")
            if name is not None and (name.text or "").strip():
                entry_names[f"ch{int(entry.get('ChannelID'))}"] = name.text.strip()
    images = pd.DataFrame(rows, columns=COLUMNS[:5] + ["url", "stamp", "channel_name"])
    # Harmony 6 names channels once, in Maps/Map/Entry, instead of on every image.
    unnamed = images["channel_name"] == ""
    images.loc[unnamed, "channel_name"] = images.loc[unnamed, "channel"].map(lambda c: entry_names.get(c, ""))
    return images, sizes, problems


def _image_path(folder: Path, url: str) -> Path:
    # Harmony writes bare file names; remote exports may write a URL or a Windows path.
    name = url.rsplit("/", 1)[-1] if "://" in url else url
    return folder / Path(*PureWindowsPath(name).parts) if "\\" in name else folder / name


def capped(messages: list[str], limit: int = 20) -> list[str]:
    """The first ``limit`` messages and a count of the rest (a plate can miss thousands of files)."""
    if len(messages) <= limit:
        return messages
    return messages[:limit] + [f"... and {len(messages) - limit} more like these"]


def plate_pixel_size(sizes: list[float], source: Path) -> tuple[float | None, list[str]]:
    """The most common pixel size, and a problem when the values disagree by more than 1 %."""
    if not sizes:
        return None, []
    common = Counter(round(s, 6) for s in sizes).most_common(1)[0][0]
    odd = sorted({round(s, 4) for s in sizes if abs(s - common) > CONFLICT_TOLERANCE * common})
    problems = [f"{source}: images with other pixel sizes {odd} µm than the plate's {common:.4g} µm"] if odd else []
    return common, problems


def parse_operetta(root: Path) -> DiscoveredPlate:
    """Index a Harmony export folder from its ``Index.idx.xml`` / ``Index.xml``.

    Images listed without a file name, or whose file is absent, are reported as
    problems and left out of the index. Files not in the index are ignored.
    """
    index_path = find_index(root)
    images, sizes, problems = read_harmony_index(index_path)
    folder = index_path.parent
    keep, missing = [], []
    for row in images.itertuples():
        where = f"well {row.well} field {row.site} {row.channel} timepoint {row.timepoint} plane {row.plane}"
        if not row.url:
            missing.append(f"{index_path}: {where} is listed without a file name (not acquired?)")
            keep.append(None)
            continue
        path = _image_path(folder, row.url)
        if not path.is_file():
            missing.append(f"{index_path}: {where} lists {path.name}, which is missing from {folder}")
            keep.append(None)
            continue
        keep.append(str(path))
    images["path"] = keep
    images["day"] = days_since_first_scan(images["timepoint"], images["stamp"])
    index = images.dropna(subset=["path"])[COLUMNS[:-1] + ["day", "path"]]
    index = index.sort_values(["plane"], kind="stable").reset_index(drop=True)
    pixel_um, more = plate_pixel_size(sizes, index_path)
    return DiscoveredPlate(index, pixel_um, capped(problems) + capped(missing) + more, channel_names(images))


def channel_names(images: pd.DataFrame) -> dict[str, str]:
    """Channel token -> the first non-empty name the metadata gives it."""
    named = images[images["channel_name"].astype(str).str.strip() != ""]
    return named.groupby("channel", sort=True)["channel_name"].first().str.strip().to_dict()
