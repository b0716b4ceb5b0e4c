"""Document-level relation model: one encoder pass per window, every entity pair classified.

The architecture is ATLOP (Zhou et al. 2021, "Document-Level Relation Extraction with
Adaptive Thresholding and Localized Context Pooling") with DREEAM's evidence guidance
(Ma et al. 2023):

* an entity is the log-sum-exp of the encoder's states at the opening markers of its
  mentions (see :mod:`kgbuild.nlp.doc_windows`);
* a pair's *localized context* is the encoder's last-layer attention from the head's
  mentions times the tail's (averaged over heads and mentions, normalised), pooled over
  the tokens: the words both entities attend to;
* head and tail each go through a tanh layer with that context, then a grouped bilinear
  layer scores every relation type;
* class 0 is the adaptive threshold (``TH``): a type holds for a pair when its logit beats
  the pair's threshold logit, trained with the adaptive-thresholding loss;
* the same pair attention, summed per sentence, names the evidence sentences; with gold
  evidence it is trained towards it (a KL term, weight ``evidence_weight``).

The last-layer attention is recomputed for the marker rows only, from the last layer's
query and key projections (BERT-family encoders), so the encoder runs with its fast
attention kernel and nothing of size ``layers x heads x L x L`` is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kgbuild.nlp.batching import SHAPE_MULTIPLE, length_batches, pad_batch, shape_bucket

__all__ = [
    "ENTITY_ATTENTION",
    "HEAD_FILE",
    "LEGACY_ENTITY_ATTENTION",
    "THRESHOLD_CLASS",
    "DocPrediction",
    "DocRelationModel",
    "PairBatch",
    "WindowPairs",
    "WindowScores",
    "adaptive_threshold_loss",
    "evidence_loss",
    "load_doc_relation_model",
    "merge_windows",
    "pair_batch",
    "score_windows",
]

THRESHOLD_CLASS = "TH"
"""Label of class 0: the learned per-pair threshold (a pair's "no relation")."""

ENTITY_ATTENTION = "mean"
"""Manifest ``entity_attention`` of models trained now: an entity's attention is the mean of
its mentions' last-layer attention rows."""

LEGACY_ENTITY_ATTENTION = "legacy"
"""What a manifest without ``entity_attention`` means: trained with the first entity of a
window missing its first mention's row whenever another entity had more mentions (a
scatter that wrote padding over it). Read the way it was trained: the ``re-docred-minilm``
shipped before 2026-12-03 scored gold-entity F1 39.60 / end-to-end 33.93 on Re-DocRED docs
0-99 with the mean instead of 39.66 / 34.38."""

HEAD_FILE = "doc_relation_head.safetensors"
"""The pair layers of a fully fine-tuned :class:`DocRelationModel`."""

_PAIR_CHUNK = 512
"""Pairs scored at once: a chunk's (pairs x tokens) attention and (pairs x 24,576)
bilinear features then stay in the CPU's caches. 2,048 was 2.6x slower on a
window of 5,000 pairs (logits equal to 2.4e-4, bf16 rounding)."""

_NARROW_COLUMNS = 32
"""A pair set of at most this many classes multiplies the heads by the weight first (one
``(groups, rows, block) x (groups, block, block x C)`` product) and then by the tails,
instead of forming the ``(rows, block^2)`` outer products per group: reading those
dominated a narrow product. On a 2-core AVX2 CPU, 64 pairs x 16 classes 1.5 ms against
2.1, 256 x 26 10.9 against 14.1; all 35,362 pairs of 100 Re-DocRED documents 1.1 s of pair
layers against 2.0 s with every class."""

_NARROW_ROWS = 256
"""Rows per narrow product: at 512 pairs x 26 classes its ``(groups, rows, block, C)``
intermediate outgrew the caches (21 ms against 9 by outer products)."""

_SCORED_TOGETHER = 16_384
"""Pairs whose representations :func:`score_windows` gathers (about 50 MB) before scoring
them together: memory stays bounded on a long document."""

_PAIR_ROWS = 64
"""At inference a chunk of pairs is scored in a multiple of this many rows (repeats of its
first pair, dropped after), so that oneDNN's kernels for the pair layers come in a few
shapes (:func:`kgbuild.nlp.batching.shape_bucket`): on the 34,894 pairs of 100 Re-DocRED
documents (an AMX bf16 CPU) the bilinear layer alone took 0.65 s instead of 1.24 s."""


@dataclass(frozen=True)
class PairBatch:
    """What the model reads of one window besides its token ids.

    ``entity_positions[i]``: opening-marker positions of entity ``i``'s mentions;
    ``pairs``: ``(P, 2)`` window-entity indexes (head, tail); ``token_sentences``:
    ``(L,)`` window-local sentence index of each token (-1: not in a sentence);
    ``n_sentences``: sentences of the window. ``column_sets`` and ``pair_sets`` (at
    inference): pair ``p`` needs only the classes ``column_sets[pair_sets[p]]`` (the
    threshold class among them); its other logits are ``-inf``, never computed.
    """

    entity_positions: Sequence[Sequence[int]]
    pairs: torch.Tensor
    token_sentences: torch.Tensor
    n_sentences: int
    column_sets: tuple[torch.Tensor, ...] = ()
    pair_sets: torch.Tensor | None = None


class DocRelationModel(nn.Module):
    """ATLOP-style pair classifier over a BERT-family encoder.

    Args:
        encoder: A transformers ``AutoModel`` or a
            :class:`~kgbuild.nlp.plain_bert.PlainBertModel` (BERT family: its last layer's
            attention has ``query`` and ``key`` projections).
        labels: Class names; ``labels[0]`` must be :data:`THRESHOLD_CLASS`.
        emb_size: Width of the head and tail representations.
        block_size: Group size of the grouped bilinear layer (divides ``emb_size``).
        entity_attention: How mention attention is pooled per entity (the manifest's
            ``entity_attention``; see :func:`_pool_entities`).
    """

    def __init__(
        self,
        encoder: Any,
        labels: Sequence[str],
        *,
        emb_size: int = 384,
        block_size: int = 64,
        entity_attention: str = ENTITY_ATTENTION,
    ) -> None:
        super().__init__()
        if not labels or labels[0] != THRESHOLD_CLASS:
            raise ValueError(f"the first label must be {THRESHOLD_CLASS!r}, got {list(labels)[:1]}")
        if emb_size % block_size:
            raise ValueError(f"block_size {block_size} must divide emb_size {emb_size}")
        if entity_attention not in (ENTITY_ATTENTION, LEGACY_ENTITY_ATTENTION):
            raise ValueError(f"unknown entity_attention {entity_attention!r}")
        self.legacy_attention = entity_attention == LEGACY_ENTITY_ATTENTION
        self.encoder = encoder
        self.config = encoder.config
        self.config.id2label = dict(enumerate(labels))
        self.config.label2id = {label: i for i, label in enumerate(labels)}
        hidden = int(self.config.hidden_size)
        self.emb_size, self.block_size = emb_size, block_size
        self.head_extractor = nn.Linear(2 * hidden, emb_size)
        self.tail_extractor = nn.Linear(2 * hidden, emb_size)
        self.bilinear = nn.Linear(emb_size * block_size, len(labels))
        self.heads = int(self.config.num_attention_heads)
        self._weights_key: tuple[Any, ...] | None = None  # what the caches below were made of
        self._group_weight_cache: torch.Tensor | None = None
        self._column_weights: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}
        self._autocast_weights: dict[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor]] = {}

    # -- encoder ------------------------------------------------------------------------------

    def get_input_embeddings(self) -> Any:
        """The encoder's input embeddings."""
        return self.encoder.get_input_embeddings()

    def resize_token_embeddings(self, size: int, **kwargs: Any) -> Any:
        """Grow the encoder's vocabulary."""
        return self.encoder.resize_token_embeddings(size, **kwargs)

    def encode(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Last hidden states and the last layer's input, each ``(B, L, H)``."""
        out = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
        )
        return out.last_hidden_state, out.hidden_states[-2]

    def _attention_rows(
        self, layer_input: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Last-layer attention of the tokens at ``positions``: ``(heads, len(positions), L)``."""
        attention = self.encoder.encoder.layer[-1].attention.self
        size = layer_input.shape[-1] // self.heads
        query = attention.query(layer_input[positions]).view(-1, self.heads, size).transpose(0, 1)
        key = attention.key(layer_input).view(-1, self.heads, size).transpose(0, 1)
        scores = torch.matmul(query.float(), key.float().transpose(1, 2)) * size**-0.5
        scores = scores.masked_fill(~mask.bool()[None, None, :], torch.finfo(scores.dtype).min)
        return torch.softmax(scores, dim=-1)

    # -- pairs --------------------------------------------------------------------------------

    def window_pairs(
        self,
        states: torch.Tensor,
        layer_input: torch.Tensor,
        mask: torch.Tensor,
        window: PairBatch,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(P, C)`` and sentence attention ``(P, S)`` of one window's pairs."""
        logits, sentences = [], []
        sets = window.pair_sets
        for start, head, tail, chunk_sentences in self._pair_chunks(
            states, layer_input, mask, window
        ):
            pairs = len(chunk_sentences)
            sentences.append(chunk_sentences)
            if sets is None or torch.is_grad_enabled():
                logits.append(self._bilinear(head, tail)[:pairs])
            else:
                chunk_sets = sets[start : start + pairs].to(states.device)
                logits.append(self._selected_logits(head[:pairs], tail[:pairs], chunk_sets, window))
        return torch.cat(logits), torch.cat(sentences)

    def pair_states(
        self,
        states: torch.Tensor,
        layer_input: torch.Tensor,
        mask: torch.Tensor,
        window: PairBatch,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Head and tail ``(P, emb_size)`` and sentence attention ``(P, S)`` of a window's pairs.

        What :meth:`window_pairs` scores, for :meth:`selected_logits` to score the pairs of
        many windows together.
        """
        heads, tails, sentences = [], [], []
        for _, head, tail, chunk_sentences in self._pair_chunks(states, layer_input, mask, window):
            pairs = len(chunk_sentences)
            heads.append(head[:pairs])
            tails.append(tail[:pairs])
            sentences.append(chunk_sentences)
        return torch.cat(heads), torch.cat(tails), torch.cat(sentences)

    def _pair_chunks(
        self,
        states: torch.Tensor,
        layer_input: torch.Tensor,
        mask: torch.Tensor,
        window: PairBatch,
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per chunk of a window's pairs: first pair, head, tail and sentence attention.

        At inference the head and tail rows are padded to a few row counts; the sentence
        attention is not.
        """
        flat = [p for positions in window.entity_positions for p in positions]
        index = torch.tensor(flat, device=states.device)
        rows = self._attention_rows(layer_input, _bucketed(index), mask)[:, : len(flat)]
        embeddings, attention = _pool_entities(
            states[index].float(),
            rows,
            window.entity_positions,
            legacy_attention=self.legacy_attention,
        )
        states = states.float()
        # head/tail_extractor(cat[entity, context]) = entity part + context part, and the
        # context is pair attention @ states: project the entities and the tokens once per
        # window instead of every pair's 2 x hidden input.
        head_entities, head_tokens = _affine_parts(self.head_extractor, embeddings, states)
        tail_entities, tail_tokens = _affine_parts(self.tail_extractor, embeddings, states)
        tokens = torch.cat([head_tokens, tail_tokens], dim=1)
        with torch.autocast(states.device.type, enabled=False):
            products = _attention_products(attention.float())
            in_sentence = _sentence_matrix(window, states.shape[0], states.device)
        for start in range(0, len(window.pairs), _PAIR_CHUNK):
            chunk = window.pairs[start : start + _PAIR_CHUNK].to(states.device)
            pairs = len(chunk)
            chunk = _bucketed(chunk, _PAIR_ROWS)
            with torch.autocast(states.device.type, enabled=False):
                pair_attention = products[:, chunk[:, 0], chunk[:, 1]].T
                pair_attention = pair_attention / (pair_attention.sum(dim=1, keepdim=True) + 1e-5)
                sentences = (pair_attention @ in_sentence)[:pairs]
            context = pair_attention @ tokens
            head = torch.tanh(head_entities[chunk[:, 0]] + context[:, : self.emb_size])
            tail = torch.tanh(tail_entities[chunk[:, 1]] + context[:, self.emb_size :])
            yield start, head, tail, sentences

    def _selected_logits(
        self, head: torch.Tensor, tail: torch.Tensor, sets: torch.Tensor, window: PairBatch
    ) -> torch.Tensor:
        """``(P, C)`` logits with each pair's own classes computed, the rest ``-inf``.

        Pairs of one set (one pair of entity types) share a product with just their
        columns: the schema allows at most 26 of the default model's 97 classes for a
        pair of types, and the bilinear layer was most of the pair layers' time. Runs of
        consecutive pairs of one set (the stage orders pairs by set) are slices. Under bf16
        autocast: :meth:`selected_logits`.
        """
        if torch.is_autocast_enabled(head.device.type):
            columns = [c.to(head.device) for c in window.column_sets]
            return self.selected_logits(head, tail, columns, sets)
        shape = (len(head), int(self.bilinear.out_features))
        logits = head.new_full(shape, float("-inf"), dtype=torch.float32)
        numbers, counts = torch.unique_consecutive(sets, return_counts=True)
        bounds = [0, *torch.cumsum(counts, 0).tolist()]
        runs = [
            (slice(bounds[k], bounds[k + 1]), window.column_sets[number].to(head.device))
            for k, number in enumerate(numbers.tolist())
        ]
        groups, size = self.emb_size // self.block_size, self.block_size
        b1 = head.float().view(-1, groups, size)
        b2 = tail.float().view(-1, groups, size)
        weights = [self._group_weights(columns) for _, columns in runs]
        parts = [
            bias.expand(rows.stop - rows.start, -1).clone()
            for (rows, _), (_, bias) in zip(runs, weights, strict=True)
        ]
        for (rows, columns), (weight, _), part in zip(runs, weights, parts, strict=True):
            if len(columns) <= _NARROW_COLUMNS:  # sum_i head_i W_ijc first, then tail_j
                by_head = weight.view(groups, size, -1)
                for start in range(rows.start, rows.stop, _NARROW_ROWS):
                    block = slice(start, min(start + _NARROW_ROWS, rows.stop))
                    left = torch.bmm(b1[block].transpose(0, 1), by_head)
                    left = left.view(groups, -1, size, len(columns))
                    part[block.start - rows.start : block.stop - rows.start] += torch.einsum(
                        "gnj,gnjc->nc", b2[block].transpose(0, 1), left
                    )
                continue
            for g in range(groups):
                features = (b1[rows, g, :, None] * b2[rows, g, None, :]).flatten(1)
                part.addmm_(features, weight[g])
        for (rows, columns), part in zip(runs, parts, strict=True):
            logits[rows, columns] = part
        return logits

    def selected_logits(
        self,
        head: torch.Tensor,
        tail: torch.Tensor,
        column_sets: Sequence[torch.Tensor],
        sets: torch.Tensor,
    ) -> torch.Tensor:
        """``(P, C)`` logits under bf16 autocast: ``column_sets[sets[p]]`` of pair ``p``, else ``-inf``.

        The pairs may come from many windows.

        Per column set, the heads times the weight's columns first (bf16, one batched
        product of up to :data:`_NARROW_ROWS` pairs), then times the tails (fp32): no
        ``(pairs x 24,576)`` outer products to write and round. Scoring the pairs of many
        windows together (:func:`score_windows`) makes a product per set rather than per
        run of a dozen pairs: the per-run reads of the weight's columns were most of the
        pair layers' time.
        """
        dtype = torch.get_autocast_dtype(head.device.type)
        groups, size = self.emb_size // self.block_size, self.block_size
        shape = (len(head), int(self.bilinear.out_features))
        logits = head.new_full(shape, float("-inf"), dtype=torch.float32)
        heads = head.view(-1, groups, size).transpose(0, 1).to(dtype)  # (groups, P, block)
        tails = tail.float().view(-1, groups, size).transpose(0, 1)  # (groups, P, block)
        sets = sets.to(head.device)
        order = torch.argsort(sets, stable=True)
        numbers, counts = torch.unique_consecutive(sets[order], return_counts=True)
        first = 0
        for number, count in zip(numbers.tolist(), counts.tolist(), strict=True):
            columns = column_sets[number]
            by_head, bias = self._autocast_columns(columns, dtype)
            for start in range(first, first + count, _NARROW_ROWS):
                rows = order[start : min(start + _NARROW_ROWS, first + count)]
                padded = _bucketed(rows)  # a few row counts: oneDNN kernels are per shape
                left = torch.bmm(heads[:, padded], by_head)  # (groups, rows, block x C)
                with torch.autocast(head.device.type, enabled=False):
                    # per group and row: (1, block) tail x (block, C); then the groups' sum
                    # (the bf16 rows are converted in place, never transposed)
                    part = torch.bmm(
                        tails[:, padded].reshape(-1, 1, size),
                        left.float().view(-1, size, len(columns)),
                    )
                    part = part.view(groups, len(padded), -1).sum(dim=0)
                    logits[rows[:, None], columns[None, :]] = part[: len(rows)] + bias
            first += count
        return logits

    def _bilinear(self, head: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
        """The grouped bilinear layer's logits."""
        groups = self.emb_size // self.block_size
        b1 = head.view(-1, groups, self.block_size)
        b2 = tail.view(-1, groups, self.block_size)
        if not torch.is_grad_enabled() and not torch.is_autocast_enabled(head.device.type):
            return self._bilinear_by_group(b1, b2)
        grouped = (b1.unsqueeze(3) * b2.unsqueeze(2)).view(-1, self.emb_size * self.block_size)
        logits: torch.Tensor = self.bilinear(grouped)
        return logits.float()

    def _bilinear_by_group(self, b1: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
        """The grouped bilinear layer one group at a time (fp32 inference).

        The same sums as ``bilinear(all groups' outer products)``, but each group's
        ``(pairs, block_size^2)`` features are multiplied while they are in the CPU's
        caches instead of writing ``(pairs, emb_size x block_size)`` first: on a 2-core
        AVX2 CPU, 21-24 ms per 512 pairs against 22-44 ms (the larger the chunk, the worse
        the single product). Under bf16 autocast the single product is kept: each group's
        product would be rounded to bf16 before the sum.
        """
        weights, bias = self._group_weights()
        logits = bias.expand(b1.shape[0], -1).clone()
        for g, weight in enumerate(weights):
            features = (b1[:, g, :, None] * b2[:, g, None, :]).reshape(b1.shape[0], -1)
            logits.addmm_(features.float(), weight)
        return logits

    def _group_weights(
        self, columns: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The bilinear weight as ``(groups, block_size^2, classes)`` and the bias, fp32.

        Only the classes of ``columns`` when given. Cached per weight version (and per
        column set: a schema has a few dozen pairs of entity types).
        """
        self._forget_stale_weights()
        weight, bias = self.bilinear.weight, self.bilinear.bias
        if self._group_weight_cache is None:
            groups = self.emb_size // self.block_size
            split = weight.detach().float().view(weight.shape[0], groups, -1)
            self._group_weight_cache = split.permute(1, 2, 0).contiguous()
        every = self._group_weight_cache
        if columns is None:
            return every, bias.detach().float()
        wanted = tuple(columns.tolist())
        cached = self._column_weights.get(wanted)
        if cached is None:
            cached = (every[:, :, columns].contiguous(), bias.detach().float()[columns])
            self._column_weights[wanted] = cached
        return cached

    def _autocast_columns(
        self, columns: torch.Tensor, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The bilinear weight of ``columns`` in ``dtype`` and their bias in fp32.

        The weight as ``(groups, block, block x C)``: head index, then tail index and class.
        Cached per column set and weight version.
        """
        self._forget_stale_weights()
        wanted = (*columns.tolist(), str(dtype))
        cached = self._autocast_weights.get(wanted)
        if cached is None:
            weight, bias = self.bilinear.weight.detach(), self.bilinear.bias.detach()
            groups, size = self.emb_size // self.block_size, self.block_size
            by_head = weight[columns].float().view(len(columns), groups, size, size)
            by_head = by_head.permute(1, 2, 3, 0).reshape(groups, size, size * len(columns))
            cached = (by_head.to(dtype).contiguous(), bias[columns].float())
            self._autocast_weights[wanted] = cached
        return cached

    def _forget_stale_weights(self) -> None:
        """Drop the cached views of the bilinear layer once its weight or bias changed."""
        weight, bias = self.bilinear.weight, self.bilinear.bias
        key = (weight.data_ptr(), _version(weight), weight.device, weight.dtype, _version(bias))
        if key != self._weights_key:
            self._weights_key = key
            self._group_weight_cache = None
            self._column_weights = {}
            self._autocast_weights = {}

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        windows: Sequence[PairBatch],
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per window: pair logits ``(P, C)`` and pair attention per sentence ``(P, S)``."""
        states, layer_input = self.encode(input_ids, attention_mask)
        logits, sentences = [], []
        for b, window in enumerate(windows):
            if not len(window.pairs):
                logits.append(states.new_zeros((0, self.bilinear.out_features)).float())
                sentences.append(states.new_zeros((0, window.n_sentences)).float())
                continue
            window_logits, window_sentences = self.window_pairs(
                states[b], layer_input[b], attention_mask[b], window
            )
            logits.append(window_logits)
            sentences.append(window_sentences)
        return logits, sentences

    def save_pretrained(self, out: str, **kwargs: Any) -> None:
        """Save the encoder (``save_pretrained``) and the pair layers (:data:`HEAD_FILE`)."""
        from safetensors.torch import save_file

        self.encoder.save_pretrained(out, **kwargs)
        state = {
            k: v.detach().contiguous()
            for k, v in self.state_dict().items()
            if not k.startswith("encoder.")
        }
        save_file(state, str(Path(out) / HEAD_FILE), metadata={"format": "pt"})

    def load_head(self, directory: Path) -> None:
        """Load the pair layers saved by :meth:`save_pretrained`."""
        from safetensors.torch import load_file

        missing = self.load_state_dict(load_file(str(directory / HEAD_FILE)), strict=False)
        if missing.unexpected_keys:
            raise ValueError(f"unexpected pair-layer weights: {missing.unexpected_keys[:3]}")


def _pool_entities(
    mention_states: torch.Tensor,
    rows: torch.Tensor,
    entity_positions: Sequence[Sequence[int]],
    *,
    legacy_attention: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Entity embeddings ``(E, H)`` (log-sum-exp over mentions) and attention ``(E, heads, L)``.

    ``mention_states`` and ``rows`` hold the mentions of all entities in order, entity
    by entity (as ``entity_positions`` lists them). An entity's attention is the mean of
    its mentions' rows. ``legacy_attention``: as models trained before the
    ``entity_attention: mean`` manifest key pooled it (see :data:`ENTITY_ATTENTION`):
    the window's first entity lost its first mention's row whenever another entity had
    more mentions.
    """
    counts = torch.tensor([len(p) for p in entity_positions], device=mention_states.device)
    n_entities, widest = len(entity_positions), int(counts.max())
    slot = torch.arange(widest, device=counts.device)
    valid = slot[None, :] < counts[:, None]  # (E, widest)
    first = torch.cumsum(counts, 0) - counts
    index = torch.where(valid, first[:, None] + slot[None, :], 0)
    padded = mention_states[index].masked_fill(~valid[..., None], float("-inf"))
    embeddings = torch.logsumexp(padded, dim=1)
    entity_of = torch.repeat_interleave(torch.arange(n_entities, device=counts.device), counts)
    mention_rows = rows.transpose(0, 1)  # (M, heads, L)
    if legacy_attention and int(counts[0]) < widest:
        mention_rows = mention_rows.clone()
        mention_rows[0] = 0.0
    summed = rows.new_zeros((n_entities, rows.shape[0], rows.shape[2]))
    summed.index_add_(0, entity_of, mention_rows)
    return embeddings, summed / counts[:, None, None].to(summed.dtype)


def _version(tensor: torch.Tensor) -> int:
    """The tensor's in-place version counter (-1 for an inference tensor, which has none)."""
    try:
        return int(tensor._version)
    except RuntimeError:
        return -1


def _bucketed(index: torch.Tensor, multiple: int = SHAPE_MULTIPLE) -> torch.Tensor:
    """At inference, ``index`` padded with repeats of its first row to a multiple of rows.

    See :func:`kgbuild.nlp.batching.shape_bucket`; the caller drops what is computed for
    the repeats. Unchanged while training.
    """
    if not torch.is_inference_mode_enabled() or not len(index):
        return index
    extra = shape_bucket(len(index), multiple) - len(index)
    return torch.cat([index, index[:1].expand(extra, *index.shape[1:])])


def _affine_parts(
    layer: nn.Module, entities: torch.Tensor, tokens: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``layer(cat[e, c])`` (a ``Linear`` over ``2 x hidden``) split as ``E(e) + T(c)``.

    Returns ``E(entities)`` with the bias, ``(E, out)``, and ``T(tokens)``, ``(L, out)``;
    ``T`` is linear, so a pair's ``T(attention @ states)`` is ``attention @ T(states)``.
    ``layer`` may be PEFT's ``modules_to_save`` wrapper, which reads its trained copy's.
    """
    weight, bias = layer.weight, layer.bias
    assert isinstance(weight, torch.Tensor) and isinstance(bias, torch.Tensor)
    hidden = entities.shape[-1]
    entity_part = nn.functional.linear(entities, weight[:, :hidden], bias)
    token_part = nn.functional.linear(tokens, weight[:, hidden:])
    return entity_part, token_part


def _attention_products(attention: torch.Tensor) -> torch.Tensor:
    """``(L, E, E)``: entity ``i``'s attention times entity ``j``'s, averaged over heads.

    One batched product over all entity pairs of a window instead of a
    ``pairs x heads x L`` tensor per chunk of pairs. Both operands are made contiguous
    first: on a permuted view CPU ``bmm`` takes a slow path (3-8x slower for windows of
    20-60 entities on a quiet 2-core machine, 10-90x when another process holds the cores).
    """
    by_token = attention.permute(2, 0, 1).contiguous()  # (L, E, heads)
    return torch.bmm(by_token, by_token.transpose(1, 2).contiguous()) / attention.shape[1]


def _sentence_matrix(window: PairBatch, length: int, device: torch.device) -> torch.Tensor:
    """``(L, n_sentences)`` 0/1: which window sentence each token is in (none: a zero row)."""
    sentence_of = torch.full((length,), -1, dtype=torch.long, device=device)
    sentence_of[: len(window.token_sentences)] = window.token_sentences.to(device)
    inside = torch.nonzero(sentence_of >= 0).squeeze(1)
    matrix = torch.zeros((length, window.n_sentences), dtype=torch.float32, device=device)
    matrix[inside, sentence_of[inside]] = 1.0
    return matrix


def adaptive_threshold_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ATLOP's loss: gold types above the threshold class, the threshold above the rest.

    Args:
        logits: ``(P, C)``; class 0 is the threshold.
        labels: ``(P, C)`` multi-hot gold types (column 0 ignored).
    """
    labels = labels.float().clone()
    labels[:, 0] = 0.0
    threshold = torch.zeros_like(labels)
    threshold[:, 0] = 1.0
    positive_mask = labels + threshold
    negative_mask = 1.0 - labels
    large = 1e30
    above = torch.log_softmax(logits - (1.0 - positive_mask) * large, dim=-1)
    loss_positive = -(above * labels).sum(dim=1)
    below = torch.log_softmax(logits - (1.0 - negative_mask) * large, dim=-1)
    loss_negative = -(below * threshold).sum(dim=1)
    return (loss_positive + loss_negative).mean()


def evidence_loss(sentence_attention: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:
    """KL(gold evidence || pair attention per sentence), over pairs that have evidence.

    Args:
        sentence_attention: ``(P, S)`` attention mass per sentence (rows sum to at most 1).
        evidence: ``(P, S)`` 1 on each gold evidence sentence of the pair, else 0.
    """
    has = evidence.sum(dim=1) > 0
    if not bool(has.any()):
        return sentence_attention.new_zeros(())
    gold = evidence[has].float()
    gold = gold / gold.sum(dim=1, keepdim=True)
    predicted = sentence_attention[has].clamp_min(1e-10)
    predicted = predicted / predicted.sum(dim=1, keepdim=True)
    kl = (gold * (torch.log(gold.clamp_min(1e-10)) - torch.log(predicted))).sum(dim=1)
    return kl.mean()


def load_doc_relation_model(
    source: str, manifest: Mapping[str, Any], *, with_head: bool
) -> DocRelationModel:
    """Build a :class:`DocRelationModel` on the encoder at ``source``.

    Args:
        source: The base encoder (before a LoRA adapter is applied) or a fully
            fine-tuned model folder.
        manifest: The model's ``kgbuild_model.json`` (``labels``, ``emb_size``,
            ``block_size``).
        with_head: Load the pair layers saved in ``source`` (a full fine-tune).
    """
    from kgbuild.nlp.plain_bert import load_plain_bert

    encoder: Any = load_plain_bert(source)
    if encoder is None:  # not a saved plain BERT: transformers' class
        from transformers import AutoModel

        encoder = AutoModel.from_pretrained(source)
    model = DocRelationModel(
        encoder,
        [str(label) for label in manifest.get("labels", [])],
        emb_size=int(manifest.get("emb_size", 384)),
        block_size=int(manifest.get("block_size", 64)),
        entity_attention=str(manifest.get("entity_attention", LEGACY_ENTITY_ATTENTION)),
    )
    if with_head:
        model.load_head(Path(source))
    return model


# -- inference ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowPairs:
    """A window and the pairs of its entities to score (window-entity indexes)."""

    input_ids: Sequence[int]
    pairs: Sequence[tuple[int, int]]
    entity_positions: Sequence[Sequence[int]]
    token_sentences: Sequence[int]
    sentences: Sequence[int]
    """Document sentence index of each window-local sentence, in order."""
    column_sets: Sequence[Sequence[int]] = ()
    """Score columns (types, as in :attr:`WindowScores.margins`) some pairs need; empty:
    every pair is scored on every column."""
    pair_sets: Sequence[int] = ()
    """With ``column_sets``: each pair's set (the other columns' margins are ``-inf``)."""


@dataclass(frozen=True)
class WindowScores:
    """Scores of a window's pairs: margins over the threshold class and evidence mass."""

    margins: Any
    """``(P, C - 1)`` float32 array: each type's logit minus the pair's threshold logit."""
    sentence_attention: Any
    """``(P, S)`` float32 array: the pair's attention mass per window sentence."""


def pair_batch(window: WindowPairs, device: torch.device | None = None) -> PairBatch:
    """The :class:`PairBatch` of a window (window-local sentence numbers)."""
    local = {sentence: i for i, sentence in enumerate(window.sentences)}
    token_sentences = torch.tensor([local.get(s, -1) for s in window.token_sentences])
    pairs = torch.tensor(list(window.pairs), dtype=torch.long).view(-1, 2)
    if window.column_sets and len(window.pair_sets) != len(window.pairs):
        raise ValueError(f"{len(window.pair_sets)} pair sets for {len(window.pairs)} pairs")
    return PairBatch(
        entity_positions=window.entity_positions,
        pairs=pairs if device is None else pairs.to(device),
        token_sentences=token_sentences,
        n_sentences=len(window.sentences),
        column_sets=tuple(  # class 0 is the threshold: every pair's margins need it
            torch.tensor([0, *(c + 1 for c in columns)], dtype=torch.long, device=device)
            for columns in window.column_sets
        ),
        pair_sets=(
            torch.tensor(list(window.pair_sets), dtype=torch.long) if window.column_sets else None
        ),
    )


def score_windows(
    model: DocRelationModel,
    windows: Sequence[WindowPairs],
    *,
    pad_id: int,
    batch_size: int = 4,
    bf16: bool = False,
    batches: Callable[[list[list[int]]], Iterable[list[int]]] = iter,
    on_scored: Callable[[int, WindowScores], None] | None = None,
) -> list[WindowScores]:
    """Score every pair of every window, in length-sorted batches, in input order.

    Args:
        model: The model (eval mode).
        windows: Windows with the pairs to score (a window without pairs costs nothing).
        pad_id: The tokenizer's padding id.
        batch_size: Windows per forward pass.
        bf16: Run the encoder under bf16 autocast.
        batches: Wraps the batches of window indices (e.g. to report progress over them).
        on_scored: Called with ``(window index, scores)`` as each window with pairs is
            scored (in batch order, not input order); the scores are then not kept and
            the result is empty, so that memory does not grow with the document.
    """
    import numpy as np

    device = next(model.parameters()).device
    n_types = model.bilinear.out_features - 1
    results: list[WindowScores | None] = [None] * len(windows)
    todo = [i for i, window in enumerate(windows) if window.pairs]
    for i, window in enumerate(windows):
        if not window.pairs:
            results[i] = WindowScores(
                np.zeros((0, n_types), np.float32), np.zeros((0, len(window.sentences)), np.float32)
            )
    by_length = length_batches([len(windows[i].input_ids) for i in todo], batch_size)
    longest = getattr(model.config, "max_position_embeddings", None)
    # bf16 with column sets: the pairs of many windows are scored together, a product per
    # column set rather than per run of a window (DocRelationModel.selected_logits)
    together = bf16 and all(windows[i].column_sets for i in todo)
    pending: list[_PendingWindow] = []

    def emit(i: int, window_logits: torch.Tensor, window_sentences: torch.Tensor) -> None:
        margins = (window_logits[:, 1:] - window_logits[:, :1]).float().cpu().numpy()
        scored = WindowScores(margins, window_sentences.float().cpu().numpy())
        if on_scored is None:
            results[i] = scored
        else:
            on_scored(i, scored)

    def flush() -> None:
        for i, window_logits, window_sentences in _score_together(model, pending):
            emit(i, window_logits, window_sentences)
        pending.clear()

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    with torch.inference_mode(), autocast:
        for batch in batches(by_length):
            rows = [todo[b] for b in batch]
            ids, mask = pad_batch(
                [windows[i].input_ids for i in rows], pad_id, device, limit=longest
            )
            pairs = [pair_batch(windows[i], device) for i in rows]
            if not together:
                logits, sentences = model(ids, mask, pairs)
                for i, window_logits, window_sentences in zip(rows, logits, sentences, strict=True):
                    emit(i, window_logits, window_sentences)
                continue
            states, layer_input = model.encode(ids, mask)
            for b, (i, batch_window) in enumerate(zip(rows, pairs, strict=True)):
                head, tail, sentences = model.pair_states(
                    states[b], layer_input[b], mask[b], batch_window
                )
                pending.append(_PendingWindow(i, head, tail, sentences, batch_window))
            if sum(len(p.head) for p in pending) >= _SCORED_TOGETHER:
                flush()
        flush()
    return [] if on_scored is not None else [r for r in results if r is not None]


@dataclass(frozen=True)
class _PendingWindow:
    """A window whose pair representations wait to be scored with other windows' pairs."""

    index: int
    head: torch.Tensor
    tail: torch.Tensor
    sentences: torch.Tensor
    window: PairBatch


def _score_together(
    model: DocRelationModel, pending: Sequence[_PendingWindow]
) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
    """Each pending window's logits, from one :meth:`DocRelationModel.selected_logits` call.

    Windows share a column set when they share its columns.
    """
    if not pending:
        return []
    ids: dict[tuple[int, ...], int] = {}
    column_sets: list[torch.Tensor] = []
    sets = []
    for item in pending:
        local = []
        for columns in item.window.column_sets:
            key = tuple(columns.tolist())
            if key not in ids:
                ids[key] = len(column_sets)
                column_sets.append(columns.to(item.head.device))
            local.append(ids[key])
        assert item.window.pair_sets is not None  # windows with column sets have them
        sets.append(torch.tensor(local, dtype=torch.long)[item.window.pair_sets])
    logits = model.selected_logits(
        torch.cat([p.head for p in pending]),
        torch.cat([p.tail for p in pending]),
        column_sets,
        torch.cat(sets),
    )
    parts = torch.split(logits, [len(p.head) for p in pending])
    return [(p.index, part, p.sentences) for p, part in zip(pending, parts, strict=True)]


@dataclass(frozen=True)
class DocPrediction:
    """A document's scored pairs: margins per type (best window) and evidence sentences."""

    margins: dict[tuple[int, int], Any]
    """``(head, tail)`` -> margin of each type over the threshold class."""
    evidence: dict[tuple[int, int], Any]
    """``(head, tail)`` -> attention mass per document sentence (from the window whose
    best margin for the pair was highest)."""


def merge_windows(
    scored: Sequence[tuple[tuple[int, ...], WindowPairs, Any]], n_sentences: int
) -> DocPrediction:
    """Merge a document's window scores: a pair keeps its best margin per type."""
    margins: dict[tuple[int, int], Any] = {}
    evidence: dict[tuple[int, int], Any] = {}
    best: dict[tuple[int, int], float] = {}
    for entities, window, scores in scored:
        for row, (h, t) in enumerate(window.pairs):
            key = (entities[h], entities[t])
            row_margins = scores.margins[row]
            top = float(row_margins.max())
            if key in margins:
                margins[key] = np.maximum(margins[key], row_margins)
            else:
                margins[key] = row_margins.copy()
            if top > best.get(key, -np.inf):
                best[key] = top
                mass = np.zeros(n_sentences, np.float32)
                mass[list(window.sentences)] = scores.sentence_attention[row]
                evidence[key] = mass
    return DocPrediction(margins, evidence)
