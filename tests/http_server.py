"""Run an ASGI app under a real uvicorn server in a thread, for HTTP tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["free_port", "running"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(app: Any, host: str = "127.0.0.1", **options: Any) -> Iterator[str]:
    """Serve ``app`` on a free port; yield its base URL; stop it on exit.

    ``options`` go to ``uvicorn.Config`` (``http=``: the protocol class).
    """
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
