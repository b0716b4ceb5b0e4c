"""``kgbuild neo4j start|stop|status`` and ``kgbuild cypher``: Neo4j for people."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from kgbuild.cli.errors import fail
from kgbuild.cli.pipes import Commands
from kgbuild.errors import KGBuildError
from kgbuild.store.neo4j.server import LocalNeo4j, ServerStatus, default_home

__all__ = ["DEFAULT_HOME", "cypher", "local_uri_if_running", "neo4j_app"]

DEFAULT_HOME = default_home()
TTY_CELL_WIDTH = 60
COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"

neo4j_app = typer.Typer(
    help="A local Neo4j for development: docker compose when a Docker engine answers, "
    "otherwise Neo4j Community built from Maven Central and run on the local JDK.",
    no_args_is_help=True,
    cls=Commands,
)

HomeOption = Annotated[
    Path,
    typer.Option(
        envvar="KGBUILD_NEO4J_HOME",
        help="Data and log folder of the local (non-Docker) server; kgbuild commands find its "
        "password there.",
    ),
]
PortOption = Annotated[int, typer.Option(help="Bolt port of the local (non-Docker) server.")]
CheckPortOption = Annotated[
    int | None,
    typer.Option(
        "--port", help="Bolt port the local server should serve (default: whichever it serves)."
    ),
]
PasswordOption = Annotated[
    str | None,
    typer.Option(
        envvar="NEO4J_PASSWORD",
        help="Password of user neo4j (8+ chars); default: the one kept in HOME/neo4j.password, "
        "generated on the first start.",
    ),
]
DockerOption = Annotated[
    bool | None,
    typer.Option("--docker/--no-docker", help="Force or forbid docker compose (default: auto)."),
]
WebSocketOption = Annotated[
    bool,
    typer.Option(
        "--bolt-websocket",
        help="Also accept Bolt over WebSocket (for Neo4j Browser). Off by default: any web page "
        "open on this machine could reach the server (the password still guards it).",
    ),
]


def _docker_available() -> bool:
    if shutil.which("docker") is None or not COMPOSE_FILE.is_file():
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=20)
    return probe.returncode == 0


def _compose(*args: str) -> None:
    subprocess.run(["docker", "compose", "-f", str(COMPOSE_FILE), *args], check=True)


def _local(
    home: Path, port: int, password: str | None = None, *, bolt_websocket: bool = False
) -> LocalNeo4j:
    return LocalNeo4j(
        home, port=port, password=password, tie_to_parent=False, bolt_websocket=bolt_websocket
    )


def local_uri_if_running(home: Path | None = None) -> str | None:
    """The Bolt URI of the local server started by ``kgbuild neo4j start``, if it runs."""
    home = default_home() if home is None else home
    if not home.exists():
        return None
    status = LocalNeo4j(home, port=0, tie_to_parent=False).status()
    return status.uri if status.running else None


def _port_of(uri: str | None) -> int | None:
    return urlsplit(uri).port if uri else None


@neo4j_app.command()
def start(
    home: HomeOption = DEFAULT_HOME,
    port: PortOption = 7687,
    password: PasswordOption = None,
    docker: DockerOption = None,
    bolt_websocket: WebSocketOption = False,
) -> None:
    """Start Neo4j and print its Bolt URI, where its data and its password are.

    Examples:
    kgbuild neo4j start
    """
    use_docker = _docker_available() if docker is None else docker
    try:
        if use_docker:
            _compose("up", "-d", "--wait", "neo4j")
            typer.echo("neo4j (docker compose): bolt://localhost:7687, data in volume neo4j-data")
            return
        server = _local(home, port, password, bolt_websocket=bolt_websocket)
        uri = server.start(timeout=300)
    except (KGBuildError, subprocess.CalledProcessError, ValueError) as exc:
        raise fail(exc) from exc
    typer.echo(f"neo4j (local JVM): {uri}, data in {home}")
    typer.echo(f"password of user neo4j in {server.password_file} (readable by you only)")
    if home.resolve() == default_home().resolve():
        typer.echo(f"use it: kgbuild build PATH --neo4j {uri}   (kgbuild reads the password)")
    else:
        typer.echo(
            f"use it: export KGBUILD_NEO4J_HOME={home}; kgbuild build PATH --neo4j {uri}   "
            "(kgbuild then reads the password)"
        )


def _check_port(state: ServerStatus, port: int | None, home: Path) -> None:
    """Refuse to act on the server in ``home`` when it does not serve the ``--port`` given."""
    if port is not None and state.running and _port_of(state.uri) != port:
        raise KGBuildError(
            f"the local server in {home} serves {state.uri}, not port {port}: pass its port, "
            f"or the --home of the server on port {port}"
        )


@neo4j_app.command()
def stop(
    home: HomeOption = DEFAULT_HOME, port: CheckPortOption = None, docker: DockerOption = None
) -> None:
    """Stop the development Neo4j (its data is kept).

    Examples:
    kgbuild neo4j stop
    """
    use_docker = _docker_available() if docker is None else docker
    try:
        if use_docker:
            _compose("stop", "neo4j")
        else:
            server = _local(home, port or 0)
            state = server.status()
            _check_port(state, port, home)
            if not state.running:
                typer.echo(f"neo4j (local JVM) was not running; data folder {home}")
                return
            server.stop()
    except (KGBuildError, subprocess.CalledProcessError) as exc:
        raise fail(exc) from exc
    typer.echo("neo4j stopped")


@neo4j_app.command()
def status(
    home: HomeOption = DEFAULT_HOME, port: CheckPortOption = None, docker: DockerOption = None
) -> None:
    """Say whether the development Neo4j runs, and where (exit code 3 when it does not).

    Examples:
    kgbuild neo4j status
    """
    if _docker_available() if docker is None else docker:
        _compose("ps", "neo4j")
        return
    state = _local(home, port or 0).status()
    if not state.running:
        typer.echo(f"neo4j (local JVM) not running; data folder {home}")
        raise typer.Exit(code=3)
    try:
        _check_port(state, port, home)
    except KGBuildError as exc:
        raise fail(exc) from exc
    memory = f", {state.rss_bytes / 2**30:.2f} GiB RSS" if state.rss_bytes else ""
    typer.echo(f"neo4j (local JVM) running: {state.uri}, pid {state.pid}{memory}, data in {home}")


def _format_value(value: Any) -> str:
    r"""A cell's text: a string with its control characters escaped, others as JSON.

    A sentence's ``\n`` or ``\r`` (a list, a Windows file) would break its row over
    several lines of the table, and an escape sequence in a document drive the terminal.
    """
    from kgbuild.stages.ingest import printable

    if isinstance(value, str):
        return printable(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as the text Cypher shows them (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def json_rows(rows: list[dict[str, Any]]) -> str:
    """Query rows as strict JSON: ``0.0/0.0`` is ``"NaN"``, never the bare ``NaN`` of Python."""
    return json.dumps(_finite(rows), ensure_ascii=False, indent=2, default=str, allow_nan=False)


def render_table(
    keys: Sequence[str], rows: list[dict[str, Any]], *, max_width: int | None = 60
) -> str:
    """A plain-text table of query results.

    Args:
        keys: Column names.
        rows: One dict per row.
        max_width: Longer cells are shortened with an ellipsis; ``None``: never shortened.
    """
    cells = [[_format_value(row[key]) for key in keys] for row in rows]
    if max_width is not None:
        cells = [
            [c if len(c) <= max_width else c[: max_width - 1] + "…" for c in line] for line in cells
        ]
    widths = [max([len(key), *(len(line[i]) for line in cells)]) for i, key in enumerate(keys)]
    lines = [" | ".join(key.ljust(w) for key, w in zip(keys, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(line.rstrip() for line in lines)


def _cell_width(width: int | None) -> int | None:
    """``--width``: 0 means unlimited; unset: 60 on a terminal, unlimited when piped."""
    if width is None:
        return TTY_CELL_WIDTH if sys.stdout.isatty() else None
    return width or None


def cypher(
    query: Annotated[str, typer.Argument(help="A read-only Cypher query.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Query parameter NAME=VALUE (JSON or text)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
    neo4j: Annotated[
        str | None,
        typer.Option(
            help="Bolt URI (default, or 'auto': config / NEO4J_URI, else the running "
            "`kgbuild neo4j` server)."
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")] = None,
    timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds after which the server stops the query.")
    ] = 30.0,
    width: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Widest table cell (longer ones end in …); 0: no limit. "
            f"Default: {TTY_CELL_WIDTH} on a terminal, no limit when the output is piped.",
        ),
    ] = None,
) -> None:
    """Run a read query against the graph in Neo4j and print a table.

    Read queries only: the query's plan is checked first; writes, LOAD CSV, SHOW SETTINGS or
    TRANSACTIONS and procedures other than read-only look-ups (db.labels,
    db.schema.visualization, full-text search ...) are refused.

    Examples:
    kgbuild cypher "MATCH (e:Entity) RETURN e.label AS type, count(*) AS n"
    kgbuild cypher "MATCH (e:Entity) WHERE e.name = $n RETURN e.id" -p n=Acme
    """
    from neo4j.exceptions import ServiceUnavailable, SessionExpired

    from kgbuild.config import load_settings
    from kgbuild.store.neo4j.persist import open_driver
    from kgbuild.store.neo4j.read_query import run_read_query
    from kgbuild.store.neo4j.writer import Neo4jUnavailableError

    try:
        settings = load_settings(config)
        if neo4j in (None, "auto"):  # `kgbuild neo4j start`, then `kgbuild cypher` (README)
            neo4j = settings.neo4j.uri or local_uri_if_running()
        target = settings.neo4j.with_uri(neo4j) if neo4j else settings.neo4j
        params = dict(_parse_param(p) for p in param or [])
        with open_driver(target) as driver:
            try:
                driver.verify_connectivity()  # a dead server fails now, not after retries
                result = run_read_query(
                    driver, query, params, database=target.database, timeout_s=timeout
                )
            except (ServiceUnavailable, SessionExpired) as exc:
                raise Neo4jUnavailableError(
                    target.uri or "", target.database, reading=True
                ) from exc
    except KGBuildError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json_rows(result.rows))
    else:
        typer.echo(render_table(result.keys, result.rows, max_width=_cell_width(width)))


def _parse_param(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise KGBuildError(f"--param must be NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw
    except RecursionError:
        raise KGBuildError(
            f"--param {name}: its JSON value nests arrays or objects too deeply to read"
        ) from None
