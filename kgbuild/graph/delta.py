"""The graph delta of a persist: what the resolved results bring into a graph store.

The application decides which documents to rewrite and which to retire (from the run
ledger and what the store already holds); :func:`graph_delta` turns that and the resolved
results into a :class:`~kgbuild.data.GraphDelta`, which a store writes as given
(:meth:`kgbuild.store.neo4j.writer.Neo4jWriter.apply`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from kgbuild.data import Attribute, CoOccurrence, DocumentResult, GraphDelta, Relation
from kgbuild.graph.cooccurrence import co_occurrences, document_links
from kgbuild.stages.resolve import ResolutionResult

__all__ = ["graph_delta"]


def graph_delta(
    run_id: str,
    results: Sequence[DocumentResult],
    resolution: ResolutionResult,
    relations: Sequence[Relation] = (),
    attributes: Sequence[Attribute] = (),
    *,
    rewrite: Collection[str] = (),
    retire: Collection[str] = (),
    cooccurrence_window: int = 0,
    cooccurrences: Sequence[CoOccurrence] | None = None,
    symmetric_types: Collection[str] = (),
) -> GraphDelta:
    """The delta that brings a store in line with ``results``.

    Args:
        run_id: This run (recorded on the written Document nodes).
        results: Stored results of every current document.
        resolution: Entities and the mention -> entity map.
        relations: Entity-level relations.
        attributes: Entity-level attributes.
        rewrite: Ids of the current documents whose Document and Chunk nodes are (re)written.
        retire: Ids of rewritten or deleted documents, whose earlier contribution goes.
        cooccurrence_window: ``CO_OCCURS`` joins entities at most this many sentences apart.
        cooccurrences: The ``CO_OCCURS`` pairs of ``results`` at that window, where the
            caller has them already (the assembled graph's); ``None``: computed here.
        symmetric_types: Relation types stored once per pair (the schema's symmetric ones).

    Returns:
        Documents and chunks of ``rewrite`` (in ``results`` order), every entity, current
        mention, relation, attribute and derived edge, and ``retire`` sorted.
    """
    mentions = [mention for result in results for mention in result.mentions]
    chunk_index = {chunk.id: chunk.index for result in results for chunk in result.chunks}
    written = [result for result in results if result.doc_id in rewrite]
    return GraphDelta(
        run_id=run_id,
        documents=tuple(result.document for result in written),
        chunks=tuple(chunk for result in written for chunk in result.chunks),
        entities=tuple(resolution.entities),
        mentions=tuple(mentions),
        mention_entity=dict(resolution.mention_to_entity),
        relations=tuple(relations),
        attributes=tuple(attributes),
        cooccurrences=tuple(
            co_occurrences(
                mentions, resolution.mention_to_entity, chunk_index, window=cooccurrence_window
            )
            if cooccurrences is None
            else cooccurrences
        ),
        document_links=tuple(document_links(mentions, resolution.mention_to_entity)),
        retired=tuple(sorted(retire)),
        symmetric_types=tuple(sorted(symmetric_types)),
    )
