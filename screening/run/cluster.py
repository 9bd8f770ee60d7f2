"""Start (or connect to) the Dask scheduler a run uses.

Every scheduler choice ends in a ``distributed.Client``, so the pipeline has one
code path: futures streamed with ``as_completed``. ``threads`` and ``processes``
start an embedded local cluster (nothing for the user to start); ``distributed``
connects to a running scheduler; ``slurm`` starts ``dask_jobqueue.SLURMCluster``.
"""

from __future__ import annotations

import logging
import signal
import tempfile
from contextlib import contextmanager

from screening.config import ComputeConfig


class SchedulerError(RuntimeError):
    """The configured scheduler cannot be started or reached."""


# Dask's nanny starts worker processes with MALLOC_TRIM_THRESHOLD_=65536, which also
# switches off glibc's adaptive mmap threshold: every large array of a field is then
# mmap'ed fresh and page-faulted in, ~75 % more time per field (benchmarks/run_scaling.py).
# A field's arrays are freed and re-allocated at the same sizes, so glibc's defaults keep
# memory flat without trimming.
# Each worker's statistical profiler (for the dashboard, which a run does not open) keeps a
# call tree per second for the last 1000 s: ~20 KiB more worker memory per field measured
# until it is full, and a thread that takes the GIL every 10 ms from the fields (threads).
# The event-loop tick (every 20 ms, to warn of a blocked loop) and the work-stealing balance
# (every 100 ms) cost the client's process ~6 % of a core while fields run; at 1 s each,
# ~2 % (benchmarks/README.md, "Run stage"). Fields take 0.2-2 s, so stealing once a second
# still evens out the workers' queues.
LOCAL_CLUSTER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.scheduler.work-stealing-interval": "1s",
}


def _local_cluster(compute: ComputeConfig, workers: int, scratch: str):
    import dask
    from distributed import LocalCluster

    processes = compute.scheduler == "processes"
    # An in-process cluster rejects a tcp host; worker processes listen on loopback only.
    network = {"host": "127.0.0.1"} if processes else {}
    # Scheduler and workers keep their work space (and its global.lock / purge.lock) under
    # `scratch`, which the run removes, instead of leaving them in the system temp folder.
    with dask.config.set({**LOCAL_CLUSTER_CONFIG, "temporary-directory": scratch}):
        return LocalCluster(
            n_workers=workers if processes else 1,
            threads_per_worker=1 if processes else workers,
            processes=processes,
            # The scheduler serves HTTP even without a dashboard; on any free loopback port, not
            # Dask's 8787, so overlapping runs neither collide nor warn "Port 8787 is already in use".
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
            local_directory=scratch,
            **network,
        )


def _slurm_cluster(compute: ComputeConfig):
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise SchedulerError(
            "compute.scheduler is slurm but dask-jobqueue is not installed; "
            "pip install 'screening[slurm]'"
        ) from None
    slurm = compute.slurm
    if slurm is None:
        raise SchedulerError("compute.scheduler is slurm but compute.slurm is not set (queue, cores, memory...)")
    cluster = SLURMCluster(
        queue=slurm.queue, account=slurm.account, cores=slurm.cores,
        memory=slurm.memory, walltime=slurm.walltime,
    )
    cluster.scale(jobs=slurm.jobs)
    return cluster


@contextmanager
def dask_client(compute: ComputeConfig):
    """Yield a ``distributed.Client`` for the configured scheduler; close what was started."""
    from distributed import Client

    address, workers = compute.address, compute.workers
    cluster = None
    with tempfile.TemporaryDirectory(prefix="screening-dask-") as scratch, _quiet_logs_when_stopped():
        try:
            if address:
                client = Client(address, timeout="20s")
            else:
                if compute.scheduler == "distributed":
                    raise SchedulerError(
                        "compute.scheduler is distributed but no address: set compute.address or --address"
                    )
                if compute.scheduler == "slurm":
                    cluster = _slurm_cluster(compute)
                else:
                    cluster = _local_cluster(compute, workers, scratch)
                client = Client(cluster)
        except OSError as exc:
            where = f"Dask scheduler {address}" if address else f"a local Dask cluster ({compute.scheduler})"
            raise SchedulerError(f"cannot reach {where}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


@contextmanager
def _quiet_logs_when_stopped():
    """Silence Dask's loggers the moment Ctrl-C or SIGTERM arrives, then stop as before.

    A stopped run says what it kept; Dask's logs would only alarm. They must be silenced in
    the signal handler itself, before ``KeyboardInterrupt`` is raised: ``distributed.utils.sync``
    answers an interrupt by scheduling a callback on its event-loop thread, which raises a
    ``NameError`` when the interrupt came before its future existed (distributed 2025.x), and
    tornado logs it with a traceback at once (seen in CI in ``tests/test_faults.py``). Closing
    the cluster with a worker still measuring logs errors too. Each handler chains to the one
    it replaced (Python's ``KeyboardInterrupt``, ``screening.cli``'s SIGTERM handler).
    """
    replaced = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if not callable(previous):  # SIG_DFL / SIG_IGN / unknown: leave it alone
            continue
        try:
            signal.signal(signum, _quieting(previous))
        except ValueError:  # not the main thread: signals go elsewhere
            continue
        replaced[signum] = previous
    try:
        yield
    finally:
        for signum, previous in replaced.items():
            signal.signal(signum, previous)


_DASK_LOGGERS = ("distributed", "tornado", "asyncio")


def _silence_dask_logs() -> None:
    """Every logger of Dask, tornado and asyncio above CRITICAL, children included: Dask's
    logging config gives some children a level of their own (``tornado.application: error``),
    which a parent's level does not override."""
    names = [
        name for name in logging.root.manager.loggerDict
        if any(name == root or name.startswith(root + ".") for root in _DASK_LOGGERS)
    ]
    for name in {*_DASK_LOGGERS, *names}:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _quieting(previous):
    def handler(signum, frame):
        _silence_dask_logs()
        previous(signum, frame)

    return handler
