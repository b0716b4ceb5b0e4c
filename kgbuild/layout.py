"""Where an offset of an extracted document lies in its source file: a PDF page, an element.

Text read from a PDF, an HTML page or a Word file is the file's text blocks joined by a
blank line (a paragraph break, so no sentence spans two blocks), and the document's
metadata records the blocks as half-open ``[start, end)`` character offsets into that text:

* ``pages`` (PDF): ``[[start, end], ...]``, page *n* is entry *n - 1* (an empty page is an
  empty range);
* ``elements`` (HTML, Word): ``[[start, end, tag], ...]``, the block elements in reading
  order, ``tag`` an HTML-like name (``h1``-``h6``, ``p``, ``li``, ``td``, ``pre``,
  ``blockquote``).

:func:`locate` turns an offset (a mention's, a sentence's) into ``{"page": n}`` or
``{"element": i, "element_tag": tag}``; the graph files put it on each mention's provenance,
Neo4j on each Chunk node.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

__all__ = ["ELEMENTS_KEY", "FORMAT_KEY", "PAGES_KEY", "Layout", "locate"]

FORMAT_KEY = "format"
PAGES_KEY = "pages"
ELEMENTS_KEY = "elements"


@dataclass(frozen=True)
class Layout:
    """The blocks of an extracted document: ``(start, end, tag)``, in text order."""

    kind: str
    """``page`` or ``element``."""
    blocks: tuple[tuple[int, int, str], ...]

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> Layout | None:
        """The layout a document's metadata records, or ``None`` (plain text, bad JSON)."""
        for key, kind in ((PAGES_KEY, "page"), (ELEMENTS_KEY, "element")):
            raw = metadata.get(key)
            if raw is None:
                continue
            try:
                items = json.loads(raw)
                blocks = tuple(
                    (int(item[0]), int(item[1]), str(item[2]) if len(item) > 2 else "")
                    for item in items
                )
            except (ValueError, TypeError, IndexError):
                return None
            return cls(kind, blocks)
        return None

    @cached_property
    def _starts(self) -> list[int]:
        return [start for start, _, _ in self.blocks]

    def locate(self, offset: int) -> dict[str, int | str]:
        """``{"page": n}`` (1-based) or ``{"element": i, "element_tag": tag}``; ``{}`` if none."""
        at = bisect.bisect_right(self._starts, offset) - 1
        while at >= 0 and self.blocks[at][0] == self.blocks[at][1]:
            at -= 1  # an empty page before a page that starts at the same offset
        if at < 0 or not self.blocks[at][0] <= offset < self.blocks[at][1]:
            return {}
        if self.kind == "page":
            return {"page": at + 1}
        return {"element": at, "element_tag": self.blocks[at][2]}


def locate(metadata: Mapping[str, str], offset: int) -> dict[str, int | str]:
    """Where ``offset`` of the document with ``metadata`` lies (``{}``: no layout)."""
    layout = Layout.from_metadata(metadata)
    return layout.locate(offset) if layout is not None else {}
