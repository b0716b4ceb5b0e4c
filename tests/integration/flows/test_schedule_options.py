"""``kgbuild schedule`` refuses a schedule Prefect cannot run with one clear error line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS, REPO

pytestmark = pytest.mark.prefect


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--cron", "not a cron"], "invalid cron schedule 'not a cron'"),
        (["--cron", "61 * * * *"], "invalid cron schedule '61 * * * *'"),
        (["--interval", "0"], "interval 0.0 s"),
        (["--interval", "-5"], "interval -5.0 s"),
        (["--interval", "nan"], "interval nan s"),
        (["--interval", "60", "--name", "nightly/docs"], "invalid deployment name 'nightly/docs'"),
        (["--interval", "60", "--name", ""], "invalid deployment name ''"),
    ],
)
def test_a_bad_schedule_or_name_exits_2_with_one_error_line(
    tmp_path: Path, options: list[str], message: str
) -> None:
    """No Prefect server needed: the schedule is refused before anything is served."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": "http://127.0.0.1:9/api",  # nothing listens: never reached
    }
    args = ["schedule", str(CORPUS), *options, "--out", str(tmp_path / "out")]
    done = subprocess.run(
        [sys.executable, "-m", "kgbuild", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"error: {message}" in done.stderr
