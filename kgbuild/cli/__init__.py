"""The ``kgbuild`` command line (the console script ``kgbuild = "kgbuild.cli:main"``).

The top layer: the only part of kgbuild that imports the Prefect flows
(``kgbuild_flows``); the library below it never imports the CLI. ``app`` is imported on
first use, so ``python -m kgbuild.cli.train`` runs its module once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

__all__ = ["app", "leave_without_teardown", "main"]

if TYPE_CHECKING:
    from kgbuild.cli.main import app

_leave_without_teardown = False


def leave_without_teardown() -> None:
    """Let :func:`main` end the process at once when the command returns.

    For a command whose work is done and whose objects need no finalising (``kgbuild
    ask`` answering from models it loaded): tearing the interpreter down collects and
    frees every object of torch, transformers and the models, up to a second, and
    Triton's extension reports the objects that :func:`kgbuild.collection.long_lived`
    froze as leaks. Output is flushed and logging shut down first; atexit handlers do
    not run. Only the console script acts on it (not ``app`` called in-process).
    """
    global _leave_without_teardown
    _leave_without_teardown = True


def main() -> None:
    """The console script and ``python -m kgbuild``: run the CLI.

    A Ctrl-C before a command runs (while the CLI is imported and built) exits 130 without
    a traceback, as one while it runs does.
    """
    try:
        from kgbuild.cli.main import app

        # NO_COLOR (https://no-color.org): set and not empty, no colour even on a terminal
        app(**({"color": False} if os.environ.get("NO_COLOR") else {}))
    except KeyboardInterrupt:
        raise SystemExit(128 + int(signal.SIGINT)) from None
    except SystemExit as done:
        if not _leave_without_teardown or not isinstance(done.code, int | None):
            raise
        code = done.code or 0
    else:
        if not _leave_without_teardown:
            return
        code = 0
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: what Python's own exit reports as 120
            code = code or 120
    os._exit(code)


def __getattr__(name: str) -> Any:
    """Import ``app`` on first use."""
    if name != "app":
        raise AttributeError(f"module 'kgbuild.cli' has no attribute {name!r}")
    from kgbuild.cli.main import app

    return app
