"""Which schema relation a question asks about an entity: the nearest question template.

A relation type of the schema may carry a question about its head (``Where was {head}
born?``, see :class:`kgbuild.schema.RelationType`) and other ways to ask it
(``paraphrases``). For a question linked to an entity, each template of a type whose domain
holds the entity's label is filled with the words the question named the entity by, and
embedded beside the question (MiniLM sentence embeddings, cosine); the nearest template
names the type the question asks about, when it is near enough. "What is the birthplace of
Ada Lovelace?" is near "Where was Ada Lovelace born?", so its answer is the entity's
``PLACE_OF_BIRTH`` facts, when the graph holds any.

A question opening with "who", "where" or "when" asks for a person or organisation, a
place or organisation, or a time, and one opening with "which" or "what" and a noun of a
known kind ("which company", "what year") for that kind: types whose range holds none of
those are not candidates ("When was Acme founded?" is near "Who founded Acme?" but asks
for a date).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kgbuild.nlp.sentence_encoder import SentenceEncoder
from kgbuild.qa.models import EntityHit
from kgbuild.schema import GraphSchema, fill_question

__all__ = [
    "MIN_SIMILARITY",
    "PLACEHOLDER",
    "SHORTLIST",
    "RelationQuestions",
    "RelationTemplate",
    "answer_labels",
    "asks_for_several",
]

MIN_SIMILARITY = 0.9
"""Lowest cosine between a question and its nearest filled template for the template's type
to count (chosen on ``bench/data/relation_questions.jsonl``, see docs/pipeline.md)."""

SHORTLIST = 4
"""Candidate types scored on their templates filled with the entity's words (see
:meth:`RelationQuestions.ranked`); the rest are ruled out on their templates filled with
:data:`PLACEHOLDER`, whose embeddings are computed once. Chosen so that the matches equal
those of scoring every candidate on 182 questions (the two question files of ``bench/data``
and 62 written before the paraphrases); 2 changed 2 of them. A question about a new
entity then takes about 40 ms to match instead of 90 (a shortlist of 12 on the questions
alone)."""
PLACEHOLDER = "it"
"""Stands for the entity in the templates and the question when shortlisting types."""

_WH_LABELS: dict[str, frozenset[str]] = {
    "who": frozenset({"PER", "ORG"}),
    "whom": frozenset({"PER", "ORG"}),
    "where": frozenset({"LOC", "ORG"}),
    "when": frozenset({"TIME"}),
}

_NOUNS: dict[str, str] = {
    "ORG": "company/companies firm/firms business/businesses startup/startups "
    "corporation/corporations organisation/organisations organization/organizations bank/banks "
    "university/universities school/schools team/teams club/clubs band/bands agency/agencies "
    "party/parties",
    "PER": "person/people person/persons man/men woman/women",
    "LOC": "city/cities town/towns village/villages country/countries region/regions "
    "province/provinces continent/continents island/islands place/places",
    "TIME": "year/years date/dates day/days month/months decade/decades century/centuries",
}
_NOUN_LABELS = {
    noun: frozenset({label})
    for label, pairs in _NOUNS.items()
    for pair in pairs.split()
    for noun in pair.split("/")
}
"""Nouns after an opening "which" or "what" that say the label of the answer ("Which
company acquired Aurora Sensors?": an organisation, not the city the passage names)."""
_PLURALS = frozenset(pair.split("/")[1] for pairs in _NOUNS.values() for pair in pairs.split())
"""Those nouns' plurals: the question asks for every such entity ("Which people ...")."""

_OPENING = re.compile(r"\s*(?:(?:in|at|on|from|for|to|by|with)\s+)?(\w+)(?:\s+(\w+))?")


def answer_labels(question: str) -> frozenset[str] | None:
    """The entity labels a question's opening asks for (``None``: any).

    A wh-word ("who", "where", "when"), or "which"/"what" and a noun of a known kind
    ("which company", "in which city", "what year").

    >>> sorted(answer_labels("When was Acme founded?"))
    ['TIME']
    >>> sorted(answer_labels("In which city is Acme based?"))
    ['LOC']
    >>> answer_labels("What is the nationality of Ada Lovelace?") is None
    True
    """
    match = _OPENING.match(question.casefold())
    if match is None:
        return None
    word, noun = match.groups()
    if word in ("which", "what") and noun:
        return _NOUN_LABELS.get(noun)
    return _WH_LABELS.get(word)


def asks_for_several(question: str) -> bool:
    """Tell whether a question opens with "which"/"what" and a plural noun ("Which people").

    >>> asks_for_several("Which companies did Acme acquire?"), asks_for_several("Who is it?")
    (True, False)
    """
    match = _OPENING.match(question.casefold())
    return match is not None and match.group(1) in ("which", "what") and match.group(2) in _PLURALS


@dataclass(frozen=True)
class RelationTemplate:
    """A relation type, its head's and tail's entity labels, and its question templates."""

    rel_type: str
    domain: frozenset[str]
    range: frozenset[str]
    questions: tuple[str, ...]
    """The schema's question, then its paraphrases."""


class RelationQuestions:
    """Match questions about an entity to the schema's relation question templates.

    Args:
        templates: The relation types with a question (see :meth:`from_schema`).
        encoder: The sentence encoder (the one the QA contexts are ranked with).
        min_similarity: See :data:`MIN_SIMILARITY`.
    """

    def __init__(
        self,
        templates: Sequence[RelationTemplate],
        encoder: SentenceEncoder,
        *,
        min_similarity: float = MIN_SIMILARITY,
    ) -> None:
        self.templates = tuple(templates)
        self.encoder = encoder
        self.min_similarity = min_similarity

    @classmethod
    def from_schema(
        cls,
        schema: GraphSchema,
        encoder: SentenceEncoder,
        *,
        min_similarity: float = MIN_SIMILARITY,
    ) -> RelationQuestions:
        """Every relation type of ``schema`` that has a question template."""
        return cls(
            [
                RelationTemplate(
                    r.name, frozenset(r.domain), frozenset(r.range), (r.question, *r.paraphrases)
                )
                for r in schema.relation_types
                if r.question
            ],
            encoder,
            min_similarity=min_similarity,
        )

    def ranked(self, question: str, entity: EntityHit) -> list[tuple[str, float]]:
        """The shortlisted candidate types, each with its nearest filled template's cosine.

        Candidates are the types whose domain holds the entity's label (and whose range fits
        the wh-word). They are shortlisted on their templates (question and paraphrases)
        filled with a placeholder (embedded once, then cached), against the question with
        the entity's words replaced by it; the :data:`SHORTLIST` nearest are scored on their
        templates filled with the entity's words, best first.
        """
        name = entity.matched or entity.name
        wanted = answer_labels(question)
        candidates = [
            t
            for t in self.templates
            if entity.label in t.domain and (wanted is None or t.range & wanted)
        ]
        if not candidates or not name.strip():
            return []
        if len(candidates) > SHORTLIST:
            generic = self._scores(question.replace(name, PLACEHOLDER), PLACEHOLDER, candidates)
            keep = {rel_type for rel_type, _ in generic[:SHORTLIST]}
            candidates = [t for t in candidates if t.rel_type in keep]
        return self._scores(question, name, candidates)

    def _scores(
        self, question: str, name: str, candidates: Sequence[RelationTemplate]
    ) -> list[tuple[str, float]]:
        """Each candidate type with its nearest template (filled with ``name``), best first."""
        filled = [fill_question(q, name) for t in candidates for q in t.questions]
        embedded = self.encoder.encode([question, *filled])
        similarities = iter((embedded[1:] @ embedded[0]).tolist())
        best = [
            (t.rel_type, round(max(next(similarities) for _ in t.questions), 4)) for t in candidates
        ]
        return sorted(best, key=lambda pair: (-pair[1], pair[0]))

    def match(self, question: str, entity: EntityHit) -> tuple[str, float] | None:
        """The relation type ``question`` asks about ``entity`` and its cosine, or ``None``."""
        ranked = self.ranked(question, entity)
        if not ranked or ranked[0][1] < self.min_similarity:
            return None
        return ranked[0]
