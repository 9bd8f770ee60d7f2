"""One simulated screen in every vendor layout, so each format is tested end to end.

:func:`convert_layout` takes a screen folder in the ImageXpress layout (a
``config.yaml`` whose plates use ``format: imagexpress``) and writes the same images
as another instrument would lay them out, with that instrument's metadata files and
a ``config.yaml`` naming the new ``format`` and channel tokens:

============  ==========================================================  =============
layout        files written per plate                                     channel token
============  ==========================================================  =============
imagexpress   the TIFFs as they are, plus ``<plate>.HTD``                  ``w1``
operetta      ``Images/Index.idx.xml`` (Harmony V5),                       ``ch1``
              ``Images/r02c03f01p01-ch1sk1fk1fl1.tiff``
cellvoyager   ``MeasurementData.mlf``, ``MeasurementDetail.mrf``,          ``C01``
              ``<plate>_B03_T0001F001L01A01Z01C01.tif``
incucyte      ``green/<plate>_B3_1_2024y01m01d_09h00m.tif`` (one folder    ``green``
              per channel; scan times from the config's days)
============  ==========================================================  =============

Pixel sizes are written into the Harmony and CellVoyager metadata, and
``pixel_size_um`` is then left out of their configs (the files carry it). The
metadata names the channels as an instrument would (:data:`CHANNEL_NAMES`: HTD
``WaveName``, Harmony ``ChannelName``; CellVoyager ``bts:Target`` by laser line in a
``.mes`` measurement setting), so ``screening init`` can be tested on them; Incucyte
folders are named by colour. Files of the
screen folder that are not plate images (plate maps, ground truth) are copied as they are.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import pandas as pd
import yaml

from screening.io.discovery import discover_plate
from screening.io.discovery.htd import find_htd
from screening.io.pixelsize import files_pixel_size, plate_pixel_size
from screening.io.wells import well_row_col
from screening.plate import VENDOR_FORMATS

LAYOUTS = VENDOR_FORMATS  # the simulator writes every vendor layout the discovery reads
INCUCYTE_CHANNELS = ("green", "red", "phase", "nir")
#: Time of the first scan of every converted Incucyte plate.
INCUCYTE_START = datetime(2024, 1, 1, 9, 0)
#: Channel names in the converted metadata: the simulator's w1 is an HB9::GFP reporter, w2 a Hoechst stain.
CHANNEL_NAMES = {1: "HB9::GFP", 2: "Hoechst 33342"}
#: CellVoyager settings often name a channel by its laser line (nm): 488 excites GFP, 405 Hoechst.
CELLVOYAGER_TARGETS = {1: "488", 2: "405"}
HARMONY_NS = "http://www.perkinelmer.com/PEHH/HarmonyV5"
BTS_NS = "http://www.yokogawa.co.jp/BTS/BTSSchema/1.0"


def channel_token(layout: str, wavelength: int) -> str:
    """The channel token a layout uses for ImageXpress wavelength ``w<wavelength>``."""
    if layout == "imagexpress":
        return f"w{wavelength}"
    if layout == "operetta":
        return f"ch{wavelength}"
    if layout == "cellvoyager":
        return f"C{wavelength:02d}"
    if layout == "incucyte":
        return INCUCYTE_CHANNELS[wavelength - 1]
    raise ValueError(f"unknown layout {layout!r}; use one of {LAYOUTS}")


def _wavelength(token: str) -> int:
    if not (token.startswith("w") and token[1:].isdigit()):
        raise ValueError(f"channel token {token!r} is not an ImageXpress wavelength (w1, w2 ...)")
    return int(token[1:])


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _rows_cols(index: pd.DataFrame) -> pd.DataFrame:
    rc = [well_row_col(w) for w in index["well"]]
    return index.assign(row=[r + 1 for r, _ in rc], col=[c + 1 for _, c in rc],
                        wavelength=[_wavelength(c) for c in index["channel"]])


def _row_name(i: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]


def write_htd(path: str | Path, *, wells, n_rows: int, n_cols: int, sites: int, wave_names: list[str],
              timepoints: int = 1) -> Path:
    """Write an HTD as MetaXpress lays it out .

    Sites are written as a one-row site grid of ``sites`` columns.
    """
    wells = set(wells)
    lines = [
        '"HTSInfoFile", Version 1.0',
        '"Description", "screening simulate"',
        '"PlateType", 6',
        f'"TimePoints", {timepoints}',
        '"ZSeries", FALSE',
        '"ZSteps", 1',
        '"ZProjection", FALSE',
        f'"XWells", {n_cols}',
        f'"YWells", {n_rows}',
    ]
    for r in range(n_rows):
        flags = ", ".join("TRUE" if f"{_row_name(r)}{c + 1:02d}" in wells else "FALSE" for c in range(n_cols))
        lines.append(f'"WellsSelection{r + 1}", {flags}')
    lines += [
        f'"Sites", {"TRUE" if sites > 1 else "FALSE"}',
        f'"XSites", {sites}',
        '"YSites", 1',
        f'"SiteSelection1", {", ".join(["TRUE"] * sites)}',
        '"Waves", TRUE',
        f'"NWavelengths", {len(wave_names)}',
    ]
    lines += [f'"WaveName{i}", "{name}"' for i, name in enumerate(wave_names, 1)]
    lines += [f'"WaveCollect{i}", 1' for i in range(1, len(wave_names) + 1)]
    lines += ['"UniquePlateIdentifier", "00000000-0000-0000-0000-000000000000"', '"EndFile"']
    path = Path(path)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


# --- writers, one per layout: (index, source plate folder, new plate folder, plate id, µm, days) ---


def write_imagexpress(index: pd.DataFrame, src_root: Path, folder: Path, plate: str, pixel_um: float,
                      days: dict) -> None:
    """Copy the TIFFs under the same relative names and write an HTD describing them."""
    for path in index["path"]:
        _copy(Path(path), folder / Path(path).relative_to(src_root))
    rc = _rows_cols(index)
    waves = sorted(set(rc["wavelength"]))
    write_htd(folder / f"{plate}.HTD", wells=set(index["well"]), n_rows=max(8, rc["row"].max()),
              n_cols=max(12, rc["col"].max()), sites=int(index["site"].max()),
              wave_names=[CHANNEL_NAMES.get(w, f"W{w}") for w in range(1, max(waves) + 1)],
              timepoints=int(index["timepoint"].max()))


def write_operetta(index: pd.DataFrame, src_root: Path, folder: Path, plate: str, pixel_um: float,
                   days: dict) -> None:
    """Harmony V5 export: ``Images/Index.idx.xml`` and ``r..c..f..p01-ch.sk.fk1fl1.tiff`` files."""
    images_dir = folder / "Images"
    images_dir.mkdir(parents=True, exist_ok=True)
    entries, wells = [], {}
    for i, r in enumerate(_rows_cols(index).itertuples()):
        name = f"r{r.row:02d}c{r.col:02d}f{r.site:02d}p01-ch{r.wavelength}sk{r.timepoint}fk1fl1.tiff"
        _copy(Path(r.path), images_dir / name)
        image_id = f"{r.row:02d}{r.col:02d}K{r.timepoint}F{r.site}P1R{r.wavelength}"
        wells.setdefault((r.row, r.col), []).append(image_id)
        stamp = (INCUCYTE_START + timedelta(days=days.get(r.timepoint, 0.0))).isoformat()
        entries.append(
            f'    <Image Version="1">\n'
            f"      <id>{image_id}</id>\n      <State>Ok</State>\n      <URL>{name}</URL>\n"
            f"      <Row>{r.row}</Row>\n      <Col>{r.col}</Col>\n      <FieldID>{r.site}</FieldID>\n"
            f"      <PlaneID>1</PlaneID>\n      <TimepointID>{r.timepoint - 1}</TimepointID>\n"
            f"      <FlimID>1</FlimID>\n      <ChannelID>{r.wavelength}</ChannelID>\n"
            f"      <ChannelName>{escape(CHANNEL_NAMES.get(r.wavelength, f'W{r.wavelength}'))}</ChannelName>\n"
            f'      <ImageResolutionX Unit="m">{pixel_um * 1e-6:.6E}</ImageResolutionX>\n'
            f'      <ImageResolutionY Unit="m">{pixel_um * 1e-6:.6E}</ImageResolutionY>\n'
            f"      <AbsTime>{stamp}+00:00</AbsTime>\n"
            f"    </Image>"
        )
    well_xml = "\n".join(
        f"    <Well>\n      <id>{row:02d}{col:02d}</id>\n      <Row>{row}</Row>\n      <Col>{col}</Col>\n"
        + "".join(f'      <Image id="{i}" />\n' for i in ids)
        + "    </Well>"
        for (row, col), ids in sorted(wells.items())
    )
    text = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<EvaluationInputData xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" Version="1" xmlns="{HARMONY_NS}">\n'
        "  <User>screening simulate</User>\n  <InstrumentType>Phenix</InstrumentType>\n"
        f"  <Plates>\n    <Plate>\n      <PlateID>{escape(plate)}</PlateID>\n      <Name>{escape(plate)}</Name>\n"
        "      <PlateTypeName>96well</PlateTypeName>\n    </Plate>\n  </Plates>\n"
        f"  <Wells>\n{well_xml}\n  </Wells>\n  <Images>\n" + "\n".join(entries) + "\n  </Images>\n"
        "</EvaluationInputData>\n"
    )
    (images_dir / "Index.idx.xml").write_text(text, encoding="utf-8")


def write_cellvoyager(index: pd.DataFrame, src_root: Path, folder: Path, plate: str, pixel_um: float,
                      days: dict) -> None:
    """CV7000-style folder: ``MeasurementData.mlf``, ``MeasurementDetail.mrf``, ``<plate>.mes`` and the TIFFs."""
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    rc = _rows_cols(index)
    for r in rc.itertuples():
        name = f"{plate}_{r.well}_T{r.timepoint:04d}F{r.site:03d}L01A01Z01C{r.wavelength:02d}.tif"
        _copy(Path(r.path), folder / name)
        stamp = (INCUCYTE_START + timedelta(days=days.get(r.timepoint, 0.0))).isoformat()
        records.append(
            f'<bts:MeasurementRecord bts:Time="{stamp}+00:00" bts:Type="IMG" bts:TimePoint="{r.timepoint}" '
            f'bts:FieldIndex="{r.site}" bts:ZIndex="1" bts:TimelineIndex="1" bts:ActionIndex="1" '
            f'bts:Action="Acquisition" bts:X="0" bts:Y="0" bts:Z="0" bts:Ch="{r.wavelength}" '
            f'bts:Row="{r.row}" bts:Column="{r.col}">{escape(name)}</bts:MeasurementRecord>'
        )
    header = '<?xml version="1.0" encoding="utf-8"?>\n'
    (folder / "MeasurementData.mlf").write_text(
        header + f'<bts:MeasurementData bts:Version="1.0" xmlns:bts="{BTS_NS}">\n' + "\n".join(records)
        + "\n</bts:MeasurementData>\n", encoding="utf-8")
    channels = "\n".join(
        f'  <bts:MeasurementChannel bts:Ch="{w}" bts:HorizontalPixelDimension="{pixel_um:.6g}" '
        f'bts:VerticalPixelDimension="{pixel_um:.6g}" bts:CameraNumber="1" bts:InputBitDepth="16" '
        f'bts:InputLevel="65535" bts:HorizontalPixels="0" bts:VerticalPixels="0" bts:FilterWheelPosition="1" />'
        for w in sorted(set(rc["wavelength"]))
    )
    (folder / "MeasurementDetail.mrf").write_text(
        header + f'<bts:MeasurementDetail bts:Version="1.0" bts:Title="{escape(plate)}" '
        f'bts:RowCount="{max(8, rc["row"].max())}" bts:ColumnCount="{max(12, rc["col"].max())}" '
        f'bts:TargetSystem="CV7000" bts:MeasurementSettingFileName="{escape(plate)}.mes" xmlns:bts="{BTS_NS}">\n'
        f'  <bts:MeasurementSamplePlate bts:Name="{escape(plate)}" bts:WellPlateFileName="{escape(plate)}.wpi" />\n'
        f"{channels}\n</bts:MeasurementDetail>\n", encoding="utf-8")
    targets = "\n".join(
        f'    <bts:Channel bts:Ch="{w}" bts:Target="{CELLVOYAGER_TARGETS.get(w, w)}" bts:Objective="20x" />'
        for w in sorted(set(rc["wavelength"]))
    )
    (folder / f"{plate}.mes").write_text(
        header + f'<bts:MeasurementSetting bts:Version="1.0" xmlns:bts="{BTS_NS}">\n'
        f"  <bts:ChannelList>\n{targets}\n  </bts:ChannelList>\n</bts:MeasurementSetting>\n", encoding="utf-8")


def write_incucyte(index: pd.DataFrame, src_root: Path, folder: Path, plate: str, pixel_um: float,
                   days: dict) -> None:
    """Incucyte export: ``<channel>/<vessel>_<well>_<image>_<stamp>.tif``, one folder per channel."""
    for r in _rows_cols(index).itertuples():
        minutes = round(days.get(r.timepoint, 0.0) * 1440)
        stamp = (INCUCYTE_START + timedelta(minutes=minutes)).strftime("%Yy%mm%dd_%Hh%Mm")
        well = f"{r.well[:-2]}{int(r.well[-2:])}"
        _copy(Path(r.path), folder / channel_token("incucyte", r.wavelength) / f"{plate}_{well}_{r.site}_{stamp}.tif")


WRITERS = {
    "imagexpress": write_imagexpress,
    "operetta": write_operetta,
    "cellvoyager": write_cellvoyager,
    "incucyte": write_incucyte,
}


def _inside(path: Path, folder: Path) -> Path | None:
    try:
        return path.resolve().relative_to(folder.resolve())
    except ValueError:
        return None


def convert_layout(src_dir: Path, layout: str, dst_dir: Path) -> Path:
    """Write the ImageXpress screen in ``src_dir`` as ``layout`` into ``dst_dir``.

    Parameters
    ----------
    src_dir : Path
        A screen folder with ``config.yaml`` (plates in ``format: imagexpress``,
        channel tokens ``w<n>``), as ``screening simulate`` writes it.
    layout : {"imagexpress", "operetta", "cellvoyager", "incucyte"}
    dst_dir : Path
        Folder for the converted screen (created; must not be ``src_dir``).

    Returns
    -------
    Path
        The new ``config.yaml``.
    """
    from screening.config import load_config

    if layout not in WRITERS:
        raise ValueError(f"unknown layout {layout!r}; use one of {LAYOUTS}")
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    if dst_dir.resolve() == src_dir.resolve():
        raise ValueError(f"{dst_dir}: the converted screen needs its own folder")
    src_config = src_dir / "config.yaml"
    raw = yaml.safe_load(src_config.read_text())
    config = load_config(src_config)
    days = {int(k): float(v) for k, v in (config.timepoints or {1: 0.0}).items()}
    skip: set[Path] = {src_config.resolve()}
    skip_dir = config.output.resolve() if config.output is not None else None  # an earlier run's folder
    for plate_raw, plate in zip(raw["plates"], config.plates, strict=True):
        if plate.format != "imagexpress":
            raise ValueError(f"plate {plate.id}: convert_layout reads format imagexpress, not {plate.format!r}")
        found = discover_plate(plate.id, plate.path, "imagexpress")
        index = found.index
        rel = _inside(plate.path, src_dir) or Path("plates") / plate.id
        files_um, source = files_pixel_size(found.pixel_size_um, index["path"].iloc[0], layout="imagexpress")
        pixel_um, problem = plate_pixel_size(config.pixel_size_um, files_um, plate=plate.id, source=source,
                                             where=str(src_config))
        if problem:
            raise ValueError(problem)
        WRITERS[layout](index, plate.path, dst_dir / rel, plate.id, pixel_um, days)
        skip |= {Path(p).resolve() for p in index["path"]}
        htd = find_htd(plate.path)
        if htd is not None:
            skip.add(htd.resolve())
        plate_raw["path"] = rel.as_posix()
        plate_raw["format"] = layout
        layout_rel = _inside(plate.layout, src_dir)
        plate_raw["layout"] = layout_rel.as_posix() if layout_rel else str(plate.layout)
    for path in sorted(src_dir.rglob("*")):
        inside_output = skip_dir is not None and _inside(path, skip_dir) is not None
        if path.is_file() and path.resolve() not in skip and not inside_output:
            _copy(path, dst_dir / path.relative_to(src_dir))
    raw["channels"] = {
        role: channel_token(layout, _wavelength(token)) for role, token in raw["channels"].items() if token
    }
    if layout == "incucyte" and config.timepoints:
        ranks = sorted(days, key=lambda t: days[t])
        raw["timepoints"] = {i + 1: days[t] for i, t in enumerate(ranks)}
    if layout in ("operetta", "cellvoyager"):
        raw.pop("pixel_size_um", None)
    elif "pixel_size_um" not in raw:
        raw["pixel_size_um"] = pixel_um
    if raw.get("output") and Path(raw["output"]).is_absolute():
        raw["output"] = str(dst_dir / "runs" / config.name)
    out = dst_dir / "config.yaml"
    dst_dir.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out
