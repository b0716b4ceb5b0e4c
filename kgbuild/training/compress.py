"""``kgbuild train compress``: store a trained LoRA model's adapter in int8 (half the size).

The weights are rewritten by :func:`kgbuild.nlp.adapter_weights.quantize_adapter`; the
manifest and model card record it, with the sha256 of the fp16 file it came from, so the
card's scores (measured on the fp16 adapter) say which weights they were measured on.
Score the compressed model again with ``kgbuild evaluate`` before shipping it.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from kgbuild.errors import InputError
from kgbuild.nlp.adapter_weights import (
    ADAPTER_WEIGHTS,
    INT8_GROUP_SIZE,
    INT8_MAX_SHARD_BYTES,
    adapter_files,
    int8_files,
    quantize_adapter,
)
from kgbuild.nlp.hf import KGBUILD_MODEL_FILE
from kgbuild.nlp.lora import ADAPTER_CONFIG, plain_lora_scaling
from kgbuild.training.common import MODEL_CARD_FILE, read_json_object, sha256_file
from kgbuild.training.doc_re_train import readme_of

__all__ = ["CompressResult", "compress_adapter"]


class CompressResult(BaseModel):
    """What :func:`compress_adapter` did."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_dir: Path
    bytes_before: int
    bytes_after: int
    group_size: int
    files: int
    """How many int8 files it was written as (shards past the size limit)."""


def compress_adapter(
    model_dir: Path,
    group_size: int = INT8_GROUP_SIZE,
    max_shard_bytes: int = INT8_MAX_SHARD_BYTES,
) -> CompressResult:
    """Quantize the LoRA adapter of the kgbuild model folder ``model_dir`` to int8 in place.

    An int8 adapter above ``max_shard_bytes`` is written as shards no larger than that
    (a single matrix larger than it gets one of its own).

    Raises:
        InputError: Not a kgbuild LoRA model folder, an adapter kgbuild's own merge cannot
            read (not plain LoRA), or one already compressed.
    """
    manifest = read_json_object(model_dir / KGBUILD_MODEL_FILE)
    if manifest.get("format") != "lora":
        raise InputError(f"{model_dir} is not a LoRA adapter (format {manifest.get('format')!r})")
    if plain_lora_scaling(read_json_object(model_dir / ADAPTER_CONFIG)) is None:
        raise InputError(f"{model_dir}: only plain LoRA adapters (no DoRA, patterns...) compress")
    try:
        stored = adapter_files(model_dir)
    except ValueError as e:
        raise InputError(str(e)) from e
    if not stored or stored[0].name != ADAPTER_WEIGHTS:
        raise InputError(f"{model_dir} has no {ADAPTER_WEIGHTS} (already compressed?)")
    storage = {
        "dtype": "int8",
        "group_size": group_size,
        "quantized_from_sha256": sha256_file(stored[0]),
    }
    try:
        before, after = quantize_adapter(model_dir, group_size, max_shard_bytes)
    except ValueError as e:
        raise InputError(f"{model_dir}: {e}") from e
    files = len(int8_files(model_dir))
    if files > 1:
        storage["files"] = files
    for name in (KGBUILD_MODEL_FILE, MODEL_CARD_FILE):
        path = model_dir / name
        if path.is_file():
            data = {**read_json_object(path), "adapter_storage": storage}
            path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            readme = readme_of(model_dir, data) if name == MODEL_CARD_FILE else None
            if readme is not None:  # other tasks' READMEs do not describe storage
                (model_dir / "README.md").write_text(readme, encoding="utf-8")
    return CompressResult(
        model_dir=model_dir,
        bytes_before=before,
        bytes_after=after,
        group_size=group_size,
        files=files,
    )
