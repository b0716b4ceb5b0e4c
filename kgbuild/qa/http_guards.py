"""What stands between the network and the API: body size, ``Host`` names, a bearer token.

Each guard is a plain ASGI middleware, so it acts before FastAPI reads or parses anything:

* :class:`BodyLimit` answers 413 to a request whose ``Content-Length`` is over the limit,
  and stops reading a streamed body as soon as it passes the limit;
* :func:`allowed_hosts` lists the ``Host`` names that Starlette's ``TrustedHostMiddleware``
  lets through (loopback names plus the bound host), which closes the API to DNS rebinding;
* :class:`TokenAuth` answers 401 unless ``Authorization: Bearer <token>`` matches.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Collection, Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "LOOPBACK_HOSTS",
    "BodyLimit",
    "BodyTooLarge",
    "TokenAuth",
    "allowed_hosts",
    "host_name",
    "is_loopback",
    "validation_errors",
]

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
"""``Host`` names always accepted (as Starlette parses them: IPv6 in brackets)."""
_WILDCARDS = frozenset({"0.0.0.0", "::", "[::]", ""})


def host_name(host: str) -> str:
    """A host as a ``Host`` header names it: IPv6 literals in brackets, lower case."""
    host = host.strip().lower()
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server on this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_hosts(bound: str, extra: Iterable[str] = ()) -> list[str]:
    """Loopback names, the bound host (unless it is a wildcard address) and ``extra``."""
    hosts = [*LOOPBACK_HOSTS]
    if bound.strip() not in _WILDCARDS:
        hosts.append(host_name(bound))
    hosts += [host if host == "*" else host_name(host) for host in extra]
    return list(dict.fromkeys(hosts))


class BodyTooLarge(HTTPException):
    """The request body passed the limit (413); FastAPI re-raises it while reading."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body over the limit of {limit:,} bytes")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes before anything parses them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, counting its body; 413 once it is over the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = exceeded = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise BodyTooLarge(self.limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if exceeded:  # the rest of the body is not read: end the connection
                    message = {**message, "headers": [*message["headers"], _CLOSE]}
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = BodyTooLarge(self.limit)
        response = JSONResponse({"detail": error.detail}, status_code=413)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


_CLOSE = (b"connection", b"close")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class TokenAuth:
    """Require ``Authorization: Bearer <token>`` on every path but the ``open`` ones."""

    def __init__(self, app: ASGIApp, token: str, open_paths: Collection[str] = ()) -> None:
        self.app = app
        self.expected = token.encode()
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on when its token matches (or its path is open); else 401."""
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                given = value
        scheme, _, credentials = given.partition(b" ")  # the scheme's case does not matter
        if scheme.lower() == b"bearer" and secrets.compare_digest(
            credentials.strip(), self.expected
        ):
            await self.app(scope, receive, send)
            return
        detail = "this server needs its access token: Authorization: Bearer <token>"
        response = JSONResponse(
            {"detail": detail if not given else "wrong access token"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)


def validation_errors(errors: Iterable[Any]) -> list[dict[str, Any]]:
    """Pydantic errors without the input they rejected: where, what and the error type."""
    return [
        {
            "loc": [_short(part) for part in error.get("loc", ())],
            "msg": _short(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors
    ]


def _short(value: Any, limit: int = 80) -> Any:
    if isinstance(value, int):
        return value
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."
