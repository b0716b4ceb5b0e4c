"""Word-piece probabilities of a whole batch of windows to labelled word spans, vectorised.

The batch form of :mod:`kgbuild.nlp.align`, with the same rules and the same results:
the pieces of every window of every sequence sit in flat numpy arrays, so the window
merge, the aggregation of pieces into words, the tag decoding (constrained Viterbi or
argmax) and the span decoding are a few array operations over the whole batch, not
Python loops per sentence and per word.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from kgbuild.nlp.align import (
    AggregationStrategy,
    FloatArray,
    IntArray,
    batched_label_ids,
    split_tag,
)

__all__ = ["BatchSpans", "Pieces", "decode_pieces", "merge_pieces", "window_centrality"]

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Pieces:
    """The word pieces of a batch of windows, window after window (flat arrays, one row each).

    ``sequence`` is the sequence (sentence) a piece belongs to, ``window`` its window
    (a window's pieces are consecutive, windows in increasing order), ``word`` its word
    in the sequence, ``start``/``end`` its offsets within that word, ``probs`` its label
    distribution.
    """

    sequence: IntArray
    window: IntArray
    word: IntArray
    start: IntArray
    end: IntArray
    probs: FloatArray


@dataclass(frozen=True)
class BatchSpans:
    """Decoded entities: span ``i`` covers words ``first_word[i]..last_word[i]`` of ``sequence[i]``.

    Spans are in sequence order, then text order; ``score`` is the mean word score.
    """

    sequence: IntArray
    first_word: IntArray
    last_word: IntArray
    label: list[str]
    score: list[float]


def _run_starts(*keys: IntArray) -> IntArray:
    """Indexes where a run of equal consecutive ``keys`` tuples begins."""
    size = len(keys[0])
    changed = np.zeros(size, dtype=bool)
    if size:
        changed[0] = True
        for key in keys:
            changed[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(changed)


def window_centrality(window: IntArray) -> IntArray:
    """How far each piece lies from its window's nearer edge, in pieces."""
    starts = _run_starts(window)
    counts = np.diff(np.append(starts, len(window)))
    position = np.arange(len(window)) - np.repeat(starts, counts)
    return np.minimum(position, np.repeat(counts - 1, counts) - position)


def merge_pieces(pieces: Pieces) -> IntArray:
    """Indexes of the pieces kept from overlapping windows, in text order.

    As :func:`kgbuild.nlp.align.merge_windows`: a piece (``sequence, word, start,
    end``) seen in several windows keeps the window where it is most central, the
    earliest such window on a tie.
    """
    earliest = np.arange(len(pieces.word))
    order = np.lexsort(
        (
            earliest,
            -window_centrality(pieces.window),
            pieces.end,
            pieces.start,
            pieces.word,
            pieces.sequence,
        )
    )
    keys = (pieces.sequence[order], pieces.word[order], pieces.start[order], pieces.end[order])
    return order[_run_starts(*keys)]


def _word_probs(probs: FloatArray, starts: IntArray, strategy: AggregationStrategy) -> FloatArray:
    """One distribution per word from its pieces (``starts``: each word's first piece)."""
    if strategy is AggregationStrategy.FIRST:
        return probs[starts]
    counts = np.diff(np.append(starts, len(probs)))
    if strategy is AggregationStrategy.AVERAGE:
        sums = probs[starts]
        for rank in range(1, int(counts.max())):  # piece by piece, in the order np.mean adds
            longer = counts > rank
            sums[longer] += probs[starts[longer] + rank]
        return np.asarray(sums / counts[:, None].astype(probs.dtype), dtype=probs.dtype)
    word_of_piece = np.repeat(np.arange(len(starts)), counts)
    confident = np.lexsort((np.arange(len(probs)), -probs.max(axis=1), word_of_piece))
    return probs[confident[starts]]  # each word's pieces stay together, most confident first


@lru_cache(maxsize=64)
def _tag_table(labels: tuple[str, ...]) -> tuple[IntArray, BoolArray, BoolArray, tuple[str, ...]]:
    """Per label id: entity kind code (-1 for O), opens a span (B/S), closes it (E/S); kinds."""
    tags = [split_tag(label) for label in labels]
    kinds = tuple(sorted({kind for _, kind in tags if kind is not None}))
    kind_code = np.array([-1 if k is None else kinds.index(k) for _, k in tags], dtype=np.intp)
    opens = np.array([prefix in {"B", "S"} for prefix, _ in tags], dtype=bool)
    closes = np.array([prefix in {"E", "S"} for prefix, _ in tags], dtype=bool)
    return kind_code, opens, closes, kinds


def _decode_spans(
    sequence: IntArray,
    word: IntArray,
    label_ids: IntArray,
    scores: list[float],
    id2label: Mapping[int, str],
) -> BatchSpans:
    """Spans from word tags, as :func:`kgbuild.nlp.align.decode_tags` reads them."""
    kind_code, opens, closes, kinds = _tag_table(tuple(id2label[i] for i in range(len(id2label))))
    kind = kind_code[label_ids]
    entity = kind >= 0
    # A word continues the previous word's span when both are in the same sequence, the
    # previous one is an entity word that did not close, and this one is of the same kind,
    # does not open a span itself and directly follows it.
    continues = entity.copy()
    continues[0:1] = False
    continues[1:] &= (
        entity[:-1]
        & (sequence[1:] == sequence[:-1])
        & ~closes[label_ids[:-1]]
        & ~opens[label_ids[1:]]
        & (kind[1:] == kind[:-1])
        & (word[1:] == word[:-1] + 1)
    )
    firsts = np.flatnonzero(entity & ~continues)
    lasts = np.flatnonzero(entity & ~np.append(continues[1:], False))
    return BatchSpans(
        sequence=sequence[firsts],
        first_word=word[firsts],
        last_word=word[lasts],
        label=[kinds[k] for k in kind[firsts].tolist()],
        score=[
            sum(scores[first : last + 1]) / (last + 1 - first)
            for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True)
        ],
    )


def decode_pieces(
    pieces: Pieces,
    strategy: AggregationStrategy | str,
    id2label: Mapping[int, str],
    *,
    constrained: bool,
) -> BatchSpans:
    """Entity spans of every sequence of a batch from its windows' word pieces.

    The batch form of ``merge_windows`` -> ``aggregate_words`` -> ``decode_tags``
    (:mod:`kgbuild.nlp.align`), with the same results.

    Args:
        pieces: The pieces of every window (special tokens left out).
        strategy: How a word's pieces vote (:class:`AggregationStrategy`).
        id2label: Label of each probability column.
        constrained: Decode the best valid BIO/BIOES sequence (else each word's argmax).

    Returns:
        BatchSpans: The spans, in sequence then text order.
    """
    if len(pieces.word) == 0:
        return BatchSpans(np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, np.intp), [], [])
    kept = merge_pieces(pieces)
    sequence, word = pieces.sequence[kept], pieces.word[kept]
    starts = _run_starts(sequence, word)
    probs = _word_probs(pieces.probs[kept], starts, AggregationStrategy(strategy))
    sequence, word = sequence[starts], word[starts]
    lengths = np.diff(np.append(_run_starts(sequence), len(sequence)))
    label_ids = batched_label_ids(probs, lengths, id2label if constrained else None)
    scores = probs[np.arange(len(probs)), label_ids].tolist()
    return _decode_spans(sequence, word, label_ids, scores, id2label)
