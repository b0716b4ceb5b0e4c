"""int8 adapter storage: bounded rounding, faithful merge, and refusal of ambiguous folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import BertForTokenClassification

from kgbuild.nlp.adapter_weights import (
    ADAPTER_INT8_WEIGHTS,
    ADAPTER_WEIGHTS,
    dequantize_int8,
    int8_files,
    quantize_adapter,
    quantize_int8,
    read_adapter_weights,
)
from kgbuild.nlp.lora import merge_plain_lora
from kgbuild.nlp.tiny import make_tiny_bert
from tests.unit.nlp.adapters import random_adapter

LABELS = ["O", "B-PER", "I-PER"]
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")


def test_each_value_is_within_half_a_step_of_its_group() -> None:
    torch.manual_seed(0)
    weight = torch.randn(5, 128) * torch.logspace(-3, 1, 128)  # groups of very different sizes
    weight[2, :64] = 0.0  # an all-zero group stays zero (no division by a zero scale)
    values, scales = quantize_int8(weight, group_size=64)
    assert values.dtype == torch.int8 and scales.shape == (5, 2) and scales.dtype == torch.float16
    restored = dequantize_int8(values, scales)
    step = scales.float().repeat_interleave(64, dim=1)
    assert torch.all((restored - weight).abs() <= step / 2 + 1e-7)
    assert torch.all(restored[2, :64] == 0)
    assert values.abs().max() == 127  # the range is used


def test_a_row_that_groups_do_not_divide_is_one_group() -> None:
    weight = torch.randn(3, 40)
    values, scales = quantize_int8(weight, group_size=64)
    assert scales.shape == (3, 1)
    torch.testing.assert_close(dequantize_int8(values, scales), weight, atol=0.02, rtol=0)
    with pytest.raises(ValueError, match="only matrices"):
        quantize_int8(torch.randn(7))


def test_the_int8_adapter_merges_to_nearly_the_fp16_weights(tmp_path: Path) -> None:
    base = make_tiny_bert(tmp_path / "base", LABELS)
    adapter = random_adapter(base, tmp_path / "adapter")
    exact = BertForTokenClassification.from_pretrained(base)
    assert merge_plain_lora(exact, adapter)
    before, after = quantize_adapter(adapter)
    assert after < before  # (a tiny adapter: the file header is much of it)
    assert not (adapter / ADAPTER_WEIGHTS).exists() and (adapter / ADAPTER_INT8_WEIGHTS).is_file()
    quantized = BertForTokenClassification.from_pretrained(base)
    assert merge_plain_lora(quantized, adapter)
    changed = 0
    for (name, value), expected in zip(
        quantized.state_dict().items(), exact.state_dict().values(), strict=True
    ):
        scale = expected.abs().max().item() or 1.0
        torch.testing.assert_close(value, expected, atol=0.01 * scale, rtol=0, msg=name)
        changed += not torch.equal(value, expected)
    assert changed > 0  # it really read the int8 file


def test_ambiguous_or_foreign_files_are_refused(tmp_path: Path) -> None:
    base = make_tiny_bert(tmp_path / "base", LABELS)
    adapter = random_adapter(base, tmp_path / "adapter")
    assert read_adapter_weights(tmp_path / "base") is None
    plain = (adapter / ADAPTER_WEIGHTS).read_bytes()
    quantize_adapter(adapter)
    (adapter / ADAPTER_WEIGHTS).write_bytes(plain)  # as an interrupted compression leaves it
    with pytest.raises(ValueError, match="both"):
        read_adapter_weights(adapter)
    (adapter / ADAPTER_INT8_WEIGHTS).write_bytes(plain)  # an fp16 file under the int8 name
    (adapter / ADAPTER_WEIGHTS).unlink()
    with pytest.raises(ValueError, match="not a kgbuild-int8"):
        read_adapter_weights(adapter)


def test_an_int8_adapter_that_is_not_plain_lora_is_refused(tmp_path: Path) -> None:
    base = make_tiny_bert(tmp_path / "base", LABELS)
    adapter = random_adapter(base, tmp_path / "adapter")
    quantize_adapter(adapter)
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    config["use_dora"] = True
    (adapter / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ValueError, match="must be plain LoRA"):
        merge_plain_lora(BertForTokenClassification.from_pretrained(base), adapter)


def test_a_large_int8_adapter_is_sharded_and_reads_back_the_same(tmp_path: Path) -> None:
    base = make_tiny_bert(tmp_path / "base", LABELS)
    whole = random_adapter(base, tmp_path / "whole")
    sharded = tmp_path / "sharded"
    shutil.copytree(whole, sharded)
    quantize_adapter(whole)
    limit = (whole / ADAPTER_INT8_WEIGHTS).stat().st_size // 3
    quantize_adapter(sharded, max_shard_bytes=limit)
    shards = int8_files(sharded)
    assert len(shards) >= 3 and not (sharded / ADAPTER_INT8_WEIGHTS).exists()
    assert [p.name for p in shards] == [
        f"adapter_model.int8-{i:05d}-of-{len(shards):05d}.safetensors"
        for i in range(1, len(shards) + 1)
    ]
    assert not list(sharded.glob("*.partial")) and not (sharded / ADAPTER_WEIGHTS).exists()
    for shard in shards:  # a matrix travels with its scales; only lone big matrices exceed
        keys = load_file(str(shard)).keys()
        assert all(k.removesuffix(".int8_scale") in keys for k in keys)
        assert shard.stat().st_size <= limit or len(keys) <= 2
    expected, got = read_adapter_weights(whole), read_adapter_weights(sharded)
    assert expected is not None and got is not None and expected.keys() == got.keys()
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
    model = BertForTokenClassification.from_pretrained(base)
    assert merge_plain_lora(model, sharded)


def test_an_incomplete_or_mixed_set_of_shards_is_refused(tmp_path: Path) -> None:
    base = make_tiny_bert(tmp_path / "base", LABELS)
    adapter = random_adapter(base, tmp_path / "adapter")
    plain = (adapter / ADAPTER_WEIGHTS).read_bytes()
    quantize_adapter(adapter, max_shard_bytes=1)  # every matrix its own shard
    shards = int8_files(adapter)
    (adapter / ADAPTER_WEIGHTS).write_bytes(plain)
    with pytest.raises(ValueError, match="both"):
        read_adapter_weights(adapter)
    quantize_adapter(adapter)  # compressing again replaces every shard by the one file
    assert int8_files(adapter) == (adapter / ADAPTER_INT8_WEIGHTS,)
    assert not any(p.exists() for p in shards)
    (adapter / ADAPTER_WEIGHTS).write_bytes(plain)
    quantize_adapter(adapter, max_shard_bytes=1)
    shards[1].unlink()
    with pytest.raises(ValueError, match="not one complete set"):
        read_adapter_weights(adapter)
    (adapter / ADAPTER_INT8_WEIGHTS).write_bytes(b"")
    with pytest.raises(ValueError, match="both"):
        int8_files(adapter)
