"""NER stage: any Hugging Face token-classification model over sentence chunks.

preprocess (words, then one fast-tokenizer call for every chunk's model windows) ->
forward (batched, length-sorted, ``torch.inference_mode``) -> postprocess (window merge,
word aggregation, tag decoding for the whole batch at once, :mod:`kgbuild.nlp.batch_align`;
offsets back into the document). Windows overlap by ``stride`` tokens, so a sentence
longer than the model's maximum is read whole, never truncated.

A model trained with document context (its manifest's ``context``) reads each chunk with
the neighbouring chunks of its document (those in the same call) around it, as it was
trained (:mod:`kgbuild.nlp.context`); consecutive chunks share a window, with at least
``context_margin`` sub-tokens of context on each side, and only their words are decoded. Spans
that start or end inside a word of the text are extended to the whole word
(:func:`kgbuild.nlp.words.whole_word_spans`; ``whole_words`` in the config). In English
documents, function words come off a span's edges and, where the document is cased, a name
written all in lowercase is dropped (:mod:`kgbuild.nlp.name_checks`; ``name_checks``); a
quantity takes in its currency sign, percent or scale word (:mod:`kgbuild.nlp.quantities`;
``quantity_units``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Final

import numpy as np
import torch

from kgbuild.config import NerConfig, ResolveConfig
from kgbuild.data import Chunk, Mention, Provenance, Span
from kgbuild.ids import stable_id
from kgbuild.lang import model_languages
from kgbuild.models import resolve_task_model
from kgbuild.nlp.align import FloatArray, IntArray, split_tag
from kgbuild.nlp.batch_align import Pieces, decode_pieces
from kgbuild.nlp.batching import length_batches, shape_bucket, shape_multiple
from kgbuild.nlp.context import context_around, pack_sentences, special_token_ids
from kgbuild.nlp.hf import (
    LoadedTokenClassifier,
    load_token_classifier,
    runs_bf16,
)
from kgbuild.nlp.name_checks import is_cased, is_english, trim_function_words, written_lowercase
from kgbuild.nlp.quantities import widen_quantity
from kgbuild.nlp.sentences import LIST_MARK
from kgbuild.nlp.words import (
    is_markup_word,
    is_symbol_word,
    visible_span,
    whole_word_spans,
    word_spans,
)
from kgbuild.progress import track
from kgbuild.stages.registry import stage_key

__all__ = ["NerStage", "mention_labels"]

log = logging.getLogger(__name__)

STAGE = "ner"


@dataclass(frozen=True)
class _Windows:
    """A batch's model windows as flat arrays: window ``i`` is tokens ``bounds[i]:bounds[i + 1]``."""

    token_chunk: IntArray  # per token: the chunk a labelled token belongs to; -1 for the rest
    bounds: IntArray  # windows + 1
    input_ids: IntArray  # per token
    word_ids: IntArray  # per token; -1 for special tokens
    offsets: IntArray  # (tokens, 2): the piece's offsets within its word

    @property
    def lengths(self) -> IntArray:
        """Tokens in each window."""
        return np.diff(self.bounds)


@dataclass(frozen=True)
class _Encoded:
    """A window built here (context around a centre), shaped like a tokenizer ``Encoding``."""

    ids: list[int]
    word_ids: list[int | None]
    offsets: list[tuple[int, int]] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)
    """Per token: the chunk whose word it is; -1 outside the labelled chunks."""


def _flat_windows(encodings: Sequence[Any], chunk_index: IntArray | None = None) -> _Windows:
    """Flat arrays from the ``Encoding`` of each window.

    ``chunk_index`` gives each window's chunk (a tokenizer's windows); without it each
    encoding carries its tokens' chunks (windows built here).
    """
    lengths = np.fromiter((len(e.ids) for e in encodings), np.intp, len(encodings))
    tokens = int(lengths.sum())
    ids = chain.from_iterable(e.ids for e in encodings)
    word_ids = np.fromiter(
        (-1 if w is None else w for e in encodings for w in e.word_ids), np.intp, tokens
    )
    offsets = chain.from_iterable(chain.from_iterable(e.offsets for e in encodings))
    if chunk_index is None:
        token_chunk = np.fromiter(chain.from_iterable(e.chunks for e in encodings), np.intp, tokens)
    else:
        token_chunk = np.where(word_ids >= 0, np.repeat(chunk_index, lengths), -1)
    return _Windows(
        token_chunk=token_chunk,
        bounds=np.concatenate(([0], np.cumsum(lengths))).astype(np.intp),
        input_ids=np.fromiter(ids, np.intp, tokens),
        word_ids=word_ids,
        offsets=np.fromiter(offsets, np.intp, 2 * tokens).reshape(tokens, 2),
    )


_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
"""The characters ``str.splitlines`` ends a line at."""


def _line_pieces(
    text: str, words: Sequence[tuple[int, int]], first: int, last: int
) -> list[tuple[int, int]]:
    r"""Split a word range where a line break separates two words, unless it wraps prose.

    A name does not span a heading and the text under it, nor two items of a list, but a
    paragraph wrapped by hand breaks names too ("Hanns-Peter\nBoehm"): see
    :func:`_wraps_prose`. A line break is any that ``str.splitlines`` knows: ``\n``, an
    old Mac ``\r``, a form feed, U+2028 (JSON text may hold it) ...

    Emoji and other symbol words (:func:`~kgbuild.nlp.words.is_symbol_word`) and Markdown
    marks (:func:`~kgbuild.nlp.words.is_markup_word`) come off each piece's edges, and a
    piece of nothing else is dropped: they are never names.
    """
    pieces, start = [], first
    for index in range(first + 1, last + 1):
        before, after = words[index - 1][1], words[index][0]
        if not _LINE_BREAKS.isdisjoint(text[before:after]) and not _wraps_prose(
            text, before, after
        ):
            pieces.append((start, index - 1))
            start = index
    pieces.append((start, last))
    trimmed = []
    for start, end in pieces:
        while start <= end and _never_named(text[words[start][0] : words[start][1]]):
            start += 1
        while end >= start and _never_named(text[words[end][0] : words[end][1]]):
            end -= 1
        if start <= end:
            trimmed.append((start, end))
    return trimmed


_ONE_LINE_END = re.compile(r"[ \t]*(?:\r\n|\r|\n)[ \t]*")
_QUOTE_HEADING_ROW = re.compile(r"[>#|](?:\s|$)")
"""What starts a Markdown quote, heading or table row (a line of its own)."""


def _wraps_prose(text: str, end: int, start: int) -> bool:
    r"""Whether the line break in ``text[end:start]`` only wraps a paragraph's prose.

    That is one line end (no form feed, no U+2028) after a line holding a word in
    lowercase ("written by Dr. Hanns-Peter" is prose; a heading, or a list of names one a
    line, has none), before a line that starts no list item (any
    :data:`~kgbuild.nlp.sentences.LIST_MARK`), quote, heading or table row.

    >>> _wraps_prose("report by Hanns-Peter\nBoehm", 21, 22)
    True
    >>> _wraps_prose("Acme Robotics\nAcme Robotics Inc.", 13, 14)
    False
    >>> _wraps_prose("- met Maria\n- Gonzalez", 11, 12)
    False
    """
    # Any list mark cuts here, without the rest of the paragraph that sentence splitting
    # asks for (kgbuild.nlp.sentences._is_item): a dash or number that only looks like a
    # mark ("article\n34. Again") is no part of a name, so cutting before it loses none.
    if (
        not _ONE_LINE_END.fullmatch(text, end, start)
        or LIST_MARK.match(text, start)
        or _QUOTE_HEADING_ROW.match(text, start)
    ):
        return False
    line = text[max(text.rfind(ch, 0, end) for ch in _LINE_BREAKS) + 1 : end]
    return any(word[:1].islower() for word in line.split())


def _never_named(word: str) -> bool:
    return is_symbol_word(word) or is_markup_word(word)


_TITLES: Final = frozenset(title.rstrip(".").casefold() for title in ResolveConfig().person_titles)
"""Honorifics ("Dr.", "Ms", "Sir"): a mention that is only one names no one."""


def _without_titles(
    text: str, spans: Sequence[tuple[int, int, str, float]]
) -> list[tuple[int, int, str, float]]:
    """``spans`` less those that are only a title ("Dr." tagged apart from "King").

    Resolution gathered every lone "Dr." of a corpus into one entity named "Dr.". The
    title is not joined to the name after it: gold annotations (CoNLL, Re-DocRED) leave
    titles out of names, and resolution strips them anyway.
    """
    return [span for span in spans if text[span[0] : span[1]].rstrip(".").casefold() not in _TITLES]


def mention_labels(tags: Iterable[str], label_map: Mapping[str, str]) -> list[str]:
    """The mention labels a model of these tags predicts, renamed by ``label_map``.

    >>> mention_labels(["O", "B-Peop", "I-Peop", "B-LOC"], {"Peop": "PER"})
    ['LOC', 'PER']
    """
    return sorted(
        {label_map.get(kind, kind) for tag in tags if (kind := split_tag(tag)[1]) is not None}
    )


class NerStage:
    """Token-classification NER over chunks; returns Mentions with provenance.

    ``model``: the model to load in place of the config's ``model`` (a language model of
    ``ner.language_models``); every other setting is the config's.
    """

    def __init__(
        self,
        config: NerConfig | None = None,
        *,
        run_id: str,
        progress: bool = False,
        model: str | None = None,
    ) -> None:
        self.config = config or NerConfig()
        self.run_id = run_id
        self.progress = progress
        self.bf16 = runs_bf16(self.config.precision, self.config.device)
        self.loaded: LoadedTokenClassifier = load_token_classifier(
            model or resolve_task_model("ner", self.config.model),
            device=self.config.device,
            bf16=self.bf16,
        )
        self.context = bool(self.loaded.manifest.get("context"))
        """Whether the model reads neighbouring chunks as context (trained so)."""
        self.languages = model_languages(self.loaded.manifest, self.loaded.name)
        """What the model reads (its manifest's ``languages``; ``None``: any language)."""
        self.labels = mention_labels(self.loaded.id2label.values(), self.config.label_map)

    @property
    def model_key(self) -> str:
        """The config's output fields, the model revision and the precision it runs at.

        ``language_models`` is left to the step that routes documents to them
        (:class:`~kgbuild.stages.factories.NerStep`), which keys the models it resolved.
        """
        return stage_key(
            self.config,
            {
                "model": f"{self.loaded.name}@{self.loaded.revision}",
                "precision": "bf16" if self.bf16 else "fp32",
                "languages": self.languages,
            },
            unused=("language_models",),
        )

    def __call__(self, chunks: Sequence[Chunk], langs: Mapping[str, str]) -> list[Mention]:
        """Find mentions in ``chunks``; ``langs`` maps document id to language code."""
        words = [word_spans(chunk.text, langs.get(chunk.doc_id, "en")) for chunk in chunks]
        windows = self._windows(chunks, words)
        probs = self._forward(windows)
        return self._postprocess(chunks, words, windows, probs, langs)

    # -- preprocess ---------------------------------------------------------------------------

    def _window_length(self) -> int:
        limit = self.loaded.max_length
        return min(self.config.max_length or limit, limit)

    def _windows(self, chunks: Sequence[Chunk], words: Sequence[list[tuple[int, int]]]) -> _Windows:
        """Every chunk's words through the fast tokenizer in one call; long ones overflow."""
        indexed = [i for i, spans in enumerate(words) if spans]
        if not indexed:
            return _flat_windows([], np.zeros(0, dtype=np.intp))
        max_length = self._window_length()
        if self.context:
            return self._context_windows(chunks, words, indexed, max_length)
        return self._overflow_windows(chunks, words, indexed, max_length)

    def _overflow_windows(
        self,
        chunks: Sequence[Chunk],
        words: Sequence[list[tuple[int, int]]],
        indexed: Sequence[int],
        max_length: int,
    ) -> _Windows:
        """Each chunk alone, in windows that overlap by ``stride`` tokens where it is long."""
        if not indexed:
            return _flat_windows([], np.zeros(0, dtype=np.intp))
        encoded = self.loaded.tokenizer(
            [[chunks[i].text[start:end] for start, end in words[i]] for i in indexed],
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            stride=min(self.config.stride, max_length // 2 - 2),
            return_overflowing_tokens=True,
        )
        sample = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.intp)
        return _flat_windows(encoded.encodings, np.asarray(indexed, dtype=np.intp)[sample])

    def _context_windows(
        self,
        chunks: Sequence[Chunk],
        words: Sequence[list[tuple[int, int]]],
        indexed: Sequence[int],
        max_length: int,
    ) -> _Windows:
        """Consecutive chunks of a document labelled together, its neighbours read around them.

        A chunk too long for one window is read alone, in overlapping windows.
        """
        tokenizer = self.loaded.tokenizer
        encoded = tokenizer(
            [[chunks[i].text[start:end] for start, end in words[i]] for i in indexed],
            is_split_into_words=True,
            add_special_tokens=False,
        )
        encodings = dict(zip(indexed, encoded.encodings, strict=True))
        first, last = special_token_ids(tokenizer)
        room = max_length - 2
        documents: dict[str, list[int]] = {}
        for i in sorted(indexed, key=lambda i: (chunks[i].doc_id, chunks[i].index)):
            documents.setdefault(chunks[i].doc_id, []).append(i)
        built: list[_Encoded] = []
        long: list[int] = []
        for members in documents.values():
            pieces = [encodings[i].ids for i in members]
            lengths = [len(ids) for ids in pieces]
            for group in pack_sentences(lengths, room, self.config.context_margin):
                if lengths[group.start] > room:
                    long.append(members[group.start])
                    continue
                centre = [encodings[members[position]] for position in group]
                size = sum(lengths[position] for position in group)
                before, after = context_around(pieces, group.start, group.stop, room - size)
                outside_before = [None] * (1 + len(before))
                outside_after = [None] * (1 + len(after))
                built.append(
                    _Encoded(
                        ids=[
                            first,
                            *before,
                            *chain.from_iterable(e.ids for e in centre),
                            *after,
                            last,
                        ],
                        word_ids=[
                            *outside_before,
                            *chain.from_iterable(e.word_ids for e in centre),
                            *outside_after,
                        ],
                        offsets=[
                            *([(0, 0)] * len(outside_before)),
                            *chain.from_iterable(e.offsets for e in centre),
                            *([(0, 0)] * len(outside_after)),
                        ],
                        chunks=[
                            *([-1] * len(outside_before)),
                            *(members[p] for p in group for _ in range(lengths[p])),
                            *([-1] * len(outside_after)),
                        ],
                    )
                )
        alone = self._overflow_windows(chunks, words, sorted(long), max_length)
        if not built:
            return alone
        own = _flat_windows(built)
        return _Windows(
            token_chunk=np.concatenate([own.token_chunk, alone.token_chunk]),
            bounds=np.concatenate([own.bounds, own.bounds[-1] + alone.bounds[1:]]),
            input_ids=np.concatenate([own.input_ids, alone.input_ids]),
            word_ids=np.concatenate([own.word_ids, alone.word_ids]),
            offsets=np.concatenate([own.offsets, alone.offsets]),
        )

    # -- forward ------------------------------------------------------------------------------

    def _forward(self, windows: _Windows) -> FloatArray:
        """Label probabilities of every token, windows in length-sorted batches."""
        loaded = self.loaded
        lengths = windows.lengths
        probs = np.zeros((len(windows.input_ids), len(loaded.id2label)), dtype=np.float32)
        pad_id = loaded.tokenizer.pad_token_id or 0
        # longest first, ties in window order, cut where padding would dominate a batch
        batches = length_batches(lengths.tolist(), self.config.batch_size)
        autocast = torch.autocast(loaded.device.type, dtype=torch.bfloat16, enabled=self.bf16)
        multiple = shape_multiple(self.bf16, loaded.device.type)
        with torch.inference_mode(), autocast:
            for batch in track(
                batches, STAGE, enabled=self.progress, detail=f"{len(windows.lengths):,} windows"
            ):
                rows = np.asarray(batch, dtype=np.intp)
                width = shape_bucket(int(lengths[rows[0]]), multiple, limit=loaded.max_length)
                real = np.arange(width) < lengths[rows, None]
                positions = (windows.bounds[rows, None] + np.arange(width))[real]
                ids = np.full((len(rows), width), pad_id, dtype=np.int64)
                ids[real] = windows.input_ids[positions]
                logits = loaded.model(
                    input_ids=torch.from_numpy(ids).to(loaded.device),
                    attention_mask=torch.from_numpy(real.astype(np.int64)).to(loaded.device),
                ).logits
                probs[positions] = torch.softmax(logits.float(), dim=-1).cpu().numpy()[real]
        return probs

    # -- postprocess --------------------------------------------------------------------------

    def _postprocess(
        self,
        chunks: Sequence[Chunk],
        words: Sequence[list[tuple[int, int]]],
        windows: _Windows,
        probs: FloatArray,
        langs: Mapping[str, str],
    ) -> list[Mention]:
        window = np.repeat(np.arange(len(windows.lengths)), windows.lengths)
        piece = windows.token_chunk >= 0
        spans = decode_pieces(
            Pieces(
                sequence=windows.token_chunk[piece],
                window=window[piece],
                word=windows.word_ids[piece],
                start=windows.offsets[piece, 0],
                end=windows.offsets[piece, 1],
                probs=probs[piece],
            ),
            self.config.aggregation,
            self.loaded.id2label,
            constrained=self.config.decoding == "constrained",
        )
        found: dict[int, list[tuple[int, int, str, float]]] = {}
        for chunk_index, first_word, last_word, label, score in zip(
            spans.sequence.tolist(),
            spans.first_word.tolist(),
            spans.last_word.tolist(),
            spans.label,
            spans.score,
            strict=True,
        ):
            if score < self.config.threshold:
                continue
            chunk, chunk_words = chunks[chunk_index], words[chunk_index]
            for first, last in _line_pieces(chunk.text, chunk_words, first_word, last_word):
                start, end = visible_span(chunk.text, chunk_words[first][0], chunk_words[last][1])
                if start < end:
                    found.setdefault(chunk_index, []).append((start, end, label, score))
        checked = self._checked_documents(chunks, langs)
        mentions: list[Mention] = []
        for chunk_index in sorted(found):
            chunk, chunk_spans = chunks[chunk_index], found[chunk_index]
            if self.config.whole_words:
                chunk_spans = whole_word_spans(chunk.text, chunk_spans)
            if chunk.doc_id in checked:
                chunk_spans = self._checked(chunk.text, chunk_spans, cased=checked[chunk.doc_id])
            mentions.extend(self._mention(chunk, *span) for span in chunk_spans)
        return mentions

    def _checked_documents(
        self, chunks: Sequence[Chunk], langs: Mapping[str, str]
    ) -> dict[str, bool]:
        """English documents whose spans go through the checks -> whether their text is cased."""
        if not (self.config.name_checks or self.config.quantity_units):
            return {}
        sentences: dict[str, list[str]] = {}
        for chunk in chunks:
            if is_english(langs.get(chunk.doc_id, "en")):
                sentences.setdefault(chunk.doc_id, []).append(chunk.text)
        return {doc_id: is_cased(texts) for doc_id, texts in sentences.items()}

    def _checked(
        self, text: str, spans: Sequence[tuple[int, int, str, float]], *, cased: bool
    ) -> list[tuple[int, int, str, float]]:
        """A chunk's spans after the name checks and the quantity widening the config asks for.

        Name checks (:mod:`kgbuild.nlp.name_checks`): function words come off a span's
        edges, a span left empty is dropped, and in cased text so is a name written all in
        lowercase. Quantities (:mod:`kgbuild.nlp.quantities`) take in their currency sign,
        percent or scale word, unless that would run into another span.
        """
        kept = []
        for index, (start, end, label, score) in enumerate(spans):
            kind = self.config.label_map.get(label, label)
            if self.config.name_checks:
                trimmed = trim_function_words(text, start, end)
                if trimmed is None:
                    continue
                start, end = trimmed
                if cased and kind in self.config.name_labels and written_lowercase(text[start:end]):
                    continue
            if self.config.quantity_units and kind in self.config.quantity_labels:
                wide_start, wide_end = widen_quantity(text, start, end)
                if not any(
                    s < wide_end and wide_start < e
                    for other, (s, e, _, _) in enumerate(spans)
                    if other != index
                ):
                    start, end = wide_start, wide_end
            kept.append((start, end, label, score))
        return _without_titles(text, kept) if self.config.name_checks else kept

    def _mention(
        self, chunk: Chunk, rel_start: int, rel_end: int, label: str, score: float
    ) -> Mention:
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
