"""The explorer over a graph store: type-ahead, entity pages, neighbourhoods, the overview.

Co-mentions are the entities mentioned in the same sentences as an entity (read from the
mentions and their sentences, so every graph has them); they fill a neighbourhood where
relations leave room, so an entity without relations still shows what it appears with.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kgbuild.explorer.models import (
    NON_RELATION_TYPES,
    AttributeView,
    ChunkMention,
    CoMention,
    DocumentMentions,
    DocumentRef,
    EntityNode,
    EntityPage,
    EntityRef,
    EvidenceView,
    GraphEdge,
    Mark,
    MergeView,
    Neighbourhood,
    RelationView,
    SearchResult,
)
from kgbuild.explorer.search import MAX_QUERY_CHARS
from kgbuild.explorer.store import ExplorerStore
from kgbuild.qa.models import EntityCard, EvidenceRef, RelationFact

__all__ = [
    "CO_MENTION",
    "MAX_EVIDENCE",
    "MAX_RELATIONS",
    "NEIGHBOURS",
    "OVERVIEW_ENTITIES",
    "Explorer",
]

MAX_RELATIONS = 100
"""Relations listed on an entity page (best score first)."""
MAX_EVIDENCE = 3
"""Evidence sentences shown per relation or attribute."""
MAX_CO_MENTIONS = 20
"""Co-mentioned entities listed on an entity page (the page says how many more there are)."""
MENTION_SENTENCES = 300
"""Sentences of an entity read for its co-mentions."""
NEIGHBOURS = 40
"""Neighbours drawn around an entity: relations first, co-mentions fill the rest."""
OVERVIEW_ENTITIES = 50
"""Entities in the overview: the most related ones."""
CO_MENTION = "co-mention"
"""Type of the drawn edge between two entities mentioned in the same sentences."""

_MERGE_FIELDS = ("rule", "score", "source", "source_label", "target", "target_label")


class Explorer:
    """Read views of the graph for people exploring it.

    Args:
        store: The graph (embedded files or Neo4j).
        overview_ttl_s: How long the overview (which reads every entity in Neo4j) is reused.
    """

    def __init__(self, store: ExplorerStore, *, overview_ttl_s: float = 60.0) -> None:
        self.store = store
        self.overview_ttl_s = overview_ttl_s
        self._overview: dict[int, tuple[float, Neighbourhood]] = {}

    def suggest(self, text: str, limit: int = 10) -> SearchResult:
        """Entities whose name or an alias the typed text starts, best first."""
        text = text[:MAX_QUERY_CHARS]
        return SearchResult(query=text, results=tuple(self.store.suggest(text, limit)))

    def documents(self, doc_ids: Iterable[str]) -> dict[str, DocumentRef]:
        """Documents by id with their titles (an id the graph lacks is its own title)."""
        wanted = list(dict.fromkeys(doc_ids))
        found = self.store.documents(wanted)
        return {d: found.get(d) or DocumentRef(id=d, title=d) for d in wanted}

    # -- entity page ------------------------------------------------------------------------

    def entity_page(self, entity_id: str) -> EntityPage | None:
        """The entity's names, documents, relations, attributes, merges and co-mentions."""
        card = self.store.entity(entity_id)
        return None if card is None else self.page_of(card)

    def views(self, entity_id: str) -> tuple[EntityPage, Neighbourhood] | None:
        """The entity page and the neighbourhood, from one read of the entity."""
        card = self.store.entity(entity_id)
        return None if card is None else (self.page_of(card), self.neighbourhood_of(card))

    def page_of(self, card: EntityCard) -> EntityPage:
        """The entity page of an entity card read from the store."""
        entity_id = card.id
        node = self.store.entity_nodes([entity_id]).get(entity_id) or _card_node(card)
        relations = _relations(card)
        shown = relations[:MAX_RELATIONS]
        evidence = [e for r in shown for e in r.evidence[:MAX_EVIDENCE]]
        evidence += [e for a in card.attributes for e in a.evidence[:MAX_EVIDENCE]]
        own = _mention_chunks(card)
        by_chunk = _by_chunk(self.store.chunk_mentions([*own, *(e.chunk_id for e in evidence)]))
        merges = self.store.merges(entity_id)
        docs = self.documents(
            [
                *card.doc_ids,
                *(e.doc_id for e in evidence),
                *(str(d) for m in merges for d in m.get("doc_ids", []) or []),
            ]
        )
        view = _EvidenceViews(docs, by_chunk)
        per_doc = Counter(m.doc_id for m in card.mentions)
        co = _co_mentions(entity_id, own, by_chunk)
        return EntityPage(
            entity=node,
            documents=tuple(
                DocumentMentions(id=d, title=docs[d].title, mentions=per_doc.get(d, 0))
                for d in sorted(card.doc_ids, key=lambda d: (-per_doc.get(d, 0), docs[d].title, d))
            ),
            relations=tuple(_relation_view(entity_id, r, view) for r in shown),
            relations_total=len(relations),
            attributes=tuple(
                AttributeView(
                    key=a.key,
                    value=a.value,
                    value_type=a.value_type,
                    score=a.score,
                    evidence=tuple(
                        view.attribute(e, entity_id, card.name, a.value)
                        for e in a.evidence[:MAX_EVIDENCE]
                    ),
                    evidence_total=len(a.evidence),
                )
                for a in card.attributes
            ),
            merges=tuple(_merge_view(m, docs) for m in merges),
            co_mentions=tuple(_co_mention(c) for c in co[:MAX_CO_MENTIONS]),
            co_mentions_total=len(co),
        )

    # -- drawn views ------------------------------------------------------------------------

    def neighbourhood(self, entity_id: str, limit: int = NEIGHBOURS) -> Neighbourhood | None:
        """The entity, its related entities and (where room is left) co-mentioned ones."""
        card = self.store.entity(entity_id)
        return None if card is None else self.neighbourhood_of(card, limit)

    def neighbourhood_of(self, card: EntityCard, limit: int = NEIGHBOURS) -> Neighbourhood:
        """The neighbourhood of an entity card read from the store."""
        entity_id = card.id
        relations = _relations(card)
        partners = {r.tail_id if r.head_id == entity_id else r.head_id for r in relations}
        edges: list[GraphEdge] = []
        neighbours: dict[str, None] = {}
        for rel in relations:
            other = rel.tail_id if rel.head_id == entity_id else rel.head_id
            if other not in neighbours and len(neighbours) >= limit:
                continue
            neighbours[other] = None
            edges.append(
                GraphEdge(
                    id=rel.id, source=rel.head_id, target=rel.tail_id, type=rel.type,
                    score=rel.score,
                )
            )  # fmt: skip
        own = _mention_chunks(card)
        co = [
            c
            for c in _co_mentions(entity_id, own, _by_chunk(self.store.chunk_mentions(own)))
            if c[0].entity_id not in partners
        ]
        room = max(0, limit - len(neighbours))
        for mention, sentences in co[:room]:
            neighbours[mention.entity_id] = None
            edges.append(_co_edge(entity_id, mention.entity_id, sentences))
        nodes = self.store.entity_nodes([entity_id, *neighbours])
        return Neighbourhood(
            center=entity_id,
            nodes=tuple(nodes[i] for i in [entity_id, *neighbours] if i in nodes),
            edges=tuple(edges),
            more=len(partners) + len(co) - len(neighbours),
        )

    def overview(self, limit: int = OVERVIEW_ENTITIES) -> Neighbourhood:
        """The most related entities, the relations among them and their co-mentions."""
        cached = self._overview.get(limit)
        if cached is not None and time.monotonic() - cached[0] < self.overview_ttl_s:
            return cached[1]
        top = self.store.top_entities(limit)
        ids = [n.id for n in top]
        edges = self.store.relations_among(ids)
        linked = {frozenset((e.source, e.target)) for e in edges}
        chunks = self.store.mention_chunks(ids, 50)
        by_chunk = _by_chunk(self.store.chunk_mentions([c for i in ids for c in chunks.get(i, [])]))
        among = set(ids)
        pairs: Counter[tuple[str, str]] = Counter()
        for mentions in by_chunk.values():
            present = sorted({m.entity_id for m in mentions} & among)
            for i, a in enumerate(present):
                for b in present[i + 1 :]:
                    if frozenset((a, b)) not in linked:
                        pairs[(a, b)] += 1
        best = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        total = self.store.counts()["entities"]
        view = Neighbourhood(
            nodes=tuple(top),
            edges=(*edges, *(_co_edge(a, b, n) for (a, b), n in best)),
            more=max(0, total - len(top)),
            total_entities=total,
        )
        self._overview[limit] = (time.monotonic(), view)
        return view


def _card_node(card: EntityCard) -> EntityNode:
    return EntityNode(
        id=card.id,
        name=card.name,
        label=card.label,
        aliases=card.aliases,
        mention_count=card.mention_count,
        degree=len(_relations(card)),
    )


def _relations(card: EntityCard) -> list[RelationFact]:
    return [r for r in card.relations if r.type not in NON_RELATION_TYPES]


def _mention_chunks(card: EntityCard) -> list[str]:
    """The sentences the entity is mentioned in (document order), at most MENTION_SENTENCES."""
    chunks = dict.fromkeys(m.chunk_id for m in card.mentions if m.chunk_id)
    return list(chunks)[:MENTION_SENTENCES]


def _by_chunk(mentions: Iterable[ChunkMention]) -> dict[str, list[ChunkMention]]:
    grouped: dict[str, list[ChunkMention]] = defaultdict(list)
    for m in mentions:
        grouped[m.chunk_id].append(m)
    return grouped


def _co_mentions(
    entity_id: str, chunks: Sequence[str], by_chunk: Mapping[str, Sequence[ChunkMention]]
) -> list[tuple[ChunkMention, int]]:
    """Other entities mentioned in the entity's sentences (one mention each), by sentences shared."""
    counts: Counter[str] = Counter()
    first: dict[str, ChunkMention] = {}
    for chunk in chunks:
        present = {m.entity_id: m for m in by_chunk.get(chunk, ()) if m.entity_id != entity_id}
        for other, m in present.items():
            counts[other] += 1
            first.setdefault(other, m)
    ranked = sorted(counts, key=lambda i: (-counts[i], first[i].name.casefold(), i))
    return [(first[i], counts[i]) for i in ranked]


def _co_mention(found: tuple[ChunkMention, int]) -> CoMention:
    m, sentences = found
    return CoMention(
        entity=EntityRef(id=m.entity_id, name=m.name, label=m.label), sentences=sentences
    )


def _co_edge(a: str, b: str, sentences: int) -> GraphEdge:
    first, second = sorted((a, b))
    return GraphEdge(
        id=f"co:{first}:{second}",
        source=first,
        target=second,
        type=CO_MENTION,
        kind="co-mention",
        sentences=sentences,
    )


class _EvidenceViews:
    """Evidence sentences with their document titles and highlighted names and values."""

    def __init__(
        self, docs: Mapping[str, DocumentRef], by_chunk: Mapping[str, Sequence[ChunkMention]]
    ) -> None:
        self.docs = docs
        self.by_chunk = by_chunk

    def _view(self, ev: EvidenceRef, marks: list[Mark]) -> EvidenceView:
        doc = self.docs.get(ev.doc_id)
        return EvidenceView(
            doc_id=ev.doc_id,
            title=doc.title if doc else ev.doc_id,
            chunk_id=ev.chunk_id,
            start=ev.start,
            end=ev.end,
            text=ev.text,
            marks=_disjoint(marks),
        )

    def _entity_marks(self, ev: EvidenceRef, entity_id: str, role: Any, name: str) -> list[Mark]:
        """Where the entity is mentioned in the sentence; else where its name is written."""
        marks = [
            Mark(start=m.start - ev.start, end=m.end - ev.start, role=role)
            for m in self.by_chunk.get(ev.chunk_id, ())
            if m.entity_id == entity_id
            and m.doc_id == ev.doc_id
            and ev.start <= m.start < m.end <= ev.end
            and ev.end - ev.start == len(ev.text)
        ]
        return marks or _text_marks(ev.text, name, role)

    def relation(self, ev: EvidenceRef, rel: RelationFact) -> EvidenceView:
        marks = self._entity_marks(ev, rel.head_id, "head", rel.head_name)
        marks += self._entity_marks(ev, rel.tail_id, "tail", rel.tail_name)
        return self._view(ev, marks)

    def attribute(self, ev: EvidenceRef, entity_id: str, name: str, value: str) -> EvidenceView:
        marks = self._entity_marks(ev, entity_id, "entity", name)
        return self._view(ev, [*_text_marks(ev.text, value, "value"), *marks])


def _relation_view(entity_id: str, rel: RelationFact, view: _EvidenceViews) -> RelationView:
    outgoing = rel.head_id == entity_id
    return RelationView(
        id=rel.id,
        type=rel.type,
        outgoing=outgoing,
        other=EntityRef(
            id=rel.tail_id if outgoing else rel.head_id,
            name=rel.tail_name if outgoing else rel.head_name,
            label=rel.tail_label if outgoing else rel.head_label,
        ),
        score=rel.score,
        evidence=tuple(view.relation(e, rel) for e in rel.evidence[:MAX_EVIDENCE]),
        evidence_total=len(rel.evidence),
    )


def _text_marks(text: str, needle: str, role: Any) -> list[Mark]:
    """The first place ``needle`` is written in ``text`` (case-insensitive), if any."""
    if not needle.strip():
        return []
    folded = text.casefold()
    if len(folded) != len(text):
        return []
    folded_needle = needle.casefold()  # "Weiß" is "weiss": as long as it is in the text
    at = folded.find(folded_needle)
    return [Mark(start=at, end=at + len(folded_needle), role=role)] if at >= 0 else []


def _disjoint(marks: Iterable[Mark]) -> tuple[Mark, ...]:
    """Marks in text order, each starting after the previous one ends (the first one wins)."""
    kept: list[Mark] = []
    for mark in sorted(marks, key=lambda m: (m.start, -m.end)):
        if mark.start >= 0 and mark.end > mark.start and (not kept or mark.start >= kept[-1].end):
            kept.append(mark)
    return tuple(kept)


def _merge_view(record: Mapping[str, Any], docs: Mapping[str, DocumentRef]) -> MergeView:
    known: dict[str, Any] = {}
    for key in _MERGE_FIELDS:
        value = record.get(key)
        if value is not None:
            known[key] = value if key == "score" else str(value)
    if "score" in known:
        try:
            known["score"] = float(known["score"])
        except (TypeError, ValueError):
            known.pop("score")
    doc_ids = [str(d) for d in record.get("doc_ids", []) or []]
    other = {
        str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        for k, v in record.items()
        if k not in _MERGE_FIELDS and k != "doc_ids"
    }
    return MergeView(
        **known,
        documents=tuple(docs.get(d) or DocumentRef(id=d, title=d) for d in doc_ids),
        other=other,
    )
