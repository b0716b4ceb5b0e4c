"""Unanswerable questions (SQuAD 2.0 style) made from answerable ones, and their calibration.

A negative pairs a question with a passage of the same article (or document) that holds
none of its answers: another paragraph, or the sentences of its own paragraph that do not
hold the answer. Its training target is ``[CLS]``, so the model learns a "no answer"
score; :func:`calibrate_no_answer` then fits the map from a span's margin over that score
to the probability that the span is right (:mod:`kgbuild.nlp.calibration`), on held-out
answerable and unanswerable questions, for the reader's abstention.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from kgbuild.nlp.calibration import (
    expected_calibration_error,
    fit_platt,
    precision_thresholds,
)
from kgbuild.nlp.reader import ExtractiveReader, QaQuery
from kgbuild.readers.skips import Skip, SkipReport
from kgbuild.readers.squad import QAExample
from kgbuild.training.qa_metrics import token_f1

__all__ = [
    "CALIBRATION_TARGETS",
    "answer_free_passages",
    "best_spans",
    "calibrate_no_answer",
    "held_out_unanswerable_reported",
    "make_negatives",
    "make_negatives_reported",
    "no_answer_rate",
]

CALIBRATION_TARGETS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
"""Target precisions a calibration stores thresholds for."""


def answer_free_passages(context: str, answers: Sequence[str], width: int | None) -> list[str]:
    """Passages of ``context`` that hold none of ``answers`` (case-insensitive).

    ``width`` ``None``: the whole context, if it qualifies; else every run of ``width``
    consecutive sentences that holds no answer.
    """
    from kgbuild.nlp.sentences import text_sentence_spans

    folded = [a.casefold() for a in answers if a.strip()]

    def free(text: str) -> bool:
        lowered = text.casefold()
        return bool(text.strip()) and not any(a in lowered for a in folded)

    if width is None:
        return [context] if free(context) else []
    spans = text_sentence_spans(context)
    out = []
    for first in range(0, max(1, len(spans) - width + 1)):
        last = min(len(spans), first + width) - 1
        passage = context[spans[first][0] : spans[last][1]] if spans else context
        if free(passage):
            out.append(passage)
    return out


def make_negatives(
    examples: Sequence[QAExample], ratio: float, *, seed: int, width: int | None = None
) -> list[QAExample]:
    """About ``ratio`` unanswerable questions per answerable one (a seeded choice).

    Each pairs an answerable question with a passage of the same article that holds none
    of its answers: another paragraph (``width`` ``None``) or a run of ``width`` sentences
    of any paragraph of the article, its own included. Questions with no such passage get
    none (:func:`make_negatives_reported` says which).
    """
    return make_negatives_reported(examples, ratio, seed=seed, width=width)[0]


NO_FREE_PASSAGE = "no passage of its article is free of its answer to make an unanswerable one"
FEWER_FREE_PASSAGES = "its article has fewer passages free of its answer than the ratio asks"


def make_negatives_reported(
    examples: Sequence[QAExample], ratio: float, *, seed: int, width: int | None = None
) -> tuple[list[QAExample], SkipReport]:
    """:func:`make_negatives`, and the answerable questions that got fewer than asked."""
    source = "answerable questions (making unanswerable ones)"
    answerable = sum(1 for e in examples if e.answers)
    if ratio <= 0:
        return [], SkipReport.of(source, answerable, ())
    rng = random.Random(seed)
    contexts: dict[str, list[str]] = defaultdict(list)
    for example in examples:
        if example.context not in contexts[example.title]:
            contexts[example.title].append(example.context)
    negatives = []
    none: list[Skip] = []
    fewer: list[Skip] = []
    for example in examples:
        if not example.answers:
            continue
        count = int(ratio) + (rng.random() < ratio - int(ratio))
        if not count:
            continue
        texts = [a.text for a in example.answers]
        pool = [
            passage
            for context in contexts[example.title]
            if width is not None or context != example.context
            for passage in answer_free_passages(context, texts, width)
        ]
        if len(pool) < count:
            wanted = f"{len(pool)} of {count} made"
            (fewer if pool else none).append(
                Skip(example.id, FEWER_FREE_PASSAGES if pool else NO_FREE_PASSAGE, wanted)
            )
        for number, passage in enumerate(rng.sample(pool, min(count, len(pool)))):
            negatives.append(
                example.model_copy(
                    update={"id": f"{example.id}-neg{number}", "context": passage, "answers": ()}
                )
            )
    return negatives, SkipReport.of(source, answerable, none, fewer)


def best_spans(
    reader: ExtractiveReader, examples: Sequence[QAExample], batch: int = 256
) -> list[tuple[str, float] | None]:
    """Per question: the best span's text and margin over "no answer" (never abstaining)."""
    abstain, reader.abstain = reader.abstain, False
    try:
        out: list[tuple[str, float] | None] = []
        for first in range(0, len(examples), batch):
            chunk = examples[first : first + batch]
            for spans in reader.read_batch([QaQuery(e.question, e.context) for e in chunk]):
                out.append((spans[0].text, spans[0].margin) if spans else None)
        return out
    finally:
        reader.abstain = abstain


def calibrate_no_answer(
    reader: ExtractiveReader, examples: Sequence[QAExample], *, min_confidence: float = 0.5
) -> dict[str, Any]:
    """Fit the no-answer calibration of ``reader`` on held-out questions of both kinds.

    A question's best span counts as right when it is answerable and the span's token F1
    with a gold answer is at least 0.5; the Platt map is fitted from margins to that.

    Returns:
        dict: The manifest entry (``platt``, ``min_confidence``, ``ece``, precision
        ``thresholds``, counts: ``no_span`` questions the reader found no span in are
        left out of the fit), or one without ``platt`` when the held-out questions are
        not of both outcomes (the reader then keeps spans that beat ``[CLS]``).
    """
    margins, correct = [], []
    no_span = 0
    for example, best in zip(examples, best_spans(reader, examples), strict=True):
        if best is None:
            no_span += 1
            continue
        text, margin = best
        golds = [a.text for a in example.answers]
        right = bool(golds) and max(token_f1(text, g) for g in golds) >= 0.5
        margins.append(margin)
        correct.append(int(right))
    entry: dict[str, Any] = {
        "min_confidence": min_confidence,
        "questions": len(margins),
        "unanswerable": sum(1 for e in examples if not e.answers),
        "right_answers": sum(correct),
        "no_span": no_span,
    }
    try:
        platt = fit_platt(margins, correct)
    except ValueError:
        return entry
    probabilities = platt(margins)
    entry["platt"] = {"scale": platt.scale, "bias": platt.bias}
    entry["ece"] = expected_calibration_error(probabilities, correct)
    tables = precision_thresholds(probabilities, correct, ["*"] * len(margins), CALIBRATION_TARGETS)
    # per target precision: the lowest confidence whose answers reach it on these questions
    entry["thresholds"] = {target: table["*"] for target, table in tables.items()}
    return entry


def no_answer_rate(reader: ExtractiveReader, examples: Sequence[QAExample]) -> float:
    """Percent of ``examples`` (unanswerable questions) the reader answers with no span."""
    if not examples:
        return 0.0
    answers = reader.read_batch([QaQuery(e.question, e.context) for e in examples])
    return 100.0 * sum(1 for spans in answers if not spans) / len(examples)


def held_out_unanswerable(examples: Sequence[QAExample], seed: int) -> list[QAExample]:
    """The unanswerable questions scored beside held-out articles.

    One per answerable question: its question over another paragraph of its article that
    does not hold the answer (the same questions for a given seed, in training cards and
    ``evaluate qa``).
    """
    return held_out_unanswerable_reported(examples, seed)[0]


def held_out_unanswerable_reported(
    examples: Sequence[QAExample], seed: int
) -> tuple[list[QAExample], SkipReport]:
    """:func:`held_out_unanswerable`, and the answerable questions that got none."""
    return make_negatives_reported([e for e in examples if e.answers], 1.0, seed=seed)
