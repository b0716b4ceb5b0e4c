"""Why an entity's names were joined is a property of its Entity node (JSON)."""

from __future__ import annotations

import json

from neo4j import Driver

from kgbuild.data import Merge
from kgbuild.store.neo4j.writer import Neo4jWriter
from tests.integration.neo4j.test_writer import (  # noqa: F401 (fixture)
    delta,
    query,
    two_document_graph,
    writer,
)


def test_entity_merges_are_written_and_removed_when_gone(
    writer: Neo4jWriter,  # noqa: F811 (the imported fixture)
    clean_db: Driver,
) -> None:
    batch, entities = two_document_graph()
    merge = Merge(
        rule="document_acronym",
        score=100.0,
        source="ACM",
        source_label="MISC",
        target="Acme",
        target_label="ORG",
        doc_ids=("A",),
    )
    merged = [e.model_copy(update={"merges": (merge,)}) if e.id == "acme" else e for e in entities]
    writer.write(delta(batch, merged))
    rows = query(clean_db, "MATCH (e:Entity) RETURN e.id AS id, e.merges AS merges ORDER BY id")
    found = {row["id"]: row["merges"] for row in rows}
    assert json.loads(found.pop("acme")) == [merge.model_dump(mode="json")]
    assert set(found.values()) == {None}  # no merges: no property
    writer.write(delta(batch, entities))  # the merge was undone
    (row,) = query(clean_db, "MATCH (e:Entity {id: 'acme'}) RETURN e.merges AS merges")
    assert row["merges"] is None
