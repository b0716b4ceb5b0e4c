"""Merged LoRA models cached on disk load exactly as a fresh merge, and never stale."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from transformers import BertForTokenClassification

from kgbuild.nlp import hf, merged_cache
from kgbuild.nlp.tiny import make_tiny_bert
from tests.unit.nlp.adapters import random_adapter

LABELS = ["O", "B-PER", "I-PER"]
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")


def _adapter(base: Path, out: Path, seed: int) -> Path:
    """A random plain LoRA adapter with the kgbuild manifest beside it."""
    random_adapter(base, out, seed=seed)
    manifest = {"base": str(base), "task": "token-classification", "labels": LABELS}
    (out / hf.KGBUILD_MODEL_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    return out


@pytest.fixture
def model_dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(cache folder, tiny base, adapter of seed 1 over it)."""
    base = make_tiny_bert(tmp_path / "base", LABELS)
    return tmp_path / "cache", base, _adapter(base, tmp_path / "adapter", seed=1)


def _load(adapter: Path) -> tuple[dict[str, torch.Tensor], str]:
    model, _, revision, _ = hf._load_adapter(adapter, str(adapter), hf._TOKEN)
    return {k: v.clone() for k, v in model.state_dict().items()}, revision


def _entries(cache: Path) -> list[Path]:
    return (
        sorted(p for p in cache.iterdir() if not p.name.startswith(".")) if cache.exists() else []
    )


def test_second_load_reads_the_cached_merge_with_the_same_weights_and_revision(
    model_dirs: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, _, adapter = model_dirs
    monkeypatch.setenv(merged_cache.CACHE_ENV, str(cache))

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
    model_dirs: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, base, adapter = model_dirs
    monkeypatch.setenv(merged_cache.CACHE_ENV, str(cache))
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
    model_dirs: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, _, adapter = model_dirs
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
    assert (
        merged_cache.MergedEntry(rewritten).load(BertForTokenClassification.from_pretrained)
        is not None
    )


def test_a_weights_digest_is_remembered_until_a_file_is_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    weights = folder / "model.safetensors"
    weights.write_bytes(b"first weights")
    (folder / "notes.txt").write_text("not a weight file", encoding="utf-8")
    hashed: list[int] = []
    real = merged_cache.update_with_files

    def counting(digest: object, files: list[Path]) -> None:
        hashed.append(len(files))
        real(digest, files)

    monkeypatch.setattr(merged_cache, "update_with_files", counting)
    monkeypatch.setenv(merged_cache.CACHE_ENV, "off")
    fresh = hf._weights_digest(folder)
    assert hashed == [1] and not (tmp_path / "cache").exists()

    monkeypatch.setenv(merged_cache.CACHE_ENV, str(tmp_path / "cache"))
    hf._weights_digest(folder)
    hf._weights_digest(folder)
    assert hashed == [1, 1, 1]  # just written: hashed each time, not remembered
    monkeypatch.setattr(merged_cache, "SETTLE_SECONDS", 0.0)
    assert hf._weights_digest(folder) == fresh
    assert hf._weights_digest(folder) == fresh
    assert hashed == [1, 1, 1, 1]  # the second call read the remembered value
    assert merged_cache.remembered_digest("other kind", [weights], lambda: "other") == "other"
    assert hf._weights_digest(folder) == fresh  # kinds do not mix
    assert _entries(tmp_path / "cache") == []  # no merged entry: the digests are apart

    before = weights.stat().st_mtime_ns
    weights.write_bytes(b"other weights")  # the same size, rewritten in place
    os.utime(weights, ns=(before - 10**9, before - 10**9))  # another time than the first
    changed = hf._weights_digest(folder)
    monkeypatch.setenv(merged_cache.CACHE_ENV, "off")
    assert changed == hf._weights_digest(folder) != fresh
    assert hashed == [1, 1, 1, 1, 1, 1]


def test_a_cache_folder_that_cannot_be_written_still_gives_the_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    monkeypatch.setenv(merged_cache.CACHE_ENV, "off")
    expected = hf._weights_digest(folder)
    blocked = tmp_path / "a-file"
    blocked.write_text("the cache folder's place is taken", encoding="utf-8")
    monkeypatch.setenv(merged_cache.CACHE_ENV, str(blocked))
    assert hf._weights_digest(folder) == expected
    assert blocked.is_file()
