"""Windows code pages: which one a legacy file is in, where its letters tell.

A file that is not UTF-8 and that charset-normalizer does not place (a short one gets no
coherence score; cp1250, cp1252 and cp1257 all read Western text without a fault) may
still be told by its letters. Each Windows Latin code page (:data:`CODE_PAGES`) reads
the bytes; a reading is *plausible* when every character beyond ASCII is a letter of one
of the code page's languages (:data:`_ALPHABETS`; at most :data:`MAX_LANGUAGES` of them
hold all its letters) or common punctuation, neither inside a word nor, for signs such as
£ ³ ¼, next to a letter ("Łódź" in cp1252 is "£ódŸ", "był" is "by³"), no capital
follows a small letter (random bytes: "ëŠÂ"), and letters beyond ASCII are fewer than
half (Cyrillic cp1251 text reads as Latin-1 letters).

The one plausible reading is chosen. Of several, the reading whose letters the fewest
languages hold ("Café Crème" is French in cp1252; cp1250's "Crčme" takes Czech, Hungarian
and Albanian), when it is the only one that few and its code page is for the language
:func:`kgbuild.lang.detect_lang` finds in it, English (or a text too short to tell)
being cp1252's; or, of readings tied, the one whose words show its code page's language
("2º piso" is Spanish; cp1250's "2ş" Romanian). A Czech text too short to show Czech
words is refused, never read as cp1252: "Crème, Søren, Peña" and "Crčme, Sřren, Peňa"
are the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations

from kgbuild.lang import detect_lang

__all__ = [
    "CODE_PAGES",
    "MAX_LANGUAGES",
    "CodePageChoice",
    "Reading",
    "choose_code_page",
    "differing_word",
]

CODE_PAGES = ("cp1252", "cp1250", "cp1257", "cp1254")
"""Windows Latin code pages, in the order a reading they share is named by."""

MAX_LANGUAGES = 3
"""Most languages whose letters a plausible reading may mix (names from several)."""

_ALPHABETS: dict[str, dict[str, str]] = {
    "cp1252": {
        "en": "",
        "fr": "àâæçéèêëîïôœùûüÿ",
        "de": "äöüß",
        "es": "áéíñóúüªº",
        "pt": "áâãàçéêíóôõúªº",
        "it": "àèéìíîòóùúªº",
        "ca": "àçèéíïòóúü",
        "nl": "áéíóúàèëïöü",
        "sv": "åäöé",
        "da": "æøåé",
        "nb": "æøåéèêóòô",
        "fi": "äöåšž",
        "is": "áðéíóúýþæö",
        "fo": "áðíóúýæø",
        "ga": "áéíóú",
    },
    "cp1250": {
        "cs": "áčďéěíňóřšťúůýž",
        "sk": "áäčďéíĺľňóôŕšťúýž",
        "pl": "ąćęłńóśźż",
        "hu": "áéíóöőúüű",
        "sl": "čšž",
        "hr": "čćđšž",
        "ro": "ăâîşţ",
        "sq": "çë",
        "de": "äöüß",
    },
    "cp1257": {
        "lt": "ąčęėįšųūž",
        "lv": "āčēģīķļņšūž",
        "et": "äõöüšž",
    },
    "cp1254": {
        "tr": "çğıİöşüâîû",
    },
}
"""The letters beyond ASCII of the languages each code page is for (either case)."""

_PUNCTUATION = frozenset("\u00a0“”‘’„‚«»‹›–—…•€°§©®™¿¡·µ")
"""Characters beyond ASCII, not letters of any alphabet, that a plausible text may hold."""

_IN_WORDS = frozenset("’·–—")
"""Punctuation that may stand between two letters (others there are a misread letter)."""

_APART = frozenset("£¼½¾±×÷¹²³")
"""Signs a plausible text holds only apart from letters ("£ukasz" is cp1250's "Łukasz",
"¼ubomír" "Ľubomír", "Micha³" "Michał"), but for ``m²`` and ``m³``."""


_NOT_ASCII = re.compile(r"[^\x00-\x7f]")
_LETTER = re.compile(r"[^\W\d_]")


def _letters(lower: str) -> frozenset[str]:
    upper = {ch.upper() for ch in lower if len(ch.upper()) == 1}
    return frozenset(lower) | frozenset(upper)


_LETTERS = {
    page: {lang: _letters(letters) for lang, letters in alphabets.items()}
    for page, alphabets in _ALPHABETS.items()
}


@dataclass(frozen=True)
class Reading:
    """One text the code pages read from the bytes, and what its letters say."""

    text: str
    encodings: tuple[str, ...]
    """The code pages that read this text, in :data:`CODE_PAGES` order."""
    languages: tuple[str, ...] | None
    """The fewest languages of one of its code pages that hold its letters; ``None``: the
    reading is not plausible."""

    @property
    def encoding(self) -> str:
        """The code page this reading is named by."""
        return self.encodings[0]


@dataclass(frozen=True)
class CodePageChoice:
    """The reading chosen (if any) and the plausible ones it was chosen among."""

    chosen: Reading | None
    plausible: tuple[Reading, ...]


def choose_code_page(data: bytes) -> CodePageChoice:
    """The Windows Latin code page whose reading of ``data`` its letters make sure.

    ``chosen`` is ``None`` when no reading is plausible, or when several are and the
    letters and the words do not single one out (``plausible`` names them).
    """
    texts: dict[str, list[str]] = {}
    for page in CODE_PAGES:
        try:
            texts.setdefault(data.decode(page), []).append(page)
        except UnicodeDecodeError:
            continue
    readings = [
        Reading(text, tuple(pages), _languages(text, pages)) for text, pages in texts.items()
    ]
    plausible = tuple(r for r in readings if r.languages is not None)
    if len(plausible) == 1:
        return CodePageChoice(plausible[0], plausible)
    if not plausible:
        return CodePageChoice(None, plausible)
    fewest = min(len(r.languages or ()) for r in plausible)
    best = [r for r in plausible if len(r.languages or ()) == fewest]
    if len(best) == 1 and _serves(best[0], detect_lang(best[0].text)):
        return CodePageChoice(best[0], plausible)
    # a tie: words of a language other than English (the default of a text too short to
    # tell) may single out the code page for it
    told = [r for r in best if (lang := detect_lang(r.text)) != "en" and _serves(r, lang)]
    if len(told) == 1:
        return CodePageChoice(told[0], plausible)
    return CodePageChoice(None, plausible)


def _serves(reading: Reading, lang: str) -> bool:
    """Whether one of the reading's code pages is for ``lang`` (English: cp1252)."""
    return any(lang in _ALPHABETS[page] for page in reading.encodings)


def _languages(text: str, pages: list[str]) -> tuple[str, ...] | None:
    """The fewest languages of one of ``pages`` whose letters hold the text's, or ``None``.

    ``None`` also where the text has punctuation beyond ASCII that is not common or
    stands inside a word, or where letters beyond ASCII are half its letters or more.
    """
    if text.isascii():
        return ()
    others: set[str] = set()
    non_ascii = 0
    for match in _NOT_ASCII.finditer(text):
        index, ch = match.start(), match.group()
        if ch in _APART:
            if _touches_letter(text, index) and not (ch in "²³" and _unit(text, index)):
                return None
        elif ch in _PUNCTUATION:
            if ch not in _IN_WORDS and _inside_word(text, index):
                return None
        elif ch.isalpha():
            if ch.isupper() and index > 0 and text[index - 1].islower():
                return None  # "ëŠÂ": noise, or another code page's letters
            others.add(ch)
            non_ascii += 1
        else:
            return None
    letters = len(_LETTER.findall(text))
    if others and non_ascii * 2 >= letters:
        return None
    covers = [_cover(others, _LETTERS[page]) for page in pages]
    found = [cover for cover in covers if cover is not None]
    return min(found, key=len) if found else None


def _inside_word(text: str, index: int) -> bool:
    return 0 < index < len(text) - 1 and text[index - 1].isalpha() and text[index + 1].isalpha()


def _touches_letter(text: str, index: int) -> bool:
    before = index > 0 and text[index - 1].isalpha()
    return before or (index < len(text) - 1 and text[index + 1].isalpha())


def _unit(text: str, index: int) -> bool:
    """Whether the sign at ``index`` squares or cubes a metre (``m²``, ``km³``)."""
    after = index < len(text) - 1 and text[index + 1].isalpha()
    return index > 0 and text[index - 1] == "m" and not after


def _cover(letters: set[str], alphabets: dict[str, frozenset[str]]) -> tuple[str, ...] | None:
    """The fewest languages (at most :data:`MAX_LANGUAGES`) whose letters hold ``letters``."""
    if not letters:
        return ()
    useful = {lang: known & letters for lang, known in alphabets.items() if known & letters}
    for size in range(1, MAX_LANGUAGES + 1):
        for langs in combinations(useful, size):
            if letters <= set().union(*(useful[lang] for lang in langs)):
                return langs
    return None


def differing_word(readings: tuple[Reading, ...]) -> list[str]:
    """The first word the readings read differently, as each reads it (at most 30 characters).

    The code pages read one character per byte, so a word lies at the same offsets in all.
    """
    first = readings[0].text
    at = next((i for i in range(len(first)) if any(r.text[i] != first[i] for r in readings[1:])), 0)
    start = at
    while start > 0 and not first[start - 1].isspace() and at - start < 15:
        start -= 1
    end = at + 1
    while end < len(first) and not first[end].isspace() and end - start < 30:
        end += 1
    return [r.text[start:end] for r in readings]
