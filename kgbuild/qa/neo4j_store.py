"""The graph in Neo4j, read for question answering (all Cypher in ``store.neo4j.queries``).

Entity linking uses the same in-memory name index as the graph files
(:class:`~kgbuild.qa.names.NameIndex`), filled from the Entity nodes and read again when
the graph's version (``(:GraphState)``, set by every write that changes entities or
mentions) or its entity count changes; so both stores link a question alike. A full-text
index over names and aliases (:meth:`Neo4jGraph.ensure_index`) remains for other look-ups.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from neo4j import Driver, GraphDatabase
from neo4j.exceptions import AuthError, ClientError, ServiceUnavailable, SessionExpired

from kgbuild.config import Neo4jConfig
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
from kgbuild.qa.embedded import evidence_refs, sort_relations
from kgbuild.qa.models import (
    AttributeFact,
    EntityCard,
    EntityHit,
    EvidenceRef,
    RelationFact,
    SentenceText,
)
from kgbuild.qa.names import NameIndex, NameRow
from kgbuild.qa.text import fold, is_cjk
from kgbuild.store.neo4j import queries as q
from kgbuild.store.neo4j.errors import (
    DATABASE_NOT_FOUND,
    Neo4jAuthError,
    Neo4jDatabaseNotFoundError,
    Neo4jUnavailableError,
)

__all__ = ["Neo4jGraph", "connect", "lucene_prefix_query", "lucene_query"]

_LUCENE_SPECIAL = set('+-&|!(){}[]^"~*?:\\/')
_LUCENE_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)
"""Words the ``standard-folding`` analyzer leaves out of the index (Lucene's English set)."""
_SKIP = sorted(NON_RELATION_TYPES)
SUGGEST_CANDIDATES = 2000
"""Full-text matches ranked per type-ahead query (prefix matches all score alike)."""


def lucene_query(terms: Sequence[str]) -> str:
    """A Lucene OR-query over the words (special characters removed), fuzzy for long words."""
    parts: list[str] = []
    for term in sorted({fold(t) for t in terms if t}):
        clean = "".join(c for c in term if c not in _LUCENE_SPECIAL and not c.isspace())
        if not clean or clean in {"and", "or", "not", "to"}:
            continue
        if is_cjk(clean):
            parts.append('"' + clean + '"')
        else:
            parts.append(clean + ("~1" if len(clean) >= 4 else ""))
    return " OR ".join(parts)


def lucene_prefix_query(text: str) -> str:
    """A Lucene query: every typed word (folded, escaped) starts a word of the name.

    Stop words are optional clauses: the index leaves them out, so requiring one would
    miss "Bank of America" for "bank of".
    """
    parts = []
    for word in query_words(text):
        clean = "".join(c for c in word if c not in _LUCENE_SPECIAL and not c.isspace())
        if clean:
            parts.append(("" if clean in _LUCENE_STOPWORDS else "+") + clean + "*")
    return " ".join(parts)


def _node(row: Mapping[str, Any]) -> EntityNode:
    return EntityNode(
        id=str(row["id"]),
        name=str(row["name"]),
        label=str(row["label"] or ""),
        aliases=tuple(str(a) for a in row["aliases"]),
        mention_count=int(row["mention_count"]),
        degree=int(row["degree"]),
    )


def _evidence(row: Mapping[str, Any]) -> tuple[EvidenceRef, ...]:
    items = [
        {"doc_id": d, "chunk_id": c, "start": s, "end": e, "text": t}
        for t, d, c, s, e in zip(
            row["texts"], row["doc_ids"], row["chunk_ids"], row["starts"], row["ends"], strict=False
        )
    ]
    return evidence_refs(items)


def _relation(row: Mapping[str, Any]) -> RelationFact:
    return RelationFact(
        id=str(row["id"]),
        type=str(row["type"]),
        head_id=str(row["head_id"]),
        head_name=str(row["head_name"]),
        head_label=str(row["head_label"] or ""),
        tail_id=str(row["tail_id"]),
        tail_name=str(row["tail_name"]),
        tail_label=str(row["tail_label"] or ""),
        score=round(float(row["score"] or 0.0), 6),
        evidence=_evidence(row),
    )


class Neo4jGraph:
    """Read the graph from Neo4j.

    Args:
        uri: Bolt URI; or pass ``driver``.
        auth: ``(user, password)`` or ``None``.
        database: Database name.
        driver: An open driver to use (not closed by :meth:`close`).
    """

    name = "neo4j"

    def __init__(
        self,
        uri: str | None = None,
        *,
        auth: tuple[str, str] | None = None,
        database: str = "neo4j",
        driver: Driver | None = None,
    ) -> None:
        if driver is None and not uri:
            raise InputError("Neo4jGraph needs a Bolt uri or a driver")
        self._own = driver is None
        self.driver: Driver = driver or GraphDatabase.driver(
            uri or "",
            auth=auth,
            connection_timeout=5.0,
            max_transaction_retry_time=3.0,
            # a graph built without attributes (or relations) has no HAS_ATTRIBUTE type or
            # Attribute keys: the server warns of each, and the driver logged every warning
            notifications_disabled_classifications=["UNRECOGNIZED"],
        )
        self.database = database
        self.uri = uri or "(the given driver)"
        self._index_ready = False
        self._names: tuple[tuple[Any, int], NameIndex] | None = None

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        """Translate a server that went away into :class:`Neo4jUnavailableError`."""
        try:
            yield
        except (ServiceUnavailable, SessionExpired) as exc:
            raise Neo4jUnavailableError(self.uri, self.database, reading=True) from exc

    def _read(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        with self._reachable():
            records, _, _ = self.driver.execute_query(
                cypher, params, database_=self.database, routing_="r"
            )
        return [r.data() for r in records]

    def ensure_index(self) -> None:
        """Create the names full-text index if missing and wait until it is online."""
        if self._index_ready:
            return
        with self._reachable():
            self.driver.execute_query(q.CREATE_QA_FULLTEXT_INDEX, database_=self.database)
            self.driver.execute_query(q.AWAIT_INDEXES, {"timeout_s": 120}, database_=self.database)
        self._index_ready = True

    def search(self, terms: Sequence[str], limit: int) -> list[EntityHit]:
        """Entities sharing a word (exact, or within a small edit distance) with ``terms``."""
        return self._name_index().search(terms, limit)

    def named_in(self, words: Collection[str]) -> list[EntityHit]:
        """Entities with a name or alias made only of ``words`` (folded, exact match)."""
        return self._name_index().named_in(words)

    def _name_index(self) -> NameIndex:
        """The name index of the graph as it is now (read again after a change)."""
        state = self._read(q.QA_GRAPH_VERSION)[0]
        version = (state["version"], int(state["entities"]))
        if self._names is None or self._names[0] != version:
            rows = self._read(q.QA_ENTITY_NAMES)
            index = NameIndex(
                NameRow(
                    id=str(r["id"]),
                    name=str(r["name"]),
                    label=str(r["label"] or ""),
                    aliases=tuple(str(a) for a in r["aliases"]),
                    mention_count=int(r["mention_count"]),
                )
                for r in rows
            )
            self._names = (version, index)
        return self._names[1]

    def entity(self, entity_id: str) -> EntityCard | None:
        """The entity card, or ``None`` for an unknown id."""
        found = self._read(q.QA_ENTITY, id=entity_id)
        if not found:
            return None
        node = found[0]
        mentions = tuple(
            EvidenceRef(
                doc_id=str(m["doc_id"]),
                chunk_id=str(m["chunk_id"] or ""),
                start=int(m["start"]),
                end=int(m["end"]),
                text=str(m["text"] or ""),
                score=None if m["score"] is None else round(float(m["score"]), 6),
            )
            for m in self._read(q.QA_ENTITY_MENTIONS, id=entity_id)
        )
        attributes = tuple(
            AttributeFact(
                entity_id=entity_id,
                key=str(a["key"]),
                value=str(a["value"]),
                value_type=str(a["value_type"] or "text"),
                score=round(float(a["score"] or 0.0), 6),
                evidence=_evidence(a),
            )
            for a in self._read(q.QA_ENTITY_ATTRIBUTES, id=entity_id)
        )
        relations = sort_relations(
            _relation(r) for r in self._read(q.QA_ENTITY_RELATIONS, id=entity_id)
        )
        return EntityCard(
            id=entity_id,
            name=str(node["name"]),
            label=str(node["label"] or ""),
            aliases=tuple(str(a) for a in node["aliases"]),
            mention_count=len(mentions),
            doc_ids=tuple(sorted({m.doc_id for m in mentions})),
            attributes=attributes,
            relations=relations,
            mentions=mentions,
        )

    def sentences(self, chunk_ids: Sequence[str]) -> dict[str, SentenceText]:
        """Stored sentences (Chunk nodes) by chunk id."""
        if not chunk_ids:
            return {}
        return {
            str(r["chunk_id"]): SentenceText(
                chunk_id=str(r["chunk_id"]),
                doc_id=str(r["doc_id"]),
                start=int(r["start"]),
                end=int(r["end"]),
                text=str(r["text"]),
            )
            for r in self._read(q.QA_SENTENCES, ids=list(chunk_ids))
        }

    def related(self, entity_id: str, rel_type: str, outgoing: bool | None) -> list[RelationFact]:
        """Relations of ``rel_type`` from or to the entity (``None``: both ways)."""
        rows = self._read(q.QA_RELATED, id=entity_id, rel_type=rel_type, outgoing=outgoing)
        return list(sort_relations(_relation(r) for r in rows))

    def counts(self) -> dict[str, int]:
        """Entity, document and relation counts."""
        row = self._read(q.QA_COUNTS)[0]
        return {k: int(row[k]) for k in ("entities", "documents", "relations")}

    def close(self) -> None:
        """Close the driver if this object opened it."""
        if self._own:
            self.driver.close()

    # -- explorer reads (kgbuild.explorer.store.ExplorerStore) --------------------------------

    def suggest(self, text: str, limit: int) -> list[Suggestion]:
        """Entities whose name or an alias has a word starting with each typed word."""
        query = lucene_prefix_query(text)
        if not query:
            return []
        self.ensure_index()
        rows = self._read(
            q.EXPLORER_SUGGEST,
            index=q.QA_FULLTEXT_INDEX,
            query=query,
            limit=SUGGEST_CANDIDATES,
            skip=_SKIP,
        )
        return rank_suggestions(text, (_node(r) for r in rows), limit)

    def entity_nodes(self, entity_ids: Sequence[str]) -> dict[str, EntityNode]:
        """Node summaries of the entities that exist."""
        if not entity_ids:
            return {}
        rows = self._read(q.EXPLORER_ENTITY_NODES, ids=list(entity_ids), skip=_SKIP)
        return {str(r["id"]): _node(r) for r in rows}

    def top_entities(self, limit: int) -> list[EntityNode]:
        """Entities by relation degree, then mentions, then id."""
        return [_node(r) for r in self._read(q.EXPLORER_TOP_ENTITIES, limit=limit, skip=_SKIP)]

    def relations_among(self, entity_ids: Sequence[str]) -> list[GraphEdge]:
        """Relations between two of the entities."""
        if not entity_ids:
            return []
        rows = self._read(q.EXPLORER_RELATIONS_AMONG, ids=list(entity_ids), skip=_SKIP)
        return [
            GraphEdge(
                id=str(r["id"]),
                source=str(r["source"]),
                target=str(r["target"]),
                type=str(r["type"]),
                score=round(float(r["score"] or 0.0), 6),
            )
            for r in rows
        ]

    def mention_chunks(self, entity_ids: Sequence[str], per_entity: int) -> dict[str, list[str]]:
        """The sentences each entity is mentioned in, in document and offset order."""
        if not entity_ids:
            return {}
        rows = self._read(q.EXPLORER_MENTION_CHUNKS, ids=list(entity_ids))
        return {
            str(r["id"]): list(dict.fromkeys(str(c) for c in r["chunk_ids"] if c))[:per_entity]
            for r in rows
        }

    def chunk_mentions(self, chunk_ids: Sequence[str]) -> list[ChunkMention]:
        """Every entity mention in those sentences."""
        if not chunk_ids:
            return []
        rows = self._read(q.EXPLORER_CHUNK_MENTIONS, ids=list(dict.fromkeys(chunk_ids)))
        mentions = [
            ChunkMention(
                entity_id=str(r["entity_id"]),
                name=str(r["name"]),
                label=str(r["label"] or ""),
                doc_id=str(r["doc_id"]),
                chunk_id=str(r["chunk_id"]),
                start=int(r["start"]),
                end=int(r["end"]),
            )
            for r in rows
        ]
        order = {c: i for i, c in enumerate(dict.fromkeys(chunk_ids))}
        return sorted(mentions, key=lambda m: (order[m.chunk_id], m.start, m.end, m.entity_id))

    def documents(self, doc_ids: Sequence[str]) -> dict[str, DocumentRef]:
        """The documents that exist, with their titles."""
        if not doc_ids:
            return {}
        return {
            str(r["id"]): DocumentRef(
                id=str(r["id"]), title=document_title(str(r["id"]), r["source"], r["title"])
            )
            for r in self._read(q.EXPLORER_DOCUMENTS, ids=list(dict.fromkeys(doc_ids)))
        }

    def merges(self, entity_id: str) -> list[dict[str, Any]]:
        """The entity's merge records (none when the graph carries none)."""
        rows = self._read(q.EXPLORER_MERGES, id=entity_id)
        return merge_records(rows[0]["merges"]) if rows else []


def connect(config: Neo4jConfig) -> Neo4jGraph:
    """A :class:`Neo4jGraph` on ``config``'s database, checked by one read before it is used.

    Raises:
        InputError: No URI configured.
        Neo4jUnavailableError: The server is down or not reachable.
        Neo4jAuthError: The server refused the user and password.
        Neo4jDatabaseNotFoundError: The server has no database of that name.
    """
    uri = config.uri or ""
    auth = config.auth()
    graph = Neo4jGraph(uri, auth=auth, database=config.database)
    try:
        try:
            graph.driver.verify_connectivity()  # a dead server fails now, not after retries
            graph._read("RETURN 1 AS ok")
        except AuthError as exc:
            raise Neo4jAuthError(uri, config.user, password_sent=auth is not None) from exc
        except (ServiceUnavailable, SessionExpired) as exc:
            raise Neo4jUnavailableError(uri, config.database, reading=True) from exc
        except ClientError as exc:
            if exc.code == DATABASE_NOT_FOUND:
                raise Neo4jDatabaseNotFoundError(uri, config.database) from exc
            raise
    except BaseException:
        graph.close()
        raise
    return graph
