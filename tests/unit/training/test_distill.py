"""Knowledge distillation for NER (``kgbuild train ner --teacher``), with tiny models.

The teacher is the keyword NER model of tests/conftest.py, trained by our own train_ner.
A student trained on sentences whose gold tags are all ``O`` learns the names only from
the teacher; without it, the same data teaches it to tag nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kgbuild.errors import InputError
from kgbuild.nlp.hf import clear_model_cache, load_token_classifier
from kgbuild.nlp.tiny import make_tiny_bert
from kgbuild.readers.conll import read_conll
from kgbuild.readers.ner_sources import parse_source
from kgbuild.training.distill import load_teacher, teacher_word_probabilities
from kgbuild.training.ner import evaluate_ner, predict_tags, train_ner
from tests.conftest import KEYWORD_VOCAB, LABELS, write_keyword_conll


def _all_outside(source: Path, target: Path) -> Path:
    """``source`` with every tag replaced by ``O``: gold that names nothing."""
    lines = []
    for line in source.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        lines.append(f"{parts[0]} O" if parts and not line.startswith("-DOCSTART-") else line)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def _train_student(
    root: Path, train: Any, dev: Any, teacher: Path, teacher_weight: float
) -> tuple[Path, Any]:
    """A fresh tiny student (the keywords in its vocabulary) distilled from ``teacher``."""
    base = make_tiny_bert(
        root / "base",
        LABELS,
        vocab=KEYWORD_VOCAB,
        seed=3,
    )
    out = root / "model"
    result = train_ner(
        train,
        dev,
        base=str(base),
        out=out,
        epochs=6,
        learning_rate=5e-3,
        batch_size=16,
        lora_rank=None,
        seed=0,
        patience=6,
        device="cpu",
        bf16=False,
        teacher=str(teacher),
        teacher_weight=teacher_weight,
        temperature=2.0,
    )
    clear_model_cache()
    return out, result


def test_teacher_odds_are_one_distribution_per_word_in_the_students_label_order(
    keyword_ner_model: Path, tmp_path: Path
) -> None:
    sentences = read_conll(write_keyword_conll(tmp_path / "s.txt", 12, seed=5))
    documents = [sentences[:5], sentences[5:]]
    loaded = load_token_classifier(str(keyword_ner_model))
    reordered = [loaded.id2label[i] for i in reversed(range(len(loaded.id2label)))]
    odds = teacher_word_probabilities(
        load_teacher(str(keyword_ner_model), device="cpu"), documents, reordered, temperature=1.0
    )
    tagged = predict_tags(
        str(keyword_ner_model), [s.tokens for s in sentences], device="cpu", constrained=False
    )
    flat = [sentence for document in odds for sentence in document]
    assert [len(rows) for rows in flat] == [len(s.tokens) for s in sentences]
    for rows, tags in zip(flat, tagged, strict=True):
        assert np.allclose(rows.sum(axis=1), 1.0, atol=1e-3)
        assert [reordered[i] for i in rows.argmax(axis=1)] == list(tags)


def test_a_teacher_with_other_labels_is_refused(keyword_ner_model: Path, tmp_path: Path) -> None:
    documents = [read_conll(write_keyword_conll(tmp_path / "s.txt", 2, seed=5))]
    with pytest.raises(InputError, match="same labels"):
        teacher_word_probabilities(
            load_teacher(str(keyword_ner_model)),
            documents,
            ["O", "B-PER", "I-PER"],
            temperature=1.0,
        )


@pytest.mark.parametrize(("teacher_weight", "learns_names"), [(0.9, True), (0.0, False)])
def test_a_student_learns_from_the_teacher_what_its_gold_does_not_say(
    keyword_ner_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
    teacher_weight: float,
    learns_names: bool,
) -> None:
    root = tmp_path_factory.mktemp("student")
    train = _all_outside(write_keyword_conll(root / "t.txt", 300, seed=7), root / "train.txt")
    dev = write_keyword_conll(root / "dev.txt", 40, seed=8)  # real tags: all labels known
    out, result = _train_student(root, train, dev, keyword_ner_model, teacher_weight)
    held_out = write_keyword_conll(root / "held_out.txt", 40, seed=9)
    f1 = evaluate_ner(str(out), held_out, device="cpu").micro.f1
    if learns_names:
        assert f1 > 0.8
        card = (out / "model_card.json").read_text(encoding="utf-8")
        assert str(keyword_ner_model) in card and result.dev.micro.f1 > 0.8
    else:
        assert f1 < 0.2


def test_teacher_weight_out_of_range_is_refused_before_training(
    keyword_ner_model: Path, tmp_path: Path
) -> None:
    data = write_keyword_conll(tmp_path / "d.txt", 4, seed=1)
    with pytest.raises(InputError, match="teacher_weight"):
        train_ner(
            data,
            data,
            base=str(keyword_ner_model),
            out=tmp_path / "out",
            teacher=str(keyword_ner_model),
            teacher_weight=1.5,
        )


def _as_text(source: Path, target: Path) -> Path:
    """The words of a CoNLL file as ``text:`` data: a sentence per line, 10 per document."""
    sentences = read_conll(source)
    lines = []
    for index, sentence in enumerate(sentences):
        if index and index % 10 == 0:
            lines.append("")
        lines.append(" ".join(sentence.tokens))
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def test_a_student_learns_names_from_unlabeled_text_through_the_teacher(
    keyword_ner_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("transfer")
    # The gold source names nothing; the names are only in the unlabeled text.
    gold = _all_outside(write_keyword_conll(root / "g.txt", 20, seed=7), root / "gold.txt")
    text = _as_text(write_keyword_conll(root / "u.txt", 300, seed=11), root / "words.txt")
    dev = write_keyword_conll(root / "dev.txt", 40, seed=8)
    sources = [parse_source(f"conll:{gold}"), parse_source(f"text:{text}")]
    out, _ = _train_student(
        root, sources, [parse_source(f"conll:{dev}")], keyword_ner_model, teacher_weight=0.9
    )
    held_out = write_keyword_conll(root / "held_out.txt", 40, seed=9)
    assert evaluate_ner(str(out), held_out, device="cpu").micro.f1 > 0.8
    card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    assert [e["unlabeled"] for e in card["data"]["train"]] == [False, True]
    assert card["data"]["train"][1]["sentences"] == 300


def test_unlabeled_sources_need_a_teacher_and_gold_beside_them(
    keyword_ner_model: Path, tmp_path: Path
) -> None:
    data = write_keyword_conll(tmp_path / "d.txt", 4, seed=1)
    text = _as_text(data, tmp_path / "words.txt")
    conll, words = parse_source(f"conll:{data}"), parse_source(f"text:{text}")
    for train, dev, teacher, match in [
        ([conll, words], [conll], None, "add --teacher"),
        ([words], [conll], str(keyword_ner_model), "must have gold tags"),
        ([conll], [words], str(keyword_ner_model), "dev source must have gold"),
    ]:
        with pytest.raises(InputError, match=match):
            train_ner(train, dev, base=str(keyword_ner_model), out=tmp_path / "o", teacher=teacher)
