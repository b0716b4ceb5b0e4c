"""Extractive question answering: read a question over contexts, return answer spans.

The reader is the inference half of ``kgbuild train qa`` and the reading step of
attribute filling and of question answering over the graph. A context longer than
the model's window is read in overlapping windows (``stride``), never truncated;
every answer is a character span of its context (offsets map back to the source
text), and the best spans are aggregated over windows and contexts.

Scores are probabilities: softmax over the start logits times softmax over the end
logits, normalised jointly over every window that is read for the same question (all
windows of a long context; all contexts in :meth:`ExtractiveReader.read`). A span in
one context therefore competes with the spans of the others: the scores are comparable
across contexts, and a question the contexts do not answer clearly scores low, so that
a threshold can say "no answer".

A model may declare a sentence prior (:mod:`kgbuild.nlp.sentence_prior`): within a
context of several sentences, span scores are then reweighted by how close each sentence
is to the question in a sentence-embedding space.

No answer: every span also gets a margin, its start + end logits minus the window's
``[CLS]`` start + end logits (the "no answer" score of SQuAD 2.0 models). A model
trained with negatives (``kgbuild train qa --negatives``) carries a calibration of those
margins in its manifest (``no_answer``: a Platt map fitted on held-out answerable and
unanswerable questions, see :mod:`kgbuild.nlp.calibration`): each span then has a
``confidence``, the probability that it is a right answer, and the reader abstains (no
span) when no span reaches ``min_confidence``.

A verified model (a folder written by ``kgbuild train qa-verifier``, see
:class:`VerifiedModel`) pairs two models: the reader's spans are the answers, and a
second model trained with negatives (the verifier) reads the same question and context
and decides whether to answer at all: the reader abstains when the verifier's best span
does not beat its "no answer" score by ``min_margin``. A reader that never abstains keeps
its span accuracy; the verifier's margin, chosen on questions of other articles, says no.
"""

from __future__ import annotations

import json
import logging
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from kgbuild.errors import ModelLoadError
from kgbuild.lang import model_languages
from kgbuild.nlp.batching import length_batches, pad_batch
from kgbuild.nlp.calibration import Platt
from kgbuild.nlp.hf import LoadedModel, bf16_supported, load_question_answerer, pick_device
from kgbuild.nlp.question_room import question_limit, too_long_questions
from kgbuild.nlp.sentence_encoder import load_sentence_encoder
from kgbuild.nlp.sentence_prior import SentencePrior, sentence_factors, sentence_index

__all__ = [
    "NO_ANSWER_KEY",
    "VERIFIED_FORMAT",
    "AnswerSpan",
    "ExtractiveReader",
    "NoAnswerCalibration",
    "QaQuery",
    "VerifiedModel",
]

logger = logging.getLogger(__name__)

NO_ANSWER_KEY = "no_answer"
"""Manifest key of a model's no-answer calibration."""

VERIFIED_FORMAT = "kgbuild-verified-qa"
"""``format`` of the manifest of a verified model (a reader and a verifier)."""

_MANIFEST = "kgbuild_model.json"


@dataclass(frozen=True)
class VerifiedModel:
    """A reader model whose answers a verifier model vets (a folder of two references).

    Its ``kgbuild_model.json`` says ``"format": "kgbuild-verified-qa"`` and names the
    ``reader`` and the ``verifier`` (folders relative to it, or hub ids) and ``min_margin``:
    a question is answered only when the verifier's best span beats its ``[CLS]`` score
    by at least that much.
    """

    folder: str
    reader: str
    verifier: str
    min_margin: float

    @classmethod
    def from_folder(cls, ref: str) -> VerifiedModel | None:
        """The verified model at ``ref``, or ``None`` when ``ref`` is not one.

        Raises:
            ModelLoadError: The manifest says it is one but lacks a field, or names a
                reader or verifier folder that does not exist.
        """
        data = _verified_manifest(Path(ref))
        if data is None:
            return None
        manifest = Path(ref) / _MANIFEST
        try:
            reader, verifier = str(data["reader"]), str(data["verifier"])
            min_margin = float(data["min_margin"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(
                f"{manifest}: a verified QA model needs 'reader', 'verifier' and a numeric "
                f"'min_margin' ({exc!r})"
            ) from exc
        folder = manifest.parent
        found = cls(ref, _beside(folder, reader), _beside(folder, verifier), min_margin)
        for role, named in (("reader", found.reader), ("verifier", found.verifier)):
            if _verified_manifest(Path(named)) is not None:
                raise ModelLoadError(
                    f"{manifest}: its {role} {named} is itself a verified model; name a "
                    "QA model folder or hub id"
                )
        return found


def _verified_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a verified model in ``folder`` (unchecked), or ``None``."""
    manifest = folder / _MANIFEST
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not ours to judge: the model loader reports a broken manifest
    if not isinstance(data, dict) or data.get("format") != VERIFIED_FORMAT:
        return None
    return data


def _beside(folder: Path, ref: str) -> str:
    """``ref`` as a folder relative to ``folder``, else as a folder or a hub id as given."""
    local = folder / ref
    if local.is_dir():
        return os.path.normpath(local)
    if Path(ref).is_dir() or _looks_like_hub_id(ref):
        return ref
    raise ModelLoadError(f"{folder / _MANIFEST}: the model folder {ref!r} it names does not exist")


def _looks_like_hub_id(ref: str) -> bool:
    """``owner/name`` (optionally ``@revision``), not a path."""
    name = ref.partition("@")[0]
    return name.count("/") == 1 and not name.startswith((".", "/", "~"))


@dataclass(frozen=True)
class NoAnswerCalibration:
    """How a model trained with negatives says "no answer".

    ``platt`` maps a span's margin over ``[CLS]`` to the probability that the span is a
    right answer; ``min_confidence`` is the default operating point. Without ``platt``
    (no held-out data of both kinds), a span must beat ``[CLS]`` (margin > 0).
    """

    platt: Platt | None
    min_confidence: float = 0.5

    @classmethod
    def from_manifest(cls, manifest: dict[str, object]) -> NoAnswerCalibration | None:
        """The calibration a model manifest declares, if any."""
        entry = manifest.get(NO_ANSWER_KEY)
        if not isinstance(entry, dict):
            return None
        platt = entry.get("platt")
        return cls(
            Platt(float(platt["scale"]), float(platt["bias"])) if isinstance(platt, dict) else None,
            float(entry.get("min_confidence", 0.5)),
        )

    def confidence(self, margin: float) -> float | None:
        """The probability that a span of this margin is right (``None``: uncalibrated)."""
        return None if self.platt is None else float(self.platt(margin))

    def keeps(self, margin: float, min_confidence: float | None = None) -> bool:
        """Whether a span of this margin is an answer (else the reader abstains)."""
        return bool(self.keeps_all(np.asarray([margin]), min_confidence)[0])

    def keeps_all(
        self, margins: npt.NDArray[np.float64], min_confidence: float | None = None
    ) -> npt.NDArray[np.bool_]:
        """:meth:`keeps` for an array of margins."""
        if self.platt is None:
            keep: npt.NDArray[np.bool_] = margins > 0.0
            return keep
        cut = self.min_confidence if min_confidence is None else min_confidence
        return self.platt(margins) >= cut


@dataclass(frozen=True)
class QaQuery:
    """One question over one context."""

    question: str
    context: str


@dataclass(frozen=True)
class AnswerSpan:
    """One answer: ``context[start:end] == text``, read from context ``context_index``.

    ``margin``: start + end logits minus the window's ``[CLS]`` ones (> 0: the model
    prefers this span to "no answer"); ``confidence``: its calibrated probability of being
    right (``None`` for a model without a no-answer calibration).
    """

    text: str
    start: int
    end: int
    score: float
    context_index: int
    margin: float = 0.0
    confidence: float | None = None


_MARKS = frozenset({"Mn", "Mc", "Me"})


def _question_text(query: QaQuery) -> str:
    """The question as the reader reads it (stripped; ``?`` for an empty one)."""
    return query.question.strip() or "?"


def _past_marks(text: str, end: int) -> int:
    """``end`` moved past the combining marks after it: they belong to the letter before.

    A tokenizer that strips accents ends the token "dupre" of a decomposed "Dupre\u0301"
    before its accent; an answer cut there would lose it.
    """
    while end < len(text) and unicodedata.category(text[end]) in _MARKS:
        end += 1
    return end


@dataclass(frozen=True)
class _Vetting:
    """A verified model's verifier, read beside the reader, and its margin."""

    folder: str
    verifier: ExtractiveReader
    min_margin: float


@dataclass(frozen=True)
class _Window:
    query: int  # index into the queries
    input_ids: list[int]
    offsets: list[tuple[int, int] | None]  # char offsets of context tokens, None elsewhere
    char_starts: npt.NDArray[np.int64]  # the offsets as arrays, -1 outside the context
    char_ends: npt.NDArray[np.int64]


@dataclass(frozen=True)
class _Logits:
    start: torch.Tensor  # raw logits, -inf outside the context tokens
    end: torch.Tensor
    null: float  # start + end logits at [CLS]


class ExtractiveReader:
    """An extractive QA model that reads questions over contexts in batched windows.

    Args:
        model: A model reference (Hub id, local folder, LoRA adapter from
            ``kgbuild train qa``) or an already loaded model.
        device: ``"cpu"``, ``"cuda"``... or ``None`` for automatic.
        max_length: Sub-tokens per window (question + context); default: what the
            model was trained with (``kgbuild train qa``), else the model's maximum, at
            most 384.
        stride: Context sub-tokens shared by consecutive windows; default: what the
            model was trained with, else 128.
        max_answer_tokens: Longest answer considered, in sub-tokens.
        batch_size: Windows per forward pass.
        bf16: bf16 autocast; ``None`` turns it on where the hardware supports it natively.
            A model loaded here for bf16 stores its linear layers in bf16 (no cast per call).
        sentence_prior: ``True``: the sentence prior the model's manifest declares (none
            if it declares none); ``False``: none; or a prior to use.
        abstain: Drop spans the model's no-answer calibration rejects (only for a model
            that has one); ``False`` always answers with the best span.
        min_confidence: Operating point of the no-answer calibration (default: the one
            the model's manifest declares).

    ``model`` may be a verified model (:class:`VerifiedModel`): its reader answers, and its
    verifier (read with the same device, batch size and precision) vets each answer.
    """

    def __init__(
        self,
        model: str | LoadedModel,
        *,
        device: str | None = None,
        max_length: int | None = None,
        stride: int | None = None,
        max_answer_tokens: int = 30,
        batch_size: int = 32,
        bf16: bool | None = None,
        sentence_prior: SentencePrior | bool = True,
        abstain: bool = True,
        min_confidence: float | None = None,
    ) -> None:
        verified = VerifiedModel.from_folder(model) if isinstance(model, str) else None
        if verified is not None:
            model = verified.reader
        if isinstance(model, str):
            self.bf16 = bf16_supported(pick_device(device)) if bf16 is None else bf16
            self.loaded = load_question_answerer(model, device=device, bf16=self.bf16)
        else:
            self.loaded = model
            self.bf16 = bf16_supported(model.device) if bf16 is None else bf16
        trained = self.loaded.manifest
        self.max_length = min(
            max_length or int(trained.get("max_length", 384)), self.loaded.max_length
        )
        self.stride = stride or int(trained.get("stride", 128))
        if not 0 < self.stride < self.max_length // 2:
            raise ValueError(
                f"stride {self.stride} must be under half of max_length {self.max_length}"
            )
        self.max_answer_tokens = max_answer_tokens
        self.batch_size = batch_size
        self.sentence_prior: SentencePrior | None
        if sentence_prior is True:
            self.sentence_prior = SentencePrior.from_manifest(trained, self.loaded.name)
        elif sentence_prior is False:
            self.sentence_prior = None
        else:
            self.sentence_prior = sentence_prior
        self.no_answer = NoAnswerCalibration.from_manifest(trained)
        self.abstain = abstain
        self.min_confidence = min_confidence
        self.vetting: _Vetting | None = None
        if verified is not None:
            verifier = ExtractiveReader(
                verified.verifier,
                device=device,
                batch_size=batch_size,
                bf16=self.bf16,
                abstain=False,
            )
            self.vetting = _Vetting(verified.folder, verifier, verified.min_margin)

    @property
    def abstains(self) -> bool:
        """Whether the reader answers "no answer" (a calibrated or verified model, abstention on)."""
        return self.abstain and (self.no_answer is not None or self.vetting is not None)

    @property
    def languages(self) -> frozenset[str] | None:
        """The languages the model declares in its manifest (``None``: any).

        For a verified model, those both its reader and its verifier read: each reads every
        context.
        """
        read = [model_languages(self.loaded.manifest, self.loaded.name)]
        if self.vetting is not None:
            read.append(self.vetting.verifier.languages)
        known = [languages for languages in read if languages is not None]
        return frozenset.intersection(*known) if known else None

    @property
    def name(self) -> str:
        """The model reference (the verified model's folder, for one)."""
        return self.vetting.folder if self.vetting is not None else self.loaded.name

    @property
    def revision(self) -> str:
        """The model revision (weights digest or Hub commit; reader+verifier for a verified one)."""
        if self.vetting is not None:
            return f"{self.loaded.revision}+{self.vetting.verifier.revision}"
        return self.loaded.revision

    @property
    def key(self) -> str:
        """What decides the answers: model, revision and the sentence prior, if any."""
        key = f"{self.loaded.name}@{self.loaded.revision}"
        prior = self.sentence_prior
        if prior is not None:
            key += f"|prior={prior.encoder},{prior.scale:g},{prior.weight:g}"
        if self.abstains:
            key += f"|abstain={self.min_confidence}"
            if self.vetting is not None:
                vetting = self.vetting
                key += f"|verifier={vetting.verifier.key}>={vetting.min_margin!r}"
        return key

    def _too_long(self, queries: Sequence[QaQuery]) -> set[int]:
        """Positions of the questions too long to read with a context; each is logged."""
        questions = [_question_text(q) for q in queries]
        contexts = [q.context for q in queries]
        tokenizer = self.loaded.tokenizer
        long = too_long_questions(tokenizer, questions, contexts, self.max_length, self.stride)
        limit = question_limit(tokenizer, self.max_length, self.stride)
        for position, count in long.items():
            logger.warning(
                "question not read (no answer): %d sub-tokens, reader %s reads questions of "
                "at most %d with a context longer than a window (max_length %d, stride %d): "
                "%.80r",
                count,
                self.loaded.name,
                limit,
                self.max_length,
                self.stride,
                questions[position],
            )
        return set(long)

    def _windows(self, queries: Sequence[QaQuery]) -> list[_Window]:
        tokenizer = self.loaded.tokenizer
        encoded = tokenizer(
            [_question_text(q) for q in queries],
            [q.context for q in queries],
            truncation="only_second",
            max_length=self.max_length,
            stride=self.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        windows = []
        for row, ids in enumerate(encoded["input_ids"]):
            sequence_ids = encoded.sequence_ids(row)
            context = queries[encoded["overflow_to_sample_mapping"][row]].context
            offsets = [
                (int(a), _past_marks(context, int(b))) if sequence_ids[i] == 1 else None
                for i, (a, b) in enumerate(encoded["offset_mapping"][row])
            ]
            bounds = np.asarray([o or (-1, -1) for o in offsets], dtype=np.int64).reshape(-1, 2)
            windows.append(
                _Window(
                    int(encoded["overflow_to_sample_mapping"][row]),
                    ids,
                    offsets,
                    bounds[:, 0],
                    bounds[:, 1],
                )
            )
        return windows

    @torch.inference_mode()
    def _logits(self, windows: Sequence[_Window]) -> list[_Logits]:
        """Raw start and end logits per window, ``-inf`` outside the context tokens."""
        loaded = self.loaded
        pad = loaded.tokenizer.pad_token_id or 0
        results: list[_Logits] = [None] * len(windows)  # type: ignore[list-item]
        for rows in length_batches([len(w.input_ids) for w in windows], self.batch_size):
            batch = [windows[i] for i in rows]
            ids, mask = pad_batch([w.input_ids for w in batch], pad, limit=loaded.max_length)
            with torch.autocast(loaded.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                output = loaded.model(
                    input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device)
                )
            starts, ends = output.start_logits.float().cpu(), output.end_logits.float().cpu()
            for row, window in enumerate(batch):
                allowed = torch.from_numpy(window.char_starts >= 0)
                n = len(window.input_ids)
                start = starts[row, :n].masked_fill(~allowed, float("-inf"))
                end = ends[row, :n].masked_fill(~allowed, float("-inf"))
                null = float(starts[row, 0] + ends[row, 0])
                results[rows[row]] = _Logits(start, end, null)
        return results

    @staticmethod
    def _normalise(
        logits: Sequence[_Logits], groups: Sequence[Sequence[int]]
    ) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
        """Log-probabilities, softmax taken jointly over the windows of each group.

        A window with no context token (nothing to answer from) gets ``None``.
        """
        out: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(logits)
        for group in groups:
            live = [i for i in group if torch.isfinite(logits[i].start).any()]
            if not live:
                continue
            start_norm = torch.logsumexp(torch.cat([logits[i].start for i in live]), dim=0)
            end_norm = torch.logsumexp(torch.cat([logits[i].end for i in live]), dim=0)
            for i in live:
                out[i] = (logits[i].start - start_norm, logits[i].end - end_norm)
        return out

    def _sentence_factors(
        self,
        queries: Sequence[QaQuery],
        windows: Sequence[_Window],
        logits: Sequence[tuple[torch.Tensor, torch.Tensor] | None],
    ) -> dict[int, tuple[list[int], torch.Tensor]]:
        """Per query with a context of several sentences: sentence starts and factors.

        ``queries`` are the ones the windows were cut from (``window.query`` indexes them).
        """
        prior = self.sentence_prior
        if prior is None:
            return {}
        from kgbuild.nlp.sentences import text_sentence_spans

        by_context: dict[str, list[tuple[int, int]]] = {}  # many questions share a context
        split: dict[int, list[tuple[int, int]]] = {}
        for index, query in enumerate(queries):
            context = query.context
            if context not in by_context:
                by_context[context] = text_sentence_spans(context)
            if len(by_context[context]) > 1:
                split[index] = by_context[context]
        if not split:
            return {}
        precision = "bf16" if self.bf16 else "fp32"
        encoder = load_sentence_encoder(prior.encoder, str(self.loaded.device), precision)
        log_priors = prior.log_probs(
            encoder,
            [queries[i].question for i in split],
            [[queries[i].context[a:b] for a, b in spans] for i, spans in split.items()],
        )
        starts = {i: [a for a, _ in spans] for i, spans in split.items()}
        mass = {i: torch.zeros(len(spans)) for i, spans in split.items()}
        for window, normalised in zip(windows, logits, strict=True):
            if normalised is None or window.query not in split:
                continue
            tokens = [(t, o[0]) for t, o in enumerate(window.offsets) if o is not None]
            sentence = torch.tensor([sentence_index(starts[window.query], c) for _, c in tokens])
            probs = normalised[0][[t for t, _ in tokens]].exp()
            mass[window.query].index_add_(0, sentence, probs)
        return {
            i: (starts[i], sentence_factors(log_prior, mass[i], prior.weight))
            for i, log_prior in zip(split, log_priors, strict=True)
        }

    def _answers(
        self,
        window: _Window,
        normalised: tuple[torch.Tensor, torch.Tensor],
        raw: _Logits,
        context: str,
        query: int,
        top_k: int,
        factors: tuple[list[int], torch.Tensor | None],
    ) -> list[AnswerSpan]:
        """The spans of one window that can be among its query's ``top_k`` answers.

        Candidates are the ``top_k`` best starts x ends (at least 20 each), checked and
        scored as arrays: a span the no-answer calibration rejects is dropped (when the
        reader abstains) and a score is weighted by its sentence's prior factor. Only the
        best ``top_k`` distinct spans (and any that tie with the last) become answers: a
        span below them cannot make its query's ``top_k``, whatever other windows hold.
        """
        start, end = normalised
        candidates = max(top_k, 5) * 4
        k = min(candidates, start.numel())
        start_top = torch.topk(start, k).indices
        end_top = torch.topk(end, k).indices
        in_context = torch.isfinite(raw.start)  # -inf outside the context tokens
        length = end_top[None, :] - start_top[:, None] + 1
        valid = (
            in_context[start_top][:, None]
            & in_context[end_top][None, :]
            & (length >= 1)
            & (length <= self.max_answer_tokens)
        )
        rows, cols = valid.nonzero(as_tuple=True)
        firsts, lasts = start_top[rows], end_top[cols]
        scores = torch.exp(start[firsts] + end[lasts]).double().numpy()
        margins = (raw.start[firsts] + raw.end[lasts]).double().numpy() - raw.null
        firsts_np, lasts_np = firsts.numpy(), lasts.numpy()
        calibration = self.no_answer
        if self.abstains and calibration is not None:
            keep = calibration.keeps_all(margins, self.min_confidence)
            firsts_np, lasts_np, scores, margins = (
                firsts_np[keep],
                lasts_np[keep],
                scores[keep],
                margins[keep],
            )
        char_starts = window.char_starts[firsts_np]
        char_ends = window.char_ends[lasts_np]
        sentence_starts, weights = factors
        if weights is not None:
            sentence = np.searchsorted(np.asarray(sentence_starts), char_starts, side="right") - 1
            scores = scores * weights.double().numpy()[np.maximum(sentence, 0)]
        out: list[AnswerSpan] = []
        seen: set[tuple[int, int]] = set()
        last = None
        for i in np.argsort(-scores, kind="stable").tolist():
            score = float(scores[i])
            if last is not None and score < last:
                break
            a, b = int(char_starts[i]), int(char_ends[i])
            margin = float(margins[i])
            confidence = calibration.confidence(margin) if calibration else None
            out.append(AnswerSpan(context[a:b], a, b, score, query, margin, confidence))
            seen.add((a, b))
            if len(seen) == top_k:
                last = score
        return out

    def read_batch(
        self, queries: Sequence[QaQuery], *, top_k: int = 1, joint: bool = False
    ) -> list[list[AnswerSpan]]:
        """Answer each query over its own context.

        Args:
            queries: Question/context pairs; a long context is read in windows.
            top_k: Answers kept per query (distinct spans, best first).
            joint: Normalise scores over all queries together (one question over several
                contexts, see :meth:`read`) instead of per query.

        Returns:
            list[list[AnswerSpan]]: Per query, up to ``top_k`` spans (``context_index``
            is the query's index), best first; empty when the context is empty or when
            the reader abstains (see :attr:`abstains`).
        """
        if not queries:
            return []
        live = [i for i, q in enumerate(queries) if q.context.strip()]
        long = self._too_long([queries[i] for i in live])
        live = [i for position, i in enumerate(live) if position not in long]
        windows = self._windows([queries[i] for i in live])
        by_query: dict[int, list[int]] = {}
        for index, window in enumerate(windows):
            by_query.setdefault(0 if joint else window.query, []).append(index)
        raw = self._logits(windows)
        logits = self._normalise(raw, list(by_query.values()))
        factors = self._sentence_factors([queries[i] for i in live], windows, logits)
        best: dict[int, dict[tuple[int, int], AnswerSpan]] = {i: {} for i in live}
        for window, normalised, window_raw in zip(windows, logits, raw, strict=True):
            if normalised is None:
                continue
            query = live[window.query]
            context = queries[query].context
            weighting: tuple[list[int], torch.Tensor | None] = factors.get(window.query, ([], None))
            for span in self._answers(
                window, normalised, window_raw, context, query, top_k, weighting
            ):
                kept = best[query].get((span.start, span.end))
                if kept is None or span.score > kept.score:
                    best[query][(span.start, span.end)] = span
        vetted = self._vetted(queries, joint)
        answers: list[list[AnswerSpan]] = []
        for index in range(len(queries)):
            spans = sorted(best.get(index, {}).values(), key=lambda a: (-a.score, a.start))
            answers.append(spans[:top_k] if vetted[index] else [])
        return answers

    def _vetted(self, queries: Sequence[QaQuery], joint: bool) -> list[bool]:
        """Per query: whether the verifier lets it be answered (all, without one).

        The verifier's best span of a query must beat its ``[CLS]`` score by the verified
        model's ``min_margin``; ``joint`` (one question over several contexts): its best
        span in any of them.
        """
        vetting = self.vetting
        if not self.abstain or vetting is None:
            return [True] * len(queries)
        best = [
            spans[0].margin if spans else None for spans in vetting.verifier.read_batch(queries)
        ]
        cut = vetting.min_margin
        ok = [margin is not None and margin >= cut for margin in best]
        return [any(ok)] * len(queries) if joint else ok

    def read(self, question: str, contexts: Sequence[str], *, top_k: int = 1) -> list[AnswerSpan]:
        """Answer one question over several contexts, best spans across all of them.

        Args:
            question: The question.
            contexts: Passages to read; ``context_index`` of an answer points here.
            top_k: Answers kept (distinct by context and span), best first.

        Returns:
            list[AnswerSpan]: Up to ``top_k`` answers, best first.
        """
        per_context = self.read_batch(
            [QaQuery(question, c) for c in contexts], top_k=top_k, joint=True
        )
        merged = [span for spans in per_context for span in spans]
        merged.sort(key=lambda a: (-a.score, a.context_index, a.start))
        return merged[:top_k]
