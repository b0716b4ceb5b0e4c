"""The graph's HTML view in Debian's headless chromium: hostile text stays text."""

from __future__ import annotations

from pathlib import Path

from kgbuild.graph.export import write_html
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
