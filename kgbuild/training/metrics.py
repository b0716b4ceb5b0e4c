"""Entity-level NER scores (seqeval, conlleval definition)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt
from seqeval.metrics.sequence_labeling import get_entities

__all__ = ["PRF", "NerScores", "TypedScores", "ner_scores", "normalise_tags", "span_scores"]

# BMES / BILOU prefixes mapped onto the IOBES prefixes seqeval understands.
_PREFIX_MAP = {"M": "I", "L": "E", "U": "S"}


class PRF(BaseModel):
    """Precision, recall and F1 (in ``[0, 1]``) with the number of gold entities."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    precision: float = Field(ge=0.0, le=1.0)
    recall: float = Field(ge=0.0, le=1.0)
    f1: float = Field(ge=0.0, le=1.0)
    support: NonNegativeInt
    predicted: NonNegativeInt


class TypedScores(BaseModel):
    """Micro-averaged scores and scores per type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    micro: PRF
    per_type: dict[str, PRF]


class NerScores(TypedScores):
    """Micro-averaged and per-entity-type scores."""


def normalise_tags(tags: list[str]) -> list[str]:
    """BMES / BILOU prefixes as the IOBES ones seqeval reads."""
    out = []
    for tag in tags:
        if len(tag) > 2 and tag[1] == "-" and tag[0] in _PREFIX_MAP:
            tag = f"{_PREFIX_MAP[tag[0]]}{tag[1:]}"
        out.append(tag)
    return out


def _prf(n_correct: int, n_pred: int, n_gold: int) -> PRF:
    precision = n_correct / n_pred if n_pred else 0.0
    recall = n_correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PRF(precision=precision, recall=recall, f1=f1, support=n_gold, predicted=n_pred)


def ner_scores(gold: list[list[str]], pred: list[list[str]]) -> NerScores:
    """Score predicted tag sequences against gold ones, entity by entity.

    An entity counts as correct only when its type and both boundaries match
    (seqeval default mode, the conlleval definition; BIO, IOBES and BMES tags).

    Args:
        gold: Gold tags, one list per sentence.
        pred: Predicted tags, same shape as ``gold``.

    Returns:
        NerScores: Micro P/R/F1 and P/R/F1 per entity type (types seen in gold or
        predictions).

    Raises:
        ValueError: ``gold`` and ``pred`` differ in shape.
    """
    if len(gold) != len(pred) or any(len(g) != len(p) for g, p in zip(gold, pred, strict=False)):
        raise ValueError("gold and predicted tag sequences differ in shape")
    gold_entities: set[tuple[int, int, str, int, int]] = set()
    pred_entities: set[tuple[int, int, str, int, int]] = set()
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        gold_entities.update((0, i, t, s, e) for t, s, e in get_entities(normalise_tags(g)))
        pred_entities.update((0, i, t, s, e) for t, s, e in get_entities(normalise_tags(p)))
    return span_scores(gold_entities, pred_entities)


def span_scores(gold: set[tuple[Any, ...]], pred: set[tuple[Any, ...]]) -> NerScores:
    """Score predicted mentions against gold ones, each a tuple whose element 2 is its type.

    A mention is correct when its whole tuple (where, type, boundaries) is in gold.
    """
    correct = gold & pred
    types = sorted({e[2] for e in gold | pred})
    per_type = {
        t: _prf(
            sum(1 for e in correct if e[2] == t),
            sum(1 for e in pred if e[2] == t),
            sum(1 for e in gold if e[2] == t),
        )
        for t in types
    }
    return NerScores(micro=_prf(len(correct), len(pred), len(gold)), per_type=per_type)
