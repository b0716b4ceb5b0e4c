"""Knowledge distillation for NER: a student also learns a teacher's word-level label odds.

``kgbuild train ner --teacher MODEL`` reads every training sentence with the teacher (a NER
model with the same labels, e.g. the accurate tier) before training: each word's label
distribution at its first sub-token, softened by a temperature
(:func:`teacher_word_probabilities`). The student's loss is then
``(1 - w) * cross-entropy(gold) + w * T^2 * KL(teacher || student)`` on the words the
teacher read (:func:`distillation_trainer`; Hinton et al. 2015). The teacher also speaks
where gold is silent: the dates and numbers of a partial source (CoNLL has no TIME or NUM
type), whose ``O`` is masked for the gold loss.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from kgbuild.errors import InputError
from kgbuild.nlp.hf import LoadedModel
from kgbuild.readers.conll import TaggedSentence

__all__ = [
    "TEACHER_FEATURE",
    "TeacherCollator",
    "WordProbabilities",
    "distillation_trainer",
    "load_teacher",
    "teacher_word_probabilities",
]

logger = logging.getLogger(__name__)

TEACHER_FEATURE = "teacher_probs"
"""Feature key of a training window's teacher distributions: ``(positions, labels)`` float16,
zero rows where the teacher says nothing (context, special tokens, later sub-tokens)."""

WordProbabilities = list[list[np.ndarray]]
"""Per document, per sentence: ``(words, labels)`` probabilities in the student's label order."""


def load_teacher(ref: str, device: str | None = None) -> LoadedModel:
    """The teacher model, in bf16 where the hardware has native bf16 kernels."""
    from kgbuild.nlp.hf import load_token_classifier, runs_bf16

    return load_token_classifier(ref, device=device, bf16=runs_bf16("auto", device))


def teacher_word_probabilities(
    loaded: LoadedModel,
    documents: Sequence[Sequence[TaggedSentence]],
    labels: Sequence[str],
    *,
    temperature: float,
    context_margin: int | None = None,
    batch_size: int = 32,
) -> WordProbabilities:
    """The teacher's label distribution for every word of ``documents`` (see the module doc).

    The teacher (:func:`load_teacher`) reads the documents as it was trained to (in context
    when its manifest says so, packed as the NER stage packs them; else one sentence at a
    time; a sentence longer than a window in parts). A word that gets no sub-token gets a
    zero row.

    Raises:
        InputError: The teacher's labels are not ``labels`` (in any order).
    """
    from kgbuild.config import NerConfig
    from kgbuild.training.ner import _packed_windows

    bf16 = any(p.dtype == torch.bfloat16 for p in loaded.model.parameters())
    theirs = [loaded.id2label[i] for i in range(len(loaded.id2label))]
    if sorted(theirs) != sorted(labels):
        raise InputError(
            f"teacher {loaded.name!r} has labels {sorted(theirs)}, the data {sorted(labels)}: "
            "a teacher must predict the same labels"
        )
    order = torch.tensor([theirs.index(label) for label in labels])
    context = bool(loaded.manifest.get("context", False))
    margin = NerConfig().context_margin if context_margin is None else context_margin
    max_length = min(int(loaded.manifest.get("max_length", 512)), loaded.max_length)
    out: WordProbabilities = [
        [np.zeros((len(s.tokens), len(labels)), dtype=np.float32) for s in document]
        for document in documents
    ]
    windows = [
        (doc, window)
        for doc, document in enumerate(documents)
        for window in _packed_windows(
            [s.tokens for s in document],
            loaded.tokenizer,
            max_length=max_length,
            margin=margin if context else None,
        )
    ]
    windows.sort(key=lambda item: len(item[1].input_ids))  # little padding per batch
    autocast = torch.autocast(loaded.device.type, dtype=torch.bfloat16, enabled=bf16)
    for first in range(0, len(windows), batch_size):
        batch = windows[first : first + batch_size]
        width = len(batch[-1][1].input_ids)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (_, window) in enumerate(batch):
            ids[row, : len(window.input_ids)] = torch.tensor(window.input_ids)
            mask[row, : len(window.input_ids)] = 1
        with torch.inference_mode(), autocast:
            logits = loaded.model(
                input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device)
            ).logits
        probabilities = torch.softmax(logits.float() / temperature, dim=-1)[..., order].cpu()
        for row, (doc, window) in enumerate(batch):
            previous: tuple[int, int] | None = None
            for position, (sentence, word) in enumerate(
                zip(window.sentences, window.word_ids, strict=True)
            ):
                if word is None or sentence < 0 or (sentence, word) == previous:
                    continue
                out[doc][sentence][word] = probabilities[row, position].numpy()
                previous = (sentence, word)
    logger.info("teacher %s read %d windows of %d documents", loaded.name, len(windows), len(out))
    return out


class TeacherCollator:
    """A token-classification collator that also pads :data:`TEACHER_FEATURE` (zero rows)."""

    def __init__(self, tokenizer: Any) -> None:
        from transformers import DataCollatorForTokenClassification

        self.inner = DataCollatorForTokenClassification(tokenizer)

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Pad the batch; the teacher rows become one ``(rows, width, labels)`` tensor."""
        teachers = [f.get(TEACHER_FEATURE) for f in features]
        batch: dict[str, Any] = self.inner(
            [{k: v for k, v in f.items() if k != TEACHER_FEATURE} for f in features]
        )
        if all(t is None for t in teachers):
            return batch
        rows, width = batch["input_ids"].shape
        classes = next(t for t in teachers if t is not None).shape[1]
        padded = torch.zeros((rows, width, classes), dtype=torch.float32)
        for row, teacher in enumerate(teachers):
            if teacher is not None:
                padded[row, : len(teacher)] = torch.from_numpy(teacher.astype(np.float32))
        batch[TEACHER_FEATURE] = padded
        return batch


def distillation_trainer(teacher_weight: float, temperature: float) -> Any:
    """The Trainer class with the distillation loss (see the module docstring).

    Made on demand, so that importing this module does not import transformers.
    """
    from transformers import Trainer

    class DistillationTrainer(Trainer):
        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            """Gold cross-entropy mixed with the KL to the teacher on the words it read."""
            teacher = inputs.pop(TEACHER_FEATURE, None)
            outputs = model(**inputs)
            loss = outputs.loss
            if teacher is not None:
                read = teacher.sum(dim=-1) > 0
                if bool(read.any()):
                    student = torch.log_softmax(outputs.logits.float() / temperature, dim=-1)
                    target = teacher[read]
                    kl = (target * (torch.log(target.clamp_min(1e-8)) - student[read])).sum(-1)
                    soft = kl.mean() * temperature**2
                    gold = loss if loss is not None and torch.isfinite(loss) else soft * 0.0
                    loss = (1.0 - teacher_weight) * gold + teacher_weight * soft
            return (loss, outputs) if return_outputs else loss

    return DistillationTrainer
