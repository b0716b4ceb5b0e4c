"""`kgbuild evaluate ...`: BIO decoding, NER then RE end to end, scores written as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgbuild.cli import app
from kgbuild.training.pipeline_eval import bio_spans, evaluate_pipeline
from tests.conftest import (
    assert_refused_as_not_utf8,
    write_cp1252,
    write_keyword_conll,
    write_keyword_conll04,
)


@pytest.mark.parametrize(
    ("tags", "spans"),
    [
        (["B-PER", "I-PER", "O", "B-ORG"], [(0, 2, "PER"), (3, 4, "ORG")]),
        (["I-PER", "I-PER", "B-PER"], [(0, 2, "PER"), (2, 3, "PER")]),  # conlleval: I- starts
        (["B-PER", "I-ORG"], [(0, 1, "PER"), (1, 2, "ORG")]),  # a type change splits
        (["S-LOC", "B-ORG", "E-ORG", "O"], [(0, 1, "LOC"), (1, 3, "ORG")]),  # BIOES
        (["O", "O"], []),
    ],
)
def test_bio_spans_hand_checked(tags: list[str], spans: list[tuple[int, int, str]]) -> None:
    assert bio_spans(tags) == spans


def test_pipeline_scores_end_to_end_and_on_gold_entities(
    tmp_path: Path, keyword_ner_model: Path, keyword_re_model: Path
) -> None:
    data = write_keyword_conll04(tmp_path / "dev.json", 12, seed=5)
    scores = evaluate_pipeline(str(keyword_ner_model), str(keyword_re_model), data, device="cpu")
    assert scores.sentences == 12
    assert scores.entities.micro.support == 36  # three gold entities per sentence
    e2e, gold = scores.relations_end_to_end.micro, scores.relations_gold_entities.micro
    assert e2e.support == gold.support == 24
    assert gold.f1 > 0.5 and e2e.f1 > 0.0


def test_evaluate_commands_write_json(
    tmp_path: Path, keyword_ner_model: Path, keyword_re_model: Path
) -> None:
    runner = CliRunner()
    conll = write_keyword_conll(tmp_path / "dev.txt", 20, seed=7)
    conll04 = write_keyword_conll04(tmp_path / "dev.json", 8, seed=7)
    runs = {
        "ner": ["evaluate", "ner", "--model", str(keyword_ner_model), "--data", str(conll)],
        "re": ["evaluate", "re", "--model", str(keyword_re_model), "--data", str(conll04)],
        "pipeline": [
            "evaluate", "pipeline", "--ner-model", str(keyword_ner_model),
            "--re-model", str(keyword_re_model), "--data", str(conll04),
        ],
    }  # fmt: skip
    for task, command in runs.items():
        target = tmp_path / f"{task}.json"
        result = runner.invoke(app, [*command, "--device", "cpu", "--json-out", str(target)])
        assert result.exit_code == 0, result.output
        written = json.loads(target.read_text())
        assert written["task"] == task
        assert "P/R/F1" in result.output
    pipeline = json.loads((tmp_path / "pipeline.json").read_text())
    assert {"entities", "relations_end_to_end", "relations_gold_entities"} <= set(pipeline)


def test_evaluate_reports_a_missing_file_clearly(tmp_path: Path, keyword_re_model: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["evaluate", "re", "--model", str(keyword_re_model), "--data", str(tmp_path / "no.json")],
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output


@pytest.mark.parametrize(
    ("command", "data", "message"),
    [
        (["graph"], "[]", "no documents to score in"),
        (["graph", "--documents", "5:9"], "[]", "no documents to score in"),
        (["qa", "--model", "default"], '{"data": []}', "no questions to score in"),
    ],
)
def test_evaluating_nothing_is_an_error_not_a_score_file_of_zeros(
    tmp_path: Path, command: list[str], data: str, message: str
) -> None:
    source = tmp_path / "empty.json"
    source.write_text(data, encoding="utf-8")
    target = tmp_path / "scores.json"
    result = CliRunner().invoke(
        app, ["evaluate", *command, "--data", str(source), "--json-out", str(target)]
    )
    assert result.exit_code == 2 and message in result.output
    assert not target.exists()


def test_evaluate_re_points_a_document_level_model_to_evaluate_graph(tmp_path: Path) -> None:
    data = tmp_path / "conll04.json"
    data.write_text("[]", encoding="utf-8")
    result = CliRunner().invoke(app, ["evaluate", "re", "--model", "default", "--data", str(data)])
    assert result.exit_code == 2
    assert "document-level relation model" in result.output
    assert "kgbuild evaluate graph" in result.output


def test_evaluate_re_and_pipeline_read_utf16_and_the_encoding_given(
    tmp_path: Path, keyword_ner_model: Path, keyword_re_model: Path
) -> None:
    runner = CliRunner()
    data = write_keyword_conll04(tmp_path / "dev.json", 8, seed=7)
    text = data.read_text(encoding="utf-8").replace('"."', '"\u2026"')  # cp1252 0x85
    excel, legacy = tmp_path / "excel.json", tmp_path / "legacy.json"
    excel.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    write_cp1252(legacy, text)
    data.write_text(text, encoding="utf-8")
    commands = {
        "re": ["evaluate", "re", "--model", str(keyword_re_model)],
        "pipeline": [
            "evaluate", "pipeline", "--ner-model", str(keyword_ner_model),
            "--re-model", str(keyword_re_model),
        ],
    }  # fmt: skip
    for task, command in commands.items():
        scores = []
        for path, options in ((data, []), (excel, []), (legacy, ["--encoding", "cp1252"])):
            target = tmp_path / f"{task}-{path.stem}.json"
            args = [*command, "--data", str(path), "--device", "cpu", "--json-out", str(target)]
            result = runner.invoke(app, [*args, *options])
            assert result.exit_code == 0, result.output
            written = json.loads(target.read_text(encoding="utf-8"))
            scores.append({k: v for k, v in written.items() if k != "data"})
        assert scores[0] == scores[1] == scores[2]
        refused = runner.invoke(app, [*command, "--data", str(legacy), "--device", "cpu"])
        assert_refused_as_not_utf8(refused, legacy)
