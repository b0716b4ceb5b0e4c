"""Fine-tuning and evaluating BERT-style token classifiers for NER.

Training uses the Hugging Face ``Trainer``: first-subtoken labels (``-100`` on the
other pieces and on special tokens), dynamic padding, length-grouped batches, one
evaluation per epoch with seqeval entity F1, the best epoch kept and early stopping.
With LoRA only the adapter and the classifier head are saved (fp16), beside the
tokenizer, ``kgbuild_model.json`` and a model card (``model_card.json`` and
``README.md``).
"""

from __future__ import annotations

import logging
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from kgbuild.errors import InputError, ModelLoadError
from kgbuild.nlp.align import (
    AggregationStrategy,
    TokenPrediction,
    aggregate_words,
    constrained_label_ids,
)
from kgbuild.nlp.hf import (
    PEFT_DEPRECATION,
    bf16_supported,
    clear_model_cache,
    load_token_classifier,
    model_revision,
    pick_device,
    resolve_model_ref,
)
from kgbuild.readers.conll import TaggedSentence, read_conll
from kgbuild.training.common import (
    FeatureDataset,
    check_init,
    dir_size,
    fit,
    library_versions,
    load_init_adapter,
    run_lines,
    save_trained,
    sha256_file,
    write_card_json,
)
from kgbuild.training.metrics import NerScores, ner_scores

__all__ = [
    "LORA_TARGET_MODULES",
    "NerTrainResult",
    "evaluate_ner",
    "label_list",
    "predict_tags",
    "train_ner",
]

logger = logging.getLogger(__name__)

LORA_TARGET_MODULES = (
    "query",
    "key",
    "value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
"""Every linear layer of a BERT encoder layer (names as in ``modeling_bert``)."""

_PREFIX_ORDER = {"B": 0, "I": 1, "M": 2, "E": 3, "S": 4, "L": 5, "U": 6}


class NerTrainResult(BaseModel):
    """What :func:`train_ner` produced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    out_dir: Path
    labels: tuple[str, ...]
    dev: NerScores
    best_dev_f1_during_training: float | None
    epochs_run: float
    steps: int
    train_losses: tuple[float, ...]
    wall_seconds: float
    cpu_seconds: float
    train_sentences_per_second: float
    device: str
    size_bytes: int


def label_list(sentences: Sequence[TaggedSentence]) -> list[str]:
    """Return the sorted tag set: ``"O"`` first, then by entity type and prefix.

    Args:
        sentences: Tagged sentences.

    Returns:
        list[str]: Labels; the index is the class id.
    """
    tags = {tag for sentence in sentences for tag in sentence.tags} - {"O"}
    ordered = sorted(tags, key=lambda t: (t[2:], _PREFIX_ORDER.get(t[0], 9), t))
    return ["O", *ordered]


def _encode(
    sentences: Sequence[TaggedSentence],
    tokenizer: Any,
    label2id: dict[str, int],
    *,
    max_length: int,
    label_all_subtokens: bool,
) -> FeatureDataset:
    """Tokenize words and align labels to the first sub-token of each word."""
    features: list[dict[str, list[int]]] = []
    for sentence in sentences:
        encoding = tokenizer(
            list(sentence.tokens),
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
        )
        labels: list[int] = []
        previous: int | None = None
        for word_id in encoding.word_ids():
            if word_id is None:
                labels.append(-100)
            elif word_id != previous:
                labels.append(label2id[sentence.tags[word_id]])
            elif label_all_subtokens:
                tag = sentence.tags[word_id]
                inside = f"I-{tag[2:]}" if tag.startswith("B-") else tag
                labels.append(label2id.get(inside, label2id[tag]))
            else:
                labels.append(-100)
            previous = word_id
        feature = {key: list(value) for key, value in encoding.items()}
        feature["labels"] = labels
        features.append(feature)
    return FeatureDataset(features)


def _scores_table(scores: NerScores) -> str:
    rows = ["| type | precision | recall | F1 | gold | predicted |", "|---|---|---|---|---|---|"]
    items = [*scores.per_type.items(), ("**micro**", scores.micro)]
    for name, prf in items:
        rows.append(
            f"| {name} | {100 * prf.precision:.2f} | {100 * prf.recall:.2f} | "
            f"{100 * prf.f1:.2f} | {prf.support} | {prf.predicted} |"
        )
    return "\n".join(rows)


def _write_model_card(out: Path, card: dict[str, Any], dev: NerScores) -> None:
    write_card_json(out, card)
    data = card["data"]
    run = run_lines(card, unit="sentences", f1_as_fraction=True)
    text = f"""# NER model: {out.name}

Token classifier fine-tuned by `kgbuild train ner` ({card["method"]}).

- Base model: `{card["base"]}` (resolved revision `{card["base_revision"]}`)
- Labels ({len(card["labels"])}): {", ".join(f"`{label}`" for label in card["labels"])}
- Training data: `{data["train"]["path"]}` ({data["train"]["sentences"]} sentences,
  sha256 `{data["train"]["sha256"]}`)
- Dev data: `{data["dev"]["path"]}` ({data["dev"]["sentences"]} sentences,
  sha256 `{data["dev"]["sha256"]}`)
{run}

## Dev scores (entity level, seqeval default / conlleval, saved model re-loaded)

{_scores_table(dev)}

## Use

```python
from kgbuild.nlp.hf import load_token_classifier
loaded = load_token_classifier("{out}")
```
"""
    (out / "README.md").write_text(text, encoding="utf-8")


NER_FORMATS = ("conll", "bmes", "weibo", "spans", "conll04")
"""Training data formats: CoNLL BIO columns, character BMES (Chinese), Weibo
``char+segment`` BIO, JSON(L) text with character spans, and the entities of CoNLL04
JSON (types renamed to the pipeline's ``PER``/``ORG``/``LOC``/``MISC``, as the relation
models expect)."""


def read_tagged(path: Path, data_format: str) -> list[TaggedSentence]:
    """Read a NER training file in one of :data:`NER_FORMATS` (tags come back as BIO)."""
    from kgbuild.readers.bmes import read_bmes, read_weibo
    from kgbuild.readers.relations import CONLL04_ENTITY_TYPES, read_conll04_tags
    from kgbuild.readers.spans import read_spans

    readers: dict[str, Callable[[Path], list[TaggedSentence]]] = {
        "conll": read_conll,
        "bmes": read_bmes,
        "weibo": read_weibo,
        "spans": read_spans,
        "conll04": lambda file: read_conll04_tags(file, CONLL04_ENTITY_TYPES),
    }
    if data_format not in readers:
        raise ValueError(f"unknown NER data format {data_format!r}; use one of {NER_FORMATS}")
    return readers[data_format](path)


def train_ner(
    train: Path,
    dev: Path,
    *,
    base: str,
    out: Path,
    epochs: float = 8,
    learning_rate: float = 1e-3,
    batch_size: int = 32,
    seed: int = 42,
    lora_rank: int | None = 32,
    max_length: int = 128,
    patience: int = 2,
    max_steps: int = -1,
    label_all_subtokens: bool = False,
    device: str | None = None,
    bf16: bool | None = None,
    command: str | None = None,
    data_format: str = "conll",
    init: Path | None = None,
) -> NerTrainResult:
    """Fine-tune a token classifier on CoNLL files and save it to ``out``.

    Args:
        train: Training file (CoNLL columns, see :mod:`kgbuild.readers.conll`).
        dev: Dev file, scored after every epoch (entity F1 picks the best epoch).
        base: Base model reference (``pypi:...``, local folder or Hub id).
        out: Output folder (created; files in it are overwritten).
        epochs: Maximum number of epochs (early stopping may end sooner).
        learning_rate: Peak learning rate (linear decay, 6% warm-up).
        batch_size: Sentences per training batch.
        seed: Seed for initialisation, shuffling and dropout.
        lora_rank: LoRA rank (alpha = 2 x rank) on every linear layer; ``None``
            (or 0) fine-tunes all weights.
        max_length: Maximum number of sub-tokens per sentence (longer ones are
            truncated for training).
        patience: Epochs without dev F1 improvement before stopping.
        max_steps: Stop after this many optimisation steps (``-1``: no limit).
        label_all_subtokens: Train on every sub-token (continuation pieces get the
            ``I-`` label) instead of on first sub-tokens only.
        device: ``"cpu"``, ``"cuda"``... or ``None`` for automatic.
        bf16: Train with bf16 autocast; ``None`` turns it on where the hardware
            supports it natively (recent CUDA GPUs, CPUs with AVX512-BF16 or AMX,
            where it is about 3x faster than fp32). Saved weights stay fp32/fp16.
        command: Command line recorded in the model card (default: ``sys.argv``).
        data_format: Format of ``train`` and ``dev``, one of :data:`NER_FORMATS`.
        init: A kgbuild NER model folder to continue from instead of a fresh head (for
            example the CoNLL-2003 model, continued on a smaller corpus with the same
            labels): its LoRA adapter (same rank) or, for a full fine-tune, its weights.
            It must have been trained from ``base`` with the data's labels.

    Returns:
        NerTrainResult: Output folder, labels, dev scores of the saved model, timing.

    Raises:
        InputError: A data file is missing or holds no sentences, or an option is
            out of range.
        ModelLoadError: The base model cannot be loaded.
    """
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        EarlyStoppingCallback,
        EvalPrediction,
        set_seed,
    )

    wall_start, cpu_start = time.perf_counter(), time.process_time()
    for path in (train, dev):
        if not path.is_file():
            raise InputError(f"data file {path} does not exist")
    if epochs <= 0 or batch_size <= 0 or learning_rate <= 0 or max_length < 8:
        raise InputError("epochs, batch_size and learning_rate must be > 0, max_length >= 8")
    rank = lora_rank or None
    train_sentences = read_tagged(train, data_format)
    dev_sentences = read_tagged(dev, data_format)
    if not train_sentences or not dev_sentences:
        raise InputError(f"no sentences in {train if not train_sentences else dev}")
    labels = label_list([*train_sentences, *dev_sentences])
    label2id = {label: i for i, label in enumerate(labels)}
    id2label = dict(enumerate(labels))
    if init is not None:
        check_init(init, base=base, rank=rank, task="token-classification", labels=labels)

    set_seed(seed)
    target = pick_device(device)
    resolved = resolve_model_ref(base)
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved)
        model: Any = AutoModelForTokenClassification.from_pretrained(
            resolved,
            id2label=id2label,
            label2id=label2id,
            ignore_mismatched_sizes=True,
        )
    except (OSError, ValueError, RuntimeError) as e:
        raise ModelLoadError(f"base model {base!r}: cannot load it: {e}") from e
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"base model {base!r}: a fast tokenizer is required")
    base_revision = model_revision(resolved, model.config)
    if init is not None and rank is None:
        model = AutoModelForTokenClassification.from_pretrained(str(init))
    if rank is not None:
        from peft import LoraConfig, TaskType, get_peft_model

        lora = LoraConfig(
            task_type=TaskType.TOKEN_CLS,
            r=rank,
            lora_alpha=2 * rank,
            lora_dropout=0.1,
            target_modules=list(LORA_TARGET_MODULES),
            modules_to_save=["classifier"],
        )
        with warnings.catch_warnings():
            # peft 0.21 reads a property that transformers 5 deprecated; harmless.
            warnings.filterwarnings("ignore", PEFT_DEPRECATION, FutureWarning)
            model = get_peft_model(model, lora)
        if init is not None:
            load_init_adapter(model, init)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    logger.info("trainable parameters: %d of %d", trainable, total)

    train_data = _encode(
        train_sentences,
        tokenizer,
        label2id,
        max_length=max_length,
        label_all_subtokens=label_all_subtokens,
    )
    dev_data = _encode(
        dev_sentences, tokenizer, label2id, max_length=max_length, label_all_subtokens=False
    )

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        # Dev is decoded as inference decodes it: the best valid tag sequence over the
        # first sub-token of each word (the labelled positions).
        pred_probs = np.asarray(prediction.predictions, dtype=np.float32)
        gold_ids = np.asarray(prediction.label_ids)
        gold_tags: list[list[str]] = []
        pred_tags: list[list[str]] = []
        for prob_rows, gold_row in zip(pred_probs, gold_ids, strict=True):
            keep = gold_row != -100
            gold_tags.append([id2label[int(i)] for i in gold_row[keep]])
            label_ids = constrained_label_ids(prob_rows[keep], id2label)
            pred_tags.append([id2label[i] for i in label_ids])
        scores = ner_scores(gold_tags, pred_tags)
        return {
            "precision": scores.micro.precision,
            "recall": scores.micro.recall,
            "f1": scores.micro.f1,
        }

    use_bf16 = bf16_supported(target) if bf16 is None else bf16
    fitted = fit(
        model,
        tokenizer,
        name="ner",
        train_data=train_data,
        dev_data=dev_data,
        collator=DataCollatorForTokenClassification(tokenizer),
        compute_metrics=compute_metrics,
        preprocess_logits=lambda logits, _labels: torch.softmax(logits.float(), dim=-1),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=patience)],
        device=target,
        epochs=epochs,
        max_steps=max_steps,
        learning_rate=learning_rate,
        batch_size=batch_size,
        seed=seed,
        bf16=use_bf16,
    )
    model = fitted.model

    manifest = {
        "base": base,
        "task": "token-classification",
        "labels": labels,
        "max_length": max_length,
    }
    save_trained(model, tokenizer, out, lora=rank is not None, manifest=manifest)

    clear_model_cache()
    dev_scores = evaluate_ner(str(out), dev, device=str(target), data_format=data_format)
    clear_model_cache()

    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    card: dict[str, Any] = {
        "task": "token-classification",
        "method": f"LoRA r={rank} alpha={2 * rank}" if rank is not None else "full fine-tune",
        "base": base,
        "base_resolved": resolved,
        "base_revision": base_revision,
        "labels": labels,
        "data": {
            name: {"path": str(path.resolve()), "sha256": sha256_file(path), "sentences": n}
            for name, path, n in (
                ("train", train, len(train_sentences)),
                ("dev", dev, len(dev_sentences)),
            )
        },
        "command": command if command is not None else shlex.join(sys.argv),
        "seed": seed,
        "hyperparameters": {
            "epochs": epochs,
            "learning_rate": learning_rate,
            "batch_size": batch_size,
            "lora_rank": rank,
            "lora_alpha": 2 * rank if rank is not None else None,
            "lora_dropout": 0.1 if rank is not None else None,
            "lora_target_modules": list(LORA_TARGET_MODULES) if rank is not None else None,
            "max_length": max_length,
            "patience": patience,
            "max_steps": max_steps,
            "label_all_subtokens": label_all_subtokens,
            "init": str(init.resolve()) if init is not None else None,
            "scheduler": "linear, warmup 6%",
            "weight_decay": 0.01,
            "bf16_autocast": use_bf16,
        },
        "trainable_parameters": trainable,
        "epochs_run": fitted.epochs,
        "steps": fitted.steps,
        "best_checkpoint_dev_f1": fitted.best_dev_f1,
        "dev_f1_per_epoch": list(fitted.dev_f1_per_epoch),
        "dev_scores": dev_scores.model_dump(),
        "timing": {
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "train_seconds": fitted.train_seconds,
            "train_sentences_per_second": fitted.examples_per_second,
        },
        "device": str(target),
        "threads": torch.get_num_threads(),
        "versions": library_versions(),
    }
    _write_model_card(out, card, dev_scores)
    return NerTrainResult(
        out_dir=out,
        labels=tuple(labels),
        dev=dev_scores,
        best_dev_f1_during_training=fitted.best_dev_f1,
        epochs_run=fitted.epochs,
        steps=fitted.steps,
        train_losses=fitted.train_losses,
        wall_seconds=wall,
        cpu_seconds=cpu,
        train_sentences_per_second=card["timing"]["train_sentences_per_second"],
        device=str(target),
        size_bytes=dir_size(out),
    )


def predict_tags(
    model_ref: str,
    sentences: Sequence[Sequence[str]],
    *,
    device: str | None = None,
    batch_size: int = 32,
    constrained: bool = True,
) -> list[list[str]]:
    """Tag pre-tokenized sentences with a token classifier (first sub-token per word).

    Words that get no sub-token (e.g. control characters) or fall beyond the
    model's maximum length are tagged ``"O"``.

    Args:
        model_ref: Model reference for :func:`kgbuild.nlp.hf.load_token_classifier`.
        sentences: Sentences as lists of words.
        device: ``"cpu"``, ``"cuda"``... or ``None`` for automatic.
        batch_size: Sentences per forward pass.
        constrained: Tag each sentence with its most probable valid BIO/BIOES sequence
            (:func:`kgbuild.nlp.align.constrained_label_ids`), as the NER stage does by
            default; ``False``: each word's most probable tag.

    Returns:
        list[list[str]]: One tag per word, per sentence.
    """
    loaded = load_token_classifier(model_ref, device=device)
    tokenizer, model = loaded.tokenizer, loaded.model
    labels = loaded.id2label if constrained else None  # None: each word's argmax
    results: list[list[str]] = [["O"] * len(words) for words in sentences]
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch_ids = [i for i in order[start : start + batch_size] if sentences[i]]
            if not batch_ids:
                continue
            encoding = tokenizer(
                [list(sentences[i]) for i in batch_ids],
                is_split_into_words=True,
                truncation=True,
                max_length=loaded.max_length,
                padding=True,
                return_tensors="pt",
            )
            inputs = {k: v.to(loaded.device) for k, v in encoding.items()}
            probs = torch.softmax(model(**inputs).logits.float(), dim=-1).cpu().numpy()
            for row, index in enumerate(batch_ids):
                pieces = [
                    TokenPrediction(
                        word=word_id, start=position, end=position, probs=probs[row, position]
                    )
                    for position, word_id in enumerate(encoding.word_ids(row))
                    if word_id is not None
                ]
                for word in aggregate_words(pieces, AggregationStrategy.FIRST, labels):
                    results[index][word.word] = loaded.id2label[word.label_id]
    return results


def evaluate_ner(
    model_ref: str,
    data_path: Path,
    *,
    device: str | None = None,
    batch_size: int = 32,
    data_format: str = "conll",
) -> NerScores:
    """Score a token classifier on a tagged file (entity level, seqeval default mode).

    Args:
        model_ref: Model reference (Hub id, local folder, adapter folder, ``pypi:``).
        data_path: File with gold tags, in ``data_format`` (one of :data:`NER_FORMATS`).
        data_format: Format of ``data_path``.
        device: ``"cpu"``, ``"cuda"``... or ``None`` for automatic.
        batch_size: Sentences per forward pass.

    Returns:
        NerScores: Micro and per-type precision, recall and F1.

    Raises:
        InputError: The file is missing.
        ModelLoadError: The model cannot be loaded.
    """
    if not data_path.is_file():
        raise InputError(f"data file {data_path} does not exist")
    sentences = read_tagged(data_path, data_format)
    predicted = predict_tags(
        model_ref, [s.tokens for s in sentences], device=device, batch_size=batch_size
    )
    return ner_scores([list(s.tags) for s in sentences], predicted)
