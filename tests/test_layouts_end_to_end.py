"""One simulated screen in all four vendor layouts gives the same measurements (issue #8)."""

import pandas as pd
from typer.testing import CliRunner

from screening.cli import app

runner = CliRunner()
COMPARED = ["plate", "well", "site", "timepoint", "day", "n_neurons", "neurite_length_um", "n_nuclei",
            "qc_pass", "status", "focus_score"]


def test_same_screen_in_four_layouts_gives_identical_fields(tmp_path):
    tables = {}
    for layout in ("imagexpress", "operetta", "cellvoyager", "incucyte"):
        folder = tmp_path / layout
        result = runner.invoke(app, ["simulate", str(folder), "--preset", "demo", "--layout", layout])
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["run", str(folder / "config.yaml"), "--out", str(tmp_path / f"run-{layout}")])
        assert result.exit_code == 0, result.output
        tables[layout] = pd.read_parquet(tmp_path / f"run-{layout}" / "fields.parquet")[COMPARED]
    reference = tables.pop("imagexpress")
    assert len(reference) > 0 and (reference["status"] == "ok").all()
    for layout, table in tables.items():
        pd.testing.assert_frame_equal(reference, table, obj=f"fields.parquet of {layout}")
