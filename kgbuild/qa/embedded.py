"""The embedded graph: node-link ``graph.json`` written by ``kgbuild build`` plus its ledger.

Entity names and aliases go into an in-memory word index (folded words; fuzzy lookup of
words with rapidfuzz); sentence text comes from the run ledger's stored chunks, read the first
time a question needs one of a document's sentences (the graph's provenance names each
sentence's document), so opening a graph of thousands of documents reads none of them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgbuild.errors import InputError
from kgbuild.explorer.models import (
    NON_RELATION_TYPES,
    ChunkMention,
    DocumentRef,
    EntityNode,
    GraphEdge,
    Suggestion,
    document_title,
    merge_records,
)
from kgbuild.explorer.search import query_words, rank_suggestions
from kgbuild.qa.models import (
    AttributeFact,
    EntityCard,
    EntityHit,
    EvidenceRef,
    RelationFact,
    SentenceText,
)
from kgbuild.qa.names import NameIndex, NameRow

__all__ = ["EmbeddedGraph", "evidence_refs", "sort_relations"]

_STRUCTURAL = frozenset({"MENTIONED_IN"})
_DOCUMENT_PREFIX = "doc:"
"""Graph key prefix of document nodes (:func:`kgbuild.graph.build.document_node`)."""
_DERIVED = frozenset({"CO_OCCURS"})
"""Edges between entities that are not relations (see :mod:`kgbuild.graph.cooccurrence`)."""


def evidence_refs(items: Iterable[Mapping[str, Any]]) -> tuple[EvidenceRef, ...]:
    """Evidence dicts (graph.json provenance) as references, in document and offset order.

    Per-evidence scores are left out: Neo4j keeps one score per relation or attribute.
    """
    refs = [
        EvidenceRef(
            doc_id=str(e["doc_id"]),
            chunk_id=str(e.get("chunk_id", "")),
            start=int(e["start"]),
            end=int(e["end"]),
            text=str(e.get("text", "")),
        )
        for e in items
    ]
    return tuple(sorted(refs, key=lambda r: (r.doc_id, r.start, r.end, r.chunk_id)))


def sort_relations(relations: Iterable[RelationFact]) -> tuple[RelationFact, ...]:
    """Relations in a deterministic order: best score first, then type and id."""
    return tuple(sorted(relations, key=lambda r: (-r.score, r.type, r.id)))


class EmbeddedGraph:
    """A built graph read from ``graph.json`` (and the ledger beside it for sentences).

    Args:
        graph_json: The node-link JSON written by ``kgbuild build``.
        ledger_url: SQLAlchemy URL of the run ledger (default: ``ledger.sqlite`` beside
            the JSON); without a ledger, sentences are limited to stored evidence texts.
    """

    name = "embedded"

    def __init__(self, graph_json: str | Path, ledger_url: str | None = None) -> None:
        graph_json = Path(graph_json)
        if graph_json.is_dir():
            raise InputError(
                f"{graph_json} is a folder: give the graph file ({graph_json / 'graph.json'}), "
                f"or the build's output folder as --out {graph_json}"
            )
        if not graph_json.is_file():
            raise InputError(
                f"no graph at {graph_json}: run `kgbuild build <docs> --out {graph_json.parent}`"
            )
        try:
            data = json.loads(graph_json.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read graph {graph_json}: {exc}") from exc
        except RecursionError as exc:  # json raises it, not a ValueError, on deep nesting
            raise InputError(
                f"cannot read graph {graph_json}: not the node-link graph `kgbuild build` "
                "writes (arrays or objects nested too deeply to read)"
            ) from exc
        self.path: Path | None = graph_json
        try:
            if not isinstance(data, dict):
                raise TypeError(f"a JSON {type(data).__name__}, not an object")
            self._load(data)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"cannot read graph {graph_json}: not the node-link graph `kgbuild build` "
                f"writes ({type(exc).__name__}: {exc})"
            ) from exc
        if ledger_url is None:
            ledger = graph_json.parent / "ledger.sqlite"
            ledger_url = f"sqlite:///{ledger.as_posix()}" if ledger.is_file() else None
        if ledger_url is not None:
            _check_ledger(ledger_url)
        self._ledger_url = ledger_url

    @classmethod
    def from_node_link(cls, data: Mapping[str, Any]) -> EmbeddedGraph:
        """A graph held in memory as node-link data (no ledger: evidence texts only).

        Its name index (for :meth:`search`, :meth:`named_in`, :meth:`suggest`) is built
        on first use: the export's explorer bundle reads none of them.
        """
        graph = cls.__new__(cls)
        graph.path = None
        graph._load(data, names=False)
        graph._ledger_url = None
        return graph

    def _load(self, data: Mapping[str, Any], *, names: bool = True) -> None:
        self._nodes: dict[str, dict[str, Any]] = {}
        self._docs: dict[str, dict[str, Any]] = {}
        for node in data.get("nodes", []):
            if node.get("kind") == "entity":
                self._nodes[str(node["id"])] = node
            elif node.get("kind") == "document":
                # node-link data keys nodes by ``id``: a document's is ``doc:<its id>``
                self._docs[str(node["id"]).removeprefix(_DOCUMENT_PREFIX)] = node
        self._documents = len(self._docs)
        self._out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._in: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._mentions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._relations = 0
        self._sentences: dict[str, SentenceText] = {}
        self._read_documents: set[str] = set()
        self._reading = threading.Lock()
        self._chunk_documents: dict[str, str] = {}
        """Each sentence's document, from the provenance of mentions, relations, attributes."""
        for node in self._nodes.values():
            for slot in node.get("attributes", {}).values():
                self._note_chunks(slot.get("evidence", []))
        for edge in data.get("edges", []):
            source, target = str(edge["source"]), str(edge["target"])
            self._note_chunks(edge.get("provenance", []))
            if edge.get("type") in _STRUCTURAL:
                self._mentions[source].extend(edge.get("provenance", []))
            elif edge.get("type") in _DERIVED:
                continue
            elif source in self._nodes and target in self._nodes:
                self._out[source].append(edge)
                self._in[target].append(edge)
                self._relations += 1
        self._name_index = self._index_names() if names else None
        self._explorer_index: _ExplorerIndex | None = None

    def _index_names(self) -> NameIndex:
        return NameIndex(
            NameRow(
                id=entity_id,
                name=str(node.get("name", "")),
                label=str(node.get("label", "")),
                aliases=tuple(str(a) for a in node.get("aliases", [])),
                mention_count=int(node.get("mention_count", 0)),
            )
            for entity_id, node in self._nodes.items()
        )

    @property
    def _names(self) -> NameIndex:
        """The name index (built by the time a file's graph is loaded; else on first use)."""
        if self._name_index is None:
            self._name_index = self._index_names()
        return self._name_index

    # -- name index -----------------------------------------------------------------------

    def search(self, terms: Sequence[str], limit: int) -> list[EntityHit]:
        """Entities sharing a word (exact, or within a small edit distance) with ``terms``."""
        return self._names.search(terms, limit)

    def named_in(self, words: Collection[str]) -> list[EntityHit]:
        """Entities with a name or alias made only of ``words`` (folded, exact match)."""
        return self._names.named_in(words)

    # -- entities -------------------------------------------------------------------------

    def _relation(self, edge: Mapping[str, Any]) -> RelationFact:
        head, tail = self._nodes[str(edge["source"])], self._nodes[str(edge["target"])]
        return RelationFact(
            id=str(edge.get("key", "")),
            type=str(edge.get("type", "")),
            head_id=str(edge["source"]),
            head_name=str(head.get("name", "")),
            head_label=str(head.get("label", "")),
            tail_id=str(edge["target"]),
            tail_name=str(tail.get("name", "")),
            tail_label=str(tail.get("label", "")),
            score=round(float(edge.get("score", 0.0)), 6),
            evidence=evidence_refs(edge.get("provenance", [])),
        )

    def entity(self, entity_id: str) -> EntityCard | None:
        """The entity card, or ``None`` for an unknown id."""
        node = self._nodes.get(entity_id)
        if node is None:
            return None
        attributes = tuple(
            AttributeFact(
                entity_id=entity_id,
                key=str(key),
                value=str(slot.get("value")),
                value_type=str(slot.get("value_type", "text")),
                score=round(float(slot.get("score", 0.0)), 6),
                evidence=evidence_refs(slot.get("evidence", [])),
            )
            for key, slot in sorted(node.get("attributes", {}).items())
        )
        edges = [*self._out.get(entity_id, []), *self._in.get(entity_id, [])]
        mentions = sorted(
            (
                EvidenceRef(
                    doc_id=str(m["doc_id"]),
                    chunk_id=str(m.get("chunk_id", "")),
                    start=int(m["start"]),
                    end=int(m["end"]),
                    text=str(m.get("text", "")),
                    score=round(float(m.get("score", 0.0)), 6),
                )
                for m in self._mentions.get(entity_id, [])
            ),
            key=lambda r: (r.doc_id, r.start, r.end),
        )
        return EntityCard(
            id=entity_id,
            name=str(node.get("name", "")),
            label=str(node.get("label", "")),
            aliases=tuple(str(a) for a in node.get("aliases", [])),
            mention_count=int(node.get("mention_count", len(mentions))),
            doc_ids=tuple(sorted(str(d) for d in node.get("doc_ids", []))),
            attributes=attributes,
            relations=sort_relations(self._relation(e) for e in edges),
            mentions=tuple(mentions),
        )

    def _note_chunks(self, provenance: Iterable[Mapping[str, Any]]) -> None:
        for item in provenance:
            chunk_id, doc_id = item.get("chunk_id"), item.get("doc_id")
            if chunk_id and doc_id:
                self._chunk_documents[str(chunk_id)] = str(doc_id)

    def sentences(self, chunk_ids: Sequence[str]) -> dict[str, SentenceText]:
        """Stored sentences by chunk id (their documents' chunks read from the ledger once)."""
        if self._ledger_url is not None:
            with self._reading:
                unread = {
                    self._chunk_documents[c]
                    for c in chunk_ids
                    if c not in self._sentences and c in self._chunk_documents
                } - self._read_documents
                if unread:
                    self._sentences.update(_load_sentences(self._ledger_url, unread))
                    self._read_documents |= unread
        return {c: self._sentences[c] for c in chunk_ids if c in self._sentences}

    def related(self, entity_id: str, rel_type: str, outgoing: bool | None) -> list[RelationFact]:
        """Relations of ``rel_type`` from or to the entity (``None``: both ways)."""
        sides = (
            (self._out, self._in) if outgoing is None else (self._out if outgoing else self._in,)
        )
        edges = [edge for side in sides for edge in side.get(entity_id, [])]
        return list(sort_relations(self._relation(e) for e in edges if e.get("type") == rel_type))

    def counts(self) -> dict[str, int]:
        """Entity, document and relation counts."""
        return {
            "entities": len(self._nodes),
            "documents": self._documents,
            "relations": self._relations,
        }

    def close(self) -> None:
        """Nothing to release."""

    # -- explorer reads (kgbuild.explorer.store.ExplorerStore) --------------------------------

    def _explorer(self) -> _ExplorerIndex:
        if self._explorer_index is None:
            self._explorer_index = _ExplorerIndex.build(self)
        return self._explorer_index

    def suggest(self, text: str, limit: int) -> list[Suggestion]:
        """Entities whose name or an alias has a word starting with each typed word."""
        words = query_words(text)
        found: set[str] | None = None
        for word in words:
            ids = self._names.prefixed(word)
            found = ids if found is None else found & ids
            if not found:
                return []
        nodes = self._explorer().nodes
        return rank_suggestions(text, (nodes[i] for i in sorted(found or ())), limit)

    def entity_nodes(self, entity_ids: Sequence[str]) -> dict[str, EntityNode]:
        """Node summaries of the entities that exist."""
        nodes = self._explorer().nodes
        return {i: nodes[i] for i in entity_ids if i in nodes}

    def top_entities(self, limit: int) -> list[EntityNode]:
        """Entities by relation degree, then mentions, then id."""
        index = self._explorer()
        return [index.nodes[i] for i in index.ranked[:limit]]

    def relations_among(self, entity_ids: Sequence[str]) -> list[GraphEdge]:
        """Relations between two of the entities."""
        among = set(entity_ids)
        edges = [
            GraphEdge(
                id=str(edge.get("key", "")),
                source=source,
                target=str(edge["target"]),
                type=str(edge.get("type", "")),
                score=round(float(edge.get("score", 0.0)), 6),
            )
            for source in sorted(among)
            for edge in self._out.get(source, [])
            if str(edge["target"]) in among and edge.get("type") not in NON_RELATION_TYPES
        ]
        return sorted(edges, key=lambda e: (e.source, e.type, e.target, e.id))

    def mention_chunks(self, entity_ids: Sequence[str], per_entity: int) -> dict[str, list[str]]:
        """The sentences each entity is mentioned in, in document and offset order."""
        chunks = self._explorer().chunks_of
        return {i: chunks[i][:per_entity] for i in entity_ids if i in chunks}

    def chunk_mentions(self, chunk_ids: Sequence[str]) -> list[ChunkMention]:
        """Every entity mention in those sentences."""
        by_chunk = self._explorer().by_chunk
        return [m for c in dict.fromkeys(chunk_ids) for m in by_chunk.get(c, ())]

    def documents(self, doc_ids: Sequence[str]) -> dict[str, DocumentRef]:
        """The documents that exist, with their titles."""
        found = {}
        for doc_id in doc_ids:
            node = self._docs.get(doc_id)
            if node is not None:
                title = document_title(doc_id, node.get("source"), node.get("meta_title"))
                found[doc_id] = DocumentRef(id=doc_id, title=title)
        return found

    def merges(self, entity_id: str) -> list[dict[str, Any]]:
        """The entity's ``merges`` records (none when the graph carries none)."""
        node = self._nodes.get(entity_id)
        return merge_records(node.get("merges")) if node is not None else []


@dataclass
class _ExplorerIndex:
    """What the explorer looks up often, built on first use from the loaded graph."""

    nodes: dict[str, EntityNode] = field(default_factory=dict)
    ranked: list[str] = field(default_factory=list)
    """Entity ids by degree, then mentions, then id."""
    chunks_of: dict[str, list[str]] = field(default_factory=dict)
    by_chunk: dict[str, list[ChunkMention]] = field(default_factory=dict)

    @classmethod
    def build(cls, graph: EmbeddedGraph) -> _ExplorerIndex:
        index = cls()
        by_chunk: dict[str, list[ChunkMention]] = defaultdict(list)
        for entity_id, node in graph._nodes.items():
            degree = sum(
                1
                for edge in (*graph._out.get(entity_id, ()), *graph._in.get(entity_id, ()))
                if edge.get("type") not in NON_RELATION_TYPES
            )
            name, label = str(node.get("name", "")), str(node.get("label", ""))
            index.nodes[entity_id] = EntityNode(
                id=entity_id,
                name=name,
                label=label,
                aliases=tuple(str(a) for a in node.get("aliases", [])),
                mention_count=int(node.get("mention_count", 0)),
                degree=degree,
            )
            mentions = sorted(
                graph._mentions.get(entity_id, []),
                key=lambda m: (str(m["doc_id"]), int(m["start"]), int(m["end"])),
            )
            chunks: dict[str, None] = {}
            for m in mentions:
                chunk_id = str(m.get("chunk_id", ""))
                if not chunk_id:
                    continue
                chunks[chunk_id] = None
                by_chunk[chunk_id].append(
                    ChunkMention(
                        entity_id=entity_id,
                        name=name,
                        label=label,
                        doc_id=str(m["doc_id"]),
                        chunk_id=chunk_id,
                        start=int(m["start"]),
                        end=int(m["end"]),
                    )
                )
            index.chunks_of[entity_id] = list(chunks)
        index.by_chunk = {
            c: sorted(ms, key=lambda m: (m.start, m.end, m.entity_id)) for c, ms in by_chunk.items()
        }
        index.ranked = sorted(
            index.nodes,
            key=lambda i: (-index.nodes[i].degree, -index.nodes[i].mention_count, i),
        )
        return index


def _check_ledger(ledger_url: str) -> None:
    """Refuse a SQLite ledger file that is not a database now, not at the first question.

    Raises:
        InputError: the file cannot be read as SQLite (other URLs are read when needed).
    """
    path = Path(ledger_url.removeprefix("sqlite:///"))
    if not ledger_url.startswith("sqlite:///") or not path.is_file():
        return
    try:
        with closing(sqlite3.connect(path)) as db:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise InputError(f"cannot read the run ledger {path}: {exc}") from exc


def _load_sentences(ledger_url: str, doc_ids: Collection[str]) -> dict[str, SentenceText]:
    """Every stored chunk of those of ``doc_ids`` that are current documents of the ledger."""
    from sqlalchemy.orm import Session

    from kgbuild.store.sql import ledger
    from kgbuild.store.sql.orm import make_engine

    engine = make_engine(ledger_url)
    try:
        with Session(engine) as session:
            current = ledger.current_documents(session, doc_ids)
            results = ledger.load_results(session, [row.id for row in current])
    finally:
        engine.dispose()
    return {
        chunk.id: SentenceText(
            chunk_id=chunk.id,
            doc_id=chunk.doc_id,
            start=chunk.span.start,
            end=chunk.span.end,
            text=chunk.text,
        )
        for result in results
        for chunk in result.chunks
    }
