from pathlib import Path

import pytest
import yaml

from screening.config import ConfigError, load_config, parse_config

BASE = {
    "name": "s",
    "channels": {"reporter": "w1"},
    "plates": [{"id": "P1", "path": "plates/P1", "layout": "plates/P1/layout.csv"}],
}


def _with(**changes):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data.update(changes)
    return data


def test_unknown_nested_key_names_dotted_path_and_suggests():
    data = _with(segmentation={"soma_diamter_um": 12})
    with pytest.raises(ConfigError) as info:
        parse_config(data, base_dir=Path("/x"))
    assert "segmentation.soma_diamter_um: unknown key; did you mean soma_diameter_um?" in str(info.value)


def test_unknown_key_in_list_item_is_reported_with_index():
    data = _with(plates=[{"id": "P1", "path": "p", "layout": "l.csv", "formt": "imagexpress"}])
    with pytest.raises(ConfigError) as info:
        parse_config(data, base_dir=Path("/x"))
    assert "plates.0.formt: unknown key; did you mean format?" in str(info.value)


def test_every_problem_listed_at_once():
    data = _with(chanels={}, compute={"scheduler": "gpu"})
    del data["channels"]
    with pytest.raises(ConfigError) as info:
        parse_config(data, base_dir=Path("/x"))
    text = str(info.value)
    assert "chanels: unknown key; did you mean channels?" in text
    assert "channels: required key is missing" in text
    assert "compute.scheduler" in text


def test_relative_paths_resolve_against_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "screens"
    folder.mkdir()
    (folder / "c.yaml").write_text(yaml.safe_dump(BASE))
    monkeypatch.chdir(tmp_path)
    config = load_config("screens/c.yaml")
    assert config.plates[0].path == folder.resolve() / "plates/P1"
    assert config.plates[0].layout == folder.resolve() / "plates/P1/layout.csv"
    assert config.output == folder.resolve() / "runs" / "s"


def test_defaults_live_in_the_model_in_physical_units():
    config = parse_config(_with(), base_dir=Path("/x"))
    assert config.segmentation.soma_diameter_um > 0
    assert config.compute.scheduler == "threads"
    assert config.channels.neurite_token == "w1"
    assert config.day_of(1) == 0.0 and config.day_of(2) is None


def test_unknown_format_and_bad_pattern_are_errors():
    with pytest.raises(ConfigError, match="unknown format 'metaxpres'"):
        parse_config(_with(plates=[{"id": "P", "path": "p", "layout": "l", "format": "metaxpres"}]), base_dir=Path("/"))
    with pytest.raises(ConfigError, match="lacks named group"):
        parse_config(
            _with(plates=[{"id": "P", "path": "p", "layout": "l", "format": {"pattern": r"(?P<well>\w+)"}}]),
            base_dir=Path("/"),
        )


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_measurement_hash_changes_with_segmentation_only():
    a = parse_config(_with(), base_dir=Path("/x"))
    b = parse_config(_with(segmentation={"soma_diameter_um": 20}), base_dir=Path("/x"))
    c = parse_config(_with(scoring={"fdr_q": 0.05}), base_dir=Path("/x"))
    assert a.measurement_hash() != b.measurement_hash()
    assert a.measurement_hash() == c.measurement_hash()


def test_command_line_overrides_fold_into_compute_once():
    config = parse_config(_with(compute={"workers": 4}), base_dir=Path("/x"))
    assert config.with_compute() is config  # nothing given: nothing changes
    over = config.with_compute(workers=1, address="tcp://10.0.0.1:8786")
    assert (over.compute.workers, over.compute.address) == (1, "tcp://10.0.0.1:8786")
    assert (config.compute.workers, config.compute.address) == (4, None)  # the loaded config is untouched
    assert over.with_compute(address="tcp://h:1").compute.workers == 1
    # How many workers run never changes what a field measures (no re-measuring on a rerun).
    assert over.measurement_hash() == config.measurement_hash()
