"""Write the graph as files people can open: GraphML, node-link JSON and an HTML view.

The HTML view is one self-contained file: vis-network (the JavaScript library that
ships inside the ``pyvis`` package) is inlined, so it opens offline.

Every string of the GraphML file is valid XML 1.0: characters XML 1.0 cannot hold (control
characters other than tab, newline and carriage return; lone surrogates; U+FFFE, U+FFFF) are
written as U+FFFD. The HTML view's embedded data escapes ``<``, ``>``, ``&``, U+2028 and
U+2029, so no text can end or reopen its ``<script>`` element.
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import networkx as nx

__all__ = [
    "graph_to_vis",
    "script_json",
    "vis_assets",
    "write_graphml",
    "write_html",
    "write_node_link",
    "xml_safe",
]

_PALETTE = {
    "PER": "#4e79a7",
    "ORG": "#f28e2b",
    "LOC": "#59a14f",
    "MISC": "#b07aa1",
}
_DOCUMENT_COLOUR = "#bab0ac"


_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""One character that XML 1.0 cannot hold (its ``Char`` production, complemented)."""

_SCRIPT_ESCAPES = {ch: f"\\u{ord(ch):04x}" for ch in "<>&\u2028\u2029"}
_SCRIPT_UNSAFE = re.compile(r"[<>&\u2028\u2029]")


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 forbids replaced by U+FFFD."""
    return _NOT_XML.sub("\N{REPLACEMENT CHARACTER}", text)


def script_json(value: Any) -> str:
    r"""JSON that is safe inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` (which could close the element or open ``<!--``) and the line
    separators U+2028/U+2029 are written as ``\uXXXX`` escapes; JSON only has them inside
    strings, so the value parses back unchanged.
    """
    raw = json.dumps(value, ensure_ascii=False)
    return _SCRIPT_UNSAFE.sub(lambda m: _SCRIPT_ESCAPES[m.group()], raw)


def _scalar(value: Any) -> Any:
    """GraphML holds scalars only: lists and dicts become JSON strings; text is XML-safe."""
    if isinstance(value, bool | int | float):
        return value
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return xml_safe(value)


def _flat_attributes(data: dict[str, Any]) -> dict[str, Any]:
    return {xml_safe(str(k)): _scalar(v) for k, v in data.items() if v is not None}


def write_graphml(graph: nx.MultiDiGraph[str], path: Path) -> Path:
    """Write GraphML that XML 1.0 readers (networkx included) read back.

    List and dict attributes are stored as JSON strings; in node ids, edge keys, attribute
    names and values, characters XML 1.0 forbids become U+FFFD (see the module docstring).
    """
    flat: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    for node, data in graph.nodes(data=True):
        flat.add_node(xml_safe(str(node)), **_flat_attributes(data))
    for head, tail, key, data in graph.edges(keys=True, data=True):
        flat.add_edge(
            xml_safe(str(head)),
            xml_safe(str(tail)),
            key=xml_safe(str(key)),
            **_flat_attributes(data),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    nx.write_graphml(flat, path, encoding="utf-8")
    return path


def write_node_link(graph: nx.MultiDiGraph[str], path: Path) -> Path:
    """Write node-link JSON (``networkx.node_link_data`` with ``edges="edges"``)."""
    data = nx.node_link_data(graph, edges="edges")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8"
    )
    return path


def graph_to_vis(graph: nx.MultiDiGraph[str]) -> dict[str, list[dict[str, Any]]]:
    """Nodes and edges in vis-network's format, with escaped tooltips."""
    nodes: list[dict[str, Any]] = []
    for node, data in graph.nodes(data=True):
        if data.get("kind") == "document":
            nodes.append(
                {
                    "id": node,
                    "label": str(data.get("id", node)),
                    "shape": "box",
                    "color": _DOCUMENT_COLOUR,
                    "title": f"document {data.get('id', node)}\n{data.get('source', '')}",
                    "group": "document",
                }
            )
            continue
        label = str(data.get("label", ""))
        aliases = ", ".join(data.get("aliases", [])) or "-"
        values = "".join(
            f"\n{key}: {slot.get('value')}" for key, slot in data.get("attributes", {}).items()
        )
        nodes.append(
            {
                "id": node,
                "label": str(data.get("name", node)),
                "color": _PALETTE.get(label, "#76b7b2"),
                "value": int(data.get("mention_count", 1)),
                "title": f"{data.get('name')} [{label}]\naliases: {aliases}\n"
                f"mentions: {data.get('mention_count', 0)}{values}",
                "group": label,
            }
        )
    unlabelled = {"MENTIONED_IN", "CO_OCCURS"}
    edges = [
        {
            "from": head,
            "to": tail,
            "label": str(data.get("type", key)) if data.get("type") not in unlabelled else "",
            "title": f"{data.get('type', key)} x{data.get('count', 1)}",
            # co-occurrence has no direction; drawn dashed, under the relations
            **(
                {"arrows": "", "dashes": True}
                if data.get("type") == "CO_OCCURS"
                else {"arrows": "to"}
            ),
        }
        for head, tail, key, data in graph.edges(keys=True, data=True)
    ]
    return {"nodes": nodes, "edges": edges}


@lru_cache(maxsize=1)
def vis_assets() -> tuple[str, str]:
    """vis-network's JavaScript and CSS, from the installed ``pyvis`` package (no CDN)."""
    import pyvis

    lib = Path(pyvis.__file__).parent / "templates" / "lib" / "vis-9.1.2"
    return (
        (lib / "vis-network.min.js").read_text(encoding="utf-8"),
        (lib / "vis-network.css").read_text(encoding="utf-8"),
    )


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{css}</style>
<style>
body {{ font-family: sans-serif; margin: 0; }}
header {{ padding: 8px 16px; background: #f4f4f4; border-bottom: 1px solid #ddd; }}
#graph {{ width: 100vw; height: calc(100vh - 60px); }}
</style>
<script>{js}</script>
</head>
<body>
<header><strong>{title}</strong> &mdash; {summary}</header>
<div id="graph"></div>
<script id="graph-data" type="application/json">{data}</script>
<script>
const data = JSON.parse(document.getElementById("graph-data").textContent);
const network = new vis.Network(
  document.getElementById("graph"),
  {{ nodes: new vis.DataSet(data.nodes), edges: new vis.DataSet(data.edges) }},
  {{ nodes: {{ shape: "dot", scaling: {{ min: 8, max: 30 }}, font: {{ size: 14 }} }},
    edges: {{ color: {{ opacity: 0.4 }}, smooth: false }},
    physics: {{ stabilization: {{ iterations: 200 }}, barnesHut: {{ gravitationalConstant: -8000 }} }},
    interaction: {{ hover: true, tooltipDelay: 100 }} }});
network.once("stabilizationIterationsDone", () => network.setOptions({{ physics: false }}));
window.kgbuildGraph = {{ network, nodeCount: data.nodes.length, edgeCount: data.edges.length }};
</script>
</body>
</html>
"""


def write_html(graph: nx.MultiDiGraph[str], path: Path, *, title: str = "kgbuild graph") -> Path:
    """Write a self-contained interactive HTML view of the graph."""
    js, css = vis_assets()
    vis = graph_to_vis(graph)
    entities = sum(1 for _, data in graph.nodes(data=True) if data.get("kind") == "entity")
    documents = graph.number_of_nodes() - entities
    payload = script_json(vis)
    page = _TEMPLATE.format(
        title=html.escape(title),
        summary=f"{entities} entities, {documents} documents, {graph.number_of_edges()} edges",
        css=css,
        js=js,
        data=payload,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
