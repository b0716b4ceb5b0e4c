"""The explorer page in Debian's headless chromium with real key presses and clicks (tests/cdp.py).

The small invented graph and the server are tests/unit/explorer/test_explorer.py's.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from pydantic import SecretStr

from kgbuild.config import ServeConfig
from kgbuild.graph.export import write_html
from kgbuild.qa import GraphQA
from tests.cdp import Page, open_page
from tests.explorer_data import SmallGraph, chain_graph, crowd_graph
from tests.http_server import running
from tests.unit.explorer import test_explorer

# The unit tests' fixtures, for this module too.
small, store = test_explorer.small, test_explorer.store
qa, server = test_explorer.qa, test_explorer.server


def _drive(page: Page, screenshots: Path | None = None) -> None:
    """What a person does: look, type, pick a suggestion, click a node, untick a type."""
    page.wait_for("document.body.dataset.ready === 'true'")
    page.wait_for("document.getElementById('graph').dataset.settled === 'true'")
    present = page.evaluate(
        "['search', 'suggestions', 'overview-button', 'legend', 'graph', 'entity', 'status']"
        ".filter((id) => document.getElementById(id))"
    )
    assert len(present) == 7
    assert page.evaluate("document.querySelectorAll('#graph canvas').length") == 1
    legend = page.evaluate(
        "[...document.querySelectorAll('#legend .filter')].map(l => l.textContent)"
    )
    assert any("ORG" in item for item in legend) and any("WORKS_FOR" in item for item in legend)
    # type-ahead: typed letters bring the entity up in the suggestions
    page.click_selector("#search")
    page.type("harb")
    shown = page.wait_for(
        "[...document.querySelectorAll('#suggestions li')].map(l => l.textContent).join('|')"
    )
    assert "Harborline Freight" in shown
    page.click_selector("#suggestions li")
    page.wait_for("document.getElementById('entity-name')?.textContent === 'Harborline Freight'")
    page.wait_for("document.getElementById('graph').dataset.settled === 'true'")
    assert "<mark" in page.evaluate("document.getElementById('entity').innerHTML")
    before = page.evaluate("kgExplorer.graph.nodes.length")
    assert before == 3  # Harborline, Ostrava (related), Ines Okafor (mentioned with it)
    if screenshots:
        page.screenshot(screenshots / "entity.png")
    # a click on Ines Okafor's node draws her neighbours too
    ines = page.evaluate("kgExplorer.graph.nodes.get().find((n) => n.name === 'Ines Okafor').id")
    x, y = page.evaluate(
        "(() => { const g = kgExplorer.graph; const p = g.network.canvasToDOM("
        f"g.network.getPositions([{json.dumps(ines)}])[{json.dumps(ines)}]);"
        " const r = document.getElementById('graph').getBoundingClientRect();"
        " return [r.x + p.x, r.y + p.y]; })()"
    )
    page.click(x, y)
    page.wait_for(f"kgExplorer.graph.nodes.length > {before}")
    page.wait_for("document.getElementById('entity-name')?.textContent === 'Ines Okafor'")
    page.wait_for("document.getElementById('graph').dataset.settled === 'true'")
    shown = page.evaluate("document.getElementById('entity').textContent")
    assert "Mentioned with (3)" in shown and "null" not in shown and "undefined" not in shown
    grown = page.evaluate("kgExplorer.graph.nodes.length")
    assert grown == 4  # + Quill Capital, mentioned with her in another document
    # unticking LOC hides the places, ticking it again brings them back
    labels = "kgExplorer.graph.visibleNodes().map((n) => n.group)"
    assert "LOC" in page.evaluate(labels)
    page.click_selector('#legend .filter[data-value="LOC"] input')
    page.wait_for(f"!{labels}.includes('LOC')")
    assert page.evaluate("kgExplorer.graph.visibleNodes().length") == grown - 1
    page.click_selector('#legend .filter[data-value="LOC"] input')
    page.wait_for(f"kgExplorer.graph.visibleNodes().length === {grown}")
    # relation types filter edges the same way
    page.click_selector('#legend .filter[data-value="co-mention"] input')
    assert page.evaluate("kgExplorer.graph.edgeView.get().every((e) => e.relType !== 'co-mention')")


def test_the_served_explorer_in_a_real_headless_browser(server: str, tmp_path: Path) -> None:
    with open_page(tmp_path / "profile") as page:
        page.goto(f"{server}/explore")
        _drive(page)


def test_the_static_explorer_in_a_real_headless_browser(small: SmallGraph, tmp_path: Path) -> None:
    path = write_html(small.graph(merges=True), tmp_path / "graph.html")
    with open_page(tmp_path / "profile") as page:
        page.goto(path.as_uri())
        _drive(page)
        # the merge reasons of the static page's entity
        page.click_selector("#search")
        page.evaluate("document.getElementById('search').value = ''")
        page.type("quillon")
        page.wait_for("!document.getElementById('suggestions').hidden")
        page.click_selector("#suggestions li")
        page.wait_for("document.getElementById('entity-name')?.textContent === 'Quillon Robotics'")
        merges = page.evaluate("document.querySelector('.merges').textContent")
        assert "Quillon" in merges and "short_form" in merges
        assert "Quillon opens a Lisbon office" in page.evaluate(
            "document.getElementById('entity').textContent"
        )


def test_a_capped_static_explorer_says_where_a_left_out_page_is(
    small: SmallGraph, tmp_path: Path
) -> None:
    path = write_html(small.graph(merges=True), tmp_path / "graph.html", max_pages=1)
    with open_page(tmp_path / "profile") as page:
        page.goto(path.as_uri())
        page.wait_for("document.body.dataset.ready === 'true'")
        ranked = page.evaluate(
            "JSON.parse(document.getElementById('kg-data').textContent).entities.map((e) => e[0])"
        )
        page.evaluate(f"void kgExplorer.openEntity({json.dumps(ranked[-1])}, true)")
        shown = page.wait_for("document.getElementById('error').textContent")
        assert "is not in this file" in shown and "graph.html_pages" in shown
        assert "kgbuild serve" in shown
        page.evaluate(f"void kgExplorer.openEntity({json.dumps(ranked[0])}, true)")
        page.wait_for("document.getElementById('entity-name') !== null")
        assert page.evaluate("document.getElementById('error').textContent") == ""


def test_a_capped_static_explorer_searches_its_pages_and_says_serve_searches_all(
    tmp_path: Path,
) -> None:
    path = write_html(chain_graph(120, related=70), tmp_path / "graph.html", max_pages=3)
    with open_page(tmp_path / "profile") as page:
        page.goto(path.as_uri())
        page.wait_for("document.body.dataset.ready === 'true'")
        page.click_selector("#search")
        page.type("Varnok 119")  # no relation: neither paged nor drawn
        page.wait_for("document.querySelector('#suggestions .note')")
        shown = page.evaluate("document.getElementById('suggestions').textContent")
        assert "No entity named like" in shown
        assert "searches the 3 entities whose pages it holds, of 120" in shown
        assert "kgbuild serve" in shown and "searches every one" in shown
        page.evaluate("document.getElementById('search').value = ''")
        page.type("Varnok")
        page.wait_for("document.querySelectorAll('#suggestions li[role=option]').length === 3")
        page.click_selector("#suggestions li[role=option]")  # a found entity opens
        page.wait_for("document.getElementById('entity-name')")
        assert page.evaluate("document.getElementById('error').textContent") == ""


def test_the_entity_page_says_how_many_co_mentioned_entities_are_not_listed(
    tmp_path: Path,
) -> None:
    graph = crowd_graph(25)  # each mentioned with the 24 others; 20 are listed
    first = next(i for i, d in graph.nodes(data=True) if d.get("name") == "Orvel 0")
    path = write_html(graph, tmp_path / "graph.html")
    with open_page(tmp_path / "profile") as page:
        page.goto(path.as_uri())
        page.wait_for("document.body.dataset.ready === 'true'")
        page.evaluate(f"void kgExplorer.openEntity({json.dumps(first)}, true)")
        page.wait_for("document.getElementById('entity-name')?.textContent === 'Orvel 0'")
        assert page.evaluate("document.querySelectorAll('.co-mentions li').length") == 20
        shown = page.evaluate("document.getElementById('entity').textContent")
        assert "Mentioned with (24)" in shown and "and 4 more entities" in shown


def test_the_served_explorer_asks_for_its_token(
    qa: GraphQA, small: SmallGraph, tmp_path: Path
) -> None:
    from kgbuild.qa.api import create_app

    token = secrets.token_urlsafe(24)
    app = create_app(qa, ServeConfig(token=SecretStr(token)))
    with running(app) as url, open_page(tmp_path / "profile") as page:
        page.goto(f"{url}/explore")
        page.wait_for("!document.getElementById('auth').hidden")
        assert "access token" in page.evaluate("document.getElementById('error').textContent")
        page.goto("about:blank")
        page.goto(f"{url}/explore#entity={small.ids['quillon']}&token={token}")
        page.wait_for("document.body.dataset.ready === 'true'")
        assert page.evaluate("document.getElementById('entity-name').textContent") == (
            "Quillon Robotics"
        )
        assert "token" not in page.evaluate("window.location.hash")
