"""Entity-level NER scores (seqeval, conlleval definition)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt
from seqeval.metrics.sequence_labeling import get_entities

__all__ = ["PRF", "NerScores", "ner_scores"]

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


class NerScores(BaseModel):
    """Micro-averaged and per-entity-type scores."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    micro: PRF
    per_type: dict[str, PRF]


def _normalise(tags: list[str]) -> list[str]:
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
    gold_entities: set[tuple[int, str, int, int]] = set()
    pred_entities: set[tuple[int, str, int, int]] = set()
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        gold_entities.update((i, t, s, e) for t, s, e in get_entities(_normalise(g)))
        pred_entities.update((i, t, s, e) for t, s, e in get_entities(_normalise(p)))
    correct = gold_entities & pred_entities
    types = sorted({e[1] for e in gold_entities | pred_entities})
    per_type = {
        t: _prf(
            sum(1 for e in correct if e[1] == t),
            sum(1 for e in pred_entities if e[1] == t),
            sum(1 for e in gold_entities if e[1] == t),
        )
        for t in types
    }
    micro = _prf(len(correct), len(pred_entities), len(gold_entities))
    return NerScores(micro=micro, per_type=per_type)
