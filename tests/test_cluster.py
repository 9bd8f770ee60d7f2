"""The embedded local cluster: workers without Dask's malloc trimming and without the profiler."""

import os

from screening.cluster import dask_client
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
