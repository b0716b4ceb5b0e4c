"""The graph delta a persist hands the store: built from stored results and their resolution."""

from __future__ import annotations

from kgbuild.data import (
    Chunk,
    DocumentInfo,
    DocumentResult,
    GraphDelta,
    Mention,
    Provenance,
    Span,
)
from kgbuild.graph.build import build_graph
from kgbuild.graph.cooccurrence import co_occurrences, document_links
from kgbuild.graph.delta import graph_delta
from kgbuild.stages.resolve import resolve_mentions


def result(doc_id: str, names: list[str]) -> DocumentResult:
    text = " ".join(names)
    chunk = Chunk(id=f"{doc_id}-0", doc_id=doc_id, index=0, span=Span(start=0, end=len(text)), text=text)  # fmt: skip
    mentions, start = [], 0
    for name in names:
        provenance = Provenance(
            doc_id=doc_id, chunk_id=chunk.id, span=Span(start=start, end=start + len(name)),
            score=0.9, model="m", model_revision="r", run_id="run", stage="ner",
        )  # fmt: skip
        mentions.append(Mention(id=f"{doc_id}:{start}", text=name, label="ORG", provenance=provenance))  # fmt: skip
        start += len(name) + 1
    info = DocumentInfo(id=doc_id, source=f"/in/{doc_id}", content_hash=doc_id * 4)
    return DocumentResult(document=info, chunks=(chunk,), mentions=tuple(mentions))


def test_the_delta_rewrites_the_stale_documents_and_links_every_current_mention() -> None:
    results = [result("a", ["Acme", "Northwind"]), result("b", ["Acme", "Granite"])]
    mentions = [m for r in results for m in r.mentions]
    resolution = resolve_mentions(mentions)
    delta = graph_delta(
        "run-2", results, resolution, rewrite={"b"}, retire=["gone", "b"], cooccurrence_window=0
    )
    assert [d.id for d in delta.documents] == ["b"]
    assert delta.documents[0] == results[1].document
    assert delta.chunks == results[1].chunks
    assert delta.mentions == tuple(mentions)  # every current mention is re-linked
    assert delta.entities == resolution.entities
    assert delta.entity_of() == resolution.mention_to_entity
    assert delta.retired == ("b", "gone")
    assert list(delta.cooccurrences) == co_occurrences(
        mentions, resolution.mention_to_entity, {"a-0": 0, "b-0": 0}
    )
    assert list(delta.document_links) == document_links(mentions, resolution.mention_to_entity)
    acme = {m.id for m in mentions if m.text == "Acme"}
    assert len({delta.entity_of()[m] for m in acme}) == 1  # one entity across documents


def test_the_delta_takes_the_co_occurrences_the_graph_was_built_with() -> None:
    # the pipeline computes the pairs once, for the graph and for the delta (each computed
    # them: a second pass over every current mention on each persist)
    results = [result("a", ["Acme", "Northwind"]), result("b", ["Acme", "Granite"])]
    mentions = [m for r in results for m in r.mentions]
    resolution = resolve_mentions(mentions)
    pairs = co_occurrences(mentions, resolution.mention_to_entity, {"a-0": 0, "b-0": 0})
    graph = build_graph([], resolution.entities, mentions, resolution.mention_to_entity, cooccurrences=pairs)  # fmt: skip
    given = graph_delta("run-2", results, resolution, cooccurrences=pairs[:1])
    assert delta_pairs(given) == [pairs[0].id]  # used as given, not computed again
    computed = graph_delta("run-2", results, resolution)
    assert computed.cooccurrences == tuple(pairs)
    edges = [k for _, _, k, d in graph.edges(keys=True, data=True) if d["type"] == "CO_OCCURS"]
    assert sorted(edges) == sorted(p.id for p in pairs)


def delta_pairs(delta: GraphDelta) -> list[str]:
    return [pair.id for pair in delta.cooccurrences]
