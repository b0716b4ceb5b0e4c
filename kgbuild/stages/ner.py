"""NER stage: any Hugging Face token-classification model over sentence chunks.

preprocess (words and model windows) -> forward (batched, length-sorted,
``torch.inference_mode``) -> postprocess (window merge, word aggregation, tag
decoding, offsets back into the document). Windows overlap by ``stride`` tokens,
so a sentence longer than the model's maximum is read whole, never truncated.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from kgbuild.config import NerConfig
from kgbuild.data import Chunk, Mention, Provenance, Span
from kgbuild.ids import stable_id
from kgbuild.lang import model_languages
from kgbuild.models import resolve_task_model
from kgbuild.nlp.align import (
    TokenPrediction,
    aggregate_words,
    decode_tags,
    merge_windows,
    split_tag,
)
from kgbuild.nlp.hf import LoadedTokenClassifier, bf16_supported, load_token_classifier
from kgbuild.nlp.words import word_spans
from kgbuild.progress import track

__all__ = ["NerStage"]

log = logging.getLogger(__name__)

STAGE = "ner"


@dataclass(frozen=True)
class _Window:
    chunk_index: int
    input_ids: list[int]
    word_ids: list[int | None]
    offsets: list[tuple[int, int]]


def _line_pieces(
    text: str, words: Sequence[tuple[int, int]], first: int, last: int
) -> list[tuple[int, int]]:
    """Split a word range where a line break separates two words (a name never spans lines)."""
    pieces, start = [], first
    for index in range(first + 1, last + 1):
        if "\n" in text[words[index - 1][1] : words[index][0]]:
            pieces.append((start, index - 1))
            start = index
    pieces.append((start, last))
    return pieces


class NerStage:
    """Token-classification NER over chunks; returns Mentions with provenance."""

    def __init__(
        self, config: NerConfig | None = None, *, run_id: str, progress: bool = False
    ) -> None:
        self.config = config or NerConfig()
        self.run_id = run_id
        self.progress = progress
        self.loaded: LoadedTokenClassifier = load_token_classifier(
            resolve_task_model("ner", self.config.model), device=self.config.device
        )
        self.languages = model_languages(self.loaded.manifest, self.loaded.name)
        """What the model reads (its manifest's ``languages``; ``None``: any language)."""
        precision = self.config.precision
        self.bf16 = precision == "bf16" or (
            precision == "auto" and bf16_supported(self.loaded.device)
        )
        self.labels = sorted(
            {
                self.config.label_map.get(kind, kind)
                for tag in self.loaded.id2label.values()
                if (kind := split_tag(tag)[1]) is not None
            }
        )

    @property
    def model_key(self) -> str:
        """Identifies the model and every setting that changes this stage's output."""
        cfg = self.config
        return (
            f"{self.loaded.name}@{self.loaded.revision}|{cfg.aggregation}|{cfg.decoding}"
            f"|{cfg.threshold}"
            f"|{cfg.stride}|{cfg.max_length}|{'bf16' if self.bf16 else 'fp32'}"
            f"|{sorted(cfg.label_map.items())}"
            + (f"|lang:{','.join(sorted(self.languages))}" if self.languages else "")
        )

    def __call__(self, chunks: Sequence[Chunk], langs: Mapping[str, str]) -> list[Mention]:
        """Find mentions in ``chunks``; ``langs`` maps document id to language code."""
        words = [word_spans(chunk.text, langs.get(chunk.doc_id, "en")) for chunk in chunks]
        windows = self._windows(chunks, words)
        probs = self._forward(windows)
        return self._postprocess(chunks, words, windows, probs)

    # -- preprocess ---------------------------------------------------------------------------

    def _window_length(self) -> int:
        limit = self.loaded.max_length
        return min(self.config.max_length or limit, limit)

    def _windows(
        self, chunks: Sequence[Chunk], words: Sequence[list[tuple[int, int]]]
    ) -> list[_Window]:
        texts = [
            [chunk.text[start:end] for start, end in spans]
            for chunk, spans in zip(chunks, words, strict=True)
        ]
        indexed = [i for i, spans in enumerate(texts) if spans]
        if not indexed:
            return []
        max_length = self._window_length()
        encoded = self.loaded.tokenizer(
            [texts[i] for i in indexed],
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            stride=min(self.config.stride, max_length // 2 - 2),
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        mapping = encoded["overflow_to_sample_mapping"]
        return [
            _Window(
                chunk_index=indexed[mapping[row]],
                input_ids=list(encoded["input_ids"][row]),
                word_ids=encoded.word_ids(row),
                offsets=[tuple(pair) for pair in encoded["offset_mapping"][row]],
            )
            for row in range(len(mapping))
        ]

    # -- forward ------------------------------------------------------------------------------

    def _forward(self, windows: Sequence[_Window]) -> list[np.ndarray[Any, np.dtype[np.float32]]]:
        loaded = self.loaded
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids), reverse=True)
        results: list[np.ndarray[Any, np.dtype[np.float32]]] = [np.empty(0, np.float32)] * len(
            windows
        )
        pad_id = loaded.tokenizer.pad_token_id or 0
        batch_size = self.config.batch_size
        starts = range(0, len(order), batch_size)
        autocast = torch.autocast(loaded.device.type, dtype=torch.bfloat16, enabled=self.bf16)
        with torch.inference_mode(), autocast:
            for start in track(
                starts, STAGE, enabled=self.progress, detail=f"{len(windows):,} windows"
            ):
                rows = order[start : start + batch_size]
                width = len(windows[rows[0]].input_ids)
                ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for r, index in enumerate(rows):
                    seq = windows[index].input_ids
                    ids[r, : len(seq)] = torch.tensor(seq, dtype=torch.long)
                    mask[r, : len(seq)] = 1
                logits = loaded.model(
                    input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device)
                ).logits
                probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
                for r, index in enumerate(rows):
                    results[index] = probs[r, : len(windows[index].input_ids)]
        return results

    # -- postprocess --------------------------------------------------------------------------

    def _postprocess(
        self,
        chunks: Sequence[Chunk],
        words: Sequence[list[tuple[int, int]]],
        windows: Sequence[_Window],
        probs: Sequence[np.ndarray[Any, np.dtype[np.float32]]],
    ) -> list[Mention]:
        per_chunk: dict[int, list[list[TokenPrediction]]] = defaultdict(list)
        for window, window_probs in zip(windows, probs, strict=True):
            per_chunk[window.chunk_index].append(
                [
                    TokenPrediction(word=word, start=off[0], end=off[1], probs=window_probs[pos])
                    for pos, (word, off) in enumerate(
                        zip(window.word_ids, window.offsets, strict=True)
                    )
                    if word is not None
                ]
            )
        mentions: list[Mention] = []
        constrain_to = self.loaded.id2label if self.config.decoding == "constrained" else None
        for chunk_index in sorted(per_chunk):
            tokens = merge_windows(per_chunk[chunk_index])
            word_predictions = aggregate_words(tokens, self.config.aggregation, constrain_to)
            spans = decode_tags(word_predictions, self.loaded.id2label)
            chunk, chunk_words = chunks[chunk_index], words[chunk_index]
            for span in spans:
                if span.score < self.config.threshold:
                    continue
                for first, last in _line_pieces(
                    chunk.text, chunk_words, span.first_word, span.last_word
                ):
                    mentions.append(
                        self._mention(chunk, chunk_words, first, last, span.label, span.score)
                    )
        return mentions

    def _mention(
        self,
        chunk: Chunk,
        chunk_words: Sequence[tuple[int, int]],
        first: int,
        last: int,
        label: str,
        score: float,
    ) -> Mention:
        rel_start, rel_end = chunk_words[first][0], chunk_words[last][1]
        start, end = chunk.span.start + rel_start, chunk.span.start + rel_end
        label = self.config.label_map.get(label, label)
        loaded = self.loaded
        return Mention(
            id=stable_id("men", chunk.doc_id, start, end, label, loaded.name),
            text=chunk.text[rel_start:rel_end],
            label=label,
            provenance=Provenance(
                doc_id=chunk.doc_id,
                chunk_id=chunk.id,
                span=Span(start=start, end=end),
                score=min(1.0, max(0.0, float(score))),
                model=loaded.name,
                model_revision=loaded.revision,
                run_id=self.run_id,
                stage=STAGE,
            ),
        )
