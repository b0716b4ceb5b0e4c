"""Edges derived from mentions: entities named near each other, and entities in documents.

Both are recomputed from the current mentions on every build (never incremented), so a
re-run changes nothing and a changed or deleted document changes exactly the counts it
contributed to.

* ``CO_OCCURS``: one edge per unordered pair of entities mentioned in the same sentence,
  or within ``window`` sentences of each other; directed from the smaller entity id to the
  larger (a stable direction; read it as undirected). ``count`` is the number of sentences
  that mention one of the two with the other in the same sentence or within the window
  (with ``window=0``: the sentences that mention both); ``docs`` the documents, sorted.
* ``IN_DOCUMENT``: one edge per entity and document that mentions it; ``count`` is the
  number of its mentions there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from kgbuild.data import CoOccurrence, DocumentLink, Mention
from kgbuild.ids import stable_id

__all__ = ["CoOccurrence", "DocumentLink", "co_occurrences", "document_links"]


def co_occurrences(
    mentions: Iterable[Mention],
    mention_to_entity: Mapping[str, str],
    chunk_index: Mapping[str, int] | None = None,
    *,
    window: int = 0,
) -> list[CoOccurrence]:
    """Entity pairs named in the same sentence or within ``window`` sentences, by id.

    Args:
        mentions: The current mentions.
        mention_to_entity: Mention id -> entity id (unresolved mentions are left out).
        chunk_index: Chunk id -> the sentence's index in its document; needed when
            ``window`` > 0.
        window: Sentences apart two mentions may be (0: the same sentence).

    Raises:
        ValueError: ``window`` is negative, or positive without ``chunk_index``.
    """
    if window < 0:
        raise ValueError(f"the co-occurrence window must be 0 or more sentences, not {window}")
    if window and chunk_index is None:
        raise ValueError("a co-occurrence window over several sentences needs the chunk index")
    sentences: dict[tuple[str, int | str], set[str]] = defaultdict(set)
    for mention in mentions:
        entity = mention_to_entity.get(mention.id)
        if entity is None:
            continue
        chunk_id = mention.provenance.chunk_id
        position: int | str = chunk_id if not window else _index(chunk_index, chunk_id)
        sentences[(mention.doc_id, position)].add(entity)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    docs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for (doc_id, position), entities in sentences.items():
        near = set(entities)
        if window:
            assert isinstance(position, int)
            for other in range(position - window, position + window + 1):
                near |= sentences.get((doc_id, other), set())
        pairs = {(min(a, b), max(a, b)) for a in entities for b in near if a != b}
        for pair in pairs:
            counts[pair] += 1
            docs[pair].add(doc_id)
    return [
        CoOccurrence(
            id=stable_id("cooccurs", source, target),
            source=source,
            target=target,
            count=count,
            docs=tuple(sorted(docs[(source, target)])),
        )
        for (source, target), count in sorted(counts.items())
    ]


def _index(chunk_index: Mapping[str, int] | None, chunk_id: str) -> int:
    assert chunk_index is not None
    try:
        return chunk_index[chunk_id]
    except KeyError:
        raise ValueError(f"mention in chunk {chunk_id!r}, which the chunk index lacks") from None


def document_links(
    mentions: Iterable[Mention], mention_to_entity: Mapping[str, str]
) -> list[DocumentLink]:
    """One link per entity and document that mentions it, with the number of mentions."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for mention in mentions:
        entity = mention_to_entity.get(mention.id)
        if entity is not None:
            counts[(entity, mention.doc_id)] += 1
    return [
        DocumentLink(
            id=stable_id("indoc", entity, doc_id), entity=entity, doc_id=doc_id, count=count
        )
        for (entity, doc_id), count in sorted(counts.items())
    ]
