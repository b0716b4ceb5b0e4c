"""Type-ahead over entity names and aliases: which names match typed text, and in what order.

Typed text matches a name when each of its words (case- and accent-folded) starts a word of
the name: ``"acm rob"`` matches "Acme Robotics Inc.", ``"gonz"`` matches "María González".
Names that start with the typed text come first, then entities with more relations, more
mentions, then by name. Both stores gather candidates their own way (an in-memory word list,
or a Neo4j full-text prefix query) and rank them here; the static page's script applies the
same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from kgbuild.explorer.models import EntityNode, Suggestion
from kgbuild.qa.text import tokens

__all__ = ["MAX_QUERY_CHARS", "best_form", "query_words", "rank_suggestions"]

MAX_QUERY_CHARS = 200
"""Longest type-ahead text accepted."""


def query_words(text: str) -> list[str]:
    """The folded words of typed text (at most 8: more do not narrow a name down)."""
    return tokens(text[:MAX_QUERY_CHARS])[:8]


@lru_cache(maxsize=65_536)
def _form_words(form: str) -> tuple[str, ...]:
    return tuple(tokens(form))


def _matches(words: Sequence[str], name_words: Sequence[str]) -> bool:
    return all(any(n.startswith(w) for n in name_words) for w in words)


def best_form(words: Sequence[str], entity: EntityNode) -> tuple[int, str] | None:
    """How well the entity's name or an alias matches: ``(rank, form)``, lower is better.

    Rank 0: the form starts with the typed words in order; 1: every typed word starts some
    word of the form; ``None``: no form matches.
    """
    best: tuple[int, str] | None = None
    typed = " ".join(words)
    for form in (entity.name, *entity.aliases):
        name_words = _form_words(form)
        if not _matches(words, name_words):
            continue
        rank = 0 if " ".join(name_words).startswith(typed) else 1
        if best is None or rank < best[0]:
            best = (rank, form)
    return best


def rank_suggestions(text: str, candidates: Iterable[EntityNode], limit: int) -> list[Suggestion]:
    """The candidates that match ``text``, best first (see the module docstring)."""
    words = query_words(text)
    if not words:
        return []
    ranked: list[tuple[tuple[int, int, int, str, str], Suggestion]] = []
    seen: set[str] = set()
    for entity in candidates:
        if entity.id in seen:
            continue
        seen.add(entity.id)
        found = best_form(words, entity)
        if found is None:
            continue
        rank, form = found
        key = (rank, -entity.degree, -entity.mention_count, entity.name.casefold(), entity.id)
        ranked.append((key, Suggestion(**entity.model_dump(), matched=form)))
    ranked.sort(key=lambda item: item[0])
    return [suggestion for _, suggestion in ranked[:limit]]
