"""The screen run through the real engine: schedulers, resume after a kill, failed fields."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from screening.cli import app

from .conftest import REPO

runner = CliRunner()


@pytest.fixture
def mini_demo(tmp_path):
    """The committed demo screen cut to one patient's wells (fast enough to run several times)."""
    config = yaml.safe_load((REPO / "configs" / "example.yaml").read_text())
    plate = config["plates"][0]
    src = (REPO / "configs" / plate["path"]).resolve()
    layout = pd.read_csv((REPO / "configs" / plate["layout"]).resolve())
    first = layout["patient"].dropna().iloc[0]
    keep = layout[(layout["patient"] == first)].groupby("role").head(2)
    dst = tmp_path / "plate"
    for path in src.rglob("*.TIF"):
        if any(f"_{w}_" in path.name for w in keep["well"]):
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    keep.to_csv(dst / "layout.csv", index=False)
    config["plates"] = [{**plate, "path": "plate", "layout": "plate/layout.csv"}]
    config["output"] = "run"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run(config, *args):
    result = runner.invoke(app, ["run", str(config), *args])
    return result


def _fields(run_dir):
    return pd.read_parquet(run_dir / "fields.parquet")


def _manifest(run_dir):
    return json.loads((run_dir / "manifest.json").read_text())


def test_threads_processes_and_distributed_give_identical_fields(mini_demo, tmp_path):
    from distributed import LocalCluster

    out = {}
    for name, args in (("threads", ["--workers", "2"]),):
        result = _run(mini_demo, "--out", str(tmp_path / name), *args)
        assert result.exit_code == 0, result.output
        out[name] = _fields(tmp_path / name)
    config = yaml.safe_load(mini_demo.read_text())
    config["compute"] = {"scheduler": "processes", "workers": 2}
    mini_demo.write_text(yaml.safe_dump(config))
    assert _run(mini_demo, "--out", str(tmp_path / "processes")).exit_code == 0
    out["processes"] = _fields(tmp_path / "processes")
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
        result = _run(mini_demo, "--out", str(tmp_path / "dist"), "--scheduler", cluster.scheduler_address)
        assert result.exit_code == 0, result.output
    out["distributed"] = _fields(tmp_path / "dist")
    assert (out["threads"]["status"] == "ok").all()
    assert out["threads"]["n_neurons"].sum() > 0
    pd.testing.assert_frame_equal(out["threads"], out["processes"])
    pd.testing.assert_frame_equal(out["threads"], out["distributed"])


def test_killed_run_resumes_and_matches_a_clean_run(mini_demo, tmp_path):
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "screening", "run", str(mini_demo), "--out", str(killed), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while len(list(killed.glob("shards/*/*.parquet"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        assert proc.poll() is None, "run finished before it could be killed; make the test screen larger"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "fields.parquet").exists()
    assert not list(killed.rglob("*.tmp"))
    assert _run(mini_demo, "--out", str(killed)).exit_code == 0
    clean = tmp_path / "clean"
    assert _run(mini_demo, "--out", str(clean)).exit_code == 0
    counts = _manifest(killed)["fields"]
    assert counts["reused"] >= 2 and counts["computed"] < counts["total"]
    assert counts["reused"] + counts["computed"] == counts["total"]
    pd.testing.assert_frame_equal(_fields(killed), _fields(clean))
    pd.testing.assert_frame_equal(pd.read_parquet(killed / "wells.parquet"), pd.read_parquet(clean / "wells.parquet"))
    # a third run reuses everything; touching one file recomputes just that field
    assert _run(mini_demo, "--out", str(clean)).exit_code == 0
    assert _manifest(clean)["fields"]["computed"] == 0
    one = _fields(clean)["path_reporter"].iloc[0]
    os.utime(one, ns=(time.time_ns(), time.time_ns()))
    assert _run(mini_demo, "--out", str(clean)).exit_code == 0
    assert _manifest(clean)["fields"]["computed"] == 1
    assert _run(mini_demo, "--out", str(clean), "--force").exit_code == 0
    assert _manifest(clean)["fields"]["reused"] == 0


def test_corrupt_tiff_and_missing_channel_fail_only_their_fields(mini_demo, tmp_path):
    plate = mini_demo.parent / "plate"
    files = sorted(plate.rglob("*_w1.TIF"))
    corrupt, missing = files[0], sorted(plate.rglob("*_w2.TIF"))[-1]
    corrupt.write_bytes(corrupt.read_bytes()[:300])
    missing.unlink()
    result = _run(mini_demo, "--out", str(tmp_path / "run"))
    fields = _fields(tmp_path / "run")
    failed = fields[fields["status"] == "failed"]
    assert len(failed) == 2
    assert failed["error"].str.contains(corrupt.name).any()
    assert failed["error"].str.contains("no file for channel w2").any()
    assert (fields.drop(failed.index)["status"] == "ok").all()
    # counts are stored as integers; a failed field's count is missing, not 0 or NaN-as-float
    assert fields["n_neurons"].dtype == "Int64" and fields["n_nuclei"].dtype == "Int64"
    assert failed["n_neurons"].isna().all() and fields.drop(failed.index)["n_neurons"].notna().all()
    assert pd.read_parquet(tmp_path / "run" / "wells.parquet")["n_neurons"].dtype == "Int64"
    ranks = pd.read_csv(tmp_path / "run" / "ranking.csv", dtype=str, keep_default_na=False)["rank"]
    assert ranks.str.fullmatch(r"\d*").all() and (ranks != "").any()  # "3", never "3.0"
    n = len(fields)
    assert result.exit_code == (0 if 2 / n <= 0.05 else 3), result.output
    config = yaml.safe_load(mini_demo.read_text())
    config["compute"] = {"max_failed_fraction": 0.0}
    mini_demo.write_text(yaml.safe_dump(config))
    result = _run(mini_demo, "--out", str(tmp_path / "run"))
    assert result.exit_code == 3
    assert "fields failed (> compute.max_failed_fraction 0)" in result.output
    assert corrupt.name in result.output


def test_each_plate_is_calibrated_once_shown_in_the_report_and_its_calibration_keys_the_fields(mini_demo, tmp_path):
    run = tmp_path / "cal"
    assert _run(mini_demo, "--out", str(run)).exit_code == 0
    cal = pd.read_csv(run / "calibration.csv")
    assert cal["plate"].tolist() == ["PLATE01"]
    row = cal.iloc[0]
    # The demo's nuclei are 10 µm (ellipses of 0.75-1.2 x that), somata 15 µm, read off its images.
    assert 8.0 <= row["nucleus_diameter_um"] <= 11.0 and 11.0 <= row["soma_diameter_um"] <= 19.0
    assert row["n_fields"] >= 1 and row["source"].startswith("images")
    report = (run / "report.html").read_text()
    assert 'id="calibration-table"' in report and "PLATE01" in report
    # A rerun reuses the calibration and every field.
    assert _run(mini_demo, "--out", str(run)).exit_code == 0
    assert _manifest(run)["fields"]["computed"] == 0
    # A different calibration (here edited by hand; normally new images or config) recomputes the plate.
    cal.loc[0, "nucleus_diameter_um"] = 8.0
    cal.to_csv(run / "calibration.csv", index=False)
    assert _run(mini_demo, "--out", str(run)).exit_code == 0
    counts = _manifest(run)["fields"]
    assert counts["computed"] == counts["total"]
    assert pd.read_csv(run / "calibration.csv").loc[0, "nucleus_diameter_um"] == 8.0
