"""``kgbuild serve``'s uvicorn protocol: a request must arrive whole in time (slowloris).

A real uvicorn server on a real socket, with the protocol ``kgbuild serve`` runs, and raw
clients that send nothing, a header a byte at a time, or half a body.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from starlette.types import Receive, Scope, Send

from kgbuild.qa.http_server import deadline_protocol
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
