import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgbuild.errors import ConfigError
from kgbuild_flows import PREFECT_DEFAULTS, configure_environment
from tests.conftest import CORPUS


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """``configure_environment`` writes ``os.environ``: every change undone after the test."""
    for name in PREFECT_DEFAULTS:
        monkeypatch.setenv(name, "")  # records whether it was set, so teardown restores it
        monkeypatch.delenv(name)
    return monkeypatch


def test_the_prefect_home_is_created_with_its_parents(
    tmp_path: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    """Prefect makes its home without parents: ~/.kgbuild/prefect failed on a new machine."""
    home = tmp_path / "fresh" / ".kgbuild" / "prefect"
    clean_environment.setenv("PREFECT_HOME", str(home))
    configure_environment()
    assert home.is_dir()
    assert os.environ["DO_NOT_TRACK"] == "1"


def test_defaults_do_not_override_what_the_user_set(
    tmp_path: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    clean_environment.setenv("PREFECT_HOME", str(tmp_path / "mine"))
    clean_environment.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
    configure_environment()
    assert os.environ["PREFECT_HOME"] == str(tmp_path / "mine")
    assert os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "300"
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


def test_a_prefect_home_that_cannot_be_made_is_one_error_line_and_exit_2(
    tmp_path: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    """It was left to Prefect: its temporary server timed out after 90 s, with a traceback."""
    from kgbuild.cli import app

    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    clean_environment.setenv("PREFECT_HOME", str(blocker / "prefect"))
    with pytest.raises(ConfigError, match=r"PREFECT_HOME .*a-file/prefect cannot be used"):
        configure_environment()
    out = str(tmp_path / "out")
    build = CliRunner().invoke(app, ["build", str(CORPUS), "--engine", "prefect", "--out", out])
    assert build.exit_code == 2, build.output
    assert "error: PREFECT_HOME" in build.output
    clean_environment.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # never reached
    schedule = CliRunner().invoke(app, ["schedule", str(CORPUS), "--interval", "60"])
    assert schedule.exit_code == 2, schedule.output
    assert "error: PREFECT_HOME" in schedule.output


def test_schedule_refuses_a_path_that_does_not_exist(tmp_path: Path) -> None:
    """A typo was served: every scheduled run then found nothing, and nobody was told."""
    from kgbuild.cli import app

    typo = tmp_path / "inbx"
    result = CliRunner().invoke(app, ["schedule", str(typo), "--interval", "60"])
    assert result.exit_code == 2, result.output
    assert f"error: input path {typo} does not exist" in result.output
