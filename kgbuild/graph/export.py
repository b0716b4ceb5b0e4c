"""Write the graph as files people can open: GraphML, node-link JSON and the HTML explorer.

The HTML explorer (``graph.html``) is one self-contained file: vis-network (the JavaScript
library that ships inside the ``pyvis`` package), the explorer's script and the graph's data
are inlined, so it opens offline.

Every string of the GraphML file is valid XML 1.0: characters XML 1.0 cannot hold (control
characters other than tab, newline and carriage return; lone surrogates; U+FFFE, U+FFFF) are
written as U+FFFD. Node and edge ids are GraphML's ``NMTOKEN`` and unique (see
:func:`graphml_id`), so Gephi, yEd, Cytoscape and networkx read every node apart. A
node's and an edge's ``label`` is what Gephi shows: an entity's name, a document's title, an
edge's type (see :func:`graphml_node_data`); an edge's ``weight``, which Gephi and
networkx read as its weight, is its count (see :func:`edge_weight`). The explorer's
embedded data escapes ``<``, ``>``, ``&``, U+2028 and U+2029, so no text can end or reopen
its ``<script>`` element.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import networkx as nx

from kgbuild.data import Chunk

__all__ = [
    "edge_weight",
    "graphml_edge_data",
    "graphml_id",
    "graphml_node_data",
    "node_link_text",
    "script_json",
    "sentences_text",
    "vis_assets",
    "write_graphml",
    "write_html",
    "write_node_link",
    "xml_safe",
]


log = logging.getLogger(__name__)

_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""One character that XML 1.0 cannot hold (its ``Char`` production, complemented)."""

_SCRIPT_ESCAPES = {ch: f"\\u{ord(ch):04x}" for ch in "<>&\u2028\u2029"}
_SCRIPT_UNSAFE = re.compile(r"[<>&\u2028\u2029]")


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 forbids replaced by U+FFFD."""
    if text.isprintable():  # no control characters, surrogates or noncharacters: as is
        return text
    return _NOT_XML.sub("\N{REPLACEMENT CHARACTER}", text)


def script_json(value: Any) -> str:
    r"""JSON that is safe inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` (which could close the element or open ``<!--``) and the line
    separators U+2028/U+2029 are written as ``\uXXXX`` escapes; JSON only has them inside
    strings, so the value parses back unchanged.
    """
    raw = json.dumps(value, ensure_ascii=False)
    return _SCRIPT_UNSAFE.sub(lambda m: _SCRIPT_ESCAPES[m.group()], raw)


_ATTRIBUTE_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#10;",
        "\r": "&#13;",
        "\t": "&#09;",
    }
)
_GRAPHML_HEADER = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
    'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
)


def _graphml_value(value: Any) -> tuple[str, str]:
    """The GraphML type and the text of one attribute value, as networkx writes them.

    Lists and dicts become JSON strings; text is XML-safe (see the module docstring).
    """
    if isinstance(value, bool):
        return "boolean", str(value)
    if isinstance(value, int):
        return "long", str(value)
    if isinstance(value, float):
        return "double", str(value)
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "string", _escape_text(xml_safe(value))


_PLAIN_ID = re.compile(r"[A-Za-z0-9.:_-]+")
_ID_ESCAPE = re.compile(r"[^A-Za-z0-9.:_-]|_(?=x)")


def graphml_id(key: object) -> str:
    """The GraphML id of a node or edge key: a unique, readable ``NMTOKEN``.

    The GraphML schema declares ids ``NMTOKEN`` (no spaces, slashes or quotes), and a
    document's node key is ``doc:`` and its path or id as given. Any character other
    than ASCII letters, digits, ``.``, ``:``, ``_`` and ``-`` (and a ``_`` before an
    ``x``) is written ``_xHHHH_``, its code point in hex (as .NET's ``XmlConvert.EncodeName``
    writes it): no two keys get one id, and ids of those characters alone (every entity,
    relation and edge id kgbuild makes) are written as they are. A document's id as given
    is its ``doc_id`` attribute.

    >>> graphml_id("ent_0123abcd"), graphml_id("doc:reports/q1 2024.txt")
    ('ent_0123abcd', 'doc:reports_x002F_q1_x0020_2024.txt')
    >>> graphml_id("doc:a_x"), graphml_id("doc:Kühne")
    ('doc:a_x005F_x', 'doc:K_x00FC_hne')
    """
    text = str(key)
    if _PLAIN_ID.fullmatch(text) and "_x" not in text:
        return text
    return _ID_ESCAPE.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def _escape_text(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:  # a raw one is read back as "\n" (XML's end-of-line handling)
        text = text.replace("\r", "&#13;")
    return text


def _attribute(text: Any) -> str:
    return xml_safe(str(text)).translate(_ATTRIBUTE_ESCAPES)


def graphml_node_data(data: dict[Any, Any]) -> dict[Any, Any]:
    """The attributes GraphML holds for a node: ``label`` is what Gephi shows as its name.

    Gephi shows a node's ``label`` attribute as its label, so an entity's ``label`` (its
    type in the graph and ``graph.json``) is its ``name`` in GraphML, and its type is
    ``type``; a document's ``label`` is its title (``meta_title``), else its ``source``,
    else its id. Other nodes are as they are.

    >>> graphml_node_data({"kind": "entity", "label": "ORG", "name": "Acme"})
    {'label': 'Acme', 'type': 'ORG', 'kind': 'entity', 'name': 'Acme'}
    >>> graphml_node_data({"kind": "document", "id": "a.txt", "source": "in/a.txt"})["label"]
    'in/a.txt'
    """
    kind = data.get("kind")
    if kind == "entity":
        rest = {name: value for name, value in data.items() if name != "label"}
        return {"label": data.get("name"), "type": data.get("label"), **rest}
    if kind == "document" and "label" not in data:
        title = data.get("meta_title") or data.get("source") or data.get("doc_id", data.get("id"))
        return {"label": title, **data}
    return data


def graphml_edge_data(data: dict[Any, Any]) -> dict[Any, Any]:
    """The attributes GraphML holds for an edge: its ``label`` and its ``weight``.

    Gephi shows an edge's ``label`` attribute on the edge (``EMPLOYER``, ``CO_OCCURS``,
    ``MENTIONED_IN``), so its ``type`` is also its label. Gephi, Cytoscape and networkx's
    weighted algorithms read ``weight`` as the edge's weight: it is the edge's ``count``
    as a float (see :func:`edge_weight`). An edge that has a ``label`` or a ``weight`` of
    its own keeps it.

    >>> graphml_edge_data({"type": "CO_OCCURS", "count": 3, "docs": ["a"]})
    {'label': 'CO_OCCURS', 'type': 'CO_OCCURS', 'count': 3, 'docs': ['a'], 'weight': 3.0}
    """
    named = {"label": data["type"], **data} if "type" in data and "label" not in data else data
    if "weight" in data:
        return named
    return {**named, "weight": edge_weight(data)}


def edge_weight(data: dict[Any, Any]) -> float:
    """An edge's weight in GraphML: how many times the graph saw the link, at least 1.

    That is its ``count``: for ``CO_OCCURS`` the sentences that name the two entities
    together (or within the co-occurrence window), for a relation its evidence sentences,
    for ``MENTIONED_IN`` the entity's mentions in the document. Counts rather than a
    relation's ``score``, because weights are added up: weighted degree and modularity
    sum them, and Gephi's importer sums those of the edges it merges between two nodes
    (a relation and ``CO_OCCURS``). A sum of sentences means something, a sum of a
    classifier's best confidences does not; the score stays the edge's ``score``. An edge
    without a count weighs 1.

    >>> edge_weight({"type": "WORKS_FOR", "score": 0.8, "count": 2}), edge_weight({})
    (2.0, 1.0)
    """
    count = data.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 1:
        return float(count)
    return 1.0


class _GraphmlKeys:
    """The ``<key>`` declarations: one per attribute name, type and scope, in first use.

    Their ids are ``k0``, ``k1``...: not networkx's ``d0``, ``d1``..., because Gephi takes
    a node key of id ``d3`` and an edge key of id ``d7`` as the label (yEd's ids for
    them), whatever attribute they hold.
    """

    def __init__(self) -> None:
        self.ids: dict[tuple[Any, str, str], str] = {}

    def data(self, attributes: dict[Any, Any], scope: str) -> str:
        """The ``<data>`` elements of one node or edge (``None`` values left out)."""
        parts = []
        for name, value in attributes.items():
            if value is None:
                continue
            kind, text = _graphml_value(value)
            key = self.ids.get((name, kind, scope))
            if key is None:
                key = self.ids[name, kind, scope] = f"k{len(self.ids)}"
            parts.append(f'  <data key="{key}">{text}</data>\n')
        return "".join(parts)

    def declarations(self) -> str:
        """The ``<key>`` elements of every attribute seen so far."""
        return "".join(
            f'<key id="{key}" for="{scope}" attr.name="{_attribute(name)}" attr.type="{kind}"/>\n'
            for (name, kind, scope), key in self.ids.items()
        )


def write_graphml(graph: nx.MultiDiGraph[str], path: Path) -> Path:
    """Write GraphML that XML 1.0 readers (networkx included) read back.

    The file networkx's ``write_graphml`` writes (a key per attribute name, type and
    scope; edges with their keys as ids), built as text in one pass: 2.7-2.9 times faster
    on a graph of 100,000 edges. Node and edge ids are :func:`graphml_id` of their keys;
    their attributes are :func:`graphml_node_data` and :func:`graphml_edge_data` of theirs
    (``label`` what tools show, an edge's ``weight`` its count); list and dict attributes
    are stored as JSON strings; in attribute names and values, characters XML 1.0 forbids
    become U+FFFD (see the module docstring). Key ids are ``k0``, ``k1``... (see
    :class:`_GraphmlKeys`).

    Raises:
        ValueError: Two node keys have one text (such as ``1`` and ``"1"``).
    """
    keys = _GraphmlKeys()
    ids = {node: graphml_id(node) for node in graph}
    if len(set(ids.values())) < len(ids):
        seen: dict[str, object] = {}
        for node, text in ids.items():
            if text in seen:
                raise ValueError(f"nodes {seen[text]!r} and {node!r} would both be {text!r}")
            seen[text] = node
    body = ['<graph edgedefault="directed">\n']
    for node, data in graph.nodes(data=True):
        body.append(
            f'<node id="{ids[node]}">\n{keys.data(graphml_node_data(data), "node")}</node>\n'
        )
    for head, tail, key, data in graph.edges(keys=True, data=True):
        body.append(
            f'<edge source="{ids[head]}" target="{ids[tail]}" '
            f'id="{graphml_id(key)}">\n{keys.data(graphml_edge_data(data), "edge")}</edge>\n'
        )
    body.append("</graph></graphml>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_GRAPHML_HEADER + keys.declarations() + "".join(body), encoding="utf-8")
    return path


def write_node_link(graph: nx.MultiDiGraph[str], path: Path) -> Path:
    """Write node-link JSON (``networkx.node_link_data`` with ``edges="edges"``).

    One node or edge per line, keys sorted: as easy to read and diff as an indented file,
    and written by the json module's C encoder (which ``indent`` turns off): half the
    time on a 30,000-edge graph.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(node_link_text(graph), encoding="utf-8")
    return path


def node_link_text(graph: nx.MultiDiGraph[str]) -> str:
    """The text :func:`write_node_link` writes: top-level keys sorted, one item per line."""
    data = nx.node_link_data(graph, edges="edges")

    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    parts = []
    for key in sorted(data):
        value = data[key]
        if isinstance(value, list) and value:
            items = ",\n  ".join(dump(item) for item in value)
            parts.append(f"{dump(key)}: [\n  {items}\n ]")
        else:
            parts.append(f"{dump(key)}: {dump(value)}")
    return "{\n " + ",\n ".join(parts) + "\n}\n"


_LINE_ENDS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}
_LINE_END = re.compile("[\u2028\u2029\x85]")


def sentences_text(documents: Iterable[tuple[str, str, Sequence[Chunk]]]) -> str:
    r"""``sentences.jsonl``: every document's sentences as read, one document a line.

    ``documents`` are ``(id, source, chunks)``. Each line is ``{"doc_id", "source",
    "sentences": [{"id", "start", "end", "text"}, ...]}``, documents by id and sentences
    by offset. A sentence's ``text`` is the document's text (for a PDF, HTML or Word file,
    the text extracted from it) from ``start`` to ``end``, so a mention or evidence with
    that ``chunk_id`` is ``text[m_start - start : m_end - start]``. U+2028, U+2029 and
    U+0085 are escaped, so no reader splits a line at them.

    >>> chunk = Chunk(id="c", doc_id="a", index=0, span={"start": 4, "end": 9}, text="Acme.")
    >>> sentences_text([("a", "a.pdf", [chunk])])
    '{"doc_id": "a", "source": "a.pdf", "sentences": [{"id": "c", "start": 4, "end": 9, "text": "Acme."}]}\n'
    """
    lines = []
    for doc_id, source, chunks in sorted(documents, key=lambda item: item[0]):
        sentences = [
            {"id": c.id, "start": c.span.start, "end": c.span.end, "text": c.text}
            for c in sorted(chunks, key=lambda c: (c.span.start, c.span.end))
        ]
        line = json.dumps(
            {"doc_id": doc_id, "source": source, "sentences": sentences}, ensure_ascii=False
        )
        lines.append(_LINE_END.sub(lambda m: _LINE_ENDS[m.group()], line) + "\n")
    return "".join(lines)


@lru_cache(maxsize=1)
def vis_assets() -> tuple[str, str]:
    """vis-network's JavaScript and CSS, from the installed ``pyvis`` package (no CDN).

    Read from the package's folder without importing it (which imports IPython and
    jsonpickle: 0.3-0.4 s of every build that writes ``graph.html``).
    """
    spec = importlib.util.find_spec("pyvis")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("kgbuild needs the pyvis package for the HTML explorer")
    lib = Path(next(iter(spec.submodule_search_locations))) / "templates" / "lib" / "vis-9.1.2"
    return (
        (lib / "vis-network.min.js").read_text(encoding="utf-8"),
        (lib / "vis-network.css").read_text(encoding="utf-8"),
    )


def write_html(
    graph: nx.MultiDiGraph[str],
    path: Path,
    *,
    title: str = "kgbuild graph",
    max_pages: int | None = None,
) -> Path:
    """Write the explorer as one self-contained file (see :mod:`kgbuild.explorer.static`).

    Search with type-ahead, entity pages with evidence, neighbourhoods that expand on
    click, filters and a legend, over the data embedded in the file: it opens offline.
    ``max_pages`` caps the entities whose page and neighbourhood the file holds, and that
    its search finds (``None``: every entity); what is left out is logged and said on the
    page.
    """
    from kgbuild.explorer.pages import explorer_html
    from kgbuild.explorer.static import static_bundle

    bundle = static_bundle(graph, max_pages)
    counts = bundle["counts"]
    summary = (
        f"{counts['entities']:,} entities, {counts['relations']:,} relations, "
        f"{counts['documents']:,} documents"
    )
    if "paged" in bundle:
        held, total = bundle["paged"]
        summary += (
            f" (this file holds and searches the pages of the {held:,} with most relations; "
            "kgbuild serve shows and searches every one)"
            if held
            else " (this file holds no entity pages; kgbuild serve shows and searches them)"
        )
        log.info(
            "the HTML explorer holds the pages of %d of %d entities (graph.html_pages: those "
            "with most relations, then mentions; its search finds those): `kgbuild serve "
            "--out %s` shows and searches every one at /explore, or raise graph.html_pages",
            held,
            total,
            path.parent,
        )
    page = explorer_html(static_data=bundle, title=title, summary=summary)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
