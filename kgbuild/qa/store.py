"""What question answering needs from a graph: the protocol both stores implement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kgbuild.qa.models import EntityCard, EntityHit, RelationFact, SentenceText

__all__ = ["MENTION_SENTENCES", "GraphStore"]

MENTION_SENTENCES = 24
"""Mention sentences gathered per entity (in document and offset order)."""


class GraphStore(Protocol):
    """Read access to a built graph (embedded JSON + ledger, or Neo4j)."""

    name: str
    """``"embedded"`` or ``"neo4j"``."""

    def search(self, terms: Sequence[str], limit: int) -> list[EntityHit]:
        """Entities whose name or an alias shares (fuzzily) a word with ``terms``."""
        ...

    def entity(self, entity_id: str) -> EntityCard | None:
        """The entity with its aliases, attributes, relations and mentions."""
        ...

    def sentences(self, chunk_ids: Sequence[str]) -> dict[str, SentenceText]:
        """Stored sentences by chunk id (those that exist)."""
        ...

    def related(self, entity_id: str, rel_type: str, outgoing: bool) -> list[RelationFact]:
        """Relations of one type from (``outgoing``) or to the entity, best first."""
        ...

    def counts(self) -> dict[str, int]:
        """Entity, document and relation counts (for ``/health``)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
