import numpy as np
import pytest

from kgbuild.nlp.align import (
    AggregationStrategy,
    TokenPrediction,
    WordPrediction,
    aggregate_words,
    decode_tags,
    merge_windows,
)

LABELS = {0: "O", 1: "B-ORG", 2: "I-ORG", 3: "B-PER", 4: "I-PER"}


def probs(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def tok(word: int, start: int, end: int, *p: float) -> TokenPrediction:
    return TokenPrediction(word=word, start=start, end=end, probs=probs(*p))


def test_first_average_max_strategies_differ_as_defined() -> None:
    # one word, three pieces: first says ORG weakly, the others say PER strongly
    pieces = [
        tok(0, 0, 2, 0.1, 0.5, 0.0, 0.4, 0.0),
        tok(0, 2, 4, 0.1, 0.0, 0.0, 0.9, 0.0),
        tok(0, 4, 6, 0.0, 0.05, 0.0, 0.95, 0.0),
    ]
    first = aggregate_words(pieces, AggregationStrategy.FIRST)
    average = aggregate_words(pieces, "average")
    maximum = aggregate_words(pieces, "max")
    assert (first[0].label_id, first[0].score) == (1, pytest.approx(0.5))
    assert average[0].label_id == 3
    assert average[0].score == pytest.approx((0.4 + 0.9 + 0.95) / 3)
    assert (maximum[0].label_id, maximum[0].score) == (3, pytest.approx(0.95))


def test_merge_prefers_the_window_where_a_piece_is_most_central() -> None:
    # window A covers words 0..3, window B covers words 2..5; word 3 is central in B only
    a = [tok(w, 0, 1, 1, 0, 0, 0, 0) for w in range(4)]
    b = [tok(w, 0, 1, 0, 1, 0, 0, 0) for w in range(2, 6)]
    merged = merge_windows([a, b])
    assert [t.word for t in merged] == [0, 1, 2, 3, 4, 5]
    labels = [int(t.probs.argmax()) for t in merged]
    # word 2: position 2 of 4 in A (centrality 1), position 0 in B (0) -> A
    # word 3: position 3 in A (0), position 1 in B (1) -> B
    assert labels == [0, 0, 0, 1, 1, 1]


def test_decode_bio_bioes_and_type_changes() -> None:
    def words(*ids: int) -> list[WordPrediction]:
        return [
            WordPrediction(word=i, label_id=label, score=0.5 + i / 100)
            for i, label in enumerate(ids)
        ]

    spans = decode_tags(words(1, 2, 0, 3, 4, 2, 0, 2), LABELS)
    assert [(s.first_word, s.last_word, s.label) for s in spans] == [
        (0, 1, "ORG"),
        (3, 4, "PER"),
        (5, 5, "ORG"),
        (7, 7, "ORG"),
    ]
    assert spans[0].score == pytest.approx((0.5 + 0.51) / 2)
    bioes = {0: "O", 1: "S-LOC", 2: "B-LOC", 3: "E-LOC", 4: "I-LOC"}
    spans = decode_tags(words(1, 1, 2, 4, 3, 0), bioes)
    assert [(s.first_word, s.last_word) for s in spans] == [(0, 0), (1, 1), (2, 4)]
