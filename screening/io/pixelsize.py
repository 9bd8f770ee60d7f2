"""Pixel size (µm per pixel) from what a TIFF file carries, and the config-vs-files rule.

Microscopes write their calibration in one of a few places; we look, in this order, at

1. OME-XML (``Pixels/@PhysicalSizeX`` with ``PhysicalSizeXUnit``, µm by default);
2. MetaMorph / MetaXpress ``<MetaData>`` XML in ImageDescription
   (``prop id="spatial-calibration-x"`` with ``spatial-calibration-units``);
3. ImageJ: ``unit=`` in its ImageDescription and the XResolution tag (pixels per unit);
4. plain TIFF XResolution with ResolutionUnit centimetre or inch.

A value outside :data:`PLAUSIBLE_UM` is ignored: software that knows nothing of the
optics writes 72 or 300 dots per inch (353 or 85 µm per pixel) or a resolution of 1.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import tifffile

#: µm per pixel a light microscope can plausibly have (0.02 µm super-resolution .. 20 µm 1x).
PLAUSIBLE_UM = (0.02, 20.0)
#: Config and files may differ by this fraction before it is an error (rounding in vendors' XML).
CONFLICT_TOLERANCE = 0.01

_UNIT_UM = {
    "m": 1e6, "meter": 1e6, "metre": 1e6,
    "mm": 1e3, "millimeter": 1e3,
    "cm": 1e4, "centimeter": 1e4,
    "um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0, "micrometre": 1.0,
    "nm": 1e-3, "nanometer": 1e-3,
    "inch": 25400.0, "in": 25400.0,
}


def to_um(value: float, unit: str | None) -> float | None:
    """``value`` in ``unit`` as µm; None for a unit that is not a length (e.g. ``pixel``)."""
    factor = _UNIT_UM.get((unit or "").strip().lower())
    return None if factor is None else float(value) * factor


def _plausible(um: float | None) -> float | None:
    return um if um is not None and PLAUSIBLE_UM[0] <= um <= PLAUSIBLE_UM[1] else None


def from_ome_xml(text: str) -> float | None:
    """µm per pixel from OME-XML (first ``Pixels`` element); None when absent."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "Pixels" and el.get("PhysicalSizeX"):
            return to_um(float(el.get("PhysicalSizeX")), el.get("PhysicalSizeXUnit", "µm"))
    return None


def from_metamorph(description: str) -> float | None:
    """µm per pixel from MetaMorph/MetaXpress ``<MetaData>`` ImageDescription XML."""
    if not description.lstrip().startswith("<MetaData>"):
        return None
    try:
        root = ET.fromstring(description)
    except ET.ParseError:
        return None
    props = {p.get("id"): p.get("value") for p in root.iter("prop")}
    value = props.get("spatial-calibration-x")
    if value is None:
        return None
    try:
        return to_um(float(value), props.get("spatial-calibration-units", "um"))
    except ValueError:
        return None


def _resolution_um(page) -> tuple[float, int] | None:
    """(length of one pixel in the ResolutionUnit, ResolutionUnit code) from XResolution."""
    tag = page.tags.get("XResolution")
    if tag is None:
        return None
    num, den = tag.value
    if not num or not den:
        return None
    unit = page.tags.get("ResolutionUnit")
    return den / num, int(unit.value) if unit is not None else 2


def from_imagej(tif: tifffile.TiffFile) -> float | None:
    """µm per pixel from ImageJ's ``unit`` and the XResolution tag."""
    meta = tif.imagej_metadata or {}
    res = _resolution_um(tif.pages.first)
    if "unit" not in meta or res is None:
        return None
    return to_um(res[0], meta["unit"])


def from_resolution_tags(page) -> float | None:
    """µm per pixel from XResolution with ResolutionUnit inch (2) or centimetre (3)."""
    res = _resolution_um(page)
    if res is None or res[1] not in (2, 3):
        return None
    return to_um(res[0], "inch" if res[1] == 2 else "cm")


def pixel_size_from_tiff(path: str | Path) -> float | None:
    """µm per pixel that a TIFF file records, or None when it records none (or cannot be read).

    Parameters
    ----------
    path : str or Path
        A TIFF file.

    Returns
    -------
    float or None
        Pixel width in µm, from OME-XML, MetaMorph, ImageJ or resolution tags (in
        that order); None when none is present or the value is implausible.
    """
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            description = page.description or ""
            candidates = []
            if tif.is_ome or "<OME" in description[:2000]:
                candidates.append(lambda: from_ome_xml(tif.ome_metadata or description))
            candidates += [
                lambda: from_metamorph(description),
                lambda: from_imagej(tif),
                lambda: from_resolution_tags(page),
            ]
            for read in candidates:
                um = _plausible(read())
                if um is not None:
                    return um
    except Exception:  # noqa: BLE001 - an unreadable file is reported by validate's header check
        return None
    return None


def pixel_size_conflict(configured: float | None, found: float | None, *, plate: str, source: str) -> str | None:
    """An error message when the config and the files disagree by more than 1 %, else None.

    Parameters
    ----------
    configured : float or None
        ``pixel_size_um`` from the run config (µm).
    found : float or None
        The value the plate's files carry (µm).
    plate : str
        Plate id, for the message.
    source : str
        Where ``found`` came from (a file name), for the message.
    """
    if configured is None or found is None:
        return None
    if abs(configured - found) <= CONFLICT_TOLERANCE * max(configured, found):
        return None
    return (
        f"plate {plate}: pixel_size_um in the config is {configured:g} µm but {source} says "
        f"{found:.4g} µm; remove pixel_size_um from the config to use the files' value, or fix it"
    )


def files_pixel_size(metadata_um: float | None, first_tiff, *, layout: str) -> tuple[float | None, str]:
    """µm per pixel that a plate's files carry, and where it was read.

    The layout's metadata (an ImageXpress ``.HTD``, an Operetta ``Index.xml``...) first, else the
    tags of the plate's first TIFF (``first_tiff``, None for a plate without files).
    """
    if metadata_um is not None or first_tiff is None:
        return metadata_um, f"the {layout} metadata"
    return pixel_size_from_tiff(first_tiff), str(first_tiff)


def plate_pixel_size(
    configured: float | None, found: float | None, *, plate: str, source: str, where: str = "the config"
) -> tuple[float | None, str | None]:
    """The pixel size a plate is measured at, or the error that says what to do.

    The one rule every entry point follows (run, validate, init, convert, the plugin): the
    config's ``pixel_size_um`` where it is set, else what the files carry
    (:func:`files_pixel_size`); an error when both are set and differ by more than
    :data:`CONFLICT_TOLERANCE`, or when neither is known.

    Returns
    -------
    (float, None) or (None, str)
        µm per pixel, or None and the error message (names the plate and ``where`` to set it).
    """
    conflict = pixel_size_conflict(configured, found, plate=plate, source=source)
    if conflict:
        return None, conflict
    value = configured if configured is not None else found
    if value is None:
        return None, (f"plate {plate}: pixel size unknown (the files carry none); set pixel_size_um in "
                      f"{where} (µm per pixel, e.g. 0.65 for 20x)")
    return value, None


__all__ = [
    "CONFLICT_TOLERANCE", "PLAUSIBLE_UM", "files_pixel_size", "from_imagej", "from_metamorph", "from_ome_xml",
    "from_resolution_tags", "pixel_size_conflict", "pixel_size_from_tiff", "plate_pixel_size", "to_um",
]
