"""Zero-shot relations: relation types a schema declares with a question, no training needed.

A relation type with a ``question`` (``Who directed {head}?``) is read by the extractive QA
model over the sentences of each entity of its domain types that can hold the answer (a
mention of a range type), nearest the question first (:mod:`kgbuild.stages.reading`,
shared with the attribute stage). The answer span becomes a link to the entity mention it
overlaps, if that mention is of a range type; otherwise nothing is stored and the refusal
is counted per type (:attr:`TemplateRelationStage.refused`). A model with a no-answer
calibration abstains when no span is likely right; the relation's score is then that
calibrated confidence. A type with ``head_kinds`` (``film``) asks only about entities
whose first sentence is about one of them rather than another kind of the schema
(``album``, ``band``; ``templates.kind_margin``). Each sentence read gives up to
``answers_per_context`` answers. With ``one_type_per_pair`` (the default), the types
compete: a (head, tail) pair keeps only the type whose question it answers best
(:func:`outranked`), and the others are counted (:attr:`TemplateRelationStage.outranked`).

Which types go this way (:func:`template_types`): those with ``extract: template`` (or
listed in ``templates.types``), and those with ``extract: auto`` that the configured
relation model does not predict. Relations come out at mention level like the relation
stages' (head and tail are the first mentions of their local entities), one per (head,
type, tail) with one evidence entry per sentence that gave the answer.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from functools import partial

from kgbuild.config import TemplateConfig
from kgbuild.data import Chunk, Evidence, Mention, MentionRelation
from kgbuild.ids import stable_id
from kgbuild.schema import GraphSchema, RelationType
from kgbuild.stages.attributes import qa_reader
from kgbuild.stages.doc_relations import nearest_mention
from kgbuild.stages.grouping import LocalEntity, local_entities
from kgbuild.stages.reading import Answer, Template, TemplateReader
from kgbuild.stages.registry import output_settings, stage_key
from kgbuild.stages.resolve import ResolveConfig

__all__ = ["STAGE", "TemplateRelationStage", "outranked", "template_types"]

STAGE = "re-template"

logger = logging.getLogger(__name__)

Triple = tuple[str, str, str]
"""``(head mention, relation type, tail mention)``."""


def template_types(
    schema: GraphSchema, predicted: Collection[str], forced: Collection[str] = ()
) -> tuple[RelationType, ...]:
    """The relation types read by template, given the types the relation model predicts.

    Raises:
        KeyError: A forced type is not declared or has no question (named in the message).
    """
    for name in forced:
        try:
            relation = schema.relation_type(name)
        except KeyError:
            raise KeyError(
                f"relation type {name} is not declared in the schema (declared: "
                f"{', '.join(sorted(schema.relation_names)) or 'none'})"
            ) from None
        if not relation.question:
            raise KeyError(f"relation type {name} has no question template")
    return tuple(
        r
        for r in schema.templated_relations
        if r.extract == "template" or r.name in forced or r.name not in predicted
    )


def _template(relation: RelationType) -> Template:
    assert relation.question is not None
    return Template(
        key=relation.name,
        question=relation.question,
        head_types=frozenset(relation.domain),
        value_type="entity",
        value_range=relation.range,
        threshold=relation.threshold,
        head_kinds=relation.head_kinds,
    )


class TemplateRelationStage:
    """Relations of template types between ``mentions`` (see the module docstring).

    Args:
        config: QA model, threshold, contexts per entity and type.
        relation_types: The types to read (see :func:`template_types`).
        run_id: Recorded in every relation's provenance.
        resolve: Resolution rules that group a document's mentions into entities.
        kinds: The schema's kinds (:attr:`~kgbuild.schema.GraphSchema.kind_pool`), against
            which a head's kind is checked for types with ``head_kinds``.
        progress: Report progress over long batches.
    """

    def __init__(
        self,
        config: TemplateConfig,
        *,
        relation_types: Sequence[RelationType],
        run_id: str,
        resolve: ResolveConfig | None = None,
        kinds: Sequence[str] = (),
        progress: bool = False,
    ) -> None:
        self.config = config
        self.run_id = run_id
        self.resolve = resolve or ResolveConfig()
        self.relation_types = tuple(relation_types)
        self.templates = [_template(r) for r in self.relation_types]
        self.reading = TemplateReader(
            qa_reader(config, task="templates"),
            grouping=partial(local_entities, config=self.resolve),
            threshold=config.threshold,
            max_contexts=config.max_contexts,
            encoder=config.encoder,
            min_similarity=config.min_similarity,
            kinds=kinds,
            kind_margin=config.kind_margin,
            answers_per_context=config.answers_per_context,
            stage=STAGE,
            progress=progress,
        )
        self.refused: Counter[tuple[str, str]] = Counter()
        """Per (document id, relation type): answers that were no entity of the range."""
        self.outranked: Counter[str] = Counter()
        """Per relation type, in the last call: answers dropped because another type's
        question gave the same pair a higher score (``one_type_per_pair``)."""
        self.wrong_kind: Counter[tuple[str, str]] = Counter()
        """Per (document id, relation type), in the last call: entities of its domain not
        asked because the sentence that first names them is about another kind
        (``head_kinds``)."""

    @property
    def types(self) -> frozenset[str]:
        """The relation types this stage reads."""
        return frozenset(r.name for r in self.relation_types)

    @property
    def model_key(self) -> str:
        """The config's output fields plus QA model, precision, templates and resolution."""
        reader = self.reading.reader
        return stage_key(
            self.config,
            {
                "model": reader.key,
                "precision": "bf16" if reader.bf16 else "fp32",
                "templates": sorted(repr(t) for t in self.templates),
                "resolve": output_settings(self.resolve),
            },
        )

    def __call__(
        self, chunks: Sequence[Chunk], mentions: Sequence[Mention]
    ) -> list[MentionRelation]:
        """Relations of the template types; head and tail are mention ids."""
        result = self.reading(chunks, mentions, self.templates)
        self.refused = result.refused
        self.wrong_kind = result.wrong_kind
        if result.wrong_kind:
            logger.debug("entities not asked (not of the head kinds): %s", dict(result.wrong_kind))
        tails = _entity_of(mentions, self.reading)
        grouped: dict[Triple, list[Answer]] = defaultdict(list)
        for answer in result.answers:
            assert answer.mention is not None  # entity values only
            linked = tails.get(answer.mention.id, answer.mention)
            if linked.id == answer.head.mentions[0].id:
                continue
            grouped[answer.head.mentions[0].id, answer.template.key, linked.id].append(answer)
        self.outranked = Counter()
        if self.config.one_type_per_pair:
            beaten = outranked({key: max(a.score for a in found) for key, found in grouped.items()})
            for key in beaten:
                del grouped[key]
            self.outranked.update(kind for _, kind, _ in beaten)
            if beaten:
                logger.debug("template types outranked on their pair: %s", dict(self.outranked))
        relations = []
        reader = self.reading.reader
        for (head, kind, tail), answers in grouped.items():
            score = max(a.score for a in answers)
            by_chunk: dict[str, Answer] = {}
            for a in sorted(answers, key=lambda a: -a.score):
                by_chunk.setdefault(a.chunk.id, a)  # each sentence's best answer
            evidence = tuple(
                Evidence.of_chunk(
                    a.chunk,
                    score=min(1.0, max(0.0, a.score)),
                    model=reader.name,
                    model_revision=reader.revision,
                    run_id=self.run_id,
                    stage=STAGE,
                    head=nearest_mention(a.head, a.chunk).id,
                    tail=a.mention.id if a.mention is not None else None,
                )
                for a in sorted(by_chunk.values(), key=lambda a: a.chunk.span.start)
            )
            relations.append(
                MentionRelation(
                    id=stable_id("rel", head, kind, tail),
                    head_mention=head,
                    tail_mention=tail,
                    type=kind,
                    score=min(1.0, max(0.0, score)),
                    evidence=evidence,
                )
            )
        return relations


def outranked(scores: Mapping[Triple, float]) -> set[Triple]:
    """The triples whose (head, tail) pair another type holds with a higher score.

    Ties keep every tied type.

    >>> sorted(outranked({("f", "DIRECTOR", "p"): 0.9, ("f", "AUTHOR", "p"): 0.6,
    ...                   ("f", "AUTHOR", "q"): 0.5}))
    [('f', 'AUTHOR', 'p')]
    """
    best: dict[tuple[str, str], float] = {}
    for (head, _, tail), score in scores.items():
        best[head, tail] = max(score, best.get((head, tail), score))
    return {key for key, score in scores.items() if score < best[key[0], key[2]]}


def _entity_of(mentions: Sequence[Mention], reading: TemplateReader) -> dict[str, Mention]:
    """Mention id -> the first mention of its local entity (what relations link to)."""
    by_doc: dict[str, list[Mention]] = defaultdict(list)
    for mention in mentions:
        by_doc[mention.doc_id].append(mention)
    first: dict[str, Mention] = {}
    for doc_mentions in by_doc.values():
        entities: list[LocalEntity] = reading.grouping(doc_mentions)
        for entity in entities:
            for mention in entity.mentions:
                first[mention.id] = entity.mentions[0]
    return first
