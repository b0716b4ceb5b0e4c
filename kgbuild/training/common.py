"""What the ``train`` commands share: Trainer arguments, file hashes, versions, sizes."""

from __future__ import annotations

import hashlib
import json
import platform
import re
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "LORA_TARGET_MODULES",
    "MODEL_CARD_FILE",
    "FeatureDataset",
    "Fitted",
    "TrainOptions",
    "check_dev_labels",
    "check_init",
    "dir_size",
    "discard_model",
    "fit",
    "input_embedding_name",
    "library_versions",
    "load_init_adapter",
    "logits_to_ids",
    "lora_target_modules",
    "make_output_folder",
    "read_json_object",
    "run_lines",
    "save_adapter_fp16",
    "save_trained",
    "sha256_file",
    "sha256_files",
    "training_arguments",
    "write_card_json",
]

MODEL_CARD_FILE = "model_card.json"
"""The machine-readable model card in a model folder (beside its README.md)."""

LORA_TARGET_MODULES = (
    "query",
    "key",
    "value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
"""Every linear layer of a BERT encoder layer (names as in ``modeling_bert``)."""


def lora_target_modules(model: Any) -> tuple[str, ...]:
    """The LoRA targets of ``model``: every linear layer of its encoder's repeated blocks.

    Named as peft matches them (the path after the block's index): a BERT-shaped encoder
    gives :data:`LORA_TARGET_MODULES`; others their own names (MPNet ``attention.attn.q``...,
    DistilBERT ``attention.q_lin``...), which BERT's names would miss: an MPNet base trained
    with them got LoRA on its feed-forward layers only. Linear layers outside the blocks
    (pooler, task head) are left to ``modules_to_save``.
    """
    found = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            parts = name.split(".")
            indexes = [i for i, part in enumerate(parts) if part.isdigit()]
            if indexes:
                found.add(".".join(parts[indexes[-1] + 1 :]))
    bert = {"attention.self.query", "attention.self.key", "attention.self.value"}
    bert |= {"attention.output.dense", "intermediate.dense", "output.dense"}
    if not found or found == bert:
        return LORA_TARGET_MODULES
    return tuple(sorted(found))


_LIBRARIES = ("torch", "transformers", "peft", "accelerate", "seqeval", "tokenizers", "kgbuild")


def input_embedding_name(model: Any) -> str:
    """The attribute name of ``model``'s input embeddings (``word_embeddings`` for BERT).

    peft's ``trainable_token_indices`` names the layer whose new rows it trains by it.
    """
    return next(
        str(name).rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if module is model.get_input_embeddings()
    )


def sha256_file(path: Path) -> str:
    """SHA-256 of a data file (recorded in model cards)."""
    return sha256_files((path,))


def sha256_files(paths: Sequence[Path]) -> str:
    """SHA-256 of ``paths`` read one after the other (``cat`` them into ``sha256sum``)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Python and library versions (recorded in model cards)."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object file (a manifest, a card).

    Raises:
        InputError: The file is missing, is not JSON, or holds something else than an object.
    """
    from kgbuild.errors import InputError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read {path}: {e}") from e
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a JSON object")
    return data


def make_output_folder(out: Path) -> None:
    """Create the output folder ``out`` (parents too) before a run spends time on training.

    An existing folder is written into when it is a previous model's (its manifest, card
    or weights are there, an adapter's too; the new model replaces it) or holds none of the
    files a run replaces: a project folder's ``README.md`` or another program's
    ``config.json`` are never lost.

    Raises:
        InputError: ``out`` is a file, holds files of something else that the run would
            replace, or cannot be created.
    """
    from kgbuild.errors import InputError
    from kgbuild.nlp.hf import KGBUILD_MODEL_FILE

    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is a file: name a folder with --out")
    if out.is_dir() and not any(
        (out / name).exists() for name in (KGBUILD_MODEL_FILE, MODEL_CARD_FILE, *_WEIGHT_FILES)
    ):
        taken = [name for name in (*_MODEL_FILES, "README.md") if (out / name).exists()]
        if taken:
            raise InputError(
                f"output folder {out} holds {', '.join(taken)} and is not a kgbuild model's "
                "folder: training would replace them. Name a new or empty folder with --out"
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the output folder {out}: {e.strerror or e}") from e


def check_dev_labels(dev: Path, trained: set[str], dev_labels: set[str], ignore: str) -> None:
    """Refuse a dev file with a relation label that no training example has.

    Such a label was trained on no example: its score means nothing (mostly a typo, or
    another label set). ``ignore`` is the no-relation class, never named.

    Raises:
        InputError: Names the dev file, the labels and the training labels.
    """
    from kgbuild.errors import InputError

    missing = sorted(dev_labels - trained)
    if missing:
        known = ", ".join(sorted(trained - {ignore})) or "none"
        raise InputError(
            f"{dev}: dev relation labels {', '.join(missing)} appear in no training "
            f"example (it has {known}): add examples of them to --train, or remove them "
            "from the dev file"
        )


def dir_size(path: Path) -> int:
    """Bytes of all files under ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def logits_to_ids(logits: torch.Tensor, _labels: torch.Tensor) -> torch.Tensor:
    """``preprocess_logits_for_metrics``: keep class ids, not logits, between eval steps."""
    return logits.argmax(dim=-1)


def training_arguments(
    output_dir: str,
    options: TrainOptions,
    *,
    examples: int,
    bf16: bool,
    device: torch.device,
    trainer_evaluates: bool = True,
    label_names: list[str] | None = None,
    extra_features: bool = False,
) -> Any:
    """TrainingArguments of every kgbuild training run.

    Linear decay with 6% warm-up, seeded, length-grouped batches. With
    ``trainer_evaluates``, evaluation and a checkpoint each epoch and the best
    checkpoint (dev ``f1``) loaded at the end; without, the caller evaluates (a
    callback) and no checkpoint is written. ``extra_features``: batches keep features the
    model's ``forward`` does not take (a custom loss reads them).
    """
    from transformers import TrainingArguments

    per_epoch = "epoch" if trainer_evaluates else "no"

    batch_size, max_steps = options.batch_size, options.max_steps
    steps_per_epoch = max(1, -(-examples // batch_size))
    planned_steps = max_steps if max_steps > 0 else int(steps_per_epoch * options.epochs)
    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=options.epochs,
        max_steps=max_steps,
        learning_rate=options.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=0.06,
        weight_decay=0.01,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=max(64, batch_size),
        eval_strategy=per_epoch,
        save_strategy=per_epoch,
        save_total_limit=1,
        load_best_model_at_end=trainer_evaluates,
        label_names=label_names,
        metric_for_best_model="f1",
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=max(1, min(50, planned_steps // 10)),
        train_sampling_strategy="group_by_length",
        seed=options.seed,
        data_seed=options.seed,
        bf16=bf16,
        use_cpu=device.type == "cpu",
        report_to="none",
        dataloader_num_workers=0,
        save_only_model=True,
        remove_unused_columns=not extra_features,
    )


_LANGUAGE_CODE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
"""A BCP 47-style language code: ``en``, ``zh``, ``en-GB``."""


@dataclass(frozen=True)
class TrainOptions:
    """What every ``train`` command sets (each task adds its own options beside these)."""

    base: str
    """Base model reference (``pypi:...``, local folder or Hub id)."""
    out: Path
    """Output folder (created; files in it are overwritten)."""
    epochs: float
    """Maximum number of epochs (early stopping may end sooner)."""
    learning_rate: float = 1e-3
    """Peak learning rate (linear decay, 6% warm-up)."""
    batch_size: int = 32
    """Examples (sentences, candidate pairs, windows) per training batch."""
    seed: int = 42
    """Seed for initialisation, splits and samples, shuffling and dropout."""
    lora_rank: int | None = 32
    """LoRA rank (alpha = 2 x rank) on every linear layer, the task's head trained in
    full; ``None`` (or 0) fine-tunes all weights."""
    max_steps: int = -1
    """Stop after this many optimisation steps (``-1``: no limit)."""
    patience: int = 2
    """Epochs without dev F1 improvement before stopping."""
    device: str | None = None
    """``"cpu"``, ``"cuda"``... or ``None`` for automatic."""
    bf16: bool | None = None
    """Train with bf16 autocast; ``None`` turns it on where the hardware supports it
    natively (recent CUDA GPUs, CPUs with AVX512-BF16 or AMX, where it is about 3x faster
    than fp32). Saved weights stay fp32/fp16."""
    init: Path | None = None
    """A kgbuild model of the task to continue from instead of a fresh head: its LoRA
    adapter (same rank) or, for a full fine-tune, its weights. It must have been trained
    from ``base``."""
    command: str | None = None
    """Command line recorded in the model card (default: ``sys.argv``)."""
    languages: tuple[str, ...] = ()
    """Language codes the model reads, written into its manifest (``languages``): builds then
    skip it for documents in other languages. Empty: none declared (it reads any language)."""
    encoding: str = "utf-8"
    """Text encoding of the data files (``--encoding``); a byte-order mark in a file
    overrides it (:func:`kgbuild.readers.files.open_text`)."""

    def __post_init__(self) -> None:
        from kgbuild.errors import InputError

        bad = [code for code in self.languages if not _LANGUAGE_CODE.fullmatch(code)]
        if bad:
            raise InputError(
                f"--language takes language codes such as 'en' or 'zh', not {', '.join(bad)}"
            )

    @property
    def rank(self) -> int | None:
        """The LoRA rank, ``None`` for a full fine-tune."""
        return self.lora_rank or None

    def check(self, max_length: int, *, least: int) -> None:
        """Refuse numbers out of range (``max_length``, a task option, at least ``least``).

        Raises:
            InputError: An option is out of range.
        """
        from kgbuild.errors import InputError

        if min(self.epochs, self.batch_size, self.learning_rate) <= 0 or max_length < least:
            raise InputError(
                f"epochs, batch_size and learning_rate must be > 0, max_length >= {least}"
            )
        if self.lora_rank is not None and self.lora_rank < 0:
            raise InputError(f"lora_rank must be >= 0 (0: a full fine-tune), not {self.lora_rank}")
        if self.max_steps == 0 or self.max_steps < -1:
            raise InputError(f"max_steps must be > 0, or -1 for no limit, not {self.max_steps}")
        if self.patience < 1:
            raise InputError(
                f"patience must be >= 1 (epochs without a dev gain), not {self.patience}: "
                "below 1 a run stops after its first epoch"
            )

    def declared(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """``manifest`` with the declared ``languages`` (lowercased), when there are any."""
        if not self.languages:
            return manifest
        return {**manifest, "languages": sorted({code.lower() for code in self.languages})}

    def command_line(self) -> str:
        """The command line the model card records."""
        return self.command if self.command is not None else shlex.join(sys.argv)

    def method(self) -> str:
        """How the weights are trained, as the model card says it."""
        rank = self.rank
        return f"LoRA r={rank} alpha={2 * rank}" if rank is not None else "full fine-tune"

    def hyperparameters(
        self, *, dropout: bool = True, targets: Sequence[str] = LORA_TARGET_MODULES
    ) -> dict[str, Any]:
        """The card's first hyper-parameters: epochs, learning rate, batch size, LoRA.

        ``targets``: the LoRA target modules (:func:`lora_target_modules` of the base).
        """
        rank = self.rank
        lora = {
            "lora_rank": rank,
            "lora_alpha": 2 * rank if rank is not None else None,
            "lora_dropout": 0.1 if rank is not None else None,
            "lora_target_modules": list(targets) if rank is not None else None,
        }
        if not dropout:
            del lora["lora_dropout"]
        return {
            "epochs": self.epochs,
            "learning_rate": self.learning_rate,
            "batch_size": self.batch_size,
            **lora,
        }


class FeatureDataset(torch.utils.data.Dataset[dict[str, Any]]):
    """Encoded training or dev examples (one dict of model inputs each) for the Trainer."""

    def __init__(self, features: list[dict[str, Any]]) -> None:
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.features[index]


@dataclass(frozen=True)
class Fitted:
    """What one Trainer run produced (the model with its best weights, and the record)."""

    model: Any
    steps: int
    epochs: float
    train_losses: tuple[float, ...]
    dev_f1_per_epoch: tuple[float, ...]
    """Dev ``f1`` of each Trainer evaluation, in order (empty when the caller evaluates)."""
    train_seconds: float
    """Optimisation time only: dev evaluations are excluded."""
    examples_seen: float

    @property
    def best_dev_f1(self) -> float | None:
        """Best dev ``f1`` the Trainer measured (``None`` when the caller evaluates)."""
        return max(self.dev_f1_per_epoch, default=None)

    @property
    def examples_per_second(self) -> float:
        """Training examples per second of optimisation."""
        return self.examples_seen / self.train_seconds


def fit(
    model: Any,
    tokenizer: Any,
    options: TrainOptions,
    *,
    name: str,
    train_data: FeatureDataset,
    collator: Any,
    device: torch.device,
    bf16: bool,
    callbacks: Sequence[Any],
    dev_data: FeatureDataset | None = None,
    compute_metrics: Callable[[Any], dict[str, float]] | None = None,
    label_names: list[str] | None = None,
    caller_eval_seconds: Callable[[], float] | None = None,
    preprocess_logits: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = logits_to_ids,
    trainer_class: Any = None,
) -> Fitted:
    """Train ``model`` with the Hugging Face Trainer and the kgbuild training arguments.

    With ``dev_data`` (and ``compute_metrics`` giving ``f1``) the Trainer scores dev each
    epoch (``preprocess_logits`` reduces each batch's logits to what ``compute_metrics``
    reads: class ids by default) and ends on the best
    checkpoint; without, a callback of the caller evaluates
    and ``caller_eval_seconds`` reports the time it spent, to leave out of the speed.
    Checkpoints live in a temporary folder that is removed afterwards. ``trainer_class``:
    a ``Trainer`` subclass with its own loss (its batches keep every feature).
    """
    from transformers import Trainer

    from kgbuild.nlp.hf import PEFT_DEPRECATION

    trainer_evaluates = dev_data is not None
    with tempfile.TemporaryDirectory(prefix=f"kgbuild-{name}-") as checkpoints:
        args = training_arguments(
            checkpoints,
            options,
            examples=len(train_data),
            bf16=bf16,
            device=device,
            trainer_evaluates=trainer_evaluates,
            label_names=label_names,
            extra_features=trainer_class is not None,
        )
        trainer = (trainer_class or Trainer)(
            model=model,
            args=args,
            data_collator=collator,
            train_dataset=train_data,
            eval_dataset=dev_data,
            processing_class=tokenizer,
            compute_metrics=compute_metrics,
            preprocess_logits_for_metrics=preprocess_logits if trainer_evaluates else None,
            callbacks=list(callbacks),
        )
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", PEFT_DEPRECATION, FutureWarning)
            # Intermediate checkpoints (a temporary folder) keep a resized embedding
            # matrix whole; the final save keeps only the trained rows.
            warnings.filterwarnings("ignore", ".*save_embedding_layers.*", UserWarning)
            output = trainer.train()
        history = trainer.state.log_history
        eval_seconds = sum(float(e.get("eval_runtime", 0.0)) for e in history)
        if caller_eval_seconds is not None:
            eval_seconds += caller_eval_seconds()
        evals = [float(e["eval_f1"]) for e in history if "eval_f1" in e]
        epochs_run = float(trainer.state.epoch or 0.0)
        return Fitted(
            model=trainer.model,
            steps=int(output.global_step),
            epochs=epochs_run,
            train_losses=tuple(float(e["loss"]) for e in history if "loss" in e),
            dev_f1_per_epoch=tuple(evals),
            train_seconds=max(1e-9, time.perf_counter() - started - eval_seconds),
            examples_seen=min(
                float(output.global_step * options.batch_size), len(train_data) * epochs_run
            ),
        )


def save_adapter_fp16(model: Any, out: Path) -> None:
    """Save a PEFT adapter, its saved modules and trained new-token rows, in fp16.

    The embedding matrix is never saved whole: only the rows of tokens added and
    trained (peft ``trainable_token_indices``), so an adapter stays a few MB.
    """
    from safetensors.torch import load_file, save_file

    from kgbuild.nlp.hf import PEFT_DEPRECATION

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", PEFT_DEPRECATION, FutureWarning)
        model.save_pretrained(str(out), save_embedding_layers=False)
    weights = out / "adapter_model.safetensors"
    state = load_file(str(weights))
    half = {
        key: (value.half() if value.is_floating_point() else value).contiguous()
        for key, value in state.items()
    }
    save_file(half, str(weights), metadata={"format": "pt"})


_MODEL_FILES = (
    "adapter_config.json",
    "adapter_model.safetensors",
    "adapter_model.bin",
    "config.json",
    "model.safetensors",
    "pytorch_model.bin",
    "pair_classifier.safetensors",
)
"""Weight files a previous run may have left in an output folder (they would shadow the new one;
int8 adapter files are removed by :func:`kgbuild.nlp.adapter_weights.remove_int8_files`)."""

_WEIGHT_FILES = tuple(name for name in _MODEL_FILES if name != "config.json")
"""Files only a model's folder holds (``config.json`` is also another program's)."""


def discard_model(out: Path) -> None:
    """Remove the manifest, weights and card of the model folder ``out``: it loads no more.

    A run that fails or is interrupted once it has begun writing ``out`` leaves no folder
    that loads as a model (its weights beside a previous run's card, or without a card).
    """
    from kgbuild.nlp.adapter_weights import remove_int8_files
    from kgbuild.nlp.hf import KGBUILD_MODEL_FILE

    for name in (KGBUILD_MODEL_FILE, *_MODEL_FILES, MODEL_CARD_FILE, "README.md"):
        (out / name).unlink(missing_ok=True)
    remove_int8_files(out)


def save_trained(
    model: Any, tokenizer: Any, out: Path, *, lora: bool, manifest: dict[str, Any]
) -> None:
    """Write a trained model folder: weights (fp16 adapter or full), tokenizer, manifest.

    ``manifest`` (base, task, labels...) is written as ``kgbuild_model.json`` with its
    ``format`` (``lora`` or ``full``) filled in; the loaders in :mod:`kgbuild.nlp.hf` read it.
    A previous model's files in ``out`` are removed first (:func:`discard_model`), its card
    included: the run writes its own.
    """
    from kgbuild.nlp.hf import KGBUILD_MODEL_FILE

    out.mkdir(parents=True, exist_ok=True)
    discard_model(out)
    model = model.to("cpu")
    if lora:
        save_adapter_fp16(model, out)
    else:
        model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    written = {**manifest, "format": "lora" if lora else "full"}
    (out / KGBUILD_MODEL_FILE).write_text(json.dumps(written, indent=2) + "\n", encoding="utf-8")


def check_init(
    init: Path, *, base: str, rank: int | None, task: str, labels: Sequence[str] | None = None
) -> None:
    """Refuse, before any loading, a trained model to continue from that cannot be continued.

    It must be a kgbuild model for ``task`` trained from ``base``, in the same form as the
    run (a LoRA adapter of rank ``rank``, or full weights when ``rank`` is ``None``) and,
    where ``labels`` are given, with exactly those labels in that order (the head's rows).

    Raises:
        InputError: The model cannot be continued by this run, and why.
    """
    from kgbuild.errors import InputError
    from kgbuild.nlp.hf import read_manifest

    manifest = read_manifest(init, str(init), task)
    if manifest.get("base") != base:
        raise InputError(
            f"init model {init} was trained from {manifest.get('base')!r}, not --base {base!r}"
        )
    if rank is None and manifest.get("format") != "full":
        raise InputError(f"init model {init} is a LoRA adapter: continue it with a LoRA rank")
    if rank is not None:
        if manifest.get("format") != "lora":
            raise InputError(f"init model {init} is a full model: continue it with --lora-rank 0")
        config = json.loads((init / "adapter_config.json").read_text(encoding="utf-8"))
        if int(config.get("r", -1)) != rank:
            raise InputError(f"init model {init} has LoRA rank {config.get('r')}, not {rank}")
    if labels is not None and list(manifest.get("labels", [])) != list(labels):
        raise InputError(
            f"init model {init} has labels {manifest.get('labels')}, but the data has "
            f"{list(labels)}: a head can only be continued on the same labels"
        )


def load_init_adapter(model: Any, init: Path) -> None:
    """Put the LoRA adapter (and trained head) of ``init`` into the new PEFT ``model``."""
    from peft import set_peft_model_state_dict

    from kgbuild.errors import ModelLoadError
    from kgbuild.nlp.adapter_weights import read_adapter_weights

    try:
        state = read_adapter_weights(init)
    except ValueError as e:
        raise ModelLoadError(f"init model {init}: {e}") from e
    if state is None:
        raise ModelLoadError(f"init model {init} has no adapter weights")
    result: Any = set_peft_model_state_dict(model, state)
    unexpected: list[str] = list(result.unexpected_keys)
    if unexpected:
        raise ModelLoadError(
            f"init model {init}: {len(unexpected)} adapter weights fit no layer, "
            f"e.g. {unexpected[0]}"
        )


def write_card_json(out: Path, card: dict[str, Any]) -> None:
    """Write :data:`MODEL_CARD_FILE` (the machine-readable model card) into ``out``."""
    (out / MODEL_CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def run_lines(
    card: dict[str, Any], *, unit: str, f1_as_fraction: bool, extra: Sequence[str] = ()
) -> str:
    """The model-card README lines every ``train`` command writes about its run.

    Command, seed, hyper-parameters, ``extra`` lines, epochs with dev F1 per epoch, time
    and speed (``timing["train_<unit>_per_second"]``), device and library versions.
    """
    timing, scale = card["timing"], 100 if f1_as_fraction else 1
    per_epoch = ", ".join(f"{scale * f:.2f}" for f in card["dev_f1_per_epoch"])
    return "\n".join(
        [
            f"- Command: `{card['command']}`",
            f"- Seed: {card['seed']}",
            "- Hyper-parameters: "
            + ", ".join(f"{k}={v}" for k, v in card["hyperparameters"].items()),
            *extra,
            f"- Epochs run: {card['epochs_run']:.2f} ({card['steps']} steps); best epoch kept;",
            f"  dev F1 per epoch: {per_epoch}",
            f"- Time: {timing['wall_seconds']:.0f} s wall, {timing['cpu_seconds']:.0f} s CPU "
            "(process),",
            f"  {timing[f'train_{unit}_per_second']:.1f} training {unit}/s",
            f"- Device: {card['device']} ({card['threads']} CPU threads)",
            "- Libraries: " + ", ".join(f"{k} {v}" for k, v in card["versions"].items()),
        ]
    )
