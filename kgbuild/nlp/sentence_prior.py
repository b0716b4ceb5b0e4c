"""A sentence prior for the extractive reader: which sentence of a context answers.

The reader's span scores come from a small model fine-tuned on a few thousand questions;
a sentence-embedding model trained on far more question/sentence pairs is the better
judge of *which sentence* a question is about. The two are combined as a product of
experts inside each context: a span's score is multiplied by its sentence's prior,
``softmax(scale * cosine(question, sentence)) ** weight``, and the context's scores are
renormalised so that the context keeps the probability mass the reader gave it. A
context of one sentence is therefore unchanged, and so is the competition between
contexts; only the choice between the sentences of one context moves.

On the held-back SQuAD articles this lifts the shipped reader by about two F1 points
(see the model card of ``models/qa-en-minilm``). A QA model declares its prior in its
``kgbuild_model.json`` (``kgbuild train qa --sentence-prior``), so it is used wherever
the model is.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from kgbuild.errors import ModelLoadError
from kgbuild.nlp.sentence_encoder import DEFAULT_SENTENCE_ENCODER, SentenceEncoder

__all__ = ["MANIFEST_KEY", "SentencePrior", "sentence_factors", "sentence_index"]

MANIFEST_KEY = "sentence_prior"
"""The ``kgbuild_model.json`` entry of a QA model that declares its prior."""


@dataclass(frozen=True)
class SentencePrior:
    """How the reader weighs a context's sentences by their similarity to the question.

    Attributes:
        encoder: Sentence-embedding model reference (mean pooling, cosine similarity).
        scale: Inverse temperature of the softmax over cosines; 20 is the scale
            all-MiniLM-L6-v2 was trained with (its contrastive loss multiplies cosines by 20).
        weight: Exponent of the prior in the product (1: plain product of experts).
    """

    encoder: str = DEFAULT_SENTENCE_ENCODER
    scale: float = 20.0
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.encoder.strip():
            raise ValueError("sentence prior: encoder must name a model")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"sentence prior: scale must be > 0, got {self.scale}")
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise ValueError(f"sentence prior: weight must be >= 0, got {self.weight}")

    def to_manifest(self) -> dict[str, Any]:
        """The manifest entry that declares this prior."""
        return asdict(self)

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], model: str) -> SentencePrior | None:
        """The prior a model's manifest declares, ``None`` when it declares none.

        Raises:
            ModelLoadError: The entry is not a valid prior (names ``model`` and the field).
        """
        entry = manifest.get(MANIFEST_KEY)
        if entry is None:
            return None
        if not isinstance(entry, Mapping) or set(entry) - {"encoder", "scale", "weight"}:
            raise ModelLoadError(
                f"model {model!r}: {MANIFEST_KEY} in its manifest must be an object with "
                f"encoder, scale and weight, got {entry!r}"
            )
        try:
            return cls(**dict(entry))
        except (TypeError, ValueError) as e:
            raise ModelLoadError(f"model {model!r}: {MANIFEST_KEY}: {e}") from e

    def log_probs(
        self, encoder: SentenceEncoder, questions: Sequence[str], sentences: Sequence[Sequence[str]]
    ) -> list[torch.Tensor]:
        """Per question, log-softmax over its sentences of ``scale * cosine``."""
        texts = [
            t
            for question, group in zip(questions, sentences, strict=True)
            for t in (question, *group)
        ]
        embedded = encoder.encode(texts)
        out: list[torch.Tensor] = []
        row = 0
        for group in sentences:
            question, rows = embedded[row], embedded[row + 1 : row + 1 + len(group)]
            out.append(torch.log_softmax(self.scale * (rows @ question), dim=0))
            row += 1 + len(group)
        return out


def sentence_index(sentence_starts: Sequence[int], char: int) -> int:
    """The sentence (by its start offsets, ascending) that holds character ``char``."""
    return max(0, bisect.bisect_right(sentence_starts, char) - 1)


def sentence_factors(
    log_prior: torch.Tensor, start_mass: torch.Tensor, weight: float
) -> torch.Tensor:
    """What each sentence's span scores are multiplied by.

    Args:
        log_prior: Log-probability of each sentence under the prior.
        start_mass: The reader's probability that an answer starts in each sentence.
        weight: Exponent of the prior.

    Returns:
        torch.Tensor: ``prior ** weight`` renormalised so that the context's total
        mass (``start_mass.sum()``) is unchanged; all ones when the mass is zero.
    """
    prior = torch.exp(weight * (log_prior - log_prior.max()))
    total = float(start_mass.sum())
    reweighted = float((prior * start_mass).sum())
    if total <= 0 or reweighted <= 0:
        return torch.ones_like(log_prior)
    return prior * (total / reweighted)
