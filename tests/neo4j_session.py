"""The session's real Neo4j, shared by tests/integration/neo4j and tests/integration/flows (registered in tests/conftest.py).

With ``NEO4J_URI`` set (``NEO4J_USER``/``NEO4J_PASSWORD``/``NEO4J_DATABASE`` optional) the tests
use that server, e.g. ``docker compose up -d --wait``, with the password kgbuild itself would use
(``NEO4J_PASSWORD``, else that of a ``kgbuild neo4j start`` server at that address). It must be a
disposable database: the ``clean_db`` fixture deletes everything in it. Otherwise the session
builds (``mvn package``, once) and starts :class:`LocalNeo4j` on a free loopback port in a
temporary directory and stops it at the end; that needs a JDK 17+ and Maven. Its password is
generated on start and read from its 0600 password file, as kgbuild's commands read it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kgbuild.config import Neo4jConfig
from kgbuild.store.neo4j.server import (
    FAST_START_JVM_OPTIONS,
    LocalNeo4j,
    free_port,
    read_password_file,
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
        config = Neo4jConfig(
            uri=uri,
            user=os.environ.get("NEO4J_USER", "neo4j"),
            password=os.environ.get("NEO4J_PASSWORD") or None,
        )
        yield Neo4jTarget(uri, config.auth(), database)
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
        password = read_password_file(server.password_file)
        yield Neo4jTarget(server.uri, ("neo4j", password), "neo4j")
    finally:
        server.stop()
