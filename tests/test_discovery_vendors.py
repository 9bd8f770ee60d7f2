"""Vendor layouts on file trees and metadata shaped like the instruments' own exports."""

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml

from screening.config import load_config
from screening.io.discovery import discover_plate
from screening.io.discovery.cellvoyager import parse_cellvoyager
from screening.io.discovery.htd import expected_images, read_htd_text
from screening.io.discovery.incucyte import parse_incucyte, scan_numbers
from screening.io.discovery.operetta import parse_operetta
from screening.io.planes import plane_files, read_planes
from screening.io.screen import load_screen
from screening.simulate.layouts import LAYOUTS, channel_token, convert_layout
from tests.conftest import write_tiny_screen


def _tif(path: Path, value: int = 0, shape=(4, 4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.full(shape, value, np.uint16))
    return path


def _keys(index: pd.DataFrame, cols=("well", "site", "channel", "timepoint")) -> list[tuple]:
    return sorted(map(tuple, index[list(cols)].itertuples(index=False)))


# --- Operetta / Opera Phenix (Harmony) ---------------------------------------------------------

HARMONY_IMAGE = """    <Image Version="1">
      <id>{row:02d}{col:02d}K{t}F{f}P{p}R{c}</id>
      <State>Ok</State>
      <URL>{url}</URL>
      <Row>{row}</Row>
      <Col>{col}</Col>
      <FieldID>{f}</FieldID>
      <PlaneID>{p}</PlaneID>
      <TimepointID>{t}</TimepointID>
      <FlimID>1</FlimID>
      <ChannelID>{c}</ChannelID>
      <ChannelName>{name}</ChannelName>
      {res}
      <PositionZ Unit="m">{z}E-06</PositionZ>
      <AbsTime>2023-05-04T10:1{f}:0{c}.35+02:00</AbsTime>
    </Image>"""
V5_RES = '<ImageResolutionX Unit="m">6.4998E-07</ImageResolutionX><ImageResolutionY Unit="m">6.4998E-07</ImageResolutionY>'


def _harmony(images: list[str], version: str = "V5", maps: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<EvaluationInputData xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" Version="1" '
        f'xmlns="http://www.perkinelmer.com/PEHH/Harmony{version}">\n'
        "  <User>lab</User>\n  <InstrumentType>Phenix</InstrumentType>\n"
        "  <Plates><Plate><PlateID>PL1</PlateID><Name>PL1</Name><PlateRows>8</PlateRows>"
        "<PlateColumns>12</PlateColumns><Well id=\"0203\" /></Plate></Plates>\n"
        f"{maps}  <Images>\n" + "\n".join(images) + "\n  </Images>\n</EvaluationInputData>\n"
    )


def _harmony_image(row, col, f, p, t, c, *, url=None, res=V5_RES):
    url = f"r{row:02d}c{col:02d}f{f:02d}p{p:02d}-ch{c}sk{t + 1}fk1fl1.tiff" if url is None else url
    return HARMONY_IMAGE.format(row=row, col=col, f=f, p=p, t=t, c=c, url=url, res=res,
                                name="Alexa 488" if c == 1 else "HOECHST 33342", z=p * 2)


def test_operetta_v5_index_in_images_folder(tmp_path):
    images = []
    for row, col, f, t, c in np.ndindex(1, 1, 2, 2, 2):
        img = _harmony_image(row + 2, col + 3, f + 1, 1, t, c + 1)
        images.append(img)
    images_dir = tmp_path / "Images"
    for img in images:
        _tif(images_dir / img.split("<URL>")[1].split("</URL>")[0])
    (images_dir / "Index.idx.xml").write_text(_harmony(images))
    _tif(images_dir / "r08c12f01p01-ch1sk1fk1fl1.tiff")  # on disk, not in the index: ignored
    (images_dir / "notes.txt").write_text("hello")
    found = discover_plate("P", tmp_path, "operetta")
    assert _keys(found.index) == [
        ("B03", f, f"ch{c}", t) for f in (1, 2) for c in (1, 2) for t in (1, 2)
    ] and len(found.index) == 8
    # TimepointID 0 is the first timepoint (sk1 in the file name).
    first = found.index[(found.index["timepoint"] == 1) & (found.index["site"] == 2)]
    assert all(Path(p).name.endswith("sk1fk1fl1.tiff") for p in first["path"])
    assert found.pixel_size_um == pytest.approx(0.64998)
    assert found.problems == []


def test_operetta_v6_maps_resolution_and_planes(tmp_path):
    maps = (
        "  <Maps><Map>\n"
        '    <Entry ChannelID="1"><ChannelName>GFP</ChannelName>'
        '<ImageResolutionX Unit="m">2.99E-07</ImageResolutionX></Entry>\n'
        '    <Entry ChannelID="2"><ChannelName>DAPI</ChannelName>'
        '<ImageResolutionX Unit="m">2.99E-07</ImageResolutionX></Entry>\n'
        "  </Map></Maps>\n"
    )
    images = [_harmony_image(1, 1, 1, p, 0, c, res="") for p in (1, 2, 3) for c in (1, 2)]
    for img in images:
        _tif(tmp_path / img.split("<URL>")[1].split("</URL>")[0])
    (tmp_path / "Index.xml").write_text(_harmony(images, "V6", maps))
    found = parse_operetta(tmp_path)
    assert found.pixel_size_um == pytest.approx(0.299)
    assert sorted(found.index["plane"].tolist()) == [1, 1, 2, 2, 3, 3]
    grouped = plane_files(found.index, ["well", "site", "timepoint", "channel"])
    assert len(grouped) == 2
    ch1 = grouped[("A01", 1, 1, "ch1")]
    assert list(ch1) == [1, 2, 3]
    assert [Path(p).name[8:12] for p in ch1.values()] == ["1p01", "1p02", "1p03"]


def test_operetta_missing_and_unnamed_images_are_problems(tmp_path):
    images = [
        _harmony_image(2, 3, 1, 1, 0, 1),
        _harmony_image(2, 3, 1, 1, 0, 2),
        _harmony_image(2, 3, 2, 1, 0, 1, url=""),
    ]
    _tif(tmp_path / "r02c03f01p01-ch1sk1fk1fl1.tiff")
    (tmp_path / "Index.idx.xml").write_text(_harmony(images))
    found = discover_plate("P", tmp_path, "operetta")
    assert _keys(found.index) == [("B03", 1, "ch1", 1)]
    assert len(found.problems) == 2
    assert any("r02c03f01p01-ch2sk1fk1fl1.tiff" in p and "missing" in p for p in found.problems)
    assert any("field 2" in p and "without a file name" in p for p in found.problems)


def test_operetta_malformed_xml_names_the_file(tmp_path):
    text = _harmony([_harmony_image(1, 1, 1, 1, 0, 1)])
    (tmp_path / "Index.idx.xml").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=r"Index\.idx\.xml: not valid XML"):
        discover_plate("P", tmp_path, "operetta")


def test_operetta_without_index_says_what_is_missing(tmp_path):
    _tif(tmp_path / "r01c01f01p01-ch1sk1fk1fl1.tiff")
    with pytest.raises(FileNotFoundError, match="no Index.idx.xml or Index.xml"):
        discover_plate("P", tmp_path, "operetta")


# --- CellVoyager ---------------------------------------------------------------------------------

MLF_RECORD = (
    '<bts:MeasurementRecord bts:Time="2021-06-14T09:13:3{c}.1+01:00" bts:Column="{col}" bts:Row="{row}" '
    'bts:TimePoint="{t}" bts:FieldIndex="{f}" bts:ZIndex="{z}" bts:TimelineIndex="1" bts:ActionIndex="1" '
    'bts:Action="Acquisition" bts:X="-1.5" bts:Y="2" bts:Z="-8.5" bts:Ch="{c}" bts:Type="IMG">{name}'
    "</bts:MeasurementRecord>"
)
BTS = 'xmlns:bts="http://www.yokogawa.co.jp/BTS/BTSSchema/1.0"'
MRF = f"""<?xml version="1.0" encoding="utf-8"?>
<bts:MeasurementDetail bts:Version="1.0" bts:OperatorName="op" bts:Title="T" bts:ColumnCount="24" bts:RowCount="16" bts:TargetSystem="CV8000" {BTS}>
  <bts:MeasurementSamplePlate bts:Name="PL1" bts:WellPlateFileName="PL1.wpi" bts:WellPlateProductFileName="x.wpp" />
  <bts:MeasurementChannel bts:Ch="1" bts:HorizontalPixelDimension="0.325" bts:VerticalPixelDimension="0.325" bts:InputBitDepth="16" bts:HorizontalPixels="2560" bts:VerticalPixels="2160" />
  <bts:MeasurementChannel bts:Ch="2" bts:HorizontalPixelDimension="0.325" bts:VerticalPixelDimension="0.325" bts:InputBitDepth="16" bts:HorizontalPixels="2560" bts:VerticalPixels="2160" />
</bts:MeasurementDetail>
"""


def _cv_plate(root: Path, records: list[dict], write=lambda r: True) -> None:
    lines = []
    for r in records:
        name = f"PL1_{r['well']}_T{r['t']:04d}F{r['f']:03d}L01A01Z{r['z']:02d}C{r['c']:02d}.tif"
        lines.append(MLF_RECORD.format(name=name, **r))
        if write(r):
            _tif(root / name)
    lines.append('<bts:MeasurementRecord bts:Type="ERR" bts:Column="5" bts:Row="2" bts:TimePoint="1" />')
    (root / "MeasurementData.mlf").write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n<bts:MeasurementData bts:Version="1.0" {BTS}>\n'
        + "\n".join(lines) + "\n</bts:MeasurementData>\n"
    )
    (root / "MeasurementDetail.mrf").write_text(MRF)


def _records(**fixed):
    base = [{"row": 2, "col": 3, "well": "B03", "t": t, "f": f, "z": 1, "c": c}
            for t in (1, 2) for f in (1, 2) for c in (1, 2)]
    return [{**r, **fixed} for r in base]


def test_cellvoyager_records_pixel_size_and_err(tmp_path):
    _cv_plate(tmp_path, _records())
    _tif(tmp_path / "DC_sCMOS #1_CAM1.tif")  # dark-current file CellVoyager writes beside the images
    (tmp_path / "PL1.wpi").write_text("<x/>")
    found = discover_plate("P", tmp_path, "cellvoyager")
    assert _keys(found.index) == [("B03", f, f"C0{c}", t) for f in (1, 2) for c in (1, 2) for t in (1, 2)]
    assert found.pixel_size_um == pytest.approx(0.325)
    assert len(found.problems) == 1 and "ERR" in found.problems[0] and "B05" in found.problems[0]


def test_cellvoyager_z_planes_and_missing_file(tmp_path):
    records = [{"row": 1, "col": 1, "well": "A01", "t": 1, "f": 1, "z": z, "c": 1} for z in (1, 2)]
    _cv_plate(tmp_path, records, write=lambda r: r["z"] == 1)
    found = parse_cellvoyager(tmp_path)
    assert found.index[["well", "channel", "plane"]].values.tolist() == [["A01", "C01", 1]]
    missing = [p for p in found.problems if "missing" in p]
    assert len(missing) == 1 and "PL1_A01_T0001F001L01A01Z02C01.tif" in missing[0]


def test_cellvoyager_malformed_mlf_names_the_file(tmp_path):
    _cv_plate(tmp_path, _records())
    text = (tmp_path / "MeasurementData.mlf").read_text()
    (tmp_path / "MeasurementData.mlf").write_text(text.replace("</bts:MeasurementData>", ""))
    with pytest.raises(ValueError, match=r"MeasurementData\.mlf: not valid XML"):
        discover_plate("P", tmp_path, "cellvoyager")


# --- Incucyte ------------------------------------------------------------------------------------


def test_incucyte_channels_from_folders_timepoints_from_stamps(tmp_path):
    # Scan 1 at 09:00 (one well stamped a minute later), scan 2 two days later, scan 3 at +7.5 days.
    stamps = {"A1": ["2024y03m05d_09h00m", "2024y03m07d_09h00m", "2024y03m12d_21h00m"],
              "B12": ["2024y03m05d_09h01m", "2024y03m07d_09h00m", "2024y03m12d_21h00m"]}
    for channel in ("green", "red"):
        for well, times in stamps.items():
            for stamp in times:
                for image in (1, 2):
                    _tif(tmp_path / channel / f"VID1042_{well}_{image}_{stamp}.tif")
    _tif(tmp_path / "green" / "VID1042_A1_1_2024y03m05d_09h00m_mask.tif")  # not an export name
    (tmp_path / "export_log.txt").write_text("exported")
    found = parse_incucyte(tmp_path)
    assert len(found.index) == 2 * 2 * 3 * 2
    assert set(found.index["well"]) == {"A1", "B12"} and set(found.index["channel"]) == {"green", "red"}
    days = found.index.groupby("timepoint")["day"].agg(set).to_dict()
    assert days == {1: {0.0}, 2: {2.0}, 3: {7.5}}
    index = discover_plate("P", tmp_path, "incucyte").index
    assert set(index["well"]) == {"A01", "B12"}
    assert sorted(set(index["site"])) == [1, 2]


def test_incucyte_root_files_are_one_channel(tmp_path):
    _tif(tmp_path / "VID7_C4_1_2024y01m01d_00h00m.TIF")
    index = discover_plate("P", tmp_path, "incucyte").index
    assert index[["well", "site", "channel", "timepoint"]].values.tolist() == [["C04", 1, "image", 1]]


def test_scan_numbers_group_close_stamps():
    stamps = pd.Series([datetime(2024, 1, 1, 9, 0), datetime(2024, 1, 1, 9, 12), datetime(2024, 1, 1, 21, 0),
                        datetime(2024, 1, 1, 9, 5)])
    timepoint, day = scan_numbers(stamps)
    assert timepoint.tolist() == [1, 1, 2, 1]
    assert day.tolist() == [0.0, 0.0, 0.5, 0.0]


# --- ImageXpress .HTD ----------------------------------------------------------------------------

HTD = """"HTSInfoFile", Version 1.0
"Description", "Motor neurons day 14"
"PlateType", 6
"TimePoints", 1
"ZSeries", FALSE
"ZSteps", 1
"ZProjection", FALSE
"XWells", 12
"YWells", 8
"WellsSelection1", FALSE, TRUE, TRUE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE
"WellsSelection2", FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE
"WellsSelection3", FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE
"WellsSelection4", FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE
"WellsSelection5", FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE
"WellsSelection6", FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE
"WellsSelection7", FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE
"WellsSelection8", FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, TRUE
"Sites", TRUE
"XSites", 3
"YSites", 2
"SiteSelection1", TRUE, FALSE, TRUE
"SiteSelection2", FALSE, FALSE, FALSE
"Waves", TRUE
"NWavelengths", 3
"WaveName1", "FITC"
"WaveName2", "DAPI"
"WaveName3", "Cy5"
"WaveCollect1", 1
"WaveCollect2", 1
"WaveCollect3", 0
"UniquePlateIdentifier", "2B6C3F0A-8E1D-4B5C-9A7E-0F1D2C3B4A59"
"EndFile"
""".replace("\n", "\r\n")


def test_htd_wells_sites_and_collected_waves():
    desc = read_htd_text(HTD)
    assert desc.wells == ["A02", "A03", "H12"]
    assert desc.sites == 2
    assert desc.wavelengths == [1, 2] and desc.wave_names[3] == "Cy5"
    assert len(expected_images(desc)) == 3 * 2 * 2


def test_imagexpress_htd_names_missing_images(tmp_path):
    (tmp_path / "PL1.HTD").write_text(HTD)
    for well in ("A02", "A03", "H12"):
        for s in (1, 2):
            for w in (1, 2):
                if (well, s, w) != ("H12", 2, 2):
                    _tif(tmp_path / "TimePoint_1" / f"PL1_{well}_s{s}_w{w}.TIF")
    found = discover_plate("P", tmp_path, "imagexpress")
    assert len(found.index) == 11
    assert found.problems == [
        f"{tmp_path}: PL1.HTD lists well H12 site 2 channel w2 timepoint 1 but no file was found"
    ]


def test_imagexpress_malformed_htd_is_a_problem_not_a_crash(tmp_path):
    (tmp_path / "PL1.HTD").write_text('"HTSInfoFile", Version 1.0\r\n"XWells", twelve\r\n"EndFile"\r\n')
    _tif(tmp_path / "PL1_A01_s1_w1.TIF")
    found = discover_plate("P", tmp_path, "imagexpress")
    assert len(found.index) == 1
    assert len(found.problems) == 1 and "PL1.HTD: malformed HTD" in found.problems[0]


# --- planes --------------------------------------------------------------------------------------


def test_read_planes_rules(tmp_path):
    stack = np.array([[[1, 9]], [[5, 2]], [[3, 3]]], np.uint16).repeat(2, axis=1)  # 3 planes of 2 x 2
    files = {i + 1: str(tmp_path / f"z{i + 1}.tif") for i in range(3)}
    for plane, path in zip(stack, files.values()):
        tifffile.imwrite(path, plane)
    assert read_planes(files, "max").tolist() == [[5, 9]] * 2
    assert read_planes(files, "mean").tolist() == [[3.0, 14 / 3]] * 2
    assert read_planes(files, 3).tolist() == [[3, 3]] * 2
    with pytest.raises(ValueError, match=r"plane\(s\) \[1, 2, 3\]"):
        read_planes(files, 4)


def test_read_planes_max_projection_from_files(tmp_path):
    paths = [_tif(tmp_path / f"p{i}.tif", v, (2, 2)) for i, v in enumerate((7, 30, 12))]
    assert read_planes([str(p) for p in paths], "max").tolist() == [[30, 30], [30, 30]]
    assert read_planes([str(p) for p in paths], 1).tolist() == [[7, 7], [7, 7]]


# --- the same screen in every layout -------------------------------------------------------------


@pytest.fixture
def imagexpress_screen(tmp_path) -> Path:
    src = tmp_path / "src"
    write_tiny_screen(src, shape=(8, 8))
    (src / "truth.csv").write_text("plate,well\nP1,A01\n")
    return src


def test_every_layout_gives_the_same_index_days_and_pixel_size(imagexpress_screen, tmp_path):
    reference = None
    for layout in LAYOUTS:
        config_path = convert_layout(imagexpress_screen, layout, tmp_path / layout)
        config = load_config(config_path)
        assert config.plates[0].format == layout
        assert config.channels.reporter == channel_token(layout, 1)
        assert (config.pixel_size_um is None) == (layout in ("operetta", "cellvoyager"))
        assert (tmp_path / layout / "truth.csv").is_file()
        screen = load_screen(config)
        assert screen.errors == [] and screen.warnings == [], layout
        assert screen.pixel_size_um.get("P1", config.pixel_size_um) == pytest.approx(0.65)
        back = {channel_token(layout, w): f"w{w}" for w in (1, 2)}
        index = screen.index.assign(channel=screen.index["channel"].map(back))
        table = sorted(map(tuple, index[["well", "site", "channel", "timepoint", "day"]].itertuples(index=False)))
        assert len(table) == 4 * 2 * 2 * 2
        # Same pixels behind every key.
        pixels = {k: tifffile.imread(p).tobytes() for k, p in zip(table, index.sort_values(
            ["well", "site", "channel", "timepoint"])["path"], strict=True)}
        if reference is None:
            reference = (table, pixels)
        else:
            assert table == reference[0], layout
            assert pixels == reference[1], layout


def test_pixel_size_conflict_with_converted_metadata(imagexpress_screen, tmp_path):
    config_path = convert_layout(imagexpress_screen, "operetta", tmp_path / "op")
    raw = yaml.safe_load(config_path.read_text())
    raw["pixel_size_um"] = 0.325
    config_path.write_text(yaml.safe_dump(raw))
    errors = load_screen(load_config(config_path)).errors
    assert len(errors) == 1 and "0.325" in errors[0] and "0.65" in errors[0]
