"""The explorer and question pages as self-contained HTML (no CDN, no network for the static file).

The pages inline vis-network (from the pinned ``pyvis`` package, see
:func:`kgbuild.graph.export.vis_assets`), the explorer's own script and style from
``kgbuild/explorer/assets``, and, for the static ``graph.html``, the graph's data as JSON
escaped with :func:`kgbuild.graph.export.script_json`.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from kgbuild.graph.export import script_json, vis_assets

__all__ = ["ask_html", "asset", "explorer_html"]

_PLACEHOLDER = re.compile(r"/\*([A-Z_]+)\*/")
_SCRIPT_END = re.compile(r"</(script)", re.IGNORECASE)
_STYLE_END = re.compile(r"</(style)", re.IGNORECASE)


@lru_cache(maxsize=8)
def asset(name: str) -> str:
    """A file of ``kgbuild/explorer/assets`` as text."""
    return (resources.files("kgbuild.explorer") / "assets" / name).read_text(encoding="utf-8")


def _script(code: str) -> str:
    """Code that cannot end its ``<script>`` element or open an HTML comment in it."""
    return _SCRIPT_END.sub(r"<\\/\1", code).replace("<!--", "<\\!--")


def _style(css: str) -> str:
    return _STYLE_END.sub(r"<\\/\1", css)


def _fill(template: str, parts: dict[str, str]) -> str:
    """Replace each ``/*NAME*/`` in one pass (inserted text is never searched again)."""
    return _PLACEHOLDER.sub(lambda m: parts.get(m.group(1), m.group(0)), template)


def _common() -> dict[str, str]:
    js, css = vis_assets()
    return {
        "VIS_JS": _script(js),
        "VIS_CSS": _style(css),
        "KG_JS": _script(asset("explorer.js")),
        "KG_CSS": _style(asset("explorer.css")),
    }


def explorer_html(
    *,
    static_data: dict[str, Any] | None = None,
    auth: bool = False,
    title: str = "kgbuild explorer",
    summary: str = "",
) -> str:
    """The explorer page: served (data from the endpoints) or static (``static_data`` inlined).

    Args:
        static_data: The bundle of :func:`kgbuild.explorer.static.static_bundle`; ``None``
            for the served page.
        auth: Served page only: the server wants a bearer token (the page asks for it).
        title: Page title.
        summary: A line of counts shown in the header.
    """
    served = static_data is None
    config = {"mode": "served" if served else "static", "auth": auth and served}
    links = '<a id="ask-link" href="/">Ask a question</a>' if served else ""
    return _fill(
        asset("explorer.html"),
        {
            **_common(),
            "TITLE": html.escape(title),
            "SUMMARY": html.escape(summary),
            "LINKS": links,
            "CONFIG": script_json(config),
            "DATA": "null" if served else script_json(static_data),
        },
    )


@lru_cache(maxsize=2)
def ask_html(*, auth: bool = False, max_chars: int = 1000) -> str:
    """The question page: ask, read the answer with its evidence, explore its neighbourhood."""
    config = script_json({"maxChars": max_chars, "auth": auth})
    return _fill(asset("ask.html"), {**_common(), "CONFIG": config})
