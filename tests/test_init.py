"""``screening init``: from plate folders to a config and plate-map templates (issue #19).

Every supported layout is simulated with ``screening simulate --layout`` and what
``init`` detects is compared with the simulator's own ``config.yaml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
from typer.testing import CliRunner

from screening.cli import app
from screening.plate import VENDOR_FORMATS
from screening.config import load_config
from screening.init import InitError, assign_channels, role_of, write_init
from screening.io.discovery import discover_plate
from screening.io.platemap import PlateMapError, read_plate_map
from screening.validate import validate_config_file

runner = CliRunner()
LAYOUTS = VENDOR_FORMATS


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> dict[str, Path]:
    """The demo screen written in every layout by the CLI; layout -> its folder."""
    root = tmp_path_factory.mktemp("layouts")
    for layout in LAYOUTS:
        result = runner.invoke(app, ["simulate", str(root / layout), "--preset", "demo", "--layout", layout])
        assert result.exit_code == 0, result.output
    return {layout: root / layout for layout in LAYOUTS}


def _init(folder: Path, out: Path, *extra) -> tuple[Path, object]:
    config = out / "config.yaml"
    result = runner.invoke(app, ["init", str(folder / "PLATE01"), "-o", str(config), *extra])
    return config, result


def _fill_from(template: Path, simulated_map: Path) -> None:
    """Type the simulator's plate map into the template, well by well (as a user would)."""
    filled = pd.read_csv(template, dtype=str, keep_default_na=False)
    truth = pd.read_csv(simulated_map, dtype=str, keep_default_na=False).set_index("well")
    for column in ("patient", "compound", "role"):
        filled[column] = filled["well"].map(truth[column])
    filled["concentration_uM"] = filled["well"].map(truth["concentration_um"])
    filled.to_csv(template, index=False)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_init_detects_what_the_simulator_wrote(simulated, layout, tmp_path):
    config_path, result = _init(simulated[layout], tmp_path)
    assert result.exit_code == 0, result.output
    mine, theirs = load_config(config_path), load_config(simulated[layout] / "config.yaml")
    assert mine.plates[0].format == theirs.plates[0].format == layout
    assert mine.plates[0].path.resolve() == theirs.plates[0].path.resolve()
    assert (mine.channels.reporter, mine.channels.nuclei) == (theirs.channels.reporter, theirs.channels.nuclei)
    # Named from the metadata where the layout names channels; otherwise by order, and the config says so.
    text = config_path.read_text()
    guessed = {"imagexpress": 2, "operetta": 0, "cellvoyager": 0, "incucyte": 1}[layout]
    assert text.count("by channel order; CHECK") == guessed
    # The template lists exactly the imaged wells, every other column empty.
    template = pd.read_csv(tmp_path / "layouts" / "PLATE01.csv", dtype=str, keep_default_na=False)
    assert list(template.columns) == ["well", "patient", "compound", "concentration_uM", "role"]
    imaged = discover_plate("PLATE01", theirs.plates[0].path, layout).index["well"]
    assert template["well"].tolist() == sorted(set(imaged))
    assert (template.drop(columns="well") == "").all().all()
    # Pixel size and days: what the screen resolves from this config equals the simulator's.
    report = validate_config_file(config_path)
    expected_days = sorted((t, d) for t, d in theirs.timepoints.items())
    assert report.screen.pixel_size_um.get("PLATE01", mine.pixel_size_um) == pytest.approx(0.65)
    if layout == "imagexpress":  # no acquisition times in these TIFFs: the days are left to the user
        assert mine.timepoints is None and "FILL IN: the files carry no acquisition times" in text
        assert any("timepoint(s) [2, 3, 4] found in the files have no day" in p for p in report.problems)
    else:
        assert report.summary["timepoints"] == expected_days


@pytest.mark.parametrize("layout", ["operetta", "imagexpress"])
def test_validate_names_what_is_left_to_fill(simulated, layout, tmp_path):
    config_path, result = _init(simulated[layout], tmp_path)
    assert result.exit_code == 0, result.output
    checked = runner.invoke(app, ["validate", str(config_path)])
    assert checked.exit_code == 1
    problems = [line for line in checked.output.splitlines() if line.startswith("error:")]
    template = tmp_path / "layouts" / "PLATE01.csv"
    assert f"error: {template}: 24 well(s) not filled in yet (A01, A03," in checked.output
    assert "role (vehicle, positive_control, treatment, or empty" in checked.output
    # one line for the whole plate map, not one per well; imagexpress also lacks its days
    assert len(problems) == (1 if layout == "operetta" else 2)


def test_from_plate_folder_to_a_run_with_the_docs_only(simulated, tmp_path):
    # The acceptance path on an Operetta plate: init, fill the map, validate, run.
    config_path, result = _init(simulated["operetta"], tmp_path)
    assert result.exit_code == 0, result.output
    assert "next: fill in the plate map(s)" in result.output
    _fill_from(tmp_path / "layouts" / "PLATE01.csv", simulated["operetta"] / "PLATE01" / "layout.csv")
    checked = runner.invoke(app, ["validate", str(config_path)])
    assert checked.exit_code == 0, checked.output
    assert "patients (2): C9ORF72-1, SOD1-A4V" in checked.output
    ran = runner.invoke(app, ["run", str(config_path)])
    assert ran.exit_code == 0, ran.output
    fields = pd.read_parquet(tmp_path / "runs" / "PLATE01" / "fields.parquet")
    assert len(fields) == 24 * 4 and (fields["status"] == "ok").all()
    assert sorted(fields["day"].unique()) == [0.0, 3.0, 7.0, 14.0]
    assert (tmp_path / "runs" / "PLATE01" / "report.html").is_file()


def test_init_keeps_existing_files_unless_forced(simulated, tmp_path):
    config_path, _ = _init(simulated["operetta"], tmp_path)
    template = tmp_path / "layouts" / "PLATE01.csv"
    template.write_text("well,patient,compound,concentration_uM,role\nA01,p,DMSO,0,vehicle\n")
    again = _init(simulated["operetta"], tmp_path)[1]
    assert again.exit_code == 1 and "already exist" in again.output and "--force" in again.output
    assert "DMSO" in template.read_text()
    forced = _init(simulated["operetta"], tmp_path, "--force")[1]
    assert forced.exit_code == 0 and "DMSO" not in template.read_text()


def test_several_plates_one_config(simulated, tmp_path):
    same = [shutil.copytree(simulated["operetta"] / "PLATE01", tmp_path / f"op{i}" / "PLATE01") for i in (1, 2)]
    result = write_init(same, tmp_path / "two" / "config.yaml")
    config = load_config(result.config)
    assert [p.id for p in config.plates] == ["PLATE01", "PLATE01_2"]
    assert sorted(p.name for p in (tmp_path / "two" / "layouts").iterdir()) == ["PLATE01.csv", "PLATE01_2.csv"]
    # Operetta names channels ch1/ch2, CellVoyager C01/C02: one config cannot name both.
    mixed = [same[0], shutil.copytree(simulated["cellvoyager"] / "PLATE01", tmp_path / "cv" / "PLATE01")]
    with pytest.raises(InitError, match=r"name their channels differently \(PLATE01: ch1, ch2; PLATE01_2: C01, C02\)"):
        write_init(mixed, tmp_path / "mixed" / "config.yaml")
    assert not (tmp_path / "mixed").exists()


def test_a_folder_without_images_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["init", str(tmp_path / "empty"), "-o", str(tmp_path / "c.yaml")])
    assert result.exit_code == 1
    assert "no supported layout found" in result.output and "{pattern: REGEX}" in result.output
    assert not (tmp_path / "c.yaml").exists()


# --- channel roles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "role"),
    [("DAPI", "nuclei"), ("HOECHST 33342", "nuclei"), ("405", "nuclei"), ("H2B-GFP", "nuclei"),
     ("HB9::GFP", "reporter"), ("EGFP", "reporter"), ("Alexa 488", "reporter"), ("FITC", "reporter"),
     ("green", "reporter"), ("TUJ1 Alexa 647", "neurites"), ("MAP2", "neurites"),
     ("Brightfield", "unused"), ("phase", "unused"), ("BF", "unused"),
     ("W1", None), ("red", None), ("Cy5", None), ("ch1", None)],
)
def test_role_of_a_channel_name(name, role):
    assert role_of(name) == role


def test_roles_by_name_then_by_order():
    named = assign_channels(["ch1", "ch2", "ch3"], {"ch1": "TUJ1", "ch2": "Hoechst", "ch3": "GFP"})
    assert named.roles == {"neurites": "ch1", "nuclei": "ch2", "reporter": "ch3"} and named.guessed == []
    # w10 sorts after w2 (natural order); an unnamed pair goes reporter, nuclei.
    ordered = assign_channels(["w10", "w2"], {})
    assert ordered.roles == {"reporter": "w2", "nuclei": "w10"} and ordered.guessed == ["reporter", "nuclei"]
    # A named nuclear stain leaves the reporter to the first other channel.
    mixed = assign_channels(["C01", "C02", "C03"], {"C01": "DAPI", "C03": "BF"})
    assert mixed.roles == {"nuclei": "C01", "reporter": "C02"} and "not used" in mixed.reasons["C03"]


# --- what the layouts' metadata give init -------------------------------------------------------------


def _metaxpress_tiff(path: Path, stamp: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    description = (
        '<MetaData><prop id="Description" type="string" value=""/><PlaneInfo>'
        f'<prop id="acquisition-time-local" type="time" value="{stamp}"/></PlaneInfo></MetaData>'
    )
    tifffile.imwrite(path, np.zeros((4, 4), np.uint16), description=description, metadata=None)


def test_imagexpress_days_from_metaxpress_acquisition_times(tmp_path):
    plate = tmp_path / "P"
    for t, stamp in ((1, "20240816 09:49:42.978"), (2, "20240819 21:49:42.978")):
        for well in ("B02", "B03"):
            _metaxpress_tiff(plate / f"TimePoint_{t}" / f"P_{well}_s1_w1.TIF", stamp)
    index = discover_plate("P", plate, "imagexpress").index
    assert index.groupby("timepoint")["day"].agg(set).to_dict() == {1: {0.0}, 2: {3.5}}


def test_channel_names_from_each_layouts_metadata(simulated, tmp_path):
    from screening.simulate.layouts import convert_layout

    names = {layout: discover_plate("P", simulated[layout] / "PLATE01", layout).channel_names for layout in LAYOUTS}
    assert names["operetta"] == {"ch1": "HB9::GFP", "ch2": "Hoechst 33342"}
    assert names["cellvoyager"] == {"C01": "488", "C02": "405"}
    assert names["imagexpress"] == names["incucyte"] == {}  # no HTD; Incucyte folders are the names
    # ImageXpress plates with their .HTD: WaveName
    htd = convert_layout(simulated["imagexpress"], "imagexpress", tmp_path / "htd").parent
    assert discover_plate("P", htd / "PLATE01", "imagexpress").channel_names == {"w1": "HB9::GFP", "w2": "Hoechst 33342"}


def test_comments_stay_out_of_the_values(simulated, tmp_path):
    config_path, _ = _init(simulated["incucyte"], tmp_path)
    raw = yaml.safe_load(config_path.read_text())
    assert set(raw) == {"name", "output", "channels", "plates"}
    assert raw["channels"] == {"reporter": "green", "nuclei": "red"}


# --- plate maps: units and templates ---------------------------------------------------------------------


def test_plate_map_reads_concentration_in_micromolar_under_either_name(tmp_path):
    for header in ("concentration_uM", "concentration_um"):
        path = tmp_path / f"{header}.csv"
        path.write_text(f"well,patient,compound,{header},role\nA1,p,cpd,2.5,treatment\nA2,p,DMSO,,vehicle\n")
        table = read_plate_map(path)
        assert table["concentration_um"].tolist() == [2.5, 0.0]
    bad = tmp_path / "bad.csv"
    bad.write_text("well,patient,compound,concentration_uM,role\nA1,p,cpd,ten,treatment\nA2,p,cpd,1,\n")
    with pytest.raises(PlateMapError) as info:
        read_plate_map(bad)
    assert info.value.problems == [
        f"{bad}, line 2, column concentration_uM: 'ten' is not a number (µM)",
        f"{bad}, line 3, column role: empty; use one of vehicle, positive_control, treatment, empty",
    ]
