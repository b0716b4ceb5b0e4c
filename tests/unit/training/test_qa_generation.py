"""QA training questions generated from relation annotations (invented records)."""

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kgbuild.cli import app
from kgbuild.errors import InputError
from kgbuild.readers.docred import read_docred
from kgbuild.readers.relations import read_conll04
from kgbuild.readers.squad import load_squad
from kgbuild.training.qa_generation import (
    conll04_questions,
    docred_confusable_questions,
    docred_evidence_questions,
    docred_question,
    docred_questions,
    write_squad,
)


def _docred_records() -> list[dict[str, Any]]:
    """Two invented documents; the second has two tails for one (head, relation)."""
    first = {
        "title": "Invented one",
        "sents": [
            ["Tove", "Lindqvist", "grew", "up", "in", "Norway", "."],
            ["Later", "Lindqvist", "moved", "to", "Sweden", ",", "not", "Norway", "."],
        ],
        "vertexSet": [
            [
                {"name": "Tove Lindqvist", "sent_id": 0, "pos": [0, 2], "type": "PER"},
                {"name": "Lindqvist", "sent_id": 1, "pos": [1, 2], "type": "PER"},
            ],
            [
                {"name": "Norway", "sent_id": 0, "pos": [5, 6], "type": "LOC"},
                {"name": "Norway", "sent_id": 1, "pos": [7, 8], "type": "LOC"},
            ],
            [{"name": "Sweden", "sent_id": 1, "pos": [4, 5], "type": "LOC"}],
        ],
        # evidence is the second sentence: its mention of Norway must come first
        "labels": [{"h": 0, "t": 1, "r": "P27", "evidence": [1]}],
    }
    second = {
        "title": "Invented two",
        "sents": [["Quarn", "Labs", "sells", "in", "Peru", "and", "Chile", "."]],
        "vertexSet": [
            [{"name": "Quarn Labs", "sent_id": 0, "pos": [0, 2], "type": "ORG"}],
            [{"name": "Peru", "sent_id": 0, "pos": [4, 5], "type": "LOC"}],
            [{"name": "Chile", "sent_id": 0, "pos": [6, 7], "type": "LOC"}],
        ],
        "labels": [
            {"h": 0, "t": 1, "r": "P999", "evidence": [0]},
            {"h": 0, "t": 2, "r": "P999", "evidence": [0]},
        ],
    }
    return [first, second]


def test_evidence_questions_read_only_the_evidence_sentences(tmp_path: Path) -> None:
    docs = read_docred(_write(tmp_path / "d.json", _docred_records()))
    questions = docred_evidence_questions(docs, {"P999": "market of"}, id_prefix="x")
    by_question = {q.question: q for q in questions}
    norway = by_question["What is the nationality of Tove Lindqvist?"]
    assert norway.context == "Later Lindqvist moved to Sweden , not Norway ."
    [answer] = norway.answers
    assert norway.context[answer.start : answer.start + len(answer.text)] == "Norway"
    # the second document is one sentence: asked over the whole document already
    assert "What is Quarn Labs market of?" not in by_question
    assert docred_evidence_questions(docs, {}, exclude={"P27", "P999"}) == []


def _film_records() -> list[dict[str, Any]]:
    """Films with a director, an author or both; the same types (MISC -> PER) throughout."""

    def film(title: str, person: str, labels: list[tuple[str, list[int]]]) -> dict[str, Any]:
        return {
            "title": title,
            "sents": [
                [title, "is", "a", "film", "."],
                ["It", "is", "by", person, "."],
                ["It", "was", "released", "in", "1990", "."],
            ],
            "vertexSet": [
                [{"name": title, "sent_id": 0, "pos": [0, 1], "type": "MISC"}],
                [{"name": person, "sent_id": 1, "pos": [3, 4], "type": "PER"}],
            ],
            "labels": [{"h": 0, "t": 1, "r": r, "evidence": e} for r, e in labels],
        }

    return [
        film("Arvo", "Lind", [("P57", [0, 1])]),  # directed: "who wrote Arvo?" has no answer
        film("Bel", "Moor", [("P50", [0, 1])]),  # written: "who directed Bel?" has none
        film("Cade", "Nye", [("P57", [0, 1]), ("P50", [0, 1])]),  # both: nothing to confuse
        film("Dune", "Oto", [("P57", [])]),  # no evidence: no context to pair with
    ]


def test_confusable_questions_ask_what_the_evidence_does_not_say(tmp_path: Path) -> None:
    docs = read_docred(_write(tmp_path / "d.json", _film_records()))
    names = {"P57": "director", "P50": "author"}
    questions = docred_confusable_questions(docs, names, ratio=1, seed=0, id_prefix="x")
    assert {(q.title, q.question, q.context) for q in questions} == {
        ("x-0", "Who wrote Arvo?", "Arvo is a film . It is by Lind ."),
        ("x-1", "Who directed Bel?", "Bel is a film . It is by Moor ."),
    }
    assert all(q.answers == () for q in questions)
    # an excluded type is neither asked nor a fact to confuse
    kept = docred_confusable_questions(docs, names, ratio=1, seed=0, exclude={"P57"})
    assert kept == []
    # evidence longer than max_sentences is not a context
    assert docred_confusable_questions(docs, names, ratio=1, seed=0, max_sentences=1) == []
    assert docred_confusable_questions(docs, names, ratio=0, seed=0) == []


def _conll04_records() -> list[dict[str, Any]]:
    return [
        {
            "tokens": ["Ines", "Marr", "works", "for", "Velto", "Corp", "."],
            "entities": [[0, 2, "Peop"], [4, 6, "Org"]],
            "relations": [[0, 2, 4, 6, "Work_For"]],
        }
    ]


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_docred_questions_point_at_the_tail_in_its_evidence(tmp_path: Path) -> None:
    docs = read_docred(_write(tmp_path / "d.json", _docred_records()))
    questions = docred_questions(docs, {"P999": "market of"}, id_prefix="x", first_index=7)
    by_question = {q.question: q for q in questions}
    assert set(by_question) == {
        "What is the nationality of Tove Lindqvist?",
        "What is Quarn Labs market of?",
    }
    nationality = by_question["What is the nationality of Tove Lindqvist?"]
    assert nationality.title == "x-7"
    assert [a.text for a in nationality.answers] == ["Norway", "Norway"]
    first, other = nationality.answers
    assert first.start > other.start  # the evidence sentence's mention is the target
    for answer in nationality.answers:
        assert nationality.context[answer.start : answer.start + len(answer.text)] == "Norway"
    market = by_question["What is Quarn Labs market of?"]
    assert [a.text for a in market.answers] == ["Peru", "Chile"]  # two tails, one question


def test_generic_question_from_the_relation_name() -> None:
    assert docred_question("P17", {}) == "Which country is {h} in?"
    assert docred_question("P1", {"P1": "sibling"}) == "What is the sibling of {h}?"
    assert docred_question("P2", {}) == "What is the P2 of {h}?"


def test_conll04_questions_ask_both_directions(tmp_path: Path) -> None:
    sentences = read_conll04(_write(tmp_path / "c.json", _conll04_records()))
    questions = {q.question: q for q in conll04_questions(sentences)}
    assert set(questions) == {"Who does Ines Marr work for?", "Who works for Velto Corp?"}
    employer = questions["Who does Ines Marr work for?"]
    (answer,) = employer.answers
    assert employer.context[answer.start : answer.start + len(answer.text)] == "Velto Corp"
    (person,) = questions["Who works for Velto Corp?"].answers
    assert (person.start, person.text) == (0, "Ines Marr")


def test_unknown_conll04_relation_is_refused(tmp_path: Path) -> None:
    records = _conll04_records()
    records[0]["relations"] = [[0, 2, 4, 6, "Owns"]]
    sentences = read_conll04(_write(tmp_path / "c.json", records))
    with pytest.raises(InputError, match="'Owns' has no question template"):
        conll04_questions(sentences)


def test_written_questions_read_back_as_squad(tmp_path: Path) -> None:
    docs = read_docred(_write(tmp_path / "d.json", _docred_records()))
    questions = docred_questions(docs, {})
    assert write_squad(questions, tmp_path / "q.json") == len(questions)
    read = load_squad(tmp_path / "q.json").examples
    assert sorted(read, key=lambda q: q.id) == sorted(questions, key=lambda q: q.id)
    assert write_squad(questions, tmp_path / "one.json", limit=1, seed=3) == 1
    (kept,) = load_squad(tmp_path / "one.json").examples
    assert kept in questions


def test_qa_questions_command(tmp_path: Path) -> None:
    docred = _write(tmp_path / "d.json", _docred_records())
    conll04 = _write(tmp_path / "c.json", _conll04_records())
    out = tmp_path / "gen" / "q.json"
    args = ["train", "qa-questions", "--out", str(out), "--conll04", str(conll04)]
    run = CliRunner().invoke(app, [*args, "--docred", str(docred), "--skip-docs", "1"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.output) == {
        "generated": 3,
        "unanswerable": 0,
        "confusable": 0,
        "excluded_relations": [],
        "written": 3,
        "out": str(out),
    }
    titles = {q.title for q in load_squad(out).examples}
    assert titles == {"docred-1", "conll04-0"}  # the first document was skipped
    run = CliRunner().invoke(app, [*args, "--docred", str(docred), "--skip-docs", "2"])
    assert run.exit_code != 0
    assert "leaves none of the 2 documents" in str(run.exception) + run.output
    run = CliRunner().invoke(app, ["train", "qa-questions", "--out", str(out)])
    assert run.exit_code != 0
    assert "give --docred, --conll04 or both" in run.output
    run = CliRunner().invoke(app, [*args, "--confusable", "1"])
    assert run.exit_code != 0
    assert "--confusable needs --docred" in run.output


def test_qa_questions_command_writes_confusable_questions(tmp_path: Path) -> None:
    docred = _write(tmp_path / "d.json", _film_records())
    out = tmp_path / "q.json"
    args = ["train", "qa-questions", "--out", str(out), "--docred", str(docred)]
    run = CliRunner().invoke(app, [*args, "--confusable", "1"])
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output)
    assert (summary["generated"], summary["unanswerable"], summary["confusable"]) == (7, 2, 2)
    unanswerable = {q.question for q in load_squad(out).examples if not q.answers}
    assert unanswerable == {"Who wrote Arvo?", "Who directed Bel?"}
    run = CliRunner().invoke(app, [*args, "--confusable", "1", "--evidence-contexts"])
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output)
    # four facts with evidence, each asked again over its two sentences
    assert (summary["generated"], summary["unanswerable"]) == (11, 2)
    short = [q for q in load_squad(out).examples if q.answers and len(q.context) < 40]
    assert len(short) == 4
