"""Entity resolution: cluster NER mentions into entities across documents.

The algorithm works on plain parallel sequences ``(label, text, doc_id)`` so that
it scales to millions of mentions without building a pydantic object per mention;
:func:`resolve_mentions` is the typed wrapper used by the pipeline.

Steps (every one deterministic and independent of input order):

1. **Normalise and dedupe.** Each distinct ``(label, text)`` is normalised once
   (:func:`normalize_name`) and the mentions are reduced to unique
   ``(label, normalized)`` *keys*; all later steps run on keys, not mentions.
   Each key also notes whether it is written as an acronym ("USGS", "U.S.") and,
   for organisations, whether it reads as a proper name (every word after the
   first capitalised, as in "Acme Robotics" but not "Amanita thiersii").
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
   agree and every aligned token is also similar (``token_threshold``) without
   being a prefix or suffix of the other ("Korea"/"Korean", "Prince"/"Princess":
   another word, not a typo); for people the given names must be equal, so
   "David Chen" and "Linda Chen", or "J Smith" and "A Smith", stay apart.
   One-token names match only as a one-edit typo inside the word (same first
   letter, one insertion, deletion, substitution or swap, neither name a prefix
   or suffix of the other): "Eoleonaspis"/"Leonaspis", "Odontopleura"/
   "Odontopleurida"/"Odontopleuridae" and "frontière"/"Frontier" stay apart.
   Two guards limit chaining: the rarer key of a pair must be rare relative to
   the other (``max_variant_share``: typos are rare, two established names one
   letter apart are different entities), and each key keeps only its edge to its
   best match among keys at least as frequent (``best_match_only``), so a typo
   joins one name, not two. Keys made of the same tokens in another order are
   matched too.
4. **Key rules on the fuzzy clusters** (global, "only when unambiguous"). A person
   key with an initial or a missing middle name ("J. Smith", "John Smith") joins
   the fuzzy cluster of fuller names with the same surname that it fits, if there
   is exactly one; names that were ambiguous are retried after each round of
   merges. With ``org_short_forms_across_documents`` (off by default), a one-token
   organisation ("Acme") joins the one cluster of proper-named organisations whose name
   starts with that token ("Acme Robotics Inc."). An acronym of three letters or more, or a dotted one ("U.S."), joins
   the long form whose initials it spells ("USGS" and "United States Geological
   Survey", stop words such as "of" taken or left out) when every long form of
   the corpus with those initials is one cluster of its label; a shorter one ("UK")
   does so only if some document writes it beside that long form. A multi-word name
   found under several labels joins the label that has ``type_dominance`` times
   its mentions ("U.S. Navy" as ORG 9 times and as LOC once); one-word names
   ("Jordan") never change label across documents. A nationality adjective tagged as
   a place ("Swedish") joins the place it names ("Sweden", the same label) wherever the
   corpus has it (:mod:`kgbuild.stages.demonyms`); the entity keeps the place's name.
5. **Transitive closure** with :func:`networkx.connected_components` on the graph
   of matched keys, so pairs ``{a, b}`` and ``{b, c}`` give one entity.
6. **Document rules** (per mention). Within one document, a bare surname
   ("Smith"), an initial ("J. Smith") or an organisation's first word written after
   the full name ("Acme Robotics ... Acme") joins the fuller name of that document it fits, if the fuller names it fits
   there are exactly one cluster. "Smith" in a document with both "David Smith"
   and "Linda Smith", or with no full name, stays with the global key "smith"
   (as exact matching would do, which keeps mononyms such as "Plato" together).
   An acronym joins the one long form of its document that it spells, whatever
   the labels. An organisation's first word in a document without its full name
   joins the organisation other documents write it after ("Northwind" alone, where
   others write "Northwind Logistics ... Northwind"), if no other organisation of the
   corpus starts with that word and more documents joined the two than kept them apart
   (``org_short_forms_elsewhere``). Then mentions of one name under different labels in
   one document ("Japan" as LOC and as MISC) become one entity: they join the cluster that
   holds most of them. Last, where a document writes a name with capitals inside
   ("Two Doors Down"), its mentions written all in lowercase ("two doors down the
   hall") leave that cluster for one of their own (``case_in_document``).

An entity's label is the majority label of its mentions, and every merge keeps its
reason (:class:`kgbuild.data.Merge`: rule, score, the two surface forms and, for a
document rule, the document) on the entity, so it can be checked and switched off
by the rule's setting.

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

import networkx as nx  # type: ignore[import-untyped, unused-ignore]
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from kgbuild.config import ResolveConfig
from kgbuild.data import Entity, Mention, Merge
from kgbuild.ids import stable_id
from kgbuild.stages.demonyms import PLACES

__all__ = [
    "DEFAULT_CONFIG",
    "RULES",
    "ResolutionResult",
    "ResolveConfig",
    "cluster_names",
    "normalize_name",
    "resolve_mentions",
]

IntArray = npt.NDArray[np.int64]

RULES: dict[str, str] = {
    "fuzzy": "similar names of one label, scored by fuzz.ratio (threshold, one_token_typos)",
    "token_order": "the same words in another order (token_order)",
    "person_name": "an initial or a missing middle name, one fuller name fits (person_rules)",
    "org_short_form": "an organisation's first word, one organisation fits "
    "(org_short_forms_across_documents)",
    "acronym": "an acronym and the one long form it spells in the corpus (acronyms)",
    "type_majority": "a multi-word name under a dominated label (type_dominance)",
    "demonym": "a nationality adjective tagged as a place and the place's name (demonyms)",
    "document_person": "a surname or initial and its document's fuller name (document_rules)",
    "document_short_form": "an organisation's first word after its full name in a document "
    "(org_short_forms)",
    "short_form_elsewhere": "an organisation's first word alone, joined to the organisation "
    "that other documents write it after (org_short_forms_elsewhere)",
    "document_acronym": "an acronym and its document's long form (acronyms)",
    "same_name_in_document": "one name under several labels in a document (same_name_rule)",
}
"""Every rule that merges mentions (:attr:`kgbuild.data.Merge.rule`), and the
:class:`ResolveConfig` setting that turns it off."""

_CONTEXT_CHECKED = frozenset({"fuzzy", "person_name", "org_short_form", "acronym", "type_majority"})
"""Key-level rules that context similarity can veto (they join names across documents)."""


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
_POSSESSIVE = re.compile(r"\s*['\u2019\u02bc]s?$")
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
    places: frozenset[str]
    demonyms: dict[str, tuple[str, ...]]  # adjective -> the names of its place (normalised)


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
        places=config.place_labels,
        demonyms=_demonym_table(config) if config.demonyms else {},
    )


def _place_form(text: str) -> str:
    """A place name as the ``demonym`` rule compares it: folded tokens, no leading "the"."""
    return " ".join(_tokens(text)).removeprefix("the ")


def _demonym_table(config: ResolveConfig) -> dict[str, tuple[str, ...]]:
    """Each adjective (folded) and the folded names of the place it names."""
    table: dict[str, set[str]] = defaultdict(set)
    entries = [
        (adjective, (name, *others))
        for name, others, adjectives in PLACES
        for adjective in adjectives
    ]
    entries += [(adjective, (place,)) for adjective, place in config.extra_demonyms]
    for adjective, names in entries:
        table[_place_form(adjective)].update(_place_form(n) for n in names)
    return {adjective: tuple(sorted(names - {adjective})) for adjective, names in table.items()}


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
    return _normalize_both(text, label, rules)[0]


def _normalize_both(text: str, label: str, rules: _Rules) -> tuple[str, str]:
    """The name's :func:`normalize_name` form and its plain form, the same for any label.

    The plain form is the folded tokens without the label's rules (suffixes, titles,
    turning round) and without a leading "the": "Acme Inc." is ``acme inc`` whether an
    organisation or not.
    """
    text = _POSSESSIVE.sub("", text) or text
    if label in rules.persons:
        original = text
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
        plain = _tokens(text)
        tokens = _strip_tail(plain, rules.postnominals)
        while len(tokens) > 1 and tokens[0] in rules.titles:
            tokens = tokens[1:]
        if text is not original:  # turned round: the plain form keeps the written order
            plain = _tokens(original)
    else:
        tokens = plain = _tokens(text)
        article = label in rules.organizations or label in rules.places
        if article and len(tokens) > 1 and tokens[0] == "the":  # "the United Kingdom"
            tokens = tokens[1:]
        if label in rules.organizations:
            tokens = _strip_tail(tokens, rules.suffixes)
            if len(tokens) > 1 and tokens[-1] == "and":  # "Smith & Co." -> "smith and"
                tokens = tokens[:-1]
    if not tokens:  # only punctuation: keep something that still tells texts apart
        kept = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
        return kept, kept
    if len(plain) > 1 and plain[0] == "the":
        plain = plain[1:]
    return " ".join(tokens), " ".join(plain)


def normalize_name(text: str, label: str, *, config: ResolveConfig = DEFAULT_CONFIG) -> str:
    """Return the comparison form of an entity name.

    A final possessive ("Acme's", "Reynolds'") is dropped; then NFKC, casefold,
    accents stripped, apostrophes dropped, ``&`` read as "and", every
    other run of punctuation or whitespace collapsed to one space. For organisation
    and place labels (``config.place_labels``) a leading "the" is removed, for
    organisations trailing legal forms (``config.corporate_suffixes``) too; for person
    labels leading titles and trailing degrees are removed and "Surname, Given" is
    turned round. At least one token is always kept.

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
    name_id: IntArray  # code of the normalised name without a leading "the", across labels
    acronym: list[str]  # the lowercase letters of a key written as an acronym, else ""
    dotted: npt.NDArray[np.bool_]  # the acronym is written with dots ("U.S.")
    proper: npt.NDArray[np.bool_]  # an organisation written as a proper name
    caps_head: npt.NDArray[np.bool_]  # ... whose first word is always in capitals ("ABBA Live")


@dataclass(frozen=True)
class _Clustering:
    """Everything :func:`resolve_mentions` needs besides the cluster ids."""

    keys: _Keys
    key_of_mention: IntArray
    key_cluster: IntArray  # cluster id of each key
    cluster: IntArray  # cluster id of each mention (document rules move some mentions)
    links: list[tuple[int, int, str, float]]  # key-level merges: key, key, rule, score
    moved_by: npt.NDArray[np.int8]  # per mention: 0, or 1 + index of its document rule


_DOCUMENT_RULES: tuple[str, ...] = (
    "document_person",
    "document_short_form",
    "document_acronym",
    "same_name_in_document",
    "short_form_elsewhere",
)
"""Mention-level rules, in ``_Clustering.moved_by`` order (code ``1 + index``)."""

_STOP_TEXT = "a an and at de del della der des di do dos du e et for in la le les of on s the to "
_STOP_WORDS = frozenset((_STOP_TEXT + "und van von y").split())
"""Words an acronym may skip ("National Center for Hearing ..." -> NCHAM); "s" is a
possessive split off by tokenisation ("People 's Republic of China" -> PRC)."""

_ACRONYM_TEXT = re.compile(r"(?:[A-Z]\.){1,9}[A-Z]\.?|[A-Z]{2,10}")
_WORD_BREAK = re.compile(r"[\s\-\u2010-\u2015/]+")


def _acronym_letters(text: str) -> str:
    """The lowercase letters of a text written as an acronym ("USGS", "U.S."), else ""."""
    text = text.strip()
    return text.replace(".", "").lower() if _ACRONYM_TEXT.fullmatch(text) else ""


def _reads_as_proper_name(text: str) -> bool:
    """Tell whether every word after the first (but stop words) is capitalised.

    "Acme Robotics" and "Bank of America" do, "Amanita thiersii" does not. A text in
    one case only ("ACME ROBOTICS", "acme robotics") tells nothing and passes.
    """
    if text.islower() or text.isupper():
        return True
    return all(
        not word[0].isalpha() or word[0].isupper() or word.casefold() in _STOP_WORDS
        for word in _WORD_BREAK.split(text.strip())[1:]
        if word
    )


def _build_keys(
    labels: Sequence[str], texts: Sequence[str], rules: _Rules
) -> tuple[_Keys, IntArray, IntArray]:
    """Dedupe mentions to sorted keys.

    Returns the keys, each mention's key index and each mention's plain-name code
    (equal codes: equal names whatever the labels, see :func:`_normalize_both`).
    """
    distinct = dict.fromkeys(zip(labels, texts, strict=True))  # normalise each form once
    both = {pair: _normalize_both(pair[1], pair[0], rules) for pair in distinct}
    raw = {pair: (pair[0], norm) for pair, (norm, _) in both.items()}
    unique = sorted(set(raw.values()))
    index = {key: i for i, key in enumerate(unique)}
    key_of_raw = {pair: index[key] for pair, key in raw.items()}
    plain_codes: dict[str, int] = {}
    plain_of = {
        p: plain_codes.setdefault(plain, len(plain_codes)) for p, (_, plain) in both.items()
    }
    width = max(len(plain_codes), 1)
    code_of_raw = {pair: key * width + plain_of[pair] for pair, key in key_of_raw.items()}
    coded = np.fromiter(
        map(code_of_raw.__getitem__, zip(labels, texts, strict=True)),
        dtype=np.int64,
        count=len(texts),
    )
    key_of_mention, name_of_mention = np.divmod(coded, width)

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
    name_codes: dict[str, int] = {}
    name_id = np.fromiter(
        (
            name_codes.setdefault(n[4:] if n.startswith("the ") else n, len(name_codes))
            for n in norms
        ),
        dtype=np.int64,
        count=len(norms),
    )
    acronym = [""] * len(norms)
    dotted = [False] * len(norms)
    proper = [False] * len(norms)
    multi_org = [
        len(t) > 1 and x in rules.organizations for x, t in zip(key_labels, tokens, strict=True)
    ]
    caps_head = list(multi_org)
    for (_, text), k in key_of_raw.items():
        if text.isupper() and (letters := _acronym_letters(text)):
            acronym[k] = letters
            dotted[k] = dotted[k] or "." in text
        if multi_org[k]:
            proper[k] = proper[k] or _reads_as_proper_name(text)
            head = text.split(maxsplit=1)[0]
            caps_head[k] = caps_head[k] and len(head) > 1 and head.isupper()
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
        name_id=name_id,
        acronym=acronym,
        dotted=np.asarray(dotted, dtype=np.bool_),
        proper=np.asarray(proper, dtype=np.bool_),
        caps_head=np.asarray(caps_head, dtype=np.bool_),
    )
    return keys, key_of_mention, name_of_mention


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
    the other (:func:`_affix`), or they end in different taxon-rank endings
    ("Oecophoridae", "Oecophorinae").
    """
    return x[:1] != y[:1] or _affix(x, y) or _rank_ending(x) != _rank_ending(y)


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


def _compatible(keys: _Keys, a: int, b: int, config: ResolveConfig) -> bool:
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


def _fuzzy_edges(
    keys: _Keys, counts: IntArray, config: ResolveConfig
) -> list[tuple[int, int, float]]:
    """Fuzzy matches among candidate pairs, as graph edges with their score.

    A pair matches if it scores at least ``threshold`` and passes
    :func:`_compatible`, or (one-word names, ``one_token_typos``) is one swap of
    neighbouring letters apart (:func:`_adjacent_swap`, scored from ``_SWAP_FLOOR``);
    and it must pass the ``max_variant_share`` frequency guard. With ``best_match_only`` each key
    then keeps one edge: to its best match among the matches with at least as many
    mentions as itself (highest score, then most mentions, then smallest key id).
    ``O(P log P)`` for ``P`` candidate pairs, scored in C.
    """
    left, right = _candidate_pairs(keys, config)
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


def _demonym_edges(keys: _Keys, rules: _Rules) -> list[tuple[int, int, float]]:
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
) -> list[tuple[int, int, float]]:
    """Link a one-token organisation to the cluster of organisations it starts.

    The link is made when one candidate cluster dominates the others by mentions
    (``short_form_dominance``, e.g. "Acme" -> "Acme Robotics" even when a stray
    "Acme board" exists), so a stray NER error does not block it, while two real
    organisations sharing a first word keep the short form apart. Only names that
    read as proper names are candidates ("Amanita" does not start "Amanita
    thiersii"), and a short form in capitals does not join a name that starts with
    it in capitals: that names the parent ("ABBA" and "ABBA Live", "CBBC" and "CBBC
    HD"; but "ACME" and "Acme Robotics" join). The score is the candidate's share of the candidates' mentions.
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


def _initials(tokens: Sequence[str]) -> set[str]:
    """The acronyms a multi-word name may have: its initials, each stop word taken or not.

    With more than four stop words only "all" and "none" are tried. Fewer than two
    other words, or a word with a digit, give none.
    """
    content = [t for t in tokens if t not in _STOP_WORDS]
    if len(content) < 2 or any(not t.isalpha() for t in content):
        return set()
    optional = [i for i, t in enumerate(tokens) if t in _STOP_WORDS]
    if len(optional) > 4:
        return {"".join(t[0] for t in content), "".join(t[0] for t in tokens)}
    found = set()
    for mask in range(1 << len(optional)):
        dropped = {i for bit, i in enumerate(optional) if not mask >> bit & 1}
        found.add("".join(t[0] for i, t in enumerate(tokens) if i not in dropped))
    return found


def _long_forms(keys: _Keys) -> dict[str, list[int]]:
    """Multi-word keys by the acronyms they may have, for the acronyms that occur.

    ``O(K)`` over multi-word keys, cheap checks first (no acronym -> nothing).
    """
    wanted = {a for a in keys.acronym if a}
    if not wanted:
        return {}
    shortest, longest = min(map(len, wanted)), max(map(len, wanted))
    heads = {a[0] for a in wanted}
    found: dict[str, list[int]] = defaultdict(list)
    sizes = keys.n_tokens  # initials have at most one letter per token
    for k in np.flatnonzero((sizes >= max(2, shortest)) & (sizes <= 2 * longest)).tolist():
        tokens = keys.tokens[k]
        if tokens[0][0] not in heads and tokens[0] not in _STOP_WORDS:
            continue
        for initials in _initials(tokens) & wanted:
            found[initials].append(k)
    return found


def _spelled_out(
    keys: _Keys,
    key_of_mention: IntArray,
    doc: IntArray,
    long_forms: Mapping[str, list[int]],
    config: ResolveConfig,
) -> set[tuple[int, int]]:
    """``(acronym key, long form key)`` pairs written in one document, for short acronyms.

    Only undotted acronyms shorter than ``min_acronym_letters`` ("UK") are looked at:
    the ones :func:`_acronym_edges` links across documents only when some document of
    the corpus writes the long form beside them. ``O(N)`` in numpy.
    """
    short = [
        k
        for k, letters in enumerate(keys.acronym)
        if letters
        and letters in long_forms
        and len(letters) < config.min_acronym_letters
        and not keys.dotted[k]
    ]
    if not short:
        return set()
    wanted = set(short) | {c for k in short for c in long_forms[keys.acronym[k]]}
    held = np.flatnonzero(np.isin(key_of_mention, np.fromiter(wanted, dtype=np.int64)))
    keys_in_doc: dict[int, set[int]] = defaultdict(set)
    for d, k in zip(doc[held].tolist(), key_of_mention[held].tolist(), strict=True):
        keys_in_doc[d].add(k)
    found: set[tuple[int, int]] = set()
    for present in keys_in_doc.values():
        for k in present.intersection(short):
            found.update((k, c) for c in long_forms[keys.acronym[k]] if c in present)
    return found


def _acronym_edges(
    keys: _Keys,
    cluster: IntArray,
    long_forms: Mapping[str, list[int]],
    config: ResolveConfig,
    spelled_out: set[tuple[int, int]],
) -> list[tuple[int, int, float]]:
    """Link acronyms across documents to their long form, and acronym spellings together.

    An acronym of ``min_acronym_letters`` or more, or a dotted one, joins a long form
    of its label when every long form with its initials (any label) is one cluster. A
    shorter one ("UK") does too when some document writes it beside that long form
    (``spelled_out``, see :func:`_spelled_out`): the corpus itself says what it stands for.
    Acronym keys of one label and letters ("U.S.", "US") are linked to each other.
    """
    edges: list[tuple[int, int, float]] = []
    spellings: dict[tuple[int, str], int] = {}
    clusters, label_ids = cluster.tolist(), keys.label_id.tolist()
    evidenced = {k for k, _ in spelled_out}
    for k, letters in enumerate(keys.acronym):
        if not letters:
            continue
        other = spellings.setdefault((label_ids[k], letters), k)
        if other != k:
            edges.append((other, k, 100.0))
        short = len(letters) < config.min_acronym_letters and not keys.dotted[k]
        if short and k not in evidenced:
            continue
        candidates = [c for c in long_forms.get(letters, ()) if c != k]
        if len({clusters[c] for c in candidates}) != 1:
            continue
        same_label = [c for c in candidates if label_ids[c] == label_ids[k]]
        if short:
            same_label = [c for c in same_label if (k, c) in spelled_out]
        if same_label and clusters[same_label[0]] != clusters[k]:
            edges.append((k, same_label[0], 100.0))
    return edges


def _type_majority_edges(
    keys: _Keys, counts: IntArray, config: ResolveConfig
) -> list[tuple[int, int, float]]:
    """Join a multi-word name's keys of other labels to its dominant label's key.

    A key joins when the dominant key (most mentions, one only) has at least
    ``type_dominance`` times its mentions. The score is the dominant key's share of
    the name's mentions. ``O(K log K)``.
    """
    multi = np.flatnonzero(keys.n_tokens >= 2)
    order = multi[np.lexsort((multi, keys.name_id[multi]))]
    names = keys.name_id[order]
    starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
    sizes = np.diff(np.r_[starts, len(names)])
    edges: list[tuple[int, int, float]] = []
    for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
        group = sorted(order[start : start + size].tolist(), key=lambda k: (-counts[k], k))
        top, second = int(counts[group[0]]), int(counts[group[1]])
        if top == second:
            continue
        total = int(counts[group].sum())
        edges.extend(
            (k, group[0], 100.0 * top / total)
            for k in group[1:]
            if keys.label_id[k] != keys.label_id[group[0]]
            and counts[k] * config.type_dominance <= top
        )
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


def _short_form_fits(tokens: list[str], full: list[str], config: ResolveConfig) -> bool:
    """Tell whether an organisation name (``tokens``) is the short form of ``full``.

    ``tokens`` is one token (``full``'s first, as the caller groups them), ``full`` is
    longer; the caller checks that ``full`` reads as a proper name.
    """
    return (
        config.org_short_forms
        and len(tokens) == 1
        and len(full) > 1
        and len(tokens[0]) >= config.min_short_form_chars
    )


def _document_overrides(
    keys: _Keys,
    key_of_mention: IntArray,
    doc: IntArray,
    key_cluster: IntArray,
    cluster: IntArray,
    moved_by: npt.NDArray[np.int8],
    config: ResolveConfig,
    starts: IntArray | None = None,
) -> None:
    """Move short names to their document's full name (updates ``cluster`` in place).

    Person mentions of one document with the same label and surname, and organisation
    mentions with the same label and first token, form a group. A mention that is a
    less specific name of other names in its group (:func:`_subsumes`: a bare surname,
    an initial, a missing middle name; :func:`_short_form_fits`: an organisation's first
    word, of a proper name not written with it in capitals, written after that name's
    first mention in the document when ``starts`` gives each mention's offset: "Samsung ...
    its subsidiary Samsung Electronics" names two companies) moves to their
    cluster if they are exactly one cluster, different from its own. Groups with more
    than ``max_block_size`` distinct names are left alone. ``O(N log N)`` in numpy
    plus ``O(g^2)`` per group of ``g`` distinct names.
    """
    eligible = (keys.is_person | keys.is_org) & (keys.first >= 0)
    chosen = np.flatnonzero(eligible[key_of_mention])
    if len(chosen) < 2:
        return
    chosen_keys = key_of_mention[chosen]
    anchor = np.where(keys.is_person, keys.last, keys.first)[chosen_keys]
    group = _dense(_combine(doc[chosen], keys.label_id[chosen_keys], anchor))
    first: dict[tuple[int, int], int] = {}  # (group, key) -> first offset in the document
    if starts is not None:
        for g, k, at in zip(
            group.tolist(), chosen_keys.tolist(), starts[chosen].tolist(), strict=True
        ):
            if at < first.get((g, k), at + 1):
                first[g, k] = at
    code = group * len(keys.norms) + chosen_keys  # one code per (group, key)

    distinct = _unique_codes(code)
    groups, members = np.divmod(distinct, len(keys.norms))
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    sizes = np.diff(np.r_[starts, len(groups)])
    wanted = (sizes >= 2) & (sizes <= config.max_block_size)
    clusters, tokens, proper = key_cluster.tolist(), keys.tokens, keys.proper.tolist()
    acronym, caps_head = keys.acronym, keys.caps_head.tolist()
    moved: list[int] = []
    targets: list[int] = []
    for start, size in zip(starts[wanted].tolist(), sizes[wanted].tolist(), strict=True):
        names = members[start : start + size].tolist()
        person = bool(keys.is_person[names[0]])
        for a in names:
            if person:
                given = tokens[a][:-1]
                found = {clusters[b] for b in names if b != a and _subsumes(given, tokens[b][:-1])}
            else:
                g = int(groups[start])
                found = {
                    clusters[b]
                    for b in names
                    if b != a
                    and proper[b]
                    and not (acronym[a] and caps_head[b])
                    and _short_form_fits(tokens[a], tokens[b], config)
                    and (not first or first[g, b] < first[g, a])
                }
            if len(found) == 1 and (target := found.pop()) != clusters[a]:
                moved.append(int(distinct[start]) - names[0] + a)
                targets.append(target)
    if not moved:
        return
    order = np.argsort(np.asarray(moved, dtype=np.int64))
    known = np.asarray(moved, dtype=np.int64)[order]
    target_of = np.asarray(targets, dtype=np.int64)[order]
    pos = np.minimum(np.searchsorted(known, code), len(known) - 1)
    hit = known[pos] == code
    cluster[chosen[hit]] = target_of[pos[hit]]
    rule = np.where(keys.is_person[chosen_keys[hit]], 1, 2).astype(np.int8)
    moved_by[chosen[hit]] = rule


def _document_acronyms(
    keys: _Keys,
    key_of_mention: IntArray,
    doc: IntArray,
    cluster: IntArray,
    moved_by: npt.NDArray[np.int8],
    long_forms: Mapping[str, list[int]],
) -> None:
    """Move acronym mentions to the one long form of their document they spell (in place).

    Any labels, acronyms of two letters or more. ``O(N)`` for the documents that hold
    an acronym with a long form somewhere in the corpus.
    """
    has_long = np.fromiter(
        (bool(a) and a in long_forms for a in keys.acronym), dtype=np.bool_, count=len(keys.acronym)
    )
    acronyms = np.flatnonzero(has_long[key_of_mention])
    if not len(acronyms):
        return
    in_docs = np.flatnonzero(np.isin(doc, np.unique(doc[acronyms])))
    present: dict[tuple[int, int], int] = {}
    for i, d, k in zip(
        in_docs.tolist(), doc[in_docs].tolist(), key_of_mention[in_docs].tolist(), strict=True
    ):
        present.setdefault((d, k), int(cluster[i]))
    for i, d, k in zip(
        acronyms.tolist(), doc[acronyms].tolist(), key_of_mention[acronyms].tolist(), strict=True
    ):
        found = {present[d, c] for c in long_forms[keys.acronym[k]] if (d, c) in present}
        if len(found) == 1 and (target := found.pop()) != cluster[i]:
            cluster[i] = target
            moved_by[i] = 3


def _short_forms_elsewhere(
    keys: _Keys,
    key_of_mention: IntArray,
    doc: IntArray,
    key_cluster: IntArray,
    cluster: IntArray,
    moved_by: npt.NDArray[np.int8],
) -> None:
    """Move short forms to the organisation other documents write them after (in place).

    ``document_short_form`` joined "Northwind" to "Northwind Logistics" in the documents
    that write the full name first; a document that writes "Northwind" alone then names
    the same organisation, when it is the only organisation of the corpus that starts with
    that word, every document that moved the short form moved it there, and more documents
    joined the two than kept them apart (a document holding both that never joined them,
    as "Samsung ... its subsidiary Samsung Electronics" does, or a title that names the
    company before its full name). Then every mention of the short form that no other
    rule moved joins it. ``O(N)`` in numpy plus dictionaries over the short forms.
    """
    moved = np.flatnonzero(moved_by == _DOCUMENT_RULES.index("document_short_form") + 1)
    if not len(moved):
        return
    targets: dict[int, set[int]] = defaultdict(set)
    moved_in: set[tuple[int, int]] = set()  # (short form key, document) where it was moved
    for k, c, d in zip(
        key_of_mention[moved].tolist(), cluster[moved].tolist(), doc[moved].tolist(), strict=True
    ):
        targets[k].add(c)
        moved_in.add((k, d))
    full_names: dict[tuple[int, int], set[int]] = defaultdict(set)  # (label, first word)
    for k in np.flatnonzero(keys.is_org & keys.proper & (keys.n_tokens >= 2)).tolist():
        full_names[int(keys.label_id[k]), int(keys.first[k])].add(int(key_cluster[k]))
    target_of = {
        k: next(iter(found))
        for k, found in targets.items()
        if len(found) == 1 and full_names.get((int(keys.label_id[k]), int(keys.first[k]))) == found
    }
    if not target_of:
        return
    wanted = np.fromiter(target_of, dtype=np.int64, count=len(target_of))
    alone = np.flatnonzero(
        np.isin(key_of_mention, wanted) & (moved_by == 0) & (cluster == key_cluster[key_of_mention])
    )
    clusters = np.fromiter(set(target_of.values()), dtype=np.int64)
    holding = np.flatnonzero(np.isin(cluster, clusters))
    docs_of: dict[int, set[int]] = defaultdict(set)
    for c, d in zip(cluster[holding].tolist(), doc[holding].tolist(), strict=True):
        docs_of[c].add(d)
    joined = Counter(k for k, _ in moved_in)  # documents that joined the short form
    apart = {  # documents that hold the organisation and never joined the short form to it
        (k, d)
        for k, d in zip(key_of_mention[alone].tolist(), doc[alone].tolist(), strict=True)
        if d in docs_of[target_of[k]] and (k, d) not in moved_in
    }
    kept_apart = Counter(k for k, _ in apart)
    code = _DOCUMENT_RULES.index("short_form_elsewhere") + 1
    for i, k in zip(alone.tolist(), key_of_mention[alone].tolist(), strict=True):
        if joined[k] > kept_apart[k]:
            cluster[i] = target_of[k]
            moved_by[i] = code


def _same_name_in_document(
    name_of_mention: IntArray,
    doc: IntArray,
    cluster: IntArray,
    moved_by: npt.NDArray[np.int8],
) -> None:
    """Join the mentions of one name under several labels in one document (in place).

    Mentions that no other document rule moved, with one plain name
    (:func:`_normalize_both`), in more than one cluster, go to the cluster holding most of them
    (ties: the smaller cluster id). ``O(N log N)`` in numpy.
    """
    free = np.flatnonzero(moved_by == 0)
    if len(free) < 2:
        return
    group = _combine(doc[free], name_of_mention[free])
    order = np.lexsort((cluster[free], group))
    g, c = group[order], cluster[free][order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], len(g)]
    split = c[starts] != c[ends - 1]  # sorted by cluster within a group
    for s, e in zip(starts[split].tolist(), ends[split].tolist(), strict=True):
        members = free[order[s:e]]
        counts = Counter(cluster[members].tolist())
        target = min(counts, key=lambda x: (-counts[x], x))
        moving = members[cluster[members] != target]
        cluster[moving] = target
        moved_by[moving] = 4


def _lowercase(text: str) -> bool:
    """Tell whether a text has letters and all of them lowercase ("two doors down")."""
    return text.islower()


def _capital_inside(text: str) -> bool:
    """Tell whether a text has a capital after its first character ("Two Doors Down", "iOS").

    A capital only at the start may be the start of a sentence ("Souvlaki is ..."), which
    tells nothing about the words.
    """
    return any(ch.isupper() for ch in text[1:])


def _split_lowercase(
    texts: Sequence[str],
    doc_ids: Sequence[str],
    name_of_mention: IntArray,
    doc: IntArray,
    cluster: IntArray,
    first_free: int,
) -> None:
    """Part a name written in lowercase from the same name written with capitals (in place).

    In a document that writes a name both ways ("Two Doors Down", the song, and a party
    "two doors down the hall"), the lowercase mentions are a common phrase or another
    thing: those that share a cluster with a mention of their name and document that has
    a capital beyond its first letter (:func:`_capital_inside`) become a cluster of their own, one per document and name, numbered from
    ``first_free`` in (document id, text) order. Names written only in lowercase (a tweet's
    "obama") are left as they are. ``O(N log N)`` in numpy.
    """
    lower = np.fromiter(map(_lowercase, texts), dtype=np.bool_, count=len(texts))
    if not lower.any() or lower.all():
        return
    group = _combine(doc, name_of_mention, cluster)
    titled = np.fromiter(map(_capital_inside, texts), dtype=np.bool_, count=len(texts))
    capitalised = np.unique(group[titled])
    moving = np.flatnonzero(lower & np.isin(group, capitalised))
    if not len(moving):
        return
    parts = _combine(doc[moving], name_of_mention[moving]).tolist()
    label: dict[int, tuple[str, str]] = {}
    for part, i in zip(parts, moving.tolist(), strict=True):
        label[part] = min(label.get(part, (doc_ids[i], texts[i])), (doc_ids[i], texts[i]))
    number = {part: n for n, part in enumerate(sorted(label, key=label.__getitem__))}
    cluster[moving] = first_free + np.fromiter(map(number.__getitem__, parts), dtype=np.int64)


KeyPairVeto = Callable[[list[tuple[int, int]]], list[bool]]
"""Given key pairs about to merge, say which may (context similarity)."""


@dataclass
class _Links:
    """The graph of merged keys and the rule and score of each of its edges."""

    size: int
    veto: KeyPairVeto | None = None
    graph: nx.Graph[int] = field(default_factory=nx.Graph)
    found: list[tuple[int, int, str, float]] = field(default_factory=list)
    pairs: set[tuple[int, int]] = field(default_factory=set)

    def add(self, edges: Sequence[tuple[int, int, float]], rule: str) -> bool:
        """Add ``(key, key, score)`` edges found by ``rule``; tell whether any was kept."""
        if self.veto is not None and edges and rule in _CONTEXT_CHECKED:
            keep = self.veto([(a, b) for a, b, _ in edges])
            edges = [edge for edge, ok in zip(edges, keep, strict=True) if ok]
        fresh = []
        for a, b, score in edges:  # one record per pair, the first found
            pair = (a, b) if a < b else (b, a)
            if pair not in self.pairs:
                self.pairs.add(pair)
                fresh.append((a, b, rule, score))
        self.graph.add_edges_from((a, b) for a, b, _, _ in fresh)
        self.found.extend(fresh)
        return bool(edges)

    def clusters(self) -> IntArray:
        """Cluster id of every key (see :func:`_components`)."""
        return _components(self.size, self.graph)


def _key_clusters(
    keys: _Keys,
    counts: IntArray,
    config: ResolveConfig,
    links: _Links,
    key_of_mention: IntArray,
    doc: IntArray,
) -> tuple[IntArray, dict[str, list[int]]]:
    """Steps 3 to 5 of the module docstring: the cluster of every key, and the long forms."""
    if len(keys.norms):
        links.add(_fuzzy_edges(keys, counts, config), "fuzzy")
        links.add(_type_majority_edges(keys, counts, config), "type_majority")
    if config.token_order:
        links.add([(a, b, 100.0) for a, b in _token_order_edges(keys)], "token_order")
    if config.demonyms:
        links.add(_demonym_edges(keys, _compile(config)), "demonym")
    key_cluster = links.clusters()
    long_forms = _long_forms(keys) if config.acronyms else {}
    if long_forms:
        spelled_out = _spelled_out(keys, key_of_mention, doc, long_forms, config)
        acronyms = _acronym_edges(keys, key_cluster, long_forms, config, spelled_out)
        if links.add(acronyms, "acronym"):
            key_cluster = links.clusters()
    if (
        config.org_short_forms
        and config.org_short_forms_across_documents
        and links.add(_short_form_edges(keys, key_cluster, counts, config), "org_short_form")
    ):
        key_cluster = links.clusters()
    pending = _person_candidates(keys) if config.person_rules else {}
    while pending:  # repeat for names that were ambiguous until nothing changes
        edges, pending = _person_rule_edges(keys, key_cluster, pending)
        if not links.add([(a, b, 100.0) for a, b in edges], "person_name"):
            break
        key_cluster = links.clusters()
    return key_cluster, long_forms


def _cluster(
    labels: Sequence[str],
    texts: Sequence[str],
    doc_ids: Sequence[str],
    config: ResolveConfig,
    contexts: Sequence[str] | None = None,
    starts: Sequence[int] | None = None,
) -> _Clustering:
    """Run the whole algorithm (see the module docstring).

    ``contexts`` (the sentence of each mention) turns on the context veto.
    """
    if not len(labels) == len(texts) == len(doc_ids):
        raise ValueError(
            f"labels, texts and doc_ids differ in length: "
            f"{len(labels)}, {len(texts)}, {len(doc_ids)}"
        )
    rules = _compile(config)
    keys, key_of_mention, name_of_mention = _build_keys(labels, texts, rules)
    size = len(keys.norms)
    counts = np.bincount(key_of_mention, minlength=size).astype(np.int64)
    veto = None if contexts is None else _context_veto(key_of_mention, contexts, config)
    links = _Links(size, veto)
    doc_index = {doc: i for i, doc in enumerate(dict.fromkeys(doc_ids))}
    doc = np.fromiter(map(doc_index.__getitem__, doc_ids), dtype=np.int64, count=len(doc_ids))
    key_cluster, long_forms = _key_clusters(keys, counts, config, links, key_of_mention, doc)

    cluster = key_cluster[key_of_mention]
    moved_by = np.zeros(len(cluster), dtype=np.int8)
    if config.document_rules:
        offsets = None if starts is None else np.asarray(starts, dtype=np.int64)
        _document_overrides(
            keys, key_of_mention, doc, key_cluster, cluster, moved_by, config, offsets
        )
    if long_forms:
        _document_acronyms(keys, key_of_mention, doc, cluster, moved_by, long_forms)
    if config.document_rules and config.org_short_forms and config.org_short_forms_elsewhere:
        _short_forms_elsewhere(keys, key_of_mention, doc, key_cluster, cluster, moved_by)
    if config.same_name_rule:
        _same_name_in_document(name_of_mention, doc, cluster, moved_by)
    if config.case_in_document:
        _split_lowercase(texts, doc_ids, name_of_mention, doc, cluster, len(keys.norms))
    return _Clustering(
        keys=keys,
        key_of_mention=key_of_mention,
        key_cluster=key_cluster,
        cluster=cluster,
        links=links.found,
        moved_by=moved_by,
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
        ...     ["Acme Robotics Inc.", "ACME robtics", "Acme Robotics", "David Chen", "Linda Chen"],
        ...     ["d1", "d2", "d3", "d1", "d1"],
        ... )
        >>> ids.tolist()
        [0, 0, 0, 2, 3]
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


def _context_veto(
    key_of_mention: IntArray, contexts: Sequence[str], config: ResolveConfig
) -> KeyPairVeto:
    """A veto that keeps a key pair when its names' sentence contexts are similar enough.

    A name's context is the mean embedding of up to ``context_max_sentences`` of its
    mentions' sentences (distinct, in sorted order, the mention's own text removed); a
    pair is kept when the cosine reaches ``context_min_similarity`` or a side has no
    sentence.
    """
    import torch

    from kgbuild.nlp.sentence_encoder import load_sentence_encoder

    # fp32: a merge decided by a cut-off must not move with the batch a sentence is in
    encoder = load_sentence_encoder(config.context_model, precision="fp32")
    order = np.argsort(key_of_mention, kind="stable")
    bounds = np.searchsorted(
        key_of_mention[order], np.arange(int(key_of_mention.max(initial=-1)) + 2)
    )
    vectors: dict[int, torch.Tensor | None] = {}

    def sentences(k: int) -> list[str]:
        found = {contexts[i] for i in order[bounds[k] : bounds[k + 1]].tolist() if contexts[i]}
        return sorted(found)[: config.context_max_sentences]

    def veto(pairs: list[tuple[int, int]]) -> list[bool]:
        wanted = sorted({k for pair in pairs for k in pair} - vectors.keys())
        texts = {k: sentences(k) for k in wanted}
        encoded = encoder.encode(sorted({t for found in texts.values() for t in found}))
        row = {t: i for i, t in enumerate(sorted({t for found in texts.values() for t in found}))}
        for k, found in texts.items():
            mean = encoded[[row[t] for t in found]].mean(0) if found else None
            vectors[k] = None if mean is None else torch.nn.functional.normalize(mean, dim=0)
        keep = []
        for a, b in pairs:
            va, vb = vectors[a], vectors[b]
            keep.append(va is None or vb is None or float(va @ vb) >= config.context_min_similarity)
        return keep

    return veto


def _vote(labels: Iterable[str]) -> str:
    """The majority label (ties: the alphabetically first)."""
    counts = Counter(labels)
    return min(counts, key=lambda label: (-counts[label], label))


def _merge_records(
    clustering: _Clustering,
    texts: Sequence[str],
    doc_ids: Sequence[str],
    entity_of_cluster: Mapping[int, Entity],
) -> dict[int, list[Merge]]:
    """The merges of each cluster: its key links, and its moved mentions by rule and name."""
    keys, key_of_mention = clustering.keys, clustering.key_of_mention
    forms: dict[int, Counter[str]] = defaultdict(Counter)
    linked = {k for a, b, _, _ in clustering.links for k in (a, b)}
    for index, key in enumerate(key_of_mention.tolist()):
        if key in linked:
            forms[key][texts[index]] += 1

    def form(key: int) -> str:
        return min(forms[key], key=lambda t: (-forms[key][t], t))

    records: dict[int, list[Merge]] = defaultdict(list)
    for a, b, rule, score in clustering.links:
        cluster = int(clustering.key_cluster[a])
        if cluster in entity_of_cluster:
            records[cluster].append(
                Merge(
                    rule=rule,
                    score=round(score, 2),
                    source=form(a),
                    source_label=keys.labels[a],
                    target=form(b),
                    target_label=keys.labels[b],
                )
            )
    moved: dict[tuple[int, str, str, int], set[str]] = defaultdict(set)
    for index in np.flatnonzero(clustering.moved_by).tolist():
        key = int(key_of_mention[index])
        cluster = int(clustering.cluster[index])
        rule = _DOCUMENT_RULES[int(clustering.moved_by[index]) - 1]
        moved[cluster, rule, texts[index], key].add(doc_ids[index])
    for (cluster, rule, text, key), docs in moved.items():
        entity = entity_of_cluster[cluster]
        records[cluster].append(
            Merge(
                rule=rule,
                score=100.0,
                source=text,
                source_label=keys.labels[key],
                target=entity.name,
                target_label=entity.label,
                doc_ids=tuple(sorted(docs)),
            )
        )
    return records


def resolve_mentions(
    mentions: Sequence[Mention],
    config: ResolveConfig = DEFAULT_CONFIG,
    *,
    sentences: Mapping[str, str] | None = None,
) -> ResolutionResult:
    """Resolve mentions into entities across documents.

    Complexity: that of :func:`cluster_names`, plus ``O(N log N)`` to group and sort.

    Args:
        mentions: Mentions with unique ids, from any number of documents.
        config: Thresholds and switches.
        sentences: Chunk id to text, for ``config.context_similarity`` (ignored when off).

    Returns:
        Entities sorted by id. An entity's ``label`` is the majority label of its
        mentions (ties: alphabetical); its ``name`` is its fullest surface form (most
        normalised words; then most frequent, longest, lexicographically smallest)
        among mentions that no document rule moved to it; ``aliases`` are its other
        surface forms, sorted; ``mention_ids`` and ``doc_ids`` are sorted; ``merges``
        say which rule joined which names. Its id is
        ``stable_id("ent", label, normalize_name(name, label))``, so it is stable
        across runs and batches as long as the canonical name is (should two entities
        get one id, the later in cluster order also hashes its cluster's first key).

    Raises:
        ValueError: If two mentions share an id, or context similarity is on without
            ``sentences``.
    """
    ids = [m.id for m in mentions]
    if len(set(ids)) != len(ids):
        raise ValueError("mention ids must be unique")
    labels = [m.label for m in mentions]
    texts = [m.text for m in mentions]
    doc_ids = [m.provenance.doc_id for m in mentions]
    contexts = None
    if config.context_similarity:
        if sentences is None:
            raise ValueError("context_similarity needs the sentences (chunk id -> text)")
        contexts = [  # the name itself left out: only its surroundings count
            " ".join(sentences.get(m.provenance.chunk_id, "").replace(m.text, " ").split())
            for m in mentions
        ]
    starts = [m.span.start for m in mentions]
    result = _cluster(labels, texts, doc_ids, config, contexts, starts)
    anchored = result.key_cluster[result.key_of_mention] == result.cluster
    adjectives = [a for a, _, rule, _ in result.links if rule == "demonym"]
    adjective = np.isin(result.key_of_mention, adjectives)  # named after the place instead

    members: dict[int, list[int]] = defaultdict(list)
    for index, cluster in enumerate(result.cluster.tolist()):
        members[cluster].append(index)
    entity_of_cluster: dict[int, Entity] = {}
    used: set[str] = set()
    for cluster in sorted(members):
        group = members[cluster]
        label = _vote(labels[i] for i in group)
        shown = (
            [texts[i] for i in group if anchored[i] and not adjective[i]]
            or [texts[i] for i in group if anchored[i]]
            or [texts[i] for i in group]
        )
        name = _canonical(shown, label, config)
        norm = normalize_name(name, label, config=config)
        entity_id = stable_id("ent", label, norm)
        if entity_id in used and cluster >= len(result.keys.norms):  # a lowercase part
            entity_id = stable_id("ent", label, norm, "lowercase", doc_ids[group[0]])
        elif entity_id in used:  # rare: see Returns
            first = result.keys
            entity_id = stable_id("ent", label, norm, first.labels[cluster], first.norms[cluster])
        used.add(entity_id)
        entity_of_cluster[cluster] = Entity(
            id=entity_id,
            label=label,
            name=name,
            aliases=tuple(sorted({texts[i] for i in group} - {name})),
            mention_ids=tuple(sorted(ids[i] for i in group)),
            doc_ids=tuple(sorted({doc_ids[i] for i in group})),
        )
    records = _merge_records(result, texts, doc_ids, entity_of_cluster)
    entities = sorted(
        (
            entity.model_copy(update={"merges": tuple(sorted(records[c], key=_merge_order))})
            if records.get(c)
            else entity
            for c, entity in entity_of_cluster.items()
        ),
        key=lambda e: e.id,
    )
    mention_to_entity = {
        ids[i]: entity_of_cluster[c].id for c, group in members.items() for i in group
    }
    return ResolutionResult(
        entities=tuple(entities),
        mention_to_entity=mention_to_entity,
        merges=len(result.keys.norms) - len(entities),
    )


def _merge_order(merge: Merge) -> tuple[str, str, str, str, tuple[str, ...]]:
    return (merge.rule, merge.source, merge.source_label, merge.target, merge.doc_ids)
