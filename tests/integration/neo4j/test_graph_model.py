"""CO_OCCURS, IN_DOCUMENT and relation evidence mentions in Neo4j: equal to the graph files,
unchanged by a re-run, recomputed (not incremented) when documents change or go."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from neo4j import Driver

from kgbuild.config import Neo4jConfig, NerConfig, ReConfig, Settings
from kgbuild.pipeline import build

from .conftest import Neo4jTarget, wipe

DOCS = {
    "a.txt": "Maria Gonzalez works for Acme Robotics in Berlin . "
    "Acme Robotics later opened an office in Toronto .",
    "b.txt": "David Chen works for Helix in Nairobi . David Chen met Maria Gonzalez in Berlin .",
    "c.txt": "Omar Haddad works for Acme Robotics in Toronto .",
}


def settings(root: Path, model: Path, re_model: Path, target: Neo4jTarget) -> Settings:
    auth = target.auth
    return Settings(
        out_dir=root / "out",
        ner=NerConfig(model=str(model)),
        relations=ReConfig(enabled=True, model=str(re_model), threshold=0.0),
        schema_path=Path("business"),
        neo4j=Neo4jConfig(
            uri=target.uri,
            user=auth[0] if auth else "neo4j",
            password=auth[1] if auth else None,
            database=target.database,
        ),
    )


def read(driver: Driver, database: str, query: str) -> list[dict[str, Any]]:
    records, _, _ = driver.execute_query(query, database_=database)
    return [r.data() for r in records]


def derived_in_neo4j(driver: Driver, database: str) -> dict[str, Any]:
    cooc = read(
        driver,
        database,
        "MATCH (a)-[x:CO_OCCURS]->(b) RETURN x.id AS id, a.id AS a, b.id AS b, "
        "x.count AS count, x.docs AS docs",
    )
    links = read(
        driver,
        database,
        "MATCH (e)-[x:IN_DOCUMENT]->(d) RETURN e.id AS e, d.id AS d, x.count AS count",
    )
    return {
        "co_occurs": {r["id"]: (r["a"], r["b"], r["count"], r["docs"]) for r in cooc},
        "in_document": {(r["e"], r["d"]): r["count"] for r in links},
    }


def derived_in_files(out: Path) -> dict[str, Any]:
    data = json.loads((out / "graph.json").read_text(encoding="utf-8"))
    edges = data["edges"]
    return {
        "co_occurs": {
            e["key"]: (e["source"], e["target"], e["count"], e["docs"])
            for e in edges
            if e["type"] == "CO_OCCURS"
        },
        "in_document": {
            (e["source"], e["target"].removeprefix("doc:")): e["count"]
            for e in edges
            if e["type"] == "MENTIONED_IN"
        },
    }


def names(driver: Driver, database: str) -> dict[str, str]:
    return {
        r["id"]: r["name"]
        for r in read(driver, database, "MATCH (e:Entity) RETURN e.id AS id, e.name AS name")
    }


def test_derived_edges_match_the_files_and_follow_changed_and_deleted_documents(
    tmp_path: Path,
    keyword_ner_model: Path,
    keyword_re_model: Path,
    clean_db: Driver,
    neo4j_target: Neo4jTarget,
) -> None:
    db = neo4j_target.database
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    config = settings(tmp_path, keyword_ner_model, keyword_re_model, neo4j_target)
    build([str(docs)], config, progress=False)
    first = derived_in_neo4j(clean_db, db)
    assert first == derived_in_files(config.out_dir)
    current = names(clean_db, db)
    named = {
        frozenset((current[a], current[b])): (count, found)
        for a, b, count, found in first["co_occurs"].values()
    }
    assert named[frozenset(("Maria Gonzalez", "David Chen"))] == (1, ["b.txt"])
    assert named[frozenset(("Maria Gonzalez", "Berlin"))] == (2, ["a.txt", "b.txt"])
    assert all(a < b for a, b, _, _ in first["co_occurs"].values())

    # a re-run changes nothing
    build([str(docs)], config, progress=False)
    assert derived_in_neo4j(clean_db, db) == first

    # b.txt loses the sentence naming Maria with David; c.txt goes; d.txt comes
    (docs / "b.txt").write_text("David Chen works for Helix in Nairobi .", encoding="utf-8")
    (docs / "c.txt").unlink()
    (docs / "d.txt").write_text("Maria Gonzalez met Omar Haddad in Lisbon .", encoding="utf-8")
    build([str(docs)], config, progress=False)
    after = derived_in_neo4j(clean_db, db)
    assert after == derived_in_files(config.out_dir)
    assert after != first
    current = names(clean_db, db)
    pairs = {frozenset((current[a], current[b])) for a, b, _, _ in after["co_occurs"].values()}
    assert frozenset(("Maria Gonzalez", "David Chen")) not in pairs
    assert frozenset(("Maria Gonzalez", "Omar Haddad")) in pairs
    assert not any(d == "c.txt" for _, d in after["in_document"])

    # the same documents built from scratch give the same edges
    wipe(clean_db, db)
    fresh = tmp_path / "fresh"
    shutil.copytree(docs, fresh / "docs")
    build(
        [str(fresh / "docs")],
        settings(fresh, keyword_ner_model, keyword_re_model, neo4j_target),
        progress=False,
    )
    assert derived_in_neo4j(clean_db, db) == after


def test_relation_evidence_names_its_mentions_with_their_offsets(
    tmp_path: Path,
    keyword_ner_model: Path,
    keyword_re_model: Path,
    clean_db: Driver,
    neo4j_target: Neo4jTarget,
) -> None:
    db = neo4j_target.database
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    config = settings(tmp_path, keyword_ner_model, keyword_re_model, neo4j_target)
    report = build([str(docs)], config, progress=False)
    assert report.relations > 0
    rows = read(
        clean_db,
        db,
        """
        MATCH (h:Entity)-[r]->(t:Entity) WHERE r.evidence IS NOT NULL
        UNWIND range(0, size(r.evidence) - 1) AS i
        MATCH (hm:Mention {id: r.evidence_head_mentions[i]})-[:REFERS_TO]->(h)
        MATCH (tm:Mention {id: r.evidence_tail_mentions[i]})-[:REFERS_TO]->(t)
        RETURN r.evidence_doc_ids[i] AS doc, r.evidence_starts[i] AS start, r.evidence[i] AS text,
               hm.doc_id AS hdoc, hm.start AS hs, hm.end AS he, tm.start AS ts, tm.end AS te,
               r.evidence_head_starts[i] AS ehs, r.evidence_head_ends[i] AS ehe,
               r.evidence_tail_starts[i] AS ets, r.evidence_tail_ends[i] AS ete
        """,
    )
    total = read(
        clean_db,
        db,
        "MATCH (:Entity)-[r]->(:Entity) WHERE r.evidence IS NOT NULL "
        "RETURN sum(size(r.evidence)) AS n",
    )[0]["n"]
    assert rows and len(rows) == total  # every evidence entry joins both of its mentions
    for row in rows:
        assert row["hdoc"] == row["doc"]
        assert (row["ehs"], row["ehe"], row["ets"], row["ete"]) == (
            row["hs"],
            row["he"],
            row["ts"],
            row["te"],
        )
        text = DOCS[row["doc"]]
        assert row["start"] <= row["hs"] < row["he"] <= row["start"] + len(row["text"])
        assert text[row["ts"] : row["te"]] in row["text"]
    # the graph files carry the same offsets
    data = json.loads((config.out_dir / "graph.json").read_text(encoding="utf-8"))
    evidence = [
        p
        for e in data["edges"]
        if e["type"] not in {"MENTIONED_IN", "CO_OCCURS"}
        for p in e["provenance"]
    ]
    assert evidence and all("head_mention" in p and p["head_start"] >= p["start"] for p in evidence)
    assert {(p["head_start"], p["tail_start"]) for p in evidence} == {
        (r["hs"], r["ts"]) for r in rows
    }
