"""The ``screening`` command line (README.md, "Command line").

Exit codes (docs/run-folder.md): 0 success (warnings allowed); 1 invalid input
(config, plate map, images, qc_flags.csv); 2 usage error; 3 run finished but too
many fields failed; 4 a file or folder cannot be written or read (a file in the
way, no permission, disk full); 5 the run folder is in use by another screening
process; 6 the run folder is damaged or its tables do not belong together (score,
report); 7 the Dask scheduler cannot be started or reached; 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


class ExitCode(IntEnum):
    """What the exit status of a ``screening`` command means."""

    OK = 0
    INVALID_INPUT = 1
    USAGE = 2
    TOO_MANY_FAILED = 3
    CANNOT_WRITE = 4
    RUN_FOLDER_BUSY = 5
    RUN_FOLDER_DAMAGED = 6
    SCHEDULER = 7
    INTERRUPTED = 130
    TERMINATED = 143



app = typer.Typer(
    name="screening",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def _print_version(value: bool) -> None:
    if value:
        from screening import __version__

        out.print(f"screening {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """Drug screens on iPSC-derived motor neurons: plate images -> counts -> hazard ratios."""


def _fail(message: str, code: int = ExitCode.INVALID_INPUT):
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(int(code))


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch system's time limit, ``kill``): stop as for Ctrl-C, exit 143."""


def _exit_code(exc: BaseException) -> ExitCode | None:
    from screening.run.cluster import SchedulerError
    from screening.config import ConfigError
    from screening.io.runfolder import RunFolderBusy, RunFolderDamaged
    from screening.run.pipeline import InputError

    # Most specific first: WriteError is an OSError, RunFolderDamaged and InputError are ValueErrors.
    for kind, code in (
        (RunFolderBusy, ExitCode.RUN_FOLDER_BUSY), (RunFolderDamaged, ExitCode.RUN_FOLDER_DAMAGED),
        (InputError, ExitCode.INVALID_INPUT), (ConfigError, ExitCode.INVALID_INPUT),
        (SchedulerError, ExitCode.SCHEDULER), (OSError, ExitCode.CANNOT_WRITE),
    ):
        if isinstance(exc, kind):
            return code
    return None


def _os_error_message(exc: OSError) -> str:
    """A WriteError says path, cause and what to do; any other OSError names at least its path."""
    from screening.io.atomic import WriteError

    if isinstance(exc, WriteError) or not exc.filename:
        return str(exc)
    return f"{exc.filename}: {exc.strerror or exc}"


@contextmanager
def _answered(interrupted: str | Callable[[], str]):
    """Turn the errors a command can meet into one line and its exit code; ``interrupted``
    is what to tell the user on Ctrl-C or SIGTERM (what was kept, how to go on)."""
    previous = None
    if hasattr(signal, "SIGTERM"):
        try:
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread: leave the handler alone
            previous = None
    try:
        yield
    except KeyboardInterrupt as exc:
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        told = interrupted() if callable(interrupted) else interrupted
        err.print(f"[yellow]{what}:[/yellow] {told}", soft_wrap=True)
        raise typer.Exit(int(ExitCode.TERMINATED if isinstance(exc, Terminated) else ExitCode.INTERRUPTED)) from None
    except Exception as exc:
        code = _exit_code(exc)
        if code is None:
            raise
        _fail(_os_error_message(exc) if isinstance(exc, OSError) else str(exc), code)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _on_sigterm(signum, frame):
    raise Terminated()


@app.command()
def init(
    folders: Annotated[list[Path], typer.Argument(help="plate folder(s), one per plate")],
    output: Annotated[Path, typer.Option("-o", "--output", help="config to write")] = Path("config.yaml"),
    name: Annotated[str | None, typer.Option(help="run name (default: the plate id, or the config's folder)")] = None,
    force: Annotated[bool, typer.Option(help="replace an existing config and plate-map templates")] = False,
):
    """Write a commented config.yaml and a plate-map template per plate from plate folders."""
    from screening.init import InitError, write_init

    try:
        result = write_init(folders, output, name=name, force=force)
    except InitError as exc:
        _fail(str(exc))
    for s in result.surveys:
        pixel = f"{s.pixel_size_um:.4g} µm/px" if s.pixel_size_um else "pixel size unknown"
        out.print(
            f"{s.id}: {s.format}, {s.index['well'].nunique()} wells x {s.index['site'].nunique()} site(s), "
            f"{s.index['timepoint'].nunique()} timepoint(s), channels {', '.join(sorted(set(s.index['channel'])))}, "
            f"{pixel}", soft_wrap=True,
        )
        for problem in s.problems:
            err.print(f"[yellow]note:[/yellow] {problem}", soft_wrap=True)
    for role, token in result.channels.roles.items():
        out.print(f"channel {role}: {token} ({result.channels.reasons[token]})", soft_wrap=True)
    days = ", ".join(
        f"{t}->day {round(min(d.values()), 3):g}" if d else f"{t}->day ?" for t, d in result.days.items()
    )
    out.print(f"timepoints: {days}", soft_wrap=True)
    out.print(f"wrote {result.config} and " + ", ".join(str(p) for p in result.layouts.values()), soft_wrap=True)
    out.print(
        "next: fill in the plate map(s) (docs/plate-map.md), check the lines marked FILL IN / CHECK in "
        f"{result.config}, then: screening validate {result.config}", soft_wrap=True,
    )


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="run config YAML")]):
    """Check config, plate folders, plate maps and images; list every problem (exit 1 if any)."""
    from screening.validate import describe_planes, validate_config_file

    report = validate_config_file(config)
    for problem in report.errors:
        err.print(f"[red]error:[/red] {problem}", soft_wrap=True)
    for problem in report.warnings:
        err.print(f"[yellow]warning:[/yellow] {problem}", soft_wrap=True)
    if report.summary:
        s = report.summary
        days = ", ".join(f"{t}->day {d:g}" for t, d in s["timepoints"] if d == d)
        out.print(
            f"{s['plates']} plate(s), {s['wells']} wells, {s['fields']} fields ({s['images']} images)\n"
            f"timepoints: {days}\n"
            f"planes: {describe_planes(s['planes'])}\n"
            f"patients ({len(s['patients'])}): {', '.join(s['patients'])}\n"
            f"compounds ({len(s['compounds'])}): {', '.join(s['compounds'])}"
        )
    if not report.ok:
        err.print(
            f"{len(report.problems)} problem(s) found in {config}: {len(report.errors)} error(s) "
            f"(`screening run` refuses them), {len(report.warnings)} warning(s) (the fields concerned fail)"
        )
        raise typer.Exit(int(ExitCode.INVALID_INPUT))
    out.print(f"[green]ok:[/green] {config} is ready to run")


@app.command()
def simulate(
    outdir: Annotated[Path, typer.Argument(help="folder to write the synthetic screen into")],
    seed: Annotated[int, typer.Option(help="random seed; same seed, same bytes")] = 0,
    preset: Annotated[
        str, typer.Option(help="demo | small | screen | null | hard | varied (look drawn from the seed)")
    ] = "demo",
    layout: Annotated[str, typer.Option(help="imagexpress | operetta | cellvoyager | incucyte")] = "imagexpress",
    overwrite: Annotated[bool, typer.Option(help="replace the contents of a non-empty OUTDIR")] = False,
):
    """Write a synthetic screen with ground truth and a ready config.yaml."""
    import shutil
    import tempfile

    from screening.simulate import PRESET_NAMES, simulate_screen
    from screening.simulate.layouts import convert_layout

    if preset not in PRESET_NAMES:
        err.print(f"[red]error:[/red] unknown preset {preset!r}; use one of {', '.join(PRESET_NAMES)}")
        raise typer.Exit(2)
    from screening.plate import VENDOR_FORMATS

    if layout not in VENDOR_FORMATS:
        err.print(f"[red]error:[/red] unknown layout {layout!r}; use one of {', '.join(VENDOR_FORMATS)}")
        raise typer.Exit(2)
    if outdir.is_dir() and any(outdir.iterdir()) and not overwrite:
        _fail(f"{outdir} is not empty; choose a new folder or pass --overwrite to replace it")
    if layout == "imagexpress":
        config_path = simulate_screen(outdir, preset=preset, seed=seed, overwrite=overwrite, log=err)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            simulate_screen(Path(tmp) / "screen", preset=preset, seed=seed, log=err)
            err.print(f"writing the {layout} layout")
            if outdir.exists():
                shutil.rmtree(outdir)
            config_path = convert_layout(Path(tmp) / "screen", layout, outdir)
    out.print(f"wrote {preset} screen (seed {seed}, {layout} layout) to {outdir}; config: {config_path}", soft_wrap=True)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="run config YAML")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="run folder (overrides output:)")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="worker threads/processes")] = None,
    address: Annotated[str | None, typer.Option(
        "--address", "--scheduler", help="tcp://HOST:PORT of a running Dask scheduler (compute.address)")] = None,
    force: Annotated[bool, typer.Option(help="recompute fields that are already measured")] = False,
):
    """Measure every field, then score and report: the whole screen."""
    from screening.config import load_config
    from screening.run.pipeline import run_screen

    with _answered("nothing was written"):
        cfg = load_config(config)
    run_dir = Path(out_dir or cfg.output)
    with _answered(_resume_message(config, run_dir)):
        result = run_screen(cfg.with_compute(workers=workers, address=address), out_dir=run_dir, force=force, log=err)
    out.print(f"run folder: {result.run_dir}")
    if result.too_many_failed:
        _fail(result.failure_message, ExitCode.TOO_MANY_FAILED)


def _resume_message(config: Path, run_dir: Path) -> Callable[[], str]:
    """What a stopped run kept and how to resume it (counted when it is stopped)."""

    def message() -> str:
        from screening.run.shards import SHARD_DIR

        kept = len(list((run_dir / SHARD_DIR).glob("*/*.parquet")))
        return (
            f"the measurements of {kept} well(s) are kept in {run_dir / SHARD_DIR}; "
            f"`screening run {config} --out {run_dir}` resumes from them. Every table in "
            f"{run_dir} is whole: each is replaced in one step, or not at all"
        )

    return message


@app.command()
def score(run_dir: Annotated[Path, typer.Argument(help="run folder of a finished run")]):
    """Re-score from existing measurements (after QC flags changed)."""
    from screening.run.pipeline import score_run

    with _answered(f"every table in {run_dir} is whole (old or new); `screening score {run_dir}` starts again"):
        written = score_run(run_dir, log=err)
    out.print("wrote " + ", ".join(str(p) for p in written))


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="run folder of a finished run")]):
    """Rewrite report.html in a run folder (after checking its tables belong together)."""
    from screening.run.pipeline import report_run

    with _answered(f"report.html in {run_dir} is whole (old or new); `screening report {run_dir}` starts again"):
        path = report_run(run_dir, log=err)
    out.print(f"wrote {path}")


def main() -> None:
    """Entry point of the ``screening`` console script."""
    app(prog_name="screening")


if __name__ == "__main__":
    sys.exit(main())
