import os
from pathlib import Path

import pytest

from kgbuild_flows import PREFECT_DEFAULTS, configure_environment


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
