"""Idempotent, batched persistence of a :class:`~kgbuild.data.GraphDelta` to Neo4j.

Every write is ``UNWIND $rows AS row MERGE (n:Label {id: row.id}) SET n += row.props`` in batches
of ``batch_size`` rows, each batch in its own ``session.execute_write`` transaction function,
which the driver may retry: every statement is safe to run again. Writing the same batch twice
leaves the graph as after the first write. Each row carries ``write_hash`` (a digest of what it
writes); a batch first reads which ids are new or changed and writes only those, so an identical
re-write costs index look-ups only.

Incremental updates without a gap: :meth:`Neo4jWriter.write` the changed documents' new
contribution beside the old one (ids are content hashes, so what did not change is the same
node), then :meth:`Neo4jWriter.retire_documents` deletes what their old contribution (and
that of deleted documents) held and the new one does not. A reader sees the old graph, then
old and new together, then the new graph: never a document missing. To drop documents at
once instead, :meth:`Neo4jWriter.replace_documents` removes everything they contributed.

Derived edges (``CO_OCCURS``, ``IN_DOCUMENT``; :mod:`kgbuild.graph.cooccurrence`) are written
whole every time: :meth:`Neo4jWriter.write_derived` upserts the current ones (unchanged ones only
read) and :meth:`Neo4jWriter.remove_stale_derived` deletes the rest, so counts never drift. Every
write or removal that changes entities or mentions gives ``(:GraphState)`` a new ``version``.

Assumptions: the writer owns the properties it writes (an edit by hand is not seen as a change
unless ``write_hash`` is removed too); a relation id keeps its type (ids should include it);
entity labels and relation types come from :class:`~kgbuild.store.neo4j.schema.GraphSchema`.

This module holds the writer and its summaries; its parts live beside it:
:mod:`~kgbuild.store.neo4j.rows` turns the data models into parameter rows,
:mod:`~kgbuild.store.neo4j.steps` says which statements write a batch of them,
:mod:`~kgbuild.store.neo4j.retire` deletes what retired documents left behind, and
:mod:`~kgbuild.store.neo4j.errors` holds the errors (importable from here too).
"""

from __future__ import annotations

import contextlib
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TypeVar

from neo4j import Driver, ManagedTransaction, Session
from neo4j.exceptions import ClientError, ServiceUnavailable, SessionExpired

from kgbuild.collection import existing_objects_frozen
from kgbuild.data import (
    Attribute,
    Chunk,
    CoOccurrence,
    DocumentInfo,
    DocumentLink,
    Entity,
    GraphDelta,
    Mention,
    Relation,
    Span,
)
from kgbuild.layout import Layout
from kgbuild.store.neo4j import queries
from kgbuild.store.neo4j.errors import (
    DATABASE_NOT_FOUND,
    MissingNodeError,
    Neo4jAuthError,
    Neo4jDatabaseNotFoundError,
    Neo4jUnavailableError,
)
from kgbuild.store.neo4j.retire import (
    Keep,
    all_ids,
    delete_documents,
    delete_ids,
    delete_mentions,
    delete_unmentioned,
    evidence_docs,
    ids_of,
    retire_evidence,
)
from kgbuild.store.neo4j.rows import (
    Row,
    attribute_row,
    chunk_row,
    cooccurrence_row,
    document_link_row,
    document_row,
    entity_row,
    mention_row,
    relation_row,
    stamp,
)
from kgbuild.store.neo4j.schema import GraphSchema, SchemaError, create_constraints
from kgbuild.store.neo4j.steps import (
    ATTRIBUTES,
    CHUNKS,
    CO_OCCURS,
    DOCUMENTS,
    IN_DOCUMENT,
    MENTIONS,
    Kind,
    entity_steps,
    relation_steps,
    single,
    write_batch,
)

__all__ = [
    "AppliedDelta",
    "DeleteSummary",
    "MissingNodeError",
    "Neo4jAuthError",
    "Neo4jDatabaseNotFoundError",
    "Neo4jUnavailableError",
    "Neo4jWriter",
    "ProgressCallback",
    "WriteSummary",
]

T = TypeVar("T")
#: Called after each committed batch with (kind, rows done so far, rows in total).
ProgressCallback = Callable[[str, int, int], None]

_DOC_GROUP: Final = 200  # documents removed per transaction by replace_documents


@dataclass(frozen=True)
class WriteSummary:
    """Rows created or changed per kind by :meth:`Neo4jWriter.write` (unchanged rows: 0)."""

    documents: int = 0
    chunks: int = 0
    entities: int = 0
    mentions: int = 0
    relations: int = 0
    attributes: int = 0


@dataclass(frozen=True)
class DeleteSummary:
    """What :meth:`Neo4jWriter.replace_documents` removed."""

    documents: int = 0
    chunks: int = 0
    mentions: int = 0
    entities: int = 0
    relations_deleted: int = 0
    relations_trimmed: int = 0
    attributes_deleted: int = 0
    attributes_trimmed: int = 0


@dataclass(frozen=True)
class AppliedDelta:
    """What :meth:`Neo4jWriter.apply` did."""

    written: WriteSummary
    retired: DeleteSummary
    pruned: int
    """Entities deleted because no mention refers to them any more."""


class Neo4jWriter:
    """Writes documents, chunks, mentions, entities, relations and attributes to Neo4j.

    Args:
        driver: An open :class:`neo4j.Driver` (the caller owns and closes it).
        database: Target database.
        batch_size: Rows per transaction.
        progress: Optional callback after each committed batch.
        uri: URI shown in :class:`Neo4jUnavailableError` (default: derived from the driver).
    """

    def __init__(
        self,
        driver: Driver,
        *,
        database: str = "neo4j",
        batch_size: int = 5000,
        progress: ProgressCallback | None = None,
        uri: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.driver = driver
        self.database = database
        self.batch_size = batch_size
        self.progress = progress
        self.uri = uri or _driver_uri(driver)
        self._schema: GraphSchema | None = None

    # -- schema ------------------------------------------------------------------------------

    @property
    def schema(self) -> GraphSchema:
        """The schema set by :meth:`ensure_schema`.

        Raises:
            SchemaError: :meth:`ensure_schema` was not called.
        """
        if self._schema is None:
            raise SchemaError("call Neo4jWriter.ensure_schema(entity_labels, relation_types) first")
        return self._schema

    def ensure_schema(
        self, entity_labels: Iterable[str], relation_types: Iterable[str]
    ) -> GraphSchema:
        """Validate the allowed labels/types and create constraints and indexes (idempotent).

        Args:
            entity_labels: Allowed entity labels (e.g. PER, ORG, LOC, MISC).
            relation_types: Allowed relation types.

        Returns:
            The validated schema (also kept for later writes).

        Raises:
            SchemaError: A name is malformed or reserved.
            Neo4jUnavailableError: The server cannot be reached.
        """
        schema = GraphSchema.of(entity_labels, relation_types)
        with self._translate_errors():
            create_constraints(self.driver, schema, database=self.database)
        self._schema = schema
        return schema

    def validate(self, delta: GraphDelta) -> None:
        """Refuse entity labels and relation types that are not in the schema.

        Raises:
            SchemaError: Naming the first bad label or type and the allowed ones.
        """
        schema = self.schema
        for label in sorted({e.label for e in delta.entities}):
            schema.check_label(label)
        for rel_type in sorted({r.type for r in delta.relations}):
            schema.check_relation_type(rel_type)

    # -- writing -----------------------------------------------------------------------------

    def apply(self, delta: GraphDelta) -> AppliedDelta:
        """Bring the graph in line with ``delta``, without a moment where a document is missing.

        :meth:`write` its rows, upsert its derived edges (:meth:`write_derived`), report
        ``("cleanup", 0, len(delta.retired))`` to the progress callback, then
        :meth:`retire_documents` ``delta.retired`` against it, delete the entities nothing
        mentions (:meth:`prune_unmentioned_entities`) and the derived edges it does not hold
        (:meth:`remove_stale_derived`). Safe to repeat; a run stopped midway is completed by
        applying the same delta again.

        Raises:
            SchemaError: An entity label or relation type is not in the schema.
            MissingNodeError: A row refers to a chunk/entity that exists nowhere.
            Neo4jUnavailableError: The server is unreachable or went away.
        """
        written = self.write(delta)
        self.write_derived(delta.cooccurrences, delta.document_links)
        if self.progress is not None:
            self.progress("cleanup", 0, len(delta.retired))
        retired = self.retire_documents(delta.retired, delta)
        pruned = self.prune_unmentioned_entities()
        self.remove_stale_derived(delta.cooccurrences, delta.document_links)
        self.remove_reversed(delta.symmetric_types)
        return AppliedDelta(written, retired, pruned)

    def write(self, delta: GraphDelta) -> WriteSummary:
        """Write a delta's rows (upsert; safe to repeat); nothing is retired or deleted.

        Order: documents, chunks, entities, mentions (with their entity links), relations,
        attributes. Everything is validated before anything is written.

        Returns:
            Rows created or changed per kind (rows already in the graph as given count 0).

        Raises:
            SchemaError: An entity label or relation type is not in the schema.
            MissingNodeError: A row refers to a chunk/entity that exists nowhere.
            Neo4jUnavailableError: The server is unreachable or went away.
        """
        self.validate(delta)
        n_docs, n_chunks = self.write_documents(delta.documents, delta.chunks, run_id=delta.run_id)
        spans = {m.id: m.span for m in delta.mentions}
        return WriteSummary(
            documents=n_docs,
            chunks=n_chunks,
            entities=self.write_entities(delta.entities),
            mentions=self.write_mentions(delta.mentions, delta.entity_of()),
            relations=self.write_relations(delta.relations, spans),
            attributes=self.write_attributes(delta.attributes),
        )

    def write_documents(
        self, documents: Sequence[DocumentInfo], chunks: Sequence[Chunk] = (), *, run_id: str = ""
    ) -> tuple[int, int]:
        """Upsert Document nodes and Chunk nodes (with ``PART_OF``).

        A chunk of a document given here whose metadata records its layout (a PDF's
        ``pages``, an HTML or Word file's ``elements``: :mod:`kgbuild.layout`) gets its
        ``page``, or ``element`` and ``element_tag``.

        Returns:
            ``(documents, chunks)`` created or changed.
        """
        layouts = {d.id: layout for d in documents if (layout := Layout.from_metadata(d.metadata))}
        with self._session() as session:
            docs = self._run_batches(
                session, DOCUMENTS, documents, functools.partial(document_row, run_id=run_id)
            )
            to_row = functools.partial(chunk_row, layouts=layouts)
            return docs, self._run_batches(session, CHUNKS, chunks, to_row)

    def write_entities(self, entities: Sequence[Entity]) -> int:
        """Upsert ``(:Entity:<Label>)`` nodes, one pre-built query per validated label.

        Returns:
            Entities created or changed.
        """
        schema = self.schema
        by_label: dict[str, list[Entity]] = defaultdict(list)
        for e in entities:
            by_label[schema.check_label(e.label)].append(e)
        written = 0
        with self._session() as session:
            for label in sorted(by_label):
                kind = Kind(
                    f"entities:{label}",
                    queries.CHANGED_ENTITIES,
                    functools.partial(
                        entity_steps,
                        schema.entity_queries[label],
                        schema.create_entity_queries[label],
                    ),
                )
                written += self._run_batches(session, kind, by_label[label], entity_row)
            if written:
                self._new_version(session)
        return written

    def write_mentions(self, mentions: Sequence[Mention], mention_entity: Mapping[str, str]) -> int:
        """Upsert Mention nodes with ``IN_CHUNK`` and ``REFERS_TO`` (per ``mention_entity``).

        A mention whose entity changed loses its old ``REFERS_TO`` link.

        Returns:
            Mentions created or changed.
        """
        to_row = functools.partial(mention_row, mention_entity=mention_entity)
        with self._session() as session:
            written = self._run_batches(session, MENTIONS, mentions, to_row)
            if written:
                self._new_version(session)
            return written

    def write_relations(
        self, relations: Sequence[Relation], spans: Mapping[str, Span] | None = None
    ) -> int:
        """Upsert one ``(:Entity)-[:<TYPE> {id}]->(:Entity)`` per relation id.

        Evidence is merged: entries from the documents of the incoming evidence are replaced,
        entries from other documents are kept. Each entry names its head and tail mentions
        (``evidence_head_mentions``, ``evidence_tail_mentions``) with their offsets, taken
        from ``spans`` (mention id -> span; ``-1`` where unknown).

        Returns:
            Relations created or changed.
        """
        schema = self.schema
        by_type: dict[str, list[Relation]] = defaultdict(list)
        for r in relations:
            by_type[schema.check_relation_type(r.type)].append(r)
        written = 0
        with self._session() as session:
            for rel_type in sorted(by_type):
                kind = Kind(
                    f"relations:{rel_type}",
                    schema.changed_relation_queries[rel_type],
                    functools.partial(
                        relation_steps,
                        schema.unlink_relation_queries[rel_type],
                        schema.relation_queries[rel_type],
                        schema.create_relation_queries[rel_type],
                    ),
                )
                to_row = functools.partial(relation_row, spans=spans or {})
                written += self._run_batches(session, kind, by_type[rel_type], to_row)
        return written

    def write_attributes(self, attributes: Sequence[Attribute]) -> int:
        """Upsert Attribute nodes with ``(:Entity)-[:HAS_ATTRIBUTE]->(:Attribute)``.

        Returns:
            Attributes created or changed.
        """
        with self._session() as session:
            return self._run_batches(session, ATTRIBUTES, attributes, attribute_row)

    def write_derived(
        self, cooccurrences: Sequence[CoOccurrence], links: Sequence[DocumentLink]
    ) -> tuple[int, int]:
        """Upsert ``CO_OCCURS`` and ``IN_DOCUMENT`` edges (their entities and documents exist).

        Returns:
            ``(co-occurrences, document links)`` created or changed.
        """
        with self._session() as session:
            return (
                self._run_batches(session, CO_OCCURS, cooccurrences, cooccurrence_row),
                self._run_batches(session, IN_DOCUMENT, links, document_link_row),
            )

    def remove_stale_derived(
        self, cooccurrences: Sequence[CoOccurrence], links: Sequence[DocumentLink]
    ) -> tuple[int, int]:
        """Delete the ``CO_OCCURS`` and ``IN_DOCUMENT`` edges that are not among the current ones.

        Returns:
            ``(co-occurrences, document links)`` deleted.
        """
        deleted = []
        with self._session() as session:
            for ids_query, delete_query, current in (
                (queries.CO_OCCURS_IDS, queries.DELETE_CO_OCCURS, {c.id for c in cooccurrences}),
                (queries.IN_DOCUMENT_IDS, queries.DELETE_IN_DOCUMENT, {x.id for x in links}),
            ):
                stored: list[str] = session.execute_read(all_ids, ids_query)
                stale = sorted(set(stored) - current)
                count = 0
                for start in range(0, len(stale), self.batch_size):
                    group = stale[start : start + self.batch_size]
                    count += session.execute_write(delete_ids, delete_query, group)
                deleted.append(count)
        return deleted[0], deleted[1]

    def remove_reversed(self, symmetric_types: Iterable[str]) -> int:
        """Delete the edges of ``symmetric_types`` that run from the larger entity id.

        A symmetric type is one edge per pair, from the smaller id; an edge the other way
        was written before it was (before an upgrade, or before the schema made the type
        symmetric), and the pair's current edge holds its evidence. Types the store's
        schema does not hold have no edges. Safe to repeat.

        Returns:
            Edges deleted.
        """
        schema = self.schema
        deleted = 0
        with self._session() as session:
            for rel_type in sorted(set(symmetric_types) & schema.relation_types):
                query = schema.reversed_relation_queries[rel_type]
                deleted += session.execute_write(_deleted_by, query)
        return deleted

    # -- incremental removal -----------------------------------------------------------------

    def replace_documents(self, doc_ids: Iterable[str]) -> DeleteSummary:
        """Remove everything the given documents contributed, before re-writing or dropping them.

        Deletes their Document, Chunk and Mention nodes; removes their evidence from relations
        and attributes (deleting those with no evidence left); then deletes the entities that
        those mentions referred to and that no Mention refers to any more (with their
        attributes). Entities still mentioned elsewhere stay. Safe to repeat.

        Args:
            doc_ids: Ids of changed or deleted documents.

        Returns:
            Counts of what was removed.

        Raises:
            SchemaError: :meth:`ensure_schema` was not called (relation types are needed).
        """
        ids = sorted(set(doc_ids))
        if not ids:
            return DeleteSummary()
        schema = self.schema
        relation_queries = [
            (schema.delete_docs_relation_queries[t], schema.trim_docs_relation_queries[t])
            for t in sorted(schema.relation_types)
        ]
        totals: dict[str, int] = defaultdict(int)

        def evidence_tx(tx: ManagedTransaction) -> dict[str, int]:
            out: dict[str, int] = defaultdict(int)
            for delete_q, trim_q in relation_queries:
                out["relations_deleted"] += single(tx.run(delete_q, doc_ids=ids), "deleted")
                out["relations_trimmed"] += single(tx.run(trim_q, doc_ids=ids), "trimmed")
            out["attributes_deleted"] = single(
                tx.run(queries.DELETE_DOCS_ATTRIBUTES, doc_ids=ids), "deleted"
            )
            out["attributes_trimmed"] = single(
                tx.run(queries.TRIM_DOCS_ATTRIBUTES, doc_ids=ids), "trimmed"
            )
            return out

        def documents_tx(tx: ManagedTransaction, group: list[str]) -> dict[str, int]:
            entity_ids = tx.run(queries.DOCUMENT_MENTION_ENTITIES, doc_ids=group).single(
                strict=True
            )["entity_ids"]
            return {
                "mentions": single(
                    tx.run(queries.DELETE_DOCUMENT_MENTIONS, doc_ids=group), "deleted"
                ),
                "chunks": single(tx.run(queries.DELETE_DOCUMENT_CHUNKS, doc_ids=group), "deleted"),
                "documents": single(tx.run(queries.DELETE_DOCUMENTS, doc_ids=group), "deleted"),
                "entities": single(
                    tx.run(queries.DELETE_UNMENTIONED_ENTITIES, entity_ids=entity_ids), "deleted"
                ),
            }

        with self._session() as session:
            for key, value in session.execute_write(evidence_tx).items():
                totals[key] += value
            for start in range(0, len(ids), _DOC_GROUP):
                group = ids[start : start + _DOC_GROUP]
                for key, value in session.execute_write(documents_tx, group).items():
                    totals[key] += value
            if totals["mentions"] or totals["entities"]:
                self._new_version(session)
        return DeleteSummary(**totals)

    def retire_documents(self, doc_ids: Iterable[str], current: GraphDelta) -> DeleteSummary:
        """Delete what the documents contributed before and ``current`` no longer holds.

        The second half of a rewrite: :meth:`write` the documents' new contribution first,
        then call this. It deletes, of ``doc_ids``, the Mention and Chunk nodes that are not
        in ``current``, the Document nodes that are not in ``current`` (deleted documents),
        their evidence entries on relations and attributes whose ``current`` row does not
        hold evidence from that document (a relation or attribute left with none is
        deleted), and the entities that the deleted mentions referred to and nothing
        mentions any more. Other documents' nodes and evidence stay. Safe to repeat.

        Args:
            doc_ids: Ids of rewritten or deleted documents.
            current: The graph's current rows: the documents of ``doc_ids`` that stay, with
                their chunks, the current mentions, relations and attributes (rows of other
                documents may be included; they are ignored).

        Returns:
            Counts of what was removed.
        """
        ids = sorted(set(doc_ids))
        if not ids:
            return DeleteSummary()
        retired = set(ids)
        keep = Keep(
            documents={d.id for d in current.documents} & retired,
            chunks={c.id for c in current.chunks if c.doc_id in retired},
            mentions={m.id for m in current.mentions if m.doc_id in retired},
            relations={r.id: evidence_docs(r.evidence) for r in current.relations},
            attributes={a.id: evidence_docs(a.evidence) for a in current.attributes},
        )
        totals: dict[str, int] = defaultdict(int)
        with self._session() as session:
            totals.update(session.execute_write(retire_evidence, ids, keep))
            self._report("retire evidence", len(ids))
            stale = sorted(set(ids_of(session, queries.DOCUMENT_MENTION_IDS, ids)) - keep.mentions)
            entity_ids: set[str] = set()
            for start in range(0, len(stale), self.batch_size):
                group = stale[start : start + self.batch_size]
                found, deleted = session.execute_write(delete_mentions, group)
                entity_ids.update(found)
                totals["mentions"] += deleted
                self._report("retire mentions", min(start + self.batch_size, len(stale)))
            stale = sorted(set(ids_of(session, queries.DOCUMENT_CHUNK_IDS, ids)) - keep.chunks)
            for start in range(0, len(stale), self.batch_size):
                group = stale[start : start + self.batch_size]
                totals["chunks"] += session.execute_write(delete_ids, queries.DELETE_CHUNKS, group)
            gone = sorted(retired - keep.documents)
            totals["documents"] = session.execute_write(delete_documents, gone)
            entities = sorted(entity_ids)
            for start in range(0, len(entities), self.batch_size):
                group = entities[start : start + self.batch_size]
                totals["entities"] += session.execute_write(delete_unmentioned, group)
            if totals["mentions"] or totals["entities"]:
                self._new_version(session)
            self._report("retire documents", len(ids))
        return DeleteSummary(**totals)

    @staticmethod
    def _new_version(session: Session) -> None:
        """Record that entities or mentions changed (readers' name indexes are refreshed)."""
        session.execute_write(lambda tx: tx.run(queries.BUMP_GRAPH_VERSION).consume())

    def _report(self, kind: str, done: int) -> None:
        if self.progress is not None:
            self.progress(kind, done, done)

    def document_sources(self, doc_ids: Iterable[str]) -> dict[str, str | None]:
        """The source of each of ``doc_ids`` that has a Document node in the graph."""
        ids = sorted(set(doc_ids))
        with self._session() as session:
            found: list[tuple[str, str | None]] = session.execute_read(
                lambda tx: tx.run(queries.DOCUMENT_SOURCES, ids=ids).single(strict=True)["found"]
            )
        return {doc_id: source for doc_id, source in found}

    def set_document_sources(self, sources: Mapping[str, str]) -> int:
        """Record where unchanged documents are read from now; the Document nodes changed."""
        rows = [{"id": doc_id, "source": source} for doc_id, source in sorted(sources.items())]
        if not rows:
            return 0
        with self._session() as session:
            changed: int = session.execute_write(
                lambda tx: tx.run(queries.SET_DOCUMENT_SOURCES, rows=rows).single(strict=True)[
                    "changed"
                ]
            )
        return changed

    def prune_unmentioned_entities(self) -> int:
        """Delete every Entity that no Mention refers to (with its attributes).

        Returns:
            Entities deleted.
        """
        with self._session() as session:
            entity_ids: list[str] = session.execute_read(
                lambda tx: tx.run(queries.UNMENTIONED_ENTITY_IDS).single(strict=True)["entity_ids"]
            )
            deleted = 0
            for start in range(0, len(entity_ids), self.batch_size):
                chunk = entity_ids[start : start + self.batch_size]
                deleted += session.execute_write(delete_unmentioned, chunk)
            if deleted:
                self._new_version(session)
        return deleted

    def counts(self) -> dict[str, int]:
        """Node counts per structural label and relationship counts per type."""
        with self._session() as session:

            def read(tx: ManagedTransaction) -> dict[str, int]:
                out = {r["label"]: r["n"] for r in tx.run(queries.COUNT_NODES)}
                out.update({r["type"]: r["n"] for r in tx.run(queries.COUNT_RELATIONSHIPS)})
                return out

            return session.execute_read(read)

    # -- plumbing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except (ServiceUnavailable, SessionExpired) as exc:
            raise Neo4jUnavailableError(self.uri, self.database) from exc
        except ClientError as exc:
            if exc.code == DATABASE_NOT_FOUND:
                raise Neo4jDatabaseNotFoundError(self.uri, self.database) from exc
            raise

    @contextlib.contextmanager
    def _session(self) -> Iterator[Session]:
        with (
            self._translate_errors(),
            self.driver.session(
                database=self.database,
                # write_hash & co. are unknown property keys until first written: not a problem
                notifications_disabled_classifications=["UNRECOGNIZED"],
            ) as session,
        ):
            yield session

    def _run_batches(
        self, session: Session, kind: Kind, items: Sequence[T], to_row: Callable[[T], Row]
    ) -> int:
        """Write ``items`` in batches, one transaction each; return the rows created/changed.

        Rows are built one batch at a time (memory stays flat), the next batch in a helper
        thread while the server works on the current one, and stamped with a hash of their
        content; rows whose hash is already in the graph are skipped. ``items`` (and all else
        that exists already) are left out of the garbage collections made meanwhile.
        """

        def build(start: int) -> list[Row]:
            return [stamp(to_row(item)) for item in items[start : start + self.batch_size]]

        if not items:
            return 0
        written = 0
        with (
            existing_objects_frozen(),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="neo4j-rows") as pool,
        ):
            pending = pool.submit(build, 0)
            for start in range(0, len(items), self.batch_size):
                rows = pending.result()
                if start + self.batch_size < len(items):
                    pending = pool.submit(build, start + self.batch_size)
                written += session.execute_write(write_batch, kind, rows)
                if self.progress is not None:
                    self.progress(kind.name, min(start + self.batch_size, len(items)), len(items))
        return written


def _deleted_by(tx: ManagedTransaction, query: str) -> int:
    """Transaction function: run a parameterless delete; the ``deleted`` count it returns."""
    return single(tx.run(query), "deleted")


def _driver_uri(driver: Driver) -> str:
    address = getattr(driver, "address", None)
    if address is None:
        pool = getattr(driver, "_pool", None)
        address = getattr(pool, "address", None)
    scheme = "bolt" if type(driver).__name__.startswith("Bolt") else "neo4j"
    return f"{scheme}://{address}" if address is not None else f"{scheme}://(unknown address)"
