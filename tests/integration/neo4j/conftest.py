"""Drivers and a clean database on the session's real Neo4j.

The server itself (``neo4j_target``: ``NEO4J_URI`` or a local Maven-built Neo4j) is the
session fixture in tests/neo4j_session.py, shared with tests/integration/flows.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from neo4j import Driver, GraphDatabase

from tests.neo4j_session import Neo4jTarget, local_server_possible

__all__ = ["Neo4jTarget", "local_server_possible", "open_driver", "wipe"]


def open_driver(uri: str, auth: tuple[str, str] | None) -> Driver:
    """A driver that gives up on a dead server after about 3 s (not the default 30 s)."""
    return GraphDatabase.driver(
        uri, auth=auth, max_transaction_retry_time=3.0, connection_timeout=5.0
    )


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
