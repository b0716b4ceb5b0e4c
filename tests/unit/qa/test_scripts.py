"""The reader of ``kgbuild ask`` reads no text in a script its model does not declare.

A build leaves such sentences out (``kgbuild.lang.covers``); question answering follows the
same rule for its passages and for the question. The graphs are written by hand; the QA
model is the tiny keyword model, copied with a ``languages`` manifest entry.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kgbuild.cli.ask import render
from kgbuild.qa import GraphQA
from kgbuild.qa.embedded import EmbeddedGraph
from kgbuild.qa.models import AskResult
from tests.unit.qa.test_ask import entity_node

ENGLISH = "maria gonzalez works for acme robotics in berlin ."
CHINESE = "玛丽亚·冈萨雷斯在柏林的艾克米机器人公司工作。"
RUSSIAN = "Мария Гонсалес работает в Acme Robotics в Берлине ."
CHINESE_NAME = "玛丽亚·冈萨雷斯"


def declaring(model: Path, folder: Path, languages: list[str]) -> Path:
    """A copy of ``model`` whose manifest declares ``languages``."""
    shutil.copytree(model, folder)
    manifest = json.loads((folder / "kgbuild_model.json").read_text(encoding="utf-8"))
    (folder / "kgbuild_model.json").write_text(
        json.dumps({**manifest, "languages": languages}), encoding="utf-8"
    )
    return folder


@pytest.fixture(scope="module")
def english_qa(keyword_qa_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return declaring(keyword_qa_model, tmp_path_factory.mktemp("qa") / "qa-en-tiny", ["en"])


def write_script_graph(folder: Path) -> Path:
    """A graph.json in ``folder``: Maria Gonzalez, with facts read from an English, a
    Chinese and a Russian sentence."""
    maria = entity_node("maria", "Maria Gonzalez", "PER", [CHINESE_NAME])
    maria["attributes"] = {
        key: {
            "value": value,
            "score": 0.5,
            "evidence": [
                {
                    "doc_id": f"{key}.txt",
                    "chunk_id": key,
                    "start": 0,
                    "end": len(text),
                    "text": text,
                }
            ],
        }
        for key, value, text in (
            ("employer", "acme robotics", ENGLISH),
            ("employer_zh", "艾克米机器人公司", CHINESE),
            ("employer_ru", "Acme Robotics", RUSSIAN),
        )
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "graph.json"
    path.write_text(json.dumps({"nodes": [maria], "edges": []}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedGraph:
    return EmbeddedGraph(write_script_graph(tmp_path_factory.mktemp("graph")))


def asking(graph: EmbeddedGraph, model: Path, question: str) -> AskResult:
    qa = GraphQA(graph, qa_model=str(model), ner_model=None, encoder=None, typed_answers=False)
    return qa.ask(question, top_k=20, threshold=0.0)


def read_from(result: AskResult) -> set[str]:
    """The passages the result's answers were read from."""
    answers = [*([result.answer] if result.answer else []), *result.alternatives]
    return {a.context for a in [*answers, *result.candidates]}


def test_passages_in_a_script_the_model_does_not_declare_are_not_read_and_said_so(
    graph: EmbeddedGraph, keyword_qa_model: Path, english_qa: Path
) -> None:
    question = "who does maria gonzalez work for ?"
    # a model that declares no languages reads every passage, as before
    anything = asking(graph, keyword_qa_model, question)
    assert read_from(anything) == {ENGLISH, CHINESE, RUSSIAN}
    assert anything.notes == ()
    english = asking(graph, english_qa, question)
    assert english.answered and read_from(english) == {ENGLISH}
    assert english.notes == (
        "1 passage in ru skipped: qa-en-tiny reads en",
        "1 passage in zh skipped: qa-en-tiny reads en",
    )
    assert "Not read: 1 passage in zh skipped: qa-en-tiny reads en" in render(english)


def test_a_question_in_a_script_the_model_does_not_declare_gets_no_guess(
    graph: EmbeddedGraph, keyword_qa_model: Path, english_qa: Path
) -> None:
    question = f"{CHINESE_NAME}在哪里工作？"
    refused = asking(graph, english_qa, question)
    assert not refused.answered and refused.answer is None and refused.candidates == ()
    assert refused.message == (
        "I don't know: the question is in zh, and the QA model qa-en-tiny reads en only; ask in en."
    )
    # a model that declares no languages still reads it
    assert asking(graph, keyword_qa_model, question).message != refused.message
    # an English question that names the entity in Chinese is English
    named = asking(graph, english_qa, f"who does {CHINESE_NAME} work for ?")
    assert [hit.id for hit in named.linked] == ["maria"]
    assert named.answered and read_from(named) == {ENGLISH}


def test_a_verified_model_reads_what_both_its_reader_and_verifier_declare(
    keyword_qa_model: Path, tmp_path: Path
) -> None:
    from kgbuild.nlp.reader import ExtractiveReader

    declaring(keyword_qa_model, tmp_path / "reader", ["en", "de"])
    declaring(keyword_qa_model, tmp_path / "verifier", ["en", "fr"])
    (tmp_path / "verified").mkdir()
    (tmp_path / "verified" / "kgbuild_model.json").write_text(
        json.dumps(
            {
                "format": "kgbuild-verified-qa",
                "task": "qa",
                "reader": "../reader",
                "verifier": "../verifier",
                "min_margin": 0.0,
            }
        ),
        encoding="utf-8",
    )
    assert ExtractiveReader(str(tmp_path / "verified"), device="cpu").languages == {"en"}
    assert ExtractiveReader(str(keyword_qa_model), device="cpu").languages is None
