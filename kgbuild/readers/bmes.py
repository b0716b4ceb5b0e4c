"""Readers for character-level Chinese NER files, converted to BIO tags.

Two layouts are read:

* BMES/BIOES files (Resume NER ``*.char.bmes``): ``char TAG`` per line, a blank line
  between sentences. Tags are converted to BIO: ``B-``/``S-``/``U-`` become ``B-`` and
  ``M-``/``I-``/``E-``/``L-`` become ``I-``. An inside tag that does not continue an
  entity of the same type (Resume splits a few entities across sentences) starts a new
  entity (``B-``), so the result is always valid BIO.
* Weibo NER (2nd edition): ``char<segment index><TAB>TAG`` per line, where the digits
  after the character give its position in its word (``0``, ``1``, ... ``10``, ...).
  The index is stripped: the token is the shortest prefix followed only by ASCII
  digits, so ``"310"`` is the character ``"3"`` at position 10. Tags are already BIO
  (e.g. ``B-PER.NAM``) and get the same repair as above.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from kgbuild.errors import DataFormatError
from kgbuild.readers.conll import TaggedSentence
from kgbuild.readers.files import open_text

__all__ = ["bmes_to_bio", "iter_bmes", "iter_weibo", "read_bmes", "read_weibo"]

_TAG_RE = re.compile(r"^(?:O|([BMESIUL])-(\S+))$")
_WEIBO_TOKEN_RE = re.compile(r"^(.+?)([0-9]+)$")
_BEGIN = frozenset("BSU")
_CLOSE = frozenset("SUEL")


def bmes_to_bio(tags: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Convert BMES/BIOES/BILOU (or BIO) tags of one sentence to valid BIO.

    Args:
        tags: Tags such as ``B-ORG``, ``M-ORG``, ``E-ORG``, ``S-NAME`` or ``O``.

    Returns:
        tuple[str, ...]: The BIO tags; an inside tag (``M I E L``) not continuing an
        open entity of the same type becomes ``B-`` (``S U E L`` close an entity).

    Raises:
        ValueError: A tag has an unknown form.
    """
    out: list[str] = []
    open_type: str | None = None
    for tag in tags:
        match = _TAG_RE.match(tag)
        if match is None:
            raise ValueError(f"tag {tag!r} is neither 'O' nor a B/M/E/S/I/L/U-prefixed tag")
        prefix, label = match.group(1), match.group(2)
        if prefix is None:
            out.append("O")
            open_type = None
        else:
            out.append(f"B-{label}" if prefix in _BEGIN or open_type != label else f"I-{label}")
            open_type = None if prefix in _CLOSE else label
    return tuple(out)


def _iter_columns(
    path: Path, encoding: str, split_token: bool
) -> Iterator[tuple[list[str], list[str]]]:
    """Yield (tokens, raw tags) for each sentence."""
    tokens: list[str] = []
    tags: list[str] = []
    with open_text(path, encoding) as handle:
        for lineno, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if tokens:
                    yield tokens, tags
                    tokens, tags = [], []
                continue
            cols = line.split("\t") if "\t" in line else line.split()
            cols = [col.strip() for col in cols if col.strip()]
            if len(cols) != 2:
                raise DataFormatError(
                    f"{path}:{lineno}: expected two columns 'char TAG', got {line!r}"
                )
            token, tag = cols
            if split_token:
                match = _WEIBO_TOKEN_RE.match(token)
                if match is None:
                    raise DataFormatError(
                        f"{path}:{lineno}: expected a character followed by its segment "
                        f"index (e.g. '中0'), got {token!r}"
                    )
                token = match.group(1)
            if not _TAG_RE.match(tag):
                raise DataFormatError(
                    f"{path}:{lineno}: tag {tag!r} is neither 'O' nor a prefixed tag "
                    f"such as 'B-ORG' or 'M-ORG'"
                )
            tokens.append(token)
            tags.append(tag)
    if tokens:
        yield tokens, tags


def _iter(path: Path | str, encoding: str, split_token: bool) -> Iterator[TaggedSentence]:
    path = Path(path)
    for tokens, tags in _iter_columns(path, encoding, split_token):
        yield TaggedSentence(tokens=tuple(tokens), tags=bmes_to_bio(tags))


def iter_bmes(path: Path | str, *, encoding: str = "utf-8") -> Iterator[TaggedSentence]:
    """Yield the sentences of a ``char TAG`` BMES/BIOES file with BIO tags.

    Args:
        path: The file to read.
        encoding: Its text encoding.

    Yields:
        TaggedSentence: Each non-empty sentence, tags converted to BIO.

    Raises:
        DataFormatError: A line does not have two columns or has an unknown tag; the
            message gives ``file:line``.
    """
    return _iter(path, encoding, split_token=False)


def read_bmes(path: Path | str, *, encoding: str = "utf-8") -> list[TaggedSentence]:
    """Read a whole BMES/BIOES character file (see :func:`iter_bmes`).

    Args:
        path: The file to read.
        encoding: Its text encoding.

    Returns:
        list[TaggedSentence]: The sentences, in file order, with BIO tags.

    Raises:
        DataFormatError: A line is malformed; the message gives ``file:line``.
    """
    return list(iter_bmes(path, encoding=encoding))


def iter_weibo(path: Path | str, *, encoding: str = "utf-8") -> Iterator[TaggedSentence]:
    """Yield the sentences of a Weibo NER file, segment indexes stripped.

    Args:
        path: The file to read.
        encoding: Its text encoding.

    Yields:
        TaggedSentence: Each non-empty sentence with BIO tags.

    Raises:
        DataFormatError: A line lacks the tab-separated tag, the segment index or has an
            unknown tag; the message gives ``file:line``.
    """
    return _iter(path, encoding, split_token=True)


def read_weibo(path: Path | str, *, encoding: str = "utf-8") -> list[TaggedSentence]:
    """Read a whole Weibo NER file (see :func:`iter_weibo`).

    Args:
        path: The file to read.
        encoding: Its text encoding.

    Returns:
        list[TaggedSentence]: The sentences, in file order, with BIO tags.

    Raises:
        DataFormatError: A line is malformed; the message gives ``file:line``.
    """
    return list(iter_weibo(path, encoding=encoding))
