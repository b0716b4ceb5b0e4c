"""The uvicorn server of ``kgbuild serve``, with a deadline on reading each request.

uvicorn bounds the idle time between two requests of a connection (keep-alive), but not
the time a client takes to send one: a connection that opens and sends nothing, headers
sent a byte a minute (slowloris) or a body trickled slowly held its socket, and a file
descriptor, for as long as the client liked, so a few hundred of them took the server
down. Here a request must arrive whole (headers and body) within ``read_timeout_s`` of its
first byte (of the connection, for the first one); otherwise the connection is closed.
Answering takes as long as it takes: the deadline ends once the request is read.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["READ_TIMEOUT_S", "deadline_protocol"]

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 30.0
"""Default time a client has to send a whole request (``serve.read_timeout_s``)."""


class _DeadlineH11(H11Protocol):
    """The h11 protocol of uvicorn, closing a connection whose request is not read in time."""

    read_timeout_s = READ_TIMEOUT_S
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Start the deadline while a request is being read, end it once it is read."""
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
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
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            log.warning(
                "closed the connection of %s: no whole request within %g s",
                client,
                self.read_timeout_s,
            )
            self.transport.close()


def deadline_protocol(read_timeout_s: float = READ_TIMEOUT_S) -> type[H11Protocol]:
    """The h11 protocol of uvicorn with the request deadline, for ``uvicorn.run(http=...)``."""
    return type("DeadlineH11", (_DeadlineH11,), {"read_timeout_s": read_timeout_s})
