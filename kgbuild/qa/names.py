"""The entity name index that links questions, shared by both graph stores.

Both stores (graph files and Neo4j) look candidates up with this one index, built from
the same rows (id, name, label, aliases, mention count), so a question links to the same
entities whichever store holds the graph. Names are cut into folded words
(:func:`kgbuild.qa.text.tokens`: ``"FOREX.com"`` is ``forex`` and ``com``, as in the
question); a question word finds the entities having that word, or, from four characters
on, a word within rapidfuzz ratio 80 (a small typo).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from kgbuild.qa.models import EntityHit
from kgbuild.qa.text import STOPWORDS, fold, is_cjk, tokens

__all__ = ["NameIndex", "NameRow"]

FUZZY_MIN_CHARS = 4
"""Shortest question word looked up fuzzily."""
FUZZY_CUTOFF = 80
"""Lowest rapidfuzz ratio of a fuzzy word match."""
FUZZY_WORDS = 20
"""Most index words one question word matches fuzzily (best ratio first, then the word)."""


@dataclass(frozen=True)
class NameRow:
    """One entity as the index holds it."""

    id: str
    name: str
    label: str
    aliases: tuple[str, ...]
    mention_count: int


class NameIndex:
    """Folded name words -> entity ids, with fuzzy word look-up.

    Args:
        rows: The graph's entities.
    """

    def __init__(self, rows: Iterable[NameRow]) -> None:
        self._rows = {row.id: row for row in rows}
        words: dict[str, set[str]] = defaultdict(set)
        cjk: list[tuple[str, str]] = []
        self._name_words: dict[str, tuple[frozenset[str], ...]] = {}
        for entity_id, row in sorted(self._rows.items()):
            named: list[frozenset[str]] = []
            for name in (row.name, *row.aliases):
                name_words = tokens(name)
                for word in name_words:
                    words[word].add(entity_id)
                if is_cjk(name):
                    cjk.append(("".join(name_words), entity_id))
                if name_words:
                    named.append(frozenset(name_words))
            self._name_words[entity_id] = tuple(named)
        self._words = {word: sorted(ids) for word, ids in words.items()}
        self._vocab = sorted(self._words)
        self._cjk = cjk

    def __len__(self) -> int:
        return len(self._rows)

    def prefixed(self, word: str) -> set[str]:
        """Ids of the entities with a name word that starts with ``word`` (folded)."""
        ids: set[str] = set()
        at = bisect_left(self._vocab, word)
        while at < len(self._vocab) and self._vocab[at].startswith(word):
            ids.update(self._words[self._vocab[at]])
            at += 1
        return ids

    def search(self, terms: Sequence[str], limit: int) -> list[EntityHit]:
        """Entities sharing a word (exact, or within a small edit distance) with ``terms``.

        Best first: the sum over the question's words of each word's match (1 exact, the
        fuzzy ratio otherwise) weighted by how rare the word is among names (log inverse
        share of the entities it finds), then more mentions, then id. So among thousands of
        "... Foods", the one whose rare word the question also holds comes first.
        """
        found: dict[str, float] = defaultdict(float)
        for term in sorted({fold(t) for t in terms if t}):
            matched: dict[str, float] = {}

            def add(entity_id: str, score: float, matched: dict[str, float] = matched) -> None:
                matched[entity_id] = max(matched.get(entity_id, 0.0), score)

            if is_cjk(term):
                for name, entity_id in self._cjk:
                    if name and (name in term or term in name):
                        add(entity_id, 1.0)
            else:
                for entity_id in self._words.get(term, ()):
                    add(entity_id, 1.0)
                if len(term) >= FUZZY_MIN_CHARS:
                    matches = process.extract(
                        term, self._vocab, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=None
                    )
                    matches.sort(key=lambda match: (-match[1], match[0]))
                    for word, score, _ in matches[:FUZZY_WORDS]:
                        for entity_id in self._words[word]:
                            add(entity_id, score / 100)
            if not matched:
                continue
            rarity = math.log(1.0 + len(self._rows) / len(matched))
            for entity_id, score in matched.items():
                found[entity_id] += rarity * score
        ranked = sorted(
            found.items(), key=lambda kv: (-kv[1], -self._rows[kv[0]].mention_count, kv[0])
        )
        return [self._hit(entity_id, score) for entity_id, score in ranked[:limit]]

    def named_in(self, words: Collection[str]) -> list[EntityHit]:
        """Entities with a name or alias whose every word is among ``words`` (folded, exact).

        The candidates for the entities a passage names (:mod:`kgbuild.qa.typed`), in id
        order; no fuzzy matching: the passage is matched against them word for word after.
        """
        present = {fold(w) for w in words if w}
        ids: set[str] = set()
        for word in present - STOPWORDS:
            ids.update(self._words.get(word, ()))
        return [
            self._hit(entity_id, 0.0)
            for entity_id in sorted(ids)
            if any(present.issuperset(name) for name in self._name_words[entity_id])
        ]

    def _hit(self, entity_id: str, score: float) -> EntityHit:
        row = self._rows[entity_id]
        return EntityHit(
            id=row.id,
            name=row.name,
            label=row.label,
            aliases=row.aliases,
            mention_count=row.mention_count,
            score=score,
        )
