"""Strict relation-extraction scores (micro and per relation type).

A relation is a :class:`RelationKey`: head span and type, tail span and type, and the
relation type, within one sentence. A predicted relation is correct iff all of these
match a gold one (the "strict" criterion of CoNLL04 evaluations): a reversed
direction, a wrong entity type or a wrong boundary makes it wrong. ``no_relation`` is
never scored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from kgbuild.schema import NO_RELATION
from kgbuild.training.metrics import PRF, TypedScores

__all__ = ["NO_RELATION", "ReScores", "RelationKey", "relation_scores"]


class RelationKey(NamedTuple):
    """One relation of a sentence: spans are token (or character) offsets, end exclusive."""

    head_start: int
    head_end: int
    head_type: str
    tail_start: int
    tail_end: int
    tail_type: str
    type: str


class ReScores(TypedScores):
    """Micro-averaged and per-relation-type strict scores."""


def _prf(correct: int, predicted: int, gold: int) -> PRF:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PRF(precision=precision, recall=recall, f1=f1, support=gold, predicted=predicted)


def relation_scores(
    gold: Sequence[Iterable[RelationKey]], predicted: Sequence[Iterable[RelationKey]]
) -> ReScores:
    """Score predicted relations against gold ones, sentence by sentence (strict match).

    Args:
        gold: Gold relations, one collection per sentence (duplicates count once).
        predicted: Predicted relations, same number of sentences.

    Returns:
        ReScores: Micro and per-type precision, recall and F1 (``no_relation`` excluded).

    Raises:
        ValueError: ``gold`` and ``predicted`` hold different numbers of sentences.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    n_correct: Counter[str] = Counter()
    for gold_sentence, pred_sentence in zip(gold, predicted, strict=True):
        gold_set = {key for key in gold_sentence if key.type != NO_RELATION}
        pred_set = {key for key in pred_sentence if key.type != NO_RELATION}
        n_gold.update(key.type for key in gold_set)
        n_pred.update(key.type for key in pred_set)
        n_correct.update(key.type for key in gold_set & pred_set)
    types = sorted(set(n_gold) | set(n_pred))
    return ReScores(
        micro=_prf(sum(n_correct.values()), sum(n_pred.values()), sum(n_gold.values())),
        per_type={t: _prf(n_correct[t], n_pred[t], n_gold[t]) for t in types},
    )
