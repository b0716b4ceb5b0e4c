"""The batch decoder (kgbuild.nlp.batch_align) against straightforward per-sentence references.

The references are the per-sentence rules written as plain loops: the window merge and
span decoding of kgbuild.nlp.align, the Viterbi loop over one sentence as the NER stage
ran it before decoding was batched, and that stage's per-chunk post-processing.
Results must be identical (scores exactly equal), on random inputs and on real outputs
of the shipped model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from kgbuild.config import NerConfig, Settings
from kgbuild.data import Chunk, Mention, Span
from kgbuild.models import MODELS_DIR
from kgbuild.nlp.align import (
    AggregationStrategy,
    SpanPrediction,
    TokenPrediction,
    WordPrediction,
    _transition_scores,
    batched_label_ids,
    constrained_label_ids,
    decode_tags,
    merge_windows,
)
from kgbuild.nlp.batch_align import Pieces, decode_pieces, window_centrality
from kgbuild.nlp.words import whole_word_spans
from kgbuild.stages.chunking import chunk_document
from kgbuild.stages.ingest import read_documents
from kgbuild.stages.ner import NerStage, _line_pieces
from tests.conftest import SharedData

REPO = Path(__file__).resolve().parents[3]

BIO = {0: "O", 1: "B-LOC", 2: "I-LOC", 3: "B-MISC", 4: "I-MISC", 5: "B-ORG", 6: "I-ORG"}
BIOES = {0: "O", 1: "B-LOC", 2: "I-LOC", 3: "E-LOC", 4: "S-LOC", 5: "B-PER", 6: "E-PER"}
IO = {0: "O", 1: "PER", 2: "LOC", 3: "ORG"}
TAG_SETS = [BIO, BIOES, IO]


# -- references -------------------------------------------------------------------------------


def reference_viterbi(probs: np.ndarray, id2label: Mapping[int, str]) -> list[int]:
    """One sentence, one word at a time (the stage's decoder before it was batched)."""
    if len(probs) == 0:
        return []
    start, transition, end = _transition_scores(tuple(id2label[i] for i in range(len(id2label))))
    log_probs = np.log(np.clip(probs, 1e-12, None))
    score = start + log_probs[0]
    back = []
    for row in log_probs[1:]:
        candidates = score[:, None] + transition
        back.append(candidates.argmax(axis=0))
        score = candidates.max(axis=0) + row
    best = [int((score + end).argmax())]
    for pointers in reversed(back):
        best.append(int(pointers[best[-1]]))
    return best[::-1]


def reference_words(
    tokens: Sequence[TokenPrediction],
    strategy: str,
    id2label: Mapping[int, str],
    constrained: bool,
) -> list[WordPrediction]:
    """Pieces (text order) -> one prediction per word, word by word."""
    groups: dict[int, list[np.ndarray]] = {}
    for token in tokens:
        groups.setdefault(token.word, []).append(token.probs)
    words, rows = list(groups), []
    for word in words:
        pieces = np.stack(groups[word])
        if strategy == "first":
            rows.append(pieces[0])
        elif strategy == "average":
            rows.append(pieces.mean(axis=0))
        else:
            rows.append(pieces[int(pieces.max(axis=1).argmax())])
    if not rows:
        return []
    table = np.stack(rows)
    if constrained:
        label_ids = reference_viterbi(table, id2label)
    else:
        label_ids = [int(i) for i in table.argmax(axis=1)]
    return [
        WordPrediction(word=w, label_id=i, score=float(p[i]))
        for w, i, p in zip(words, label_ids, rows, strict=True)
    ]


def reference_spans(
    windows: Sequence[Sequence[TokenPrediction]],
    strategy: str,
    id2label: Mapping[int, str],
    constrained: bool,
) -> list[SpanPrediction]:
    tokens = merge_windows(windows)
    return decode_tags(reference_words(tokens, strategy, id2label, constrained), id2label)


# -- random batches ---------------------------------------------------------------------------


def random_sequence(
    rng: np.random.Generator, labels: int, sequence: int, first_window: int
) -> tuple[list[list[TokenPrediction]], list[tuple[int, ...]]]:
    """Overlapping windows over one sentence's pieces, each window with its own probabilities.

    Some words have no piece (as a word the tokenizer drops), some windows repeat a piece.
    """
    pieces: list[tuple[int, int, int]] = []
    for word in range(int(rng.integers(0, 14))):
        if rng.random() < 0.1:
            continue
        start = 0
        for _ in range(int(rng.integers(1, 5))):
            end = start + int(rng.integers(1, 4))
            pieces.append((word, start, end))
            start = end
    length = int(rng.integers(2, 9))
    step = max(1, length - int(rng.integers(0, length)))
    windows: list[list[TokenPrediction]] = []
    rows: list[tuple[int, ...]] = []
    for begin in range(0, max(1, len(pieces)), step):
        chosen = pieces[begin : begin + length]
        if chosen and rng.random() < 0.1:
            chosen = [*chosen, chosen[-1]]  # a repeated piece: the merge keeps one of them
        probs = rng.dirichlet(np.full(labels, 0.4), size=len(chosen)).astype(np.float32)
        if rng.random() < 0.2:
            probs = np.round(probs, 1).astype(np.float32)  # ties everywhere
        window = [
            TokenPrediction(word=w, start=s, end=e, probs=p)
            for (w, s, e), p in zip(chosen, probs, strict=True)
        ]
        windows.append(window)
        rows += [(sequence, first_window + len(windows) - 1, w, s, e) for w, s, e in chosen]
        if begin + length >= len(pieces):
            break
    return windows, rows


def to_pieces(windows: Sequence[Sequence[TokenPrediction]], rows: list[tuple[int, ...]]) -> Pieces:
    table = np.array(rows, dtype=np.intp).reshape(-1, 5)
    probs = [token.probs for window in windows for token in window]
    return Pieces(
        sequence=table[:, 0],
        window=table[:, 1],
        word=table[:, 2],
        start=table[:, 3],
        end=table[:, 4],
        probs=np.stack(probs) if probs else np.zeros((0, 1), dtype=np.float32),
    )


@pytest.mark.parametrize("strategy", ["first", "average", "max"])
@pytest.mark.parametrize("constrained", [True, False])
def test_batch_decoding_equals_the_per_sentence_reference(strategy: str, constrained: bool) -> None:
    rng = np.random.default_rng(17)
    for trial in range(60):
        id2label = TAG_SETS[trial % len(TAG_SETS)]
        windows: list[list[TokenPrediction]] = []
        rows: list[tuple[int, ...]] = []
        expected: list[tuple[int, int, int, str, float]] = []
        for sequence in range(int(rng.integers(1, 12))):
            own, own_rows = random_sequence(rng, len(id2label), sequence, len(windows))
            windows += own
            rows += own_rows
            expected += [
                (sequence, s.first_word, s.last_word, s.label, s.score)
                for s in reference_spans(own, strategy, id2label, constrained)
            ]
        spans = decode_pieces(to_pieces(windows, rows), strategy, id2label, constrained=constrained)
        found = list(
            zip(
                spans.sequence.tolist(),
                spans.first_word.tolist(),
                spans.last_word.tolist(),
                spans.label,
                spans.score,
                strict=True,
            )
        )
        assert found == expected, f"trial {trial}"


def test_batched_viterbi_equals_the_one_sentence_loop() -> None:
    rng = np.random.default_rng(3)
    for trial in range(200):
        id2label = TAG_SETS[trial % len(TAG_SETS)]
        lengths = rng.integers(0, 25, size=int(rng.integers(1, 30))).astype(np.intp)
        probs = rng.dirichlet(np.full(len(id2label), 0.3), size=int(lengths.sum()))
        probs = probs.astype(np.float32)
        if trial % 4 == 0:
            probs = np.round(probs, 1).astype(np.float32)
        expected: list[int] = []
        for first, length in zip(np.cumsum(lengths) - lengths, lengths, strict=True):
            expected += reference_viterbi(probs[first : first + length], id2label)
        assert batched_label_ids(probs, lengths, id2label).tolist() == expected
        assert constrained_label_ids(probs[: lengths[0]], id2label) == expected[: lengths[0]]
    argmax = batched_label_ids(probs, lengths, None)
    assert argmax.tolist() == probs.argmax(axis=1).tolist()


def test_sentences_decoded_together_or_alone_give_the_same_spans() -> None:
    # sentence 0: B-ORG I-ORG; sentence 1 opens on I-ORG, which constrained decoding
    # reads as B-ORG, then B-LOC (its word 1 has two pieces: the first one votes)
    one = [[0.1, 0, 0, 0, 0, 0.8, 0.1], [0.1, 0, 0, 0, 0, 0.1, 0.8]]
    two = [[0.2, 0, 0, 0, 0, 0.3, 0.5], [0.1, 0.6, 0.3, 0, 0, 0, 0], [0.1, 0.2, 0.7, 0, 0, 0, 0]]
    probs = np.array(one + two, dtype=np.float32)
    pieces = Pieces(
        sequence=np.array([0, 0, 1, 1, 1]),
        window=np.array([0, 0, 1, 1, 1]),
        word=np.array([0, 1, 0, 1, 1]),
        start=np.array([0, 0, 0, 0, 3]),
        end=np.array([4, 8, 5, 3, 6]),
        probs=probs,
    )
    spans = decode_pieces(pieces, "first", BIO, constrained=True)
    assert list(
        zip(spans.sequence.tolist(), spans.first_word.tolist(), spans.label, strict=True)
    ) == [
        (0, 0, "ORG"),
        (1, 0, "ORG"),
        (1, 1, "LOC"),
    ]
    assert spans.last_word.tolist() == [1, 0, 1]
    assert spans.score == pytest.approx([0.8, 0.3, 0.6])
    second = slice(2, None)
    alone = decode_pieces(
        Pieces(
            *(
                getattr(pieces, f)[second]
                for f in ("sequence", "window", "word", "start", "end", "probs")
            )
        ),
        "first",
        BIO,
        constrained=True,
    )
    assert alone.label == spans.label[1:] and alone.score == spans.score[1:]


def test_centrality_counts_from_each_windows_nearer_edge() -> None:
    assert window_centrality(np.array([0, 0, 0, 0, 0, 1, 1, 2])).tolist() == [
        0, 1, 2, 1, 0, 0, 0, 0,
    ]  # fmt: skip


def test_an_empty_batch_has_no_spans() -> None:
    empty = np.zeros(0, dtype=np.intp)
    pieces = Pieces(empty, empty, empty, empty, empty, np.zeros((0, 7), dtype=np.float32))
    spans = decode_pieces(pieces, AggregationStrategy.FIRST, BIO, constrained=True)
    assert spans.label == [] and spans.score == [] and len(spans.first_word) == 0


# -- the shipped model ------------------------------------------------------------------------


def reference_mentions(
    stage: NerStage, chunks: Sequence[Chunk], langs: dict[str, str]
) -> list[Mention]:
    """The stage's post-processing as it ran before batching: per chunk, per word."""
    from kgbuild.nlp.words import word_spans

    words = [word_spans(chunk.text, langs.get(chunk.doc_id, "en")) for chunk in chunks]
    windows = stage._windows(chunks, words)
    probs = stage._forward(windows)
    per_chunk: dict[int, list[list[TokenPrediction]]] = {}
    for index in range(len(windows.lengths)):
        begin, end = windows.bounds[index], windows.bounds[index + 1]
        labelled = windows.token_chunk[begin:end]
        chunk_index = int(labelled[labelled >= 0][0])  # a plain model's window reads one chunk
        per_chunk.setdefault(chunk_index, []).append(
            [
                TokenPrediction(word=int(w), start=int(o[0]), end=int(o[1]), probs=p)
                for w, o, p in zip(
                    windows.word_ids[begin:end],
                    windows.offsets[begin:end],
                    probs[begin:end],
                    strict=True,
                )
                if w >= 0
            ]
        )
    config, id2label = stage.config, stage.loaded.id2label
    checked = stage._checked_documents(chunks, langs)
    mentions = []
    for chunk_index in sorted(per_chunk):
        spans = reference_spans(
            per_chunk[chunk_index], config.aggregation, id2label, config.decoding == "constrained"
        )
        chunk, chunk_words = chunks[chunk_index], words[chunk_index]
        found = [
            (chunk_words[first][0], chunk_words[last][1], span.label, span.score)
            for span in spans
            if span.score >= config.threshold
            for first, last in _line_pieces(
                chunk.text, chunk_words, span.first_word, span.last_word
            )
        ]
        if config.whole_words:
            found = whole_word_spans(chunk.text, found)
        if chunk.doc_id in checked:  # the name checks are the stage's own (not compared here)
            found = stage._checked(chunk.text, found, cased=checked[chunk.doc_id])
        mentions.extend(stage._mention(chunk, *span) for span in found)
    return mentions


def example_chunks() -> tuple[list[Chunk], dict[str, str]]:
    settings = Settings()
    documents = read_documents([REPO / "examples" / "corpus"], settings.ingest).documents
    chunks = [c for doc in documents for c in chunk_document(doc, settings.chunking)]
    return chunks, {doc.id: doc.lang for doc in documents}


def conll_chunks(path: Path, limit: int) -> list[Chunk]:
    from kgbuild.readers.conll import read_conll

    texts = [" ".join(s.tokens) for s in read_conll(path)[:limit]]
    return [
        Chunk(id=f"c{i}", doc_id=f"d{i}", index=0, span=Span(start=0, end=len(t)), text=t)
        for i, t in enumerate(texts)
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "settings",
    [{}, {"aggregation": "average", "precision": "fp32"}, {"decoding": "argmax", "max_length": 16}],
    ids=["default", "average-fp32", "argmax-small-windows"],
)
def test_shipped_model_gives_the_reference_mentions_on_the_example_corpus(
    settings: dict[str, object],
) -> None:
    # the reference reads one chunk per window: the sentence-at-a-time model (the default
    # reads several sentences per window, as context)
    plain = str(MODELS_DIR / "ner-en-minilm")
    stage = NerStage(NerConfig(model=plain, **settings), run_id="r")  # type: ignore[arg-type]
    assert not stage.context
    chunks, langs = example_chunks()
    expected = reference_mentions(stage, chunks, langs)
    assert len(expected) > 500
    assert stage(chunks, langs) == expected


@pytest.mark.slow
def test_shipped_model_gives_the_reference_mentions_on_conll_dev(shared_data: SharedData) -> None:
    stage = NerStage(NerConfig(), run_id="r")
    chunks = conll_chunks(shared_data("ner/conll2003/valid.txt"), 1000)
    expected = reference_mentions(stage, chunks, {})
    assert len(expected) > 1000
    assert stage(chunks, {}) == expected
