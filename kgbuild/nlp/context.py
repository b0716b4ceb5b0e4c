"""Sentence windows with document context: neighbours read, only the centre labelled.

A model trained with context (``kgbuild train ner --context``) reads each sentence with
the sub-tokens of the sentences before and after it in its document, up to the window
length; the centre sentence is never cut for context, the context is trimmed first
(half the room on each side, a side that needs less leaves the rest to the other).
Training and inference build windows with the same function, so they read alike.

At inference several consecutive sentences share one window (:func:`pack_sentences`):
the window labels them all and reads at least ``margin`` sub-tokens of context on each
side, so a document costs about ``window / (window - 2 * margin)`` times its length
rather than a full window per sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kgbuild.errors import ModelLoadError

__all__ = [
    "context_around",
    "context_room",
    "context_window",
    "pack_sentences",
    "special_token_ids",
]


def context_room(left: int, right: int, room: int) -> tuple[int, int]:
    """How many context sub-tokens to take from the left and from the right.

    Args:
        left: Sub-tokens available before the centre.
        right: Sub-tokens available after it.
        room: Sub-tokens the window has left beside the centre and special tokens.

    Returns:
        tuple[int, int]: Sub-tokens taken from each side (those nearest the centre).

    >>> context_room(100, 3, 10)
    (7, 3)
    """
    room = max(0, room)
    take_left = min(left, max(room // 2, room - right))
    take_right = min(right, room - take_left)
    return take_left, take_right


def context_window(
    pieces: Sequence[Sequence[int]], index: int, room: int
) -> tuple[list[int], list[int]]:
    """The context sub-tokens around sentence ``index`` of a document.

    Args:
        pieces: Each sentence's sub-token ids (no special tokens), in document order.
        index: The centre sentence.
        room: Sub-tokens available for context (window length minus special tokens
            minus the centre's length).

    Returns:
        tuple[list[int], list[int]]: Context before and after the centre, nearest
        sub-tokens kept.
    """
    return context_around(pieces, index, index + 1, room)


def context_around(
    pieces: Sequence[Sequence[int]], first: int, stop: int, room: int
) -> tuple[list[int], list[int]]:
    """The context sub-tokens around sentences ``first:stop`` of a document.

    As :func:`context_window`, for a centre of several consecutive sentences.

    >>> context_around([[1, 2], [3], [4], [5, 6]], 1, 3, 3)
    ([2], [5, 6])
    """
    before: list[int] = []
    for sentence in reversed(pieces[:first]):
        if len(before) >= room:
            break
        before[:0] = sentence
    after: list[int] = []
    for sentence in pieces[stop:]:
        if len(after) >= room:
            break
        after.extend(sentence)
    take_left, take_right = context_room(len(before), len(after), room)
    return before[len(before) - take_left :], after[:take_right]


def pack_sentences(lengths: Sequence[int], room: int, margin: int) -> list[range]:
    """Consecutive sentences grouped to be labelled together in one window.

    A group's sentences total at most ``room - 2 * margin`` sub-tokens, so each window
    keeps at least ``margin`` for context on both sides; a sentence longer than that
    is a group of its own (it reads less context, as :func:`context_window` gives it),
    and one longer than ``room`` too (the caller reads it alone, in overlapping windows).

    Args:
        lengths: Each sentence's sub-token count, in document order.
        room: Sub-tokens a window holds besides its special tokens.
        margin: Sub-tokens of context kept free on each side; ``room // 2`` or more
            labels one sentence per window.

    Returns:
        list[range]: The groups, in document order, covering every sentence once.

    >>> pack_sentences([3, 4, 20, 2, 2, 2], room=16, margin=2)
    [range(0, 2), range(2, 3), range(3, 6)]
    """
    budget = room - 2 * margin
    groups: list[range] = []
    first = 0
    while first < len(lengths):
        stop, total = first + 1, lengths[first]
        while lengths[first] <= room and stop < len(lengths) and total + lengths[stop] <= budget:
            total += lengths[stop]
            stop += 1
        groups.append(range(first, stop))
        first = stop
    return groups


def special_token_ids(tokenizer: Any) -> tuple[int, int]:
    """The ids that open and close a window (``[CLS]``/``[SEP]`` or ``<s>``/``</s>``).

    Raises:
        ModelLoadError: The tokenizer has neither pair.
    """
    first = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    last = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    if first is None or last is None:
        raise ModelLoadError("the tokenizer has no [CLS]/[SEP] (or <s>/</s>) tokens")
    return int(first), int(last)
