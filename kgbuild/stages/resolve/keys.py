"""Keys: mentions reduced to unique ``(label, normalized name)`` pairs with token data."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kgbuild.stages.resolve.codes import IntArray
from kgbuild.stages.resolve.names import NameRules, is_regnal_number, normalize_both


@dataclass(frozen=True)
class Keys:
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
    regnal: npt.NDArray[np.bool_]  # a person's name ending in a regnal number ("Henry VIII")
    written_out: list[tuple[tuple[str, ...], ...]]  # an organisation's tokens with its legal
    # form written out, as an acronym may spell them ("british broadcasting corporation")


_STOP_TEXT = "a an and at de del della der des di do dos du e et for in la le les of on s the to "


STOP_WORDS = frozenset((_STOP_TEXT + "und van von y").split())
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
        not word[0].isalpha() or word[0].isupper() or word.casefold() in STOP_WORDS
        for word in _WORD_BREAK.split(text.strip())[1:]
        if word
    )


_SPELLED_SUFFIX_LETTERS = 5
"""A legal form stripped from a key of at least this many letters per word ("company",
"corporation", "group", "limited") is a word an acronym may spell: BBC, BCG."""


def _written_out(norm: str, plain: str) -> tuple[str, ...] | None:
    """The plain tokens of an organisation when they are its key and spelled-out legal form."""
    tokens, written = norm.split(), tuple(plain.split())
    tail = written[len(tokens) :]
    if not tail or list(written[: len(tokens)]) != tokens:
        return None
    return written if all(len(t) >= _SPELLED_SUFFIX_LETTERS and t.isalpha() for t in tail) else None


def build_keys(
    labels: Sequence[str], texts: Sequence[str], rules: NameRules
) -> tuple[Keys, IntArray, IntArray]:
    """Dedupe mentions to sorted keys.

    Returns the keys, each mention's key index and each mention's plain-name code (equal
    codes: equal names whatever the labels, see
    :func:`~kgbuild.stages.resolve.names.normalize_both`).
    """
    distinct = dict.fromkeys(zip(labels, texts, strict=True))  # normalise each form once
    both = {pair: normalize_both(pair[1], pair[0], rules) for pair in distinct}
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
    written_out: list[set[tuple[str, ...]]] = [set() for _ in norms]
    for (label, text), k in key_of_raw.items():
        if text.isupper() and (letters := _acronym_letters(text)):
            acronym[k] = letters
            dotted[k] = dotted[k] or "." in text
        if key_labels[k] in rules.organizations and (
            spelled := _written_out(norms[k], both[label, text][1])
        ):
            written_out[k].add(spelled)
        if multi_org[k]:
            proper[k] = proper[k] or _reads_as_proper_name(text)
            head = text.split(maxsplit=1)[0]
            caps_head[k] = caps_head[k] and len(head) > 1 and head.isupper()
    keys = Keys(
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
        regnal=np.fromiter(
            (
                x in rules.persons and len(t) > 1 and is_regnal_number(t[-1])
                for x, t in zip(key_labels, tokens, strict=True)
            ),
            dtype=np.bool_,
            count=len(tokens),
        ),
        written_out=[tuple(sorted(found)) for found in written_out],
    )
    return keys, key_of_mention, name_of_mention
