"""Reader spans snapped to the graph's entities of the labels a question asks for."""

from __future__ import annotations

import json

import pytest

from kgbuild.qa.embedded import EmbeddedGraph
from kgbuild.qa.relation_questions import answer_labels, asks_for_several
from kgbuild.qa.typed import Occurrence, entity_occurrences, passage_words, snap_span, spanned
from tests.unit.qa.test_ask import entity_node


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedGraph:
    nodes = [
        entity_node("maria", "María González", "PER", ["Maria Gonzalez"]),
        entity_node("dhyan", "Dhyan Sreenivasan", "PER", []),
        entity_node("vineeth", "Vineeth Sreenivasan", "PER", ["Vineeth"]),
        entity_node("thira", "Thira", "MISC", []),
        entity_node("acme", "Acme Robotics Inc.", "ORG", ["Acme", "艾克米机器人"]),
        entity_node("us", "United States", "LOC", ["U.S."]),
        entity_node("sudan", "Sudan", "LOC", []),
        entity_node("the", "The", "MISC", []),
        entity_node("toronto", "Toronto", "LOC", ["多伦多"]),
    ]
    path = tmp_path_factory.mktemp("typed") / "graph.json"
    path.write_text(json.dumps({"nodes": nodes, "edges": []}), encoding="utf-8")
    return EmbeddedGraph(path)


TEXT = (
    "Vineeth directed the film Thira in 2013 , which introduced his younger brother "
    "Dhyan Sreenivasan ; MARÍA GONZÁLEZ of Acme Robotics moved to the U.S. from Sudan ."
)


def _in(
    graph: EmbeddedGraph, text: str, labels: set[str], exclude: frozenset[str] = frozenset()
) -> list[Occurrence]:
    """Where ``text`` names the graph's entities of ``labels`` (candidates from the store)."""
    candidates = graph.named_in(passage_words([text]))
    return entity_occurrences(text, candidates, labels, exclude=exclude)


def _found(places: list[Occurrence]) -> list[tuple[str, str]]:
    return [(p.entity.id, TEXT[p.start : p.end]) for p in places]


def test_a_passage_names_the_entities_of_the_asked_labels_at_their_places(
    graph: EmbeddedGraph,
) -> None:
    people = _in(graph, TEXT, {"PER"})
    assert _found(people) == [
        ("vineeth", "Vineeth"),
        ("dhyan", "Dhyan Sreenivasan"),
        ("maria", "MARÍA GONZÁLEZ"),  # case and accents folded
    ]
    # not Vineeth Sreenivasan: his full name is not in the passage, only his first name
    assert _found(_in(graph, TEXT, {"LOC"})) == [
        ("us", "U.S."),  # a name of single letters is still a name
        ("sudan", "Sudan"),
    ]
    # the name without its corporate suffix, and an alias inside it, longest first
    assert _found(_in(graph, TEXT, {"ORG"})) == [
        ("acme", "Acme Robotics"),
        ("acme", "Acme"),
    ]
    # the question's own entities are left out; a name of stopwords only never matches
    assert "maria" not in {
        p.entity.id for p in _in(graph, TEXT, {"PER"}, exclude=frozenset({"maria"}))
    }
    assert _found(_in(graph, TEXT, {"MISC"})) == [("thira", "Thira")]


def test_chinese_names_are_found_as_substrings(graph: EmbeddedGraph) -> None:
    text = "艾克米机器人的总部在多伦多。"
    assert [(p.entity.id, text[p.start : p.end]) for p in _in(graph, text, {"LOC"})] == [
        ("toronto", "多伦多")
    ]
    assert [p.entity.id for p in _in(graph, text, {"ORG"})] == ["acme"]


def test_a_span_snaps_to_the_entity_it_overlaps_most(graph: EmbeddedGraph) -> None:
    people = _in(graph, TEXT, {"PER"})
    # the reader's span runs over a clause; the one person it names is the answer
    clause = TEXT.index("the film Thira"), TEXT.index("Dhyan") + len("Dhyan")
    chosen = snap_span(*clause, people)
    assert chosen is not None and chosen.entity.id == "dhyan"
    # a span that runs on over two names: the one it starts with ("Munich, Germany")
    places = _in(graph, TEXT, {"LOC"})
    run_on = TEXT.index("U.S."), TEXT.index("Sudan") + len("Sudan")
    chosen = snap_span(*run_on, places)
    assert chosen is not None and chosen.entity.id == "us"
    # starting inside a name snaps to it
    chosen = snap_span(TEXT.index("Sreenivasan"), TEXT.index(";"), people)
    assert chosen is not None and chosen.entity.id == "dhyan"
    # a span that names no entity of the labels snaps to nothing
    year = TEXT.index("2013"), TEXT.index("2013") + 4
    assert snap_span(*year, people) is None


def test_only_entities_whose_whole_name_is_in_the_passage_are_candidates(
    graph: EmbeddedGraph,
) -> None:
    words = ["vineeth", "directed", "the", "film"]
    assert [h.id for h in graph.named_in(words)] == ["vineeth"]
    assert {h.id for h in graph.named_in(["dhyan", "sreenivasan", "vineeth"])} == {
        "dhyan",
        "vineeth",
    }
    assert graph.named_in(["the", "of"]) == []


def test_a_span_naming_several_entities_answers_a_question_asking_for_several(
    graph: EmbeddedGraph,
) -> None:
    people = _in(graph, TEXT, {"PER"})
    # "Vineeth ... Dhyan Sreenivasan ; MARÍA GONZÁLEZ": every person in the span, in order
    first = snap_span(0, len(TEXT), people)
    assert first is not None
    assert [o.entity.id for o in spanned(first, len(TEXT), people)] == ["vineeth", "dhyan", "maria"]
    # the span ends before María González: she is not named by it
    end = TEXT.index(";")
    assert [o.entity.id for o in spanned(first, end, people)] == ["vineeth", "dhyan"]
    # an entity named twice in the span counts once ("Acme Robotics", then "Acme" inside it)
    orgs = _in(graph, TEXT, {"ORG"})
    assert [o.entity.id for o in spanned(orgs[0], len(TEXT), orgs)] == ["acme"]


@pytest.mark.parametrize(
    ("question", "labels", "several"),
    [
        ("Which company acquired Aurora Sensors?", {"ORG"}, False),
        ("Which companies did Acme acquire?", {"ORG"}, True),
        ("What firm led the round?", {"ORG"}, False),
        ("Which people founded Acme?", {"PER"}, True),
        ("In which city is Acme based?", {"LOC"}, False),
        ("What year was Acme founded?", {"TIME"}, False),
        ("Who founded Acme?", {"PER", "ORG"}, False),
        ("Where is Acme based?", {"LOC", "ORG"}, False),
        ("What is the nationality of Ada Lovelace?", None, False),
        ("Which award did Ada Lovelace win?", None, False),
        ("How many companies did Acme acquire?", None, False),
    ],
)
def test_the_opening_of_a_question_says_what_kind_of_answer_it_wants(
    question: str, labels: set[str] | None, several: bool
) -> None:
    assert answer_labels(question) == (None if labels is None else frozenset(labels))
    assert asks_for_several(question) is several


def test_a_name_found_case_folded_is_highlighted_whole() -> None:
    # "Weiß" folds to "weiss": the highlight of "WEISS" in a sentence was cut to "WEIS"
    from kgbuild.explorer.service import _text_marks
    from kgbuild.qa.engine import _locate
    from kgbuild.qa.models import EvidenceRef

    text = "Anna WEISS founded Acme Robotics."
    [mark] = _text_marks(text, "Weiß", "entity")
    assert text[mark.start : mark.end] == "WEISS"
    ev = EvidenceRef(doc_id="d", chunk_id="c", start=10, end=10 + len(text), text=text)
    located = _locate("Weiß", [ev])
    assert located is not None and located.answer_start is not None
    assert located.answer_end is not None
    assert text[located.answer_start - 10 : located.answer_end - 10] == "WEISS"


def test_a_decomposed_passage_names_its_entities_as_a_composed_one(graph: EmbeddedGraph) -> None:
    # "Mari\u0301a" was two words, "mari" and "a": no entity with an accent was found in a
    # passage written decomposed, so a typed answer there could not be snapped to it
    import unicodedata

    text = unicodedata.normalize("NFD", TEXT)
    people = _in(graph, text, {"PER"})
    assert [(p.entity.id, unicodedata.normalize("NFC", text[p.start : p.end])) for p in people] == [
        ("vineeth", "Vineeth"),
        ("dhyan", "Dhyan Sreenivasan"),
        ("maria", "MARÍA GONZÁLEZ"),
    ]
