"""The one training recipe: validate, base, adapter, fit, save, evaluate, card.

Every ``train`` command runs :func:`train_model` with a task (:class:`TrainingTask`)
that says what differs: how the data is read and checked, which base model and head are
loaded, how the model is fitted and scored, and what its manifest and card hold. The
steps every task shares, and their order, live here:

1. ``prepare``: read and check the data (before any model is loaded);
2. seed, device, the base model's tokenizer and model (``load``), its revision;
3. ``adapt``: a LoRA adapter (:func:`with_adapter`) or full weights, maybe from ``--init``;
4. ``fit``, then the weights saved with the task's ``manifest``
   (:func:`kgbuild.training.common.save_trained`);
5. ``evaluate`` the saved model (model caches cleared around it);
6. the card (``model_card.json`` and the task's ``README.md``) and the task's result.

A failure or an interrupt during steps 4-6 removes the model written
(:func:`kgbuild.training.common.discard_model`): a folder without its card never loads.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol, TypedDict, TypeVar

import torch
from pydantic import BaseModel, ConfigDict

from kgbuild.errors import InputError, ModelLoadError
from kgbuild.training.common import (
    Fitted,
    TrainOptions,
    dir_size,
    discard_model,
    library_versions,
    load_init_adapter,
    lora_target_modules,
    make_output_folder,
    save_trained,
    write_card_json,
)

__all__ = [
    "Elapsed",
    "Fitted",
    "Run",
    "TrainKeywords",
    "TrainOptions",
    "TrainResult",
    "TrainingTask",
    "card_tail",
    "result_fields",
    "schedule_fields",
    "split_keywords",
    "train_model",
    "with_adapter",
]

ResultT_co = TypeVar("ResultT_co", covariant=True)
TaskOptionsT = TypeVar("TaskOptionsT")


class TrainKeywords(TypedDict, total=False):
    """:class:`~kgbuild.training.common.TrainOptions` but ``base`` and ``out``, as keywords.

    A task's keywords (``NerKeywords``...) add its own options; the ``train_...``
    functions take them and :func:`split_keywords` makes the two option objects.
    """

    epochs: float
    learning_rate: float
    batch_size: int
    seed: int
    lora_rank: int | None
    max_steps: int
    patience: int
    device: str | None
    bf16: bool | None
    init: Path | None
    command: str | None
    languages: tuple[str, ...]


def split_keywords(
    keywords: Mapping[str, Any],
    task_options: type[TaskOptionsT],
    *,
    base: str,
    out: Path,
    epochs: float,
) -> tuple[TrainOptions, TaskOptionsT]:
    """The shared and the task's options named by ``keywords``.

    ``epochs`` is the task's default number of epochs; the other shared options
    default as :class:`~kgbuild.training.common.TrainOptions` says, the task's as
    ``task_options`` says.
    """
    shared = {f.name for f in fields(TrainOptions)}
    options = TrainOptions(
        base=base,
        out=out,
        **{"epochs": epochs, **{k: v for k, v in keywords.items() if k in shared}},
    )
    return options, task_options(**{k: v for k, v in keywords.items() if k not in shared})


@dataclass(frozen=True)
class Run:
    """One run once its model is loaded and adapted: what the later hooks read."""

    options: TrainOptions
    device: torch.device
    resolved: str
    """The base model's local folder or Hub id (:func:`kgbuild.nlp.hf.resolve_model_ref`)."""
    base_revision: str
    tokenizer: Any
    bf16: bool
    """bf16 autocast (the option, or what the hardware supports natively)."""
    trainable: int
    """Trainable parameters."""
    started: tuple[float, float]
    """``time.perf_counter()`` and ``time.process_time()`` when the run began."""

    def card_head(self, task: str) -> dict[str, Any]:
        """The card's first fields: task, method and base model."""
        return {
            "task": task,
            "method": self.options.method(),
            "base": self.options.base,
            "base_resolved": self.resolved,
            "base_revision": self.base_revision,
        }


@dataclass(frozen=True)
class Elapsed:
    """Time a run took, up to its card."""

    wall_seconds: float
    cpu_seconds: float

    @classmethod
    def since(cls, started: tuple[float, float]) -> Elapsed:
        """Wall and CPU time since ``started`` (see :attr:`Run.started`)."""
        return cls(time.perf_counter() - started[0], time.process_time() - started[1])


class TrainingTask(Protocol[ResultT_co]):
    """What one kind of model adds to the recipe; one object holds one run's state."""

    options: TrainOptions
    name: str
    """Short name (``ner``, ``re``...): the Trainer's checkpoint folder prefix."""
    require_fast: bool
    """Refuse a base model without a fast tokenizer (offsets and word ids need one)."""

    @property
    def max_length(self) -> int:
        """Sub-tokens per model input (checked against the base model's positions)."""

    def prepare(self) -> None:
        """Read and check the data and the task's options.

        Raises:
            InputError: A data file is missing or empty, or an option is out of range.
        """

    def load(self, resolved: str, tokenizer: Any) -> Any:
        """The base model with the task's fresh head (the tokenizer may gain tokens)."""

    def adapt(self, model: Any) -> Any:
        """The model to train: a LoRA-wrapped one or full weights (see :func:`with_adapter`)."""

    def fit(self, run: Run, model: Any) -> Fitted:
        """Train ``model``; the fitted model is the one saved."""

    def manifest(self, run: Run) -> dict[str, Any]:
        """``kgbuild_model.json`` of the saved model (its loaders read it)."""

    def evaluate(self, run: Run) -> None:
        """Score the saved model (re-loaded from ``options.out``)."""

    def card(self, run: Run, fitted: Fitted, elapsed: Elapsed) -> dict[str, Any]:
        """``model_card.json``: the data, the hyper-parameters, the run and its scores."""

    def write_readme(self, out: Path, card: dict[str, Any]) -> None:
        """Write ``README.md`` (the human-readable card) from ``card``."""

    def result(
        self, run: Run, fitted: Fitted, elapsed: Elapsed, card: dict[str, Any]
    ) -> ResultT_co:
        """What the train function returns."""


def train_model(task: TrainingTask[ResultT_co]) -> ResultT_co:
    """Run the recipe (see the module docstring) for ``task`` and return its result.

    Raises:
        InputError: The data, an option or the output folder cannot be used (before any
            model is loaded).
        ModelLoadError: The base model cannot be loaded.
    """
    from transformers import set_seed

    from kgbuild.nlp.hf import (
        bf16_supported,
        clear_model_cache,
        model_revision,
        pick_device,
        resolve_model_ref,
    )

    options = task.options
    started = (time.perf_counter(), time.process_time())
    task.prepare()
    make_output_folder(options.out)
    set_seed(options.seed)
    target = pick_device(options.device)
    resolved = resolve_model_ref(options.base)
    tokenizer, model = _load_base(task, resolved)
    _check_positions(task, model.config)
    base_revision = model_revision(resolved, model.config)
    model = task.adapt(model)
    run = Run(
        options=options,
        device=target,
        resolved=resolved,
        base_revision=base_revision,
        tokenizer=tokenizer,
        bf16=bf16_supported(target) if options.bf16 is None else options.bf16,
        trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        started=started,
    )
    fitted = task.fit(run, model)
    try:
        save_trained(
            fitted.model,
            tokenizer,
            options.out,
            lora=options.rank is not None,
            manifest=options.declared(task.manifest(run)),
        )
        clear_model_cache()
        task.evaluate(run)
        clear_model_cache()
        elapsed = Elapsed.since(started)
        card = task.card(run, fitted, elapsed)
        write_card_json(options.out, card)
        task.write_readme(options.out, card)
    except BaseException:  # Ctrl-C too: a model without its card must not load as finished
        clear_model_cache()
        discard_model(options.out)
        raise
    return task.result(run, fitted, elapsed, card)


def _check_positions(task: TrainingTask[Any], config: Any) -> None:
    """Refuse a ``max_length`` longer than the base model has positions for.

    Raises:
        InputError: It is longer (training would fail at its first batch).
    """
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and task.max_length > positions:
        raise InputError(
            f"max_length {task.max_length} is longer than base model {task.options.base!r} "
            f"reads ({positions} positions): use --max-length {positions} or less"
        )


def _load_base(task: TrainingTask[Any], resolved: str) -> tuple[Any, Any]:
    from transformers import AutoTokenizer

    base = task.options.base
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved)
        if task.require_fast and not getattr(tokenizer, "is_fast", False):
            raise ModelLoadError(f"base model {base!r}: a fast tokenizer is required")
        return tokenizer, task.load(resolved, tokenizer)
    except (OSError, ValueError, RuntimeError) as e:
        raise ModelLoadError(f"base model {base!r}: cannot load it: {e}") from e


def with_adapter(
    model: Any,
    options: TrainOptions,
    *,
    task_type: str | None,
    modules_to_save: Sequence[str],
    trainable_token_indices: dict[str, list[int]] | None = None,
) -> Any:
    """``model`` ready to train: a LoRA adapter, or its own (or ``init``'s) full weights.

    With a LoRA rank, a peft adapter (alpha = 2 x rank, dropout 0.1) on every linear
    layer of the encoder's blocks (:func:`kgbuild.training.common.lora_target_modules`), ``modules_to_save``
    trained in full, and the ``init`` model's adapter loaded into it. Without, the
    model itself or, with ``init``, the init model's full weights (a model of the same
    class as ``model``).

    Args:
        model: The base model with a fresh head.
        options: The run's options (``lora_rank``, ``init``).
        task_type: peft ``TaskType`` name (``TOKEN_CLS``...; ``None``: a custom model).
        modules_to_save: Modules trained and saved in full beside the adapter.
        trainable_token_indices: Embedding rows trained (new tokens), by embedding name.
    """
    rank, init = options.rank, options.init
    if rank is None:
        return model if init is None else type(model).from_pretrained(str(init))
    from peft import LoraConfig, TaskType, get_peft_model

    from kgbuild.nlp.hf import PEFT_DEPRECATION

    extra: dict[str, Any] = {}
    if task_type is not None:
        extra["task_type"] = TaskType[task_type]
    if trainable_token_indices is not None:
        extra["trainable_token_indices"] = trainable_token_indices
    lora = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        lora_dropout=0.1,
        target_modules=list(lora_target_modules(model)),
        modules_to_save=list(modules_to_save),  # peft extends the list it is given
        **extra,
    )
    with warnings.catch_warnings():
        # peft 0.21 reads a property that transformers 5 deprecated; harmless.
        warnings.filterwarnings("ignore", PEFT_DEPRECATION, FutureWarning)
        model = get_peft_model(model, lora)
    if init is not None:
        load_init_adapter(model, init)
    return model


def card_tail(
    run: Run, elapsed: Elapsed, fitted: Fitted, *, unit: str | None = None
) -> dict[str, Any]:
    """The card's last fields: timing, device, threads and library versions.

    With a ``unit`` (``sentences``...), the timing holds the training speed too
    (``train_<unit>_per_second``).
    """
    speed = {} if unit is None else {f"train_{unit}_per_second": fitted.examples_per_second}
    return {
        "timing": {
            "wall_seconds": elapsed.wall_seconds,
            "cpu_seconds": elapsed.cpu_seconds,
            "train_seconds": fitted.train_seconds,
            **speed,
        },
        "device": str(run.device),
        "threads": torch.get_num_threads(),
        "versions": library_versions(),
    }


def schedule_fields(bf16: bool) -> dict[str, Any]:
    """The card's last hyper-parameters: the schedule every Trainer run uses."""
    return {"scheduler": "linear, warmup 6%", "weight_decay": 0.01, "bf16_autocast": bf16}


class TrainResult(BaseModel):
    """What every ``train_...`` function returns (each task's result adds its scores)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    out_dir: Path
    epochs_run: float
    steps: int
    train_losses: tuple[float, ...]
    wall_seconds: float
    cpu_seconds: float
    device: str
    size_bytes: int


def result_fields(run: Run, fitted: Fitted, elapsed: Elapsed) -> dict[str, Any]:
    """The fields every ``...TrainResult`` shares: folder, run length, time, size."""
    return {
        "out_dir": run.options.out,
        "epochs_run": fitted.epochs,
        "steps": fitted.steps,
        "train_losses": fitted.train_losses,
        "wall_seconds": elapsed.wall_seconds,
        "cpu_seconds": elapsed.cpu_seconds,
        "device": str(run.device),
        "size_bytes": dir_size(run.options.out),
    }
