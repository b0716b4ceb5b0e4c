"""Answers of the kind a question asks for: reader spans snapped to the graph's entities.

When a question matched a relation of the schema that the graph holds no fact of ("Who
directed Sailor's Luck?", DIRECTOR, range PER), the reader reads the entity's sentences. Its
spans are often not names at all ("politician", "weekly Catholic newspaper for the
diocese"). Here each span is mapped to the entity of an expected label that the passage
names where the span was read (whole words, names and aliases of the graph's entities); a
span that names none is dropped. Several spans naming one entity add up, as the reader's
scores are normalised jointly over the passages (:meth:`kgbuild.qa.GraphQA._typed`, which
gives the spans as read when none names such an entity).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from kgbuild.qa.models import EntityHit
from kgbuild.qa.text import STOPWORDS, fold, is_cjk, name_forms, word_spans

__all__ = ["Occurrence", "entity_occurrences", "passage_words", "snap_span", "spanned"]


@dataclass(frozen=True)
class Occurrence:
    """Where a passage names an entity: ``text[start:end]``."""

    start: int
    end: int
    entity: EntityHit


def passage_words(texts: Sequence[str]) -> set[str]:
    """The folded words of ``texts``: what :meth:`GraphStore.named_in` is asked with."""
    return {fold(text[a:b]) for text in texts for a, b in word_spans(text)}


def entity_occurrences(
    text: str,
    candidates: Sequence[EntityHit],
    labels: Collection[str],
    *,
    exclude: Collection[str] = (),
) -> list[Occurrence]:
    """The places ``text`` names one of ``candidates`` of ``labels`` (not an id of ``exclude``).

    ``candidates`` come from the store (``store.named_in(passage_words([text, ...]))``).
    Names match as whole folded words (``"U.S."`` is ``u s``); Chinese names as substrings.
    """
    spans = word_spans(text)
    words = [fold(text[a:b]) for a, b in spans]
    found: list[Occurrence] = []
    for hit in candidates:
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
    """The occurrence ``[start, end)`` answers with: the one its first character is in.

    The reader's span starts where it thinks the answer starts, and often runs on ("Munich,
    Germany", "Brazil and played until the end of the year with Olaria"), so the entity at
    its start wins (the longest, if several); otherwise the first entity within the span.
    """
    at_start = [o for o in occurrences if o.start <= start < o.end]
    if at_start:
        return max(at_start, key=lambda o: (o.end - o.start, -o.start))
    inside = [o for o in occurrences if start < o.start < end]
    return min(inside, key=lambda o: (o.start, -(o.end - o.start))) if inside else None


def spanned(first: Occurrence, end: int, occurrences: Sequence[Occurrence]) -> list[Occurrence]:
    """``first`` and the occurrences of other entities that start after it and end by ``end``.

    For a question that asks for several ("Which people founded Acme?"), a span such as
    "Maria Gonzalez and David Chen" names two entities: one occurrence per entity, in order.
    """
    found = [first]
    for o in sorted(occurrences, key=lambda o: (o.start, -(o.end - o.start))):
        if (
            o.start >= found[-1].end
            and o.end <= end
            and o.entity.id not in {f.entity.id for f in found}
        ):
            found.append(o)
    return found
