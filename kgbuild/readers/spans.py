"""Reader for character-span NER annotations in JSON Lines or JSON.

Each record is ``{"text": str, "entities": [{"start": int, "end": int, "label": str}]}``
with character offsets into ``text`` (``end`` exclusive). A file whose first
non-blank character is ``[`` is read as one JSON list of records (errors name the
record index, ``path: record 3: ...``); any other file is JSON Lines, one record per
non-blank line (errors name the line, ``path:7: ...``).

Word split (see :func:`split_words`): the text is cut into runs of word characters
(letters, digits, ``_``), single punctuation or symbol characters, and single CJK
characters (ideographs, kana, bopomofo, fullwidth forms); whitespace separates words and is
dropped. So ``"Apple's U.S. arm"`` gives ``Apple ' s U . S . arm`` and ``"北京大学"``
gives four words. Every entity must start and end on word boundaries; the words it
covers are tagged ``B-label I-label ...`` and the rest ``O``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kgbuild.errors import DataFormatError
from kgbuild.readers.conll import TaggedSentence
from kgbuild.readers.files import open_text

__all__ = ["iter_spans", "read_spans", "spans_to_sentence", "split_words"]

_CJK = "\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_WORD_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]", re.UNICODE)
_LABEL_RE = re.compile(r"^\S+$")


def _describe(exc: ValueError) -> str:
    """A one-line message for a ValueError, unwrapping pydantic's validation errors."""
    if isinstance(exc, ValidationError):
        return "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())
    return str(exc)


def split_words(text: str) -> list[tuple[int, int]]:
    """Split text into words, as character spans (see the module docstring).

    Args:
        text: The text to split.

    Returns:
        list[tuple[int, int]]: ``(start, end)`` of each word, end exclusive, in order.
    """
    return [match.span() for match in _WORD_RE.finditer(text)]


def spans_to_sentence(text: str, entities: list[tuple[int, int, str]]) -> TaggedSentence:
    """Turn a text and its character-span entities into BIO-tagged words.

    Args:
        text: The text.
        entities: ``(start, end, label)`` character spans, end exclusive.

    Returns:
        TaggedSentence: The words of :func:`split_words` with BIO tags.

    Raises:
        ValueError: A span is empty, out of range, overlaps another one, does not fall
            on word boundaries, or its label is empty or holds whitespace.
    """
    words = split_words(text)
    starts = {start: index for index, (start, _) in enumerate(words)}
    ends = {end: index for index, (_, end) in enumerate(words)}
    tags = ["O"] * len(words)
    for start, end, label in sorted(entities):
        if not _LABEL_RE.match(label):
            raise ValueError(f"entity label {label!r} is empty or holds whitespace")
        if not 0 <= start < end <= len(text):
            raise ValueError(
                f"entity span [{start}, {end}) is out of range for a text of {len(text)} "
                f"characters (need 0 <= start < end <= length)"
            )
        first, last = starts.get(start), ends.get(end)
        if first is None or last is None:
            raise ValueError(
                f"entity span [{start}, {end}) {text[start:end]!r} does not start and end "
                f"on word boundaries"
            )
        if any(tag != "O" for tag in tags[first : last + 1]):
            raise ValueError(f"entity span [{start}, {end}) overlaps another entity")
        tags[first] = f"B-{label}"
        for index in range(first + 1, last + 1):
            tags[index] = f"I-{label}"
    return TaggedSentence(tokens=tuple(text[start:end] for start, end in words), tags=tuple(tags))


def _parse_record(record: Any) -> tuple[str, list[tuple[int, int, str]]]:
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    text = record.get("text")
    if not isinstance(text, str):
        raise ValueError("'text' is missing or not a string")
    raw_entities = record.get("entities", [])
    if not isinstance(raw_entities, list):
        raise ValueError("'entities' is not a list")
    entities: list[tuple[int, int, str]] = []
    for index, entity in enumerate(raw_entities):
        if not isinstance(entity, dict):
            raise ValueError(f"entity {index} is not an object")
        start, end, label = entity.get("start"), entity.get("end"), entity.get("label")
        if (
            not isinstance(start, int)
            or isinstance(start, bool)
            or not isinstance(end, int)
            or isinstance(end, bool)
            or not isinstance(label, str)
        ):
            raise ValueError(
                f"entity {index} needs integer 'start' and 'end' and a string 'label', "
                f"got {entity!r}"
            )
        entities.append((start, end, label))
    return text, entities


def iter_spans(path: Path | str, *, encoding: str = "utf-8") -> Iterator[TaggedSentence]:
    """Yield one BIO-tagged sentence per record of a span file.

    Args:
        path: A JSON Lines file, or a JSON file holding a list of records.
        encoding: Its text encoding.

    Yields:
        TaggedSentence: One per record (an empty text gives an empty sentence).

    Raises:
        DataFormatError: Bad JSON, a missing field, or a span out of range, overlapping
            another, or off word boundaries; the message gives ``path:line`` (JSON Lines)
            or ``path: record N`` (JSON list, N counted from 0).
    """
    path = Path(path)
    with open_text(path, encoding) as handle:
        content = handle.read()
    if content.lstrip().startswith("["):
        try:
            records = json.loads(content)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
        for index, record in enumerate(records):
            try:
                yield spans_to_sentence(*_parse_record(record))
            except ValueError as exc:
                raise DataFormatError(f"{path}: record {index}: {_describe(exc)}") from exc
        return
    for lineno, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from exc
        try:
            yield spans_to_sentence(*_parse_record(record))
        except ValueError as exc:
            raise DataFormatError(f"{path}:{lineno}: {_describe(exc)}") from exc


def read_spans(path: Path | str, *, encoding: str = "utf-8") -> list[TaggedSentence]:
    """Read a whole span file (see :func:`iter_spans`).

    Args:
        path: A JSON Lines file, or a JSON file holding a list of records.
        encoding: Its text encoding.

    Returns:
        list[TaggedSentence]: One sentence per record, in file order.

    Raises:
        DataFormatError: A record is malformed (see :func:`iter_spans`).
    """
    return list(iter_spans(path, encoding=encoding))
