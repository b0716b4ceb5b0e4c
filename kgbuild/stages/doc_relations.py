"""Document-level relation stage: every entity pair of a document window, in one pass each.

preprocess: the mentions of each document are grouped into local entities (the same
resolution rules as the graph's, run within the document; an entity's type is the vote
of its mentions), the document is cut into marked windows of whole sentences
(:func:`kgbuild.nlp.doc_windows.encode_windows`), and the candidates are the ordered
entity pairs of each window whose types the schema allows for some relation type.
forward: one encoder pass per window (:func:`kgbuild.nlp.doc_relations.score_windows`),
length-sorted batches, bf16 autocast where supported. postprocess: margins become
calibrated probabilities (the model's Platt map); a type is kept when the schema allows it
for the pair and its probability reaches the type's threshold for ``min_precision``; a
pair read in several windows keeps its best score. Types given a lower threshold of their
own (:meth:`DocRelationStage.keep_below`: the attribute step's operating point) also keep
the facts between the two thresholds, apart (:attr:`DocRelationStage.below`).

A relation comes out with the first mention (in text order) of its head and of its tail
entity as ``head``/``tail`` (lifted to resolved entities after resolution), its calibrated
probability as score, and one evidence entry per evidence sentence: the sentences that
hold at least ``evidence_mass`` of the pair's attention (at least the strongest one), each
naming the head's and the tail's mentions it holds (or the nearest ones).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from kgbuild.config import ReConfig
from kgbuild.data import Chunk, Evidence, Mention, MentionRelation
from kgbuild.ids import stable_id
from kgbuild.models import resolve_task_model
from kgbuild.nlp.calibration import Platt, precision_at
from kgbuild.nlp.doc_relations import WindowPairs, WindowScores, score_windows
from kgbuild.nlp.doc_windows import MentionSpan, encode_windows
from kgbuild.nlp.hf import (
    LoadedModel,
    load_doc_relation_model_ref,
    runs_bf16,
)
from kgbuild.progress import track
from kgbuild.schema import GraphSchema
from kgbuild.stages.grouping import LocalEntity, local_entities
from kgbuild.stages.registry import output_settings, stage_key
from kgbuild.stages.resolve import ResolveConfig

__all__ = ["DocRelationStage", "nearest_mention"]

log = logging.getLogger(__name__)

STAGE = "re"


@dataclass
class _PairFacts:
    """What the windows of a document found for one entity pair (see ``_collect``)."""

    probabilities: dict[int, float] = field(default_factory=dict)
    """Type column -> best probability among the windows where it passed."""
    best_margin: float = -np.inf
    sentences: tuple[int, ...] = ()
    """Document sentence index of each entry of ``mass``."""
    mass: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0, np.float32))
    """The pair's attention per sentence of its evidence window."""


@dataclass(frozen=True)
class _DocumentPlan:
    """One document's chunks, entities and windows (with their window-entity maps)."""

    doc_id: str
    chunks: tuple[Chunk, ...]
    entities: tuple[LocalEntity, ...]
    windows: tuple[tuple[WindowPairs, tuple[int, ...]], ...]


class DocRelationStage:
    """Document-level relation extraction over NER mentions; returns mention-level Relations."""

    def __init__(
        self,
        config: ReConfig | None = None,
        *,
        schema: GraphSchema,
        run_id: str,
        resolve: ResolveConfig | None = None,
        progress: bool = False,
    ) -> None:
        self.config = config or ReConfig()
        self.schema = schema
        self.run_id = run_id
        self.resolve = resolve or ResolveConfig()
        self.progress = progress
        self.grouping: Callable[[Sequence[Mention]], list[LocalEntity]] = partial(
            local_entities, config=self.resolve
        )
        """How one document's mentions become entities (evaluation swaps in gold ones)."""
        self.bf16 = runs_bf16(self.config.precision, self.config.device)
        self.loaded: LoadedModel = load_doc_relation_model_ref(
            resolve_task_model("re", self.config.model), device=self.config.device, bf16=self.bf16
        )
        manifest = self.loaded.manifest
        self.max_length = min(int(manifest.get("max_length", 512)), self.loaded.max_length)
        self.overlap = float(manifest.get("overlap", 0.25))
        calibration = manifest.get("calibration", {})
        self.platt = Platt(
            float(calibration.get("scale", 1.0)), float(calibration.get("bias", 0.0))
        )
        labels = [self.loaded.id2label[i] for i in range(1, len(self.loaded.id2label))]
        self.labels = labels
        """The model's relation labels, one per score column."""
        self.types: list[str | None] = [
            self.schema.relation_for_label(self.config.label_map.get(label, label))
            for label in labels
        ]
        self.thresholds = self.column_thresholds(self.config.min_precision)
        unknown = [label for label, kind in zip(labels, self.types, strict=True) if kind is None]
        if unknown:
            log.warning(
                "relation model %s predicts %d types the schema does not declare (dropped): %s",
                self.loaded.name,
                len(unknown),
                unknown[:10],
            )
        self.allowed = self._allowed_columns()
        self._masks: dict[tuple[str, str], np.ndarray[Any, Any]] = {}
        self.entity_labels = frozenset(label for pair in self.allowed for label in pair)
        self.floors: np.ndarray[Any, Any] | None = None
        """Per score column: the lower threshold of :meth:`keep_below` (``None``: none set)."""
        self.below: list[MentionRelation] = []
        """The last call's facts between a type's :attr:`floors` and :attr:`thresholds`:
        not returned as relations (their precision is that of the lower point)."""

    def column_thresholds(self, min_precision: float) -> np.ndarray[Any, Any]:
        """Per score column: the calibrated threshold stored for ``min_precision``."""
        stored = self.loaded.manifest.get("precision_thresholds")
        cut = precision_at(stored, min_precision) if stored else {}
        return np.asarray([float(cut.get(label, cut.get("*", 0.5))) for label in self.labels])

    def type_thresholds(self, min_precision: float) -> dict[str, float]:
        """Per schema relation type: its threshold for ``min_precision`` (strictest column)."""
        out: dict[str, float] = {}
        for kind, threshold in zip(self.types, self.column_thresholds(min_precision), strict=True):
            if kind is not None:
                out[kind] = max(out.get(kind, 0.0), float(threshold))
        return out

    def keep_below(self, thresholds: Mapping[str, float]) -> None:
        """Also keep, apart in :attr:`below`, facts of these types down to these thresholds.

        A type's facts at or above its own threshold are returned as before; those between
        the given threshold (when lower) and its own are collected in :attr:`below` (the
        attribute step reads them at its own operating point, below the relations').
        """
        floors = np.full(len(self.types), np.inf)
        for column, kind in enumerate(self.types):
            floor = thresholds.get(kind) if kind is not None else None
            if floor is not None and floor < self.thresholds[column]:
                floors[column] = floor
        self.floors = floors if np.isfinite(floors).any() else None

    def keep_only(self, types: Collection[str]) -> None:
        """Read these schema relation types alone (the attribute stage's own relations)."""
        wanted = set(types)
        self.types = [kind if kind in wanted else None for kind in self.types]
        self.allowed = self._allowed_columns()
        self._masks = {}
        self.entity_labels = frozenset(label for pair in self.allowed for label in pair)

    def _allowed_columns(self) -> dict[tuple[str, str], np.ndarray[Any, Any]]:
        by_name = {r.name: r for r in self.schema.relation_types}
        allowed: dict[tuple[str, str], list[int]] = defaultdict(list)
        for column, kind in enumerate(self.types):
            if kind is None:
                continue
            relation = by_name[kind]
            for head in relation.domain:
                for tail in relation.range:
                    allowed[head, tail].append(column)
        return {pair: np.asarray(columns) for pair, columns in allowed.items()}

    UNUSED_SETTINGS = frozenset({"threshold", "max_distance_chars", "same_sentence_only"})
    """Fields of :class:`ReConfig` only the sentence-level stage reads (not in the key)."""

    @property
    def model_key(self) -> str:
        """The config's output fields plus model revision, precision, resolution and schema."""
        schema_digest = hashlib.sha256(
            repr(sorted((k, v.tolist()) for k, v in self.allowed.items())).encode()
        ).hexdigest()[:12]
        # a re-calibrated model keeps its weights (and revision) but keeps other facts
        floors = None if self.floors is None else self.floors.tolist()
        calibration_digest = hashlib.sha256(
            repr((self.platt.scale, self.platt.bias, self.thresholds.tolist(), floors)).encode()
        ).hexdigest()[:12]
        return stage_key(
            self.config,
            {
                "model": f"{self.loaded.name}@{self.loaded.revision}",
                "precision": "bf16" if self.bf16 else "fp32",
                "level": "document",
                "resolve": output_settings(self.resolve),
                "schema": schema_digest,
                "calibration": calibration_digest,
            },
            unused=self.UNUSED_SETTINGS,
        )

    def __call__(
        self, chunks: Sequence[Chunk], mentions: Sequence[Mention]
    ) -> list[MentionRelation]:
        """Find relations between ``mentions`` (of ``chunks``); head/tail are mention ids."""
        self.below = []
        plans = self._plan(chunks, mentions)
        owners = [(plan, window, ids) for plan in plans for window, ids in plan.windows]
        if not any(window.pairs for _, window, _ in owners):
            return []
        found: dict[str, dict[tuple[int, int], _PairFacts]] = {p.doc_id: {} for p in plans}
        below: dict[str, dict[tuple[int, int], _PairFacts]] = {p.doc_id: {} for p in plans}
        floors = self.floors

        def collect(index: int, scores: WindowScores) -> None:
            plan, window, ids = owners[index]
            targets = [(found[plan.doc_id], self.thresholds)]
            if floors is not None:
                targets.append((below[plan.doc_id], floors))
            self._collect(targets, plan, window, ids, scores)

        score_windows(
            self.loaded.model,
            [window for _, window, _ in owners],
            pad_id=self.loaded.tokenizer.pad_token_id or 0,
            batch_size=self.config.window_batch_size,
            bf16=self.bf16,
            batches=lambda batches: track(
                batches, STAGE, enabled=self.progress, detail=f"{len(owners):,} windows"
            ),
            on_scored=collect,
        )
        for plan in plans:
            kept, lower = found[plan.doc_id], below[plan.doc_id]
            for pair, facts in lower.items():  # a relation already: passed its own point
                for column in kept[pair].probabilities if pair in kept else ():
                    facts.probabilities.pop(column, None)
            self.below.extend(self._relations(plan, lower))
        return [r for plan in plans for r in self._relations(plan, found[plan.doc_id])]

    # -- preprocess -------------------------------------------------------------------------

    def _plan(self, chunks: Sequence[Chunk], mentions: Sequence[Mention]) -> list[_DocumentPlan]:
        by_doc: dict[str, list[Chunk]] = defaultdict(list)
        for chunk in chunks:
            by_doc[chunk.doc_id].append(chunk)
        mentions_by_doc: dict[str, list[Mention]] = defaultdict(list)
        for mention in mentions:
            mentions_by_doc[mention.doc_id].append(mention)
        plans = []
        for doc_id, doc_chunks in by_doc.items():
            ordered = tuple(sorted(doc_chunks, key=lambda c: c.span.start))
            entities = tuple(
                e
                for e in self.grouping(mentions_by_doc.get(doc_id, []))
                if self._marker_label(e.label) in self.entity_labels
            )
            plans.append(_DocumentPlan(doc_id, ordered, entities, self._windows(ordered, entities)))
        return plans

    def _marker_label(self, label: str) -> str:
        return self.config.entity_label_map.get(label, label)

    def _windows(
        self, chunks: Sequence[Chunk], entities: Sequence[LocalEntity]
    ) -> tuple[tuple[WindowPairs, tuple[int, ...]], ...]:
        if len(entities) < 2:
            return ()
        start, end = chunks[0].span.start, chunks[-1].span.end
        buffer = [" "] * (end - start)
        for chunk in chunks:  # gaps between chunks become spaces; offsets stay exact
            buffer[chunk.span.start - start : chunk.span.end - start] = list(chunk.text)
        spans = [
            MentionSpan(m.span.start - start, m.span.end - start, index)
            for index, entity in enumerate(entities)
            for m in entity.mentions
        ]
        labels = [self._marker_label(e.label) for e in entities]
        out = []
        for window in encode_windows(
            self.loaded.tokenizer,
            "".join(buffer),
            [(c.span.start - start, c.span.end - start) for c in chunks],
            spans,
            max_length=self.max_length,
            overlap=self.overlap,
        ):
            # pairs grouped by their types' allowed columns: only those are computed
            by_types: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
            for h, head in enumerate(window.entities):
                for t, tail in enumerate(window.entities):
                    if h != t and (labels[head], labels[tail]) in self.allowed:
                        by_types[labels[head], labels[tail]].append((h, t))
            kinds = sorted(by_types)
            out.append(
                (
                    WindowPairs(
                        window.input_ids,
                        [pair for kind in kinds for pair in by_types[kind]],
                        window.entity_positions,
                        window.token_sentences,
                        window.sentences,
                        column_sets=[self.allowed[kind].tolist() for kind in kinds],
                        pair_sets=[n for n, kind in enumerate(kinds) for _ in by_types[kind]],
                    ),
                    window.entities,
                )
            )
        return tuple(out)

    # -- postprocess ------------------------------------------------------------------------

    def _allowed_mask(self, head_label: str, tail_label: str) -> np.ndarray[Any, Any]:
        """Which score columns a (head, tail) label pair may take, as a boolean row."""
        key = (self._marker_label(head_label), self._marker_label(tail_label))
        mask = self._masks.get(key)
        if mask is None:
            mask = np.zeros(len(self.types), dtype=np.bool_)
            mask[self.allowed.get(key, [])] = True
            self._masks[key] = mask
        return mask

    def _pair_masks(
        self, labels: Sequence[str], pairs: np.ndarray[Any, Any]
    ) -> np.ndarray[Any, Any]:
        """``(P, types)``: the columns each (head, tail) pair of window entities may take."""
        distinct = sorted(set(labels))
        code = {label: i for i, label in enumerate(distinct)}
        table = np.stack([np.stack([self._allowed_mask(a, b) for b in distinct]) for a in distinct])
        codes = np.asarray([code[label] for label in labels])
        mask: np.ndarray[Any, Any] = table[codes[pairs[:, 0]], codes[pairs[:, 1]]]
        return mask

    def _collect(
        self,
        targets: Sequence[tuple[dict[tuple[int, int], _PairFacts], np.ndarray[Any, Any]]],
        plan: _DocumentPlan,
        window: WindowPairs,
        ids: Sequence[int],
        scores: WindowScores,
    ) -> None:
        """Keep a window's passing (pair, type) candidates; drop the rest of its scores.

        ``targets``: ``(found, thresholds)`` pairs; a candidate goes into each ``found``
        whose column threshold its probability reaches (probabilities computed once).

        A type holds for a pair when its calibrated probability reaches the type's threshold
        in some window; its score is the best such probability (a pair read in several
        windows keeps its best). The evidence comes from the window where the pair's best
        passing candidate has its highest margin. Only passing candidates are kept, so the
        memory of a long document grows with its facts, not with its pairs.
        """
        allowed = self._pair_masks(
            [plan.entities[i].label for i in ids], np.asarray(window.pairs).reshape(-1, 2)
        )
        probabilities = self.platt(scores.margins)
        for found, thresholds in targets:
            passing = allowed & (probabilities >= thresholds)
            for row in np.flatnonzero(passing.any(axis=1)).tolist():
                h, t = window.pairs[row]
                columns = np.flatnonzero(passing[row])
                facts = found.setdefault((ids[h], ids[t]), _PairFacts())
                for column in columns.tolist():
                    best = max(facts.probabilities.get(column, 0.0), probabilities[row, column])
                    facts.probabilities[column] = float(best)
                top = float(scores.margins[row, columns].max())
                if top > facts.best_margin:
                    facts.best_margin = top
                    facts.sentences = tuple(window.sentences)
                    facts.mass = scores.sentence_attention[row].copy()

    def _relations(
        self, plan: _DocumentPlan, found: dict[tuple[int, int], _PairFacts]
    ) -> list[MentionRelation]:
        """The facts of a document, by head, then tail (entity order), then type column."""
        out = []
        for (h, t), facts in sorted(found.items()):
            if not facts.probabilities:
                continue
            head, tail = plan.entities[h], plan.entities[t]
            for column, probability in sorted(facts.probabilities.items()):
                kind = self.types[column]
                assert kind is not None  # allowed columns have a schema type
                score = min(1.0, max(0.0, probability))
                out.append(
                    MentionRelation(
                        id=stable_id("rel", head.mentions[0].id, kind, tail.mentions[0].id),
                        head_mention=head.mentions[0].id,
                        tail_mention=tail.mentions[0].id,
                        type=kind,
                        score=score,
                        evidence=self._evidence(plan, facts, head, tail, score),
                    )
                )
        return out

    def _evidence(
        self,
        plan: _DocumentPlan,
        facts: _PairFacts,
        head: LocalEntity,
        tail: LocalEntity,
        score: float,
    ) -> tuple[Evidence, ...]:
        mass = facts.mass
        local = [int(i) for i in np.flatnonzero(mass >= self.config.evidence_mass)]
        if not local:
            local = [int(np.argmax(mass))]
        for entity in (head, tail):
            local += _naming(entity, plan.chunks, facts, local)
        out = []
        for index in (facts.sentences[i] for i in local):
            chunk = plan.chunks[index]
            out.append(
                Evidence.of_chunk(
                    chunk,
                    score=score,
                    model=self.loaded.name,
                    model_revision=self.loaded.revision,
                    run_id=self.run_id,
                    stage=STAGE,
                    head=nearest_mention(head, chunk).id,
                    tail=nearest_mention(tail, chunk).id,
                )
            )
        return tuple(out)


def _holds(chunk: Chunk, entity: LocalEntity) -> bool:
    return any(chunk.span.start <= m.span.start < chunk.span.end for m in entity.mentions)


def _naming(
    entity: LocalEntity, chunks: Sequence[Chunk], facts: _PairFacts, chosen: Sequence[int]
) -> list[int]:
    """The window sentence naming ``entity`` that holds the most of the pair's attention.

    ``[]`` when a ``chosen`` sentence names it already, or none of the window does. The
    attention may rest on a sentence naming neither (a title line): evidence without the
    value, or without the entity, shows a reader nothing to check the fact by.
    """
    if any(_holds(chunks[facts.sentences[i]], entity) for i in chosen):
        return []
    naming = [i for i, index in enumerate(facts.sentences) if _holds(chunks[index], entity)]
    return [max(naming, key=lambda i: (float(facts.mass[i]), -i))] if naming else []


def nearest_mention(entity: LocalEntity, chunk: Chunk) -> Mention:
    """The entity's mention inside ``chunk``, else the one closest to it."""

    def distance(mention: Mention) -> int:
        if mention.span.end <= chunk.span.start:
            return chunk.span.start - mention.span.end
        if mention.span.start >= chunk.span.end:
            return mention.span.start - chunk.span.end
        return 0

    return min(entity.mentions, key=lambda m: (distance(m), m.span.start))
