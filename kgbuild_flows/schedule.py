"""Scheduled builds: the deployment that ``kgbuild schedule`` serves and ``prefect.yaml`` deploys.

A deployment stores its parameters in the Prefect database, so they hold no secrets:
the paths, an optional config file and plain overrides. Each run loads its settings
where it runs (config file, ``KGBUILD_*`` and ``NEO4J_*`` variables of that process),
then runs the build flow, which only does model work for new or changed documents.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from prefect import flow, serve
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import InvalidNameError
from prefect.types.entrypoint import EntrypointType

from kgbuild.config import load_settings
from kgbuild.errors import ConfigError
from kgbuild_flows.build_kg import build_kg_flow

__all__ = ["deployment", "scheduled_build_flow", "serve_schedule"]

DEFAULT_NAME = "kgbuild-scheduled"


@flow(name="scheduled-build-kg", log_prints=True)
def scheduled_build_flow(
    paths: list[str], config: str | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build the graph from ``paths`` with settings loaded here; return the report's counts."""
    settings = load_settings(Path(config) if config else None, **(overrides or {}))
    report = build_kg_flow(paths, settings)
    return {
        "run_id": report.run_id,
        "documents": report.documents,
        "processed": report.processed,
        "skipped": report.skipped,
        "failed": report.failed,
        "deleted": report.deleted,
        "entities": report.entities,
        "neo4j": report.neo4j,
    }


def deployment(
    paths: list[str],
    *,
    config: str | None = None,
    overrides: dict[str, Any] | None = None,
    cron: str | None = None,
    interval: float | None = None,
    name: str = DEFAULT_NAME,
) -> RunnerDeployment:
    """The scheduled deployment (exactly one of ``cron`` and ``interval``).

    Raises:
        ConfigError: ``cron`` is no cron expression, ``interval`` no positive number of
            seconds, or ``name`` no deployment name.
    """
    if (cron is None) == (interval is None):
        raise ValueError("give exactly one of cron and interval")
    if interval is not None and not (math.isfinite(interval) and interval > 0):
        raise ConfigError(f"interval {interval} s: give a positive number of seconds")
    if cron is not None:
        try:
            CronSchedule(cron=cron)
        except ValueError as exc:  # pydantic's ValidationError
            raise ConfigError(
                f"invalid cron schedule {cron!r}: give five fields, minute hour day-of-month "
                'month day-of-week, e.g. "0 * * * *" (every hour)'
            ) from exc
    try:
        created = scheduled_build_flow.to_deployment(
            name=name,
            cron=cron,
            interval=interval,
            parameters={"paths": paths, "config": config, "overrides": overrides or {}},
            description="kgbuild: build the graph from " + ", ".join(paths),
            tags=["kgbuild"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
    except InvalidNameError as exc:
        raise ConfigError(
            f"invalid deployment name {name!r}: give a name that is not empty and holds "
            "none of / % & < >"
        ) from exc
    if not isinstance(created, RunnerDeployment):  # a coroutine only inside an event loop
        raise TypeError("deployment() must be called from synchronous code")
    return created


def serve_schedule(*deployments: RunnerDeployment) -> None:
    """Serve the deployments until the process is stopped (one run at a time).

    Needs a Prefect server (``PREFECT_API_URL``): the temporary one cannot schedule.
    """
    serve(*deployments, limit=1)
