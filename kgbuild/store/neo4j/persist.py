"""Connecting to the configured Neo4j: a driver that fails fast, and a writer with its schema.

What to write is the application's decision (:func:`kgbuild.pipeline.persist_graph` builds
a :class:`~kgbuild.data.GraphDelta` from the run ledger and the resolution); this module
only opens the store it is written to.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from neo4j import Driver, GraphDatabase
from neo4j.exceptions import AuthError, ClientError, ServiceUnavailable, SessionExpired

from kgbuild.config import Neo4jConfig
from kgbuild.errors import ConfigError
from kgbuild.schema import GraphSchema
from kgbuild.store.neo4j.errors import DATABASE_NOT_FOUND, Neo4jDatabaseNotFoundError
from kgbuild.store.neo4j.writer import Neo4jAuthError, Neo4jWriter, ProgressCallback

__all__ = ["check_target", "open_driver", "open_writer", "target_key"]

log = logging.getLogger(__name__)


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


def check_target(config: Neo4jConfig) -> bool:
    """Whether the server answers; refuse its credentials or database before model work.

    A server that is down is not refused here: the model work is kept in the run ledger
    and the write says what failed (a re-run writes it). A wrong password or database
    would fail the same way on every re-run, so it stops the build before it starts.

    Raises:
        Neo4jAuthError: The server refused the user and password.
        Neo4jDatabaseNotFoundError: The server has no such database.
    """
    with open_driver(config) as driver:
        try:
            driver.verify_connectivity()
            driver.execute_query("RETURN 1", database_=config.database, routing_="r")
        except (ServiceUnavailable, SessionExpired, OSError):
            log.warning(
                "Neo4j at %s does not answer: the documents are read, and the write will "
                "fail unless it runs by then",
                config.uri,
            )
            return False
        except ClientError as exc:
            if exc.code == DATABASE_NOT_FOUND:
                raise Neo4jDatabaseNotFoundError(config.uri or "", config.database) from exc
            raise
    return True


def target_key(config: Neo4jConfig) -> str:
    """Names the graph ``config`` writes to (its server and database), for the run ledger."""
    return f"{config.uri}|{config.database}"
