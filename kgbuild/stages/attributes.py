"""Attribute filling: slot values of entities (date of birth, headquarters...) read from text.

The schema declares, per entity type, attributes with a question template ("When was
{head} founded?") and a value type (:data:`kgbuild.schema.ValueType`). Within each
document, the mentions that name one thing are one local entity; the extractive QA
model reads the question over the entity's sentences that can hold a value of the type,
nearest the question first (:mod:`kgbuild.stages.reading`, shared with zero-shot
relations). Each sentence read offers the best of its ``answers_per_context`` best spans
that clears the threshold and is a value of the type (a mention of the range types for
entity values, which the evidence names as ``tail``; a normalised date, year, number or
quantity): a date refused as a budget gives way to "$ 5 million" after it. The
best-scoring of those is the value, with its sentence as evidence. A sentence whose
answers were all of the wrong type is refused and counted once
(:attr:`AttributeStage.refused`).

An attribute may name a token-classification model and label instead (``model``,
``label`` in the schema): then the best span of that label in the entity's sentences is
the value.

An attribute whose Wikidata property a relation type of the relation model stands for
(``relation_types``: date of birth, place of birth, inception...) is not read by QA: its
values are that model's relations of the type (head of the attribute's entity type) whose
calibrated score reaches the type's threshold for ``attributes.min_precision``
(``relation_thresholds``; the relation stage hands over its facts between that point and
its own, see :meth:`~kgbuild.stages.doc_relations.DocRelationStage.keep_below`), the tail
mention normalised to the value type.

Attributes come out at mention level (``entity`` is a mention id, as relations' heads
are); :func:`kgbuild.graph.build.resolve_attributes` lifts them to resolved entities.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from kgbuild.config import AttributeConfig, NerConfig, ReaderConfig
from kgbuild.data import Chunk, Evidence, Mention, MentionAttribute, MentionRelation
from kgbuild.errors import ConfigError, ModelLoadError
from kgbuild.ids import stable_id
from kgbuild.models import resolve_task_model
from kgbuild.nlp.reader import ExtractiveReader
from kgbuild.schema import ENTITY_VALUE_TYPES, AttributeSpec, GraphSchema
from kgbuild.stages.doc_relations import nearest_mention
from kgbuild.stages.grouping import LocalEntity, local_entities
from kgbuild.stages.reading import (
    NUMERIC_TYPES,
    STRING_TYPES,
    Template,
    TemplateReader,
    in_own_name,
    is_a_date,
)
from kgbuild.stages.registry import output_settings, stage_key
from kgbuild.stages.resolve import ResolveConfig
from kgbuild.stages.values import finest_date, normalise_value

if TYPE_CHECKING:
    from kgbuild.stages.ner import NerStage

__all__ = ["STAGE", "AttributeStage", "attribute_relation_types", "qa_reader", "template_of"]

log = logging.getLogger(__name__)

STAGE = "attributes"


def qa_reader(config: ReaderConfig, task: str = "qa") -> ExtractiveReader:
    """The extractive reader a template stage's config names (``default``: ``task``'s).

    The stage's thresholds are its operating points: the reader itself keeps every best
    span (with its calibrated confidence, when the model has one) for them to judge.
    """
    precision = config.precision
    return ExtractiveReader(
        resolve_task_model(task, config.model),
        device=config.device,
        batch_size=config.batch_size,
        bf16=None if precision == "auto" else precision == "bf16",
        min_confidence=0.0,
    )


def template_of(spec: AttributeSpec) -> Template:
    """The reading template of a QA-read attribute."""
    return Template(
        key=spec.name,
        question=spec.question,
        head_types=frozenset({spec.entity_type}),
        value_type=spec.value_type,
        value_range=spec.value_range,
        threshold=spec.threshold,
        cues=spec.cues,
        unit=spec.unit,
    )


def attribute_relation_types(
    specs: Sequence[AttributeSpec], schema: GraphSchema, predicted: Iterable[str]
) -> dict[str, str]:
    """Attribute name -> the predicted relation type of the same Wikidata property."""
    wanted = set(predicted)
    by_property = {
        r.wikidata: r.name for r in schema.relation_types if r.wikidata and r.name in wanted
    }
    return {
        s.name: by_property[s.wikidata]
        for s in specs
        if s.model is None and s.wikidata and s.wikidata in by_property
    }


def _own_name_refused(
    value: str | int | float | None, spec: AttributeSpec, head: LocalEntity
) -> str | int | float | None:
    """``value``, or ``None`` for a text value that is the head's own name (or words of it)."""
    if value is not None and spec.value_type in STRING_TYPES and in_own_name(str(value), head):
        return None
    return value


@dataclass(frozen=True)
class _Finding:
    spec: AttributeSpec
    head: LocalEntity
    value: str | int | float
    chunk: Chunk
    score: float
    model: str
    revision: str
    tail: str | None = None  # the value's mention (entity values, values from relations)
    calibrated: bool = False  # a relation's score, already past its type's threshold


class AttributeStage:
    """Fill the schema's attributes for the entities mentioned in a batch of chunks.

    Args:
        config: Model, threshold and limits.
        schema: Declares the attributes (per entity type).
        run_id: Recorded in every attribute's provenance.
        resolve: Resolution rules that group a document's mentions into entities.
        progress: Report progress over the questions of a long batch (see
            :func:`kgbuild.progress.track`).
        relation_types: Attribute name -> relation type whose relations fill it (see
            :func:`attribute_relation_types`); those attributes are not read by QA.
        relation_thresholds: Relation type -> lowest relation score that becomes a value
            (the relation model's calibrated threshold at ``config.min_precision``).

    Raises:
        ConfigError: An attribute's ``label`` is not a type its ``model`` tags.
    """

    def __init__(
        self,
        config: AttributeConfig,
        *,
        schema: GraphSchema,
        run_id: str,
        resolve: ResolveConfig | None = None,
        progress: bool = False,
        relation_types: Mapping[str, str] | None = None,
        relation_thresholds: Mapping[str, float] | None = None,
    ) -> None:
        self.config = config
        self.run_id = run_id
        self.progress = progress
        self.specs = schema.attributes
        self.resolve = resolve or ResolveConfig()
        self.grouping = partial(local_entities, config=self.resolve)
        self.relation_types = dict(relation_types or {})
        self.relation_thresholds = dict(relation_thresholds or {})
        # by name and property: an attribute of another entity type may share the name only
        property_of = {r.name: r.wikidata for r in schema.relation_types}
        self._relation_of = {
            s: self.relation_types[s.name]
            for s in self.specs
            if s.model is None
            and s.wikidata is not None
            and property_of.get(self.relation_types.get(s.name, "")) == s.wikidata
        }
        self.templates = {
            template_of(s): s for s in self.specs if s.model is None and s not in self._relation_of
        }
        self.reading: TemplateReader | None = None
        if self.templates:
            self.reading = TemplateReader(
                qa_reader(config),
                grouping=self.grouping,
                threshold=config.threshold,
                max_contexts=config.max_contexts,
                encoder=config.encoder,
                stage=STAGE,
                answers_per_context=config.answers_per_context,
                best_per_context=True,
                progress=progress,
            )
        self._taggers: dict[str, NerStage] = {}
        """The token-classification models of attributes that name one, loaded here: their
        revisions are part of :attr:`model_key` (a tagger retrained in place re-reads)."""
        for model in sorted({s.model for s in self.specs if s.model is not None}):
            from kgbuild.stages.ner import NerStage

            try:
                self._taggers[model] = NerStage(
                    NerConfig(model=model, device=config.device), run_id=run_id
                )
            except ModelLoadError as exc:  # say which of the schema's attributes names it
                named = [
                    f"attributes.{i} ({s.entity_type}.{s.name})"
                    for i, s in enumerate(self.specs)
                    if s.model == model
                ]
                raise ModelLoadError(
                    f"the schema's {', '.join(named)} names model {model!r}, which cannot be "
                    f"loaded: {exc}"
                ) from exc
        for index, spec in enumerate(self.specs):
            labels = self._taggers[spec.model].labels if spec.model is not None else None
            if labels is not None and spec.label not in labels:
                raise ConfigError(
                    f"attributes.{index}.label: model {spec.model} tags no {spec.label!r}, "
                    f"so {spec.entity_type}.{spec.name} would never be filled (its labels: "
                    f"{', '.join(labels) or 'none'})"
                )
        self.refused: Counter[tuple[str, str]] = Counter()
        """Per (document id, attribute): answers refused as not of the type, last call."""

    @property
    def model_key(self) -> str:
        """The config's output fields plus QA model, precision, attributes and resolution."""
        reader = self.reading.reader if self.reading is not None else None
        resolved: dict[str, object] = {
            "model": reader.key if reader is not None else None,
            "precision": None if reader is None else "bf16" if reader.bf16 else "fp32",
            # a spec without a unit keeps the key it had before units
            "specs": sorted(
                repr(s.model_dump(mode="json", exclude=set() if s.unit else {"unit"}))
                for s in self.specs
            ),
            "from_relations": sorted(self.relation_types.items()),
            "relation_thresholds": sorted(self.relation_thresholds.items()),
            "resolve": output_settings(self.resolve),
        }
        if self._taggers:  # only then: a schema without taggers keeps the key it had
            resolved["taggers"] = [tagger.model_key for _, tagger in sorted(self._taggers.items())]
        # one span a sentence (or no attribute read by QA) keeps the key it had before
        unread = self.reading is None or self.config.answers_per_context == 1
        unused = ("answers_per_context",) if unread else ()
        return stage_key(self.config, resolved, unused=unused)

    def __call__(
        self,
        chunks: Sequence[Chunk],
        mentions: Sequence[Mention],
        langs: Mapping[str, str] | None = None,
        relations: Sequence[MentionRelation] = (),
    ) -> list[MentionAttribute]:
        """Attributes of the local entities of ``mentions`` (by the id of a mention of each).

        ``langs`` maps document id to language code (for token-classification attributes);
        ``relations`` are the relation model's (between mention ids), which fill the
        attributes of :attr:`relation_types`.
        """
        self.refused = Counter()
        findings: list[_Finding] = self._from_relations(chunks, mentions, relations, langs or {})
        if self.reading is not None:
            result = self.reading(chunks, mentions, list(self.templates))
            self.refused.update(result.refused)
            reader = self.reading.reader
            findings += [
                _Finding(
                    self.templates[a.template],
                    a.head,
                    a.value,
                    a.chunk,
                    a.score,
                    reader.name,
                    reader.revision,
                    a.mention.id if a.mention is not None else None,
                )
                for a in result.answers
            ]
        for model in sorted({s.model for s in self.specs if s.model is not None}):
            specs = [s for s in self.specs if s.model == model]
            findings += self._tag(model, specs, chunks, mentions, langs or {})
        return self._choose(findings)

    # -- attributes from relations -----------------------------------------------------------

    def _from_relations(
        self,
        chunks: Sequence[Chunk],
        mentions: Sequence[Mention],
        relations: Sequence[MentionRelation],
        langs: Mapping[str, str],
    ) -> list[_Finding]:
        specs_of: dict[str, list[AttributeSpec]] = defaultdict(list)
        for spec, relation_type in self._relation_of.items():
            specs_of[relation_type].append(spec)
        wanted = [
            r
            for r in relations
            if r.type in specs_of and r.score >= self.relation_thresholds.get(r.type, 0.0)
        ]
        if not wanted:
            return []
        mention_of = {m.id: m for m in mentions}
        chunk_of = {c.id: c for c in chunks}
        entity_of: dict[str, LocalEntity] = {}
        by_doc: dict[str, list[Mention]] = defaultdict(list)
        for mention in mentions:
            by_doc[mention.doc_id].append(mention)
        heads = {r.head_mention for r in wanted}
        for doc_mentions in by_doc.values():
            if heads.isdisjoint(m.id for m in doc_mentions):
                continue  # no fact of an attribute type: nothing to group
            for entity in self.grouping(doc_mentions):
                entity_of.update((m.id, entity) for m in entity.mentions)
        findings = []
        for relation in wanted:
            head = entity_of.get(relation.head_mention)
            # the value is the tail's mention in the first evidence sentence that holds one
            read = [
                (mention_of[e.tail], chunk_of[e.provenance.chunk_id])
                for e in relation.evidence
                if e.tail in mention_of and e.provenance.chunk_id in chunk_of
            ]
            if head is None or not read:
                continue
            tail, chunk = next(
                ((m, c) for m, c in read if c.span.start <= m.span.start < c.span.end), read[0]
            )
            provenance = relation.evidence[0].provenance
            for spec in specs_of[relation.type]:
                if head.label != spec.entity_type:
                    continue
                value: str | int | float | None
                if spec.value_type in ENTITY_VALUE_TYPES:
                    value = " ".join(tail.text.split()) if tail.label in spec.value_range else None
                else:
                    lang = langs.get(tail.doc_id)
                    value = _own_name_refused(
                        normalise_value(tail.text, spec.value_type, lang, spec.unit), spec, head
                    )
                    if spec.value_type in NUMERIC_TYPES and is_a_date([tail], lang):
                        value = None  # a date the relation model took for an amount
                if value is None:
                    self.refused[tail.doc_id, spec.name] += 1
                    continue
                findings.append(
                    _Finding(
                        spec,
                        head,
                        value,
                        chunk,
                        relation.score,
                        provenance.model,
                        provenance.model_revision,
                        tail.id,
                        calibrated=True,
                    )
                )
        return findings

    # -- token-classification attributes ---------------------------------------------------

    def _tag(
        self,
        model: str,
        specs: Sequence[AttributeSpec],
        chunks: Sequence[Chunk],
        mentions: Sequence[Mention],
        langs: Mapping[str, str],
    ) -> list[_Finding]:
        tagger = self._taggers[model]
        chunk_of = {chunk.id: chunk for chunk in chunks}
        slots: list[tuple[AttributeSpec, LocalEntity, Chunk]] = []
        by_doc: dict[str, list[Mention]] = defaultdict(list)
        for mention in mentions:
            by_doc[mention.doc_id].append(mention)
        for doc_mentions in by_doc.values():
            for head in self.grouping(doc_mentions):
                ids = list(dict.fromkeys(m.provenance.chunk_id for m in head.mentions))
                read = [chunk_of[i] for i in ids if i in chunk_of][: self.config.max_contexts]
                slots += [(s, head, c) for s in specs if s.entity_type == head.label for c in read]
        tagged = list({chunk.id: chunk for _, _, chunk in slots}.values())
        found: dict[str, list[Mention]] = defaultdict(list)
        for mention in tagger(tagged, langs):
            found[mention.provenance.chunk_id].append(mention)
        findings = []
        for spec, head, chunk in slots:
            candidates = [
                m
                for m in found[chunk.id]
                if m.label == spec.label and not _overlaps(m, head.mentions)
            ]
            if not candidates:
                continue
            best = max(candidates, key=lambda m: (m.score, -m.span.start))
            value = _own_name_refused(
                normalise_value(best.text, spec.value_type, langs.get(best.doc_id), spec.unit),
                spec,
                head,
            )
            if value is None:
                self.refused[chunk.doc_id, spec.name] += 1
                continue
            findings.append(
                _Finding(
                    spec,
                    head,
                    value,
                    chunk,
                    best.score,
                    best.provenance.model,
                    best.provenance.model_revision,
                )
            )
        return findings

    # -- choosing ----------------------------------------------------------------------------

    def _choose(self, findings: Iterable[_Finding]) -> list[MentionAttribute]:
        """Per local entity and attribute: the best-scoring value, with its evidence.

        A date is the finest that agrees with the best-scoring one (:func:`finest_date`).
        """
        kept: dict[tuple[str, str], list[_Finding]] = defaultdict(list)
        ranked = sorted(findings, key=lambda f: (-f.score, f.chunk.span.start))
        for finding in ranked:
            threshold = finding.spec.threshold
            if threshold is None:
                threshold = 0.0 if finding.calibrated else self.config.threshold
            if finding.score < threshold:
                continue
            kept[finding.head.mentions[0].id, finding.spec.name].append(finding)
        attributes = []
        for (mention_id, name), found in kept.items():
            winner = found[0]
            if winner.spec.value_type == "date":
                winner = finest_date(winner, found, lambda f: f.value)
            value = winner.value
            support = [f for f in found if f.value == value]
            spec = support[0].spec
            attributes.append(
                MentionAttribute(
                    id=stable_id("attr", mention_id, name),
                    mention=mention_id,
                    key=name,
                    value=value,
                    value_type=spec.value_type,
                    score=min(1.0, max(0.0, support[0].score)),
                    evidence=tuple(self._evidence(f) for f in support),
                )
            )
        return attributes

    def _evidence(self, finding: _Finding) -> Evidence:
        chunk = finding.chunk
        return Evidence.of_chunk(
            chunk,
            score=min(1.0, max(0.0, finding.score)),
            model=finding.model,
            model_revision=finding.revision,
            run_id=self.run_id,
            stage=STAGE,
            head=nearest_mention(finding.head, chunk).id,
            tail=finding.tail,
        )


def _overlaps(mention: Mention, others: Iterable[Mention]) -> bool:
    return any(mention.span.start < m.span.end and m.span.start < mention.span.end for m in others)
