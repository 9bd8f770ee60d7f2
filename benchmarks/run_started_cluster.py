"""Run-stage cost per field on an already started, warmed-up cluster (complements run_scaling.py).

``run_scaling.py`` times whole runs, cluster start included; this script starts the embedded
``processes`` cluster first, warms every worker with one trivial task, then times
``pipeline.measure_screen`` on the same plate and reads Dask's task stream: wall time per field
against the compute time inside each task (what the worker spent measuring), so the run's own
cost per field (scheduling, transfers, shard writing) is wall/field − compute/field × workers.

Usage::

    python benchmarks/run_scaling.py --no-memory --out /tmp/rs   # simulates /tmp/rs/screen/config.yaml
    python benchmarks/run_started_cluster.py /tmp/rs/screen/config.yaml [--workers 1 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from distributed import get_task_stream

from screening.cluster import dask_client
from screening.config import ComputeConfig, load_config
from screening.pipeline import measure_screen


def time_started(config_path: Path, workers: int) -> dict:
    config = load_config(config_path)
    run_dir = Path(tempfile.mkdtemp(prefix="run_started_"))
    with dask_client(ComputeConfig(scheduler="processes", workers=workers)) as client:
        client.run(lambda: None)
        with get_task_stream(client) as stream:
            t0 = time.perf_counter()
            measure_screen(config, run_dir, address=client.scheduler.address, force=True)
            wall = time.perf_counter() - t0
    shutil.rmtree(run_dir, ignore_errors=True)
    compute = np.array([
        sum(s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute") for task in stream.data
    ])
    return {"workers": workers, "fields": compute.size, "wall s": round(wall, 1),
            "wall s per field": round(wall / compute.size, 4), "compute s per field (mean)": round(compute.mean(), 4),
            "first 10 fields, compute s (warm-up)": round(compute[:10].mean(), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    rows = [time_started(args.config, w) for w in args.workers]
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    main()
