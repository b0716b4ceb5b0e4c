"""Merge a plain LoRA adapter into its base model without importing peft.

``import peft`` costs about 3 s on a 2-core machine (it imports transformers' generation
utilities and model families on the way), more than loading the models of ``kgbuild ask``
themselves. A plain LoRA adapter, the kind ``kgbuild train`` writes, is only arithmetic on
the base's weights: for each adapted linear layer ``W += (B @ A) * alpha / r`` (``alpha /
sqrt(r)`` with rsLoRA), and the modules it saves whole (task heads) are copied. Anything else
(DoRA, per-layer ranks or alphas, trainable token rows, biases, transposed weights) is left
to peft: :func:`merge_plain_lora` says so by returning False. It reads the adapter's fp16
file or its int8 form (:mod:`kgbuild.nlp.adapter_weights`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from kgbuild.nlp.adapter_weights import int8_files, read_adapter_weights

__all__ = ["ADAPTER_CONFIG", "merge_plain_lora", "plain_lora_scaling"]

ADAPTER_CONFIG = "adapter_config.json"
_PREFIX = "base_model.model."
_LORA_A, _LORA_B = ".lora_A.weight", ".lora_B.weight"


def plain_lora_scaling(config: dict[str, Any]) -> float | None:
    """``alpha / r`` (rsLoRA: ``alpha / sqrt(r)``) of a plain LoRA config, else None."""
    plain = (
        config.get("peft_type") == "LORA"
        and not config.get("use_dora")
        and not config.get("fan_in_fan_out")
        and config.get("bias", "none") == "none"
        and not config.get("lora_bias")
        and not config.get("rank_pattern")
        and not config.get("alpha_pattern")
        and not config.get("trainable_token_indices")
        and not config.get("layers_to_transform")
        and not config.get("target_parameters")
        and isinstance(config.get("r"), int)
        and config["r"] > 0
    )
    if not plain:
        return None
    alpha = float(config.get("lora_alpha", config["r"]))
    return alpha / math.sqrt(config["r"]) if config.get("use_rslora") else alpha / config["r"]


@torch.no_grad()
def merge_plain_lora(model: torch.nn.Module, directory: Path) -> bool:
    """Merge the adapter in ``directory`` into ``model`` in place; False if it is not plain.

    Raises:
        ValueError: the adapter names a layer or shape the model does not have (the model
            may then be partly merged: discard it), or its int8 file is unreadable here.
    """
    config = json.loads((directory / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    scaling = plain_lora_scaling(config)
    if scaling is None:
        if int8_files(directory):
            raise ValueError(
                f"{directory}: an int8 adapter must be plain LoRA (peft cannot read it)"
            )
        return False
    state = read_adapter_weights(directory)
    if state is None:
        return False
    params = dict(model.named_parameters())
    for key, value in state.items():
        if not key.startswith(_PREFIX):
            raise ValueError(f"adapter weight {key!r} does not start with {_PREFIX!r}")
        name = key.removeprefix(_PREFIX)
        if name.endswith(_LORA_B):
            continue
        if name.endswith(_LORA_A):
            layer = name.removesuffix(_LORA_A)
            lora_b = state.get(f"{_PREFIX}{layer}{_LORA_B}")
            target = params.get(f"{layer}.weight")
            if lora_b is None or target is None:
                raise ValueError(f"adapter layer {layer!r}: no lora_B weight or no such layer")
            delta = (lora_b @ value) * scaling
            if delta.shape != target.shape:
                raise ValueError(
                    f"adapter layer {layer!r}: {tuple(delta.shape)} vs {tuple(target.shape)}"
                )
            target.copy_((target.float() + delta).to(target.dtype))
            continue
        target = params.get(name)  # a module saved whole (a task head)
        if target is None or target.shape != value.shape:
            raise ValueError(f"adapter weight {name!r} does not fit the model")
        target.copy_(value.to(target.dtype))
    return True
