"""Where the shipped ``models/`` and ``schemas/`` folders are, installed or in a checkout.

Each folder is looked up in this order:

1. the environment override, ``KGBUILD_MODELS_DIR`` or ``KGBUILD_SCHEMAS_DIR``;
2. the copy packaged in the wheel, ``kgbuild/_resources/<name>`` (found through
   :mod:`importlib.resources`; ``setup.py`` copies the folders there when it builds);
3. the repository's own folder, for a source checkout or an editable install.

A run can also name any model folder (``ner.model``, ``relations.model``...) or schema file
(``schema_path``) in its settings; these folders only decide what ``"default"`` and a
schema's short name (``wikidata``, ``business``) mean.

Example:
    >>> resource_dir("schemas").joinpath("wikidata.yaml").is_file()
    True
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Literal

__all__ = ["ENV_OVERRIDES", "PACKAGED", "Resource", "resource_dir"]

Resource = Literal["models", "schemas"]

ENV_OVERRIDES: dict[Resource, str] = {
    "models": "KGBUILD_MODELS_DIR",
    "schemas": "KGBUILD_SCHEMAS_DIR",
}
"""The environment variable that overrides each folder."""

PACKAGED = "_resources"
"""The folder inside the installed ``kgbuild`` package that holds the packaged copies."""

_CHECKOUT = Path(__file__).resolve().parent.parent


def resource_dir(name: Resource) -> Path:
    """The ``models`` or ``schemas`` folder in use (see the module docstring for the order)."""
    override = os.environ.get(ENV_OVERRIDES[name])
    if override:
        return Path(override).expanduser()
    packaged = files("kgbuild").joinpath(PACKAGED, name)
    if packaged.is_dir() and isinstance(packaged, Path):
        return packaged
    return _CHECKOUT / name
