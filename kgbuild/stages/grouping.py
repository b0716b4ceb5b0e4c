"""One document's mentions grouped into local entities (resolution within the document).

The document-level relation, zero-shot and attribute stages read entities of one document
before the graph's resolution has run over the corpus: :func:`local_entities` applies the
same rules within the document. :func:`shared_grouping` lets the stages of one batch share
the result, so each document is grouped once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from kgbuild.data import Mention
from kgbuild.stages.resolve import ResolveConfig
from kgbuild.stages.resolve.clustering import find_clusters

__all__ = ["LocalEntity", "local_entities", "shared_grouping"]


@dataclass(frozen=True)
class LocalEntity:
    """Mentions of one document that name one thing, and the type they vote for."""

    label: str
    mentions: tuple[Mention, ...]
    """In text order."""


def local_entities(mentions: Sequence[Mention], config: ResolveConfig) -> list[LocalEntity]:
    """Group one document's mentions into entities (resolution rules within the document).

    Mentions with the same surface text are one entity whatever their labels; the
    entity's type is the most frequent label of its mentions (ties: the first mention's).
    """
    if not mentions:
        return []
    ordered = tuple(sorted(mentions, key=lambda m: (m.span.start, m.span.end, m.id)))
    memo = _grouped.get()
    if memo is None:
        return _group(ordered, config)
    key = (ordered, config)
    if key not in memo:
        memo[key] = tuple(_group(ordered, config))
    return list(memo[key])


_grouped: ContextVar[
    dict[tuple[tuple[Mention, ...], ResolveConfig], tuple[LocalEntity, ...]] | None
] = ContextVar("kgbuild_grouped_documents", default=None)


@contextmanager
def shared_grouping() -> Iterator[None]:
    """Inside the block, :func:`local_entities` groups each document's mentions once.

    The relation, zero-shot and attribute stages all group a batch's documents (with the
    same mentions and settings), and resolution costs about 2 ms a document. Results are
    kept until the block ends, not longer.
    """
    token = _grouped.set({})
    try:
        yield
    finally:
        _grouped.reset(token)


def _group(ordered: Sequence[Mention], config: ResolveConfig) -> list[LocalEntity]:
    """:func:`local_entities` of mentions in text order."""
    parent = list(range(len(ordered)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # the clusters that resolution makes entities of, without naming the entities; no
    # sentence contexts: the context veto is for merges across documents
    cluster = find_clusters(
        [m.label for m in ordered],
        [m.text for m in ordered],
        [m.provenance.doc_id for m in ordered],
        config,
        starts=[m.span.start for m in ordered],
    ).cluster.tolist()
    first_of: dict[tuple[str, str | int], int] = {}
    for i, mention in enumerate(ordered):
        for key in (("entity", cluster[i]), ("text", mention.text.casefold())):
            j = first_of.setdefault(key, i)
            parent[find(i)] = find(j)
    groups: dict[int, list[Mention]] = defaultdict(list)
    for i, mention in enumerate(ordered):
        groups[find(i)].append(mention)
    entities = []
    for members in groups.values():
        votes = Counter(m.label for m in members)
        top = max(votes.values())
        label = next(m.label for m in members if votes[m.label] == top)
        entities.append(LocalEntity(label, tuple(members)))
    entities.sort(key=lambda e: (e.mentions[0].span.start, e.mentions[0].id))
    return entities
