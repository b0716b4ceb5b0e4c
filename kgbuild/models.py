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
from kgbuild.lang import language_code
from kgbuild.resources import resource_dir

__all__ = ["MODELS_DIR", "models_dir", "resolve_language_models", "resolve_task_model"]


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
    """The model ``ref`` names for ``task``: ``default`` and shipped names resolved.

    ``"default"`` is the manifest's model for ``task`` (a manifest path is relative to the
    ``models/`` folder); a shipped model's name (``re-en-minilm``) is its folder there,
    when it holds no ``/`` and names no folder of the current directory (which it still
    means). Other refs are returned as given.
    """
    if ref != "default":
        return _shipped_model(ref) or ref
    folder = models_dir()
    entry = _manifest(folder).get(task)
    if not isinstance(entry, dict) or "default" not in entry:
        raise ConfigError(f"model manifest has no default model for task {task!r}")
    return _in_folder(folder, str(entry["default"]), task, f"{task}.model")


def _shipped_model(ref: str) -> str | None:
    """The folder of the model ``ref`` names in ``models/`` (``ner-en-minilm``), else ``None``."""
    if not ref or "/" in ref or "\\" in ref or ref in (".", "..") or Path(ref).exists():
        return None
    local = models_dir() / ref
    return str(local) if local.is_dir() else None


def _in_folder(folder: Path, ref: str, task: str, setting: str) -> str:
    """A manifest's model reference: a folder of ours (it must be there) or a hub id."""
    local = folder / ref
    if local.exists():
        return str(local)
    if "/" not in ref:  # a folder name of ours, not a hub id
        raise ConfigError(
            f"the default {task} model is missing from {local}; train it with "
            f"`kgbuild train {task}` (see docs/models.md) or set {setting} to a folder or hub id"
        )
    return ref


def resolve_language_models(task: str, configured: dict[str, str] | None) -> dict[str, str]:
    """The models for ``task`` per language: ``configured``, else the manifest's ``by_language``.

    ``None`` reads ``by_language`` of the task's manifest entry (``{}`` when there is no
    manifest or no such entry); a configured mapping is returned however empty, a shipped
    model's name in it resolved as :func:`resolve_task_model` resolves one. Manifest paths
    are relative to the ``models/`` folder.

    Raises:
        ConfigError: ``by_language`` is not a mapping of language code -> model, or names a
            folder of ours that is missing.
    """
    if configured is not None:
        return {code: _shipped_model(ref) or ref for code, ref in configured.items()}
    folder = models_dir()
    if not (folder / "manifest.yaml").is_file():
        return {}
    entry = _manifest(folder).get(task)
    by_language = entry.get("by_language") if isinstance(entry, dict) else None
    if by_language is None:
        return {}
    if not isinstance(by_language, dict) or not all(
        isinstance(code, str) and isinstance(ref, str) and ref for code, ref in by_language.items()
    ):
        raise ConfigError(
            f"model manifest {folder / 'manifest.yaml'}: {task}.by_language must map language "
            f"codes to models, e.g. {{zh: ner-zh}}, not {by_language!r}"
        )
    return {
        language_code(code): _in_folder(folder, ref, task, f"{task}.language_models.{code}")
        for code, ref in by_language.items()
    }
