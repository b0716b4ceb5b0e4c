"""Command help text as it is written in docstrings, shown wrapped to the terminal.

Typer's rich help keeps every line break of a docstring's later paragraphs, then wraps
each line to the terminal: in 80 columns a 88-column docstring line became a line and a
word ("... the summary lists" / "them); 2 nothing usable ..."). Each paragraph is joined
into one line here, for rich to wrap; an ``Examples:`` paragraph keeps one example a line.
"""

from __future__ import annotations

import inspect

__all__ = ["flowing"]

_KEEP_LINES = ("Examples:",)


def flowing(text: str) -> str:
    """``text`` with the line breaks inside each paragraph made spaces (examples kept)."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        paragraph if paragraph.startswith(_KEEP_LINES) else " ".join(paragraph.split("\n"))
        for paragraph in paragraphs
    )
