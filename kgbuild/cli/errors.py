"""How every ``kgbuild`` command reports a failure: one red line and exit code 2."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from kgbuild.errors import KGBuildError

__all__ = ["fail", "reports_errors"]

P = ParamSpec("P")
R = TypeVar("R")


def fail(exc: Exception) -> typer.Exit:
    """Print ``error: <exc>`` on stderr and return the exit (code 2) to raise."""
    typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so that a :class:`KGBuildError` ends it with :func:`fail`, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except KGBuildError as exc:
            raise fail(exc) from exc

    return wrapper
