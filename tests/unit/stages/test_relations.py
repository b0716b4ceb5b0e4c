"""Relation extraction: markers, candidates, metrics, training, reload and the stage."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from kgbuild.data import Chunk, Document, Mention, MentionRelation, Provenance, Span
from kgbuild.ids import content_hash, stable_id
from kgbuild.nlp.hf import clear_model_cache, load_sequence_classifier
from kgbuild.nlp.pair_classifier import HEAD_FILE, EntityPairClassifier, opening_marker_ids
from kgbuild.nlp.tiny import make_tiny_bert
from kgbuild.readers.relations import read_conll04
from kgbuild.schema import load_schema
from kgbuild.stages.chunking import chunk_document
from kgbuild.stages.relations import (
    MarkerEncoder,
    ReConfig,
    RelationStage,
    classify,
    mark_pair,
    marker_tokens,
)
from kgbuild.training.re import (
    ReTrainResult,
    build_pairs,
    evaluate_re,
    predict_relations,
    train_re,
)
from kgbuild.training.re_metrics import RelationKey, relation_scores

NAMES = ["john", "mary", "peter", "david"]
ORGS = ["reuters", "police", "bank"]
CITIES = ["london", "paris", "tokyo"]


def _write_conll04(path: Path, n: int, seed: int) -> Path:
    """Synthetic CoNLL04: the relation of a pair follows from its direction and types."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        person, org, city = rng.choice(NAMES).title(), rng.choice(ORGS), rng.choice(CITIES)
        if i % 2 == 0:
            tokens = [person, "Smith", "works", "for", org, "in", city.title(), "."]
            entities = [[0, 2, "Peop"], [4, 5, "Org"], [6, 7, "Loc"]]
            relations = [[0, 2, 4, 5, "Work_For"], [4, 5, 6, 7, "OrgBased_In"]]
        else:
            tokens = [city.title(), ":", person, "Smith", "of", org, "said", "."]
            entities = [[0, 1, "Loc"], [2, 4, "Peop"], [5, 6, "Org"]]
            relations = [[2, 4, 5, 6, "Work_For"], [5, 6, 0, 1, "OrgBased_In"]]
        records.append({"tokens": tokens, "entities": entities, "relations": relations})
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, ReTrainResult]:
    root = tmp_path_factory.mktemp("re")
    base = make_tiny_bert(root / "base", ["O"])
    train = _write_conll04(root / "train.json", 48, 0)
    dev = _write_conll04(root / "dev.json", 12, 1)
    result = train_re(
        train,
        dev,
        base=str(base),
        out=root / "model",
        epochs=10,
        learning_rate=5e-3,
        batch_size=8,
        lora_rank=4,
        patience=8,
        seed=1,
        bf16=False,
        device="cpu",
        command="kgbuild train re (test)",
    )
    return root / "model", dev, result


# -- markers --------------------------------------------------------------------------------


def test_mark_pair_hand_checked() -> None:
    text = "Mary Smith works for Acme in Paris ."
    assert (
        mark_pair(text, (0, 10), "PER", (21, 25), "ORG")
        == "[H:PER] Mary Smith [/H] works for [T:ORG] Acme [/T] in Paris ."
    )
    # tail before head: markers follow the text order, roles stay as given
    assert (
        mark_pair(text, (29, 34), "LOC", (21, 25), "ORG")
        == "Mary Smith works for [T:ORG] Acme [/T] in [H:LOC] Paris [/H] ."
    )
    with pytest.raises(ValueError, match="overlap"):
        mark_pair(text, (0, 10), "PER", (5, 16), "ORG")
    with pytest.raises(ValueError):
        mark_pair(text, (30, 50), "PER", (0, 4), "ORG")
    assert marker_tokens(["PER"]) == ["[H:PER]", "[T:PER]", "[/H]", "[/T]"]


def test_build_pairs_labels_and_directions(tmp_path: Path) -> None:
    examples = read_conll04(_write_conll04(tmp_path / "d.json", 1, 0))
    pairs = build_pairs(examples)
    assert len(pairs) == 6  # 3 entities: all ordered pairs
    labelled = {(p.head, p.tail): p.label for p in pairs}
    assert labelled[0, 1] == "Work_For"
    assert labelled[1, 0] == "no_relation"  # reversed direction is a negative
    assert labelled[1, 2] == "OrgBased_In"
    assert pairs[0].text.startswith("[H:PER] ")


def test_encoder_cuts_a_window_that_keeps_all_markers(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    base = make_tiny_bert(tmp_path / "tok", ["O"])
    tokenizer = AutoTokenizer.from_pretrained(base)
    markers = marker_tokens(["PER", "ORG"])
    tokenizer.add_tokens(markers, special_tokens=True)
    encoder = MarkerEncoder(tokenizer, markers, max_length=16)
    words = ["the"] * 40
    text = " ".join(words)
    head, tail = (0, 3), (len(text) - 3, len(text))  # first and last word: far apart
    ids, cut = encoder.encode(mark_pair(text, head, "PER", tail, "ORG"))
    assert cut and len(ids) == 16
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert [t for t in tokens if t in markers] == ["[H:PER]", "[/H]", "[T:ORG]", "[/T]"]
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    short, cut = encoder.encode(mark_pair("the the", (0, 3), "PER", (4, 7), "ORG"))
    assert not cut and len(short) == 8
    # close pair in a long text: one contiguous window around both mentions
    ids, cut = encoder.encode(mark_pair(text, (40, 43), "PER", (48, 51), "ORG"))
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert cut and len(ids) == 16
    assert tokens[1:-1].count("the") == 10


def test_training_pairs_cut_between_their_mentions_are_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from transformers import AutoTokenizer

    from kgbuild.training.re import RePair, _encode_pairs

    base = make_tiny_bert(tmp_path / "tok", ["O"])
    tokenizer = AutoTokenizer.from_pretrained(base)
    markers = marker_tokens(["PER", "ORG"])
    tokenizer.add_tokens(markers, special_tokens=True)
    encoder = MarkerEncoder(tokenizer, markers, max_length=16)
    text = " ".join(["the"] * 40)
    far = mark_pair(text, (0, 3), "PER", (len(text) - 3, len(text)), "ORG")
    near = mark_pair(text, (40, 43), "PER", (48, 51), "ORG")  # windowed, nothing between lost
    short = mark_pair("the the", (0, 3), "PER", (4, 7), "ORG")
    key = RelationKey(0, 1, "PER", 1, 2, "ORG", "no_relation")
    pairs = [
        RePair(sentence=0, head=0, tail=1, text=t, label="no_relation", key=key)
        for t in (far, near, short)
    ]
    with caplog.at_level(logging.INFO, logger="kgbuild.training.re"):
        data, windows = _encode_pairs(pairs, encoder, {"no_relation": 0}, "training")
    assert len(data) == 3
    assert (windows.windowed, windows.cut_between) == (2, 1)
    assert windows.to_json() == {"pairs_windowed": 2, "pairs_cut_between_mentions": 1}
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("1 of 3 training candidates are longer than max_length 16")


def test_pair_classifier_reads_the_first_head_and_tail_markers(tmp_path: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    base = make_tiny_bert(tmp_path / "tok", ["O"])
    tokenizer = AutoTokenizer.from_pretrained(base)
    markers = marker_tokens(["PER", "ORG"])
    tokenizer.add_tokens(markers, special_tokens=True)
    heads, tails = opening_marker_ids(tokenizer, markers)
    assert tokenizer.convert_ids_to_tokens(heads) == ["[H:PER]", "[H:ORG]"]
    assert tokenizer.convert_ids_to_tokens(tails) == ["[T:PER]", "[T:ORG]"]
    encoder = AutoModel.from_pretrained(base)
    encoder.resize_token_embeddings(len(tokenizer))
    model = EntityPairClassifier(encoder, {0: "no_relation", 1: "Work_For"}, heads, tails).eval()
    text = mark_pair("john works for bank .", (0, 4), "PER", (15, 19), "ORG")
    ids = torch.tensor([MarkerEncoder(tokenizer, markers, 32).encode(text)[0]])
    tokens = tokenizer.convert_ids_to_tokens(ids[0])
    head_at, tail_at = tokens.index("[H:PER]"), tokens.index("[T:ORG]")
    with torch.inference_mode():
        states = encoder(input_ids=ids).last_hidden_state[0]
        expected = model.classifier(torch.cat([states[head_at], states[tail_at]]))
        out = model(input_ids=ids, labels=torch.tensor([1]))
    torch.testing.assert_close(out.logits[0], expected)
    assert float(out.loss) == pytest.approx(
        float(torch.nn.functional.cross_entropy(expected[None], torch.tensor([1])))
    )
    assert model.config.id2label == {0: "no_relation", 1: "Work_For"}
    with pytest.raises(ValueError, match="head and a tail marker"):
        model(input_ids=torch.tensor([[2, 5, 6, 3]]))
    with pytest.raises(ValueError, match="not a token"):
        opening_marker_ids(tokenizer, ["[H:LOC]"])
    with pytest.raises(ValueError, match="no head or no tail"):
        opening_marker_ids(tokenizer, ["[H:PER]", "[/H]"])


# -- metrics --------------------------------------------------------------------------------


def test_relation_scores_hand_checked() -> None:
    works = RelationKey(0, 2, "Peop", 4, 5, "Org", "Work_For")
    based = RelationKey(4, 5, "Org", 6, 7, "Loc", "OrgBased_In")
    gold = [[works, based], [RelationKey(0, 1, "Peop", 3, 4, "Peop", "Kill")]]
    predicted = [
        [
            works,  # correct
            RelationKey(4, 5, "Org", 0, 2, "Peop", "Work_For"),  # direction reversed
            RelationKey(4, 5, "Org", 6, 7, "Org", "OrgBased_In"),  # wrong tail type
            RelationKey(4, 5, "Org", 6, 7, "Loc", "no_relation"),  # never scored
        ],
        [RelationKey(0, 2, "Peop", 3, 4, "Peop", "Kill")],  # wrong head boundary
    ]
    scores = relation_scores(gold, predicted)
    assert (scores.micro.support, scores.micro.predicted) == (3, 4)
    assert scores.micro.precision == pytest.approx(1 / 4)
    assert scores.micro.recall == pytest.approx(1 / 3)
    assert scores.micro.f1 == pytest.approx(2 / 7)
    assert scores.per_type["Work_For"].precision == pytest.approx(1 / 2)
    assert scores.per_type["Work_For"].recall == 1.0
    assert scores.per_type["OrgBased_In"].f1 == 0.0
    assert scores.per_type["Kill"].predicted == 1
    assert set(scores.per_type) == {"Work_For", "OrgBased_In", "Kill"}
    with pytest.raises(ValueError):
        relation_scores(gold, predicted[:1])


# -- training and reload --------------------------------------------------------------------


def test_train_re_writes_card_manifest_and_learns(
    trained: tuple[Path, Path, ReTrainResult],
) -> None:
    out, _dev, result = trained
    losses = result.train_losses
    assert len(losses) >= 4 and sum(losses[-2:]) < sum(losses[:2])
    manifest = json.loads((out / "kgbuild_model.json").read_text(encoding="utf-8"))
    assert manifest["task"] == "sequence-classification"
    assert manifest["labels"][0] == "no_relation"
    assert manifest["labels"][1:] == ["OrgBased_In", "Work_For"]
    assert manifest["entity_types"] == ["LOC", "ORG", "PER"]
    assert "[H:PER]" in manifest["markers"]
    card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    assert card["command"] == "kgbuild train re (test)"
    assert card["seed"] == 1
    assert len(card["data"]["train"]["sha256"]) == 64
    assert card["data"]["train"]["pairs_cut_between_mentions"] == 0  # short sentences
    assert card["timing"]["train_pairs_per_second"] > 0
    assert len(card["dev_f1_per_epoch"]) == round(result.epochs_run)
    assert max(card["dev_f1_per_epoch"]) == result.best_dev_f1_during_training
    assert "dev F1 per epoch" in (out / "README.md").read_text(encoding="utf-8")
    assert "Dev scores" in (out / "README.md").read_text(encoding="utf-8")
    # only the marker rows are saved, never the whole embedding matrix
    from safetensors.torch import load_file

    state = load_file(str(out / "adapter_model.safetensors"))
    embedding_keys = [k for k in state if "word_embeddings" in k]
    assert embedding_keys and all(state[k].shape[0] == 8 for k in embedding_keys)
    assert result.dev.micro.f1 > 0.5
    # the best epoch's in-training score is the re-loaded model's score (fp32 here)
    assert result.best_dev_f1_during_training == pytest.approx(result.dev.micro.f1)


def _marked_ids(loaded: Any) -> torch.Tensor:
    """One marked candidate, encoded with the markers of a loaded relation model."""
    encoder = MarkerEncoder(loaded.tokenizer, loaded.manifest["markers"], 64)
    text = mark_pair("john smith works for bank .", (0, 10), "PER", (21, 25), "ORG")
    return torch.tensor([encoder.encode(text)[0]])


def test_reload_gives_identical_predictions(trained: tuple[Path, Path, ReTrainResult]) -> None:
    out, dev, result = trained
    examples = read_conll04(dev)
    first = predict_relations(str(out), examples, device="cpu")
    loaded = load_sequence_classifier(str(out), device="cpu")
    assert isinstance(loaded.model, EntityPairClassifier)  # the default pooling
    ids = _marked_ids(loaded)
    with torch.inference_mode():
        logits_a = loaded.model(input_ids=ids).logits
    clear_model_cache()
    again = load_sequence_classifier(str(out), device="cpu")
    assert again is not loaded
    with torch.inference_mode():
        logits_b = again.model(input_ids=ids).logits
    assert torch.equal(logits_a, logits_b)
    assert predict_relations(str(out), examples, device="cpu") == first
    assert evaluate_re(str(out), dev, device="cpu") == result.dev


# -- the stage ------------------------------------------------------------------------------


def _chunk(doc: str, index: int, start: int, text: str) -> Chunk:
    return Chunk(
        id=stable_id("chunk", doc, index),
        doc_id=doc,
        index=index,
        span=Span(start=start, end=start + len(text)),
        text=text,
    )


def _mention(chunk: Chunk, word: str, label: str, nth: int = 0) -> Mention:
    rel = chunk.text.index(word)
    for _ in range(nth):
        rel = chunk.text.index(word, rel + 1)
    start = chunk.span.start + rel
    return Mention(
        id=stable_id("men", chunk.doc_id, start, label),
        text=word,
        label=label,
        provenance=Provenance(
            doc_id=chunk.doc_id,
            chunk_id=chunk.id,
            span=Span(start=start, end=start + len(word)),
            score=0.9,
            model="test",
            model_revision="0",
            run_id="r",
            stage="ner",
        ),
    )


def test_candidates_respect_schema_and_sentences(trained: tuple[Path, Path, ReTrainResult]) -> None:
    out, _dev, _ = trained
    first = _chunk("d", 0, 0, "Mary Smith works for police in Paris with Olympics .")
    second = _chunk("d", 1, first.span.end + 1, "John Smith lives in London .")
    mentions = [
        _mention(first, "Mary Smith", "PER"),
        _mention(first, "police", "ORG"),
        _mention(first, "Paris", "LOC"),
        _mention(first, "Olympics", "MISC"),
        _mention(second, "John Smith", "PER"),
    ]
    stage = RelationStage(ReConfig(model=str(out)), schema=load_schema("business"), run_id="r")
    pairs = {(c.head.text, c.tail.text) for c in stage.candidates([first, second], mentions)}
    # PER->ORG (WORKS_FOR), ORG->PER (FOUNDED_BY), ORG->LOC, PER->LOC; nothing with MISC,
    # no LOC->PER or LOC->ORG, and nothing across the sentence boundary
    assert pairs == {
        ("Mary Smith", "police"),
        ("police", "Mary Smith"),
        ("police", "Paris"),
        ("Mary Smith", "Paris"),
    }
    across = RelationStage(
        ReConfig(model=str(out), same_sentence_only=False, max_distance_chars=40),
        schema=load_schema("business"),
        run_id="r",
    )
    candidates = across.candidates([first, second], mentions)
    crossing = [c for c in candidates if {c.head.text, c.tail.text} == {"police", "John Smith"}]
    assert len(crossing) == 2  # within 40 characters across the boundary
    assert all(c.span == Span(start=0, end=second.span.end) for c in crossing)
    assert ("Mary Smith", "John Smith") not in {(c.head.text, c.tail.text) for c in candidates}


def test_stage_returns_relations_with_evidence(
    trained: tuple[Path, Path, ReTrainResult], caplog: pytest.LogCaptureFixture
) -> None:
    out, _dev, _ = trained
    chunks = [
        _chunk("d", 0, 0, "Mary Smith works for police in Paris ."),
        _chunk("d", 1, 39, "London : Peter Smith of bank said ."),
    ]
    mentions = [
        _mention(chunks[0], "Mary Smith", "PER"),
        _mention(chunks[0], "police", "ORG"),
        _mention(chunks[0], "Paris", "LOC"),
        _mention(chunks[1], "Peter Smith", "PER"),
        _mention(chunks[1], "London", "LOC"),
        _mention(chunks[1], "bank", "ORG"),
    ]
    schema = load_schema("business")
    stage = RelationStage(ReConfig(model=str(out), threshold=0.0), schema=schema, run_id="run1")
    relations = stage(chunks, mentions)
    assert relations and all(isinstance(r, MentionRelation) for r in relations)
    by_id = {m.id: m for m in mentions}
    for relation in relations:
        head, tail = by_id[relation.head_mention], by_id[relation.tail_mention]
        assert relation.type in schema.relation_names
        assert relation.id == stable_id("rel", head.id, relation.type, tail.id)
        (evidence,) = relation.evidence
        chunk = next(c for c in chunks if c.id == head.provenance.chunk_id)
        assert evidence.text == chunk.text and evidence.provenance.span == chunk.span
        assert evidence.provenance.stage == "re" and evidence.provenance.run_id == "run1"
        assert evidence.provenance.model == str(out)
        assert evidence.provenance.score == relation.score
        # the evidence names the two mentions it was read from (their offsets are theirs)
        assert (evidence.head, evidence.tail) == (head.id, tail.id)
    found = {(by_id[r.head_mention].text, r.type, by_id[r.tail_mention].text) for r in relations}
    assert ("Mary Smith", "WORKS_FOR", "police") in found
    assert stage(chunks, mentions) == relations  # deterministic
    assert stage.model_key == stage.model_key and str(out) in stage.model_key
    assert stage([], []) == []

    # a long sentence: read in a window around the two mentions, said in a DEBUG log
    long_text = "Mary Smith works for police " + "the " * 200 + "in Paris ."
    long_chunk = _chunk("e", 0, 0, long_text)
    long_mentions = [
        _mention(long_chunk, "Mary Smith", "PER"),
        _mention(long_chunk, "Paris", "LOC"),
    ]
    far = RelationStage(
        ReConfig(model=str(out), threshold=0.0, max_distance_chars=10_000),
        schema=schema,
        run_id="r",
    )
    with caplog.at_level(logging.DEBUG, logger="kgbuild.stages.relations"):
        far([long_chunk], long_mentions)
    assert any("window" in record.getMessage() for record in caplog.records)


def test_a_pair_read_without_the_text_between_its_mentions_is_a_warning(
    trained: tuple[Path, Path, ReTrainResult], caplog: pytest.LogCaptureFixture
) -> None:
    """Mentions farther apart than the model reads: the document and the count are named."""
    out, _dev, _ = trained
    schema = load_schema("business")
    far = RelationStage(
        ReConfig(model=str(out), threshold=0.0, max_distance_chars=10_000),
        schema=schema,
        run_id="r",
    )
    long_chunk = _chunk("far-doc", 0, 0, "Mary Smith works " + "the " * 200 + "in Paris .")
    near_chunk = _chunk("near-doc", 0, 0, "Mary Smith works in Paris " + "the " * 200 + ".")
    with caplog.at_level(logging.WARNING, logger="kgbuild.stages.relations"):
        far(
            [long_chunk, near_chunk],
            [
                _mention(long_chunk, "Mary Smith", "PER"),
                _mention(long_chunk, "Paris", "LOC"),
                _mention(near_chunk, "Mary Smith", "PER"),
                _mention(near_chunk, "Paris", "LOC"),
            ],
        )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    (warning,) = [w for w in warnings if "not read" in w]
    assert warning.startswith("document far-doc: 1 candidate pairs")  # PER -> LOC only
    assert f"({far.encoder.max_length} tokens)" in warning
    # 202 tokens between the mentions ("works", 200 "the", "in"), fewer than 128 read
    unread = int(warning.split("): ")[1].split(" tokens between")[0])
    assert 202 - far.encoder.max_length < unread < 202


def test_evidence_across_sentences_is_the_documents_text(
    trained: tuple[Path, Path, ReTrainResult],
) -> None:
    out, _dev, _ = trained
    text = "Mary Smith works for police .\n\n  John Smith of bank\tsaid .\nHe lives in London ."
    document = Document(id="d", text=text, source="d", content_hash=content_hash(text))
    chunks = chunk_document(document)
    assert len(chunks) == 3
    mentions = [
        _mention(chunks[0], "Mary Smith", "PER"),
        _mention(chunks[0], "police", "ORG"),
        _mention(chunks[1], "John Smith", "PER"),
        _mention(chunks[1], "bank", "ORG"),
        _mention(chunks[2], "London", "LOC"),
    ]
    stage = RelationStage(
        ReConfig(model=str(out), threshold=0.0, same_sentence_only=False),
        schema=load_schema("business"),
        run_id="r",
    )
    relations = stage(chunks, mentions)
    by_id = {m.id: m for m in mentions}
    crossing = [
        r
        for r in relations
        if by_id[r.head_mention].provenance.chunk_id != by_id[r.tail_mention].provenance.chunk_id
    ]
    assert crossing
    for relation in relations:
        for evidence in relation.evidence:
            span = evidence.provenance.span
            # offsets a user can check: the evidence is the document's text there, exactly
            assert evidence.text == text[span.start : span.end]
            chunk = next(c for c in chunks if c.id == evidence.provenance.chunk_id)
            assert (chunk.span, chunk.text) == (span, evidence.text)
            assert (evidence.head, evidence.tail) == (relation.head_mention, relation.tail_mention)
    for relation in crossing:  # one entry per sentence read, the head's first
        head, tail = by_id[relation.head_mention], by_id[relation.tail_mention]
        held = [e.provenance.chunk_id for e in relation.evidence]
        assert held[0] == head.provenance.chunk_id and tail.provenance.chunk_id in held


def _train_on_one_file(tmp_path: Path, out: Path, **options: Any) -> ReTrainResult:
    """A few steps of train_re on 16 generated sentences, a quarter split off as dev."""
    base = make_tiny_bert(tmp_path / "base", ["O"])
    data = _write_conll04(tmp_path / "train.json", 16, 0)
    return train_re(
        data,
        None,
        base=str(base),
        out=out,
        batch_size=8,
        dev_fraction=0.25,
        bf16=False,
        device="cpu",
        **options,
    )


@pytest.mark.parametrize("pooling", ["entity_start", "cls"])
def test_full_fine_tune_saves_a_plain_model(tmp_path: Path, pooling: str) -> None:
    out = tmp_path / "full"
    out.mkdir()
    (out / "adapter_config.json").write_text("{}", encoding="utf-8")  # stale: removed
    result = _train_on_one_file(
        tmp_path, out, max_steps=4, lora_rank=None, learning_rate=1e-3, pooling=pooling
    )
    assert not (out / "adapter_config.json").exists() and (out / "config.json").is_file()
    assert (out / HEAD_FILE).is_file() == (pooling == "entity_start")
    card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    assert card["data"]["dev"]["sentences"] == 4 and card["method"] == "full fine-tune"
    assert card["pooling"] == pooling
    loaded = load_sequence_classifier(str(out), device="cpu")
    assert loaded.manifest["task"] == "sequence-classification"
    assert loaded.manifest["pooling"] == pooling
    assert isinstance(loaded.model, EntityPairClassifier) == (pooling == "entity_start")
    assert result.steps == 4
    # the saved weights are the trained ones: a second load gives the same logits
    ids = _marked_ids(loaded)
    with torch.inference_mode():
        before = loaded.model(input_ids=ids).logits
    clear_model_cache()
    with torch.inference_mode():
        after = load_sequence_classifier(str(out), device="cpu").model(input_ids=ids).logits
    assert torch.equal(before, after)


def test_negative_sampling_is_recorded_and_undone_at_prediction(tmp_path: Path) -> None:
    out = tmp_path / "sampled"
    _train_on_one_file(tmp_path, out, max_steps=1, lora_rank=4, negative_ratio=1.0, pooling="cls")
    # 12 training sentences, each 2 related and 4 unrelated ordered pairs: 48 negatives,
    # 24 kept (one per positive), so no_relation is scaled back up twofold
    loaded = load_sequence_classifier(str(out), device="cpu")
    assert type(loaded.model).__name__.endswith("ForSequenceClassification")  # standard
    assert loaded.manifest["no_relation_weight"] == pytest.approx(2.0)
    sequences = [[2, 5, 6, 7, 3], [2, 6, 5, 3]]
    corrected = classify(loaded, sequences)
    plain = classify(
        replace(loaded, manifest={**loaded.manifest, "no_relation_weight": 1.0}), sequences
    )
    expected = plain.copy()
    expected[:, 0] *= 2.0  # no_relation is label 0
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(corrected, expected, rtol=1e-5)
    assert not np.allclose(corrected, plain)


def test_train_re_cli_options() -> None:
    from typer.testing import CliRunner

    from kgbuild.cli.train import train_app

    output = CliRunner().invoke(train_app, ["re", "--help"], terminal_width=200).output
    for option in (
        "--train",
        "--dev",
        "--base",
        "--out",
        "--epochs",
        "--lr",
        "--batch-size",
        "--seed",
        "--lora-rank",
        "--max-steps",
        "--max-length",
        "--negative-ratio",
        "--pooling",
    ):
        assert option in output


def test_train_re_cli_reports_bad_input_without_a_traceback(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kgbuild.cli.train import train_app

    data = _write_conll04(tmp_path / "train.json", 4, 0)
    args = ["re", "--train", str(data), "--out", str(tmp_path / "m"), "--pooling", "mean"]
    result = CliRunner().invoke(train_app, args)
    assert result.exit_code == 2
    assert "error: pooling must be one of" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "m").exists()
