"""A PostgreSQL ledger that is down when a build starts, or stops during it (real server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kgbuild.config import NerConfig, Settings
from kgbuild.pipeline import build
from kgbuild.store.sql.orm import LedgerUnavailableError
from tests import pg
from tests.processes import BuildProcess, long_corpus

pytestmark = pytest.mark.slow  # a real build process over a long document


@pytest.fixture
def restartable_url() -> Iterator[str]:
    """A PostgreSQL server of this test's own, that it may stop and start."""
    if not pg.available():
        pytest.skip("PostgreSQL is not installed here")
    with pg.postgres_server() as url:
        if not pg.can_restart(url):
            pytest.skip("KGBUILD_TEST_POSTGRES_URL names a server this test cannot stop")
        yield url


def test_a_ledger_that_goes_down_is_one_clear_error_and_the_rerun_completes(
    tmp_path: Path, keyword_ner_model: Path, restartable_url: str
) -> None:
    # was a psycopg OperationalError traceback (two, chained, once the run had started:
    # recording its failure failed too) and exit status 1
    docs = long_corpus(tmp_path / "docs", sentences=1200)
    out = tmp_path / "out"
    settings = Settings(
        out_dir=out, ledger_url=restartable_url, ner=NerConfig(model=str(keyword_ner_model))
    )
    shown = repr(restartable_url)  # no password in it here
    pg.stop(restartable_url)
    with pytest.raises(LedgerUnavailableError, match="cannot be reached or written") as down:
        build([docs], settings)
    assert f"the run ledger {shown}" in str(down.value)

    pg.start(restartable_url)
    args = ["build", str(docs), "--out", str(out), "--model", str(keyword_ner_model)]
    process = BuildProcess(
        args, env={"KGBUILD_LEDGER_URL": restartable_url, "KGBUILD_NER__BATCH_SIZE": "2"}
    )
    try:
        process.wait_for("ner: 10%")  # the run is started in the ledger; NER is under way
        pg.stop(restartable_url)
        assert process.finish() == 2, process.output
    finally:
        process.stop()
    assert "Traceback" not in process.output, process.output
    errors = [line for line in process.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: the run ledger {shown} cannot be")
    assert "its end could not be recorded in the ledger" in process.output

    pg.start(restartable_url)
    report = build([docs], settings)  # the run left `running` is abandoned; this one completes
    assert (report.processed, report.failed, report.documents) == (1, 0, 1)


def test_export_of_an_empty_ledger_does_not_show_its_password(
    restartable_url: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from kgbuild.cli import app

    # the server trusts local connections: the password is sent and ignored
    url = restartable_url.replace("kgbuild@", "kgbuild:s3cret-pw@", 1)
    result = CliRunner().invoke(
        app, ["export", "--out", str(tmp_path / "out")], env={"KGBUILD_LEDGER_URL": url}
    )
    assert result.exit_code == 2, result.output
    assert "holds no successfully built document" in result.output
    assert "s3cret-pw" not in result.output  # was the whole URL, password included
    assert "kgbuild:***@" in result.output
