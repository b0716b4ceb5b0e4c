"""Unanswerable questions and abstention: generation, exclusion, training, calibration, scoring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kgbuild.cli import app
from kgbuild.nlp.reader import ExtractiveReader, NoAnswerCalibration, QaQuery
from kgbuild.readers.squad import Answer, QAExample, load_squad
from kgbuild.training.qa_negatives import (
    FEWER_FREE_PASSAGES,
    NO_FREE_PASSAGE,
    answer_free_passages,
    held_out_unanswerable,
    make_negatives,
    make_negatives_reported,
)


def _example(qid: str, title: str, context: str, answer: str) -> QAExample:
    return QAExample(
        id=qid,
        title=title,
        context=context,
        question=f"where is {answer}?",
        answers=(Answer(text=answer, start=context.index(answer)),),
    )


def test_negatives_pair_questions_with_passages_of_their_article_without_the_answer() -> None:
    one = "Orla lives in Vantor. She paints boats. Orla sails on Sundays."
    two = "Brem is a town. It has a port near Vantor."
    three = "Kelp grows here. The sea is cold."
    examples = [
        _example("q1", "A", one, "Vantor"),
        _example("q2", "A", two, "port"),
        _example("q3", "A", three, "Kelp"),
        _example("q4", "B", "Only Vantor is here.", "Vantor"),
    ]
    negatives = make_negatives(examples, 1.0, seed=0)
    by_id = {n.id: n for n in negatives}
    # q1 (Vantor): "two" holds Vantor, so only "three" qualifies; q4 has no other paragraph
    assert by_id["q1-neg0"].context == three
    assert "q4-neg0" not in by_id
    for negative in negatives:
        original = next(e for e in examples if negative.id.startswith(e.id + "-"))
        assert negative.answers == () and negative.question == original.question
        assert original.answers[0].text.casefold() not in negative.context.casefold()
        assert negative.title == original.title
    # sentence runs (width) may come from the question's own paragraph
    runs = answer_free_passages(one, ["Vantor"], 1)
    assert runs == ["She paints boats.", "Orla sails on Sundays."]
    assert len(make_negatives(examples, 2.0, seed=0, width=1)) > len(negatives)
    assert make_negatives(examples, 0.0, seed=0) == []
    # the held-out unanswerable questions are the same for a seed
    assert held_out_unanswerable(examples, 3) == held_out_unanswerable(examples, 3)


def test_calibration_questions_given_no_unanswerable_twin_are_reported() -> None:
    from kgbuild.training.qa import _calibration_split

    held = [
        _example("c1", "A", "Orla lives in Vantor.", "Vantor"),
        _example("c2", "A", "Kelp grows here.", "Kelp"),
        _example("c3", "B", "Only Vantor is here.", "Vantor"),
    ]
    _, calibration, reports = _calibration_split([], held, 1, seed=0)
    assert len(calibration) == 3 + 2
    (line,) = [line for report in reports for line in report.lines()]
    assert line.startswith(
        "1 of 3 calibration answerable questions (making unanswerable ones) skipped"
    )
    assert "(first: 'c3'" in line


def test_questions_that_get_fewer_negatives_than_asked_are_reported() -> None:
    examples = [
        _example("q1", "A", "Orla lives in Vantor.", "Vantor"),
        _example("q2", "A", "Kelp grows here.", "Kelp"),
        _example("q3", "B", "Only Vantor is here.", "Vantor"),
    ]
    negatives, report = make_negatives_reported(examples, 2.0, seed=0)
    assert negatives == make_negatives(examples, 2.0, seed=0)
    assert [(s.id, s.reason) for s in report.skipped] == [("q3", NO_FREE_PASSAGE)]
    assert [(s.id, s.reason) for s in report.changed] == [
        ("q1", FEWER_FREE_PASSAGES),
        ("q2", FEWER_FREE_PASSAGES),
    ]
    assert report.lines()[0] == (
        "1 of 3 answerable questions (making unanswerable ones) skipped: "
        f"{NO_FREE_PASSAGE} (first: 'q3': 0 of 2 made)"
    )


def test_no_answer_calibration_from_a_manifest() -> None:
    assert NoAnswerCalibration.from_manifest({}) is None
    bare = NoAnswerCalibration.from_manifest({"no_answer": {"min_confidence": 0.5}})
    assert bare is not None and bare.keeps(0.1) and not bare.keeps(-0.1)
    calibrated = NoAnswerCalibration.from_manifest(
        {"no_answer": {"platt": {"scale": 1.0, "bias": -2.0}, "min_confidence": 0.5}}
    )
    assert calibrated is not None
    assert calibrated.confidence(2.0) == pytest.approx(0.5)
    assert calibrated.keeps(2.5) and not calibrated.keeps(1.5)
    assert calibrated.keeps(1.5, min_confidence=0.3)


def _docred_with_free_sentences() -> list[dict[str, Any]]:
    return [
        {
            "title": "Invented film",
            "sents": [
                ["Dark", "Harbour", "is", "a", "1931", "film", "."],
                ["It", "was", "directed", "by", "Ilse", "Varn", "."],
                ["The", "film", "is", "set", "in", "Quell", "."],
                ["It", "was", "shot", "in", "winter", "."],
            ],
            "vertexSet": [
                [{"name": "Dark Harbour", "sent_id": 0, "pos": [0, 2], "type": "MISC"}],
                [{"name": "Ilse Varn", "sent_id": 1, "pos": [4, 6], "type": "PER"}],
                [{"name": "Quell", "sent_id": 2, "pos": [5, 6], "type": "LOC"}],
            ],
            "labels": [
                {"h": 0, "t": 1, "r": "P57", "evidence": [1]},
                {"h": 0, "t": 2, "r": "P840", "evidence": [2]},
            ],
        }
    ]


def test_generated_questions_leave_out_excluded_types_and_add_negatives(tmp_path: Path) -> None:
    docred = tmp_path / "d.json"
    docred.write_text(json.dumps(_docred_with_free_sentences()), encoding="utf-8")
    out = tmp_path / "q.json"
    args = ["train", "qa-questions", "--out", str(out), "--docred", str(docred)]
    run = CliRunner().invoke(app, [*args, "--exclude-relations", "P57, Work_For"])
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output)
    assert summary["excluded_relations"] == ["P57", "Work_For"]
    questions = load_squad(out).examples
    assert not any("directed" in q.question.lower() for q in questions)
    assert json.loads(out.read_text())["kgbuild"]["excluded_relations"] == ["P57", "Work_For"]
    run = CliRunner().invoke(app, [*args, "--negatives", "1"])
    assert run.exit_code == 0, run.output
    questions = load_squad(out).examples
    negatives = [q for q in questions if not q.answers]
    summary = json.loads(run.output)
    assert summary["unanswerable"] == len(negatives) > 0
    (shortfall,) = summary["skipped"]  # questions given fewer unanswerable ones than asked
    assert shortfall["total"] == len(questions) - len(negatives)
    for negative in negatives:  # a run of sentences of the document without the answer
        answered = next(q for q in questions if q.answers and q.question == negative.question)
        assert all(a.text not in negative.context for a in answered.answers)
        assert negative.context in answered.context


# -- training with negatives (tiny model, real training code) ---------------------------------


def test_training_with_negatives_calibrates_abstention(abstaining_model: Path) -> None:
    manifest = json.loads((abstaining_model / "kgbuild_model.json").read_text())
    calibration = manifest["no_answer"]
    assert {"scale", "bias"} <= set(calibration["platt"])
    assert 0.0 <= calibration["ece"] <= 1.0
    assert calibration["unanswerable"] > 0 and calibration["questions"] > 0
    assert calibration["no_span"] >= 0  # questions left out of the fit are counted
    card = json.loads((abstaining_model / "model_card.json").read_text())
    assert card["data"]["negatives"]["generated"] > 0
    dev_titles = set(card["data"]["dev"]["titles"])
    assert card["dev_unanswerable"]["questions"] > 0
    assert "unanswerable" in (abstaining_model / "README.md").read_text()
    # the calibration articles were held out of training as the dev ones were
    assert card["data"]["train"]["articles"] == 40 - 5 - 4
    reader = ExtractiveReader(str(abstaining_model), device="cpu")
    assert reader.abstains
    examples = [
        e for e in load_squad(card["data"]["dev"]["path"]).examples if e.title in dev_titles
    ]
    unanswerable = held_out_unanswerable(examples, 42)
    abstained_wrong = sum(
        not spans
        for spans in reader.read_batch([QaQuery(e.question, e.context) for e in unanswerable])
    )
    abstained_right = sum(
        not spans for spans in reader.read_batch([QaQuery(e.question, e.context) for e in examples])
    )
    # the model says "no answer" far more often where there is none
    assert abstained_wrong / len(unanswerable) > abstained_right / len(examples) + 0.2
    never = ExtractiveReader(str(abstaining_model), device="cpu", abstain=False)
    assert all(never.read_batch([QaQuery(e.question, e.context) for e in unanswerable]))


def test_evaluate_qa_scores_the_held_out_articles_and_their_unanswerable_questions(
    abstaining_model: Path,
) -> None:
    card = json.loads((abstaining_model / "model_card.json").read_text())
    data = card["data"]["dev"]["path"]
    json_out = abstaining_model.parent / "eval.json"
    args = ["evaluate", "qa", "--model", str(abstaining_model), "--data", data]
    args += ["--held-out-articles", "5", "--device", "cpu", "--json-out", str(json_out)]
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 0, run.output
    scores = json.loads(json_out.read_text())
    assert scores["questions"] == card["data"]["dev"]["questions"]  # the same held-out articles
    assert scores["f1"] == pytest.approx(card["dev_scores"]["f1"])
    assert scores["unanswerable"]["no_answer_percent"] == pytest.approx(
        card["dev_unanswerable"]["no_answer_percent"]
    )
    assert scores["abstains"] is True
