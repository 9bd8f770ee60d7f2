"""Multi-plane (z) fields reduced by plates[].planes, and Incucyte days from time stamps (issue #8)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
from typer.testing import CliRunner

from screening.cli import app
from screening.config import load_config
from screening.io.discovery import discover_plate
from screening.io.screen import field_planes, field_table, key_inputs, load_screen
from screening.run.tasks import measure_field_files, read_field

from .conftest import demo_patient_wells, write_zsteps

runner = CliRunner()
SHAPE = (48, 48)
LAYOUT = "well,patient,compound,concentration_um,role\nB03,pt1,DMSO,0,vehicle\n"


def spot_planes(n: int = 3, seed: int = 0) -> list[np.ndarray]:
    """``n`` uint16 planes of dim noise, each with a bright spot in its own place."""
    rng = np.random.default_rng(seed)
    planes = []
    for k in range(n):
        img = rng.integers(100, 200, SHAPE, dtype=np.uint16)
        img[5 + 12 * k: 10 + 12 * k, 5 + 12 * k: 10 + 12 * k] = 1000 * (k + 1)
        planes.append(img)
    return planes


def write_config(root: Path, fmt: str, channels: dict, **plate) -> Path:
    (root / "layout.csv").write_text(LAYOUT)
    config = {
        "name": "z",
        "pixel_size_um": 0.65,
        "channels": channels,
        "plates": [{"id": "P1", "path": "plate", "format": fmt, "layout": "layout.csv", **plate}],
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def harmony_plate(folder: Path, planes: dict[int, list[np.ndarray]]) -> None:
    """Harmony V5 export of well B03 field 1: channel -> planes (files r02c03f01pPP-chCsk1fk1fl1.tiff)."""
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for ch, stack in planes.items():
        for p, img in enumerate(stack, start=1):
            name = f"r02c03f01p{p:02d}-ch{ch}sk1fk1fl1.tiff"
            tifffile.imwrite(folder / name, img)
            images.append(
                f'<Image Version="1"><id>0203K1F1P{p}R{ch}</id><State>Ok</State><URL>{name}</URL>'
                f"<Row>2</Row><Col>3</Col><FieldID>1</FieldID><PlaneID>{p}</PlaneID><TimepointID>0</TimepointID>"
                f"<FlimID>1</FlimID><ChannelID>{ch}</ChannelID>"
                f'<ImageResolutionX Unit="m">6.5E-07</ImageResolutionX>'
                f'<PositionZ Unit="m">{p * 2}E-06</PositionZ></Image>'
            )
    (folder / "Index.idx.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<EvaluationInputData Version="1" '
        'xmlns="http://www.perkinelmer.com/PEHH/HarmonyV5"><Images>'
        + "".join(images) + "</Images></EvaluationInputData>"
    )


def cellvoyager_plate(folder: Path, planes: dict[int, list[np.ndarray]]) -> None:
    """CV7000 folder of well B03 field 1 with bts:ZIndex planes."""
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for ch, stack in planes.items():
        for z, img in enumerate(stack, start=1):
            name = f"PL1_B03_T0001F001L01A01Z{z:02d}C{ch:02d}.tif"
            tifffile.imwrite(folder / name, img)
            records.append(
                f'<bts:MeasurementRecord bts:Type="IMG" bts:TimePoint="1" bts:FieldIndex="1" bts:ZIndex="{z}" '
                f'bts:Ch="{ch}" bts:Row="2" bts:Column="3">{name}</bts:MeasurementRecord>'
            )
    ns = "http://www.yokogawa.co.jp/BTS/BTSSchema/1.0"
    (folder / "MeasurementData.mlf").write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n<bts:MeasurementData xmlns:bts="{ns}">'
        + "".join(records) + "</bts:MeasurementData>"
    )


def _only_field(config_path: Path):
    config = load_config(config_path)
    screen = load_screen(config)
    fields = field_table(screen, config)
    assert len(fields) == 1, fields
    return config, screen, fields.iloc[0].to_dict()


@pytest.mark.parametrize("layout", ["operetta", "cellvoyager"])
def test_three_planes_are_one_field_reduced_by_the_plate_rule(tmp_path, layout):
    reporter, nuclei = spot_planes(3, seed=1), spot_planes(3, seed=2)
    write = harmony_plate if layout == "operetta" else cellvoyager_plate
    write(tmp_path / "plate", {1: reporter, 2: nuclei})
    token = {"operetta": "ch{}", "cellvoyager": "C{:02d}"}[layout]
    config_path = write_config(tmp_path, layout, {"reporter": token.format(1), "nuclei": token.format(2)})
    config, screen, row = _only_field(config_path)
    assert screen.errors == [] and screen.warnings == []
    assert config.plates[0].planes == "max"  # the config's default
    assert row["plane_numbers"] == (1, 2, 3)
    planes = field_planes(row)
    assert list(planes["reporter"]) == [1, 2, 3] and planes["neurites"] == planes["reporter"]
    tokens = config.channels.tokens()
    images = read_field(planes, tokens, "max")
    np.testing.assert_array_equal(images["reporter"], np.maximum.reduce(reporter))
    np.testing.assert_array_equal(images["nuclei"], np.maximum.reduce(nuclei))
    assert images["reporter"].dtype == np.uint16
    assert images["neurites"] is images["reporter"]  # same files, read once
    # every spot survives the max projection
    for k in range(3):
        assert images["reporter"][6 + 12 * k, 6 + 12 * k] == 1000 * (k + 1)
    mean = read_field(planes, tokens, "mean")["reporter"]
    np.testing.assert_allclose(mean, np.mean(np.stack(reporter).astype(float), axis=0))
    np.testing.assert_array_equal(read_field(planes, tokens, 2)["reporter"], reporter[1])


def test_chosen_plane_from_config_and_missing_plane_fails_the_field(tmp_path):
    harmony_plate(tmp_path / "plate", {1: spot_planes(3)})
    config_path = write_config(tmp_path, "operetta", {"reporter": "ch1"}, planes=4)
    config, screen, row = _only_field(config_path)
    assert config.plates[0].planes == 4 and screen.plane_rules == {"P1": 4}
    # validate sees it up front ...
    assert len(screen.warnings) == 1
    assert "plates[].planes = 4" in screen.warnings[0] and "well B03 site 1" in screen.warnings[0]
    # ... and the run fails just that field, naming the plane and a file
    result = measure_field_files(field_planes(row), config, 0.65, config.plates[0].planes)
    assert result["status"] == "failed"
    assert "plane 4" in result["error"] and "plane(s) [1, 2, 3]" in result["error"]
    assert "r02c03f01p01-ch1sk1fk1fl1.tiff" in result["error"] and "ch1 (reporter)" in result["error"]


def test_imagexpress_zstep_folders_are_planes_and_metaxpress_projection_is_left_out(tmp_path):
    stack = spot_planes(3)
    for k, img in enumerate(stack, start=1):
        path = tmp_path / "TimePoint_1" / f"ZStep_{k}" / "PL_A01_s1_w1.TIF"
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(path, img)
    tifffile.imwrite(tmp_path / "TimePoint_1" / "PL_A01_s1_w1.TIF", np.maximum.reduce(stack))  # MetaXpress projection
    tifffile.imwrite(tmp_path / "TimePoint_1" / "PL_A01_s1_w2.TIF", stack[0])  # a channel imaged in one plane
    found = discover_plate("P", tmp_path, "imagexpress")
    assert found.problems == []
    index = found.index
    w1 = index[index["channel"] == "w1"]
    assert w1["plane"].tolist() == [1, 2, 3]
    assert all(f"ZStep_{k}" in p for k, p in zip((1, 2, 3), w1["path"], strict=True))
    assert index.loc[index["channel"] == "w2", "plane"].tolist() == [1]


def test_pattern_format_plane_group(tmp_path):
    from screening.config import PatternFormat

    for z in (1, 2):
        tifffile.imwrite(tmp_path / f"A01_f1_z{z}_ch1.tif", np.zeros((4, 4), np.uint16))
    fmt = PatternFormat(pattern=r"(?P<well>[A-P]\d+)_f(?P<site>\d+)_z(?P<plane>\d+)_(?P<channel>ch\d)")
    index = discover_plate("P", tmp_path, fmt).index
    assert index["plane"].tolist() == [1, 2] and len(index) == 2


def test_resume_key_holds_every_plane_file_and_the_rule(tmp_path):
    harmony_plate(tmp_path / "plate", {1: spot_planes(3)})
    config_path = write_config(tmp_path, "operetta", {"reporter": "ch1"})
    _, _, row = _only_field(config_path)
    files, text = key_inputs(row, "max")
    assert len(files) == 6 and text == ":planes=max"  # reporter and neurites, three planes each
    assert key_inputs(row, "mean")[1] != text and key_inputs(row, 2)[1] == ":planes=2"
    # a single-plane field keeps the key it had before planes were kept (old shards stay valid)
    single = {"path_reporter": "/a.tif", "path_neurites": "/a.tif", "files_reporter": ("/a.tif",),
              "files_neurites": ("/a.tif",), "plane_numbers": (1,)}
    assert key_inputs(single, "max") == ({"reporter": "/a.tif", "neurites": "/a.tif"}, "")
    assert key_inputs(single, "mean") == key_inputs(single, "max")


# --- Incucyte days ------------------------------------------------------------------------------------


def incucyte_plate(folder: Path, stamps: list[str]) -> None:
    for stamp in stamps:
        path = folder / "green" / f"VID1_B3_1_{stamp}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(path, np.zeros((4, 4), np.uint16))


def test_incucyte_days_from_time_stamps_unless_timepoints_given(tmp_path):
    # scans at 0, 2 d 3 h and 4 d after the first: fractional days 0, 2.125, 4
    incucyte_plate(tmp_path / "plate", ["2024y03m05d_09h00m", "2024y03m07d_12h00m", "2024y03m09d_09h00m"])
    config_path = write_config(tmp_path, "incucyte", {"reporter": "green"})
    config = load_config(config_path)
    screen = load_screen(config)
    assert screen.errors == []
    days = screen.index.set_index("timepoint")["day"].to_dict()
    assert days == {1: 0.0, 2: 2.125, 3: 4.0}
    assert field_table(screen, config)["day"].tolist() == [0.0, 2.125, 4.0]
    # timepoints: in the config wins
    raw = yaml.safe_load(config_path.read_text())
    raw["timepoints"] = {1: 0, 2: 2, 3: 4}
    config_path.write_text(yaml.safe_dump(raw))
    screen = load_screen(load_config(config_path))
    assert screen.index.set_index("timepoint")["day"].to_dict() == {1: 0.0, 2: 2.0, 3: 4.0}


def test_layout_without_clock_still_needs_timepoints(tmp_path):
    harmony_plate(tmp_path / "plate", {1: spot_planes(1)})
    config_path = write_config(tmp_path, "operetta", {"reporter": "ch1"})
    screen = load_screen(load_config(config_path))
    assert screen.errors == [] and screen.index["day"].tolist() == [0.0]


# --- end to end: a z-stacked copy of the demo screen ---------------------------------------------


@pytest.fixture
def zstack_demo(tmp_path):
    """One patient's wells of the committed demo, as-is and as MetaXpress ZStep_1..3 planes.

    Plane 2 is the original image, planes 1 and 3 dimmer copies, so the max projection
    and plane 2 both give back the original pixels.
    """
    config, plate, src, keep = demo_patient_wells()
    for name in ("flat", "z"):
        (tmp_path / name).mkdir()
        keep.to_csv(tmp_path / name / "layout.csv", index=False)
    for path in write_zsteps(src, keep, tmp_path / "z", lambda image: (image // 2, image, image // 3)):
        flat = tmp_path / "flat" / path.relative_to(src)
        flat.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, flat)
    configs = {}
    for name in ("flat", "z"):
        raw = {**config, "output": "run", "compute": {"scheduler": "threads", "workers": 1},
               "plates": [{**plate, "path": name, "layout": f"{name}/layout.csv"}]}
        configs[name] = tmp_path / f"{name}.yaml"
        configs[name].write_text(yaml.safe_dump(raw))
    return configs


MEASURED = ["plate", "well", "site", "timepoint", "day", "n_neurons", "neurite_length_um", "n_nuclei", "qc_pass",
            "status"]


def _run(config: Path, out: Path) -> tuple[pd.DataFrame, dict]:
    result = runner.invoke(app, ["run", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return pd.read_parquet(out / "fields.parquet"), json.loads((out / "manifest.json").read_text())["fields"]


def _set_rule(config: Path, rule) -> None:
    raw = yaml.safe_load(config.read_text())
    raw["plates"][0]["planes"] = rule
    config.write_text(yaml.safe_dump(raw))


def test_zstack_run_max_and_chosen_plane_match_flat_run_and_rule_change_recomputes(zstack_demo, tmp_path):
    flat, _ = _run(zstack_demo["flat"], tmp_path / "run-flat")
    assert (flat["status"] == "ok").all()
    out = tmp_path / "run-z"
    zmax, counts = _run(zstack_demo["z"], out)
    assert counts["computed"] == counts["total"] == len(flat)
    pd.testing.assert_frame_equal(flat[MEASURED], zmax[MEASURED])
    assert all(list(p) == [1, 2, 3] for p in zmax["plane_numbers"])
    # same rule: everything reused
    _, counts = _run(zstack_demo["z"], out)
    assert counts["reused"] == counts["total"]
    # another rule: everything recomputed; plane 2 is the original image
    _set_rule(zstack_demo["z"], 2)
    plane2, counts = _run(zstack_demo["z"], out)
    assert counts["computed"] == counts["total"]
    pd.testing.assert_frame_equal(flat[MEASURED], plane2[MEASURED])
    # mean of (x/2, x, x/3) is a dimmer image: recomputed, and a different measurement
    _set_rule(zstack_demo["z"], "mean")
    mean, counts = _run(zstack_demo["z"], out)
    assert counts["computed"] == counts["total"]
    assert (mean["status"] == "ok").all()


def test_validate_reports_plane_count_and_rule(zstack_demo):
    result = runner.invoke(app, ["validate", str(zstack_demo["z"])])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the console may wrap long lines
    assert "PLATE01: up to 3 planes per image (planes [1, 2, 3]); measured: max projection" in text
    assert "only the first plane" not in text
