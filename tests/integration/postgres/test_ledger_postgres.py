"""The run ledger's tests (tests/unit/store/test_ledger.py) on a real PostgreSQL server.

The server is started for this module by tests/pg.py from the PostgreSQL binaries on PATH or
under /usr/lib/postgresql (or ``KGBUILD_TEST_POSTGRES_URL``); the tests are skipped where
PostgreSQL is not installed.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from kgbuild.store.sql.orm import Base, make_engine
from tests import pg
from tests.unit.store import test_ledger as sqlite_tests

# The tests that take an `engine`, collected here again: their `engine` is this module's.
globals().update(
    {
        name: test
        for name, test in vars(sqlite_tests).items()
        if name.startswith("test_") and "engine" in inspect.signature(test).parameters
    }
)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if not pg.available():
        pytest.skip("PostgreSQL is not installed here")
    with pg.postgres_server() as url:
        yield url


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    with engine.begin() as conn:  # each test starts from empty tables
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    yield engine
    engine.dispose()
