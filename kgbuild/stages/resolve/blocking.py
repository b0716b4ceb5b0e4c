"""Blocking: the candidate key pairs that similarity scoring looks at, never all pairs."""

from __future__ import annotations

import numpy as np

from kgbuild.config import ResolveConfig
from kgbuild.stages.resolve.codes import IntArray, block_sizes, combine_codes, unique_codes
from kgbuild.stages.resolve.keys import Keys


def window_pairs(
    members: IntArray, block: IntArray, order: IntArray, max_block_size: int, window: int
) -> tuple[IntArray, IntArray]:
    """Sorted-neighbourhood pairs of ``members`` within equal ``block`` codes.

    Members are sorted by ``(block, order)``; a block of at most ``max_block_size``
    members yields all its pairs, a larger one each member with its next ``window``.
    ``O(M log M + P)`` for ``M`` members and ``P`` pairs, vectorised.
    """
    if len(members) < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    perm = np.lexsort((order, block))
    sorted_members = members[perm]
    sorted_block = block[perm]
    starts = np.flatnonzero(np.r_[True, sorted_block[1:] != sorted_block[:-1]])
    sizes = np.diff(np.r_[starts, len(sorted_block)])
    size_of = np.repeat(sizes, sizes)
    after = size_of - 1 - (np.arange(len(sorted_block)) - np.repeat(starts, sizes))
    reach = np.where(size_of <= max_block_size, after, np.minimum(after, window))
    left = np.repeat(np.arange(len(sorted_block)), reach)
    first_of = np.repeat(np.cumsum(reach) - reach, reach)
    right = left + (np.arange(len(left)) - first_of) + 1
    return sorted_members[left], sorted_members[right]


def candidate_pairs(keys: Keys, config: ResolveConfig) -> tuple[IntArray, IntArray]:
    """Deduplicated candidate key pairs ``(i, j)``, ``i < j``, from all blocking passes.

    Matches need the same label and token count, and every token similar, so a pair
    with one typo shares its first or its last token (or, for one-token names, its
    first or last two characters). Passes, all per ``(label, token count)``:

    * multi-token keys by first token, and by last token (sorted by name);
    * inside a first- or last-token block too large to compare all-pairs, also by
      the first two and the last two characters of the other tokens, so a typo
      early in a long surname still meets its original;
    * one-token keys by their first two and by their last two characters.

    The sub-blocks are each scanned twice, sorted by name and by reversed name, so
    that a typo near either end still leaves its original within the window.
    """
    size = len(keys.norms)
    rank = np.arange(size, dtype=np.int64)  # keys are sorted by (label, norm)
    reverse = sorted(range(size), key=lambda k: keys.norms[k][::-1])
    reverse_rank = np.empty(size, dtype=np.int64)
    reverse_rank[np.asarray(reverse, dtype=np.int64)] = rank

    pieces: dict[str, int] = {}

    def piece(text: str) -> int:
        return pieces.setdefault(text, len(pieces))

    def ends(texts: list[str]) -> tuple[IntArray, IntArray]:
        head = np.fromiter((piece(t[:2]) for t in texts), dtype=np.int64, count=len(texts))
        tail = np.fromiter((piece(t[-2:]) for t in texts), dtype=np.int64, count=len(texts))
        return head, tail

    group = combine_codes(keys.label_id, keys.n_tokens)
    multi = np.flatnonzero(keys.n_tokens >= 2)
    single = np.flatnonzero(keys.n_tokens == 1)
    passes: list[tuple[IntArray, IntArray, IntArray]] = []
    for anchor, cut in ((keys.first, 1), (keys.last, -1)):
        block = combine_codes(group[multi], anchor[multi])
        passes.append((multi, block, rank[multi]))
        big = block_sizes(block) > config.max_block_size
        members = multi[big]
        rests = [
            " ".join(keys.tokens[k][1:] if cut == 1 else keys.tokens[k][:-1])
            for k in members.tolist()
        ]
        for piece_code in ends(rests):
            sub_block = combine_codes(block[big], piece_code)
            passes.append((members, sub_block, rank[members]))
            passes.append((members, sub_block, reverse_rank[members]))
    for piece_code in ends([keys.norms[k] for k in single.tolist()]):
        block = combine_codes(group[single], piece_code)
        passes.append((single, block, rank[single]))
        passes.append((single, block, reverse_rank[single]))

    codes = []
    for members, block, order in passes:
        left, right = window_pairs(members, block, order, config.max_block_size, config.window)
        codes.append(np.minimum(left, right) * size + np.maximum(left, right))
    unique = unique_codes(np.concatenate(codes))
    return unique // size, unique % size
