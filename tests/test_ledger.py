"""The run ledger on SQLite and, where PostgreSQL is installed, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from kgbuild.data import Chunk, DocumentFailure, Mention, Provenance, Span
from kgbuild.data import Document as Doc
from kgbuild.ids import content_hash
from kgbuild.store.sql import ledger
from kgbuild.store.sql.orm import Base, DocumentRow, RunRow, make_engine

from . import pg


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with pg.postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        if not pg.available():
            pytest.skip("PostgreSQL is not installed here")
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    with engine.begin() as conn:  # each test starts from empty tables
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    yield engine
    engine.dispose()


def doc(doc_id: str, body: str) -> Doc:
    return Doc(id=doc_id, text=body, source=f"/in/{doc_id}", content_hash=content_hash(body))


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
            session, "run1", a, "key1", [chunk], [mention("a.txt", "Acme Robotics", 0)], ["ner"]
        )
        ledger.record_result(session, "run1", b, "key1", [], [], ["ner"])
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


def test_failure_and_deletion(engine) -> None:  # type: ignore[no-untyped-def]
    a, b = doc("a.txt", "Acme"), doc("b.txt", "Northwind")
    with Session(engine) as session, session.begin():
        ledger.start_run(session, "run1")
        ledger.record_result(session, "run1", a, "k", [], [], ["ner"])
        ledger.record_result(session, "run1", b, "k", [], [], ["ner"])
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
        ledger.record_result(session, "run1", dated, "k", [], [], ["ner"])
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
        ledger.record_result(session, "run1", dated, "k", [], [], ["ner"])
    with Session(upgraded) as session:
        assert ledger.stored_metadata(session.get_one(DocumentRow, "a.txt")) == {"date": "2024"}
    make_engine(url).dispose()  # a second upgrade finds nothing to add
