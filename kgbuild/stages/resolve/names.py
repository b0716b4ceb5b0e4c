"""Names in comparison form: the normalisation every rule of resolution compares."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from kgbuild.config import ResolveConfig
from kgbuild.stages.demonyms import PLACES

DEFAULT_CONFIG = ResolveConfig()
"""The default configuration, shared (it is immutable)."""


_APOSTROPHES = re.compile(r"['\u2019\u2018\u02bc`\u00b4]")


_POSSESSIVE = re.compile(r"\s*['\u2019\u02bc][sS]?$")


_NON_WORD = re.compile(r"[\W_]+")


INSIDE_WORDS = dict.fromkeys(map(ord, "\u00ad\u200c\u200d\u2060\ufeff"))
"""Invisible characters that never end a word (soft hyphen, zero-width (non-)joiner, word
joiner, BOM): dropped, so "Mül\u00adler" is "Müller"; a zero-width space still separates."""


_UNDECOMPOSED = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ð": "d", "ħ": "h", "ı": "i", "ŧ": "t", "ŀ": "l"}
    | {"æ": "ae", "œ": "oe", "þ": "th"}
)
"""Letters whose mark is part of the letter, not a combining accent that NFD takes off:
folded as usually written without it ("Łódź" is "Lodz", "Søren" "Soren", "Æsir" "Aesir")."""


_GENERATIONAL = frozenset({"jr", "sr", "ii", "iii", "iv"})


_ROMAN_NUMERAL = re.compile(r"(?=[cilvx])c{0,3}(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})")


_REGNAL_NUMBER = re.compile(r"(?=[ivx])x{0,3}(?:ix|iv|v?i{0,3})")


def is_roman_numeral(token: str) -> bool:
    """Tell whether a folded token is a Roman numeral up to 399 ("i", "vii", "xliv").

    A regnal or ordinal number: "Henry VI" and "Henry VII", "Super Bowl XLIV" and
    "Super Bowl XLV" name different things, however close the spellings.
    """
    return _ROMAN_NUMERAL.fullmatch(token) is not None


def is_regnal_number(token: str) -> bool:
    """Tell whether a folded token is a Roman numeral of i, v and x only (1 to 39).

    The numbers of rulers, popes and generations ("Louis XVIII", "John XXIII"); unlike
    :func:`is_roman_numeral` it leaves out "li" and "cl", which are names too ("Wei Li").
    """
    return _REGNAL_NUMBER.fullmatch(token) is not None


_NUMBER_TEXT = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
_ORDINAL_TEXT = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"
)
_WORD_VALUES = {
    word: str(value)
    for text in (_NUMBER_TEXT, _ORDINAL_TEXT)
    for value, word in enumerate(text.split(), start=1)
}


_ORDINAL_DIGITS = re.compile(r"(\d+)(?:st|nd|rd|th)")


MAY_WRITE_NUMBER = re.compile(
    r"(?<!\S)(?:\d+(?:st|nd|rd|th)?|[ivx]+|" + "|".join(_WORD_VALUES) + r")(?!\S)"
)
"""Finds a token that may write a number in normalised names (a cheap first check)."""


_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10}


def _roman_value(token: str) -> int:
    """The value of a numeral of i, v and x (see :func:`is_regnal_number`)."""
    values = [_ROMAN_VALUES[c] for c in token]
    return sum(-v if v < nxt else v for v, nxt in zip(values, [*values[1:], 0], strict=True))


def numeral_value(token: str, *, first: bool) -> str | None:
    """The number a folded token writes, as digits, or ``None`` when it writes none.

    Number words and ordinals up to twenty ("two", "second"), ordinal digits ("2nd"),
    digits (as written: leading zeros kept), and Roman numerals of i, v and x except as a
    name's first word ("ii" in "world war ii", not the "i" of "i robot"): "World War Two",
    "World War II" and "Second World War" all read 2.
    """
    if token.isdigit():  # as written: "3,000" is "3 000", not "3 0"
        return token
    if token in _WORD_VALUES:
        return _WORD_VALUES[token]
    if match := _ORDINAL_DIGITS.fullmatch(token):
        return str(int(match.group(1)))
    if not first and is_regnal_number(token):
        return str(_roman_value(token))
    return None


@dataclass(frozen=True)
class NameRules:
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
    text = unicodedata.normalize("NFKC", text.translate(INSIDE_WORDS)).casefold()
    if not text.isascii():
        decomposed = unicodedata.normalize("NFD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
        text = text.translate(_UNDECOMPOSED)
    text = _APOSTROPHES.sub("", text.replace("&", " and "))
    return _NON_WORD.sub(" ", text).split()


@functools.lru_cache(maxsize=16)
def compile_rules(config: ResolveConfig) -> NameRules:
    """Normalise the config's word lists once per config (they are hashable)."""

    def phrases(words: Iterable[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
        by_last: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for phrase in sorted({tuple(_tokens(w)) for w in words}, key=lambda p: (-len(p), p)):
            if phrase:
                by_last[phrase[-1]].append(phrase)
        return {last: tuple(found) for last, found in by_last.items()}

    return NameRules(
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


def _normalize(text: str, label: str, rules: NameRules) -> str:
    """Implement :func:`normalize_name` for a compiled config."""
    return normalize_both(text, label, rules)[0]


def normalize_both(text: str, label: str, rules: NameRules) -> tuple[str, str]:
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


def starts_with_honorific(text: str, label: str, rules: NameRules) -> bool:
    """Whether a name opens with a word a display name is better without.

    A title for person labels ("Dr. Jane Roe", "Mr. X"), a leading "the" for any label
    ("the Acme Corp"), when another word follows. Such a form normalises like the form
    without the word, so the two tie for the name an entity is shown by.

    >>> rules = compile_rules(DEFAULT_CONFIG)
    >>> [starts_with_honorific(t, "PER", rules) for t in ("Dr. Jane Roe", "Jane Roe", "Dr.")]
    [True, False, False]
    >>> starts_with_honorific("the Acme Corp", "ORG", rules)
    True
    """
    tokens = _tokens(text)
    if len(tokens) < 2:
        return False
    return tokens[0] == "the" or (label in rules.persons and tokens[0] in rules.titles)


def normalize_name(text: str, label: str, *, config: ResolveConfig = DEFAULT_CONFIG) -> str:
    """Return the comparison form of an entity name.

    A final possessive ("Acme's", "Reynolds'") is dropped; then NFKC, casefold,
    accents stripped (and the strokes and ligatures NFD leaves: "ł", "ø", "æ"), apostrophes
    dropped, ``&`` read as "and", every
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
    return _normalize(text, label, compile_rules(config))
