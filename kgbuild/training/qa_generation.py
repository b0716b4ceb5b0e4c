"""Extractive QA training questions generated from relation annotations.

SQuAD gives a few thousand questions; relation data gives many more facts with their
evidence. Every gold triple ``(head, relation, tail)`` becomes a template question about
the head ("Where was {h} born?") whose answers are the tail's mentions, located in the
annotated text: for DocRED-style documents the whole document is the context and the
mentions in the evidence sentences come first; for CoNLL04-style sentences the sentence
is the context, and each relation is asked in both directions ("Who works for {t}?").
Triples that share a head and a question are one question with several answers.

Relation types kept for zero-shot evaluation can be left out (``exclude``): no question
about them is generated. Unanswerable questions (``negatives``) pair a question with a
short run of sentences of the same document (or sentence set) that holds none of its
answers (:func:`kgbuild.training.qa_negatives.make_negatives`). *Confusable* unanswerable
questions (:func:`docred_confusable_questions`) ask about a head what its evidence
sentences do not say: "Who directed {h}?" over the sentences that say who wrote it. Easy
negatives only teach that a passage without the answer has none; these teach that the
salient person of a sentence is not the answer to every question about its subject, which
is what reading relations by question template needs.

The output is ordinary SQuAD JSON (SQuAD 2.0 style where it has unanswerable questions:
empty ``answers``), so ``kgbuild train qa --extra-train`` reads it with the same reader as
SQuAD itself; a ``kgbuild`` key records what was left out.
"""

from __future__ import annotations

import json
import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kgbuild.errors import InputError
from kgbuild.readers.docred import DocREDDocument, DocRelation, DocumentText, document_text
from kgbuild.readers.relations import RelationExample
from kgbuild.readers.squad import Answer, QAExample

__all__ = [
    "CONLL04_QUESTIONS",
    "DOCRED_QUESTIONS",
    "conll04_questions",
    "docred_confusable_questions",
    "docred_evidence_questions",
    "docred_question",
    "docred_questions",
    "write_squad",
]

DOCRED_QUESTIONS: dict[str, str] = {
    "P17": "Which country is {h} in?",
    "P131": "Where is {h} located?",
    "P27": "What is the nationality of {h}?",
    "P569": "When was {h} born?",
    "P570": "When did {h} die?",
    "P19": "Where was {h} born?",
    "P20": "Where did {h} die?",
    "P161": "Who starred in {h}?",
    "P175": "Who performed {h}?",
    "P577": "When was {h} released?",
    "P571": "When was {h} founded?",
    "P159": "Where is {h} headquartered?",
    "P150": "Which place is in {h}?",
    "P495": "Which country is {h} from?",
    "P36": "What is the capital of {h}?",
    "P54": "Which team did {h} play for?",
    "P108": "Who employed {h}?",
    "P112": "Who founded {h}?",
    "P69": "Where was {h} educated?",
    "P102": "Which party was {h} a member of?",
    "P264": "Which record label released {h}?",
    "P50": "Who wrote {h}?",
    "P57": "Who directed {h}?",
    "P170": "Who created {h}?",
    "P178": "Who developed {h}?",
    "P123": "Who published {h}?",
    "P22": "Who is the father of {h}?",
    "P26": "Who is the spouse of {h}?",
    "P40": "Who is the child of {h}?",
    "P361": "What is {h} part of?",
    "P527": "What is part of {h}?",
    "P740": "Where was {h} formed?",
    "P276": "Where is {h}?",
    "P30": "Which continent is {h} on?",
    "P449": "Which network aired {h}?",
    "P136": "What genre is {h}?",
    "P1441": "Which work does {h} appear in?",
    "P710": "Who took part in {h}?",
    "P463": "Which organisation is {h} a member of?",
    "P155": "What came before {h}?",
    "P156": "What came after {h}?",
}
"""Question templates for common Wikidata properties (DocRED relation ids)."""

CONLL04_QUESTIONS: dict[str, tuple[str, str]] = {
    "Work_For": ("Who does {h} work for?", "Who works for {t}?"),
    "Live_In": ("Where does {h} live?", "Who lives in {t}?"),
    "OrgBased_In": ("Where is {h} based?", "Which organisation is based in {t}?"),
    "Located_In": ("Where is {h} located?", "What is located in {t}?"),
    "Kill": ("Who did {h} kill?", "Who killed {t}?"),
}
"""CoNLL04 relation -> (question about the head, question about the tail)."""


def docred_question(relation: str, relation_names: Mapping[str, str]) -> str:
    """The question template for a DocRED relation id; a generic one from its name."""
    if relation in DOCRED_QUESTIONS:
        return DOCRED_QUESTIONS[relation]
    name = relation_names.get(relation, relation)
    return f"What is {{h}} {name}?" if name.endswith(" of") else f"What is the {name} of {{h}}?"


def _merge(examples: Iterable[QAExample]) -> list[QAExample]:
    """One question per (context, question): the answers of equal questions pooled."""
    merged: dict[tuple[str, str], QAExample] = {}
    for example in examples:
        key = (example.context, example.question)
        if key not in merged:
            merged[key] = example
            continue
        known = merged[key]
        answers = known.answers + tuple(a for a in example.answers if a not in known.answers)
        merged[key] = known.model_copy(update={"answers": answers})
    return list(merged.values())


def docred_questions(
    documents: Sequence[DocREDDocument],
    relation_names: Mapping[str, str],
    *,
    id_prefix: str = "docred",
    first_index: int = 0,
    exclude: Collection[str] = (),
) -> list[QAExample]:
    """Questions over whole DocRED documents, one per (head entity, relation).

    Answers are the tail's mentions, those in the triple's evidence sentences first;
    the first answer is what a model is trained to point at.

    Args:
        documents: Documents with their gold relations.
        relation_names: Relation id -> name (``rel_info.json``), for relations with no
            template of their own.
        id_prefix: Start of every question id.
        first_index: Index of ``documents[0]`` in its file (ids and titles use it).
        exclude: Relation ids asked no question about.
    """
    examples: list[QAExample] = []
    for offset, doc in enumerate(documents):
        index = first_index + offset
        located = document_text(doc)
        for number, relation in enumerate(doc.relations):
            if relation.relation in exclude:
                continue
            head = doc.entities[relation.head]
            tail = doc.entities[relation.tail]
            spans = sorted(
                zip(tail.mentions, located.mention_offsets[relation.tail], strict=True),
                key=lambda pair: (pair[0].sent_id not in relation.evidence, pair[1]),
            )
            answers = tuple(Answer(text=located.text[a:b], start=a) for _, (a, b) in spans)
            question = docred_question(relation.relation, relation_names)
            examples.append(
                QAExample(
                    id=f"{id_prefix}-{index}-{number}",
                    title=f"{id_prefix}-{index}",
                    context=located.text,
                    question=question.format(h=head.mentions[0].name),
                    answers=answers,
                )
            )
    return _merge(examples)


def _evidence_span(
    located: DocumentText, relation: DocRelation, max_sentences: int
) -> tuple[int, int] | None:
    """Characters of a fact's evidence sentences (first to last), if at most ``max_sentences``."""
    if not relation.evidence:
        return None
    first, last = min(relation.evidence), max(relation.evidence)
    if last - first >= max_sentences:
        return None
    return located.sentence_offsets[first][0], located.sentence_offsets[last][1]


def docred_evidence_questions(
    documents: Sequence[DocREDDocument],
    relation_names: Mapping[str, str],
    *,
    id_prefix: str = "docred",
    first_index: int = 0,
    exclude: Collection[str] = (),
    max_sentences: int = 3,
) -> list[QAExample]:
    """Questions over a fact's evidence sentences only, as template readers see a context.

    :func:`docred_questions` asks over the whole document; the template stages read one
    or two sentences, which unanswerable questions are also made of. Each fact with
    evidence (first to last sentence, at most ``max_sentences``, not the whole document)
    that holds a mention of its tail gives a question over those sentences, answered by
    those mentions.
    """
    examples: list[QAExample] = []
    for offset, doc in enumerate(documents):
        index = first_index + offset
        located = document_text(doc)
        for number, relation in enumerate(doc.relations):
            span = _evidence_span(located, relation, max_sentences)
            if relation.relation in exclude or span is None:
                continue
            start, end = span
            if end - start == len(located.text):
                continue  # the whole document: docred_questions asks it already
            answers = tuple(
                Answer(text=located.text[a:b], start=a - start)
                for a, b in sorted(located.mention_offsets[relation.tail])
                if start <= a and b <= end
            )
            if not answers:
                continue
            question = docred_question(relation.relation, relation_names)
            examples.append(
                QAExample(
                    id=f"{id_prefix}-{index}-{number}-evidence",
                    title=f"{id_prefix}-{index}",
                    context=located.text[start:end],
                    question=question.format(h=doc.entities[relation.head].mentions[0].name),
                    answers=answers,
                )
            )
    return _merge(examples)


def docred_confusable_questions(
    documents: Sequence[DocREDDocument],
    relation_names: Mapping[str, str],
    *,
    ratio: float,
    seed: int,
    id_prefix: str = "docred",
    first_index: int = 0,
    exclude: Collection[str] = (),
    max_sentences: int = 3,
) -> list[QAExample]:
    """Unanswerable questions that a fact's evidence sentences invite but do not answer.

    For about ``ratio`` of the gold facts ``(head, r, tail)`` with evidence, a relation
    ``r2`` is drawn (seeded) among those that the documents show with the same head and
    tail entity types and that the head has no fact of in its document; ``r2``'s question
    about the head is paired with the fact's evidence sentences (first to last, at most
    ``max_sentences``, else skipped), answer-free. Relations in ``exclude`` are neither
    facts nor questions.
    """
    if ratio <= 0:
        return []
    rng = random.Random(seed)
    by_signature: dict[tuple[str, str], set[str]] = {}
    for doc in documents:
        for relation in doc.relations:
            if relation.relation not in exclude:
                signature = (doc.entities[relation.head].type, doc.entities[relation.tail].type)
                by_signature.setdefault(signature, set()).add(relation.relation)
    examples: list[QAExample] = []
    for offset, doc in enumerate(documents):
        index = first_index + offset
        located = document_text(doc)
        held: dict[int, set[str]] = {}
        for relation in doc.relations:
            held.setdefault(relation.head, set()).add(relation.relation)
        for number, relation in enumerate(doc.relations):
            span = _evidence_span(located, relation, max_sentences)
            if relation.relation in exclude or span is None:
                continue
            head = doc.entities[relation.head]
            signature = (head.type, doc.entities[relation.tail].type)
            others = sorted(by_signature.get(signature, set()) - held[relation.head])
            count = int(ratio) + (rng.random() < ratio - int(ratio))
            start, end = span
            for asked in rng.sample(others, min(count, len(others))):
                question = docred_question(asked, relation_names)
                examples.append(
                    QAExample(
                        id=f"{id_prefix}-{index}-{number}-{asked}-confusable",
                        title=f"{id_prefix}-{index}",
                        context=located.text[start:end],
                        question=question.format(h=head.mentions[0].name),
                        answers=(),
                    )
                )
    return _merge(examples)


def conll04_questions(
    sentences: Sequence[RelationExample],
    *,
    id_prefix: str = "conll04",
    exclude: Collection[str] = (),
) -> list[QAExample]:
    """Questions over CoNLL04 sentences, each relation asked about its head and its tail.

    Relations whose label is in ``exclude`` are asked no question.

    Raises:
        InputError: A relation type has no question template.
    """
    examples: list[QAExample] = []
    for index, sentence in enumerate(sentences):
        context = " ".join(sentence.tokens)
        starts = [0]
        for token in sentence.tokens:
            starts.append(starts[-1] + len(token) + 1)

        def span(
            entity: int, sentence: RelationExample = sentence, starts: list[int] = starts
        ) -> tuple[str, Answer]:
            first, last = sentence.entities[entity].start, sentence.entities[entity].end
            text = " ".join(sentence.tokens[first:last])
            return text, Answer(text=text, start=starts[first])

        for number, relation in enumerate(sentence.relations):
            if relation.label in exclude:
                continue
            if relation.label not in CONLL04_QUESTIONS:
                raise InputError(
                    f"sentence {index}: relation {relation.label!r} has no question template "
                    f"(known: {', '.join(sorted(CONLL04_QUESTIONS))})"
                )
            about_head, about_tail = CONLL04_QUESTIONS[relation.label]
            head_text, head_answer = span(relation.head)
            tail_text, tail_answer = span(relation.tail)
            for side, question, answer in (
                ("h", about_head.format(h=head_text), tail_answer),
                ("t", about_tail.format(t=tail_text), head_answer),
            ):
                examples.append(
                    QAExample(
                        id=f"{id_prefix}-{index}-{number}{side}",
                        title=f"{id_prefix}-{index}",
                        context=context,
                        question=question,
                        answers=(answer,),
                    )
                )
    return _merge(examples)


def write_squad(
    examples: Sequence[QAExample],
    path: Path,
    *,
    limit: int | None = None,
    seed: int = 0,
    metadata: Mapping[str, Any] | None = None,
) -> int:
    """Write questions as SQuAD v1.1 JSON (one article per title); return how many.

    Args:
        examples: The questions.
        path: Output file (its folder is created).
        limit: Keep at most this many questions, a seeded sample.
        seed: Seed of that sample.
        metadata: Recorded under the file's ``kgbuild`` key (what was generated, left out).
    """
    chosen = list(examples)
    if limit is not None and len(chosen) > limit:
        keep = sorted(random.Random(seed).sample(range(len(chosen)), limit))
        chosen = [chosen[i] for i in keep]
    articles: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for example in chosen:
        paragraphs = articles.setdefault(example.title, {})
        paragraphs.setdefault(example.context, []).append(
            {
                "id": example.id,
                "question": example.question,
                "answers": [{"text": a.text, "answer_start": a.start} for a in example.answers],
            }
        )
    data = [
        {
            "title": title,
            "paragraphs": [{"context": c, "qas": qas} for c, qas in paragraphs.items()],
        }
        for title, paragraphs in articles.items()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    root: dict[str, Any] = {"version": "1.1", "data": data}
    if metadata:
        root["kgbuild"] = dict(metadata)
    path.write_text(json.dumps(root, ensure_ascii=False) + "\n", encoding="utf-8")
    return len(chosen)
