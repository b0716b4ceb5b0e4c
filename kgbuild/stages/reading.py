"""Template reading: questions about a document's entities, read where the answer can be.

Shared by the attribute stage and the zero-shot relation stage. A :class:`Template` is a
question about a head entity ("Who directed {head}?") and the kind of value that answers
it: an entity mention of given types, or a literal (date, year, number, quantity,
string). Within each document, mentions are grouped into local entities (the resolution
rules, within the document); for every entity of a template's head types:

1. candidate sentences are those that hold one of its mentions and the sentence after
   each (where "It was directed by ..." continues), kept only when they can hold a value
   of the type (a mention of a range type that is not the entity itself; a year for
   dates; a digit for numbers), and holding a cue if the template has cues;
2. when there are more than ``max_contexts``, the ones nearest the filled-in question in
   the sentence-embedding space (:mod:`kgbuild.nlp.sentence_encoder`) are kept; a template
   with ``head_kinds`` is read only about entities whose first sentence is about as near
   one of them (``a film``) as any kind of the pool (``kinds``);
3. each is read by the extractive QA model as its own context (a following sentence
   together with the sentence before it, which names the entity);
4. an answer (one of the ``answers_per_context`` best distinct spans of the context)
   counts when its score reaches the threshold: the model's calibrated confidence where
   it has one (and the reader abstains below its operating point), else the span
   probability. It must then be a value of the type: a span that overlaps a mention of a
   range type (which becomes the value) or that normalises
   (:func:`kgbuild.stages.values.normalise_value`). Anything else is refused and counted.
   Zero-shot relations keep every answer that passes; attributes the best of a context
   (``best_per_context``).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kgbuild.data import Chunk, Mention
from kgbuild.lang import detect_lang
from kgbuild.nlp.reader import ExtractiveReader, QaQuery
from kgbuild.progress import track
from kgbuild.schema import fill_question
from kgbuild.stages.grouping import LocalEntity
from kgbuild.stages.values import normalise_value, reads_as_time

__all__ = [
    "DATE_LABEL",
    "NUMERIC_TYPES",
    "STRING_TYPES",
    "Answer",
    "Template",
    "TemplateReader",
    "in_own_name",
    "is_a_date",
]

READ_GROUP_BATCHES = 8
"""Model batches of questions read per reader call (the unit of progress reports)."""

KIND_TEXT = "a {kind}"
"""What a kind is compared as with an entity's first sentence (the entity's name left out:
it would add the same to every kind)."""

_YEAR = re.compile(r"(?<!\d)(1[0-9]\d\d|20\d\d|21\d\d)(?!\d)")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Template:
    """A question about entities of ``head_types``, answered by a value of ``value_type``.

    ``value_range`` non-empty: the answer must be a mention of one of these types.
    """

    key: str
    question: str
    head_types: frozenset[str]
    value_type: str
    value_range: tuple[str, ...] = ()
    threshold: float | None = None
    cues: tuple[str, ...] = ()
    head_kinds: tuple[str, ...] = ()
    """What the head must be (``film``); empty: any entity of ``head_types``."""
    unit: str | None = None
    """What a quantity answer must measure (:data:`kgbuild.schema.QuantityUnit`)."""


@dataclass(frozen=True)
class Answer:
    """A typed answer: the value, the mention it is (entity values) and the sentence."""

    template: Template
    head: LocalEntity
    value: str | int | float
    mention: Mention | None
    chunk: Chunk
    """The sentence that holds the answer (its evidence)."""
    score: float


@dataclass(frozen=True)
class _Question:
    template: Template
    head: LocalEntity
    chunks: tuple[Chunk, ...]  # the context: one sentence, or the one before and it
    question: str


@dataclass
class ReadResult:
    """Typed answers, and per document and template key how many answers were refused."""

    answers: list[Answer]
    refused: Counter[tuple[str, str]]
    wrong_kind: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Per (document id, template key): entities not asked because they are not of its
    ``head_kinds``."""


class TemplateReader:
    """Reads templates over the entities of documents (see the module docstring).

    Args:
        reader: The extractive QA model.
        grouping: One document's mentions -> its local entities.
        threshold: Lowest answer score kept (a template may set its own).
        max_contexts: Sentences read per entity and template.
        encoder: Sentence-encoder reference used to rank candidate sentences.
        min_similarity: Sentences less like the filled question (cosine) are not read;
            ``None``: any candidate may be.
        kinds: Kinds of things that compete with templates' ``head_kinds`` (those kinds
            themselves always do).
        kind_margin: How much nearer another kind may be to an entity's first sentence
            than the nearest of a template's ``head_kinds``; ``None``: no kind check.
        answers_per_context: Best distinct spans taken from each context read, each
            judged on its own ("The film stars A, B and C" answers a question thrice).
        best_per_context: Keep only the best-scoring of a context's spans that clears the
            threshold and is a value of the type (an attribute has one value: a refused
            top span gives way to the next); a context counts as refused once, when some
            of its spans cleared the threshold and none was a value of the type.
        stage: Name used in progress reports.
        progress: Report progress over long batches.
    """

    def __init__(
        self,
        reader: ExtractiveReader,
        *,
        grouping: Callable[[Sequence[Mention]], list[LocalEntity]],
        threshold: float,
        max_contexts: int,
        encoder: str,
        stage: str,
        min_similarity: float | None = None,
        kinds: Sequence[str] = (),
        kind_margin: float | None = None,
        answers_per_context: int = 1,
        best_per_context: bool = False,
        progress: bool = False,
    ) -> None:
        self.reader = reader
        self.grouping = grouping
        self.threshold = threshold
        self.max_contexts = max_contexts
        self.encoder = encoder
        self.min_similarity = min_similarity
        self.kinds = tuple(kinds)
        self.kind_margin = kind_margin
        self.answers_per_context = answers_per_context
        self.best_per_context = best_per_context
        self.wrong_kind: Counter[tuple[str, str]] = Counter()
        """Per (document id, template key), in the last :meth:`questions` call: entities
        not asked because they are not of its ``head_kinds``."""
        self.stage = stage
        self.progress = progress

    @property
    def key(self) -> str:
        """Every setting that changes what is read."""
        key = f"{self.reader.key}|{self.threshold}|{self.max_contexts}|{self.encoder}"
        if self.min_similarity is not None:
            key = f"{key}|min_similarity={self.min_similarity}"
        if self.kind_margin is not None:
            key = f"{key}|kinds={sorted(self.kinds)}|kind_margin={self.kind_margin}"
        if self.answers_per_context != 1:
            key = f"{key}|answers_per_context={self.answers_per_context}"
        if self.best_per_context:
            key = f"{key}|best_per_context"
        return key

    def __call__(
        self, chunks: Sequence[Chunk], mentions: Sequence[Mention], templates: Sequence[Template]
    ) -> ReadResult:
        """Typed answers of ``templates`` about the entities of ``mentions``."""
        questions = self.questions(chunks, mentions, templates)
        read = self._read(questions)
        result = ReadResult([], Counter(), Counter(self.wrong_kind))
        by_doc = _by_doc(mentions)
        for question, spans in zip(questions, read, strict=True):
            threshold = question.template.threshold
            doc_id = question.chunks[0].doc_id
            typed = [
                _typed(question, start, end, score, by_doc[doc_id])
                for start, end, score in spans
                if score >= (self.threshold if threshold is None else threshold)
            ]
            kept = [a for a in typed if a is not None]
            if self.best_per_context:
                kept = sorted(kept, key=lambda a: -a.score)[:1]
                refused = int(bool(typed) and not kept)
            else:
                refused = len(typed) - len(kept)
            result.answers.extend(kept)
            if refused:
                result.refused[doc_id, question.template.key] += refused
        return result

    # -- choosing what to read -------------------------------------------------------------

    def questions(
        self, chunks: Sequence[Chunk], mentions: Sequence[Mention], templates: Sequence[Template]
    ) -> list[_Question]:
        """Every (template, entity, context) to read, in document order."""
        if not templates:
            return []
        chunks_of: dict[str, list[Chunk]] = defaultdict(list)
        for chunk in chunks:
            chunks_of[chunk.doc_id].append(chunk)
        questions: list[_Question] = []
        ranked: list[tuple[int, list[_Question]]] = []
        kinded: list[tuple[int, list[_Question], str]] = []
        for doc_id, doc_mentions in _by_doc(mentions).items():
            ordered = sorted(chunks_of.get(doc_id, []), key=lambda c: c.span.start)
            if not ordered:
                continue
            index_of = {chunk.id: i for i, chunk in enumerate(ordered)}
            in_chunk: dict[int, list[Mention]] = defaultdict(list)
            for mention in doc_mentions:
                if mention.provenance.chunk_id in index_of:
                    in_chunk[index_of[mention.provenance.chunk_id]].append(mention)
            for head in self.grouping(doc_mentions):
                for template in templates:
                    if head.label not in template.head_types:
                        continue
                    candidates = _candidates(template, head, ordered, index_of, in_chunk)
                    if len(candidates) > self.max_contexts or self.min_similarity is not None:
                        ranked.append((len(questions), candidates))
                    if template.head_kinds and self.kind_margin is not None and candidates:
                        first = _first_sentence(head, ordered, index_of) or candidates[0].chunks[0]
                        kinded.append((len(questions), candidates, first.text))
                    questions.extend(candidates)
        if not (ranked or kinded):
            self.wrong_kind = Counter()
            return questions
        vectors = self._vectors(ranked, kinded)
        dropped = self._farthest(ranked, vectors) | self._wrong_kind(kinded, vectors)
        return [q for i, q in enumerate(questions) if i not in dropped]

    def _vectors(
        self,
        ranked: list[tuple[int, list[_Question]]],
        kinded: list[tuple[int, list[_Question], str]],
    ) -> dict[str, Any]:
        """Sentence embeddings of every text the ranking and the kind check compare."""
        from kgbuild.nlp.sentence_encoder import load_sentence_encoder

        precision = "bf16" if self.reader.bf16 else "fp32"
        encoder = load_sentence_encoder(self.encoder, str(self.reader.loaded.device), precision)
        texts = {q.chunks[-1].text for _, group in ranked for q in group}
        texts |= {q.question for _, group in ranked for q in group}
        texts |= {first for _, _, first in kinded}
        texts |= {KIND_TEXT.format(kind=k) for k in self._kind_pool(kinded)}
        ordered = sorted(texts)
        return dict(zip(ordered, encoder.encode(ordered), strict=True))

    def _kind_pool(self, kinded: list[tuple[int, list[_Question], str]]) -> list[str]:
        """The reader's kinds and those of the templates checked, without repeats."""
        pool = dict.fromkeys(self.kinds)
        for _, group, _ in kinded:
            pool.update(dict.fromkeys(group[0].template.head_kinds))
        return list(pool)

    def _wrong_kind(
        self, kinded: list[tuple[int, list[_Question], str]], vectors: dict[str, Any]
    ) -> set[int]:
        """The candidates of (template, entity) pairs whose entity is not of the head kinds.

        An entity's kind is read from the sentence that first names it: the template's
        nearest kind must be within ``kind_margin`` (cosine) of the pool's nearest.
        """
        self.wrong_kind = Counter()
        if not kinded or self.kind_margin is None:
            return set()
        pool = [(kind, vectors[KIND_TEXT.format(kind=kind)]) for kind in self._kind_pool(kinded)]
        near = {
            first: {kind: float(vectors[first] @ vector) for kind, vector in pool}
            for first in {first for _, _, first in kinded}
        }
        dropped: set[int] = set()
        for start, group, first in kinded:
            fits = max(near[first][kind] for kind in group[0].template.head_kinds)
            if fits < max(near[first].values()) - self.kind_margin:
                dropped.update(range(start, start + len(group)))
                self.wrong_kind[group[0].chunks[0].doc_id, group[0].template.key] += 1
        return dropped

    def _farthest(
        self, ranked: list[tuple[int, list[_Question]]], vectors: dict[str, Any]
    ) -> set[int]:
        """The candidates least like the question beyond ``max_contexts`` per entity.

        With ``min_similarity``, also every candidate less like the question than it.
        """
        dropped: set[int] = set()
        for first, group in ranked:
            similarity = [float(vectors[q.question] @ vectors[q.chunks[-1].text]) for q in group]
            order = sorted(range(len(group)), key=lambda i: (-similarity[i], i))
            dropped.update(first + i for i in order[self.max_contexts :])
            if self.min_similarity is not None:
                dropped.update(
                    first + i for i, s in enumerate(similarity) if s < self.min_similarity
                )
        return dropped

    # -- reading ---------------------------------------------------------------------------

    def _read(self, questions: Sequence[_Question]) -> list[list[tuple[int, int, float]]]:
        """Per question: up to ``answers_per_context`` answers (document offsets, score)."""
        if not questions:
            return []
        contexts = [_context(q.chunks) for q in questions]
        queries = [
            QaQuery(q.question, text) for q, (text, _) in zip(questions, contexts, strict=True)
        ]
        group = self.reader.batch_size * READ_GROUP_BATCHES
        starts = range(0, len(queries), group)
        detail = f"{len(queries):,} questions"
        answers = [
            spans
            for first in track(starts, self.stage, enabled=self.progress, detail=detail)
            for spans in self.reader.read_batch(
                queries[first : first + group], top_k=self.answers_per_context
            )
        ]
        return [
            [
                (
                    to_doc(span.start),
                    to_doc(span.end - 1) + 1,
                    span.confidence if span.confidence is not None else span.score,
                )
                for span in spans
            ]
            for (_, to_doc), spans in zip(contexts, answers, strict=True)
        ]


def _by_doc(mentions: Iterable[Mention]) -> dict[str, list[Mention]]:
    out: dict[str, list[Mention]] = defaultdict(list)
    for mention in mentions:
        out[mention.doc_id].append(mention)
    return out


def _first_sentence(
    head: LocalEntity, ordered: Sequence[Chunk], index_of: dict[str, int]
) -> Chunk | None:
    """The sentence of the entity's first mention (in text order) among ``ordered``."""
    for mention in head.mentions:
        index = index_of.get(mention.provenance.chunk_id)
        if index is not None:
            return ordered[index]
    return None


def _can_hold(template: Template, chunk: Chunk, others: Sequence[Mention]) -> bool:
    """Whether a sentence can hold a value of the template's type."""
    if template.cues and not any(c.casefold() in chunk.text.casefold() for c in template.cues):
        return False
    if template.value_range:
        return any(m.label in template.value_range for m in others)
    if template.value_type in ("date", "year"):
        return _YEAR.search(chunk.text) is not None
    if template.value_type in ("number", "quantity"):
        return _DIGIT.search(chunk.text) is not None
    return True


def _candidates(
    template: Template,
    head: LocalEntity,
    ordered: Sequence[Chunk],
    index_of: dict[str, int],
    in_chunk: dict[int, list[Mention]],
) -> list[_Question]:
    """The sentences of a head entity that can hold the answer, as contexts to read."""
    own = {m.id for m in head.mentions}
    named = sorted({index_of[m.provenance.chunk_id] for m in head.mentions})
    question = fill_question(template.question, head.mentions[0].text)
    out = []
    for index in sorted(set(named) | {i + 1 for i in named if i + 1 < len(ordered)}):
        others = [m for m in in_chunk.get(index, []) if m.id not in own]
        if not _can_hold(template, ordered[index], others):
            continue
        context = (ordered[index],) if index in named else (ordered[index - 1], ordered[index])
        out.append(_Question(template, head, context, question))
    return out


def _context(chunks: Sequence[Chunk]) -> tuple[str, Callable[[int], int]]:
    """The context text of consecutive chunks, and a map from its offsets to the document's."""
    text = " ".join(c.text for c in chunks)
    bounds = []
    position = 0
    for chunk in chunks:
        bounds.append((position, chunk.span.start))
        position += len(chunk.text) + 1

    def to_doc(offset: int) -> int:
        start, doc_start = next(b for b in reversed(bounds) if b[0] <= offset)
        return doc_start + offset - start

    return text, to_doc


def _typed(
    question: _Question, start: int, end: int, score: float, mentions: Sequence[Mention]
) -> Answer | None:
    """The answer as a value of the template's type, or ``None`` (refused)."""
    template, head = question.template, question.head
    chunk = next(
        (c for c in question.chunks if c.span.start <= start < c.span.end), question.chunks[-1]
    )
    own = {m.id for m in head.mentions}
    if any(start < m.span.end and m.span.start < end for m in head.mentions):
        return None  # the question's own entity is never its answer
    if template.value_range:
        overlapping = [
            m
            for m in mentions
            if m.id not in own
            and m.label in template.value_range
            and m.span.start < end
            and start < m.span.end
            and m.provenance.chunk_id in {c.id for c in question.chunks}
        ]
        if not overlapping:
            return None
        mention = max(
            overlapping,
            key=lambda m: (min(end, m.span.end) - max(start, m.span.start), -m.span.start),
        )
        chunk = next(c for c in question.chunks if c.id == mention.provenance.chunk_id)
        return Answer(template, head, " ".join(mention.text.split()), mention, chunk, score)
    text = chunk.text[start - chunk.span.start : end - chunk.span.start]
    lang = detect_lang(chunk.text)
    value = normalise_value(text, template.value_type, lang, template.unit)
    if value is None or (template.value_type in STRING_TYPES and in_own_name(str(value), head)):
        return None
    if template.value_type in NUMERIC_TYPES and is_a_date(
        (m for m in mentions if m.span.start < end and start < m.span.end), lang
    ):
        return None
    return Answer(template, head, value, None, chunk, score)


NUMERIC_TYPES = frozenset({"number", "quantity"})
DATE_LABEL = "TIME"
"""The entity type of dates in the shipped NER models and schemas."""


def is_a_date(mentions: Iterable[Mention], lang: str | None = None) -> bool:
    """Whether one of the mentions a numeric answer overlaps is a date (read in ``lang``).

    A ``TIME`` mention whose text reads as a time (:func:`~kgbuild.stages.values.
    reads_as_time`): "2019" (or "2019 drama") in "a 2019 drama film" is no budget, nor
    "1990" in "the 1990s"; "2000" in "2000 extras" (``NUM``) is a number, and so is a
    duration the NER model tagged ``TIME`` ("95 minutes").
    """
    return any(m.label == DATE_LABEL and reads_as_time(m.text, lang) for m in mentions)


STRING_TYPES = frozenset({"string", "text"})
"""Value types whose values are free text."""
_WORD = re.compile(r"\w+")


def in_own_name(value: str, head: LocalEntity) -> bool:
    """Whether a text value is the head's name, or words of it written as in the name.

    The span of a head's mention is refused as its answer; its name written again where
    no mention of it was found is too: "SILENT HARBOR" (the whole name, in any case) or
    "Harbor" is no genre of Silent Harbor. A word of the name in other case is a word of
    its own: "horror" is the genre of Horror Express.
    """
    words = _WORD.findall(value)
    if not words:
        return False
    folded = [w.casefold() for w in words]
    for mention in head.mentions:
        name = _WORD.findall(mention.text)
        if folded == [w.casefold() for w in name]:
            return True
        if any(name[i : i + len(words)] == words for i in range(len(name) - len(words) + 1)):
            return True
    return False
