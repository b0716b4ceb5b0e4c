"""A closed standard output ends a command quietly, as it ends other Unix tools.

``kgbuild export | head -1`` or ``kgbuild cypher ... | true``: the reader is gone before
the command has written all it has to say. A C tool dies of SIGPIPE, without a word, and
the shell reports 141 (128 + SIGPIPE); Python ignores SIGPIPE and raises
``BrokenPipeError`` instead, which Click turned into exit status 1, for ``kgbuild build``
the status of "some documents failed". SIGPIPE itself is not restored: it would also end
``kgbuild serve`` when a client hangs up, and a write to a closed Neo4j connection.
"""

from __future__ import annotations

import os
import select
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from typer.core import TyperGroup

from kgbuild.cli.helptext import flowing

__all__ = ["EXIT_CLOSED_OUTPUT", "Commands", "closed_output_exits"]

#: The exit status of a command whose standard output was closed: a shell's for SIGPIPE.
EXIT_CLOSED_OUTPUT = 128 + int(signal.SIGPIPE)


def _stdout_closed() -> bool:
    """True when standard output is a pipe or socket whose reader is gone."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a test runner, or closed
        return False
    poller = select.poll()
    poller.register(fd, 0)  # POLLERR and POLLHUP are always reported
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _silence_stdout() -> None:
    """Point standard output at the null device, so that nothing more (nor the final flush) fails."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


@contextmanager
def closed_output_exits() -> Iterator[None]:
    """Within the block, a write to a closed standard output ends the command with 141.

    A ``BrokenPipeError`` of anything else (a socket) is raised as it is. Rich (the help
    pages) points standard output at the null device itself and exits 1: that exit is 141
    too.
    """
    try:
        yield
    except BrokenPipeError as exc:
        if not _stdout_closed():
            raise
        _silence_stdout()
        raise typer.Exit(code=EXIT_CLOSED_OUTPUT) from exc
    except SystemExit as exc:  # rich.console.Console.on_broken_pipe
        if exc.code != 1 or not isinstance(exc.__context__, BrokenPipeError):
            raise
        raise typer.Exit(code=EXIT_CLOSED_OUTPUT) from exc


class Commands(TyperGroup):
    """A ``kgbuild`` group: its commands (and every ``--help``) end quietly on a closed output.

    Their help text flows to the terminal's width (:func:`kgbuild.cli.helptext.flowing`).
    """

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command ``cmd_name``, its help text made to flow."""
        command = super().get_command(ctx, cmd_name)
        if command is not None and command.help:
            command.help = flowing(command.help)
        return command

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        """Parse the arguments (``--help`` prints here)."""
        with closed_output_exits():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        """Run the command that ``ctx`` names."""
        with closed_output_exits():
            return super().invoke(ctx)
