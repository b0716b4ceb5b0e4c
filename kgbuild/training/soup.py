"""Uniform model soups of LoRA adapters: the average of several fine-tunes, exactly.

Fine-tunes of one base that started from the same point often average into a model better
than each of them (Wortsman et al. 2022, "model soups"). A LoRA adapter adds ``s * B @ A``
to a weight (``s = alpha / r``); the average of n adapters is itself a LoRA adapter of
rank ``sum(r_i)``: ``A`` the ingredients' ``A`` stacked, ``B`` their ``s_i * B_i / n`` side
by side, ``alpha = rank``. Averaging ``A`` and ``B`` separately would not give the average
model. Saved modules (task heads) and trained new-token rows are averaged as they are.

The soup keeps the first ingredient's manifest (task, labels, markers, reading window),
tokenizer and, for a relation model, its no-relation weight and calibration (re-fit a
document relation soup's with ``kgbuild train calibrate``); the ingredients must share
base, task, labels and markers.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict

from kgbuild.errors import InputError
from kgbuild.nlp.adapter_weights import (
    ADAPTER_WEIGHTS,
    adapter_files,
    read_adapter_weights,
    remove_int8_files,
)
from kgbuild.nlp.hf import KGBUILD_MODEL_FILE
from kgbuild.training.common import (
    MODEL_CARD_FILE,
    dir_size,
    library_versions,
    make_output_folder,
    sha256_files,
    write_card_json,
)

__all__ = ["SoupResult", "soup_adapters"]

_CONFIG = "adapter_config.json"
_SAME_MANIFEST_KEYS = ("base", "task", "labels", "markers", "entity_types", "pooling")
_SAME_CONFIG_KEYS = ("task_type", "target_modules", "modules_to_save", "trainable_token_indices")
_UNSUPPORTED_CONFIG = ("use_dora", "use_rslora", "rank_pattern", "alpha_pattern", "lora_bias")


class SoupResult(BaseModel):
    """What :func:`soup_adapters` wrote."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    out_dir: Path
    ingredients: tuple[Path, ...]
    rank: int
    size_bytes: int
    warning: str | None = None
    """Why the soup may be a poor model (ingredients that did not start from one point)."""


def _read(directory: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor]]:
    try:
        manifest = json.loads((directory / KGBUILD_MODEL_FILE).read_text(encoding="utf-8"))
        config = json.loads((directory / _CONFIG).read_text(encoding="utf-8"))
        weights = read_adapter_weights(directory)
    except (OSError, ValueError) as e:  # json.JSONDecodeError is a ValueError
        raise InputError(f"{directory} is not a kgbuild LoRA model folder: {e}") from e
    if weights is None:
        raise InputError(f"{directory} is not a kgbuild LoRA model folder: no adapter weights")
    if manifest.get("format") != "lora":
        raise InputError(f"{directory} is not a LoRA adapter (format {manifest.get('format')!r})")
    for key in _UNSUPPORTED_CONFIG:
        if config.get(key):
            raise InputError(f"{directory}: adapters with {key} cannot be averaged here")
    return manifest, config, weights


def _check_same(
    first: tuple[Path, dict[str, Any], dict[str, Any], dict[str, torch.Tensor]],
    other: tuple[Path, dict[str, Any], dict[str, Any], dict[str, torch.Tensor]],
) -> None:
    path0, manifest0, config0, weights0 = first
    path, manifest, config, weights = other
    for key in _SAME_MANIFEST_KEYS:
        if manifest.get(key) != manifest0.get(key):
            raise InputError(
                f"{path} and {path0} differ in {key} ({manifest.get(key)!r} vs "
                f"{manifest0.get(key)!r}): only models of one base and task average"
            )
    for key in _SAME_CONFIG_KEYS:
        mine, theirs = config.get(key), config0.get(key)
        if isinstance(mine, list) and isinstance(theirs, list):
            mine, theirs = sorted(set(mine)), sorted(set(theirs))
        if mine != theirs:
            raise InputError(f"{path} and {path0} differ in adapter setting {key}")
    if set(weights) != set(weights0):
        raise InputError(f"{path} and {path0} adapt different modules")


def _start_point(card: dict[str, Any]) -> tuple[str, object]:
    """Where a fine-tune started: the model it continued, else its seed (random heads)."""
    settings = card.get("hyperparameters", {})
    init = settings.get("init") or card.get("init")
    return ("init", str(init)) if init else ("seed", card.get("seed", settings.get("seed")))


def _start_warning(models: Sequence[Path]) -> str | None:
    """A warning when the ingredients' cards show they started from different points.

    Averaging only works for fine-tunes of one starting point: two runs of the default
    relation recipe with seeds 42 and 43 (F1 55.7 and 56.6 at target precision 0.6,
    cross-fitted on Re-DocRED docs 50-99) averaged to F1 48.5, their randomly initialised
    pair classifiers and LoRA matrices being unrelated.
    """
    points = []
    for model in models:
        card_file = model / MODEL_CARD_FILE
        card = json.loads(card_file.read_text(encoding="utf-8")) if card_file.is_file() else {}
        points.append(_start_point(card))
    known = [p for p in points if p[1] is not None]
    if len(known) == len(points) and len(set(known)) > 1:
        starts = ", ".join(f"{kind} {value}" for kind, value in points)
        return (
            f"the ingredients started from different points ({starts}): their randomly "
            "initialised layers differ, and an average of them is usually a worse model "
            "than each; soup fine-tunes of one seed or of one --init model"
        )
    return None


def _scale(config: dict[str, Any]) -> float:
    return float(config["lora_alpha"]) / float(config["r"])


def _truncate(soup: dict[str, torch.Tensor], max_rank: int) -> float:
    """Keep the ``max_rank`` strongest directions (SVD) of each adapted layer's update.

    The update ``B @ A`` of each layer becomes ``B' @ A'`` with ``B' = U sqrt(S)`` and
    ``A' = sqrt(S) V^T`` over its ``max_rank`` largest singular values (the best
    approximation of that rank; the square roots keep both factors of one scale, which
    int8 storage likes). Returns the smallest share of a layer's update (squared
    Frobenius norm) kept.
    """
    kept = 1.0
    for key in [k for k in soup if ".lora_A." in k]:
        b_key = key.replace(".lora_A.", ".lora_B.")
        update = soup[b_key] @ soup[key]
        u, singular, vh = torch.linalg.svd(update, full_matrices=False)
        energy = singular.square()
        kept = min(kept, float(energy[:max_rank].sum() / energy.sum().clamp_min(1e-30)))
        root = singular[:max_rank].sqrt()
        soup[b_key] = (u[:, :max_rank] * root).contiguous()
        soup[key] = (root.unsqueeze(1) * vh[:max_rank]).contiguous()
    return kept


def soup_adapters(
    models: Sequence[Path],
    out: Path,
    *,
    command: str | None = None,
    max_rank: int | None = None,
) -> SoupResult:
    """Write the uniform average of the LoRA adapters in ``models`` to ``out``.

    Args:
        models: Two or more kgbuild LoRA model folders (``kgbuild train ...``) of one base,
            task and label set.
        out: Output folder (created; adapter files in it are overwritten).
        command: Command line recorded in the card (default: ``sys.argv``).
        max_rank: Store the average's update at this rank at most (its strongest
            directions, see :func:`_truncate`) instead of the exact sum of the ranks.

    Returns:
        SoupResult: The folder, the ingredients and the soup's LoRA rank.

    Raises:
        InputError: Fewer than two models, a folder that is not a LoRA model, or
            models that differ in base, task, labels, markers or adapted modules.
    """
    from safetensors.torch import save_file

    if len(models) < 2:
        raise InputError("a soup needs at least two models")
    if any(out.resolve() == model.resolve() for model in models):
        raise InputError(f"the output folder {out} is one of the ingredients")
    if max_rank is not None and max_rank < 1:
        raise InputError(f"max_rank must be at least 1, not {max_rank}")
    make_output_folder(out)
    read = [(model, *_read(model)) for model in models]
    for other in read[1:]:
        _check_same(read[0], other)
    n = len(read)
    rank = sum(int(config["r"]) for _, _, config, _ in read)
    soup: dict[str, torch.Tensor] = {}
    for key in read[0][3]:
        tensors = [weights[key].float() for _, _, _, weights in read]
        if ".lora_A." in key:
            soup[key] = torch.cat(tensors, dim=0)
        elif ".lora_B." in key:
            scaled = [
                t * _scale(config) / n for t, (_, _, config, _) in zip(tensors, read, strict=True)
            ]
            soup[key] = torch.cat(scaled, dim=1)
        else:  # saved modules (heads) and trained new-token rows
            soup[key] = torch.stack(tensors).mean(dim=0)
    kept = None
    if max_rank is not None and max_rank < rank:
        kept, rank = _truncate(soup, max_rank), max_rank
    first_dir, manifest, config, _ = read[0]
    remove_int8_files(out)  # a stale one would shadow the soup
    save_file(
        {k: v.half().contiguous() for k, v in soup.items()},
        str(out / ADAPTER_WEIGHTS),
        metadata={"format": "pt"},
    )
    (out / _CONFIG).write_text(
        json.dumps({**config, "r": rank, "lora_alpha": rank}, indent=2) + "\n", encoding="utf-8"
    )
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (first_dir / name).is_file():
            shutil.copyfile(first_dir / name, out / name)
    soup_manifest = {**manifest, "soup_of": [str(m) for m in models]}
    (out / KGBUILD_MODEL_FILE).write_text(
        json.dumps(soup_manifest, indent=2) + "\n", encoding="utf-8"
    )
    _write_card(out, read, rank, command if command is not None else shlex.join(sys.argv), kept)
    return SoupResult(
        out_dir=out,
        ingredients=tuple(models),
        rank=rank,
        size_bytes=dir_size(out),
        warning=_start_warning(models),
    )


def _write_card(
    out: Path,
    read: Sequence[tuple[Path, dict[str, Any], dict[str, Any], dict[str, torch.Tensor]]],
    rank: int,
    command: str,
    kept: float | None,
) -> None:
    ingredients = []
    for path, manifest, config, _ in read:
        card_file = path / MODEL_CARD_FILE
        card = json.loads(card_file.read_text(encoding="utf-8")) if card_file.is_file() else {}
        ingredients.append(
            {
                "path": str(path),
                "adapter_sha256": sha256_files(adapter_files(path)),
                "rank": config["r"],
                "lora_alpha": config["lora_alpha"],
                "command": card.get("command"),
                "started_from": list(_start_point(card)),
                "max_length": manifest.get("max_length"),
            }
        )
    exactly = (
        f"exact: rank {rank}"
        if kept is None
        else f"truncated to rank {rank} by SVD, keeping at least {kept:.1%} of each update"
    )
    card = {
        "task": read[0][1].get("task"),
        "method": f"uniform soup of {len(read)} LoRA adapters ({exactly})",
        "base": read[0][1].get("base"),
        "ingredients": ingredients,
        "command": command,
        "versions": library_versions(),
    }
    write_card_json(out, card)
    (out / "README.md").write_text(soup_card_text(out, card), encoding="utf-8")


def soup_card_text(out: Path, card: dict[str, Any]) -> str:
    """A soup's ``README.md``, from its card (with its calibration and storage, once made)."""
    from kgbuild.training.doc_re_train import calibration_section, storage_section

    ingredients = card["ingredients"]
    lines = "\n".join(
        f"{i}. `{item['path']}` (rank {item['rank']}, adapter sha256 "
        f"`{item['adapter_sha256'][:16]}...`): `{item['command']}`"
        for i, item in enumerate(ingredients, 1)
    )
    extra = calibration_section(card) + storage_section(card)
    return f"""# Model soup: {out.name}

The uniform average of {len(ingredients)} fine-tuned LoRA adapters over `{card["base"]}`
({card["task"]}), made by `kgbuild train soup`: {card["method"]}. The average of the
ingredients' weight updates is one LoRA adapter (A matrices stacked, scaled B matrices side
by side, then, where truncated, its strongest directions); task heads are averaged. Its manifest (reading window, labels) is
the first ingredient's.

- Command: `{card["command"]}`
- Libraries: {", ".join(f"{k} {v}" for k, v in card["versions"].items())}

## Ingredients

{lines}

Score it with `kgbuild evaluate`; the ingredients' cards hold their own dev scores.
{"" if not extra else chr(10) + extra}"""
