"""``kgbuild serve``'s uvicorn protocol: a request must arrive whole in time (slowloris).

A real uvicorn server on a real socket, with the protocol ``kgbuild serve`` runs, and raw
clients that send nothing, a header a byte at a time, or half a body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from starlette.types import Receive, Scope, Send
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from kgbuild.qa import http_server
from kgbuild.qa.http_server import MAX_CONNECTIONS_PER_CLIENT, deadline_protocol, per_client_limit
from tests.http_server import running

DEADLINE_S = 0.5
WAIT_S = 20.0
"""How long a client waits for the server to close (a server without a deadline never does)."""


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole body, take a while to answer (longer than the deadline), echo it."""
    if scope["type"] != "http":
        return
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await asyncio.sleep(DEADLINE_S * 2)  # answering may take its time: only reading is bounded
    answer = b"echo:" + body
    headers = [(b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


@contextmanager
def server() -> Iterator[tuple[str, int]]:
    with running(echo, http=deadline_protocol(DEADLINE_S)) as url:
        parts = urlsplit(url)
        yield str(parts.hostname), int(parts.port or 0)


def _closed_by_server(client: socket.socket) -> bool:
    """Whether the server closes ``client`` (reads until EOF; False: it waited WAIT_S)."""
    client.settimeout(WAIT_S)
    try:
        while client.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def test_a_silent_or_slow_client_cannot_hold_a_connection() -> None:
    with server() as address:
        silent = socket.create_connection(address)  # connects, sends nothing
        headers = socket.create_connection(address)  # headers that never end
        headers.sendall(b"POST /ask HTTP/1.1\r\nHost: localhost\r\n")
        body = socket.create_connection(address)  # 3 of the 10 bytes announced
        body.sendall(b"POST /ask HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc")
        for client in (silent, headers, body):
            with client:
                assert _closed_by_server(client)
        # slowloris: a byte at a time keeps no deadline away (it counts from the first byte)
        with socket.create_connection(address) as drip:
            closed = False
            for byte in b"GET / HTTP/1.1\r\nHost: localhost\r\n" + b"X-Pad: " + b"a" * 400:
                try:
                    drip.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                time.sleep(0.05)
            assert closed or _closed_by_server(drip)


def test_a_pipelined_request_cut_short_cannot_hold_a_connection() -> None:
    """uvicorn reads a request sent before the answer to the one before it ended (pipelined)
    once that answer ends, with no new data: its deadline never started, and a body cut
    short after it held the connection for as long as the client liked."""
    with server() as address, socket.create_connection(address) as client:
        client.sendall(
            b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nwhole"
            b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc"
        )
        client.settimeout(WAIT_S)
        answer = b""
        while not answer.endswith(b"echo:whole"):
            chunk = client.recv(4096)
            assert chunk, answer
            answer += chunk
        assert _closed_by_server(client)


def test_whole_requests_are_answered_however_long_the_answer_takes() -> None:
    with server() as address, socket.create_connection(address) as client:
        client.settimeout(WAIT_S)
        for text in (b"first", b"second"):  # the second on the same kept-alive connection
            request = b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
            client.sendall(request % len(text) + text)
            answer = b""
            while not answer.endswith(b"echo:" + text):
                chunk = client.recv(4096)
                assert chunk, answer
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")


def _answer(client: socket.socket) -> bytes:
    """Everything the server sends ``client`` until it ends the connection."""
    client.settimeout(WAIT_S)
    answer = b""
    while chunk := client.recv(4096):
        answer += chunk
    return answer


def _echoed(client: socket.socket, text: bytes) -> bytes:
    """Send one whole request on ``client``; its answer, once the body is echoed."""
    client.settimeout(WAIT_S)
    request = b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
    client.sendall(request % len(text) + text)
    answer = b""
    while not answer.endswith(b"echo:" + text):
        chunk = client.recv(4096)
        assert chunk, answer
        answer += chunk
    return answer


def test_connections_beyond_the_limit_get_503_at_once_and_those_open_are_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing bounded how many connections were open: idle or slow clients could hold
    every socket and thread. The read deadline here is longer than a client waits, so an
    answer shows the refused connection was not left to time out."""
    with (
        caplog.at_level(logging.WARNING, logger="kgbuild.qa.http_server"),
        running(echo, http=deadline_protocol(WAIT_S * 3, max_connections=2)) as url,
    ):
        address = (str(urlsplit(url).hostname), int(urlsplit(url).port or 0))
        first = socket.create_connection(address)  # open, silent: each holds a place
        second = socket.create_connection(address)
        assert _echoed(second, b"in").startswith(b"HTTP/1.1 200")  # both places are taken
        with socket.create_connection(address) as silent:  # sends nothing: answered anyway
            refused = _answer(silent)
        with socket.create_connection(address) as asking:  # its request is never read
            asking.sendall(b"POST /ask HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}")
            assert _answer(asking) == refused
        head, _, body = refused.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ")
        assert b"connection: close" in head.lower()
        assert "serve.max_connections" in json.loads(body)["detail"]
        assert "refusing new connections with 503: 2 are open" in caplog.text

        assert _echoed(first, b"still").startswith(b"HTTP/1.1 200")  # those open: served
        first.close()
        with socket.create_connection(address) as later:  # a place is free again
            assert _echoed(later, b"later").startswith(b"HTTP/1.1 200")
        assert "accepting connections again (2 refused" in caplog.text
        second.close()


def _closed_after_its_end(client: socket.socket) -> bool:
    """Whether the server has closed ``client``, which has read the server's end already: a
    byte sent then is answered with a reset (False: none within WAIT_S; Linux's poll)."""
    client.sendall(b"x")
    poller = select.poll()
    poller.register(client, 0)  # only the hang-up and the error poll always reports
    return bool(poller.poll(int(WAIT_S * 1000)))


@pytest.mark.skipif(sys.platform != "linux", reason="reads the reset through Linux's poll")
def test_refused_connections_stay_open_no_more_than_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused connection stays open a moment for its client to read the answer, counted
    toward no limit: one address opening them faster than they closed held a socket and a
    file descriptor each, until the server could accept no one. Here they would stay open
    longer than a client waits."""
    monkeypatch.setattr(http_server, "REFUSED_LINGER_S", WAIT_S * 3)
    with running(echo, http=deadline_protocol(WAIT_S * 3, max_connections=2)) as url:
        address = (str(urlsplit(url).hostname), int(urlsplit(url).port or 0))
        first = socket.create_connection(address)  # open, silent: each holds a place
        second = socket.create_connection(address)
        assert _echoed(second, b"in").startswith(b"HTTP/1.1 200")  # both places are taken
        refused = [socket.create_connection(address) for _ in range(4)]
        for client in refused:  # each gets its whole answer
            assert _answer(client).startswith(b"HTTP/1.1 503 ")
        # at most 2 (max_connections) stay open: the two newest closed the two oldest
        assert [_closed_after_its_end(client) for client in refused[:2]] == [True, True]
        assert _echoed(first, b"still").startswith(b"HTTP/1.1 200")  # those open: served
        for client in (first, second, *refused):
            client.close()


_UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
    b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


def test_a_websocket_upgrade_is_refused_with_400_and_holds_no_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """uvicorn handed an upgrade to its WebSocket protocol, out of this one's sight: one it
    could not parse (a body, a header line over 8 KB) was never answered, its connection
    open beyond the limit until a deadline closed it (here longer than a client waits)."""
    with (
        caplog.at_level(logging.WARNING, logger="kgbuild.qa.http_server"),
        running(echo, http=deadline_protocol(WAIT_S * 3, max_connections=1)) as url,
    ):
        address = (str(urlsplit(url).hostname), int(urlsplit(url).port or 0))
        for extra in (b"Content-Length: 3\r\n", b"X-Pad: " + b"a" * 9000 + b"\r\n", b""):
            with socket.create_connection(address) as upgrade:
                upgrade.sendall(_UPGRADE + extra + b"\r\n")
                head, _, body = _answer(upgrade).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 "), head
            assert b"connection: close" in head.lower()
            assert "no WebSocket" in json.loads(body)["detail"]
        assert "refused a WebSocket upgrade from 127.0.0.1:" in caplog.text
        with pytest.raises(InvalidStatus) as refused:  # what a WebSocket client makes of it
            connect(url.replace("http://", "ws://") + "/ws", open_timeout=WAIT_S).close()
        assert refused.value.response.status_code == 400
        with socket.create_connection(address) as client:  # the one place is free
            assert _echoed(client, b"served").startswith(b"HTTP/1.1 200")


def test_the_server_stops_cleanly_while_a_refused_upgrade_lingers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused connection stays open a moment for its client to read the answer; a
    shutdown then failed in uvicorn's h11 bookkeeping, on the server's thread."""
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    with running(echo, http=deadline_protocol(WAIT_S * 3)) as url:
        address = (str(urlsplit(url).hostname), int(urlsplit(url).port or 0))
        lingering = socket.create_connection(address)
        lingering.sendall(_UPGRADE + b"\r\n")
        lingering.settimeout(WAIT_S)
        assert lingering.recv(4096).startswith(b"HTTP/1.1 400 ")  # open still: no EOF read
    lingering.close()
    assert errors == []


def _closed_after_answer(client: socket.socket) -> bytes:
    """Ask on ``client`` with ``Connection: close``; the answer, once the server has closed
    it (and so freed its place: a server frees it before its socket closes)."""
    client.sendall(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    return _answer(client)


def test_one_client_address_cannot_take_every_place(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing bounded the connections of one client: one address could hold all of
    ``max_connections`` and leave every other client a 503."""
    with (
        caplog.at_level(logging.WARNING, logger="kgbuild.qa.http_server"),
        running(
            echo,
            http=deadline_protocol(WAIT_S * 3, max_connections=10, max_connections_per_client=2),
        ) as url,
    ):
        address = (str(urlsplit(url).hostname), int(urlsplit(url).port or 0))
        first = socket.create_connection(address)  # open, silent: each holds a place
        second = socket.create_connection(address)
        assert _echoed(second, b"in").startswith(b"HTTP/1.1 200")  # both are served
        with socket.create_connection(address) as third:  # answered before it sends anything
            head, _, body = _answer(third).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 429 "), head
        assert b"connection: close" in head.lower() and b"retry-after: 1" in head.lower()
        assert "serve.max_connections_per_client" in json.loads(body)["detail"]
        assert "refusing new connections from 127.0.0.1 with 429: it has 2 open" in caplog.text
        if sys.platform == "linux":  # another address (127.0.0.2 is loopback too) is served
            with socket.create_connection(address, source_address=("127.0.0.2", 0)) as other:
                assert _echoed(other, b"other").startswith(b"HTTP/1.1 200")

        assert _echoed(first, b"still").startswith(b"HTTP/1.1 200")  # those open: served
        assert _closed_after_answer(first).startswith(b"HTTP/1.1 200")
        first.close()
        with socket.create_connection(address) as later:  # the address has a place again
            assert _echoed(later, b"later").startswith(b"HTTP/1.1 200")
        assert "accepting connections from 127.0.0.1 again (1 refused" in caplog.text
        second.close()


@pytest.mark.parametrize(
    ("configured", "host", "limit"),
    [
        (None, "127.0.0.1", 0),  # every client of a loopback server has one address
        (None, "localhost", 0),
        (None, "::1", 0),
        (None, "0.0.0.0", MAX_CONNECTIONS_PER_CLIENT),
        (None, "192.0.2.7", MAX_CONNECTIONS_PER_CLIENT),
        (5, "127.0.0.1", 5),  # what is configured holds anywhere, 0 (no limit) too
        (0, "0.0.0.0", 0),
    ],
)
def test_the_per_client_limit_applies_beyond_loopback_unless_configured(
    configured: int | None, host: str, limit: int
) -> None:
    assert per_client_limit(configured, host) == limit
