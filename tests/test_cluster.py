"""The embedded local cluster: workers without Dask's malloc trimming or profiler; quiet when stopped."""

import os

from screening.run.cluster import dask_client
from screening.config import ComputeConfig


def _trim_setting():
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_process_workers_keep_glibc_malloc_defaults(monkeypatch):
    # Dask's nanny would export MALLOC_TRIM_THRESHOLD_=65536 to each worker, which
    # disables glibc's adaptive mmap threshold and makes every field page-fault its arrays in.
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with dask_client(ComputeConfig(scheduler="processes", workers=1)) as client:
        settings = client.run(_trim_setting)
    assert list(settings.values()) == [None]


def _profiling(dask_worker):
    return {"profile", "profile-cycle"} & set(dask_worker.periodic_callbacks)


def test_local_workers_do_not_profile():
    # The dashboard profiler keeps 1000 s of call trees per worker (memory that grows with
    # the fields measured) and samples the stacks under the GIL every 10 ms.
    for scheduler in ("threads", "processes"):
        with dask_client(ComputeConfig(scheduler=scheduler, workers=1)) as client:
            assert list(client.run(_profiling).values()) == [set()]


def test_overlapping_runs_leave_port_8787_alone(recwarn):
    # Two runs at once used to race for Dask's default HTTP port: the second warned
    # "Port 8787 is already in use". The embedded cluster's HTTP server takes any free
    # loopback port instead.
    compute = ComputeConfig(scheduler="threads", workers=1)
    with dask_client(compute) as first, dask_client(compute) as second:
        ports = [c.scheduler_info()["services"].get("dashboard") for c in (first, second)]
    assert 8787 not in ports
    assert not [w for w in recwarn if "already in use" in str(w.message)]


def test_ctrl_c_silences_dask_before_the_interrupt_reaches_the_run():
    # distributed's sync() answers KeyboardInterrupt with a callback on its event-loop thread,
    # which can fail and be logged by tornado.application with a traceback at once (seen in CI,
    # SIGINT and SIGTERM): every such logger must be quiet by the time any code, Dask's
    # included, sees the interrupt. Dask's config gives tornado.application a level of its own
    # (error), so silencing "tornado" alone let the traceback through.
    import logging
    import signal
    import time

    names = ("distributed", "distributed.worker", "tornado", "tornado.application", "asyncio")
    levels = {name: logging.getLogger(name).level for name in names}
    logging.getLogger("tornado.application").setLevel(logging.ERROR)
    seen = None
    try:
        with dask_client(ComputeConfig(scheduler="threads", workers=1)):
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            except KeyboardInterrupt:
                seen = {name: logging.getLogger(name).isEnabledFor(logging.CRITICAL) for name in names}
        assert seen == dict.fromkeys(names, False)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
