"""Prefect orchestration of the kgbuild library (thin: no logic of its own).

Installed as ``kgbuild_flows`` (not ``flows``: a top-level name that could clash
with other projects). Importing it changes nothing; entry points that start Prefect (the
CLI's build and schedule commands, the tests, the benchmarks) call
:func:`configure_environment` first, before anything imports ``prefect``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from kgbuild.errors import ConfigError

__all__ = ["PREFECT_DEFAULTS", "configure_environment"]


def _defaults() -> dict[str, str]:
    return {
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_HOME": str(Path.home() / ".kgbuild" / "prefect"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    }


PREFECT_DEFAULTS: Mapping[str, str] = _defaults()
"""Prefect defaults that suit an offline machine: no telemetry, a Prefect home the project
controls, a generous start-up timeout for the temporary server, no warnings for tasks
called bare."""


def configure_environment() -> None:
    """Set :data:`PREFECT_DEFAULTS` where the user has not, and create the Prefect home.

    Call it before importing ``prefect``: Prefect reads its settings when it is imported.

    Raises:
        ConfigError: the Prefect home cannot be created or written.
    """
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    # Prefect creates its home without parents: on a machine without ~/.kgbuild its
    # database could not be opened and the temporary server timed out after 90 s
    home = Path(os.environ["PREFECT_HOME"]).expanduser()
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        problem = exc.strerror or str(exc)
    else:
        if os.access(home, os.W_OK | os.X_OK):
            return
        problem = "not writable"
    # Prefect would wait for its temporary server (90 s), then fail with a traceback
    raise ConfigError(
        f"PREFECT_HOME {home} cannot be used ({problem}): set PREFECT_HOME to a folder "
        "this user can write"
    )
