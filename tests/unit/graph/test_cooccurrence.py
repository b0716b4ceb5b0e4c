"""Derived edges: co-occurrence within a sentence window, entity-document links, in the files."""

from __future__ import annotations

import pytest

from kgbuild.data import Mention, Provenance, Span
from kgbuild.graph.build import build_graph
from kgbuild.graph.cooccurrence import co_occurrences, document_links

# document "d": sentence 0 names A and B, sentence 1 names C, sentence 2 names A twice and D;
# document "e": sentence 0 names B and A
PLACES = [
    ("d", 0, "A"),
    ("d", 0, "B"),
    ("d", 1, "C"),
    ("d", 2, "A"),
    ("d", 2, "A"),
    ("d", 2, "D"),
    ("e", 0, "B"),
    ("e", 0, "A"),
]


def mentions() -> tuple[list[Mention], dict[str, str], dict[str, int]]:
    found, to_entity = [], {}
    for n, (doc, sentence, entity) in enumerate(PLACES):
        mention_id = f"m{n}"
        found.append(
            Mention(
                id=mention_id,
                text=entity,
                label="ORG",
                provenance=Provenance(
                    doc_id=doc,
                    chunk_id=f"{doc}-{sentence}",
                    span=Span(start=10 * n, end=10 * n + 1),
                    score=0.9,
                    model="m",
                    model_revision="r",
                    run_id="run",
                    stage="ner",
                ),
            )
        )
        to_entity[mention_id] = entity
    found.append(found[0].model_copy(update={"id": "unresolved"}))  # no entity: left out
    index = {f"{doc}-{sentence}": sentence for doc, sentence, _ in PLACES}
    return found, to_entity, index


def pairs(window: int) -> dict[tuple[str, str], tuple[int, tuple[str, ...]]]:
    found, to_entity, index = mentions()
    return {
        (c.source, c.target): (c.count, c.docs)
        for c in co_occurrences(found, to_entity, index, window=window)
    }


def test_same_sentence_pairs_once_per_sentence_with_their_documents() -> None:
    assert pairs(0) == {("A", "B"): (2, ("d", "e")), ("A", "D"): (1, ("d",))}


def test_a_window_counts_the_sentences_that_have_the_other_entity_near() -> None:
    # window 1: sentence 0 (A, B; C next), sentence 1 (C; A, B before, A, D after),
    # sentence 2 (A, D; C before)
    assert pairs(1) == {
        ("A", "B"): (2, ("d", "e")),
        ("A", "C"): (3, ("d",)),
        ("B", "C"): (2, ("d",)),
        ("A", "D"): (1, ("d",)),
        ("C", "D"): (2, ("d",)),
    }
    assert pairs(2)[("B", "D")] == (2, ("d",))  # two sentences apart


def test_ids_and_direction_are_stable_and_bad_windows_are_refused() -> None:
    found, to_entity, index = mentions()
    first = co_occurrences(found, to_entity, index, window=1)
    assert co_occurrences(list(reversed(found)), to_entity, index, window=1) == first
    assert all(c.source < c.target for c in first)
    assert len({c.id for c in first}) == len(first)
    with pytest.raises(ValueError, match="0 or more"):
        co_occurrences(found, to_entity, index, window=-1)
    with pytest.raises(ValueError, match="chunk index"):
        co_occurrences(found, to_entity, None, window=1)


def test_document_links_count_mentions() -> None:
    found, to_entity, _ = mentions()
    links = {(x.entity, x.doc_id): x.count for x in document_links(found, to_entity)}
    assert links == {
        ("A", "d"): 3,
        ("B", "d"): 1,
        ("C", "d"): 1,
        ("D", "d"): 1,
        ("A", "e"): 1,
        ("B", "e"): 1,
    }


def test_the_graph_files_hold_one_co_occurs_edge_per_pair() -> None:
    from kgbuild.data import Entity

    found, to_entity, index = mentions()
    entities = [
        Entity(
            id=name,
            label="ORG",
            name=name,
            aliases=(),
            mention_ids=tuple(m for m, e in to_entity.items() if e == name),
            doc_ids=(),
        )
        for name in "ABCD"
    ]
    documents = [{"id": d, "source": d, "content_hash": d} for d in ("d", "e")]
    graph = build_graph(
        documents, entities, found, to_entity, chunk_index=index, cooccurrence_window=1
    )
    edges = {(a, b): data for a, b, data in graph.edges(data=True) if data["type"] == "CO_OCCURS"}
    assert set(edges) == set(pairs(1))
    assert edges[("A", "C")]["count"] == 3 and edges[("A", "B")]["docs"] == ["d", "e"]
    mentioned = {
        (a, b): data["count"]
        for a, b, data in graph.edges(data=True)
        if data["type"] == "MENTIONED_IN"
    }
    assert mentioned[("A", "doc:d")] == 3
