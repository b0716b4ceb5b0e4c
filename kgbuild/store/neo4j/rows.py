"""Parameter rows: each data model as the row its write statement takes.

A row is ``{"id": ..., "props": {...}}`` plus the ids of the nodes it links to (and, for rows
with evidence, the ``ev_*`` lists the evidence merge reads). :func:`stamp` adds ``write_hash``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from kgbuild.data import (
    Attribute,
    Chunk,
    CoOccurrence,
    DocumentInfo,
    DocumentLink,
    Entity,
    Evidence,
    Mention,
    Relation,
    Span,
    metadata_properties,
)
from kgbuild.layout import Layout

__all__ = [
    "Row",
    "attribute_row",
    "chunk_row",
    "cooccurrence_row",
    "document_link_row",
    "document_row",
    "entity_row",
    "mention_row",
    "relation_row",
    "stamp",
]


Row = dict[str, Any]


def stamp(row: Row) -> Row:
    """Add ``props.write_hash``: a digest of everything the row would write."""
    digest = hashlib.blake2b(repr(row).encode("utf-8", "surrogatepass"), digest_size=12)
    row["props"]["write_hash"] = digest.hexdigest()
    return row


def document_row(d: DocumentInfo, run_id: str) -> Row:
    """A Document node's row: its id, source, hash, language, run and metadata."""
    props: dict[str, object] = {
        "id": d.id,
        "source": d.source,
        "content_hash": d.content_hash,
        "lang": d.lang,
        "run_id": run_id,
    }
    props.update(metadata_properties(d.metadata))
    return {"id": d.id, "props": props}


def chunk_row(c: Chunk, layouts: Mapping[str, Layout]) -> Row:
    """A Chunk node's row, with its page or element where ``layouts`` has its document's."""
    props: dict[str, object] = {
        "doc_id": c.doc_id,
        "index": c.index,
        "start": c.span.start,
        "end": c.span.end,
        "text": c.text,
    }
    layout = layouts.get(c.doc_id)
    if layout is not None:
        props.update(layout.locate(c.span.start))
    return {"id": c.id, "doc_id": c.doc_id, "props": props}


def entity_row(e: Entity) -> Row:
    """An Entity node's row: name, label, aliases and the JSON of its merges."""
    merges = "[" + ",".join(m.model_dump_json() for m in e.merges) + "]" if e.merges else None
    props = {"name": e.name, "label": e.label, "aliases": list(e.aliases), "merges": merges}
    return {"id": e.id, "props": props}  # merges: JSON of why names were joined; null removes


def mention_row(m: Mention, mention_entity: Mapping[str, str]) -> Row:
    """A Mention node's row, with its chunk and (from ``mention_entity``) its entity."""
    p = m.provenance
    props = {
        "text": m.text,
        "label": m.label,
        "start": p.span.start,
        "end": p.span.end,
        "score": p.score,
        "model": p.model,
        "model_revision": p.model_revision,
        "run_id": p.run_id,
        "doc_id": p.doc_id,
        "chunk_id": p.chunk_id,
    }
    return {
        "id": m.id,
        "chunk_id": p.chunk_id,
        "entity_id": mention_entity.get(m.id),
        "props": props,
    }


def relation_row(r: Relation, spans: Mapping[str, Span]) -> Row:
    """A relationship's row: endpoints, score and evidence (mention offsets from ``spans``)."""
    row: Row = {"id": r.id, "head": r.head, "tail": r.tail, "props": {"score": r.score}}
    _mention_fields(row, r.evidence, spans)
    return _evidence_fields(row, r.evidence)


def _mention_fields(row: Row, evidence: Sequence[Evidence], spans: Mapping[str, Span]) -> None:
    """Add the ``ev_head_*``/``ev_tail_*`` lists: each entry's mentions and their offsets."""
    for role in ("head", "tail"):
        ids, starts, ends = [], [], []
        for e in evidence:
            mention = getattr(e, role) or ""
            span = spans.get(mention)
            ids.append(mention)
            starts.append(span.start if span else -1)
            ends.append(span.end if span else -1)
        row[f"ev_{role}_mentions"] = ids
        row[f"ev_{role}_starts"] = starts
        row[f"ev_{role}_ends"] = ends


def cooccurrence_row(c: CoOccurrence) -> Row:
    """A ``CO_OCCURS`` edge's row: its two entities, count and documents."""
    return {
        "id": c.id,
        "source": c.source,
        "target": c.target,
        "props": {"count": c.count, "docs": list(c.docs)},
    }


def document_link_row(link: DocumentLink) -> Row:
    """An ``IN_DOCUMENT`` edge's row: its entity, document and count."""
    return {
        "id": link.id,
        "entity_id": link.entity,
        "doc_id": link.doc_id,
        "props": {"count": link.count},
    }


def attribute_row(a: Attribute) -> Row:
    """An Attribute node's row, with its entity and evidence."""
    props: dict[str, Any] = {
        "entity_id": a.entity,
        "key": a.key,
        "value": a.value,
        "value_type": a.value_type,
        "score": a.score,
    }
    row: Row = {"id": a.id, "entity_id": a.entity, "props": props}
    return _evidence_fields(row, a.evidence)


def _evidence_fields(row: Row, evidence: Sequence[Evidence]) -> Row:
    """Add the ``ev_*`` lists (and model/run_id of the first entry) to ``row``."""
    texts, doc_ids, chunk_ids, starts, ends = [], [], [], [], []
    for e in evidence:
        p = e.provenance
        texts.append(e.text)
        doc_ids.append(p.doc_id)
        chunk_ids.append(p.chunk_id)
        starts.append(p.span.start)
        ends.append(p.span.end)
    if evidence:
        first = evidence[0].provenance
        row["props"]["model"] = first.model
        row["props"]["run_id"] = first.run_id
    row["replace_doc_ids"] = sorted(set(doc_ids))
    row["ev_texts"] = texts
    row["ev_doc_ids"] = doc_ids
    row["ev_chunk_ids"] = chunk_ids
    row["ev_starts"] = starts
    row["ev_ends"] = ends
    return row
