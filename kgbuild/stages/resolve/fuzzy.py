"""Similar names: candidate pairs scored by rapidfuzz, typos told from other words."""

from __future__ import annotations

import re

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from kgbuild.config import ResolveConfig
from kgbuild.stages.resolve.blocking import candidate_pairs
from kgbuild.stages.resolve.codes import IntArray
from kgbuild.stages.resolve.keys import Keys
from kgbuild.stages.resolve.names import is_roman_numeral

_NON_DIGIT = re.compile(r"\D+")


def _affix(x: str, y: str) -> bool:
    """Tell whether one of two different words starts or ends the other ("korea", "korean").

    A doubled first or last letter ("hhibilin", "hibilin") is a typo, not an affix.
    """
    short, long = sorted((x, y), key=len)
    if long.startswith(short):
        return not (len(long) == len(short) + 1 and long[-1] == long[-2])
    if long.endswith(short):
        return not (len(long) == len(short) + 1 and long[0] == long[1])
    return False


_RANK_ENDINGS = ("oideae", "iformes", "oidea", "aceae", "ineae", "idae", "inae", "ales", "eae")
"""Latin endings of taxon ranks (family "-idae", subfamily "-inae", order "-ales"...)."""


def _rank_ending(word: str) -> str:
    """The taxon-rank ending of a word, or ""."""
    if not word.endswith(_RANK_ENDINGS):
        return ""
    return next(e for e in _RANK_ENDINGS if word.endswith(e))


def _other_word(x: str, y: str) -> bool:
    """Tell whether two different words are different words rather than a typo.

    They are when their first letters differ ("eastern", "western"), one starts or ends
    the other (:func:`_affix`), they end in different taxon-rank endings
    ("Oecophoridae", "Oecophorinae"), or either is a Roman numeral ("xii", "xiii").
    """
    return (
        x[:1] != y[:1]
        or _affix(x, y)
        or _rank_ending(x) != _rank_ending(y)
        or is_roman_numeral(x)
        or is_roman_numeral(y)
    )


def _one_token_typo(x: str, y: str) -> bool:
    """Tell whether two one-word names differ by one edit inside the word.

    Not other words (:func:`_other_word`) and Damerau (OSA) distance 1.
    """
    return not _other_word(x, y) and OSA.distance(x, y, score_cutoff=1) <= 1


_SWAP_FLOOR = 60.0
"""Lowest ``fuzz.ratio`` of two one-word names checked for a swap of two letters."""


def _adjacent_swap(x: str, y: str) -> bool:
    """Tell whether two one-word names differ by one swap of neighbouring letters.

    Five letters or more, not the first letter, same taxon-rank ending ("Cheginna",
    "Cheginan").
    """
    if len(x) != len(y) or len(x) < 5 or " " in x or " " in y:
        return False
    diff = [i for i, (p, q) in enumerate(zip(x, y, strict=True)) if p != q]
    return (
        len(diff) == 2
        and diff[0] > 0
        and diff[1] == diff[0] + 1
        and (x[diff[0]], x[diff[1]]) == (y[diff[1]], y[diff[0]])
        and _rank_ending(x) == _rank_ending(y)
    )


def _compatible(keys: Keys, a: int, b: int, config: ResolveConfig) -> bool:
    """Check a pair above the threshold token by token, and that digits agree.

    Same number of tokens, each pair of aligned tokens equal or at least
    ``token_threshold`` similar and not other words (:func:`_other_word`); for people,
    given names (all but the last token) must be equal unless ``fuzzy_given_names``.
    One-token names must be a typo of each other (:func:`_one_token_typo`).
    """
    tokens_a, tokens_b = keys.tokens[a], keys.tokens[b]
    if len(tokens_a) != len(tokens_b):
        return False
    if _NON_DIGIT.sub("", keys.norms[a]) != _NON_DIGIT.sub("", keys.norms[b]):
        return False
    if len(tokens_a) == 1:
        return config.one_token_typos and _one_token_typo(tokens_a[0], tokens_b[0])
    cutoff = config.token_threshold
    exact_given = bool(keys.is_person[a]) and not config.fuzzy_given_names
    return all(  # index 0 is the last token (a person's surname)
        x == y
        or ((i == 0 or not exact_given) and not _other_word(x, y) and fuzz.ratio(x, y) >= cutoff)
        for i, (x, y) in enumerate(zip(tokens_a[::-1], tokens_b[::-1], strict=True))
    )


def fuzzy_edges(
    keys: Keys, counts: IntArray, config: ResolveConfig
) -> list[tuple[int, int, float]]:
    """Fuzzy matches among candidate pairs, as graph edges with their score.

    Person names take part only with ``fuzzy_person_names``. A pair matches if it
    scores at least ``threshold`` and passes
    :func:`_compatible`, or (one-word names, ``one_token_typos``) is one swap of
    neighbouring letters apart (:func:`_adjacent_swap`, scored from ``_SWAP_FLOOR``);
    and it must pass the ``max_variant_share`` frequency guard. With ``best_match_only`` each key
    then keeps one edge: to its best match among the matches with at least as many
    mentions as itself (highest score, then most mentions, then smallest key id).
    ``O(P log P)`` for ``P`` candidate pairs, scored in C.
    """
    left, right = candidate_pairs(keys, config)
    if not config.fuzzy_person_names:  # people match by their rules only
        other = ~(keys.is_person[left] | keys.is_person[right])
        left, right = left[other], right[other]
    norms = np.asarray(keys.norms, dtype=object)
    one_token = keys.n_tokens == 1
    lengths = np.fromiter(map(len, keys.norms), dtype=np.int64, count=len(keys.norms))
    swaps = config.one_token_typos
    cutoff = min(config.threshold, _SWAP_FLOOR) if swaps else config.threshold
    found_left: list[int] = []
    found_right: list[int] = []
    found_score: list[float] = []
    for start in range(0, len(left), config.batch_size):
        a = left[start : start + config.batch_size]
        b = right[start : start + config.batch_size]
        scores = process.cpdist(
            norms[a],
            norms[b],
            scorer=fuzz.ratio,
            score_cutoff=cutoff,
            dtype=np.float64,
            workers=config.workers,
        )
        high = scores >= config.threshold
        low = np.zeros_like(high)
        if swaps:  # a swap keeps the length
            low = (scores >= cutoff) & ~high & one_token[a] & (lengths[a] == lengths[b])
        hits = np.flatnonzero(high | low)
        for i, j, score in zip(
            a[hits].tolist(), b[hits].tolist(), scores[hits].tolist(), strict=True
        ):
            if (
                _compatible(keys, i, j, config)
                if score >= config.threshold
                else _adjacent_swap(keys.norms[i], keys.norms[j])
            ):
                found_left.append(i)
                found_right.append(j)
                found_score.append(score)
    i = np.asarray(found_left, dtype=np.int64)
    j = np.asarray(found_right, dtype=np.int64)
    score = np.asarray(found_score, dtype=np.float64)
    rare = np.minimum(counts[i], counts[j])
    common = np.maximum(counts[i], counts[j])
    keep = rare <= np.maximum(1.0, config.max_variant_share * common)
    i, j, score = i[keep], j[keep], score[keep]
    if config.best_match_only and len(i):
        source, target, score = np.r_[i, j], np.r_[j, i], np.r_[score, score]
        upward = counts[target] >= counts[source]
        source, target, score = source[upward], target[upward], score[upward]
        order = np.lexsort((target, -counts[target], -score, source))
        first = order[np.r_[True, source[order][1:] != source[order][:-1]]]
        i, j, score = source[first], target[first], score[first]
    return list(zip(i.tolist(), j.tolist(), score.tolist(), strict=True))
