"""Neo4jWriter against a real Neo4j server (see conftest.py): no mocks."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from neo4j import Driver, GraphDatabase
from neo4j.exceptions import ConstraintError

from kgbuild.data import (
    Attribute,
    Chunk,
    Document,
    Entity,
    Evidence,
    GraphDelta,
    Mention,
    Provenance,
    Relation,
    Span,
)
from kgbuild.ids import content_hash
from kgbuild.store.neo4j.schema import SchemaError
from kgbuild.store.neo4j.server import FAST_START_JVM_OPTIONS, LocalNeo4j, free_port
from kgbuild.store.neo4j.writer import (
    MissingNodeError,
    Neo4jUnavailableError,
    Neo4jWriter,
    WriteSummary,
)

pytestmark = pytest.mark.neo4j


def open_driver(uri: str, auth: tuple[str, str] | None) -> Driver:
    """A driver that gives up on a dead server after about 3 s (not the default 30 s)."""
    return GraphDatabase.driver(
        uri, auth=auth, max_transaction_retry_time=3.0, connection_timeout=5.0
    )


JAVA_AND_MAVEN = bool(shutil.which("mvn") and (shutil.which("java") or os.environ.get("JAVA_HOME")))

LABELS = ("PER", "ORG", "LOC", "MISC")
TYPES = ("WORKS_FOR", "LOCATED_IN")
RUN = "run-1"


# -- building batches ---------------------------------------------------------------------------


def prov(doc: str, start: int = 0, end: int = 5, *, chunk: str | None = None) -> Provenance:
    return Provenance(
        doc_id=doc,
        chunk_id=chunk or f"{doc}-c0",
        span=Span(start=start, end=end),
        score=0.9,
        model="tiny-ner",
        model_revision="abc123",
        run_id=RUN,
        stage="test",
    )


def document(doc: str, text: str) -> tuple[Document, Chunk]:
    d = Document(id=doc, text=text, source=f"{doc}.txt", content_hash=content_hash(text))
    c = Chunk(id=f"{doc}-c0", doc_id=doc, index=0, span=Span(start=0, end=len(text)), text=text)
    return d, c


def mention(doc: str, name: str, label: str, n: int = 0) -> Mention:
    return Mention(id=f"{doc}-m-{name}-{n}", text=name, label=label, provenance=prov(doc))


def evidence(doc: str, text: str = "evidence") -> Evidence:
    return Evidence(provenance=prov(doc), text=text)


def entity(eid: str, label: str, mentions: Sequence[Mention], name: str | None = None) -> Entity:
    return Entity(
        id=eid,
        label=label,
        name=name or eid,
        aliases=(eid.lower(),),
        mention_ids=tuple(m.id for m in mentions),
        doc_ids=tuple(sorted({m.doc_id for m in mentions})),
    )


def relation(rid: str, head: str, tail: str, rtype: str, docs: Iterable[str]) -> Relation:
    return Relation(
        id=rid,
        head=head,
        tail=tail,
        type=rtype,
        score=0.8,
        evidence=tuple(evidence(d, f"{rid} in {d}") for d in docs),
    )


def delta(
    rows: GraphDelta, entities: Sequence[Entity], moved: Mapping[str, str] | None = None
) -> GraphDelta:
    """``rows`` with their resolved entities (and mention links other than theirs)."""
    return rows.model_copy(
        update={"entities": tuple(entities), "mention_entity": dict(moved or {})}
    )


def two_document_graph() -> tuple[GraphDelta, list[Entity]]:
    """Doc A mentions Ada, Acme, Paris; doc B mentions Acme and Paris; Bob only in B."""
    da, ca = document("A", "Ada works for Acme in Paris.")
    db, cb = document("B", "Bob works for Acme in Paris.")
    m_ada, m_acme_a, m_paris_a = (
        mention("A", "Ada", "PER"),
        mention("A", "Acme", "ORG"),
        mention("A", "Paris", "LOC"),
    )
    m_bob, m_acme_b, m_paris_b = (
        mention("B", "Bob", "PER"),
        mention("B", "Acme", "ORG"),
        mention("B", "Paris", "LOC"),
    )
    entities = [
        entity("ada", "PER", [m_ada]),
        entity("bob", "PER", [m_bob]),
        entity("acme", "ORG", [m_acme_a, m_acme_b]),
        entity("paris", "LOC", [m_paris_a, m_paris_b]),
    ]
    relations = (
        relation("r-ada-acme", "ada", "acme", "WORKS_FOR", ["A"]),
        relation("r-bob-acme", "bob", "acme", "WORKS_FOR", ["B"]),
        relation("r-acme-paris", "acme", "paris", "LOCATED_IN", ["A", "B"]),
    )
    attributes = (
        Attribute(
            id="att-ada-born",
            entity="ada",
            key="born",
            value=1815,
            value_type="number",
            score=0.7,
            evidence=(evidence("A", "born 1815"),),
        ),
        Attribute(
            id="att-acme-founded",
            entity="acme",
            key="founded",
            value="1900",
            value_type="date",
            score=0.6,
            evidence=(evidence("A", "founded 1900"), evidence("B", "since 1900")),
        ),
    )
    batch = GraphDelta(
        run_id=RUN,
        documents=(da, db),
        chunks=(ca, cb),
        mentions=(m_ada, m_acme_a, m_paris_a, m_bob, m_acme_b, m_paris_b),
        relations=relations,
        attributes=attributes,
    )
    return batch, entities


EXPECTED = {
    "Document": 2,
    "Chunk": 2,
    "Mention": 6,
    "Entity": 4,
    "Attribute": 2,
    "PART_OF": 2,
    "IN_CHUNK": 6,
    "REFERS_TO": 6,
    "WORKS_FOR": 2,
    "LOCATED_IN": 1,
    "HAS_ATTRIBUTE": 2,
}


def query(driver: Driver, cypher: str, **params: Any) -> list[dict[str, Any]]:
    records, _, _ = driver.execute_query(cypher, params, database_="neo4j")
    return [r.data() for r in records]


def counts(writer: Neo4jWriter) -> dict[str, int]:
    return {k: v for k, v in writer.counts().items() if v}


@pytest.fixture()
def writer(clean_db: Driver, neo4j_database: str) -> Neo4jWriter:
    w = Neo4jWriter(clean_db, database=neo4j_database)
    w.ensure_schema(LABELS, TYPES)
    return w


# -- schema -------------------------------------------------------------------------------------


def test_constraints_exist(writer: Neo4jWriter, clean_db: Driver) -> None:
    writer.ensure_schema(LABELS, TYPES)  # a second call is a no-op
    rows = query(clean_db, "SHOW CONSTRAINTS YIELD type, labelsOrTypes, properties RETURN *")
    found = {(r["type"], r["labelsOrTypes"][0], tuple(r["properties"])) for r in rows}
    for label in ("Document", "Chunk", "Mention", "Entity", "Attribute", "GraphState"):
        assert ("UNIQUENESS", label, ("id",)) in found
    for rel_type in (*TYPES, "CO_OCCURS", "IN_DOCUMENT"):
        assert ("RELATIONSHIP_UNIQUENESS", rel_type, ("id",)) in found
    assert len(rows) == 6 + len(TYPES) + 2

    clean_db.execute_query("CREATE (:Entity {id: 'x'})", database_="neo4j")
    with pytest.raises(ConstraintError):
        clean_db.execute_query("CREATE (:Entity:PER {id: 'x'})", database_="neo4j")


def test_schema_refuses_bad_names(writer: Neo4jWriter) -> None:
    for bad in ("per", "PER-X", "PER`) DETACH DELETE n //", "", "Entity", "Mention"):
        with pytest.raises(SchemaError, match="invalid entity label"):
            writer.ensure_schema([bad], TYPES)
    with pytest.raises(SchemaError, match="invalid relation type"):
        writer.ensure_schema(LABELS, ["REFERS_TO"])
    with pytest.raises(SchemaError, match="collections of names"):
        writer.ensure_schema("PER", TYPES)


def test_unknown_label_or_type_is_refused(writer: Neo4jWriter) -> None:
    batch, entities = two_document_graph()
    bad = [*entities, entity("gpe", "GPE", [])]
    with pytest.raises(SchemaError) as err:
        writer.write(delta(batch, bad))
    message = str(err.value)
    assert "'GPE'" in message
    assert "LOC, MISC, ORG, PER" in message

    bad_relation = relation("r-x", "ada", "acme", "FOUNDED_BY", ["A"])
    with pytest.raises(SchemaError) as err:
        writer.write(delta(batch.model_copy(update={"relations": (bad_relation,)}), entities))
    assert "'FOUNDED_BY'" in str(err.value)
    assert "LOCATED_IN, WORKS_FOR" in str(err.value)
    assert counts(writer) == {}  # refused before anything was written


def test_write_requires_schema(clean_db: Driver) -> None:
    batch, entities = two_document_graph()
    with pytest.raises(SchemaError, match="ensure_schema"):
        Neo4jWriter(clean_db).write(delta(batch, entities))


# -- writing ------------------------------------------------------------------------------------


def test_write_builds_the_graph_model(writer: Neo4jWriter, clean_db: Driver) -> None:
    batch, entities = two_document_graph()
    summary = writer.write(delta(batch, entities))
    assert (summary.documents, summary.chunks, summary.mentions) == (2, 2, 6)
    assert (summary.entities, summary.relations, summary.attributes) == (4, 3, 2)
    assert counts(writer) == EXPECTED

    (ada,) = query(clean_db, "MATCH (e:Entity {id: 'ada'}) RETURN labels(e) AS l, e {.*} AS p")
    assert sorted(ada["l"]) == ["Entity", "PER"]
    assert ada["p"].pop("write_hash")
    assert ada["p"] == {"id": "ada", "name": "ada", "label": "PER", "aliases": ["ada"]}

    (doc,) = query(clean_db, "MATCH (d:Document {id: 'A'}) RETURN d {.*} AS p")
    assert doc["p"]["run_id"] == RUN
    assert set(doc["p"]) == {"id", "source", "content_hash", "lang", "run_id", "write_hash"}

    (m,) = query(
        clean_db,
        "MATCH (m:Mention {id: 'A-m-Ada-0'})-[:IN_CHUNK]->(c:Chunk)-[:PART_OF]->(d:Document), "
        "(m)-[:REFERS_TO]->(e:Entity) RETURN m {.*} AS m, c.id AS c, d.id AS d, e.id AS e",
    )
    assert (m["c"], m["d"], m["e"]) == ("A-c0", "A", "ada")
    assert m["m"]["model_revision"] == "abc123"
    assert (m["m"]["start"], m["m"]["end"], m["m"]["doc_id"]) == (0, 5, "A")

    (rel,) = query(
        clean_db,
        "MATCH (:Entity {id: 'acme'})-[r:LOCATED_IN]->(:Entity {id: 'paris'}) RETURN r {.*} AS r",
    )
    r = rel["r"]
    assert r["id"] == "r-acme-paris"
    assert r["score"] == 0.8
    assert r["evidence_doc_ids"] == ["A", "B"]
    assert r["evidence"] == ["r-acme-paris in A", "r-acme-paris in B"]
    assert (r["doc_id"], r["chunk_id"], r["start"], r["end"]) == ("A", "A-c0", 0, 5)
    assert (r["model"], r["run_id"]) == ("tiny-ner", RUN)

    (att,) = query(
        clean_db,
        "MATCH (:Entity {id: 'ada'})-[:HAS_ATTRIBUTE]->(a:Attribute) RETURN a {.*} AS a",
    )
    assert att["a"]["value"] == 1815
    assert (att["a"]["key"], att["a"]["value_type"], att["a"]["doc_id"]) == ("born", "number", "A")


def test_write_is_idempotent(writer: Neo4jWriter, clean_db: Driver) -> None:
    batch, entities = two_document_graph()
    writer.write(delta(batch, entities))
    first = counts(writer)
    content = "MATCH (n) WHERE NOT n:GraphState RETURN n.id AS id, n {.*} AS p ORDER BY id"
    snapshot = query(clean_db, content)
    assert writer.write(delta(batch, entities)) == WriteSummary()  # nothing new or changed
    # the MERGE path itself is idempotent too: forget the hashes and write in one-row batches
    clean_db.execute_query("MATCH (n) REMOVE n.write_hash", database_="neo4j")
    clean_db.execute_query("MATCH ()-[r]->() REMOVE r.write_hash", database_="neo4j")
    tiny = Neo4jWriter(clean_db, batch_size=1)
    tiny.ensure_schema(LABELS, TYPES)
    again = tiny.write(delta(batch, entities))
    assert (again.entities, again.mentions, again.relations) == (4, 6, 3)
    assert counts(writer) == first == EXPECTED
    assert query(clean_db, content) == snapshot


def test_missing_endpoint_is_an_error_and_rolls_back(writer: Neo4jWriter) -> None:
    batch, entities = two_document_graph()
    writer.write_documents(batch.documents, batch.chunks, run_id=RUN)
    before = counts(writer)
    without_acme = [e for e in entities if e.id != "acme"]
    with pytest.raises(MissingNodeError, match="'acme'"):
        writer.write(delta(batch, without_acme, {m: e.id for e in entities for m in e.mention_ids}))
    after = counts(writer)
    assert "Mention" not in after  # the failing batch was rolled back
    assert after["Document"] == before["Document"]


def test_mention_relinks_and_label_changes(writer: Neo4jWriter, clean_db: Driver) -> None:
    batch, entities = two_document_graph()
    writer.write(delta(batch, entities))
    # re-resolution: Acme becomes a MISC entity and A's Paris mention now refers to 'acme'
    moved = {m: e.id for e in entities for m in e.mention_ids}
    moved["A-m-Paris-0"] = "acme"
    relabelled = [e.model_copy(update={"label": "MISC"}) if e.id == "acme" else e for e in entities]
    writer.write(delta(batch, relabelled, moved))
    (acme,) = query(clean_db, "MATCH (e:Entity {id: 'acme'}) RETURN labels(e) AS l, e.label AS x")
    assert sorted(acme["l"]) == ["Entity", "MISC"]
    assert acme["x"] == "MISC"
    rows = query(
        clean_db, "MATCH (:Mention {id: 'A-m-Paris-0'})-[:REFERS_TO]->(e) RETURN e.id AS e"
    )
    assert rows == [{"e": "acme"}]


def test_one_batch_creates_new_entities_and_relabels_existing_ones(
    writer: Neo4jWriter, clean_db: Driver
) -> None:
    """New rows are CREATEd and existing ones MERGEd in the same transaction."""
    _, entities = two_document_graph()
    writer.write_entities(entities)
    fresh = entities[0].model_copy(update={"id": "fresh", "name": "Fresh", "label": "ORG"})
    relabelled = [e.model_copy(update={"label": "MISC"}) if e.id == "acme" else e for e in entities]
    assert writer.write_entities([*relabelled, fresh]) == 2
    rows = query(
        clean_db,
        "MATCH (e:Entity) WHERE e.id IN ['acme', 'fresh'] "
        "RETURN e.id AS id, labels(e) AS labels, e.name AS name ORDER BY id",
    )
    assert [(r["id"], sorted(r["labels"]), r["name"]) for r in rows] == [
        ("acme", ["Entity", "MISC"], next(e.name for e in entities if e.id == "acme")),
        ("fresh", ["Entity", "ORG"], "Fresh"),
    ]
    assert writer.write_entities([*relabelled, fresh]) == 0
    assert writer.counts()["Entity"] == len(entities) + 1


def test_batches_reach_the_driver_debug_log_as_their_size_only(
    writer: Neo4jWriter, caplog: pytest.LogCaptureFixture
) -> None:
    """The driver formats parameters for its debug log on every RUN: rows show as a count."""
    _, entities = two_document_graph()
    with caplog.at_level(logging.DEBUG, logger="neo4j"):
        writer.write_entities(entities)
    runs = [r.getMessage() for r in caplog.records if "C: RUN" in r.getMessage()]
    assert runs
    assert any(" rows>" in m for m in runs)
    assert not any(e.name in m for e in entities for m in runs)


# -- incremental updates ------------------------------------------------------------------------


def test_replace_documents_removes_only_what_they_contributed(
    writer: Neo4jWriter, clean_db: Driver
) -> None:
    batch, entities = two_document_graph()
    writer.write(delta(batch, entities))

    deleted = writer.replace_documents(["A"])
    assert (deleted.documents, deleted.chunks, deleted.mentions) == (1, 1, 3)
    assert deleted.entities == 1  # Ada: only document A mentioned her
    assert (deleted.relations_deleted, deleted.relations_trimmed) == (1, 1)
    assert (deleted.attributes_deleted, deleted.attributes_trimmed) == (1, 1)

    ids = {r["id"] for r in query(clean_db, "MATCH (e:Entity) RETURN e.id AS id")}
    assert ids == {"bob", "acme", "paris"}  # still mentioned by document B
    assert counts(writer) == {
        "Document": 1,
        "Chunk": 1,
        "Mention": 3,
        "Entity": 3,
        "Attribute": 1,
        "PART_OF": 1,
        "IN_CHUNK": 3,
        "REFERS_TO": 3,
        "WORKS_FOR": 1,
        "LOCATED_IN": 1,
        "HAS_ATTRIBUTE": 1,
    }
    (rel,) = query(clean_db, "MATCH ()-[r:LOCATED_IN]->() RETURN r {.*} AS r")
    assert rel["r"]["evidence_doc_ids"] == ["B"]
    assert rel["r"]["evidence"] == ["r-acme-paris in B"]
    assert rel["r"]["doc_id"] == "B"
    (att,) = query(clean_db, "MATCH (a:Attribute) RETURN a {.*} AS a")
    assert (att["a"]["id"], att["a"]["evidence"], att["a"]["doc_id"]) == (
        "att-acme-founded",
        ["since 1900"],
        "B",
    )

    assert writer.replace_documents(["A"]) == type(deleted)()  # repeatable, nothing left

    # the whole batch again restores the first state, evidence from both documents included
    writer.write(delta(batch, entities))
    assert counts(writer) == EXPECTED
    (rel,) = query(clean_db, "MATCH ()-[r:LOCATED_IN]->() RETURN r.evidence_doc_ids AS d")
    assert sorted(rel["d"]) == ["A", "B"]

    # deleting B as well removes every entity
    writer.replace_documents(["A", "B"])
    assert counts(writer) == {}


def test_rewriting_one_document_keeps_other_documents_evidence(writer: Neo4jWriter) -> None:
    batch, entities = two_document_graph()
    writer.write(delta(batch, entities))
    writer.replace_documents(["B"])
    only_b = GraphDelta(
        run_id="run-2",
        documents=batch.documents[1:],
        chunks=batch.chunks[1:],
        mentions=tuple(m for m in batch.mentions if m.doc_id == "B"),
        relations=(relation("r-acme-paris", "acme", "paris", "LOCATED_IN", ["B"]),),
    )
    keep = [e for e in entities if e.id != "ada"]
    writer.write(delta(only_b, keep))
    rows = query(
        writer.driver, "MATCH ()-[r:LOCATED_IN]->() RETURN r.evidence_doc_ids AS d, r.doc_id AS p"
    )
    assert rows == [{"d": ["B", "A"], "p": "B"}]  # the latest write first, A's evidence kept


# -- values -------------------------------------------------------------------------------------

TRICKY = [
    "it's \"quoted\" 'twice'",
    "back\\slash \\n not a newline \\",
    "line one\nline two\r\nline three\ttab",
    "emoji 🎉👩‍🔬🇫🇷 and astral \U0001d518\U0001d52b\U0001d526",
    "中文文本\uff1a北京大学的研究人员",
    "$rows {id: 1}) DETACH DELETE n //",
    "x" * 100_000,
]


def test_property_values_survive_exactly(writer: Neo4jWriter, clean_db: Driver) -> None:
    docs, chunks, entities, mentions = [], [], [], []
    for i, text in enumerate(TRICKY):
        d, c = document(f"doc{i}", text)
        m = Mention(id=f"m{i}", text=text, label="MISC", provenance=prov(f"doc{i}"))
        docs.append(d)
        chunks.append(c)
        mentions.append(m)
        entities.append(
            Entity(
                id=f"e{i}",
                label="MISC",
                name=text,
                aliases=(text, text[::-1]),
                mention_ids=(m.id,),
                doc_ids=(d.id,),
            )
        )
    attributes = tuple(
        Attribute(
            id=f"a{i}",
            entity=f"e{i}",
            key="k",
            value=text,
            score=1.0,
            evidence=(Evidence(provenance=prov(f"doc{i}"), text=text),),
        )
        for i, text in enumerate(TRICKY)
    )
    batch = GraphDelta(
        run_id=RUN,
        documents=tuple(docs),
        chunks=tuple(chunks),
        mentions=tuple(mentions),
        attributes=attributes,
    )
    writer.write(delta(batch, entities))
    rows = query(
        clean_db,
        "MATCH (c:Chunk)<-[:IN_CHUNK]-(m:Mention)-[:REFERS_TO]->(e:Entity)-[:HAS_ATTRIBUTE]->(a) "
        "RETURN c.doc_id AS doc, c.text AS chunk, m.text AS mention, e.name AS name, "
        "e.aliases AS aliases, a.value AS value, a.evidence AS evidence ORDER BY doc",
    )
    assert len(rows) == len(TRICKY)
    for row in rows:
        text = TRICKY[int(row["doc"][3:])]
        assert row["chunk"] == text
        assert row["mention"] == text
        assert row["name"] == text
        assert row["aliases"] == [text, text[::-1]]
        assert row["value"] == text
        assert row["evidence"] == [text]


# -- failures -----------------------------------------------------------------------------------


def test_unreachable_server_gives_a_clear_error() -> None:
    uri = f"bolt://127.0.0.1:{free_port()}"  # nothing listens there
    with open_driver(uri, None) as driver:
        writer = Neo4jWriter(driver)
        with pytest.raises(Neo4jUnavailableError) as err:
            writer.ensure_schema(LABELS, TYPES)
    assert uri in str(err.value)
    assert "'neo4j'" in str(err.value)


@pytest.mark.skipif(not JAVA_AND_MAVEN, reason="needs Java and Maven")
def test_server_stopped_mid_run_then_rerun_has_no_duplicates(tmp_path: Path) -> None:
    server = LocalNeo4j(
        tmp_path / "neo4j", password="test-password-1", jvm_options=FAST_START_JVM_OPTIONS
    )
    server.start(timeout=300)
    try:
        seen_from_elsewhere = LocalNeo4j(server.home).status()  # through the pid and uri files
        assert (seen_from_elsewhere.running, seen_from_elsewhere.uri) == (True, server.uri)
        batch, entities = two_document_graph()
        stopped: list[str] = []

        def stop_after_first_mentions(kind: str, done: int, total: int) -> None:
            if kind == "mentions" and not stopped:
                stopped.append(kind)
                server.stop()

        with open_driver(server.uri, server.auth) as driver:
            writer = Neo4jWriter(driver, batch_size=2, progress=stop_after_first_mentions)
            writer.ensure_schema(LABELS, TYPES)
            with pytest.raises(Neo4jUnavailableError) as err:
                writer.write(delta(batch, entities))
        assert stopped == ["mentions"]
        assert not server.status().running
        assert server.uri in str(err.value)

        server.start(timeout=300)
        with open_driver(server.uri, server.auth) as driver:
            partial = Neo4jWriter(driver).counts()
            assert partial["Mention"] == 2  # the first batch was committed before the stop
            writer = Neo4jWriter(driver, batch_size=2)
            writer.ensure_schema(LABELS, TYPES)
            writer.write(delta(batch, entities))
            assert counts(writer) == EXPECTED
    finally:
        server.stop()
    assert not server.status().running


# -- rewriting without a gap --------------------------------------------------------------------


def snapshot(driver: Driver) -> list[str]:
    """Every node and relationship with its properties (but ``write_hash``), sorted.

    The graph's version token (``GraphState``) is left out: it is new after every write.
    """

    def clean(props: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in sorted(props.items()) if k != "write_hash"}

    nodes = query(
        driver, "MATCH (n) WHERE NOT n:GraphState RETURN labels(n) AS labels, properties(n) AS p"
    )
    rels = query(
        driver, "MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS t, b.id AS b, properties(r) AS p"
    )
    return sorted(
        [repr((sorted(n["labels"]), clean(n["p"]))) for n in nodes]
        + [repr((r["a"], r["t"], r["b"], clean(r["p"]))) for r in rels]
    )


def changed_a_graph() -> tuple[GraphDelta, list[Entity]]:
    """Document A rewritten: only Acme is left in it, in a new chunk (new content, new ids)."""
    old, _ = two_document_graph()
    text = "Acme hired nobody."
    da = Document(id="A", text=text, source="A.txt", content_hash=content_hash(text))
    ca = Chunk(id="A-c0-v2", doc_id="A", index=0, span=Span(start=0, end=len(text)), text=text)
    acme_a = Mention(id="A-m-Acme-0", text="Acme", label="ORG", provenance=prov("A", chunk=ca.id))
    b_mentions = [m for m in old.mentions if m.doc_id == "B"]
    m_bob, m_acme_b, m_paris_b = b_mentions
    entities = [
        entity("bob", "PER", [m_bob]),
        entity("acme", "ORG", [acme_a, m_acme_b]),
        entity("paris", "LOC", [m_paris_b]),
    ]
    founded = Attribute(
        id="att-acme-founded",
        entity="acme",
        key="founded",
        value="1900",
        value_type="date",
        score=0.6,
        evidence=(evidence("B", "since 1900"),),
    )
    batch = GraphDelta(
        run_id="run-2",
        documents=(da, old.documents[1]),
        chunks=(ca, old.chunks[1]),
        mentions=(acme_a, *b_mentions),
        relations=(
            relation("r-bob-acme", "bob", "acme", "WORKS_FOR", ["B"]),
            relation("r-acme-paris", "acme", "paris", "LOCATED_IN", ["B"]),
        ),
        attributes=(founded,),
    )
    return batch, entities


def test_a_rewritten_document_is_written_beside_its_old_version_then_the_old_one_retired(
    writer: Neo4jWriter, clean_db: Driver
) -> None:
    old, old_entities = two_document_graph()
    writer.write(delta(old, old_entities))
    new, new_entities = changed_a_graph()

    writer.write(delta(new, new_entities))
    # between the write and the clean-up: the old contribution is still all there
    during = counts(writer)
    assert all(during.get(kind, 0) >= n for kind, n in EXPECTED.items()), during
    assert {r["id"] for r in query(clean_db, "MATCH (e:Entity) RETURN e.id AS id")} >= {"ada"}
    assert query(
        clean_db, "MATCH (:Mention {id: 'A-m-Acme-0'})-[:IN_CHUNK]->(c) RETURN c.id AS c"
    ) == [{"c": "A-c0-v2"}]

    retired = writer.retire_documents(["A"], new)
    assert (retired.documents, retired.chunks, retired.mentions, retired.entities) == (0, 1, 2, 1)
    assert (retired.relations_deleted, retired.relations_trimmed) == (1, 1)
    assert (retired.attributes_deleted, retired.attributes_trimmed) == (1, 1)
    after = snapshot(clean_db)
    assert writer.retire_documents(["A"], new) == type(retired)()  # repeatable

    # exactly what writing the new version alone gives
    clean_db.execute_query("MATCH (n) DETACH DELETE n", database_="neo4j")
    writer.write(delta(new, new_entities))
    assert after == snapshot(clean_db)


def test_retiring_a_deleted_document_removes_all_it_contributed(
    writer: Neo4jWriter, clean_db: Driver
) -> None:
    batch, entities = two_document_graph()
    writer.write(delta(batch, entities))
    only_b = GraphDelta(
        run_id="run-2",
        documents=batch.documents[1:],
        chunks=batch.chunks[1:],
        mentions=tuple(m for m in batch.mentions if m.doc_id == "B"),
        relations=(
            relation("r-bob-acme", "bob", "acme", "WORKS_FOR", ["B"]),
            relation("r-acme-paris", "acme", "paris", "LOCATED_IN", ["B"]),
        ),
    )
    retired = writer.retire_documents(["A"], only_b)
    assert (retired.documents, retired.chunks, retired.mentions, retired.entities) == (1, 1, 3, 1)
    ids = {
        r["id"] for r in query(clean_db, "MATCH (n) WHERE n:Document OR n:Entity RETURN n.id AS id")
    }
    assert ids == {"B", "bob", "acme", "paris"}
    (rel,) = query(clean_db, "MATCH ()-[r:LOCATED_IN]->() RETURN r.evidence_doc_ids AS d")
    assert rel["d"] == ["B"]


def test_a_symmetric_types_edge_from_the_larger_id_goes_once_the_pair_is_one_edge(
    clean_db: Driver, neo4j_database: str
) -> None:
    """A database written before a type was stored once per pair converges on the next write."""
    w = Neo4jWriter(clean_db, database=neo4j_database)
    w.ensure_schema(LABELS, (*TYPES, "SPOUSE"))
    batch, entities = two_document_graph()
    spouses = (
        relation("r-ada-bob", "ada", "bob", "SPOUSE", ["A"]),
        relation("r-bob-ada", "bob", "ada", "SPOUSE", ["B"]),  # the same marriage, read back
    )
    w.apply(delta(batch.model_copy(update={"relations": (*batch.relations, *spouses)}), entities))
    assert len(query(clean_db, "MATCH ()-[r:SPOUSE]->() RETURN r.id AS id")) == 2

    once = batch.model_copy(
        update={
            "relations": (
                *batch.relations,
                relation("r-ada-bob", "ada", "bob", "SPOUSE", ["A", "B"]),
            ),
            "symmetric_types": ("SPOUSE",),
        }
    )
    w.apply(delta(once, entities))
    rows = query(clean_db, "MATCH (h)-[r:SPOUSE]->(t) RETURN h.id AS h, t.id AS t, r.id AS id")
    assert rows == [{"h": "ada", "t": "bob", "id": "r-ada-bob"}]
    # a type not symmetric keeps its edges from the larger id ("ada" -> "acme")
    assert len(query(clean_db, "MATCH ()-[r:WORKS_FOR]->() RETURN r.id AS id")) == 2
    assert w.remove_reversed(("SPOUSE", "WORKS_FOR_NOT_IN_SCHEMA")) == 0  # repeatable
