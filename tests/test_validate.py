"""`screening validate`: every problem in one pass, exit 1 if any; a summary when clean."""

import numpy as np
import tifffile
import yaml
from typer.testing import CliRunner

from screening.cli import app

runner = CliRunner()


def _validate(config):
    return runner.invoke(app, ["validate", str(config)])


def test_clean_screen_exits_0_with_summary(tiny_screen):
    result = _validate(tiny_screen)
    assert result.exit_code == 0, result.output
    assert "1 plate(s), 4 wells, 16 fields (32 images)" in result.stdout
    assert "patients (2): pt1, pt2" in result.stdout
    assert "compounds (1): riluzole" in result.stdout
    assert "1->day 0, 2->day 7" in result.stdout


def test_three_planted_faults_reported_in_one_run(tiny_screen):
    plate = tiny_screen.parent / "data" / "P1"
    # an imaged well that is not in the plate map
    tifffile.imwrite(plate / "TimePoint_1" / "P1_C01_s1_w1.TIF", np.zeros((32, 32), np.uint16))
    # a missing channel file
    (plate / "TimePoint_2" / "P1_A02_s2_w2.TIF").unlink()
    # a TIFF cut short
    victim = plate / "TimePoint_2" / "P1_B01_s1_w1.TIF"
    victim.write_bytes(victim.read_bytes()[:-500])
    result = _validate(tiny_screen)
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "imaged well(s) C01 not in plate map" in text
    assert "well A02 site 2 timepoint 2: no file for channel w2" in text
    assert f"{victim}: truncated TIFF" in text.replace("\n", "")


def test_mixed_shapes_no_day_and_no_vehicle(tiny_screen):
    plate = tiny_screen.parent / "data" / "P1"
    tifffile.imwrite(plate / "TimePoint_1" / "P1_A01_s1_w1.TIF", np.zeros((64, 64), np.uint16))
    layout = plate / "layout.csv"
    layout.write_text(layout.read_text().replace("B01,pt2,DMSO,0,vehicle", "B01,pt2,X,1,treatment"))
    config = yaml.safe_load(tiny_screen.read_text())
    config["timepoints"] = {1: 0}
    tiny_screen.write_text(yaml.safe_dump(config))
    text = " ".join(_validate(tiny_screen).output.split())
    assert "images of different shapes" in text
    assert "timepoint(s) [2] found in the files have no day" in text
    assert "patient pt2: no vehicle wells" in text


def test_config_typo_and_missing_folder(tiny_screen):
    config = yaml.safe_load(tiny_screen.read_text())
    config["segmentation"] = {"soma_diamter_um": 12}
    tiny_screen.write_text(yaml.safe_dump(config))
    result = _validate(tiny_screen)
    assert result.exit_code == 1
    assert "segmentation.soma_diamter_um: unknown key; did you mean soma_diameter_um?" in " ".join(result.output.split())
    del config["segmentation"]
    config["plates"][0]["path"] = "data/P2"
    tiny_screen.write_text(yaml.safe_dump(config))
    result = _validate(tiny_screen)
    assert result.exit_code == 1
    assert "plate folder not found (plate P1)" in " ".join(result.output.split())


def test_plate_map_typo_exits_1_naming_line(tiny_screen):
    layout = tiny_screen.parent / "data" / "P1" / "layout.csv"
    layout.write_text(layout.read_text().replace("A01,pt1,DMSO,0,vehicle", "A01,pt1,DMSO,0,vehicel"))
    result = _validate(tiny_screen)
    assert result.exit_code == 1
    assert f"{layout}, line 2, column role: unknown role 'vehicel'" in "".join(result.output.split("\n"))
