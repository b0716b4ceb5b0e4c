"""Connecting to the configured Neo4j: a driver that fails fast, and a writer with its schema.

What to write is the application's decision (:func:`kgbuild.pipeline.persist_graph` builds
a :class:`~kgbuild.data.GraphDelta` from the run ledger and the resolution); this module
only opens the store it is written to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from neo4j import Driver, GraphDatabase
from neo4j.exceptions import AuthError

from kgbuild.config import Neo4jConfig
from kgbuild.errors import ConfigError
from kgbuild.schema import GraphSchema
from kgbuild.store.neo4j.writer import Neo4jAuthError, Neo4jWriter, ProgressCallback

__all__ = ["open_driver", "open_writer", "target_key"]


@contextmanager
def open_driver(config: Neo4jConfig) -> Iterator[Driver]:
    """A driver for ``config`` that gives up on a dead server in seconds, closed on exit.

    Raises:
        Neo4jAuthError: The server refused the credentials (inside the ``with`` block).
    """
    if not config.uri:
        raise ConfigError("no Neo4j configured: pass --neo4j URI or set NEO4J_URI")
    auth = config.auth()
    driver = GraphDatabase.driver(
        config.uri, auth=auth, connection_timeout=10.0, max_transaction_retry_time=15.0
    )
    try:
        yield driver
    except AuthError as exc:
        raise Neo4jAuthError(config.uri, config.user, password_sent=auth is not None) from exc
    finally:
        driver.close()


@contextmanager
def open_writer(
    config: Neo4jConfig, schema: GraphSchema, *, progress: ProgressCallback | None = None
) -> Iterator[Neo4jWriter]:
    """A writer to ``config``'s database whose constraints and allowed names are ``schema``'s.

    Raises:
        ConfigError: No URI configured.
        SchemaError: A label or relation name of ``schema`` is malformed or reserved.
        Neo4jUnavailableError: The server is down.
        Neo4jAuthError: The server refused the user and password.
    """
    with open_driver(config) as driver:
        writer = Neo4jWriter(
            driver,
            database=config.database,
            batch_size=config.batch_size,
            uri=config.uri,
            progress=progress,
        )
        writer.ensure_schema(schema.entity_labels, schema.relation_names)
        yield writer


def target_key(config: Neo4jConfig) -> str:
    """Names the graph ``config`` writes to (its server and database), for the run ledger."""
    return f"{config.uri}|{config.database}"
