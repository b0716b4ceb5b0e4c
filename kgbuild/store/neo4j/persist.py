"""Persist the assembled graph to Neo4j, incrementally, with the ledger as the record.

Per document the ledger keeps ``neo4j_key`` (target, content hash and model key last
written). A run writes the documents whose key differs or whose Document node is
missing, re-links every current mention to its current entity, and only then removes
what the rewritten documents' earlier versions and the deleted documents contributed
and the new graph does not hold, then prunes entities no mention refers to. The derived
``CO_OCCURS`` and ``IN_DOCUMENT`` edges are recomputed from every current mention and
upserted after the write; those no longer current are deleted last. A reader
therefore always sees a complete graph: the old one, old and new together while the
write runs, then the new one. The keys of the documents to rewrite are cleared before
the write and set after it succeeds, so a run stopped midway (Neo4j failure, Ctrl-C,
``kill -9``) is completed by the next run, without duplicates (every write is a MERGE
on content-hash ids).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from neo4j import Driver, GraphDatabase
from neo4j.exceptions import AuthError
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from kgbuild.config import Neo4jConfig
from kgbuild.data import Attribute, Batch, Chunk, DocumentResult, Mention, Relation
from kgbuild.errors import ConfigError
from kgbuild.graph.cooccurrence import co_occurrences, document_links
from kgbuild.schema import load_schema
from kgbuild.stages.resolve import ResolutionResult
from kgbuild.store.neo4j.writer import Neo4jAuthError, Neo4jWriter, ProgressCallback
from kgbuild.store.sql.orm import DocumentRow, StageEventRow

__all__ = ["PersistReport", "open_driver", "persist"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PersistReport:
    """What a persist did."""

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


@contextmanager
def open_driver(config: Neo4jConfig) -> Iterator[Driver]:
    """A driver for ``config`` that gives up on a dead server in seconds, closed on exit.

    Raises:
        Neo4jAuthError: The server refused the credentials (inside the ``with`` block).
    """
    if not config.uri:
        raise ConfigError("no Neo4j configured: pass --neo4j URI or set NEO4J_URI")
    auth = config.auth()
    driver = GraphDatabase.driver(
        config.uri, auth=auth, connection_timeout=10.0, max_transaction_retry_time=15.0
    )
    try:
        yield driver
    except AuthError as exc:
        raise Neo4jAuthError(config.uri, config.user, password_sent=auth is not None) from exc
    finally:
        driver.close()


def _target(config: Neo4jConfig) -> str:
    return f"{config.uri}|{config.database}"


def persist(
    config: Neo4jConfig,
    engine: Engine,
    run_id: str,
    results: list[DocumentResult],
    resolution: ResolutionResult,
    relations: Sequence[Relation] = (),
    attributes: Sequence[Attribute] = (),
    *,
    schema_path: Path | None = None,
    progress: ProgressCallback | None = None,
    cooccurrence_window: int = 0,
) -> PersistReport:
    """Bring Neo4j in line with the current documents (see the module docstring).

    Args:
        config: Where to write.
        engine: The run ledger.
        run_id: This run (recorded on Document nodes and in the ledger).
        results: Stored results of every current document.
        resolution: Entities and the mention -> entity map.
        relations: Entity-level relations.
        attributes: Entity-level attributes.
        schema_path: Graph schema YAML (default: the shipped one).
        progress: Called after each committed write batch (``kind, done, total``), once
            with kind ``"cleanup"`` between the write and the removal of old contributions,
            and after each removal step (kinds ``"retire ..."``).
        cooccurrence_window: ``CO_OCCURS`` joins entities at most this many sentences apart.

    Raises:
        ConfigError: no URI configured, or the graph schema file is wrong.
        SchemaError: an entity label is not in the graph schema.
        Neo4jUnavailableError: the server is down or went away during the writes.
        Neo4jAuthError: the server refused the user and password.
    """
    schema = load_schema(schema_path)
    target = _target(config)
    mentions = [mention for result in results for mention in result.mentions]
    cooccurrences = co_occurrences(
        mentions,
        resolution.mention_to_entity,
        {chunk.id: chunk.index for result in results for chunk in result.chunks},
        window=cooccurrence_window,
    )
    links = document_links(mentions, resolution.mention_to_entity)
    with Session(engine) as session:
        rows = {row.id: row for row in session.scalars(select(DocumentRow))}
    current = {result.doc_id: result for result in results}
    with open_driver(config) as driver:
        writer = Neo4jWriter(
            driver,
            database=config.database,
            batch_size=config.batch_size,
            uri=config.uri,
            progress=progress,
        )
        writer.ensure_schema(schema.entity_labels, schema.relation_names)
        present = writer.existing_documents(rows)
        stale = sorted(
            doc_id
            for doc_id in current
            if doc_id not in present or rows[doc_id].neo4j_key != _key(target, rows[doc_id])
        )
        removed = sorted(
            row.id
            for row in rows.values()
            if row.id not in current
            and (row.id in present or (row.neo4j_key or "").startswith(target + "|"))
        )
        _forget(engine, stale)
        batch = _batch(run_id, [current[doc_id] for doc_id in stale], results)
        batch = batch.model_copy(
            update={"relations": tuple(relations), "attributes": tuple(attributes)}
        )
        writer.write(batch, resolution.entities, resolution.mention_to_entity)
        writer.write_derived(cooccurrences, links)
        if progress is not None:
            progress("cleanup", 0, len(stale) + len(removed))
        writer.retire_documents([*stale, *removed], batch)
        pruned = writer.prune_unmentioned_entities()
        writer.remove_stale_derived(cooccurrences, links)
    _record(engine, run_id, target, stale, removed)
    report = PersistReport(
        config.uri or "",
        config.database,
        len(stale),
        len(removed),
        len(resolution.entities),
        pruned,
    )
    log.info(report.summary())
    return report


def _key(target: str, row: DocumentRow) -> str:
    key = f"{target}|{row.content_hash}|{row.model_key}"
    if row.metadata_json:  # documents without metadata keep the keys they had before it
        key += "|meta:" + hashlib.sha256(row.metadata_json.encode()).hexdigest()[:16]
    return key


def _batch(run_id: str, stale: list[DocumentResult], results: list[DocumentResult]) -> Batch:
    """Documents and chunks to (re)write, and every current mention (to re-link)."""
    chunks: list[Chunk] = [chunk for result in stale for chunk in result.chunks]
    mentions: list[Mention] = [m for result in results for m in result.mentions]
    return Batch(
        run_id=run_id,
        documents=tuple(result.document for result in stale),
        chunks=tuple(chunks),
        mentions=tuple(mentions),
    )


def _forget(engine: Engine, doc_ids: list[str]) -> None:
    """Clear the keys of documents about to be rewritten: a write stopped midway is redone."""
    if not doc_ids:
        return
    with Session(engine) as session, session.begin():
        for doc_id in doc_ids:
            session.get_one(DocumentRow, doc_id).neo4j_key = None


def _record(
    engine: Engine, run_id: str, target: str, written: list[str], removed: list[str]
) -> None:
    with Session(engine) as session, session.begin():
        for doc_id in written:
            row = session.get_one(DocumentRow, doc_id)
            row.neo4j_key = _key(target, row)
            session.add(
                StageEventRow(
                    run_id=run_id, doc_id=doc_id, source=row.source, stage="neo4j", status="ok"
                )
            )
        for doc_id in removed:
            row = session.get_one(DocumentRow, doc_id)
            row.neo4j_key = None
            session.add(
                StageEventRow(
                    run_id=run_id, doc_id=doc_id, source=row.source, stage="neo4j", status="deleted"
                )
            )
