"""A ``kgbuild serve`` of a Neo4j graph closes its driver however it stops.

uvicorn re-raised SIGTERM once it had shut down, and the signal's default ended the process
before the ``finally`` that closes the store: the driver's pooled connections were dropped,
never said goodbye to. The driver's own debug log (``kgbuild -v``) shows the close.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from tests.http_server import free_port
from tests.processes import BuildProcess

from .conftest import Neo4jTarget

pytestmark = pytest.mark.neo4j

CLOSED = "<POOL> close"
"""What the driver logs (debug) as it closes its pool: once per ``Driver.close``."""


def _serve(
    tmp_path: Path, target: Neo4jTarget, qa_model: Path, ner_model: Path, port: int
) -> BuildProcess:
    env = {"KGBUILD_SERVE__REGISTRY_DIR": str(tmp_path / "servers")}
    if target.auth:
        env |= {"NEO4J_USER": target.auth[0], "NEO4J_PASSWORD": target.auth[1]}
    env["NEO4J_DATABASE"] = target.database
    where = ["--neo4j", target.uri, "--out", str(tmp_path / "out"), "--port", str(port)]
    models = ["--qa-model", str(qa_model), "--ner-model", str(ner_model)]
    return BuildProcess(["-v", "serve", *where, *models], env=env)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_server_closes_its_driver(
    tmp_path: Path,
    neo4j_target: Neo4jTarget,
    keyword_qa_model: Path,
    keyword_ner_model: Path,
    stop: signal.Signals,
) -> None:
    server = _serve(tmp_path, neo4j_target, keyword_qa_model, keyword_ner_model, free_port())
    try:
        server.wait_for("asks this server (record:", timeout=300)
        assert CLOSED not in server.output
        server.process.send_signal(stop)
        code = server.finish(timeout=60)
    finally:
        server.stop()
    assert server.output.count(CLOSED) == 1, server.output
    assert "C: GOODBYE" in server.output  # the connection the store checked with
    assert "Traceback" not in server.output
    # the exit is as before: SIGTERM still ends the process by the signal; Ctrl-C, 0
    assert code == (-signal.SIGTERM if stop == signal.SIGTERM else 0), server.output


def test_a_server_that_cannot_listen_closes_its_driver(
    tmp_path: Path, neo4j_target: Neo4jTarget, keyword_qa_model: Path, keyword_ner_model: Path
) -> None:
    with socket.socket() as taken:  # the store opens, then the port cannot be bound
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        server = _serve(tmp_path, neo4j_target, keyword_qa_model, keyword_ner_model, port)
        try:
            code = server.finish(timeout=300)
        finally:
            server.stop()
    assert server.output.count(CLOSED) == 1, server.output
    assert code == 3, server.output  # uvicorn's STARTUP_FAILURE, as before
