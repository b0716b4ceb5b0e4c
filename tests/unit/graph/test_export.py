"""Exports hold any text: GraphML that XML readers read back, an HTML explorer that renders.

Hostile ids and text go through the real writers (and once through the whole build with
the tiny keyword NER model); tests/integration/browser opens the HTML view in chromium.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import networkx as nx
import pytest

from kgbuild.config import NerConfig, Settings
from kgbuild.graph.export import (
    graphml_edge_data,
    graphml_id,
    graphml_node_data,
    node_link_text,
    script_json,
    write_graphml,
    write_html,
    write_node_link,
    xml_safe,
)

HOSTILE = "</script><!--<script>x & y > z\u2028\u2029"
"""Text that ends a script element, opens an HTML comment-in-script, and breaks JS lines."""


def _graph(doc_id: str, name: str) -> nx.MultiDiGraph[str]:
    graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    graph.add_node(
        f"doc:{doc_id}",
        kind="document",
        id=doc_id,
        source="r.jsonl:1",
        content_hash="h",
        meta_note="bell\x07 tab\t line\nend",
    )
    graph.add_node(
        "ent_1",
        kind="entity",
        label="ORG",
        name=name,
        aliases=[name, "Acme"],
        mention_count=2,
        doc_ids=[doc_id],
    )
    graph.add_edge(
        "ent_1",
        f"doc:{doc_id}",
        key="MENTIONED_IN",
        type="MENTIONED_IN",
        count=1,
        provenance=[{"doc_id": doc_id, "start": 0, "end": 4, "text": "ctl\x01 text"}],
    )
    return graph


def test_xml_safe_replaces_exactly_what_xml_1_0_forbids() -> None:
    allowed = "tab\t lf\n cr\r é 中 \U0001f600 \x7f \x85 \ufffd"
    assert xml_safe(allowed) == allowed
    assert (
        xml_safe("a\x00b\x01c\x1fd\ud800e\ufffef\uffff")
        == "a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf\ufffd"
    )


def test_graphml_with_control_characters_reads_back_in_networkx(tmp_path: Path) -> None:
    path = write_graphml(_graph("ctl\x01id", "Acme\x0bRobotics"), tmp_path / "g.graphml")
    back = nx.read_graphml(path, force_multigraph=True)
    doc = back.nodes["doc:ctl_x0001_id"]
    assert doc["id"] == "ctl\ufffdid" and doc["meta_note"] == "bell\ufffd tab\t line\nend"
    entity = back.nodes["ent_1"]
    assert entity["name"] == "Acme\ufffdRobotics"
    # list and dict values are JSON, which escapes control characters: they come back whole
    assert json.loads(entity["aliases"]) == ["Acme\x0bRobotics", "Acme"]
    (edge,) = back.get_edge_data("ent_1", "doc:ctl_x0001_id").values()
    assert json.loads(edge["provenance"])[0]["text"] == "ctl\x01 text"


def test_graphml_keeps_carriage_returns_in_values(tmp_path: Path) -> None:
    graph = _graph("d1", "Acme\rRobotics")
    graph.nodes["doc:d1"]["meta_note"] = "Windows\r\nlines\r"
    back = nx.read_graphml(write_graphml(graph, tmp_path / "g.graphml"), force_multigraph=True)
    assert back.nodes["doc:d1"]["meta_note"] == "Windows\r\nlines\r"
    assert back.nodes["ent_1"]["name"] == "Acme\rRobotics"


def test_graphml_reads_back_as_what_networkx_writes(tmp_path: Path) -> None:
    """Our writer builds the file as text: it must hold what networkx's own writer holds."""
    graph = _graph('q"uote\n&<id>', HOSTILE)
    graph.add_node("ent_2", kind="entity", flag=True, score=0.25, rank=3, note=None, empty="")
    graph.add_node("ent_3", kind="entity", flag="yes", score=1, rank=2.5)  # other types
    graph.add_edge("ent_2", "ent_3", key='k"1\t<', weight=0.5, ok=False, tags={"b": 1})
    graph.add_edge("ent_2", "ent_3", key="k2", weight="heavy")
    ours = nx.read_graphml(write_graphml(graph, tmp_path / "ours.graphml"), force_multigraph=True)

    flat: nx.MultiDiGraph[str] = nx.MultiDiGraph()  # what networkx is given: flat, XML-safe

    def scalar(value: Any) -> Any:
        if isinstance(value, bool | int | float):
            return value
        text = (
            value
            if isinstance(value, str)
            else json.dumps(value, ensure_ascii=False, sort_keys=True)
        )
        return xml_safe(text)

    for node, data in graph.nodes(data=True):  # the attributes as GraphML names them
        values = {k: scalar(v) for k, v in graphml_node_data(data).items() if v is not None}
        flat.add_node(graphml_id(node), **values)
    for head, tail, key, data in graph.edges(keys=True, data=True):
        values = {k: scalar(v) for k, v in graphml_edge_data(data).items() if v is not None}
        flat.add_edge(graphml_id(head), graphml_id(tail), key=graphml_id(key), **values)
    nx.write_graphml(flat, tmp_path / "nx.graphml", encoding="utf-8")
    theirs = nx.read_graphml(tmp_path / "nx.graphml", force_multigraph=True)

    assert dict(ours.nodes(data=True)) == dict(theirs.nodes(data=True))
    assert sorted(ours.edges(keys=True, data=True)) == sorted(theirs.edges(keys=True, data=True))
    assert ours.nodes["ent_2"]["flag"] is True and ours.nodes["ent_3"]["flag"] == "yes"
    assert "doc:q_x0022_uote_x000A__x0026__x003C_id_x003E_" in ours  # escaped, not lost
    assert ours.nodes["doc:q_x0022_uote_x000A__x0026__x003C_id_x003E_"]["id"] == 'q"uote\n&<id>'


NMTOKEN = re.compile(r"[A-Za-z0-9.:_-]+")
"""GraphML's node and edge ids (``xs:NMTOKEN``), in the ASCII that every tool reads."""


def test_graphml_ids_are_unique_nmtokens_and_the_names_attributes(tmp_path: Path) -> None:
    """Document ids are paths and record ids as given: spaces, slashes, quotes, any letter.

    They were written as they are (not NMTOKENs, which GraphML's schema asks for), and two
    ids that differ only in a character XML cannot hold were one node when read back.
    """
    doc_ids = [
        "reports/q1 2024.txt",
        'Kühne & Nagel "memo".txt',
        "a\x01",
        "a\x02",  # the same as "a\x01" once made XML-safe
        "a_x0001_",  # written as "a\x01" would be if "_x" stayed as it is
        "plain-id_1.txt",
    ]
    graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    for index, doc_id in enumerate(doc_ids):
        graph.add_node(f"doc:{doc_id}", kind="document", id=doc_id, doc_id=doc_id)
        entity = f"ent_{index:020x}"
        graph.add_node(entity, kind="entity", label="ORG", name=f"Varnok {index}")
        graph.add_edge(entity, f"doc:{doc_id}", key=f"indoc_{index:020x}", type="MENTIONED_IN")
    back = nx.read_graphml(write_graphml(graph, tmp_path / "g.graphml"), force_multigraph=True)
    assert back.number_of_nodes() == graph.number_of_nodes()
    assert all(NMTOKEN.fullmatch(node) for node in back)
    ns = "{http://graphml.graphdrawing.org/xmlns}"
    edge_ids = [e.get("id") for e in ElementTree.parse(tmp_path / "g.graphml").iter(f"{ns}edge")]
    assert all(NMTOKEN.fullmatch(edge_id) for edge_id in edge_ids)
    by_doc = {data["doc_id"]: node for node, data in back.nodes(data=True) if "doc_id" in data}
    readable = [xml_safe(doc_id) for doc_id in doc_ids]  # the attribute as XML holds it
    assert sorted(by_doc) == sorted(set(readable))
    assert by_doc["reports/q1 2024.txt"] == "doc:reports_x002F_q1_x0020_2024.txt"
    assert by_doc["plain-id_1.txt"] == "doc:plain-id_1.txt"  # a plain id is as it was
    for index, doc_id in enumerate(doc_ids):  # each edge still joins its entity and document
        (target,) = back.successors(f"ent_{index:020x}")
        assert target == graphml_id(f"doc:{doc_id}")
        assert back.nodes[target]["id"] == xml_safe(doc_id)
        assert back.nodes[f"ent_{index:020x}"]["name"] == f"Varnok {index}"


def test_graphml_refuses_two_nodes_of_one_text(tmp_path: Path) -> None:
    graph: nx.MultiDiGraph[Any] = nx.MultiDiGraph()
    graph.add_nodes_from([1, "1"])
    with pytest.raises(ValueError, match="nodes 1 and '1' would both be '1'"):
        write_graphml(graph, tmp_path / "g.graphml")


def test_graphml_edge_ids_are_unique_in_a_built_graph(tmp_path: Path) -> None:
    """GraphML requires unique edge ids (tools such as Gephi drop an edge whose id repeats)."""
    from kgbuild.graph.cooccurrence import document_links
    from tests.explorer_data import small_graph

    small = small_graph()
    graph = small.graph()
    path = write_graphml(graph, tmp_path / "g.graphml")
    ns = "{http://graphml.graphdrawing.org/xmlns}"
    ids = [edge.get("id") for edge in ElementTree.parse(path).iter(f"{ns}edge")]
    assert len(ids) == graph.number_of_edges() and len(set(ids)) == len(ids)
    mentioned = {k for _, _, k, t in graph.edges(keys=True, data="type") if t == "MENTIONED_IN"}
    mention_to_entity = {m: e.id for e in small.entities for m in e.mention_ids}
    links = document_links(small.delta.mentions, mention_to_entity)
    assert mentioned == {link.id for link in links}  # the ids of Neo4j's IN_DOCUMENT


GEPHI_NODE_LABEL = {"label", "d3"}
GEPHI_EDGE_LABEL = {"label", "edgelabel", "d7"}
"""What Gephi's GraphML importer (``ImporterGraphML``) shows as a node's or an edge's label:
the ``<key>`` of that id, else of that ``attr.name`` (``d3``, ``d7``: yEd's ids)."""


def _gephi_labels(path: Path) -> dict[str, set[str]]:
    """Per scope, the ``attr.name`` of every key Gephi would read as the label."""
    ns = "{http://graphml.graphdrawing.org/xmlns}"
    names = {"node": GEPHI_NODE_LABEL, "edge": GEPHI_EDGE_LABEL}
    found: dict[str, set[str]] = {"node": set(), "edge": set()}
    for key in ElementTree.parse(path).iter(f"{ns}key"):
        scope, name = key.get("for", ""), key.get("attr.name", "")
        if key.get("id") in names[scope] or name in names[scope]:
            found[scope].add(name)
    return found


def test_graphml_labels_entities_by_name_documents_by_title_edges_by_type(
    tmp_path: Path,
) -> None:
    """Gephi shows a node's ``label``: it showed PER/ORG/LOC on every entity.

    The entity type is ``type`` in GraphML; ``graph.json`` keeps ``label`` (the explorer
    and ``kgbuild ask`` read it).
    """
    from tests.explorer_data import small_graph

    graph = small_graph().graph(co_occurs=True)
    path = write_graphml(graph, tmp_path / "g.graphml")
    back = nx.read_graphml(path, force_multigraph=True)
    assert _gephi_labels(path) == {"node": {"label"}, "edge": {"label"}}
    for node, data in graph.nodes(data=True):
        read = back.nodes[graphml_id(node)]
        if data["kind"] == "entity":
            assert read["label"] == data["name"] and read["type"] == data["label"]
            assert read["name"] == data["name"]
        else:
            assert read["label"] == data.get("meta_title", data["source"])
    titled = [d for _, d in back.nodes(data=True) if "meta_title" in d]
    assert titled and all(d["label"] == d["meta_title"] for d in titled)
    types = {data["type"] for _, _, data in graph.edges(data=True)}
    assert {"MENTIONED_IN", "CO_OCCURS"} < types and len(types) > 2  # relations too
    for _, _, data in back.edges(data=True):
        assert data["label"] == data["type"]
    in_json = [n for n in json.loads(node_link_text(graph))["nodes"] if n["kind"] == "entity"]
    assert in_json and all(n["label"] in {"PER", "ORG", "LOC"} for n in in_json)
    assert all("type" not in n for n in in_json)  # graph.json and the graph are as they were


def test_graphml_key_ids_are_not_read_as_labels_by_gephi(tmp_path: Path) -> None:
    """networkx's key ids ``d0``, ``d1``...: a document's fourth attribute (its content
    hash) had the id ``d3``, which Gephi shows as the node label."""
    path = write_graphml(_graph("a.txt", "Acme"), tmp_path / "g.graphml")
    labels = _gephi_labels(path)
    assert "content_hash" not in labels["node"]
    assert labels["node"] <= {"label"} and labels["edge"] <= {"label"}
    bare: nx.MultiDiGraph[str] = nx.MultiDiGraph()  # an edge's eighth attribute was d7
    bare.add_edge("a", "b", key="e", **{f"a{i}": i for i in range(10)})
    assert _gephi_labels(write_graphml(bare, tmp_path / "b.graphml"))["edge"] == set()


def _weighted_graph() -> nx.MultiDiGraph[str]:
    """Document ``d``: A and B in sentences 0-2, C in sentence 2, A alone in sentence 3;
    A EMPLOYER B read from sentences 0 and 1 (score 0.55), B HEADQUARTERS_LOCATION C from
    sentence 2 (score 0.99)."""
    from kgbuild.data import Entity, Evidence, Mention, Provenance, Relation, Span
    from kgbuild.graph.build import build_graph

    places = [(0, "A"), (0, "B"), (1, "A"), (1, "B"), (2, "A"), (2, "B"), (2, "C"), (3, "A")]
    mentions, to_entity = [], {}
    for n, (sentence, entity) in enumerate(places):
        provenance = Provenance(
            doc_id="d",
            chunk_id=f"d-{sentence}",
            span=Span(start=10 * n, end=10 * n + 1),
            score=0.9,
            model="m",
            model_revision="r",
            run_id="run",
            stage="ner",
        )
        mentions.append(Mention(id=f"m{n}", text=entity, label="ORG", provenance=provenance))
        to_entity[f"m{n}"] = entity
    entities = [
        Entity(
            id=name,
            label="ORG",
            name=name,
            aliases=(),
            mention_ids=tuple(m for m, e in to_entity.items() if e == name),
            doc_ids=("d",),
        )
        for name in "ABC"
    ]

    def relation(head: str, kind: str, tail: str, score: float, sentences: list[int]) -> Relation:
        evidence = tuple(
            Evidence(
                provenance=mentions[0].provenance.model_copy(
                    update={"chunk_id": f"d-{s}", "span": Span(start=s, end=s + 1)}
                ),
                text=f"sentence {s}",
            )
            for s in sentences
        )
        return Relation(
            id=f"rel_{head}{tail}", head=head, tail=tail, type=kind, score=score, evidence=evidence
        )

    relations = [
        relation("A", "EMPLOYER", "B", 0.55, [0, 1]),
        relation("B", "HEADQUARTERS_LOCATION", "C", 0.99, [2]),
    ]
    documents = [{"id": "d", "source": "d.txt", "content_hash": "h"}]
    return build_graph(documents, entities, mentions, to_entity, relations)


def test_graphml_edges_weigh_their_counts_for_gephi_and_networkx(tmp_path: Path) -> None:
    """Gephi reads an edge key named ``weight`` as the edge's weight; it had none, so every
    edge weighed 1 and weighted degree and modularity ignored how often a link was seen."""
    graph = _weighted_graph()
    path = write_graphml(graph, tmp_path / "g.graphml")
    ns = "{http://graphml.graphdrawing.org/xmlns}"
    weight_keys = [
        (key.get("for"), key.get("attr.type"))
        for key in ElementTree.parse(path).iter(f"{ns}key")
        if key.get("attr.name") == "weight"
    ]
    assert weight_keys == [("edge", "double")]  # one column, a number, on every edge
    back = nx.read_graphml(path, force_multigraph=True)
    weights = {
        (head, data["type"], tail): data["weight"] for head, tail, data in back.edges(data=True)
    }
    assert weights == {
        ("A", "CO_OCCURS", "B"): 3.0,  # the sentences naming both
        ("A", "CO_OCCURS", "C"): 1.0,
        ("B", "CO_OCCURS", "C"): 1.0,
        ("A", "EMPLOYER", "B"): 2.0,  # its evidence sentences, not its score
        ("B", "HEADQUARTERS_LOCATION", "C"): 1.0,
        ("A", "MENTIONED_IN", "doc:d"): 4.0,  # the entity's mentions in the document
        ("B", "MENTIONED_IN", "doc:d"): 3.0,
        ("C", "MENTIONED_IN", "doc:d"): 1.0,
    }
    assert all(type(weight) is float for weight in weights.values())
    employer = next(d for _, _, d in back.edges(data=True) if d["type"] == "EMPLOYER")
    assert employer["score"] == 0.55 and employer["count"] == 2  # kept as they were
    assert back.degree("A", weight="weight") == 4 + 3 + 1 + 2  # weighted degree, as Gephi's
    in_json = json.loads(node_link_text(graph))["edges"]
    assert in_json and all("weight" not in edge for edge in in_json)  # graph.json as it was


def test_node_link_json_reads_back_as_networkx_data_one_item_per_line(tmp_path: Path) -> None:
    graph = _graph("d\n1", HOSTILE)
    graph.add_node("ent_2", kind="entity", label="PER", name="Ada\u2028", aliases=[])
    path = write_node_link(graph, tmp_path / "graph.json")
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == nx.node_link_data(graph, edges="edges")
    lines = text.splitlines()
    assert sum(line.startswith('  {"') for line in lines) == 3 + 1  # nodes, then the edge
    assert lines[1] == ' "directed": true,'
    empty = json.loads(write_node_link(nx.MultiDiGraph(), tmp_path / "empty.json").read_text())
    assert empty == nx.node_link_data(nx.MultiDiGraph(), edges="edges")


def test_script_json_escapes_what_could_end_or_reopen_a_script() -> None:
    value = {"id": HOSTILE, "nested": [HOSTILE]}
    text = script_json(value)
    assert json.loads(text) == value
    assert not set("<>&\u2028\u2029") & set(text)


def _embedded_data(page: str) -> dict[str, Any]:
    match = re.search(r'<script id="kg-data" type="application/json">(.*?)</script>', page, re.S)
    assert match is not None
    data = json.loads(match.group(1))
    assert isinstance(data, dict)
    return data


def test_graph_html_embeds_a_hostile_id_and_name_as_data(tmp_path: Path) -> None:
    graph = _graph(HOSTILE, f"Acme {HOSTILE}")
    path = write_html(graph, tmp_path / "graph.html", title=HOSTILE)
    page = path.read_text(encoding="utf-8")
    data = _embedded_data(page)
    assert [row[1] for row in data["entities"]] == [f"Acme {HOSTILE}"]
    (documents,) = [p["documents"] for p in data["pages"].values()]
    assert [d["title"] for d in documents] == [HOSTILE]  # a record: titled by its id


def test_a_build_refuses_a_control_character_id_and_writes_readable_exports(
    tmp_path: Path, keyword_ner_model: Path
) -> None:
    from kgbuild.pipeline import build

    records = [
        {"id": "ctl\u0001id", "text": "Maria Gonzalez works for Acme Robotics in Berlin ."},
        {
            "id": "<!--<script>",
            "text": "David Chen works for Helix in Nairobi . <!--<script> \u2028",
            "metadata": {"note": "bell\u0007", "tags": ["a", "b"]},
        },
    ]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "r.jsonl").write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    settings = Settings(out_dir=tmp_path / "out", ner=NerConfig(model=str(keyword_ner_model)))
    report = build([str(docs)], settings)
    (failure,) = report.failures
    assert failure.source.endswith("r.jsonl:1") and "control character U+0001" in failure.error
    assert "control character U+0001" in report.summary()
    graph = nx.read_graphml(report.outputs["graphml"], force_multigraph=True)
    doc = graph.nodes[graphml_id("doc:<!--<script>")]
    assert doc["meta_note"] == "bell\ufffd" and doc["meta_tags"] == '["a", "b"]'
    assert any(data.get("name") == "Helix" for _, data in graph.nodes(data=True))


def test_graph_html_is_written_without_importing_pyvis(tmp_path: Path) -> None:
    """vis-network's files are read from the pyvis folder; importing pyvis imports IPython."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from kgbuild.graph.export import write_html\n"
        "from tests.unit.graph.test_export import _graph\n"
        "page = write_html(_graph('a', 'Acme'), Path(sys.argv[1])).read_text(encoding='utf-8')\n"
        "assert 'vis.Network' in page and 'vis-network' in page\n"
        "print(sorted({'pyvis', 'IPython', 'jsonpickle'} & set(sys.modules)))\n"
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "graph.html")],
        capture_output=True, text=True, cwd=root, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_explorer_bundle_s_store_indexes_names_only_when_searched() -> None:
    from kgbuild.qa.embedded import EmbeddedGraph

    data = nx.node_link_data(_graph("a", "Acme Robotics"), edges="edges")
    store = EmbeddedGraph.from_node_link(data)
    assert store._name_index is None  # the static bundle never searches
    assert [hit.name for hit in store.search(["acme"], 5)] == ["Acme Robotics"]
    assert [s.name for s in store.suggest("acm", 5)] == ["Acme Robotics"]
