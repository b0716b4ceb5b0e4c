"""The build's output files, rewritten only when what they would hold changed.

A re-run that changes nothing in the graph (every document unchanged, or a change that
resolves to the same graph) would otherwise spend most of its time rewriting the same
GraphML, JSON and HTML: about 16 s of a 29 s no-op re-run over 2,000 documents. Each export
records, in ``.kgbuild-outputs.json`` beside the files, a fingerprint of the graph (the
node-link JSON it writes) and of the code that writes the files, and each file's size and
modification time as written. A file is written again unless the fingerprint is the same
and the file still has the size and time recorded: a file deleted, edited or cut short
by a crash is rewritten. ``force`` (``kgbuild export``) rewrites every file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import networkx as nx

from kgbuild.graph.export import node_link_text, write_graphml, write_html

__all__ = [
    "OUTPUT_FILES",
    "RECORD_NAME",
    "export_outputs",
    "sources_digest",
    "writer_sources",
    "writers_digest",
]

log = logging.getLogger(__name__)

#: The files an export writes, by name.
OUTPUT_FILES: dict[str, str] = {
    "graphml": "graph.graphml",
    "json": "graph.json",
    "html": "graph.html",
}

#: The record of the last export, in the output folder.
RECORD_NAME = ".kgbuild-outputs.json"


def writer_sources() -> list[Traversable]:
    """The source files that decide the outputs' bytes besides the graph.

    The writers (``kgbuild/graph/export.py``) and the explorer page that the HTML file
    embeds (its views' code and ``kgbuild/explorer/assets``).
    """
    explorer = resources.files("kgbuild.explorer")
    assets = sorted(
        (entry for entry in (explorer / "assets").iterdir() if entry.is_file()),
        key=lambda entry: entry.name,
    )
    return [
        resources.files("kgbuild.graph") / "export.py",
        *(explorer / name for name in ("models.py", "pages.py", "service.py", "static.py")),
        *assets,
    ]


def sources_digest(versions: Mapping[str, str], sources: Iterable[Traversable]) -> str:
    """A digest of package versions and of the names and bytes of source files."""
    digest = hashlib.sha256()
    for package, version in sorted(versions.items()):
        digest.update(f"{package}={version}\n".encode())
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=1)
def writers_digest() -> str:
    """What, besides the graph, decides the files' bytes: versions and writer sources.

    The versions of kgbuild, networkx (GraphML) and pyvis (the explorer's vis-network),
    and :func:`writer_sources`.
    """
    versions = {}
    for package in ("kgbuild", "networkx", "pyvis"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "?"
    return sources_digest(versions, writer_sources())


def _read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _stat(path: Path) -> list[int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def export_outputs(
    graph: nx.MultiDiGraph[str], out_dir: Path, *, force: bool = False
) -> dict[str, Path]:
    """Write GraphML, node-link JSON and the HTML explorer into ``out_dir`` where needed.

    Returns every output's path, written now or kept (see the module docstring).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    text = node_link_text(graph)
    fingerprint = hashlib.sha256(
        (writers_digest() + "\n").encode() + text.encode("utf-8")
    ).hexdigest()
    record_path = out_dir / RECORD_NAME
    previous = {} if force else _read_record(record_path)
    kept_files: dict[str, Any] = previous.get("files", {})
    same_graph = previous.get("fingerprint") == fingerprint
    writers: dict[str, Callable[[Path], object]] = {
        "graphml": lambda path: write_graphml(graph, path),
        "json": lambda path: path.write_text(text, encoding="utf-8"),
        "html": lambda path: write_html(graph, path),
    }
    paths = {name: out_dir / filename for name, filename in OUTPUT_FILES.items()}
    stats: dict[str, list[int] | None] = {}
    kept: list[str] = []
    # No record while files are being written: a crash leaves none, and all are rewritten.
    record_path.unlink(missing_ok=True)
    for name, path in paths.items():
        current = _stat(path)
        if same_graph and current is not None and current == kept_files.get(name):
            stats[name] = current
            kept.append(path.name)
            continue
        writers[name](path)
        stats[name] = _stat(path)
    staged = record_path.with_name(record_path.name + ".tmp")
    staged.write_text(
        json.dumps({"fingerprint": fingerprint, "files": stats}, indent=1), encoding="utf-8"
    )
    os.replace(staged, record_path)
    if kept:
        log.info("graph unchanged since the last export: %s kept as written", ", ".join(kept))
    return paths
