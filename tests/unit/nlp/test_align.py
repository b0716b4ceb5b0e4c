import numpy as np
import pytest

from kgbuild.nlp.align import (
    AggregationStrategy,
    TokenPrediction,
    WordPrediction,
    aggregate_words,
    constrained_label_ids,
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


def test_constrained_decoding_mends_a_broken_span() -> None:
    # argmax: B-PER then I-ORG (a broken span); the best valid sequence is B-PER I-PER:
    # .6 x .4 = .24 beats B-ORG I-ORG (.3 x .5 = .15) and B-PER O (.6 x .1 = .06)
    table = np.array([[0.1, 0.3, 0.0, 0.6, 0.0], [0.1, 0.0, 0.5, 0.0, 0.4]], dtype=np.float32)
    assert [int(i) for i in table.argmax(axis=1)] == [3, 2]
    assert constrained_label_ids(table, LABELS) == [3, 4]
    pieces = [tok(0, 0, 3, *table[0]), tok(1, 0, 3, *table[1])]
    words = aggregate_words(pieces, "first", LABELS)
    assert [(w.label_id, w.score) for w in words] == [
        (3, pytest.approx(0.6)),
        (4, pytest.approx(0.4)),
    ]
    assert [w.label_id for w in aggregate_words(pieces, "first")] == [3, 2]  # unconstrained
    assert [s.label for s in decode_tags(words, LABELS)] == ["PER"]


def test_constrained_decoding_never_starts_inside_an_entity() -> None:
    table = np.array([[0.05, 0.0, 0.0, 0.25, 0.7]], dtype=np.float32)  # I-PER first
    assert constrained_label_ids(table, LABELS) == [3]
    after_o = np.array([[0.9, 0, 0, 0.1, 0], [0.2, 0, 0, 0.1, 0.7]], dtype=np.float32)
    assert constrained_label_ids(after_o, LABELS) == [0, 0]  # O I-PER is invalid; O O .18 best
    assert constrained_label_ids(np.zeros((0, 5), dtype=np.float32), LABELS) == []


def test_bioes_must_close_and_io_tags_are_left_free() -> None:
    bioes = {0: "O", 1: "B-LOC", 2: "I-LOC", 3: "E-LOC", 4: "S-LOC"}
    # one word: B-LOC alone would leave the entity open at the end of the sentence
    assert constrained_label_ids(np.array([[0.1, 0.6, 0, 0, 0.3]], dtype=np.float32), bioes) == [4]
    # B-LOC then O is invalid in BIOES: B E (.5 x .3) beats S O (.4 x .3)
    table = np.array([[0.1, 0.5, 0, 0, 0.4], [0.3, 0.1, 0.2, 0.3, 0.1]], dtype=np.float32)
    assert constrained_label_ids(table, bioes) == [1, 3]
    io = {0: "O", 1: "PER", 2: "LOC"}
    table = np.array([[0.1, 0.2, 0.7], [0.1, 0.8, 0.1]], dtype=np.float32)
    assert constrained_label_ids(table, io) == [2, 1]
