"""``kgbuild serve`` facing the network: body limit, quiet errors, Host allow-list, token, docs.

A real uvicorn server runs the real app over a small hand-written graph with the tiny
keyword QA model; requests go over real sockets (raw ones where a client library would
not send what an attacker sends).
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from kgbuild.cli import app
from kgbuild.config import ServeConfig
from kgbuild.qa import GraphQA
from kgbuild.qa.embedded import EmbeddedGraph
from tests.http_server import running

TOKEN = "t0ken-for-tests-0123456789"


@pytest.fixture(scope="module")
def qa(tmp_path_factory: pytest.TempPathFactory, keyword_qa_model: Path) -> Iterator[GraphQA]:
    node = {
        "id": "acme",
        "kind": "entity",
        "name": "Acme Robotics",
        "label": "ORG",
        "aliases": [],
        "mention_count": 1,
        "doc_ids": ["a.txt"],
    }
    path = tmp_path_factory.mktemp("serve") / "graph.json"
    path.write_text(json.dumps({"nodes": [node], "edges": []}), encoding="utf-8")
    with GraphQA(
        EmbeddedGraph(path), qa_model=str(keyword_qa_model), ner_model=None, encoder=None
    ) as graph_qa:
        yield graph_qa


@pytest.fixture(scope="module")
def server(qa: GraphQA) -> Iterator[str]:
    from kgbuild.qa.api import create_app

    with running(create_app(qa)) as url:
        yield url


@pytest.fixture(scope="module")
def guarded(qa: GraphQA) -> Iterator[str]:
    from kgbuild.qa.api import create_app

    config = ServeConfig(token=SecretStr(TOKEN), max_body_bytes=4096, docs=True)
    with running(create_app(qa, config)) as url:
        yield url


def _send_some(sock: socket.socket, data: bytes, patience: float = 5.0) -> int:
    """Send what the server takes of ``data`` (non-blocking socket); return the bytes sent.

    Stops early when the socket stays unwritable for ``patience`` seconds: the server has
    stopped reading. Only bytes the kernel accepted count, never what was refused.
    """
    view, sent = memoryview(data), 0
    while sent < len(data):
        try:
            sent += sock.send(view[sent:])
        except BlockingIOError:
            _, writable, _ = select.select([], [sock], [], patience)
            if not writable:
                break
        except OSError:
            break
    return sent


def _raw(base: str, head: str, chunks: Iterator[bytes]) -> tuple[int, bytes, int]:
    """Send ``head`` then body chunks until the server answers; return status, reply, bytes sent."""
    parts = urlsplit(base)
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        sock.setblocking(False)
        reply = b""
        for chunk in chunks:
            with contextlib.suppress(BlockingIOError):
                reply += sock.recv(65536)
            if reply:
                break
            sent_now = _send_some(sock, chunk)
            sent += sent_now
            if sent_now < len(chunk):
                break  # the server stopped reading: its buffers stayed full
        sock.settimeout(20)
        while b"\r\n\r\n" not in reply:
            more = sock.recv(65536)
            if not more:
                break
            reply += more
        try:
            while more := sock.recv(65536):
                reply += more
        except OSError:
            pass
    status = int(reply.split(b" ", 2)[1]) if reply else 0
    return status, reply, sent


def test_a_huge_declared_body_gets_413_before_it_is_sent(server: str) -> None:
    head = (
        "POST /ask HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"
        "Content-Length: 200000000\n"
    )
    status, reply, _ = _raw(server, head, iter([b'{"question": "' + b"x" * 1000]))
    assert status == 413 and b"over the limit of 65,536 bytes" in reply
    assert len(reply) < 2000


def test_a_streamed_body_is_cut_off_at_the_limit(server: str) -> None:
    """Chunked encoding declares no length: the server counts and stops reading past 64 KB."""

    def framed(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data)

    chunk = b"x" * 16_384
    body = (framed(chunk) for _ in range(640))  # up to 10 MB
    first = framed(b'{"question": "')
    head = (
        "POST /ask HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"
        "Transfer-Encoding: chunked\n"
    )
    status, reply, sent = _raw(server, head, iter([first, *body, b"0\r\n\r\n"]))
    assert status == 413 and len(reply) < 2000
    assert sent < 10 * len(chunk) * 64  # stopped well before the whole 10 MB went out


def test_refused_input_is_not_echoed(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        bulky = "A" * 30_000
        wrong_type = client.post("/ask", json={"question": [bulky]})
        assert wrong_type.status_code == 422
        assert wrong_type.json()["detail"][0]["loc"] == ["body", "question"]
        assert bulky[:100] not in wrong_type.text and len(wrong_type.content) < 1000
        extra_key = client.post("/ask", json={"question": "q", "B" * 5000: 1})
        assert extra_key.status_code == 422 and len(extra_key.content) < 1000
        bad_json = client.post(
            "/ask", content=b'{"question": "' + b"C" * 30_000, headers={"content-type": "x"}
        )
        assert bad_json.status_code == 422 and b"C" * 100 not in bad_json.content
        assert client.post("/ask", json={"question": "q", "top_k": 0}).status_code == 422


def test_a_foreign_host_header_is_refused(server: str) -> None:
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: its Host gives it away."""
    with httpx.Client(base_url=server, timeout=30) as client:
        assert client.get("/health", headers={"Host": "rebind.attacker.example"}).status_code == 400
        port = urlsplit(server).port
        for name in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
            assert client.get("/health", headers={"Host": name}).status_code == 200
        head = client.head("/health")  # what uptime monitors send
        assert head.status_code == 200 and head.content == b""
        assert (
            client.head("/health", headers={"Host": "rebind.attacker.example"}).status_code == 400
        )


def test_docs_are_off_unless_asked_for(server: str, guarded: str) -> None:
    with httpx.Client(timeout=30) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(server + path).status_code == 404
        assert client.get(guarded + "/openapi.json").status_code == 200


def test_with_a_token_the_api_needs_it_and_the_page_stays_open(guarded: str) -> None:
    with httpx.Client(base_url=guarded, timeout=30) as client:
        for request in (client.build_request("GET", "/health"),
                        client.build_request("POST", "/ask", json={"question": "Acme?"}),
                        client.build_request("GET", "/entities/acme")):  # fmt: skip
            missing = client.send(request)
            assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        wrong = client.get("/health", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong access token"
        right = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/health", headers=right).json()["status"] == "ok"
        assert client.get("/entities/acme", headers=right).json()["entity"]["name"]
        page = client.get("/")
        assert page.status_code == 200 and '"auth": true' in page.text
        assert TOKEN not in page.text
        too_big = client.post("/ask", headers=right, json={"question": "x" * 5000})
        assert too_big.status_code == 413  # this server's limit: 4,096 bytes


def test_the_token_scheme_is_read_in_any_case(guarded: str) -> None:
    with httpx.Client(base_url=guarded, timeout=30) as client:
        for scheme in ("bearer", "BEARER", "Bearer"):
            answer = client.get("/health", headers={"Authorization": f"{scheme} {TOKEN}"})
            assert answer.status_code == 200, scheme
        for wrong in (f"Basic {TOKEN}", f"Bearer{TOKEN}", TOKEN, f"bearer {TOKEN}x"):
            answer = client.get("/health", headers={"Authorization": wrong})
            assert answer.status_code == 401, wrong


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "refusing to serve on 0.0.0.0 without an access token"),
        (["--host", "192.0.2.7"], "refusing to serve on 192.0.2.7 without an access token"),
        (["--token", "short"], "at least 16 printable ASCII characters"),
        (["--max-body-bytes", "0"], "Invalid value for '--max-body-bytes'"),
    ],
)
def test_serve_refuses_to_start_unsafely(tmp_path: Path, args: list[str], message: str) -> None:
    """Checked before any model or graph is loaded: the output folder is empty."""
    result = CliRunner().invoke(app, ["serve", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_serve_refuses_a_short_token_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KGBUILD_SERVE__TOKEN", "abc")
    result = CliRunner().invoke(app, ["serve", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "serve.token" in result.output
