"""A LoRA adapter's weights on disk: peft's fp16 file, or kgbuild's int8 file of half the size.

``kgbuild train`` saves adapters as peft does (``adapter_model.safetensors``, fp16 here).
:func:`quantize_adapter` rewrites one as ``adapter_model.int8.safetensors``: every matrix in
int8 with one fp16 scale per group of ``group_size`` values along its rows (symmetric,
``scale = max|w| / 127``), vectors (biases) in fp16. That halves the file: the default
document relation model (4.3M adapter values, most of them its 24576 x 96 bilinear
classifier) goes from 8.6 MB to 4.5 MB. The rounding error, about 0.5% of each matrix's
norm, is below what the bf16 inference the stages run already rounds away: on 100
Re-DocRED documents the quantized relation model predicts the same 1,132 facts.

:func:`read_adapter_weights` reads either file to float32 tensors keyed as peft keys them;
only kgbuild's own merge (:mod:`kgbuild.nlp.lora`) reads the int8 file, so only plain LoRA
adapters are quantized.
"""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = [
    "ADAPTER_INT8_WEIGHTS",
    "ADAPTER_WEIGHTS",
    "INT8_GROUP_SIZE",
    "adapter_file",
    "dequantize_int8",
    "quantize_adapter",
    "quantize_int8",
    "read_adapter_weights",
]

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_INT8_WEIGHTS = "adapter_model.int8.safetensors"
INT8_GROUP_SIZE = 64
_SCALE_SUFFIX = ".int8_scale"
_FORMAT = "kgbuild-int8-groupwise"


def quantize_int8(
    weight: torch.Tensor, group_size: int = INT8_GROUP_SIZE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(int8 values, fp16 scales)`` of a matrix, one scale per group of each row.

    A row whose length is not a multiple of ``group_size`` is one group.
    """
    if weight.dim() != 2:
        raise ValueError(
            f"only matrices are quantized, not a tensor of shape {tuple(weight.shape)}"
        )
    if group_size < 1:
        raise ValueError(f"group_size must be at least 1, not {group_size}")
    rows, cols = weight.shape
    group = group_size if cols % group_size == 0 else cols
    grouped = weight.float().reshape(rows, cols // group, group)
    # fp16 scales are what is stored: round them first so values are quantized against them
    scales = (grouped.abs().amax(dim=-1) / 127).half()
    divisor = torch.where(scales > 0, scales.float(), 1.0).unsqueeze(-1)  # all-zero groups
    values = torch.round(grouped / divisor).clamp(-127, 127)
    return values.to(torch.int8).reshape(rows, cols), scales


def dequantize_int8(values: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """The float32 matrix of :func:`quantize_int8`'s output."""
    rows, cols = values.shape
    groups = scales.shape[-1]
    if scales.shape[0] != rows or groups < 1 or cols % groups:
        raise ValueError(f"scales of shape {tuple(scales.shape)} do not fit values {rows}x{cols}")
    grouped = values.float().reshape(rows, groups, cols // groups)
    return (grouped * scales.float().unsqueeze(-1)).reshape(rows, cols)


def adapter_file(directory: Path) -> Path | None:
    """The adapter weight file in ``directory`` (fp16 or int8), None if it has none."""
    for name in (ADAPTER_WEIGHTS, ADAPTER_INT8_WEIGHTS):
        if (directory / name).is_file():
            return directory / name
    return None


def read_adapter_weights(directory: Path) -> dict[str, torch.Tensor] | None:
    """The adapter weights in ``directory`` as float32 tensors; None if it has neither file.

    Raises:
        ValueError: Both files are there (which one was meant?), or the int8 file is not
            one :func:`quantize_adapter` wrote.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    plain, int8 = directory / ADAPTER_WEIGHTS, directory / ADAPTER_INT8_WEIGHTS
    if plain.is_file() and int8.is_file():
        raise ValueError(
            f"{directory} holds both {ADAPTER_WEIGHTS} and {ADAPTER_INT8_WEIGHTS}: run "
            "`kgbuild train compress` on it again to finish an interrupted compression"
        )
    if plain.is_file():
        return {key: value.float() for key, value in load_file(str(plain)).items()}
    if not int8.is_file():
        return None
    with safe_open(str(int8), framework="pt") as handle:
        if (handle.metadata() or {}).get("quantization") != _FORMAT:
            raise ValueError(f"{int8} is not a {_FORMAT} file")
    stored = load_file(str(int8))
    weights: dict[str, torch.Tensor] = {}
    for key, value in stored.items():
        if key.endswith(_SCALE_SUFFIX):
            continue
        scales = stored.get(key + _SCALE_SUFFIX)
        if value.dtype == torch.int8:
            if scales is None:
                raise ValueError(f"{int8}: int8 weight {key!r} has no scales")
            weights[key] = dequantize_int8(value, scales)
        else:
            weights[key] = value.float()
    return weights


def quantize_adapter(directory: Path, group_size: int = INT8_GROUP_SIZE) -> tuple[int, int]:
    """Replace the fp16 adapter file in ``directory`` by its int8 form; return both sizes.

    The int8 file is written under a temporary name and renamed into place before the fp16
    one is removed: an interrupted run leaves the fp16 file (and, at worst, both files, which
    :func:`read_adapter_weights` refuses; running this again finishes the job).

    Raises:
        ValueError: ``directory`` has no ``adapter_model.safetensors``.
    """
    from safetensors.torch import load_file, save_file

    plain = directory / ADAPTER_WEIGHTS
    if not plain.is_file():
        raise ValueError(f"{directory} has no {ADAPTER_WEIGHTS} to quantize")
    stored: dict[str, torch.Tensor] = {}
    for key, value in load_file(str(plain)).items():
        if value.dim() == 2 and value.is_floating_point():
            stored[key], stored[key + _SCALE_SUFFIX] = quantize_int8(value, group_size)
        else:
            stored[key] = value.half() if value.is_floating_point() else value
    target = directory / ADAPTER_INT8_WEIGHTS
    partial = target.with_suffix(".partial")
    save_file(
        {key: value.contiguous() for key, value in stored.items()},
        str(partial),
        metadata={"format": "pt", "quantization": _FORMAT, "group_size": str(group_size)},
    )
    partial.chmod(plain.stat().st_mode & 0o777)  # as readable as the file it replaces
    partial.replace(target)
    before = plain.stat().st_size
    plain.unlink()
    return before, target.stat().st_size
