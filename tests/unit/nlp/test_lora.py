"""The peft-free LoRA merge gives exactly the weights peft's ``merge_and_unload`` gives."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BertForTokenClassification

from kgbuild.nlp.lora import merge_plain_lora, plain_lora_scaling
from kgbuild.nlp.tiny import make_tiny_bert
from tests.unit.nlp.adapters import random_adapter

LABELS = ["O", "B-PER", "I-PER"]
# peft 0.21 reads a property that transformers 5 deprecated; harmless.
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")


def _peft_merged(base: Path, adapter: Path) -> dict[str, torch.Tensor]:
    from peft import PeftModel

    model = BertForTokenClassification.from_pretrained(base)
    return dict(PeftModel.from_pretrained(model, str(adapter)).merge_and_unload().state_dict())


@pytest.mark.parametrize("rslora", [False, True])
def test_merge_matches_peft(tmp_path: Path, rslora: bool) -> None:
    base = make_tiny_bert(tmp_path / "base", LABELS)
    random_adapter(base, tmp_path / "adapter", use_rslora=rslora)
    model = BertForTokenClassification.from_pretrained(base)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert merge_plain_lora(model, tmp_path / "adapter")
    merged = model.state_dict()
    expected = _peft_merged(base, tmp_path / "adapter")
    assert set(merged) == set(expected)
    for name, value in merged.items():
        torch.testing.assert_close(value, expected[name], rtol=0, atol=1e-6, msg=name)
    changed = {k for k in merged if not torch.equal(merged[k], before[k])}
    assert "bert.encoder.layer.0.attention.self.query.weight" in changed
    assert "classifier.weight" in changed
    assert "bert.encoder.layer.0.attention.self.key.weight" not in changed


def test_adapters_that_are_not_plain_lora_are_left_to_peft(tmp_path: Path) -> None:
    base = make_tiny_bert(tmp_path / "base", LABELS)
    random_adapter(base, tmp_path / "dora", use_dora=True)
    model = BertForTokenClassification.from_pretrained(base)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert not merge_plain_lora(model, tmp_path / "dora")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert plain_lora_scaling({"peft_type": "LORA", "r": 8, "lora_alpha": 16}) == 2.0
    assert plain_lora_scaling({"peft_type": "LORA", "r": 8, "rank_pattern": {"q": 2}}) is None
    assert plain_lora_scaling({"peft_type": "IA3", "r": 8}) is None


def test_an_adapter_for_another_model_is_refused(tmp_path: Path) -> None:
    base = make_tiny_bert(tmp_path / "base", LABELS)
    random_adapter(base, tmp_path / "adapter")
    other = make_tiny_bert(tmp_path / "other", [*LABELS, "B-ORG"])  # a head of another size
    model = BertForTokenClassification.from_pretrained(other)
    with pytest.raises(ValueError, match="classifier"):
        merge_plain_lora(model, tmp_path / "adapter")
