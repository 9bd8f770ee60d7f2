"""Where the field tasks run: threads, processes, a Dask cluster or SLURM."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SlurmConfig(BaseModel):
    """Arguments for ``dask_jobqueue.SLURMCluster`` (needs the ``slurm`` extra)."""

    model_config = ConfigDict(extra="forbid")

    queue: str | None = Field(None, description="SLURM partition (queue); default: the cluster's")
    account: str | None = Field(None, description="SLURM account to charge")
    cores: int = Field(8, ge=1, description="cores per SLURM job")
    memory: str = Field("16GB", description="memory per SLURM job")
    walltime: str = Field("04:00:00", description="time limit per SLURM job")
    jobs: int = Field(4, ge=1, description="number of SLURM jobs to start")


class ComputeConfig(BaseModel):
    """Scheduler and failure tolerance of a run."""

    model_config = ConfigDict(extra="forbid")

    scheduler: Literal["threads", "processes", "distributed", "slurm"] = Field(
        "threads",
        description="threads: embedded cluster, one process; processes: embedded, one process per worker "
        "(faster for long runs); distributed: a running Dask scheduler (address); slurm: dask-jobqueue",
    )
    workers: int = Field(2, ge=1, description="worker threads or processes")
    address: str | None = Field(None, description="tcp://HOST:PORT of a running Dask scheduler")
    max_failed_fraction: float = Field(
        0.05, ge=0, le=1, description="above this fraction of failed fields the run exits 3"
    )
    batch_size: int = Field(
        256, ge=1, description="fields in flight at once; keeps the client's graph small"
    )
    slurm: SlurmConfig | None = Field(None, description="SLURM jobs, for scheduler: slurm")
