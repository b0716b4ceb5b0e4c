"""The build pipeline: ingest -> chunk -> NER -> resolve -> graph -> export, incrementally.

:data:`BUILD_STEPS` is the one list of a build's steps; :func:`build` walks it in this
process and the Prefect flow (``kgbuild_flows/build_kg.py``) walks it as tasks, so a new
step is one entry there. Each step reads and fills a :class:`BuildRun`. The run ledger
decides which documents need model work: a document whose text and model settings are
unchanged reuses its stored result, and one that disappeared from the input is marked
deleted.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from kgbuild.collection import existing_objects_frozen, fewer_collections
from kgbuild.config import Settings, load_settings
from kgbuild.data import (
    Attribute,
    CoOccurrence,
    Document,
    DocumentFailure,
    DocumentResult,
    Relation,
    metadata_properties,
)
from kgbuild.extraction import Extractor
from kgbuild.graph.build import build_graph, resolve_attributes, resolve_relations
from kgbuild.graph.cooccurrence import co_occurrences
from kgbuild.graph.delta import graph_delta
from kgbuild.graph.export import sentences_text
from kgbuild.graph.outputs import (
    OUTPUT_FILES,
    code_digest,
    export_outputs,
    kept_outputs,
    refresh_html,
    write_schema,
)
from kgbuild.interrupts import interruption, restated, sigterm_raises
from kgbuild.runlock import output_lock
from kgbuild.schema import SchemaText, load_schema, read_schema_text, schema_file
from kgbuild.stages.discovery import Inputs, check_inputs
from kgbuild.stages.ingest import IngestResult, IngestWarning, printable, read_documents
from kgbuild.stages.registry import stage_key
from kgbuild.stages.resolve import ResolutionResult, resolve_mentions
from kgbuild.store.sql import ledger
from kgbuild.store.sql.orm import LedgerUnavailableError, make_engine

__all__ = [
    "BUILD_STEPS",
    "Assembled",
    "BuildReport",
    "BuildRun",
    "BuildStep",
    "PersistReport",
    "Plan",
    "add_outcomes",
    "assemble",
    "assemble_step",
    "batches",
    "build",
    "check_store",
    "export",
    "extract",
    "extract_step",
    "extractor",
    "fail",
    "finish",
    "neo4j_documents_present",
    "neo4j_inputs",
    "neo4j_kept",
    "new_run_id",
    "persist_graph",
    "persist_neo4j",
    "persist_step",
    "plan",
    "plan_step",
    "read_documents",
    "record",
    "start_report",
]

if TYPE_CHECKING:
    from kgbuild.store.neo4j.writer import ProgressCallback

log = logging.getLogger(__name__)

EXTRACT_STAGES = ("chunk", "ner")


def new_run_id() -> str:
    """A unique, sortable run id: UTC time plus random suffix."""
    return f"run_{datetime.now(UTC):%Y%m%dT%H%M%S}_{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Plan:
    """What a run has to do, decided from the input and the ledger."""

    run_id: str
    model_key: str
    to_process: list[Document]
    unchanged: list[Document]
    deleted: list[str]
    failures: list[DocumentFailure]
    warnings: list[IngestWarning] = field(default_factory=list)
    """What ingest changed or left out of documents it still read."""
    read_order: list[str] = field(default_factory=list)
    """The ids of :attr:`present` in the order they were read, the order in which a build
    with an empty ledger would batch them."""

    @property
    def present(self) -> list[Document]:
        """Every readable document of this run's input."""
        return sorted([*self.to_process, *self.unchanged], key=lambda doc: doc.id)

    def as_read(self) -> list[Document]:
        """:attr:`present` in :attr:`read_order`."""
        by_id = {doc.id: doc for doc in [*self.to_process, *self.unchanged]}
        return [by_id[doc_id] for doc_id in self.read_order]


@dataclass
class BuildReport:
    """What a build did, for people and for tests."""

    run_id: str
    documents: int = 0
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    deleted: int = 0
    chunks: int = 0
    mentions: int = 0
    entities: int = 0
    relations: int = 0
    attributes: int = 0
    merges: int = 0
    seconds: float = 0.0
    failures: list[DocumentFailure] = field(default_factory=list)
    warnings: list[IngestWarning] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    neo4j: str | None = None
    """What was persisted to Neo4j (``None``: no Neo4j configured)."""
    language_skips: dict[tuple[str, tuple[str, ...]], list[str]] = field(default_factory=dict)
    """(language, stages not run) -> sources of the documents no configured model reads."""
    sentence_skips: dict[tuple[str, tuple[str, ...]], list[tuple[str, int]]] = field(
        default_factory=dict
    )
    """(language, stages) -> (source, sentences) of documents with sentences in a script
    that those stages' models do not read (the rest of the document was read)."""
    refused: dict[str, int] = field(default_factory=dict)
    """Per relation type or attribute: answers read in this run's documents that were not
    of the declared type (not an entity of the range, not a date...) and were not stored."""
    not_asked: dict[str, int] = field(default_factory=dict)
    """Per templated relation type: entities of its domain in this run's documents that
    were not asked its question, not being of its ``head_kinds``."""

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [
            f"run {self.run_id}: {self.documents} documents "
            f"({self.processed} processed, {self.skipped} unchanged and skipped, "
            f"{self.failed} failed, {self.deleted} deleted)",
            f"{self.chunks} sentences, {self.mentions} mentions -> {self.entities} entities "
            f"({self.merges} surface forms merged), {self.relations} relations, "
            f"{self.attributes} attribute values in {self.seconds:.1f} s",
        ]
        if self.refused:
            counts = ", ".join(f"{kind} {n}" for kind, n in sorted(self.refused.items()))
            lines.append(f"  refused (not of the declared type, not stored): {counts}")
        if self.not_asked:
            counts = ", ".join(f"{kind} {n}" for kind, n in sorted(self.not_asked.items()))
            lines.append(f"  entities not asked (not of the type's head kinds): {counts}")
        lines += [
            f"  failed: {printable(f.source)} [{f.stage}]: {printable(f.error)}"
            for f in self.failures
        ]
        lines += [
            f"  warning: {printable(w.source)}: {printable(w.message)}" for w in self.warnings
        ]
        lines += [
            f"  skipped {', '.join(stages)} for {len(sources)} document(s) in language {lang!r} "
            f"(no configured model reads it; chunked and kept as documents): "
            + ", ".join(printable(source) for source in sources[:5])
            + (", ..." if len(sources) > 5 else "")
            for (lang, stages), sources in sorted(self.language_skips.items())
        ]
        lines += [
            f"  skipped {', '.join(stages)} for {sum(n for _, n in found)} sentence(s) in "
            f"language {lang!r} in {len(found)} document(s) (no configured model reads it; "
            "the rest of each document was read): "
            + ", ".join(f"{printable(source)} ({n})" for source, n in found[:5])
            + (", ..." if len(found) > 5 else "")
            for (lang, stages), found in sorted(self.sentence_skips.items())
        ]
        lines += [f"  {name}: {path}" for name, path in self.outputs.items()]
        if self.neo4j:
            lines.append(f"  {self.neo4j}")
        return "\n".join(lines)


def extractor(settings: Settings, run_id: str, *, progress: bool = False) -> Extractor:
    """The model stages for ``settings`` (models themselves are cached per process)."""
    return Extractor(settings, run_id=run_id, progress=progress)


def plan(
    ingested: IngestResult,
    engine: Engine,
    *,
    run_id: str,
    model_key: str,
    document_key: Callable[[Document], str] | None = None,
) -> Plan:
    """Start the run in the ledger and decide which of the read documents need model work.

    Runs left ``running`` by a process that died are marked ``abandoned`` first. Planning
    the same run again (the flow retries its plan step) starts it once. ``document_key``:
    each document's key where it may differ from ``model_key``
    (:meth:`~kgbuild.extraction.Extractor.document_key`).
    """
    with Session(engine) as session, session.begin():
        for run in ledger.abandon_dead_runs(session, starting=run_id):
            log.warning("run %s was left unfinished (%s): marked abandoned", run.id, run.error)
        ledger.start_run(session, run_id)
    with Session(engine) as session, session.begin():
        unchanged_ids = ledger.unchanged_documents(
            session, ingested.documents, document_key or model_key
        )
        unchanged = [doc for doc in ingested.documents if doc.id in unchanged_ids]
        to_process = [doc for doc in ingested.documents if doc.id not in unchanged_ids]
        ledger.record_skipped(session, run_id, unchanged)
        read = {doc.id for doc in ingested.documents}
        unreadable: set[str] = set()
        for failure in ingested.failures:
            ledger.record_failure(session, run_id, failure)
            # a file built before that cannot be read now is failed, not deleted (a
            # duplicate id's failure names the document read first: left alone)
            doc_id = failure.doc_id
            if doc_id and doc_id not in read and ledger.mark_unreadable(session, run_id, failure):
                unreadable.add(doc_id)
        deleted = ledger.mark_deleted(session, run_id, read | unreadable)
    if unchanged:
        log.info("%d unchanged documents skipped (same text and models)", len(unchanged))
    if deleted:
        log.info("%d documents no longer in the input: their results are removed", len(deleted))
    if unreadable:
        log.warning(
            "%d documents built before cannot be read now: their results are removed until "
            "they can (%s)",
            len(unreadable),
            ", ".join(sorted(unreadable)[:5]) + (", ..." if len(unreadable) > 5 else ""),
        )
    return Plan(
        run_id,
        model_key,
        to_process,
        unchanged,
        deleted,
        list(ingested.failures),
        list(ingested.warnings),
        [doc.id for doc in ingested.documents],
    )


def extract(documents: Sequence[Document], stages: Extractor) -> list[DocumentResult]:
    """Run the model stages over a batch of documents, isolating per-document failures.

    The batch runs as one model pass per stage; if it fails, each document is retried
    alone so that one bad document does not lose the others.
    """
    try:
        return stages(documents)
    except Exception as batch_error:
        if len(documents) == 1:
            doc = documents[0]
            error = f"{type(batch_error).__name__}: {batch_error}"
            log.error("extraction failed for %s: %s", doc.source, error)
            failure = DocumentFailure(
                source=doc.source, doc_id=doc.id, stage="extract", error=error
            )
            return [DocumentResult(document=doc.info, failure=failure)]
        log.warning(
            "batch of %d failed (%s); retrying document by document", len(documents), batch_error
        )
        return [outcome for doc in documents for outcome in extract([doc], stages)]


def record(engine: Engine, run_id: str, model_key: str, outcomes: Sequence[DocumentResult]) -> None:
    """Store a batch's results (or failures) in the ledger, in one transaction.

    The results are recorded together (their rows read in batches of ids), then the failures.
    """
    with Session(engine) as session, session.begin():
        ledger.record_results(
            session,
            run_id,
            [
                (outcome, [s for s in EXTRACT_STAGES if s not in outcome.skipped_stages])
                for outcome in outcomes
                if outcome.failure is None
            ],
            model_key,
        )
        for outcome in outcomes:
            if outcome.failure is not None:
                ledger.record_failure(session, run_id, outcome.failure, outcome.document)


@dataclass(frozen=True)
class Assembled:
    """The resolved graph of every current document."""

    graph: nx.MultiDiGraph[str]
    resolution: ResolutionResult
    results: list[DocumentResult]
    relations: list[Relation]
    """Entity-level relations (see :func:`kgbuild.graph.build.resolve_relations`)."""
    attributes: list[Attribute] = field(default_factory=list)
    """Entity-level attributes (see :func:`kgbuild.stages.attributes.resolve_attributes`)."""
    cooccurrences: tuple[CoOccurrence, ...] | None = None
    """The graph's ``CO_OCCURS`` pairs (``None``: not kept; a persist computes them again)."""

    @property
    def chunks(self) -> int:
        """Sentences of all current documents."""
        return sum(len(result.chunks) for result in self.results)

    @property
    def mentions(self) -> int:
        """Mentions of all current documents."""
        return sum(len(result.mentions) for result in self.results)

    @property
    def totals(self) -> Totals:
        """What the build report counts of the graph."""
        return Totals(
            chunks=self.chunks,
            mentions=self.mentions,
            entities=len(self.resolution.entities),
            relations=len(self.relations),
            attributes=len(self.attributes),
            merges=self.resolution.merges,
        )


@dataclass(frozen=True)
class Totals:
    """The counts of an assembled graph that a build reports."""

    chunks: int
    mentions: int
    entities: int
    relations: int
    attributes: int
    merges: int


def assembly_inputs(settings: Settings, engine: Engine) -> str:
    """A digest of everything :func:`assemble` and :func:`export` read.

    The current documents and their stored results (their ids, sources, hashes, runs and
    model keys), the resolution and graph settings, the graph schema's symmetric relation
    types (stored once per pair), and kgbuild's code and versions
    (:func:`kgbuild.graph.outputs.code_digest`). ``graph.html_pages`` is left out: only
    ``graph.html`` depends on it, and a kept build writes that file again for a new one
    (:func:`kgbuild.graph.outputs.refresh_html`).
    """
    with Session(engine) as session:
        state = ledger.current_state_digest(session)
    digest = hashlib.sha256()
    # stage_key: canonical JSON (sets sorted: their order changes from process to
    # process) without the run-time-only fields (threads, batch sizes)
    graph = stage_key(settings.graph, unused=("html_pages",))
    symmetric = ",".join(sorted(load_schema(settings.schema_path).symmetric_relations))
    for part in (state, stage_key(settings.resolve), graph, symmetric, code_digest()):
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()


def assemble(settings: Settings, engine: Engine) -> Assembled:
    """Resolve the mentions of every current document (stored results) into the graph."""
    with Session(engine) as session:
        rows = ledger.current_documents(session)
        infos = [
            {
                "id": row.id,
                "source": row.source,
                "content_hash": row.content_hash,
                "lang": row.lang,
                **metadata_properties(ledger.stored_metadata(row)),
            }
            for row in rows
        ]
        results = ledger.load_results(session, [row.id for row in rows])
    mentions = [mention for result in results for mention in result.mentions]
    sentences = (  # the context veto reads each mention's sentence
        {chunk.id: chunk.text for result in results for chunk in result.chunks}
        if settings.resolve.context_similarity
        else None
    )
    resolution = resolve_mentions(mentions, settings.resolve, sentences=sentences)
    relations = resolve_relations(
        (relation for result in results for relation in result.relations),
        resolution.mention_to_entity,
        load_schema(settings.schema_path).symmetric_relations,
    )
    attributes = resolve_attributes(
        (attribute for result in results for attribute in result.attributes),
        resolution.mention_to_entity,
        {entity.id: entity.name for entity in resolution.entities},
    )
    # computed once, for the graph and for a Neo4j persist's delta
    pairs = tuple(
        co_occurrences(
            mentions,
            resolution.mention_to_entity,
            {chunk.id: chunk.index for result in results for chunk in result.chunks},
            window=settings.graph.cooccurrence_window,
        )
    )
    graph = build_graph(
        infos,
        resolution.entities,
        mentions,
        resolution.mention_to_entity,
        relations,
        attributes=attributes,
        cooccurrences=pairs,
    )
    return Assembled(graph, resolution, results, relations, attributes, pairs)


def export(
    graph: nx.MultiDiGraph[str],
    out_dir: Path,
    *,
    force: bool = False,
    inputs: str | None = None,
    totals: Totals | None = None,
    html_pages: int | None = None,
    results: Sequence[DocumentResult] = (),
    schema: SchemaText | None = None,
) -> dict[str, Path]:
    """Write GraphML, node-link JSON, the HTML view and ``sentences.jsonl`` into ``out_dir``.

    ``sentences.jsonl`` holds the sentences of ``results`` (the text offsets point into;
    :func:`kgbuild.graph.export.sentences_text`). A file whose content would not change is
    kept as it is, unless ``force``; ``inputs`` (:func:`assembly_inputs`) and ``totals``
    are recorded for the next build (see :mod:`kgbuild.graph.outputs`). ``html_pages``
    (``graph.html_pages``) caps the entity pages of the HTML view (``None``: all).
    ``schema``, the graph schema the graph was built with, is recorded beside the files
    (:func:`kgbuild.graph.outputs.write_schema`), for ``kgbuild ask`` and ``serve``.
    """
    written = export_outputs(
        graph,
        out_dir,
        force=force,
        inputs=inputs,
        totals=None if totals is None else asdict(totals),
        html_pages=html_pages,
        sentences=sentences_text((r.document.id, r.document.source, r.chunks) for r in results),
    )
    if schema is not None:
        write_schema(out_dir, schema)
    return written


@dataclass(frozen=True)
class PersistReport:
    """What a persist to Neo4j did."""

    uri: str
    database: str
    written: int
    removed: int
    entities: int
    pruned: int

    def summary(self) -> str:
        """One line for people."""
        return (
            f"neo4j {self.uri} (database {self.database!r}): {self.written} documents written, "
            f"{self.removed} removed, {self.entities} entities current, {self.pruned} pruned"
        )


def persist_graph(
    settings: Settings,
    engine: Engine,
    run_id: str,
    assembled: Assembled,
    *,
    progress: ProgressCallback | None = None,
    inputs: str | None = None,
) -> PersistReport:
    """Bring the configured Neo4j in line with the current documents, incrementally.

    Per document the ledger keeps a graph key (target, content hash and model key last
    written). The documents whose key differs or whose Document node is missing are
    rewritten; their keys are cleared before the write and set after it succeeds, so a run
    stopped midway (Neo4j failure, Ctrl-C, ``kill -9``) is completed by the next run,
    without duplicates (every write is a MERGE on content-hash ids). The store gets one
    :class:`~kgbuild.data.GraphDelta` (:func:`~kgbuild.graph.delta.graph_delta`): it writes
    the rewritten documents beside their old versions, re-links every current mention to
    its current entity, and only then removes what the rewritten and the deleted documents
    contributed and the new graph does not hold (see
    :meth:`~kgbuild.store.neo4j.writer.Neo4jWriter.apply`). A reader therefore always sees
    a complete graph: the old one, old and new together while the write runs, then the new
    one.

    Args:
        settings: Where to write (``settings.neo4j``), the graph schema and window.
        engine: The run ledger.
        run_id: This run (recorded on Document nodes and in the ledger).
        assembled: The resolved results of every current document.
        progress: Called after each committed write batch (``kind, done, total``), once
            with kind ``"cleanup"`` between the write and the removal of old contributions,
            and after each removal step (kinds ``"retire ..."``).
        inputs: What ``assembled`` was built from (:func:`neo4j_inputs`), recorded in the
            ledger once the write has succeeded (and cleared before it starts): a later
            build from the same inputs need not write again (:func:`neo4j_kept`).

    Raises:
        ConfigError: no URI configured, or the graph schema file is wrong.
        SchemaError: an entity label is not in the graph schema.
        Neo4jUnavailableError: the server is down or went away during the writes.
        Neo4jAuthError: the server refused the user and password.
    """
    from kgbuild.store.neo4j.persist import open_writer, target_key

    config = settings.neo4j
    schema = load_schema(settings.schema_path)
    target = target_key(config)
    with Session(engine) as session:
        rows = {row.id: row for row in ledger.known_documents(session)}
    current = {result.doc_id for result in assembled.results}
    with open_writer(config, schema, progress=progress) as writer:
        present = writer.document_sources(rows)
        stale = sorted(
            doc_id
            for doc_id in current
            if doc_id not in present
            or rows[doc_id].neo4j_key != ledger.graph_key(target, rows[doc_id])
        )
        removed = sorted(
            row.id
            for row in rows.values()
            if row.id not in current
            and (row.id in present or (row.neo4j_key or "").startswith(target + "|"))
        )
        with Session(engine) as session, session.begin():
            ledger.forget_graph_keys(session, stale)
            ledger.record_graph_inputs(session, target, None, run_id)
        delta = graph_delta(
            run_id,
            assembled.results,
            assembled.resolution,
            assembled.relations,
            assembled.attributes,
            rewrite=stale,
            retire=[*stale, *removed],
            cooccurrence_window=settings.graph.cooccurrence_window,
            cooccurrences=assembled.cooccurrences,
            symmetric_types=schema.symmetric_relations,
        )
        applied = writer.apply(delta)
        moved = {
            doc_id: rows[doc_id].source
            for doc_id in current.difference(stale)
            if present.get(doc_id) != rows[doc_id].source
        }
        if writer.set_document_sources(moved):
            log.info("%d unchanged documents read from another file: sources updated", len(moved))
    with Session(engine) as session, session.begin():
        ledger.record_graph_write(session, run_id, target, stale, removed)
        ledger.record_graph_inputs(session, target, inputs, run_id)
    report = PersistReport(
        config.uri or "",
        config.database,
        len(stale),
        len(removed),
        len(assembled.resolution.entities),
        applied.pruned,
    )
    log.info(report.summary())
    return report


def check_store(settings: Settings) -> None:
    """Before any model work, refuse a Neo4j target that no re-run could write to.

    Raises:
        Neo4jAuthError: The server refused the user and password.
        Neo4jDatabaseNotFoundError: The server has no such database.
    """
    if settings.neo4j.uri:
        from kgbuild.store.neo4j.persist import check_target

        check_target(settings.neo4j)


def persist_neo4j(
    settings: Settings,
    engine: Engine,
    run_id: str,
    assembled: Assembled,
    *,
    inputs: str | None = None,
) -> str | None:
    """Persist to Neo4j when one is configured (:func:`persist_graph`); return its summary line."""
    if not settings.neo4j.uri:
        return None
    return persist_graph(settings, engine, run_id, assembled, inputs=inputs).summary()


def neo4j_inputs(settings: Settings, inputs: str) -> str:
    """What a Neo4j write is made from: ``inputs`` and the graph schema.

    ``inputs`` is :func:`assembly_inputs`; the schema (its labels and types) is what the
    write is checked against.
    """
    try:
        schema = schema_file(settings.schema_path).read_bytes()
    except OSError:  # the write says so (load_schema)
        schema = b"\0unreadable"
    return hashlib.sha256(inputs.encode("utf-8") + b"\0" + schema).hexdigest()


def neo4j_kept(settings: Settings, engine: Engine, inputs: str) -> bool:
    """Whether the configured Neo4j holds the graph of ``inputs``, by the ledger.

    True when the last write to that target that completed was of a graph built from
    ``inputs`` (:func:`assembly_inputs`: the same current documents, settings and code)
    with the same graph schema (:func:`neo4j_inputs`).
    """
    from kgbuild.store.neo4j.persist import target_key

    with Session(engine) as session:
        recorded = ledger.graph_inputs(session, target_key(settings.neo4j))
    return recorded == neo4j_inputs(settings, inputs)


def neo4j_documents_present(settings: Settings, engine: Engine) -> bool:
    """Whether every current document has its Document node, of its source, in Neo4j.

    What a kept graph (:func:`neo4j_kept`) is checked against before nothing is written:
    a database emptied or replaced since is written again.
    """
    from kgbuild.store.neo4j.persist import open_writer

    with Session(engine) as session:
        sources = {row.id: row.source for row in ledger.current_documents(session)}
    with open_writer(settings.neo4j, load_schema(settings.schema_path)) as writer:
        return writer.document_sources(sources) == sources


def start_report(todo: Plan) -> BuildReport:
    """A report holding what planning decided."""
    return BuildReport(
        run_id=todo.run_id,
        documents=len(todo.present),
        deleted=len(todo.deleted),
        skipped=len(todo.unchanged),
        failures=list(todo.failures),
        warnings=list(todo.warnings),
    )


def add_outcomes(report: BuildReport, outcomes: Sequence[DocumentResult]) -> None:
    """Count a batch's processed and failed documents into ``report``."""
    for outcome in outcomes:
        if outcome.failure is not None:
            report.failures.append(outcome.failure)
        else:
            report.processed += 1
            for kind, count in outcome.refused.items():
                report.refused[kind] = report.refused.get(kind, 0) + count
            for kind, count in outcome.not_asked.items():
                report.not_asked[kind] = report.not_asked.get(kind, 0) + count
        if outcome.skipped_stages:
            key = (outcome.document.lang, outcome.skipped_stages)
            report.language_skips.setdefault(key, []).append(outcome.document.source)
        for skipped in outcome.skipped_sentences:
            found = report.sentence_skips.setdefault((skipped.lang, skipped.stages), [])
            found.append((outcome.document.source, skipped.sentences))


def finish(engine: Engine, report: BuildReport, totals: Totals, started: float) -> BuildReport:
    """Fill the report's totals and record the run as succeeded."""
    report.failed = len(report.failures)
    report.chunks, report.mentions = totals.chunks, totals.mentions
    report.entities = totals.entities
    report.relations = totals.relations
    report.attributes = totals.attributes
    report.merges = totals.merges
    report.seconds = time.perf_counter() - started
    with Session(engine) as session, session.begin():
        ledger.finish_run(
            session,
            report.run_id,
            status="succeeded",
            documents=report.documents,
            processed=report.processed,
            skipped=report.skipped,
            failed=report.failed,
            deleted=report.deleted,
            mentions=report.mentions,
            entities=report.entities,
            merges=report.merges,
        )
    return report


def fail(
    engine: Engine, run_id: str, exc: BaseException, *, interrupted: bool | None = None
) -> None:
    """Record the run as failed, or as interrupted (Ctrl-C, SIGTERM), with what stopped it.

    ``interrupted`` defaults to whether ``exc`` is a ``KeyboardInterrupt``, or was raised
    while one was handled (:func:`~kgbuild.interrupts.interruption`); the interruption is
    then what the run records.
    """
    stop = interruption(exc)
    if interrupted is None:
        interrupted = stop is not None
    if interrupted and stop is not None:
        exc = stop
    status = "interrupted" if interrupted else "failed"
    what = str(exc) or ("Ctrl-C (SIGINT)" if isinstance(exc, KeyboardInterrupt) else "no message")
    if interrupted:
        log.warning("run %s interrupted (%s): run the build again to complete it", run_id, what)
    with Session(engine) as session, session.begin():
        ledger.finish_run(session, run_id, status=status, error=f"{type(exc).__name__}: {what}")


def batches(
    documents: Sequence[Document], size: int, max_chars: int | None = None
) -> list[list[Document]]:
    """Split documents, in order, into batches (the unit of model work and of ledger commits).

    A batch holds at most ``size`` documents and ends before the document that would take
    its text past ``max_chars`` characters; a longer document is a batch alone.

    >>> docs = [
    ...     Document(id=f"d{i}", source=f"d{i}.txt", text="x" * n, content_hash="h")
    ...     for i, n in enumerate([4, 4, 9, 1, 1, 1, 1])
    ... ]
    >>> [[d.id for d in batch] for batch in batches(docs, 3, max_chars=8)]
    [['d0', 'd1'], ['d2'], ['d3', 'd4', 'd5'], ['d6']]
    """
    if size < 1:
        raise ValueError(f"a batch holds at least 1 document, not {size}")
    out: list[list[Document]] = []
    current: list[Document] = []
    chars = 0
    for document in documents:
        length = len(document.text)
        if current and (
            len(current) == size or (max_chars is not None and chars + length > max_chars)
        ):
            out.append(current)
            current, chars = [], 0
        current.append(document)
        chars += length
    if current:
        out.append(current)
    return out


@dataclass
class BuildRun:
    """One build as its steps go: its inputs, and what each step fills in for the next."""

    paths: Inputs
    settings: Settings
    run_id: str
    engine: Engine
    progress: bool = False
    started: float = field(default_factory=time.perf_counter)
    stages: Extractor | None = None
    """The model stages (step ``plan``)."""
    todo: Plan | None = None
    """What the run has to do (step ``plan``)."""
    report: BuildReport | None = None
    """What the run did so far (step ``plan`` starts it)."""
    assembled: Assembled | None = None
    """The resolved graph (step ``resolve-and-export``; ``None`` where it kept the last one)."""
    totals: Totals | None = None
    """The graph's counts (step ``resolve-and-export``, also where it kept the last graph)."""
    inputs: str | None = None
    """What the graph is built from (:func:`assembly_inputs`; step ``resolve-and-export``)."""

    def planned(self) -> tuple[Plan, BuildReport]:
        """The plan and the report, once step ``plan`` has run.

        Raises:
            RuntimeError: a step ran before ``plan``.
        """
        if self.todo is None or self.report is None:
            raise RuntimeError(f"run {self.run_id}: a build step ran before the plan step")
        return self.todo, self.report

    def finished(self) -> BuildReport:
        """Fill the report's totals and record the run as succeeded (after every step).

        Raises:
            RuntimeError: the graph was not assembled.
        """
        _, report = self.planned()
        if self.totals is None:
            raise RuntimeError(f"run {self.run_id}: finished before the graph was assembled")
        return finish(self.engine, report, self.totals, self.started)


@dataclass(frozen=True)
class BuildStep:
    """One step of a build: a function of the :class:`BuildRun`.

    Attributes:
        name: The step's name (the Prefect task's name).
        run: Does the step's work on this process.
        retry_delays: Seconds between retries of a transient failure, where the runner
            retries (the Prefect flow; :func:`build` does not).
        describe: A log line saying what the step decided, logged by the runner after it.
    """

    name: str
    run: Callable[[BuildRun], None]
    retry_delays: tuple[float, ...] = (1, 5)
    describe: Callable[[BuildRun], str] | None = None


def plan_step(run: BuildRun) -> None:
    """Read the input, build the model stages and decide which documents need them."""
    out_dir = run.settings.out_dir
    ingested = read_documents(
        run.paths,
        run.settings.ingest,
        outputs=[out_dir / name for name in OUTPUT_FILES.values()],  # --out inside an input
    )
    run.stages = extractor(run.settings, run.run_id, progress=run.progress)
    run.todo = plan(
        ingested,
        run.engine,
        run_id=run.run_id,
        model_key=run.stages.model_key,
        document_key=run.stages.document_key,
    )
    run.report = start_report(run.todo)


def _describe_plan(run: BuildRun) -> str:
    todo, _ = run.planned()
    return (
        f"{run.run_id}: {len(todo.to_process)} documents to process, {len(todo.unchanged)} "
        f"unchanged, {len(todo.deleted)} deleted, {len(todo.failures)} unreadable"
    )


def extract_step(run: BuildRun) -> None:
    """Run the model stages over the documents to process, batch by batch, recording each.

    The Prefect flow runs this step its own way (batches as cached tasks, on the
    configured task runner), with the same :func:`extract` and :func:`record`.
    """
    from kgbuild.progress import count_documents

    todo, report = run.planned()
    stages = run.stages or extractor(run.settings, run.run_id, progress=run.progress)
    with count_documents(len(todo.to_process), enabled=run.progress) as done:
        for batch in batches(
            todo.to_process, run.settings.docs_per_batch, run.settings.batch_chars
        ):
            outcomes = extract(batch, stages)
            record(run.engine, run.run_id, todo.model_key, outcomes)
            add_outcomes(report, outcomes)
            done(len(batch))


def assemble_step(run: BuildRun) -> None:
    """Resolve every current document into the graph and write the output files.

    A build whose inputs (:func:`assembly_inputs`) are those of the last build, whose
    output files are still as it wrote them, keeps them and their totals and resolves
    nothing (see :func:`kgbuild.graph.outputs.kept_outputs`); with Neo4j, only where the
    ledger says the last complete write there was of the same inputs (:func:`neo4j_kept`).
    For a new ``graph.html_pages`` it then writes ``graph.html`` alone, from ``graph.json``.
    Either way the graph schema of the settings is recorded as the graph's
    (:func:`kgbuild.graph.outputs.write_schema`): a schema edited since the last build
    whose graph it leaves as it was is the one ``kgbuild ask`` reads questions with.
    """
    _, report = run.planned()
    out_dir = run.settings.out_dir
    inputs = run.inputs = assembly_inputs(run.settings, run.engine)
    kept = kept_outputs(out_dir, inputs)
    if (
        kept is not None
        and set(kept[1]) == {f.name for f in fields(Totals)}
        and (not run.settings.neo4j.uri or neo4j_kept(run.settings, run.engine, inputs))
        and refresh_html(out_dir, run.settings.graph.html_pages)
    ):
        report.outputs = kept[0]
        run.totals = Totals(**kept[1])
        write_schema(out_dir, read_schema_text(run.settings.schema_path))
        log.info("nothing that the graph is built from changed: %s kept", out_dir)
        return
    _assemble_and_export(run, report, inputs)


def _assemble_and_export(run: BuildRun, report: BuildReport, inputs: str) -> Assembled:
    """Resolve the graph into ``run`` and write its files; return it."""
    out_dir = run.settings.out_dir
    # What exists when a block starts (the loaded models and modules, then the assembled
    # graph and results) lives on past it: left out of the collections made inside, which
    # would otherwise scan it again each time the graph or the files' text grows.
    with existing_objects_frozen():
        run.assembled = assemble(run.settings, run.engine)
    run.totals = run.assembled.totals
    with existing_objects_frozen():
        report.outputs = export(
            run.assembled.graph,
            out_dir,
            inputs=inputs,
            totals=run.totals,
            html_pages=run.settings.graph.html_pages,
            results=run.assembled.results,
            schema=read_schema_text(run.settings.schema_path),
        )
    return run.assembled


def persist_step(run: BuildRun) -> None:
    """Bring Neo4j in line with the current documents, when one is configured.

    Where step ``resolve-and-export`` kept the last graph (Neo4j holds it, by the ledger),
    nothing is written if every current document's node is still there; otherwise the
    graph is assembled now and written.
    """
    _, report = run.planned()
    settings = run.settings
    if not settings.neo4j.uri:
        return
    if run.assembled is None:
        if run.totals is None or run.inputs is None:
            raise RuntimeError(
                f"run {run.run_id}: persist-neo4j ran before the graph was assembled"
            )
        if neo4j_documents_present(settings, run.engine):
            config = settings.neo4j
            kept = PersistReport(config.uri or "", config.database, 0, 0, run.totals.entities, 0)
            report.neo4j = f"{kept.summary()} (nothing it is built from changed: not resolved)"
            log.info(report.neo4j)
            return
        log.warning("Neo4j lacks documents of the last build: the graph is written again")
        assembled = _assemble_and_export(run, report, run.inputs)
    else:
        assembled = run.assembled
    inputs = None if run.inputs is None else neo4j_inputs(settings, run.inputs)
    report.neo4j = persist_neo4j(settings, run.engine, run.run_id, assembled, inputs=inputs)


BUILD_STEPS: tuple[BuildStep, ...] = (
    BuildStep("plan", plan_step, describe=_describe_plan),
    BuildStep("extract", extract_step),
    BuildStep("resolve-and-export", assemble_step),
    BuildStep("persist-neo4j", persist_step, retry_delays=(2, 10)),
)
"""A build's steps, in order: walked by :func:`build` and by the Prefect flow."""


def build(
    paths: Inputs,
    settings: Settings | None = None,
    *,
    progress: bool = False,
) -> BuildReport:
    """Run the whole pipeline in this process and return what it did.

    The run holds the output folder's lock (see :mod:`kgbuild.runlock`) and, in the main
    thread, turns SIGTERM into :class:`~kgbuild.interrupts.Terminated`, so that a run
    stopped by Ctrl-C or SIGTERM is recorded as ``interrupted`` before the exception
    propagates.

    Args:
        paths: folders, files or globs of documents (a list, or one path alone).
        settings: configuration (default: :func:`~kgbuild.config.load_settings`, the
            environment and ``KGBUILD_CONFIG``).
        progress: show progress bars over documents and, within a long document's
            batch, over each model stage (logged at INFO when stderr is not a terminal).

    Raises:
        ConfigError: without ``settings``, the environment or config file is invalid.
        OutputLockedError: another build is writing into ``settings.out_dir``.
        LedgerUnavailableError: the run ledger cannot be reached or written (its server
            stopped, its disk is full); what was recorded before is kept.
    """
    settings = settings or load_settings()
    check_inputs(paths)  # a typo leaves no output folder behind
    run_id = new_run_id()
    with (
        sigterm_raises(),
        output_lock(settings.out_dir, purpose="build", run_id=run_id),
        fewer_collections(),
    ):
        return _locked_build(paths, settings, run_id, progress=progress)


def _locked_build(paths: Inputs, settings: Settings, run_id: str, *, progress: bool) -> BuildReport:
    url = settings.resolved_ledger_url()
    engine = make_engine(url)
    run = BuildRun(paths, settings, run_id, engine, progress=progress)
    try:
        check_store(settings)
        for step in BUILD_STEPS:
            step.run(run)
            if step.describe is not None:
                log.debug("%s", step.describe(run))
        return run.finished()
    except BaseException as exc:
        try:
            fail(engine, run_id, exc)
        except OperationalError as unrecorded:  # the ledger went away (or its disk is full)
            reason = str(unrecorded.orig or unrecorded).partition("\n")[0]
            log.error("run %s: its end could not be recorded in the ledger (%s)", run_id, reason)
        stop = interruption(exc)
        if stop is not None and stop is not exc:  # a clean-up failed after Ctrl-C or SIGTERM
            raise restated(stop) from exc
        if isinstance(exc, OperationalError):
            raise LedgerUnavailableError(url, exc) from exc
        raise
    finally:
        engine.dispose()
