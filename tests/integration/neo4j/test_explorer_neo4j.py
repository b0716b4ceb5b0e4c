"""The explorer reads the same views from Neo4j as from the graph files.

The small invented graph (tests/explorer_data.py) goes into the real Neo4j through the
project's writer, and into an in-memory graph through the graph builder; both explorers must
answer type-ahead, entity pages, neighbourhoods and the overview alike.
"""

from __future__ import annotations

from neo4j import Driver

from kgbuild.explorer.service import Explorer
from kgbuild.qa.embedded import EmbeddedGraph
from kgbuild.qa.neo4j_store import Neo4jGraph, lucene_prefix_query
from kgbuild.store.neo4j.writer import Neo4jWriter
from tests.explorer_data import ENTITIES, small_graph

from .conftest import Neo4jTarget


def test_neo4j_and_the_graph_files_give_the_same_explorer_views(
    clean_db: Driver, neo4j_target: Neo4jTarget
) -> None:
    small = small_graph()
    writer = Neo4jWriter(clean_db, database=neo4j_target.database)
    writer.ensure_schema(["PER", "ORG", "LOC", "MISC"], ["WORKS_FOR", "HEADQUARTERED_IN"])
    writer.write(small.delta)
    from_neo4j = Explorer(Neo4jGraph(driver=clean_db, database=neo4j_target.database))
    from_files = Explorer(EmbeddedGraph.from_node_link(small.node_link()))
    for typed in ("quil", "QUILLON rob", "marta", "velásq", "freig", "of", "zzz", "", "(n)*"):
        assert from_neo4j.suggest(typed) == from_files.suggest(typed), typed
    for entity_id in small.ids.values():
        assert from_neo4j.entity_page(entity_id) == from_files.entity_page(entity_id)
        assert from_neo4j.neighbourhood(entity_id) == from_files.neighbourhood(entity_id)
        assert from_neo4j.neighbourhood(entity_id, 1) == from_files.neighbourhood(entity_id, 1)
    assert from_neo4j.overview(3) == from_files.overview(3)
    assert from_neo4j.overview() == from_files.overview()
    assert from_neo4j.overview().total_entities == len(ENTITIES)
    assert from_neo4j.entity_page("nope") is None and from_neo4j.neighbourhood("nope") is None
    docs = from_neo4j.documents(["rec-1", "notes/harbor.txt", "rec-2", "unknown"])
    assert [d.title for d in docs.values()] == [
        "Quillon opens a Lisbon office",
        "harbor.txt",
        "rec-2",
        "unknown",
    ]


def test_the_type_ahead_query_keeps_only_folded_words() -> None:
    assert lucene_prefix_query("Quillon (ROB*") == "+quillon* +rob*"
    assert lucene_prefix_query("bank of amé") == "+bank* of* +ame*"
    assert lucene_prefix_query('" OR 1=1 --') == "or* +1* +1*"
    assert lucene_prefix_query("  ") == ""
