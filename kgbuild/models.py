"""The model manifest (``models/manifest.yaml``): what ``"default"`` means per task.

The folder comes from :func:`kgbuild.resources.resource_dir` (``KGBUILD_MODELS_DIR``
overrides it; an installed wheel carries its own copy).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from kgbuild.errors import ConfigError
from kgbuild.resources import resource_dir

__all__ = ["MODELS_DIR", "models_dir", "resolve_task_model"]


def models_dir() -> Path:
    """The folder of the manifest and our default models (read anew at each call)."""
    return resource_dir("models")


MODELS_DIR = models_dir()
"""The models folder when kgbuild was imported."""


@lru_cache(maxsize=4)
def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.yaml"
    if not path.is_file():
        raise ConfigError(f"model manifest not found at {path}; name a model explicitly")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ConfigError(f"model manifest {path} must be a mapping of task -> entry")
    return data


def resolve_task_model(task: str, ref: str) -> str:
    """Turn ``"default"`` into the manifest's model for ``task``; return other refs as given.

    A manifest path is relative to the ``models/`` folder.
    """
    if ref != "default":
        return ref
    folder = models_dir()
    entry = _manifest(folder).get(task)
    if not isinstance(entry, dict) or "default" not in entry:
        raise ConfigError(f"model manifest has no default model for task {task!r}")
    default = str(entry["default"])
    local = folder / default
    if local.exists():
        return str(local)
    if "/" not in default:  # a folder name of ours, not a hub id
        raise ConfigError(
            f"the default {task} model is missing from {local}; train it with "
            f"`kgbuild train {task}` (see docs/models.md) or set {task}.model to a folder or hub id"
        )
    return default
