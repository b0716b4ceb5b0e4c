"""The ``kgbuild`` command line (the console script ``kgbuild = "kgbuild.cli:app"``).

The top layer: the only part of kgbuild that imports the Prefect flows
(``kgbuild_flows``); the library below it never imports the CLI. ``app`` is imported on
first use, so ``python -m kgbuild.cli.train`` runs its module once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["app"]

if TYPE_CHECKING:
    from kgbuild.cli.main import app


def __getattr__(name: str) -> Any:
    """Import ``app`` on first use."""
    if name != "app":
        raise AttributeError(f"module 'kgbuild.cli' has no attribute {name!r}")
    from kgbuild.cli.main import app

    return app
