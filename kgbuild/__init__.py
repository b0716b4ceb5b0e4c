"""kgbuild: documents in, a resolved knowledge graph out (NER, resolution, graph, Neo4j).

The heavy parts (torch, transformers) load on first use, so ``import kgbuild`` is cheap.

Example:
    >>> import kgbuild
    >>> report = kgbuild.build(["examples/corpus"])  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
    >>> print(kgbuild.ask("Where is Acme Robotics based?").answer)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# oneDNN (torch's CPU kernels) keeps a compiled kernel per tensor shape, up to 1024 of them.
# The relation model's pair layers see a new shape in almost every window, so a long document
# grew by about 6 MB per window (a 0.3 MB document: 2.7 GB peak). 64 kernels keep those that
# repeat at the same speed (2.1 GB). Read when torch first runs a kernel; set it to override.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64")

__version__ = "0.1.0"

__all__ = [
    "BuildReport",
    "GraphQA",
    "Settings",
    "__version__",
    "ask",
    "build",
    "load_settings",
]

if TYPE_CHECKING:
    from kgbuild.config import Settings, load_settings
    from kgbuild.pipeline import BuildReport, build
    from kgbuild.qa.engine import GraphQA, ask

_LAZY = {
    "BuildReport": "kgbuild.pipeline",
    "build": "kgbuild.pipeline",
    "Settings": "kgbuild.config",
    "load_settings": "kgbuild.config",
    "GraphQA": "kgbuild.qa.engine",
    "ask": "kgbuild.qa.engine",
}


def __getattr__(name: str) -> Any:
    """Import public names on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kgbuild' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
