"""``kgbuild schedule``: serve the build flow on a schedule (needs a Prefect server)."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from kgbuild.cli.errors import fail
from kgbuild.errors import ConfigError, KGBuildError

__all__ = ["schedule", "schedule_overrides"]


def schedule_overrides(
    out: Path | None, model: str | None, neo4j: str | None, runner: str | None
) -> dict[str, Any]:
    """Plain (secret-free) settings overrides stored in the deployment's parameters."""
    from kgbuild.config import expand_home

    overrides: dict[str, Any] = {}
    if out is not None:
        overrides["out_dir"] = str(expand_home(out).resolve())
    if model is not None:
        local = expand_home(Path(model))
        overrides["ner"] = {"model": str(local.resolve()) if local.exists() else model}
    if neo4j is not None:
        overrides["neo4j"] = {"uri": neo4j}
    if runner is not None:
        overrides["orchestration"] = {"task_runner": runner}
    return overrides


def _absolute(path: str) -> Path:
    """An input path as each scheduled run reads it: ``~`` expanded, made absolute.

    A glob is made absolute without resolving its pattern.
    """
    from kgbuild.config import expand_home

    expanded = expand_home(Path(path))
    return expanded.absolute() if glob.has_magic(path) else expanded.resolve()


def schedule(
    paths: Annotated[
        list[str], typer.Argument(help="Folders, files or globs of documents to watch.")
    ],
    cron: Annotated[
        str | None, typer.Option(help='Cron schedule, e.g. "0 * * * *" (every hour).')
    ] = None,
    interval: Annotated[
        float | None, typer.Option(help="Run every this many seconds (instead of --cron).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML config file (env: KGBUILD_CONFIG).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder.")] = None,
    model: Annotated[str | None, typer.Option(help="NER model: local folder or hub id.")] = None,
    neo4j: Annotated[
        str | None, typer.Option(help="Persist to this Bolt URI. Default: config / NEO4J_URI.")
    ] = None,
    task_runner: Annotated[
        str | None, typer.Option(help="thread or dask (default: orchestration.task_runner).")
    ] = None,
    name: Annotated[
        str, typer.Option(help="Deployment name (not empty, none of / % & < >).")
    ] = "kgbuild-scheduled",
) -> None:
    """Serve the build flow on a schedule until stopped; each run only processes new or changed documents.

    Needs a Prefect server: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api after
    `prefect server start`, or the compose stack's server). Secrets (NEO4J_PASSWORD, the
    ledger URL) are read from this process's environment by each run, never stored.

    Examples:
    kgbuild schedule docs/ --cron "0 * * * *" --out out/docs
    kgbuild schedule docs/ --interval 3600 --out out/docs
    """
    if (cron is None) == (interval is None):
        raise typer.BadParameter("give exactly one of --cron and --interval")
    absolute = [str(_absolute(p)) for p in paths]
    missing = next((p for p in absolute if not glob.has_magic(p) and not Path(p).exists()), None)
    if missing is not None:  # each run would fail on it: say so before anything else
        raise fail(KGBuildError(f"input path {missing} does not exist"))
    if not os.environ.get("PREFECT_API_URL"):
        typer.secho(
            "error: PREFECT_API_URL is not set: scheduling needs a Prefect server "
            "(`prefect server start`, or `docker compose up -d --wait`)",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(code=2)
    from kgbuild.config import load_settings

    overrides = schedule_overrides(out, model, neo4j, task_runner)
    config_path = config or (Path(p) if (p := os.environ.get("KGBUILD_CONFIG")) else None)
    if config_path is not None:
        from kgbuild.config import expand_home

        config_path = expand_home(config_path)
    try:
        load_settings(config_path, **overrides)  # fail now, not at the first scheduled run
    except (ConfigError, KGBuildError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from exc
    from kgbuild_flows import configure_environment

    try:
        configure_environment()  # before the flow module imports prefect
        from kgbuild_flows.schedule import deployment, serve_schedule
        from kgbuild_flows.server import check_server

        scheduled = deployment(
            absolute,
            config=str(config_path.resolve()) if config_path else None,
            overrides=overrides,
            cron=cron,
            interval=interval,
            name=name,
        )
        check_server()
    except KGBuildError as exc:  # no Prefect home or server, a schedule Prefect cannot run
        raise fail(exc) from exc
    serve_schedule(scheduled)
