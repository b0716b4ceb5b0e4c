"""SQuAD exact match and F1, with the official v1.1 normalisation.

``normalize_answer`` is the official one: lower case, punctuation removed, the
articles *a*, *an*, *the* removed, whitespace collapsed. Scores are the maximum over
a question's gold answers, averaged over questions, as percentages. Chinese (and any
CJK) text is compared character by character, as the CMRC 2018 and DRCD scripts do,
with CJK punctuation removed as well.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict

__all__ = ["QaScores", "exact_match", "normalize_answer", "qa_scores", "token_f1"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff]")


def _is_punctuation(char: str) -> bool:
    return char in _PUNCTUATION or unicodedata.category(char).startswith("P")


def normalize_answer(text: str) -> str:
    """The official SQuAD v1.1 normalisation (CJK punctuation removed too)."""
    text = text.lower()
    if _CJK.search(text):
        text = "".join(c for c in text if not _is_punctuation(c))
    else:
        text = "".join(c for c in text if c not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _tokens(normalized: str) -> list[str]:
    """Whitespace tokens; CJK characters are tokens of their own."""
    tokens: list[str] = []
    for word in normalized.split():
        if _CJK.search(word):
            tokens.extend(part for part in re.split(f"({_CJK.pattern})", word) if part)
        else:
            tokens.append(word)
    return tokens


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Bag-of-tokens F1 between the normalised strings (0.0 when either is empty)."""
    predicted, expected = _tokens(normalize_answer(prediction)), _tokens(normalize_answer(gold))
    common = Counter(predicted) & Counter(expected)
    overlap = sum(common.values())
    if not predicted or not expected:
        return float(predicted == expected)
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


class QaScores(BaseModel):
    """SQuAD scores over a set of questions, in percent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exact_match: float
    f1: float
    questions: int
    answered: int


def qa_scores(predictions: Mapping[str, str], golds: Mapping[str, Sequence[str]]) -> QaScores:
    """Exact match and F1 over every question in ``golds``.

    Args:
        predictions: Question id -> predicted answer text (a missing id or ``""``
            counts as no answer, which scores 0 unless the gold list is empty).
        golds: Question id -> gold answer texts (an empty list: unanswerable, where
            only an empty prediction scores).

    Returns:
        QaScores: EM and F1 in percent, the number of questions and of non-empty
        predictions.
    """
    em_total = f1_total = 0.0
    answered = 0
    for qid, answers in golds.items():
        predicted = predictions.get(qid, "")
        answered += bool(predicted)
        texts = list(answers) or [""]
        em_total += max(exact_match(predicted, g) for g in texts)
        f1_total += max(token_f1(predicted, g) for g in texts)
    n = len(golds)
    return QaScores(
        exact_match=100.0 * em_total / n if n else 0.0,
        f1=100.0 * f1_total / n if n else 0.0,
        questions=n,
        answered=answered,
    )
