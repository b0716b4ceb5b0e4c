"""``kgbuild ask`` asks a running ``kgbuild serve`` of the same graph, and answers alone otherwise.

A real uvicorn server runs the real app over the example graph with the tiny keyword models;
the CLI finds it through the record the server side writes (:mod:`kgbuild.qa.remote`).
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from kgbuild.cli import app
from kgbuild.config import ServeConfig, Settings
from kgbuild.qa import GraphQA, open_store
from kgbuild.qa.remote import (
    RemoteUnavailable,
    ServerRecord,
    find_server,
    graph_source,
    record_path,
    register_server,
    registry_dir,
    unregister_server,
    verify_server,
)
from kgbuild.schema import load_schema
from tests.http_server import free_port, running
from tests.processes import BuildProcess

QUESTION = "in which city does maria gonzalez work ?"
TOKEN = "t0ken-for-tests-0123456789"
SERVED_QA = "served-only-qa"
"""A model name that exists only on the server's side: the CLI cannot load it itself."""
SERVED_NER = "served-only-ner"
SERVER_ID = "0123456789abcdef"
"""The id the test servers name in /health, and their records."""


@pytest.fixture(scope="module")
def qa(example: Settings, keyword_qa_model: Path, keyword_ner_model: Path) -> Iterator[GraphQA]:
    with GraphQA(
        open_store(example),
        qa_model=str(keyword_qa_model),
        ner_model=str(keyword_ner_model),
        encoder=None,
        threshold=0.2,
    ) as graph_qa:
        yield graph_qa


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "servers"
    monkeypatch.setenv("KGBUILD_SERVE__REGISTRY_DIR", str(folder))
    monkeypatch.delenv("KGBUILD_SERVE__TOKEN", raising=False)
    return folder


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A plain HTTP server on a free loopback port that answers every POST with 502.

    Yields its port and the list it fills with ``"<path> <Authorization header>"`` per POST,
    so a test can tell whether (and with which token) anything was sent there.
    """
    posted: list[str] = []

    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posted.append(f"{self.path} {self.headers.get('Authorization')}")
            self.send_error(502)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port, posted
    finally:
        server.shutdown()
        server.server_close()


def _record_server(
    folder: Path,
    graph: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    qa_model: str = "q",
    ner_model: str = "n",
) -> Path | None:
    """``register_server`` with the arguments the tests share; they pass only what differs."""
    return register_server(
        folder,
        host=host,
        port=port,
        graph=graph,
        qa_model=qa_model,
        ner_model=ner_model,
        server_id=SERVER_ID,
    )


def _register(folder: Path, settings: Settings, url: str, qa_model: str, ner_model: str) -> Path:
    path = _record_server(
        folder,
        graph_source(settings, graph=None, neo4j=None),
        port=int(urlsplit(url).port or 0),
        qa_model=qa_model,
        ner_model=ner_model,
    )
    assert path is not None
    return path


def _ask(settings: Settings, qa_model: str, ner_model: str, *extra: str) -> tuple[int, str]:
    args = ["ask", QUESTION, "--out", str(settings.out_dir), "--threshold", "0.2"]
    args += ["--qa-model", qa_model, "--ner-model", ner_model, *extra]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def test_the_cli_asks_the_running_server_of_its_graph(
    example: Settings, qa: GraphQA, registry: Path
) -> None:
    from kgbuild.qa.api import create_app

    with running(create_app(qa, server_id=SERVER_ID)) as url:
        path = _register(registry, example, url, SERVED_QA, SERVED_NER)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        code, output = _ask(example, SERVED_QA, SERVED_NER, "--json")
        assert code == 0, output
        served = json.loads(output)
        local = qa.ask(QUESTION).model_dump(mode="json")
        assert served == local
        assert served["answer"]["text"].lower() == "berlin"
        # Another model, or --no-server: loaded here, where "served-only-qa" does not exist.
        code, output = _ask(example, SERVED_QA, SERVED_NER, "--no-server")
        assert code != 0 and SERVED_QA in " ".join(output.split())
    unregister_server(path)
    assert not path.exists()


def test_a_server_that_does_not_answer_is_reported_and_the_cli_answers_alone(
    example: Settings, registry: Path, keyword_qa_model: Path, keyword_ner_model: Path
) -> None:
    qa_model, ner_model = str(keyword_qa_model), str(keyword_ner_model)
    path = _register(registry, example, f"http://127.0.0.1:{free_port()}", qa_model, ner_model)
    code, output = _ask(example, qa_model, ner_model)
    assert code == 0, output
    assert "did not answer" in output and "answering here" in output
    assert "Answer: Berlin" in output
    assert not path.exists()  # nothing listens on its port: the recorded server is gone


def test_the_console_command_answers_alone_and_leaves_cleanly(
    example: Settings, registry: Path, keyword_qa_model: Path, keyword_ner_model: Path
) -> None:
    # a real process: `main` ends it without interpreter teardown after a local answer
    command = [sys.executable, "-m", "kgbuild", "ask", QUESTION, "--out", str(example.out_dir)]
    command += ["--threshold", "0.2", "--qa-model", str(keyword_qa_model)]
    command += ["--ner-model", str(keyword_ner_model), "--no-server"]
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    answered = json.loads(done.stdout)  # all flushed
    # the same answer as the library gives with the CLI's defaults (its sentence encoder and
    # the schema the graph was built with, so the question may match a relation type, read
    # typed from the text)
    with GraphQA(
        open_store(example),
        qa_model=str(keyword_qa_model),
        ner_model=str(keyword_ner_model),
        threshold=0.2,
        schema=load_schema(example.schema_path),
    ) as like_cli:
        assert answered == like_cli.ask(QUESTION).model_dump(mode="json")
    assert "leaked" not in done.stderr and "Loading weights" not in done.stderr
    failed = subprocess.run(
        [*command, "--qa-model", "no-such-qa-model"], capture_output=True, text=True, check=False
    )
    assert failed.returncode != 0 and "no-such-qa-model" in failed.stdout + failed.stderr


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_server_removes_its_record(
    example: Settings,
    registry: Path,
    keyword_qa_model: Path,
    keyword_ner_model: Path,
    stop: signal.Signals,
) -> None:
    """uvicorn re-raises SIGTERM once it has shut down, and its default ends the process:
    the record stayed behind, naming a process id and a port others may get next."""
    qa_model, ner_model = str(keyword_qa_model), str(keyword_ner_model)
    args = ["--qa-model", qa_model, "--ner-model", ner_model, "--threshold", "0.2"]
    server = BuildProcess(
        ["serve", "--out", str(example.out_dir), "--port", str(free_port()), *args]
    )
    try:
        server.wait_for("asks this server (record:", timeout=300)
        path = record_path(
            registry, graph_source(example, graph=None, neo4j=None), qa_model, ner_model
        )
        record = find_server(
            registry, graph_source(example, graph=None, neo4j=None), qa_model, ner_model
        )
        assert record is not None and record.pid == server.pid
        code, output = _ask(example, qa_model, ner_model)
        assert code == 0 and "answering here" not in output and "Answer: Berlin" in output
        server.process.send_signal(stop)
        code = server.finish(timeout=60)
    finally:
        server.stop()
    assert not path.exists(), server.output
    assert "Traceback" not in server.output
    # SIGTERM still ends the process by the signal (what a supervisor expects); Ctrl-C, 0
    assert code == (-signal.SIGTERM if stop == signal.SIGTERM else 0), server.output


def test_a_server_reads_questions_with_the_schema_the_graph_was_built_with(
    example: Settings,
    registry: Path,
    keyword_qa_model: Path,
    keyword_ner_model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The example graph's own schema has WORKS_FOR, the default none: served without
    naming the schema, the question is matched to WORKS_FOR and answered from the graph."""
    import httpx

    for name in ("KGBUILD_SCHEMA_PATH", "KGBUILD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    args = ["--qa-model", str(keyword_qa_model), "--ner-model", str(keyword_ner_model)]
    server = BuildProcess(["serve", "--out", str(example.out_dir), "--port", str(port), *args])
    try:
        server.wait_for("asks this server (record:", timeout=300)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            body = {"question": "Who employs Maria Gonzalez?", "threshold": 0.0}
            answered = client.post("/ask", json=body).json()
    finally:
        server.stop()
    assert answered["relation_question"]["type"] == "WORKS_FOR", answered
    assert answered["path"] == "graph"


def test_a_token_server_is_asked_with_the_configured_token(
    example: Settings,
    qa: GraphQA,
    registry: Path,
    monkeypatch: pytest.MonkeyPatch,
    keyword_qa_model: Path,
    keyword_ner_model: Path,
) -> None:
    from kgbuild.qa.api import create_app

    qa_model, ner_model = str(keyword_qa_model), str(keyword_ner_model)
    with running(create_app(qa, ServeConfig(token=SecretStr(TOKEN)), server_id=SERVER_ID)) as url:
        _register(registry, example, url, qa_model, ner_model)
        code, output = _ask(example, qa_model, ner_model)  # no token: refused, answered here
        assert code == 0 and "HTTP 401" in output and "answering here" in output
        assert "Answer: Berlin" in output
        monkeypatch.setenv("KGBUILD_SERVE__TOKEN", TOKEN)
        code, output = _ask(example, qa_model, ner_model)
        assert code == 0 and "answering here" not in output and "Answer: Berlin" in output


def test_the_server_is_asked_directly_never_through_a_proxy(
    example: Settings,
    qa: GraphQA,
    registry: Path,
    monkeypatch: pytest.MonkeyPatch,
    keyword_qa_model: Path,
    keyword_ner_model: Path,
    listener: tuple[int, list[str]],
) -> None:
    """``http_proxy`` set (as on many company machines) must not take the token elsewhere."""
    from kgbuild.qa.api import create_app

    proxy_port, proxied = listener
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy_port}")
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KGBUILD_SERVE__TOKEN", TOKEN)
    qa_model, ner_model = str(keyword_qa_model), str(keyword_ner_model)
    with running(create_app(qa, ServeConfig(token=SecretStr(TOKEN)), server_id=SERVER_ID)) as url:
        _register(registry, example, url, qa_model, ner_model)
        code, output = _ask(example, qa_model, ner_model)
    assert proxied == []
    assert code == 0 and "answering here" not in output and "Answer: Berlin" in output


def test_a_server_on_the_recorded_port_must_name_the_recorded_id(tmp_path: Path) -> None:
    """A server killed (kill -9) leaves its record; its process id alive again (another
    process) and its port taken by another server, that server got the questions."""
    asked: list[str] = []
    health: dict[str, object] = {"status": "ok", "server_id": SERVER_ID}

    class Other(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = json.dumps(health).encode()
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    folder = tmp_path / "servers"
    try:
        path = _record_server(folder, "file:/g", port=other.server_port)
        record = find_server(folder, "file:/g", "q", "n")
        assert path is not None and record is not None
        verify_server(folder, record)  # names the recorded id: the recorded server
        assert path.exists()
        health["server_id"] = "another-server"
        with pytest.raises(RemoteUnavailable, match="another server"):
            verify_server(folder, record)
        assert not path.exists()
    finally:
        other.shutdown()
        other.server_close()
    assert asked == ["/health", "/health"]


def test_a_record_another_user_could_have_written_is_never_asked(
    example: Settings,
    registry: Path,
    monkeypatch: pytest.MonkeyPatch,
    listener: tuple[int, list[str]],
) -> None:
    """A registry folder others may write (``serve.registry_dir: /tmp/kg`` made with umask
    0, or made by another user first): a record planted there pointed ``kgbuild ask`` at
    any loopback port, and the CLI sent the question and its token to whoever listened."""
    port, asked = listener
    monkeypatch.setenv("KGBUILD_SERVE__TOKEN", TOKEN)
    source = graph_source(example, graph=None, neo4j=None)
    url = f"http://127.0.0.1:{port}"
    other_user = None
    try:
        path = _register(registry, example, url, SERVED_QA, SERVED_NER)
        registry.chmod(0o777)
        code, output = _ask(example, SERVED_QA, SERVED_NER)  # then loaded here: not found
        assert asked == [] and code != 0, output
        # nor does a server record itself there
        assert _record_server(registry, source, port=1) is None
        registry.chmod(0o700)
        assert find_server(registry, source, SERVED_QA, SERVED_NER) is not None
        path.chmod(0o666)
        assert find_server(registry, source, SERVED_QA, SERVED_NER) is None
        path.chmod(0o600)
        if os.getuid() == 0:  # another owner, another user's process
            os.chown(path, 4242, 4242)
            assert find_server(registry, source, SERVED_QA, SERVED_NER) is None
            os.chown(path, 0, 0)
            other_user = subprocess.Popen(["sleep", "60"], user=65534)
            record = ServerRecord.model_validate_json(path.read_text(encoding="utf-8"))
            path.write_text(record.model_copy(update={"pid": other_user.pid}).model_dump_json())
            assert find_server(registry, source, SERVED_QA, SERVED_NER) is None
    finally:
        if other_user is not None:
            other_user.kill()
            other_user.wait()


@pytest.mark.skipif(os.getuid() != 0, reason="listening as another user needs root")
def test_a_port_another_user_listens_on_is_never_asked(tmp_path: Path) -> None:
    """A server killed without removing its record leaves its port free: another user's
    process listening there got the question and the token (the recorded process id, reused,
    looked alive)."""
    import socket
    import time

    from tests.http_server import free_port

    port = free_port()
    listen = f"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); "
    listen += "s.listen(); time.sleep(60)"
    other = subprocess.Popen(["/usr/bin/python3", "-c", listen], user=65534)
    try:
        for _ in range(200):  # until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        folder = tmp_path / "servers"
        path = _record_server(folder, "file:/g", port=port)
        assert path is not None  # this process's record, in this user's folder
        assert find_server(folder, "file:/g", "q", "n") is None
    finally:
        other.kill()
        other.wait()


def test_a_registry_under_a_umask_002_is_the_users_own(tmp_path: Path, example: Settings) -> None:
    """Debian and Ubuntu give each user a group of their own, and a umask of 002: folders
    writable by that group are still the user's alone, and folders made here are 0700."""
    import grp

    if set(grp.getgrgid(os.getgid()).gr_mem) - {os.environ.get("USER", "root")}:
        pytest.skip("this user's group has other members")
    source = graph_source(example, graph=None, neo4j=None)
    own = tmp_path / "cache"
    own.mkdir()
    own.chmod(0o775)
    folder = own / "kgbuild" / "servers"
    umask = os.umask(0o002)
    try:
        path = _record_server(folder, source)
    finally:
        os.umask(umask)
    assert path is not None and stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    assert find_server(folder, source, "q", "n") is not None


def test_records_of_dead_processes_other_graphs_and_remote_hosts_are_not_used(
    tmp_path: Path, example: Settings
) -> None:
    folder = tmp_path / "servers"
    source = graph_source(example, graph=None, neo4j=None)
    path = _record_server(folder, source)
    assert path is not None and find_server(folder, source, "q", "n") is not None
    assert find_server(folder, source, "other-qa", "n") is None
    # A rebuilt graph.json (other size or time) is another graph.
    graph_json = example.out_dir / "graph.json"
    assert source.startswith(f"file:{graph_json.resolve()}@")
    os.utime(graph_json, ns=(0, 0))
    assert graph_source(example, graph=None, neo4j=None) != source
    assert graph_source(example, graph=None, neo4j="bolt://localhost:7687").startswith("neo4j:")
    # A process that has exited: its record is removed.
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    record = ServerRecord.model_validate_json(path.read_text(encoding="utf-8"))
    path.write_text(record.model_copy(update={"pid": int(gone.stdout)}).model_dump_json())
    assert find_server(folder, source, "q", "n") is None and not path.exists()
    # Not on loopback: never recorded; a record that names another host is not asked.
    assert _record_server(folder, source, host="192.0.2.7", port=80) is None
    foreign = record.model_copy(update={"url": "http://192.0.2.7:80"})
    record_path(folder, source, "q", "n").write_text(foreign.model_dump_json())
    assert find_server(folder, source, "q", "n") is None


def test_a_second_server_of_the_graph_leaves_the_first_ones_record(
    tmp_path: Path, example: Settings
) -> None:
    folder = tmp_path / "servers"
    source = graph_source(example, graph=None, neo4j=None)
    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = record_path(folder, source, "q", "n")
        folder.mkdir()
        record = ServerRecord(
            url="http://127.0.0.1:8000",
            pid=first.pid,
            graph=source,
            qa_model="q",
            ner_model="n",
            started="2026-01-01T00:00:00+00:00",
            server_id="first",
        )
        path.write_text(record.model_dump_json(), encoding="utf-8")
        # A second server (here: this process), e.g. one that then fails to bind the port.
        second = _record_server(folder, source)
        assert second is None
        unregister_server(path)
        found = find_server(folder, source, "q", "n")
        assert found is not None and found.pid == first.pid
    finally:
        first.kill()
        first.wait()
    # Once the first server is gone, its record is replaced.
    assert _record_server(folder, source, port=8001) == path
    found = find_server(folder, source, "q", "n")
    assert found is not None and found.pid == os.getpid()


def test_the_registry_folder_comes_from_config_or_the_user_runtime_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("KGBUILD_SERVE__REGISTRY_DIR", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert registry_dir(Settings()) == tmp_path / "kgbuild" / "servers"
    configured = Settings(serve=ServeConfig(registry_dir=tmp_path / "mine"))
    assert registry_dir(configured) == tmp_path / "mine"


def test_asking_a_server_does_not_load_torch() -> None:
    code = (
        "import sys, kgbuild.qa.remote, kgbuild.cli.ask; "
        "sys.exit(1 if 'torch' in sys.modules or 'transformers' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
