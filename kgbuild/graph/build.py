"""Assemble resolved entities and their provenance into an ``nx.MultiDiGraph``.

Nodes are entities (``kind="entity"``) and documents (``kind="document"``); each
entity has a ``MENTIONED_IN`` edge to every document that mentions it, carrying
the mentions (chunk, offsets, score, model, run) as provenance. Later stages add
relation and attribute edges on the same graph.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import networkx as nx

from kgbuild.data import Entity, Mention

__all__ = ["DocumentInfo", "build_graph", "document_node"]

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


def build_graph(
    documents: Iterable[DocumentInfo],
    entities: Sequence[Entity],
    mentions: Iterable[Mention],
    mention_to_entity: Mapping[str, str],
) -> nx.MultiDiGraph[str]:
    """Build the entity graph with per-document provenance edges.

    O(entities + mentions).
    """
    graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    for doc in documents:
        graph.add_node(document_node(doc["id"]), kind="document", **dict(doc))
    for entity in entities:
        graph.add_node(
            entity.id,
            kind="entity",
            label=entity.label,
            name=entity.name,
            aliases=list(entity.aliases),
            mention_count=len(entity.mention_ids),
            doc_ids=list(entity.doc_ids),
        )
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for mention in mentions:
        entity_id = mention_to_entity.get(mention.id)
        if entity_id is not None:
            grouped[(entity_id, mention.doc_id)].append(_provenance(mention))
    for (entity_id, doc_id), provenance in sorted(grouped.items()):
        provenance.sort(key=lambda item: (item["start"], item["end"]))
        graph.add_edge(
            entity_id,
            document_node(doc_id),
            key="MENTIONED_IN",
            type="MENTIONED_IN",
            count=len(provenance),
            provenance=provenance,
        )
    return graph
