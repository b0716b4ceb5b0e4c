"""Typed, frozen data passed between the question-answering steps and returned to callers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "Answer",
    "AskResult",
    "AttributeFact",
    "Context",
    "EntityCard",
    "EntityHit",
    "EvidenceRef",
    "RelationFact",
    "SentenceText",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EvidenceRef(_Frozen):
    """A span of a source document: the sentence (or mention) a fact was read from.

    ``start``/``end`` are character offsets of ``text`` in document ``doc_id``;
    ``answer_start``/``answer_end`` (when set) locate the answer inside the document.
    """

    doc_id: str
    chunk_id: str
    start: int
    end: int
    text: str
    score: float | None = None
    answer_start: int | None = None
    answer_end: int | None = None


class SentenceText(_Frozen):
    """A stored sentence (chunk) with its document offsets."""

    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str


class EntityHit(_Frozen):
    """An entity the question was linked to (or a candidate for it)."""

    id: str
    name: str
    label: str
    aliases: tuple[str, ...] = ()
    mention_count: int = 0
    score: float = 0.0
    matched: str = ""
    """The question text the entity was matched on."""
    match_start: int = -1
    match_end: int = -1


class RelationFact(_Frozen):
    """A relation edge between two entities, with its evidence."""

    id: str
    type: str
    head_id: str
    head_name: str
    tail_id: str
    tail_name: str
    tail_label: str = ""
    head_label: str = ""
    score: float
    evidence: tuple[EvidenceRef, ...] = ()


class AttributeFact(_Frozen):
    """An attribute value of an entity, with its evidence."""

    entity_id: str
    key: str
    value: str
    value_type: str = "text"
    score: float
    evidence: tuple[EvidenceRef, ...] = ()


class EntityCard(_Frozen):
    """Everything the QA layer needs about one entity."""

    id: str
    name: str
    label: str
    aliases: tuple[str, ...] = ()
    mention_count: int = 0
    doc_ids: tuple[str, ...] = ()
    attributes: tuple[AttributeFact, ...] = ()
    relations: tuple[RelationFact, ...] = ()
    mentions: tuple[EvidenceRef, ...] = ()
    """Mention spans (``text`` is the surface form), in document and offset order."""


ContextSource = Literal["relation", "attribute", "sentence"]


class Context(_Frozen):
    """A passage the reader reads: a document sentence, with the fact it is evidence of."""

    text: str
    source: ContextSource
    entity_id: str
    relation: RelationFact | None = None
    attribute: AttributeFact | None = None
    sentence: SentenceText | None = None
    rank_score: float = 0.0


AnswerPath = Literal["reader", "graph", "none"]


class Answer(_Frozen):
    """One answer with what it rests on and where it was read."""

    text: str
    score: float
    path: AnswerPath
    entity_id: str | None = None
    """The question entity (or answer entity, for graph answers) the answer rests on."""
    entity_name: str | None = None
    relation: RelationFact | None = None
    attribute: AttributeFact | None = None
    evidence: EvidenceRef | None = None
    context: str = ""
    """The passage the answer was read from."""
    context_start: int = -1
    context_end: int = -1
    items: tuple[str, ...] = ()
    """For list and count answers from the graph: the entities found."""
    support: tuple[EvidenceRef, ...] = ()


class RelationQuestion(_Frozen):
    """The schema relation type a question was matched to (see ``relation_questions``)."""

    entity_id: str
    entity_name: str
    type: str
    similarity: float
    """Cosine between the question and the type's nearest filled template."""
    in_graph: bool
    """Whether the entity has facts of the type (else the reader answered)."""


class AskResult(_Frozen):
    """What ``ask`` returns: the answer (or none), alternatives and how it was found."""

    question: str
    answered: bool
    answer: Answer | None = None
    alternatives: tuple[Answer, ...] = ()
    candidates: tuple[Answer, ...] = ()
    """Best guesses below the threshold (when ``answered`` is false)."""
    linked: tuple[EntityHit, ...] = ()
    path: AnswerPath = "none"
    message: str = ""
    hops: tuple[str, ...] = ()
    """Intermediate questions and answers of a multi-hop question."""
    relation_question: RelationQuestion | None = None
    """The relation type the question was matched to, if any, and whether the graph had
    facts of it (it answers from them when it has)."""
    threshold: float = 0.0
    notes: tuple[str, ...] = ()
    """What the reader left out, e.g. "3 passages in zh skipped: qa-en-minilm reads en"
    (passages in a script the QA model does not declare are not read)."""
