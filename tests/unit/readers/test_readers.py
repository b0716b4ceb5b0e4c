"""Tests of the BMES/Weibo, span, relation, SQuAD and DocRED readers."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from kgbuild.errors import DataFormatError, InputError
from kgbuild.readers.bmes import bmes_to_bio, read_bmes, read_weibo
from kgbuild.readers.conll import TaggedSentence, read_conll
from kgbuild.readers.docred import (
    DocREDDocument,
    document_text,
    read_docred,
    read_rel_info,
)
from kgbuild.readers.relations import (
    EntitySpan,
    RelationExample,
    RelationSpan,
    read_conll04,
    read_dygie,
    read_semeval2010,
)
from kgbuild.readers.spans import read_spans, split_words
from kgbuild.readers.squad import Answer, load_squad, read_squad
from tests.conftest import SharedData


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def write_json(tmp_path: Path, name: str, data: Any) -> Path:
    return write(tmp_path, name, json.dumps(data, ensure_ascii=False, indent=1))


# --- BMES / Weibo -------------------------------------------------------------------------


def test_bmes_to_bio_converts_and_repairs() -> None:
    assert bmes_to_bio(["B-ORG", "M-ORG", "E-ORG", "S-NAME", "O", "S-LOC", "S-LOC"]) == (
        "B-ORG",
        "I-ORG",
        "I-ORG",
        "B-NAME",
        "O",
        "B-LOC",
        "B-LOC",
    )
    # BIOES / BILOU prefixes, and inside tags that continue nothing start an entity
    assert bmes_to_bio(["I-PER", "E-PER", "U-X", "L-X", "B-A", "I-B"]) == (
        "B-PER",
        "I-PER",
        "B-X",
        "B-X",
        "B-A",
        "B-B",
    )
    with pytest.raises(ValueError, match="X-ORG"):
        bmes_to_bio(["X-ORG"])


def test_read_bmes(tmp_path: Path) -> None:
    path = write(tmp_path, "a.char.bmes", "吴 B-NAME\n重 M-NAME\n阳 E-NAME\n， O\n\n\n男 S-X\n")
    assert read_bmes(path) == [
        TaggedSentence(tokens=("吴", "重", "阳", "，"), tags=("B-NAME", "I-NAME", "I-NAME", "O")),
        TaggedSentence(tokens=("男",), tags=("B-X",)),
    ]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [("吴", "two columns"), ("吴 B-NAME extra", "two columns"), ("吴 Q-NAME", "Q-NAME")],
)
def test_read_bmes_malformed(tmp_path: Path, bad_line: str, message: str) -> None:
    path = write(tmp_path, "bad.bmes", f"a O\n\nb S-X\n{bad_line}\n")
    with pytest.raises(DataFormatError, match=rf"bad\.bmes:4: .*{message}"):
        read_bmes(path)


def test_read_weibo_strips_segment_index(tmp_path: Path) -> None:
    content = "科0\tB-ORG.NAM\n技1\tI-ORG.NAM\n310\tO\n00\tO\n\ufffd\ufffd0\tO\n\n口0\tO\n"
    sentences = read_weibo(write(tmp_path, "weibo.dev", content))
    assert sentences == [
        TaggedSentence(
            tokens=("科", "技", "3", "0", "\ufffd\ufffd"),
            tags=("B-ORG.NAM", "I-ORG.NAM", "O", "O", "O"),
        ),
        TaggedSentence(tokens=("口",), tags=("O",)),
    ]


def test_read_weibo_missing_index(tmp_path: Path) -> None:
    path = write(tmp_path, "weibo.bad", "科0\tO\n技\tO\n")
    with pytest.raises(DataFormatError, match=r"weibo\.bad:2: .*segment index"):
        read_weibo(path)


@pytest.mark.parametrize(("split", "count"), [("train", 3821), ("dev", 463)])
def test_real_resume(shared_data: SharedData, split: str, count: int) -> None:
    sentences = read_bmes(shared_data(f"ner/resume/{split}.char.bmes"))
    assert len(sentences) == count
    assert all(tag[:2] in ("O", "B-", "I-") for s in sentences for tag in s.tags)


@pytest.mark.parametrize(("split", "count"), [("train", 1350), ("dev", 270)])
def test_real_weibo(shared_data: SharedData, split: str, count: int) -> None:
    sentences = read_weibo(shared_data(f"ner/weibo/weiboNER_2nd_conll.{split}"))
    assert len(sentences) == count
    assert {t for s in sentences for t in s.tokens if len(t) != 1} <= {"\ufffd\ufffd"}


# --- spans --------------------------------------------------------------------------------


def test_split_words() -> None:
    text = "Apple's U.S. arm, 北京大学 2024"
    assert [text[s:e] for s, e in split_words(text)] == [
        "Apple",
        "'",
        "s",
        "U",
        ".",
        "S",
        ".",
        "arm",
        ",",
        "北",
        "京",
        "大",
        "学",
        "2024",
    ]


def test_read_spans_jsonl_and_json(tmp_path: Path) -> None:
    records = [
        {
            "text": "Tim Cook visited New York.",
            "entities": [
                {"start": 17, "end": 25, "label": "LOC"},
                {"start": 0, "end": 8, "label": "PER"},
            ],
        },
        {"text": "Nothing here", "entities": []},
    ]
    expected = [
        TaggedSentence(
            tokens=("Tim", "Cook", "visited", "New", "York", "."),
            tags=("B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"),
        ),
        TaggedSentence(tokens=("Nothing", "here"), tags=("O", "O")),
    ]
    jsonl = "\n".join(json.dumps(r) for r in records) + "\n\n"
    assert read_spans(write(tmp_path, "a.jsonl", jsonl)) == expected
    assert read_spans(write_json(tmp_path, "a.json", records)) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "abc"', "invalid JSON"),
        ('{"text": "abc", "entities": [{"start": 0, "end": 9, "label": "X"}]}', "out of range"),
        (
            '{"text": "a b c", "entities": [{"start": 0, "end": 3, "label": "X"},'
            ' {"start": 2, "end": 5, "label": "Y"}]}',
            "overlaps",
        ),
        ('{"text": "abc def", "entities": [{"start": 1, "end": 3, "label": "X"}]}', "boundaries"),
        ('{"text": "abc", "entities": [{"start": "0", "end": 3, "label": "X"}]}', "integer"),
        ('{"entities": []}', "'text'"),
    ],
)
def test_read_spans_malformed_jsonl(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, "bad.jsonl", '{"text": "ok", "entities": []}\n\n' + line + "\n")
    with pytest.raises(DataFormatError, match=rf"bad\.jsonl:3: .*{message}"):
        read_spans(path)


def test_read_spans_malformed_json_list(tmp_path: Path) -> None:
    records = [
        {"text": "ok", "entities": []},
        {"text": "ok", "entities": [{"start": 0, "end": 3, "label": "X"}]},
    ]
    with pytest.raises(DataFormatError, match=r"bad\.json: record 1: .*out of range"):
        read_spans(write_json(tmp_path, "bad.json", records))


# --- relations ----------------------------------------------------------------------------


def test_read_conll04(tmp_path: Path) -> None:
    records = [
        {
            "tokens": ["Ilse", "Varga", "Brandt", "killed", "Lenz", "."],
            "entities": [[0, 3, "Peop"], [4, 5, "Peop"]],
            "relations": [[0, 3, 4, 5, "Kill"]],
        }
    ]
    (example,) = read_conll04(write_json(tmp_path, "c.json", records))
    assert example == RelationExample(
        tokens=("Ilse", "Varga", "Brandt", "killed", "Lenz", "."),
        entities=(
            EntitySpan(start=0, end=3, label="Peop"),
            EntitySpan(start=4, end=5, label="Peop"),
        ),
        relations=(RelationSpan(head=0, tail=1, label="Kill"),),
    )
    with pytest.raises(ValidationError):
        example.tokens = ()  # type: ignore[misc]


def test_conll04_entities_as_bio_for_ner_training(tmp_path: Path) -> None:
    from kgbuild.training.ner import read_tagged

    records = [
        {
            "tokens": ["Ilse", "Varga", "Brandt", "killed", "Lenz", "in", "Velmora", "."],
            "entities": [[0, 3, "Peop"], [4, 5, "Peop"], [6, 7, "Loc"]],
            "relations": [[0, 3, 4, 5, "Kill"]],
        }
    ]
    (sentence,) = read_tagged(write_json(tmp_path, "c.json", records), "conll04")
    assert sentence.tags == ("B-PER", "I-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "O")
    records[0]["entities"] = [[0, 3, "Peop"], [2, 4, "Org"]]
    records[0]["relations"] = []
    with pytest.raises(DataFormatError, match="record 0: entities overlap at tokens 2-4"):
        read_tagged(write_json(tmp_path, "overlap.json", records), "conll04")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"tokens": ["a"], "entities": [[0, 2, "X"]], "relations": []}, "runs past"),
        (
            {"tokens": ["a", "b"], "entities": [[0, 1, "X"]], "relations": [[0, 1, 1, 2, "R"]]},
            r"\[1, 2\] is not an entity",
        ),
        ({"tokens": ["a"], "entities": [[0, 1]], "relations": []}, "not \\[int, int, label\\]"),
        (  # an entity end edited past the sentence: named, not the relation that used it
            {
                "tokens": ["a", "b"],
                "entities": [[0, 1, "X"], [1, 9, "Y"]],
                "relations": [[0, 1, 1, 2, "R"]],
            },
            r"entity span \[1, 9\) runs past the 2 tokens",
        ),
        ({"tokens": "a b", "entities": [], "relations": []}, "'tokens'"),
    ],
)
def test_read_conll04_malformed(tmp_path: Path, record: dict[str, Any], message: str) -> None:
    good = {"tokens": ["a"], "entities": [], "relations": []}
    path = write_json(tmp_path, "bad.json", [good, good, record])
    with pytest.raises(DataFormatError, match=rf"bad\.json: record 2: .*{message}"):
        read_conll04(path)


SEMEVAL = (
    '1\t"The robot in a stacked <e1>frame</e1> of steel <e2>rods</e2>."\r\n'
    "Component-Whole(e2,e1)\r\n"
    "Comment: Not a collection.\r\n"
    "\r\n"
    '2\t""Any time," the <e1>parcel</e1> was packed into the<e2>crate</e2>."\r\n'
    "Other\r\n"
    "Comment:\r\n"
    "\r\n"
    '3\t"<e1>Rain</e1> causes <e2>muddy roads</e2>"\r\n'
    "Cause-Effect(e1,e2)\r\n"
    "Comment:\r\n"
    "\r\n"
)


def test_read_semeval2010(tmp_path: Path) -> None:
    path = tmp_path / "TRAIN.TXT"
    path.write_bytes(("\ufeff" + SEMEVAL).encode("utf-8"))
    first, other, third = read_semeval2010(path)
    assert first.tokens == (
        "The",
        "robot",
        "in",
        "a",
        "stacked",
        "frame",
        "of",
        "steel",
        "rods",
        ".",
    )
    assert first.entities == (
        EntitySpan(start=5, end=6, label="E"),
        EntitySpan(start=8, end=9, label="E"),
    )
    assert first.relations == (RelationSpan(head=1, tail=0, label="Component-Whole"),)
    assert other.tokens[:4] == ('"', "Any", "time", ",")
    assert other.tokens[other.entities[1].start] == "crate"
    assert other.relations == ()
    assert third.entities[1] == EntitySpan(start=2, end=4, label="E")
    assert third.relations == (RelationSpan(head=0, tail=1, label="Cause-Effect"),)


@pytest.mark.parametrize(
    ("old", "new", "lineno", "message"),
    [
        ("Cause-Effect(e1,e2)", "Cause-Effect(e1,e1)", 10, "label line"),
        ("Other", "Otherwise", 6, "label line"),
        ("<e2>muddy roads</e2>", "muddy roads", 9, "markup"),
        ('3\t"', "3 ", 9, "sentence line"),
    ],
)
def test_read_semeval2010_malformed(
    tmp_path: Path, old: str, new: str, lineno: int, message: str
) -> None:
    path = write(tmp_path, "bad.txt", SEMEVAL.replace(old, new))
    with pytest.raises(DataFormatError, match=rf"bad\.txt:{lineno}: .*{message}"):
        read_semeval2010(path)


DYGIE_DOC = {
    "doc_key": "X",
    "sentences": [["We", "use", "CRFs", "."], ["CRFs", "help", "NER", "tagging", "."]],
    "ner": [[[2, 2, "Method"]], [[4, 4, "Method"], [6, 7, "Task"]]],
    "relations": [[], [[4, 4, 6, 7, "USED-FOR"]]],
    "clusters": [[[2, 2], [4, 4]]],
}


def test_read_dygie(tmp_path: Path) -> None:
    path = write(tmp_path, "d.json", json.dumps(DYGIE_DOC) + "\n")
    first, second = read_dygie(path)
    assert first.entities == (EntitySpan(start=2, end=3, label="Method"),)
    assert first.relations == ()
    assert second == RelationExample(
        tokens=("CRFs", "help", "NER", "tagging", "."),
        entities=(
            EntitySpan(start=0, end=1, label="Method"),
            EntitySpan(start=2, end=4, label="Task"),
        ),
        relations=(RelationSpan(head=0, tail=1, label="USED-FOR"),),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ner": [[[2, 4, "Method"]], []]}, r"sentence 0: span \[2, 4\]"),
        ({"relations": [[], [[4, 4, 5, 5, "R"]]]}, r"sentence 1: .*\[1, 2\] is not an entity"),
        ({"ner": [[]]}, "2 sentences but 1 'ner'"),
    ],
)
def test_read_dygie_malformed(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    bad = DYGIE_DOC | change
    path = write(tmp_path, "bad.json", json.dumps(DYGIE_DOC) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataFormatError, match=rf"bad\.json:2: {message}"):
        read_dygie(path)
    with pytest.raises(DataFormatError, match=r"bad\.json:1: invalid JSON"):
        read_dygie(write(tmp_path, "bad.json", "{not json}\n"))


@pytest.mark.parametrize(
    ("split", "count", "relations"), [("train.CoNLL04", 922, 1283), ("valid.CoNLL04", 231, 343)]
)
def test_real_conll04(shared_data: SharedData, split: str, count: int, relations: int) -> None:
    examples = read_conll04(shared_data(f"re/conll04/{split}.json"))
    assert len(examples) == count
    assert sum(len(e.relations) for e in examples) == relations


def test_real_semeval2010(shared_data: SharedData) -> None:
    examples = read_semeval2010(shared_data("re/semeval2010_task8/TRAIN_FILE.TXT"))
    assert len(examples) == 8000
    assert sum(not e.relations for e in examples) == 1410  # "Other"


@pytest.mark.parametrize(("split", "docs", "sentences"), [("train", 350, 1861), ("dev", 50, 275)])
def test_real_scierc(shared_data: SharedData, split: str, docs: int, sentences: int) -> None:
    path = shared_data(f"re/scierc/{split}.json")
    assert sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()) == docs
    assert len(read_dygie(path)) == sentences


# --- SQuAD --------------------------------------------------------------------------------


def squad(answer_start: int = 0) -> dict[str, Any]:
    return {
        "version": "1.1",
        "data": [
            {
                "title": "Beyonce",
                "paragraphs": [
                    {
                        "context": "Beyonce was born in Houston.",
                        "qas": [
                            {
                                "id": "q1",
                                "question": "Where was Beyonce born?",
                                "answers": [
                                    {"text": "Houston", "answer_start": 20},
                                    {"text": "in Houston", "answer_start": 17},
                                ],
                            },
                            {
                                "id": "q2",
                                "question": "Who?",
                                "answers": [{"text": "Beyonce", "answer_start": answer_start}],
                            },
                        ],
                    }
                ],
            }
        ],
    }


def test_read_squad(tmp_path: Path) -> None:
    first, second = read_squad(write_json(tmp_path, "s.json", squad()))
    assert first.id == "q1"
    assert first.title == "Beyonce"
    assert first.answers == (Answer(text="Houston", start=20), Answer(text="in Houston", start=17))
    assert second.answers == (Answer(text="Beyonce", start=0),)


def test_read_squad_misaligned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = squad()
    data["data"][0]["paragraphs"][0]["qas"][1]["answers"] = [{"text": "Jay", "answer_start": 3}]
    path = write_json(tmp_path, "bad.json", data)
    with pytest.raises(
        DataFormatError, match=r"bad\.json: article 0, paragraph 0, question 'q2': .*offset 3"
    ):
        read_squad(path)
    result = load_squad(path, strict=False)
    assert [e.id for e in result.examples] == ["q1"]
    assert (result.skipped_answers, result.dropped_questions) == (1, 1)
    assert result.report.lines() == [
        "1 of 2 questions in bad.json skipped: the answer text is not in the context "
        "(first: 'q2': answer 0 'Jay' is not at offset 3 of the context (found 'onc'))"
    ]
    assert result.report.to_json()["reasons"][0]["first_id"] == "q2"
    with caplog.at_level(logging.WARNING, logger="kgbuild.readers.squad"):
        assert len(read_squad(path, strict=False)) == 1
    assert "1 of 2 questions in bad.json skipped" in caplog.text


def test_read_squad_realigns_an_answer_found_once(tmp_path: Path) -> None:
    # "Beyonce" occurs once in the context: an off offset (CMRC 2018's are one off) is moved
    path = write_json(tmp_path, "off.json", squad(answer_start=3))
    with pytest.raises(DataFormatError, match=r"question 'q2': .*it is at offset 0"):
        read_squad(path)
    result = load_squad(path, strict=False)
    assert result.examples[1].answers == (Answer(text="Beyonce", start=0),)
    assert (result.realigned_answers, result.skipped_answers, result.report.skipped) == (1, 0, ())
    assert result.report.lines() == [
        "1 of 2 questions in off.json kept with a change: answer_start moved to the answer "
        "text's only occurrence in the context (first: 'q2': answer 0 'Beyonce' moved from "
        "offset 3 to 0)"
    ]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"text": "Houston", "answer_start": 40}, "answer_start is outside the context"),
        ({"text": "o", "answer_start": 0}, "occurs more than once in the context"),
        ({"text": " ", "answer_start": 7}, "the answer text is empty"),
    ],
)
def test_read_squad_skips_say_why(tmp_path: Path, answer: dict[str, Any], reason: str) -> None:
    data = squad()
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"].append(answer)
    result = load_squad(write_json(tmp_path, "s.json", data), strict=False)
    assert [len(e.answers) for e in result.examples] == [2, 1]  # q1 keeps its good answers
    (line,) = result.report.lines()
    assert line.startswith("1 of 2 questions in s.json kept with a change: one of its answers")
    assert reason in line


def test_read_squad_drops_a_question_whose_id_repeats(tmp_path: Path) -> None:
    """Scores are kept by id: a repeated id silently scored one question of the two."""
    data = squad()
    data["data"][0]["paragraphs"][0]["qas"][1]["id"] = "q1"
    path = write_json(tmp_path, "twice.json", data)
    with pytest.raises(DataFormatError, match=r"question 'q1': its id repeats an earlier"):
        read_squad(path)
    result = load_squad(path, strict=False)
    assert [e.question for e in result.examples] == ["Where was Beyonce born?"]
    assert result.report.lines() == [
        "1 of 2 questions in twice.json skipped: its id repeats an earlier question's "
        "(answers are scored by id) (first: 'q1': first at article 0, paragraph 0)"
    ]


def test_read_squad_malformed_structure(tmp_path: Path) -> None:
    data = squad()
    del data["data"][0]["paragraphs"][0]["qas"][1]["question"]
    with pytest.raises(DataFormatError, match=r"question 'q2': 'question' is missing"):
        read_squad(write_json(tmp_path, "bad.json", data))
    with pytest.raises(DataFormatError, match=r"bad\.json:1: invalid JSON"):
        read_squad(write(tmp_path, "bad.json", "{"))


@pytest.mark.parametrize(
    ("relative", "count", "skipped"),
    [
        ("qa/squad11/dev-v1.1.part1of2.json", 5696, 0),
        ("qa/cmrc2018/cmrc2018_trial.json", 1002, 5),
        ("qa/drcd/DRCD_dev.json", 3524, 0),
    ],
)
def test_real_squad(shared_data: SharedData, relative: str, count: int, skipped: int) -> None:
    result = load_squad(shared_data(relative), strict=False)
    assert len(result.examples) + result.dropped_questions == count
    # CMRC 2018's misaligned answers are each one character off a unique occurrence
    assert (result.realigned_answers, result.skipped_answers) == (skipped, 0)
    if skipped:
        with pytest.raises(DataFormatError, match="question '"):
            read_squad(shared_data(relative))


# --- DocRED -------------------------------------------------------------------------------


def docred_doc() -> dict[str, Any]:
    return {
        "title": "Invented",
        "sents": [["Greta", "Holm", "is", "Danish", "."], ["Holm", "won", "."]],
        "vertexSet": [
            [
                {
                    "name": "Greta Holm",
                    "sent_id": 0,
                    "pos": [0, 2],
                    "type": "PER",
                    "index": "0_0",
                },
                {"name": "Holm", "sent_id": 1, "pos": [0, 1], "type": "PER"},
            ],
            [{"name": "Danish", "sent_id": 0, "pos": [3, 4], "type": "LOC"}],
        ],
        "labels": [{"h": 0, "t": 1, "r": "P27", "evidence": [0]}],
    }


def test_read_docred_and_text(tmp_path: Path) -> None:
    (doc,) = read_docred(write_json(tmp_path, "d.json", [docred_doc()]))
    assert isinstance(doc, DocREDDocument)
    assert doc.sentences[1] == ("Holm", "won", ".")
    assert [e.type for e in doc.entities] == ["PER", "LOC"]
    assert doc.entities[0].mentions[0].end == 2
    assert doc.relations[0].relation == "P27"
    assert doc.relations[0].evidence == (0,)
    text, sentence_offsets, mention_offsets = document_text(doc)
    assert text == "Greta Holm is Danish . Holm won ."
    assert sentence_offsets == ((0, 22), (23, 33))
    assert [[text[s:e] for s, e in mentions] for mentions in mention_offsets] == [
        ["Greta Holm", "Holm"],
        ["Danish"],
    ]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("vertexSet", 0, 1, "pos"), [0, 4], r"pos \[0, 4\)"),
        (("vertexSet", 0, 1, "sent_id"), 2, "sent_id 2"),
        (("labels", 0, "t"), 5, "entity 5"),
        (("labels", 0, "evidence"), [0, 9], "evidence sentence 9"),
        (("vertexSet", 1, 0, "pos"), [3], "is not \\[start, end\\]"),
    ],
)
def test_read_docred_malformed(
    tmp_path: Path, path: tuple[Any, ...], value: Any, message: str
) -> None:
    bad = docred_doc()
    target: Any = bad
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    file = write_json(tmp_path, "bad.json", [docred_doc(), bad])
    with pytest.raises(DataFormatError, match=rf"bad\.json: record 1: .*{message}"):
        read_docred(file)


def test_read_rel_info(tmp_path: Path) -> None:
    assert read_rel_info(write_json(tmp_path, "r.json", {"P17": "country"})) == {"P17": "country"}
    with pytest.raises(DataFormatError, match=r"r\.json: relation 'P6'"):
        read_rel_info(write_json(tmp_path, "r.json", {"P6": 3}))


def test_real_redocred(shared_data: SharedData) -> None:
    docs = read_docred(shared_data("kg/redocred/dev_revised.json"))
    assert len(docs) == 500
    for doc in docs[:50]:
        text, _, mention_offsets = document_text(doc)
        for entity, offsets in zip(doc.entities, mention_offsets, strict=True):
            for mention, (start, end) in zip(entity.mentions, offsets, strict=True):
                tokens = doc.sentences[mention.sent_id][mention.start : mention.end]
                assert text[start:end] == " ".join(tokens)
    relations = read_rel_info(shared_data("kg/redocred/rel_info.json"))
    assert len(relations) == 96
    assert {r.relation for doc in docs for r in doc.relations} <= set(relations)


@pytest.mark.parametrize(
    "reader",
    [
        read_conll,
        read_bmes,
        read_weibo,
        read_spans,
        read_conll04,
        read_docred,
        load_squad,
        read_semeval2010,
        read_dygie,
    ],
)
def test_a_file_that_is_missing_or_not_utf8_is_named_in_one_error(
    reader: Callable[[Path], Any], tmp_path: Path
) -> None:
    with pytest.raises(InputError, match=r"data file .*missing\.txt does not exist"):
        reader(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="is a folder"):
        reader(tmp_path)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("A O\n\nJos\xe9 B-PER\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"latin1.txt:3: not utf-8 text"):
        reader(latin1)


def test_a_utf8_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    bom = "\ufeff"
    conll = write(tmp_path, "c.txt", f"{bom}-DOCSTART- -X- -X- O\n\nJohn NNP B-NP B-PER\n")
    assert read_conll(conll) == [TaggedSentence(tokens=("John",), tags=("B-PER",))]
    spans = write(tmp_path, "s.jsonl", bom + json.dumps({"text": "Hi", "entities": []}))
    assert read_spans(spans) == [TaggedSentence(tokens=("Hi",), tags=("O",))]
    squad = {"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": []}]}]}
    assert load_squad(write(tmp_path, "q.json", bom + json.dumps(squad))).examples == ()
    assert read_conll04(write(tmp_path, "r.json", f"{bom}[]")) == []


CP_CONLL = "-DOCSTART- O\n\nJosé B-PER\nsaß O\n"
CP_SENTENCES = [TaggedSentence(tokens=("José", "saß"), tags=("B-PER", "O"))]


@pytest.mark.parametrize(
    ("codec", "bom"),
    [
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
        ("utf-32-le", b"\xff\xfe\x00\x00"),
    ],
)
def test_a_byte_order_mark_decides_the_encoding(codec: str, bom: bytes, tmp_path: Path) -> None:
    conll = tmp_path / "excel.txt"
    conll.write_bytes(bom + CP_CONLL.encode(codec))
    assert read_conll(conll) == CP_SENTENCES
    # a BOM is unambiguous: it wins over an encoding given for BOM-less files
    assert read_conll(conll, encoding="cp1252") == CP_SENTENCES
    squad = {"data": [{"title": "Café", "paragraphs": [{"context": "c", "qas": []}]}]}
    json_file = tmp_path / "q.json"
    json_file.write_bytes(bom + json.dumps(squad, ensure_ascii=False).encode(codec))
    assert load_squad(json_file).examples == ()


def test_a_legacy_code_page_is_read_only_when_named(tmp_path: Path) -> None:
    conll = tmp_path / "cp1252.txt"
    conll.write_bytes(CP_CONLL.encode("cp1252"))
    with pytest.raises(DataFormatError) as caught:
        read_conll(conll)
    message = str(caught.value)
    assert message.startswith(f"{conll}:3: not utf-8 text (invalid continuation byte at byte 17)")
    assert "--encoding" in message
    assert read_conll(conll, encoding="cp1252") == CP_SENTENCES
    assert read_bmes(conll, encoding="CP1252")[-1].tokens == ("José", "saß")
    conll.write_bytes(CP_CONLL.encode("cp1252") + b"x\x81 O\n")  # 0x81: no cp1252 character
    with pytest.raises(DataFormatError, match=r"cp1252.txt:5: not cp1252 text .* at byte 32"):
        read_conll(conll, encoding="cp1252")


def test_utf16_without_a_byte_order_mark_is_refused_not_read_with_nuls(tmp_path: Path) -> None:
    conll = tmp_path / "nobom.txt"
    conll.write_bytes(CP_CONLL.encode("utf-16-le"))  # valid UTF-8: "-\0D\0O\0..."
    message = r"nobom.txt:1: not utf-8 text \(a NUL byte at byte 1\).*--encoding utf-16-le"
    with pytest.raises(DataFormatError, match=message):
        read_conll(conll)
    assert read_conll(conll, encoding="utf-16-le") == CP_SENTENCES


@pytest.mark.parametrize(("bom", "codec"), [(b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16")])
def test_a_damaged_file_with_a_byte_order_mark_is_not_sent_to_encoding(
    bom: bytes, codec: str, tmp_path: Path
) -> None:
    """--encoding cannot help a file whose mark decides: the error must not suggest it."""
    conll = tmp_path / "damaged.txt"
    damaged = b"\xe9 O\n" if codec == "utf-8" else b"\x00\xdc"  # a lone low surrogate
    conll.write_bytes(
        bom + CP_CONLL.encode(f"{codec}-le" if codec == "utf-16" else codec) + damaged
    )
    with pytest.raises(DataFormatError) as caught:
        read_conll(conll, encoding="cp1252")
    message = str(caught.value)
    assert f"damaged.txt:5: not {codec} text" in message
    good = len(bom) + len(CP_CONLL.encode(f"{codec}-le" if codec == "utf-16" else codec))
    assert f"at byte {good})" in message  # the file's offset, its mark counted
    assert f"starts with a {codec.upper()} byte-order mark; repair the file" in message
    assert "--encoding" not in message


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("utf-9", "unknown encoding 'utf-9': give a Python codec name"),
        ("base64", "'base64' is not a text encoding"),
    ],
)
def test_an_unknown_encoding_is_refused(name: str, message: str, tmp_path: Path) -> None:
    conll = write(tmp_path, "c.txt", CP_CONLL)
    for reader in (read_conll, read_conll04, read_semeval2010):
        with pytest.raises(InputError, match=message):
            reader(conll, encoding=name)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"empty\.json: the file is empty; this format is JSON"),
        ("\n\n", r"empty\.json: the file is empty; this format is JSON"),
        (  # a CoNLL file given to a JSON reader said only "invalid JSON: Expecting value"
            "\nJohn B-PER\nworks O\n",
            r"empty\.json:2: not JSON \(it begins 'John B-PER'\); this format is JSON",
        ),
    ],
)
def test_an_empty_or_non_json_file_says_so(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "empty.json", text)
    for reader in (read_conll04, read_squad, read_docred):
        with pytest.raises(DataFormatError, match=message):
            reader(path)
