"""kgbuild: documents in, a resolved knowledge graph out (NER, resolution, graph, Neo4j).

The heavy parts (torch, transformers) load on first use, so ``import kgbuild`` is cheap.

Example:
    >>> import kgbuild
    >>> report = kgbuild.build(["examples/corpus"])  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
    >>> print(kgbuild.ask("Where is Acme Robotics based?").answer.text)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# oneDNN (torch's CPU kernels) keeps a compiled kernel per tensor shape, and building a bf16
# kernel takes about 10 ms. The stages pad their batches to a few shapes (shape buckets), but
# NER and relations together use 300-500 of them on Re-DocRED documents: a cache of 64 (set
# here while pair-layer shapes were not yet bucketed) rebuilt kernels all the time, NER 1.8
# s and relations 3.7 s per 100 documents against 1.4 and 2.6 s once every kernel is kept.
# 1024 (oneDNN's own default) keeps them for about 60 MB. Read when torch first runs a
# kernel; set the variable yourself to override.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "1024")

# torch's CPU threads (GNU OpenMP) spin, by default, up to 300,000 times waiting for work before
# they sleep. When other processes want the cores (a browser, a second build, parallel Prefect
# tasks), a spinning thread holds the core its partner needs, and each of the thousands of small
# operations of a build waits for a scheduler time slice: beside one busy process a build of 100
# Re-DocRED documents took 44-72 s, against 14 s spinning 10,000 times and 10 s not at all; on a
# quiet machine 7.1-7.5, 7.35-7.38 and 8.3-8.6 s (``bench/bench_contention.py``). Read when torch
# is first imported (so only if kgbuild is imported before torch); set GOMP_SPINCOUNT or
# OMP_WAIT_POLICY yourself to choose otherwise.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "10000"

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
