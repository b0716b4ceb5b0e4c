"""The uvicorn server of ``kgbuild serve``: a deadline per request, a cap on connections.

uvicorn bounds the idle time between two requests of a connection (keep-alive), but not
the time a client takes to send one: a connection that opens and sends nothing, headers
sent a byte a minute (slowloris) or a body trickled slowly held its socket, and a file
descriptor, for as long as the client liked, so a few hundred of them took the server
down. Here a request must arrive whole (headers and body) within ``read_timeout_s`` of its
first byte (of the connection, for the first one); otherwise the connection is closed.
Answering takes as long as it takes: the deadline ends once the request is read. A request
sent before the answer to the one before it ended (pipelined) is read once that answer
ends, and its deadline starts then.

Nor did anything bound how many connections were open at once, each holding a socket, a
file descriptor and its buffers, and its requests waiting for the API's worker threads. At
most ``max_connections`` are served at a time; one more is answered 503 as soon as it
opens, before it sends anything, and closed, while those already open are served as before.
Nor could one client be kept from taking every one of those places: at most
``max_connections_per_client`` are served for one peer address, and one more from it gets
429 as it opens (where the limit applies: :func:`per_client_limit`).

A refused connection stays open a moment (:data:`REFUSED_LINGER_S`) for its client to read
the answer, and counts toward neither limit: one address opening connections faster than
they closed held a socket and a file descriptor for each (1,024 per process by default),
and the server then failed to accept anyone. At most ``max_connections`` refused ones stay
open at once; one more closes the oldest, which has had the longest to read its answer.
They are not counted among those served, which they would crowd out, nor closed at once:
a request already received and left unread turns the close into a reset, and the client
loses the answer.

Nothing kgbuild serves speaks WebSocket, yet uvicorn handed any request asking for it to
its WebSocket protocol, which this one no longer watched: a handshake that protocol could
not parse (a body, a header line over 8 KB) was never answered, and the connection stayed
open outside the count of ``max_connections`` until a read deadline left running by chance
closed it. Such a request is now answered 400 and closed: no connection leaves this protocol.

uvicorn stops on SIGTERM and SIGINT by itself: it shuts down, then raises the signal again
with the handlers it found, and SIGTERM's default ends the process right there, so code
after ``uvicorn.run`` (a ``finally``) never ran; ``kgbuild serve`` runs the server inside
:func:`kgbuild.interrupts.sigterm_unwinds`, whose handler uvicorn finds, so that it does.
:class:`HookedServer` runs a hook once the server listens and one as its shutdown begins.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from kgbuild.qa.http_guards import is_loopback

__all__ = [
    "MAX_CONNECTIONS",
    "MAX_CONNECTIONS_PER_CLIENT",
    "READ_TIMEOUT_S",
    "HookedServer",
    "deadline_protocol",
    "per_client_limit",
]

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 30.0
"""Default time a client has to send a whole request (``serve.read_timeout_s``)."""

MAX_CONNECTIONS = 100
"""Default number of connections served at once (``serve.max_connections``)."""

MAX_CONNECTIONS_PER_CLIENT = 20
"""Default number of connections one peer address holds at once, serving beyond loopback
(``serve.max_connections_per_client``): a browser opens at most 6 to a server, so three of
them behind one address fit, and filling the default 100 places takes at least 5 addresses."""

REFUSED_LINGER_S = 2.0
"""How long a refused connection is kept open, its input read and dropped, for its client
to read its answer (closing a socket with unread input resets it, and the answer is lost);
the oldest is closed sooner where ``max_connections`` refused ones are open."""


@dataclass
class _Connections:
    """The connections one server serves, and how many it refused since it was last full.

    ``per_client`` bounds those of one peer address (0: no bound); ``crowded`` counts, for
    each address at its bound, the connections refused to it since it reached the bound.
    """

    limit: int
    per_client: int = 0
    served: set[_DeadlineH11] = field(default_factory=set)
    lingering: dict[_DeadlineH11, None] = field(default_factory=dict)
    """Refused connections still open, oldest first (at most ``limit``)."""
    refused: int = 0
    by_client: Counter[str] = field(default_factory=Counter)
    crowded: dict[str, int] = field(default_factory=dict)


class _DeadlineH11(H11Protocol):
    """The h11 protocol of uvicorn with a read deadline per request and connection caps."""

    read_timeout_s = READ_TIMEOUT_S
    open_connections = _Connections(MAX_CONNECTIONS)
    _deadline: asyncio.TimerHandle | None = None
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        connections, address = self.open_connections, self._address()
        if address is not None and 0 < connections.per_client <= connections.by_client[address]:
            self._refuse_crowded(address)
            return
        if len(connections.served) >= connections.limit:
            self._refuse_busy()
            return
        connections.served.add(self)
        if address is not None:
            connections.by_client[address] += 1
        self._watch()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # answered already: its request is read and dropped
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        """Watch the next request if it has begun (pipelined).

        uvicorn reads a request sent before this answer ended now, with no new data, so
        :meth:`data_received` never sees it begin.
        """
        super().on_response_complete()
        if self.conn.their_state is h11.SEND_BODY or self.conn.trailing_data[0]:
            self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        self._release()
        self.open_connections.lingering.pop(self, None)
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """Close at the server's shutdown; a refused connection (answered already) at once.

        uvicorn's own would tell h11 the connection closed, which h11 refuses mid-request
        (a refused upgrade): the error stopped the server's shutdown half-way.
        """
        if self._refused:
            self.transport.close()
            return
        super().shutdown()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        """Answer 400 and close: kgbuild serves no WebSocket, so nothing is handed over.

        uvicorn's WebSocket protocol would have the connection out of this one's sight:
        no deadline, no place counted.
        """
        log.warning(
            "refused a WebSocket upgrade from %s (%s): kgbuild serve has no WebSocket",
            self._client_name(),
            event.target.decode("ascii", "replace")[:80],
        )
        self._release()  # like a refused connection: closed within REFUSED_LINGER_S
        self._refuse(_NO_WEBSOCKET)

    def _release(self) -> None:
        """Free this connection's place among those served."""
        connections = self.open_connections
        if self not in connections.served:
            return
        connections.served.discard(self)
        address = self._address()
        if address is not None and connections.by_client[address]:
            connections.by_client[address] -= 1
            if not connections.by_client[address]:
                del connections.by_client[address]
            refused = connections.crowded.pop(address, 0)
            if refused:
                log.warning(
                    "accepting connections from %s again (%d refused while it had %d open)",
                    address,
                    refused,
                    connections.per_client,
                )
        if connections.refused:
            log.warning(
                "accepting connections again (%d refused while %d were open)",
                connections.refused,
                connections.limit,
            )
            connections.refused = 0

    def _refuse_busy(self) -> None:
        """Answer 503 at once and close: the server serves as many connections as it may."""
        connections = self.open_connections
        if not connections.refused:
            log.warning(
                "refusing new connections with 503: %d are open, the limit "
                "(serve.max_connections); first refused: %s",
                connections.limit,
                self._client_name(),
            )
        connections.refused += 1
        self._refuse(_busy_answer(connections.limit))

    def _refuse_crowded(self, address: str) -> None:
        """Answer 429 at once and close: this address holds as many connections as it may."""
        connections = self.open_connections
        if address not in connections.crowded:
            log.warning(
                "refusing new connections from %s with 429: it has %d open, the limit "
                "(serve.max_connections_per_client; clients behind one proxy share its address)",
                address,
                connections.per_client,
            )
        connections.crowded[address] = connections.crowded.get(address, 0) + 1
        self._refuse(_crowded_answer(connections.per_client))

    def _refuse(self, answer: bytes) -> None:
        """Send ``answer`` (a whole response), read and drop what comes, close shortly.

        Closes the oldest refused connection still open where ``limit`` of them are.
        """
        self._refused = True
        self._stop()
        self.transport.write(answer)
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the client reads the answer, then the end
        lingering = self.open_connections.lingering
        while len(lingering) >= self.open_connections.limit:
            oldest = next(iter(lingering))
            del lingering[oldest]
            oldest.transport.close()
        lingering[self] = None
        self.loop.call_later(REFUSED_LINGER_S, self.transport.close)

    def _client_name(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"

    def _address(self) -> str | None:
        """The peer's address, its port left out: what the per-client limit counts."""
        return self.client[0] if self.client else None

    def _watch(self) -> None:
        """Start the deadline while a request is being read, end it once it is read."""
        if self._refused or self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._stop()
        elif self._deadline is None and not self.transport.is_closing():
            self._deadline = self.loop.call_later(self.read_timeout_s, self._expired)

    def _stop(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            log.warning(
                "closed the connection of %s: no whole request within %g s",
                self._client_name(),
                self.read_timeout_s,
            )
            self.transport.close()


def _busy_answer(limit: int) -> bytes:
    """The 503 a connection beyond the limit gets, whole (status line, headers, JSON body)."""
    detail = (
        f"the server is serving as many connections as it may ({limit}, "
        "serve.max_connections): try again shortly"
    )
    return _answer("503 Service Unavailable", detail, retry_after=True)


def _crowded_answer(limit: int) -> bytes:
    """The 429 a connection beyond its address's limit gets, whole."""
    detail = (
        f"your address holds as many connections as one address may ({limit}, "
        "serve.max_connections_per_client): reuse one (keep-alive), or close one and try again"
    )
    return _answer("429 Too Many Requests", detail, retry_after=True)


def _answer(status: str, detail: str, *, retry_after: bool = False) -> bytes:
    """A whole response that ends the connection: status line, headers, ``{"detail": ...}``."""
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        + ("retry-after: 1\r\n" if retry_after else "")
        + "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


_NO_WEBSOCKET = _answer(
    "400 Bad Request", "kgbuild serve has no WebSocket: send the request without Upgrade"
)


def deadline_protocol(
    read_timeout_s: float = READ_TIMEOUT_S,
    max_connections: int = MAX_CONNECTIONS,
    max_connections_per_client: int = 0,
) -> type[H11Protocol]:
    """The h11 protocol with the deadline and the caps, for ``uvicorn.run(http=...)``.

    One class per server: the class counts the server's connections.
    ``max_connections_per_client``: 0 for no limit per peer address.
    """
    connections = _Connections(max_connections, per_client=max_connections_per_client)
    return type(
        "DeadlineH11",
        (_DeadlineH11,),
        {"read_timeout_s": read_timeout_s, "open_connections": connections},
    )


def per_client_limit(configured: int | None, bound_host: str) -> int:
    """The per-address limit a server bound to ``bound_host`` runs with (0: none).

    ``configured`` (``serve.max_connections_per_client``) when given; otherwise none on a
    loopback address, where every client (a reverse proxy on this machine too) has the same
    one, so the limit would only lower ``max_connections``, and
    :data:`MAX_CONNECTIONS_PER_CLIENT` beyond it.
    """
    if configured is not None:
        return configured
    return 0 if is_loopback(bound_host) else MAX_CONNECTIONS_PER_CLIENT


def _nothing() -> None:
    pass


class HookedServer(uvicorn.Server):
    """uvicorn's server with a hook once it listens and one as its shutdown begins.

    ``listening`` runs once the socket is bound; ``stopping`` first thing in the shutdown,
    whatever stops the server (SIGTERM, SIGINT or ``should_exit``). An error in ``listening`` is logged and stops the server (its shutdown runs).
    """

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        listening: Callable[[], None] = _nothing,
        stopping: Callable[[], None] = _nothing,
    ) -> None:
        super().__init__(config)
        self._listening, self._stopping = listening, stopping

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start as uvicorn does, then call ``listening``."""
        await super().startup(sockets)
        if self.started:
            try:
                self._listening()
            except Exception:
                log.exception("stopping the server: its start-up hook failed")
                self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Call ``stopping``, then shut down as uvicorn does."""
        try:
            self._stopping()
        finally:
            await super().shutdown(sockets)
