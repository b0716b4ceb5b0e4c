"""Text out of PDF, HTML and Word (.docx) files, with where each block came from.

Each reader returns the text as the file's blocks (PDF pages; HTML and Word block
elements) joined by a blank line, and metadata recording the blocks' ``[start, end)``
offsets into that text (``pages`` or ``elements``, see :mod:`kgbuild.layout`) and the
``format``. Offsets of mentions and sentences are offsets into this extracted text, so
:func:`kgbuild.layout.locate` gives the page or element of any of them.

* PDF (pypdf): the text of each page in content-stream order; an encrypted PDF is read
  only when it opens with the empty password (an owner password alone), otherwise it is
  refused. Scanned pages (images) hold no text: a PDF with no text at all is refused. The
  extraction has a time budget, and a page's content streams a size budget.
* HTML (trafilatura): the page's main text (navigation, footers, scripts and comments are
  left out), in block elements: headings ``h1``-``h6``, paragraphs ``p``, list items
  ``li``, table cells ``td``, ``pre``, ``blockquote``; a fragment without ``<body>`` is read
  as a body. The page's ``<title>`` becomes metadata ``title``.
* Word (python-docx): paragraphs and table cells in document order; headings (``Heading
  n`` styles, ``Title``) become ``h<n>``/``h1``, list paragraphs ``li``; ``title`` and
  ``author`` from the document properties. A legacy ``.doc`` or an encrypted file (both
  OLE containers, not zip) is refused with a message saying so.

A file the parser cannot read raises :class:`FormatError` with the parser's reason.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from collections.abc import Iterable, Iterator
from configparser import ConfigParser
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kgbuild.layout import ELEMENTS_KEY, FORMAT_KEY, PAGES_KEY

__all__ = [
    "EXTENSIONS",
    "PDF_TIMEOUT_S",
    "Extracted",
    "FormatError",
    "extract_docx",
    "extract_html",
    "extract_pdf",
]

EXTENSIONS = {".pdf": "pdf", ".html": "html", ".htm": "html", ".docx": "docx"}
"""File extensions read by this module, and their format."""

BLOCK_SEPARATOR = "\n\n"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SPACES = re.compile(r"[ \t\r\f\v]+")
_SURROGATE = re.compile("[\ud800-\udfff]")


class FormatError(Exception):
    """A file its format's parser cannot read (corrupt, encrypted, no text)."""


@dataclass
class Extracted:
    """Extracted text and its metadata (layout, format, title ...)."""

    text: str
    metadata: dict[str, str] = field(default_factory=dict)


class _Blocks:
    """Text blocks joined by a blank line, with their offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[tuple[int, int, str]] = []
        self.length = 0

    def add(self, text: str, tag: str = "") -> None:
        """Append a block (an empty one keeps its place as an empty range)."""
        if self.length and text:
            self.parts.append(BLOCK_SEPARATOR)
            self.length += len(BLOCK_SEPARATOR)
        self.spans.append((self.length, self.length + len(text), tag))
        self.parts.append(text)
        self.length += len(text)

    def text(self) -> str:
        return "".join(self.parts)


def _require_text(text: str, what: str) -> None:
    if not text.strip():
        raise FormatError(f"no text found in the {what}")


# -- PDF ----------------------------------------------------------------------------------------


PDF_TIMEOUT_S = 120.0
"""Default time a PDF's text extraction may take (``ingest.pdf_timeout_s``)."""
_TEXT_OPERATOR = re.compile(rb"T[jJ]|Do|['\"]")
"""Operators that can show text (pypdf reads nothing of a page whose content has none)."""


class _OverTime(BaseException):
    """Internal: the extraction passed its deadline.

    Not an ``Exception``: pypdf logs and swallows those raised while it reads a form XObject.
    """


def extract_pdf(
    data: bytes, *, max_bytes: int | None = None, timeout_s: float = PDF_TIMEOUT_S
) -> Extracted:
    """The text of each page of a PDF, with ``pages`` offsets.

    pypdf reads a content stream in pure Python (about 8 s a megabyte here), and a small
    file can hold megabytes of operators, or one stream shown on every page: the
    extraction stops after ``timeout_s`` (checked at every operator), and a page whose
    content streams (its own and its forms') pass ``max_bytes`` is refused before it is
    parsed.

    Raises:
        FormatError: not a readable PDF, encrypted with a password, without text, or over
            its time or size budget (naming the page).
    """
    from pypdf import PdfReader

    deadline = time.monotonic() + timeout_s

    def on_time(*_: Any) -> None:
        if time.monotonic() > deadline:
            raise _OverTime

    page_number = pages = 0
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _opens_without_password(reader):
            raise FormatError(
                "encrypted PDF: it needs a password to open; decrypt it (e.g. qpdf "
                "--decrypt) and build again"
            )
        blocks = _Blocks()
        pages = len(reader.pages)
        for page_number, page in enumerate(reader.pages, 1):
            on_time()
            content, size = _page_content(page)
            if max_bytes is not None and size > max_bytes:
                raise FormatError(
                    f"page {page_number} of {pages} has {size:,} bytes of content streams, "
                    f"over ingest.max_document_bytes ({max_bytes:,}); not read (raise the "
                    "limit to read it)"
                )
            text = ""
            if _TEXT_OPERATOR.search(content):
                text = _normalise(page.extract_text(visitor_operand_before=on_time) or "")
            blocks.add(text)
    except _OverTime:
        raise FormatError(
            f"reading the PDF's text took over {timeout_s:g} s (ingest.pdf_timeout_s), "
            f"stopped at page {page_number} of {pages}: a damaged or hostile file, or raise "
            "the limit"
        ) from None
    except FormatError:
        raise
    except Exception as exc:  # pypdf's errors, and what its parsers raise on damaged data
        raise FormatError(f"not a readable PDF ({type(exc).__name__}: {exc})") from exc
    text = blocks.text()
    _require_text(text, "PDF (scanned pages hold images, not text)")
    metadata = {
        FORMAT_KEY: "pdf",
        PAGES_KEY: json.dumps([[start, end] for start, end, _ in blocks.spans]),
    }
    title = _pdf_title(reader)
    if title:
        metadata["title"] = title
    return Extracted(text, metadata)


def _page_content(page: Any) -> tuple[bytes, int]:
    """A page's own content stream, and the bytes of it and of the forms it can show.

    A form (``/XObject`` of subtype ``/Form``) is counted once, however often it is shown;
    one pypdf cannot read is left to the extraction (which skips it).
    """
    contents = page.get_contents()
    content = contents.get_data() if contents is not None else b""
    size, seen = len(content), set()
    pending = [page.get("/Resources")]
    while pending:
        try:
            resources = pending.pop().get_object()
            xobjects = resources.get("/XObject")
            forms = list(xobjects.get_object().values()) if xobjects is not None else []
        except Exception:  # a damaged resource dictionary: pypdf skips it too
            continue
        for form in forms:
            try:
                form = form.get_object()
                if id(form) in seen or form.get("/Subtype") != "/Form":
                    continue
                seen.add(id(form))
                size += len(form.get_data())
                pending.append(form.get("/Resources"))
            except Exception:
                continue
    return content, size


def _opens_without_password(reader: Any) -> bool:
    try:
        return bool(reader.decrypt(""))
    except Exception as exc:  # pypdf raises DependencyError for AES without cryptography
        raise FormatError(f"encrypted PDF that cannot be opened here ({exc})") from exc


def _pdf_title(reader: Any) -> str:
    try:
        info = reader.metadata
        title = info.title if info is not None else None
    except Exception:  # a broken info dictionary is no reason to lose the text
        return ""
    return str(title).strip() if title else ""


def _normalise(text: str) -> str:
    """Page text without trailing spaces on lines, surrounding blank lines or NUL bytes.

    Surrogates (pypdf decodes a font's ``ToUnicode`` map with ``surrogatepass``) are joined
    into the characters their pairs encode, and a lone one becomes U+FFFD: a document's
    text must encode as UTF-8.
    """
    if _SURROGATE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    lines = [line.rstrip() for line in text.replace("\x00", "").splitlines()]
    return "\n".join(lines).strip()


# -- HTML ---------------------------------------------------------------------------------------

_HTML_BLOCKS = {"p": "p", "item": "li", "cell": "td", "quote": "blockquote", "code": "pre"}


def extract_html(html: str) -> Extracted:
    """The main text of an HTML page, in block elements, with ``elements`` offsets.

    Raises:
        FormatError: the page has no main text.
    """
    import trafilatura
    from lxml import etree
    from trafilatura.settings import DEFAULT_CONFIG

    def run(markup: str, *, short: bool = False) -> str | None:
        result: str | None = trafilatura.extract(
            markup,
            output_format="xml",
            include_tables=True,
            include_comments=False,
            include_formatting=False,
            favor_recall=True,
            with_metadata=True,
            config=_short_page_config() if short else DEFAULT_CONFIG,
        )
        return result

    def parsed(xml: str) -> tuple[Any, list[tuple[str, str]]]:
        try:
            root = etree.fromstring(xml.encode("utf-8"))
        except etree.XMLSyntaxError as exc:  # pragma: no cover - trafilatura writes valid XML
            raise FormatError(f"cannot read the extracted HTML text: {exc}") from exc
        main = root.find("main")
        return root, list(_html_blocks(main if main is not None else root))

    markup = html
    xml = run(markup)
    if xml is None and not re.search(r"<body[\s>]", html, re.IGNORECASE):
        markup = f"<html><body>{html}</body></html>"
        xml = run(markup)
    if xml is None:
        raise FormatError("no main text found in the HTML page")
    root, found = parsed(xml)
    if len(found) == 1 and (again := run(markup, short=True)) is not None:
        # under trafilatura's minimum size a page's text comes back as one paragraph (its
        # fallback): headings and list items ran into one "sentence". Read again without the
        # minimum, and keep the blocks when they hold the text as fully.
        blocks_root, blocks_found = parsed(again)
        if len(blocks_found) > 1 and _letters(blocks_found) >= 0.9 * _letters(found):
            root, found = blocks_root, blocks_found
    blocks = _Blocks()
    for tag, text in found:
        blocks.add(text, tag)
    text = blocks.text()
    _require_text(text, "HTML page")
    metadata = {
        FORMAT_KEY: "html",
        ELEMENTS_KEY: json.dumps([[s, e, tag] for s, e, tag in blocks.spans if e > s]),
    }
    title = (root.get("title") or "").strip()
    if title:
        metadata["title"] = title
    return Extracted(text, metadata)


@lru_cache(maxsize=1)
def _short_page_config() -> ConfigParser:
    """The settings of trafilatura without the minimum extracted size (250 characters)."""
    from trafilatura.settings import use_config

    config: ConfigParser = use_config()
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", "1")
    return config


def _letters(blocks: list[tuple[str, str]]) -> int:
    """Letters and digits in the blocks' text."""
    return sum(ch.isalnum() for _, text in blocks for ch in text)


def _html_blocks(element: Any) -> Iterator[tuple[str, str]]:
    """``(tag, text)`` of the block elements under ``element``, in document order."""
    for child in element:
        name = child.tag if isinstance(child.tag, str) else ""
        if name == "head":
            rend = str(child.get("rend") or "h2")
            tag = rend if re.fullmatch(r"h[1-6]", rend) else "h2"
        else:
            tag = _HTML_BLOCKS.get(name, "")
        if tag:
            text = _clean(_own_text(child))
            if text:
                yield tag, text
        yield from _html_blocks(child)


def _own_text(element: Any) -> str:
    """The text of ``element`` and its inline children, without nested blocks."""
    parts = [element.text or ""]
    for child in element:
        name = child.tag if isinstance(child.tag, str) else ""
        if name not in _HTML_BLOCKS and name not in {"head", "list", "table", "row"}:
            parts.append("\n" if name == "lb" else _own_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _clean(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


# -- Word ---------------------------------------------------------------------------------------


DOCX_UNPACKED_RATIO = 10
"""A Word file's parts may unpack to this many times the text limit ``max_bytes`` ..."""
DOCX_UNPACKED_SPARE = 4_000_000
"""... plus this much (styles, theme, fonts and images of even a short document)."""


def extract_docx(data: bytes, *, max_bytes: int | None = None) -> Extracted:
    """Paragraphs and table cells of a Word .docx file, with ``elements`` offsets.

    ``max_bytes`` (the largest text wanted) bounds the package before it is opened: its
    parts, as their sizes in the zip say, may unpack to at most ``DOCX_UNPACKED_RATIO``
    times that plus ``DOCX_UNPACKED_SPARE`` bytes (python-docx holds and parses them whole,
    so a zip bomb of a few megabytes would take gigabytes of memory).

    Raises:
        FormatError: not a readable .docx (a legacy .doc, encrypted, corrupt), too large
            unpacked, or no text.
    """
    if data.startswith(_OLE_MAGIC):
        raise FormatError(
            "not a .docx file: an OLE container, i.e. an encrypted Word file or a legacy "
            ".doc; save it as an unencrypted .docx"
        )
    if max_bytes is not None:
        _check_unpacked_size(data, DOCX_UNPACKED_RATIO * max_bytes + DOCX_UNPACKED_SPARE)
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = _Blocks()
        for tag, text in _docx_blocks(_docx_children(document.element.body, document)):
            blocks.add(text, tag)
        props = document.core_properties
        title, author = (props.title or "").strip(), (props.author or "").strip()
    except PackageNotFoundError as exc:
        raise FormatError(f"not a readable .docx (not a Word package: {exc})") from exc
    except Exception as exc:  # zip, XML and package errors of a damaged file
        raise FormatError(f"not a readable .docx ({type(exc).__name__}: {exc})") from exc
    text = blocks.text()
    _require_text(text, "Word document")
    metadata = {
        FORMAT_KEY: "docx",
        ELEMENTS_KEY: json.dumps([[s, e, tag] for s, e, tag in blocks.spans if e > s]),
    }
    if title:
        metadata["title"] = title
    if author:
        metadata["author"] = author
    return Extracted(text, metadata)


def _check_unpacked_size(data: bytes, limit: int) -> None:
    """Refuse a zip whose members unpack to more than ``limit`` bytes in all.

    The sizes are those the zip declares: :mod:`zipfile` never unpacks a member past its
    declared size (a member that holds more fails its checksum).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            unpacked = sum(member.file_size for member in package.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip: python-docx says so
    if unpacked > limit:
        raise FormatError(
            f"the Word file's parts unpack to {unpacked:,} bytes, over the {limit:,} that "
            f"ingest.max_document_bytes allows ({DOCX_UNPACKED_RATIO} times it plus "
            f"{DOCX_UNPACKED_SPARE:,}): a zip bomb, or a document too large; raise the "
            "limit to process it"
        )


def _docx_blocks(items: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """``(tag, text)`` of paragraphs and table cells (merged cells once), in order.

    Content controls (``w:sdt``: a template's fields, a cover page, a table of contents) are
    read as the paragraphs and tables they hold. A table inside a cell gives its own cells
    after the text of the cell that holds it.
    """
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for item in items:
        if isinstance(item, Table):
            # the cells' elements themselves, held: an id() of a freed lxml proxy is reused
            seen: set[Any] = set()
            for row in item.rows:
                for cell in row.cells:
                    if cell._tc in seen:
                        continue
                    seen.add(cell._tc)
                    parts = list(_docx_children(cell._tc, cell))
                    paragraphs = (part for part in parts if isinstance(part, Paragraph))
                    text = _clean("\n".join(_paragraph_text(p._p) for p in paragraphs))
                    if text:
                        yield "td", text
                    yield from _docx_blocks(part for part in parts if isinstance(part, Table))
        elif isinstance(item, Paragraph) and not _TOC_STYLE.fullmatch(_style_name(item)):
            text = _clean(_paragraph_text(item._p))
            if text:
                yield _paragraph_tag(item), text


def _docx_children(element: Any, parent: Any) -> Iterator[Any]:
    """The paragraphs and tables of a body or cell, those inside content controls included."""
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in element.iterchildren():
        if child.tag == qn("w:p"):
            yield Paragraph(child, parent)
        elif child.tag == qn("w:tbl"):
            yield Table(child, parent)
        elif child.tag == qn("w:sdt") and not _is_table_of_contents(child):
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                yield from _docx_children(content, parent)


def _is_table_of_contents(sdt: Any) -> bool:
    """Whether a content control is Word's table of contents (headings again, page numbers)."""
    from docx.oxml.ns import qn

    gallery = sdt.find(f"{qn('w:sdtPr')}/{qn('w:docPartObj')}/{qn('w:docPartGallery')}")
    return gallery is not None and gallery.get(qn("w:val")) == "Table of Contents"


_RUN_TEXT = {"t": None, "tab": "\t", "ptab": "\t", "br": "\n", "cr": "\n", "noBreakHyphen": "-"}
"""What each run element of WordprocessingML shows (``None``: its own text)."""
_HIDDEN_SUBTREES = {"txbxContent", "Fallback", "del", "moveFrom"}
"""Text-box contents and fallbacks (shown elsewhere or twice), and tracked deletions."""


def _paragraph_text(paragraph: Any) -> str:
    """The text a paragraph shows, as Word shows it.

    Runs inside content controls, tracked insertions, smart tags and simple fields count too
    (python-docx's ``Paragraph.text`` reads only plain runs and links).
    """
    parts: list[str] = []

    def walk(element: Any) -> None:
        for child in element.iterchildren():
            if not isinstance(child.tag, str):
                continue  # comments and processing instructions
            name = child.tag.rpartition("}")[2]
            if name in _HIDDEN_SUBTREES:
                continue
            if name in _RUN_TEXT:
                shown = _RUN_TEXT[name]
                parts.append(child.text or "" if shown is None else shown)
            else:
                walk(child)

    walk(paragraph)
    return "".join(parts)


_TOC_STYLE = re.compile(r"(?i)toc (?:[1-9]|heading)")
"""Styles of a table of contents' entries and heading, which repeat the document's headings."""


def _style_name(paragraph: Any) -> str:
    return str(getattr(paragraph.style, "name", "") or "")


def _paragraph_tag(paragraph: Any) -> str:
    style = _style_name(paragraph)
    heading = re.fullmatch(r"Heading ([1-6])", style)
    if heading:
        return f"h{heading.group(1)}"
    if style == "Title":
        return "h1"
    numbered = paragraph._p.pPr is not None and paragraph._p.pPr.numPr is not None
    if style.startswith("List") or numbered:
        return "li"
    return "p"
