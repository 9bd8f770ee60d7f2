"""Pixel size from TIFF tags, and the config-vs-files rule."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml

from screening.config import load_config
from screening.io.pixelsize import pixel_size_conflict, pixel_size_from_tiff, to_um
from screening.io.screen import load_screen

IMAGE = np.zeros((4, 4), np.uint16)

METASERIES = (
    "<MetaData>\r\n"
    '<prop id="Description" type="string" value="Exposure: 100 ms&#13;&#10;Binning: 2 x 2"/>\r\n'
    '<prop id="MetaDataVersion" type="float" value="1"/>\r\n'
    '<prop id="ApplicationName" type="string" value="MetaXpress"/>\r\n'
    '<prop id="ApplicationVersion" type="string" value="6.7.2.290"/>\r\n'
    "<PlaneInfo>\r\n"
    '<prop id="plane-type" type="string" value="plane"/>\r\n'
    '<prop id="pixel-size-x" type="int" value="2160"/>\r\n'
    '<prop id="spatial-calibration-state" type="bool" value="on"/>\r\n'
    '<prop id="spatial-calibration-x" type="float" value="0.3375"/>\r\n'
    '<prop id="spatial-calibration-y" type="float" value="0.3375"/>\r\n'
    '<prop id="spatial-calibration-units" type="string" value="um"/>\r\n'
    '<prop id="image-name" type="string" value="FITC"/>\r\n'
    "</PlaneInfo>\r\n"
    "</MetaData>"
)


def _write(path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, IMAGE, **kwargs)
    return path


def test_ome_xml_physical_size_with_units(tmp_path):
    um = _write(tmp_path / "a.ome.tif", metadata={"PhysicalSizeX": 0.3, "PhysicalSizeXUnit": "µm"})
    nm = _write(tmp_path / "b.ome.tif", metadata={"PhysicalSizeX": 650, "PhysicalSizeXUnit": "nm"})
    assert pixel_size_from_tiff(um) == pytest.approx(0.3)
    assert pixel_size_from_tiff(nm) == pytest.approx(0.65)


def test_metamorph_spatial_calibration(tmp_path):
    path = _write(tmp_path / "PL1_A01_s1_w1.TIF", description=METASERIES, software="MetaSeries", metadata=None)
    assert pixel_size_from_tiff(path) == pytest.approx(0.3375)


def test_imagej_unit_and_resolution(tmp_path):
    path = _write(tmp_path / "ij.tif", imagej=True, resolution=(1 / 0.5, 1 / 0.5), metadata={"unit": "micron"})
    assert pixel_size_from_tiff(path) == pytest.approx(0.5)


def test_resolution_tags_centimetre(tmp_path):
    per_cm = 1e4 / 0.65
    path = _write(tmp_path / "cm.tif", resolution=(per_cm, per_cm), resolutionunit="CENTIMETER")
    assert pixel_size_from_tiff(path) == pytest.approx(0.65, rel=1e-4)


def test_no_or_implausible_calibration_is_none(tmp_path):
    assert pixel_size_from_tiff(_write(tmp_path / "plain.tif")) is None
    dpi72 = _write(tmp_path / "dpi.tif", resolution=(72, 72), resolutionunit="INCH")
    assert pixel_size_from_tiff(dpi72) is None  # 353 µm per pixel: a screen default, not optics
    (tmp_path / "broken.tif").write_bytes(b"II*\x00garbage")
    assert pixel_size_from_tiff(tmp_path / "broken.tif") is None
    assert to_um(3, "pixel") is None


def test_conflict_over_one_percent_names_both_values():
    assert pixel_size_conflict(0.65, 0.655, plate="P1", source="x") is None  # 0.8 %: rounding
    assert pixel_size_conflict(None, 0.3, plate="P1", source="x") is None
    message = pixel_size_conflict(0.65, 0.3375, plate="P1", source="Index.xml")
    assert "P1" in message and "0.65" in message and "0.3375" in message and "Index.xml" in message


def _screen(tmp_path, *, pixel_size_um, tiff_kwargs):
    plate = tmp_path / "P1"
    for well in ("A01", "A02"):
        _write(plate / f"PL_{well}_s1_w1.TIF", **tiff_kwargs)
    (plate / "layout.csv").write_text(
        "well,patient,compound,concentration_um,role\nA01,pt1,DMSO,0,vehicle\nA02,pt1,x,1,treatment\n"
    )
    config = {"name": "t", "channels": {"reporter": "w1"},
              "plates": [{"id": "P1", "path": "P1", "layout": "P1/layout.csv"}]}
    if pixel_size_um is not None:
        config["pixel_size_um"] = pixel_size_um
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return load_screen(load_config(tmp_path / "config.yaml"))


METAMORPH = {"description": METASERIES, "software": "MetaSeries", "metadata": None}


def test_config_pixel_size_optional_when_files_carry_it(tmp_path):
    screen = _screen(tmp_path, pixel_size_um=None, tiff_kwargs=METAMORPH)
    assert screen.errors == []
    assert screen.pixel_size_um == {"P1": pytest.approx(0.3375)}


def test_config_and_files_disagree_is_an_error(tmp_path):
    screen = _screen(tmp_path, pixel_size_um=0.65, tiff_kwargs=METAMORPH)
    assert len(screen.errors) == 1
    assert "0.65" in screen.errors[0] and "0.3375" in screen.errors[0] and "PL_A01_s1_w1.TIF" in screen.errors[0]


def test_pixel_size_unknown_everywhere_is_an_error(tmp_path):
    screen = _screen(tmp_path, pixel_size_um=None, tiff_kwargs={})
    assert len(screen.errors) == 1 and "pixel size unknown" in screen.errors[0]
    assert _screen(tmp_path / "b", pixel_size_um=0.65, tiff_kwargs={}).errors == []


def test_plate_pixel_size_is_one_rule():
    from screening.io.pixelsize import plate_pixel_size

    assert plate_pixel_size(0.65, None, plate="P1", source="x") == (0.65, None)  # the config's
    assert plate_pixel_size(None, 0.3375, plate="P1", source="x") == (0.3375, None)  # else the files'
    assert plate_pixel_size(0.65, 0.652, plate="P1", source="x") == (0.65, None)  # within 1 %: the config's
    value, error = plate_pixel_size(0.65, 0.3375, plate="P1", source="Index.xml")
    assert value is None and "P1" in error and "Index.xml" in error
    value, error = plate_pixel_size(None, None, plate="P2", source="x", where="screen/config.yaml")
    assert value is None and "P2" in error and "pixel_size_um in screen/config.yaml" in error
