"""Document windows for document-level relation extraction: marked token ids, per window.

A document (its text, its sentences and its entity mentions, each mention naming its
entity) becomes one or more windows of whole sentences that fit the encoder. In each
window every mention is wrapped in marker tokens (``*``, as ATLOP does, so no token is
added to the vocabulary) and the position of its opening marker is kept: an entity is
read from the encoder's states at the opening markers of its mentions.

A document that fits is one window. A longer one is read in windows of consecutive
sentences that overlap by a fraction of their length, so each token is read about
``1 / (1 - overlap)`` times and the cost grows linearly with the document. A sentence
longer than a window is cut into pieces at token boundaries (never dropped).

The same function encodes training documents (DocRED, tokens joined by spaces) and
pipeline documents (chunks and NER mentions with character offsets), so the model reads
at inference exactly what it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MARKER", "DocWindow", "MentionSpan", "encode_windows"]

MARKER = "*"
"""The token that opens and closes every mention (ATLOP's choice; already in BERT vocabularies)."""


@dataclass(frozen=True)
class MentionSpan:
    """A mention to mark: character span ``[start, end)`` in the text and its entity index."""

    start: int
    end: int
    entity: int


@dataclass(frozen=True)
class DocWindow:
    """One encoder input: token ids with ``[CLS]``/``[SEP]``, and where things are in it.

    ``entities`` are the document's entity indexes present in this window (sorted);
    ``entity_positions[i]`` holds the token positions of the opening markers of the
    mentions of ``entities[i]``. ``token_sentences`` gives each token's sentence index in
    the document (-1 for special tokens); ``sentences`` lists the document sentences the
    window holds, in order; ``mentions[i]`` lists the indexes (into the input mention
    list) of the mentions of ``entities[i]`` read in this window.
    """

    input_ids: tuple[int, ...]
    token_sentences: tuple[int, ...]
    sentences: tuple[int, ...]
    entities: tuple[int, ...]
    entity_positions: tuple[tuple[int, ...], ...]
    mentions: tuple[tuple[int, ...], ...]


@dataclass
class _Piece:
    """A sentence (or a cut of one) as marked token ids, with the mentions it opens."""

    sentence: int
    ids: list[int]
    opens: list[tuple[int, int]]  # (position in ids, mention index)


def _mark_sentence(
    sentence: int,
    ids: Sequence[int],
    offsets: Sequence[tuple[int, int]],
    mentions: Sequence[tuple[int, MentionSpan]],
    marker_id: int,
) -> _Piece:
    """Insert an opening marker before each mention's first token and a closing one after its last."""
    before: dict[int, list[int]] = {}
    after: dict[int, int] = {}
    for index, mention in mentions:
        inside = [
            i for i, (a, b) in enumerate(offsets) if a < mention.end and b > mention.start and b > a
        ]
        if not inside:
            continue
        before.setdefault(inside[0], []).append(index)
        after[inside[-1]] = after.get(inside[-1], 0) + 1
    out: list[int] = []
    opens: list[tuple[int, int]] = []
    for i, token in enumerate(ids):
        for index in before.get(i, ()):
            opens.append((len(out), index))
            out.append(marker_id)
        out.append(int(token))
        out.extend([marker_id] * after.get(i, 0))
    return _Piece(sentence, out, opens)


def _cut(piece: _Piece, budget: int) -> list[_Piece]:
    """Cut a piece longer than ``budget`` tokens into consecutive pieces that fit."""
    if len(piece.ids) <= budget:
        return [piece]
    pieces = []
    for start in range(0, len(piece.ids), budget):
        opens = [(p - start, m) for p, m in piece.opens if start <= p < start + budget]
        pieces.append(_Piece(piece.sentence, piece.ids[start : start + budget], opens))
    return pieces


def _window_ranges(lengths: Sequence[int], budget: int, overlap: float) -> list[tuple[int, int]]:
    """``[first, last)`` piece ranges of windows of at most ``budget`` tokens.

    Consecutive windows share about ``overlap`` of a window's tokens (at least one piece
    moves on each time, so the number of windows is linear in the document length).
    """
    ranges: list[tuple[int, int]] = []
    first = 0
    while first < len(lengths):
        last, used = first, 0
        while last < len(lengths) and used + lengths[last] <= budget:
            used += lengths[last]
            last += 1
        ranges.append((first, last))
        if last >= len(lengths):
            break
        keep = int(used * overlap)
        nxt, tail = last, 0
        while nxt - 1 > first and tail + lengths[nxt - 1] <= keep:
            nxt -= 1
            tail += lengths[nxt]
        first = nxt
    return ranges


def encode_windows(
    tokenizer: Any,
    text: str,
    sentences: Sequence[tuple[int, int]],
    mentions: Sequence[MentionSpan],
    *,
    max_length: int = 512,
    overlap: float = 0.25,
) -> list[DocWindow]:
    """Encode a document into marked windows of at most ``max_length`` tokens.

    Args:
        tokenizer: A fast tokenizer (offsets) whose vocabulary holds :data:`MARKER`.
        text: The document text.
        sentences: ``(start, end)`` character spans of its sentences, in order.
        mentions: The mentions to mark; a mention belongs to the sentence that holds its
            start (one that starts in no sentence, or covers no token, is not read).
        max_length: Window length in tokens, ``[CLS]`` and ``[SEP]`` included.
        overlap: Fraction of a window repeated at the start of the next one.

    Returns:
        list[DocWindow]: The windows, in document order (none for a document without
        sentences).

    Raises:
        ValueError: ``max_length`` leaves no room for a token, or ``overlap`` is not in
            ``[0, 0.9]``.
    """
    if not 0.0 <= overlap <= 0.9:
        raise ValueError(f"overlap {overlap} must be between 0 and 0.9")
    marker_id = tokenizer.convert_tokens_to_ids(MARKER)
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    budget = max_length - 2
    if budget < 8:
        raise ValueError(f"max_length {max_length} is too short for a window")
    if not sentences:
        return []
    encoded = tokenizer(
        [text[start:end] for start, end in sentences],
        add_special_tokens=False,
        return_offsets_mapping=True,
    )
    by_sentence: list[list[tuple[int, MentionSpan]]] = [[] for _ in sentences]
    starts = [start for start, _ in sentences]
    for index, mention in enumerate(mentions):
        k = _sentence_of(starts, sentences, mention.start)
        if k is not None:
            by_sentence[k].append((index, mention))
    pieces: list[_Piece] = []
    for k, (start, _end) in enumerate(sentences):
        local = [
            (index, MentionSpan(m.start - start, m.end - start, m.entity))
            for index, m in by_sentence[k]
        ]
        piece = _mark_sentence(
            k, encoded["input_ids"][k], encoded["offset_mapping"][k], local, marker_id
        )
        pieces.extend(_cut(piece, budget))
    windows = []
    for first, last in _window_ranges([len(p.ids) for p in pieces], budget, overlap):
        windows.append(_window(pieces[first:last], mentions, cls_id, sep_id))
    return windows


def _sentence_of(
    starts: Sequence[int], sentences: Sequence[tuple[int, int]], position: int
) -> int | None:
    from bisect import bisect_right

    k = bisect_right(starts, position) - 1
    if k < 0 or position >= sentences[k][1]:
        return None
    return k


def _window(
    pieces: Sequence[_Piece], mentions: Sequence[MentionSpan], cls_id: int, sep_id: int
) -> DocWindow:
    ids = [cls_id]
    token_sentences = [-1]
    positions: dict[int, list[int]] = {}
    read: dict[int, list[int]] = {}
    for piece in pieces:
        offset = len(ids)
        ids.extend(piece.ids)
        token_sentences.extend([piece.sentence] * len(piece.ids))
        for position, index in piece.opens:
            entity = mentions[index].entity
            positions.setdefault(entity, []).append(offset + position)
            read.setdefault(entity, []).append(index)
    ids.append(sep_id)
    token_sentences.append(-1)
    entities = tuple(sorted(positions))
    return DocWindow(
        input_ids=tuple(ids),
        token_sentences=tuple(token_sentences),
        sentences=tuple(dict.fromkeys(piece.sentence for piece in pieces)),
        entities=entities,
        entity_positions=tuple(tuple(positions[e]) for e in entities),
        mentions=tuple(tuple(read[e]) for e in entities),
    )
