"""Questions too long for an extractive reader's window (question + context, with stride).

A question + context pair longer than ``max_length`` sub-tokens is read in windows that
repeat ``stride`` context sub-tokens, the question in every one; a question that leaves no
more than ``stride`` sub-tokens for its context cannot be read so (the fast tokenizer stops
the process with a panic, not an exception). Such a question is never cut: the caller
reports it and leaves it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["question_limit", "too_long_questions"]


def question_limit(tokenizer: Any, max_length: int, stride: int) -> int:
    """The most sub-tokens a question may have to be read with any context."""
    specials = int(tokenizer.num_special_tokens_to_add(pair=True))
    return max_length - specials - stride - 1


def too_long_questions(
    tokenizer: Any,
    questions: Sequence[str],
    contexts: Sequence[str],
    max_length: int,
    stride: int,
) -> dict[int, int]:
    """Index -> sub-token count of each question too long to be read with its context.

    That is a question longer than :func:`question_limit` whose pair does not fit one
    window whole. No sub-token covers less than half a UTF-8 byte of text, so a question
    of at most ``limit // 2`` bytes fits without being tokenized: only longer ones (none,
    as a rule) are tokenized here, with their contexts.
    """
    limit = question_limit(tokenizer, max_length, stride)
    maybe = [i for i, q in enumerate(questions) if 2 * len(q.encode("utf-8")) > limit]
    if not maybe:
        return {}
    counted = tokenizer([questions[i] for i in maybe], add_special_tokens=False, verbose=False)[
        "input_ids"
    ]
    long = {i: len(ids) for i, ids in zip(maybe, counted, strict=True) if len(ids) > limit}
    if not long:
        return {}
    pairs = tokenizer([questions[i] for i in long], [contexts[i] for i in long], verbose=False)[
        "input_ids"
    ]
    return {i: n for (i, n), ids in zip(long.items(), pairs, strict=True) if len(ids) > max_length}
