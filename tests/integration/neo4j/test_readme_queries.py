"""Every query of docs/graph-model.md's "Ten useful queries" runs on a built graph with sensible results.

The queries are read from the page itself, so the documented text is what is tested.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from neo4j import Driver

from kgbuild.config import Neo4jConfig, NerConfig, ReConfig, Settings
from kgbuild.pipeline import build
from tests.documents import make_pdf

from .conftest import Neo4jTarget

GRAPH_MODEL = Path(__file__).resolve().parents[3] / "docs" / "graph-model.md"

DOCS = {
    "a.txt": "Maria Gonzalez works for Acme Robotics in Berlin . "
    "Acme Robotics later opened an office in Toronto .",
    "b.txt": "David Chen works for Helix in Nairobi . David Chen met MARIA GONZALEZ in Lisbon .",
}
PDF_PAGES = [
    ["Omar Haddad works for Granite Capital in Toronto ."],
    ["Omar Haddad visited Helix ."],
]


def readme_queries() -> dict[int, str]:
    """The numbered queries of the cypher block under "Ten useful queries"."""
    text = GRAPH_MODEL.read_text(encoding="utf-8")
    section = text[text.index("## Ten useful queries") :]
    block = section[section.index("```cypher") + len("```cypher") : section.index("```\n", 20)]
    parts = re.split(r"^// (\d+)\. .*$", block, flags=re.MULTILINE)
    return {
        int(number): body.strip() for number, body in zip(parts[1::2], parts[2::2], strict=True)
    }


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory,
    keyword_ner_model: Path,
    keyword_re_model: Path,
    neo4j_target: Neo4jTarget,
    neo4j_driver: Driver,
) -> dict[str, str]:
    from .conftest import wipe

    wipe(neo4j_driver, neo4j_target.database)
    root = tmp_path_factory.mktemp("readme-queries")
    docs = root / "docs"
    docs.mkdir()
    texts = dict(DOCS)
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    (docs / "report.pdf").write_bytes(make_pdf(PDF_PAGES))
    auth = neo4j_target.auth
    settings = Settings(
        out_dir=root / "out",
        ner=NerConfig(model=str(keyword_ner_model)),
        relations=ReConfig(enabled=True, model=str(keyword_re_model), threshold=0.0),
        schema_path=Path("business"),
        neo4j=Neo4jConfig(
            uri=neo4j_target.uri,
            user=auth[0] if auth else "neo4j",
            password=auth[1] if auth else None,
            database=neo4j_target.database,
        ),
    )
    report = build([str(docs)], settings, progress=False)
    assert report.neo4j is not None and not report.failures
    return texts


def run(driver: Driver, database: str, query: str, **params: Any) -> list[dict[str, Any]]:
    records, _, _ = driver.execute_query(query, params, database_=database, routing_="r")
    return [r.data() for r in records]


def test_the_readme_has_ten_queries() -> None:
    assert sorted(readme_queries()) == list(range(1, 11))


def test_every_readme_query_answers_sensibly(
    built: dict[str, str], neo4j_driver: Driver, neo4j_target: Neo4jTarget
) -> None:
    queries = readme_queries()
    db = neo4j_target.database

    def ask(number: int, **params: Any) -> list[dict[str, Any]]:
        rows = run(neo4j_driver, db, queries[number], **params)
        assert rows, f"docs/graph-model.md query {number} returned nothing"
        return rows

    # Maria Gonzalez is one entity named in two spellings; either may be its name
    (found,) = run(
        neo4j_driver,
        db,
        "MATCH (e:Entity) WHERE 'Maria Gonzalez' IN [e.name] + e.aliases RETURN e.name AS name",
    )
    maria = found["name"]

    # 1. neighbours: the entities named with Maria Gonzalez, counted per sentence
    neighbours = {r["neighbour"]: r for r in ask(1, name=maria)}
    assert {"Acme Robotics", "Berlin", "David Chen", "Lisbon"} <= set(neighbours)
    assert neighbours["Acme Robotics"]["sentences"] == 1
    assert neighbours["David Chen"]["documents"] == ["b.txt"]

    # 2. paths: one or two hops between entities, never through mentions or documents
    (direct,) = ask(2, name=maria, other="Acme Robotics")
    assert direct["hops"] == 1 and direct["entities"] == [maria, "Acme Robotics"]
    (two,) = ask(2, name=maria, other="Nairobi")
    assert two["hops"] == 2 and two["entities"][1] == "David Chen"
    assert "CO_OCCURS" in two["via"]
    (far,) = ask(2, name="Omar Haddad", other=maria)
    assert 2 <= far["hops"] <= 4  # Omar -> Toronto -> Acme Robotics -> Maria

    # 3. documents of an entity with its mention counts
    docs = {r["document"]: r["mentions"] for r in ask(3, name=maria)}
    assert docs == {"a.txt": 1, "b.txt": 1}
    assert {r["document"]: r["mentions"] for r in ask(3, name="Omar Haddad")} == {"report.pdf": 2}

    # 4. provenance: offsets slice the document, the PDF mention knows its page
    for row in ask(4, name=maria):
        assert built[row["document"]][row["start"] : row["end"]] == row["text"]
        assert row["text"] in row["sentence"] and row["page"] is None
    pages = sorted(r["page"] for r in ask(4, name="Omar Haddad"))
    assert pages == [1, 2]

    # 5. relation evidence with the head's and the tail's mentions, joined by id
    evidence = ask(5)
    for row in evidence:
        assert row["head_text"] and row["tail_text"], row
        assert row["head_text"] in row["sentence"] and row["tail_text"] in row["sentence"]
        if row["document"] in built:
            text = built[row["document"]]
            assert text[row["head_start"] :].startswith(row["head_text"])
            assert text[row["tail_start"] :].startswith(row["tail_text"])

    # 6. entities in the most documents
    top = ask(6)[0]
    assert top["documents"] >= 2 and top["mentions"] >= top["documents"]

    # 7. Maria Gonzalez is merged from two spellings
    merged = {r["entity"]: r["merged_forms"] for r in ask(7)}
    assert {"Maria Gonzalez", "MARIA GONZALEZ"} <= set(merged[maria])

    # 8. the last run wrote every document
    assert {r["document"] for r in ask(8)} == {"a.txt", "b.txt", "report.pdf"}

    # 9. least confident mentions first
    scores = [r["score"] for r in ask(9, below=1.01)]
    assert scores == sorted(scores)

    # 10. the sentences of the PDF, in order, with their pages and entities
    sentences = ask(10, doc="report.pdf")
    assert [r["n"] for r in sentences] == list(range(len(sentences)))
    assert [r["page"] for r in sentences] == [1, 2]
    assert "Omar Haddad" in sentences[0]["entities"]
