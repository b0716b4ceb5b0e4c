"""Byte-order marks: the Unicode encoding that the first bytes of a file declare.

Ingest (:mod:`kgbuild.stages.ingest`) and the data-set readers (:mod:`kgbuild.readers.files`)
both let a mark decide how a file is decoded; this is the one table they read it from, and
the one place they ask whether an encoding is a wide one (whose text holds NUL bytes).
"""

from __future__ import annotations

import codecs

__all__ = ["BYTE_ORDER_MARKS", "is_wide", "marked_codec"]

BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
"""Each byte-order mark and the codec that reads (and drops) it, the first match deciding."""


def marked_codec(data: bytes, *, utf8: bool = True) -> str | None:
    """The codec whose byte-order mark ``data`` starts with, ``None`` without one.

    ``utf8=False``: only a UTF-16 or UTF-32 mark counts (UTF-8's is left to the caller).
    """
    return next(
        (
            codec
            for bom, codec in BYTE_ORDER_MARKS
            if (utf8 or codec != "utf-8-sig") and data.startswith(bom)
        ),
        None,
    )


def is_wide(encoding: str) -> bool:
    """Whether ``encoding`` is a UTF-16 or UTF-32 codec (its text holds NUL bytes).

    An encoding Python does not know is not wide.
    """
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return name.startswith(("utf-16", "utf-32"))
