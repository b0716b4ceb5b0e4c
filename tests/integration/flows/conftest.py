"""Real Prefect for the flow tests: a private PREFECT_HOME and the test harness's server."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

# Before anything imports prefect: this session's Prefect database, results and cache.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="kgbuild-prefect-"))
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")

from kgbuild.config import Settings
from kgbuild.store.sql.orm import RunRow, make_engine
from tests.conftest import CORPUS


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server (SQLite in a temporary folder) for the whole session."""
    from kgbuild_flows import configure_environment

    configure_environment()  # before prefect is imported
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the example corpus."""
    return Path(shutil.copytree(CORPUS, tmp_path / "corpus"))


def runs(settings: Settings) -> list[RunRow]:
    """The ledger's runs, oldest first."""
    engine = make_engine(settings.resolved_ledger_url())
    try:
        with Session(engine) as session:
            return list(session.scalars(select(RunRow).order_by(RunRow.started_at, RunRow.id)))
    finally:
        engine.dispose()
