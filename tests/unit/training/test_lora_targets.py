from typing import Any

import pytest
from transformers import (
    BertConfig,
    BertForTokenClassification,
    DistilBertConfig,
    DistilBertForTokenClassification,
    MPNetConfig,
    MPNetForTokenClassification,
)

from kgbuild.training.common import LORA_TARGET_MODULES, TrainOptions, lora_target_modules
from kgbuild.training.recipe import with_adapter

SMALL = {"vocab_size": 64, "num_attention_heads": 2, "num_labels": 3}


def bert() -> Any:
    config = BertConfig(hidden_size=16, num_hidden_layers=2, intermediate_size=32, **SMALL)
    return BertForTokenClassification(config)


def mpnet() -> Any:
    config = MPNetConfig(hidden_size=16, num_hidden_layers=2, intermediate_size=32, **SMALL)
    return MPNetForTokenClassification(config)


def distilbert() -> Any:
    config = DistilBertConfig(dim=16, n_layers=2, n_heads=2, hidden_dim=32, vocab_size=64)
    return DistilBertForTokenClassification(config)


def test_a_bert_encoder_keeps_the_names_its_adapters_were_trained_with() -> None:
    assert lora_target_modules(bert()) == LORA_TARGET_MODULES


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (
            mpnet,
            {"attention.attn.q", "attention.attn.k", "attention.attn.v", "attention.attn.o"},
        ),
        (distilbert, {"attention.q_lin", "attention.k_lin", "attention.v_lin", "ffn.lin1"}),
    ],
)
def test_other_encoders_get_every_linear_layer_of_their_blocks(
    build: Any, expected: set[str]
) -> None:
    targets = set(lora_target_modules(build()))
    assert expected <= targets
    assert not any("classifier" in t or "pooler" in t for t in targets)


@pytest.mark.parametrize("build", [bert, mpnet, distilbert])
def test_the_adapter_covers_every_attention_and_feed_forward_layer(
    build: Any, tmp_path: Any
) -> None:
    model = build()
    blocks = {
        name
        for name, module in model.named_modules()
        if type(module).__name__ == "Linear" and any(p.isdigit() for p in name.split("."))
    }
    options = TrainOptions(base="tiny", out=tmp_path, epochs=1, lora_rank=4)
    adapted = with_adapter(model, options, task_type="TOKEN_CLS", modules_to_save=["classifier"])
    wrapped = {
        name.removeprefix("base_model.model.")
        for name, module in adapted.named_modules()
        if hasattr(module, "lora_A") and type(module).__name__ == "Linear"
    }
    assert wrapped == blocks
