"""Progress within a long document: every model stage reports while it works."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from kgbuild.config import AttributeConfig, NerConfig, ReConfig, Settings
from kgbuild.pipeline import build
from kgbuild.progress import LOG_MIN_BATCHES, track


def progress_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "kgbuild.progress"]


def test_track_logs_every_tenth_of_a_long_stage_and_nothing_for_a_short_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="kgbuild.progress"):
        assert list(track(range(120), "ner", enabled=True, detail="240 windows")) == list(
            range(120)
        )
        assert list(track(range(LOG_MIN_BATCHES - 1), "re", enabled=True)) == list(range(49))
        assert list(track(range(500), "attributes", enabled=False)) == list(range(500))
    lines = progress_lines(caplog)
    assert lines[0] == "ner: 120 batches (240 windows)"
    assert lines[1:] == [f"ner: {p}% ({p * 120 // 100}/120 batches)" for p in range(10, 101, 10)]


@pytest.mark.slow
def test_a_long_document_reports_progress_in_each_model_stage(
    tmp_path: Path,
    keyword_ner_model: Path,
    keyword_re_model: Path,
    keyword_qa_model: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sentence = "maria gonzalez works for acme robotics , which is based in berlin ."
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "long.txt").write_text(" ".join([sentence] * 400), encoding="utf-8")
    settings = Settings(
        out_dir=tmp_path / "out",
        ner=NerConfig(model=str(keyword_ner_model), batch_size=8),
        relations=ReConfig(enabled=True, model=str(keyword_re_model), threshold=0.0, batch_size=4),
        attributes=AttributeConfig(
            enabled=True, model=str(keyword_qa_model), batch_size=1, max_contexts=400
        ),
    )
    with caplog.at_level(logging.INFO, logger="kgbuild.progress"):
        report = build([docs], settings, progress=True)
    assert (report.processed, report.failed) == (1, 0)
    lines = progress_lines(caplog)
    assert lines[-1] == "documents: 100% (1/1)"  # the count of documents, after the stages
    lines = lines[:-1]
    for stage, unit in (("ner", "windows"), ("re", "candidate pairs"), ("attributes", "questions")):
        mine = [line for line in lines if line.startswith(stage + ": ")]
        first = re.fullmatch(rf"{stage}: ([\d,]+) batches \(([\d,]+) {unit}\)", mine[0])
        assert first is not None, mine[:1]
        total = int(first.group(1).replace(",", ""))
        assert total >= LOG_MIN_BATCHES
        steps = [
            re.fullmatch(rf"{stage}: (\d+)% \(([\d,]+)/([\d,]+) batches\)", x) for x in mine[1:]
        ]
        assert all(steps), mine
        assert [int(m.group(1)) for m in steps if m] == list(range(10, 101, 10))
    # in the order the stages run: every NER line before the first relation line, and so on
    order = [line.split(":")[0] for line in lines]
    assert order == sorted(order, key=["ner", "re", "attributes"].index)


def test_no_progress_is_reported_unless_asked(
    tmp_path: Path, keyword_ner_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "long.txt").write_text("maria gonzalez works in berlin . " * 200, encoding="utf-8")
    settings = Settings(
        out_dir=tmp_path / "out", ner=NerConfig(model=str(keyword_ner_model), batch_size=2)
    )
    with caplog.at_level(logging.INFO, logger="kgbuild.progress"):
        build([docs], settings)
    assert progress_lines(caplog) == []
