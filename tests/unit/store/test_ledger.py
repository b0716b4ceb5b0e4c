"""The run ledger on SQLite (tests/integration/postgres runs the same tests on PostgreSQL)."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, insert, select, text
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session

from kgbuild.data import (
    Chunk,
    DocumentFailure,
    DocumentResult,
    Evidence,
    Mention,
    MentionAttribute,
    MentionRelation,
    Provenance,
    Span,
)
from kgbuild.data import Document as Doc
from kgbuild.ids import content_hash
from kgbuild.store.sql import ledger
from kgbuild.store.sql.orm import DocumentRow, ResultRow, RunRow, make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite ledger (tests/integration/postgres runs these tests on PostgreSQL)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield engine
    engine.dispose()


def doc(doc_id: str, body: str) -> Doc:
    return Doc(id=doc_id, text=body, source=f"/in/{doc_id}", content_hash=content_hash(body))


def result(
    document: Doc,
    chunks: Sequence[Chunk] = (),
    mentions: Sequence[Mention] = (),
    **findings: Sequence[object],
) -> DocumentResult:
    return DocumentResult(
        document=document.info, chunks=tuple(chunks), mentions=tuple(mentions), **findings
    )


def mention(doc_id: str, text_: str, start: int) -> Mention:
    prov = Provenance(
        doc_id=doc_id,
        chunk_id="c",
        span=Span(start=start, end=start + len(text_)),
        score=0.9,
        model="m",
        model_revision="r",
        run_id="run1",
        stage="ner",
    )
    return Mention(id=f"{doc_id}:{start}", text=text_, label="ORG", provenance=prov)


def test_results_round_trip_and_skip_logic(engine) -> None:  # type: ignore[no-untyped-def]
    a, b = doc("a.txt", 'Acme Robotics — 東京 "quoted" \\ 🚀'), doc("b.txt", "Northwind")
    chunk = Chunk(id="c", doc_id="a.txt", index=0, span=Span(start=0, end=len(a.text)), text=a.text)
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run1")
        ledger.record_result(
            session,
            "run1",
            result(a, [chunk], [mention("a.txt", "Acme Robotics", 0)]),
            "key1",
            ["ner"],
        )
        ledger.record_result(session, "run1", result(b), "key1", ["ner"])
        ledger.finish_run(session, "run1", status="succeeded", processed=2)
    with Session(engine) as session:
        (loaded,) = ledger.load_results(session, ["a.txt"])
        assert loaded.chunks[0].text == a.text
        assert loaded.mentions[0].text == "Acme Robotics"
        assert ledger.unchanged_documents(session, [a, b], "key1") == {"a.txt", "b.txt"}
        assert ledger.unchanged_documents(session, [a, b], "key2") == set()
        changed = doc("b.txt", "Northwind Logistics")
        assert ledger.unchanged_documents(session, [a, changed], "key1") == {"a.txt"}
        assert session.get_one(RunRow, "run1").processed == 2


def test_deciding_what_is_unchanged_reads_no_result_payload(engine) -> None:  # type: ignore[no-untyped-def]
    """A re-run compares hashes and keys; a result's payload (11 KB+ a document) stays unread."""
    a = doc("a.txt", "Acme Robotics opened in Oslo.")
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run1")
        ledger.record_result(
            session, "run1", result(a, mentions=[mention("a.txt", "Acme", 0)]), "key1", ["ner"]
        )
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))  # (connection, cursor, statement, ...)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with Session(engine) as session:
            assert ledger.unchanged_documents(session, [a], "key1") == {"a.txt"}
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    reads = [s for s in statements if "FROM results" in s]
    assert reads and not any("payload" in s for s in reads), reads


def test_mention_relations_and_attributes_keep_their_stored_keys(engine) -> None:  # type: ignore[no-untyped-def]
    """Results stored before the mention-level types (keys head, tail, entity) still load."""
    a = doc("a.txt", "Acme hired Ada in 1990.")
    acme, ada = mention("a.txt", "Acme", 0), mention("a.txt", "Ada", 11)
    evidence = (Evidence(provenance=acme.provenance, text=a.text, head=ada.id, tail=acme.id),)
    relation = MentionRelation(
        id="r", head_mention=ada.id, tail_mention=acme.id, type="WORKS_FOR", score=0.8,
        evidence=evidence,
    )  # fmt: skip
    attribute = MentionAttribute(
        id="x", mention=acme.id, key="founded", value="1990", value_type="year", score=0.7,
        evidence=evidence,
    )  # fmt: skip
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run1")
        stored = result(a, [], [acme, ada], relations=(relation,), attributes=(attribute,))
        ledger.record_result(session, "run1", stored, "k", ["ner"])
    with Session(engine) as session:
        payload = json.loads(session.scalars(text("SELECT payload FROM results")).one())
        (loaded,) = ledger.load_results(session, ["a.txt"])
    assert {k: payload["relations"][0][k] for k in ("head", "tail")} == {
        "head": ada.id,
        "tail": acme.id,
    }
    assert payload["attributes"][0]["entity"] == acme.id
    assert "head_mention" not in payload["relations"][0]
    assert "mention" not in payload["attributes"][0]
    assert loaded.relations == (relation,) and loaded.attributes == (attribute,)
    assert loaded == stored  # the document's info comes back from its row


def test_failure_and_deletion(engine) -> None:  # type: ignore[no-untyped-def]
    a, b = doc("a.txt", "Acme"), doc("b.txt", "Northwind")
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run1")
        ledger.record_result(session, "run1", result(a), "k", ["ner"])
        ledger.record_result(session, "run1", result(b), "k", ["ner"])
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run2")
        failure = DocumentFailure(source=a.source, stage="extract", error="boom", doc_id=a.id)
        ledger.record_failure(session, "run2", failure, a)
        assert ledger.mark_deleted(session, "run2", ["a.txt"]) == ["b.txt"]
    with Session(engine) as session:
        assert session.get_one(DocumentRow, "a.txt").status == "failed"
        assert session.get_one(DocumentRow, "b.txt").status == "deleted"
        assert ledger.unchanged_documents(session, [a], "k") == set()  # a failed doc is retried
        assert ledger.current_documents(session) == []
        assert ledger.load_results(session, ["a.txt", "b.txt"]) == []
        events = session.execute(
            text("SELECT stage, status FROM stage_events WHERE run_id = 'run2' ORDER BY id")
        ).all()
        assert [tuple(e) for e in events] == [("extract", "failed"), ("ingest", "deleted")]


def test_metadata_is_stored_and_kept_current_when_skipped(engine) -> None:  # type: ignore[no-untyped-def]
    plain = doc("a.txt", "Acme")
    dated = plain.model_copy(update={"metadata": {"date": "2024-01-01", "author": "Lí"}})
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run1")
        ledger.record_result(session, "run1", result(dated), "k", ["ner"])
    with Session(engine) as session, session.begin():
        row = session.get_one(DocumentRow, "a.txt")
        assert ledger.stored_metadata(row) == {"author": "Lí", "date": "2024-01-01"}
        assert row.metadata_json == '{"author": "Lí", "date": "2024-01-01"}'  # sorted keys
        # the text is unchanged, so the document is skipped; its new metadata is kept
        assert ledger.unchanged_documents(session, [plain], "k") == {"a.txt"}
        ledger.start_run(session, "run2")
        ledger.record_skipped(session, "run2", [plain])
    with Session(engine) as session:
        row = session.get_one(DocumentRow, "a.txt")
        assert row.metadata_json is None and ledger.stored_metadata(row) == {}


def test_a_skipped_documents_source_is_kept_current(engine) -> None:  # type: ignore[no-untyped-def]
    first = Doc(id="r1", text="Acme", source="/in/d.jsonl:1", content_hash=content_hash("Acme"))
    moved = first.model_copy(update={"source": "/in/d.jsonl:2"})  # a record inserted above
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run1")
        ledger.record_result(session, "run1", result(first), "k", ["ner"])
    with Session(engine) as session, session.begin():
        assert ledger.unchanged_documents(session, [moved], "k") == {"r1"}
        ledger.start_run(session, "run2")
        ledger.record_skipped(session, "run2", [moved])
    with Session(engine) as session:
        assert session.get_one(DocumentRow, "r1").source == "/in/d.jsonl:2"
        (loaded,) = ledger.load_results(session, ["r1"])
        assert loaded.document.source == "/in/d.jsonl:2"


def test_a_document_whose_language_changed_is_not_skipped(engine) -> None:  # type: ignore[no-untyped-def]
    english = doc("a.txt", "Acme Robotics")
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run1")
        ledger.record_result(session, "run1", result(english), "k", ["ner"])
    german = english.model_copy(update={"lang": "de"})  # metadata lang, or ingest.lang
    with Session(engine) as session:
        assert ledger.unchanged_documents(session, [english], "k") == {"a.txt"}
        assert ledger.unchanged_documents(session, [german], "k") == set()


def test_a_ledger_made_before_metadata_gains_the_column(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    old = make_engine(url)
    with old.begin() as conn:
        conn.execute(text("ALTER TABLE documents DROP COLUMN metadata_json"))
        columns = {r[1] for r in conn.execute(text("PRAGMA table_info(documents)"))}
    assert "metadata_json" not in columns
    old.dispose()
    upgraded = make_engine(url)  # what the next run does
    with upgraded.begin() as conn:
        columns = {r[1] for r in conn.execute(text("PRAGMA table_info(documents)"))}
    assert "metadata_json" in columns
    with Session(upgraded) as session, session.begin():
        ledger.start_run(session, "run1")
        dated = doc("a.txt", "Acme").model_copy(update={"metadata": {"date": "2024"}})
        ledger.record_result(session, "run1", result(dated), "k", ["ner"])
    with Session(upgraded) as session:
        assert ledger.stored_metadata(session.get_one(DocumentRow, "a.txt")) == {"date": "2024"}
    make_engine(url).dispose()  # a second upgrade finds nothing to add


def test_a_run_records_its_process_and_a_dead_runs_status_becomes_abandoned(engine) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    from kgbuild.processes import this_host

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait(timeout=30)
    alive = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    host = this_host()
    try:
        with Session(engine) as session, session.begin():
            ledger.start_run(session, "run0")
            session.add_all(
                [
                    RunRow(id="killed", status="running", pid=ended.pid, host=host),
                    RunRow(id="live", status="running", pid=alive.pid, host=host),
                    RunRow(id="remote", status="running", pid=ended.pid, host="elsewhere.example"),
                    RunRow(id="old", status="running"),  # recorded before pids were
                    RunRow(id="done", status="succeeded", pid=ended.pid, host=host),
                ]
            )
        with Session(engine) as session:
            run0 = session.get_one(RunRow, "run0")
            assert (run0.pid, run0.host, run0.status) == (os.getpid(), host, "running")
        with Session(engine) as session, session.begin():
            marked = [run.id for run in ledger.abandon_dead_runs(session)]
        # run0 belongs to this very process, which runs one build of a ledger at a time
        assert sorted(marked) == ["killed", "run0"]
        with Session(engine) as session:
            status = {run.id: run.status for run in session.scalars(select(RunRow))}
            killed = session.get_one(RunRow, "killed")
            assert killed.finished_at is not None
            assert killed.error and f"process {ended.pid} on {host} ended" in killed.error
        assert status == {
            "run0": "abandoned",
            "killed": "abandoned",
            "live": "running",
            "remote": "running",
            "old": "running",
            "done": "succeeded",
        }
    finally:
        alive.kill()
        alive.wait(timeout=30)


def test_a_stopped_run_is_interrupted_and_an_error_failed(engine, caplog) -> None:  # type: ignore[no-untyped-def]
    from kgbuild.interrupts import Terminated
    from kgbuild.pipeline import fail

    with Session(engine) as session, session.begin():
        for run_id in ("ctrl_c", "sigterm", "error"):
            ledger.start_run(session, run_id)
    with caplog.at_level("WARNING", logger="kgbuild.pipeline"):
        fail(engine, "ctrl_c", KeyboardInterrupt())
    # was "run ctrl_c interrupted ()": a plain Ctrl-C carries no message
    assert "run ctrl_c interrupted (Ctrl-C (SIGINT))" in caplog.text
    fail(engine, "sigterm", Terminated())
    fail(engine, "error", ValueError("bad input"))
    with Session(engine) as session:
        runs = {run.id: (run.status, run.error) for run in session.scalars(select(RunRow))}
    assert runs == {
        "ctrl_c": ("interrupted", "KeyboardInterrupt: Ctrl-C (SIGINT)"),
        "sigterm": ("interrupted", "Terminated: stopped by SIGTERM"),
        "error": ("failed", "ValueError: bad input"),
    }


def test_an_older_ledger_gains_the_run_process_columns(engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import inspect

    url = engine.url.render_as_string(hide_password=False)
    with Session(engine) as session, session.begin():
        session.add(RunRow(id="before", status="running"))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE runs DROP COLUMN pid"))
        conn.execute(text("ALTER TABLE runs DROP COLUMN host"))
    assert {"pid", "host"}.isdisjoint(c["name"] for c in inspect(engine).get_columns("runs"))
    engine.dispose()
    upgraded = make_engine(url)  # what the next run does
    try:
        assert {"pid", "host"} <= {c["name"] for c in inspect(upgraded).get_columns("runs")}
        with Session(upgraded) as session, session.begin():
            assert ledger.abandon_dead_runs(session) == []  # nothing known about 'before'
            ledger.start_run(session, "after")
        with Session(upgraded) as session:
            assert session.get_one(RunRow, "before").pid is None
            assert session.get_one(RunRow, "after").pid is not None
    finally:
        upgraded.dispose()


def test_a_failed_result_holds_no_findings_and_is_not_recorded_as_a_result(engine) -> None:  # type: ignore[no-untyped-def]
    a = doc("a.txt", "Acme")
    failure = DocumentFailure(source=a.source, doc_id=a.id, stage="extract", error="boom")
    with pytest.raises(ValueError, match="a failed result holds no"):
        DocumentResult(document=a.info, mentions=(mention("a.txt", "Acme", 0),), failure=failure)
    failed = DocumentResult(document=a.info, failure=failure)
    assert not failed.ok and failed.doc_id == "a.txt"
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run1")
        with pytest.raises(ValueError, match="record_failure"):
            ledger.record_result(session, "run1", failed, "k", ["ner"])


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "not a SQLAlchemy URL"),
        ("nosuch://kg:secret@localhost/kg", "no such database kind"),
        ("mysql://kg:secret@localhost/kg", "driver is not installed"),  # no MySQLdb here
        ("mysql://kg@localhost/kg?password=secret", "driver is not installed"),  # libpq's form
    ],
)
def test_a_ledger_url_that_cannot_be_opened_is_a_config_error_without_its_password(
    tmp_path: Path, url: str, problem: str
) -> None:
    from kgbuild.config import load_settings
    from kgbuild.errors import ConfigError
    from kgbuild.pipeline import build

    with pytest.raises(ConfigError, match=f"ledger_url .*{problem}") as raised:
        make_engine(url)
    assert "secret" not in str(raised.value)
    # what a build with it in the config says, before any model is loaded
    with pytest.raises(ConfigError, match="ledger_url"):
        build([tmp_path], load_settings(out_dir=tmp_path / "out", ledger_url=url))


def test_what_a_graph_target_was_last_written_from_is_recorded_per_target(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run-1")
        assert ledger.graph_inputs(session, "bolt://a|neo4j") is None  # never written
        ledger.record_graph_inputs(session, "bolt://a|neo4j", "digest-1", "run-1")
        ledger.record_graph_inputs(session, "bolt://b|neo4j", "digest-2", "run-1")
    with Session(engine) as session, session.begin():
        assert ledger.graph_inputs(session, "bolt://a|neo4j") == "digest-1"
        ledger.record_graph_inputs(session, "bolt://a|neo4j", None, "run-1")  # a write starts
    with Session(engine) as session:
        assert ledger.graph_inputs(session, "bolt://a|neo4j") is None
        assert ledger.graph_inputs(session, "bolt://b|neo4j") == "digest-2"


def test_a_ledger_made_before_graph_targets_were_recorded_gains_their_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    make_engine(url).dispose()
    older = make_engine(url)
    with older.begin() as connection:
        connection.execute(text("DROP TABLE graph_targets"))
    older.dispose()
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            assert ledger.graph_inputs(session, "bolt://a|neo4j") is None
    finally:
        engine.dispose()


def skipped_events(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT doc_id, run_id FROM stage_events WHERE status = 'skipped' ORDER BY doc_id")
        )
        return [(row.doc_id, row.run_id) for row in rows]


def test_runs_over_unchanged_documents_keep_one_skipped_event_per_document(engine) -> None:  # type: ignore[no-untyped-def]
    a, b = doc("a.txt", "Acme"), doc("b.txt", "Northwind")
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run1")
        ledger.record_result(session, "run1", result(a), "k", ["ner"])
        ledger.record_result(session, "run1", result(b), "k", ["ner"])
        ledger.finish_run(session, "run1", status="succeeded", processed=2)
    for run_id in ("run2", "run3", "run4"):  # an hourly schedule over an unchanged corpus
        with Session(engine) as session, session.begin():
            ledger.start_run(session, run_id)
            assert ledger.unchanged_documents(session, [a, b], "k") == {"a.txt", "b.txt"}
            ledger.record_skipped(session, run_id, [a, b])
            ledger.finish_run(session, run_id, status="succeeded", skipped=2)
    assert skipped_events(engine) == [("a.txt", "run4"), ("b.txt", "run4")]
    with Session(engine) as session:
        runs = {run.id: (run.processed, run.skipped) for run in session.scalars(select(RunRow))}
        assert runs == {"run1": (2, 0), "run2": (0, 2), "run3": (0, 2), "run4": (0, 2)}
        ok = session.execute(
            text("SELECT doc_id, run_id FROM stage_events WHERE status = 'ok' ORDER BY doc_id")
        ).all()
        assert [tuple(row) for row in ok] == [("a.txt", "run1"), ("b.txt", "run1")]  # history
    # a document skipped again after a change keeps its processing and its latest skip
    changed = doc("a.txt", "Acme Robotics")
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run5")
        ledger.record_result(session, "run5", result(changed), "k", ["ner"])
        ledger.record_skipped(session, "run5", [b])
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run6")
        ledger.record_skipped(session, "run6", [changed, b])
    assert skipped_events(engine) == [("a.txt", "run6"), ("b.txt", "run6")]
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM stage_events WHERE status = 'ok'"))
        assert count.scalar_one() == 3  # run1's two and run5's


def test_a_ledger_made_before_the_document_event_index_gains_it(engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import inspect

    def indexes(engine: Engine) -> set[str]:
        return {str(index["name"]) for index in inspect(engine).get_indexes("stage_events")}

    url = engine.url.render_as_string(hide_password=False)
    a = doc("a.txt", "Acme")
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run1")
        ledger.record_result(session, "run1", result(a), "k", ["ner"])
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run2")
        ledger.record_skipped(session, "run2", [a])
    with engine.begin() as conn:  # the tables as an older release made them
        conn.execute(text("DROP INDEX ix_stage_events_doc"))
    assert indexes(engine) == {"ix_stage_events_run"}
    engine.dispose()
    upgraded = make_engine(url)  # what the next run does
    try:
        assert indexes(upgraded) == {"ix_stage_events_run", "ix_stage_events_doc"}
        with Session(upgraded) as session, session.begin():
            ledger.start_run(session, "run3")
            ledger.record_skipped(session, "run3", [a])
        assert skipped_events(upgraded) == [("a.txt", "run3")]
        make_engine(url).dispose()  # a second upgrade finds nothing to add
    finally:
        upgraded.dispose()


def test_seventy_thousand_documents_are_read_and_skipped_in_batches(engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event, insert

    if engine.dialect.name == "sqlite":  # bind at most 999 parameters, as SQLite before 3.32

        @event.listens_for(engine, "connect")
        def limit(connection, _record) -> None:  # type: ignore[no-untyped-def]
            connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)

        engine.dispose()
    ids = [f"doc-{n:06d}" for n in range(70_000)]  # PostgreSQL binds at most 65,535
    hashed = content_hash("Acme")
    docs = [
        Doc(id=doc_id, text="Acme", source=f"/in/{doc_id}", content_hash=hashed) for doc_id in ids
    ]
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run1")
        session.flush()
        session.execute(
            insert(DocumentRow),
            [
                {"id": d, "source": f"/in/{d}", "content_hash": hashed, "lang": "en"}
                | {"status": "ok", "model_key": "k", "last_run_id": "run1"}
                for d in ids
            ],
        )
        session.execute(
            insert(ResultRow),
            [
                {"doc_id": d, "content_hash": hashed, "model_key": "k", "run_id": "run1"}
                | {"payload": json.dumps({"doc_id": d, "chunks": [], "mentions": []})}
                for d in ids
            ],
        )
    for run_id in ("run2", "run3"):
        with Session(engine) as session, session.begin():
            ledger.start_run(session, run_id)
            assert ledger.unchanged_documents(session, docs, "k") == set(ids)
            ledger.record_skipped(session, run_id, docs)
    with engine.connect() as conn:
        events = conn.execute(
            text(
                "SELECT run_id, count(*) FROM stage_events WHERE status = 'skipped' GROUP BY run_id"
            )
        )
        assert [tuple(row) for row in events] == [("run3", 70_000)]
    with Session(engine) as session:
        assert [row.id for row in ledger.current_documents(session, reversed(ids))] == ids
        assert [r.document.id for r in ledger.load_results(session, reversed(ids))] == ids


def test_a_document_failing_the_same_way_every_run_keeps_the_first_and_latest_event(engine) -> None:  # type: ignore[no-untyped-def]
    a = doc("a.txt", "Acme")

    def fail(run_id: str, error: str = "boom") -> None:
        with Session(engine) as session, session.begin():
            ledger.start_run(session, run_id)
            failure = DocumentFailure(source=a.source, stage="extract", error=error, doc_id=a.id)
            ledger.record_failure(session, run_id, failure, a)
            ledger.finish_run(session, run_id, status="succeeded", failed=1)

    def events() -> list[tuple[str, str, str | None]]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT run_id, status, error FROM stage_events ORDER BY id"))
            return [(row.run_id, row.status, row.error) for row in rows]

    for run_id in ("run1", "run2", "run3", "run4"):  # retried by every run, failing again
        fail(run_id)
    assert events() == [("run1", "failed", "boom"), ("run4", "failed", "boom")]
    with Session(engine) as session:
        runs = {run.id: run.failed for run in session.scalars(select(RunRow))}
        assert runs == dict.fromkeys(["run1", "run2", "run3", "run4"], 1)
    fail("run5", "other")  # another error starts another streak
    fail("run6", "other")
    fail("run7", "other")
    assert events()[2:] == [("run5", "failed", "other"), ("run7", "failed", "other")]
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run8")
        ledger.record_result(session, "run8", result(a), "k", ["ner"])  # mended
    fail("run9", "other")  # failing again after a success is new history
    fail("run10", "other")
    assert [run_id for run_id, _, _ in events()] == [
        "run1",
        "run4",
        "run5",
        "run7",
        "run8",
        "run9",
        "run10",
    ]


def test_a_duplicate_of_an_unchanged_document_keeps_the_first_and_latest_failure(engine) -> None:  # type: ignore[no-untyped-def]
    a = doc("a.txt", "Acme")
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run1")
        ledger.record_result(session, "run1", result(a), "k", ["ner"])
    # a second file with the same id fails beside the first, skipped as unchanged
    duplicate = DocumentFailure(
        source="/in/copy/a.txt", stage="ingest", error="duplicate id 'a.txt'", doc_id="a.txt"
    )
    for run_id in ("run2", "run3", "run4"):
        with Session(engine) as session, session.begin():
            ledger.start_run(session, run_id)
            ledger.record_skipped(session, run_id, [a])
            ledger.record_failure(session, run_id, duplicate)
    with engine.connect() as conn:
        events = {
            tuple(row) for row in conn.execute(text("SELECT run_id, status FROM stage_events"))
        }
    assert events == {("run1", "ok"), ("run2", "failed"), ("run4", "skipped"), ("run4", "failed")}


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends while the block runs (an executemany counts once)."""
    sent: list[str] = []

    def note(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", note)


def stored_documents(engine: Engine, ids: Sequence[str], run_id: str = "run1") -> None:
    """Put ``ids`` in the ledger as current documents with a stored (empty) result."""
    hashed = content_hash("Acme")
    with Session(engine) as session, session.begin():
        ledger.start_run(session, run_id)
        session.flush()
        session.execute(
            insert(DocumentRow),
            [
                {"id": d, "source": f"/in/{d}", "content_hash": hashed, "lang": "en"}
                | {"status": "ok", "model_key": "k", "last_run_id": run_id}
                for d in ids
            ],
        )
        session.execute(
            insert(ResultRow),
            [
                {"doc_id": d, "content_hash": hashed, "model_key": "k", "run_id": run_id}
                | {"payload": json.dumps({"doc_id": d, "chunks": [], "mentions": []})}
                for d in ids
            ],
        )


def on_documents(sent: list[str]) -> list[str]:
    """The statements of ``sent`` that read or change the documents table."""
    return [s for s in sent if re.search(r"\b(FROM|UPDATE) documents\b", s)]


def test_graph_keys_are_forgotten_and_recorded_in_batches_of_ids(engine) -> None:  # type: ignore[no-untyped-def]
    ids = [f"doc-{n:05d}" for n in range(2_000)]  # over SQLite's batch of 900 ids
    stored_documents(engine, ids)
    target = "bolt://x|neo4j"
    written, removed = ids[:1_500], ids[1_500:1_900]  # the last 100 are kept
    with Session(engine) as session, session.begin():
        ledger.record_graph_write(session, "run1", target, ids, [])
    with Session(engine) as session, session.begin(), statements(engine) as sent:
        ledger.forget_graph_keys(session, written)
    assert len(on_documents(sent)) <= 2  # not one statement per document
    with Session(engine) as session:
        keys = {row.id: row.neo4j_key for row in ledger.known_documents(session)}
        assert [doc_id for doc_id, key in keys.items() if key is None] == written
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run2")
    with Session(engine) as session, session.begin(), statements(engine) as sent:
        ledger.record_graph_write(session, "run2", target, written, removed)
    assert len(on_documents(sent)) <= 4  # reads in batches of ids, one executemany UPDATE
    with Session(engine) as session:
        rows = ledger.known_documents(session)
        expected = [ledger.graph_key(target, row) for row in rows[:1_500]]
        assert [row.neo4j_key for row in rows[:1_500]] == expected
        assert [row.neo4j_key for row in rows[1_500:1_900]] == [None] * len(removed)
        assert all(row.neo4j_key == ledger.graph_key(target, row) for row in rows[1_900:])
    with engine.connect() as conn:
        events = conn.execute(
            text(
                "SELECT doc_id, source, status FROM stage_events WHERE run_id = 'run2' ORDER BY id"
            )
        )
        assert [tuple(e) for e in events] == [
            *((d, f"/in/{d}", "ok") for d in written),
            *((d, f"/in/{d}", "deleted") for d in removed),
        ]


def test_graph_keys_of_a_document_the_ledger_does_not_know_are_an_error(engine) -> None:  # type: ignore[no-untyped-def]
    stored_documents(engine, ["a.txt"])
    with Session(engine) as session, session.begin():
        ledger.record_graph_write(session, "run1", "t", ["a.txt"], [])
    with pytest.raises(NoResultFound, match=r"'b\.txt'"), Session(engine) as session:
        ledger.forget_graph_keys(session, ["a.txt", "b.txt"])
    with pytest.raises(NoResultFound, match=r"'b\.txt'"), Session(engine) as session:
        ledger.record_graph_write(session, "run1", "t", ["a.txt"], ["b.txt"])
    with Session(engine) as session:
        assert session.get_one(DocumentRow, "a.txt").neo4j_key is not None


def test_documents_no_longer_read_are_deleted_in_batches_of_ids(engine) -> None:  # type: ignore[no-untyped-def]
    ids = [f"doc-{n:05d}" for n in range(2_000)]
    stored_documents(engine, ids)
    present, gone = ids[:100], ids[100:]
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run2")
    with Session(engine) as session, session.begin(), statements(engine) as sent:
        assert ledger.mark_deleted(session, "run2", present) == gone
    assert len([s for s in sent if re.search(r"\bFROM results\b", s)]) <= 3  # not one a document
    with Session(engine) as session:
        statuses = {row.id: row.status for row in ledger.known_documents(session)}
        assert statuses == dict.fromkeys(present, "ok") | dict.fromkeys(gone, "deleted")
        assert [r.document.id for r in ledger.load_results(session, ids)] == present
    with engine.connect() as conn:
        events = conn.execute(
            text("SELECT doc_id, stage, status FROM stage_events WHERE run_id = 'run2' ORDER BY id")
        )
        assert [tuple(e) for e in events] == [(d, "ingest", "deleted") for d in gone]


def test_a_batch_of_results_is_recorded_with_its_rows_read_in_batches_of_ids(engine) -> None:  # type: ignore[no-untyped-def]
    old = [f"doc-{n:05d}" for n in range(1_000)]
    stored_documents(engine, old)
    changed = [doc(doc_id, "Acme Corp") for doc_id in old[500:]]
    new = [doc(f"new-{n:05d}", "Northwind") for n in range(1_000)]
    batch = [
        *((result(d, mentions=[mention(d.id, "Acme", 0)]), ["ner", "relations"]) for d in changed),
        *((result(d), ["ner"]) for d in new),
    ]
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run2")
    with Session(engine) as session, session.begin(), statements(engine) as sent:
        ledger.record_results(session, "run2", batch, "k2")
    reads = [
        s for s in sent if s.startswith("SELECT") and re.search(r"FROM (documents|results)", s)
    ]
    assert len(reads) <= 6  # two tables, batches of 900 ids on SQLite: not one a document
    with Session(engine) as session:
        rows = {row.id: row for row in ledger.known_documents(session)}
        assert {row.model_key for i, row in rows.items() if i in old[:500]} == {"k"}
        recorded = [d.id for d in [*changed, *new]]
        assert {(rows[i].model_key, rows[i].last_run_id) for i in recorded} == {("k2", "run2")}
        assert ledger.load_results(session, recorded) == [r for r, _ in batch]
        assert ledger.unchanged_documents(session, [*changed, *new], "k2") == set(recorded)
    with engine.connect() as conn:
        events = conn.execute(
            text("SELECT doc_id, stage FROM stage_events WHERE run_id = 'run2' ORDER BY id")
        )
        assert [tuple(e) for e in events] == [
            *((d.id, stage) for d in changed for stage in ("ner", "relations")),
            *((d.id, "ner") for d in new),
        ]


def test_a_batch_holding_a_failure_records_no_result(engine) -> None:  # type: ignore[no-untyped-def]
    a, b = doc("a.txt", "Acme"), doc("b.txt", "Northwind")
    failure = DocumentFailure(source=b.source, stage="extract", error="boom", doc_id=b.id)
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run1")
        batch = [(result(a), ["ner"]), (DocumentResult(document=b.info, failure=failure), [])]
        with pytest.raises(ValueError, match="record_failure"):
            ledger.record_results(session, "run1", batch, "k")
        assert ledger.known_documents(session) == []


def test_an_input_failing_the_same_way_every_run_keeps_the_first_and_latest_event(engine) -> None:  # type: ignore[no-untyped-def]
    def fail(run_id: str, source: str, error: str = "not UTF-8") -> None:
        with Session(engine) as session, session.begin():
            ledger.start_run(session, run_id)
            failure = DocumentFailure(source=source, stage="ingest", error=error)
            ledger.record_failure(session, run_id, failure)

    def events() -> list[tuple[str, str, str | None]]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT run_id, source, error FROM stage_events ORDER BY id"))
            return [(row.run_id, row.source, row.error) for row in rows]

    for run_id in ("run1", "run2", "run3", "run4"):  # read again by every run, failing again
        fail(run_id, "/in/bad.txt")
        fail(run_id, "/in/worse.txt")
    assert events() == [
        ("run1", "/in/bad.txt", "not UTF-8"),
        ("run1", "/in/worse.txt", "not UTF-8"),
        ("run4", "/in/bad.txt", "not UTF-8"),
        ("run4", "/in/worse.txt", "not UTF-8"),
    ]
    for run_id in ("run5", "run6", "run7"):  # another error starts another streak
        fail(run_id, "/in/bad.txt", "too large")
    assert [(run_id, error) for run_id, _, error in events()[4:]] == [
        ("run5", "too large"),
        ("run7", "too large"),
    ]
