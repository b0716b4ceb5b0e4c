"""How every reader opens a data file: one error naming the file when it cannot be read."""

from __future__ import annotations

import codecs
import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from kgbuild.byte_order import BYTE_ORDER_MARKS, is_wide, marked_codec
from kgbuild.errors import DataFormatError, InputError, KGBuildError

__all__ = [
    "ENCODING_OPTION",
    "check_data_file",
    "load_json",
    "open_text",
    "text_encoding",
    "unreadable",
]


ENCODING_OPTION = "--encoding"
"""The ``train`` and ``evaluate`` option that gives a data file's encoding (named in errors)."""

_SNIFFED_BYTES = 8192
"""Bytes of a file looked at for a byte-order mark and for NUL bytes (UTF-16 without one)."""


def text_encoding(name: str) -> str:
    """The canonical name of the text encoding ``name`` (``"UTF8"`` is ``"utf-8"``).

    Raises:
        InputError: Python knows no such encoding, or it is not a text encoding (base64).
    """
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise InputError(
            f"unknown encoding {name!r}: give a Python codec name such as utf-8, cp1252, "
            "latin-1, utf-16 or gb18030"
        ) from None
    if not info._is_text_encoding:
        raise InputError(f"{name!r} is not a text encoding (it is a bytes-to-bytes codec)")
    return info.name


@contextlib.contextmanager
def open_text(path: Path, encoding: str) -> Iterator[TextIO]:
    """``path`` opened as text; a file that cannot be opened or decoded raises :func:`unreadable`.

    A byte-order mark decides the encoding, whatever ``encoding`` says: UTF-8's (editors
    on Windows write one; it would otherwise start the first token, ``\ufeff-DOCSTART-``,
    or fail the JSON parser) and UTF-16's or UTF-32's (Windows "Unicode" exports) are
    unambiguous and dropped. Otherwise the file is read in ``encoding``; legacy code pages
    are never guessed, as a mis-decoded training file would train on garbage. NUL bytes
    near the start of a file read in a narrow encoding are refused: it is UTF-16 or UTF-32
    without a byte-order mark, which UTF-8 would read as text strewn with NULs.
    Decoding happens as the file is read, so the error comes from within the ``with`` block.

    Raises:
        InputError: ``encoding`` is unknown (:func:`text_encoding`).
        DataFormatError: NUL bytes, or bytes ``encoding`` cannot decode (:func:`unreadable`).
    """
    encoding = text_encoding(encoding)
    try:
        with path.open("rb") as raw:
            head = raw.read(_SNIFFED_BYTES)
            marked = marked_codec(head)
            if marked is None and b"\x00" in head and not is_wide(encoding):
                raise _wide_without_mark(path, head, encoding)
            encoding = marked or encoding
            raw.seek(0)
            with io.TextIOWrapper(raw, encoding=encoding) as handle:
                yield handle
    except (OSError, UnicodeDecodeError) as exc:
        raise unreadable(path, exc, encoding) from exc


def _wide_without_mark(path: Path, head: bytes, encoding: str) -> DataFormatError:
    """The error for a file whose first bytes (``head``) hold a NUL: not ``encoding`` text."""
    offset = head.index(b"\x00")
    line = head.count(b"\n", 0, offset) + 1
    return DataFormatError(
        f"{path}:{line}: not {encoding} text (a NUL byte at byte {offset:,}): UTF-16 without "
        f"a byte-order mark? give its encoding with {ENCODING_OPTION} (e.g. "
        f"{ENCODING_OPTION} utf-16-le), or save it as UTF-8"
    )


def unreadable(
    path: Path, exc: OSError | UnicodeDecodeError, encoding: str | None = None
) -> KGBuildError:
    """The one-line error for ``path``, which could not be opened (``OSError``) or decoded.

    A file that is not text in its encoding (``encoding``, the one it was read in; default
    the error's) gives a :class:`DataFormatError` naming the line and byte offset of its
    first undecodable byte (``path:line``) and the :data:`ENCODING_OPTION` that names the
    file's encoding; one that cannot be opened an :class:`InputError` saying why.
    """
    if isinstance(exc, UnicodeDecodeError):
        encoding = encoding or exc.encoding
        name = encoding.removesuffix("-sig")
        line, offset, marked = _first_bad_byte(path, encoding)
        where = f"{path}:{line}: not {name} text ({exc.reason} at byte {offset:,})"
        if marked:  # --encoding would not be read: the mark decides
            return DataFormatError(
                f"{where}, though it starts with a {name.upper()} byte-order mark; repair "
                "the file, or save it as UTF-8"
            )
        if name == "utf-8":
            return DataFormatError(
                f"{where}; give the file's encoding with {ENCODING_OPTION} (e.g. "
                f"{ENCODING_OPTION} cp1252), or save it as UTF-8"
            )
        return DataFormatError(
            f"{where}; check that {ENCODING_OPTION} {name} is the file's encoding, or save "
            "it as UTF-8"
        )
    if isinstance(exc, FileNotFoundError):
        return InputError(f"data file {path} does not exist")
    if isinstance(exc, IsADirectoryError):
        return InputError(f"data file {path} is a folder, not a file")
    return InputError(f"cannot read {path}: {exc.strerror or exc}")


def _first_bad_byte(path: Path, encoding: str) -> tuple[int, int, bool]:
    """Where the first byte ``encoding`` cannot decode is, and whether a byte-order mark decided.

    The line (from 1) and byte offset in the file (from 0); a UTF-8 mark is skipped before
    decoding, as ``utf-8-sig`` counts its offsets after it.
    """
    data = path.read_bytes()
    marked = any(data.startswith(bom) and encoding == codec for bom, codec in BYTE_ORDER_MARKS)
    skip = len(codecs.BOM_UTF8) if encoding == "utf-8-sig" and marked else 0
    try:
        data[skip:].decode(encoding)
    except UnicodeDecodeError as exc:
        before = data[skip : skip + exc.start].decode(encoding, errors="replace")
        return before.count("\n") + 1, skip + exc.start, marked
    return 1, 0, marked


def check_data_file(path: Path) -> None:
    """Raise :class:`InputError` unless ``path`` is a file: it is missing, or a folder."""
    if path.is_dir():
        raise InputError(f"data file {path} is a folder, not a file")
    if not path.is_file():
        raise InputError(f"data file {path} does not exist")


def load_json(path: Path, encoding: str) -> Any:
    """The JSON value that the file ``path`` holds.

    Raises:
        DataFormatError: The file is empty, is not JSON at all (a CoNLL column file given
            to a JSON reader: its first line is quoted), or holds bad JSON (``path:line``).
    """
    with open_text(path, encoding) as handle:
        text = handle.read()
    if not text.strip():
        raise DataFormatError(f"{path}: the file is empty; this format is JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not text[: exc.pos].strip():
            first = text.strip().splitlines()[0][:40]
            raise DataFormatError(
                f"{path}:{exc.lineno}: not JSON (it begins {first!r}); this format is JSON"
            ) from exc
        raise DataFormatError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
