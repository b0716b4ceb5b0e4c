"""Rules that join keys across the corpus (besides similar names and acronyms).

Word order, nationality adjectives, people's shorter names, organisations' short forms
and a multi-word name's dominant label.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from kgbuild.config import ResolveConfig
from kgbuild.stages.resolve.codes import IntArray, combine_codes
from kgbuild.stages.resolve.keys import Keys
from kgbuild.stages.resolve.names import (
    MAY_WRITE_NUMBER,
    NameRules,
    is_regnal_number,
    numeral_value,
)


def _ordered(token: str) -> bool:
    """Tell whether a token's place in a name is part of what it says: a number or a letter."""
    return len(token) == 1 or token.isdigit()


def token_order_edges(keys: Keys) -> list[tuple[int, int]]:
    """Chain together keys of one label made of the same multiset of tokens.

    Numbers and single letters must keep their order ("19 October 2008" and "October 19,
    2008" join; a score of "1-3" and one of "3-1", "M.S." and "S.M." do not). Two-token
    keys (most of them) are grouped with numpy on their sorted token codes; longer ones
    with a dictionary. ``O(K log K)``.
    """
    two = np.flatnonzero(keys.n_tokens == 2)
    both_ordered = np.fromiter(
        (_ordered(keys.tokens[k][0]) and _ordered(keys.tokens[k][1]) for k in two.tolist()),
        dtype=np.bool_,
        count=len(two),
    )
    two = two[~both_ordered]
    low = np.minimum(keys.first[two], keys.last[two])
    high = np.maximum(keys.first[two], keys.last[two])
    code = combine_codes(keys.label_id[two], low, high)
    order = np.lexsort((two, code))
    same = np.flatnonzero(code[order][1:] == code[order][:-1])
    edges = list(zip(two[order][same].tolist(), two[order][same + 1].tolist(), strict=True))
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for k in np.flatnonzero(keys.n_tokens >= 3).tolist():
        tokens = keys.tokens[k]
        ordered = " ".join(t for t in tokens if _ordered(t))
        groups[keys.labels[k], " ".join(sorted(tokens)), ordered].append(k)
    edges.extend((g[i], g[i + 1]) for g in groups.values() for i in range(len(g) - 1))
    return edges


_UNSPACED = re.compile(r"[\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
"""Chinese characters and kana: scripts written without spaces between words."""


_LETTER_RUN = re.compile(r"\b[^\W\d_](?: [^\W\d_]\b)+")
"""Two or more one-letter words in a row: initials written with dots ("j p" of "J.P.")."""


def _together(tokens: list[str], person: bool) -> str | None:
    """A key's letters with the separators that vary taken out, or ``None``."""
    if tokens and all(_UNSPACED.fullmatch(t) for t in tokens):
        return "".join(tokens)
    if person:  # a person's initials are words of their own: the person rules read them
        return None
    return _LETTER_RUN.sub(lambda run: run.group().replace(" ", ""), " ".join(tokens))


def written_together_edges(keys: Keys) -> list[tuple[int, int]]:
    """Chain together keys of one label that differ only in separators a name may drop.

    A foreign name in Chinese is written with a middle dot or without ("迈克尔·乔丹",
    "迈克尔乔丹"), a Japanese name with a space or without: the same characters, one name.
    Initials inside a name are written with dots or without ("J.P. Morgan", "JP Morgan";
    "U.S. Steel", "US Steel"), except in people's names. The tokens are kept (a bare "乔丹"
    still joins "迈克尔·乔丹" in its document). ``O(K)``.
    """
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for k, tokens in enumerate(keys.tokens):
        if (joined := _together(tokens, bool(keys.is_person[k]))) is not None:
            groups[keys.labels[k], joined].append(k)
    return [(g[i], g[i + 1]) for g in groups.values() for i in range(len(g) - 1)]


def numeral_edges(keys: Keys) -> list[tuple[int, int]]:
    """Chain together keys of one label that write the same numbers in other forms.

    Numbers read as digits (:func:`~kgbuild.stages.resolve.names.numeral_value`), then
    keys join as in :func:`token_order_edges`: the same tokens, the numbers in the same
    order ("World War II", "World War Two", "Second World War"; "1st Army", "First
    Army"). Only groups in which some name writes a number otherwise than in digits
    join (the rest is word order's). One regex pass over all names finds the few that
    may hold a number; ``O(K)``.
    """
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    rewritten: dict[tuple[str, str, str], None] = {}  # in key order: deterministic edges
    text = "\n".join(keys.norms)  # one regex pass over all names, then only the hits
    hits = [match.start() for match in MAY_WRITE_NUMBER.finditer(text)]
    if not hits:
        return []
    line_starts = np.cumsum([0] + [len(norm) + 1 for norm in keys.norms[:-1]])
    for k in np.unique(np.searchsorted(line_starts, hits, side="right") - 1).tolist():
        tokens = keys.tokens[k]
        if len(tokens) < 2:
            continue
        read = [numeral_value(t, first=i == 0) for i, t in enumerate(tokens)]
        if not any(read):
            continue
        words = [t if value is None else value for t, value in zip(tokens, read, strict=True)]
        numbers = " ".join(value for value in read if value is not None)
        group = (keys.labels[k], " ".join(sorted(words)), numbers)
        groups[group].append(k)
        if words != tokens:
            rewritten[group] = None
    return [
        (g[i], g[i + 1])
        for group in rewritten
        if len(g := groups[group]) > 1
        for i in range(len(g) - 1)
    ]


def demonym_edges(keys: Keys, rules: NameRules) -> list[tuple[int, int, float]]:
    """Edges from a nationality adjective tagged as a place to its place's names (same label)."""
    places: dict[tuple[str, str], list[int]] = defaultdict(list)
    for key, (label, norm) in enumerate(zip(keys.labels, keys.norms, strict=True)):
        if label in rules.places:
            places[label, norm.removeprefix("the ")].append(key)
    return [
        (key, other, 100.0)
        for (label, norm), found in places.items()
        for key in found
        for name in rules.demonyms.get(norm, ())
        for other in places.get((label, name), ())
    ]


def subsumes(short: list[str], full: list[str]) -> bool:
    """Tell whether given names ``short`` are a less specific form of ``full``.

    Each token of ``short`` equals the aligned token of ``full`` or is its initial (not
    of a Roman numeral: "Cosimo I de Medici" is not "Cosimo II de Medici"); ``full``
    may have more (middle) tokens.
    """
    if len(short) > len(full) or short == full:
        return False
    return all(
        x == y or (len(x) == 1 and y.startswith(x) and not is_regnal_number(y))
        for x, y in zip(short, full, strict=False)
    )


def person_candidates(keys: Keys) -> dict[int, list[int]]:
    """Map each multi-token person key to the keys it may be a shorter form of.

    Candidates share the label and surname (last token). A key whose first given name
    is a full word looks among keys with that same first name; a key starting with an
    initial looks among all keys with that initial. A name ending in a regnal number
    (:func:`~kgbuild.stages.resolve.names.is_regnal_number`) has no surname and takes no
    part ("Frederick I" is not "Frederick William I").
    ``O(K)``; buckets are shared.
    """
    by_first: dict[tuple[int, int, str], list[int]] = defaultdict(list)
    by_initial: dict[tuple[int, int, str], list[int]] = defaultdict(list)
    people = np.flatnonzero(keys.is_person & (keys.n_tokens >= 2) & ~keys.regnal).tolist()
    label_ids, lasts = keys.label_id.tolist(), keys.last.tolist()
    for k in people:
        given = keys.tokens[k][0]
        base = (label_ids[k], lasts[k])
        by_initial[(*base, given[0])].append(k)
        if len(given) > 1:
            by_first[(*base, given)].append(k)
    candidates: dict[int, list[int]] = {}
    for k in people:
        given = keys.tokens[k][0]
        base = (label_ids[k], lasts[k])
        bucket = by_first[(*base, given)] if len(given) > 1 else by_initial[(*base, given)]
        if len(bucket) > 1:
            candidates[k] = bucket
    return candidates


def person_rule_edges(
    keys: Keys, cluster: IntArray, candidates: dict[int, list[int]]
) -> tuple[list[tuple[int, int]], dict[int, list[int]]]:
    """Link an initial or shorter person name to the only cluster of fuller names it fits.

    Returns the new edges and the keys that were ambiguous (two or more clusters
    fit), to retry once clusters have merged. ``O(sum of bucket sizes)``, stopping
    at the second fitting cluster.
    """
    edges: list[tuple[int, int]] = []
    ambiguous: dict[int, list[int]] = {}
    clusters = cluster.tolist()
    for k, bucket in candidates.items():
        given = keys.tokens[k][:-1]
        found: dict[int, int] = {}
        for c in bucket:
            if clusters[c] != clusters[k] and subsumes(given, keys.tokens[c][:-1]):
                found.setdefault(clusters[c], c)
                if len(found) > 1:
                    ambiguous[k] = bucket
                    break
        if len(found) == 1:
            edges.append((k, next(iter(found.values()))))
    return edges, ambiguous


def short_form_edges(
    keys: Keys, cluster: IntArray, counts: IntArray, config: ResolveConfig
) -> list[tuple[int, int, float]]:
    """Link a one-token organisation to the cluster of organisations it starts.

    The link is made when one candidate cluster dominates the others by mentions
    (``short_form_dominance``, e.g. "Acme" -> "Acme Robotics" even when a stray
    "Acme board" exists), so a stray NER error does not block it, while two real
    organisations sharing a first word keep the short form apart. Only names that
    read as proper names are candidates ("Amanita" does not start "Amanita
    thiersii"), and a short form in capitals does not join a name that starts with
    it in capitals: that names the parent ("ABBA" and "ABBA Live", "CBBC" and "CBBC
    HD"; but "ACME" and "Acme Robotics" join). The score is the candidate's share of the
    candidates' mentions.
    ``O(number of organisation keys)``: each longer key registers its first token.
    """
    starts: dict[tuple[int, int, bool], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    first_key: dict[int, int] = {}
    label_ids, firsts, clusters = keys.label_id.tolist(), keys.first.tolist(), cluster.tolist()
    mention_counts, caps_head = counts.tolist(), keys.caps_head.tolist()
    for k in np.flatnonzero(keys.is_org & keys.proper & (keys.n_tokens >= 2)).tolist():
        for acronym in (False, True) if not caps_head[k] else (False,):
            starts[label_ids[k], firsts[k], acronym][clusters[k]] += mention_counts[k]
        first_key.setdefault(clusters[k], k)
    edges: list[tuple[int, int, float]] = []
    for k in np.flatnonzero(keys.is_org & (keys.n_tokens == 1)).tolist():
        if len(keys.norms[k]) < config.min_short_form_chars:
            continue
        found = starts.get((label_ids[k], firsts[k], bool(keys.acronym[k])), {})
        others = sorted(
            ((n, c) for c, n in found.items() if c != clusters[k]),
            key=lambda item: (-item[0], item[1]),
        )
        if not others:
            continue
        best, rest = others[0][0], sum(n for n, _ in others[1:])
        if rest == 0 or best >= config.short_form_dominance * rest:
            edges.append((k, first_key[others[0][1]], 100.0 * best / (best + rest)))
    return edges


def type_majority_edges(
    keys: Keys, counts: IntArray, config: ResolveConfig
) -> list[tuple[int, int, float]]:
    """Join a name's keys of other labels to its dominant label's key.

    A multi-word name's key joins when the dominant key (most mentions, one only) has
    at least ``type_dominance`` times its mentions; a one-word name's keys take part only
    under ``one_word_type_labels``, with ``one_word_type_dominance``. The score is the
    dominant key's share of the name's mentions. ``O(K log K)``.
    """
    allowed = np.isin(keys.labels, sorted(config.one_word_type_labels))
    one_word = (keys.n_tokens == 1) & allowed
    candidates = np.flatnonzero((keys.n_tokens >= 2) | one_word)
    # one-word keys form groups of their own: "Pacific" (LOC) never meets "The Pacific" (MISC)
    group_code = keys.name_id * 2 + one_word
    order = candidates[np.lexsort((candidates, group_code[candidates]))]
    names = group_code[order]
    starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
    sizes = np.diff(np.r_[starts, len(names)])
    edges: list[tuple[int, int, float]] = []
    for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
        group = sorted(order[start : start + size].tolist(), key=lambda k: (-counts[k], k))
        top, second = int(counts[group[0]]), int(counts[group[1]])
        if top == second:
            continue
        dominance = config.one_word_type_dominance if one_word[group[0]] else config.type_dominance
        total = int(counts[group].sum())
        edges.extend(
            (k, group[0], 100.0 * top / total)
            for k in group[1:]
            if keys.label_id[k] != keys.label_id[group[0]] and counts[k] * dominance <= top
        )
    return edges
