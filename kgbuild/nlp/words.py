"""Words for the model stages: spaCy's rule-based tokenizer, offsets kept.

Models trained on CoNLL-style word lists expect "Inc." as one word and the
sentence's final "." as another; spaCy's tokenizer exceptions give that, and
``blank("zh")`` gives one word per character, as character-level Chinese NER expects.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import spacy
from spacy.language import Language

from kgbuild.lang import base_language

__all__ = [
    "MAX_BLOCK_CHARS",
    "blank_pipeline",
    "composed_view",
    "is_markup_word",
    "is_symbol_word",
    "visible_span",
    "whole_word_spans",
    "word_spans",
]

MAX_BLOCK_CHARS = 100_000


@lru_cache(maxsize=8)
def blank_pipeline(lang: str) -> Language:
    """A cached ``spacy.blank`` of ``lang``'s language (``zh`` for ``zh-CN``), sentencizer added."""
    base = base_language(lang)
    try:
        nlp = spacy.blank(base)
    except ImportError:  # a language whose tokenizer needs an extra package (Japanese: SudachiPy)
        # Japanese has no spaces between words either: one word per character, as Chinese
        nlp = spacy.blank("zh" if base == "ja" else "xx")
    nlp.add_pipe("sentencizer")
    nlp.max_length = MAX_BLOCK_CHARS + 1
    return nlp


def word_spans(text: str, lang: str) -> list[tuple[int, int]]:
    r"""``(start, end)`` of each non-space word of ``text``.

    Decomposed text (an accent written as its own combining mark, as macOS files and some
    PDFs hold it) is split as its composed form (NFC) is, the offsets still into ``text``:
    spaCy reads no letter in a mark, so it kept the full stop of "Bogotá." in the word.

    >>> text = "Acme Robotics Inc. hired Ms. Chen."
    >>> [text[s:e] for s, e in word_spans(text, "en")]
    ['Acme', 'Robotics', 'Inc.', 'hired', 'Ms.', 'Chen', '.']
    >>> word_spans("He moved to Bogotá.", "en")[-2:]
    [(12, 19), (19, 20)]
    """
    composed, at = composed_view(text.translate(_BIDI_AS_SPACE))
    spans = [
        span
        for token in blank_pipeline(lang).tokenizer(composed)
        if not token.is_space
        for span in _link_pieces(token.text, token.idx)
    ]
    return spans if at is None else [(at[start], at[end]) for start, end in spans]


def composed_view(text: str) -> tuple[str, list[int] | None]:
    """``text`` composed (NFC) for spaCy, and where each of its characters starts in ``text``.

    ``None`` for text that is composed already (the offsets are the same). spaCy reads no
    letter in a combining mark: it would keep a full stop after one in the word.
    """
    if unicodedata.is_normalized("NFC", text):
        return text, None
    return _composed(text)


def _composed(text: str) -> tuple[str, list[int]]:
    r"""``text`` composed (NFC) a character and its marks at a time, with offsets.

    The offsets: where each character of the composed text starts in ``text``, and one
    more entry, the end of ``text``.

    >>> _composed("Amélie")
    ('Amélie', [0, 1, 2, 4, 5, 6, 7])
    """
    parts: list[str] = []
    at: list[int] = []
    start = 0
    for end in range(1, len(text) + 1):
        if end < len(text) and unicodedata.combining(text[end]):
            continue  # a mark belongs to the character before it
        part = unicodedata.normalize("NFC", text[start:end])
        parts.append(part)
        at += [min(start + i, end - 1) for i in range(len(part))]
        start = end
    at.append(len(text))
    return "".join(parts), at


_LINK_JOIN = re.compile(r"\][(\[]")
"""Where a Markdown link's text ends and its target begins: ``](`` (or ``][`` of a
reference link). spaCy's tokenizer keeps ``Toronto](https://x`` as one word."""


def _link_pieces(word: str, start: int) -> list[tuple[int, int]]:
    """``word`` (at ``start``) cut at ``](`` and ``][``: the link text, the brackets, the target.

    >>> word = "Toronto](https://x"
    >>> [word[s:e] for s, e in _link_pieces(word, 0)]
    ['Toronto', ']', '(', 'https://x']
    """
    if "](" not in word and "][" not in word:
        return [(start, start + len(word))]
    pieces, at = [], 0
    for join in _LINK_JOIN.finditer(word):
        if join.start() > at:
            pieces.append((start + at, start + join.start()))
        pieces += [(start + join.start(), start + join.start() + 1)]
        pieces += [(start + join.start() + 1, start + join.end())]
        at = join.end()
    if at < len(word):
        pieces.append((start + at, start + len(word)))
    return pieces


_BIDI_AS_SPACE = {
    code: " " for code in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
}
"""Bidirectional marks and controls: between words, never in one, so read as spaces (one
character for one, so the offsets hold)."""


_SYMBOL_CATEGORIES = frozenset({"So", "Sk", "Cf", "Mn", "Me"})
"""Emoji and other pictographs, their modifiers, joiners and variation selectors."""


def is_symbol_word(word: str) -> bool:
    """Whether ``word`` is only emoji or other symbols (with their joiners and selectors).

    Such a word is never part of a name, though a model that reads it as ``[UNK]`` may
    tag it as one.

    >>> [is_symbol_word(w) for w in ("\U0001f468", "\u200d", "\u2764\ufe0f", "$", "Acme", "\u2122")]
    [True, True, True, False, False, True]
    """
    return bool(word) and all(unicodedata.category(ch) in _SYMBOL_CATEGORIES for ch in word)


_MARKUP = frozenset("*_~#|")
"""Markdown's emphasis, strike-through, heading and table marks."""


def is_markup_word(word: str) -> bool:
    """Whether ``word`` is only Markdown marks (``*`` of ``**Barack Obama**``, ``#``, ``|``).

    Such a word is never part of a name, though a model may tag the ``*`` after one.

    >>> [is_markup_word(w) for w in ("*", "__", "#", "|", "C#", "Acme")]
    [True, True, True, True, False, False]
    """
    return bool(word) and all(ch in _MARKUP for ch in word)


def visible_span(text: str, start: int, end: int) -> tuple[int, int]:
    """``text[start:end]`` without the invisible format characters at its edges.

    Bidirectional marks and controls (U+200F around a Latin name in Hebrew or Arabic
    text, U+202E that shows a name reversed) and joiners belong to the text, not the name.

    >>> visible_span("\u200fDavid Chen\u200f", 0, 12)
    (1, 11)
    """
    while start < end and unicodedata.category(text[start]) == "Cf":
        start += 1
    while end > start and unicodedata.category(text[end - 1]) == "Cf":
        end -= 1
    return start, end


_CJK = "\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_COMBINING = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
"""Combining diacritical marks: the accents of decomposed (NFD) Latin, Greek, Cyrillic."""
_WORD_CHAR = re.compile(rf"[^\W_{_CJK}]|[{_COMBINING}]")
"""A letter or digit of a script that separates words with spaces (not CJK), or an accent
written as its own mark (part of its letter's word)."""
_HYPHENS = frozenset("-\u2010\u2011")


def _joined(text: str, index: int, step: int) -> bool:
    """Whether ``text[index]`` continues a word in direction ``step`` (letter, or inner hyphen)."""
    if not 0 <= index < len(text):
        return False
    if _WORD_CHAR.match(text[index]):
        return True
    beyond = index + step
    return (
        text[index] in _HYPHENS and 0 <= beyond < len(text) and bool(_WORD_CHAR.match(text[beyond]))
    )


def whole_word_spans(
    text: str, spans: Sequence[tuple[int, int, str, float]]
) -> list[tuple[int, int, str, float]]:
    """Spans that start or end inside a word of ``text``, extended to the whole word.

    A word here runs over letters and digits joined by inner hyphens, so a name the word
    splitter or the tokenizer cut ("Peter Boehm" of "Hanns-Peter Boehm", "suk" of "Sin
    Gwang-suk") comes out whole. Spans that overlap after extension become one (their
    union), with the label and score of the span that was longest before. CJK characters
    are never joined (no spaces between their words).

    Args:
        text: The text the spans index.
        spans: ``(start, end, label, score)`` character spans, end exclusive.

    Returns:
        list[tuple[int, int, str, float]]: The spans, in text order.

    >>> whole_word_spans("Hanns-Peter Boehm", [(6, 17, "PER", 0.9)])
    [(0, 17, 'PER', 0.9)]
    """
    extended: list[tuple[int, int, int, str, float]] = []
    for start, end, label, score in spans:
        new_start, new_end = start, end
        if _WORD_CHAR.match(text[start]):
            while _joined(text, new_start - 1, -1):
                new_start -= 1
        if _WORD_CHAR.match(text[end - 1]):
            while _joined(text, new_end, 1):
                new_end += 1
        extended.append((new_start, new_end, end - start, label, score))
    extended.sort()
    merged: list[tuple[int, int, int, str, float]] = []
    for span in extended:
        if merged and span[0] < merged[-1][1]:
            last = merged[-1]
            best = last if last[2] >= span[2] else span
            merged[-1] = (last[0], max(last[1], span[1]), best[2], best[3], best[4])
        else:
            merged.append(span)
    return [(start, end, label, score) for start, end, _, label, score in merged]
