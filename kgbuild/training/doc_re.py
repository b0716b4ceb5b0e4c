"""Training and scoring the document-level relation model on DocRED-format data.

A DocRED document (sentences of tokens, entity clusters with every mention, relations
with evidence sentences) becomes the text the pipeline would see (tokens joined by
spaces), its sentence spans and its mentions; :func:`kgbuild.nlp.doc_windows.encode_windows`
turns that into marked windows exactly as the pipeline stage does. Every ordered pair
of distinct entities of a window is a training pair: its gold types (multi-hot, class 0
the adaptive threshold) and its gold evidence sentences.

Scores follow DocRED: a predicted fact (document, head entity, tail entity, type) is
correct when it is a gold fact; micro precision, recall and F1, per type, and Ign F1
(correct facts whose head and tail mention names form a fact of the training data are
left out, as in the official scorer).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from kgbuild.nlp.doc_relations import (
    DocPrediction,
    DocRelationModel,
    WindowPairs,
    merge_windows,
    score_windows,
)
from kgbuild.nlp.doc_windows import MentionSpan, encode_windows
from kgbuild.readers.docred import DocREDDocument, document_text

__all__ = [
    "PRF",
    "DocExample",
    "DocPrediction",
    "DocScores",
    "TrainingPair",
    "docred_examples",
    "example_windows",
    "predict_examples",
    "score_facts",
    "train_facts",
]

logger = logging.getLogger(__name__)

Fact = tuple[int, int, str]
"""``(head entity, tail entity, relation type)`` within one document."""


@dataclass(frozen=True)
class DocExample:
    """A document with gold entities (and, for training or scoring, gold facts)."""

    title: str
    text: str
    sentences: tuple[tuple[int, int], ...]
    mentions: tuple[MentionSpan, ...]
    entity_types: tuple[str, ...]
    entity_names: tuple[tuple[str, ...], ...]
    """Each entity's mention names (Ign F1 compares facts by names)."""
    facts: tuple[tuple[int, int, str, tuple[int, ...]], ...] = ()
    """Gold ``(head, tail, type, evidence sentences)``."""


def docred_examples(documents: Iterable[DocREDDocument]) -> list[DocExample]:
    """DocRED documents as :class:`DocExample` (tokens joined by spaces, as the text)."""
    examples = []
    for doc in documents:
        joined = document_text(doc)
        mentions = tuple(
            MentionSpan(start, end, entity)
            for entity, spans in enumerate(joined.mention_offsets)
            for start, end in spans
        )
        examples.append(
            DocExample(
                title=doc.title,
                text=joined.text,
                sentences=joined.sentence_offsets,
                mentions=mentions,
                entity_types=tuple(entity.type for entity in doc.entities),
                entity_names=tuple(
                    tuple(m.name for m in entity.mentions) for entity in doc.entities
                ),
                facts=tuple((r.head, r.tail, r.relation, r.evidence) for r in doc.relations),
            )
        )
    return examples


def example_windows(
    tokenizer: Any,
    example: DocExample,
    *,
    max_length: int,
    overlap: float = 0.25,
    allowed: Mapping[tuple[str, str], Any] | None = None,
) -> list[tuple[WindowPairs, tuple[int, ...]]]:
    """The windows of a document, each with its candidate pairs and window entities.

    Every ordered pair of distinct entities in a window is a candidate, or only those
    whose ``(head type, tail type)`` is a key of ``allowed`` when it is given.

    Returns:
        list: ``(WindowPairs, entities)`` per window; ``entities[i]`` is the document
        entity of window entity ``i``.
    """
    out = []
    for window in encode_windows(
        tokenizer,
        example.text,
        example.sentences,
        example.mentions,
        max_length=max_length,
        overlap=overlap,
    ):
        types = [example.entity_types[e] for e in window.entities]
        pairs = [
            (h, t)
            for h in range(len(window.entities))
            for t in range(len(window.entities))
            if h != t and (allowed is None or (types[h], types[t]) in allowed)
        ]
        out.append(
            (
                WindowPairs(
                    input_ids=window.input_ids,
                    pairs=pairs,
                    entity_positions=window.entity_positions,
                    token_sentences=window.token_sentences,
                    sentences=window.sentences,
                ),
                window.entities,
            )
        )
    return out


@dataclass(frozen=True)
class TrainingPair:
    """One training window: its pairs with gold types (multi-hot) and evidence (per sentence)."""

    window: WindowPairs
    labels: torch.Tensor
    evidence: torch.Tensor


def training_windows(
    tokenizer: Any,
    examples: Sequence[DocExample],
    label2id: Mapping[str, int],
    *,
    max_length: int,
    overlap: float = 0.25,
) -> list[TrainingPair]:
    """Every window of ``examples`` with all its ordered entity pairs labelled.

    Facts whose type is not in ``label2id`` are left out (the pair may still hold others).
    """
    return training_windows_reported(
        tokenizer, examples, label2id, max_length=max_length, overlap=overlap
    )[0]


def training_windows_reported(
    tokenizer: Any,
    examples: Sequence[DocExample],
    label2id: Mapping[str, int],
    *,
    max_length: int,
    overlap: float = 0.25,
) -> tuple[list[TrainingPair], int]:
    """:func:`training_windows`, and how many of its facts no window trains on.

    A fact is trained on in the windows that read a mention of both its entities; one
    whose entities are never read in the same window (farther apart than ``max_length``)
    is in none, and counted.
    """
    features = []
    unread = 0
    for example in examples:
        gold: dict[tuple[int, int], list[tuple[str, tuple[int, ...]]]] = defaultdict(list)
        for head, tail, kind, evidence in example.facts:
            if kind in label2id:
                gold[head, tail].append((kind, evidence))
        seen: set[tuple[int, int]] = set()
        for window, entities in example_windows(
            tokenizer, example, max_length=max_length, overlap=overlap
        ):
            local = {sentence: i for i, sentence in enumerate(window.sentences)}
            labels = torch.zeros((len(window.pairs), len(label2id)))
            support = torch.zeros((len(window.pairs), len(window.sentences)))
            for row, (h, t) in enumerate(window.pairs):
                seen.add((entities[h], entities[t]))
                for kind, sentences in gold.get((entities[h], entities[t]), ()):
                    labels[row, label2id[kind]] = 1.0
                    for sentence in sentences:
                        if sentence in local:
                            support[row, local[sentence]] = 1.0
            if window.pairs:
                features.append(TrainingPair(window, labels, support))
        unread += sum(len(facts) for pair, facts in gold.items() if pair not in seen)
    return features, unread


# -- prediction and scores ------------------------------------------------------------------------


def predict_examples(
    model: DocRelationModel,
    tokenizer: Any,
    examples: Sequence[DocExample],
    *,
    max_length: int,
    overlap: float = 0.25,
    batch_size: int = 4,
    bf16: bool = False,
) -> list[DocPrediction]:
    """Score every ordered entity pair of every document (gold entities)."""
    model.eval()
    layout = []
    windows: list[WindowPairs] = []
    for doc, example in enumerate(examples):
        for window, entities in example_windows(
            tokenizer, example, max_length=max_length, overlap=overlap
        ):
            layout.append((doc, entities, window))
            windows.append(window)
    scores = score_windows(
        model, windows, pad_id=tokenizer.pad_token_id or 0, batch_size=batch_size, bf16=bf16
    )
    per_doc: dict[int, list[tuple[tuple[int, ...], WindowPairs, Any]]] = defaultdict(list)
    for (doc, entities, window), window_scores in zip(layout, scores, strict=True):
        per_doc[doc].append((entities, window, window_scores))
    return [merge_windows(per_doc[d], len(e.sentences)) for d, e in enumerate(examples)]


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 (0-100) with counts."""

    precision: float
    recall: float
    f1: float
    gold: int
    predicted: int
    correct: int

    @staticmethod
    def of(correct: int, predicted: int, gold: int) -> PRF:
        """Scores from counts."""
        p = 100.0 * correct / predicted if predicted else 0.0
        r = 100.0 * correct / gold if gold else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return PRF(p, r, f, gold, predicted, correct)


@dataclass(frozen=True)
class DocScores:
    """DocRED scores: micro, Ign F1 and per type."""

    micro: PRF
    ign_f1: float
    per_type: dict[str, PRF]


def train_facts(examples: Iterable[DocExample]) -> set[tuple[str, str, str]]:
    """``(head name, tail name, type)`` of every mention-name pair of every training fact."""
    facts = set()
    for example in examples:
        for head, tail, kind, _ in example.facts:
            for h in example.entity_names[head]:
                for t in example.entity_names[tail]:
                    facts.add((h, t, kind))
    return facts


def score_facts(
    examples: Sequence[DocExample],
    predicted: Sequence[Iterable[Fact]],
    seen: set[tuple[str, str, str]] | None = None,
) -> DocScores:
    """Score predicted facts against the gold facts of ``examples``.

    Args:
        examples: Documents with gold facts.
        predicted: Per document, the predicted ``(head, tail, type)`` facts.
        seen: Training facts by names (see :func:`train_facts`), for Ign F1.
    """
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # correct, predicted, gold
    ignored = 0
    for example, facts in zip(examples, predicted, strict=True):
        gold = {(h, t, k) for h, t, k, _ in example.facts}
        predicted_set = set(facts)
        for _, _, kind in gold:
            counts[kind][2] += 1
        for fact in predicted_set:
            h, t, kind = fact
            counts[kind][1] += 1
            if fact in gold:
                counts[kind][0] += 1
                if seen and any(
                    (hn, tn, kind) in seen
                    for hn in example.entity_names[h]
                    for tn in example.entity_names[t]
                ):
                    ignored += 1
    correct = sum(c[0] for c in counts.values())
    n_predicted = sum(c[1] for c in counts.values())
    n_gold = sum(c[2] for c in counts.values())
    micro = PRF.of(correct, n_predicted, n_gold)
    ign_p = 100.0 * (correct - ignored) / (n_predicted - ignored) if n_predicted > ignored else 0.0
    ign_f1 = 2 * ign_p * micro.recall / (ign_p + micro.recall) if ign_p + micro.recall else 0.0
    per_type = {kind: PRF.of(*c) for kind, c in sorted(counts.items())}
    return DocScores(micro, ign_f1, per_type)


def facts_above(
    predictions: Sequence[DocPrediction],
    labels: Sequence[str],
    thresholds: Mapping[str, float] | None = None,
) -> list[list[Fact]]:
    """Facts whose margin beats the type's threshold (default 0: above the threshold class).

    ``labels`` are the model's labels without the threshold class (margin columns).
    """
    cut = np.array([(thresholds or {}).get(kind, 0.0) for kind in labels])
    out = []
    for prediction in predictions:
        facts = []
        for (h, t), margins in prediction.margins.items():
            for column in np.flatnonzero(margins > cut):
                facts.append((h, t, labels[int(column)]))
        out.append(facts)
    return out
