"""The ``--encoding`` option of the ``train`` and ``evaluate`` commands that read data files."""

from __future__ import annotations

from typing import Annotated

import typer

from kgbuild.errors import InputError
from kgbuild.readers.files import ENCODING_OPTION, text_encoding

__all__ = ["EncodingOption"]


def _known(name: str) -> str:
    """``name`` as a known text encoding's canonical name; an unknown one is a usage error."""
    try:
        return text_encoding(name)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from None


EncodingOption = Annotated[
    str,
    typer.Option(
        ENCODING_OPTION,
        help=(
            "Text encoding of the data files (a Python codec name: cp1252, latin-1, "
            "utf-16...). Default UTF-8. A file that starts with a UTF-8, UTF-16 or UTF-32 "
            "byte-order mark is read in that encoding whatever this says; other encodings "
            "are never guessed, so a file in a legacy code page needs this option."
        ),
        callback=_known,
    ),
]
"""Every such command's ``--encoding`` (one definition), passed on to the readers."""
