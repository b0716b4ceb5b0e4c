"""Run-ledger operations. Each function takes a Session; callers own its lifecycle.

Use as ``with Session(engine) as session, session.begin(): record_result(session, ...)``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Delete, Update, delete, func, select, update
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import InstrumentedAttribute, Session, load_only

from kgbuild.data import (
    Chunk,
    Document,
    DocumentFailure,
    DocumentInfo,
    DocumentResult,
    Mention,
    MentionAttribute,
    MentionRelation,
)
from kgbuild.processes import process_alive, this_host
from kgbuild.store.sql.orm import (
    DocumentRow,
    GraphTargetRow,
    ResultRow,
    RunRow,
    StageEventRow,
    utcnow,
)

__all__ = [
    "RUN_STATUSES",
    "abandon_dead_runs",
    "current_documents",
    "current_state_digest",
    "document_info",
    "finish_run",
    "forget_graph_keys",
    "graph_inputs",
    "graph_key",
    "known_documents",
    "load_results",
    "mark_deleted",
    "metadata_json",
    "record_failure",
    "record_graph_inputs",
    "record_graph_write",
    "record_result",
    "record_results",
    "record_skipped",
    "start_run",
    "stored_metadata",
    "unchanged_documents",
]


class _StoredResult(BaseModel):
    """The JSON a result row holds: a :class:`DocumentResult` less its document's row.

    The document's source, hash, language and metadata are in its document row; what
    only the extracting run knew (skipped stages, refusals) is not stored.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    doc_id: str
    chunks: tuple[Chunk, ...]
    mentions: tuple[Mention, ...]
    relations: tuple[MentionRelation, ...] = ()
    """Relations between this document's mentions."""
    attributes: tuple[MentionAttribute, ...] = ()
    """Attribute values of this document's mentions."""


_IDS_PER_STATEMENT = {"postgresql": 65_000}
"""Ids bound in one ``IN (...)``, by database (any other: 900). PostgreSQL takes at most
65,535 parameters a statement, SQLite before 3.32 999: the ids of every document of a
large corpus are sent in batches. Rows read in several batches are put in id order by
Python (code point order, SQLite's; a PostgreSQL collation may order some ids otherwise)."""


_Id = TypeVar("_Id", bound=str | None)


def _batches(session: Session, ids: Sequence[_Id]) -> list[Sequence[_Id]]:
    """``ids`` in slices small enough to bind in one statement of ``session``'s database."""
    size = _IDS_PER_STATEMENT.get(session.get_bind().dialect.name, 900)
    return [ids[start : start + size] for start in range(0, len(ids), size)]


_Row = TypeVar("_Row", DocumentRow, ResultRow)


def _rows_by_id(
    session: Session,
    model: type[_Row],
    column: InstrumentedAttribute[str],
    ids: Iterable[str],
    *,
    only: Sequence[InstrumentedAttribute[Any]] = (),
) -> dict[str, _Row]:
    """The rows of ``model`` whose ``column`` is one of ``ids``, by that id.

    One query a batch of ids; ids the table lacks are missing from the result. ``only``:
    the columns to read (the others load if touched), e.g. not a result's payload.
    """
    rows: dict[str, _Row] = {}
    for batch in _batches(session, sorted(set(ids))):
        query = select(model).where(column.in_(batch))
        if only:
            query = query.options(load_only(column, *only))
        rows.update((getattr(row, column.key), row) for row in session.scalars(query))
    return rows


def _change_by_id(
    session: Session,
    statement: Delete | Update,
    column: InstrumentedAttribute[Any],
    ids: Sequence[str | None],
) -> int:
    """Run ``statement`` on the rows whose ``column`` is one of ``ids``; how many it matched.

    One statement a batch of ids, as :func:`_rows_by_id` reads them.
    """
    matched = 0
    for batch in _batches(session, ids):
        done = session.execute(statement.where(column.in_(batch)))
        matched += done.rowcount  # type: ignore[attr-defined]
    return matched


def _known(rows: dict[str, DocumentRow], ids: Iterable[str], why: str) -> None:
    """Raise :class:`NoResultFound` naming the first of ``ids`` that ``rows`` lacks."""
    missing = [doc_id for doc_id in ids if doc_id not in rows]
    if missing:
        raise NoResultFound(
            f"{why}: {len(missing)} documents are not in the ledger (first: {missing[0]!r})"
        )


RUN_STATUSES = ("running", "succeeded", "failed", "interrupted", "abandoned")
"""What a run's ``status`` can be (see :class:`~kgbuild.store.sql.orm.RunRow`)."""


def start_run(session: Session, run_id: str) -> None:
    """Record the start of a run by this process (pid and host, to tell later if it died).

    Starting a run again (the Prefect flow retries its plan step after a transient error)
    keeps its one row, ``running`` again.
    """
    run = session.get(RunRow, run_id)
    if run is None:
        session.add(RunRow(id=run_id, status="running", pid=os.getpid(), host=this_host()))
        return
    run.status, run.pid, run.host = "running", os.getpid(), this_host()
    run.finished_at = run.error = None


def abandon_dead_runs(session: Session, *, starting: str | None = None) -> list[RunRow]:
    """Mark ``abandoned`` the runs still ``running`` whose process on this host has ended.

    A run killed without clean-up (``kill -9``, a crash) stays ``running``; the next run
    calls this before it starts. A run of this very process counts as ended too: a
    process runs one build of a ledger at a time (the output folder's lock). Runs of
    other hosts, and runs recorded before pids were, cannot be checked and stay, and so
    does run ``starting``, the one this process is (re)starting.

    Returns:
        The runs marked, oldest first.
    """
    host, me = this_host(), os.getpid()
    rows = session.scalars(
        select(RunRow)
        .where(RunRow.status == "running", RunRow.host == host, RunRow.pid.is_not(None))
        .order_by(RunRow.started_at, RunRow.id)
    )
    dead = [
        row
        for row in rows
        if row.id != starting and (row.pid == me or not process_alive(row.pid or 0))
    ]
    for row in dead:
        row.status = "abandoned"
        row.finished_at = utcnow()
        row.error = (
            f"process {row.pid} on {row.host} ended without finishing the run "
            "(killed, crashed, or the machine stopped)"
        )
    return dead


def finish_run(
    session: Session, run_id: str, *, status: str, error: str | None = None, **counts: int
) -> None:
    """Record a run's end, its status and counts (``processed=3, skipped=10, ...``)."""
    run = session.get(RunRow, run_id)
    if run is None:  # the run failed before it was started
        run = RunRow(id=run_id)
        session.add(run)
    run.status = status
    run.finished_at = utcnow()
    run.error = error
    for name, value in counts.items():
        setattr(run, name, value)


def unchanged_documents(
    session: Session, documents: Sequence[Document], model_key: str | Callable[[Document], str]
) -> set[str]:
    """Ids of ``documents`` whose text, language and models match a stored, successful result.

    The language counts: it chooses the sentence splitter and which models read the text.
    ``model_key``: the build's key, or each document's (where the models that can read it
    differ by document: :meth:`kgbuild.extraction.Extractor.document_key`).
    """
    key_of = model_key if callable(model_key) else (lambda _: model_key)
    ids = [doc.id for doc in documents]
    hashes = (ResultRow.content_hash, ResultRow.model_key)  # not the payloads (11 KB+ each)
    stored = {
        doc_id: (row.content_hash, row.model_key)
        for doc_id, row in _rows_by_id(
            session, ResultRow, ResultRow.doc_id, ids, only=hashes
        ).items()
    }
    ok = {
        doc_id: row.lang
        for doc_id, row in _rows_by_id(session, DocumentRow, DocumentRow.id, ids).items()
        if row.status == "ok"
    }
    return {
        doc.id
        for doc in documents
        if ok.get(doc.id) == doc.lang and stored.get(doc.id) == (doc.content_hash, key_of(doc))
    }


def metadata_json(document: DocumentInfo) -> str | None:
    """A document's metadata as stored in the ledger: sorted JSON, ``None`` when empty."""
    if not document.metadata:
        return None
    return json.dumps(document.metadata, sort_keys=True, ensure_ascii=False)


def stored_metadata(row: DocumentRow) -> dict[str, str]:
    """The metadata a ledger row holds (``{}`` for none)."""
    return dict(json.loads(row.metadata_json)) if row.metadata_json else {}


def _upsert_document(
    session: Session,
    run_id: str,
    document: DocumentInfo,
    row: DocumentRow | None,
    *,
    status: str,
    model_key: str | None = None,
    error: str | None = None,
) -> DocumentRow:
    """Update ``row``, ``document``'s (``None``: a new row is added); return the row."""
    if row is None:
        row = DocumentRow(id=document.id)
        session.add(row)
    row.source = document.source
    row.metadata_json = metadata_json(document)
    row.content_hash = document.content_hash
    row.lang = document.lang
    row.status = status
    row.model_key = model_key
    row.last_run_id = run_id
    row.updated_at = utcnow()
    row.error = error
    return row


def _event(
    session: Session,
    run_id: str,
    *,
    source: str,
    stage: str,
    status: str,
    doc_id: str | None = None,
    error: str | None = None,
) -> None:
    session.add(
        StageEventRow(
            run_id=run_id,
            doc_id=_storable(doc_id),
            source=_storable(source),
            stage=stage,
            status=status,
            error=_storable(error),
        )
    )


def _storable(text: str | None) -> str | None:
    r"""``text`` as UTF-8 holds it: an unpaired surrogate written ``\udcXX``.

    A file name that is not UTF-8 (``caf\xe9.txt`` from a Latin-1 archive) is read with
    such surrogates; its input fails, and its failure must still be recorded.
    """
    return None if text is None else text.encode("utf-8", "backslashreplace").decode("utf-8")


def record_result(
    session: Session, run_id: str, result: DocumentResult, model_key: str, stages: Iterable[str]
) -> None:
    """Store a document's extraction result, replacing any earlier version.

    Raises:
        ValueError: ``result`` is a failure (see :func:`record_failure`).
    """
    record_results(session, run_id, [(result, stages)], model_key)


def record_results(
    session: Session,
    run_id: str,
    results: Iterable[tuple[DocumentResult, Iterable[str]]],
    model_key: str,
) -> None:
    """Store documents' extraction results, each with the stages it ran, as :func:`record_result`.

    The documents' rows and results are read in batches of ids, not one query each.

    Raises:
        ValueError: a result is a failure (see :func:`record_failure`); nothing is recorded.
    """
    results = list(results)
    for result, _ in results:
        if result.failure is not None:
            raise ValueError(
                f"{result.document.source}: a failed result is recorded by record_failure"
            )
    ids = [result.document.id for result, _ in results]
    documents = _rows_by_id(session, DocumentRow, DocumentRow.id, ids)
    stored_rows = _rows_by_id(session, ResultRow, ResultRow.doc_id, ids)
    for result, stages in results:
        document = result.document
        key = result.model_key or model_key  # a result keyed apart from the build carries its key
        documents[document.id] = _upsert_document(
            session, run_id, document, documents.get(document.id), status="ok", model_key=key
        )
        stored = _StoredResult(
            doc_id=document.id,
            chunks=result.chunks,
            mentions=result.mentions,
            relations=result.relations,
            attributes=result.attributes,
        )
        row = stored_rows.get(document.id)
        if row is None:
            row = stored_rows[document.id] = ResultRow(doc_id=document.id)
            session.add(row)
        row.content_hash = document.content_hash
        row.model_key = key
        row.run_id = run_id
        row.payload = stored.model_dump_json()
        for stage in stages:
            _event(
                session,
                run_id,
                source=document.source,
                stage=stage,
                status="ok",
                doc_id=document.id,
            )


def record_skipped(session: Session, run_id: str, documents: Iterable[Document]) -> None:
    """Record that unchanged documents were skipped in this run.

    Each keeps one ``skipped`` event, this run's: its earlier ones are deleted (the runs'
    ``skipped`` counts remain), so that a schedule re-reading an unchanged corpus does not
    add a row per document per run. Their source (a JSON Lines record may move to another
    line or file) and metadata are kept current.
    """
    skipped = list(documents)
    rows = _rows_by_id(session, DocumentRow, DocumentRow.id, [doc.id for doc in skipped])
    _change_by_id(
        session,
        delete(StageEventRow).where(StageEventRow.status == "skipped"),
        StageEventRow.doc_id,
        [_storable(doc.id) for doc in skipped],
    )
    for doc in skipped:
        if doc.id in rows:
            rows[doc.id].source = doc.source
            rows[doc.id].metadata_json = metadata_json(doc)
        _event(session, run_id, source=doc.source, stage="extract", status="skipped", doc_id=doc.id)


def record_failure(
    session: Session, run_id: str, failure: DocumentFailure, document: DocumentInfo | None = None
) -> None:
    """Record a failed document or input; a failed document's old result is dropped.

    A document failing the same way run after run (a failed document is retried by every
    run, an input that cannot be read is read again) keeps the first and the latest event
    of that streak: the latest one before is replaced (see :func:`_drop_repeated_failure`).
    """
    _drop_repeated_failure(session, failure)
    _event(
        session,
        run_id,
        source=failure.source,
        stage=failure.stage,
        status="failed",
        doc_id=failure.doc_id,
        error=failure.error,
    )
    if document is not None:
        known = session.get(DocumentRow, document.id)
        _upsert_document(session, run_id, document, known, status="failed", error=failure.error)
        stale = session.get(ResultRow, document.id)
        if stale is not None:
            session.delete(stale)


def _drop_repeated_failure(session: Session, failure: DocumentFailure) -> None:
    """Delete the middle of a streak of ``failure``: a streak keeps its first and latest event.

    The latest event of ``failure``'s document goes where it and the one before are both
    this failure (stage, source and error); ``skipped`` events do not break a streak (a
    duplicate of an unchanged document fails beside its skip). A failure that names no
    document (an input that cannot be read) is one of the events naming no document of its
    source: those alone make its streak.
    """
    whose: list[ColumnElement[bool]]
    if failure.doc_id is None:
        whose = [StageEventRow.doc_id.is_(None), StageEventRow.source == _storable(failure.source)]
    else:
        whose = [StageEventRow.doc_id == _storable(failure.doc_id)]
    latest = session.scalars(
        select(StageEventRow)
        .where(*whose, StageEventRow.status != "skipped")
        .order_by(StageEventRow.id.desc())
        .limit(2)
    ).all()
    same = (
        "failed",
        failure.stage,
        _storable(failure.source),
        _storable(failure.error),
    )
    if len(latest) == 2 and all((e.status, e.stage, e.source, e.error) == same for e in latest):
        session.delete(latest[0])


def mark_unreadable(session: Session, run_id: str, failure: DocumentFailure) -> bool:
    """Mark the known document of a failure that read no document as failed; False: unknown.

    A file built before that cannot be read now (too large, undecodable, damaged) is a
    failed document, not a deleted one: its old result is dropped as for any failure.
    """
    known = session.get(DocumentRow, failure.doc_id) if failure.doc_id else None
    if known is None or known.status == "deleted":
        return False
    known.status = "failed"
    known.error = failure.error
    known.last_run_id = run_id
    known.updated_at = utcnow()
    stale = session.get(ResultRow, known.id)
    if stale is not None:
        session.delete(stale)
    return True


def mark_deleted(session: Session, run_id: str, present_ids: Iterable[str]) -> list[str]:
    """Mark every known document not in ``present_ids`` as deleted; return their ids."""
    present = set(present_ids)
    gone = [
        row
        for row in session.scalars(select(DocumentRow).where(DocumentRow.status != "deleted"))
        if row.id not in present
    ]
    _change_by_id(session, delete(ResultRow), ResultRow.doc_id, [row.id for row in gone])
    for row in gone:
        row.status = "deleted"
        row.last_run_id = run_id
        row.updated_at = utcnow()
        _event(session, run_id, source=row.source, stage="ingest", status="deleted", doc_id=row.id)
    return sorted(row.id for row in gone)


def current_documents(session: Session, among: Iterable[str] | None = None) -> list[DocumentRow]:
    """Documents whose latest version was extracted successfully, in id order.

    ``among``: only those of these ids.
    """
    query = select(DocumentRow).where(DocumentRow.status == "ok").order_by(DocumentRow.id)
    if among is None:
        return list(session.scalars(query))
    batches = _batches(session, sorted(set(among)))
    rows = [row for ids in batches for row in session.scalars(query.where(DocumentRow.id.in_(ids)))]
    if len(batches) > 1:  # each batch in the database's order, the whole in Python's
        rows.sort(key=lambda row: row.id)
    return rows


def current_state_digest(session: Session) -> str:
    """A digest of what resolution reads: the current documents and their stored results.

    It changes when a document is added, changed, moved, deleted, re-extracted or fails
    (the rows of :func:`current_documents` and :func:`load_results`); no result is read,
    only its run, model key, content hash and length.
    """
    rows = session.execute(
        select(
            DocumentRow.id,
            DocumentRow.source,
            DocumentRow.content_hash,
            DocumentRow.lang,
            DocumentRow.metadata_json,
            ResultRow.run_id,
            ResultRow.model_key,
            ResultRow.content_hash,
            func.length(ResultRow.payload),
        )
        .join(ResultRow, ResultRow.doc_id == DocumentRow.id)
        .where(DocumentRow.status == "ok")
        .order_by(DocumentRow.id)
    )
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(list(row)).encode("utf-8") + b"\n")
    return digest.hexdigest()


def document_info(row: DocumentRow) -> DocumentInfo:
    """The document version a ledger row describes."""
    return DocumentInfo(
        id=row.id,
        source=row.source,
        content_hash=row.content_hash,
        lang=row.lang,
        metadata=stored_metadata(row),
    )


def known_documents(session: Session) -> list[DocumentRow]:
    """Every document the ledger knows (any status), in id order."""
    return list(session.scalars(select(DocumentRow).order_by(DocumentRow.id)))


def load_results(session: Session, doc_ids: Iterable[str]) -> list[DocumentResult]:
    """Stored results for ``doc_ids`` (those that have one), in id order."""
    query = (
        select(ResultRow, DocumentRow)
        .join(DocumentRow, DocumentRow.id == ResultRow.doc_id)
        .order_by(ResultRow.doc_id)
    )
    batches = _batches(session, sorted(set(doc_ids)))
    rows = [
        row.tuple()
        for ids in batches
        for row in session.execute(query.where(ResultRow.doc_id.in_(ids)))
    ]
    if len(batches) > 1:  # each batch in the database's order, the whole in Python's
        rows.sort(key=lambda row: row[0].doc_id)
    results = []
    for result_row, document_row in rows:
        stored = _StoredResult.model_validate_json(result_row.payload)
        results.append(
            DocumentResult(
                document=document_info(document_row),
                chunks=stored.chunks,
                mentions=stored.mentions,
                relations=stored.relations,
                attributes=stored.attributes,
            )
        )
    return results


def graph_key(target: str, row: DocumentRow) -> str:
    """What a graph store ``target`` holds of a document once written: its version and models."""
    key = f"{target}|{row.content_hash}|{row.model_key}"
    if row.metadata_json:  # documents without metadata keep the keys they had before it
        key += "|meta:" + hashlib.sha256(row.metadata_json.encode()).hexdigest()[:16]
    return key


def forget_graph_keys(session: Session, doc_ids: Iterable[str]) -> None:
    """Clear the graph keys of documents about to be rewritten: a write stopped midway is redone.

    One ``UPDATE`` a batch of ids.

    Raises:
        NoResultFound: a document is not in the ledger.
    """
    ids = sorted(set(doc_ids))
    cleared = _change_by_id(
        session, update(DocumentRow).values(neo4j_key=None), DocumentRow.id, ids
    )
    if cleared != len(ids):
        _known(_rows_by_id(session, DocumentRow, DocumentRow.id, ids), ids, "forget_graph_keys")


def record_graph_write(
    session: Session,
    run_id: str,
    target: str,
    written: Iterable[str],
    removed: Iterable[str],
    *,
    stage: str = "neo4j",
) -> None:
    """Record that ``target`` now holds the ``written`` documents and not the ``removed`` ones.

    The documents' rows are read in batches of ids, not one query each.

    Raises:
        NoResultFound: a document is not in the ledger.
    """
    written, removed = list(written), list(removed)
    rows = _rows_by_id(session, DocumentRow, DocumentRow.id, [*written, *removed])
    _known(rows, [*written, *removed], "record_graph_write")
    for doc_id in written:
        row = rows[doc_id]
        row.neo4j_key = graph_key(target, row)
        _event(session, run_id, source=row.source, stage=stage, status="ok", doc_id=doc_id)
    for doc_id in removed:
        row = rows[doc_id]
        row.neo4j_key = None
        _event(session, run_id, source=row.source, stage=stage, status="deleted", doc_id=doc_id)


def graph_inputs(session: Session, target: str) -> str | None:
    """What the graph last written to ``target`` completely was built from (``None``: unknown)."""
    row = session.get(GraphTargetRow, target)
    return None if row is None else row.inputs


def record_graph_inputs(session: Session, target: str, inputs: str | None, run_id: str) -> None:
    """Record what ``target`` now holds was built from; ``None`` before a write starts."""
    row = session.get(GraphTargetRow, target)
    if row is None:
        row = GraphTargetRow(target=target)
        session.add(row)
    row.inputs, row.run_id, row.updated_at = inputs, run_id, utcnow()
