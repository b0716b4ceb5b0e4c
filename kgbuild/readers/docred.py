"""Reader for DocRED / Re-DocRED document-level relation extraction JSON.

The file is a JSON list of documents, each with ``title``, ``sents`` (a list of token
lists), ``vertexSet`` (entity clusters: lists of mentions with ``name``, ``sent_id``,
``pos`` = ``[start, end)`` token offsets within the sentence, and ``type``) and
``labels`` (``h``, ``t`` = indexes into ``vertexSet``, ``r`` = relation id such as
``P17``, ``evidence`` = sentence ids). ``labels`` may be absent (test files). Extra
keys (``global_pos``, ``index``, ...) are ignored. Errors name the document index:
``path: record 12: ...``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from kgbuild.errors import DataFormatError
from kgbuild.readers.files import load_json

__all__ = [
    "DocEntity",
    "DocMention",
    "DocREDDocument",
    "DocRelation",
    "DocumentText",
    "document_text",
    "read_docred",
    "read_rel_info",
]


class DocMention(BaseModel):
    """One mention of an entity: sentence id and token offsets ``[start, end)`` in it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    sent_id: int
    start: int
    end: int
    type: str


class DocEntity(BaseModel):
    """An entity cluster; ``type`` is its mentions' most frequent type (first on ties)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mentions: tuple[DocMention, ...]
    type: str


class DocRelation(BaseModel):
    """A relation between two entities (indexes into ``entities``) with evidence sentences."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    head: int
    tail: int
    relation: str
    evidence: tuple[int, ...] = ()


class DocREDDocument(BaseModel):
    """One document: tokenised sentences, entity clusters and relations."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str
    sentences: tuple[tuple[str, ...], ...]
    entities: tuple[DocEntity, ...]
    relations: tuple[DocRelation, ...]

    @model_validator(mode="after")
    def _check_indexes(self) -> DocREDDocument:
        for e_index, entity in enumerate(self.entities):
            if not entity.mentions:
                raise ValueError(f"entity {e_index} has no mention")
            for m_index, mention in enumerate(entity.mentions):
                if not 0 <= mention.sent_id < len(self.sentences):
                    raise ValueError(
                        f"entity {e_index} mention {m_index}: sent_id {mention.sent_id} is "
                        f"not one of the {len(self.sentences)} sentences"
                    )
                size = len(self.sentences[mention.sent_id])
                if not 0 <= mention.start < mention.end <= size:
                    raise ValueError(
                        f"entity {e_index} mention {m_index}: pos [{mention.start}, "
                        f"{mention.end}) is empty or outside sentence {mention.sent_id} "
                        f"({size} tokens)"
                    )
        for r_index, relation in enumerate(self.relations):
            for index in (relation.head, relation.tail):
                if not 0 <= index < len(self.entities):
                    raise ValueError(
                        f"label {r_index}: entity {index} is not one of the "
                        f"{len(self.entities)} entities"
                    )
            for sent_id in relation.evidence:
                if not 0 <= sent_id < len(self.sentences):
                    raise ValueError(
                        f"label {r_index}: evidence sentence {sent_id} is not one of the "
                        f"{len(self.sentences)} sentences"
                    )
        return self


class DocumentText(NamedTuple):
    """A document as one string, with character offsets (end exclusive)."""

    text: str
    """The sentences' tokens joined with single spaces (sentences too)."""
    sentence_offsets: tuple[tuple[int, int], ...]
    """``(start, end)`` of each sentence in ``text``."""
    mention_offsets: tuple[tuple[tuple[int, int], ...], ...]
    """``(start, end)`` of each mention of each entity, indexed like ``entities``."""


def document_text(doc: DocREDDocument) -> DocumentText:
    """Join a document's tokens with spaces and locate its sentences and mentions.

    Args:
        doc: The document.

    Returns:
        DocumentText: The text, the character span of each sentence and of each
        mention (``text[start:end]`` is the mention's tokens joined with spaces).
    """
    token_spans: list[list[tuple[int, int]]] = []
    sentence_offsets: list[tuple[int, int]] = []
    position = 0
    for s_index, sentence in enumerate(doc.sentences):
        if s_index:
            position += 1
        sentence_start = position
        spans: list[tuple[int, int]] = []
        for t_index, token in enumerate(sentence):
            if t_index:
                position += 1
            spans.append((position, position + len(token)))
            position += len(token)
        token_spans.append(spans)
        sentence_offsets.append((sentence_start, position))
    text = " ".join(" ".join(sentence) for sentence in doc.sentences)
    mention_offsets = tuple(
        tuple(
            (token_spans[m.sent_id][m.start][0], token_spans[m.sent_id][m.end - 1][1])
            for m in entity.mentions
        )
        for entity in doc.entities
    )
    return DocumentText(text, tuple(sentence_offsets), mention_offsets)


def _describe(exc: ValueError) -> str:
    """A one-line message for a ValueError, unwrapping pydantic's validation errors."""
    if isinstance(exc, ValidationError):
        return "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())
    return str(exc)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mention(raw: Any) -> DocMention:
    if not isinstance(raw, dict):
        raise ValueError("a mention is not a JSON object")
    pos = raw.get("pos")
    if not isinstance(pos, list) or len(pos) != 2 or not all(_is_int(x) for x in pos):
        raise ValueError(f"mention 'pos' {pos!r} is not [start, end]")
    name, sent_id, etype = raw.get("name"), raw.get("sent_id"), raw.get("type")
    if not isinstance(name, str) or not _is_int(sent_id) or not isinstance(etype, str):
        raise ValueError(
            f"mention {raw!r} needs a string 'name', an integer 'sent_id' and a string 'type'"
        )
    return DocMention(name=name, sent_id=sent_id, start=pos[0], end=pos[1], type=etype)


def _document(raw: Any) -> DocREDDocument:
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object")
    title = raw.get("title", "")
    sents = raw.get("sents")
    if not isinstance(title, str):
        raise ValueError("'title' is not a string")
    if not isinstance(sents, list) or not all(
        isinstance(s, list) and all(isinstance(t, str) for t in s) for s in sents
    ):
        raise ValueError("'sents' must be a list of token lists")
    vertex_set = raw.get("vertexSet")
    if not isinstance(vertex_set, list) or not all(isinstance(v, list) for v in vertex_set):
        raise ValueError("'vertexSet' must be a list of mention lists")
    entities: list[DocEntity] = []
    for e_index, cluster in enumerate(vertex_set):
        try:
            mentions = tuple(_mention(m) for m in cluster)
        except ValueError as exc:
            raise ValueError(f"entity {e_index}: {_describe(exc)}") from exc
        if not mentions:
            raise ValueError(f"entity {e_index} has no mention")
        etype = Counter(m.type for m in mentions).most_common(1)[0][0]
        entities.append(DocEntity(mentions=mentions, type=etype))
    labels = raw.get("labels", [])
    if not isinstance(labels, list):
        raise ValueError("'labels' is not a list")
    relations: list[DocRelation] = []
    for l_index, label in enumerate(labels):
        if not isinstance(label, dict):
            raise ValueError(f"label {l_index} is not a JSON object")
        head, tail, rel = label.get("h"), label.get("t"), label.get("r")
        evidence = label.get("evidence", [])
        if (
            not _is_int(head)
            or not _is_int(tail)
            or not isinstance(rel, str)
            or not isinstance(evidence, list)
            or not all(_is_int(x) for x in evidence)
        ):
            raise ValueError(
                f"label {l_index} {label!r} needs integer 'h' and 't', a string 'r' and a "
                f"list of integer 'evidence'"
            )
        relations.append(DocRelation(head=head, tail=tail, relation=rel, evidence=tuple(evidence)))
    return DocREDDocument(
        title=title,
        sentences=tuple(tuple(s) for s in sents),
        entities=tuple(entities),
        relations=tuple(relations),
    )


def read_docred(path: Path | str, *, encoding: str = "utf-8") -> list[DocREDDocument]:
    """Read a DocRED / Re-DocRED JSON file.

    Args:
        path: The JSON file (a list of documents).
        encoding: Its text encoding.

    Returns:
        list[DocREDDocument]: The documents, in file order.

    Raises:
        DataFormatError: Bad JSON (``path:line``) or a malformed document, e.g. a
            mention outside its sentence or a label naming a missing entity
            (``path: record N``, N counted from 0).
    """
    path = Path(path)
    records = load_json(path, encoding)
    if not isinstance(records, list):
        raise DataFormatError(f"{path}: expected a JSON list of documents")
    documents: list[DocREDDocument] = []
    for index, record in enumerate(records):
        try:
            documents.append(_document(record))
        except ValueError as exc:
            raise DataFormatError(f"{path}: record {index}: {_describe(exc)}") from exc
    return documents


def read_rel_info(path: Path | str, *, encoding: str = "utf-8") -> dict[str, str]:
    """Read ``rel_info.json``: relation id (e.g. ``P17``) to name (e.g. ``country``).

    Args:
        path: The JSON file, one object of string to string.
        encoding: Its text encoding.

    Returns:
        dict[str, str]: Relation id to name, in file order.

    Raises:
        DataFormatError: Bad JSON (``path:line``) or a value that is not a string
            (naming the key).
    """
    path = Path(path)
    data = load_json(path, encoding)
    if not isinstance(data, dict):
        raise DataFormatError(f"{path}: expected a JSON object of relation id to name")
    for key, value in data.items():
        if not isinstance(value, str):
            raise DataFormatError(f"{path}: relation {key!r}: name {value!r} is not a string")
    return dict(data)
