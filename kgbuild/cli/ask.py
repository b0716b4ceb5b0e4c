"""``kgbuild ask`` and ``kgbuild serve``: question answering over the built graph."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kgbuild.cli import leave_without_teardown
from kgbuild.cli.errors import fail
from kgbuild.errors import KGBuildError
from kgbuild.interrupts import Terminated, sigterm_unwinds

if TYPE_CHECKING:
    from kgbuild.config import ServeConfig, Settings
    from kgbuild.qa.engine import GraphQA
    from kgbuild.qa.models import Answer, AskResult

__all__ = ["ask", "serve"]

GraphOption = Annotated[
    Path | None,
    typer.Option(
        help="A graph.json to read, or the build folder holding it "
        "(default: <out>/graph.json, or Neo4j if configured)."
    ),
]
Neo4jOption = Annotated[
    str | None, typer.Option(help="Read the graph from this Bolt URI (default: config/NEO4J_URI).")
]
QaModelOption = Annotated[
    str, typer.Option("--qa-model", help="Extractive QA model: 'default', a folder or a hub id.")
]
NerModelOption = Annotated[
    str, typer.Option("--ner-model", help="NER model for the question ('none': alias lookup only).")
]
DEFAULT_THRESHOLD = 0.1
"""Same as ``kgbuild.qa.engine.DEFAULT_THRESHOLD`` (not imported here: it loads torch)."""
ThresholdOption = Annotated[
    float, typer.Option(min=0.0, max=1.0, help="Lowest answer score; below it: I don't know.")
]
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")]
OutOption = Annotated[Path | None, typer.Option("--out", "-o", help="Output folder of the build.")]


def _settings(config: Path | None, out: Path | None) -> Settings:
    from kgbuild.config import load_settings

    overrides: dict[str, object] = {"out_dir": out} if out is not None else {}
    return load_settings(config, **overrides)


def _open(
    settings: Settings,
    graph: Path | None,
    neo4j: str | None,
    qa_model: str,
    ner_model: str,
    threshold: float,
) -> GraphQA:
    from kgbuild.config import expand_home
    from kgbuild.qa.engine import GraphQA, open_store
    from kgbuild.qa.graph_schema import question_schema
    from kgbuild.qa.store import store_location

    graph = None if graph is None else expand_home(graph)
    _, path = store_location(settings, graph=graph, neo4j=neo4j)
    schema = question_schema(settings, path.parent)
    store = open_store(settings, graph=graph, neo4j=neo4j)
    try:
        return GraphQA(
            store,
            qa_model=qa_model,
            ner_model=None if ner_model == "none" else ner_model,
            threshold=threshold,
            schema=schema,
        )
    except BaseException:
        store.close()
        raise


def _quoted(answer: Answer) -> str:
    r"""The evidence sentence, the answer in brackets; control characters escaped.

    A document's text may hold a lone ``\r`` (old Mac line ends) or an escape sequence:
    printed raw, it would write over the sentence or drive the terminal.
    """
    from kgbuild.stages.ingest import printable

    ev = answer.evidence
    if ev is None:
        return ""
    if ev.answer_start is None or ev.answer_end is None:
        return f'  "{printable(ev.text)}"'
    a, b = ev.answer_start - ev.start, ev.answer_end - ev.start
    before, found, after = (printable(part) for part in (ev.text[:a], ev.text[a:b], ev.text[b:]))
    return f'  "{before}[{found}]{after}"'


def _describe(answer: Answer) -> list[str]:
    from kgbuild.stages.ingest import printable

    lines = [f"Answer: {printable(answer.text)}  (score {answer.score:.3f}, {answer.path})"]
    if answer.relation is not None:
        r = answer.relation
        lines.append(f"Rests on: relation {r.head_name} -{r.type}-> {r.tail_name} ({r.id})")
    elif answer.attribute is not None:
        a = answer.attribute
        lines.append(f"Rests on: attribute {a.key} = {a.value} of {answer.entity_name}")
    elif answer.entity_id is not None:
        lines.append(f"Rests on: entity {answer.entity_name} ({answer.entity_id})")
    if answer.items and answer.path == "graph":
        lines.append("Found: " + "; ".join(answer.items))
    ev = answer.evidence
    if ev is not None:
        where = (
            f"{ev.answer_start}-{ev.answer_end}"
            if ev.answer_start is not None
            else f"{ev.start}-{ev.end}"
        )
        lines.append(f"Evidence: {ev.doc_id}, characters {where} (sentence {ev.start}-{ev.end})")
        lines.append(_quoted(answer))
    return lines


def render(result: AskResult) -> str:
    """The human-readable form of a result."""
    lines: list[str] = []
    for hop in result.hops:
        lines.append(f"Step: {hop}")
    asked = result.relation_question
    if asked is not None and not asked.in_graph:
        lines.append(
            f"Asks for: {asked.type} of {asked.entity_name} (cosine {asked.similarity:.2f}); "
            "the graph has no such fact, so it was read from the text."
        )
    if result.answer is None:
        lines.append("I don't know.")
        if result.message:
            lines.append(result.message)
        if result.candidates:
            guesses = ", ".join(f"{c.text} ({c.score:.3f})" for c in result.candidates)
            lines.append(f"Best candidates (threshold {result.threshold}): {guesses}")
    else:
        lines += _describe(result.answer)
        for rank, alt in enumerate(result.alternatives, start=2):
            lines.append(f"#{rank} " + "\n   ".join(_describe(alt)))
    lines += [f"Not read: {note}" for note in result.notes]
    return "\n".join(lines)


def _ask_running_server(
    settings: Settings,
    question: str,
    source: str,
    qa_model: str,
    ner_model: str,
    *,
    top: int,
    threshold: float,
) -> AskResult | None:
    """The answer of a running ``kgbuild serve`` of this graph and models, else None.

    A server that does not answer, or is not the recorded one, is reported on stderr (its
    record removed where it is gone); the caller then answers locally.
    """
    from kgbuild.qa.remote import (
        RemoteUnavailable,
        ask_server,
        find_server,
        registry_dir,
        verify_server,
    )

    folder = registry_dir(settings)
    record = find_server(folder, source, qa_model, ner_model)
    if record is None:
        return None
    token = settings.serve.token.get_secret_value() if settings.serve.token else None
    try:
        verify_server(folder, record, token=token)
        return ask_server(record, question, top_k=top, threshold=threshold, token=token)
    except RemoteUnavailable as exc:
        typer.echo(f"kgbuild serve (pid {record.pid}): {exc}; answering here", err=True)
        return None


def ask(
    question: Annotated[str, typer.Argument(help="The question, e.g. 'Where is Acme based?'")],
    top: Annotated[int, typer.Option("--top", min=1, max=20, help="Answers to show.")] = 1,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    threshold: ThresholdOption = DEFAULT_THRESHOLD,
    graph: GraphOption = None,
    neo4j: Neo4jOption = None,
    qa_model: QaModelOption = "default",
    ner_model: NerModelOption = "default",
    use_server: Annotated[
        bool,
        typer.Option(
            "--server/--no-server",
            help="Ask a running `kgbuild serve` of the same graph and models when there is "
            "one (its models are loaded: about a second instead of several); --no-server "
            "always loads them here.",
        ),
    ] = True,
    config: ConfigOption = None,
    out: OutOption = None,
) -> None:
    """Answer a question from the built graph, with the evidence it rests on.

    Examples:
    kgbuild ask "Where is Acme Robotics based?" --out out/demo
    kgbuild ask "Who founded Acme Robotics?" --out out/demo --top 3 --json
    """
    try:
        settings = _settings(config, out)
        result = None
        if use_server:
            from kgbuild.qa.remote import graph_source

            source = graph_source(settings, graph=graph, neo4j=neo4j)
            result = _ask_running_server(
                settings, question, source, qa_model, ner_model, top=top, threshold=threshold
            )
        if result is None:
            from kgbuild.collection import long_lived

            with long_lived():  # one question: all loading, little garbage
                qa = _open(settings, graph, neo4j, qa_model, ner_model, threshold)
                try:
                    result = qa.ask(question, top_k=top)
                finally:
                    qa.close()
            leave_without_teardown()
    except KGBuildError as exc:
        raise fail(exc) from exc
    typer.echo(result.model_dump_json(indent=2) if json_output else render(result))


def _serve_config(
    base: ServeConfig,
    host: str,
    token: str | None,
    allowed_host: list[str] | None,
    max_body_bytes: int | None,
    docs: bool,
) -> ServeConfig:
    """The configured serve settings with the command's options on top, checked.

    Raises:
        ConfigError: a bad option, or a non-loopback host without a token.
    """
    from pydantic import ValidationError

    from kgbuild.config import ServeConfig
    from kgbuild.errors import ConfigError
    from kgbuild.qa.http_guards import is_loopback

    update: dict[str, object] = {"docs": docs or base.docs}
    if token is not None:
        update["token"] = token
    if allowed_host:
        update["allowed_hosts"] = (*base.allowed_hosts, *allowed_host)
    if max_body_bytes is not None:
        update["max_body_bytes"] = max_body_bytes
    try:
        serve_config = ServeConfig.model_validate({**base.model_dump(), **update})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"serve: {problems}") from exc
    if serve_config.token is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host} without an access token: anyone who reaches the "
            "port could query the graph. Set KGBUILD_SERVE__TOKEN (or --token), or serve on "
            "127.0.0.1"
        )
    return serve_config


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    token: Annotated[
        str | None,
        typer.Option(
            help="Bearer token the API requires (needed beyond 127.0.0.1). Prefer the "
            "KGBUILD_SERVE__TOKEN variable: an option shows in the process list.",
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="Host header name to accept besides localhost, 127.0.0.1, [::1] and --host "
            "(repeat; '*': any).",
        ),
    ] = None,
    max_body_bytes: Annotated[
        int | None, typer.Option(min=1, help="Largest request body (default 65536).")
    ] = None,
    docs: Annotated[
        bool, typer.Option("--docs", help="Serve Swagger UI at /docs (loads it from a CDN).")
    ] = False,
    threshold: ThresholdOption = DEFAULT_THRESHOLD,
    graph: GraphOption = None,
    neo4j: Neo4jOption = None,
    qa_model: QaModelOption = "default",
    ner_model: NerModelOption = "default",
    config: ConfigOption = None,
    out: OutOption = None,
) -> None:
    """Serve /ask, /entities/{id}, /health, the explorer (/explore) and a question page.

    Examples:
    kgbuild serve --out out/demo
    kgbuild serve --out out/demo --host 0.0.0.0 --token "$TOKEN"
    """
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from kgbuild.collection import long_lived
    from kgbuild.qa.api import create_app
    from kgbuild.qa.http_guards import host_name
    from kgbuild.qa.http_server import HookedServer, deadline_protocol, per_client_limit
    from kgbuild.qa.remote import graph_source, register_server, registry_dir, unregister_server

    # SIGTERM unwinds through the finally that closes the store, then ends the process
    with sigterm_unwinds():
        try:
            settings = _settings(config, out)
            serve_config = _serve_config(
                settings.serve, host, token, allowed_host, max_body_bytes, docs
            )
            with long_lived():  # the models live as long as the server
                qa = _open(settings, graph, neo4j, qa_model, ner_model, threshold)
        except KGBuildError as exc:
            raise fail(exc) from exc
        record: Path | None = None
        server_id = secrets.token_hex(8)

        def listening() -> None:
            """Record this server, once its port is bound, for `kgbuild ask` to find."""
            nonlocal record
            record = register_server(
                registry_dir(settings),
                host=host,
                port=port,
                graph=graph_source(settings, graph=graph, neo4j=neo4j),
                qa_model=qa_model,
                ner_model=ner_model,
                server_id=server_id,
            )
            if record is not None:
                typer.echo(f"`kgbuild ask` for this graph asks this server (record: {record})")

        def stopping() -> None:
            """Remove the record as the shutdown begins (again after it: idempotent)."""
            if record is not None:
                unregister_server(record)

        try:
            where = f"http://{host_name(host)}:{port}/"
            typer.echo(f"serving the graph ({qa.store.name}) on {where} (explorer: {where}explore)")
            if serve_config.token is not None:
                typer.echo(
                    f"the API needs the token; the page takes it once as {where}#token=<token>"
                )
            app = create_app(qa, serve_config, bound_host=host, server_id=server_id)
            # slow clients cannot hold a connection, nor many clients (or one) exhaust the server
            http = deadline_protocol(
                serve_config.read_timeout_s,
                serve_config.max_connections,
                per_client_limit(serve_config.max_connections_per_client, host),
            )
            server = HookedServer(
                uvicorn.Config(app, host=host, port=port, log_level="info", http=http),
                listening=listening,
                stopping=stopping,
            )
            try:
                server.run()
            except Terminated:  # SIGTERM, once uvicorn shut down: the store is closed below
                raise
            except KeyboardInterrupt:  # Ctrl-C stops it, as under uvicorn.run
                pass
            if not server.started:  # as uvicorn.run: the port could not be bound
                raise SystemExit(STARTUP_FAILURE)
        finally:
            stopping()
            qa.close()
