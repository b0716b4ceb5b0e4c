"""Sentence and paragraph spans of a text: offsets that slice the original string.

spaCy's ``blank(lang)`` pipeline with the rule-based ``sentencizer`` splits each
paragraph; paragraphs bound the work spaCy does at once, so a 5 MB text is fine. Each
item of a list and each heading line is a sentence of its own, even without blank lines
around it; a line break that only wraps prose cuts nothing (see :func:`_blocks`). A
sentence longer than ``max_sentence_chars`` is split at whitespace, outside names where
it can be: text is never dropped. Chunking (:mod:`kgbuild.stages.chunking`) and the readers build on these.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from functools import lru_cache

from kgbuild.nlp.words import MAX_BLOCK_CHARS, blank_pipeline, composed_view

__all__ = ["LIST_MARK", "paragraph_spans", "sentence_spans", "text_sentence_spans"]

_BLOCK_SEPARATORS = ("\n", "\r", ". ", "。", " ")
_LINE_END = r"(?:\r\n|\r(?!\n)|\n)"
"""One line end: Unix, Windows (``\\r\\n``, one line end, not two) or old Mac (``\\r``)."""
_PARAGRAPH = rf"{_LINE_END}[ \t]*{_LINE_END}|{_LINE_END}(?=#{{1,6}}[ \t])"
"""A blank line, or a line end before a Markdown heading (``#`` to ``######`` and a space;
not a ``#hashtag``)."""
_PARAGRAPH_BREAK = re.compile(_PARAGRAPH)
_INNER_BREAK = re.compile(
    r"[.!?;\u0964\u0965\u061f\u06d4](?=[\"'\u201d\u2019)\]]*\s+\S)"
    rf"|[\u3002\uff01\uff1f\uff0e\uff61](?=\s*\S)|{_PARAGRAPH}"
)
"""A sentence end (Latin, Devanagari danda, Arabic question mark and full stop, CJK) or a
paragraph break inside a text; a text without one is one sentence."""


def paragraph_spans(text: str, *, max_chars: int = MAX_BLOCK_CHARS) -> Iterator[tuple[int, int]]:
    """Yield ``(start, end)`` of paragraphs, none longer than ``max_chars``."""
    start = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        yield from _bounded(text, start, match.start(), max_chars, _BLOCK_SEPARATORS)
        start = match.end()
    yield from _bounded(text, start, len(text), max_chars, _BLOCK_SEPARATORS)


_LINE = re.compile(_LINE_END)
_CHINESE_NUMBER = r"[\u4e00\u4e8c\u4e09\u56db\u4e94\u516d\u4e03\u516b\u4e5d\u5341]{1,3}"
"""A number in Chinese numerals, 一 to 十 ("十二")."""
_CJK_NUMBER = rf"(?:[0-9\uff10-\uff19]{{1,3}}|{_CHINESE_NUMBER})"
LIST_MARK = re.compile(
    r"[ \t\u3000]*(?:(?:([-*+])|([0-9]{1,3})([.)])|([\u2022\u25e6\u25aa\u2023]))[ \t]+(?=\S)"
    rf"|({_CJK_NUMBER}\u3001|\uff08{_CJK_NUMBER}\uff09|\({_CHINESE_NUMBER}\)"
    r"|[\u2460-\u2473\u3251-\u325f\u32b1-\u32bf\u30fb\uff65\u25cf\u25a0\u25a1\u25c6\u25c7])"
    r"[ \t\u3000]*(?=\S))"
)
"""A list item's mark and the space after it: ``-``, ``*`` or ``+``, ``1.`` or ``1)``, or
a bullet (``•``, ``◦``, ``▪``, ``‣``); or a mark of Chinese and Japanese lists, which needs
no space: a number before an enumeration comma (``1、``, ``一、``), in full-width brackets
(``（一）``, ``（1）``) or in brackets if in Chinese numerals (``(一)``; not ``(1)``), circled
(``①``), or a full-width bullet (``・``, ``●``, ``■``, ``□``, ``◆``, ``◇``); an
ideographic space may indent any mark. The one definition: the NER stage's line cuts (:mod:`kgbuild.stages.ner`) use it too."""
_ATX_HEADING = re.compile(r"[ \t]{0,3}#{1,6}(?:[ \t]|$)")
_UNDERLINE = re.compile(r"[ \t]{0,3}(?:=+|-{2,})[ \t]*")
"""A setext heading's underline (``=====`` or ``-----``), or a thematic break."""
_SENTENCE_END = re.compile(r"[.!?\u3002\uff01\uff1f][\"'\u201d\u2019)\]]*(?:\s|$)")
_TITLE_WORDS = 10
"""The most words a line of plain text can hold and be read as a title (:func:`_is_title`)."""


def _blocks(text: str, start: int, end: int) -> list[tuple[int, int, int]]:
    """``(start, end, body)`` of the blocks of the paragraph ``text[start:end]``.

    A block is a list item, a heading line, or the lines between: each line of a list
    (:func:`_is_item`) starts one, and a Markdown heading, a setext heading's underline
    and a plain-text title (:func:`_is_title`) end one. ``body`` is where a list item's
    text starts, after its mark (the sentencizer took "1." for a sentence), else
    ``start``. A line break that wraps prose cuts nothing.
    """
    bounds, at = [], start
    for match in _LINE.finditer(text, start, end):
        bounds.append((at, match.start()))
        at = match.end()
    bounds.append((at, end))
    lines = [text[line_start:line_end] for line_start, line_end in bounds]
    marks = [LIST_MARK.match(line) for line in lines]
    kinds = Counter(_kind(mark) for mark in marks if mark is not None)
    numbers = {(mark[3], int(mark[2])) for mark in marks if mark is not None and mark[2]}
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    cuts = {first}
    if first + 1 < len(lines) and _is_title(lines[first:]):
        cuts.add(first + 1)
    for index in range(first, len(lines)):
        mark = marks[index]
        if (
            index > first
            and mark is not None
            and _is_item(mark, kinds, numbers, marks[index - 1], lines[index - 1])
        ):
            cuts.add(index)
        line = lines[index]
        if _ATX_HEADING.match(line) or (index > first and _UNDERLINE.fullmatch(line)):
            cuts.add(index + 1)
    starts = sorted(cut for cut in cuts if cut < len(lines))
    blocks = []
    for number, cut in enumerate(starts):
        last = starts[number + 1] - 1 if number + 1 < len(starts) else len(lines) - 1
        block_start, mark = bounds[cut][0], marks[cut]
        body = block_start + mark.end() if mark else block_start
        blocks.append((block_start, bounds[last][1], body))
    return blocks


def _kind(mark: re.Match[str]) -> str:
    """A list mark's kind: ``-``, ``*``, ``+``, ``.`` or ``)`` (after a number), else the mark."""
    return mark[1] or mark[3] or mark[4] or mark[5]


def _is_item(
    mark: re.Match[str],
    kinds: Counter[str],
    numbers: set[tuple[str, int]],
    mark_before: re.Match[str] | None,
    before: str,
) -> bool:
    """Whether a line with a list ``mark``, after the line ``before``, starts a list item.

    A bullet or a Chinese or Japanese mark does (never the start of a wrapped line of
    prose), and any mark after a line that ends with a colon. Else a ``-``, ``*`` or
    ``+`` (also a dash in prose) needs another line of the paragraph with a mark of its
    kind (``kinds`` counts them). A number (also one that a wrapped line of prose starts
    with, "34. Again" after "... infringe article") needs that too, and the number before
    or after it in the paragraph (``numbers``), or to be 1 (Markdown numbers every item
    "1."), or a line before that is an item of its kind or ends a sentence.
    """
    if mark[4] or mark[5] or before.rstrip().endswith(":"):
        return True
    kind = _kind(mark)
    if kinds[kind] < 2:
        return False
    if not mark[2]:
        return True
    number = int(mark[2])
    return (
        number == 1
        or (kind, number - 1) in numbers
        or (kind, number + 1) in numbers
        or (mark_before is not None and _kind(mark_before) == kind)
        or before.rstrip().endswith((".", "!", "?"))
    )


_TITLE_ENDS = frozenset(")]\"'\u201d\u2019\u00bb")
_OPENING_QUOTES = frozenset("\"'\u201c\u2018\u00ab")


def _is_title(lines: list[str]) -> bool:
    r"""Whether a paragraph's first line is a title over the text under it (plain text).

    A title is short (at most ``_TITLE_WORDS`` words), its last word is not in lowercase
    ("The company said that" wraps prose), it ends in a letter, digit or closing bracket
    or quote (no stop, comma or colon), and the next line starts a sentence with a capital
    (or a letter without case, or a quote; not a digit: "1990 was ...") of text that ends
    one. And the next line's first word would have fitted on it, the lines under it being
    as long: a line of wrapped prose has no room for it ("Acme Corp\nAcme was founded in
    1990." is a title; "The company said that it was Maria\nGonzalez of Acme" is not).
    """
    first, rest = lines[0].strip(), [line.strip() for line in lines[1:]]
    if not first or not rest or not rest[0] or len(first.split()) > _TITLE_WORDS:
        return False
    if first.split()[-1][0].islower() or not (first[-1].isalnum() or first[-1] in _TITLE_ENDS):
        return False
    start = rest[0][0]
    if not (start in _OPENING_QUOTES or (start.isalpha() and not start.islower())):
        return False
    if len(first) + 1 + len(rest[0].split()[0]) > max(len(line) for line in rest):
        return False
    return any(_SENTENCE_END.search(line) for line in rest)


_CLAUSE_MARKS = ("\uff0c", "\uff1b", "\u3001", "\uff1a")
"""Full-width comma, semicolon, enumeration comma and colon: between clauses, never in a name."""


def _outside_names(text: str, low: int, high: int) -> int:
    """The last place in ``text[low:high]`` to cut a sentence without cutting a name, or -1.

    After a full-width comma or semicolon (Chinese), else at a space between two words
    that neither start with a capital ("said that | it"; not "Maria | Gonzalez", "Bank |
    of America").
    """
    marks = max(text.rfind(mark, low, high) for mark in _CLAUSE_MARKS)
    if marks >= 0:
        return marks + 1
    space = text.rfind(" ", low, high)
    while space > low:
        before = text.rfind(" ", 0, space) + 1
        if not (text[space + 1].isupper() or text[before].isupper() or text[space + 1].isspace()):
            return space
        space = text.rfind(" ", low, space)
    return -1


def _bounded(
    text: str,
    start: int,
    end: int,
    max_chars: int,
    separators: tuple[str, ...] = (" ",),
    *,
    names: bool = False,
) -> Iterator[tuple[int, int]]:
    """Split ``text[start:end]`` into pieces of at most ``max_chars``.

    Each cut is made after the last of ``separators`` (tried in order) in the second
    half of the piece, or hard at ``max_chars`` when there is none. With ``names``, a
    cut outside names (:func:`_outside_names`) is tried first.
    """
    while end - start > max_chars:
        cut = _outside_names(text, start + max_chars // 2, start + max_chars) if names else -1
        for separator in separators if cut <= start else ():
            found = text.rfind(separator, start + max_chars // 2, start + max_chars)
            if found > start:
                cut = found + len(separator.rstrip()) if separator.strip() else found
                break
        if cut <= start:
            cut = start + max_chars
        yield start, cut
        start = cut
    if start < end:
        yield start, end


def _stripped(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def _inside_word(text: str, end: int) -> bool:
    """Whether a sentence ending at ``end`` ends at a "." between two ASCII letters or digits.

    Chinese (and Japanese) are tokenized one character a word, so the sentencizer takes
    the point of "3.5" or "acme.com" for a full stop.
    """
    return (
        1 < end < len(text)
        and text[end - 1] == "."
        and text[end - 2].isascii()
        and text[end - 2].isalnum()
        and text[end].isascii()
        and text[end].isalnum()
    )


@lru_cache(maxsize=1)
def _english_abbreviations() -> frozenset[str]:
    """Words like "Inc." and "Dr." that spaCy's English tokenizer keeps with their point."""
    rules = getattr(blank_pipeline("en").tokenizer, "rules", None) or {}
    return frozenset(word for word in rules if len(word) > 2 and word[:-1].isalpha())


def _after_abbreviation(text: str, end: int) -> bool:
    """Whether a sentence ending at ``end`` ends with an English abbreviation's point.

    Chinese text names companies and people in Latin letters ("Acme Inc.是……", "Dr.王"):
    the sentencizer takes the abbreviation's point for a full stop.
    """
    if end < 2 or text[end - 1] != ".":
        return False
    start = end - 1
    while start > 0 and text[start - 1].isascii() and text[start - 1].isalpha():
        start -= 1
    return text[start:end] in _english_abbreviations()


def sentence_spans(text: str, lang: str, *, max_sentence_chars: int) -> list[tuple[int, int]]:
    """Sentence ``(start, end)`` offsets into ``text``, whitespace trimmed, in order."""
    nlp = blank_pipeline(lang)
    blocks = [
        block
        for paragraph in paragraph_spans(text)
        if _stripped(text, *paragraph)
        for block in _blocks(text, *paragraph)
    ]
    spans: list[tuple[int, int]] = []
    views = [composed_view(text[body:end]) for _, end, body in blocks]
    docs = nlp.pipe(view for view, _ in views)
    for (block_start, _, offset), (_, at), doc in zip(blocks, views, docs, strict=True):
        sentences: list[tuple[int, int]] = []
        for sent in doc.sents:
            start, end = sent.start_char, sent.end_char
            if at is not None:  # decomposed text, split as composed (see composed_view)
                start, end = at[start], at[end]
            start, end = offset + start, offset + end
            if (
                nlp.lang == "zh"
                and sentences
                and sentences[-1][1] == start
                and (_inside_word(text, start) or _after_abbreviation(text, start))
            ):
                start = sentences.pop()[0]
            sentences.append((start, end))
        if sentences:  # a list item's mark starts its first sentence
            sentences[0] = (block_start, sentences[0][1])
        for start, end in sentences:
            trimmed = _stripped(text, start, end)
            if trimmed:
                for piece in _bounded(text, *trimmed, max_sentence_chars, names=True):
                    clean = _stripped(text, *piece)
                    if clean:
                        spans.append(clean)
    return spans


def text_sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a free text in its detected language, none cut for length.

    A text with no sentence end, paragraph break, list item or heading inside it (most
    evidence sentences and questions' contexts) is one sentence without running the
    splitter.
    """
    if not _INNER_BREAK.search(text.strip()) and len(_blocks(text, 0, len(text))) < 2:
        whole = _stripped(text, 0, len(text))
        return [whole] if whole else []
    from kgbuild.lang import detect_lang

    return sentence_spans(text, detect_lang(text), max_sentence_chars=len(text) + 1)
