"""The ``screening`` command line (README.md, "Command line").

Exit codes: 0 success (warnings allowed), 1 invalid input (config, plate map,
files), 2 usage error, 3 run finished but too many fields failed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

EXIT_INVALID_INPUT = 1
EXIT_TOO_MANY_FAILED = 3

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


def _fail(message: str, code: int = EXIT_INVALID_INPUT):
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code)


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
    for problem in report.problems:
        err.print(f"[red]problem:[/red] {problem}", soft_wrap=True)
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
        err.print(f"{len(report.problems)} problem(s) found in {config}")
        raise typer.Exit(EXIT_INVALID_INPUT)
    out.print(f"[green]ok:[/green] {config} is ready to run")


@app.command()
def simulate(
    outdir: Annotated[Path, typer.Argument(help="folder to write the synthetic screen into")],
    seed: Annotated[int, typer.Option(help="random seed; same seed, same bytes")] = 0,
    preset: Annotated[str, typer.Option(help="demo | small | screen | null | hard")] = "demo",
    layout: Annotated[str, typer.Option(help="imagexpress | operetta | cellvoyager | incucyte")] = "imagexpress",
    overwrite: Annotated[bool, typer.Option(help="replace the contents of a non-empty OUTDIR")] = False,
):
    """Write a synthetic screen with ground truth and a ready config.yaml."""
    import shutil
    import tempfile

    from screening.simulate import PRESETS, simulate_screen
    from screening.simulate.layouts import convert_layout

    if preset not in PRESETS:
        err.print(f"[red]error:[/red] unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
        raise typer.Exit(2)
    layouts = ("imagexpress", "operetta", "cellvoyager", "incucyte")
    if layout not in layouts:
        err.print(f"[red]error:[/red] unknown layout {layout!r}; use one of {', '.join(layouts)}")
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
    workers: Annotated[int | None, typer.Option(help="worker threads/processes")] = None,
    scheduler: Annotated[str | None, typer.Option(help="tcp://HOST:PORT of a running Dask scheduler")] = None,
    force: Annotated[bool, typer.Option(help="recompute fields that are already measured")] = False,
):
    """Measure every field, then score and report: the whole screen."""
    from screening.config import ConfigError, load_config
    from screening.pipeline import InputError, run_screen

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        _fail(str(exc))
    try:
        result = run_screen(
            cfg, out_dir=out_dir, workers=workers, scheduler=scheduler, force=force, log=err
        )
    except InputError as exc:
        _fail(str(exc))
    out.print(f"run folder: {result.run_dir}")
    if result.too_many_failed:
        _fail(result.failure_message, EXIT_TOO_MANY_FAILED)


@app.command()
def score(run_dir: Annotated[Path, typer.Argument(help="run folder of a finished run")]):
    """Re-score from existing measurements (after QC flags changed)."""
    from screening.pipeline import InputError, score_run

    try:
        written = score_run(run_dir, log=err)
    except InputError as exc:
        _fail(str(exc))
    out.print("wrote " + ", ".join(str(p) for p in written))


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="run folder of a finished run")]):
    """Rewrite report.html in a run folder."""
    from screening.pipeline import InputError, report_run

    try:
        path = report_run(run_dir)
    except InputError as exc:
        _fail(str(exc))
    out.print(f"wrote {path}")


def main() -> None:
    """Entry point of the ``screening`` console script."""
    app(prog_name="screening")


if __name__ == "__main__":
    sys.exit(main())
