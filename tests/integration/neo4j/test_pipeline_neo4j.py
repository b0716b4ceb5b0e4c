"""The whole pipeline persisting to a real Neo4j: round trip, re-runs, deletion, failures, CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from neo4j import Driver
from typer.testing import CliRunner

from kgbuild.cli import app
from kgbuild.config import Neo4jConfig, NerConfig, Settings
from kgbuild.errors import KGBuildError
from kgbuild.pipeline import build
from kgbuild.store.neo4j.server import FAST_START_JVM_OPTIONS, LocalNeo4j, free_port
from kgbuild.store.neo4j.writer import Neo4jUnavailableError

from .conftest import Neo4jTarget, open_driver

pytestmark = pytest.mark.neo4j

DOCS = {
    "a.txt": "Maria Gonzalez founded Acme Robotics in Toronto. Acme Robotics opened an office in Berlin.",
    "b.txt": "David Chen said that Acme Robotics and Northwind Logistics work in Nairobi.",
    "c.txt": "Omar Haddad works for Granite Capital in Lisbon.",
}


def write_docs(folder: Path, docs: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def settings(tmp_path: Path, model: Path, target: Neo4jTarget) -> Settings:
    user, password = target.auth if target.auth else ("neo4j", None)
    return Settings(
        out_dir=tmp_path / "out",
        ner=NerConfig(model=str(model)),
        neo4j=Neo4jConfig(uri=target.uri, user=user, password=password, database=target.database),
    )


def query(driver: Driver, database: str, text: str, **params: Any) -> list[dict[str, Any]]:
    records, _, _ = driver.execute_query(text, params, database_=database)
    return [r.data() for r in records]


def counts(driver: Driver, database: str) -> dict[str, int]:
    rows = query(
        driver, database, "MATCH (n) UNWIND labels(n) AS label RETURN label, count(*) AS n"
    )
    rels = query(driver, database, "MATCH ()-[r]->() RETURN type(r) AS label, count(*) AS n")
    return {row["label"]: row["n"] for row in [*rows, *rels]}


def test_round_trip_rerun_and_incremental_update(
    tmp_path: Path, keyword_ner_model: Path, clean_db: Driver, neo4j_target: Neo4jTarget
) -> None:
    db = neo4j_target.database
    folder = write_docs(tmp_path / "docs", DOCS)
    config = settings(tmp_path, keyword_ner_model, neo4j_target)
    report = build([folder], config)
    assert report.neo4j is not None and "3 documents written" in report.neo4j

    first = counts(clean_db, db)
    assert first["Document"] == 3
    assert first["Mention"] == report.mentions == first["REFERS_TO"] == first["IN_CHUNK"]
    assert first["Entity"] == report.entities
    # exact facts, by Cypher: the entity, its documents, and provenance back to the sentence
    acme = query(
        clean_db,
        db,
        """
        MATCH (e:Entity:ORG {name: 'Acme Robotics'})<-[:REFERS_TO]-(m:Mention)-[:IN_CHUNK]->(c:Chunk)
              -[:PART_OF]->(d:Document)
        RETURN d.id AS doc, m.start AS start, m.end AS end, c.text AS sentence, c.start AS c_start
        ORDER BY doc, start""",
    )
    assert [row["doc"] for row in acme] == ["a.txt", "a.txt", "b.txt"]
    for row in acme:
        assert DOCS[row["doc"]][row["start"] : row["end"]] == "Acme Robotics"
        assert (
            row["sentence"]
            == DOCS[row["doc"]][row["c_start"] : row["c_start"] + len(row["sentence"])]
        )

    # identical re-run: nothing written, same graph
    again = build([folder], config)
    assert again.neo4j is not None and "0 documents written" in again.neo4j
    assert counts(clean_db, db) == first

    # change one document, delete another
    (folder / "b.txt").write_text("David Chen moved to Berlin.", encoding="utf-8")
    (folder / "c.txt").unlink()
    third = build([folder], config)
    assert third.neo4j is not None and "1 documents written, 1 removed" in third.neo4j
    names = {row["name"] for row in query(clean_db, db, "MATCH (e:Entity) RETURN e.name AS name")}
    assert "Omar Haddad" not in names and "Granite Capital" not in names
    assert "Northwind Logistics" not in names  # only the old b.txt mentioned it
    acme_docs = query(
        clean_db,
        db,
        """
        MATCH (:Entity {name: 'Acme Robotics'})<-[:REFERS_TO]-(m:Mention)
        RETURN collect(DISTINCT m.doc_id) AS docs""",
    )
    assert acme_docs == [{"docs": ["a.txt"]}]
    berlin = query(
        clean_db,
        db,
        """
        MATCH (:Entity {name: 'Berlin'})<-[:REFERS_TO]-(m:Mention)
        RETURN m.doc_id AS doc ORDER BY doc""",
    )
    assert [row["doc"] for row in berlin] == ["a.txt", "b.txt"]
    docs = query(clean_db, db, "MATCH (d:Document) RETURN d.id AS id ORDER BY id")
    assert [row["id"] for row in docs] == ["a.txt", "b.txt"]
    assert query(clean_db, db, "MATCH (e:Entity) WHERE NOT (e)<-[:REFERS_TO]-() RETURN e") == []


def test_a_document_that_cannot_be_read_any_more_leaves_neo4j_and_comes_back_mended(
    tmp_path: Path, keyword_ner_model: Path, clean_db: Driver, neo4j_target: Neo4jTarget
) -> None:
    db = neo4j_target.database
    folder = write_docs(tmp_path / "docs", DOCS)
    config = settings(tmp_path, keyword_ner_model, neo4j_target)
    build([folder], config)
    (folder / "c.txt").write_bytes(b"Omar Haddad works in Lisb\xf3n \xff\xfe\x00.")  # not UTF-8
    broken = build([folder], config)
    assert (broken.failed, broken.deleted) == (1, 0)  # failed, not "deleted"
    assert broken.neo4j is not None and "1 removed" in broken.neo4j
    docs = query(clean_db, db, "MATCH (d:Document) RETURN d.id AS id ORDER BY id")
    assert [row["id"] for row in docs] == ["a.txt", "b.txt"]
    names = {row["name"] for row in query(clean_db, db, "MATCH (e:Entity) RETURN e.name AS name")}
    assert "Omar Haddad" not in names
    write_docs(folder, {"c.txt": DOCS["c.txt"]})
    mended = build([folder], config)
    assert (mended.processed, mended.failed, mended.deleted) == (1, 0, 0)
    docs = query(clean_db, db, "MATCH (d:Document) RETURN d.id AS id ORDER BY id")
    assert [row["id"] for row in docs] == ["a.txt", "b.txt", "c.txt"]


def test_document_metadata_reaches_neo4j_and_the_graph_files_and_follows_changes(
    tmp_path: Path, keyword_ner_model: Path, clean_db: Driver, neo4j_target: Neo4jTarget
) -> None:
    import json

    db = neo4j_target.database
    folder = tmp_path / "docs"
    folder.mkdir()
    records = folder / "news.jsonl"

    def write(metadata: dict[str, str]) -> None:
        record = {"id": "n1", "text": DOCS["c.txt"], "metadata": metadata}
        records.write_text(json.dumps(record) + "\n", encoding="utf-8")

    def node() -> dict[str, Any]:
        (row,) = query(clean_db, db, "MATCH (d:Document {id: 'n1'}) RETURN properties(d) AS p")
        return dict(row["p"])

    def exported() -> dict[str, Any]:
        graph = json.loads((tmp_path / "out" / "graph.json").read_text(encoding="utf-8"))
        return next(n for n in graph["nodes"] if n.get("kind") == "document")

    config = settings(tmp_path, keyword_ner_model, neo4j_target)
    write({"date": "2024-01-01", "author": "Ana Lima"})
    build([folder], config)
    assert node()["meta_date"] == "2024-01-01" and node()["meta_author"] == "Ana Lima"
    assert exported()["meta_date"] == "2024-01-01"
    # only the metadata changes: nothing is re-extracted, the Document node is rewritten
    # and the removed entry leaves it
    write({"date": "2024-02-02"})
    report = build([folder], config)
    assert report.neo4j is not None and "1 documents written" in report.neo4j
    assert node()["meta_date"] == "2024-02-02" and "meta_author" not in node()
    assert exported()["meta_date"] == "2024-02-02" and "meta_author" not in exported()
    assert "0 documents written" in (build([folder], config).neo4j or "")


def test_rerun_rewrites_a_wiped_graph(
    tmp_path: Path, keyword_ner_model: Path, clean_db: Driver, neo4j_target: Neo4jTarget
) -> None:
    folder = write_docs(tmp_path / "docs", DOCS)
    config = settings(tmp_path, keyword_ner_model, neo4j_target)
    build([folder], config)
    before = counts(clean_db, neo4j_target.database)
    clean_db.execute_query("MATCH (n) DETACH DELETE n", database_=neo4j_target.database)
    report = build([folder], config)
    assert (
        report.processed == 0 and report.neo4j is not None and "3 documents written" in report.neo4j
    )
    assert counts(clean_db, neo4j_target.database) == before


def test_a_rerun_with_nothing_changed_neither_resolves_nor_writes_to_neo4j(
    tmp_path: Path, keyword_ner_model: Path, clean_db: Driver, neo4j_target: Neo4jTarget
) -> None:
    # it resolved every document and sent the whole graph to Neo4j again to be compared
    # there (2,000 documents: 5-11 s where a build without Neo4j keeps its files in 0.3 s)
    db = neo4j_target.database
    folder = write_docs(tmp_path / "docs", DOCS)
    config = settings(tmp_path, keyword_ner_model, neo4j_target)
    first = build([folder], config)
    before = snapshot(clean_db, db)
    again = build([folder], config)
    assert again.neo4j is not None and "nothing it is built from changed" in again.neo4j
    assert "0 documents written, 0 removed" in again.neo4j
    assert (again.entities, again.mentions) == (first.entities, first.mentions)
    assert snapshot(clean_db, db) == before
    # the same documents under other graph settings: resolved and written again
    wider = config.model_copy(
        update={"graph": config.graph.model_copy(update={"cooccurrence_window": 1})}
    )
    third = build([folder], wider)
    assert third.neo4j is not None and "nothing it is built from changed" not in third.neo4j
    files = json.loads(third.outputs["json"].read_text(encoding="utf-8"))
    pairs = sum(1 for edge in files["edges"] if edge["type"] == "CO_OCCURS")
    assert counts(clean_db, db)["CO_OCCURS"] == pairs


def test_label_not_in_the_schema_is_refused(
    tmp_path: Path, keyword_ner_model: Path, clean_db: Driver, neo4j_target: Neo4jTarget
) -> None:
    folder = write_docs(tmp_path / "docs", {"a.txt": DOCS["a.txt"]})
    config = settings(tmp_path, keyword_ner_model, neo4j_target)
    config = config.model_copy(
        update={"ner": config.ner.model_copy(update={"label_map": {"ORG": "COMPANY"}})}
    )
    with pytest.raises(KGBuildError, match="COMPANY"):
        build([folder], config)
    assert counts(clean_db, neo4j_target.database).get("Mention", 0) == 0


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[LocalNeo4j]:
    server = LocalNeo4j(tmp_path / "neo4j", port=free_port(), jvm_options=FAST_START_JVM_OPTIONS)
    server.start(timeout=300)
    try:
        yield server
    finally:
        server.stop()


def test_server_down_gives_a_clear_error_and_the_rerun_completes(
    tmp_path: Path, keyword_ner_model: Path, own_server: LocalNeo4j
) -> None:
    target = Neo4jTarget(own_server.uri, own_server.auth, "neo4j")
    folder = write_docs(tmp_path / "docs", DOCS)
    config = settings(tmp_path, keyword_ner_model, target)
    own_server.stop()
    with pytest.raises(Neo4jUnavailableError, match="unavailable"):
        build([folder], config)
    # the extraction results were kept; the files were written; Neo4j gets everything next time
    assert (tmp_path / "out" / "graph.json").exists()
    own_server.start(timeout=300)
    report = build([folder], config)
    assert (
        report.processed == 0 and report.neo4j is not None and "3 documents written" in report.neo4j
    )
    with own_server_driver(own_server) as driver:
        mentions = query(driver, "neo4j", "MATCH (m:Mention) RETURN m.id AS id")
        assert len(mentions) == len({row["id"] for row in mentions}) == report.mentions
        assert query(driver, "neo4j", "MATCH (d:Document) RETURN count(d) AS n") == [{"n": 3}]


def own_server_driver(server: LocalNeo4j) -> Any:
    from neo4j import GraphDatabase

    return GraphDatabase.driver(server.uri, auth=server.auth)


def test_cli_build_and_cypher(
    tmp_path: Path,
    keyword_ner_model: Path,
    clean_db: Driver,
    neo4j_target: Neo4jTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if neo4j_target.auth:
        monkeypatch.setenv("NEO4J_USER", neo4j_target.auth[0])
        monkeypatch.setenv("NEO4J_PASSWORD", neo4j_target.auth[1])
    monkeypatch.setenv("NEO4J_DATABASE", neo4j_target.database)
    folder = write_docs(tmp_path / "docs", DOCS)
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "build",
            str(folder),
            "--out",
            str(tmp_path / "out"),
            "--model",
            str(keyword_ner_model),
            "--neo4j",
            neo4j_target.uri,
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "3 documents written" in result.output
    result = runner.invoke(
        app,
        [
            "cypher",
            "MATCH (e:Entity {name: $name}) RETURN e.name AS name, labels(e) AS labels",
            "--param",
            "name=Acme Robotics",
            "--neo4j",
            neo4j_target.uri,
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        "Acme Robotics" in result.output
        and '["Entity", "ORG"]' in result.output
        and "(1 row)" in result.output
    )
    result = runner.invoke(app, ["cypher", "CREATE (x:Hack) RETURN x", "--neo4j", neo4j_target.uri])
    assert result.exit_code == 2
    assert "query refused" in result.output
    assert counts(clean_db, neo4j_target.database).get("Hack", 0) == 0


def test_relations_reach_the_graph_files_and_neo4j_with_evidence(
    tmp_path: Path,
    keyword_ner_model: Path,
    keyword_re_model: Path,
    clean_db: Driver,
    neo4j_target: Neo4jTarget,
) -> None:
    import json

    from kgbuild.config import ReConfig

    docs = {
        "a.txt": "Maria Gonzalez works for Acme Robotics in Berlin .",
        "b.txt": "Toronto : David Chen of Northwind Logistics said .",
    }
    folder = write_docs(tmp_path / "docs", docs)
    config = settings(tmp_path, keyword_ner_model, neo4j_target).model_copy(
        update={
            "relations": ReConfig(enabled=True, model=str(keyword_re_model), threshold=0.0),
            "schema_path": Path("business"),  # the sentence-level model's relation types
        }
    )
    report = build([folder], config)
    assert report.relations > 0
    data = json.loads(report.outputs["json"].read_text(encoding="utf-8"))
    names = {n["id"]: n.get("name") for n in data["nodes"]}
    found = {
        (names[e["source"]], e["type"], names[e["target"]])
        for e in data["edges"]
        if e["type"] not in {"MENTIONED_IN", "CO_OCCURS"}
    }
    assert ("Maria Gonzalez", "WORKS_FOR", "Acme Robotics") in found
    edge = next(e for e in data["edges"] if e["type"] == "WORKS_FOR")
    evidence = edge["provenance"][0]
    assert docs[evidence["doc_id"]][evidence["start"] : evidence["end"]] == evidence["text"]

    db = neo4j_target.database
    rows = query(
        clean_db,
        db,
        """
        MATCH (h:Entity)-[r:WORKS_FOR]->(t:Entity)
        RETURN h.name AS head, t.name AS tail, r.evidence AS evidence, r.evidence_doc_ids AS docs""",
    )
    assert {
        "head": "Maria Gonzalez",
        "tail": "Acme Robotics",
        "evidence": [docs["a.txt"]],
        "docs": ["a.txt"],
    } in rows
    before = counts(clean_db, db)
    build([folder], config)
    assert counts(clean_db, db) == before  # identical re-run
    (folder / "a.txt").unlink()
    build([folder], config)
    rows = query(
        clean_db, db, "MATCH (h:Entity {name: 'Maria Gonzalez'})-[r]->() RETURN type(r) AS t"
    )
    assert rows == []


# -- rewrites that readers never see incomplete -------------------------------------------------


def snapshot(driver: Driver, database: str) -> list[str]:
    """The whole graph, without what differs between equal builds (run ids, write hashes,
    the version token of ``GraphState``)."""

    def clean(props: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in sorted(props.items()) if k not in {"run_id", "write_hash"}}

    nodes = query(
        driver,
        database,
        "MATCH (n) WHERE NOT n:GraphState RETURN labels(n) AS labels, properties(n) AS p",
    )
    rels = query(
        driver,
        database,
        "MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS t, b.id AS b, properties(r) AS p",
    )
    return sorted(
        [repr((sorted(n["labels"]), clean(n["p"]))) for n in nodes]
        + [repr((r["a"], r["t"], r["b"], clean(r["p"]))) for r in rels]
    )


def persist_stored(config: Settings, run_id: str, progress: Any) -> Any:
    """Persist what the ledger holds (as a build's last step does), reporting to ``progress``."""
    from kgbuild.pipeline import assemble, persist_graph
    from kgbuild.store.sql.orm import make_engine

    engine = make_engine(config.resolved_ledger_url())
    try:
        return persist_graph(config, engine, run_id, assemble(config, engine), progress=progress)
    finally:
        engine.dispose()


class _Crash(Exception):
    """Stands for the process dying in the middle of a Neo4j write."""


def test_an_interrupted_first_write_is_completed_without_emptying_the_graph(
    tmp_path: Path, keyword_ner_model: Path, clean_db: Driver, neo4j_target: Neo4jTarget
) -> None:
    db = neo4j_target.database
    folder = write_docs(tmp_path / "docs", DOCS)
    config = settings(tmp_path, keyword_ner_model, neo4j_target)
    config = config.model_copy(update={"neo4j": config.neo4j.model_copy(update={"batch_size": 2})})
    build([folder], config.model_copy(update={"neo4j": Neo4jConfig()}))  # extraction only
    # the complete graph of these results, written in one go
    persist_stored(config, "run-clean", None)
    complete, expected = counts(clean_db, db), snapshot(clean_db, db)
    clean_db.execute_query("MATCH (n) DETACH DELETE n", database_=db)  # its nodes are missing now

    def crash_in_mentions(kind: str, done: int, total: int) -> None:
        if kind == "mentions":
            raise _Crash

    with pytest.raises(_Crash):
        persist_stored(config, "run-crash", crash_in_mentions)
    partial = counts(clean_db, db)
    assert partial["Mention"] == 2 < complete["Mention"]  # one batch of mentions committed
    assert partial["Entity"] == complete["Entity"]

    # the next run, watched from a second driver after every batch and at the clean-up
    seen: list[tuple[str, dict[str, int]]] = []
    with open_driver(neo4j_target.uri, neo4j_target.auth) as reader:

        def watch(kind: str, done: int, total: int) -> None:
            seen.append((kind, counts(reader, db)))

        report = persist_stored(config, "run-recover", watch)
    assert report.written == 3
    kinds = [kind for kind, _ in seen]
    assert "mentions" in kinds and "cleanup" in kinds
    for kind, now in seen:
        for label in ("Document", "Chunk", "Entity"):
            assert now.get(label, 0) >= complete[label], (kind, label, now)
        assert now.get("Mention", 0) >= partial["Mention"], (kind, now)
    assert counts(clean_db, db) == complete
    assert snapshot(clean_db, db) == expected  # as a clean build: nothing doubled, nothing lost


def test_a_changed_document_keeps_its_old_contribution_until_the_new_one_is_written(
    tmp_path: Path, keyword_ner_model: Path, clean_db: Driver, neo4j_target: Neo4jTarget
) -> None:
    db = neo4j_target.database
    folder = write_docs(tmp_path / "docs", DOCS)
    config = settings(tmp_path, keyword_ner_model, neo4j_target)
    build([folder], config)

    def names() -> set[str]:
        return {r["n"] for r in query(clean_db, db, "MATCH (e:Entity) RETURN e.name AS n")}

    old_names = names()
    (folder / "b.txt").write_text("David Chen moved to Berlin.", encoding="utf-8")
    (folder / "c.txt").unlink()
    build([folder], config.model_copy(update={"neo4j": Neo4jConfig()}))  # extraction only

    at_cleanup: list[set[str]] = []
    docs_at_cleanup: list[int] = []

    def watch(kind: str, done: int, total: int) -> None:
        if kind == "cleanup":
            at_cleanup.append(names())
            docs_at_cleanup.append(counts(clean_db, db)["Document"])

    report = persist_stored(config, "run-2", watch)
    assert (report.written, report.removed) == (1, 1)
    assert at_cleanup and at_cleanup[0] >= old_names  # old and new side by side
    assert docs_at_cleanup == [3]  # the deleted document too, until the clean-up
    final = names()
    assert {"Northwind Logistics", "Omar Haddad", "Granite Capital"}.isdisjoint(final)
    assert "Berlin" in final
    after = snapshot(clean_db, db)

    # the same results written into an empty database give the same graph
    clean_db.execute_query("MATCH (n) DETACH DELETE n", database_=db)
    assert persist_stored(config, "run-fresh", None).written == 2
    assert after == snapshot(clean_db, db)


def test_a_record_moved_to_another_file_keeps_its_node_with_the_new_source(
    tmp_path: Path, keyword_ner_model: Path, clean_db: Driver, neo4j_target: Neo4jTarget
) -> None:
    import json

    folder = tmp_path / "docs"
    folder.mkdir()
    record = json.dumps({"id": "n1", "text": DOCS["c.txt"]}) + "\n"
    (folder / "inbox.jsonl").write_text(record, encoding="utf-8")
    config = settings(tmp_path, keyword_ner_model, neo4j_target)
    build([folder], config)

    def source() -> str:
        (row,) = query(
            clean_db, neo4j_target.database, "MATCH (d:Document {id: 'n1'}) RETURN d.source AS s"
        )
        return str(row["s"])

    assert "inbox.jsonl" in source()
    (folder / "inbox.jsonl").unlink()
    (folder / "archive.jsonl").write_text(record, encoding="utf-8")
    report = build([folder], config)
    # the same text is not written again, and its node no longer names a file that is gone
    assert report.neo4j is not None and "0 documents written" in report.neo4j
    assert "archive.jsonl" in source() and "inbox.jsonl" not in source()
