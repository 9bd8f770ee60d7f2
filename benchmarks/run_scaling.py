"""Run-stage speed and memory: graph overhead, 1 -> 2 worker scaling, flat memory as plates grow.

Usage::

    python benchmarks/run_scaling.py [--preset small] [--seed 0] [--out DIR] [--s-per-2048-field S]

Prints markdown tables (quoted in the README):

1. fields/s of a plain Python loop over ``tasks.measure_field_files`` against the
   Dask run (``screening.pipeline.measure_screen``) with 1 and 2 workers on the same
   simulated plate: graph overhead = 1-worker time / loop time - 1; scaling
   efficiency = (1-worker time) / (2 x 2-worker time).
2. peak memory (RSS) of the client process and of each worker when the plate grows
   from 96 to 384 wells x 9 sites. The large plates reuse one simulated field per
   channel under many file names (hard links), so the figure isolates the run's own
   bookkeeping: memory that grew with the plate would show here.
3. projected wall time of a real screen from the measured per-field figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from screening.config import load_config
from screening.io.screen import field_paths
from screening.pipeline import measure_screen, plan_fields
from screening.simulate import simulate_screen
from screening.tasks import measure_field_files


def _time_loop(config) -> tuple[float, int]:
    fields = plan_fields(config)
    t0 = time.perf_counter()
    for rec in fields.to_dict("records"):
        measure_field_files(field_paths(rec), config, rec["pixel_size_um"])
    return time.perf_counter() - t0, len(fields)


def _time_dask(config, run_dir: Path, workers: int, scheduler: str) -> float:
    shutil.rmtree(run_dir, ignore_errors=True)
    config = config.model_copy(update={"compute": config.compute.model_copy(update={"scheduler": scheduler})})
    t0 = time.perf_counter()
    measure_screen(config, run_dir, workers=workers, force=True)
    return time.perf_counter() - t0


def _time_startup(config, workers: int, scheduler: str) -> float:
    """Seconds to start the local cluster and warm every worker up as the loop was warmed up
    (imports, numba compilation: one field measured)."""
    from screening.cluster import dask_client

    first = plan_fields(config).iloc[0].to_dict()
    compute = config.compute.model_copy(update={"scheduler": scheduler})
    t0 = time.perf_counter()
    with dask_client(compute, workers=workers) as client:
        client.run(measure_field_files, field_paths(first), config, first["pixel_size_um"])
        return time.perf_counter() - t0


def speed_table(config_path: Path, out: Path) -> tuple[str, dict]:
    config = load_config(config_path)
    measure_field_files(field_paths(plan_fields(config).iloc[0].to_dict()), config, config.pixel_size_um)  # warm up
    loop_s, n = _time_loop(config)
    rows = [("plain loop (1 core)", loop_s)]
    for scheduler in ("threads", "processes"):
        for workers in (1, 2):
            rows.append((f"dask {scheduler}, {workers} worker(s)", _time_dask(config, out / "runs" / scheduler, workers, scheduler)))
    lines = ["| how | wall s | fields/s | s/field |", "|---|---|---|---|"]
    lines += [f"| {name} | {s:.1f} | {n / s:.2f} | {s / n:.3f} |" for name, s in rows]
    t = dict(rows)
    figures = {}
    for sched in ("threads", "processes"):
        one, two = t[f"dask {sched}, 1 worker(s)"], t[f"dask {sched}, 2 worker(s)"]
        start = _time_startup(config, 1, sched)
        figures[sched] = {"overhead": one / loop_s - 1, "efficiency": one / (2 * two)}
        lines.append(
            f"\n{sched}: graph overhead vs loop {100 * figures[sched]['overhead']:+.1f} % "
            f"({100 * ((one - start) / loop_s - 1):+.1f} % without the {start:.1f} s of starting one worker "
            f"and warming it up), scaling efficiency 1->2 workers {100 * figures[sched]['efficiency']:.0f} %"
        )
    return f"{n} fields of {config_path}\n\n" + "\n".join(lines), figures


def _big_plate(src_config: Path, dst: Path, n_wells: int, n_sites: int) -> Path:
    """A plate of n_wells x n_sites fields, every field a hard link of the source's first field."""
    config = yaml.safe_load(src_config.read_text())
    plate = config["plates"][0]
    src_plate = (src_config.parent / plate["path"]).resolve()
    first = sorted(src_plate.rglob("*_s1_w1.TIF"))[0]
    sources = {c: first.with_name(first.name.replace("_w1.TIF", f"_w{c}.TIF")) for c in (1, 2)}
    shutil.rmtree(dst, ignore_errors=True)
    folder = dst / "plate" / "TimePoint_1"
    folder.mkdir(parents=True)
    rows = [f"{r}{c:02d}" for r in "ABCDEFGHIJKLMNOP" for c in range(1, 25)][:n_wells]
    layout = []
    for i, well in enumerate(rows):
        role = "vehicle" if i % 4 == 0 else "treatment"
        layout.append((well, f"pt{i % 3 + 1}", "DMSO" if role == "vehicle" else f"c{i % 7}", 0 if role == "vehicle" else 1, role))
        for s in range(1, n_sites + 1):
            for c, source in sources.items():
                os.link(source, folder / f"big_{well}_s{s}_w{c}.TIF")
    pd.DataFrame(layout, columns=["well", "patient", "compound", "concentration_um", "role"]).to_csv(
        dst / "plate" / "layout.csv", index=False
    )
    config.update(
        timepoints={1: 0}, output=str(dst / "run"),
        plates=[{"id": "BIG", "path": "plate", "format": "imagexpress", "layout": "plate/layout.csv"}],
        compute={"scheduler": "processes", "workers": 2},
    )
    path = dst / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


_WORKER_PEAK = """
import json, resource, sys
from screening.cluster import dask_client
from screening.config import ComputeConfig, load_config
from screening.pipeline import measure_screen
config = load_config(sys.argv[1])
with dask_client(ComputeConfig(scheduler="processes", workers=2)) as client:
    measure_screen(config, config.output, address=client.scheduler.address, force=True)
    peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
print(json.dumps({"client_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "workers_kib": list(peaks.values())}))
"""


def memory_table(config_path: Path, out: Path) -> str:
    lines = ["| plate | fields | client peak RSS MiB | worker peak RSS MiB (max) |", "|---|---|---|---|"]
    for n_wells, n_sites in ((96, 9), (384, 9)):
        big = _big_plate(config_path, out / f"plate{n_wells}", n_wells, n_sites)
        res = subprocess.run([sys.executable, "-c", _WORKER_PEAK, str(big)], capture_output=True, text=True, check=True)
        peaks = json.loads(res.stdout.strip().splitlines()[-1])
        lines.append(
            f"| {n_wells} wells x {n_sites} sites | {n_wells * n_sites} | {peaks['client_kib'] / 1024:.0f} | "
            f"{max(peaks['workers_kib']) / 1024:.0f} |"
        )
        shutil.rmtree(out / f"plate{n_wells}", ignore_errors=True)
    return "\n".join(lines)


def _rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def memory_series(config_path: Path, out: Path, n_wells: int = 384, n_sites: int = 9, every_s: float = 20.0) -> str:
    """Client and worker RSS sampled during a ``n_wells`` x ``n_sites`` run (does memory grow with fields?)."""
    import threading

    from screening.cluster import dask_client
    from screening.config import ComputeConfig

    big = _big_plate(config_path, out / "series", n_wells, n_sites)
    config = load_config(big)
    lines = ["| s | wells written | client RSS MiB | worker RSS MiB |", "|---|---|---|---|"]
    stop = threading.Event()
    with dask_client(ComputeConfig(scheduler="processes", workers=2)) as client:
        def sample():
            t0 = time.time()
            while not stop.wait(every_s):
                wells = len(list(Path(config.output).glob("shards/*/*.parquet")))
                workers = ", ".join(f"{v:.0f}" for v in client.run(_rss_mib).values())
                lines.append(f"| {time.time() - t0:.0f} | {wells} | {_rss_mib():.0f} | {workers} |")

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        measure_screen(config, config.output, address=client.scheduler.address, force=True)
        stop.set()
        thread.join()
    shutil.rmtree(out / "series", ignore_errors=True)
    return "\n".join(lines)


def projection(seconds_per_field_2048: float, overhead: float, efficiency: float) -> str:
    """Wall time of 3 lines x 384 wells x 9 sites x 6 timepoints of two-channel 2048² fields.

    ``seconds_per_field_2048`` is the single-core figure of ``benchmarks/segment_speed.py``;
    ``overhead`` (graph overhead, e.g. 0.05) and ``efficiency`` (per added core, e.g. 0.9)
    are this script's measured figures, applied as if they held at 16 and 320 cores.
    """
    fields = 3 * 384 * 9 * 6
    core_hours = fields * seconds_per_field_2048 * (1 + overhead) / 3600
    lines = [
        f"{fields} two-channel 2048² fields x {seconds_per_field_2048:.2f} s/field/core "
        f"x {1 + overhead:.2f} (graph overhead) = {core_hours:.1f} core-hours; "
        f"at {efficiency:.0%} parallel efficiency:",
        "",
        "| where | cores | wall time |",
        "|---|---|---|",
    ]
    for where, cores in (("16-core workstation", 16), ("10-node cluster, 32 cores each", 320)):
        lines.append(f"| {where} | {cores} | {core_hours / (cores * efficiency):.2f} h |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/run_scaling"))
    parser.add_argument("--config", type=Path, default=None, help="use this screen instead of simulating one")
    parser.add_argument("--no-memory", action="store_true", help="skip the 96 -> 384-well memory table")
    parser.add_argument("--no-speed", action="store_true", help="skip the loop / 1 / 2 worker timings")
    parser.add_argument("--memory-series", action="store_true", help="also sample RSS during the 384-well run")
    parser.add_argument("--s-per-2048-field", type=float, default=None,
                        help="single-core s per two-channel 2048² field (benchmarks/segment_speed.py) for the projection")
    parser.add_argument("--overhead", type=float, default=None, help="graph overhead for the projection (default: measured)")
    parser.add_argument("--efficiency", type=float, default=None, help="parallel efficiency for the projection (default: measured)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    config_path = args.config or simulate_screen(args.out / "screen", preset=args.preset, seed=args.seed, overwrite=True)
    figures = {"overhead": args.overhead, "efficiency": args.efficiency}
    if not args.no_speed:
        table, measured = speed_table(config_path, args.out)
        print("## Run-stage speed\n\n" + table + "\n")
        # The projection uses the scheduler that gains most from added cores unless told otherwise.
        best = max(measured.values(), key=lambda f: f["efficiency"] / (1 + f["overhead"]))
        figures = {k: best[k] if v is None else v for k, v in figures.items()}
    if not args.no_memory:
        print("## Memory as the plate grows\n\n" + memory_table(config_path, args.out) + "\n")
    if args.memory_series:
        print("## Memory during the 384-well run\n\n" + memory_series(config_path, args.out) + "\n")
    if args.s_per_2048_field:
        if None in figures.values():
            parser.error("--no-speed needs --overhead and --efficiency for the projection")
        print("## Projection\n\n" + projection(args.s_per_2048_field, **figures))


if __name__ == "__main__":
    main()
