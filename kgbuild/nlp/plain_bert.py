"""BERT encoders for inference in plain torch: a cold start without transformers' modeling.

Importing transformers' model classes (``modeling_utils``, which brings ``torch._dynamo``,
``torch.distributed.tensor`` and scipy) takes about 4 s on a 2-core CPU, most of a cold
``kgbuild ask``. Every model a question or a default build needs is a BERT (MiniLM) saved as
``config.json`` plus ``model.safetensors``: the sentence encoder's package, the merged-adapter
cache (:mod:`kgbuild.nlp.merged_cache`) and the document relation model's base encoder
(:func:`kgbuild.nlp.doc_relations.load_doc_relation_model`, its adapter merged by weight
name). :func:`load_plain_bert` runs such a folder with the same
weights and the same operations (eval mode: no dropout), and returns ``None`` for anything it
does not run exactly (another architecture, relative positions, another activation, other
weight names), which the callers then load with transformers.

The heads are transformers' own: ``classifier`` (token or sequence classification, the latter
over the pooler) and ``qa_outputs`` (start and end logits); without one, the encoder's states.

:func:`load_bert_tokenizer` does the same for the tokenizer: ``AutoTokenizer`` imports
``transformers.models``, whose import reads every model folder's files (half a second);
a BERT tokenizer saved with its ``tokenizer.json`` is transformers' generic fast tokenizer
over that file, with BERT's input names.

``KGBUILD_PLAIN_BERT=off`` turns both off (every model and tokenizer loads with transformers).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional

__all__ = [
    "PLAIN_BERT_ENV",
    "EncoderOutput",
    "PlainBert",
    "PlainBertConfig",
    "PlainBertModel",
    "SpanLogits",
    "TokenLogits",
    "load_bert_tokenizer",
    "load_plain_bert",
]

PLAIN_BERT_ENV = "KGBUILD_PLAIN_BERT"
"""``off`` (or ``0``, ``false``, ``no``): load every model and tokenizer with transformers."""
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
BERT_TOKENIZER_CLASSES = frozenset({"BertTokenizer", "BertTokenizerFast"})
BERT_INPUT_NAMES = ["input_ids", "token_type_ids", "attention_mask"]
"""What ``BertTokenizer`` returns (the generic fast tokenizer leaves out ``token_type_ids``)."""
HEAD_TASKS = ("token-classification", "sequence-classification", "question-answering")
"""The ``task`` values (as in ``kgbuild_model.json``) with a head; ``None``: the encoder."""

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": functional.gelu,
    "relu": functional.relu,
    "gelu_new": lambda x: functional.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: functional.gelu(x, approximate="tanh"),
}


@dataclass
class PlainBertConfig:
    """The parts of a BERT ``config.json`` the forward pass and kgbuild's loaders read.

    Mutable like transformers' configs: a wrapping model sets its own labels on it.
    """

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    hidden_act: str
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int = 0
    id2label: dict[int, str] = field(default_factory=dict)
    label2id: dict[str, int] = field(default_factory=dict)
    architectures: tuple[str, ...] = ()
    model_type: str = "bert"

    @property
    def num_labels(self) -> int:
        """Classes of a classifier head."""
        return len(self.id2label)

    @classmethod
    def runnable(cls, raw: dict[str, Any]) -> PlainBertConfig | None:
        """The config of ``raw`` (a parsed ``config.json``), or ``None`` when not a plain BERT."""
        if (
            raw.get("model_type") != "bert"
            or raw.get("position_embedding_type", "absolute") != "absolute"
            or raw.get("hidden_act") not in _ACTIVATIONS
            or raw.get("is_decoder")
            or raw.get("add_cross_attention")
        ):
            return None
        try:
            id2label = {int(i): str(v) for i, v in (raw.get("id2label") or {}).items()}
            return cls(
                vocab_size=int(raw["vocab_size"]),
                hidden_size=int(raw["hidden_size"]),
                num_hidden_layers=int(raw["num_hidden_layers"]),
                num_attention_heads=int(raw["num_attention_heads"]),
                intermediate_size=int(raw["intermediate_size"]),
                hidden_act=str(raw["hidden_act"]),
                max_position_embeddings=int(raw["max_position_embeddings"]),
                type_vocab_size=int(raw.get("type_vocab_size", 2)),
                layer_norm_eps=float(raw.get("layer_norm_eps", 1e-12)),
                pad_token_id=int(raw.get("pad_token_id") or 0),
                id2label=id2label,
                label2id={label: i for i, label in id2label.items()},
                architectures=tuple(raw.get("architectures") or ()),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def to_dict(self) -> dict[str, Any]:
        """A BERT ``config.json`` that :meth:`runnable` (and transformers) read back."""
        return {
            "model_type": self.model_type,
            "architectures": list(self.architectures) or ["BertModel"],
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": self.hidden_act,
            "max_position_embeddings": self.max_position_embeddings,
            "type_vocab_size": self.type_vocab_size,
            "layer_norm_eps": self.layer_norm_eps,
            "pad_token_id": self.pad_token_id,
            "position_embedding_type": "absolute",
            "id2label": {str(i): label for i, label in self.id2label.items()},
            "label2id": dict(self.label2id),
        }


@dataclass(frozen=True)
class EncoderOutput:
    """The encoder's last hidden states, ``(batch, tokens, hidden)``.

    ``hidden_states``, when asked for: every layer's input, then the last output (as
    transformers orders them).
    """

    last_hidden_state: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None


@dataclass(frozen=True)
class TokenLogits:
    """Classifier logits: ``(batch, tokens, labels)`` or ``(batch, labels)``."""

    logits: torch.Tensor


@dataclass(frozen=True)
class SpanLogits:
    """Answer start and end logits, ``(batch, tokens)`` each."""

    start_logits: torch.Tensor
    end_logits: torch.Tensor


def _linear(inputs: int, outputs: int) -> nn.Linear:
    """An ``nn.Linear`` left uninitialised: :func:`load_plain_bert` sets every weight.

    That very class (quantisation and bf16 storage find linears by type), without the random
    initialisation that costs a tenth of a second per model.
    """
    layer = nn.Linear.__new__(nn.Linear)
    nn.Module.__init__(layer)
    layer.in_features, layer.out_features = inputs, outputs
    layer.weight = nn.Parameter(torch.empty(outputs, inputs))
    layer.bias = nn.Parameter(torch.empty(outputs))
    return layer


def _embedding(rows: int, width: int) -> nn.Embedding:
    """An uninitialised ``nn.Embedding`` (random initialisation costs a tenth of a second)."""
    return nn.Embedding(rows, width, _weight=torch.empty(rows, width))


class _Embeddings(nn.Module):
    def __init__(self, config: PlainBertConfig) -> None:
        super().__init__()
        self.word_embeddings = _embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = _embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = _embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        summed = (
            self.word_embeddings(input_ids)
            + self.token_type_embeddings(token_type_ids)
            + self.position_embeddings(positions)[None]
        )
        normed: torch.Tensor = self.LayerNorm(summed)
        return normed


class _SelfAttention(nn.Module):
    def __init__(self, config: PlainBertConfig) -> None:
        super().__init__()
        self.heads = config.num_attention_heads
        self.query = _linear(config.hidden_size, config.hidden_size)
        self.key = _linear(config.hidden_size, config.hidden_size)
        self.value = _linear(config.hidden_size, config.hidden_size)

    def forward(self, states: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = states.shape
        device = states.device.type
        if torch.is_autocast_enabled(device) and states.dtype == torch.float32:
            # cast once for the three projections (autocast would cast for each, the same)
            states = states.to(torch.get_autocast_dtype(device))

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, length, self.heads, hidden // self.heads).transpose(1, 2)

        mixed = functional.scaled_dot_product_attention(
            split(self.query(states)),
            split(self.key(states)),
            split(self.value(states)),
            attn_mask=keep,
            scale=1.0 / math.sqrt(hidden // self.heads),
        )
        return mixed.transpose(1, 2).reshape(batch, length, hidden)


class _Projection(nn.Module):
    """A dense layer, then the residual and layer norm (``attention.output`` and ``output``)."""

    def __init__(self, inputs: int, config: PlainBertConfig) -> None:
        super().__init__()
        self.dense = _linear(inputs, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        normed: torch.Tensor = self.LayerNorm(self.dense(states) + residual)
        return normed


class _Attention(nn.Module):
    def __init__(self, config: PlainBertConfig) -> None:
        super().__init__()
        self.self = _SelfAttention(config)
        self.output = _Projection(config.hidden_size, config)

    def forward(self, states: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        projected: torch.Tensor = self.output(self.self(states, keep), states)
        return projected


class _Intermediate(nn.Module):
    def __init__(self, config: PlainBertConfig) -> None:
        super().__init__()
        self.dense = _linear(config.hidden_size, config.intermediate_size)
        self.activation = _ACTIVATIONS[config.hidden_act]

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(states))


class _Layer(nn.Module):
    def __init__(self, config: PlainBertConfig) -> None:
        super().__init__()
        self.attention = _Attention(config)
        self.intermediate = _Intermediate(config)
        self.output = _Projection(config.intermediate_size, config)

    def forward(self, states: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        attended = self.attention(states, keep)
        projected: torch.Tensor = self.output(self.intermediate(attended), attended)
        return projected


class _Encoder(nn.Module):
    def __init__(self, config: PlainBertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(config) for _ in range(config.num_hidden_layers))


class _Pooler(nn.Module):
    def __init__(self, config: PlainBertConfig) -> None:
        super().__init__()
        self.dense = _linear(config.hidden_size, config.hidden_size)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(states[:, 0]))


class PlainBertModel(nn.Module):
    """The BERT encoder, laid out (and its weights named) as transformers' ``BertModel``.

    Called like it (``input_ids``, ``attention_mask``, ``token_type_ids``,
    ``output_hidden_states``); returns :class:`EncoderOutput`. Inference only.
    """

    def __init__(self, config: PlainBertConfig, pooler: bool = False) -> None:
        super().__init__()
        self.config = config
        self.embeddings = _Embeddings(config)
        self.encoder = _Encoder(config)
        self.pooler = _Pooler(config) if pooler else None

    def get_input_embeddings(self) -> nn.Embedding:
        """The word embeddings (as transformers' models name them)."""
        return self.embeddings.word_embeddings

    def save_pretrained(self, out: str | Path, **_: Any) -> None:
        """Write ``config.json`` and ``model.safetensors`` that :func:`load_plain_bert` reads.

        The merged-model cache saves a document relation model's encoder this way.
        """
        from safetensors.torch import save_file

        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2), "utf-8")
        state = {name: tensor.detach().contiguous() for name, tensor in self.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})

    def resize_token_embeddings(self, size: int, **_: Any) -> nn.Embedding:
        """Grow the word embeddings to ``size`` rows (new rows zero: the caller sets them)."""
        old = self.embeddings.word_embeddings
        if size > old.num_embeddings:
            grown = torch.zeros(size, old.embedding_dim, dtype=old.weight.dtype)
            grown[: old.num_embeddings] = old.weight.detach()
            self.embeddings.word_embeddings = nn.Embedding(size, old.embedding_dim, _weight=grown)
            self.config.vocab_size = size
        return self.embeddings.word_embeddings

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> EncoderOutput:
        """The last hidden states of a batch (0/1 ``attention_mask``; ``None``: all tokens)."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        keep = attention_mask.bool()[:, None, None, :]
        states: torch.Tensor = self.embeddings(input_ids, token_type_ids)
        every = [states]
        for layer in self.encoder.layer:
            states = layer(states, keep)
            every.append(states)
        return EncoderOutput(states, tuple(every) if output_hidden_states else None)


class PlainBert(nn.Module):
    """A :class:`PlainBertModel` (``bert``) with one task head, named as transformers' are.

    Called like transformers' model of the same task (``input_ids``, ``attention_mask``,
    ``token_type_ids``); returns :class:`TokenLogits` or :class:`SpanLogits`. Inference only.
    """

    def __init__(self, config: PlainBertConfig, task: str) -> None:
        super().__init__()
        if task not in HEAD_TASKS:
            raise ValueError(f"no BERT head for task {task!r}; known: {', '.join(HEAD_TASKS)}")
        self.config = config
        self.task = task
        self.bert = PlainBertModel(config, pooler=task == "sequence-classification")
        self.classifier: nn.Linear | None = None
        self.qa_outputs: nn.Linear | None = None
        if task == "question-answering":
            self.qa_outputs = _linear(config.hidden_size, 2)
        else:
            self.classifier = _linear(config.hidden_size, config.num_labels)

    def get_input_embeddings(self) -> nn.Embedding:
        """The word embeddings (as transformers' models name them)."""
        return self.bert.get_input_embeddings()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> TokenLogits | SpanLogits:
        """The head's output for a batch (0/1 ``attention_mask``; ``None``: all tokens)."""
        states = self.bert(input_ids, attention_mask, token_type_ids).last_hidden_state
        if self.qa_outputs is not None:
            start, end = self.qa_outputs(states).split(1, dim=-1)
            return SpanLogits(start.squeeze(-1), end.squeeze(-1))
        assert self.classifier is not None  # every other task has a classifier
        if self.bert.pooler is not None:
            return TokenLogits(self.classifier(self.bert.pooler(states)))
        return TokenLogits(self.classifier(states))


def _enabled() -> bool:
    return os.environ.get(PLAIN_BERT_ENV, "").strip().lower() not in {"off", "0", "false", "no"}


def load_plain_bert(
    folder: str | Path, task: str | None = None
) -> PlainBert | PlainBertModel | None:
    """The BERT saved in ``folder``, or ``None`` when this module does not run it exactly.

    ``task`` ``None``: the encoder (:class:`PlainBertModel`, as ``AutoModel`` loads it, without
    the pooler); else :class:`PlainBert` with the head of ``task`` (:data:`HEAD_TASKS`).
    ``None`` when ``KGBUILD_PLAIN_BERT=off``, the folder has no ``config.json`` or
    ``model.safetensors``, the config is not a plain BERT (:meth:`PlainBertConfig.runnable`),
    a head needs labels the config lacks, or the weights are not exactly the module's (a
    missing tensor, an unknown one, another shape, another dtype than fp32).

    Raises:
        OSError, ValueError: An unreadable or damaged file.
    """
    from safetensors.torch import load_file

    path = Path(folder)
    if not _enabled() or not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        return None
    config = PlainBertConfig.runnable(json.loads((path / CONFIG_FILE).read_text("utf-8")))
    if config is None or (task in HEAD_TASKS[:2] and not config.num_labels):
        return None
    weights = {
        name.removeprefix("bert."): tensor
        for name, tensor in load_file(str(path / WEIGHTS_FILE)).items()
        if not name.endswith("position_ids")  # a buffer older checkpoints saved
    }
    if task != "sequence-classification":
        weights = {k: v for k, v in weights.items() if not k.startswith("pooler.")}
    model: PlainBert | PlainBertModel
    if task is None:
        model = PlainBertModel(config)
    else:
        model = PlainBert(config, task)
        heads = ("classifier.", "qa_outputs.")
        weights = {(k if k.startswith(heads) else f"bert.{k}"): v for k, v in weights.items()}
    expected = model.state_dict()
    if set(weights) != set(expected) or any(
        weights[name].shape != tensor.shape or weights[name].dtype != tensor.dtype
        for name, tensor in expected.items()
    ):
        return None
    model.load_state_dict(weights, assign=True)
    return model.eval()


def load_bert_tokenizer(folder: str | Path) -> Any | None:
    """The BERT tokenizer saved in ``folder`` without ``AutoTokenizer``; ``None``: not one.

    ``None`` when ``KGBUILD_PLAIN_BERT=off``, or unless ``tokenizer_config.json`` names a BERT tokenizer class and
    ``tokenizer.json`` holds the whole fast tokenizer (normaliser, word pieces, special tokens).

    Raises:
        OSError, ValueError: An unreadable or damaged file.
    """
    path = Path(folder)
    if (
        not _enabled()
        or not (path / TOKENIZER_FILE).is_file()
        or not (path / TOKENIZER_CONFIG_FILE).is_file()
    ):
        return None
    config = json.loads((path / TOKENIZER_CONFIG_FILE).read_text("utf-8"))
    if not isinstance(config, dict) or config.get("tokenizer_class") not in BERT_TOKENIZER_CLASSES:
        return None
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(str(path), model_input_names=BERT_INPUT_NAMES)
