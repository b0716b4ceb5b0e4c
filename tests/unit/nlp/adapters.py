"""Random LoRA adapters over a tiny BERT, for the merge and cache tests."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertForTokenClassification


def random_adapter(base: Path, out: Path, *, seed: int = 1, **lora: object) -> Path:
    """A LoRA adapter with random (non-zero) weights and a saved head, written to ``out``."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = BertForTokenClassification.from_pretrained(base)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["query", "value", "intermediate.dense"],
        modules_to_save=["classifier"],
        **lora,  # type: ignore[arg-type]
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name or "modules_to_save" in name:
                param.normal_(0, 0.5)
    peft_model.save_pretrained(out)
    return out
