"""SIGTERM as an exception, so that a stopped build can record itself as interrupted.

Python turns SIGINT (Ctrl-C) into :class:`KeyboardInterrupt`, but SIGTERM (``kill``, a
container stop, a scheduler's cancel) ends the process without running any ``finally``.
Inside :func:`sigterm_raises` the first SIGTERM raises :class:`Terminated` (a
``KeyboardInterrupt``) in the main thread instead; a second one, while the run is still
cleaning up, ends the process at once. :func:`sigterm_unwinds` then ends the process by
the signal, once the block has unwound (a server that closes its store on the way out).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import NoReturn

__all__ = [
    "Terminated",
    "exit_status",
    "interruption",
    "is_interruption",
    "restated",
    "sigterm_raises",
    "sigterm_unwinds",
]


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM.

    Args:
        signum: The signal number.
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def interruption(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM that ``exc`` is, or that was being handled when it was raised.

    A signal can stop a library mid-way through a socket read, and its clean-up then fail
    in turn (the Neo4j driver's rollback raises ``BufferError`` or a protocol error): the
    run was still interrupted, not failed.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return current
        seen.add(id(current))
        current = current.__context__
    return None


def is_interruption(exc: BaseException) -> bool:
    """True for Ctrl-C and SIGTERM (also where a clean-up failed after them), not for errors."""
    return interruption(exc) is not None


def restated(stop: KeyboardInterrupt) -> KeyboardInterrupt:
    """A new exception of the same kind and signal as ``stop``.

    Raised in place of an error that the clean-up after ``stop`` raised (raising ``stop``
    itself again would loop its context chain).
    """
    return (
        Terminated(stop.signum) if isinstance(stop, Terminated) else KeyboardInterrupt(*stop.args)
    )


def exit_status(exc: KeyboardInterrupt) -> int:
    """The shell's exit status for an interruption: 128 + the signal number (SIGINT: 130)."""
    signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
    return 128 + int(signum)


def _end_by_signal(signum: int) -> NoReturn:
    """End the process by ``signum`` at its default action, as if it had not been caught.

    For a command that cleaned up after :class:`Terminated`: its parent (a supervisor, a
    shell: 128 + the number) sees the signal end it, as before. Output is flushed first.
    """
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # a closed pipe or stream
            stream.flush()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)
    raise SystemExit(128 + int(signum))  # a signal whose default does not end the process


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only; else a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if received:  # a second SIGTERM during the clean-up: stop now
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        received.append(signum)
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        # None: a handler installed outside Python, which cannot be put back; the default
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Within the block, SIGTERM unwinds it (its ``finally`` clauses run), then ends the process.

    The end is by the signal (:func:`_end_by_signal`), as if it had not been caught: for a
    command with nothing to record, only resources to release (a server's graph store).
    """
    try:
        with sigterm_raises():
            yield
    except Terminated as stop:
        _end_by_signal(stop.signum)
