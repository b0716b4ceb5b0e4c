"""The question page in a real headless browser: titles, captioned candidates, hops, neighbourhood.

The graph is built by the real pipeline with the tiny keyword models (tests/conftest.py);
two of its documents are JSON Lines records with a metadata title, so a title on the page can
only come from the metadata.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from kgbuild.config import AttributeConfig, NerConfig, ReConfig, Settings
from kgbuild.qa import GraphQA, open_store
from tests.cdp import Page, open_page
from tests.http_server import running

RECORDS = [
    {
        "id": "n1",
        "text": "On Monday the company said . David Chen works for Helix in Nairobi .",
        "metadata": {"title": "Helix hires in Nairobi"},
    },
    {
        "id": "n2",
        "text": "Omar Haddad works for Acme Robotics in Toronto . It was a good year .",
        "metadata": {"title": "Acme grows in Toronto"},
    },
]
FILES = {
    "a.txt": "The company said on Monday . Maria Gonzalez works for Acme Robotics in Berlin .",
    "d.txt": "Toronto : Linda Chen of Granite Capital said .",
}


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, keyword_ner_model: Path, keyword_re_model: Path
) -> Settings:
    from kgbuild.pipeline import build

    root = tmp_path_factory.mktemp("ask-page")
    docs = root / "docs"
    docs.mkdir()
    for name, text in FILES.items():
        (docs / name).write_text(text, encoding="utf-8")
    (docs / "news.jsonl").write_text("\n".join(json.dumps(r) for r in RECORDS), encoding="utf-8")
    settings = Settings(
        out_dir=root / "out",
        ner=NerConfig(model=str(keyword_ner_model)),
        relations=ReConfig(enabled=True, model=str(keyword_re_model), threshold=0.0),
        attributes=AttributeConfig(enabled=False),
    )
    build([str(docs)], settings, progress=False)
    return settings


def _server(
    built: Settings, qa_model: Path, ner_model: Path, threshold: float, *, typed: bool = True
) -> Iterator[str]:
    from kgbuild.qa.api import create_app

    with (
        GraphQA(
            open_store(built),
            qa_model=str(qa_model),
            ner_model=str(ner_model),
            encoder=None,
            threshold=threshold,
            typed_answers=typed,
        ) as qa,
        running(create_app(qa)) as url,
    ):
        yield url


@pytest.fixture(scope="module")
def server(built: Settings, keyword_qa_model: Path, keyword_ner_model: Path) -> Iterator[str]:
    """Every span the reader finds counts (threshold 0, untyped): alternatives are listed.

    Typed, "in which city ...?" keeps only the cities the passage names, and these tiny
    documents name one each.
    """
    yield from _server(built, keyword_qa_model, keyword_ner_model, 0.0, typed=False)


def _ask(page: Page, url: str, question: str) -> None:
    page.goto("about:blank")
    page.goto(f"{url}/?q={quote(question)}")
    page.wait_for("document.body.dataset.state === 'done'")


def _text(page: Page, element_id: str) -> str:
    return str(page.evaluate(f"document.getElementById({json.dumps(element_id)}).textContent"))


def test_the_evidence_names_its_document_by_title_and_other_answers_are_captioned(
    server: str, tmp_path: Path
) -> None:
    with open_page(tmp_path / "profile") as page:
        _ask(page, server, "in which city does omar haddad work ?")
        assert _text(page, "answer") == "Toronto"
        where = page.evaluate("document.querySelector('#evidence .where').textContent")
        assert where.startswith("Acme grows in Toronto, characters ")
        assert "n2" not in where
        result = page.evaluate("window.kgbuildResult")
        assert result["documents"]["n2"]["title"] == "Acme grows in Toronto"
        assert result["alternatives"], "threshold 0: the reader's other answers are listed"
        assert not page.evaluate("document.getElementById('others-box').hidden")
        assert _text(page, "others-caption") == "Other candidates (score)"
        items = page.evaluate(
            "[...document.querySelectorAll('#alternatives li')].map(l => l.textContent)"
        )
        assert len(items) == len(result["alternatives"])
        assert all(re.search(r"\(\d\.\d{3}\)", item) for item in items)
        # a single-hop answer lists no hops
        assert page.evaluate("document.getElementById('hops-box').hidden")


def test_a_multi_hop_answer_shows_its_hops(server: str, tmp_path: Path) -> None:
    with open_page(tmp_path / "profile") as page:
        _ask(page, server, "in which city does the person who works for Acme Robotics work ?")
        result = page.evaluate("window.kgbuildResult")
        assert len(result["hops"]) == 1
        inner, bridge = result["hops"][0].split(" -> ")
        assert not page.evaluate("document.getElementById('hops-box').hidden")
        steps = page.evaluate("[...document.querySelectorAll('#hops li')].map(l => l.textContent)")
        assert len(steps) == 2
        assert steps[0].startswith(inner) and steps[0].endswith(bridge)
        # the last step is the question as it was asked of the graph: the clause answered
        assert steps[1] == (f"in which city does {bridge} work ? \u2192 {result['answer']['text']}")


def test_the_neighbourhood_panel_is_the_explorer_view(server: str, tmp_path: Path) -> None:
    with open_page(tmp_path / "profile") as page:
        _ask(page, server, "in which city does maria gonzalez work ?")
        page.wait_for("document.getElementById('graph').dataset.settled === 'true'")
        drawn = page.evaluate("kgGraph.nodes.get().map((n) => n.name)")
        assert "Maria Gonzalez" in drawn and len(drawn) > 1
        legend = page.evaluate("document.getElementById('legend').textContent")
        assert "Entity types" in legend and "PER" in legend
        link = page.evaluate("document.getElementById('explore-link').getAttribute('href')")
        assert link.startswith("/explore#entity=")


def test_below_the_threshold_the_candidates_are_captioned(
    built: Settings, keyword_qa_model: Path, keyword_ner_model: Path, tmp_path: Path
) -> None:
    for url in _server(built, keyword_qa_model, keyword_ner_model, 0.9999):
        with open_page(tmp_path / "profile") as page:
            _ask(page, url, "in which city does omar haddad work ?")
            assert _text(page, "answer") == "I don't know."
            assert _text(page, "others-caption") == "Candidates below the threshold (score)"
            assert page.evaluate("document.querySelectorAll('#alternatives li').length") > 0


def test_the_passages_the_reader_left_out_are_listed(
    keyword_qa_model: Path, tmp_path: Path
) -> None:
    from kgbuild.qa.api import create_app
    from kgbuild.qa.embedded import EmbeddedGraph
    from tests.unit.qa.test_scripts import declaring, write_script_graph

    english = declaring(keyword_qa_model, tmp_path / "qa-en-tiny", ["en"])
    graph = EmbeddedGraph(write_script_graph(tmp_path / "graph"))
    with (
        GraphQA(graph, qa_model=str(english), ner_model=None, encoder=None, threshold=0.0) as qa,
        running(create_app(qa)) as url,
        open_page(tmp_path / "profile") as page,
    ):
        _ask(page, url, "who does maria gonzalez work for ?")
        assert not page.evaluate("document.getElementById('notes').hidden")
        notes = page.evaluate("[...document.querySelectorAll('#notes li')].map(l => l.textContent)")
        assert notes == [
            "1 passage in ru skipped: qa-en-tiny reads en",
            "1 passage in zh skipped: qa-en-tiny reads en",
        ]
