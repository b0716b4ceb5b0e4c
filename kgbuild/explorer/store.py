"""What the explorer reads from a graph, beyond what question answering reads.

Both stores implement it: :class:`kgbuild.qa.embedded.EmbeddedGraph` (the graph files) and
:class:`kgbuild.qa.neo4j_store.Neo4jGraph` (all its Cypher in ``store.neo4j.queries``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from kgbuild.explorer.models import ChunkMention, DocumentRef, EntityNode, GraphEdge, Suggestion
from kgbuild.qa.store import GraphStore

__all__ = ["ExplorerStore"]


class ExplorerStore(GraphStore, Protocol):
    """Read access for the explorer: type-ahead, node summaries, mentions by sentence."""

    def suggest(self, text: str, limit: int) -> list[Suggestion]:
        """Entities whose name or an alias the typed text starts (see ``explorer.search``)."""
        ...

    def entity_nodes(self, entity_ids: Sequence[str]) -> dict[str, EntityNode]:
        """Node summaries (names, mention count, degree) of the entities that exist."""
        ...

    def top_entities(self, limit: int) -> list[EntityNode]:
        """The entities with most relations (then most mentions, then by id)."""
        ...

    def relations_among(self, entity_ids: Sequence[str]) -> list[GraphEdge]:
        """Relations whose head and tail are both among ``entity_ids``."""
        ...

    def mention_chunks(self, entity_ids: Sequence[str], per_entity: int) -> dict[str, list[str]]:
        """The sentences (chunk ids) each entity is mentioned in, in document order."""
        ...

    def chunk_mentions(self, chunk_ids: Sequence[str]) -> list[ChunkMention]:
        """Every entity mention in those sentences."""
        ...

    def documents(self, doc_ids: Sequence[str]) -> dict[str, DocumentRef]:
        """Documents with their titles (see :func:`kgbuild.explorer.models.document_title`)."""
        ...

    def merges(self, entity_id: str) -> list[dict[str, Any]]:
        """The entity's merge records (why its names were joined); empty when none recorded."""
        ...
