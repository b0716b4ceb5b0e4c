"""The explorer: type-ahead, entity pages, neighbourhoods and the overview, served and static.

The graph is a small invented one (tests/explorer_data.py) built by the project's own graph
builder; the served explorer runs under a real uvicorn server. The pages are driven in
Debian's headless chromium by tests/integration/browser/test_explorer_browser.py.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import networkx as nx
import pytest
from pydantic import SecretStr

from kgbuild.config import ServeConfig
from kgbuild.explorer.models import document_title
from kgbuild.explorer.service import Explorer
from kgbuild.explorer.static import static_bundle
from kgbuild.graph.export import write_html
from kgbuild.qa import GraphQA
from kgbuild.qa.embedded import EmbeddedGraph
from tests.explorer_data import (
    ENTITIES,
    MERGES,
    SmallGraph,
    chain_graph,
    crowd_graph,
    small_graph,
)
from tests.http_server import running


@pytest.fixture(scope="module")
def small() -> SmallGraph:
    return small_graph()


@pytest.fixture(scope="module")
def store(small: SmallGraph, tmp_path_factory: pytest.TempPathFactory) -> EmbeddedGraph:
    path = small.write_json(tmp_path_factory.mktemp("explorer") / "graph.json", merges=True)
    return EmbeddedGraph(path)


@pytest.fixture(scope="module")
def explorer(store: EmbeddedGraph) -> Explorer:
    return Explorer(store)


def names(explorer: Explorer, text: str) -> list[str]:
    return [s.name for s in explorer.suggest(text).results]


# -- titles, type-ahead -----------------------------------------------------------------------


def test_a_document_is_titled_by_its_metadata_else_its_file_name_else_its_id() -> None:
    assert document_title("rec-1", "/data/news.jsonl:1", "Quillon opens") == "Quillon opens"
    assert document_title("notes/harbor.txt", "/data/notes/harbor.txt") == "harbor.txt"
    assert document_title("a", "C:\\corpus\\a.md", "  ") == "a.md"
    assert document_title("rec-2", "/data/news.jsonl:2") == "rec-2"
    assert document_title("x") == "x"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("quillon", "Quillon Robotics"),
        ("QUILLON ROB", "Quillon Robotics"),  # case, two words
        ("rob", "Quillon Robotics"),  # a later word of the name
        ("marta", "Márta Velasquez"),  # accents folded
        ("velásq", "Márta Velasquez"),
        ("harborline", "Harborline Freight"),
        ("freig", "Harborline Freight"),
    ],
)
def test_type_ahead_finds_names_and_aliases_from_word_prefixes(
    explorer: Explorer, typed: str, expected: str
) -> None:
    assert names(explorer, typed)[0] == expected


def test_type_ahead_puts_names_that_start_with_the_text_first_then_the_most_related(
    explorer: Explorer,
) -> None:
    # both start with "quil": Quillon Robotics has three relations, Quill Capital none
    assert names(explorer, "quil") == ["Quillon Robotics", "Quill Capital"]
    found = explorer.suggest("quillon").results[0]
    assert (found.matched, found.degree, found.label) == ("Quillon Robotics", 3, "ORG")
    for nothing in ("", "   ", "zzz", "quillon zzz", "<script>"):
        assert names(explorer, nothing) == []


# -- entity page -------------------------------------------------------------------------------


def test_the_entity_page_has_titles_relations_and_attributes_with_highlighted_evidence(
    small: SmallGraph, explorer: Explorer
) -> None:
    page = explorer.entity_page(small.ids["quillon"])
    assert page is not None
    assert (page.entity.name, page.entity.label, page.entity.mention_count) == (
        "Quillon Robotics",
        "ORG",
        3,
    )
    assert page.entity.aliases == ("Quillon",)
    titles = {d.id: (d.title, d.mentions) for d in page.documents}
    assert titles == {
        "rec-1": ("Quillon opens a Lisbon office", 2),
        "notes/harbor.txt": ("harbor.txt", 1),
    }
    relations = {(r.type, r.outgoing, r.other.name) for r in page.relations}
    assert relations == {
        ("WORKS_FOR", False, "Márta Velasquez"),
        ("WORKS_FOR", False, "Tobin Achebe"),
        ("HEADQUARTERED_IN", True, "Lisbon"),
    }
    for relation in page.relations:
        (evidence,) = relation.evidence
        assert evidence.title in {"Quillon opens a Lisbon office", "harbor.txt"}
        marked = {m.role: evidence.text[m.start : m.end] for m in evidence.marks}
        # the head and tail are highlighted where the mentions are (surface forms)
        ours = "Quillon Robotics"
        other = "Lisbon" if relation.outgoing else relation.other.name.replace("á", "a")
        assert marked == (
            {"head": ours, "tail": other} if relation.outgoing else {"head": other, "tail": ours}
        )
    (attribute,) = page.attributes
    (evidence,) = attribute.evidence
    marked = {m.role: evidence.text[m.start : m.end] for m in evidence.marks}
    assert (attribute.key, attribute.value) == ("office_opened", "2019")
    assert marked == {"entity": "Quillon", "value": "2019"}


def test_merges_show_their_reasons_when_the_graph_records_them(
    small: SmallGraph, explorer: Explorer, tmp_path: Path
) -> None:
    page = explorer.entity_page(small.ids["quillon"])
    assert page is not None
    (merge,) = page.merges
    expected = MERGES[0]
    assert (merge.rule, merge.score, merge.source, merge.target) == (
        expected["rule"],
        expected["score"],
        expected["source"],
        expected["target"],
    )
    assert [d.title for d in merge.documents] == ["Quillon opens a Lisbon office"]
    # a graph without merge records (today's builds): no merges, nothing breaks
    plain = Explorer(EmbeddedGraph(small.write_json(tmp_path / "graph.json")))
    page = plain.entity_page(small.ids["quillon"])
    assert page is not None and page.merges == ()
    # Neo4j keeps them as JSON text; unknown fields are shown as they are
    odd = {**expected, "context_score": 0.8}
    store = EmbeddedGraph.from_node_link(small.node_link())
    store._nodes[small.ids["quillon"]]["merges"] = json.dumps([odd])
    (merge,) = Explorer(store).entity_page(small.ids["quillon"]).merges  # type: ignore[union-attr]
    assert merge.rule == "short_form" and merge.other == {"context_score": "0.8"}


def test_an_unreadable_merge_record_is_shown_shortened_with_an_ellipsis(
    small: SmallGraph,
) -> None:
    store = EmbeddedGraph.from_node_link(small.node_link())
    quillon = small.ids["quillon"]
    for written, shown in (("not json", "not json"), ("x" * 300, "x" * 199 + "\u2026")):
        store._nodes[quillon]["merges"] = written
        (merge,) = Explorer(store).entity_page(quillon).merges  # type: ignore[union-attr]
        assert merge.rule == "unreadable merge record" and merge.other == {"other": shown}


def test_co_occurs_edges_are_not_listed_as_relations(small: SmallGraph) -> None:
    explorer = Explorer(EmbeddedGraph.from_node_link(small.node_link(co_occurs=True)))
    page = explorer.entity_page(small.ids["quillon"])
    assert page is not None
    assert {r.type for r in page.relations} == {"WORKS_FOR", "HEADQUARTERED_IN"}
    assert page.entity.degree == 3 and page.relations_total == 3


# -- neighbourhood and overview ----------------------------------------------------------------


def test_an_entity_without_relations_has_its_co_mentions_as_neighbours(
    small: SmallGraph, explorer: Explorer
) -> None:
    ines = small.ids["ines"]
    page = explorer.entity_page(ines)
    assert page is not None and page.relations == ()
    assert {c.entity.name: c.sentences for c in page.co_mentions} == {
        "Harborline Freight": 1,
        "Ostrava": 1,
        "Quill Capital": 1,
    }
    hood = explorer.neighbourhood(ines)
    assert hood is not None and hood.center == ines
    assert len(hood.nodes) == 4 and hood.nodes[0].id == ines
    assert {e.kind for e in hood.edges} == {"co-mention"}
    assert all(ines in (e.source, e.target) for e in hood.edges)


def test_an_entity_page_says_how_many_co_mentioned_entities_it_leaves_out(
    small: SmallGraph, explorer: Explorer
) -> None:
    graph = crowd_graph(25)  # each mentioned with the 24 others
    crowd = Explorer(EmbeddedGraph.from_node_link(nx.node_link_data(graph, edges="edges")))
    first = next(i for i, d in graph.nodes(data=True) if d.get("name") == "Orvel 0")
    page = crowd.entity_page(first)
    assert page is not None
    assert len(page.co_mentions) == 20 and page.co_mentions_total == 24
    # the JSON the static page reads (the served route sends the same model)
    assert static_bundle(graph)["pages"][first]["co_mentions_total"] == 24
    # all listed: the total is the list's length
    ines = explorer.entity_page(small.ids["ines"])
    assert ines is not None and ines.co_mentions_total == len(ines.co_mentions) == 3


def test_a_neighbourhood_puts_relations_first_and_says_what_it_left_out(
    small: SmallGraph, explorer: Explorer
) -> None:
    quillon = small.ids["quillon"]
    hood = explorer.neighbourhood(quillon)
    assert hood is not None
    relations = [e for e in hood.edges if e.kind == "relation"]
    assert len(relations) == 3
    # Quillon shares its sentences only with entities it is related to: no co-mention left
    assert [e for e in hood.edges if e.kind == "co-mention"] == []
    small_view = explorer.neighbourhood(quillon, limit=1)
    assert small_view is not None
    assert len(small_view.nodes) == 2 and small_view.more == 2
    assert explorer.neighbourhood("no-such-entity") is None
    assert explorer.entity_page("no-such-entity") is None


def test_the_overview_is_the_most_related_entities_and_the_edges_among_them(
    small: SmallGraph, store: EmbeddedGraph
) -> None:
    view = Explorer(store).overview(limit=3)
    assert view.nodes[0].name == "Quillon Robotics"
    degrees = [n.degree for n in view.nodes]
    assert degrees == sorted(degrees, reverse=True)
    shown = {n.id for n in view.nodes}
    assert view.edges and all({e.source, e.target} <= shown for e in view.edges)
    assert view.total_entities == len(ENTITIES) and view.more == len(ENTITIES) - 3


# -- served ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def qa(store: EmbeddedGraph, keyword_qa_model: Path) -> Iterator[GraphQA]:
    with GraphQA(store, qa_model=str(keyword_qa_model), ner_model=None, encoder=None) as graph_qa:
        yield graph_qa


@pytest.fixture(scope="module")
def server(qa: GraphQA) -> Iterator[str]:
    from kgbuild.qa.api import create_app

    with running(create_app(qa)) as url:
        yield url


def test_the_endpoints_answer_type_ahead_entity_pages_and_neighbourhoods(
    server: str, small: SmallGraph
) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        found = client.get("/explorer/search", params={"q": "quil"}).json()
        assert [r["name"] for r in found["results"]] == ["Quillon Robotics", "Quill Capital"]
        page = client.get("/explorer/entity", params={"id": small.ids["quillon"]}).json()
        assert page["entity"]["name"] == "Quillon Robotics" and len(page["relations"]) == 3
        hood = client.get("/explorer/neighbourhood", params={"id": small.ids["ines"]}).json()
        assert len(hood["nodes"]) == 4 and hood["center"] == small.ids["ines"]
        overview = client.get("/explorer/overview", params={"limit": 3}).json()
        assert len(overview["nodes"]) == 3 and overview["total_entities"] == len(ENTITIES)
        assert client.get("/explorer/entity", params={"id": "nope"}).status_code == 404
        assert client.get("/explorer/neighbourhood", params={"id": "nope"}).status_code == 404
        refused = client.get("/explorer/search", params={"q": "x" * 201})
        assert refused.status_code == 422 and "x" * 100 not in refused.text
        assert client.get("/explorer/overview", params={"limit": 0}).status_code == 422
        explore = client.get("/explore")
        assert explore.status_code == 200 and "KG.startExplorer" in explore.text


def test_the_static_file_holds_what_the_endpoints_serve(
    server: str, small: SmallGraph, tmp_path: Path
) -> None:
    path = write_html(small.graph(merges=True), tmp_path / "graph.html")
    bundle = _embedded(path.read_text(encoding="utf-8"))
    with httpx.Client(base_url=server, timeout=30) as client:
        for entity_id in small.ids.values():
            served = client.get("/explorer/entity", params={"id": entity_id}).json()
            assert bundle["pages"][entity_id] == served
            hood = client.get("/explorer/neighbourhood", params={"id": entity_id}).json()
            assert bundle["neighbourhoods"][entity_id] == {
                k: v for k, v in hood.items() if k != "nodes"
            }
        assert bundle["overview"] == client.get("/explorer/overview").json()


def test_a_capped_static_file_holds_the_most_related_pages_and_says_what_it_left_out(
    small: SmallGraph, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    graph = small.graph(merges=True)
    whole = _embedded(write_html(graph, tmp_path / "whole.html").read_text(encoding="utf-8"))
    with caplog.at_level("INFO", logger="kgbuild.graph.export"):
        path = write_html(graph, tmp_path / "graph.html", max_pages=2)
    page = path.read_text(encoding="utf-8")
    bundle = _embedded(page)
    ranked = [row[0] for row in whole["entities"]]  # type: ignore[union-attr]
    assert list(bundle["pages"]) == ranked[:2] == list(bundle["neighbourhoods"])  # type: ignore[call-overload]
    # the paged entities first, as searched; the rest drawn (the overview holds every one)
    assert bundle["entities"][:2] == whole["entities"][:2]  # type: ignore[index]
    assert [row[:3] for row in bundle["entities"]] == [row[:3] for row in whole["entities"]]  # type: ignore[union-attr]
    assert bundle["overview"] == whole["overview"]
    assert bundle["paged"] == [2, len(ENTITIES)]
    assert "(this file holds and searches the pages of the 2 with most relations; kgbuild" in page
    none = write_html(graph, tmp_path / "none.html", max_pages=0).read_text(encoding="utf-8")
    assert "(this file holds no entity pages; kgbuild serve shows and searches them)" in none
    assert f"holds the pages of 2 of {len(ENTITIES)} entities" in caplog.text
    assert "kgbuild serve --out" in caplog.text and "graph.html_pages" in caplog.text
    # a graph within the cap: the file of an uncapped export, byte for byte
    fits = write_html(graph, tmp_path / "fits.html", max_pages=len(ENTITIES))
    assert fits.read_text(encoding="utf-8") == (tmp_path / "whole.html").read_text(encoding="utf-8")


def test_a_capped_static_file_lists_only_the_entities_it_pages_or_draws(tmp_path: Path) -> None:
    """Every entity was in the search list of a capped file: 100,000 of them were 7 MB."""
    graph = chain_graph(120, related=70)  # "Varnok 70" to "Varnok 119": no relation
    whole = static_bundle(graph)
    bundle = static_bundle(graph, max_pages=3)
    assert bundle["paged"] == [3, 120] and len(whole["entities"]) == 120
    rows = bundle["entities"]
    assert rows[:3] == whole["entities"][:3]  # the paged ones, aliases and all: searched
    drawn = {n["id"] for n in bundle["overview"]["nodes"]}
    for hood in bundle["neighbourhoods"].values():
        drawn |= {end for e in hood["edges"] for end in (e["source"], e["target"])}
    rank = {row[0]: index for index, row in enumerate(whole["entities"])}
    rest = rows[3:]
    assert {row[0] for row in rest} == drawn - set(bundle["pages"])  # drawn, nothing else
    assert [rank[row[0]] for row in rest] == sorted(rank[row[0]] for row in rest)
    assert all(row[3] == [] for row in rest)  # drawn, not searched: no aliases
    assert len(rows) < 120 and "Varnok 119" not in {row[1] for row in rows}
    # within the cap: every entity, as before
    assert static_bundle(graph, max_pages=120)["entities"] == whole["entities"]


def _embedded(page: str) -> dict[str, object]:
    match = re.search(r'<script id="kg-data" type="application/json">(.*?)</script>', page, re.S)
    assert match is not None
    data = json.loads(match.group(1))
    assert isinstance(data, dict)
    return data


def test_the_guards_cover_the_explorer_routes(qa: GraphQA, small: SmallGraph) -> None:
    from kgbuild.qa.api import create_app

    token = secrets.token_urlsafe(24)
    app = create_app(qa, ServeConfig(token=SecretStr(token), max_body_bytes=1000))
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        for path, params in [
            ("/explorer/search", {"q": "quil"}),
            ("/explorer/entity", {"id": small.ids["quillon"]}),
            ("/explorer/neighbourhood", {"id": small.ids["quillon"]}),
            ("/explorer/overview", {}),
        ]:
            assert client.get(path, params=params).status_code == 401
            given = {"Authorization": f"Bearer {token}"}
            assert client.get(path, params=params, headers=given).status_code == 200
            elsewhere = {**given, "Host": "evil.example"}
            assert client.get(path, params=params, headers=elsewhere).status_code == 400
        assert client.get("/explore").status_code == 200  # the page: open, no data in it
        big = client.request(
            "GET", "/explorer/search", params={"q": "a"}, content=b"x" * 5000, headers=given
        )
        assert big.status_code == 413


def test_type_ahead_finds_a_name_written_decomposed_or_with_a_soft_hyphen(tmp_path: Path) -> None:
    # macOS files and some PDFs hold "u" + U+0308 for "ü"; web text holds soft hyphens:
    # their words were cut there ("mu", "ller"), so "müll" found nothing
    import unicodedata

    from kgbuild.config import Settings
    from kgbuild.pipeline import build

    docs = tmp_path / "docs"
    docs.mkdir()
    text = "Jürgen Müller founded Acme Robotics in Geneva. Jürgen Müller lives in Lausanne."
    (docs / "nfd.txt").write_text(unicodedata.normalize("NFD", text), encoding="utf-8")
    (docs / "shy.txt").write_text("Bluefin Ana\u00adlytics hired Maria Gonzalez.", encoding="utf-8")
    report = build([docs], Settings(out_dir=tmp_path / "out"))
    explorer = Explorer(EmbeddedGraph(report.outputs["json"]))
    assert names(explorer, "Müll") == [unicodedata.normalize("NFD", "Jürgen Müller")]
    assert names(explorer, "jurgen mu") == [unicodedata.normalize("NFD", "Jürgen Müller")]
    assert names(explorer, "analyt") == ["Bluefin Ana\u00adlytics"]
