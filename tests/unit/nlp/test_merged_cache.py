"""Merged LoRA models cached on disk load exactly as a fresh merge, and never stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import BertForTokenClassification

from kgbuild.nlp import hf, merged_cache
from kgbuild.nlp.tiny import make_tiny_bert

LABELS = ["O", "B-PER", "I-PER"]
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")


def _adapter(base: Path, out: Path, seed: int) -> Path:
    """A plain LoRA adapter with random weights, with the kgbuild manifest beside it."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = BertForTokenClassification.from_pretrained(base)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["query", "value"], modules_to_save=["classifier"]
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name or "modules_to_save" in name:
                param.normal_(0, 0.5)
    peft_model.save_pretrained(out)
    manifest = {"base": str(base), "task": "token-classification", "labels": LABELS}
    (out / hf.KGBUILD_MODEL_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    return out


def _load(adapter: Path) -> tuple[dict[str, torch.Tensor], str]:
    model, _, revision, _ = hf._load_adapter(adapter, str(adapter), hf._TOKEN)
    return {k: v.clone() for k, v in model.state_dict().items()}, revision


def _entries(cache: Path) -> list[Path]:
    return (
        sorted(p for p in cache.iterdir() if not p.name.startswith(".")) if cache.exists() else []
    )


def test_second_load_reads_the_cached_merge_with_the_same_weights_and_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv(merged_cache.CACHE_ENV, str(cache))
    base = make_tiny_bert(tmp_path / "base", LABELS)
    adapter = _adapter(base, tmp_path / "adapter", seed=1)

    merged, revision = _load(adapter)
    (entry,) = _entries(cache)
    assert (entry / "model.safetensors").is_file()

    calls: list[Path] = []
    monkeypatch.setattr(hf, "merge_plain_lora", lambda *a: calls.append(a[1]) or True)
    cached, cached_revision = _load(adapter)
    assert calls == []  # nothing merged: the entry was read
    assert cached_revision == revision
    assert set(cached) == set(merged)
    for name, value in merged.items():
        assert torch.equal(cached[name], value), name


def test_a_changed_adapter_is_a_new_entry_never_the_stale_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv(merged_cache.CACHE_ENV, str(cache))
    base = make_tiny_bert(tmp_path / "base", LABELS)
    adapter = _adapter(base, tmp_path / "adapter", seed=1)
    first, first_revision = _load(adapter)

    _adapter(base, adapter, seed=2)  # retrained in place
    monkeypatch.setenv(merged_cache.CACHE_ENV, "off")
    fresh, fresh_revision = _load(adapter)
    monkeypatch.setenv(merged_cache.CACHE_ENV, str(cache))
    second, second_revision = _load(adapter)

    assert len(_entries(cache)) == 2
    assert second_revision == fresh_revision != first_revision
    query = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(second[query], fresh[query])
    assert not torch.equal(second[query], first[query])


def test_off_writes_nothing_and_a_damaged_entry_is_merged_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    base = make_tiny_bert(tmp_path / "base", LABELS)
    adapter = _adapter(base, tmp_path / "adapter", seed=1)
    monkeypatch.setenv(merged_cache.CACHE_ENV, "off")
    expected, revision = _load(adapter)
    assert not cache.exists()

    monkeypatch.setenv(merged_cache.CACHE_ENV, str(cache))
    _load(adapter)
    (entry,) = _entries(cache)
    (entry / "model.safetensors").write_bytes(b"not safetensors")
    again, again_revision = _load(adapter)
    assert again_revision == revision
    for name, value in expected.items():
        assert torch.equal(again[name], value), name
    (rewritten,) = _entries(cache)  # the damaged entry was replaced by a good one
    assert merged_cache.MergedEntry(rewritten).load(BertForTokenClassification) is not None
