"""Question answering from Neo4j gives the same answers as from the exported graph."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from neo4j import Driver

from kgbuild.config import Neo4jConfig
from kgbuild.qa import GraphQA
from kgbuild.qa.embedded import EmbeddedGraph
from kgbuild.qa.neo4j_store import Neo4jGraph, lucene_query
from tests.unit.qa.test_ask import QUESTIONS, build_example

from .conftest import Neo4jTarget


def _qa(store: object, qa_model: Path, ner_model: Path) -> GraphQA:
    return GraphQA(
        store,  # type: ignore[arg-type]
        qa_model=str(qa_model),
        ner_model=str(ner_model),
        encoder=None,
        threshold=0.2,
    )


def _config(target: Neo4jTarget) -> Neo4jConfig:
    """The settings' Neo4j section for the test server."""
    auth = target.auth
    return Neo4jConfig(
        uri=target.uri,
        user=auth[0] if auth else "neo4j",
        password=auth[1] if auth else None,
        database=target.database,
    )


def test_neo4j_and_embedded_graph_give_the_same_answers(
    tmp_path: Path,
    keyword_ner_model: Path,
    keyword_re_model: Path,
    keyword_qa_model: Path,
    clean_db: Driver,
    neo4j_target: Neo4jTarget,
) -> None:
    neo4j = _config(neo4j_target)
    settings = build_example(
        tmp_path, keyword_ner_model, keyword_re_model, keyword_qa_model, neo4j=neo4j
    )
    embedded = EmbeddedGraph(settings.out_dir / "graph.json")
    graph = Neo4jGraph(driver=clean_db, database=neo4j_target.database)
    assert graph.counts() == embedded.counts()
    with (
        _qa(embedded, keyword_qa_model, keyword_ner_model) as from_files,
        _qa(graph, keyword_qa_model, keyword_ner_model) as from_neo4j,
    ):
        for question in QUESTIONS:
            expected = from_files.ask(question, top_k=3)
            assert from_neo4j.ask(question, top_k=3) == expected, question
        answered = from_neo4j.ask("in which city does maria gonzalez work ?")
        assert answered.answer is not None and answered.answer.evidence is not None
        entity = answered.linked[0].id
        assert from_neo4j.entity(entity) == from_files.entity(entity)
    # the full-text index exists once, and a query built from hostile text stays harmless
    graph.ensure_index()
    assert lucene_query(["acme~", "(n)", "*", "OR", "Gonzalez"]) == "n OR acme~1 OR gonzalez~1"
    assert graph.search(["MATCH", "(n)", "DETACH", "DELETE"], 5) == []


def test_asking_a_graph_without_attributes_logs_no_server_warnings(
    tmp_path: Path,
    keyword_ner_model: Path,
    keyword_qa_model: Path,
    clean_db: Driver,
    neo4j_target: Neo4jTarget,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its queries name HAS_ATTRIBUTE and Attribute keys that such a graph lacks: the server
    warns of each, and `kgbuild ask --neo4j` printed four warnings before the answer."""
    from kgbuild.config import NerConfig, Settings
    from kgbuild.pipeline import build
    from tests.unit.qa.test_ask import DOCS

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    neo4j = _config(neo4j_target)
    settings = Settings(
        out_dir=tmp_path / "out", ner=NerConfig(model=str(keyword_ner_model)), neo4j=neo4j
    )
    build([str(docs)], settings, progress=False)
    graph = Neo4jGraph(neo4j_target.uri, auth=neo4j_target.auth, database=neo4j_target.database)
    try:
        with caplog.at_level(logging.INFO), _qa(graph, keyword_qa_model, keyword_ner_model) as qa:
            qa.ask("in which city does maria gonzalez work ?")
            qa.ask("who does maria gonzalez work for ?")
    finally:
        graph.close()
    warned = [r.getMessage() for r in caplog.records if r.name.startswith("neo4j")]
    assert not [m for m in warned if "does not exist" in m or "UNRECOGNIZED" in m], warned


def _ask_error(args: list[str], env: dict[str, str]) -> str:
    """``kgbuild ask ARGS`` (the real CLI) that must fail with one error line: that line."""
    from typer.testing import CliRunner

    from kgbuild.cli import app

    result = CliRunner().invoke(app, ["ask", "Where is Acme based?", "--no-server", *args], env=env)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception is not None
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_ask_over_a_neo4j_it_cannot_read_is_one_error_line(
    neo4j_target: Neo4jTarget, tmp_path: Path
) -> None:
    # each was a neo4j driver traceback (ServiceUnavailable, AuthError, ClientError,
    # ConfigurationError) after seconds of logged retries, not a KGBuildError
    from kgbuild.store.neo4j.server import free_port

    user, password = neo4j_target.auth or ("neo4j", "")
    env = {
        "NEO4J_USER": user,
        "NEO4J_PASSWORD": password,
        "NEO4J_DATABASE": neo4j_target.database,
        "NEO4J_URI": "",
        "KGBUILD_OUT_DIR": str(tmp_path),
    }
    down = f"bolt://127.0.0.1:{free_port()}"  # nothing listens there
    line = _ask_error(["--neo4j", down], env)
    assert line.startswith(f"error: Neo4j at {down} (database ") and "unavailable" in line
    line = _ask_error(["--neo4j", "localhost:7687"], env)
    assert line.startswith("error: neo4j uri: 'localhost:7687' is not a Neo4j URI"), line
    line = _ask_error(["--neo4j", neo4j_target.uri], {**env, "NEO4J_DATABASE": "nosuchdb"})
    assert line.startswith(f"error: Neo4j at {neo4j_target.uri} has no database 'nosuchdb'")
    if neo4j_target.auth is not None:
        wrong = {**env, "NEO4J_PASSWORD": password + "-wrong"}
        line = _ask_error(["--neo4j", neo4j_target.uri], wrong)
        assert line == (
            f"error: Neo4j at {neo4j_target.uri} refused user {user!r}: the password is wrong: "
            "set the right one (NEO4J_PASSWORD, or neo4j.password / neo4j.password_file in "
            "the config)"
        )


def test_serve_answers_503_while_its_neo4j_is_down_and_recovers(tmp_path: Path) -> None:
    # was "Internal Server Error" (500) and a ServiceUnavailable traceback per request
    from fastapi.testclient import TestClient

    from kgbuild.qa.api import create_app
    from kgbuild.qa.neo4j_store import connect
    from kgbuild.store.neo4j.server import FAST_START_JVM_OPTIONS, LocalNeo4j, free_port

    server = LocalNeo4j(tmp_path / "neo4j", port=free_port(), jvm_options=FAST_START_JVM_OPTIONS)
    server.start(timeout=300)
    try:
        user, password = server.auth
        store = connect(Neo4jConfig(uri=server.uri, user=user, password=password))
        qa = GraphQA(store, qa_model="default", ner_model=None, encoder=None)
        with qa, TestClient(create_app(qa), base_url="http://127.0.0.1") as client:
            assert client.get("/health").status_code == 200
            server.stop()
            for path in ("/health", "/ask?q=Where+is+Acme+based%3F", "/explorer/search?q=Acme"):
                response = client.get(path)
                assert response.status_code == 503, (path, response.text)
                assert response.json() == {
                    "detail": f"the graph store is unavailable: Neo4j at {server.uri} "
                    "(database 'neo4j') does not answer; try again once it runs"
                }
            server.start(timeout=300)
            assert client.get("/health").status_code == 200  # the same server, again
    finally:
        server.stop()
