"""Answers of the kind a question asks for: reader spans snapped to the graph's entities.

When a question matched a relation of the schema that the graph holds no fact of ("Who
directed Sailor's Luck?", DIRECTOR, range PER), the reader reads the entity's sentences. Its
spans are often not names at all ("politician", "weekly Catholic newspaper for the
diocese"). Here each span is mapped to the entity of an expected label that the passage
names where the span was read (whole words, names and aliases of the graph's entities); a
span that names none is dropped. Several spans naming one entity add up, as the reader's
scores are normalised jointly over the passages.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from kgbuild.qa.models import EntityHit
from kgbuild.qa.store import GraphStore
from kgbuild.qa.text import STOPWORDS, fold, is_cjk, name_forms, word_spans

__all__ = ["Occurrence", "entity_occurrences", "snap_span"]


@dataclass(frozen=True)
class Occurrence:
    """Where a passage names an entity: ``text[start:end]``."""

    start: int
    end: int
    entity: EntityHit


def entity_occurrences(
    store: GraphStore, text: str, labels: Collection[str], *, exclude: Collection[str] = ()
) -> list[Occurrence]:
    """The places ``text`` names an entity of ``labels`` (not an id of ``exclude``).

    Names match as whole folded words (``"U.S."`` is ``u s``); Chinese names as substrings.
    """
    spans = word_spans(text)
    words = [fold(text[a:b]) for a, b in spans]
    terms = {w for w in words if is_cjk(w) or (w not in STOPWORDS and len(w) >= 2)}
    if not terms:
        return []
    found: list[Occurrence] = []
    for hit in store.named_in(set(words)):
        if hit.label not in labels or hit.id in exclude:
            continue
        forms: set[str] = set()
        for name in (hit.name, *hit.aliases):
            forms |= name_forms(name)
        for form in forms:
            found += _places(text, spans, words, form, hit)
    return sorted(set(found), key=lambda o: (o.start, -o.end, o.entity.id))


def _places(
    text: str,
    spans: Sequence[tuple[int, int]],
    words: Sequence[str],
    form: str,
    hit: EntityHit,
) -> list[Occurrence]:
    if is_cjk(form) and " " not in form:
        places, at = [], text.find(form)
        while at >= 0:
            places.append(Occurrence(at, at + len(form), hit))
            at = text.find(form, at + 1)
        return places
    parts = form.split()
    if all(p in STOPWORDS for p in parts) or len(form) < 2:
        return []  # a name of stopwords or one letter ("The", "A") is too ambiguous
    size = len(parts)
    places = []
    for i in range(len(words) - size + 1):
        if words[i] == parts[0] and list(words[i : i + size]) == parts:
            start, end = spans[i][0], spans[i + size - 1][1]
            if text[end : end + 1] == "." and "." in text[start:end]:
                end += 1  # an abbreviation's last full stop: "U.S."
            places.append(Occurrence(start, end, hit))
    return places


def snap_span(start: int, end: int, occurrences: Sequence[Occurrence]) -> Occurrence | None:
    """The occurrence that overlaps ``[start, end)`` most (ties: the longer, then earlier)."""
    best: tuple[int, int, int] | None = None
    chosen = None
    for occurrence in occurrences:
        overlap = min(end, occurrence.end) - max(start, occurrence.start)
        if overlap <= 0:
            continue
        key = (overlap, occurrence.end - occurrence.start, -occurrence.start)
        if best is None or key > best:
            best, chosen = key, occurrence
    return chosen
