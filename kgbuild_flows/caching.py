"""The cache of the flow's model work: a batch is redone only when its inputs change.

Only the extract task's results are stored (in Prefect's result storage,
``$PREFECT_HOME/storage`` unless ``PREFECT_RESULTS_LOCAL_STORAGE_PATH`` says otherwise),
and only for this cache: every other task's output is in the ledger or the output files.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from prefect.serializers import CompressedSerializer, JSONSerializer

from kgbuild.config import Settings
from kgbuild.data import Document
from kgbuild.stages.registry import output_settings

__all__ = ["BATCH_SERIALIZER", "RESULT_FORMAT", "batch_cache_key", "batch_key"]

RESULT_FORMAT = "DocumentResult.v2.json"
"""The type a cached batch result holds; changing it leaves earlier cached batches unread
(v1: pickled, which this version never loads)."""

BATCH_SERIALIZER = CompressedSerializer(serializer=JSONSerializer(), compressionlib="zlib")
"""How a cached batch is stored: Prefect's default, a cloudpickle, is code run when it is
loaded back and breaks when the classes change; JSON is validated into the data models.
zlib makes it a quarter of the size (8 example documents: 55 KB pickled or as JSON,
15 KB compressed) for about 2 ms a batch."""


def batch_key(documents: list[Document], settings: Settings, model_key: str) -> str:
    """Hash of what decides a batch's extraction result.

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
    return "kgbuild-extract-" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def batch_cache_key(context: Any, parameters: dict[str, Any]) -> str | None:
    """Prefect ``cache_key_fn`` of the extract task (``None``: caching switched off)."""
    settings: Settings = parameters["settings"]
    if settings.orchestration.cache_days <= 0:
        return None
    return batch_key(parameters["documents"], settings, parameters["model_key"])
