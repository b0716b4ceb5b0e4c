"""The data the static ``graph.html`` carries: what the served endpoints would answer, precomputed.

Every entity page and neighbourhood comes from the same :class:`Explorer` methods the server
calls (over the graph held in memory), as the same JSON; the page's script looks them up
instead of fetching them. Neighbourhoods leave out their nodes (the page takes them from the
entity list, which type-ahead searches anyway).

A large graph's file holds the pages of its first ``max_pages`` entities only (the
overview's order: most relations, then mentions): every page costs about 2 KB and a
browser tab does not open hundreds of megabytes. Its entity list then holds those entities
first, the ones its type-ahead searches, and after them only the other entities its
neighbourhoods and overview draw (without aliases), so its size follows ``max_pages``:
100,000 invented entities listed whole were 7.3 MB of a 23.9 MB file. The bundle's
``paged`` (pages held, entities in all) tells the page to say so.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from kgbuild.explorer.models import EntityNode
from kgbuild.explorer.service import Explorer
from kgbuild.qa.embedded import EmbeddedGraph

__all__ = ["dump", "static_bundle"]


def dump(model: Any) -> Any:
    """A view as the endpoints send it: JSON values, defaults left out."""
    return model.model_dump(mode="json", exclude_defaults=True)


def static_bundle(graph: nx.MultiDiGraph[str], max_pages: int | None = None) -> dict[str, Any]:
    """Entities (for type-ahead), the entity pages and neighbourhoods, and the overview.

    ``entities`` rows are ``[id, name, label, aliases, mention_count, degree]``, in the
    overview's order; when ``paged`` is ``[held, total]``, the first ``held`` rows are the
    paged entities (searched) and the rest only those drawn beside them.

    Args:
        graph: The graph.
        max_pages: Most entities whose page and neighbourhood are included (``None``: all).
    """
    store = EmbeddedGraph.from_node_link(nx.node_link_data(graph, edges="edges"))
    explorer = Explorer(store)
    counts = store.counts()
    everyone = store.top_entities(counts["entities"])
    paged = everyone if max_pages is None else everyone[:max_pages]
    pages: dict[str, Any] = {}
    neighbourhoods: dict[str, Any] = {}
    drawn: set[str] = set()
    for node in paged:
        views = explorer.views(node.id)
        if views is None:  # pragma: no cover - the ids come from the store
            continue
        page, hood = views
        pages[node.id] = dump(page)
        neighbourhoods[node.id] = dump(hood.model_copy(update={"nodes": ()}))
        drawn.update(n.id for n in hood.nodes)
    overview = explorer.overview()
    bundle = {
        "entities": [_row(n, aliases=True) for n in paged],
        "pages": pages,
        "neighbourhoods": neighbourhoods,
        "overview": dump(overview),
        "counts": counts,
    }
    if len(paged) < len(everyone):
        drawn.update(n.id for n in overview.nodes)  # an overview node says why it has no page
        bundle["entities"] += [
            _row(n, aliases=False) for n in everyone[len(paged) :] if n.id in drawn
        ]
        bundle["paged"] = [len(paged), len(everyone)]
    return bundle


def _row(node: EntityNode, *, aliases: bool) -> list[Any]:
    names = list(node.aliases) if aliases else []
    return [node.id, node.name, node.label, names, node.mention_count, node.degree]
