"""Tracked survival end to end on the demo screen (``screening run`` of configs/example.yaml)."""

import shutil

import pandas as pd
import yaml

from screening.config import RunConfig
from screening.run.pipeline import read_manifest, score_run

NEURON_COLUMNS = ["plate", "well", "site", "track_id", "first_timepoint", "last_timepoint", "died",
                  "censor_reason", "y_px", "x_px"]


def test_demo_run_tracks_every_soma_and_scores_from_tracks(demo_run):
    neurons = pd.read_parquet(demo_run / "neurons.parquet")
    tracks = pd.read_parquet(demo_run / "tracks.parquet")
    fields = pd.read_parquet(demo_run / "fields.parquet")
    assert list(neurons.columns[: len(NEURON_COLUMNS)]) == NEURON_COLUMNS
    assert {"track_id", "timepoint", "y_px", "x_px", "area_px", "reporter_level", "status", "dim"} <= set(tracks.columns)
    assert {"shift_y_px", "shift_x_px", "shift_ok"} <= set(fields.columns)
    # Every counted soma of a usable field is on exactly one track (dim nuclei only continue tracks).
    counted = tracks[(tracks["status"] == "alive") & ~tracks["dim"]]
    alive = counted.groupby(["plate", "well", "site", "timepoint"]).size()
    usable = fields[fields["qc_pass"] & fields["shift_ok"]].set_index(["plate", "well", "site", "timepoint"])
    assert alive.reindex(usable.index, fill_value=0).tolist() == usable["n_neurons"].astype(int).tolist()
    # A death is called between the last timepoint seen and a later one; censored neurons say why.
    died = neurons[neurons["died"]]
    assert len(died) > 0 and (died["death_timepoint"] > died["last_timepoint"]).all()
    assert set(neurons.loc[~neurons["died"], "censor_reason"]) <= {"end", "left_field", "field_unusable", "unconfirmed"}
    assert (pd.read_csv(demo_run / "scores.csv")["survival"] == "tracked").all()
    report = (demo_run / "report.html").read_text(encoding="utf-8")
    assert "Kaplan-Meier" in report and "tracked neurons" in report
    # The report says how many neurons were followed through a dim timepoint (none is counted there).
    dim_tracks = tracks[tracks["dim"]].drop_duplicates(["plate", "well", "site", "track_id"])
    assert len(dim_tracks) > 0 and f"{len(dim_tracks)} followed through a dim timepoint" in report


def test_rescoring_honours_flags_and_the_counts_choice(demo_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    fields = pd.read_parquet(run / "fields.parquet")
    site = fields[fields["timepoint"] == 2].iloc[0]
    pd.DataFrame([{"plate": site["plate"], "well": site["well"], "site": site["site"], "reason": "bubble"}]).to_csv(
        run / "qc_flags.csv", index=False)
    score_run(run)
    tracks = pd.read_parquet(run / "tracks.parquet")
    flagged = tracks[(tracks["well"] == site["well"]) & (tracks["site"] == site["site"])]
    assert flagged.empty  # a flagged site has no usable timepoint: nobody is followed there
    before = pd.read_csv(demo_run / "scores.csv")
    config = RunConfig.model_validate(read_manifest(run)["config"])
    config.scoring.survival = "counts"
    score_run(run, config=config)
    after = pd.read_csv(run / "scores.csv")
    assert (after["survival"] == "counts").all()
    assert not after["hazard_ratio"].equals(before["hazard_ratio"])


def test_unknown_tracking_key_is_an_error(tmp_path):
    from screening.config import ConfigError, load_config

    config = yaml.safe_load(open("configs/example.yaml"))
    config["tracking"] = {"max_link_distance": 12}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    try:
        load_config(path)
    except ConfigError as exc:
        assert "tracking.max_link_distance" in str(exc)
    else:
        raise AssertionError("an unknown tracking key must be an error")


def test_report_refuses_tracks_that_are_not_the_scored_ones(demo_run, tmp_path):
    from screening.io.runfolder import RunFolderDamaged
    from screening.run.pipeline import report_run

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    assert {"neurons.parquet", "tracks.parquet"} <= set(read_manifest(run)["tables"])
    neurons = pd.read_parquet(run / "neurons.parquet")
    neurons.iloc[: len(neurons) // 2].to_parquet(run / "neurons.parquet", index=False)
    try:
        report_run(run)
    except RunFolderDamaged as exc:
        assert "neurons.parquet" in str(exc)
    else:
        raise AssertionError("a neurons.parquet that is not the scored one must stop the report")
