"""A verified QA model: the reader's answers, vetted by a verifier trained with negatives."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgbuild.cli import app
from kgbuild.errors import InputError, ModelLoadError
from kgbuild.nlp.reader import VERIFIED_FORMAT, ExtractiveReader, QaQuery, VerifiedModel
from kgbuild.readers.squad import load_squad
from kgbuild.training.qa_negatives import held_out_unanswerable
from kgbuild.training.qa_verifier import margin_for_rate


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.7, 0.95])
def test_the_margin_is_the_smallest_that_says_no_to_the_share_asked(rate: float) -> None:
    rng = random.Random(int(rate * 100))
    margins = [rng.choice([rng.gauss(0, 3), 1.0, -2.0]) for _ in range(301)]
    cut = margin_for_rate(margins, rate)
    assert sum(m < cut for m in margins) >= rate * len(margins)
    # any smaller cut that changes a verdict says "no answer" to fewer than asked
    below = max(m for m in margins if m < cut)
    assert sum(m < below for m in margins) < rate * len(margins)
    with pytest.raises(InputError, match="no unanswerable"):
        margin_for_rate([], rate)
    with pytest.raises(InputError, match="between 0 and 1"):
        margin_for_rate(margins, 1.0)


def test_a_verified_model_folder_is_read_and_a_broken_one_refused(tmp_path: Path) -> None:
    reader, verifier = tmp_path / "reader", tmp_path / "verifier"
    reader.mkdir()
    verifier.mkdir()
    folder = tmp_path / "pair"
    folder.mkdir()
    manifest = folder / "kgbuild_model.json"
    manifest.write_text(json.dumps({"task": "qa", "base": "x"}))
    assert VerifiedModel.from_folder(str(folder)) is None  # an ordinary model
    assert VerifiedModel.from_folder(str(tmp_path / "absent")) is None
    entry = {"format": VERIFIED_FORMAT, "reader": "../reader", "verifier": str(verifier)}
    manifest.write_text(json.dumps({**entry, "min_margin": -2.5}))
    found = VerifiedModel.from_folder(str(folder))
    assert found is not None and found.min_margin == -2.5
    assert Path(found.reader).resolve() == reader.resolve()
    assert Path(found.verifier).resolve() == verifier.resolve()
    manifest.write_text(json.dumps({**entry, "min_margin": -2.5, "reader": "org/reader@abc"}))
    assert VerifiedModel.from_folder(str(folder)).reader == "org/reader@abc"  # type: ignore[union-attr]
    manifest.write_text(json.dumps(entry))
    with pytest.raises(ModelLoadError, match="min_margin"):
        VerifiedModel.from_folder(str(folder))
    manifest.write_text(json.dumps({**entry, "min_margin": 0, "reader": "../gone"}))
    with pytest.raises(ModelLoadError, match=r"'\.\./gone'"):
        VerifiedModel.from_folder(str(folder))
    # a verified model as the verifier of another (or of itself) is refused, not recursed into
    manifest.write_text(json.dumps({**entry, "min_margin": 0, "verifier": "."}))
    with pytest.raises(ModelLoadError, match="itself a verified model"):
        VerifiedModel.from_folder(str(folder))


@pytest.fixture(scope="module")
def verified(keyword_qa_model: Path, abstaining_model: Path, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    card = json.loads((abstaining_model / "model_card.json").read_text())
    out = tmp_path_factory.mktemp("verified") / "model"
    run = CliRunner().invoke(
        app,
        [
            "train", "qa-verifier", "--reader", str(keyword_qa_model),
            "--verifier", str(abstaining_model), "--data", card["data"]["dev"]["path"],
            "--out", str(out), "--held-out-articles", "5", "--articles", "8",
            "--no-answer-rate", "0.7", "--device", "cpu",
        ],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    assert "answered 'no answer'" in run.output
    return out


def test_the_verifier_reports_a_question_it_skipped(
    keyword_qa_model: Path, abstaining_model: Path, tmp_path: Path
) -> None:
    card = json.loads((abstaining_model / "model_card.json").read_text())
    root = json.loads(Path(card["data"]["dev"]["path"]).read_text())
    questions = [q for a in root["data"] for p in a["paragraphs"] for q in p["qas"]]
    first = next(q for q in questions if q["answers"])
    first["answers"] = [{"text": "Atlantis", "answer_start": 0}]
    data = tmp_path / "data.json"
    data.write_text(json.dumps(root))
    out = tmp_path / "verified"
    run = CliRunner().invoke(
        app,
        [
            "train", "qa-verifier", "--reader", str(keyword_qa_model),
            "--verifier", str(abstaining_model), "--data", str(data),
            "--out", str(out), "--held-out-articles", "5", "--articles", "8",
            "--no-answer-rate", "0.7", "--device", "cpu",
        ],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    line = f"1 of {len(questions)} questions in data.json skipped: the answer text is not in"
    assert f"{line} the context (first: {first['id']!r}" in run.output
    report, shortfall = json.loads((out / "model_card.json").read_text())["selection"]["skipped"]
    assert shortfall["source"] == "answerable questions (making unanswerable ones)"
    assert (report["skipped"], report["reasons"][0]["first_id"]) == (1, first["id"])


def test_a_folder_holding_another_model_is_not_overwritten(
    verified: Path, keyword_qa_model: Path, abstaining_model: Path
) -> None:
    before = (keyword_qa_model / "kgbuild_model.json").read_text()
    card = json.loads((verified / "model_card.json").read_text())
    args = ["train", "qa-verifier", "--reader", str(keyword_qa_model), "--verifier"]
    args += [str(abstaining_model), "--data", card["selection"]["data"], "--out"]
    run = CliRunner().invoke(app, [*args, str(keyword_qa_model), "--held-out-articles", "5"])
    assert run.exit_code != 0 and "not a verified model" in run.output
    assert (keyword_qa_model / "kgbuild_model.json").read_text() == before
    (verified.parent / "a-file").write_text("", encoding="utf-8")
    run = CliRunner().invoke(app, [*args, str(verified.parent / "a-file")])
    assert run.exit_code == 2 and "is a file" in run.output
    # a verified model as reader (or verifier) is refused before anything is loaded
    for role in ("--reader", "--verifier"):
        swapped = [str(verified) if a == args[args.index(role) + 1] else a for a in args]
        run = CliRunner().invoke(app, [*swapped, str(verified.parent / "again")])
        assert run.exit_code != 0 and "itself a verified model" in run.output
        assert not (verified.parent / "again").exists()


def test_the_margin_is_chosen_on_articles_that_are_not_scored(
    verified: Path, abstaining_model: Path
) -> None:
    card = json.loads((verified / "model_card.json").read_text())
    trained = json.loads((abstaining_model / "model_card.json").read_text())
    selection = card["selection"]
    assert len(selection["articles"]) == 8
    assert not set(selection["articles"]) & set(trained["data"]["dev"]["titles"])
    assert selection["no_answer_percent"] >= 70.0
    assert (
        card["min_margin"]
        == json.loads((verified / "kgbuild_model.json").read_text())["min_margin"]
    )
    readme = (verified / "README.md").read_text()
    assert f"{card['min_margin']:.3f}" in readme and "not a held-out score" in readme


def test_a_verified_model_answers_with_the_reader_unless_the_verifier_says_no(
    verified: Path, keyword_qa_model: Path, abstaining_model: Path
) -> None:
    card = json.loads((verified / "model_card.json").read_text())
    titles = set(card["selection"]["articles"])
    examples = [
        e for e in load_squad(card["selection"]["data"]).examples if e.title in titles and e.answers
    ]
    questions = examples + held_out_unanswerable(examples, 42)
    queries = [QaQuery(e.question, e.context) for e in questions]
    model = ExtractiveReader(str(verified), device="cpu")
    assert model.abstains and model.name == str(verified)
    assert "verifier=" in model.key and "+" in model.revision
    answers = model.read_batch(queries)
    own = ExtractiveReader(str(keyword_qa_model), device="cpu").read_batch(queries)
    vetting = ExtractiveReader(str(abstaining_model), device="cpu", abstain=False)
    margins = [spans[0].margin for spans in vetting.read_batch(queries)]
    kept = [m >= card["min_margin"] for m in margins]
    assert 0 < sum(kept) < len(kept)  # the verifier both lets through and stops
    for answer, reader_answer, keep in zip(answers, own, kept, strict=True):
        assert answer == (reader_answer if keep else [])
    unanswerable = len(questions) - len(examples)
    said_no = sum(not a for a in answers[len(examples) :])
    assert said_no / unanswerable == pytest.approx(
        card["selection"]["no_answer_percent"] / 100, abs=1.5 / unanswerable
    )
    # without abstention the reader always answers
    always = ExtractiveReader(str(verified), device="cpu", abstain=False)
    assert all(always.read_batch(queries))
    # one question over several contexts: answered when the verifier accepts any of them
    stopped = next(q for q, k in zip(questions, kept, strict=True) if not k)
    passed = next(q for q, k in zip(questions, kept, strict=True) if k)
    assert model.read(stopped.question, [stopped.context]) == []
    assert model.read(passed.question, [passed.context, stopped.context])
