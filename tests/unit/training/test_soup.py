"""kgbuild train soup: the exact average of LoRA fine-tunes, checked on merged weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kgbuild.errors import InputError
from kgbuild.nlp.hf import clear_model_cache, load_sequence_classifier
from kgbuild.nlp.tiny import make_tiny_bert
from kgbuild.training.re import train_re
from kgbuild.training.soup import soup_adapters
from tests.unit.stages.test_relations import _write_conll04


def _train(root: Path, base: Path, name: str, seed: int, rank: int) -> Path:
    data = _write_conll04(root / "train.json", 16, 0)
    train_re(
        data,
        None,
        base=str(base),
        out=root / name,
        batch_size=8,
        dev_fraction=0.25,
        max_steps=3,
        learning_rate=5e-2,
        lora_rank=rank,
        seed=seed,
        bf16=False,
        device="cpu",
    )
    return root / name


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("soup")
    base = make_tiny_bert(root / "base", ["O"])
    return base, _train(root, base, "a", seed=1, rank=4), _train(root, base, "b", seed=2, rank=2)


def _merged(model: Path) -> dict[str, torch.Tensor]:
    clear_model_cache()
    loaded = load_sequence_classifier(str(model), device="cpu")
    return {k: v.detach().clone() for k, v in loaded.model.state_dict().items()}


def test_soup_equals_the_average_of_the_merged_models(
    two_models: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, a, b = two_models
    result = soup_adapters([a, b], tmp_path / "soup", command="kgbuild train soup (test)")
    assert result.rank == 6  # 4 + 2: exact, not an average of A and B matrices
    merged_a, merged_b, merged_soup = _merged(a), _merged(b), _merged(tmp_path / "soup")
    assert merged_soup.keys() == merged_a.keys()
    differs = 0
    for key, value in merged_soup.items():
        if not value.is_floating_point() or ".pooler." in key:
            continue  # the pair classifier never reads the pooler, which nothing trains
        expected = (merged_a[key] + merged_b[key]) / 2
        torch.testing.assert_close(value, expected, atol=2e-3, rtol=1e-2)
        differs += not torch.equal(merged_a[key], merged_b[key])
    assert differs > 10  # the ingredients really differ, so the check means something
    card = json.loads((tmp_path / "soup" / "model_card.json").read_text(encoding="utf-8"))
    assert [item["rank"] for item in card["ingredients"]] == [4, 2]
    assert card["command"] == "kgbuild train soup (test)"
    manifest = json.loads((tmp_path / "soup" / "kgbuild_model.json").read_text(encoding="utf-8"))
    assert manifest["soup_of"] == [str(a), str(b)] and manifest["labels"][0] == "no_relation"


def test_soup_refuses_what_cannot_be_averaged(
    two_models: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    base, a, _ = two_models
    with pytest.raises(InputError, match="at least two"):
        soup_adapters([a], tmp_path / "one")
    with pytest.raises(InputError, match="is one of the ingredients"):
        soup_adapters([a, a], a)
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="is a file"):
        soup_adapters([a, a], tmp_path / "file")
    other_base = make_tiny_bert(tmp_path / "other-base", ["O"])
    other = _train(tmp_path, other_base, "c", seed=1, rank=4)
    with pytest.raises(InputError, match="differ in base"):
        soup_adapters([a, other], tmp_path / "mixed")
    with pytest.raises(InputError, match="not a kgbuild LoRA model folder"):
        soup_adapters([a, base], tmp_path / "plain")


def test_soup_cli(two_models: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kgbuild.cli.train import train_app

    _, a, b = two_models
    runner = CliRunner()
    result = runner.invoke(train_app, ["soup", str(a), str(b), "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert "rank 6" in result.output and (tmp_path / "s" / "adapter_model.safetensors").is_file()
    refused = runner.invoke(train_app, ["soup", str(a), "--out", str(tmp_path / "t")])
    assert refused.exit_code == 2 and "error: a soup needs at least two models" in refused.output
    assert "--out" in runner.invoke(train_app, ["soup", "--help"]).output


def test_an_int8_ingredient_soups_like_its_fp16_original(
    two_models: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    import hashlib
    import shutil

    from kgbuild.nlp.adapter_weights import int8_files, quantize_adapter
    from kgbuild.training.compress import compress_adapter

    _, a, b = two_models
    with pytest.raises(InputError, match="only plain LoRA"):  # it trains marker-token rows
        compress_adapter(b)
    int8 = tmp_path / "b-int8"
    shutil.copytree(b, int8)
    quantize_adapter(int8, max_shard_bytes=1)  # kgbuild's merge cannot apply it; a soup reads it
    shards = int8_files(int8)
    assert len(shards) > 1
    soup_adapters([a, b], tmp_path / "exact", command="test")
    soup_adapters([a, int8], tmp_path / "from-int8", command="test")
    card = json.loads((tmp_path / "from-int8" / "model_card.json").read_text(encoding="utf-8"))
    whole = b"".join(shard.read_bytes() for shard in shards)  # `cat` the shards, then hash
    assert card["ingredients"][1]["adapter_sha256"] == hashlib.sha256(whole).hexdigest()
    exact, from_int8 = _merged(tmp_path / "exact"), _merged(tmp_path / "from-int8")
    differs = 0
    for key, value in exact.items():
        if value.is_floating_point() and ".pooler." not in key:  # (nothing trains it)
            torch.testing.assert_close(from_int8[key], value, atol=2e-2, rtol=1e-2, msg=key)
            differs += not torch.equal(from_int8[key], value)
    assert differs > 0


def test_truncation_keeps_the_best_approximation_of_each_update() -> None:
    from kgbuild.training.soup import _truncate

    torch.manual_seed(0)
    a, b = torch.randn(6, 40), torch.randn(30, 6)
    soup = {"m.lora_A.weight": a.clone(), "m.lora_B.weight": b.clone(), "head": torch.ones(3)}
    kept = _truncate(soup, 2)
    assert soup["m.lora_A.weight"].shape == (2, 40) and soup["m.lora_B.weight"].shape == (30, 2)
    assert torch.equal(soup["head"], torch.ones(3))  # not an adapted layer
    update = b @ a
    u, s, vh = torch.linalg.svd(update, full_matrices=False)
    best = u[:, :2] @ torch.diag(s[:2]) @ vh[:2]  # Eckart-Young: the best rank-2 matrix
    approx = soup["m.lora_B.weight"] @ soup["m.lora_A.weight"]
    torch.testing.assert_close(approx, best, atol=1e-4, rtol=1e-4)
    assert kept == pytest.approx(float(s[:2].square().sum() / s.square().sum()), rel=1e-5)
    assert 0.0 < kept < 1.0


def test_a_truncated_soup_is_a_smaller_adapter_close_to_the_exact_one(
    two_models: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, a, b = two_models
    exact = soup_adapters([a, b], tmp_path / "exact", command="test")
    small = soup_adapters([a, b], tmp_path / "small", command="test", max_rank=4)
    same = soup_adapters([a, b], tmp_path / "same", command="test", max_rank=6)
    assert (exact.rank, small.rank, same.rank) == (6, 4, 6)
    config = json.loads((tmp_path / "small" / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["r"] == config["lora_alpha"] == 4
    card = json.loads((tmp_path / "small" / "model_card.json").read_text(encoding="utf-8"))
    assert "truncated to rank 4 by SVD" in card["method"]
    merged_exact, merged_small = _merged(tmp_path / "exact"), _merged(tmp_path / "small")
    query = "encoder.encoder.layer.0.attention.self.query.weight"
    torch.testing.assert_close(merged_small[query], merged_exact[query], atol=0.05, rtol=0.05)
    with pytest.raises(InputError, match="at least 1"):
        soup_adapters([a, b], tmp_path / "none", max_rank=0)


def test_ingredients_of_different_seeds_are_warned_about(
    two_models: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    import shutil

    _, a, b = two_models
    mixed = soup_adapters([a, b], tmp_path / "mixed", command="test")
    assert mixed.warning is not None and "seed 1, seed 2" in mixed.warning
    twin = tmp_path / "a-again"
    shutil.copytree(a, twin)
    assert soup_adapters([a, twin], tmp_path / "same", command="test").warning is None
    card = json.loads((tmp_path / "mixed" / "model_card.json").read_text(encoding="utf-8"))
    assert [item["started_from"] for item in card["ingredients"]] == [["seed", 1], ["seed", 2]]
