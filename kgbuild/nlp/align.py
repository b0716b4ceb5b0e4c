"""Pure functions from word-piece probabilities to labelled character spans.

The flow follows the transformers token-classification pipeline: merge the
predictions of overlapping windows, aggregate word pieces into words
(:class:`AggregationStrategy`), then decode BIO/BIOES tags into spans. Word labels are
either each word's most probable tag or, by default, the most probable tag *sequence*
that is valid BIO/BIOES (:func:`constrained_label_ids`, Viterbi: no ``I-ORG`` after
``B-PER`` or ``O``), which mends the broken spans a per-word argmax produces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = [
    "AggregationStrategy",
    "SpanPrediction",
    "TokenPrediction",
    "WordPrediction",
    "aggregate_words",
    "batched_label_ids",
    "constrained_label_ids",
    "decode_tags",
    "merge_windows",
    "split_tag",
]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]


class AggregationStrategy(StrEnum):
    """How the word pieces of one word vote for the word's label."""

    FIRST = "first"
    """The first piece's distribution (how models trained on first pieces expect it)."""
    AVERAGE = "average"
    """The mean distribution over the pieces."""
    MAX = "max"
    """The distribution of the piece with the most confident prediction."""


@dataclass(frozen=True)
class TokenPrediction:
    """One word piece: which word it belongs to, its offsets within the word, its probabilities."""

    word: int
    start: int
    end: int
    probs: FloatArray


@dataclass(frozen=True)
class WordPrediction:
    """A word with its aggregated label id and score."""

    word: int
    label_id: int
    score: float


@dataclass(frozen=True)
class SpanPrediction:
    """A decoded entity over words ``[first_word, last_word]``."""

    first_word: int
    last_word: int
    label: str
    score: float


def merge_windows(windows: Iterable[Sequence[TokenPrediction]]) -> list[TokenPrediction]:
    """Merge the predictions of overlapping windows over one sequence of words.

    A piece seen in several windows keeps the prediction from the window where it
    lies farthest from an edge (the most context on both sides). Pieces are
    identified by ``(word, start, end)``. Returns pieces in text order.
    O(total pieces).
    """
    best: dict[tuple[int, int, int], tuple[int, TokenPrediction]] = {}
    for window in windows:
        last = len(window) - 1
        for position, token in enumerate(window):
            centrality = min(position, last - position)
            key = (token.word, token.start, token.end)
            kept = best.get(key)
            if kept is None or centrality > kept[0]:
                best[key] = (centrality, token)
    return [best[key][1] for key in sorted(best)]


def _word_probs(
    tokens: Sequence[TokenPrediction], strategy: AggregationStrategy
) -> list[tuple[int, FloatArray]]:
    """Each word (in text order) with its pieces' aggregated distribution."""
    words: list[tuple[int, FloatArray]] = []
    index = 0
    while index < len(tokens):
        word = tokens[index].word
        end = index
        while end < len(tokens) and tokens[end].word == word:
            end += 1
        pieces = np.stack([token.probs for token in tokens[index:end]])
        if strategy is AggregationStrategy.FIRST:
            probs = pieces[0]
        elif strategy is AggregationStrategy.AVERAGE:
            probs = pieces.mean(axis=0)
        else:
            probs = pieces[int(pieces.max(axis=1).argmax())]
        words.append((word, probs))
        index = end
    return words


def aggregate_words(
    tokens: Sequence[TokenPrediction],
    strategy: AggregationStrategy | str,
    id2label: Mapping[int, str] | None = None,
) -> list[WordPrediction]:
    """Aggregate word pieces (in text order) into one prediction per word.

    With ``id2label`` the labels are the best valid tag sequence
    (:func:`constrained_label_ids`); without it, each word's most probable tag.
    """
    words = _word_probs(tokens, AggregationStrategy(strategy))
    if not words:
        return []
    probs = np.stack([p for _, p in words])
    if id2label is None:
        label_ids = [int(i) for i in probs.argmax(axis=1)]
    else:
        label_ids = constrained_label_ids(probs, id2label)
    return [
        WordPrediction(word=word, label_id=label_id, score=float(p[label_id]))
        for (word, p), label_id in zip(words, label_ids, strict=True)
    ]


_FORBIDDEN = -1e9


@lru_cache(maxsize=64)
def _transition_scores(labels: tuple[str, ...]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Start, transition (previous x current) and end scores: 0 allowed, -1e9 forbidden.

    Only tag sets with ``B-`` tags are constrained (IO tags are left free): ``I-X`` and
    ``E-X`` continue ``B-X`` or ``I-X``; with ``E-``/``S-`` tags (BIOES) an open ``B-X``
    or ``I-X`` must be continued, and cannot end the sentence.
    """
    size = len(labels)
    tags = [split_tag(label) for label in labels]
    start = np.zeros(size, dtype=np.float32)
    transition = np.zeros((size, size), dtype=np.float32)
    end = np.zeros(size, dtype=np.float32)
    if not any(prefix == "B" for prefix, _ in tags):
        return start, transition, end
    bioes = any(prefix in {"E", "S"} for prefix, _ in tags)
    for current, (prefix, kind) in enumerate(tags):
        continues = prefix in {"I", "E"}
        if continues:
            start[current] = _FORBIDDEN
        if bioes and prefix in {"B", "I"}:
            end[current] = _FORBIDDEN
        for previous, (previous_prefix, previous_kind) in enumerate(tags):
            is_open = previous_prefix in {"B", "I"}
            if (continues and not (is_open and previous_kind == kind)) or (
                bioes and is_open and not (continues and previous_kind == kind)
            ):
                transition[previous, current] = _FORBIDDEN
    return start, transition, end


def constrained_label_ids(probs: FloatArray, id2label: Mapping[int, str]) -> list[int]:
    """The most probable valid tag sequence (Viterbi over per-word probabilities).

    Args:
        probs: ``(words, labels)`` probabilities of consecutive words.
        id2label: Label of each column.

    Returns:
        list[int]: One label id per word.
    """
    if len(probs) == 0:
        return []
    lengths = np.array([len(probs)], dtype=np.intp)
    return [int(i) for i in batched_label_ids(probs, lengths, id2label)]


def batched_label_ids(
    probs: FloatArray, lengths: IntArray, id2label: Mapping[int, str] | None
) -> IntArray:
    """Label ids of many word sequences at once, stacked in one ``(words, labels)`` table.

    With ``id2label`` each sequence gets its most probable valid tag sequence (the
    Viterbi of :func:`constrained_label_ids`, run over all sequences together: one
    numpy step per word position, never one per word); without it, each word's most
    probable tag.

    Args:
        probs: Word probabilities, the sequences one after another.
        lengths: Words in each sequence (they sum to ``len(probs)``; zeros allowed).
        id2label: Label of each column, or ``None`` for a per-word argmax.

    Returns:
        IntArray: One label id per row of ``probs``.
    """
    if len(probs) == 0:
        return np.zeros(0, dtype=np.intp)
    if id2label is None:
        return np.asarray(probs.argmax(axis=1), dtype=np.intp)
    start, transition, end = _transition_scores(tuple(id2label[i] for i in range(len(id2label))))
    log_probs = np.log(np.clip(probs, 1e-12, None))
    # Longest first: the sequences still running at position t are then a prefix.
    order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    first_rows = (np.cumsum(lengths) - lengths)[order]
    steps = int(sorted_lengths[0]) if len(sorted_lengths) else 0
    running = np.searchsorted(-sorted_lengths, -np.arange(steps), side="left")
    score = start + log_probs[first_rows[: running[0]]]
    back: list[IntArray] = []
    for t in range(1, steps):
        alive = running[t]
        candidates = score[:alive, :, None] + transition
        back.append(candidates.argmax(axis=1))
        score[:alive] = candidates.max(axis=1) + log_probs[first_rows[:alive] + t]
    label_ids = np.empty(len(probs), dtype=np.intp)
    current = (score + end).argmax(axis=1)  # each sequence's label at its last word
    label_ids[first_rows[: len(current)] + sorted_lengths[: len(current)] - 1] = current
    for t in range(steps - 1, 0, -1):
        alive = running[t]
        previous = back[t - 1][np.arange(alive), current[:alive]]
        label_ids[first_rows[:alive] + t - 1] = previous
        current[:alive] = previous
    return label_ids


def split_tag(tag: str) -> tuple[str, str | None]:
    """Split ``"B-PER"`` into ``("B", "PER")``; ``"O"`` gives ``("O", None)``.

    A tag with no BIOES prefix (IO schemes) counts as inside: ``"PER"`` -> ``("I", "PER")``.

    >>> split_tag("E-ORG"), split_tag("O"), split_tag("LOC")
    (('E', 'ORG'), ('O', None), ('I', 'LOC'))
    """
    if tag == "O" or not tag:
        return "O", None
    prefix, sep, kind = tag.partition("-")
    if sep and prefix in {"B", "I", "E", "S", "M"}:
        return ("I" if prefix == "M" else prefix), kind
    return "I", tag


def decode_tags(
    words: Sequence[WordPrediction], id2label: Mapping[int, str]
) -> list[SpanPrediction]:
    """Decode BIO, IOB1 or BIOES word tags into spans; span score = mean word score.

    An ``I-`` tag of a different type than the open span starts a new span, as
    the conlleval definition reads it.
    """
    spans: list[SpanPrediction] = []
    current: list[WordPrediction] = []
    current_kind: str | None = None

    def close() -> None:
        nonlocal current, current_kind
        if current and current_kind is not None:
            score = sum(word.score for word in current) / len(current)
            spans.append(SpanPrediction(current[0].word, current[-1].word, current_kind, score))
        current, current_kind = [], None

    for word in words:
        prefix, kind = split_tag(id2label[word.label_id])
        if kind is None:
            close()
            continue
        contiguous = bool(current) and current[-1].word == word.word - 1
        if prefix in {"B", "S"} or kind != current_kind or not contiguous:
            close()
        current.append(word)
        current_kind = kind
        if prefix in {"E", "S"}:
            close()
    close()
    return spans
