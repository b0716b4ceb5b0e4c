"""The graph in Neo4j, read for question answering (all Cypher in ``store.neo4j.queries``).

Entity linking uses the same in-memory name index as the graph files
(:class:`~kgbuild.qa.names.NameIndex`), filled from the Entity nodes and read again when
the graph's version (``(:GraphState)``, set by every write that changes entities or
mentions) or its entity count changes; so both stores link a question alike. A full-text
index over names and aliases (:meth:`Neo4jGraph.ensure_index`) remains for other look-ups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from neo4j import Driver, GraphDatabase

from kgbuild.errors import InputError
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

__all__ = ["Neo4jGraph", "lucene_query"]

_LUCENE_SPECIAL = set('+-&|!(){}[]^"~*?:\\/')


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
            uri or "", auth=auth, connection_timeout=5.0, max_transaction_retry_time=3.0
        )
        self.database = database
        self._index_ready = False
        self._names: tuple[tuple[Any, int], NameIndex] | None = None

    def _read(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        records, _, _ = self.driver.execute_query(
            cypher, params, database_=self.database, routing_="r"
        )
        return [r.data() for r in records]

    def ensure_index(self) -> None:
        """Create the names full-text index if missing and wait until it is online."""
        if self._index_ready:
            return
        self.driver.execute_query(q.CREATE_QA_FULLTEXT_INDEX, database_=self.database)
        self.driver.execute_query(q.AWAIT_INDEXES, {"timeout_s": 120}, database_=self.database)
        self._index_ready = True

    def search(self, terms: Sequence[str], limit: int) -> list[EntityHit]:
        """Entities sharing a word (exact, or within a small edit distance) with ``terms``."""
        return self._name_index().search(terms, limit)

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

    def related(self, entity_id: str, rel_type: str, outgoing: bool) -> list[RelationFact]:
        """Relations of ``rel_type`` from or to the entity."""
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
