"""Extractive QA: SQuAD metrics, the windowed reader, train qa / evaluate qa on a tiny model."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from kgbuild.errors import InputError
from kgbuild.nlp.hf import clear_model_cache, load_question_answerer
from kgbuild.nlp.reader import ExtractiveReader, QaQuery
from kgbuild.nlp.tiny import make_tiny_bert
from kgbuild.readers.squad import load_squad
from kgbuild.training.qa import QaTrainResult, evaluate_qa, split_by_article, train_qa
from kgbuild.training.qa_metrics import exact_match, normalize_answer, qa_scores, token_f1
from tests.conftest import refused_then_read_in_cp1252, write_cp1252, write_keyword_squad

# -- metrics (hand-checked against the official SQuAD v1.1 script's definitions) ----------


def test_normalisation_is_the_official_one() -> None:
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("Theatre") == "theatre"  # "the" only as a whole word
    assert normalize_answer("“quoted”") == "“quoted”"  # only ASCII punctuation in English
    assert normalize_answer("北京，中国。") == "北京中国"  # CJK punctuation removed


def test_exact_match_and_f1_hand_checked() -> None:
    assert exact_match("the Harbour Lions", "Harbour Lions") == 1.0
    assert exact_match("Harbour", "Harbour Lions") == 0.0
    # prediction "harbour" vs gold "harbour lions": P 1, R 1/2 -> F1 2/3
    assert token_f1("Harbour", "Harbour Lions") == pytest.approx(2 / 3)
    assert token_f1("a", "the") == 1.0  # both normalise to empty: equal
    assert token_f1("", "Harbour") == 0.0
    assert token_f1("Lions Lions", "Lions") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1("北京大学", "北京") == pytest.approx(2 * 0.5 * 1 / 1.5)  # by character


def test_scores_take_the_best_gold_and_average_over_questions() -> None:
    golds = {"q1": ["Harbour Lions", "Lions"], "q2": ["1999"], "q3": ["Oslo"], "q4": []}
    predictions = {"q1": "Lions", "q2": "in 1999", "q4": ""}
    scores = qa_scores(predictions, golds)
    # q1 EM 1 F1 1; q2 EM 0 F1 2/3; q3 unanswered 0; q4 unanswerable and empty: 1
    assert scores.exact_match == pytest.approx(100 * 2 / 4)
    assert scores.f1 == pytest.approx(100 * (1 + 2 / 3 + 0 + 1) / 4)
    assert (scores.questions, scores.answered) == (4, 2)


@pytest.fixture(scope="module")
def trained(
    qa_base: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, QaTrainResult]:
    root = tmp_path_factory.mktemp("qa-train")
    data = write_keyword_squad(root / "squad.json", articles=30, seed=1)
    out = root / "model"
    result = train_qa(
        data,
        base=str(qa_base),
        out=out,
        epochs=6,
        learning_rate=5e-3,
        batch_size=16,
        lora_rank=None,
        max_length=64,
        stride=16,
        dev_articles=5,
        patience=6,
        seed=0,
    )
    return data, out, result


# -- reader ---------------------------------------------------------------------------------


def test_reader_spans_map_back_and_long_contexts_are_read_to_the_end(qa_base: Path) -> None:
    from transformers import AutoModelForQuestionAnswering

    qa_dir = qa_base.parent / "qa-random"
    model = AutoModelForQuestionAnswering.from_pretrained(qa_base, num_labels=2)
    model.save_pretrained(qa_dir)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (qa_dir / name).write_bytes((qa_base / name).read_bytes())
    reader = ExtractiveReader(str(qa_dir), max_length=48, stride=16, device="cpu")
    long_context = " ".join(["maria gonzalez works for acme robotics in berlin ."] * 200)
    windows = reader._windows([QaQuery("who works for acme ?", long_context)])
    covered = max(o[1] for w in windows for o in w.offsets if o is not None)
    assert len(windows) > 10
    assert covered == len(long_context.rstrip())  # the last character is read: no truncation
    answers = reader.read_batch(
        [QaQuery("who works ?", long_context), QaQuery("where ?", "  ")], top_k=3
    )
    assert answers[1] == []  # an empty context gives no answer, not an error
    assert 1 <= len(answers[0]) <= 3
    for span in answers[0]:
        assert long_context[span.start : span.end] == span.text
        assert 0.0 < span.score <= 1.0
    assert [a.score for a in answers[0]] == sorted((a.score for a in answers[0]), reverse=True)


def test_a_question_too_long_for_the_window_is_reported_not_a_crash(
    qa_base: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The fast tokenizer panics on a question that leaves no more than stride for context."""
    from transformers import AutoModelForQuestionAnswering

    qa_dir = tmp_path / "qa-random"
    AutoModelForQuestionAnswering.from_pretrained(qa_base, num_labels=2).save_pretrained(qa_dir)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (qa_dir / name).write_bytes((qa_base / name).read_bytes())
    reader = ExtractiveReader(str(qa_dir), max_length=48, stride=16, device="cpu")
    short = "maria gonzalez works for acme robotics in berlin ."
    context = " ".join([short] * 10)
    long_question = "who works for acme " * 8 + "?"  # 33 sub-tokens: 48 - 3 - 16 leaves none
    with caplog.at_level(logging.WARNING, logger="kgbuild.nlp.reader"):
        answers = reader.read_batch(
            [
                QaQuery(long_question, context),
                QaQuery("who works ?", context),
                QaQuery(long_question, short),  # the pair fits one window: read as it is
            ],
            top_k=1,
        )
    assert answers[0] == []
    assert len(answers[1]) == 1
    assert len(answers[2]) == 1
    warning = next(r.getMessage() for r in caplog.records if "not read" in r.getMessage())
    assert "33 sub-tokens" in warning and "at most 28" in warning


def test_a_training_question_too_long_for_the_window_is_skipped_and_reported(
    qa_base: Path,
) -> None:
    from transformers import AutoTokenizer

    from kgbuild.readers.squad import Answer, QAExample
    from kgbuild.training.qa import TOO_LONG, encode_training_windows_reported

    context = "the company said on monday that acme won"
    short = QAExample(
        id="short",
        title="t",
        question="who ?",
        context=context,
        answers=(Answer(text="acme", start=context.index("acme")),),
    )
    long = short.model_copy(update={"id": "long", "question": "who won " * 12 + "?"})
    tokenizer = AutoTokenizer.from_pretrained(qa_base)
    windows, report = encode_training_windows_reported([short, long], tokenizer, 32, 8)
    assert len(windows) == 1
    assert [(s.id, s.reason, s.detail) for s in report.skipped] == [
        ("long", TOO_LONG, "25 sub-tokens")
    ]
    assert report.lines()[0].startswith("1 of 2 training questions skipped: the question")


def test_fewer_answers_are_the_first_of_more(qa_base: Path) -> None:
    """Each window hands on only spans that can make its query's top_k: nothing better is lost."""
    reader = ExtractiveReader(str(_random_qa(qa_base)), max_length=48, stride=16, device="cpu")
    context = " ".join(
        f"{name} works for {org} in {city} ."
        for name, org, city in [
            ("maria gonzalez", "acme robotics", "berlin"),
            ("li wei", "globex", "paris"),
            ("ana souza", "initech", "lisbon"),
        ]
        * 12
    )
    queries = [QaQuery(q, context) for q in ("who works ?", "where ?", "for whom ?")]
    five = reader.read_batch(queries, top_k=5)
    assert all(len(spans) == 5 for spans in five)
    for top_k in (1, 3):
        assert reader.read_batch(queries, top_k=top_k) == [s[:top_k] for s in five]
    for spans in five:
        assert len({(a.start, a.end) for a in spans}) == 5


def test_a_bf16_reader_stores_its_linears_in_bf16_and_answers_as_under_autocast(
    qa_base: Path,
) -> None:
    folder = str(_random_qa(qa_base))
    stored = ExtractiveReader(folder, max_length=48, stride=16, device="cpu", bf16=True)
    linears = [m for m in stored.loaded.model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(m.weight.dtype == torch.bfloat16 for m in linears)
    fp32 = load_question_answerer(folder, device="cpu")
    assert all(p.dtype == torch.float32 for p in fp32.model.parameters())
    cast = ExtractiveReader(fp32, max_length=48, stride=16, bf16=True)  # casts on every call
    queries = [
        QaQuery("who works for acme ?", "maria gonzalez works for acme robotics in berlin ."),
        QaQuery("where ?", "li wei lives in paris . ana souza lives in lisbon ."),
    ]
    assert stored.read_batch(queries, top_k=3) == cast.read_batch(queries, top_k=3)
    again = ExtractiveReader(folder, max_length=48, stride=16, device="cpu", bf16=False)
    assert again.loaded is fp32  # cached


def _random_qa(qa_base: Path) -> Path:
    from transformers import AutoModelForQuestionAnswering

    qa_dir = qa_base.parent / "qa-random-top-k"
    if not qa_dir.exists():
        model = AutoModelForQuestionAnswering.from_pretrained(qa_base, num_labels=2)
        model.save_pretrained(qa_dir)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            (qa_dir / name).write_bytes((qa_base / name).read_bytes())
    return qa_dir


def test_loading_a_non_qa_model_names_the_problem(tmp_path: Path) -> None:
    from kgbuild.errors import ModelLoadError

    token_model = make_tiny_bert(tmp_path / "ner", ["O", "B-PER"])
    with pytest.raises(ModelLoadError, match="not a question-answering model"):
        load_question_answerer(str(token_model))


# -- training and evaluation ----------------------------------------------------------------


def test_split_by_article_holds_back_whole_articles(tmp_path: Path) -> None:
    data = write_keyword_squad(tmp_path / "s.json", articles=6, seed=3)
    examples = list(load_squad(data).examples)
    train, dev = split_by_article(examples, 2, seed=0)
    assert len({e.title for e in dev}) == 2
    assert not {e.title for e in train} & {e.title for e in dev}
    assert len(train) + len(dev) == len(examples)
    assert split_by_article(examples, 2, seed=0) == (train, dev)  # seeded
    with pytest.raises(InputError, match="between 1 and 5"):
        split_by_article(examples, 6, seed=0)


def test_training_targets_the_span_most_annotators_gave(qa_base: Path) -> None:
    from transformers import AutoTokenizer

    from kgbuild.readers.squad import Answer, QAExample
    from kgbuild.training.qa import consensus_answer, encode_training_windows

    context = "The Otters beat the Harbour Lions in Millbrook."
    one, most = (
        Answer(text="the Harbour Lions", start=16),
        Answer(text="Harbour Lions", start=20),
    )
    example = QAExample(
        id="q", title="t", question="Who lost?", context=context, answers=(one, most, most)
    )
    assert consensus_answer(example) == most
    tie = example.model_copy(update={"answers": (one, most)})
    assert consensus_answer(tie) == one  # equal votes: the first listed

    tokenizer = AutoTokenizer.from_pretrained(qa_base)
    feature = encode_training_windows([example], tokenizer, 64, 16)[0]
    offsets = tokenizer(example.question, context, return_offsets_mapping=True)["offset_mapping"]
    first, last = offsets[feature["start_positions"]], offsets[feature["end_positions"]]
    assert context[first[0] : last[1]] == "Harbour Lions"


def test_train_qa_learns_writes_card_and_reloads(trained: tuple[Path, Path, QaTrainResult]) -> None:
    data, out, result = trained
    losses = result.train_losses
    assert losses[-1] < losses[0]
    assert result.dev_f1_per_epoch[-1] > result.dev_f1_per_epoch[0]
    assert result.dev.f1 > 50.0  # far above chance on held-back articles
    card = json.loads((out / "model_card.json").read_text())
    assert card["data"]["dev"]["held_out_of_train"] is True
    assert len(card["data"]["dev"]["titles"]) == 5
    assert card["dev_scores"]["f1"] == pytest.approx(result.dev.f1)
    assert "exact match" in (out / "README.md").read_text()
    clear_model_cache()
    _, dev = split_by_article(list(load_squad(data).examples), 5, seed=0)
    scores, predictions = evaluate_qa(str(out), dev, device="cpu", max_length=64, stride=16)
    assert scores == result.dev  # the saved model re-loaded scores exactly as reported
    assert set(predictions) == {e.id for e in dev}


def test_evaluate_qa_cli_writes_json(
    trained: tuple[Path, Path, QaTrainResult], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from kgbuild.cli import app

    data, out, result = trained
    target = tmp_path / "qa.json"
    run = CliRunner().invoke(
        app,
        [
            "evaluate",
            "qa",
            "--model",
            str(out),
            "--data",
            str(data),
            "--held-out-articles",
            "5",
            "--device",
            "cpu",
            "--json-out",
            str(target),
        ],
    )
    assert run.exit_code == 0, run.output
    written = json.loads(target.read_text())
    assert written["task"] == "qa"
    assert written["questions"] == result.dev.questions
    assert "exact match" in run.output


def _evaluate_cli(model: Path, data: Path, target: Path, *more: str) -> Any:
    from typer.testing import CliRunner

    from kgbuild.cli import app

    args = ["--model", str(model), "--data", str(data), "--device", "cpu", "--json-out"]
    return CliRunner().invoke(app, ["evaluate", "qa", *args, str(target), *more])


def test_evaluate_qa_reports_the_question_it_skipped_and_scores_the_rest(
    trained: tuple[Path, Path, QaTrainResult], tmp_path: Path
) -> None:
    """A misaligned answer made its question vanish from the scores without a word."""
    _, out, _ = trained
    data = write_keyword_squad(tmp_path / "dev.json", articles=2, seed=5)
    root = json.loads(data.read_text(encoding="utf-8"))
    root["data"][1]["paragraphs"][2]["qas"][1]["answers"][0]["text"] = "Atlantis"
    data.write_text(json.dumps(root), encoding="utf-8")
    run = _evaluate_cli(out, data, tmp_path / "qa.json", "--no-unanswerable")
    assert run.exit_code == 0, run.output
    line = "1 of 16 questions in dev.json skipped: the answer text is not in the context"
    assert f"{line} (first: 'a1p2city': answer 0 'Atlantis'" in run.output
    written = json.loads((tmp_path / "qa.json").read_text())
    (report,) = written["skipped"]
    assert (report["total"], report["skipped"]) == (16, 1)
    assert report["reasons"][0]["first_id"] == "a1p2city"
    rest = list(load_squad(write_keyword_squad(tmp_path / "d.json", 2, 5)).examples)
    rest = [e for e in rest if e.id != "a1p2city"]
    clear_model_cache()
    scores, _ = evaluate_qa(str(out), rest, device="cpu")
    assert written["questions"] == 15
    assert (written["exact_match"], written["f1"]) == (scores.exact_match, scores.f1)


def test_evaluate_qa_reports_questions_it_made_no_unanswerable_twin_for(
    trained: tuple[Path, Path, QaTrainResult], tmp_path: Path
) -> None:
    _, out, _ = trained
    data = write_keyword_squad(tmp_path / "dev.json", articles=2, seed=5)
    root = json.loads(data.read_text(encoding="utf-8"))
    del root["data"][1]["paragraphs"][1:]  # one paragraph: no other one to ask it over
    data.write_text(json.dumps(root), encoding="utf-8")
    run = _evaluate_cli(out, data, tmp_path / "qa.json")
    assert run.exit_code == 0, run.output
    line = "2 of 10 answerable questions (making unanswerable ones) skipped: no passage"
    assert "(first: 'a1p0org': 0 of 1 made)" in run.output and line in run.output
    written = json.loads((tmp_path / "qa.json").read_text())
    assert [r["skipped"] for r in written["skipped"]] == [0, 2]
    assert written["unanswerable"]["questions"] == 8


def test_evaluate_qa_with_no_usable_question_says_what_was_skipped(
    trained: tuple[Path, Path, QaTrainResult], tmp_path: Path
) -> None:
    _, out, _ = trained
    data = write_keyword_squad(tmp_path / "dev.json", articles=1, seed=5)
    root = json.loads(data.read_text(encoding="utf-8"))
    for paragraph in root["data"][0]["paragraphs"]:
        for question in paragraph["qas"]:
            question["answers"][0]["answer_start"] = 500
    data.write_text(json.dumps(root), encoding="utf-8")
    run = _evaluate_cli(out, data, tmp_path / "qa.json")
    assert run.exit_code != 0
    assert (
        f"no questions to score in {data} left: 8 of 8 questions in dev.json skipped: answer_start "
    ) in " ".join(run.output.split())
    assert not (tmp_path / "qa.json").exists()


def test_training_continues_from_a_trained_model(
    trained: tuple[Path, Path, QaTrainResult], qa_base: Path, tmp_path: Path
) -> None:
    data, out, result = trained
    one_tiny_step = {
        "base": str(qa_base),
        "max_length": 64,
        "stride": 16,
        "dev_articles": 5,
        "seed": 0,
        "batch_size": 16,
        "max_steps": 1,
        "learning_rate": 1e-9,
        "device": "cpu",
        "bf16": False,
    }
    continued = train_qa(
        data, out=tmp_path / "continued", lora_rank=None, init=out, **one_tiny_step
    )
    fresh = train_qa(data, out=tmp_path / "fresh", lora_rank=None, **one_tiny_step)
    assert continued.dev.f1 == pytest.approx(result.dev.f1, abs=1.0)
    assert fresh.dev.f1 < result.dev.f1 - 30
    card = json.loads((tmp_path / "continued" / "model_card.json").read_text())
    assert card["hyperparameters"]["init"] == str(out.resolve())

    lora = train_qa(
        data,
        out=tmp_path / "lora",
        lora_rank=4,
        **{**one_tiny_step, "max_steps": -1, "learning_rate": 5e-3},
        epochs=4,
    )
    assert lora.dev.f1 > 30
    again = train_qa(
        data, out=tmp_path / "lora-again", lora_rank=4, init=tmp_path / "lora", **one_tiny_step
    )
    assert again.dev.f1 == pytest.approx(lora.dev.f1, abs=1.0)
    refused: list[tuple[int, Path, dict[str, Any], str]] = [
        (4, out, {}, "full model"),
        (8, tmp_path / "lora", {}, "rank 4, not 8"),
        (4, tmp_path / "lora", {"base": str(tmp_path / "other")}, "trained from"),
        # another seed holds out other articles, which the model being continued trained on
        (4, tmp_path / "lora", {"seed": 7}, "dev scores would be inflated"),
    ]
    for rank, init, overrides, message in refused:
        with pytest.raises(InputError, match=message):
            train_qa(
                data,
                out=tmp_path / "bad",
                lora_rank=rank,
                init=init,
                **{**one_tiny_step, **overrides},
            )
    assert not (tmp_path / "bad").exists()


def test_extra_training_files_add_questions_never_dev(qa_base: Path, tmp_path: Path) -> None:
    data = write_keyword_squad(tmp_path / "squad.json", articles=8, seed=1)
    extra = write_keyword_squad(tmp_path / "extra.json", articles=2, seed=9)
    settings = {
        "base": str(qa_base),
        "max_length": 64,
        "stride": 16,
        "dev_articles": 2,
        "seed": 0,
        "batch_size": 16,
        "max_steps": 1,
        "lora_rank": 4,
        "device": "cpu",
        "bf16": False,
    }
    plain = train_qa(data, out=tmp_path / "plain", **settings)
    more = train_qa(data, out=tmp_path / "more", extra_train=[extra], **settings)
    assert more.train_questions == plain.train_questions + 16  # 2 articles x 4 x 2 questions
    assert more.dev.questions == plain.dev.questions
    card = json.loads((tmp_path / "more" / "model_card.json").read_text())
    (recorded,) = card["data"]["extra_train"]
    assert recorded["questions"] == 16
    assert len(recorded["sha256"]) == 64
    with pytest.raises(InputError, match="does not exist"):
        train_qa(data, out=tmp_path / "bad", extra_train=[tmp_path / "nope.json"], **settings)


def test_a_misaligned_answer_in_the_training_file_is_named_not_dropped_silently(
    qa_base: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A hand-edited answer_start made its question vanish from training without a word."""
    data = write_keyword_squad(tmp_path / "squad.json", articles=4, seed=1)
    root = json.loads(data.read_text(encoding="utf-8"))
    question = root["data"][0]["paragraphs"][0]["qas"][0]
    question["answers"][0]["answer_start"] += 3
    root["data"][1]["paragraphs"][1]["qas"][0]["answers"][0]["text"] = "Atlantis"
    data.write_text(json.dumps(root), encoding="utf-8")
    settings = {"max_length": 64, "stride": 16, "dev_articles": 1, "max_steps": 1}
    with caplog.at_level(logging.WARNING, logger="kgbuild.training.qa"):
        result = train_qa(data, base=str(qa_base), out=tmp_path / "m", device="cpu", **settings)
    skipped = (
        "1 of 32 questions in squad.json skipped: the answer text is not in the context "
        "(first: 'a1p1org': answer 0 'Atlantis'"
    )
    # the answer text occurs once in its context: moved there, and said so
    moved = "1 of 32 questions in squad.json kept with a change: answer_start moved"
    for text in (
        caplog.text,
        "\n".join(result.skipped),
        (tmp_path / "m" / "README.md").read_text(),
    ):
        assert skipped in text
        assert moved in text
    assert f"(first: {question['id']!r}: answer 0" in caplog.text
    card = json.loads((tmp_path / "m" / "model_card.json").read_text())
    (report,) = card["data"]["skipped"]
    assert (report["total"], report["skipped"], report["changed"]) == (32, 1, 1)
    assert report["reasons"][0]["first_id"] == "a1p1org"
    assert card["data"]["train"]["questions"] + card["data"]["dev"]["questions"] == 31


def test_an_answer_no_window_holds_is_reported(qa_base: Path) -> None:
    from transformers import AutoTokenizer

    from kgbuild.readers.squad import Answer, QAExample
    from kgbuild.training.qa import CUT_BY_WINDOWS, encode_training_windows_reported

    words = " ".join(["the company said on monday"] * 12)
    short = QAExample(
        id="short",
        title="t",
        question="who ?",
        context=f"{words} acme",
        answers=(Answer(text="acme", start=len(words) + 1),),
    )
    long = short.model_copy(update={"id": "long", "answers": (Answer(text=words, start=0),)})
    tokenizer = AutoTokenizer.from_pretrained(qa_base)
    windows, report = encode_training_windows_reported([short, long], tokenizer, 32, 8)
    assert len(windows) > 2
    assert [(s.id, s.reason) for s in report.changed] == [("long", CUT_BY_WINDOWS)]
    assert report.lines()[0].startswith("1 of 2 training questions kept with a change: no window")


def test_a_shorter_max_length_names_the_stride_that_fits(qa_base: Path, tmp_path: Path) -> None:
    """--max-length 128 alone failed with 'stride must be in (0, 64), got 96'."""
    data = write_keyword_squad(tmp_path / "squad.json", articles=2, seed=1)
    message = r"stride 96 must be above 0 and below half of max_length 128: use --stride 63"
    with pytest.raises(InputError, match=message):
        train_qa(data, base=str(qa_base), out=tmp_path / "m", max_length=128, device="cpu")


def test_train_qa_reads_its_files_in_the_encoding_given(qa_base: Path, tmp_path: Path) -> None:
    """Decoded in --encoding, train and extra files get as far as the extra file's check."""
    from kgbuild.cli import app

    data = write_keyword_squad(tmp_path / "squad.json", articles=2, seed=1)
    root = json.loads(data.read_text(encoding="utf-8"))
    root["data"][0]["title"] = "Café"
    write_cp1252(data, json.dumps(root, ensure_ascii=False))
    unanswered = {"data": [{"title": "Crème", "paragraphs": [{"context": "Déjà", "qas": []}]}]}
    extra = write_cp1252(tmp_path / "extra.json", json.dumps(unanswered, ensure_ascii=False))
    command = ["train", "qa", "--train", str(data), "--extra-train", str(extra)]
    command += ["--base", str(qa_base), "--out", str(tmp_path / "m"), "--device", "cpu"]
    command += ["--dev-articles", "1", "--max-length", "64", "--stride", "16"]
    result = refused_then_read_in_cp1252(app, command, data)
    assert result.exit_code == 2, result.output
    assert f"no extra training questions in {extra} left" in result.output
