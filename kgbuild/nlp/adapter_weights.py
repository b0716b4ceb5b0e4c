"""A LoRA adapter's weights on disk: peft's fp16 file, or kgbuild's int8 file of half the size.

``kgbuild train`` saves adapters as peft does (``adapter_model.safetensors``, fp16 here).
:func:`quantize_adapter` rewrites one as ``adapter_model.int8.safetensors``: every matrix in
int8 with one fp16 scale per group of ``group_size`` values along its rows (symmetric,
``scale = max|w| / 127``), vectors (biases) in fp16. That halves the file: the default
document relation model (4.3M adapter values, most of them its 24576 x 96 bilinear
classifier) goes from 8.6 MB to 4.5 MB. The rounding error, about 0.5% of each matrix's
norm, is below what the bf16 inference the stages run already rounds away: on 100
Re-DocRED documents the quantized relation model predicts the same 1,132 facts.

An int8 adapter larger than ``max_shard_bytes`` (4 MB by default, so every file stays
under the per-file limits of repositories and package indexes that ship models) is
written as shards named the way transformers names its own,
``adapter_model.int8-00001-of-00002.safetensors``...: a matrix and its scales always sit
in the same shard, and a folder holding an incomplete set of shards is refused.

:func:`read_adapter_weights` reads either file to float32 tensors keyed as peft keys them;
only kgbuild's own merge (:mod:`kgbuild.nlp.lora`) reads the int8 file, so only plain LoRA
adapters are quantized.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

__all__ = [
    "ADAPTER_INT8_WEIGHTS",
    "ADAPTER_WEIGHTS",
    "INT8_GROUP_SIZE",
    "INT8_MAX_SHARD_BYTES",
    "adapter_files",
    "dequantize_int8",
    "int8_files",
    "quantize_adapter",
    "quantize_int8",
    "read_adapter_weights",
    "remove_int8_files",
]

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_INT8_WEIGHTS = "adapter_model.int8.safetensors"
INT8_GROUP_SIZE = 64
INT8_MAX_SHARD_BYTES = 4_000_000
_SHARD = re.compile(r"adapter_model\.int8-(\d{5})-of-(\d{5})\.safetensors")
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


def int8_files(directory: Path) -> tuple[Path, ...]:
    """The int8 adapter files in ``directory``: the one file, its shards in order, or none.

    Raises:
        ValueError: Both the one file and shards are there, or the shards are not one
            complete set (a shard missing, or shards of two different splits).
    """
    single = directory / ADAPTER_INT8_WEIGHTS
    shards: dict[int, Path] = {}
    totals: set[int] = set()
    if directory.is_dir():
        for path in directory.iterdir():
            match = _SHARD.fullmatch(path.name)
            if match and path.is_file():
                shards[int(match[1])] = path
                totals.add(int(match[2]))
    if not shards:
        return (single,) if single.is_file() else ()
    if single.is_file():
        raise ValueError(f"{directory} holds both {ADAPTER_INT8_WEIGHTS} and its shards")
    (total,) = totals if len(totals) == 1 else (0,)
    if sorted(shards) != list(range(1, total + 1)):
        raise ValueError(
            f"{directory}: the int8 adapter shards are not one complete set "
            f"(found {', '.join(shards[i].name for i in sorted(shards))})"
        )
    return tuple(shards[i] for i in sorted(shards))


def adapter_files(directory: Path) -> tuple[Path, ...]:
    """The adapter weight files in ``directory``: the fp16 one, else the int8 one(s)."""
    if (directory / ADAPTER_WEIGHTS).is_file():
        return (directory / ADAPTER_WEIGHTS,)
    return int8_files(directory)


def remove_int8_files(directory: Path) -> None:
    """Delete any int8 adapter file or shard in ``directory`` (stale ones shadow new weights)."""
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        name = path.name.removesuffix(".partial")
        if name == ADAPTER_INT8_WEIGHTS or _SHARD.fullmatch(name):
            path.unlink(missing_ok=True)


def read_adapter_weights(directory: Path) -> dict[str, torch.Tensor] | None:
    """The adapter weights in ``directory`` as float32 tensors; None if it has none.

    Raises:
        ValueError: Both fp16 and int8 files are there (which was meant?), the int8 shards
            are incomplete, an int8 file is not one :func:`quantize_adapter` wrote, or a
            file is not a whole safetensors file (cut short by a copy, damaged).
    """
    plain, int8 = directory / ADAPTER_WEIGHTS, int8_files(directory)
    if plain.is_file() and int8:
        raise ValueError(
            f"{directory} holds both {ADAPTER_WEIGHTS} and {int8[0].name}: run "
            "`kgbuild train compress` on it again to finish an interrupted compression"
        )
    if plain.is_file():
        return {key: value.float() for key, value in _read_safetensors(plain)[0].items()}
    if not int8:
        return None
    stored: dict[str, torch.Tensor] = {}
    for path in int8:
        tensors, metadata = _read_safetensors(path)
        if metadata.get("quantization") != _FORMAT:
            raise ValueError(f"{path} is not a {_FORMAT} file")
        stored.update(tensors)
    weights: dict[str, torch.Tensor] = {}
    for key, value in stored.items():
        if key.endswith(_SCALE_SUFFIX):
            continue
        scales = stored.get(key + _SCALE_SUFFIX)
        if value.dtype == torch.int8:
            if scales is None:
                raise ValueError(f"{directory}: int8 weight {key!r} has no scales")
            weights[key] = dequantize_int8(value, scales)
        else:
            weights[key] = value.float()
    return weights


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors file.

    Raises:
        ValueError: The file is not a whole safetensors file (its error names the file).
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            return {key: handle.get_tensor(key) for key in handle.keys()}, metadata  # noqa: SIM118
    except SafetensorError as exc:
        raise ValueError(
            f"{path} is not a whole safetensors file ({exc}): it was cut short or damaged; "
            "copy the model again"
        ) from exc


def _shards(
    stored: Mapping[str, torch.Tensor], max_shard_bytes: int
) -> list[dict[str, torch.Tensor]]:
    """Split ``stored`` into groups of at most ``max_shard_bytes`` (a matrix beside its scales).

    A single matrix larger than the limit gets a shard of its own.
    """
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key in sorted(k for k in stored if not k.endswith(_SCALE_SUFFIX)):
        unit = {key: stored[key]}
        if key + _SCALE_SUFFIX in stored:
            unit[key + _SCALE_SUFFIX] = stored[key + _SCALE_SUFFIX]
        unit_bytes = sum(t.numel() * t.element_size() + 2 * len(k) + 64 for k, t in unit.items())
        if shards[-1] and size + unit_bytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1].update(unit)
        size += unit_bytes
    return shards


def quantize_adapter(
    directory: Path,
    group_size: int = INT8_GROUP_SIZE,
    max_shard_bytes: int = INT8_MAX_SHARD_BYTES,
) -> tuple[int, int]:
    """Replace the fp16 adapter file in ``directory`` by its int8 form; return both sizes.

    The int8 file (or its shards, past ``max_shard_bytes``) is written under temporary
    names and renamed into place before the fp16 one is removed: an interrupted run leaves
    the fp16 file (and, at worst, both, which :func:`read_adapter_weights` refuses; running
    this again finishes the job).

    Raises:
        ValueError: ``directory`` has no ``adapter_model.safetensors``.
    """
    from safetensors.torch import load_file, save_file

    plain = directory / ADAPTER_WEIGHTS
    if not plain.is_file():
        raise ValueError(f"{directory} has no {ADAPTER_WEIGHTS} to quantize")
    if max_shard_bytes < 1:
        raise ValueError(f"max_shard_bytes must be at least 1, not {max_shard_bytes}")
    stored: dict[str, torch.Tensor] = {}
    for key, value in load_file(str(plain)).items():
        if value.dim() == 2 and value.is_floating_point():
            stored[key], stored[key + _SCALE_SUFFIX] = quantize_int8(value, group_size)
        else:
            stored[key] = value.half() if value.is_floating_point() else value
    remove_int8_files(directory)
    shards = _shards(stored, max_shard_bytes)
    names = (
        [ADAPTER_INT8_WEIGHTS]
        if len(shards) == 1
        else [
            f"adapter_model.int8-{i:05d}-of-{len(shards):05d}.safetensors"
            for i in range(1, len(shards) + 1)
        ]
    )
    metadata = {"format": "pt", "quantization": _FORMAT, "group_size": str(group_size)}
    partials = []
    for name, shard in zip(names, shards, strict=True):
        partial = directory / f"{name}.partial"
        save_file({k: v.contiguous() for k, v in shard.items()}, str(partial), metadata=metadata)
        partial.chmod(plain.stat().st_mode & 0o777)  # as readable as the file it replaces
        partials.append(partial)
    for partial in partials:
        partial.replace(partial.with_suffix(""))
    before = plain.stat().st_size
    plain.unlink()
    return before, sum(p.with_suffix("").stat().st_size for p in partials)
