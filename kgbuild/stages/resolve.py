"""Entity resolution: cluster NER mentions into entities across documents.

The algorithm works on plain parallel sequences ``(label, text, doc_id)`` so that
it scales to millions of mentions without building a pydantic object per mention;
:func:`resolve_mentions` is the typed wrapper used by the pipeline.

Steps (every one deterministic and independent of input order):

1. **Normalise and dedupe.** Each distinct ``(label, text)`` is normalised once
   (:func:`normalize_name`) and the mentions are reduced to unique
   ``(label, normalized)`` *keys*; all later steps run on keys, not mentions.
2. **Blocking.** Candidate key pairs come from sorted-neighbourhood passes within
   one label and token count: keys sharing their first token, keys sharing their
   last token (inside a block that is too large, also sub-blocked by the first or
   last two characters of the other tokens), and one-token keys sharing their
   first or last two characters. A block of at most ``max_block_size`` keys is
   compared all-pairs; a larger block (a common first name or surname) only
   within a sliding ``window`` of its sorted order, so the number of pairs is
   ``O(K * (max_block_size + window))`` at worst and never quadratic.
3. **Similarity.** Candidate pairs are scored with rapidfuzz ``fuzz.ratio``
   (``process.cpdist``, in C) and kept at ``threshold`` or above, if their digits
   agree and every aligned token is also similar (``token_threshold``); for
   people the given names must be equal, so "David Chen" and "Linda Chen", or
   "J Smith" and "A Smith", stay apart. Two guards limit chaining: the rarer key
   of a pair must be rare relative to the other (``max_variant_share``: typos are
   rare, two established names one letter apart are different entities), and each
   key keeps only its edge to its best match among keys at least as frequent
   (``best_match_only``), so a typo joins one name, not two. Keys made of the same
   tokens in another order are matched too.
4. **Key rules on the fuzzy clusters** (global, "only when unambiguous"). A person
   key with an initial or a missing middle name ("J. Smith", "John Smith") joins
   the fuzzy cluster of fuller names with the same surname that it fits, if there
   is exactly one; names that were ambiguous are retried after each round of
   merges. A one-token organisation ("Acme") joins the one cluster of
   organisations whose name starts with that token ("Acme Robotics Inc.").
5. **Transitive closure** with :func:`networkx.connected_components` on the graph
   of matched keys, so pairs ``{a, b}`` and ``{b, c}`` give one entity.
6. **Document rules** (per mention). Within one document, a bare surname
   ("Smith"), an initial ("J. Smith") or an organisation's first word ("Acme")
   joins the fuller name of that document it fits, if the fuller names it fits
   there are exactly one cluster. "Smith" in a document with both "David Smith"
   and "Linda Smith", or with no full name, stays with the global key "smith"
   (as exact matching would do, which keeps mononyms such as "Plato" together).

Complexity: ``O(N)`` dictionary work and ``O(N log N)`` numpy sorting over the
``N`` mentions, normalisation of each distinct surface form, ``O(K log K)``
sorting of the ``K`` keys, ``O(K * (max_block_size + window))`` string
comparisons in the worst case, and ``O(K + E)`` for the components.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

import networkx as nx  # type: ignore[import-untyped, unused-ignore]
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from rapidfuzz import fuzz, process

from kgbuild.data import Entity, Mention
from kgbuild.ids import stable_id

__all__ = [
    "DEFAULT_CONFIG",
    "ResolutionResult",
    "ResolveConfig",
    "cluster_names",
    "normalize_name",
    "resolve_mentions",
]

IntArray = npt.NDArray[np.int64]


class ResolveConfig(BaseModel):
    """Thresholds and switches for entity resolution (all defaults documented).

    Similarities are rapidfuzz ``fuzz.ratio`` values on a 0-100 scale, computed on
    normalised names (see :func:`normalize_name`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    threshold: float = Field(default=90.0, ge=0.0, le=100.0)
    """Minimum ``fuzz.ratio`` of two normalised names of one label to match (90)."""

    token_threshold: float = Field(default=80.0, ge=0.0, le=100.0)
    """Minimum ``fuzz.ratio`` of every pair of aligned tokens of a match (80).

    Matches also need the same number of tokens. This stops a long shared word from
    carrying a match ("Cebrel Semiconductors" vs "Brezal Semiconductors") and keeps
    "Chen" from "Chan" (75); one typo in a word of five letters or more passes.
    """

    fuzzy_given_names: bool = False
    """Let people's given names differ too (by ``token_threshold``); off by default.

    Off, given names must be equal after normalisation, which keeps "Christina" from
    "Christine" (89) and "J Smith" from "A Smith"; the price is that a typo in a
    given name is not matched.
    """

    max_block_size: int = Field(default=32, ge=2)
    """Blocks of at most this many keys are compared all-pairs (32)."""

    window: int = Field(default=8, ge=1)
    """In larger blocks, each key is compared with the next ``window`` keys (8)."""

    person_labels: frozenset[str] = frozenset({"PER", "PERSON"})
    """Labels that name people (title stripping and person rules)."""

    organization_labels: frozenset[str] = frozenset({"ORG", "ORGANIZATION", "ORGANISATION"})
    """Labels that name organisations (suffix stripping and short forms)."""

    token_order: bool = True
    """Match names made of the same tokens in another order ("Chen David")."""

    person_rules: bool = True
    """Link initials and missing middle names to a fuller name when unambiguous."""

    document_rules: bool = True
    """Within a document, move a short person mention to the one fuller name it fits.

    A bare surname ("Smith"), an initial ("J. Smith") or a name without its middle
    initial joins the cluster of the fuller names of the same document and surname
    that it is compatible with, if they are exactly one cluster.
    """

    max_variant_share: float = Field(default=0.2, ge=0.0, le=1.0)
    """Frequency guard for fuzzy matches (0.2; 1.0 turns it off).

    The rarer of two keys may have at most this share of the commoner key's mentions
    (one mention always passes): typos are rare, while two established names one
    letter apart ("Gambia", "Zambia") are usually different entities.
    """

    best_match_only: bool = True
    """Keep one fuzzy edge per key, to its best match at least as frequent as itself.

    Best is the highest score, then the most mentions, then the smallest key id.
    A typo that lies between two real names ("Gelga" <- "Geilga" -> "Geiga") then
    joins one of them instead of chaining them together, while equally rare
    variants still merge transitively.
    """

    org_short_forms: bool = True
    """Link a one-token organisation name to the one organisation it starts."""

    short_form_dominance: float = Field(default=5.0, ge=1.0)
    """A one-token organisation joins the candidate with this many times the mentions of
    all other candidates together (5)."""
    min_short_form_chars: int = Field(default=3, ge=1)
    """Shortest organisation short form considered by ``org_short_forms`` (3)."""

    corporate_suffixes: tuple[str, ...] = (
        "Inc.",
        "Incorporated",
        "Corp.",
        "Corporation",
        "Co.",
        "Company",
        "Ltd.",
        "Limited",
        "LLC",
        "L.L.C.",
        "PLC",
        "LLP",
        "LP",
        "GmbH",
        "AG",
        "KG",
        "KGaA",
        "SE",
        "S.A.",
        "SA",
        "S.p.A.",
        "SpA",
        "S.r.l.",
        "SARL",
        "N.V.",
        "B.V.",
        "Oy",
        "Oyj",
        "AB",
        "ASA",
        "Pty",
        "Pte",
        "Pvt",
        "Group",
    )
    """Legal-form words removed from the end of organisation names (repeatedly)."""

    person_titles: tuple[str, ...] = (
        "Mr.",
        "Mrs.",
        "Ms.",
        "Miss",
        "Mx.",
        "Dr.",
        "Prof.",
        "Professor",
        "Sir",
        "Dame",
        "Lord",
        "Lady",
        "Rev.",
        "Fr.",
        "Hon.",
        "Sen.",
        "Rep.",
        "Gov.",
        "Pres.",
        "President",
        "Gen.",
        "Col.",
        "Capt.",
        "Lt.",
        "Sgt.",
    )
    """Honorifics removed from the start of person names (repeatedly)."""

    person_postnominals: tuple[str, ...] = ("PhD", "Ph.D.", "MD", "M.D.", "Esq.", "MBA")
    """Degrees removed from the end of person names ("Jr."/"Sr." are kept)."""

    workers: int = Field(default=1, ge=-1)
    """Threads for rapidfuzz scoring; -1 uses all cores (1)."""

    batch_size: int = Field(default=1_000_000, ge=1)
    """Candidate pairs scored per ``process.cpdist`` call (bounds memory)."""


DEFAULT_CONFIG = ResolveConfig()
"""The default configuration, shared (it is immutable)."""


class ResolutionResult(BaseModel):
    """Entities found by :func:`resolve_mentions` and where each mention went."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entities: tuple[Entity, ...]
    """Entities sorted by id."""

    mention_to_entity: dict[str, str]
    """Mention id to entity id, for every input mention."""

    merges: int
    """Distinct ``(label, normalized name)`` keys merged into another key's entity."""


# --------------------------------------------------------------------------- normalisation

_APOSTROPHES = re.compile(r"['\u2019\u2018\u02bc`\u00b4]")
_NON_WORD = re.compile(r"[\W_]+")
_NON_DIGIT = re.compile(r"\D+")
_GENERATIONAL = frozenset({"jr", "sr", "ii", "iii", "iv"})


@dataclass(frozen=True)
class _Rules:
    """A config compiled for normalisation: token tuples and label sets."""

    persons: frozenset[str]
    organizations: frozenset[str]
    suffixes: dict[str, tuple[tuple[str, ...], ...]]  # by last token, longest first
    titles: frozenset[str]
    postnominals: dict[str, tuple[tuple[str, ...], ...]]


def _tokens(text: str) -> list[str]:
    """Casefold, strip accents and apostrophes, split on anything not a letter or digit."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if not text.isascii():
        decomposed = unicodedata.normalize("NFD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    text = _APOSTROPHES.sub("", text.replace("&", " and "))
    return _NON_WORD.sub(" ", text).split()


@functools.lru_cache(maxsize=16)
def _compile(config: ResolveConfig) -> _Rules:
    """Normalise the config's word lists once per config (they are hashable)."""

    def phrases(words: Iterable[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
        by_last: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for phrase in sorted({tuple(_tokens(w)) for w in words}, key=lambda p: (-len(p), p)):
            if phrase:
                by_last[phrase[-1]].append(phrase)
        return {last: tuple(found) for last, found in by_last.items()}

    return _Rules(
        persons=config.person_labels,
        organizations=config.organization_labels,
        suffixes=phrases(config.corporate_suffixes),
        titles=frozenset(" ".join(t) for t in map(_tokens, config.person_titles) if t),
        postnominals=phrases(config.person_postnominals),
    )


def _strip_tail(tokens: list[str], phrases: dict[str, tuple[tuple[str, ...], ...]]) -> list[str]:
    """Remove trailing ``phrases`` (indexed by last token) repeatedly, keeping one token."""
    while len(tokens) > 1 and tokens[-1] in phrases:
        for phrase in phrases[tokens[-1]]:
            size = len(phrase)
            if len(tokens) > size and tuple(tokens[-size:]) == phrase:
                tokens = tokens[:-size]
                break
        else:
            break
    return tokens


def _normalize(text: str, label: str, rules: _Rules) -> str:
    """Implement :func:`normalize_name` for a compiled config."""
    if label in rules.persons:
        head, sep, tail = text.partition(",")
        if sep and "," not in tail:
            tail_tokens = _tokens(tail)
            if (
                _tokens(head)
                and tail_tokens
                and not _GENERATIONAL.issuperset(tail_tokens)
                and tuple(tail_tokens) not in rules.postnominals.get(tail_tokens[-1], ())
            ):
                text = f"{tail} {head}"
        tokens = _strip_tail(_tokens(text), rules.postnominals)
        while len(tokens) > 1 and tokens[0] in rules.titles:
            tokens = tokens[1:]
    else:
        tokens = _tokens(text)
        if label in rules.organizations:
            if len(tokens) > 1 and tokens[0] == "the":
                tokens = tokens[1:]
            tokens = _strip_tail(tokens, rules.suffixes)
            if len(tokens) > 1 and tokens[-1] == "and":  # "Smith & Co." -> "smith and"
                tokens = tokens[:-1]
    if not tokens:  # only punctuation: keep something that still tells texts apart
        return " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return " ".join(tokens)


def normalize_name(text: str, label: str, *, config: ResolveConfig = DEFAULT_CONFIG) -> str:
    """Return the comparison form of an entity name.

    NFKC, casefold, accents stripped, apostrophes dropped, ``&`` read as "and", every
    other run of punctuation or whitespace collapsed to one space. For organisation
    labels a leading "the" and trailing legal forms (``config.corporate_suffixes``)
    are removed; for person labels leading titles and trailing degrees are removed
    and "Surname, Given" is turned round. At least one token is always kept.

    Complexity: ``O(len(text))``; the word lists are compiled once per config.

    Args:
        text: The surface form of a mention.
        label: Its NER label; decides which of the label-specific rules apply.
        config: Supplies the suffix, title and label lists.

    Returns:
        Space-separated lowercase tokens.

    Examples:
        >>> normalize_name("ACME Robotics, Inc.", "ORG")
        'acme robotics'
        >>> normalize_name("Dr. José  O'Neill", "PER")
        'jose oneill'
        >>> normalize_name("Smith, John", "PER")
        'john smith'
    """
    return _normalize(text, label, _compile(config))


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class _Keys:
    """Unique ``(label, normalized)`` keys, sorted, with per-key token data."""

    labels: list[str]
    norms: list[str]
    tokens: list[list[str]]
    label_id: IntArray
    is_person: npt.NDArray[np.bool_]
    is_org: npt.NDArray[np.bool_]
    first: IntArray  # token code of the first token (-1 if none)
    last: IntArray  # token code of the last token (-1 if none)
    n_tokens: IntArray


@dataclass(frozen=True)
class _Clustering:
    """Everything :func:`resolve_mentions` needs besides the cluster ids."""

    keys: _Keys
    key_of_mention: IntArray
    key_cluster: IntArray  # cluster id of each key
    cluster: IntArray  # cluster id of each mention (document rules move some mentions)


def _build_keys(
    labels: Sequence[str], texts: Sequence[str], rules: _Rules
) -> tuple[_Keys, IntArray]:
    """Dedupe mentions to sorted keys; return the keys and each mention's key index."""
    distinct = dict.fromkeys(zip(labels, texts, strict=True))  # normalise each form once
    raw = {pair: (pair[0], _normalize(pair[1], pair[0], rules)) for pair in distinct}
    unique = sorted(set(raw.values()))
    index = {key: i for i, key in enumerate(unique)}
    key_of_raw = {pair: index[key] for pair, key in raw.items()}
    key_of_mention = np.fromiter(
        map(key_of_raw.__getitem__, zip(labels, texts, strict=True)),
        dtype=np.int64,
        count=len(texts),
    )

    key_labels = [label for label, _ in unique]
    norms = [norm for _, norm in unique]
    tokens = [norm.split() for norm in norms]
    label_codes = {label: i for i, label in enumerate(sorted(set(key_labels)))}
    token_codes: dict[str, int] = {}
    first = np.asarray(
        [token_codes.setdefault(t[0], len(token_codes)) if t else -1 for t in tokens],
        dtype=np.int64,
    )
    last = np.asarray(
        [token_codes.setdefault(t[-1], len(token_codes)) if t else -1 for t in tokens],
        dtype=np.int64,
    )
    keys = _Keys(
        labels=key_labels,
        norms=norms,
        tokens=tokens,
        label_id=np.fromiter((label_codes[x] for x in key_labels), dtype=np.int64),
        is_person=np.fromiter((x in rules.persons for x in key_labels), dtype=np.bool_),
        is_org=np.fromiter((x in rules.organizations for x in key_labels), dtype=np.bool_),
        first=first,
        last=last,
        n_tokens=np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens)),
    )
    return keys, key_of_mention


# --------------------------------------------------------------------------- blocking


def _window_pairs(
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


def _unique_codes(codes: IntArray) -> IntArray:
    """Sorted unique values (sort + mask; faster than ``np.unique`` here)."""
    if len(codes) == 0:
        return codes
    codes = np.sort(codes)
    return codes[np.r_[True, codes[1:] != codes[:-1]]]


def _dense(codes: IntArray) -> IntArray:
    """Renumber codes to ``0..m-1`` keeping their order (``O(n log n)``)."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    dense = np.empty(len(codes), dtype=np.int64)
    dense[order] = np.cumsum(np.r_[0, ordered[1:] != ordered[:-1]])
    return dense


def _combine(*codes: IntArray) -> IntArray:
    """One int64 code per row for a tuple of non-negative code arrays (mixed radix).

    Equal tuples get equal codes; rows are renumbered densely whenever the next
    digit would overflow int64.
    """
    out = np.zeros(len(codes[0]), dtype=np.int64)
    for code in codes:
        radix = int(code.max(initial=0)) + 1
        if (int(out.max(initial=0)) + 1) * radix >= 2**62:
            out = _dense(out)
        out = out * radix + code
    return out


def _block_sizes(block: IntArray) -> IntArray:
    """Size of each row's block (rows with equal codes)."""
    order = np.argsort(block, kind="stable")
    ordered = block[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, len(ordered)])
    sizes = np.empty(len(block), dtype=np.int64)
    sizes[order] = np.repeat(counts, counts)
    return sizes


def _candidate_pairs(keys: _Keys, config: ResolveConfig) -> tuple[IntArray, IntArray]:
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

    group = _combine(keys.label_id, keys.n_tokens)
    multi = np.flatnonzero(keys.n_tokens >= 2)
    single = np.flatnonzero(keys.n_tokens == 1)
    passes: list[tuple[IntArray, IntArray, IntArray]] = []
    for anchor, cut in ((keys.first, 1), (keys.last, -1)):
        block = _combine(group[multi], anchor[multi])
        passes.append((multi, block, rank[multi]))
        big = _block_sizes(block) > config.max_block_size
        members = multi[big]
        rests = [
            " ".join(keys.tokens[k][1:] if cut == 1 else keys.tokens[k][:-1])
            for k in members.tolist()
        ]
        for piece_code in ends(rests):
            sub_block = _combine(block[big], piece_code)
            passes.append((members, sub_block, rank[members]))
            passes.append((members, sub_block, reverse_rank[members]))
    for piece_code in ends([keys.norms[k] for k in single.tolist()]):
        block = _combine(group[single], piece_code)
        passes.append((single, block, rank[single]))
        passes.append((single, block, reverse_rank[single]))

    codes = []
    for members, block, order in passes:
        left, right = _window_pairs(members, block, order, config.max_block_size, config.window)
        codes.append(np.minimum(left, right) * size + np.maximum(left, right))
    unique = _unique_codes(np.concatenate(codes))
    return unique // size, unique % size


# --------------------------------------------------------------------------- matching


def _compatible(keys: _Keys, a: int, b: int, config: ResolveConfig) -> bool:
    """Check a pair above the threshold token by token, and that digits agree.

    Same number of tokens, each pair of aligned tokens equal or at least
    ``token_threshold`` similar; for people, given names (all but the last token)
    must be equal unless ``fuzzy_given_names``.
    """
    tokens_a, tokens_b = keys.tokens[a], keys.tokens[b]
    if len(tokens_a) != len(tokens_b):
        return False
    if _NON_DIGIT.sub("", keys.norms[a]) != _NON_DIGIT.sub("", keys.norms[b]):
        return False
    cutoff = config.token_threshold
    exact_given = bool(keys.is_person[a]) and not config.fuzzy_given_names
    return all(  # index 0 is the last token (a person's surname)
        x == y or ((i == 0 or not exact_given) and fuzz.ratio(x, y) >= cutoff)
        for i, (x, y) in enumerate(zip(tokens_a[::-1], tokens_b[::-1], strict=True))
    )


def _fuzzy_edges(keys: _Keys, counts: IntArray, config: ResolveConfig) -> list[tuple[int, int]]:
    """Fuzzy matches among candidate pairs, as graph edges.

    A pair matches if it scores at least ``threshold``, passes :func:`_compatible`
    and the ``max_variant_share`` frequency guard. With ``best_match_only`` each key
    then keeps one edge: to its best match among the matches with at least as many
    mentions as itself (highest score, then most mentions, then smallest key id).
    ``O(P log P)`` for ``P`` candidate pairs, scored in C.
    """
    left, right = _candidate_pairs(keys, config)
    norms = np.asarray(keys.norms, dtype=object)
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
            score_cutoff=config.threshold,
            dtype=np.float64,
            workers=config.workers,
        )
        hits = np.flatnonzero(scores >= config.threshold)
        for i, j, score in zip(
            a[hits].tolist(), b[hits].tolist(), scores[hits].tolist(), strict=True
        ):
            if _compatible(keys, i, j, config):
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
        i, j = source[first], target[first]
    return list(zip(i.tolist(), j.tolist(), strict=True))


def _token_order_edges(keys: _Keys) -> list[tuple[int, int]]:
    """Chain together keys of one label made of the same multiset of tokens.

    Two-token keys (most of them) are grouped with numpy on their sorted token
    codes; longer ones with a dictionary. ``O(K log K)``.
    """
    two = np.flatnonzero(keys.n_tokens == 2)
    low = np.minimum(keys.first[two], keys.last[two])
    high = np.maximum(keys.first[two], keys.last[two])
    code = _combine(keys.label_id[two], low, high)
    order = np.lexsort((two, code))
    same = np.flatnonzero(code[order][1:] == code[order][:-1])
    edges = list(zip(two[order][same].tolist(), two[order][same + 1].tolist(), strict=True))
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for k in np.flatnonzero(keys.n_tokens >= 3).tolist():
        groups[keys.labels[k], " ".join(sorted(keys.tokens[k]))].append(k)
    edges.extend((g[i], g[i + 1]) for g in groups.values() for i in range(len(g) - 1))
    return edges


def _subsumes(short: list[str], full: list[str]) -> bool:
    """Tell whether given names ``short`` are a less specific form of ``full``.

    Each token of ``short`` equals the aligned token of ``full`` or is its initial;
    ``full`` may have more (middle) tokens.
    """
    if len(short) > len(full) or short == full:
        return False
    return all(
        x == y or (len(x) == 1 and y.startswith(x)) for x, y in zip(short, full, strict=False)
    )


def _person_candidates(keys: _Keys) -> dict[int, list[int]]:
    """Map each multi-token person key to the keys it may be a shorter form of.

    Candidates share the label and surname (last token). A key whose first given name
    is a full word looks among keys with that same first name; a key starting with an
    initial looks among all keys with that initial. ``O(K)``; buckets are shared.
    """
    by_first: dict[tuple[int, int, str], list[int]] = defaultdict(list)
    by_initial: dict[tuple[int, int, str], list[int]] = defaultdict(list)
    people = np.flatnonzero(keys.is_person & (keys.n_tokens >= 2)).tolist()
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


def _person_rule_edges(
    keys: _Keys, cluster: IntArray, candidates: dict[int, list[int]]
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
            if clusters[c] != clusters[k] and _subsumes(given, keys.tokens[c][:-1]):
                found.setdefault(clusters[c], c)
                if len(found) > 1:
                    ambiguous[k] = bucket
                    break
        if len(found) == 1:
            edges.append((k, next(iter(found.values()))))
    return edges, ambiguous


def _short_form_edges(
    keys: _Keys, cluster: IntArray, counts: IntArray, config: ResolveConfig
) -> list[tuple[int, int]]:
    """Link a one-token organisation to the cluster of organisations it starts.

    The link is made when one candidate cluster dominates the others by mentions
    (``short_form_dominance``, e.g. "Acme" -> "Acme Robotics" even when a stray
    "Acme board" exists), so a stray NER error does not block it, while two real
    organisations sharing a first word keep the short form apart.
    ``O(number of organisation keys)``: each longer key registers its first token.
    """
    starts: dict[tuple[int, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    first_key: dict[int, int] = {}
    label_ids, firsts, clusters = keys.label_id.tolist(), keys.first.tolist(), cluster.tolist()
    mention_counts = counts.tolist()
    for k in np.flatnonzero(keys.is_org & (keys.n_tokens >= 2)).tolist():
        starts[label_ids[k], firsts[k]][clusters[k]] += mention_counts[k]
        first_key.setdefault(clusters[k], k)
    edges: list[tuple[int, int]] = []
    for k in np.flatnonzero(keys.is_org & (keys.n_tokens == 1)).tolist():
        if len(keys.norms[k]) < config.min_short_form_chars:
            continue
        found = starts.get((label_ids[k], firsts[k]), {})
        others = sorted(
            ((n, c) for c, n in found.items() if c != clusters[k]),
            key=lambda item: (-item[0], item[1]),
        )
        if not others:
            continue
        best, rest = others[0][0], sum(n for n, _ in others[1:])
        if rest == 0 or best >= config.short_form_dominance * rest:
            edges.append((k, first_key[others[0][1]]))
    return edges


def _components(size: int, graph: nx.Graph[int]) -> IntArray:
    """Cluster id of every key: the smallest key id of its connected component."""
    cluster = np.arange(size, dtype=np.int64)
    components = list(nx.connected_components(graph))
    if not components:
        return cluster
    sizes = np.fromiter(map(len, components), dtype=np.int64, count=len(components))
    members = np.fromiter(chain.from_iterable(components), dtype=np.int64, count=int(sizes.sum()))
    smallest = np.minimum.reduceat(members, np.cumsum(sizes) - sizes)
    cluster[members] = np.repeat(smallest, sizes)
    return cluster


def _fits(tokens: list[str], full: list[str], person: bool, config: ResolveConfig) -> bool:
    """Tell whether a name (``tokens``) is a less specific form of another (``full``).

    People (same surname): :func:`_subsumes` on the given names. Organisations (same
    first token): ``tokens`` is that one token, ``full`` is longer.
    """
    if person:
        return _subsumes(tokens[:-1], full[:-1])
    return (
        config.org_short_forms
        and len(tokens) == 1
        and len(full) > 1
        and len(tokens[0]) >= config.min_short_form_chars
    )


def _document_overrides(
    keys: _Keys,
    key_of_mention: IntArray,
    doc_ids: Sequence[str],
    key_cluster: IntArray,
    config: ResolveConfig,
) -> IntArray:
    """Cluster of each mention, moving short names to their document's full name.

    Person mentions of one document with the same label and surname, and organisation
    mentions with the same label and first token, form a group. A mention that is a
    less specific name (:func:`_fits`) of other names in its group (a bare surname, an
    initial, a missing middle name; an organisation's first word) moves to their
    cluster if they are exactly one cluster, different from its own. Groups with more
    than ``max_block_size`` distinct names are left alone. ``O(N log N)`` in numpy
    plus ``O(g^2)`` per group of ``g`` distinct names.
    """
    cluster = key_cluster[key_of_mention]
    eligible = (keys.is_person | keys.is_org) & (keys.first >= 0)
    chosen = np.flatnonzero(eligible[key_of_mention])
    if len(chosen) < 2:
        return cluster
    doc_index = {doc: i for i, doc in enumerate(dict.fromkeys(doc_ids))}
    doc = np.fromiter(map(doc_index.__getitem__, doc_ids), dtype=np.int64, count=len(doc_ids))
    chosen_keys = key_of_mention[chosen]
    anchor = np.where(keys.is_person, keys.last, keys.first)[chosen_keys]
    group = _dense(_combine(doc[chosen], keys.label_id[chosen_keys], anchor))
    code = group * len(keys.norms) + chosen_keys  # one code per (group, key)

    distinct = _unique_codes(code)
    groups, members = np.divmod(distinct, len(keys.norms))
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    sizes = np.diff(np.r_[starts, len(groups)])
    wanted = (sizes >= 2) & (sizes <= config.max_block_size)
    clusters = key_cluster.tolist()
    tokens = keys.tokens
    moved: list[int] = []
    targets: list[int] = []
    for start, size in zip(starts[wanted].tolist(), sizes[wanted].tolist(), strict=True):
        names = members[start : start + size].tolist()
        person = bool(keys.is_person[names[0]])
        for a in names:
            found = {
                clusters[b] for b in names if b != a and _fits(tokens[a], tokens[b], person, config)
            }
            if len(found) == 1 and (target := found.pop()) != clusters[a]:
                moved.append(int(distinct[start]) - names[0] + a)
                targets.append(target)
    if not moved:
        return cluster
    order = np.argsort(np.asarray(moved, dtype=np.int64))
    known = np.asarray(moved, dtype=np.int64)[order]
    target_of = np.asarray(targets, dtype=np.int64)[order]
    pos = np.minimum(np.searchsorted(known, code), len(known) - 1)
    hit = known[pos] == code
    cluster[chosen[hit]] = target_of[pos[hit]]
    return cluster


def _cluster(
    labels: Sequence[str], texts: Sequence[str], doc_ids: Sequence[str], config: ResolveConfig
) -> _Clustering:
    """Run the whole algorithm (see the module docstring)."""
    if not len(labels) == len(texts) == len(doc_ids):
        raise ValueError(
            f"labels, texts and doc_ids differ in length: "
            f"{len(labels)}, {len(texts)}, {len(doc_ids)}"
        )
    rules = _compile(config)
    keys, key_of_mention = _build_keys(labels, texts, rules)
    size = len(keys.norms)
    counts = np.bincount(key_of_mention, minlength=size).astype(np.int64)
    graph: nx.Graph[int] = nx.Graph()
    if size:
        graph.add_edges_from(_fuzzy_edges(keys, counts, config))
    if config.token_order:
        graph.add_edges_from(_token_order_edges(keys))
    key_cluster = _components(size, graph)
    if config.org_short_forms:
        short_forms = _short_form_edges(keys, key_cluster, counts, config)
        if short_forms:
            graph.add_edges_from(short_forms)
            key_cluster = _components(size, graph)
    pending = _person_candidates(keys) if config.person_rules else {}
    while pending:  # repeat for names that were ambiguous until nothing changes
        edges, pending = _person_rule_edges(keys, key_cluster, pending)
        if not edges:
            break
        graph.add_edges_from(edges)
        key_cluster = _components(size, graph)
    if config.document_rules:
        cluster = _document_overrides(keys, key_of_mention, doc_ids, key_cluster, config)
    else:
        cluster = key_cluster[key_of_mention]
    return _Clustering(
        keys=keys, key_of_mention=key_of_mention, key_cluster=key_cluster, cluster=cluster
    )


# --------------------------------------------------------------------------- public API


def cluster_names(
    labels: Sequence[str],
    texts: Sequence[str],
    doc_ids: Sequence[str],
    config: ResolveConfig = DEFAULT_CONFIG,
) -> IntArray:
    """Cluster mentions given as parallel sequences; return a cluster id per mention.

    Complexity: near-linear, see the module docstring for the steps and their costs.
    Memory is ``O(N + K * (max_block_size + window))``: a few integer arrays per
    mention, per key and per candidate pair (scored ``batch_size`` at a time).

    Args:
        labels: The NER label of each mention. Different labels never share a cluster.
        texts: The surface text of each mention.
        doc_ids: The document id of each mention.
        config: Thresholds and switches.

    Returns:
        One int64 cluster id per mention; equal ids mean the same entity. Ids depend
        only on the multiset of mentions, not on their order (an id is the index of
        the cluster's first key in sorted ``(label, normalized)`` order).

    Raises:
        ValueError: If the three sequences differ in length.

    Examples:
        >>> ids = cluster_names(
        ...     ["ORG", "ORG", "ORG", "PER", "PER"],
        ...     ["Acme Robotics Inc.", "ACME robtics", "Acme", "David Chen", "Linda Chen"],
        ...     ["d1", "d2", "d3", "d1", "d1"],
        ... )
        >>> ids.tolist()
        [0, 0, 0, 3, 4]
    """
    return _cluster(labels, texts, doc_ids, config).cluster


def _canonical(texts: Iterable[str], label: str, config: ResolveConfig) -> str:
    """The fullest name of a cluster, the one an entity is shown and keyed by.

    Among the forms with the most normalised tokens ("Acme Robotics" over "Acme",
    "David Chen" over "Dr. Chen"), the most frequent; ties go to the longest text,
    then the lexicographically smallest.
    """
    counts = Counter(texts)
    sizes = {t: len(normalize_name(t, label, config=config).split()) for t in counts}
    fullest = max(sizes.values())
    return min((t for t in counts if sizes[t] == fullest), key=lambda t: (-counts[t], -len(t), t))


def resolve_mentions(
    mentions: Sequence[Mention], config: ResolveConfig = DEFAULT_CONFIG
) -> ResolutionResult:
    """Resolve mentions into entities across documents.

    Complexity: that of :func:`cluster_names`, plus ``O(N log N)`` to group and sort.

    Args:
        mentions: Mentions with unique ids, from any number of documents.
        config: Thresholds and switches.

    Returns:
        Entities sorted by id. An entity's ``name`` is its most frequent surface form
        (ties: longest, then lexicographically smallest) among mentions that were not
        moved to it as bare surnames; ``aliases`` are its other surface forms, sorted;
        ``mention_ids`` and ``doc_ids`` are sorted. Its id is
        ``stable_id("ent", label, normalize_name(name, label))``, so it is stable
        across runs and batches as long as the canonical name is.

    Raises:
        ValueError: If two mentions share an id.
    """
    ids = [m.id for m in mentions]
    if len(set(ids)) != len(ids):
        raise ValueError("mention ids must be unique")
    labels = [m.label for m in mentions]
    texts = [m.text for m in mentions]
    result = _cluster(labels, texts, [m.provenance.doc_id for m in mentions], config)
    anchored = result.key_cluster[result.key_of_mention] == result.cluster

    members: dict[int, list[int]] = defaultdict(list)
    for index, cluster in enumerate(result.cluster.tolist()):
        members[cluster].append(index)
    entities: list[Entity] = []
    mention_to_entity: dict[str, str] = {}
    for group in members.values():
        label = labels[group[0]]
        name = _canonical((texts[i] for i in group if anchored[i]), label, config)
        entity_id = stable_id("ent", label, normalize_name(name, label, config=config))
        entities.append(
            Entity(
                id=entity_id,
                label=label,
                name=name,
                aliases=tuple(sorted({texts[i] for i in group} - {name})),
                mention_ids=tuple(sorted(ids[i] for i in group)),
                doc_ids=tuple(sorted({mentions[i].provenance.doc_id for i in group})),
            )
        )
        mention_to_entity.update((ids[i], entity_id) for i in group)
    entities.sort(key=lambda e: e.id)
    return ResolutionResult(
        entities=tuple(entities),
        mention_to_entity=mention_to_entity,
        merges=len(result.keys.norms) - len(entities),
    )
