"""A real ``kgbuild build`` process stopped midway: SIGTERM, Ctrl-C (SIGINT) and kill -9.

Each build reads one long document with a small NER batch, so that it logs its progress
within the document (``ner: 10% ...``, stderr is not a terminal here); the test acts on
that line, while the build is certainly running, holding the output folder's lock and with
its run started in the ledger.
"""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kgbuild.config import NerConfig, Settings
from kgbuild.pipeline import build
from kgbuild.processes import this_host
from kgbuild.runlock import LOCK_NAME, OutputLockedError
from kgbuild.store.sql.orm import RunRow, make_engine
from tests.processes import BuildProcess, long_corpus

pytestmark = pytest.mark.slow  # real build processes over a long document

SMALL_BATCHES = {"KGBUILD_NER__BATCH_SIZE": "2"}


def runs(settings: Settings) -> list[RunRow]:
    engine = make_engine(settings.resolved_ledger_url())
    try:
        with Session(engine) as session:
            return list(session.scalars(select(RunRow).order_by(RunRow.started_at, RunRow.id)))
    finally:
        engine.dispose()


@pytest.fixture
def started(tmp_path: Path, keyword_ner_model: Path) -> Iterator[tuple[BuildProcess, Settings]]:
    """A CLI build of the long document, past the first 10% of its NER."""
    docs = long_corpus(tmp_path / "docs", sentences=1200)
    out = tmp_path / "out"
    process = BuildProcess(
        ["build", str(docs), "--out", str(out), "--model", str(keyword_ner_model)],
        env=SMALL_BATCHES,
    )
    try:
        process.wait_for("ner: 10%")
        settings = Settings(out_dir=out, ner=NerConfig(model=str(keyword_ner_model)))
        yield process, settings
    finally:
        process.stop()


@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGTERM, 128 + 15), (signal.SIGINT, 128 + 2)]
)
def test_a_stopped_build_is_recorded_as_interrupted_and_frees_the_folder(
    started: tuple[BuildProcess, Settings], signum: int, status: int
) -> None:
    process, settings = started
    # meanwhile, a second build into the same folder fails at once, naming the first
    with pytest.raises(OutputLockedError) as refused:
        build([settings.out_dir.parent / "docs"], settings)
    assert f"pid {process.pid} on host {this_host()}" in str(refused.value)

    process.process.send_signal(signum)
    assert process.finish() == status, process.output
    name = signal.Signals(signum).name
    assert f"interrupted (stopped by {name}): the run is recorded as interrupted" in (
        process.output
    )
    (run,) = runs(settings)
    assert (run.status, run.pid, run.finished_at is not None) == ("interrupted", process.pid, True)
    assert run.error is not None and (name in run.error or "KeyboardInterrupt" in run.error)
    assert not (settings.out_dir / LOCK_NAME).exists()

    report = build([settings.out_dir.parent / "docs"], settings)  # the next build completes
    assert (report.processed, report.failed) == (1, 0)
    assert [r.status for r in runs(settings)] == ["interrupted", "succeeded"]


def test_a_killed_build_leaves_a_stale_lock_and_a_running_run_that_the_next_build_clears(
    started: tuple[BuildProcess, Settings], caplog: pytest.LogCaptureFixture
) -> None:
    process, settings = started
    process.process.kill()  # kill -9: no handler, no finally
    process.finish()
    lock = json.loads((settings.out_dir / LOCK_NAME).read_text(encoding="utf-8"))
    assert lock["pid"] == process.pid
    (run,) = runs(settings)
    assert (run.status, run.pid, run.host) == ("running", process.pid, this_host())

    with caplog.at_level(logging.WARNING):
        report = build([settings.out_dir.parent / "docs"], settings)
    assert (report.processed, report.failed) == (1, 0)
    assert f"taking over the stale lock {settings.out_dir / LOCK_NAME}" in caplog.text
    assert f"run {run.id} was left unfinished" in caplog.text and "marked abandoned" in caplog.text
    first, second = runs(settings)
    assert (first.id, first.status) == (run.id, "abandoned")
    assert first.error is not None and f"process {process.pid}" in first.error
    assert (second.id, second.status) == (report.run_id, "succeeded")
    assert not (settings.out_dir / LOCK_NAME).exists()
