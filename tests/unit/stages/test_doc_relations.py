"""Document-level relations: windows, the model, training, calibration and the stage."""

from __future__ import annotations

import itertools
import json
import math
import random
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from kgbuild.config import ReConfig
from kgbuild.data import Chunk, Mention, Provenance, Span
from kgbuild.errors import InputError
from kgbuild.ids import stable_id
from kgbuild.nlp.calibration import (
    Platt,
    expected_calibration_error,
    fit_platt,
    precision_at,
    precision_thresholds,
    threshold_for,
    wilson_lower_bound,
)
from kgbuild.nlp.doc_relations import (
    ENTITY_ATTENTION,
    THRESHOLD_CLASS,
    DocRelationModel,
    PairBatch,
    _pool_entities,
    adaptive_threshold_loss,
    evidence_loss,
    load_doc_relation_model,
    pair_batch,
    score_windows,
)
from kgbuild.nlp.doc_windows import MARKER, MentionSpan, encode_windows
from kgbuild.nlp.hf import clear_model_cache
from kgbuild.nlp.tiny import make_tiny_bert
from kgbuild.schema import GraphSchema
from kgbuild.stages.doc_relations import DocRelationStage
from kgbuild.stages.grouping import local_entities
from kgbuild.stages.resolve import ResolveConfig
from kgbuild.training.common import sha256_file
from kgbuild.training.doc_re import docred_examples, score_facts, train_facts
from kgbuild.training.doc_re_train import DocReRun, DocReTrainResult, train_doc_re

PEOPLE = ["john", "mary", "peter", "david", "paul", "michael"]
ORGS = ["reuters", "police", "bank", "court"]
CITIES = ["london", "paris", "tokyo", "berlin"]


_ROME_IN_ITALY: dict[str, Any] = {
    "title": "two",
    "sents": [["rome", "is", "in", "italy", "."]],
    "vertexSet": [
        [{"name": "rome", "sent_id": 0, "pos": [0, 1], "type": "LOC"}],
        [{"name": "italy", "sent_id": 0, "pos": [3, 4], "type": "LOC"}],
    ],
    "labels": [{"h": 0, "t": 1, "r": "P17", "evidence": [0]}],
}
"""An invented DocRED document: "rome is in italy ." with the fact (rome, italy, P17)."""


def _tokenizer(tmp_path: Path) -> object:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(make_tiny_bert(tmp_path / "tok", ["O"])))


# -- windows --------------------------------------------------------------------------------


def test_mentions_are_marked_and_read_at_their_opening_marker(tmp_path: Path) -> None:
    tokenizer = _tokenizer(tmp_path)
    text = "john smith works for reuters . paris is big ."
    sentences = [(0, 30), (31, 45)]
    mentions = [MentionSpan(0, 10, 0), MentionSpan(21, 28, 1), MentionSpan(31, 36, 2)]
    (window,) = encode_windows(tokenizer, text, sentences, mentions, max_length=64)
    tokens = tokenizer.convert_ids_to_tokens(list(window.input_ids))
    assert tokens == [
        "[CLS]", MARKER, "john", "smith", MARKER, "works", "for", MARKER, "reuters", MARKER,
        ".", MARKER, "paris", MARKER, "is", "big", ".", "[SEP]",
    ]  # fmt: skip
    assert window.entities == (0, 1, 2)
    assert [tokens[p[0]] for p in window.entity_positions] == [MARKER] * 3
    assert [tokens[p[0] + 1] for p in window.entity_positions] == ["john", "reuters", "paris"]
    assert window.sentences == (0, 1)
    assert window.token_sentences[1] == 0 and window.token_sentences[tokens.index("paris")] == 1
    assert window.token_sentences[0] == window.token_sentences[-1] == -1


def test_training_facts_no_window_reads_both_entities_of_are_counted(tmp_path: Path) -> None:
    from kgbuild.training.doc_re import DocExample, training_windows_reported

    tokenizer = _tokenizer(tmp_path)
    first, filler, last = "john works for the bank .", "the " * 30 + ".", "paris is big ."
    text = f"{first} {filler} {last}"
    starts = [0, len(first) + 1, len(first) + len(filler) + 2]
    sentences = ((starts[0], len(first)), (starts[1], starts[2] - 1), (starts[2], len(text)))
    example = DocExample(
        title="far",
        text=text,
        sentences=sentences,
        mentions=(
            MentionSpan(0, 4, 0),
            MentionSpan(first.index("bank"), first.index("bank") + 4, 1),
            MentionSpan(starts[2], starts[2] + 5, 2),
        ),
        entity_types=("PER", "ORG", "LOC"),
        entity_names=(("john",), ("bank",), ("paris",)),
        facts=((0, 1, "works_for", (0,)), (0, 2, "lives_in", (0, 2))),
    )
    label2id = {"works_for": 0, "lives_in": 1}
    features, unread = training_windows_reported(
        tokenizer, [example], label2id, max_length=24, overlap=0.0
    )
    assert features and unread == 1  # john and paris are 30 tokens apart: never together
    _, read_whole = training_windows_reported(
        tokenizer, [example], label2id, max_length=128, overlap=0.0
    )
    assert read_whole == 0


def test_long_documents_are_read_in_overlapping_windows_that_grow_linearly(
    tmp_path: Path,
) -> None:
    tokenizer = _tokenizer(tmp_path)
    sentence = "john works for the bank in paris ."
    for n in (20, 40, 80):
        text = " ".join([sentence] * n)
        spans = [
            (i * (len(sentence) + 1), i * (len(sentence) + 1) + len(sentence)) for i in range(n)
        ]
        mentions = [MentionSpan(start, start + 4, i) for i, (start, _) in enumerate(spans)]
        windows = encode_windows(tokenizer, text, spans, mentions, max_length=64, overlap=0.25)
        assert all(len(w.input_ids) <= 64 for w in windows)
        covered = {s for w in windows for s in w.sentences}
        assert covered == set(range(n))  # nothing dropped
        read = sum(len(w.input_ids) for w in windows)
        assert read <= 1.6 * n * 12  # about 1/(1-overlap) times each token, never quadratic
        # consecutive windows share sentences, so a pair across their border is read together
        assert all(set(a.sentences) & set(b.sentences) for a, b in itertools.pairwise(windows))
        assert {e for w in windows for e in w.entities} == set(range(n))


def test_a_sentence_longer_than_a_window_is_cut_not_dropped(tmp_path: Path) -> None:
    tokenizer = _tokenizer(tmp_path)
    text = " ".join(["the"] * 100 + ["paris"])
    windows = encode_windows(
        tokenizer, text, [(0, len(text))], [MentionSpan(len(text) - 5, len(text), 0)], max_length=32
    )
    assert len(windows) >= 4 and all(len(w.input_ids) <= 32 for w in windows)
    assert any(w.entities == (0,) for w in windows)  # the mention at the very end is read


# -- the model's arithmetic -------------------------------------------------------------------


def test_adaptive_threshold_loss_hand_checked() -> None:
    logits = torch.tensor([[0.0, 2.0, -1.0], [1.0, 0.0, 0.0]])
    labels = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    # row 1: positive type 1 above TH among {TH, 1}; TH above the rest among {TH, 2}
    row1 = -np.log(np.exp(2) / (np.exp(2) + 1)) - np.log(1 / (1 + np.exp(-1)))
    # row 2: no positive; TH above both others
    row2 = -np.log(np.exp(1) / (np.exp(1) + 2))
    expected = (row1 + row2) / 2
    assert float(adaptive_threshold_loss(logits, labels)) == pytest.approx(expected, rel=1e-5)


def test_evidence_loss_is_zero_when_attention_matches_the_gold_sentences() -> None:
    gold = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    assert float(evidence_loss(torch.tensor([[0.5, 0.0, 0.5], [0.2, 0.3, 0.5]]), gold)) == (
        pytest.approx(0.0, abs=1e-6)
    )
    assert float(evidence_loss(torch.tensor([[0.1, 0.8, 0.1], [1.0, 0.0, 0.0]]), gold)) > 1.0


def test_model_refuses_labels_without_the_threshold_class(tmp_path: Path) -> None:
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(str(make_tiny_bert(tmp_path / "m", ["O"])))
    with pytest.raises(ValueError, match="first label"):
        DocRelationModel(encoder, ["P17"], emb_size=32, block_size=8)
    model = DocRelationModel(encoder, [THRESHOLD_CLASS, "P17"], emb_size=32, block_size=8)
    assert model.bilinear.out_features == 2


def test_entity_attention_is_the_mean_of_its_mentions_rows() -> None:
    torch.manual_seed(0)
    rows = torch.rand(2, 4, 5)  # (heads, mentions, tokens)
    states = torch.rand(4, 3)
    positions = [[0], [1, 2, 3]]  # entity 0: one mention, entity 1: three
    embeddings, attention = _pool_entities(states, rows, positions)
    assert torch.allclose(attention[0], rows[:, 0])
    assert torch.allclose(attention[1], rows[:, 1:].mean(dim=1))
    assert torch.allclose(embeddings[1], torch.logsumexp(states[1:], dim=0))
    # models trained before the manifest key: the first entity lost its first mention's row
    # whenever another entity had more mentions, and nothing else differed
    _, legacy = _pool_entities(states, rows, positions, legacy_attention=True)
    assert torch.all(legacy[0] == 0) and torch.allclose(legacy[1], attention[1])
    widest_first = [[0, 1, 2], [3]]
    _, mean = _pool_entities(states, rows, widest_first)
    _, legacy = _pool_entities(states, rows, widest_first, legacy_attention=True)
    assert torch.equal(mean, legacy)


def test_window_pairs_equal_atlop_written_pair_by_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window-level shortcuts (extractors split into entity and token parts, one
    batched attention product, sentences by a 0/1 matrix) give ATLOP's per-pair formulas."""
    from transformers import AutoModel

    torch.manual_seed(0)
    encoder = AutoModel.from_pretrained(str(make_tiny_bert(tmp_path / "m", ["O"])))
    model = DocRelationModel(encoder, [THRESHOLD_CLASS, "P17", "P131"], emb_size=32, block_size=8)
    model.eval()
    length, hidden = 12, int(model.config.hidden_size)
    states, layer_input = torch.randn(length, hidden), torch.randn(length, hidden)
    mask = torch.ones(length, dtype=torch.long)
    mask[-2:] = 0  # padding
    positions = [[1], [3, 7], [5]]
    pairs = [(0, 1), (1, 0), (2, 1), (0, 2)]
    window = PairBatch(
        entity_positions=positions,
        pairs=torch.tensor(pairs),
        token_sentences=torch.tensor([-1, 0, 0, 0, 0, 1, 1, 1, 2, -1]),
        n_sentences=3,
    )
    with torch.no_grad():
        logits, sentences = model.window_pairs(states, layer_input, mask, window)
        flat = torch.tensor([p for mentions in positions for p in mentions])
        rows = model._attention_rows(layer_input, flat, mask)
        embeddings, attention = _pool_entities(states[flat], rows, positions)
        for row, (h, t) in enumerate(pairs):
            weights = (attention[h] * attention[t]).mean(dim=0)
            weights = weights / (weights.sum() + 1e-5)
            context = weights @ states
            head = torch.tanh(model.head_extractor(torch.cat([embeddings[h], context])))
            tail = torch.tanh(model.tail_extractor(torch.cat([embeddings[t], context])))
            grouped = (head.view(4, 8, 1) * tail.view(4, 1, 8)).reshape(-1)
            assert torch.allclose(logits[row], model.bilinear(grouped), atol=1e-5)
            per_sentence = [float(weights[1:5].sum()), float(weights[5:8].sum()), float(weights[8])]
            assert sentences[row].tolist() == pytest.approx(per_sentence, abs=1e-6)
    assert float(sentences[:, :].sum(dim=1).max()) <= 1.0  # tokens outside sentences count nowhere
    with torch.inference_mode():  # pairs and mention rows padded to a few shapes, then cut
        padded_logits, padded_sentences = model.window_pairs(states, layer_input, mask, window)
    assert padded_logits.shape == logits.shape and padded_sentences.shape == sentences.shape
    assert torch.allclose(padded_logits, logits, atol=1e-6)
    assert torch.allclose(padded_sentences, sentences, atol=1e-6)
    # inference multiplies the bilinear layer group by group; training takes the one product
    trained_logits, _ = model.window_pairs(states, layer_input, mask, window)
    assert trained_logits.requires_grad
    assert torch.allclose(trained_logits.detach(), logits, atol=1e-5)
    with torch.no_grad():  # the cached per-group weights follow an in-place change
        bias = model.bilinear.bias.clone()
        model.bilinear.weight.mul_(2.0)
        doubled, _ = model.window_pairs(states, layer_input, mask, window)
    assert torch.allclose(doubled, 2.0 * logits - bias, atol=1e-5)
    # with column sets, each pair's own classes (and the threshold) alone: the same values
    selective = PairBatch(
        entity_positions=positions,
        pairs=torch.tensor(pairs),
        token_sentences=window.token_sentences,
        n_sentences=3,
        column_sets=(torch.tensor([0, 2]), torch.tensor([0, 1, 2])),
        pair_sets=torch.tensor([0, 0, 1, 0]),  # runs: pairs 0-1, 2, 3
    )
    with torch.inference_mode():
        full, _ = model.window_pairs(states, layer_input, mask, window)
        chosen, _ = model.window_pairs(states, layer_input, mask, selective)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rounded, _ = model.window_pairs(states, layer_input, mask, selective)
    from kgbuild.nlp import doc_relations as module

    monkeypatch.setattr(module, "_NARROW_COLUMNS", 0)  # every set through the outer products
    with torch.inference_mode():
        wide, _ = model.window_pairs(states, layer_input, mask, selective)
    for row, columns in enumerate([[0, 2], [0, 2], [0, 1, 2], [0, 2]]):
        others = [c for c in range(3) if c not in columns]
        assert torch.allclose(chosen[row, columns], full[row, columns], atol=1e-6)
        assert torch.allclose(wide[row, columns], full[row, columns], atol=1e-6)
        assert torch.isinf(wide[row, others]).all()
        assert torch.isinf(chosen[row, others]).all() and (chosen[row, others] < 0).all()
        assert torch.allclose(rounded[row, columns], full[row, columns], atol=0.1)
        assert torch.isinf(rounded[row, others]).all()
    with torch.no_grad():  # the cached bf16 columns follow an in-place change too
        model.bilinear.weight.mul_(0.5)
    with torch.inference_mode():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            halved_rounded, _ = model.window_pairs(states, layer_input, mask, selective)
        halved, _ = model.window_pairs(states, layer_input, mask, selective)
    finite = torch.isfinite(halved)
    error = (halved_rounded[finite] - halved[finite]).abs().max()
    assert error < 0.1 * (chosen[finite] - halved[finite]).abs().max()


def test_a_manifest_without_entity_attention_is_read_the_legacy_way(tmp_path: Path) -> None:
    encoder = str(make_tiny_bert(tmp_path / "m", ["O"]))
    manifest = {"labels": [THRESHOLD_CLASS, "P17"], "emb_size": 32, "block_size": 8}
    assert load_doc_relation_model(encoder, manifest, with_head=False).legacy_attention
    manifest["entity_attention"] = ENTITY_ATTENTION
    assert not load_doc_relation_model(encoder, manifest, with_head=False).legacy_attention
    with pytest.raises(ValueError, match="entity_attention"):
        load_doc_relation_model(encoder, {**manifest, "entity_attention": "max"}, with_head=False)


# -- calibration --------------------------------------------------------------------------------


def test_platt_fit_recovers_known_parameters() -> None:
    rng = np.random.default_rng(0)
    margins = rng.normal(0.0, 3.0, 20000)
    truth = Platt(0.8, -1.5)
    correct = rng.random(margins.size) < truth(margins)
    fitted = fit_platt(margins, correct)
    assert fitted.scale == pytest.approx(0.8, abs=0.05)
    assert fitted.bias == pytest.approx(-1.5, abs=0.08)
    assert fitted.margin_for(0.5) == pytest.approx(-fitted.bias / fitted.scale)
    with pytest.raises(ValueError):
        fit_platt([1.0, 2.0], [1, 1])


def test_expected_calibration_error_hand_checked() -> None:
    # bin [0.8, 0.9): p 0.8 x2, one correct (gap 0.3); bin [0.2, 0.3): p 0.2 x2, none (gap 0.2)
    p = [0.8, 0.8, 0.2, 0.2]
    y = [1, 0, 0, 0]
    assert expected_calibration_error(p, y) == pytest.approx(0.5 * 0.3 + 0.5 * 0.2)
    assert expected_calibration_error(p, y, floor=0.5) == pytest.approx(0.3)


def test_thresholds_reach_the_target_precision() -> None:
    p = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    y = [1, 1, 0, 1, 0, 0]
    assert threshold_for(p, y, 1.0) == 0.8
    assert threshold_for(p, y, 0.75) == 0.6  # 3 of the 4 at or above 0.6
    assert threshold_for(p, y, 0.99) == 0.8
    assert threshold_for([0.5, 0.5], [1, 0], 0.9) is None  # a tie is kept whole
    types = ["A"] * 30 + ["B"] * 6
    probs = [0.9] * 20 + [0.4] * 10 + [0.95] * 6
    gold = [1] * 20 + [0] * 10 + [1, 1, 1, 0, 0, 0]
    # pooled: 3 of the 6 at 0.95, 23 of the 26 at or above 0.9: never 0.9, nothing kept
    assert precision_thresholds(probs, gold, types, [0.9]) == {"0.9": {"*": 1.0}}
    table = precision_thresholds(probs, gold, types, [0.9], per_type=True, min_support=5)
    assert table["0.9"]["A"] == 0.9  # its own threshold
    assert "B" not in table["0.9"]  # too few facts: the pooled threshold applies
    assert precision_at(table, 0.85) is table["0.9"]
    with pytest.raises(ValueError, match="above every"):
        precision_at(table, 0.95)


def test_a_lower_bound_keeps_fewer_candidates_than_the_observed_precision() -> None:
    # Wilson lower bound by hand: 9 of 10, z = 1: (0.9 + 0.05 - sqrt(0.009 + 0.0025)) / 1.1
    assert wilson_lower_bound([0.9], [10], 1.0)[0] == pytest.approx(
        (0.95 - math.sqrt(0.0115)) / 1.1
    )
    assert wilson_lower_bound([0.9], [10_000], 1.0)[0] == pytest.approx(0.897, abs=1e-3)
    # 12 right, then 1 wrong, then 15 right, then 5 wrong
    y = [1] * 12 + [0] + [1] * 15 + [0] * 5
    p = [1 - i / 100 for i in range(len(y))]
    assert threshold_for(p, y, 0.9) == p[29]  # 27 of 30: exactly 90% observed
    # at one standard error 27 of 30 falls short, 27 of 28 (96.4%) clears it (bound 0.91);
    # at two, 12 of 12 (0.75) and 27 of 28 (0.82) fall short too
    assert threshold_for(p, y, 0.9, z=1.0) == p[27]
    assert threshold_for(p, y, 0.9, z=2.0) is None
    assert threshold_for(p, y, 0.95) == p[27]
    assert threshold_for(p, y, 0.95, z=1.0) is None


# -- training on an invented DocRED file, then the pipeline stage ---------------------------


def _document(rng: random.Random) -> dict[str, object]:
    person, other = rng.sample(PEOPLE, 2)
    org, city = rng.choice(ORGS), rng.choice(CITIES)
    sents = [
        [person, "smith", "was", "born", "in", city, "."],
        ["he", "works", "for", "the", org, "."],
        [other, "jones", "said", "so", "."],
    ]
    vertex_set = [
        [{"name": f"{person} smith", "sent_id": 0, "pos": [0, 2], "type": "PER"}],
        [{"name": city, "sent_id": 0, "pos": [5, 6], "type": "LOC"}],
        [{"name": org, "sent_id": 1, "pos": [4, 5], "type": "ORG"}],
        [{"name": f"{other} jones", "sent_id": 2, "pos": [0, 2], "type": "PER"}],
    ]
    labels = [
        {"h": 0, "t": 1, "r": "P19", "evidence": [0]},
        {"h": 0, "t": 2, "r": "P108", "evidence": [0, 1]},  # across sentences
    ]
    return {"title": "t", "sents": sents, "vertexSet": vertex_set, "labels": labels}


@pytest.fixture(scope="module")
def trained_doc_model(tmp_path_factory: pytest.TempPathFactory) -> DocReTrainResult:
    root = tmp_path_factory.mktemp("docre")
    rng = random.Random(0)
    data = root / "docred.json"
    data.write_text(json.dumps([_document(rng) for _ in range(60)]), encoding="utf-8")
    base = make_tiny_bert(root / "base", ["O"])
    run = DocReRun(
        epochs=12,
        learning_rate=5e-3,
        head_learning_rate=5e-3,
        batch_size=4,
        lora_rank=4,
        max_length=128,
        emb_size=32,
        block_size=8,
        seed=1,
    )
    return train_doc_re(
        data, out=root / "model", base=str(base), dev_docs=16, run=run, languages=["EN"]
    )


def test_trained_model_predicts_the_cross_sentence_relation(
    trained_doc_model: DocReTrainResult,
) -> None:
    dev = trained_doc_model.dev
    assert dev["f1"] > 90.0
    assert dev["per_type"]["P108"]["f1"] > 90.0  # head in sentence 0, tail in sentence 1
    card = json.loads((trained_doc_model.out_dir / "model_card.json").read_text())
    assert card["history"] and card["calibration"]["platt"]["scale"] > 0
    assert card["data"]["train"]["facts_in_no_window"] == 0  # short documents
    manifest = json.loads((trained_doc_model.out_dir / "kgbuild_model.json").read_text())
    assert manifest["task"] == "document-relation-classification"
    assert manifest["entity_attention"] == ENTITY_ATTENTION  # trained with the plain mean
    assert manifest["languages"] == ["en"]  # declared at training, lowercased
    assert manifest["labels"][0] == THRESHOLD_CLASS and set(manifest["labels"][1:]) == {
        "P19",
        "P108",
    }
    assert not (trained_doc_model.out_dir / "checkpoint.pt").exists()


SCHEMA = GraphSchema.model_validate(
    {
        "entity_types": [{"name": n} for n in ("PER", "ORG", "LOC")],
        "relation_types": [
            {"name": "PLACE_OF_BIRTH", "wikidata": "P19", "domain": ["PER"], "range": ["LOC"]},
            {"name": "EMPLOYER", "wikidata": "P108", "domain": ["PER"], "range": ["ORG"]},
        ],
    }
)


def _pipeline_document(doc_id: str) -> tuple[list[Chunk], list[Mention]]:
    texts = ["mary smith was born in tokyo .", "he works for the bank .", "paul jones said so ."]
    chunks, start = [], 0
    for index, text in enumerate(texts):
        span = Span(start=start, end=start + len(text))
        chunks.append(
            Chunk(id=f"{doc_id}-c{index}", doc_id=doc_id, index=index, span=span, text=text)
        )
        start += len(text) + 1
    mentions = []
    for index, word, label in [(0, "mary smith", "PER"), (0, "tokyo", "LOC"), (1, "bank", "ORG"),
                               (2, "paul jones", "PER")]:  # fmt: skip
        chunk = chunks[index]
        at = chunk.text.index(word) + chunk.span.start
        span = Span(start=at, end=at + len(word))
        mentions.append(
            Mention(
                id=stable_id("m", doc_id, at),
                text=word,
                label=label,
                provenance=Provenance(
                    doc_id=doc_id,
                    chunk_id=chunk.id,
                    span=span,
                    score=0.99,
                    model="gold",
                    model_revision="-",
                    run_id="r",
                    stage="ner",
                ),
            )
        )
    return chunks, mentions


def test_stage_links_entities_across_sentences_with_evidence(
    trained_doc_model: DocReTrainResult,
) -> None:
    clear_model_cache()
    config = ReConfig(enabled=True, model=str(trained_doc_model.out_dir), min_precision=0.5)
    stage = DocRelationStage(config, schema=SCHEMA, run_id="run-1")
    chunks, mentions = _pipeline_document("doc-a")
    relations = stage(chunks, mentions)
    found = {(r.head_mention, r.type, r.tail_mention) for r in relations}
    mary, tokyo, bank, paul = (m.id for m in mentions)
    assert (mary, "EMPLOYER", bank) in found  # a relation across two sentences
    assert (mary, "PLACE_OF_BIRTH", tokyo) in found
    assert (paul, "EMPLOYER", bank) not in found
    employer = next(r for r in relations if r.type == "EMPLOYER" and r.head_mention == mary)
    assert 0.0 < employer.score <= 1.0
    assert {e.provenance.chunk_id for e in employer.evidence} <= {c.id for c in chunks}
    for evidence in employer.evidence:
        assert evidence.head == mary and evidence.tail == bank
        assert evidence.provenance.stage == "re" and evidence.text in {c.text for c in chunks}
    by_id = {m.id: m for m in mentions}
    for relation in relations:  # the evidence names both ends, whatever the attention
        spans = [e.provenance.span for e in relation.evidence]
        for end in (by_id[relation.head_mention], by_id[relation.tail_mention]):
            assert any(s.start <= end.span.start < s.end for s in spans), relation
    assert '"level":"document"' in stage.model_key
    # a stricter operating point keeps fewer facts, never more
    strict = DocRelationStage(
        config.model_copy(update={"min_precision": 0.95}), schema=SCHEMA, run_id="run-1"
    )
    assert {(r.head_mention, r.type, r.tail_mention) for r in strict(chunks, mentions)} <= found


def test_facts_between_a_lower_point_and_the_relations_own_are_kept_apart(
    trained_doc_model: DocReTrainResult,
) -> None:
    """``keep_below`` (the attribute step's laxer point) changes nothing in the relations."""
    clear_model_cache()
    config = ReConfig(enabled=True, model=str(trained_doc_model.out_dir), min_precision=0.95)
    chunks, mentions = _pipeline_document("doc-a")
    mary, tokyo, bank, paul = (m.id for m in mentions)
    strict = DocRelationStage(config, schema=SCHEMA, run_id="run-1")
    kept = strict(chunks, mentions)
    assert {(r.head_mention, r.type, r.tail_mention) for r in kept} == {
        (mary, "PLACE_OF_BIRTH", tokyo),
        (mary, "EMPLOYER", bank),
    }
    both = DocRelationStage(config, schema=SCHEMA, run_id="run-1")
    both.keep_below({"PLACE_OF_BIRTH": 0.0, "EMPLOYER": 1.5})  # EMPLOYER: higher, no floor
    assert both(chunks, mentions) == kept  # the relations are the strict stage's
    # below: every other allowed pair of the type, each under the type's own threshold
    [below] = both.below
    assert (below.head_mention, below.type, below.tail_mention) == (paul, "PLACE_OF_BIRTH", tokyo)
    column = both.types.index("PLACE_OF_BIRTH")
    assert 0.0 <= below.score < both.thresholds[column]
    assert below.evidence and below.evidence[0].provenance.stage == "re"
    assert both.model_key != strict.model_key  # another output, another ledger key
    both.keep_below({})
    assert both.floors is None
    assert both(chunks, mentions) == kept and both.below == []  # reset on every call


def _repeated_document(doc_id: str, times: int) -> tuple[list[Chunk], list[Mention]]:
    """The three sentences of ``_pipeline_document`` written ``times`` times in a row."""
    base_chunks, base_mentions = _pipeline_document(doc_id)
    width = base_chunks[-1].span.end + 1
    chunks, mentions = [], []
    for copy in range(times):
        shift = copy * width
        for chunk in base_chunks:
            span = Span(start=chunk.span.start + shift, end=chunk.span.end + shift)
            chunks.append(
                chunk.model_copy(
                    update={"id": f"{chunk.id}-{copy}", "index": len(chunks), "span": span}
                )
            )
        for mention in base_mentions:
            at = mention.span.start + shift
            provenance = mention.provenance.model_copy(
                update={
                    "chunk_id": f"{mention.provenance.chunk_id}-{copy}",
                    "span": Span(start=at, end=at + len(mention.text)),
                }
            )
            mentions.append(
                mention.model_copy(
                    update={"id": stable_id("m", doc_id, at), "provenance": provenance}
                )
            )
    return chunks, mentions


def test_windows_scored_together_in_bf16_score_as_each_window_alone(
    trained_doc_model: DocReTrainResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In bf16, score_windows scores the pairs of many windows together (a product per
    column set): the margins are each window's own, alone or in any company, and near
    fp32's."""
    from kgbuild.nlp import doc_relations as module

    clear_model_cache()
    config = ReConfig(enabled=True, model=str(trained_doc_model.out_dir), min_precision=0.5)
    stage = DocRelationStage(config, schema=SCHEMA, run_id="run-1")
    stage.max_length = 32
    chunks, mentions = _repeated_document("doc-long", times=8)
    (plan,) = stage._plan(chunks, mentions)
    windows = [window for window, _ in plan.windows]
    assert len(windows) >= 6 and all(w.column_sets for w in windows)
    model = stage.loaded.model
    together = score_windows(model, windows, pad_id=0, bf16=True)
    clear_model_cache()
    fp32 = DocRelationStage(
        config.model_copy(update={"precision": "fp32"}), schema=SCHEMA, run_id="run-1"
    )
    exact = score_windows(fp32.loaded.model, windows, pad_id=0, bf16=False)
    monkeypatch.setattr(module, "_SCORED_TOGETHER", 1)  # every forward batch on its own
    batched = score_windows(model, windows, pad_id=0, bf16=True, batch_size=1)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        for window, shared, own_batch, fp32 in zip(windows, together, batched, exact, strict=True):
            ids = torch.tensor([list(window.input_ids)])
            (logits,), (sentences,) = model(ids, torch.ones_like(ids), [pair_batch(window)])
            alone = (logits[:, 1:] - logits[:, :1]).float().numpy()
            allowed = np.isfinite(alone)
            assert np.array_equal(allowed, np.isfinite(shared.margins))
            assert allowed.any(axis=1).all() and not allowed.all()
            np.testing.assert_allclose(shared.margins[allowed], alone[allowed], atol=1e-3)
            np.testing.assert_allclose(own_batch.margins[allowed], alone[allowed], atol=1e-3)
            np.testing.assert_allclose(shared.margins[allowed], fp32.margins[allowed], atol=0.05)
            np.testing.assert_allclose(shared.sentence_attention, sentences.numpy(), atol=1e-3)


def test_a_pair_read_in_many_windows_is_one_fact_with_its_best_probability(
    trained_doc_model: DocReTrainResult,
) -> None:
    """Windows are scored as a stream (memory bounded by the facts, not the pairs): the result
    is what keeping every window's scores and taking each pair's best margin gives."""
    clear_model_cache()
    config = ReConfig(enabled=True, model=str(trained_doc_model.out_dir), min_precision=0.5)
    stage = DocRelationStage(config, schema=SCHEMA, run_id="run-1")
    stage.max_length = 32  # a few sentences per window: the names recur in many windows
    chunks, mentions = _repeated_document("doc-long", times=8)
    relations = stage(chunks, mentions)
    (plan,) = stage._plan(chunks, mentions)
    assert len(plan.windows) >= 6
    windows = [window for window, _ in plan.windows]
    scores = score_windows(stage.loaded.model, windows, pad_id=0, bf16=stage.bf16)
    best: dict[tuple[int, int, int], float] = {}
    for (window, ids), scored in zip(plan.windows, scores, strict=True):
        for row, (h, t) in enumerate(window.pairs):
            for column, margin in enumerate(scored.margins[row].tolist()):
                key = (ids[h], ids[t], column)
                best[key] = max(best.get(key, -np.inf), margin)
    expected = {}
    for (h, t, column), margin in best.items():
        head, tail = plan.entities[h], plan.entities[t]
        probability = float(stage.platt(np.array([margin]))[0])
        allowed = stage._allowed_mask(head.label, tail.label)[column]
        if allowed and probability >= stage.thresholds[column]:
            key = (head.mentions[0].id, stage.types[column], tail.mentions[0].id)
            expected[key] = probability
    found = {(r.head_mention, r.type, r.tail_mention): r.score for r in relations}
    assert len(found) == len(relations)  # one fact per pair and type, whatever the windows
    assert expected and found.keys() == expected.keys()
    for key, score in found.items():
        assert score == pytest.approx(expected[key], abs=1e-6)
    for relation in relations:
        assert relation.evidence  # from the window of its best candidate
    # with a floor under PLACE_OF_BIRTH: a pair that passed in any window stays a relation
    stage.keep_below({"PLACE_OF_BIRTH": 0.0})
    assert stage(chunks, mentions) == relations
    every = {
        (plan.entities[h].mentions[0].id, stage.types[column], plan.entities[t].mentions[0].id)
        for h, t, column in best
        if stage.types[column] == "PLACE_OF_BIRTH"
        and stage._allowed_mask(plan.entities[h].label, plan.entities[t].label)[column]
    }
    below = {(r.head_mention, r.type, r.tail_mention) for r in stage.below}
    assert below == every - found.keys() and len(below) == len(stage.below)


def test_local_entities_join_repeated_names_whatever_their_labels() -> None:
    _chunks, mentions = _pipeline_document("doc-b")
    again = mentions[1].model_copy(
        update={
            "id": "m-again",
            "label": "ORG",
            "provenance": mentions[1].provenance.model_copy(
                update={"span": Span(start=60, end=65)}
            ),
        }
    )
    entities = local_entities([*mentions, again], ResolveConfig())
    tokyo = next(e for e in entities if any(m.text == "tokyo" for m in e.mentions))
    assert len(tokyo.mentions) == 2 and tokyo.label == "LOC"  # first label wins the tie
    assert len(entities) == 4


# -- scoring ---------------------------------------------------------------------------------


def test_docred_scores_and_ign_f1_hand_checked() -> None:
    def doc(names: list[str], facts: list[tuple[int, int, str]]) -> dict[str, object]:
        return {
            "title": "d",
            "sents": [names],
            "vertexSet": [
                [{"name": n, "sent_id": 0, "pos": [i, i + 1], "type": "LOC"}]
                for i, n in enumerate(names)
            ],
            "labels": [{"h": h, "t": t, "r": r, "evidence": [0]} for h, t, r in facts],
        }

    from kgbuild.readers.docred import _document

    train = docred_examples([_document(doc(["a", "b"], [(0, 1, "P1")]))])
    gold = docred_examples(
        [
            _document(doc(["a", "b", "c"], [(0, 1, "P1"), (1, 2, "P2")])),
            _document(doc(["x", "y"], [(0, 1, "P1")])),
        ]
    )
    predicted = [[(0, 1, "P1"), (2, 1, "P2")], [(0, 1, "P1"), (1, 0, "P1")]]
    scores = score_facts(gold, predicted, train_facts(train))
    assert (scores.micro.correct, scores.micro.predicted, scores.micro.gold) == (2, 4, 3)
    assert scores.micro.precision == pytest.approx(50.0)
    assert scores.micro.recall == pytest.approx(200 / 3)
    # Ign: the correct (a, b, P1) was seen in training: precision 1/3, recall unchanged
    ign_p = 100 / 3
    assert scores.ign_f1 == pytest.approx(2 * ign_p * (200 / 3) / (ign_p + 200 / 3))
    assert scores.per_type["P2"].correct == 0 and scores.per_type["P2"].gold == 1


def _predicted(doc: str, start: int, end: int, label: str) -> Mention:
    return Mention(
        id=f"{doc}:{start}",
        text="x",
        label=label,
        provenance=Provenance(
            doc_id=doc,
            chunk_id=f"{doc}-c",
            span=Span(start=start, end=end),
            score=0.9,
            model="m",
            model_revision="-",
            run_id="r",
            stage="ner",
        ),
    )


def test_graph_scorer_hand_checked_on_two_invented_documents() -> None:
    from kgbuild.data import MentionRelation
    from kgbuild.readers.docred import _document
    from kgbuild.training.graph_eval import score_graph

    # doc 1: "ada lee met bo . lee left ." gold: ada lee (PER, tokens 0-2) = lee (PER, 5-6);
    # bo (PER, 3-4). Fact: (ada lee, bo, P26).
    first = {
        "title": "one",
        "sents": [["ada", "lee", "met", "bo", "."], ["lee", "left", "."]],
        "vertexSet": [
            [
                {"name": "ada lee", "sent_id": 0, "pos": [0, 2], "type": "PER"},
                {"name": "lee", "sent_id": 1, "pos": [0, 1], "type": "PER"},
            ],
            [{"name": "bo", "sent_id": 0, "pos": [3, 4], "type": "PER"}],
        ],
        "labels": [{"h": 0, "t": 1, "r": "P26", "evidence": [0]}],
    }
    # doc 2: "rome is in italy ." gold: rome (LOC), italy (LOC); fact (rome, italy, P17)
    second = _ROME_IN_ITALY
    examples = docred_examples([_document(first), _document(second)])
    assert examples[0].text == "ada lee met bo . lee left ."
    # predictions, doc 1: "ada lee" PER, "bo" ORG (wrong type), "lee" PER, but "lee" is
    # resolved with "bo" (a wrong merge) instead of with "ada lee".
    d1 = [_predicted("d1", 0, 7, "PER"), _predicted("d1", 12, 14, "ORG"),
          _predicted("d1", 17, 20, "PER")]  # fmt: skip
    # doc 2: "rome" LOC, "italy" LOC, plus a spurious "is" MISC
    d2 = [_predicted("d2", 0, 4, "LOC"), _predicted("d2", 11, 16, "LOC"),
          _predicted("d2", 5, 7, "MISC")]  # fmt: skip
    entity = {"d1:0": "A", "d1:12": "B", "d1:17": "B", "d2:0": "R", "d2:11": "I", "d2:5": "S"}

    def rel(head: str, kind: str, tail: str) -> MentionRelation:
        return MentionRelation(id=f"{head}{kind}{tail}", head_mention=head, tail_mention=tail,
                               type=kind, score=0.9, evidence=())  # fmt: skip

    relations = [[rel("d1:0", "SPOUSE", "d1:12")], [rel("d2:0", "COUNTRY", "d2:11"),
                                                   rel("d2:11", "COUNTRY", "d2:0")]]  # fmt: skip
    scores = score_graph(
        examples, [d1, d2], entity, relations, type_to_label={"SPOUSE": "P26", "COUNTRY": "P17"}
    )
    # mentions: 5 gold, 6 predicted; correct: ada lee, lee, rome, italy (bo has the wrong type)
    assert (scores.mentions.correct, scores.mentions.predicted, scores.mentions.gold) == (4, 6, 5)
    assert (
        scores.mentions_per_type["PER"].gold == 3 and scores.mentions_per_type["PER"].correct == 2
    )
    # clusters over the 5 mentions with right spans: doc 1 predicted {ada lee}, {bo, lee};
    # gold {ada lee, lee}, {bo}. B3 precision: 1 + 1/2 + 1/2 = 2 of 3 (doc 2: 1 + 1)
    assert scores.clusters["mentions"] == 5
    assert scores.clusters["precision"] == pytest.approx(100 * (1 + 0.5 + 0.5 + 1 + 1) / 5)
    # recall: ada lee 1/2, lee 1/2, bo 1, rome 1, italy 1
    assert scores.clusters["recall"] == pytest.approx(100 * (0.5 + 0.5 + 1 + 1 + 1) / 5)
    assert scores.clusters["merged_pairs"] == 1 and scores.clusters["merge_precision"] == 0.0
    # triples: entity B holds bo (gold 1) and lee (gold 0): a tie, the first vote (bo) wins,
    # so (A, B, SPOUSE) -> (0, 1, P26), correct; doc 2: one correct, one reversed (wrong)
    assert (scores.triples.micro.correct, scores.triples.micro.predicted) == (2, 3)
    assert scores.triples.micro.gold == 2


def test_graph_scorer_counts_a_symmetric_fact_both_ways() -> None:
    from kgbuild.data import MentionRelation
    from kgbuild.readers.docred import _document
    from kgbuild.training.graph_eval import score_graph

    # doc 1: "ada met bo ." spouses, annotated both ways (as Re-DocRED does);
    # doc 2: "rome is in italy ." (rome, italy, P17), a type that is not symmetric
    first = {
        "title": "one",
        "sents": [["ada", "met", "bo", "."]],
        "vertexSet": [
            [{"name": "ada", "sent_id": 0, "pos": [0, 1], "type": "PER"}],
            [{"name": "bo", "sent_id": 0, "pos": [2, 3], "type": "PER"}],
        ],
        "labels": [
            {"h": 0, "t": 1, "r": "P26", "evidence": [0]},
            {"h": 1, "t": 0, "r": "P26", "evidence": [0]},
        ],
    }
    second = _ROME_IN_ITALY
    examples = docred_examples([_document(first), _document(second)])
    mentions = [
        [_predicted("d1", 0, 3, "PER"), _predicted("d1", 8, 10, "PER")],
        [_predicted("d2", 0, 4, "LOC"), _predicted("d2", 11, 16, "LOC")],
    ]
    entity = {"d1:0": "A", "d1:8": "B", "d2:0": "R", "d2:11": "I"}

    def rel(head: str, kind: str, tail: str) -> MentionRelation:
        return MentionRelation(id=f"{head}{kind}{tail}", head_mention=head, tail_mention=tail,
                               type=kind, score=0.9, evidence=())  # fmt: skip

    country = [rel("d2:0", "COUNTRY", "d2:11"), rel("d2:11", "COUNTRY", "d2:0")]
    labels = {"SPOUSE": "P26", "COUNTRY": "P17"}

    def triples(spouse: list[MentionRelation], symmetric: set[str]) -> tuple[int, int, int]:
        micro = score_graph(
            examples, mentions, entity, [spouse, country], type_to_label=labels,
            symmetric=symmetric,
        ).triples.micro  # fmt: skip
        return micro.correct, micro.predicted, micro.gold

    # one way (as the graph stores it): both gold facts; COUNTRY's reverse stays wrong
    assert triples([rel("d1:8", "SPOUSE", "d1:0")], {"SPOUSE"}) == (3, 4, 3)
    assert triples([rel("d1:8", "SPOUSE", "d1:0")], set()) == (2, 3, 3)
    # both ways: exactly as without the flag
    both = [rel("d1:0", "SPOUSE", "d1:8"), rel("d1:8", "SPOUSE", "d1:0")]
    assert triples(both, {"SPOUSE"}) == triples(both, set()) == (3, 4, 3)


def test_a_compressed_model_finds_the_same_facts(
    trained_doc_model: DocReTrainResult, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from kgbuild.cli.train import train_app

    compressed = tmp_path / "int8"
    shutil.copytree(trained_doc_model.out_dir, compressed)
    runner = CliRunner()
    result = runner.invoke(train_app, ["compress", str(compressed)])
    assert result.exit_code == 0, result.output
    assert not (compressed / "adapter_model.safetensors").exists()
    manifest = json.loads((compressed / "kgbuild_model.json").read_text(encoding="utf-8"))
    card = json.loads((compressed / "model_card.json").read_text(encoding="utf-8"))
    assert manifest["adapter_storage"] == card["adapter_storage"]
    assert manifest["adapter_storage"]["quantized_from_sha256"] == sha256_file(
        trained_doc_model.out_dir / "adapter_model.safetensors"
    )
    again = runner.invoke(train_app, ["compress", str(compressed)])
    assert again.exit_code != 0 and "already compressed" in again.output

    facts = {}
    for model in (trained_doc_model.out_dir, compressed):
        clear_model_cache()
        config = ReConfig(enabled=True, model=str(model), min_precision=0.5)
        stage = DocRelationStage(config, schema=SCHEMA, run_id="run-1")
        relations = stage(*_pipeline_document("doc-a"))
        facts[model] = {(r.head_mention, r.type, r.tail_mention): r.score for r in relations}
        assert facts[model]
    exact, quantized = facts[trained_doc_model.out_dir], facts[compressed]
    assert quantized.keys() == exact.keys()
    for key, score in exact.items():
        assert quantized[key] == pytest.approx(score, abs=0.02)


def test_a_second_load_reads_the_merged_model_from_the_cache_with_the_same_weights(
    trained_doc_model: DocReTrainResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kgbuild.nlp import hf, merged_cache

    adapter = trained_doc_model.out_dir

    def load() -> tuple[dict[str, torch.Tensor], str]:
        clear_model_cache()
        loaded = hf.load_doc_relation_model_ref(str(adapter), device="cpu")
        return {k: v.clone() for k, v in loaded.model.state_dict().items()}, loaded.revision

    monkeypatch.setenv(merged_cache.CACHE_ENV, "off")
    merged, revision = load()
    monkeypatch.setenv(merged_cache.CACHE_ENV, str(tmp_path / "cache"))
    load()  # merges and writes the entry
    (entry,) = (tmp_path / "cache").glob(f"{adapter.name}-*")
    assert (entry / "model.safetensors").is_file()
    merges: list[Path] = []
    monkeypatch.setattr(hf, "merge_plain_lora", lambda *a: merges.append(a[1]) or True)
    cached, cached_revision = load()
    assert merges == []  # read from the entry, not merged again
    assert cached_revision == revision
    # the tiny base saved with a token head loads with transformers' BertModel and its
    # pooler, which the pair layers never read; the cached encoder runs in plain torch
    assert {name for name in set(merged) - set(cached) if ".pooler." not in name} == set()
    assert set(cached) <= set(merged)
    for name, value in cached.items():
        assert torch.equal(merged[name], value), name


def _key(model: Path) -> str:
    clear_model_cache()
    config = ReConfig(enabled=True, model=str(model), min_precision=0.5)
    return DocRelationStage(config, schema=SCHEMA, run_id="run-1").model_key


def test_recalibration_on_held_out_documents_changes_the_operating_points(
    trained_doc_model: DocReTrainResult, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from kgbuild.cli.train import train_app

    model = tmp_path / "model"
    shutil.copytree(trained_doc_model.out_dir, model)
    data = trained_doc_model.out_dir.parent / "docred.json"  # its first 16 are the dev part
    runner = CliRunner()
    command = ["calibrate", str(model), "--data", str(data), "--documents"]
    refused = runner.invoke(train_app, [*command, "8:24"])
    assert refused.exit_code != 0 and "calibrate on held-out documents" in refused.output
    before = json.loads((model / "kgbuild_model.json").read_text(encoding="utf-8"))
    key_before = _key(model)

    result = runner.invoke(train_app, [*command, "8:16"])
    assert result.exit_code == 0, result.output
    assert "on 8 documents" in result.output and "target precision 0.85" in result.output
    after = json.loads((model / "kgbuild_model.json").read_text(encoding="utf-8"))
    assert after["calibration"] != before["calibration"]  # fitted on 8 of the 16 documents
    assert after["calibration_fitted_on"]["documents"] == "8:16"
    card = json.loads((model / "model_card.json").read_text(encoding="utf-8"))
    assert card["calibration"]["fitted_on"] == after["calibration_fitted_on"]
    assert "Fitted on documents 8:16" in (model / "README.md").read_text(encoding="utf-8")
    assert card["calibration"]["lower_bound_z"] == after["calibration_fitted_on"]["lower_bound_z"]
    assert card["calibration"]["lower_bound_z"] == 1.0  # the default

    assert _key(model) != key_before  # same weights, other operating points: read again

    observed = runner.invoke(train_app, [*command, "8:16", "--lower-bound-z", "0"])
    assert observed.exit_code == 0, observed.output
    loose = json.loads((model / "kgbuild_model.json").read_text(encoding="utf-8"))
    assert loose["calibration"] == after["calibration"]  # the same Platt map
    for target, table in loose["precision_thresholds"].items():  # a bound keeps no more
        assert table["*"] <= after["precision_thresholds"][target]["*"]

    from kgbuild.training.soup import soup_adapters

    soup = tmp_path / "soup"
    soup_adapters([trained_doc_model.out_dir, model], soup, command="test")
    soup_command = ["calibrate", str(soup), "--data", str(data), "--documents", "8:24"]
    refused = runner.invoke(train_app, soup_command)  # its ingredients trained on 16-59
    assert refused.exit_code != 0 and "calibrate on held-out documents" in refused.output
    result = runner.invoke(train_app, [*soup_command[:-1], "0:16"])
    assert result.exit_code == 0, result.output
    readme = (soup / "README.md").read_text(encoding="utf-8")
    assert "# Model soup: soup" in readme and "Fitted on documents 0:16" in readme
    result = runner.invoke(train_app, ["compress", str(soup), "--max-shard-mb", "0.01"])
    assert result.exit_code == 0 and "shards" in result.output, result.output
    readme = (soup / "README.md").read_text(encoding="utf-8")
    assert "Fitted on documents 0:16" in readme and "## Storage" in readme and "shards" in readme


def test_evaluate_graph_scores_mentions_without_relations(
    trained_doc_model: DocReTrainResult, keyword_ner_model: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from kgbuild.cli import app

    rng = random.Random(7)
    data = tmp_path / "docred.json"
    data.write_text(json.dumps([_document(rng) for _ in range(3)]), encoding="utf-8")
    runner = CliRunner()
    graph = ["evaluate", "graph", "--data", str(data), "--re-model", str(trained_doc_model.out_dir)]
    scores = {}
    for flag in ("--relations", "--no-relations"):
        out = tmp_path / f"{flag}.json"
        command = [*graph, flag, "--ner-model", str(keyword_ner_model), "--json-out", str(out)]
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
        scores[flag] = json.loads(out.read_text(encoding="utf-8"))
    assert scores["--relations"]["relations"] and not scores["--no-relations"]["relations"]
    assert scores["--no-relations"]["triples"]["predicted"] == 0
    assert scores["--no-relations"]["mentions"] == scores["--relations"]["mentions"]
    assert scores["--no-relations"]["mentions"]["gold"] > 0
    refused = runner.invoke(app, [*graph, "--gold-entities", "--no-relations"])
    assert refused.exit_code == 2 and "drop --no-relations" in refused.output


def test_documents_a_model_was_trained_on_are_known_from_its_card(tmp_path: Path) -> None:
    from kgbuild.training.doc_re_calibrate import _held_out_prefix

    data, other = tmp_path / "train.json", tmp_path / "other.json"
    data.write_text("[]", encoding="utf-8")
    other.write_text("[ ]", encoding="utf-8")
    train = {"sha256": sha256_file(data)}
    split = {"data": {"train": train, "dev": {"split_from": str(data), "first_documents": 40}}}
    separate = {"data": {"train": train, "dev": {"path": str(other)}}}
    assert _held_out_prefix(split, data) == 40
    assert _held_out_prefix(separate, data) == 0  # trained on every document of it
    assert _held_out_prefix(split, other) is None  # not its training file
    assert _held_out_prefix({}, data) is None  # no card: nothing known


def test_the_data_seed_changes_the_training_order_alone(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    rng = random.Random(0)
    data = tmp_path / "docred.json"
    data.write_text(json.dumps([_document(rng) for _ in range(12)]), encoding="utf-8")
    base = make_tiny_bert(tmp_path / "base", ["O"])
    run = DocReRun(epochs=1, batch_size=2, lora_rank=4, max_length=64, emb_size=16,
                   block_size=4, seed=1)  # fmt: skip
    weights = {}
    for name, data_seed in (("default", None), ("same", 1), ("other", 2)):
        out = tmp_path / name
        train_doc_re(
            data, out=out, base=str(base), dev_docs=4, run=replace(run, data_seed=data_seed)
        )
        weights[name] = load_file(str(out / "adapter_model.safetensors"))
    assert run.order_seed == 1 and replace(run, data_seed=2).order_seed == 2
    assert all(torch.equal(v, weights["same"][k]) for k, v in weights["default"].items())
    assert not all(torch.equal(v, weights["other"][k]) for k, v in weights["default"].items())


def test_numbers_out_of_range_and_max_steps_are_refused_for_a_document_model(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from kgbuild.cli.train import train_app

    data = tmp_path / "docred.json"
    data.write_text(json.dumps([_document(random.Random(0)) for _ in range(4)]), "utf-8")
    with pytest.raises(InputError, match="epochs, batch_size and learning_rate must be > 0"):
        train_doc_re(data, out=tmp_path / "m", base="b", dev_docs=2, run=DocReRun(batch_size=0))
    with pytest.raises(InputError, match="lora_rank must be >= 0"):
        train_doc_re(data, out=tmp_path / "m", base="b", dev_docs=2, run=DocReRun(lora_rank=-1))
    args = ["re", "--train", str(data), "--format", "docred", "--out", str(tmp_path / "m")]
    refused = CliRunner().invoke(train_app, [*args, "--max-steps", "5"])
    assert refused.exit_code == 2 and "--max-steps is for --format conll04" in refused.output
    # were ignored: no early stopping in a document model, and 0.5 epochs trained as 0
    refused = CliRunner().invoke(train_app, [*args, "--patience", "5", "--pooling", "cls"])
    assert refused.exit_code == 2
    assert "--patience, --pooling are for --format conll04" in " ".join(refused.output.split())
    refused = CliRunner().invoke(train_app, [*args, "--epochs", "0.5"])
    assert refused.exit_code == 2 and "--epochs must be whole" in refused.output
    assert not (tmp_path / "m").exists()


def test_document_model_options_are_refused_for_the_pair_classifier(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kgbuild.cli.train import train_app

    data = tmp_path / "conll04.json"
    data.write_text("[]", "utf-8")
    args = ["re", "--train", str(data), "--out", str(tmp_path / "m")]
    for option, value in (("--head-lr", "1e-3"), ("--resume", None), ("--data-seed", "3")):
        refused = CliRunner().invoke(train_app, [*args, option, *([value] if value else [])])
        assert refused.exit_code == 2, refused.output
        assert f"{option} is for --format docred" in " ".join(refused.output.split())
    assert not (tmp_path / "m").exists()


def test_resume_continues_a_run_interrupted_while_it_saved_its_checkpoint(
    tmp_path: Path,
) -> None:
    """`train re --format docred --resume` after Ctrl-C, sent as an epoch ends (when its
    checkpoint is being written): the same command continues from the last whole one; one
    with another learning rate is refused."""
    import signal

    from tests.processes import BuildProcess

    rng = random.Random(0)
    data = tmp_path / "docred.json"
    data.write_text(json.dumps([_document(rng) for _ in range(12)]), encoding="utf-8")
    base = make_tiny_bert(tmp_path / "base", ["O"])
    out = tmp_path / "model"
    args = ["train", "re", "--format", "docred", "--train", str(data), "--out", str(out)]
    args += ["--base", str(base), "--epochs", "40", "--lora-rank", "4", "--max-length", "64"]
    args += ["--batch-size", "4", "--dev-docs", "4", "--device", "cpu"]
    first = BuildProcess([*args, "--lr", "5e-3"])
    try:
        first.wait_for("epoch 2/40")  # logged just before its checkpoint is written
        first.process.send_signal(signal.SIGINT)
        assert first.finish() != 0
    finally:
        first.stop()
    assert (out / "checkpoint.pt").is_file()

    other = BuildProcess([*args, "--lr", "1e-3", "--resume"])  # another learning rate
    try:
        assert other.finish() == 2, other.output
    finally:
        other.stop()
    # its optimiser would carry the old rate on, and the card would state the new one
    assert "cannot resume" in other.output and "learning_rate 0.005 (now 0.001)" in other.output
    assert (out / "checkpoint.pt").is_file()  # kept for the right command

    same = BuildProcess([*args, "--lr", "5e-3", "--resume"])
    try:
        assert same.finish() == 0, same.output
    finally:
        same.stop()
    assert "resumed after epoch" in same.output
    card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    assert len(card["history"]) == 40
    # the training time is that of all 40 epochs, the interrupted run's too
    epochs_seconds = sum(h["seconds"] for h in card["history"])
    assert card["timing"]["train_seconds"] == pytest.approx(epochs_seconds)


def test_resume_without_a_checkpoint_says_it_starts_from_the_first_epoch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`--resume` into a folder with no checkpoint (a mistyped --out) trains afresh: say so."""
    import logging

    data = tmp_path / "docred.json"
    data.write_text(json.dumps([_document(random.Random(0)) for _ in range(8)]), "utf-8")
    base = make_tiny_bert(tmp_path / "base", ["O"])
    run = DocReRun(epochs=1, batch_size=2, lora_rank=4, max_length=64, emb_size=16,
                   block_size=4, seed=1)  # fmt: skip
    out = tmp_path / "model"
    with caplog.at_level(logging.WARNING, logger="kgbuild.training.doc_re_train"):
        train_doc_re(data, out=out, base=str(base), dev_docs=2, run=run, resume=True)
    assert f"no checkpoint {out / 'checkpoint.pt'} to resume from" in caplog.text


class _Planted:
    """Unpickled, it makes the folder ``marker``: code run by loading a checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.mkdir, (self.marker,))


def test_resume_never_runs_code_a_planted_checkpoint_holds(tmp_path: Path) -> None:
    """A checkpoint.pt someone else wrote into the output folder: `--resume` unpickled it
    whole (``weights_only=False``), running whatever it held."""
    import torch

    data = tmp_path / "docred.json"
    data.write_text(json.dumps([_document(random.Random(0)) for _ in range(8)]), "utf-8")
    base = make_tiny_bert(tmp_path / "base", ["O"])
    run = DocReRun(epochs=1, batch_size=2, lora_rank=4, max_length=64, emb_size=16,
                   block_size=4, seed=1)  # fmt: skip
    out, marker = tmp_path / "model", tmp_path / "ran"
    out.mkdir()
    torch.save({"model": {}, "epoch": 1, "settings": _Planted(marker)}, out / "checkpoint.pt")
    refused = r"cannot resume .*checkpoint\.pt: not a checkpoint kgbuild wrote"
    with pytest.raises(InputError, match=refused + r".*GLOBAL posix\.mkdir"):
        train_doc_re(data, out=out, base=str(base), dev_docs=2, run=run, resume=True)
    assert not marker.exists()
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=refused):
        train_doc_re(data, out=out, base=str(base), dev_docs=2, run=run, resume=True)


def test_evidence_gains_the_sentence_naming_an_end_the_attention_left_out() -> None:
    """The attention rested on a title line: a birth date's evidence held no date."""
    from kgbuild.stages.doc_relations import _naming, _PairFacts
    from kgbuild.stages.grouping import LocalEntity

    chunks, mentions = _pipeline_document("doc-a")
    mary, tokyo, bank, paul = (LocalEntity(m.label, (m,)) for m in mentions)
    facts = _PairFacts(sentences=(0, 1, 2), mass=np.asarray([0.1, 0.3, 0.6], np.float32))
    assert _naming(bank, chunks, facts, [2]) == [1]  # "he works for the bank ."
    assert _naming(paul, chunks, facts, [2]) == []  # named already
    assert _naming(mary, chunks, facts, [2]) == [0]
    assert _naming(tokyo, chunks, facts, [0, 2]) == []
    assert _naming(mary, chunks, _PairFacts(sentences=(1, 2), mass=facts.mass[1:]), [1]) == []


def test_ign_f1_reads_the_training_facts_in_the_encoding_the_card_records(
    tmp_path: Path,
) -> None:
    """Ign F1 read a cp1252 training file as UTF-8, failed, and fell back to plain F1."""
    from kgbuild.training.graph_eval import seen_facts_of

    document = _document(random.Random(0))
    document["sents"][0][0] = "josé"  # type: ignore[index]
    document["vertexSet"][0][0]["name"] = "josé smith"  # type: ignore[index]
    train = tmp_path / "train.json"
    train.write_bytes(json.dumps([document], ensure_ascii=False).encode("cp1252"))
    model = tmp_path / "model"
    model.mkdir()

    def card(**train_entry: str) -> None:
        data = {"train": {"path": str(train), **train_entry}, "dev": {}}
        (model / "model_card.json").write_text(json.dumps({"data": data}), encoding="utf-8")

    card(encoding="cp1252")
    seen = seen_facts_of(str(model))
    assert seen is not None
    assert ("josé smith", document["vertexSet"][1][0]["name"], "P19") in seen  # type: ignore[index]
    card()  # a card from before the encoding was recorded: UTF-8, which this file is not
    assert seen_facts_of(str(model)) is None


def test_a_document_model_card_records_its_training_encoding(
    trained_doc_model: DocReTrainResult,
) -> None:
    from kgbuild.training.graph_eval import seen_facts_of

    card = json.loads((trained_doc_model.out_dir / "model_card.json").read_text("utf-8"))
    assert card["data"]["train"]["encoding"] == "utf-8"
    assert seen_facts_of(str(trained_doc_model.out_dir))
