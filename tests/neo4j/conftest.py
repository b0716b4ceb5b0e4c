"""A real Neo4j for the whole test session.

With ``NEO4J_URI`` set (``NEO4J_USER``/``NEO4J_PASSWORD``/``NEO4J_DATABASE`` optional) the tests
use that server, e.g. ``docker compose up -d --wait``. It must be a disposable database: the
``clean_db`` fixture deletes everything in it. Otherwise the session builds (``mvn package``,
once) and starts :class:`LocalNeo4j` on a free loopback port in a temporary directory and stops
it at the end; that needs a JDK 17+ and Maven.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from neo4j import Driver, GraphDatabase

from kgbuild.store.neo4j.server import FAST_START_JVM_OPTIONS, LocalNeo4j, free_port


def open_driver(uri: str, auth: tuple[str, str] | None) -> Driver:
    """A driver that gives up on a dead server after about 3 s (not the default 30 s)."""
    return GraphDatabase.driver(
        uri, auth=auth, max_transaction_retry_time=3.0, connection_timeout=5.0
    )


@dataclass(frozen=True)
class Neo4jTarget:
    """Where the tests' Neo4j is."""

    uri: str
    auth: tuple[str, str] | None
    database: str


def local_server_possible() -> bool:
    """Whether a LocalNeo4j can be built and started here (Java and Maven present)."""
    java = shutil.which("java") or os.environ.get("JAVA_HOME")
    return java is not None and shutil.which("mvn") is not None


@pytest.fixture(scope="session")
def neo4j_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jTarget]:
    uri = os.environ.get("NEO4J_URI")
    database = os.environ.get("NEO4J_DATABASE", "neo4j")
    if uri:
        password = os.environ.get("NEO4J_PASSWORD")
        auth = (os.environ.get("NEO4J_USER", "neo4j"), password) if password else None
        yield Neo4jTarget(uri, auth, database)
        return
    if not local_server_possible():
        message = "NEO4J_URI is not set and Java/Maven are missing to start a local Neo4j"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run every Neo4j test)")
        pytest.skip(message)
    home: Path = tmp_path_factory.mktemp("neo4j-session")
    server = LocalNeo4j(home, port=free_port(), jvm_options=FAST_START_JVM_OPTIONS)
    server.start(timeout=300)
    try:
        yield Neo4jTarget(server.uri, server.auth, "neo4j")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def neo4j_database(neo4j_target: Neo4jTarget) -> str:
    return neo4j_target.database


@pytest.fixture(scope="session")
def neo4j_driver(neo4j_target: Neo4jTarget) -> Iterator[Driver]:
    driver = open_driver(neo4j_target.uri, neo4j_target.auth)
    driver.verify_connectivity()
    try:
        yield driver
    finally:
        driver.close()


def wipe(driver: Driver, database: str) -> None:
    """Delete all nodes, relationships, constraints and indexes (except the lookup indexes)."""
    with driver.session(database=database) as session:
        # CALL {} IN TRANSACTIONS needs an auto-commit transaction (session.run)
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()
        names = [r["name"] for r in session.run("SHOW CONSTRAINTS YIELD name RETURN name")]
        for name in names:
            session.run("DROP CONSTRAINT " + _quote(name) + " IF EXISTS").consume()
        names = [
            r["name"]
            for r in session.run("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name")
        ]
        for name in names:
            session.run("DROP INDEX " + _quote(name) + " IF EXISTS").consume()


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@pytest.fixture()
def clean_db(neo4j_driver: Driver, neo4j_target: Neo4jTarget) -> Driver:
    """The session driver, on an empty database (no data, no constraints)."""
    wipe(neo4j_driver, neo4j_target.database)
    return neo4j_driver
