"""A ``PREFECT_API_URL`` where no Prefect server answers: one error line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kgbuild.store.neo4j.server import free_port
from tests.conftest import CORPUS, REPO

pytestmark = pytest.mark.prefect


@pytest.mark.parametrize("command", ["build", "schedule"])
def test_a_prefect_server_that_does_not_answer_exits_2_with_one_error_line(
    tmp_path: Path, command: str
) -> None:
    """`build --engine prefect` failed with a traceback (RuntimeError: Failed to reach API)."""
    api = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    options = ["--engine", "prefect"] if command == "build" else ["--interval", "60"]
    args = [command, str(CORPUS), *options, "--out", str(tmp_path / "out")]
    done = subprocess.run(
        [sys.executable, "-m", "kgbuild", *args],
        cwd=REPO,
        env={**os.environ, "PREFECT_HOME": str(tmp_path / "home"), "PREFECT_API_URL": api},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"error: no Prefect server answers at PREFECT_API_URL={api}" in done.stderr
    assert not (tmp_path / "out").exists()  # nothing started
