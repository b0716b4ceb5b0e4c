"""Attribute filling: slot values of entities (founding year, headquarters...) read from text.

The schema declares, per entity type, attributes with a question template ("When was
{name} founded?") and a value type. Within each document, the mentions of one name
and type are one local entity; its evidence sentences (the chunks that mention it, at
most ``max_contexts``) are read by the extractive QA model with the question filled
in (only sentences holding one of the attribute's ``cues``, when it has any). The best
span that clears the threshold, does not overlap the entity's own
mention and normalises as the declared type (dates to ISO 8601, numbers parsed) is the
value, with the sentence as evidence.

An attribute may name a token-classification model and label instead (``model``,
``label`` in the schema): then the best span of that label in the evidence sentences
is the value.

Attributes come out at mention level (``entity`` is a mention id, as relations' heads
are); :func:`kgbuild.graph.build.resolve_attributes` lifts them to resolved entities.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kgbuild.config import AttributeConfig, NerConfig
from kgbuild.data import Attribute, Chunk, Evidence, Mention, Provenance
from kgbuild.ids import stable_id
from kgbuild.models import resolve_task_model
from kgbuild.nlp.reader import ExtractiveReader, QaQuery
from kgbuild.progress import track
from kgbuild.schema import AttributeSpec, GraphSchema
from kgbuild.stages.values import normalise_value

__all__ = ["STAGE", "AttributeStage"]

log = logging.getLogger(__name__)

STAGE = "attributes"

READ_GROUP_BATCHES = 8
"""Model batches of questions read per reader call (the unit of progress reports)."""


@dataclass(frozen=True)
class _Slot:
    """One question to fill: an attribute of a local entity, over one evidence sentence."""

    spec: AttributeSpec
    mention: Mention  # the local entity's first mention (its id names the entity)
    chunk: Chunk
    own: tuple[tuple[int, int], ...]  # the entity's mentions in the chunk (chunk offsets)


@dataclass(frozen=True)
class _Finding:
    slot: _Slot
    start: int  # offsets in the chunk
    end: int
    score: float
    model: str
    revision: str


class AttributeStage:
    """Fill the schema's attributes for the entities mentioned in a batch of chunks.

    Args:
        config: Model, threshold and limits.
        schema: Declares the attributes (per entity type).
        run_id: Recorded in every attribute's provenance.
        progress: Report progress over the questions of a long batch (see
            :func:`kgbuild.progress.track`).
    """

    def __init__(
        self,
        config: AttributeConfig,
        *,
        schema: GraphSchema,
        run_id: str,
        progress: bool = False,
    ) -> None:
        self.config = config
        self.run_id = run_id
        self.progress = progress
        self.specs = schema.attributes
        self.reader: ExtractiveReader | None = None
        if any(spec.model is None for spec in self.specs):
            precision = config.precision
            self.reader = ExtractiveReader(
                resolve_task_model("qa", config.model),
                device=config.device,
                batch_size=config.batch_size,
                bf16=None if precision == "auto" else precision == "bf16",
            )
        self._taggers: dict[str, object] = {}

    @property
    def model_key(self) -> str:
        """The models and every setting that changes this stage's output."""
        reader = self.reader.key if self.reader else "none"
        specs = sorted(
            (s.name, s.entity_type, s.question, s.value_type, s.model or "", s.label or "", s.cues)
            for s in self.specs
        )
        cfg = self.config
        return f"{reader}|{cfg.threshold}|{cfg.max_contexts}|{specs}"

    def slots(self, chunks: Sequence[Chunk], mentions: Sequence[Mention]) -> list[_Slot]:
        """Every (attribute, local entity, evidence sentence) to read, in document order."""
        by_type: dict[str, list[AttributeSpec]] = defaultdict(list)
        for spec in self.specs:
            by_type[spec.entity_type].append(spec)
        chunk_of = {chunk.id: chunk for chunk in chunks}
        groups: dict[tuple[str, str, str], list[Mention]] = defaultdict(list)
        for mention in sorted(mentions, key=lambda m: (m.doc_id, m.span.start, m.id)):
            if mention.label in by_type and mention.provenance.chunk_id in chunk_of:
                key = (mention.doc_id, mention.label, " ".join(mention.text.casefold().split()))
                groups[key].append(mention)
        slots: list[_Slot] = []
        for (_, label, _), group in groups.items():
            in_chunk: dict[str, list[Mention]] = defaultdict(list)
            for mention in group:
                in_chunk[mention.provenance.chunk_id].append(mention)
            for chunk_id in list(in_chunk)[: self.config.max_contexts]:
                chunk = chunk_of[chunk_id]
                own = tuple(
                    (m.span.start - chunk.span.start, m.span.end - chunk.span.start)
                    for m in in_chunk[chunk_id]
                )
                lowered = chunk.text.casefold()
                slots.extend(
                    _Slot(spec, group[0], chunk, own)
                    for spec in by_type[label]
                    if not spec.cues or any(cue.casefold() in lowered for cue in spec.cues)
                )
        return slots

    def __call__(
        self,
        chunks: Sequence[Chunk],
        mentions: Sequence[Mention],
        langs: Mapping[str, str] | None = None,
    ) -> list[Attribute]:
        """Attributes of the local entities of ``mentions`` (``entity`` is a mention id).

        ``langs`` maps document id to language code (for token-classification attributes).
        """
        slots = self.slots(chunks, mentions)
        findings = self._read([s for s in slots if s.spec.model is None])
        for model in sorted({s.spec.model for s in slots if s.spec.model is not None}):
            slots_of_model = [s for s in slots if s.spec.model == model]
            findings += self._tag(model, slots_of_model, langs or {})
        return self._choose(findings)

    # -- reading ---------------------------------------------------------------------------

    def _read(self, slots: Sequence[_Slot]) -> list[_Finding]:
        if not slots or self.reader is None:
            return []
        reader = self.reader
        queries = [
            QaQuery(slot.spec.question.format(name=slot.mention.text), slot.chunk.text)
            for slot in slots
        ]
        group = reader.batch_size * READ_GROUP_BATCHES
        starts = range(0, len(queries), group)
        answers = [
            spans
            for start in track(
                starts, STAGE, enabled=self.progress, detail=f"{len(queries):,} questions"
            )
            for spans in reader.read_batch(queries[start : start + group], top_k=3)
        ]
        findings = []
        for slot, spans in zip(slots, answers, strict=True):
            for span in spans:
                if not _overlaps(span.start, span.end, slot.own):
                    findings.append(
                        _Finding(
                            slot, span.start, span.end, span.score, reader.name, reader.revision
                        )
                    )
                    break
        return findings

    def _tag(self, model: str, slots: Sequence[_Slot], langs: Mapping[str, str]) -> list[_Finding]:
        from kgbuild.stages.ner import NerStage

        tagger = self._taggers.get(model)
        if tagger is None:
            tagger = NerStage(NerConfig(model=model, device=self.config.device), run_id=self.run_id)
            self._taggers[model] = tagger
        assert isinstance(tagger, NerStage)
        chunks = list({slot.chunk.id: slot.chunk for slot in slots}.values())
        found: dict[str, list[Mention]] = defaultdict(list)
        for mention in tagger(chunks, langs):
            found[mention.provenance.chunk_id].append(mention)
        findings = []
        for slot in slots:
            offset = slot.chunk.span.start
            candidates = [
                m
                for m in found[slot.chunk.id]
                if m.label == slot.spec.label
                and not _overlaps(m.span.start - offset, m.span.end - offset, slot.own)
            ]
            if candidates:
                best = max(candidates, key=lambda m: (m.score, -m.span.start))
                findings.append(
                    _Finding(
                        slot,
                        best.span.start - offset,
                        best.span.end - offset,
                        best.score,
                        best.provenance.model,
                        best.provenance.model_revision,
                    )
                )
        return findings

    # -- choosing ----------------------------------------------------------------------------

    def _choose(self, findings: Iterable[_Finding]) -> list[Attribute]:
        """Per local entity and attribute: the best-scoring normalised value, with evidence."""
        best: dict[tuple[str, str], tuple[str | int | float, list[_Finding]]] = {}
        ranked = sorted(findings, key=lambda f: (-f.score, f.slot.chunk.span.start, f.start))
        for finding in ranked:
            spec = finding.slot.spec
            threshold = spec.threshold if spec.threshold is not None else self.config.threshold
            if finding.score < threshold:
                continue
            value = normalise_value(
                finding.slot.chunk.text[finding.start : finding.end], spec.value_type
            )
            if value is None:
                log.debug("%r is not a %s: dropped", finding, spec.value_type)
                continue
            key = (finding.slot.mention.id, spec.name)
            if key not in best:
                best[key] = (value, [finding])
            elif best[key][0] == value:
                best[key][1].append(finding)
        attributes = []
        for (mention_id, name), (value, support) in best.items():
            spec = support[0].slot.spec
            attributes.append(
                Attribute(
                    id=stable_id("attr", mention_id, name),
                    entity=mention_id,
                    key=name,
                    value=value,
                    value_type=spec.value_type,
                    score=support[0].score,
                    evidence=tuple(self._evidence(f) for f in support),
                )
            )
        return attributes

    def _evidence(self, finding: _Finding) -> Evidence:
        chunk = finding.slot.chunk
        return Evidence(
            provenance=Provenance(
                doc_id=chunk.doc_id,
                chunk_id=chunk.id,
                span=chunk.span,
                score=min(1.0, max(0.0, finding.score)),
                model=finding.model,
                model_revision=finding.revision,
                run_id=self.run_id,
                stage=STAGE,
            ),
            text=chunk.text,
        )


def _overlaps(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start < b and a < end for a, b in spans)
