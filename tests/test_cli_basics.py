"""What a new user meets first: ``--version`` and progress while ``screening simulate`` works."""

from __future__ import annotations

import io
import re
from importlib import metadata

from rich.console import Console
from typer.testing import CliRunner

from screening.cli import app
from screening.simulate import simulate_screen
from tests.test_simulate import TINY

runner = CliRunner()


def test_version_prints_the_installed_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"screening {metadata.version('screening')}"


def test_simulate_reports_progress_in_plain_lines(tmp_path):
    # Not a terminal (CliRunner): plain lines, the last one at the end, like a run's.
    result = runner.invoke(app, ["simulate", str(tmp_path / "demo"), "--preset", "demo"])
    assert result.exit_code == 0, result.output
    lines = re.findall(r"rendered (\d+)/(\d+) fields, [\d.]+ fields/s", result.output)
    assert lines and lines[-1][0] == lines[-1][1] == "96"  # demo: 24 wells x 1 site x 4 timepoints


def test_simulate_progress_is_a_bar_on_a_terminal(tmp_path):
    buffer = io.StringIO()
    terminal = Console(file=buffer, force_terminal=True, width=100)
    simulate_screen(tmp_path / "tiny", preset=TINY, seed=1, log=terminal)
    shown = buffer.getvalue()
    assert "rendering fields" in shown and "18/18" in shown  # 9 wells x 1 site x 2 timepoints
    assert "rendered 18/18" not in shown  # no plain lines on a terminal


def test_simulate_is_silent_without_a_console(tmp_path, capsys):
    simulate_screen(tmp_path / "tiny", preset=TINY, seed=1)
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""
