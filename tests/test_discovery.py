from pathlib import Path

import numpy as np
import pytest
import tifffile

from screening.config import PatternFormat
from screening.io.discovery import discover_plate


def _touch_tif(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.zeros((4, 4), np.uint16))


def test_imagexpress_timepoint_folders_multidigit_site_channel_uuid_case(tmp_path):
    _touch_tif(tmp_path / "TimePoint_1" / "Scan_A01_s1_w1.TIF")
    _touch_tif(tmp_path / "TimePoint_1" / "Scan_A01_s12_w10.tif")
    _touch_tif(tmp_path / "TimePoint_12" / "My_Plate_2_B3_s2_w2C0EF0F8C-AF27-4DE6-AA93-25A1B3AF54C0.Tif")
    _touch_tif(tmp_path / "TimePoint_12" / "Scan_B03_s2_w2_thumb.TIF")
    _touch_tif(tmp_path / "TimePoint_1" / "notes_unrelated.tif")
    (tmp_path / "TimePoint_1" / "Scan_A01_s1_w1.HTD").write_text("x")
    index = discover_plate("P1", tmp_path, "imagexpress").index
    got = sorted(zip(index["well"], index["site"], index["channel"], index["timepoint"], strict=True))
    assert got == [("A01", 1, "w1", 1), ("A01", 12, "w10", 1), ("B03", 2, "w2", 12)]
    assert set(index["plate"]) == {"P1"}
    assert list(index.columns) == ["plate", "well", "site", "channel", "timepoint", "plane", "day", "path"]
    assert set(index["plane"]) == {1} and index["day"].isna().all()


def test_imagexpress_without_timepoint_folders_is_one_timepoint(tmp_path):
    _touch_tif(tmp_path / "Scan_C07_s3_w1.TIF")
    index = discover_plate("P", tmp_path, "imagexpress").index
    assert index[["well", "site", "channel", "timepoint"]].values.tolist() == [["C07", 3, "w1", 1]]


def test_imagexpress_single_site_and_wavelength_omitted(tmp_path):
    _touch_tif(tmp_path / "Scan_D02.tif")
    index = discover_plate("P", tmp_path, "imagexpress").index
    assert index[["well", "site", "channel"]].values.tolist() == [["D02", 1, "w1"]]


def test_uuid_starting_with_digit_keeps_channel(tmp_path):
    _touch_tif(tmp_path / "Scan_A01_s1_w20EF0F8CA-AF27-4DE6-AA93-25A1B3AF54C0.tif")
    index = discover_plate("P", tmp_path, "imagexpress").index
    assert index["channel"].tolist() == ["w2"]


def test_pattern_format_with_timepoint_group(tmp_path):
    _touch_tif(tmp_path / "day3" / "plateX_well-B7_field02_ch1.tiff")
    _touch_tif(tmp_path / "day3" / "plateX_well-B7_field02_ch2.tiff")
    _touch_tif(tmp_path / "other" / "readme.tif")
    fmt = PatternFormat(
        pattern=r"day(?P<timepoint>\d+)/(?P<plate>\w+?)_well-(?P<well>[A-P]\d+)_field(?P<site>\d+)_(?P<channel>ch\d)"
    )
    index = discover_plate("P9", tmp_path, fmt).index
    assert index[["plate", "well", "site", "channel", "timepoint"]].values.tolist() == [
        ["P9", "B07", 2, "ch1", 3],
        ["P9", "B07", 2, "ch2", 3],
    ]


def test_missing_plate_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="plate folder not found.*plate P2"):
        discover_plate("P2", tmp_path / "absent", "imagexpress")


def test_every_vendor_format_has_a_parser():
    from screening.io.discovery import PARSERS
    from screening.plate import VENDOR_FORMATS

    assert set(PARSERS) == {*VENDOR_FORMATS, "pattern"}
