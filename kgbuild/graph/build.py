"""Assemble resolved entities and their provenance into an ``nx.MultiDiGraph``.

Nodes are entities (``kind="entity"``) and documents (``kind="document"``); each
entity has a ``MENTIONED_IN`` edge to every document that mentions it (Neo4j's
``IN_DOCUMENT``, whose id is the edge's key: a GraphML edge id is unique), carrying the
mention ``count`` and the mentions (chunk, offsets, score, model, run; the PDF ``page`` or
the HTML/Word ``element`` where the document records its layout) as provenance. Relations
are edges between entities with their evidence (each entry with its head's and tail's
mention and offsets); entities named in the same sentence (or within
``cooccurrence_window`` sentences) are joined by one ``CO_OCCURS`` edge (``count``,
``docs``; see :mod:`kgbuild.graph.cooccurrence`); attribute values sit on the
entity node (``attributes``: key -> value, type, score and evidence), and so do the reasons its
names were joined (``merges``: rule, score, the two names and their labels, and the
documents of a within-document rule; see :class:`kgbuild.data.Merge`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import networkx as nx

from kgbuild.data import (
    METADATA_PREFIX,
    Attribute,
    CoOccurrence,
    Entity,
    Evidence,
    Mention,
    MentionAttribute,
    MentionRelation,
    Relation,
    Span,
)
from kgbuild.graph.cooccurrence import co_occurrences
from kgbuild.ids import stable_id
from kgbuild.layout import Layout
from kgbuild.schema import ENTITY_VALUE_TYPES
from kgbuild.stages.values import finest_date

__all__ = [
    "DocumentInfo",
    "build_graph",
    "document_node",
    "resolve_attributes",
    "resolve_relations",
]

DocumentInfo = Mapping[str, str]
"""A document's node attributes: at least ``id``, ``source`` and ``content_hash``."""


def document_node(doc_id: str) -> str:
    """The graph node key of a document (distinct from entity ids)."""
    return f"doc:{doc_id}"


def _provenance(mention: Mention) -> dict[str, Any]:
    prov = mention.provenance
    return {
        "mention_id": mention.id,
        "text": mention.text,
        "doc_id": prov.doc_id,
        "chunk_id": prov.chunk_id,
        "start": prov.span.start,
        "end": prov.span.end,
        "score": round(prov.score, 6),
        "model": prov.model,
        "model_revision": prov.model_revision,
        "run_id": prov.run_id,
    }


def resolve_relations(
    relations: Iterable[MentionRelation],
    mention_to_entity: Mapping[str, str],
    symmetric: Collection[str] = frozenset(),
) -> list[Relation]:
    """Lift mention-level relations to entities: one relation per (head, type, tail).

    Its score is the best of its mentions' scores and its evidence all of theirs (in
    document and offset order); relations of an entity to itself are dropped.
    A type in ``symmetric`` (:attr:`~kgbuild.schema.GraphSchema.symmetric_relations`)
    holds both ways, so it is stored once per pair of entities: from the smaller entity
    id to the larger, both directions' findings merged (an evidence entry found the other
    way has its head and tail mentions swapped, so its head is always the head's).
    O(relations).
    """
    grouped: dict[tuple[str, str, str], list[tuple[MentionRelation, bool]]] = defaultdict(list)
    for relation in relations:
        head = mention_to_entity.get(relation.head_mention)
        tail = mention_to_entity.get(relation.tail_mention)
        if head is None or tail is None or head == tail:
            continue
        swapped = relation.type in symmetric and tail < head
        if swapped:
            head, tail = tail, head
        grouped[(head, relation.type, tail)].append((relation, swapped))
    lifted = []
    for (head, rel_type, tail), found in sorted(grouped.items()):
        evidence: dict[tuple[str, str], Evidence] = {}
        for relation, swapped in found:
            for item in relation.evidence:
                if swapped:
                    item = item.model_copy(update={"head": item.tail, "tail": item.head})
                evidence.setdefault((item.provenance.doc_id, item.provenance.chunk_id), item)
        ordered = sorted(
            evidence.values(), key=lambda e: (e.provenance.doc_id, e.provenance.span.start)
        )
        lifted.append(
            Relation(
                id=stable_id("rel", head, rel_type, tail),
                head=head,
                tail=tail,
                type=rel_type,
                score=max(r.score for r, _ in found),
                evidence=tuple(ordered),
            )
        )
    return lifted


def resolve_attributes(
    attributes: Iterable[MentionAttribute],
    mention_to_entity: Mapping[str, str],
    entity_names: Mapping[str, str] | None = None,
) -> list[Attribute]:
    """Lift mention-level attributes to entities: one value per (entity, attribute).

    Where documents disagree, the value with the highest score wins (ties: the value
    read first in document order), or the finest date that agrees with it (a release
    date over the year another document gives, :func:`finest_date`); the evidence of every finding of that value is kept,
    in document and offset order. An entity value whose mention (the evidence's ``tail``)
    was resolved is that entity: findings agree when they name the same entity ("BERLIN"
    in a dateline, "Berlin" elsewhere), and the value is its canonical name from
    ``entity_names`` (entity id -> name) when given.
    """
    grouped: dict[tuple[str, str], list[MentionAttribute]] = defaultdict(list)
    for attribute in attributes:
        entity = mention_to_entity.get(attribute.mention)
        if entity is not None:
            grouped[(entity, attribute.key)].append(attribute)
    lifted = []
    for (entity, key), found in sorted(grouped.items()):
        found.sort(key=lambda a: (-a.score, _first_evidence(a)))
        winner = found[0]
        if winner.value_type == "date":  # "2015-06-14" from one document beats "2015"
            winner = finest_date(winner, found, lambda a: a.value)
        named = _value_entity(winner, mention_to_entity)
        agreeing = [
            a
            for a in found
            if (named is not None and _value_entity(a, mention_to_entity) == named)
            or (named is None and a.value == winner.value)
        ]
        value = winner.value
        if named is not None and entity_names is not None and named in entity_names:
            value = entity_names[named]
        evidence = sorted(
            {
                (e.provenance.doc_id, e.provenance.span.start, e.provenance.chunk_id): e
                for a in agreeing
                for e in a.evidence
            }.items()
        )
        lifted.append(
            Attribute(
                id=stable_id("attr", entity, key),
                entity=entity,
                key=key,
                value=value,
                value_type=winner.value_type,
                score=winner.score,
                evidence=tuple(e for _, e in evidence),
            )
        )
    return lifted


def _value_entity(attribute: MentionAttribute, mention_to_entity: Mapping[str, str]) -> str | None:
    """The resolved entity an entity value names (through its evidence's tail mention)."""
    if attribute.value_type not in ENTITY_VALUE_TYPES or not attribute.evidence:
        return None
    tail = attribute.evidence[0].tail
    return mention_to_entity.get(tail) if tail is not None else None


def _first_evidence(attribute: MentionAttribute) -> tuple[str, int]:
    first = attribute.evidence[0].provenance if attribute.evidence else None
    return (first.doc_id, first.span.start) if first else ("", 0)


def build_graph(
    documents: Iterable[DocumentInfo],
    entities: Sequence[Entity],
    mentions: Iterable[Mention],
    mention_to_entity: Mapping[str, str],
    relations: Iterable[Relation] = (),
    *,
    attributes: Iterable[Attribute] = (),
    chunk_index: Mapping[str, int] | None = None,
    cooccurrence_window: int = 0,
    cooccurrences: Iterable[CoOccurrence] | None = None,
) -> nx.MultiDiGraph[str]:
    """Build the entity graph with per-document provenance edges and relation edges.

    ``relations`` and ``attributes`` are entity-level (see :func:`resolve_relations`,
    :func:`resolve_attributes`). ``chunk_index`` (chunk id -> sentence index in its
    document) is needed for a ``cooccurrence_window`` over several sentences.
    ``cooccurrences``: the ``CO_OCCURS`` pairs, where the caller has them already
    (:func:`~kgbuild.graph.cooccurrence.co_occurrences` of the same mentions and window);
    ``None``: computed here.
    O(entities + mentions + relations + attributes + co-occurring pairs).
    """
    mentions = list(mentions)
    graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    layouts: dict[str, Layout] = {}
    for doc in documents:
        # doc_id too: graph.json writes each node's key as "id" (doc:<id>), over the bare id
        graph.add_node(document_node(doc["id"]), kind="document", **dict(doc), doc_id=doc["id"])
        layout = Layout.from_metadata({k.removeprefix(METADATA_PREFIX): v for k, v in doc.items()})
        if layout is not None:
            layouts[doc["id"]] = layout
    for entity in entities:
        graph.add_node(
            entity.id,
            kind="entity",
            label=entity.label,
            name=entity.name,
            aliases=list(entity.aliases),
            mention_count=len(entity.mention_ids),
            doc_ids=list(entity.doc_ids),
            merges=[merge.model_dump(mode="json") for merge in entity.merges],
        )
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for mention in mentions:
        entity_id = mention_to_entity.get(mention.id)
        if entity_id is not None:
            found = _provenance(mention)
            layout = layouts.get(mention.doc_id)
            if layout is not None:
                found.update(layout.locate(mention.span.start))
            grouped[(entity_id, mention.doc_id)].append(found)
    for (entity_id, doc_id), provenance in sorted(grouped.items()):
        provenance.sort(key=lambda item: (item["start"], item["end"]))
        graph.add_edge(
            entity_id,
            document_node(doc_id),
            key=stable_id("indoc", entity_id, doc_id),  # Neo4j's IN_DOCUMENT id
            type="MENTIONED_IN",
            count=len(provenance),
            provenance=provenance,
        )
    values: dict[str, dict[str, Any]] = defaultdict(dict)
    for attribute in attributes:
        values[attribute.entity][attribute.key] = {
            "value": attribute.value,
            "value_type": attribute.value_type,
            "score": round(attribute.score, 6),
            "evidence": [_evidence(e) for e in attribute.evidence],
        }
    for entity_id, found in values.items():
        if entity_id in graph:
            graph.nodes[entity_id]["attributes"] = dict(sorted(found.items()))
    spans = {mention.id: mention.span for mention in mentions}
    for relation in relations:
        graph.add_edge(
            relation.head,
            relation.tail,
            key=relation.id,
            type=relation.type,
            score=round(relation.score, 6),
            count=len(relation.evidence),
            provenance=[_evidence(e, spans) for e in relation.evidence],
        )
    if cooccurrences is None:
        cooccurrences = co_occurrences(
            mentions, mention_to_entity, chunk_index, window=cooccurrence_window
        )
    _add_cooccurrences(graph, cooccurrences)
    return graph


def _add_cooccurrences(graph: nx.MultiDiGraph[str], pairs: Iterable[CoOccurrence]) -> None:
    for pair in pairs:
        if pair.source in graph and pair.target in graph:
            graph.add_edge(
                pair.source,
                pair.target,
                key=pair.id,
                type="CO_OCCURS",
                count=pair.count,
                docs=list(pair.docs),
            )


def _evidence(e: Evidence, spans: Mapping[str, Span] | None = None) -> dict[str, Any]:
    found = spans or {}
    ends: dict[str, Any] = {}
    for role, mention in (("head", e.head), ("tail", e.tail)):
        if mention:
            ends[f"{role}_mention"] = mention
            span = found.get(mention)
            if span is not None:
                ends[f"{role}_start"], ends[f"{role}_end"] = span.start, span.end
    return {
        "doc_id": e.provenance.doc_id,
        "chunk_id": e.provenance.chunk_id,
        "start": e.provenance.span.start,
        "end": e.provenance.span.end,
        "text": e.text,
        "score": round(e.provenance.score, 6),
        "model": e.provenance.model,
        "model_revision": e.provenance.model_revision,
        "run_id": e.provenance.run_id,
        **ends,
    }
