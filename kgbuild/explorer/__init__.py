"""The graph as people explore it: type-ahead search, entity pages, neighbourhoods, overview.

:class:`~kgbuild.explorer.service.Explorer` computes the views over either store (the graph
files or Neo4j, :mod:`kgbuild.explorer.store`); ``kgbuild serve`` answers them as JSON under
``/explorer/...`` with the page at ``/explore``, and ``graph.html`` embeds them for every
entity (:mod:`kgbuild.explorer.static`). One script (``assets/explorer.js``) draws both.
"""
