"""How every reader opens a data file: one error naming the file when it cannot be read."""

from __future__ import annotations

import codecs
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from kgbuild.errors import DataFormatError, InputError, KGBuildError

__all__ = ["check_data_file", "load_json", "open_text", "unreadable"]


@contextlib.contextmanager
def open_text(path: Path, encoding: str) -> Iterator[TextIO]:
    """``path`` opened as text; a file that cannot be opened or decoded raises :func:`unreadable`.

    Decoding happens as the file is read, so the error comes from within the ``with`` block.
    A UTF-8 file's byte-order mark (editors on Windows write one) is dropped: it would
    otherwise start the first token (``\ufeff-DOCSTART-``) or fail the JSON parser.
    """
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"
    try:
        with path.open(encoding=encoding) as handle:
            yield handle
    except (OSError, UnicodeDecodeError) as exc:
        raise unreadable(path, exc) from exc


def unreadable(path: Path, exc: OSError | UnicodeDecodeError) -> KGBuildError:
    """The one-line error for ``path``, which could not be opened (``OSError``) or decoded.

    A file that is not text in its encoding gives a :class:`DataFormatError` naming the
    line of its first undecodable byte (``path:line``); one that cannot be opened an
    :class:`InputError` saying why.
    """
    if isinstance(exc, UnicodeDecodeError):
        return DataFormatError(
            f"{path}:{_line_of_bad_byte(path, exc.encoding)}: not "
            f"{exc.encoding.removesuffix('-sig')} text "
            f"({exc.reason}); save the file as UTF-8"
        )
    if isinstance(exc, FileNotFoundError):
        return InputError(f"data file {path} does not exist")
    if isinstance(exc, IsADirectoryError):
        return InputError(f"data file {path} is a folder, not a file")
    return InputError(f"cannot read {path}: {exc.strerror or exc}")


def _line_of_bad_byte(path: Path, encoding: str) -> int:
    """The line (from 1) of the first byte of ``path`` that ``encoding`` cannot decode."""
    data = path.read_bytes()
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1
    return 1


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
