"""The cache of the flow's model work: a batch is redone only when its inputs change.

Only the extract task's results are stored (in Prefect's result storage,
``$PREFECT_HOME/storage`` unless ``PREFECT_RESULTS_LOCAL_STORAGE_PATH`` says otherwise),
and only for this cache: every other task's output is in the ledger or the output files.
Prefect never removes a stored result, so after each successful run
:func:`prune_batch_cache` removes the build's batches no later run can read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.serializers import CompressedSerializer, JSONSerializer

from kgbuild.config import Settings
from kgbuild.data import Document
from kgbuild.pipeline import Plan, batches
from kgbuild.stages.registry import output_settings

__all__ = [
    "BATCH_SERIALIZER",
    "RESULT_FORMAT",
    "PrunedCache",
    "batch_cache_key",
    "batch_key",
    "build_prefix",
    "current_batch_keys",
    "ledger_prefix",
    "prune_batch_cache",
]

KEY_PREFIX = "kgbuild-extract-"

_UNSCOPED = re.compile("[0-9a-f]{64}")
"""What followed :func:`ledger_prefix` in a key before keys named the build."""

RESULT_FORMAT = "DocumentResult.v2.json"
"""The type a cached batch result holds; changing it leaves earlier cached batches unread
(v1: pickled, which this version never loads)."""

BATCH_SERIALIZER = CompressedSerializer(serializer=JSONSerializer(), compressionlib="zlib")
"""How a cached batch is stored: Prefect's default, a cloudpickle, is code run when it is
loaded back and breaks when the classes change; JSON is validated into the data models.
zlib makes it a quarter of the size (8 example documents: 55 KB pickled or as JSON,
15 KB compressed) for about 2 ms a batch."""


def ledger_prefix(settings: Settings) -> str:
    """How the cache keys of the batches of ``settings``' ledger begin.

    ``kgbuild-extract-`` and 16 hex digits of the ledger URL's hash, so that pruning
    finds this ledger's batches by name and leaves other ledgers' and flows' results alone.
    """
    digest = hashlib.sha256(settings.resolved_ledger_url().encode("utf-8")).hexdigest()
    return f"{KEY_PREFIX}{digest[:16]}-"


def build_prefix(settings: Settings) -> str:
    """How the cache keys of ``settings``' build (its output folder) begin.

    :func:`ledger_prefix`, then 16 hex digits of the output folder's hash (as configured,
    so a Dask worker forms the same). Builds into other output folders that share the
    ledger read other inputs: a build prunes only its own batches, never theirs.
    """
    digest = hashlib.sha256(settings.out_dir.as_posix().encode("utf-8")).hexdigest()
    return f"{ledger_prefix(settings)}{digest[:16]}-"


def batch_key(documents: list[Document], settings: Settings, model_key: str) -> str:
    """Hash of what decides a batch's extraction result, after :func:`build_prefix`.

    The documents (id, source, language, metadata and content hash), the model versions
    and output-changing settings (``model_key``), the stage configuration, and the ledger
    the results belong to (so two projects never share cached batches), and the type of
    the cached result (:data:`RESULT_FORMAT`).
    """
    payload = {
        "format": RESULT_FORMAT,
        "ledger": settings.resolved_ledger_url(),
        "model_key": model_key,
        "stages": {
            "chunking": output_settings(settings.chunking),
            "ner": output_settings(settings.ner),
            "relations": output_settings(settings.relations),
            "attributes": output_settings(settings.attributes),
            "templates": output_settings(settings.templates),
            "resolve": output_settings(settings.resolve),
            "schema": str(settings.schema_path or ""),
        },
        "documents": [
            [doc.id, doc.source, doc.lang, doc.content_hash, sorted(doc.metadata.items())]
            for doc in documents
        ],
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return build_prefix(settings) + hashlib.sha256(text.encode("utf-8")).hexdigest()


def batch_cache_key(context: Any, parameters: dict[str, Any]) -> str | None:
    """Prefect ``cache_key_fn`` of the extract task (``None``: caching switched off)."""
    settings: Settings = parameters["settings"]
    if settings.orchestration.cache_days <= 0:
        return None
    return batch_key(parameters["documents"], settings, parameters["model_key"])


def current_batch_keys(todo: Plan, settings: Settings) -> set[str]:
    """The keys of the batches a later run can still read back from the cache.

    Those a build of the same input, models and settings would form with an empty ledger
    (the ledger removed, ``--out`` emptied): every present document, in the order read.
    With the ledger kept, a later run only extracts new or changed documents, whose
    batches are new keys; a batch another run formed of them is never formed again.
    """
    return {
        batch_key(batch, settings, todo.model_key)
        for batch in batches(todo.as_read(), settings.docs_per_batch, settings.batch_chars)
    }


@dataclass(frozen=True)
class PrunedCache:
    """What :func:`prune_batch_cache` did in a result storage folder."""

    removed: int
    removed_bytes: int
    kept: int


def prune_batch_cache(
    folder: Path, settings: Settings, current: Collection[str], *, now: float | None = None
) -> PrunedCache:
    """Remove the build's cached batches that are not ``current`` or are past ``cache_days``.

    Only files named with this build's :func:`build_prefix` are looked at, and this
    ledger's batches cached before keys named the build (no build reads those now): other
    builds' and ledgers' batches and other flows' results in the same storage stay. Age is
    the file's modification time (Prefect writes a result once, with its expiration that
    far ahead).
    """
    oldest = (time.time() if now is None else now) - settings.orchestration.cache_days * 86400
    ledger, build = ledger_prefix(settings), build_prefix(settings)
    removed = removed_bytes = kept = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:  # nothing stored yet
        return PrunedCache(0, 0, 0)
    for entry in entries:
        name = entry.name
        ours = name.startswith(build)
        unscoped = name.startswith(ledger) and _UNSCOPED.fullmatch(name[len(ledger) :]) is not None
        if not (ours or unscoped) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            stat = entry.stat(follow_symlinks=False)
            if ours and entry.name in current and stat.st_mtime > oldest:
                kept += 1
                continue
            os.unlink(entry.path)
        except FileNotFoundError:  # removed meanwhile
            continue
        removed += 1
        removed_bytes += stat.st_size
    return PrunedCache(removed, removed_bytes, kept)
