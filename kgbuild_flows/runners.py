"""The Dask task runner the config asks for (``orchestration.task_runner: dask``)."""

from __future__ import annotations

from prefect_dask.task_runners import DaskTaskRunner

from kgbuild.config import OrchestrationConfig

__all__ = ["dask_task_runner"]


def dask_task_runner(config: OrchestrationConfig) -> DaskTaskRunner:
    """A runner on the cluster at ``config.dask_address``, or on a new local cluster.

    The local cluster has ``dask_workers`` processes (each loads the models once, in its
    own per-process cache) and no dashboard, so nothing listens beyond loopback.
    """
    if config.dask_address:
        return DaskTaskRunner(address=config.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": config.dask_workers,
            "threads_per_worker": config.dask_threads_per_worker,
            "processes": True,
            "host": "127.0.0.1",
            "dashboard_address": None,
        }
    )
