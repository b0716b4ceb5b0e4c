"""``kgbuild neo4j start|stop|status`` and ``kgbuild cypher``: Neo4j for people."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer

from kgbuild.cli_errors import fail
from kgbuild.errors import KGBuildError

__all__ = ["DEFAULT_HOME", "cypher", "local_uri_if_running", "neo4j_app"]

DEFAULT_HOME = Path.home() / ".kgbuild" / "neo4j"
COMPOSE_FILE = Path(__file__).resolve().parent.parent / "docker-compose.yml"

neo4j_app = typer.Typer(
    help="A local Neo4j for development: docker compose when a Docker engine answers, "
    "otherwise Neo4j Community built from Maven Central and run on the local JDK.",
    no_args_is_help=True,
)

HomeOption = Annotated[
    Path, typer.Option(help="Data and log folder of the local (non-Docker) server.")
]
PortOption = Annotated[int, typer.Option(help="Bolt port of the local (non-Docker) server.")]
PasswordOption = Annotated[
    str | None,
    typer.Option(envvar="NEO4J_PASSWORD", help="Password of user neo4j (8+ chars); none: no auth."),
]
DockerOption = Annotated[
    bool | None,
    typer.Option("--docker/--no-docker", help="Force or forbid docker compose (default: auto)."),
]


def _docker_available() -> bool:
    if shutil.which("docker") is None or not COMPOSE_FILE.is_file():
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=20)
    return probe.returncode == 0


def _compose(*args: str) -> None:
    subprocess.run(["docker", "compose", "-f", str(COMPOSE_FILE), *args], check=True)


def _local(home: Path, port: int, password: str | None) -> Any:
    from kgbuild.store.neo4j.server import LocalNeo4j

    return LocalNeo4j(home, port=port, password=password, tie_to_parent=False)


def local_uri_if_running(home: Path = DEFAULT_HOME) -> str | None:
    """The Bolt URI of the local server started by ``kgbuild neo4j start``, if it runs."""
    from kgbuild.store.neo4j.server import LocalNeo4j

    if not home.exists():
        return None
    status = LocalNeo4j(home, port=0, tie_to_parent=False).status()
    return status.uri if status.running else None


@neo4j_app.command()
def start(
    home: HomeOption = DEFAULT_HOME,
    port: PortOption = 7687,
    password: PasswordOption = None,
    docker: DockerOption = None,
) -> None:
    """Start Neo4j and print its Bolt URI and where its data lives."""
    use_docker = _docker_available() if docker is None else docker
    try:
        if use_docker:
            _compose("up", "-d", "--wait", "neo4j")
            typer.echo("neo4j (docker compose): bolt://localhost:7687, data in volume neo4j-data")
            return
        uri = _local(home, port, password).start(timeout=300)
    except (KGBuildError, subprocess.CalledProcessError, ValueError) as exc:
        raise fail(exc) from exc
    typer.echo(f"neo4j (local JVM): {uri}, data in {home}")
    typer.echo(f"use it: kgbuild build PATH --neo4j {uri}   (or export NEO4J_URI={uri})")


@neo4j_app.command()
def stop(home: HomeOption = DEFAULT_HOME, docker: DockerOption = None) -> None:
    """Stop the development Neo4j (its data is kept)."""
    use_docker = _docker_available() if docker is None else docker
    try:
        if use_docker:
            _compose("stop", "neo4j")
        else:
            _local(home, 0, None).stop()
    except (KGBuildError, subprocess.CalledProcessError) as exc:
        raise fail(exc) from exc
    typer.echo("neo4j stopped")


@neo4j_app.command()
def status(home: HomeOption = DEFAULT_HOME, docker: DockerOption = None) -> None:
    """Say whether the development Neo4j runs, and where (exit code 3 when it does not)."""
    if _docker_available() if docker is None else docker:
        _compose("ps", "neo4j")
        return
    state = _local(home, 0, None).status()
    if not state.running:
        typer.echo(f"neo4j (local JVM) not running; data folder {home}")
        raise typer.Exit(code=3)
    memory = f", {state.rss_bytes / 2**30:.2f} GiB RSS" if state.rss_bytes else ""
    typer.echo(f"neo4j (local JVM) running: {state.uri}, pid {state.pid}{memory}, data in {home}")


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def render_table(keys: list[str], rows: list[dict[str, Any]], *, max_width: int = 60) -> str:
    """A plain-text table of query results (long cells are shortened with an ellipsis)."""
    cells = [[_format_value(row[key]) for key in keys] for row in rows]
    cells = [
        [c if len(c) <= max_width else c[: max_width - 1] + "…" for c in line] for line in cells
    ]
    widths = [max([len(key), *(len(line[i]) for line in cells)]) for i, key in enumerate(keys)]
    lines = [" | ".join(key.ljust(w) for key, w in zip(keys, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


def cypher(
    query: Annotated[str, typer.Argument(help="A read-only Cypher query.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Query parameter NAME=VALUE (JSON or text)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
    neo4j: Annotated[
        str | None, typer.Option(help="Bolt URI (default: config / NEO4J_URI).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")] = None,
) -> None:
    """Run a read query against the graph in Neo4j and print a table.

    Runs in a read transaction: a query that writes is refused by the server.
    """
    from neo4j.exceptions import Neo4jError

    from kgbuild.config import load_settings
    from kgbuild.store.neo4j.persist import open_driver
    from kgbuild.store.neo4j.writer import Neo4jUnavailableError

    try:
        settings = load_settings(config)
        target = settings.neo4j
        if neo4j:
            target = target.model_copy(update={"uri": neo4j})
        params = dict(_parse_param(p) for p in param or [])
        with open_driver(target) as driver:
            from neo4j import READ_ACCESS
            from neo4j.exceptions import ServiceUnavailable

            try:
                with driver.session(
                    database=target.database,
                    default_access_mode=READ_ACCESS,
                    notifications_min_severity="OFF",
                ) as s:
                    result = s.execute_read(
                        lambda tx: (lambda r: (r.keys(), r.data()))(tx.run(query, params))
                    )
            except ServiceUnavailable as exc:
                raise Neo4jUnavailableError(target.uri or "", target.database) from exc
    except KGBuildError as exc:
        raise fail(exc) from exc
    except Neo4jError as exc:
        raise fail(KGBuildError(f"query failed: {exc.message}")) from exc
    keys, rows = list(result[0]), result[1]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
    else:
        typer.echo(render_table(keys, rows))


def _parse_param(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise KGBuildError(f"--param must be NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw
