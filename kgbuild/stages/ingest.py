"""Ingest: find input files and read them into Documents, one clear failure per bad input.

A bad file never stops the run: it becomes a :class:`~kgbuild.data.DocumentFailure`
naming the file (and line, for JSON Lines) and the reason.
"""

from __future__ import annotations

import glob
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import charset_normalizer

from kgbuild.config import IngestConfig
from kgbuild.data import Document, DocumentFailure
from kgbuild.errors import InputError
from kgbuild.ids import content_hash
from kgbuild.lang import detect_lang

__all__ = ["IngestResult", "decode_bytes", "find_files", "read_documents"]

log = logging.getLogger(__name__)

STAGE = "ingest"


@dataclass
class IngestResult:
    """Documents read, and the inputs that could not be read."""

    documents: list[Document] = field(default_factory=list)
    failures: list[DocumentFailure] = field(default_factory=list)


class _BadInput(Exception):
    """Internal: one file or record cannot become a document."""


def find_files(paths: Sequence[str | Path], extensions: Sequence[str]) -> list[tuple[Path, Path]]:
    """Expand folders and globs into ``(file, root)`` pairs, sorted for determinism.

    ``root`` is the folder ids are made relative to. Raises InputError for a path
    that matches nothing.
    """
    found: dict[Path, Path] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in path.rglob("*"):
                if file.is_file() and file.suffix.lower() in extensions:
                    found.setdefault(file, path)
        elif path.is_file():
            found.setdefault(path, path.parent)
        else:
            matches = [Path(m) for m in glob.glob(str(raw), recursive=True)]
            files = [m for m in matches if m.is_file()]
            if not files:
                raise InputError(f"input path {raw!s} does not exist and matches no files")
            root = _glob_root(path)
            for file in files:
                found.setdefault(file, root)
    return sorted(found.items(), key=lambda item: item[0].as_posix())


def _glob_root(pattern: Path) -> Path:
    """The folder part of a glob pattern before its first wildcard."""
    fixed = list(pattern.parts)
    for index, part in enumerate(pattern.parts):
        if glob.has_magic(part):
            fixed = list(pattern.parts[:index])
            break
    return Path(*fixed) if fixed else Path()


def decode_bytes(data: bytes, *, declared: str | None = None) -> tuple[str, str]:
    """Decode ``data``: UTF-8 first, then a declared encoding, then detection.

    Returns ``(text, encoding)``. Raises _BadInput for binary or undecodable data.
    """
    if b"\x00" in data[:8192]:
        raise _BadInput("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    if declared:
        try:
            return data.decode(declared), declared
        except (UnicodeDecodeError, LookupError):
            pass
    best = charset_normalizer.from_bytes(data).best()
    if best is None or best.encoding is None:
        raise _BadInput(
            f"invalid UTF-8 ({utf8_error.reason} at byte {utf8_error.start}) and no encoding "
            "could be detected; set ingest.encoding"
        )
    return str(best), best.encoding


def _check_text(text: str) -> None:
    if not text.strip():
        raise _BadInput("empty document (no text)")
    sample = text[:8192]
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    if control > max(8, len(sample) // 20):
        raise _BadInput("binary file (too many control characters)")


def _document(
    doc_id: str, text: str, source: str, config: IngestConfig, meta: dict[str, str]
) -> Document:
    lang = meta.get("lang") or config.lang or detect_lang(text)
    return Document(
        id=doc_id,
        text=text,
        source=source,
        content_hash=content_hash(text),
        lang=lang,
        metadata=meta,
    )


def _read_text_file(file: Path, root: Path, config: IngestConfig) -> Document:
    size = file.stat().st_size
    if size > config.max_document_bytes:
        raise _BadInput(
            f"document is {size:,} bytes, over ingest.max_document_bytes "
            f"({config.max_document_bytes:,}); raise the limit to process it"
        )
    text, encoding = decode_bytes(file.read_bytes(), declared=config.encoding)
    _check_text(text)
    meta = {"encoding": encoding} if encoding != "utf-8" else {}
    return _document(file.relative_to(root).as_posix(), text, file.as_posix(), config, meta)


def _read_jsonl(file: Path, config: IngestConfig) -> Iterator[Document | DocumentFailure]:
    text, _ = decode_bytes(file.read_bytes(), declared=config.encoding)
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        source = f"{file.as_posix()}:{lineno}"
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise _BadInput("a JSON Lines record must be an object with 'id' and 'text'")
            doc_id, body = record.get("id"), record.get("text")
            if not isinstance(doc_id, str | int) or str(doc_id) == "":
                raise _BadInput("record has no 'id' (string)")
            if not isinstance(body, str):
                raise _BadInput("record has no 'text' (string)")
            if len(body.encode("utf-8")) > config.max_document_bytes:
                raise _BadInput(
                    f"record text is over ingest.max_document_bytes ({config.max_document_bytes:,})"
                )
            _check_text(body)
            raw_meta = record.get("metadata") or {}
            if not isinstance(raw_meta, dict):
                raise _BadInput("'metadata' must be an object")
            meta = {str(k): str(v) for k, v in raw_meta.items()}
            yield _document(str(doc_id), body, source, config, meta)
        except json.JSONDecodeError as exc:
            yield DocumentFailure(source=source, stage=STAGE, error=f"invalid JSON: {exc.msg}")
        except _BadInput as exc:
            yield DocumentFailure(source=source, stage=STAGE, error=str(exc))


def read_documents(paths: Sequence[str | Path], config: IngestConfig | None = None) -> IngestResult:
    """Read every .txt/.md/.jsonl input into Documents; record one failure per bad input.

    Document ids are the file path relative to the folder given (or the ``id`` of a
    JSON Lines record), so they stay the same when the content changes. A repeated
    id keeps its first occurrence and records the others as failures.
    """
    config = config or IngestConfig()
    result = IngestResult()
    seen: dict[str, str] = {}

    def accept(doc: Document) -> None:
        if doc.id in seen:
            result.failures.append(
                DocumentFailure(
                    source=doc.source,
                    stage=STAGE,
                    doc_id=doc.id,
                    error=f"duplicate document id {doc.id!r} (first read from {seen[doc.id]})",
                )
            )
            return
        seen[doc.id] = doc.source
        result.documents.append(doc)

    for file, root in find_files(paths, config.extensions):
        try:
            if file.suffix.lower() == ".jsonl":
                for item in _read_jsonl(file, config):
                    if isinstance(item, Document):
                        accept(item)
                    else:
                        result.failures.append(item)
            else:
                accept(_read_text_file(file, root, config))
        except _BadInput as exc:
            result.failures.append(
                DocumentFailure(source=file.as_posix(), stage=STAGE, error=str(exc))
            )
        except OSError as exc:
            result.failures.append(
                DocumentFailure(
                    source=file.as_posix(), stage=STAGE, error=f"cannot read file: {exc}"
                )
            )
    for failure in result.failures:
        log.warning("skipped %s: %s", failure.source, failure.error)
    return result
