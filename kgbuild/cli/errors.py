"""How every ``kgbuild`` command reports a failure (one red line and exit code 2) or a stop."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from kgbuild.errors import KGBuildError
from kgbuild.interrupts import exit_status

__all__ = ["fail", "interrupted", "reports_errors"]

P = ParamSpec("P")
R = TypeVar("R")


def fail(exc: Exception) -> typer.Exit:
    """Print ``error: <exc>`` on stderr and return the exit (code 2) to raise."""
    typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)


def interrupted(stop: KeyboardInterrupt, what_now: str) -> typer.Exit:
    """Print ``interrupted (stopped by SIGINT): <what_now>`` on stderr; the exit (130/143)."""
    typer.secho(
        f"interrupted ({str(stop) or 'stopped by SIGINT'}): {what_now}",
        err=True,
        fg=typer.colors.YELLOW,
    )
    return typer.Exit(code=exit_status(stop))


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so that a :class:`KGBuildError` ends it with :func:`fail`, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except KGBuildError as exc:
            raise fail(exc) from exc

    return wrapper
