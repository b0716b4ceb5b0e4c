"""A real ``kgbuild build`` process stopped (SIGTERM, Ctrl-C) while it writes to Neo4j.

The signal lands in the Neo4j driver's socket read; the driver's rollback on that
connection then fails in turn (``BufferError``, or the server refusing a BEGIN inside the
open transaction). The run must still end as interrupted, and the next run complete it.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from neo4j import Driver
from sqlalchemy import select
from sqlalchemy.orm import Session

from kgbuild.config import Neo4jConfig, NerConfig, Settings
from kgbuild.pipeline import build
from kgbuild.store.sql.orm import RunRow, make_engine
from tests.processes import BuildProcess, long_corpus

from .conftest import Neo4jTarget
from .test_pipeline_neo4j import counts, query

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]


@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGTERM, 128 + 15), (signal.SIGINT, 128 + 2)]
)
def test_a_build_stopped_during_the_neo4j_write_is_interrupted_and_the_rerun_completes_it(
    tmp_path: Path,
    keyword_ner_model: Path,
    clean_db: Driver,
    neo4j_target: Neo4jTarget,
    signum: int,
    status: int,
) -> None:
    # was exit status 1 with a BufferError or ClientError traceback, the run "failed"
    db = neo4j_target.database
    docs = long_corpus(tmp_path / "docs", sentences=300)
    out = tmp_path / "out"
    user, password = neo4j_target.auth or ("neo4j", "")
    env = {
        "NEO4J_USER": user,
        "NEO4J_PASSWORD": password,
        "NEO4J_DATABASE": db,
        "KGBUILD_NEO4J__BATCH_SIZE": "1",  # one transaction per row: a long write
    }
    args = ["build", str(docs), "--out", str(out), "--model", str(keyword_ner_model)]
    process = BuildProcess([*args, "--neo4j", neo4j_target.uri, "--no-progress", "-v"], env=env)
    try:
        process.wait_for("constraints and indexes")  # clean_db: created, then the write
        for _ in range(40):  # the driver's debug log: well into the write's transactions
            process.wait_for("C: BEGIN")
        process.process.send_signal(signum)
        assert process.finish() == status, process.output
    finally:
        process.stop()
    assert "Traceback" not in process.output, process.output
    assert "the run is recorded as interrupted" in process.output
    settings = Settings(
        out_dir=out,
        ner=NerConfig(model=str(keyword_ner_model)),
        neo4j=Neo4jConfig(uri=neo4j_target.uri, user=user, password=password or None, database=db),
    )
    engine = make_engine(settings.resolved_ledger_url())
    try:
        with Session(engine) as session:
            (run,) = session.scalars(select(RunRow))
    finally:
        engine.dispose()
    assert run.status == "interrupted", run.error
    assert run.error is not None and (
        signal.Signals(signum).name in run.error or "KeyboardInterrupt" in run.error
    )

    report = build([docs], settings)  # completes what the stopped one began, no model work
    assert report.processed == 0 and report.neo4j is not None
    assert "1 documents written" in report.neo4j
    now = counts(clean_db, db)
    assert (now["Document"], now["Chunk"], now["Mention"]) == (1, report.chunks, report.mentions)
    ids = query(clean_db, db, "MATCH (c:Chunk) RETURN c.id AS id")
    assert len({row["id"] for row in ids}) == len(ids)
