"""Text normalisation and tokenisation shared by linking and ranking."""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "CORPORATE_SUFFIXES",
    "STOPWORDS",
    "fold",
    "is_cjk",
    "name_forms",
    "tokens",
    "word_spans",
]

_WORD = re.compile(
    r"[^\W_](?:[^\W_]|[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f])*"
)
"""A word: letters and digits, and the accents of decomposed text ("Ame\u0301lie", as
macOS files and some PDFs write it), which belong to their letters."""
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

_SUFFIXES = "inc ltd llc gmbh ag sa co corp plc pte pvt limited"
CORPORATE_SUFFIXES = frozenset(_SUFFIXES.split())
_STOPWORDS = """a an the of in on at to for by with from and or is are was were be been being do does did
    has have had what which who whom whose where when why how many much list name all any some
    that this these those it its their there than then into about as after before did company
    companies people person persons firm firms organisation organisations organization city
    cities country based work works worked working founded founder founders born acquire
    acquired acquisition invest invested investors partner partners partnered headquartered
    headquarters located live lives lived employ employs employed me tell please s"""
STOPWORDS = frozenset(_STOPWORDS.split())


def fold(text: str) -> str:
    """Case-fold and strip accents: ``"María González"`` -> ``"maria gonzalez"``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def is_cjk(text: str) -> bool:
    """Whether ``text`` holds Chinese characters."""
    return _CJK.search(text) is not None


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the words of ``text`` (a CJK character is a word of its own)."""
    spans: list[tuple[int, int]] = []
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group()
        if is_cjk(word):
            run = start
            for i, char in enumerate(word):
                if _CJK.match(char):
                    if run < start + i:
                        spans.append((run, start + i))
                    spans.append((start + i, start + i + 1))
                    run = start + i + 1
            if run < match.end():
                spans.append((run, match.end()))
        else:
            spans.append((start, match.end()))
    return spans


_INSIDE_WORDS = dict.fromkeys(map(ord, "\u00ad\u200c\u200d\u2060\ufeff"))
"""Invisible characters that never end a word (soft hyphen, zero-width joiners, BOM)."""


def tokens(text: str) -> list[str]:
    """Folded word tokens (possessive ``'s`` dropped).

    The text is composed first (NFC) and its invisible in-word characters dropped, so a
    name written decomposed ("Mu\u0308ller") or with a soft hyphen is one word, as typed.

    >>> tokens("Hans Mu\u0308l\u00adler's")
    ['hans', 'muller']
    """
    text = unicodedata.normalize("NFC", text.translate(_INSIDE_WORDS))
    return [fold(text[a:b]) for a, b in word_spans(text) if not _possessive(text, a, b)]


def _possessive(text: str, start: int, end: int) -> bool:
    return text[start:end].lower() == "s" and start > 0 and text[start - 1] in "'\u2019"


def name_forms(name: str) -> set[str]:
    """Folded forms a name is matched by: the whole name, and without corporate suffixes."""
    words = tokens(name)
    forms = {" ".join(words)} if words else set()
    while words and words[-1] in CORPORATE_SUFFIXES:
        words = words[:-1]
        if words:
            forms.add(" ".join(words))
    if is_cjk(name):
        forms.add("".join(tokens(name)))
    return {f for f in forms if f}
