"""Readers for sentence-level relation extraction data.

Every reader returns :class:`RelationExample` objects: the tokens of one sentence,
its entity spans (token offsets, end exclusive) and its relations, whose ``head`` and
``tail`` index into ``entities``. Formats:

* CoNLL04 (:func:`read_conll04`): a JSON list of ``{"tokens", "entities": [[start,
  end, type]], "relations": [[hs, he, ts, te, type]]}`` (end exclusive).
* SemEval-2010 Task 8 (:func:`read_semeval2010`): blocks of a numbered, quoted
  sentence with ``<e1>..</e1>`` and ``<e2>..</e2>`` markup, a label line
  (``Cause-Effect(e2,e1)`` or ``Other``), an optional ``Comment:`` line and a blank
  line. The sentence is split into words as in :func:`kgbuild.readers.spans.split_words`
  (markup boundaries are always word boundaries); ``entities`` are ``(e1, e2)``, both
  labelled ``"E"``, and the relation label drops the direction, which goes into
  ``head``/``tail`` (``Cause-Effect(e2,e1)`` gives head 1, tail 0). ``Other`` gives no
  relation.
* DyGIE JSON Lines, e.g. SciERC (:func:`read_dygie`): one document per line with
  ``sentences``, and per sentence ``ner`` ``[start, end, type]`` and ``relations``
  ``[hs, he, ts, te, type]`` with document-level, inclusive token offsets. One example
  per sentence, offsets made sentence-local and end exclusive.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from kgbuild.errors import DataFormatError
from kgbuild.readers.conll import TaggedSentence
from kgbuild.readers.files import load_json, open_text
from kgbuild.readers.spans import split_words

__all__ = [
    "CONLL04_ENTITY_TYPES",
    "EntitySpan",
    "RelationExample",
    "RelationSpan",
    "read_conll04",
    "read_conll04_tags",
    "read_dygie",
    "read_semeval2010",
]


class EntitySpan(BaseModel):
    """An entity mention: token offsets ``[start, end)`` and a type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: int
    end: int
    label: str

    @model_validator(mode="after")
    def _check_span(self) -> EntitySpan:
        if not 0 <= self.start < self.end:
            raise ValueError(f"entity span [{self.start}, {self.end}) is empty or negative")
        return self


class RelationSpan(BaseModel):
    """A directed relation between two entities, given by their indexes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    head: int
    tail: int
    label: str


class RelationExample(BaseModel):
    """One sentence with its entities and the relations between them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: tuple[str, ...]
    entities: tuple[EntitySpan, ...]
    relations: tuple[RelationSpan, ...]

    @model_validator(mode="after")
    def _check_indexes(self) -> RelationExample:
        _check_inside([(e.start, e.end) for e in self.entities], len(self.tokens))
        for relation in self.relations:
            for index in (relation.head, relation.tail):
                if not 0 <= index < len(self.entities):
                    raise ValueError(
                        f"relation {relation.label!r} refers to entity {index} but the "
                        f"sentence has {len(self.entities)} entities"
                    )
        return self


def _check_inside(spans: list[tuple[int, int]], tokens: int) -> None:
    """Raise ``ValueError`` for the first span ``[start, end)`` that ends past ``tokens``."""
    for start, end in spans:
        if end > tokens:
            raise ValueError(
                f"entity span [{start}, {end}) runs past the {tokens} tokens of the sentence"
            )


def _describe(exc: ValueError) -> str:
    """A one-line message for a ValueError, unwrapping pydantic's validation errors."""
    if isinstance(exc, ValidationError):
        return "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())
    return str(exc)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _build(
    tokens: list[str],
    entities: list[tuple[int, int, str]],
    relations: list[tuple[int, int, int, int, str]],
) -> RelationExample:
    """Build an example; relations are given by (hs, he, ts, te) spans of its entities.

    Entity spans are checked first: a span past the sentence's end is the mistake to
    name, not the relation that no longer finds it.
    """
    _check_inside([(start, end) for start, end, _ in entities], len(tokens))
    index_of: dict[tuple[int, int], int] = {}
    for index, (start, end, _) in enumerate(entities):
        index_of.setdefault((start, end), index)
    spans: list[RelationSpan] = []
    for hs, he, ts, te, label in relations:
        head, tail = index_of.get((hs, he)), index_of.get((ts, te))
        if head is None or tail is None:
            missing = (hs, he) if head is None else (ts, te)
            raise ValueError(f"relation {label!r} argument {list(missing)} is not an entity span")
        spans.append(RelationSpan(head=head, tail=tail, label=label))
    return RelationExample(
        tokens=tuple(tokens),
        entities=tuple(EntitySpan(start=s, end=e, label=t) for s, e, t in entities),
        relations=tuple(spans),
    )


def _tokens(value: Any, what: str = "'tokens'") -> list[str]:
    if not isinstance(value, list) or not all(isinstance(tok, str) and tok for tok in value):
        raise ValueError(f"{what} must be a list of non-empty strings")
    return value


def _span_list(value: Any, width: int, what: str) -> list[list[Any]]:
    if not isinstance(value, list):
        raise ValueError(f"{what!r} must be a list")
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != width
            or not all(_is_int(x) for x in item[:-1])
            or not isinstance(item[-1], str)
        ):
            ints = ", ".join(["int"] * (width - 1))
            raise ValueError(f"{what!r} item {item!r} is not [{ints}, label]")
    return value


def read_conll04(path: Path | str, *, encoding: str = "utf-8") -> list[RelationExample]:
    """Read a CoNLL04 JSON file (a list of sentences, end-exclusive token offsets).

    Args:
        path: The JSON file.
        encoding: Its text encoding.

    Returns:
        list[RelationExample]: One example per record, in file order.

    Raises:
        DataFormatError: Bad JSON (``path:line``) or a malformed record, e.g. a span out
            of range or a relation argument that is not an entity
            (``path: record N``, N counted from 0).
    """
    path = Path(path)
    records = load_json(path, encoding)
    if not isinstance(records, list):
        raise DataFormatError(f"{path}: expected a JSON list of records")
    examples: list[RelationExample] = []
    for index, record in enumerate(records):
        try:
            if not isinstance(record, dict):
                raise ValueError("expected a JSON object")
            tokens = _tokens(record.get("tokens"))
            entities = _span_list(record.get("entities", []), 3, "entities")
            relations = _span_list(record.get("relations", []), 5, "relations")
            examples.append(
                _build(
                    tokens,
                    [(s, e, t) for s, e, t in entities],
                    [(hs, he, ts, te, t) for hs, he, ts, te, t in relations],
                )
            )
        except ValueError as exc:
            raise DataFormatError(f"{path}: record {index}: {_describe(exc)}") from exc
    return examples


CONLL04_ENTITY_TYPES: dict[str, str] = {"Peop": "PER", "Org": "ORG", "Loc": "LOC", "Other": "MISC"}
"""CoNLL04 entity types -> the types the pipeline's NER produces (and relation markers use)."""


def read_conll04_tags(
    path: Path | str,
    entity_label_map: Mapping[str, str] | None = None,
    *,
    encoding: str = "utf-8",
) -> list[TaggedSentence]:
    """The entities of a CoNLL04 JSON file as BIO-tagged sentences (for NER training).

    Args:
        path: The JSON file (see :func:`read_conll04`).
        entity_label_map: Data entity type -> tag type (unlisted types pass unchanged).
        encoding: Its text encoding.

    Raises:
        DataFormatError: As :func:`read_conll04`, or two entities of a record overlap.
    """
    types = dict(entity_label_map or {})
    sentences: list[TaggedSentence] = []
    for index, example in enumerate(read_conll04(path, encoding=encoding)):
        tags = ["O"] * len(example.tokens)
        for entity in example.entities:
            if any(tag != "O" for tag in tags[entity.start : entity.end]):
                raise DataFormatError(
                    f"{path}: record {index}: entities overlap at tokens "
                    f"{entity.start}-{entity.end}, which BIO tags cannot express"
                )
            label = types.get(entity.label, entity.label)
            tags[entity.start : entity.end] = [f"B-{label}"] + [f"I-{label}"] * (
                entity.end - entity.start - 1
            )
        sentences.append(TaggedSentence(tokens=example.tokens, tags=tuple(tags)))
    return sentences


_SEMEVAL_SENTENCE_RE = re.compile(r'^(\d+)\s+"(.*)"\s*$')
_SEMEVAL_LABEL_RE = re.compile(r"^(?:Other|([A-Za-z]+-[A-Za-z]+)\((e[12]),(e[12])\))$")
_MARKUP_RE = re.compile(r"(</?e[12]>)")


def _parse_semeval_sentence(sentence: str) -> tuple[list[str], list[tuple[int, int, str]]]:
    """Split a marked-up sentence into words and the (e1, e2) token spans."""
    pieces = _MARKUP_RE.split(sentence)
    markers = pieces[1::2]
    if markers != ["<e1>", "</e1>", "<e2>", "</e2>"]:
        raise ValueError(
            "expected '<e1>..</e1>' then '<e2>..</e2>' markup, once each, got "
            f"{' '.join(markers) or 'none'}"
        )
    tokens: list[str] = []
    bounds: list[int] = []
    for position, piece in enumerate(pieces[0::2]):
        if position:
            bounds.append(len(tokens))
        tokens.extend(piece[start:end] for start, end in split_words(piece))
    e1_start, e1_end, e2_start, e2_end = bounds
    if e1_start == e1_end or e2_start == e2_end:
        raise ValueError("an entity holds no word")
    return tokens, [(e1_start, e1_end, "E"), (e2_start, e2_end, "E")]


def read_semeval2010(path: Path | str, *, encoding: str = "utf-8") -> list[RelationExample]:
    """Read a SemEval-2010 Task 8 file (see the module docstring).

    Args:
        path: The file, e.g. ``TRAIN_FILE.TXT``.
        encoding: Its text encoding (a UTF-8 byte-order mark is dropped).

    Returns:
        list[RelationExample]: One example per sentence block, in file order.

    Raises:
        DataFormatError: A sentence line, its markup or its label line is malformed;
            the message gives ``file:line``.
    """
    path = Path(path)
    with open_text(path, encoding) as handle:
        lines = [line.rstrip("\r\n") for line in handle]
    examples: list[RelationExample] = []
    lineno = 0
    while lineno < len(lines):
        line = lines[lineno]
        lineno += 1
        if not line.strip():
            continue
        match = _SEMEVAL_SENTENCE_RE.match(line)
        if match is None:
            raise DataFormatError(
                f"{path}:{lineno}: expected a sentence line 'N\t\"text with <e1>..</e1> "
                f"and <e2>..</e2>\"', got {line!r}"
            )
        try:
            tokens, entities = _parse_semeval_sentence(match.group(2))
        except ValueError as exc:
            raise DataFormatError(f"{path}:{lineno}: {_describe(exc)}") from exc
        label_line = lines[lineno].strip() if lineno < len(lines) else ""
        lineno += 1
        label = _SEMEVAL_LABEL_RE.match(label_line)
        if label is None or (label.group(1) and label.group(2) == label.group(3)):
            raise DataFormatError(
                f"{path}:{lineno}: expected a label line such as 'Cause-Effect(e2,e1)' or "
                f"'Other', got {label_line!r}"
            )
        relations: list[tuple[int, int, int, int, str]] = []
        if label.group(1):
            head = entities[0] if label.group(2) == "e1" else entities[1]
            tail = entities[1] if label.group(2) == "e1" else entities[0]
            relations.append((head[0], head[1], tail[0], tail[1], label.group(1)))
        if lineno < len(lines) and lines[lineno].startswith("Comment"):
            lineno += 1
        examples.append(_build(tokens, entities, relations))
    return examples


def read_dygie(path: Path | str, *, encoding: str = "utf-8") -> list[RelationExample]:
    """Read a DyGIE JSON Lines file (e.g. SciERC), one example per sentence.

    Args:
        path: The JSON Lines file, one document per line.
        encoding: Its text encoding.

    Returns:
        list[RelationExample]: The sentences of all documents, in file order, with
        sentence-local, end-exclusive token offsets.

    Raises:
        DataFormatError: Bad JSON, mismatched per-sentence lists, a span outside its
            sentence or a relation argument that is not an entity; the message gives
            ``file:line`` and the sentence index in the document.
    """
    path = Path(path)
    examples: list[RelationExample] = []
    with open_text(path, encoding) as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from exc
            try:
                examples.extend(_dygie_document(doc))
            except ValueError as exc:
                raise DataFormatError(f"{path}:{lineno}: {_describe(exc)}") from exc
    return examples


def _local(start: int, end: int, offset: int, size: int) -> tuple[int, int]:
    """Turn a document-level inclusive span into a sentence-local exclusive one."""
    if not offset <= start <= end < offset + size:
        raise ValueError(
            f"span [{start}, {end}] (inclusive, document offsets) lies outside the "
            f"sentence's tokens [{offset}, {offset + size - 1}]"
        )
    return start - offset, end - offset + 1


def _dygie_document(doc: Any) -> list[RelationExample]:
    if not isinstance(doc, dict):
        raise ValueError("expected a JSON object")
    sentences = doc.get("sentences")
    if not isinstance(sentences, list):
        raise ValueError("'sentences' must be a list of token lists")
    ner = doc.get("ner", [[] for _ in sentences])
    relations = doc.get("relations", [[] for _ in sentences])
    if not isinstance(ner, list) or not isinstance(relations, list):
        raise ValueError("'ner' and 'relations' must be lists (one per sentence)")
    if not len(sentences) == len(ner) == len(relations):
        raise ValueError(
            f"{len(sentences)} sentences but {len(ner)} 'ner' and {len(relations)} "
            f"'relations' lists"
        )
    examples: list[RelationExample] = []
    offset = 0
    for index, (raw_tokens, raw_ner, raw_rel) in enumerate(
        zip(sentences, ner, relations, strict=True)
    ):
        try:
            tokens = _tokens(raw_tokens, "a sentence")
            size = len(tokens)
            entities = [
                (*_local(s, e, offset, size), t) for s, e, t in _span_list(raw_ner, 3, "ner")
            ]
            rels = [
                (*_local(hs, he, offset, size), *_local(ts, te, offset, size), t)
                for hs, he, ts, te, t in _span_list(raw_rel, 5, "relations")
            ]
            examples.append(_build(tokens, entities, rels))
        except ValueError as exc:
            raise ValueError(f"sentence {index}: {_describe(exc)}") from exc
        offset += size
    return examples
