"""Link a question to graph entities: NER over the question plus fuzzy name/alias lookup.

Candidates come from the store's name index (in-memory words or Neo4j full-text); every
candidate is then scored here, the same way for both stores, against the question's word
n-grams: whole-name similarity (rapidfuzz ratio on folded text, so case, accents and small
typos do not matter) or a partial name (some of the name's words, each matched fuzzily).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from kgbuild.qa.models import EntityHit
from kgbuild.qa.store import GraphStore
from kgbuild.qa.text import STOPWORDS, fold, is_cjk, name_forms, word_spans

__all__ = ["EntityLinker", "QuestionWord", "question_words"]

LINK_THRESHOLD = 0.72
_WORD_MATCH = 80.0


@dataclass(frozen=True)
class QuestionWord:
    """A folded word of the question with its character span."""

    text: str
    start: int
    end: int


def question_words(question: str) -> list[QuestionWord]:
    """The question's words, folded, possessive ``'s`` dropped."""
    words = []
    for a, b in word_spans(question):
        if question[a:b].lower() == "s" and a > 0 and question[a - 1] in "'\u2019":
            continue
        words.append(QuestionWord(fold(question[a:b]), a, b))
    return words


def _content(word: str) -> bool:
    return is_cjk(word) or (word not in STOPWORDS and len(word) >= 2)


def _score_form(form: str, gram: Sequence[QuestionWord]) -> float:
    """Similarity of one folded name form to one question n-gram (0..1)."""
    joiner = "" if is_cjk(form) else " "
    text = joiner.join(w.text for w in gram)
    full = fuzz.ratio(form, text) / 100
    parts = form.split()
    if len(gram) >= len(parts) or is_cjk(form):
        return full
    # partial name: the n-gram's words are consecutive words of the name
    for first in range(len(parts) - len(gram) + 1):
        window = parts[first : first + len(gram)]
        if all(fuzz.ratio(p, w.text) >= _WORD_MATCH for p, w in zip(window, gram, strict=True)):
            return max(full, 0.62 + 0.3 * len(gram) / len(parts))
    return full


class EntityLinker:
    """Finds the entities a question is about.

    Args:
        store: The graph to search.
        ner: Optional NER callable: question -> list of ``(start, end)`` mention spans.
        threshold: Lowest link score kept.
        candidates: Entities asked from the store's name index.
    """

    def __init__(
        self,
        store: GraphStore,
        ner: object | None = None,
        *,
        threshold: float = LINK_THRESHOLD,
        candidates: int = 50,
    ) -> None:
        self.store = store
        self.ner = ner
        self.threshold = threshold
        self.candidates = candidates

    def link(self, question: str, *, limit: int = 5) -> list[EntityHit]:
        """Linked entities, best first (ties: more mentions first, then id)."""
        words = question_words(question)
        content = [w for w in words if _content(w.text)]
        spans = self._ner_spans(question)
        terms = [w.text for w in content]
        for a, b in spans:
            terms += [w.text for w in question_words(question[a:b])]
        if not terms:
            return []
        found = self.store.search(sorted(set(terms)), self.candidates)
        hits: list[EntityHit] = []
        for candidate in found:
            hit = self._score(candidate, words, spans)
            if hit is not None and hit.score >= self.threshold:
                matched = question[hit.match_start : hit.match_end]
                hits.append(hit.model_copy(update={"matched": matched}))
        hits.sort(key=lambda h: (-h.score, -(h.match_end - h.match_start), -h.mention_count, h.id))
        return _resolve_overlaps(hits)[:limit]

    def _ner_spans(self, question: str) -> list[tuple[int, int]]:
        if self.ner is None:
            return []
        spans: list[tuple[int, int]] = self.ner(question)  # type: ignore[operator]
        return spans

    def _score(
        self,
        candidate: EntityHit,
        words: Sequence[QuestionWord],
        spans: Sequence[tuple[int, int]],
    ) -> EntityHit | None:
        forms: set[str] = set()
        for name in (candidate.name, *candidate.aliases):
            forms |= name_forms(name)
        best: tuple[float, int, int] | None = None
        for form in sorted(forms):
            size = len(form) if is_cjk(form) else len(form.split())
            for n in range(1, min(size + 1, len(words)) + 1):
                for i in range(len(words) - n + 1):
                    gram = words[i : i + n]
                    if not any(_content(w.text) for w in gram):
                        continue
                    if n == 1 and len(gram[0].text) < 3 and not is_cjk(gram[0].text):
                        continue
                    score = _score_form(form, gram)
                    start, end = gram[0].start, gram[-1].end
                    if any(a < end and start < b for a, b in spans):
                        score = min(1.0, score + 0.05)
                    key = (round(score, 6), end - start, -start)
                    if best is None or key > (round(best[0], 6), best[2] - best[1], -best[1]):
                        best = (score, start, end)
        if best is None:
            return None
        score, start, end = best
        return candidate.model_copy(
            update={
                "score": round(score, 6),
                "match_start": start,
                "match_end": end,
            }
        )


def _resolve_overlaps(hits: Sequence[EntityHit]) -> list[EntityHit]:
    """Drop a hit whose question span overlaps a better one's, unless it ties (ambiguity)."""
    kept: list[EntityHit] = []
    for hit in hits:
        clash = [k for k in kept if k.match_start < hit.match_end and hit.match_start < k.match_end]
        if all(
            (k.match_start, k.match_end, k.score) == (hit.match_start, hit.match_end, hit.score)
            for k in clash
        ):
            kept.append(hit)
    return kept
