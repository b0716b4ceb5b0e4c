"""Prefect orchestration of the kgbuild library (thin: no logic of its own).

Importing this package sets Prefect defaults that suit an offline machine unless the
user has set them: no telemetry, a Prefect home the project controls, a generous
start-up timeout for the temporary server, and no warnings for tasks called bare.
"""

from __future__ import annotations

import os
from pathlib import Path

_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_HOME": str(Path.home() / ".kgbuild" / "prefect"),
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}
for _name, _value in _DEFAULTS.items():
    os.environ.setdefault(_name, _value)
