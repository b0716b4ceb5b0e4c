"""Checks that an English mention reads as a name.

No function word at its edges, and capitals where the text is cased. Of the 13,189 gold
mentions of Re-DocRED's dev set, none ends with a lowercase function word ("of", "the",
"and"...) and none is one alone; of its 8,522 PER, ORG and LOC mentions, 12 are written
without a capital ("free trade zone", "southwestern"). A token classifier still cuts
"Bluefin Analytics of" out of "Bluefin Analytics of Singapore", tags a lone "the" before
"United States" as a place, and, on text unlike its training data, tags "solar" or "us"
as names. On Re-DocRED docs 0-99 (held out from the default NER's training) these checks
drop 39 of the default NER's 2,656 mentions and trim 8, none of the 47 right before; 4 of
the trimmed ones are right after (typed mention F1 81.37 -> 82.12).

Casing says something only where the writer used it: tweets write "new york" and
"obama" (22% of WNUT-17's person names are lowercase). So the lowercase check applies to
documents whose sentences begin with capitals (:func:`is_cased`), never to a short or
unevenly cased one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kgbuild.lang import covers

__all__ = [
    "CASED_SHARE",
    "FUNCTION_WORDS",
    "LEADING_FUNCTION_WORDS",
    "MIN_CASED_SENTENCES",
    "is_cased",
    "is_english",
    "trim_function_words",
    "written_lowercase",
]

FUNCTION_WORDS = frozenset(
    {"the", "a", "an", "of", "and", "or", "in", "on", "at", "to", "by", "with", "from", "for"}
    | {"as", "than", "that", "which", "who"}
)
"""Lowercase English words that never end a name (and are never one alone)."""

LEADING_FUNCTION_WORDS = FUNCTION_WORDS - {"the", "a", "an"}
"""Those that never start one either: an article may ("the United States", "the 1990s")."""

MIN_CASED_SENTENCES = 3
"""Sentences with letters a document needs before its casing is trusted."""

CASED_SHARE = 0.9
"""Share of those that must begin with a capital for the document to count as cased."""

_ENGLISH = frozenset({"en"})
_LAST_WORD = re.compile(r"\s+(\S+)$")
_FIRST_WORD = re.compile(r"^(\S+)\s+")


def is_english(lang: str) -> bool:
    """Whether a document language code is English ("en", "en-GB", "en_US")."""
    return covers(_ENGLISH, lang.replace("_", "-"))


def trim_function_words(text: str, start: int, end: int) -> tuple[int, int] | None:
    """``text[start:end]`` without function words at its edges; ``None`` if nothing is left.

    Lowercase function words (:data:`FUNCTION_WORDS`) come off the end, prepositions and
    conjunctions (:data:`LEADING_FUNCTION_WORDS`) off the start; only whole
    space-separated words, exactly as written ("Of" in a title stays).

    >>> text = "Bluefin Analytics of Singapore"
    >>> text[slice(*trim_function_words(text, 0, 20))]
    'Bluefin Analytics'
    >>> trim_function_words("in the region", 3, 6) is None
    True
    """
    span = text[start:end]
    while True:
        last = _LAST_WORD.search(span)
        if last and last.group(1) in FUNCTION_WORDS:
            end -= len(span) - last.start()
            span = span[: last.start()]
            continue
        first = _FIRST_WORD.match(span)
        if first and first.group(1) in LEADING_FUNCTION_WORDS:
            start += first.end()
            span = span[first.end() :]
            continue
        break
    if span in FUNCTION_WORDS:
        return None
    return start, end


def written_lowercase(name: str) -> bool:
    """Whether ``name`` has cased letters, none of them capitals, and no digit.

    >>> written_lowercase("solar"), written_lowercase("Solar"), written_lowercase("76ers")
    (True, False, False)
    >>> written_lowercase("北京")  # no cased letters: casing says nothing
    False
    """
    return (
        any(c.islower() for c in name)
        and not any(c.isupper() for c in name)
        and not any(c.isdigit() for c in name)
    )


def is_cased(sentences: Iterable[str]) -> bool:
    """Whether a document's sentences show ordinary casing.

    At least :data:`MIN_CASED_SENTENCES` sentences with a cased letter, and
    :data:`CASED_SHARE` of them begin (their first cased letter) with a capital.

    >>> is_cased(["Acme grew.", "It hired.", "Sales rose."])
    True
    >>> is_cased(["lol new york", "Going to see jake", "RT this"])
    False
    """
    total = capital = 0
    for sentence in sentences:
        first = next((c for c in sentence if c.islower() or c.isupper()), None)
        if first is None:
            continue
        total += 1
        capital += first.isupper()
    return total >= MIN_CASED_SENTENCES and capital >= CASED_SHARE * total
