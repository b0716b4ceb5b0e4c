"""NER data sources: ``FORMAT:PATH[@FIRST:END]`` specs, read as documents of tagged sentences.

Several corpora train one model, so each source names its format and, for document
collections, a slice of documents (``docred:dev_revised.json@100:500`` is documents 100 to
499). Every source is read as documents (lists of :class:`TaggedSentence`) so that a
model can read a sentence's neighbours as context:

- ``conll``: CoNLL columns, documents between ``-DOCSTART-`` lines; tags as they are.
- ``wnut17``: WNUT-17 columns, one tweet per document, types mapped onto the pipeline's
  (:data:`WNUT17_TYPES`: person PER, location LOC, corporation and group ORG,
  creative-work and product MISC); a tag of another type is refused.
- ``docred``: DocRED / Re-DocRED JSON; each document's mentions as BIO tags (types as they
  are: PER ORG LOC MISC TIME NUM). Nested or overlapping mentions: the longer one is
  tagged, the other left out.
- ``bmes``, ``weibo``, ``spans``, ``conll04``: as ``kgbuild train ner --format``, one
  sentence per document.
- ``fewrel`` (FewRel JSON: each instance's tokens, one sentence per document) and ``text``
  (one sentence per line with words separated by spaces, a blank line between
  documents) are *unlabeled*: they carry no gold tags and only train through a teacher's
  odds (``kgbuild train ner --teacher``, :mod:`kgbuild.training.distill`).

Every source is read in its ``encoding`` (UTF-8 unless ``--encoding`` says otherwise; a
byte-order mark decides, see :func:`kgbuild.readers.files.open_text`).

``partial`` sources (``conll``, ``wnut17``) annotate no dates or numbers: beside a source
that does, their ``O`` on such words is no evidence (see :func:`unannotated_words`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from kgbuild.errors import DataFormatError, InputError
from kgbuild.readers.conll import TaggedSentence, read_conll
from kgbuild.readers.files import check_data_file, open_text, text_encoding

__all__ = [
    "NER_SOURCE_FORMATS",
    "PARTIAL_FORMATS",
    "UNLABELED_FORMATS",
    "WNUT17_TYPES",
    "NerSource",
    "docred_sentences",
    "parse_source",
    "read_source",
    "unannotated_words",
]

NER_SOURCE_FORMATS = (
    "conll",
    "wnut17",
    "docred",
    "bmes",
    "weibo",
    "spans",
    "conll04",
    "fewrel",
    "text",
)
"""Formats a source may name."""

UNLABELED_FORMATS = frozenset({"fewrel", "text"})
"""Formats read for their words alone: every gold tag is unknown (a teacher's odds train on them)."""

PARTIAL_FORMATS = frozenset({"conll", "wnut17"})
"""Formats whose corpora have no TIME or NUM type: their ``O`` on dates and numbers is unknown."""

WNUT17_TYPES = {
    "person": "PER",
    "location": "LOC",
    "corporation": "ORG",
    "group": "ORG",
    "creative-work": "MISC",
    "product": "MISC",
}
"""WNUT-17 entity types onto the pipeline's types."""

_SLICE_RE = re.compile(r"@(\d*):(\d*)$")
_MONTHS = frozenset(
    {
        *("january", "february", "march", "april", "may", "june", "july", "august"),
        *("september", "october", "november", "december", "jan", "feb", "mar", "apr"),
        *("jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"),
    }
)


class NerSource(BaseModel):
    """One NER data source: its format, its file and, optionally, a slice of its documents."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str
    path: Path
    docs: tuple[int, int | None] | None = None
    """``(first, end)`` document indexes (end exclusive, ``None``: to the end); ``None``: all."""
    encoding: str = "utf-8"
    """The file's text encoding (a byte-order mark in the file overrides it)."""

    @property
    def partial(self) -> bool:
        """Whether the corpus leaves dates and numbers unannotated (see :data:`PARTIAL_FORMATS`)."""
        return self.format in PARTIAL_FORMATS

    @property
    def unlabeled(self) -> bool:
        """Whether the source has words only, no gold tags (see :data:`UNLABELED_FORMATS`)."""
        return self.format in UNLABELED_FORMATS

    def __str__(self) -> str:
        docs = (
            ""
            if self.docs is None
            else f"@{self.docs[0]}:{'' if self.docs[1] is None else self.docs[1]}"
        )
        return f"{self.format}:{self.path}{docs}"


def parse_source(spec: str, default_format: str = "conll", encoding: str = "utf-8") -> NerSource:
    """Parse ``FORMAT:PATH[@FIRST:END]`` (or a bare ``PATH``, read as ``default_format``).

    The file is read in ``encoding`` (checked here: an unknown one raises :class:`InputError`).

    >>> parse_source("docred:data/dev.json@100:500").docs
    (100, 500)

    Raises:
        InputError: An unknown format, an empty path or an empty document slice.
    """
    data_format, path = default_format, spec
    head, sep, rest = spec.partition(":")
    if sep and head in NER_SOURCE_FORMATS:
        data_format, path = head, rest
    docs: tuple[int, int | None] | None = None
    match = _SLICE_RE.search(path)
    if match:
        first = int(match.group(1) or 0)
        end = int(match.group(2)) if match.group(2) else None
        if end is not None and end <= first:
            raise InputError(f"data source {spec!r}: document slice {first}:{end} is empty")
        docs, path = (first, end), path[: match.start()]
    if data_format not in NER_SOURCE_FORMATS:
        raise InputError(
            f"data source {spec!r}: unknown format {data_format!r}; use one of {NER_SOURCE_FORMATS}"
        )
    if not path:
        raise InputError(f"data source {spec!r} names no file")
    return NerSource(
        format=data_format, path=Path(path), docs=docs, encoding=text_encoding(encoding)
    )


def unannotated_words(sentence: TaggedSentence) -> tuple[bool, ...]:
    """Words whose ``O`` a corpus without TIME and NUM types cannot vouch for.

    Tokens holding a digit, and capitalised month names, tagged ``O``: CoNLL-2003 and
    WNUT-17 leave dates and quantities untagged, where Re-DocRED tags them TIME or NUM. Training masks
    their loss, so these corpora do not teach that dates are not entities.
    """
    return tuple(
        tag == "O"
        and (any(c.isdigit() for c in token) or (token[:1].isupper() and token.lower() in _MONTHS))
        for token, tag in zip(sentence.tokens, sentence.tags, strict=True)
    )


def docred_sentences(
    sentences: tuple[tuple[str, ...], ...], mentions: list[tuple[int, int, int, str]]
) -> list[TaggedSentence]:
    """BIO-tag a document's sentences from ``(sent_id, start, end, type)`` mentions.

    Longer mentions win: a mention overlapping one already tagged is left out.
    """
    tags = [["O"] * len(sentence) for sentence in sentences]
    for sent_id, start, end, kind in sorted(mentions, key=lambda m: (m[1] - m[2], m[0], m[1])):
        row = tags[sent_id]
        if any(tag != "O" for tag in row[start:end]):
            continue
        row[start] = f"B-{kind}"
        for index in range(start + 1, end):
            row[index] = f"I-{kind}"
    return [
        TaggedSentence(tokens=sentence, tags=tuple(row))
        for sentence, row in zip(sentences, tags, strict=True)
    ]


def _map_types(sentence: TaggedSentence, types: dict[str, str]) -> TaggedSentence:
    """A sentence's tags with their types renamed.

    Raises:
        ValueError: A tag's type is not a key of ``types`` (named, with the known ones).
    """
    mapped = []
    for word, tag in enumerate(sentence.tags, start=1):
        if tag == "O":
            mapped.append(tag)
            continue
        prefix, _, kind = tag.partition("-")
        if kind not in types:
            raise ValueError(
                f"word {word} {sentence.tokens[word - 1]!r}: tag {tag!r} has entity type "
                f"{kind!r}, not one of {', '.join(types)}"
            )
        mapped.append(f"{prefix}-{types[kind]}")
    return TaggedSentence(tokens=sentence.tokens, tags=tuple(mapped))


def _wnut17_documents(path: Path, encoding: str) -> list[list[TaggedSentence]]:
    """A WNUT-17 file's tweets, one per document, types renamed (:data:`WNUT17_TYPES`)."""
    documents = []
    for number, sentence in enumerate(read_conll(path, encoding=encoding), start=1):
        try:
            documents.append([_map_types(sentence, WNUT17_TYPES)])
        except ValueError as exc:
            raise DataFormatError(f"{path}: sentence {number}: {exc} (WNUT-17 types)") from exc
    return documents


def read_source(source: NerSource) -> list[list[TaggedSentence]]:
    """Read a source as documents of BIO-tagged sentences (its slice of documents only).

    Raises:
        InputError: The file does not exist.
        DataFormatError: The file is malformed.
    """
    from kgbuild.readers.bmes import read_bmes, read_weibo
    from kgbuild.readers.conll import iter_conll_documents
    from kgbuild.readers.docred import read_docred
    from kgbuild.readers.relations import CONLL04_ENTITY_TYPES, read_conll04_tags
    from kgbuild.readers.spans import read_spans

    path, encoding = source.path, source.encoding
    check_data_file(path)
    documents: list[list[TaggedSentence]]
    if source.format == "conll":
        documents = list(iter_conll_documents(path, encoding=encoding))
    elif source.format == "wnut17":
        documents = _wnut17_documents(path, encoding)
    elif source.format == "docred":
        documents = [
            docred_sentences(
                doc.sentences,
                [
                    (m.sent_id, m.start, m.end, m.type)
                    for entity in doc.entities
                    for m in entity.mentions
                ],
            )
            for doc in read_docred(path, encoding=encoding)
        ]
    elif source.format == "fewrel":
        documents = [[_untagged(tokens)] for tokens in _fewrel_tokens(path, encoding)]
    elif source.format == "text":
        documents = _text_documents(path, encoding)
    else:
        readers: dict[str, Callable[..., list[TaggedSentence]]] = {
            "bmes": read_bmes,
            "weibo": read_weibo,
            "spans": read_spans,
            "conll04": functools.partial(read_conll04_tags, entity_label_map=CONLL04_ENTITY_TYPES),
        }
        documents = [[s] for s in readers[source.format](path, encoding=encoding)]
    if source.docs is not None:
        documents = documents[source.docs[0] : source.docs[1]]
    return documents


def _untagged(tokens: Sequence[str]) -> TaggedSentence:
    """A sentence of an unlabeled source (its ``O`` tags are placeholders, never trained on)."""
    return TaggedSentence(tokens=tuple(tokens), tags=("O",) * len(tokens))


def _fewrel_tokens(path: Path, encoding: str) -> list[list[str]]:
    """The tokens of every FewRel instance, relation by relation in file order."""
    import json

    with open_text(path, encoding) as handle:
        text = handle.read()
    try:
        data = json.loads(text)
        return [
            [str(token) for token in instance["tokens"]]
            for instances in data.values()
            for instance in instances
            if instance["tokens"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataFormatError(
            f"{path}: not FewRel JSON ({{relation: [{{tokens, h, t}}]}}): {exc}"
        ) from exc


def _text_documents(path: Path, encoding: str) -> list[list[TaggedSentence]]:
    """Sentences of a plain text file: one per line, a blank line between documents."""
    documents: list[list[TaggedSentence]] = [[]]
    with open_text(path, encoding) as handle:
        lines = handle.read().splitlines()
    for line in lines:
        words = line.split()
        if words:
            documents[-1].append(_untagged(words))
        elif documents[-1]:
            documents.append([])
    return [document for document in documents if document]
