"""One tagging scheme per corpus: BIO (IOB1 or IOB2) or a closing one (IOBES, BMES, BILOU).

A closing scheme ends every entity on its own tag (``E-``/``L-``, or a lone ``S-``/``U-``);
BIO never does. A file holding both kinds of entity (``B-PER O`` beside ``B-LOC E-LOC``), or
two schemes' names for one role (``I-`` beside ``M-``, ``E-`` beside ``L-``, ``S-`` beside
``U-``), would train as if its tags meant one thing. :class:`SchemeCheck` reads sentences
in order and raises on the first tag that shows the mix, naming both places.

An entity still open at the end of a sentence is no evidence: Resume NER splits a few
entities across sentences. ``I-`` after ``O`` is IOB1 (original CoNLL-2003), not a mix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kgbuild.errors import DataFormatError

__all__ = ["SchemeCheck"]

_ROLES = {"I": "inside", "M": "inside", "E": "end", "L": "end", "S": "single", "U": "single"}
_SCHEME_OF = {"I": "BIO/IOBES", "M": "BMES", "L": "BILOU", "U": "BILOU"}
_OPEN = frozenset("BIM")
_CONTINUES = frozenset("IMEL")
_CLOSES = frozenset("ESLU")


@dataclass(frozen=True)
class _Seen:
    """A tag that shows a scheme, and where it is."""

    where: str
    tag: str
    after: str = ""
    """The tag after an entity that ends without a closing tag."""


class SchemeCheck:
    """Raise on the first tag that mixes schemes, across every sentence it is fed."""

    def __init__(self, what: str = "the file") -> None:
        self.what = what
        """How messages call the data checked (``the file``, ``the training data``)."""
        self._roles: dict[str, _Seen] = {}
        self._closed: _Seen | None = None
        self._unclosed: _Seen | None = None

    def add(self, tags: Sequence[str], where: Callable[[int], str]) -> None:
        """Check one sentence's tags; ``where(i)`` names the place of tag ``i`` in messages.

        Raises:
            DataFormatError: A tag shows another scheme than one seen before.
        """
        for index, tag in enumerate(tags):
            prefix, kind = tag[:1], tag[2:]
            role = _ROLES.get(prefix)
            if role is not None:
                first = self._roles.get(role)
                if first is None:
                    self._roles[role] = _Seen(where(index), tag)
                elif first.tag[:1] != prefix:
                    raise DataFormatError(
                        f"{where(index)}: tag {tag!r} names the {role} of an entity with "
                        f"{prefix}-, but {first.where} tags {first.tag!r}: {self.what} mixes "
                        f"{_scheme(prefix)} with {_scheme(first.tag[:1])}; use one scheme's "
                        "prefixes throughout"
                    )
            if prefix in _CLOSES and self._closed is None:
                self._closed = _Seen(where(index), tag)
            elif prefix in _OPEN and index + 1 < len(tags) and self._unclosed is None:
                after = tags[index + 1]
                if not (after[:1] in _CONTINUES and after[2:] == kind):
                    self._unclosed = _Seen(where(index), tag, after)
            if self._closed is not None and self._unclosed is not None:
                raise self._mixed()

    def _mixed(self) -> DataFormatError:
        closed, unclosed = self._closed, self._unclosed
        assert closed is not None and unclosed is not None
        inside = self._roles.get("inside")
        scheme = _scheme(closed.tag[:1])
        if scheme == "IOBES" and inside is not None and inside.tag[:1] == "M":
            scheme = "BMES"
        end, single = ("L", "U") if scheme == "BILOU" else ("E", "S")
        return DataFormatError(
            f"{unclosed.where}: entity tag {unclosed.tag!r} is followed by "
            f"{unclosed.after!r}, so the entity ends without a closing tag as in BIO, but "
            f"{closed.where} tags {closed.tag!r} as in {scheme}, where every entity ends on "
            f"an {end}- tag or is a lone {single}- tag: {self.what} mixes BIO with {scheme}; "
            "tag every entity in one scheme"
        )


def _scheme(prefix: str) -> str:
    """The scheme a prefix names (``E`` and ``S``: IOBES)."""
    return _SCHEME_OF.get(prefix, "IOBES")
