"""``kgbuild evaluate graph``: the whole pipeline from raw text, scored on DocRED-format data.

Each document's text (its tokens joined by spaces) goes through the configured pipeline:
chunking, NER, relations, then resolution over all the documents' mentions. Scores:

* **mentions**: a predicted mention is correct when its character span and type equal a
  gold mention's (micro and per type);
* **entity clusters, within documents**: B-cubed precision, recall and F1 over the
  mentions found with the right span (whatever their type), predicted clusters being
  the resolved entities restricted to the document; and the precision of merges (pairs of
  those mentions put in one cluster that are one gold entity);
* **triples**: each resolved entity of a document stands for the gold entity that most of
  its correctly-spanned mentions belong to (none if it has none); a predicted
  ``(head, tail, type)`` is correct when it maps to a gold fact; P/R/F1, Ign F1 (facts
  seen in ``--train-facts`` data by mention names) and per type. A type the schema
  declares ``symmetric`` (stored once per pair in the graph) counts as predicted both
  ways, ``(head, tail)`` and ``(tail, head)``, as Re-DocRED's gold annotates it: a model
  that predicted both directions scores exactly as it would without the flag.

With ``gold_entities`` the relation model alone is scored: the gold mentions and
clusters are given to the model, as in DocRED's standard setting.

Zero-shot types (``zero_shot``: types read by question template, see
:mod:`kgbuild.stages.zeroshot`) are also reported apart: per type, micro, and averaged
over the types (precision over the types that predicted anything, recall over all).
Attributes (when the attribute stage runs) are scored against the gold facts of the
Wikidata property each one names (``wikidata`` in the schema): a stored value is correct
when it is (an entity value) a mention of a gold tail entity of the head's fact, or (a
literal) equal to a gold tail mention normalised the same way (a date may be less or more
precise than the gold one); values not of their declared type are counted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from kgbuild.config import Settings
from kgbuild.data import Chunk, Document, Mention, MentionAttribute, MentionRelation, Provenance
from kgbuild.data import Span as CharSpan
from kgbuild.errors import KGBuildError
from kgbuild.ids import stable_id
from kgbuild.lang import detect_lang
from kgbuild.schema import ENTITY_VALUE_TYPES, AttributeSpec
from kgbuild.stages.grouping import LocalEntity
from kgbuild.stages.values import normalise_value
from kgbuild.training.doc_re import PRF, DocExample, DocScores, score_facts

__all__ = [
    "AttributeCounts",
    "GraphScores",
    "b_cubed",
    "evaluate_graph",
    "mention_scores",
    "score_graph",
    "seen_facts_of",
]


@dataclass(frozen=True)
class Counts:
    """Correct, predicted and gold counts with P/R/F1 (0-100)."""

    correct: int
    predicted: int
    gold: int

    @property
    def precision(self) -> float:
        """Correct over predicted."""
        return 100.0 * self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        """Correct over gold."""
        return 100.0 * self.correct / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        """JSON form."""
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


Span = tuple[int, int]


def mention_scores(
    gold: Sequence[Mapping[Span, str]], predicted: Sequence[Mapping[Span, str]]
) -> tuple[Counts, dict[str, Counts]]:
    """Typed mention P/R/F1 (span and type must match), micro and per type."""
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for gold_doc, predicted_doc in zip(gold, predicted, strict=True):
        for span, kind in gold_doc.items():
            per[kind][2] += 1
            if predicted_doc.get(span) == kind:
                per[kind][0] += 1
        for kind in predicted_doc.values():
            per[kind][1] += 1
    per_type = {kind: Counts(*c) for kind, c in sorted(per.items())}
    total = Counts(*(sum(c[i] for c in per.values()) for i in range(3)))
    return total, per_type


def b_cubed(
    gold: Sequence[Mapping[Span, int]], predicted: Sequence[Mapping[Span, int]]
) -> dict[str, float]:
    """B-cubed P/R/F1 and merge precision over the spans both sides hold, per document.

    ``gold[d]`` / ``predicted[d]``: span -> cluster id in document ``d``.
    """
    precision_sum = recall_sum = 0.0
    n = 0
    merged_pairs = merged_right = 0
    for gold_doc, predicted_doc in zip(gold, predicted, strict=True):
        spans = [s for s in predicted_doc if s in gold_doc]
        by_predicted: dict[int, list[Span]] = defaultdict(list)
        by_gold: dict[int, list[Span]] = defaultdict(list)
        for span in spans:
            by_predicted[predicted_doc[span]].append(span)
            by_gold[gold_doc[span]].append(span)
        for span in spans:
            mine = by_predicted[predicted_doc[span]]
            truth = by_gold[gold_doc[span]]
            both = sum(1 for s in mine if gold_doc[s] == gold_doc[span])
            precision_sum += both / len(mine)
            recall_sum += both / len(truth)
            n += 1
        for members in by_predicted.values():
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    merged_pairs += 1
                    merged_right += gold_doc[a] == gold_doc[b]
    p = 100.0 * precision_sum / n if n else 0.0
    r = 100.0 * recall_sum / n if n else 0.0
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "mentions": n,
        "merge_precision": 100.0 * merged_right / merged_pairs if merged_pairs else 100.0,
        "merged_pairs": merged_pairs,
    }


@dataclass
class AttributeCounts:
    """Stored attribute values of one attribute: how many, right, of the wrong type; gold."""

    stored: int = 0
    correct: int = 0
    wrong_type: int = 0
    gold: int = 0
    """Gold (head entity, property) facts of the attribute's Wikidata property."""

    @property
    def precision(self) -> float:
        """Percent of stored values that are right."""
        return 100.0 * self.correct / self.stored if self.stored else 0.0

    @property
    def recall(self) -> float:
        """Right values over gold facts (percent)."""
        return 100.0 * self.correct / self.gold if self.gold else 0.0

    def as_dict(self) -> dict[str, float | int]:
        """JSON form."""
        return {**asdict(self), "precision": self.precision, "recall": self.recall}


@dataclass(frozen=True)
class GraphScores:
    """Everything :func:`evaluate_graph` measured."""

    mentions: Counts
    mentions_per_type: dict[str, Counts]
    clusters: dict[str, float]
    triples: DocScores
    zero_shot: dict[str, PRF] = field(default_factory=dict)
    """Per zero-shot type (by gold label)."""
    attributes: dict[str, AttributeCounts] = field(default_factory=dict)

    @property
    def zero_shot_average(self) -> dict[str, float]:
        """Zero-shot types averaged: precision over types that predicted, recall over all."""
        scores = list(self.zero_shot.values())
        predicting = [s for s in scores if s.predicted]
        micro = PRF.of(
            sum(s.correct for s in scores),
            sum(s.predicted for s in scores),
            sum(s.gold for s in scores),
        )
        return {
            "precision": sum(s.precision for s in predicting) / len(predicting)
            if predicting
            else 0.0,
            "recall": sum(s.recall for s in scores) / len(scores) if scores else 0.0,
            "types": len(scores),
            "types_predicting": len(predicting),
            "micro_precision": micro.precision,
            "micro_recall": micro.recall,
            "micro_f1": micro.f1,
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {
            "mentions": self.mentions.as_dict(),
            "mentions_per_type": {k: v.as_dict() for k, v in self.mentions_per_type.items()},
            "clusters": self.clusters,
            "triples": {
                **asdict(self.triples.micro),
                "ign_f1": self.triples.ign_f1,
                "per_type": {k: asdict(v) for k, v in self.triples.per_type.items()},
            },
        }
        if self.zero_shot:
            out["zero_shot"] = {
                **self.zero_shot_average,
                "per_type": {k: asdict(v) for k, v in self.zero_shot.items()},
            }
        if self.attributes:
            stored = sum(c.stored for c in self.attributes.values())
            out["attributes"] = {
                "stored": stored,
                "correct_percent": 100.0 * sum(c.correct for c in self.attributes.values()) / stored
                if stored
                else 0.0,
                "wrong_type": sum(c.wrong_type for c in self.attributes.values()),
                "per_attribute": {k: v.as_dict() for k, v in self.attributes.items()},
            }
        return out


def _gold_spans(example: DocExample) -> tuple[dict[Span, str], dict[Span, int]]:
    typed: dict[Span, str] = {}
    cluster: dict[Span, int] = {}
    for mention in example.mentions:
        span = (mention.start, mention.end)
        typed[span] = example.entity_types[mention.entity]
        cluster[span] = mention.entity
    return typed, cluster


def score_graph(
    examples: Sequence[DocExample],
    mentions: Sequence[Sequence[Mention]],
    mention_to_entity: Mapping[str, str],
    relations: Sequence[Sequence[MentionRelation]],
    *,
    type_to_label: Mapping[str, str],
    seen: set[tuple[str, str, str]] | None = None,
    zero_shot: Collection[str] = (),
    attributes: Sequence[Sequence[MentionAttribute]] | None = None,
    attribute_specs: Sequence[AttributeSpec] = (),
    symmetric: Collection[str] = (),
) -> GraphScores:
    """Score one predicted graph per document against the gold annotations.

    Args:
        examples: Gold documents (the text the pipeline read is ``example.text``).
        mentions: Predicted mentions per document (offsets into ``example.text``).
        mention_to_entity: Resolution of the predicted mentions.
        relations: Predicted mention-level relations per document (head/tail mention ids).
        type_to_label: Relation type -> gold label (a schema name -> its Wikidata id).
        seen: Training facts by names, for Ign F1.
        zero_shot: Gold labels of the types read by template (reported apart).
        attributes: Predicted mention-level attributes per document (scored by the
            ``wikidata`` property of their spec in ``attribute_specs``).
        attribute_specs: The schema's attributes.
        symmetric: Relation types (schema names) that hold both ways: each predicted
            fact of one counts as ``(head, tail)`` and ``(tail, head)``.
    """
    gold_typed, gold_clusters, predicted_typed, predicted_clusters = [], [], [], []
    facts: list[list[tuple[int, int, str]]] = []
    attribute_counts: dict[str, AttributeCounts] = {
        s.name: AttributeCounts() for s in attribute_specs if s.wikidata and attributes is not None
    }
    found_attributes = attributes if attributes is not None else [()] * len(examples)
    for example, found, doc_relations, doc_attributes in zip(
        examples, mentions, relations, found_attributes, strict=True
    ):
        typed, clusters = _gold_spans(example)
        gold_typed.append(typed)
        gold_clusters.append(clusters)
        predicted_typed.append({(m.span.start, m.span.end): m.label for m in found})
        entity_ids = sorted({mention_to_entity[m.id] for m in found})
        number = {entity: i for i, entity in enumerate(entity_ids)}
        predicted_clusters.append(
            {(m.span.start, m.span.end): number[mention_to_entity[m.id]] for m in found}
        )
        votes: dict[str, Counter[int]] = defaultdict(Counter)
        for m in found:
            span = (m.span.start, m.span.end)
            if span in clusters:
                votes[mention_to_entity[m.id]][clusters[span]] += 1
        to_gold = {entity: vote.most_common(1)[0][0] for entity, vote in votes.items()}
        doc_facts = set()
        for relation in doc_relations:
            head = to_gold.get(mention_to_entity.get(relation.head_mention, ""))
            tail = to_gold.get(mention_to_entity.get(relation.tail_mention, ""))
            if head is not None and tail is not None and head != tail:
                label = type_to_label.get(relation.type, relation.type)
                doc_facts.add((head, tail, label))
                if relation.type in symmetric:
                    doc_facts.add((tail, head, label))
        facts.append(sorted(doc_facts))
        if attribute_counts:
            _count_attributes(
                attribute_counts,
                {s.name: s for s in attribute_specs},
                example,
                doc_attributes,
                {m.id: m for m in found},
                partial(_gold_of, to_gold, mention_to_entity),
                clusters,
            )
    total, per_type = mention_scores(gold_typed, predicted_typed)
    triples = score_facts(examples, facts, seen)
    return GraphScores(
        total,
        per_type,
        b_cubed(gold_clusters, predicted_clusters),
        triples,
        {label: triples.per_type.get(label, PRF.of(0, 0, 0)) for label in sorted(zero_shot)},
        attribute_counts,
    )


def _count_attributes(
    counts: dict[str, AttributeCounts],
    specs: Mapping[str, AttributeSpec],
    example: DocExample,
    found: Sequence[MentionAttribute],
    mentions: Mapping[str, Mention],
    gold_entity_of: Any,
    clusters: Mapping[Span, int],
) -> None:
    """Count one document's stored attribute values against its gold facts."""
    for name, count in counts.items():
        prop = specs[name].wikidata
        count.gold += len({h for h, _, kind, _ in example.facts if kind == prop})
    for attribute in found:
        spec = specs.get(attribute.key)
        if spec is None or attribute.key not in counts:
            continue
        count = counts[attribute.key]
        count.stored += 1
        tail = mentions.get(attribute.evidence[0].tail or "") if attribute.evidence else None
        if spec.value_type in ENTITY_VALUE_TYPES:
            count.wrong_type += tail is None or tail.label not in spec.value_range
        else:
            again = normalise_value(str(attribute.value), spec.value_type, unit=spec.unit)
            count.wrong_type += again != attribute.value
        head = gold_entity_of(attribute.mention)
        tails = {t for h, t, kind, _ in example.facts if h == head and kind == spec.wikidata}
        if head is None or not tails:
            continue
        if spec.value_type in ENTITY_VALUE_TYPES:
            entity = None
            if tail is not None:
                entity = clusters.get((tail.span.start, tail.span.end))
                entity = gold_entity_of(tail.id) if entity is None else entity
            names = {n.casefold() for t in tails for n in example.entity_names[t]}
            right = entity in tails or str(attribute.value).casefold() in names
        else:
            golds = {
                normalise_value(n, spec.value_type, detect_lang(n), spec.unit)
                for t in tails
                for n in example.entity_names[t]
            }
            right = any(_same_value(attribute.value, g) for g in golds if g is not None)
        count.correct += right


def _gold_of(
    to_gold: Mapping[str, int], mention_to_entity: Mapping[str, str], mention_id: str
) -> int | None:
    """The gold entity a predicted mention's entity stands for, if any."""
    return to_gold.get(mention_to_entity.get(mention_id, ""))


def _same_value(value: object, gold: object) -> bool:
    """Equal values; dates also when one is a less precise form of the other."""
    if isinstance(value, str) and isinstance(gold, str):
        return value == gold or value.startswith(gold + "-") or gold.startswith(value + "-")
    return value == gold


def evaluate_graph(
    examples: Sequence[DocExample],
    settings: Settings,
    *,
    gold_entities: bool = False,
    seen: set[tuple[str, str, str]] | None = None,
    progress: bool = False,
) -> GraphScores:
    """Run the configured pipeline over ``examples`` and score it (see the module docstring).

    ``settings.relations`` must be enabled for triples. With ``gold_entities`` the
    relation stages read the gold sentences, mentions and entities instead of chunking,
    NER and resolution. Types read by template (``settings.templates``) are reported
    apart; attributes are scored when ``settings.attributes`` is enabled.
    """
    from kgbuild.extraction import Extractor
    from kgbuild.ids import content_hash
    from kgbuild.schema import load_schema
    from kgbuild.stages.doc_relations import DocRelationStage
    from kgbuild.stages.resolve import resolve_mentions

    schema = load_schema(settings.schema_path)
    type_to_label = {r.name: r.wikidata or r.name for r in schema.relation_types}
    documents = [
        Document(
            id=f"doc{i:05d}",
            text=e.text,
            source=e.title or f"doc{i}",
            content_hash=content_hash(e.text),
        )
        for i, e in enumerate(examples)
    ]
    extractor = Extractor(settings, run_id="evaluate-graph", progress=progress)
    templates = extractor.templates
    attributes: list[list[MentionAttribute]] | None = None
    if gold_entities:
        stage = extractor.relations
        if not isinstance(stage, DocRelationStage):
            raise KGBuildError("--gold-entities needs a document-level relation model")
        stage.grouping = _gold_grouping
        if templates is not None:
            templates.reading.grouping = _gold_grouping
        mentions = [_gold_mentions(d, e) for d, e in zip(documents, examples, strict=True)]
        relations = []
        for d, e, found in zip(documents, examples, mentions, strict=True):
            chunks = _gold_chunks(d, e)
            read = stage(chunks, found)
            if templates is not None:
                read = [r for r in read if r.type not in templates.types]
                read += templates(chunks, found)
            relations.append(read)
        mention_to_entity = {
            m.id: f"{m.doc_id}/{m.provenance.model}" for found in mentions for m in found
        }
    else:
        results = []
        batch = max(1, settings.docs_per_batch)
        for start in range(0, len(documents), batch):
            results += extractor(documents[start : start + batch])
        mentions = [list(r.mentions) for r in results]
        relations = [list(r.relations) for r in results]
        if extractor.attributes is not None:
            attributes = [list(r.attributes) for r in results]
        flat = [m for found in mentions for m in found]
        sentences = (  # the context veto reads each mention's sentence
            {c.id: c.text for r in results for c in r.chunks}
            if settings.resolve.context_similarity
            else None
        )
        mention_to_entity = resolve_mentions(
            flat, settings.resolve, sentences=sentences
        ).mention_to_entity
    return score_graph(
        examples,
        mentions,
        mention_to_entity,
        relations,
        type_to_label=type_to_label,
        seen=seen,
        zero_shot=[type_to_label[t] for t in _zero_shot_types(settings, templates)],
        attributes=attributes,
        attribute_specs=schema.attributes,
        symmetric=schema.symmetric_relations,
    )


def _zero_shot_types(settings: Settings, templates: Any) -> list[str]:
    """The types reported apart: those listed in ``templates.types``, else all read by template."""
    if templates is None:
        return []
    return sorted(settings.templates.types or templates.types)


def _gold_chunks(document: Document, example: DocExample) -> list[Chunk]:
    return [
        Chunk(
            id=stable_id("chunk", document.id, index),
            doc_id=document.id,
            index=index,
            span=CharSpan(start=start, end=end),
            text=example.text[start:end],
        )
        for index, (start, end) in enumerate(example.sentences)
    ]


def _gold_mentions(document: Document, example: DocExample) -> list[Mention]:
    """The gold mentions, each naming its gold entity in its model field (``gold:3``)."""
    chunks = _gold_chunks(document, example)
    out = []
    for m in example.mentions:
        chunk = next(c for c in chunks if c.span.start <= m.start < c.span.end)
        out.append(
            Mention(
                id=stable_id("gold", document.id, m.start, m.end),
                text=example.text[m.start : m.end],
                label=example.entity_types[m.entity],
                provenance=Provenance(
                    doc_id=document.id,
                    chunk_id=chunk.id,
                    span=CharSpan(start=m.start, end=m.end),
                    score=1.0,
                    model=f"gold:{m.entity}",
                    model_revision="-",
                    run_id="evaluate-graph",
                    stage="gold",
                ),
            )
        )
    return out


def _gold_grouping(mentions: Sequence[Mention]) -> list[LocalEntity]:
    """Group gold mentions by the gold entity their model field names."""
    groups: dict[str, list[Mention]] = defaultdict(list)
    for mention in sorted(mentions, key=lambda m: (m.span.start, m.span.end)):
        groups[mention.provenance.model].append(mention)
    return [LocalEntity(members[0].label, tuple(members)) for members in groups.values()]


def seen_facts_of(model_dir: str) -> set[tuple[str, str, str]] | None:
    """The training facts (by names) of a document-level model, from its model card.

    ``None`` when the card or its training file cannot be read as DocRED (Ign F1 then
    equals F1). The file is read in the encoding the card records (UTF-8 for cards
    written before it did).
    """
    from pathlib import Path

    from kgbuild.readers.docred import read_docred
    from kgbuild.training.common import MODEL_CARD_FILE, read_json_object
    from kgbuild.training.doc_re import docred_examples, train_facts

    try:
        card = read_json_object(Path(model_dir) / MODEL_CARD_FILE)
        train = card["data"]["train"]["path"]
        encoding = str(card["data"]["train"].get("encoding", "utf-8"))
        skip = int(card["data"]["dev"].get("first_documents", 0))
        documents = read_docred(train, encoding=encoding)
    except (OSError, KeyError, ValueError, TypeError, KGBuildError):
        return None  # not a document-level model's card (a sentence-level one's, say)
    return train_facts(docred_examples(documents[skip:]))
