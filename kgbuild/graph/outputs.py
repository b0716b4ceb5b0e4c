"""The build's output files, rewritten only when what they would hold changed.

A re-run that changes nothing in the graph (every document unchanged, or a change that
resolves to the same graph) would otherwise spend most of its time rewriting the same
GraphML, JSON and HTML: about 16 s of a 29 s no-op re-run over 2,000 documents. Each export
records, in ``.kgbuild-outputs.json`` beside the files, a fingerprint of what each file is
written from (the code that writes the files, and the graph's node-link JSON for the
GraphML, JSON and HTML files, with the cap on the explorer's pages for the HTML file; the
sentences for ``sentences.jsonl``), and each file's size and modification time as written.
A file is written again unless its fingerprint is the same and the file still has the size
and time recorded: a file deleted, edited or cut short by a crash is rewritten, and a new
``graph.html_pages`` rewrites ``graph.html`` alone. ``force`` (``kgbuild export``) rewrites
every file. Each file is written beside its place and then renamed into it, so a failed
write keeps the last one.

A build may also record what the graph was built from (``inputs``: the ledger's current
documents, the settings and :func:`code_digest`) and its totals; :func:`kept_outputs`
then tells the next build that nothing it would read has changed, so that it need not
resolve the graph again at all. The cap on the explorer's pages is not among those inputs:
:func:`refresh_html` writes ``graph.html`` for a new cap from the kept ``graph.json``.

Every build also keeps a copy of the graph schema it was built with, ``schema.yaml``
(:func:`write_schema`): ``kgbuild ask`` and ``serve`` read questions with it when their
own settings name no schema (:func:`recorded_schema`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import networkx as nx

from kgbuild.errors import KGBuildError
from kgbuild.graph.export import node_link_text, write_graphml, write_html
from kgbuild.schema import SchemaText

__all__ = [
    "OUTPUT_FILES",
    "RECORD_NAME",
    "SCHEMA_NAME",
    "code_digest",
    "code_files",
    "export_outputs",
    "kept_outputs",
    "recorded_schema",
    "refresh_html",
    "sources_digest",
    "write_schema",
]

log = logging.getLogger(__name__)

#: The files an export writes, by name.
OUTPUT_FILES: dict[str, str] = {
    "graphml": "graph.graphml",
    "json": "graph.json",
    "html": "graph.html",
    "sentences": "sentences.jsonl",
}

#: The record of the last export, in the output folder.
RECORD_NAME = ".kgbuild-outputs.json"

#: The copy of the graph schema the folder's graph was built with (:func:`write_schema`).
SCHEMA_NAME = "schema.yaml"

_SCHEMA_HEADER = "# kgbuild: the graph schema the graph in this folder was built with, from "


_CODE_SUFFIXES = (".py", ".html", ".js", ".css")


def code_files() -> list[tuple[str, Traversable]]:
    """The code of kgbuild, by path inside the package: its modules and the explorer's assets.

    The graph and its files follow from the stored results through this code (resolution,
    graph building, the writers, the explorer page the HTML file embeds).
    """

    def walk(folder: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
        for entry in folder.iterdir():
            if entry.is_dir():
                if entry.name != "__pycache__":
                    yield from walk(entry, f"{prefix}{entry.name}/")
            elif entry.name.endswith(_CODE_SUFFIXES):
                yield f"{prefix}{entry.name}", entry

    return sorted(walk(resources.files("kgbuild"), ""), key=lambda item: item[0])


def sources_digest(versions: Mapping[str, str], sources: Iterable[tuple[str, Traversable]]) -> str:
    """A digest of package versions and of the paths and bytes of source files."""
    digest = hashlib.sha256()
    for package, version in sorted(versions.items()):
        digest.update(f"{package}={version}\n".encode())
    for path, source in sources:
        digest.update(path.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=1)
def code_digest() -> str:
    """What, besides the stored results and the settings, decides the graph and its files.

    The versions of kgbuild, networkx (GraphML) and pyvis (the explorer's vis-network), and
    :func:`code_files`: any change to kgbuild's code rebuilds the outputs once.
    """
    versions = {}
    for package in ("kgbuild", "networkx", "pyvis"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "?"
    return sources_digest(versions, code_files())


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


def _paths(out_dir: Path) -> dict[str, Path]:
    return {name: out_dir / filename for name, filename in OUTPUT_FILES.items()}


def kept_outputs(out_dir: Path, inputs: str) -> tuple[dict[str, Path], dict[str, int]] | None:
    """The outputs and totals of the last build, if it was built from ``inputs`` and is intact.

    ``None`` unless the record of ``out_dir`` holds these ``inputs`` and totals, and every
    file still has the size and time recorded when it was written.
    """
    record = _read_record(out_dir / RECORD_NAME)
    totals = record.get("totals")
    files = record.get("files")
    if record.get("inputs") != inputs or not isinstance(totals, dict):
        return None
    if not isinstance(files, dict):
        return None
    paths = _paths(out_dir)
    if any(_stat(path) != files.get(name) for name, path in paths.items()):
        return None
    if not all(isinstance(value, int) for value in totals.values()):
        return None
    return paths, {str(key): value for key, value in totals.items()}


def refresh_html(out_dir: Path, html_pages: int | None) -> bool:
    """Make ``graph.html`` the one for ``html_pages``, from ``graph.json``, if it is not.

    For a build that keeps the last outputs (:func:`kept_outputs`): the graph is the one
    ``graph.json`` holds, so only the explorer, whose pages ``html_pages`` caps, can differ.
    Returns whether ``graph.html`` is now the one for this cap (kept or written); ``False``
    when the record or ``graph.json`` is not as written, and an export must write them.

    Raises:
        KGBuildError: ``graph.html`` could not be written (the message names it and why).
    """
    record_path = out_dir / RECORD_NAME
    record = _read_record(record_path)
    prints, files = record.get("fingerprints"), record.get("files")
    paths = _paths(out_dir)
    if not isinstance(prints, dict) or not isinstance(files, dict):
        return False
    try:
        text = paths["json"].read_bytes()
    except OSError:
        return False
    wanted = _fingerprints(text, html_pages, "")
    if _stat(paths["json"]) != files.get("json") or prints.get("json") != wanted["json"]:
        return False
    if prints.get("html") == wanted["html"] and _stat(paths["html"]) == files.get("html"):
        return True
    graph = nx.node_link_graph(json.loads(text), edges="edges")
    if not isinstance(graph, nx.MultiDiGraph):  # pragma: no cover - export writes one
        return False
    try:
        record_path.unlink(missing_ok=True)  # as in an export: no record while writing
        _write_replacing(paths["html"], lambda path: write_html(graph, path, max_pages=html_pages))
        record = {**record, "fingerprints": {**prints, "html": wanted["html"]}}
        record["files"] = {**files, "html": _stat(paths["html"])}
        _write_record(record_path, record)
    except OSError as exc:
        raise KGBuildError(f"cannot write the graph files into {out_dir}: {exc}") from exc
    log.info("graph unchanged: graph.html written again for graph.html_pages=%s", html_pages)
    return True


def export_outputs(
    graph: nx.MultiDiGraph[str],
    out_dir: Path,
    *,
    force: bool = False,
    inputs: str | None = None,
    totals: Mapping[str, int] | None = None,
    html_pages: int | None = None,
    sentences: str = "",
) -> dict[str, Path]:
    """Write GraphML, node-link JSON, the HTML explorer and the sentences where needed.

    ``sentences`` is the text of ``sentences.jsonl``
    (:func:`~kgbuild.graph.export.sentences_text`). ``inputs`` and ``totals`` (what the
    graph was built from, and its counts) are recorded for :func:`kept_outputs`;
    ``html_pages`` caps the entity pages of the HTML explorer (``None``: all). Returns
    every output's path, written now or kept (see the module docstring).

    Raises:
        KGBuildError: A file could not be written (the message names it and why).
    """
    try:
        return _export(
            graph,
            out_dir,
            force=force,
            inputs=inputs,
            totals=totals,
            html_pages=html_pages,
            sentences=sentences,
        )
    except OSError as exc:  # a read-only file, a folder in a file's place, a full disk
        raise KGBuildError(f"cannot write the graph files into {out_dir}: {exc}") from exc


def _export(
    graph: nx.MultiDiGraph[str],
    out_dir: Path,
    *,
    force: bool,
    inputs: str | None,
    totals: Mapping[str, int] | None,
    html_pages: int | None,
    sentences: str,
) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    text = node_link_text(graph).encode("utf-8")  # hashed, then written: encoded once
    fingerprints = _fingerprints(text, html_pages, sentences)
    record_path = out_dir / RECORD_NAME
    previous = {} if force else _read_record(record_path)
    kept_files = previous.get("files")
    if not isinstance(kept_files, dict):
        kept_files = {}
    kept_prints = previous.get("fingerprints")
    if not isinstance(kept_prints, dict):
        kept_prints = {}
    writers: dict[str, Callable[[Path], object]] = {
        "graphml": lambda path: write_graphml(graph, path),
        "json": lambda path: path.write_bytes(text),
        "html": lambda path: write_html(graph, path, max_pages=html_pages),
        "sentences": lambda path: path.write_text(sentences, encoding="utf-8"),
    }
    paths = _paths(out_dir)
    stats: dict[str, list[int] | None] = {}
    kept: list[str] = []
    # No record while files are being written: a crash leaves none, and all are rewritten.
    record_path.unlink(missing_ok=True)
    for name, path in paths.items():
        current = _stat(path)
        same = kept_prints.get(name) == fingerprints[name]
        if same and current is not None and current == kept_files.get(name):
            stats[name] = current
            kept.append(path.name)
            continue
        _write_replacing(path, writers[name])
        stats[name] = _stat(path)
    record: dict[str, Any] = {"fingerprints": fingerprints, "files": stats}
    if inputs is not None and totals is not None:
        record.update(inputs=inputs, totals=dict(totals))
    _write_record(record_path, record)
    if kept:
        log.info("unchanged since the last export: %s kept as written", ", ".join(kept))
    return paths


def _fingerprints(graph_text: bytes, html_pages: int | None, sentences: str) -> dict[str, str]:
    """What each output is written from, hashed: the code, and the graph, cap or sentences."""
    code = hashlib.sha256(code_digest().encode())
    graph = code.copy()
    graph.update(b"graph\0" + graph_text)
    html = graph.copy()
    html.update(f"\0html_pages={html_pages}".encode())
    code.update(b"sentences\0" + sentences.encode("utf-8"))
    return {
        "graphml": graph.hexdigest(),
        "json": graph.hexdigest(),
        "html": html.hexdigest(),
        "sentences": code.hexdigest(),
    }


def write_schema(out_dir: Path, schema: SchemaText) -> Path:
    """Record in ``out_dir`` that its graph was built with ``schema``: ``schema.yaml``.

    The file is the schema's text under a comment naming where it was read from;
    ``kgbuild ask`` and ``serve`` read questions with it when their settings name no
    schema (:func:`recorded_schema`). Written only when it would change, beside its place
    and then renamed into it. Returns its path.

    Raises:
        KGBuildError: it could not be written (the message names it and why).
    """
    path = out_dir / SCHEMA_NAME
    body = schema.text.removeprefix("\ufeff")  # a byte order mark only opens a stream
    text = f"{_SCHEMA_HEADER}{json.dumps(schema.source)}\n{body}"
    try:
        if path.read_text(encoding="utf-8") == text:
            return path
    except (OSError, ValueError):
        pass  # none yet, or not ours: written
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_replacing(path, lambda staged: staged.write_text(text, encoding="utf-8"))
    except OSError as exc:
        raise KGBuildError(f"cannot write the graph schema into {path}: {exc}") from exc
    return path


def recorded_schema(out_dir: Path) -> SchemaText | None:
    """The schema the graph in ``out_dir`` was built with (:func:`write_schema`).

    ``None`` when the folder holds no record of it (a graph built before kgbuild recorded
    its schema). Its ``source`` names the copy and the file it was copied from.

    Raises:
        KGBuildError: the copy is there but cannot be read (the message names it).
    """
    path = out_dir / SCHEMA_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise KGBuildError(
            f"cannot read {path}, the schema the graph was built with: {exc}; build again, "
            "or name the schema in your settings (schema_path)"
        ) from exc
    first = text.partition("\n")[0]
    source = str(path)
    if first.startswith(_SCHEMA_HEADER):
        with contextlib.suppress(ValueError):  # a header edited by hand: the copy named
            source = f"{path} (a copy of {json.loads(first.removeprefix(_SCHEMA_HEADER))})"
    return SchemaText(source, text)


def _write_record(path: Path, record: Mapping[str, Any]) -> None:
    staged = path.with_name(path.name + ".tmp")
    staged.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(staged, path)


def _write_replacing(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` as a new file beside it, then put that in its place.

    A full disk, a file size limit or a killed run leaves the previous file whole (and the
    graph that a ``kgbuild ask`` or ``serve`` reads from it), not cut short.
    """
    staged = path.with_name(f".{path.name}.partial")
    try:
        write(staged)
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
