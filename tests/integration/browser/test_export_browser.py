"""The graph's HTML view in Debian's headless chromium: hostile text stays text, marks fit."""

from __future__ import annotations

import json
from pathlib import Path

from kgbuild.explorer.models import EvidenceView, Mark
from kgbuild.explorer.pages import ask_html
from kgbuild.explorer.static import dump
from kgbuild.graph.export import write_html
from kgbuild.qa.models import EvidenceRef
from kgbuild.qa.text import tokens
from tests.browser import dump_dom
from tests.cdp import open_page
from tests.unit.graph.test_export import HOSTILE, _graph


def test_graph_html_draws_its_canvas_with_a_hostile_id_and_name(tmp_path: Path) -> None:
    path = write_html(_graph(HOSTILE, f"Acme {HOSTILE}"), tmp_path / "graph.html", title=HOSTILE)
    dom = dump_dom(path.as_uri(), tmp_path / "profile")
    assert "<canvas" in dom and 'data-ready="true"' in dom  # the explorer's script ran
    # searched and opened, the name and the title are text on the page, never markup
    with open_page(tmp_path / "driven") as tab:
        tab.goto(path.as_uri())
        tab.wait_for("document.body.dataset.ready === 'true'")
        tab.click_selector("#search")
        tab.type("acme")
        tab.wait_for("!document.getElementById('suggestions').hidden")
        tab.click_selector("#suggestions li")
        tab.wait_for("document.getElementById('entity-name')")
        shown = tab.evaluate("document.getElementById('entity-name').textContent")
        assert shown == f"Acme {HOSTILE}"
        assert HOSTILE in tab.evaluate("document.querySelector('.documents').textContent")
        assert tab.evaluate("document.querySelectorAll('#entity script').length") == 0
        assert tab.evaluate("document.title") == HOSTILE


def test_evidence_highlights_the_marked_words_after_emoji_in_both_pages(tmp_path: Path) -> None:
    # offsets count code points (Python's str); an emoji is two UTF-16 units in JavaScript
    text = "\U0001f389\U0001f389 Acme Robotics is in 北京 \U0001f600 Toronto."
    head, tail = text.index("Acme Robotics"), text.index("Toronto")
    view = EvidenceView(
        doc_id="d",
        title="d",
        start=100,
        end=100 + len(text),
        text=text,
        marks=(
            Mark(start=head, end=head + len("Acme Robotics"), role="head"),
            Mark(start=tail, end=tail + len("Toronto"), role="tail"),
        ),
    )
    answer = EvidenceRef(
        doc_id="d",
        chunk_id="c",
        start=100,
        end=100 + len(text),
        text=text,
        answer_start=100 + tail,
        answer_end=100 + tail + len("Toronto"),
    )
    graph_html = write_html(_graph("d", "Acme"), tmp_path / "graph.html")
    ask_page = tmp_path / "ask.html"
    ask_page.write_text(ask_html(), encoding="utf-8")
    with open_page(tmp_path / "profile") as tab:
        tab.goto(graph_html.as_uri())
        tab.wait_for("document.body.dataset.ready === 'true'")
        marks = tab.evaluate(
            f"[...KG.evidence({json.dumps(dump(view))}).querySelectorAll('mark')]"
            ".map((m) => m.textContent)"
        )
        assert marks == ["Acme Robotics", "Toronto"]
        tab.goto(ask_page.as_uri())
        tab.wait_for("typeof showEvidence === 'function'")
        shown = tab.evaluate(
            f"showEvidence({json.dumps(answer.model_dump(mode='json'))}), "
            "document.querySelector('#evidence mark').textContent"
        )
        assert shown == "Toronto"


def test_the_static_type_ahead_folds_text_as_the_server_does(tmp_path: Path) -> None:
    names = ["Weiß Straße", "GROSSMANN", "Σίσυφος", "ᾈδης", "İstanbul", "María González"]
    path = write_html(_graph("d", "Weiß Straße"), tmp_path / "graph.html")
    with open_page(tmp_path / "profile") as tab:
        tab.goto(path.as_uri())
        tab.wait_for("document.body.dataset.ready === 'true'")
        folded = tab.evaluate(f"{json.dumps(names)}.map((name) => KG.tokens(name))")
        assert folded == [tokens(name) for name in names]
        found = tab.evaluate(
            "window.kgExplorer.backend.suggest('weiss strasse')"
            ".then((r) => r.results.map((s) => s.name))"
        )
        assert found == ["Weiß Straße"]


def test_an_id_no_entity_has_is_not_found_even_a_name_every_object_has(tmp_path: Path) -> None:
    path = write_html(_graph("d", "Acme"), tmp_path / "graph.html")
    for wanted in ("constructor", "__proto__", "nope"):
        with open_page(tmp_path / f"profile-{wanted}") as tab:
            tab.goto(f"{path.as_uri()}#entity={wanted}")
            tab.wait_for("document.body.dataset.ready === 'true'")
            shown = tab.evaluate("document.getElementById('error').textContent")
            assert shown == "No entity with this id in the graph.", wanted


def test_the_question_page_says_when_no_server_answers(tmp_path: Path) -> None:
    page = tmp_path / "ask.html"  # opened as a file: the question has no server to go to
    page.write_text(ask_html(), encoding="utf-8")
    with open_page(tmp_path / "profile") as tab:
        tab.goto(page.as_uri())
        tab.wait_for("typeof showEvidence === 'function'")
        tab.click_selector("#question")
        tab.type("Where is Acme Robotics based?")
        tab.click_selector("#ask button")
        shown = tab.wait_for("document.getElementById('error').textContent")
        assert "The server did not answer" in shown


def test_a_long_name_is_cut_for_its_node_label_between_characters(tmp_path: Path) -> None:
    name = "Berliner Sommerfest 2024\U0001f389 Opening Night"  # an emoji at character 25
    path = write_html(_graph("d", name), tmp_path / "graph.html")
    with open_page(tmp_path / "profile") as tab:
        tab.goto(f"{path.as_uri()}#entity=ent_1")
        tab.wait_for("document.body.dataset.ready === 'true'")
        label = tab.evaluate("window.kgExplorer.graph.nodes.get('ent_1').label")
        assert label == name[:25] + "\u2026"


def test_a_hop_answer_with_a_dollar_sign_is_written_into_the_question_as_it_is(
    tmp_path: Path,
) -> None:
    page = tmp_path / "ask.html"
    page.write_text(ask_html(), encoding="utf-8")
    with open_page(tmp_path / "profile") as tab:
        tab.goto(page.as_uri())
        tab.wait_for("typeof rewritten === 'function'")
        shown = tab.evaluate(
            "rewritten('Where is the company that bought Pinewood based?', "
            "'Which company bought Pinewood?', 'The $1 Store & $& Co')"
        )
        assert shown == "Where is The $1 Store & $& Co based?"
