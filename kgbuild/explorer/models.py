"""What the explorer shows: typed, frozen views of entities, documents and their neighbourhoods.

The served endpoints return these as JSON (defaults left out), and the static ``graph.html``
embeds the very same JSON, so one page script reads both.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "NON_RELATION_TYPES",
    "AttributeView",
    "ChunkMention",
    "CoMention",
    "DocumentMentions",
    "DocumentRef",
    "EntityNode",
    "EntityPage",
    "EntityRef",
    "EvidenceView",
    "GraphEdge",
    "Mark",
    "MergeView",
    "Neighbourhood",
    "SearchResult",
    "Suggestion",
    "document_title",
    "merge_records",
]

NON_RELATION_TYPES = frozenset({"CO_OCCURS", "IN_DOCUMENT", "MENTIONED_IN"})
"""Edge types between graph nodes that are not extracted relations (co-mentions, structure)."""

_RECORD_SOURCE = re.compile(r":\d+$")
"""A JSON Lines record's source ends in ``:<line>``; a file's source is its path."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EntityRef(_Frozen):
    """An entity named in a list: enough to show it and open it."""

    id: str
    name: str
    label: str = ""


class EntityNode(EntityRef):
    """An entity as a graph node: its names, mention count and relation degree."""

    aliases: tuple[str, ...] = ()
    mention_count: int = 0
    degree: int = 0
    """Relations (both directions) between this entity and others."""


class Suggestion(EntityNode):
    """A type-ahead match: the entity and the name or alias the typed text matched."""

    matched: str = ""


class SearchResult(_Frozen):
    """The answer to a type-ahead query."""

    query: str
    results: tuple[Suggestion, ...] = ()


class DocumentRef(_Frozen):
    """A document and the title people know it by."""

    id: str
    title: str


class DocumentMentions(DocumentRef):
    """A document that mentions the entity, and how often."""

    mentions: int = 0


class Mark(_Frozen):
    """A span of an evidence sentence to highlight (offsets into the sentence text)."""

    start: int
    end: int
    role: Literal["head", "tail", "entity", "value"]


class EvidenceView(_Frozen):
    """A sentence a fact was read from, with its document's title and its highlights."""

    doc_id: str
    title: str
    chunk_id: str = ""
    start: int = 0
    end: int = 0
    text: str
    marks: tuple[Mark, ...] = ()


class RelationView(_Frozen):
    """A relation of the entity: its type, direction, the other entity and the evidence."""

    id: str
    type: str
    outgoing: bool
    """Whether the page's entity is the head (``entity -TYPE-> other``)."""
    other: EntityRef
    score: float = 0.0
    evidence: tuple[EvidenceView, ...] = ()
    evidence_total: int = 0


class AttributeView(_Frozen):
    """An attribute value of the entity, with its evidence."""

    key: str
    value: str
    value_type: str = "text"
    score: float = 0.0
    evidence: tuple[EvidenceView, ...] = ()
    evidence_total: int = 0


class MergeView(_Frozen):
    """Why resolution joined two names of the entity (a ``merges`` record of the graph)."""

    rule: str = ""
    score: float | None = None
    source: str = ""
    source_label: str = ""
    target: str = ""
    target_label: str = ""
    documents: tuple[DocumentRef, ...] = ()
    """The documents a within-document rule applied in (none for corpus-wide rules)."""
    other: dict[str, str] = {}
    """Fields of the record this view does not know, as text."""


class CoMention(_Frozen):
    """An entity mentioned in the same sentences as the page's entity."""

    entity: EntityRef
    sentences: int


class EntityPage(_Frozen):
    """Everything the explorer shows about one entity."""

    entity: EntityNode
    documents: tuple[DocumentMentions, ...] = ()
    relations: tuple[RelationView, ...] = ()
    relations_total: int = 0
    attributes: tuple[AttributeView, ...] = ()
    merges: tuple[MergeView, ...] = ()
    co_mentions: tuple[CoMention, ...] = ()
    """The entities mentioned most often in its sentences, most first."""
    co_mentions_total: int = 0
    """Entities mentioned in its sentences in all (those read: ``MENTION_SENTENCES``);
    ``co_mentions`` lists the first ``MAX_CO_MENTIONS`` of them (:mod:`.service`)."""


class GraphEdge(_Frozen):
    """An edge of a drawn graph: a relation, or a co-mention (same sentences)."""

    id: str
    source: str
    target: str
    type: str
    kind: Literal["relation", "co-mention"] = "relation"
    score: float = 0.0
    sentences: int = 0


class Neighbourhood(_Frozen):
    """A piece of the graph to draw: an entity's neighbours, or the overview (no centre)."""

    center: str = ""
    nodes: tuple[EntityNode, ...] = ()
    edges: tuple[GraphEdge, ...] = ()
    more: int = 0
    """Neighbours (or, for the overview, entities) left out of this view."""
    total_entities: int = 0


class ChunkMention(_Frozen):
    """A mention of an entity in a sentence (document offsets), for highlights and co-mentions."""

    entity_id: str
    name: str
    label: str = ""
    doc_id: str
    chunk_id: str
    start: int
    end: int


def document_title(doc_id: str, source: str | None = None, title: str | None = None) -> str:
    """A document's title: its metadata ``title``, else its file name, else its id.

    A JSON Lines record (source ``file.jsonl:<line>``) is named by its id, a file by the
    last part of its path.
    """
    if title and title.strip():
        return title.strip()
    if source and not _RECORD_SOURCE.search(source):
        name = posixpath.basename(source.replace("\\", "/"))
        if name:
            return name
    return doc_id


def _shortened(text: str, limit: int) -> str:
    """``text``, cut to ``limit`` characters ending in "…" when it is longer."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def merge_records(value: Any) -> list[dict[str, Any]]:
    """An entity's ``merges`` property as records: a list, JSON text of one (Neo4j), or none."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [{"rule": "unreadable merge record", "other": _shortened(value, 200)}]
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        return []
    return [dict(item) for item in value if isinstance(item, Mapping)]
