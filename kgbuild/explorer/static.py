"""The data the static ``graph.html`` carries: what the served endpoints would answer, precomputed.

Every entity page and neighbourhood comes from the same :class:`Explorer` methods the server
calls (over the graph held in memory), as the same JSON; the page's script looks them up
instead of fetching them. Neighbourhoods leave out their nodes (the page takes them from the
entity list, which type-ahead searches anyway).
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from kgbuild.explorer.service import Explorer
from kgbuild.qa.embedded import EmbeddedGraph

__all__ = ["dump", "static_bundle"]


def dump(model: Any) -> Any:
    """A view as the endpoints send it: JSON values, defaults left out."""
    return model.model_dump(mode="json", exclude_defaults=True)


def static_bundle(graph: nx.MultiDiGraph[str]) -> dict[str, Any]:
    """Entities (for type-ahead), every entity page and neighbourhood, and the overview."""
    store = EmbeddedGraph.from_node_link(nx.node_link_data(graph, edges="edges"))
    explorer = Explorer(store)
    everyone = store.top_entities(store.counts()["entities"])
    pages: dict[str, Any] = {}
    neighbourhoods: dict[str, Any] = {}
    for node in everyone:
        views = explorer.views(node.id)
        if views is None:  # pragma: no cover - the ids come from the store
            continue
        page, hood = views
        pages[node.id] = dump(page)
        neighbourhoods[node.id] = dump(hood.model_copy(update={"nodes": ()}))
    return {
        "entities": [
            [n.id, n.name, n.label, list(n.aliases), n.mention_count, n.degree] for n in everyone
        ],
        "pages": pages,
        "neighbourhoods": neighbourhoods,
        "overview": dump(explorer.overview()),
        "counts": store.counts(),
    }
