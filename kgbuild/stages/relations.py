"""Relation extraction stage: typed entity markers + one pair classifier.

The classifier is a kgbuild :class:`~kgbuild.nlp.pair_classifier.EntityPairClassifier`
(it reads the hidden states at the two opening markers; what ``kgbuild train re``
makes) or any ``AutoModelForSequenceClassification`` trained on marked text.

preprocess (candidate ordered mention pairs the schema allows, marked text, token
ids) -> forward (every candidate of a call in length-sorted batches under
``torch.inference_mode``, bf16 autocast where supported) -> postprocess (softmax,
``no_relation`` and types the schema does not allow for the pair are dropped, score
threshold). Relations come out with MENTION ids as ``head``/``tail``; they are mapped
to entity ids after resolution.

A candidate is the chunk text with typed markers around the head and the tail::

    [H:PER] John Smith [/H] works for [T:ORG] Acme [/T] .

The marker tokens are added to the tokenizer at training time
(:func:`kgbuild.training.re.train_re`) and saved with it. :func:`mark_pair` and
:class:`MarkerEncoder` are shared with training, so the two cannot drift. A marked
text longer than the model's maximum is cut to a window around the two mentions
(all four markers always kept), never truncated silently.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from kgbuild.config import ReConfig
from kgbuild.data import Chunk, Evidence, Mention, MentionRelation, Span
from kgbuild.errors import ModelLoadError
from kgbuild.ids import stable_id
from kgbuild.models import resolve_task_model
from kgbuild.nlp.batching import length_batches
from kgbuild.nlp.hf import LoadedSequenceClassifier, load_sequence_classifier, runs_bf16
from kgbuild.progress import track
from kgbuild.schema import NO_RELATION, GraphSchema
from kgbuild.stages.registry import stage_key

__all__ = [
    "DEFAULT_MARKER_TYPES",
    "NO_RELATION",
    "Candidate",
    "EncodedPair",
    "MarkerEncoder",
    "ReConfig",
    "RelationStage",
    "classify",
    "mark_pair",
    "marker_tokens",
    "undo_negative_sampling",
]

log = logging.getLogger(__name__)

STAGE = "re"

DEFAULT_MARKER_TYPES = ("LOC", "MISC", "ORG", "PER")
"""Marker entity types of models that carry no manifest (the default schema's types)."""

HEAD_CLOSE = "[/H]"
TAIL_CLOSE = "[/T]"


# -- markers (shared with training) --------------------------------------------------------


def marker_tokens(entity_types: Sequence[str]) -> list[str]:
    """Return the marker tokens: ``[H:X]`` and ``[T:X]`` per type, then ``[/H]``, ``[/T]``.

    >>> marker_tokens(["PER"])
    ['[H:PER]', '[T:PER]', '[/H]', '[/T]']
    """
    tokens = [marker for kind in entity_types for marker in (f"[H:{kind}]", f"[T:{kind}]")]
    return [*tokens, HEAD_CLOSE, TAIL_CLOSE]


def mark_pair(
    text: str,
    head: tuple[int, int],
    head_label: str,
    tail: tuple[int, int],
    tail_label: str,
) -> str:
    """Insert typed entity markers around a head and a tail span of ``text``.

    Args:
        text: The sentence (or window) text.
        head: Character span ``[start, end)`` of the head in ``text``.
        head_label: Entity type of the head (the marker type, e.g. ``"PER"``).
        tail: Character span of the tail.
        tail_label: Entity type of the tail.

    Returns:
        str: ``text`` with ``[H:<type>] `` / `` [/H]`` around the head and
        ``[T:<type>] `` / `` [/T]`` around the tail.

    Raises:
        ValueError: A span is empty, outside ``text``, or the two spans overlap.

    >>> mark_pair("John works for Acme .", (0, 4), "PER", (15, 19), "ORG")
    '[H:PER] John [/H] works for [T:ORG] Acme [/T] .'
    """
    for start, end in (head, tail):
        if not 0 <= start < end <= len(text):
            raise ValueError(f"span [{start}, {end}) is empty or outside a text of {len(text)}")
    if head[0] < tail[1] and tail[0] < head[1]:
        raise ValueError(f"head {head} and tail {tail} overlap")
    spans = sorted(
        [(head, f"[H:{head_label}]", HEAD_CLOSE), (tail, f"[T:{tail_label}]", TAIL_CLOSE)]
    )
    pieces: list[str] = []
    position = 0
    for (start, end), opener, closer in spans:
        pieces += [text[position:start], f"{opener} ", text[start:end], f" {closer}"]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _window(n: int, first: tuple[int, int], second: tuple[int, int], budget: int) -> list[int]:
    """Indices of at most ``budget`` of ``n`` tokens that keep both marked ranges.

    ``first``/``second`` are the inclusive token ranges ``[open marker, close marker]``
    of the two mentions, ``first`` before ``second``. If the stretch from the first
    opening to the last closing marker fits, a contiguous window around it is kept;
    otherwise the two ranges (their inner tokens clipped if even they do not fit) plus
    the nearest context tokens of each.
    """
    if n <= budget:
        return list(range(n))
    (a0, a1), (b0, b1) = first, second
    if b1 - a0 + 1 <= budget:
        extra = budget - (b1 - a0 + 1)
        left = min(a0, extra // 2)
        right = min(n - 1 - b1, extra - left)
        left = min(a0, extra - right)
        return list(range(a0 - left, b1 + 1 + right))

    def clip(lo: int, hi: int, size: int) -> list[int]:
        return list(range(lo, hi + 1)) if hi - lo + 1 <= size else [*range(lo, lo + size - 1), hi]

    kept_a = clip(a0, a1, max(2, budget // 2))
    kept_b = clip(b0, b1, max(2, budget - len(kept_a)))
    kept_a = clip(a0, a1, max(2, budget - len(kept_b)))
    kept = set(kept_a) | set(kept_b)

    def distance(i: int) -> int:
        return min(abs(i - min(max(i, a0), a1)), abs(i - min(max(i, b0), b1)))

    rest = sorted(
        (i for i in range(n) if i not in kept and not a0 < i < a1 and not b0 < i < b1),
        key=lambda i: (distance(i), i),
    )
    kept.update(rest[: max(0, budget - len(kept))])
    return sorted(kept)


class MarkerEncoder:
    """Turns marked texts into model input ids, cutting windows around the markers.

    Args:
        tokenizer: A fast tokenizer that holds the marker tokens (as added tokens).
        markers: The marker tokens (see :func:`marker_tokens`).
        max_length: Maximum input length in tokens, special tokens included.

    Raises:
        ModelLoadError: A marker is not a single token of ``tokenizer``.
    """

    def __init__(self, tokenizer: Any, markers: Sequence[str], max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        ids: dict[int, str] = {}
        for marker in markers:
            pieces = tokenizer(marker, add_special_tokens=False)["input_ids"]
            if len(pieces) != 1:
                raise ModelLoadError(
                    f"marker {marker!r} is not one token of the tokenizer (got {len(pieces)}); "
                    f"was the model trained with 'kgbuild train re'?"
                )
            ids[int(pieces[0])] = marker
        self.marker_ids = ids
        self.markers = frozenset(markers)
        probe = tokenizer("a", add_special_tokens=False)["input_ids"]
        framed = list(tokenizer("a")["input_ids"])
        at = next(i for i in range(len(framed)) if framed[i : i + len(probe)] == probe)
        self.prefix, self.suffix = framed[:at], framed[at + len(probe) :]
        self.budget = max_length - len(self.prefix) - len(self.suffix)
        if self.budget < 4:
            raise ValueError(f"max_length {max_length} leaves no room for the four markers")

    def encode(self, text: str) -> tuple[list[int], bool]:
        """Return the input ids of a marked ``text`` and whether it was cut to a window.

        Raises:
            ValueError: ``text`` does not hold exactly four marker tokens.
        """
        encoded = self.encode_pair(text)
        return encoded.ids, encoded.windowed

    def encode_pair(self, text: str) -> EncodedPair:
        """:meth:`encode`, and how many tokens between the two mentions were not read.

        Raises:
            ValueError: ``text`` does not hold exactly four marker tokens.
        """
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        positions = [i for i, token in enumerate(ids) if token in self.marker_ids]
        if len(positions) != 4:
            raise ValueError(f"expected 4 entity markers in a candidate, found {len(positions)}")
        if len(ids) <= self.budget:
            return EncodedPair([*self.prefix, *ids, *self.suffix], windowed=False)
        p0, p1, p2, p3 = positions
        kept = _window(len(ids), (p0, p1), (p2, p3), self.budget)
        between = range(p1 + 1, p2)  # from the first mention's close to the second's open
        unread = len(between) - sum(1 for i in kept if p1 < i < p2)
        return EncodedPair(
            [*self.prefix, *(ids[i] for i in kept), *self.suffix],
            windowed=True,
            unread_between=unread,
        )


@dataclass(frozen=True)
class EncodedPair:
    """A candidate's input ids, whether it was cut to a window, and what that left out."""

    ids: list[int]
    windowed: bool
    """Longer than the model's input: read in a window around the two mentions."""
    unread_between: int = 0
    """Tokens between the two mentions left out (their inner tokens aside): 0 when the
    stretch from one mention to the other was read whole."""


def undo_negative_sampling(logits: torch.Tensor, no_relation: int, weight: float) -> torch.Tensor:
    """``logits`` with ``no_relation``'s probability times ``weight`` (after softmax).

    A model trained on a sample of the ``no_relation`` pairs (``weight`` = all / kept)
    under-rates that class; adding ``log(weight)`` to its logit puts it back.
    """
    if weight == 1.0:
        return logits
    shifted = logits.clone()
    shifted[..., no_relation] += math.log(weight)
    return shifted


def classify(
    loaded: LoadedSequenceClassifier,
    sequences: Sequence[Sequence[int]],
    *,
    batch_size: int = 32,
    bf16: bool = False,
    progress: bool = False,
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Class probabilities (softmax) of token-id sequences, in input order.

    Runs length-sorted batches under ``torch.inference_mode`` (bf16 autocast if asked).
    A model trained on a sample of the ``no_relation`` pairs records in its manifest
    how much to scale that class back up (``no_relation_weight``); the probabilities
    are corrected by it and renormalised.

    Returns:
        np.ndarray: Shape ``(len(sequences), number of classes)``.
    """
    n_classes = len(loaded.id2label)
    results = np.zeros((len(sequences), n_classes), dtype=np.float32)
    pad_id = loaded.tokenizer.pad_token_id or 0
    autocast = torch.autocast(loaded.device.type, dtype=torch.bfloat16, enabled=bf16)
    batches = length_batches([len(seq) for seq in sequences], batch_size)
    weight = float(loaded.manifest.get("no_relation_weight", 1.0))
    no_relation = next((i for i, name in loaded.id2label.items() if name == NO_RELATION), None)
    if no_relation is None:
        weight = 1.0
    with torch.inference_mode(), autocast:
        detail = f"{len(sequences):,} candidate pairs"
        for rows in track(batches, STAGE, enabled=progress, detail=detail):
            width = len(sequences[rows[0]])
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, index in enumerate(rows):
                seq = sequences[index]
                ids[r, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
                mask[r, : len(seq)] = 1
            logits = loaded.model(
                input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device)
            ).logits
            logits = undo_negative_sampling(logits.float(), no_relation or 0, weight)
            results[rows] = torch.softmax(logits, dim=-1).cpu().numpy()
    return results


# -- the stage ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """An ordered mention pair to classify, with the text it is read from."""

    head: Mention
    tail: Mention
    chunk: Chunk
    """The chunk of the head (provenance of the relation)."""
    span: Span
    """Document span of ``text`` (one chunk, or consecutive chunks)."""
    text: str
    """What the model reads: the chunks of ``span``, the whitespace between them as spaces."""
    window: tuple[Chunk, ...] = ()
    """The chunks of ``span``, in order (empty: ``chunk`` alone)."""


def _allowed_types(schema: GraphSchema) -> dict[tuple[str, str], frozenset[str]]:
    allowed: dict[tuple[str, str], set[str]] = defaultdict(set)
    for relation in schema.relation_types:
        for head in relation.domain:
            for tail in relation.range:
                allowed[head, tail].add(relation.name)
    return {pair: frozenset(names) for pair, names in allowed.items()}


class RelationStage:
    """Entity-marker relation classification over mention pairs; returns Relations."""

    def __init__(
        self,
        config: ReConfig | None = None,
        *,
        schema: GraphSchema,
        run_id: str,
        progress: bool = False,
    ) -> None:
        self.config = config or ReConfig()
        self.schema = schema
        self.run_id = run_id
        self.progress = progress
        self.bf16 = runs_bf16(self.config.precision, self.config.device)
        self.loaded: LoadedSequenceClassifier = load_sequence_classifier(
            resolve_task_model("re", self.config.model), device=self.config.device, bf16=self.bf16
        )
        manifest = self.loaded.manifest
        self.marker_types = tuple(
            str(t) for t in manifest.get("entity_types", DEFAULT_MARKER_TYPES)
        )
        # The length the model was trained with (its candidates were windowed the same way).
        max_length = min(
            int(manifest.get("max_length", self.loaded.max_length)), self.loaded.max_length
        )
        self.encoder = MarkerEncoder(
            self.loaded.tokenizer, marker_tokens(self.marker_types), max_length
        )
        self.allowed = _allowed_types(schema)
        self.types = {
            index: self.config.label_map.get(label, label)
            for index, label in self.loaded.id2label.items()
        }
        unknown = sorted(
            {t for t in self.types.values() if t != NO_RELATION} - schema.relation_names
        )
        if unknown:
            log.warning(
                "relation model %s predicts types the schema does not declare (dropped): %s",
                self.loaded.name,
                unknown,
            )

    UNUSED_SETTINGS = frozenset({"min_precision", "evidence_mass"})
    """Fields of :class:`ReConfig` only the document-level stage reads (not in the key)."""

    @property
    def model_key(self) -> str:
        """The config's output fields, the model revision, the precision and the schema."""
        schema_digest = hashlib.sha256(
            repr(sorted((k, sorted(v)) for k, v in self.allowed.items())).encode()
        ).hexdigest()[:12]
        return stage_key(
            self.config,
            {
                "model": f"{self.loaded.name}@{self.loaded.revision}",
                "precision": "bf16" if self.bf16 else "fp32",
                "level": "sentence",
                "schema": schema_digest,
            },
            unused=self.UNUSED_SETTINGS,
        )

    def __call__(
        self, chunks: Sequence[Chunk], mentions: Sequence[Mention]
    ) -> list[MentionRelation]:
        """Find relations between ``mentions`` (of ``chunks``); head/tail are mention ids."""
        candidates = self.candidates(chunks, mentions)
        if not candidates:
            return []
        encoded = [self._encode(candidate) for candidate in candidates]
        self._report_unread(candidates, encoded)
        sequences = [e.ids for e in encoded]
        probs = classify(
            self.loaded,
            sequences,
            batch_size=self.config.batch_size,
            bf16=self.bf16,
            progress=self.progress,
        )
        return self._postprocess(candidates, probs)

    # -- preprocess ---------------------------------------------------------------------------

    def _marker_type(self, label: str) -> str:
        return self.config.entity_label_map.get(label, label)

    def candidates(self, chunks: Sequence[Chunk], mentions: Sequence[Mention]) -> list[Candidate]:
        """Ordered mention pairs that the schema and the distance limits allow, in order."""
        cfg = self.config
        by_chunk: dict[str, list[Mention]] = defaultdict(list)
        for mention in mentions:
            by_chunk[mention.provenance.chunk_id].append(mention)
        doc_chunks: dict[str, list[Chunk]] = defaultdict(list)
        for chunk in chunks:
            doc_chunks[chunk.doc_id].append(chunk)
        out: list[Candidate] = []
        for doc_id in dict.fromkeys(chunk.doc_id for chunk in chunks):
            ordered = sorted(doc_chunks[doc_id], key=lambda c: c.span.start)
            position = {chunk.id: i for i, chunk in enumerate(ordered)}
            located = sorted(
                (
                    (position[m.provenance.chunk_id], m)
                    for chunk in ordered
                    for m in by_chunk.get(chunk.id, ())
                ),
                key=lambda item: (item[1].span.start, item[1].span.end, item[1].id),
            )
            # Mentions sorted by start: for a fixed first mention the gap to later ones
            # only grows, so the scan stops at the distance limit.
            for i, (ci, first) in enumerate(located):
                for cj, second in located[i + 1 :]:
                    if second.span.start - first.span.end > cfg.max_distance_chars:
                        break
                    if cfg.same_sentence_only and ci != cj:
                        continue
                    for (hi, head), (ti, tail) in (
                        ((ci, first), (cj, second)),
                        ((cj, second), (ci, first)),
                    ):
                        if self._admissible(head, tail):
                            window = ordered[min(hi, ti) : max(hi, ti) + 1]
                            out.append(self._candidate(window, ordered[hi], head, tail))
        return out

    def _admissible(self, head: Mention, tail: Mention) -> bool:
        if head.id == tail.id or (head.label, tail.label) not in self.allowed:
            return False
        if head.span.start < tail.span.end and tail.span.start < head.span.end:
            return False  # overlapping mentions cannot both be marked
        if self._marker_type(head.label) not in self.marker_types or (
            self._marker_type(tail.label) not in self.marker_types
        ):
            log.debug("no marker type for %s/%s: pair skipped", head.label, tail.label)
            return False
        return True

    @staticmethod
    def _candidate(
        window: Sequence[Chunk], chunk: Chunk, head: Mention, tail: Mention
    ) -> Candidate:
        start, end = window[0].span.start, window[-1].span.end
        buffer = [" "] * (end - start)
        for part in window:  # gaps between chunks become spaces; offsets stay exact
            buffer[part.span.start - start : part.span.end - start] = list(part.text)
        return Candidate(
            head=head,
            tail=tail,
            chunk=chunk,
            span=Span(start=start, end=end),
            text="".join(buffer),
            window=tuple(window),
        )

    def _report_unread(
        self, candidates: Sequence[Candidate], encoded: Sequence[EncodedPair]
    ) -> None:
        """A WARNING per document whose pairs were read without the text between them."""
        pairs: dict[str, int] = defaultdict(int)
        tokens: dict[str, int] = defaultdict(int)
        for candidate, e in zip(candidates, encoded, strict=True):
            if e.unread_between:
                pairs[candidate.chunk.doc_id] += 1
                tokens[candidate.chunk.doc_id] += e.unread_between
        for doc_id, count in pairs.items():
            log.warning(
                "document %s: %d candidate pairs are farther apart than relation model %s "
                "reads (%d tokens): %d tokens between their mentions were not read "
                "(re.max_distance_chars %d lets such pairs be candidates)",
                doc_id,
                count,
                self.loaded.name,
                self.encoder.max_length,
                tokens[doc_id],
                self.config.max_distance_chars,
            )

    def _encode(self, candidate: Candidate) -> EncodedPair:
        offset = candidate.span.start
        head, tail = candidate.head, candidate.tail
        marked = mark_pair(
            candidate.text,
            (head.span.start - offset, head.span.end - offset),
            self._marker_type(head.label),
            (tail.span.start - offset, tail.span.end - offset),
            self._marker_type(tail.label),
        )
        encoded = self.encoder.encode_pair(marked)
        if encoded.windowed:
            log.debug(
                "candidate %s -> %s in %s is longer than %d tokens: read in a window "
                "around the two mentions",
                head.id,
                tail.id,
                candidate.chunk.id,
                self.encoder.max_length,
            )
        return encoded

    # -- postprocess --------------------------------------------------------------------------

    def _postprocess(
        self, candidates: Sequence[Candidate], probs: np.ndarray[Any, np.dtype[np.float32]]
    ) -> list[MentionRelation]:
        relations: list[MentionRelation] = []
        for candidate, row in zip(candidates, probs, strict=True):
            best = int(np.argmax(row))
            kind = self.types[best]
            score = float(row[best])
            if kind == NO_RELATION or score < self.config.threshold:
                continue
            if kind not in self.allowed.get((candidate.head.label, candidate.tail.label), ()):
                continue
            score = min(1.0, max(0.0, score))
            relations.append(
                MentionRelation(
                    id=stable_id("rel", candidate.head.id, kind, candidate.tail.id),
                    head_mention=candidate.head.id,
                    tail_mention=candidate.tail.id,
                    type=kind,
                    score=score,
                    evidence=self._evidence(candidate, score),
                )
            )
        return relations

    def _evidence(self, candidate: Candidate, score: float) -> tuple[Evidence, ...]:
        """One evidence entry per sentence read, the head's first.

        A pair across sentences (``same_sentence_only: false``) was read over several
        chunks: each is an entry of its own, its text the document's at its offsets (the
        model's text has spaces where the document has line breaks).
        """
        window = candidate.window or (candidate.chunk,)
        ordered = [candidate.chunk, *(c for c in window if c.id != candidate.chunk.id)]
        return tuple(
            Evidence.of_chunk(
                chunk,
                score=score,
                model=self.loaded.name,
                model_revision=self.loaded.revision,
                run_id=self.run_id,
                stage=STAGE,
                head=candidate.head.id,
                tail=candidate.tail.id,
            )
            for chunk in ordered
        )
