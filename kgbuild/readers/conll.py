"""Reader for CoNLL-style column files with one token per line.

The token is the first column and the tag the last one; columns are separated by
tabs (when the line holds a tab) or by runs of spaces. A blank line ends a
sentence and ``-DOCSTART-`` lines are skipped. Works for CoNLL-2003, WNUT-17,
Weibo (BIO) and Resume (BMES) files alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from kgbuild.errors import DataFormatError
from kgbuild.readers.files import open_text
from kgbuild.readers.tag_scheme import SchemeCheck

__all__ = ["TaggedSentence", "iter_conll", "iter_conll_documents", "read_conll"]

_TAG_RE = re.compile(r"^(?:O|[BIESMLU]-\S+)$")


class TaggedSentence(BaseModel):
    """One sentence: tokens and their tags, of equal length."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: tuple[str, ...]
    tags: tuple[str, ...]

    @model_validator(mode="after")
    def _check_lengths(self) -> TaggedSentence:
        if len(self.tokens) != len(self.tags):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.tags)} tags in a sentence")
        return self


def _split(line: str) -> list[str]:
    if "\t" in line:
        return [col.strip() for col in line.split("\t")]
    return line.split(" ")


def iter_conll_documents(
    path: Path | str, *, encoding: str = "utf-8"
) -> Iterator[list[TaggedSentence]]:
    """Yield the documents of a CoNLL column file: the sentences between ``-DOCSTART-`` lines.

    A file without ``-DOCSTART-`` lines is one document. Its tags must keep to one scheme
    (:mod:`kgbuild.readers.tag_scheme`): BIO (IOB1 or IOB2), IOBES, BMES or BILOU.

    Args:
        path: The file to read.
        encoding: Its text encoding.

    Yields:
        list[TaggedSentence]: Each non-empty document's sentences, in file order.

    Raises:
        DataFormatError: A line has fewer than two columns, an empty token or an
            unknown tag, or a tag mixes schemes with an earlier one (BIO with IOBES);
            the message gives ``file:line``.
    """
    path = Path(path)
    document: list[TaggedSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    scheme = SchemeCheck()

    def sentence() -> TaggedSentence:
        scheme.add(tags, lambda index: f"{path}:{lines[index]}")
        return TaggedSentence(tokens=tuple(tokens), tags=tuple(tags))

    with open_text(path, encoding) as handle:
        for lineno, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            starts_document = line.startswith("-DOCSTART-")
            if not line.strip() or starts_document:
                if tokens:
                    document.append(sentence())
                    tokens, tags, lines = [], [], []
                if starts_document and document:
                    yield document
                    document = []
                continue
            cols = [col for col in _split(line) if col != ""]
            if len(cols) < 2:
                raise DataFormatError(
                    f"{path}:{lineno}: expected 'token ... tag' (at least two columns), "
                    f"got {line!r}"
                )
            token, tag = cols[0], cols[-1]
            if not _TAG_RE.match(tag):
                raise DataFormatError(
                    f"{path}:{lineno}: tag {tag!r} is neither 'O' nor a prefixed tag "
                    f"such as 'B-PER'"
                )
            tokens.append(token)
            tags.append(tag)
            lines.append(lineno)
    if tokens:
        document.append(sentence())
    if document:
        yield document


def iter_conll(path: Path | str, *, encoding: str = "utf-8") -> Iterator[TaggedSentence]:
    """Yield the sentences of a CoNLL column file one by one.

    Args:
        path: The file to read.
        encoding: Its text encoding.

    Yields:
        TaggedSentence: Each non-empty sentence, in file order.

    Raises:
        DataFormatError: A line has fewer than two columns, an empty token or an
            unknown tag, or tags of two schemes; the message gives ``file:line``.
    """
    for document in iter_conll_documents(path, encoding=encoding):
        yield from document


def read_conll(path: Path | str, *, encoding: str = "utf-8") -> list[TaggedSentence]:
    """Read a whole CoNLL column file.

    Args:
        path: The file to read.
        encoding: Its text encoding.

    Returns:
        list[TaggedSentence]: The sentences, in file order.

    Raises:
        DataFormatError: A line is malformed (see :func:`iter_conll`).
    """
    return list(iter_conll(path, encoding=encoding))
