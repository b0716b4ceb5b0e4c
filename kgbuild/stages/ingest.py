"""Ingest: find input files and read them into Documents, one clear failure per bad input.

A bad file never stops the run: it becomes a :class:`~kgbuild.data.DocumentFailure`
naming the file (and line, for JSON Lines) and the reason. What ingest changes in a
document it keeps (an encoding it detected, bytes it replaced, metadata it left out) is
an :class:`IngestWarning`: logged, and listed in the build summary.

PDF, HTML and Word (.docx) files are read by :mod:`kgbuild.stages.formats`: their text,
with the page or element of every offset in the metadata (``pages``/``elements``, see
:mod:`kgbuild.layout`); an encrypted, corrupt or text-less file is a failure.

Decoding: UTF-16 or UTF-32 where the bytes start with its byte-order mark (what Windows
calls "Unicode"), else UTF-8, then ``ingest.encoding`` if set (a declared UTF-16 or UTF-32
without a mark too), then detection, accepted only when it is
unambiguous (every plausible encoding reads the same text, and the bytes do not look like
damaged UTF-8), then a Windows Latin code page that the text's letters single out
(:mod:`kgbuild.stages.codepages`: a short cp1252 file, "José García"); otherwise a failure, or with ``ingest.undecodable: replace`` the text read
as UTF-8 with U+FFFD for the bad bytes. Document ids and metadata keys are identities:
one with a control character (or that is not valid Unicode) is refused, never rewritten.
Metadata values that are not strings are stored as JSON (sorted keys).
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import charset_normalizer
from pydantic import BaseModel, ConfigDict

from kgbuild.byte_order import is_wide, marked_codec
from kgbuild.config import IngestConfig
from kgbuild.data import Document, DocumentFailure
from kgbuild.ids import content_hash
from kgbuild.lang import detect_lang
from kgbuild.layout import ELEMENTS_KEY, FORMAT_KEY, PAGES_KEY
from kgbuild.stages.codepages import choose_code_page, differing_word
from kgbuild.stages.discovery import Inputs, find_inputs
from kgbuild.stages.formats import (
    EXTENSIONS,
    Extracted,
    FormatError,
    extract_docx,
    extract_html,
    extract_pdf,
)

__all__ = [
    "Decoded",
    "IngestResult",
    "IngestWarning",
    "decode_bytes",
    "find_files",
    "printable",
    "read_documents",
]

log = logging.getLogger(__name__)

STAGE = "ingest"

MAX_CHAOS = 0.01
"""Highest charset-normalizer "chaos" (mess ratio) of a detected encoding we accept."""
MIN_COHERENCE = 0.1
"""Lowest charset-normalizer "coherence" (how well the text fits a known language)."""
CHAOS_MARGIN = 0.05
COHERENCE_MARGIN = 0.1
"""Encodings this close to the best one are plausible too: they must all read the same."""


class IngestWarning(BaseModel):
    """Something ingest changed or left out of a document that it still reads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    message: str
    doc_id: str | None = None


@dataclass
class IngestResult:
    """Documents read, the inputs that could not be read, and what was changed on the way."""

    documents: list[Document] = field(default_factory=list)
    failures: list[DocumentFailure] = field(default_factory=list)
    warnings: list[IngestWarning] = field(default_factory=list)


class _BadInput(Exception):
    """Internal: one file or record cannot become a document."""


class Decoded(NamedTuple):
    """Text decoded from bytes, the encoding used and a warning to record (if any)."""

    text: str
    encoding: str
    warning: str | None = None


def find_files(paths: Inputs, extensions: Sequence[str]) -> list[tuple[Path, Path]]:
    """``(file, root)`` pairs of the inputs (see :func:`kgbuild.stages.discovery.find_inputs`)."""
    return find_inputs(paths, extensions).files


def decode_bytes(data: bytes, *, declared: str | None = None, undecodable: str = "fail") -> Decoded:
    """Decode ``data``: its byte-order mark, UTF-8, a declared encoding, then detection.

    A UTF-16 or UTF-32 byte-order mark decides; otherwise UTF-8, then ``declared``, then
    detection accepted only when it is unambiguous.

    Raises _BadInput for binary data, and for data nothing reads cleanly unless
    ``undecodable`` is ``"replace"``.
    """
    marked = marked_codec(data, utf8=False)  # UTF-8's: read as UTF-8 below
    if marked is not None:
        return _decode_marked(data, marked, undecodable)
    if b"\x00" in data[:8192]:
        if declared and is_wide(declared):
            try:
                return Decoded(data.decode(declared), declared)
            except UnicodeDecodeError as exc:
                raise _BadInput(
                    f"not {declared} as declared ({exc.reason} at byte {exc.start:,})"
                ) from None
        raise _BadInput("binary file (contains NUL bytes)")
    try:
        return Decoded(data.decode("utf-8-sig"), "utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    if declared:
        try:
            return Decoded(data.decode(declared), declared)
        except (UnicodeDecodeError, LookupError):
            pass
    where = f"invalid UTF-8 ({utf8_error.reason} at byte {utf8_error.start:,})"
    replaced = data.decode("utf-8", errors="replace")
    bad = replaced.count("\N{REPLACEMENT CHARACTER}") - data.count(b"\xef\xbf\xbd")
    good = len(replaced) - len(replaced.encode("ascii", errors="ignore")) - bad
    if good > bad:
        why = f"{where}: {bad:,} bad among {good:,} valid UTF-8 characters (damaged UTF-8)"
    else:
        detected, why = _detect(data, where)
        if detected is None:
            detected, why = _read_code_page(data, where, why)
        if detected is not None:
            return detected
    if undecodable == "replace":
        bytes_ = "byte" if bad == 1 else "bytes"
        return Decoded(replaced, "utf-8", f"{why}; read with U+FFFD for {bad:,} bad {bytes_}")
    raise _BadInput(
        f"{why}; set ingest.encoding (KGBUILD_INGEST__ENCODING) to the file's encoding, "
        "or ingest.undecodable: replace"
    )


def _decode_marked(data: bytes, codec: str, undecodable: str) -> Decoded:
    """Text that starts with a UTF-16 or UTF-32 byte-order mark (Windows "Unicode" files)."""
    try:
        return Decoded(data.decode(codec), codec)
    except UnicodeDecodeError as exc:
        why = f"invalid {codec.upper()} after its byte-order mark ({exc.reason} at byte {exc.start:,})"
    if undecodable == "replace":
        return Decoded(data.decode(codec, errors="replace"), codec, f"{why}; read with U+FFFD")
    raise _BadInput(f"{why}; repair the file, or set ingest.undecodable: replace")


def _detect(data: bytes, where: str) -> tuple[Decoded | None, str]:
    """The detected decoding when it is confident and unambiguous, else ``None`` and why."""
    matches = list(charset_normalizer.from_bytes(data))
    if not matches:
        return None, f"{where} and no encoding could be detected"
    best = matches[0]
    if best.chaos > MAX_CHAOS or best.coherence < MIN_COHERENCE:
        return None, (
            f"{where} and no encoding was detected with confidence (best guess "
            f"{best.encoding}: {best.chaos:.0%} chaos, {best.coherence:.0%} coherence)"
        )
    plausible = [
        m
        for m in matches
        if m.chaos <= best.chaos + CHAOS_MARGIN and m.coherence >= best.coherence - COHERENCE_MARGIN
    ]
    if len({str(m) for m in plausible}) > 1:
        names = ", ".join(dict.fromkeys(m.encoding for m in plausible[:5]))
        return None, f"{where} and the encoding is ambiguous ({names} read it differently)"
    warning = f"not UTF-8: decoded as {best.encoding} (detected; set ingest.encoding to choose)"
    return Decoded(str(best), best.encoding, warning), ""


def _read_code_page(data: bytes, where: str, why: str) -> tuple[Decoded | None, str]:
    """The Windows code page reading of ``data`` its letters single out, else why not.

    Where detection gave up (``why``): see :mod:`kgbuild.stages.codepages`.
    """
    choice = choose_code_page(data)
    chosen = choice.chosen
    if chosen is None and len(choice.plausible) > 1:
        words = differing_word(choice.plausible)
        reads = ", ".join(
            f"{r.encoding} reads {w!r}" for r, w in zip(choice.plausible, words, strict=True)
        )
        return None, f"{where} and the encoding is ambiguous ({reads})"
    if chosen is None:
        return None, why
    others = [r for r in choice.plausible if r is not chosen]
    languages = " ".join(chosen.languages or ()) or "none beyond ASCII"
    fits = f"detected from its letters, {languages}"
    if others:
        word, *words = differing_word((chosen, *others))
        fits += f": {word!r} where " + ", ".join(
            f"{r.encoding} reads {w!r}" for r, w in zip(others, words, strict=True)
        )
    warning = f"not UTF-8: decoded as {chosen.encoding} ({fits}; set ingest.encoding to choose)"
    return Decoded(chosen.text, chosen.encoding, warning), ""


def _check_text(text: str) -> None:
    if not text.strip():
        raise _BadInput("empty document (no text)")
    sample = text[:8192]
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    if control > max(8, len(sample) // 20):
        raise _BadInput("binary file (too many control characters)")


def _unprintable(name: str) -> str | None:
    """Why ``name`` cannot be an identity (a control character, a surrogate), or None."""
    for index, ch in enumerate(name):
        category = unicodedata.category(ch)
        if category == "Cs":
            return f"is not valid Unicode (unpaired surrogate U+{ord(ch):04X} at {index})"
        if category == "Cc" or ch in "\ufffe\uffff":
            return f"contains the control character U+{ord(ch):04X} (at {index})"
    return None


def printable(text: str) -> str:
    r"""``text`` with its control characters escaped (``\n``, ``\x1b``), for a terminal or log.

    A file name may hold a line break or an escape sequence: shown raw, it would fake a
    line of the summary or drive the terminal.
    """
    if not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        return text
    return "".join(
        ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        if unicodedata.category(ch) in ("Cc", "Cs")
        else ch
        for ch in text
    )


def _check_id(doc_id: str, what: str) -> None:
    problem = _unprintable(doc_id)
    if problem is not None:
        raise _BadInput(f"document id {doc_id!r} {problem}: ids must be printable; fix {what}")


def _check_unicode(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(value[exc.start])
        raise _BadInput(
            f"{what} is not valid Unicode (unpaired surrogate U+{code:04X} at {exc.start:,})"
        ) from exc


class _Reader:
    """Reads the inputs of one run into an :class:`IngestResult`."""

    def __init__(self, config: IngestConfig) -> None:
        self.config = config
        self.result = IngestResult()
        self.seen: dict[str, str] = {}

    def warn(self, source: str, message: str, doc_id: str | None = None) -> None:
        self.result.warnings.append(IngestWarning(source=source, message=message, doc_id=doc_id))

    def fail(self, source: str, error: str, doc_id: str | None = None) -> None:
        self.result.failures.append(
            DocumentFailure(source=source, stage=STAGE, error=error, doc_id=doc_id)
        )

    def accept(self, doc: Document) -> None:
        if doc.id in self.seen:
            first = self.seen[doc.id]
            self.fail(
                doc.source, f"duplicate document id {doc.id!r} (first read from {first})", doc.id
            )
            return
        self.seen[doc.id] = doc.source
        self.result.documents.append(doc)

    def decode(self, file: Path) -> Decoded:
        decoded = decode_bytes(
            file.read_bytes(), declared=self.config.encoding, undecodable=self.config.undecodable
        )
        if decoded.warning:
            self.warn(file.as_posix(), decoded.warning)
        return decoded

    def document(self, doc_id: str, text: str, source: str, meta: dict[str, str]) -> Document:
        given = meta.get("lang") or self.config.lang
        lang = _language_code(given) if given else detect_lang(text)
        return Document(
            id=doc_id,
            text=text,
            source=source,
            content_hash=content_hash(text),
            lang=lang,
            metadata=meta,
        )

    def read_text_file(self, file: Path, root: Path) -> Document:
        doc_id = file.relative_to(root).as_posix()
        _check_id(doc_id, "the file name")
        size = file.stat().st_size
        if size > self.config.max_document_bytes:
            raise _BadInput(
                f"document is {size:,} bytes, over ingest.max_document_bytes "
                f"({self.config.max_document_bytes:,}); raise the limit to process it"
            )
        decoded = self.decode(file)
        _check_text(decoded.text)
        meta = {"encoding": decoded.encoding} if decoded.encoding != "utf-8" else {}
        return self.document(doc_id, decoded.text, file.as_posix(), meta)

    def read_formatted(self, file: Path, root: Path) -> Document:
        """A PDF, HTML or Word file: its extracted text and layout (see ``formats``)."""
        doc_id = file.relative_to(root).as_posix()
        _check_id(doc_id, "the file name")
        size = file.stat().st_size
        if size > self.config.max_document_bytes:
            raise _BadInput(
                f"document is {size:,} bytes, over ingest.max_document_bytes "
                f"({self.config.max_document_bytes:,}); raise the limit to process it"
            )
        kind = EXTENSIONS[file.suffix.lower()]
        extracted: Extracted
        try:
            if kind == "html":
                decoded = self.decode(file)
                extracted = extract_html(decoded.text)
                if decoded.encoding != "utf-8":
                    extracted.metadata["encoding"] = decoded.encoding
            elif kind == "pdf":
                extracted = extract_pdf(
                    file.read_bytes(),
                    max_bytes=self.config.max_document_bytes,
                    timeout_s=self.config.pdf_timeout_s,
                )
            else:
                extracted = extract_docx(
                    file.read_bytes(), max_bytes=self.config.max_document_bytes
                )
        except FormatError as exc:
            raise _BadInput(str(exc)) from exc
        text_bytes = len(extracted.text.encode("utf-8"))
        if text_bytes > self.config.max_document_bytes:  # compressed formats hold more text
            raise _BadInput(
                f"the text extracted is {text_bytes:,} bytes, over ingest.max_document_bytes "
                f"({self.config.max_document_bytes:,}); raise the limit to process it"
            )
        _check_text(extracted.text)
        layout = {k: v for k, v in extracted.metadata.items() if k in _LAYOUT_KEYS}
        other = {k: v for k, v in extracted.metadata.items() if k not in _LAYOUT_KEYS}
        meta = {**self.metadata(other, file.as_posix(), doc_id), **layout}
        return self.document(doc_id, extracted.text, file.as_posix(), meta)

    def read_jsonl(self, file: Path) -> Iterator[Document]:
        """One document per line; see ``_LINE_BREAK`` for where a line ends."""
        text = self.decode(file).text
        for lineno, line in enumerate(_LINE_BREAK.split(text), start=1):
            if not line.strip():
                continue
            source = f"{file.as_posix()}:{lineno}"
            try:
                yield self.record(line, source)
            except json.JSONDecodeError as exc:
                self.fail(source, f"invalid JSON: {exc.msg}")
            except RecursionError:
                self.fail(source, "invalid JSON: arrays or objects nested too deeply to read")
            except _BadInput as exc:
                self.fail(source, str(exc))

    def record(self, line: str, source: str) -> Document:
        record = json.loads(line)
        if not isinstance(record, dict):
            raise _BadInput("a JSON Lines record must be an object with 'id' and 'text'")
        doc_id, body = record.get("id"), record.get("text")
        if not isinstance(doc_id, str | int) or str(doc_id) == "":
            raise _BadInput("record has no 'id' (string)")
        doc_id = str(doc_id)
        _check_id(doc_id, "the record's 'id'")
        if not isinstance(body, str):
            raise _BadInput("record has no 'text' (string)")
        _check_unicode(body, "record 'text'")
        size = len(body.encode("utf-8"))
        if size > self.config.max_document_bytes:
            raise _BadInput(
                f"record text is {size:,} bytes, over ingest.max_document_bytes "
                f"({self.config.max_document_bytes:,}); raise the limit to process it"
            )
        _check_text(body)
        raw_meta = record.get("metadata") or {}
        if not isinstance(raw_meta, dict):
            raise _BadInput("'metadata' must be an object")
        return self.document(doc_id, body, source, self.metadata(raw_meta, source, doc_id))

    def metadata(self, raw: dict[str, Any], source: str, doc_id: str) -> dict[str, str]:
        """Metadata as strings (JSON for other values); bad or over-size entries left out."""
        limit = self.config.max_metadata_chars
        meta: dict[str, str] = {}
        for key, value in raw.items():
            if isinstance(value, str):
                text = value
            else:
                text = json.dumps(value, ensure_ascii=False, sort_keys=True)
            shown = repr(key if len(key) <= 60 else key[:60] + "...")
            problem = _unprintable(key)
            if problem is None and len(key) > limit:
                problem = f"is {len(key):,} characters, over ingest.max_metadata_chars ({limit:,})"
            if problem is None and len(text) > limit:
                problem = (
                    f"has a value of {len(text):,} characters, over "
                    f"ingest.max_metadata_chars ({limit:,})"
                )
            if problem is None and _surrogates(text):
                problem = "has a value that is not valid Unicode (an unpaired surrogate)"
            if problem is not None:
                self.warn(source, f"metadata {shown} {problem}: left out", doc_id)
                continue
            meta[key] = text
        return meta

    def read(self, file: Path, root: Path) -> None:
        try:
            if file.suffix.lower() == ".jsonl":
                for document in self.read_jsonl(file):
                    self.accept(document)
            elif file.suffix.lower() in EXTENSIONS:
                self.accept(self.read_formatted(file, root))
            else:
                self.accept(self.read_text_file(file, root))
        except _BadInput as exc:
            self.fail(file.as_posix(), str(exc), _file_id(file, root))
        except OSError as exc:
            self.fail(file.as_posix(), f"cannot read file: {exc}", _file_id(file, root))


def _file_id(file: Path, root: Path) -> str | None:
    """The id a file read whole would have (a JSON Lines file holds many: ``None``).

    A failed file's earlier version is then recorded as failed, not as deleted.
    """
    if file.suffix.lower() == ".jsonl":
        return None
    try:
        doc_id = file.relative_to(root).as_posix()
    except ValueError:
        return None
    return None if _unprintable(doc_id) else doc_id


_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*")
_MAX_LANGUAGE_CHARS = 16
"""The ledger's column (``documents.lang``): PostgreSQL refuses a longer value."""


def _other_types(files: Sequence[Path], output_folders: Collection[Path]) -> Counter[str]:
    """Files by extension, but those in the build's output folder (its ledger, exports)."""
    return Counter(
        file.suffix.lower() or "no extension"
        for file in files
        if not any(file.resolve().is_relative_to(folder) for folder in output_folders)
    )


def _other_types_warning(folder: Path, counts: Counter[str], config: IngestConfig) -> IngestWarning:
    """The files of a folder left out for their extension, counted, as a warning."""
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
    return IngestWarning(
        source=folder.as_posix(),
        message=f"{counts.total()} file(s) not read, not of the types read ({kinds}; "
        f"ingest.extensions reads {' '.join(config.extensions)})",
    )


def _language_code(given: str) -> str:
    """A document's declared language as a tag the ledger holds.

    ``zh-Hans-CN-x-private`` is ``zh-Hans-CN`` (the last subtags dropped until it fits);
    ``"English!"`` is no language.
    """
    code = given.strip()
    if not _LANGUAGE_TAG.fullmatch(code):
        raise _BadInput(
            f"lang {given!r} is not a language code (such as en, zh or pt-BR); fix the "
            "record's metadata or ingest.lang"
        )
    shortened = False
    while len(code) > _MAX_LANGUAGE_CHARS or (shortened and re.search(r"[-_].$", code)):
        code, shortened = re.split(r"[-_](?=[^-_]*$)", code)[0], True  # and an "x" left alone
    return code


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
"""Where a JSON Lines record ends: not ``str.splitlines``, which also splits at U+2028,
U+2029 and U+0085, characters a JSON string may hold unescaped."""

_LAYOUT_KEYS = frozenset({FORMAT_KEY, PAGES_KEY, ELEMENTS_KEY})
"""Metadata ingest derives from a file's layout: exempt from ``ingest.max_metadata_chars``."""


def _surrogates(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cs" for ch in text)


def read_documents(
    paths: Inputs,
    config: IngestConfig | None = None,
    *,
    outputs: Collection[Path] = (),
) -> IngestResult:
    """Read every input (.txt .md .jsonl .pdf .html .htm .docx) into Documents.

    One failure is recorded per bad input (file, or JSON Lines record).

    Document ids are the file path relative to the folder given (or the ``id`` of a
    JSON Lines record), so they stay the same when the content changes. A repeated
    id keeps its first occurrence and records the others as failures. ``outputs`` are
    the files the build writes (``graph.html``): never read, when the output folder is
    inside an input folder.
    """
    reader = _Reader(config or IngestConfig())
    found = find_inputs(
        paths, reader.config.extensions, outside_links=reader.config.follow_outside_symlinks
    )
    reader.result.failures += found.failures
    written = {path.resolve() for path in outputs}
    for folder, files in found.other_types.items():
        counts = _other_types(files, {path.parent for path in written})
        if counts:
            reader.result.warnings.append(_other_types_warning(folder, counts, reader.config))
    names = {path.name for path in (*outputs, *written)}
    for file, root in found.files:
        if file.name in names and file.resolve() in written:
            log.info("not read: %s is an output of this build", file)
            continue
        reader.read(file, root)
    for failure in reader.result.failures:
        log.warning("skipped %s: %s", printable(failure.source), failure.error)
    for warning in reader.result.warnings:
        log.warning("%s: %s", printable(warning.source), warning.message)
    return reader.result
