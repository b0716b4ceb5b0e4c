"""What question answering needs from a graph: the protocol both stores implement."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kgbuild.qa.models import EntityCard, EntityHit, RelationFact, SentenceText

if TYPE_CHECKING:
    from kgbuild.config import Settings

__all__ = ["MENTION_SENTENCES", "GraphStore", "store_location"]

MENTION_SENTENCES = 24
"""Mention sentences gathered per entity (in document and offset order)."""


class GraphStore(Protocol):
    """Read access to a built graph (embedded JSON + ledger, or Neo4j)."""

    name: str
    """``"embedded"`` or ``"neo4j"``."""

    def search(self, terms: Sequence[str], limit: int) -> list[EntityHit]:
        """Entities whose name or an alias shares (fuzzily) a word with ``terms``."""
        ...

    def named_in(self, words: Collection[str]) -> list[EntityHit]:
        """Entities with a name or alias made only of ``words`` (folded, exact match)."""
        ...

    def entity(self, entity_id: str) -> EntityCard | None:
        """The entity with its aliases, attributes, relations and mentions."""
        ...

    def sentences(self, chunk_ids: Sequence[str]) -> dict[str, SentenceText]:
        """Stored sentences by chunk id (those that exist)."""
        ...

    def related(self, entity_id: str, rel_type: str, outgoing: bool | None) -> list[RelationFact]:
        """Relations of one type from (``outgoing``) or to the entity, best first.

        ``outgoing=None``: both ways (a symmetric type, stored once per pair).
        """
        ...

    def counts(self) -> dict[str, int]:
        """Entity, document and relation counts (for ``/health``)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def store_location(
    settings: Settings, *, graph: Path | None, neo4j: str | None
) -> tuple[str | None, Path]:
    """Where the graph to read is: a Neo4j URI (or None), else the exported ``graph.json``.

    A URI given, or configured when no ``graph`` is given, wins; the path is then unused.
    A build's output folder given as ``graph`` means the ``graph.json`` in it.
    """
    uri = neo4j or (None if graph is not None else settings.neo4j.uri)
    if graph is not None and graph.is_dir() and (graph / "graph.json").is_file():
        graph = graph / "graph.json"
    return uri, graph or settings.out_dir / "graph.json"
