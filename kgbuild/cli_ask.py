"""``kgbuild ask`` and ``kgbuild serve``: question answering over the built graph."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kgbuild.cli_errors import fail
from kgbuild.errors import KGBuildError

if TYPE_CHECKING:
    from kgbuild.qa.engine import GraphQA
    from kgbuild.qa.models import Answer, AskResult

__all__ = ["ask", "serve"]

GraphOption = Annotated[
    Path | None,
    typer.Option(help="A graph.json to read (default: <out>/graph.json, or Neo4j if configured)."),
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


def _open(
    config: Path | None,
    out: Path | None,
    graph: Path | None,
    neo4j: str | None,
    qa_model: str,
    ner_model: str,
    threshold: float,
) -> GraphQA:
    from kgbuild.config import load_settings
    from kgbuild.qa.engine import GraphQA, open_store

    overrides: dict[str, object] = {"out_dir": out} if out is not None else {}
    settings = load_settings(config, **overrides)
    store = open_store(settings, graph=graph, neo4j=neo4j)
    try:
        return GraphQA(
            store,
            qa_model=qa_model,
            ner_model=None if ner_model == "none" else ner_model,
            threshold=threshold,
        )
    except BaseException:
        store.close()
        raise


def _quoted(answer: Answer) -> str:
    ev = answer.evidence
    if ev is None:
        return ""
    if ev.answer_start is None or ev.answer_end is None:
        return f'  "{ev.text}"'
    a, b = ev.answer_start - ev.start, ev.answer_end - ev.start
    return f'  "{ev.text[:a]}[{ev.text[a:b]}]{ev.text[b:]}"'


def _describe(answer: Answer) -> list[str]:
    lines = [f"Answer: {answer.text}  (score {answer.score:.3f}, {answer.path})"]
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
    if result.answer is None:
        lines.append("I don't know.")
        if result.message:
            lines.append(result.message)
        if result.candidates:
            guesses = ", ".join(f"{c.text} ({c.score:.3f})" for c in result.candidates)
            lines.append(f"Best candidates (threshold {result.threshold}): {guesses}")
        return "\n".join(lines)
    lines += _describe(result.answer)
    for rank, alt in enumerate(result.alternatives, start=2):
        lines.append(f"#{rank} " + "\n   ".join(_describe(alt)))
    return "\n".join(lines)


def ask(
    question: Annotated[str, typer.Argument(help="The question, e.g. 'Where is Acme based?'")],
    top: Annotated[int, typer.Option("--top", min=1, max=20, help="Answers to show.")] = 1,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    threshold: ThresholdOption = DEFAULT_THRESHOLD,
    graph: GraphOption = None,
    neo4j: Neo4jOption = None,
    qa_model: QaModelOption = "default",
    ner_model: NerModelOption = "default",
    config: ConfigOption = None,
    out: OutOption = None,
) -> None:
    """Answer a question from the built graph, with the evidence it rests on."""
    try:
        qa = _open(config, out, graph, neo4j, qa_model, ner_model, threshold)
        try:
            result = qa.ask(question, top_k=top)
        finally:
            qa.close()
    except KGBuildError as exc:
        raise fail(exc) from exc
    typer.echo(result.model_dump_json(indent=2) if json_output else render(result))


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    threshold: ThresholdOption = DEFAULT_THRESHOLD,
    graph: GraphOption = None,
    neo4j: Neo4jOption = None,
    qa_model: QaModelOption = "default",
    ner_model: NerModelOption = "default",
    config: ConfigOption = None,
    out: OutOption = None,
) -> None:
    """Serve /ask, /entities/{id}, /health and a question page over HTTP."""
    import uvicorn

    from kgbuild.qa.api import create_app

    try:
        qa = _open(config, out, graph, neo4j, qa_model, ner_model, threshold)
    except KGBuildError as exc:
        raise fail(exc) from exc
    try:
        typer.echo(f"serving the graph ({qa.store.name}) on http://{host}:{port}/")
        uvicorn.run(create_app(qa), host=host, port=port, log_level="info")
    finally:
        qa.close()
