"""``kgbuild cypher`` is read-only and bounded; Neo4j errors during ``build`` are one clear line.

All against the session's real Neo4j (``neo4j_target``), through the real CLI.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from neo4j import Driver
from typer.testing import CliRunner

from kgbuild.cli import app
from kgbuild.store.neo4j.server import free_port
from kgbuild.store.neo4j.writer import Neo4jWriter

from .conftest import Neo4jTarget

pytestmark = pytest.mark.neo4j

runner = CliRunner()


@pytest.fixture()
def credentials(neo4j_target: Neo4jTarget, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The session server's user and password in the environment; returns ``--neo4j URI``."""
    if neo4j_target.auth:
        monkeypatch.setenv("NEO4J_USER", neo4j_target.auth[0])
        monkeypatch.setenv("NEO4J_PASSWORD", neo4j_target.auth[1])
    monkeypatch.setenv("NEO4J_DATABASE", neo4j_target.database)
    return ["--neo4j", neo4j_target.uri]


def _one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row", "LOAD CSV"),
        ("LOAD CSV FROM 'https://example.com/x.csv' AS row RETURN row", "LOAD CSV"),
        ("CALL { LOAD CSV FROM 'file:///etc/hostname' AS r RETURN r } RETURN r", "LOAD CSV"),
        ("CALL db.clearQueryCaches()", "procedure db.clearQueryCaches is not on the read-only"),
        ("CALL dbms.killConnections(['bolt-1'])", "procedure dbms.killConnections is not on"),
        ("CREATE (x:Hack) RETURN x", "it writes"),
        ("CREATE INDEX hack IF NOT EXISTS FOR (n:Hack) ON (n.x)", "changes the schema"),
        # printed "(0 rows)" / "Can't specify multiple conflicting values for execution mode"
        ("EXPLAIN MATCH (n) RETURN count(n)", "prints rows, not plans"),
        ("PROFILE MATCH (n) RETURN count(n)", "prints rows, not plans"),
        # plan as reads, yet print the server's configuration and other sessions' queries
        ("SHOW SETTINGS", "SHOW SETTINGS shows the server's configuration"),
        ("SHOW SETTINGS YIELD name, value WHERE name CONTAINS 'dir' RETURN *", "SHOW SETTINGS"),
        ("SHOW TRANSACTIONS YIELD currentQuery, parameters RETURN *", "SHOW TRANSACTIONS"),
        ("SHOW USERS", "administration command"),
        # was "it changes the schema or is an administration command", though listed as allowed
        ("CALL dbms.components()", "procedure dbms.components is not on the read-only list"),
        ("CALL dbms.showCurrentUser()", "procedure dbms.showCurrentUser is not on the"),
    ],
)
def test_cypher_refuses_what_is_not_a_read(
    query: str, reason: str, credentials: list[str], clean_db: Driver, neo4j_target: Neo4jTarget
) -> None:
    result = runner.invoke(app, ["cypher", query, *credentials])
    assert result.exit_code == 2
    line = _one_error_line(result.output)
    assert "query refused" in line and reason in line
    records, _, _ = clean_db.execute_query(
        "MATCH (n:Hack) RETURN count(n) AS n", database_=neo4j_target.database
    )
    assert records[0]["n"] == 0


@pytest.mark.parametrize(
    "query",
    [
        "TERMINATE TRANSACTIONS $ids",
        "SHOW TRANSACTIONS YIELD transactionId AS id WHERE id IN $ids "
        "TERMINATE TRANSACTIONS id YIELD message RETURN message",
    ],
)
def test_cypher_cannot_terminate_another_sessions_transaction(
    query: str, credentials: list[str], clean_db: Driver, neo4j_target: Neo4jTarget
) -> None:
    """TERMINATE TRANSACTIONS plans as a read (query type ``r``) but stops a build's writes."""
    with clean_db.session(database=neo4j_target.database) as session:
        tx = session.begin_transaction()
        tx.run("CREATE (:Hack {id: 'victim'})").consume()
        ids = [
            r["id"]
            for r in clean_db.execute_query(
                "SHOW TRANSACTIONS YIELD transactionId AS id, currentQuery "
                "WHERE NOT currentQuery STARTS WITH 'SHOW' RETURN id",
                database_=neo4j_target.database,
            ).records
        ]
        assert ids
        result = runner.invoke(app, ["cypher", query, "-p", f"ids={json.dumps(ids)}", *credentials])
        assert result.exit_code == 2, result.output
        line = _one_error_line(result.output)
        assert "query refused: TERMINATE TRANSACTIONS" in line
        tx.commit()  # raised "The transaction has been terminated" before
    records, _, _ = clean_db.execute_query(
        "MATCH (n:Hack) RETURN count(n) AS n", database_=neo4j_target.database
    )
    assert records[0]["n"] == 1


def test_cypher_runs_reads_and_read_procedures(
    credentials: list[str], clean_db: Driver, neo4j_target: Neo4jTarget
) -> None:
    clean_db.execute_query(
        "CREATE (:Entity:ORG {id: 'e1', name: 'Vantor Shipping'})", database_=neo4j_target.database
    )
    for query, expected in (
        ("CALL db.labels() YIELD label RETURN label ORDER BY label", "ORG"),
        ("CALL db.schema.visualization()", "Entity"),
        ("MATCH (e:Entity) RETURN e.name AS name", "Vantor Shipping"),
        ("SHOW INDEXES YIELD type RETURN type", "LOOKUP"),  # the graph's schema: allowed
    ):
        result = runner.invoke(app, ["cypher", query, *credentials])
        assert result.exit_code == 0, result.output
        assert expected in result.output


def test_cypher_shows_relationships_paths_durations_and_points_as_they_are(
    credentials: list[str], clean_db: Driver, neo4j_target: Neo4jTarget
) -> None:
    clean_db.execute_query(
        "CREATE (:Entity:PER {id: 'e1', name: 'Ana'})-[:WORKS_FOR {id: 'r1', score: 0.75}]->"
        "(:Entity:ORG {id: 'e2', name: 'Acme'})",
        database_=neo4j_target.database,
    )
    query = (
        "MATCH p = (:Entity {id: 'e1'})-[r:WORKS_FOR]->() "
        "RETURN r, p, duration('P1DT2H') AS d, point({latitude: 1.5, longitude: 2.5}) AS pt"
    )
    result = runner.invoke(app, ["cypher", query, "--json", *credentials])
    assert result.exit_code == 0, result.output
    ana, acme, works_for = (
        {"id": "e1", "name": "Ana"},
        {"id": "e2", "name": "Acme"},
        {"id": "r1", "score": 0.75},
    )
    # were: r as [Ana's properties, "WORKS_FOR", Acme's] without its own, the path likewise,
    # the duration as [0, 1, 7200, 0] and the point as [2.5, 1.5]
    assert json.loads(result.output) == [
        {
            "r": works_for,
            "p": [ana, works_for, acme],
            "d": "P1DT2H",
            "pt": {"srid": 4326, "x": 2.5, "y": 1.5},
        }
    ]
    result = runner.invoke(app, ["cypher", query, *credentials])
    assert result.exit_code == 0, result.output
    assert '"score": 0.75' in result.output and " P1DT2H " in result.output


def test_cypher_stops_a_query_at_its_timeout(credentials: list[str]) -> None:
    query = "UNWIND range(1, 1000000000) AS x RETURN count(x) AS n"
    result = runner.invoke(app, ["cypher", query, "--timeout", "1", *credentials])
    assert result.exit_code == 2
    assert "ran longer than the 1 s timeout" in _one_error_line(result.output)


def test_cypher_errors_are_one_line(credentials: list[str]) -> None:
    result = runner.invoke(app, ["cypher", "MATCH (n RETURN n", *credentials])
    assert result.exit_code == 2
    assert "query failed: Invalid input" in _one_error_line(result.output)


def test_cypher_does_not_cut_cells_when_piped(credentials: list[str]) -> None:
    long = "word " * 40  # 200 characters
    query = "RETURN $text AS text"
    result = runner.invoke(app, ["cypher", query, "-p", f"text={long}", *credentials])
    assert result.exit_code == 0, result.output  # CliRunner's output is not a terminal
    assert long.strip() in result.output and "…" not in result.output
    result = runner.invoke(
        app, ["cypher", query, "-p", f"text={long}", "--width", "12", *credentials]
    )
    assert result.exit_code == 0, result.output
    assert "word word w…" in result.output.splitlines()


@pytest.mark.parametrize("wrong", ["password", "database"])
def test_a_wrong_password_or_database_during_build_is_one_error_line(
    tmp_path: Path,
    keyword_ner_model: Path,
    neo4j_target: Neo4jTarget,
    credentials: list[str],
    monkeypatch: pytest.MonkeyPatch,
    wrong: str,
) -> None:
    if wrong == "password":
        if neo4j_target.auth is None:
            pytest.skip("the server under test runs without authentication")
        monkeypatch.setenv("NEO4J_PASSWORD", neo4j_target.auth[1] + "-wrong")
        expected = (
            f"error: Neo4j at {neo4j_target.uri} refused user {neo4j_target.auth[0]!r}: the "
            "password is wrong: set the right one (NEO4J_PASSWORD, or neo4j.password / "
            "neo4j.password_file in the config)"
        )
    else:  # was a ClientError traceback (DatabaseNotFound) and exit 1, "some documents failed"
        monkeypatch.setenv("NEO4J_DATABASE", "nosuchdb")
        expected = (
            f"error: Neo4j at {neo4j_target.uri} has no database 'nosuchdb': set "
            "NEO4J_DATABASE (neo4j.database in the config) to one it has (Neo4j Community has "
            "one, 'neo4j', the default), or create it"
        )
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Maria Gonzalez founded Acme Robotics in Toronto.")
    args = ["build", str(docs), "--out", str(tmp_path / "out"), "--model", str(keyword_ner_model)]
    result = runner.invoke(app, [*args, *credentials, "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert errors == [expected]
    assert _documents_recorded(tmp_path / "out") == 0  # refused before any model work


def _documents_recorded(out: Path) -> int:
    """Documents the run ledger in ``out`` holds (read with sqlite3, not through kgbuild)."""
    import sqlite3

    with sqlite3.connect(out / "ledger.sqlite") as db:
        return int(db.execute("SELECT count(*) FROM documents").fetchone()[0])


def test_an_unreachable_server_points_to_kgbuild_neo4j_start(neo4j_target: Neo4jTarget) -> None:
    uri = f"bolt://127.0.0.1:{free_port()}"  # nothing listens there
    result = runner.invoke(app, ["cypher", "RETURN 1", "--neo4j", uri])
    assert result.exit_code == 2
    line = _one_error_line(result.output)
    assert f"Neo4j at {uri}" in line and "(kgbuild neo4j start)" in line
    assert "python -m" not in line


def test_an_existing_graph_logs_no_constraint_notices(
    clean_db: Driver, neo4j_target: Neo4jTarget, caplog: pytest.LogCaptureFixture
) -> None:
    writer = Neo4jWriter(clean_db, database=neo4j_target.database)
    logged: list[list[str]] = []
    for _ in range(2):  # the second time, every constraint and index exists already
        caplog.clear()
        with caplog.at_level(logging.INFO):
            writer.ensure_schema(["PER", "ORG"], ["WORKS_FOR"])
        logged.append([r.getMessage() for r in caplog.records if r.levelno >= logging.INFO])
    assert logged[1] == []  # was one "already exists" notice per statement
    assert len(logged[0]) == 1 and "created 11 constraints and indexes" in logged[0][0], logged
    # 6 node labels (GraphState too), WORKS_FOR, CO_OCCURS, IN_DOCUMENT, 2 doc_id indexes


def test_cypher_json_is_strict_json_with_nan_and_infinities(credentials: list[str]) -> None:
    query = "RETURN 0.0 / 0.0 AS nan, [1.0 / 0.0, -1.0 / 0.0] AS limits, {x: 0.5} AS m"
    result = runner.invoke(app, ["cypher", query, "--json", *credentials])
    assert result.exit_code == 0, result.output

    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    # was: the bare NaN and Infinity of Python's json module, which jq and browsers refuse
    rows = json.loads(result.output, parse_constant=refuse)
    assert rows == [{"nan": "NaN", "limits": ["Infinity", "-Infinity"], "m": {"x": 0.5}}]
