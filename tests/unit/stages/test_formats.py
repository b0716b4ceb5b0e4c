"""PDF, HTML and Word inputs: text with the page or element of every offset; bad files recorded."""

from __future__ import annotations

import io
import json
from pathlib import Path

import docx
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

from kgbuild.config import IngestConfig
from kgbuild.data import Document
from kgbuild.layout import Layout, locate
from kgbuild.pipeline import build
from kgbuild.stages.chunking import chunk_document
from kgbuild.stages.ingest import read_documents
from tests.documents import ARTICLE_HTML, make_docx, make_pdf

PAGES = [
    ["Maria Gonzalez founded Acme Robotics in Toronto.", "It builds warehouse robots."],
    [],  # an empty page keeps its number
    ["David Chen works for Helix in Berlin."],
]


def read_one(folder: Path) -> Document:
    result = read_documents([folder])
    assert result.failures == [], result.failures
    (document,) = result.documents
    return document


def test_a_pdf_is_read_page_by_page_with_page_offsets(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(make_pdf(PAGES))
    doc = read_one(tmp_path)
    assert doc.id == "report.pdf" and doc.metadata["format"] == "pdf"
    pages = json.loads(doc.metadata["pages"])
    assert len(pages) == 3 and pages[1][0] == pages[1][1]  # page 2 is empty
    assert doc.text[pages[0][0] : pages[0][1]].startswith("Maria Gonzalez founded")
    assert doc.text[pages[2][0] : pages[2][1]] == "David Chen works for Helix in Berlin."
    assert locate(doc.metadata, doc.text.index("Toronto")) == {"page": 1}
    assert locate(doc.metadata, doc.text.index("Berlin")) == {"page": 3}
    assert locate(doc.metadata, pages[0][1]) == {}  # the blank line between pages
    assert (
        "\n\n" in doc.text[pages[0][1] : pages[2][0]]
    )  # a paragraph break: no sentence spans pages


def test_encrypted_corrupt_and_empty_pdfs_are_recorded_failures(tmp_path: Path) -> None:
    (tmp_path / "locked.pdf").write_bytes(make_pdf(PAGES, password="s3cret"))
    (tmp_path / "owner-only.pdf").write_bytes(make_pdf(PAGES, password="s3cret", owner_only=True))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog")
    (tmp_path / "truncated.pdf").write_bytes(make_pdf(PAGES)[:300])
    (tmp_path / "scanned.pdf").write_bytes(make_pdf([[], []]))
    (tmp_path / "good.txt").write_text("Omar Haddad lives in Lisbon.", encoding="utf-8")
    result = read_documents([tmp_path])
    assert sorted(d.id for d in result.documents) == ["good.txt", "owner-only.pdf"]
    errors = {Path(f.source).name: f.error for f in result.failures}
    assert set(errors) == {"locked.pdf", "broken.pdf", "truncated.pdf", "scanned.pdf"}
    assert "encrypted PDF" in errors["locked.pdf"] and "password" in errors["locked.pdf"]
    assert "not a readable PDF" in errors["broken.pdf"]
    assert "not a readable PDF" in errors["truncated.pdf"]
    assert "no text" in errors["scanned.pdf"]
    assert all(f.stage == "ingest" for f in result.failures)
    opened = next(d for d in result.documents if d.id == "owner-only.pdf")
    assert "David Chen works for Helix" in opened.text


def test_a_pdf_whose_text_pypdf_cannot_decode_is_a_recorded_failure(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf(PAGES)))
    contents = writer.pages[0]["/Contents"].get_object()
    contents[NameObject("/Filter")] = NameObject("/NoSuchDecode")  # NotImplementedError
    buffer = io.BytesIO()
    writer.write(buffer)
    (tmp_path / "odd-filter.pdf").write_bytes(buffer.getvalue())
    (tmp_path / "good.txt").write_text("Omar Haddad lives in Lisbon.", encoding="utf-8")
    result = read_documents([tmp_path])
    assert [d.id for d in result.documents] == ["good.txt"]
    (failure,) = result.failures
    assert Path(failure.source).name == "odd-filter.pdf"
    assert "not a readable PDF (NotImplementedError: " in failure.error
    assert "/NoSuchDecode" in failure.error


def _hostile_pdf(operators: int, pages: int) -> bytes:
    """A small file whose pages all show one compressed stream of ``operators`` lines."""
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf([["Maria works in Lisbon."]])))
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 12 Tf 72 720 Td " + b"0 -1 Td (a) Tj " * operators + b"ET")
    shared = writer._add_object(stream.flate_encode())
    first = writer.pages[0]
    first[NameObject("/Contents")] = shared
    for _ in range(pages - 1):
        writer.add_page(first)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_a_pdf_that_takes_too_long_to_read_is_stopped_and_named(tmp_path: Path) -> None:
    """Pages of a small file showing one stream of 20,000 text operators: pypdf took seconds
    a page, minutes for the file, and a build waited for it (the budget here: 0.5 s)."""
    data = _hostile_pdf(20_000, pages=20)
    assert len(data) < 20_000
    (tmp_path / "slow.pdf").write_bytes(data)
    (tmp_path / "good.txt").write_text("Omar Haddad lives in Lisbon.", encoding="utf-8")
    result = read_documents([tmp_path], IngestConfig(pdf_timeout_s=0.5))
    assert [d.id for d in result.documents] == ["good.txt"]
    (failure,) = result.failures
    assert Path(failure.source).name == "slow.pdf"
    assert failure.error.startswith("reading the PDF's text took over 0.5 s")
    assert "(ingest.pdf_timeout_s), stopped at page " in failure.error
    assert failure.error.split("stopped at page ")[1].split(":")[0].endswith(" of 20")


def test_a_pdf_page_with_content_over_the_size_limit_is_refused_unparsed(
    tmp_path: Path,
) -> None:
    """1.5 MB of operators (a 3 KB file) took pypdf over 10 s to parse, the deadline unseen."""
    (tmp_path / "dense.pdf").write_bytes(_hostile_pdf(100_000, pages=1))
    result = read_documents([tmp_path], IngestConfig(max_document_bytes=1_000_000))
    (failure,) = result.failures
    assert Path(failure.source).name == "dense.pdf"
    assert failure.error == (
        "page 1 of 1 has 1,500,025 bytes of content streams, over ingest.max_document_bytes "
        "(1,000,000); not read (raise the limit to read it)"
    )


def test_surrogates_from_a_pdf_fonts_unicode_map_become_characters(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf([["Maria met X and YZ in Lisbon."]])))
    to_unicode = DecodedStreamObject()  # X: a lone surrogate; Y and Z: the halves of a pair
    to_unicode.set_data(
        b"begincmap\n1 begincodespacerange\n<00> <FF>\nendcodespacerange\n"
        b"3 beginbfchar\n<58> <D800>\n<59> <D83D>\n<5A> <DE00>\nendbfchar\nendcmap"
    )
    font = writer.pages[0]["/Resources"]["/Font"]["/F1"].get_object()
    font[NameObject("/ToUnicode")] = writer._add_object(to_unicode)
    buffer = io.BytesIO()
    writer.write(buffer)
    (tmp_path / "odd-font.pdf").write_bytes(buffer.getvalue())
    doc = read_one(tmp_path)
    assert doc.text == "Maria met \ufffd and \U0001f600 in Lisbon."  # was UnicodeEncodeError


def test_html_keeps_the_main_text_in_its_elements(tmp_path: Path) -> None:
    (tmp_path / "news.html").write_text(ARTICLE_HTML, encoding="utf-8")
    doc = read_one(tmp_path)
    assert doc.metadata["format"] == "html"
    assert doc.metadata["title"]
    for boilerplate in ("Markets", "All rights reserved", "tracker", "color: red"):
        assert boilerplate not in doc.text
    elements = json.loads(doc.metadata["elements"])
    tags = [tag for _, _, tag in elements]
    assert tags[0] == "h1" and "p" in tags and tags.count("li") == 2
    by_tag = {doc.text[s:e]: tag for s, e, tag in elements}
    assert by_tag["Acme Robotics opens a plant"] == "h1"
    assert by_tag["Omar Haddad joins from Northwind Logistics."] == "li"
    assert "200 people & works with Helix" in doc.text  # entities decoded
    at = doc.text.index("Omar Haddad")
    where = locate(doc.metadata, at)
    assert where["element_tag"] == "li"
    assert elements[int(where["element"])][0] <= at < elements[int(where["element"])][1]


def test_an_html_fragment_and_an_html_page_without_text(tmp_path: Path) -> None:
    (tmp_path / "a.htm").write_text(
        "<p>Linda Chen moved to Nairobi.</p><p>She works for Granite Capital.</p>",
        encoding="utf-8",
    )
    (tmp_path / "b.html").write_text(
        "<html><body><script>var x = 1;</script></body></html>", encoding="utf-8"
    )
    result = read_documents([tmp_path])
    (doc,) = result.documents
    assert doc.text == "Linda Chen moved to Nairobi.\n\nShe works for Granite Capital."
    assert json.loads(doc.metadata["elements"]) == [[0, 28, "p"], [30, 60, "p"]]
    (failure,) = result.failures
    assert failure.source.endswith("b.html") and "no main text" in failure.error


def test_a_short_page_keeps_its_list_items_apart(tmp_path: Path) -> None:
    # under trafilatura's minimum size (250 characters) its fallback gave the whole page as
    # one paragraph, so the list items ran into one sentence with the paragraph before them
    (tmp_path / "short.html").write_text(
        "<html><body><script>alert(1)</script><h1>Granite</h1>"
        "<p>Linda Chen moved to Nairobi.</p><ul>"
        "<li>Omar Haddad lives in Berlin</li><li>Sophie Martin lives in Paris</li></ul>"
        "</body></html>",
        encoding="utf-8",
    )
    (tmp_path / "one.html").write_text(  # one paragraph stays one
        "<html><body><p>Linda Chen moved to Nairobi.</p></body></html>", encoding="utf-8"
    )
    docs = {Path(d.source).name: d for d in read_documents([tmp_path]).documents}
    short = docs["short.html"]
    assert short.text == (
        "Linda Chen moved to Nairobi.\n\nOmar Haddad lives in Berlin\n\n"
        "Sophie Martin lives in Paris"
    )
    tags = [tag for _, _, tag in json.loads(short.metadata["elements"])]
    assert tags == ["p", "li", "li"]
    assert [chunk.text for chunk in chunk_document(short)] == [
        "Linda Chen moved to Nairobi.",
        "Omar Haddad lives in Berlin",
        "Sophie Martin lives in Paris",
    ]
    assert short.metadata["title"] == "Granite"  # the heading trafilatura takes for the title
    assert docs["one.html"].text == "Linda Chen moved to Nairobi."


def test_a_word_file_is_read_in_its_paragraphs_lists_and_cells(tmp_path: Path) -> None:
    (tmp_path / "report.docx").write_bytes(make_docx())
    doc = read_one(tmp_path)
    assert doc.metadata["format"] == "docx"
    assert (doc.metadata["title"], doc.metadata["author"]) == ("Annual report", "Kim Example")
    elements = json.loads(doc.metadata["elements"])
    pieces = [(doc.text[s:e], tag) for s, e, tag in elements]
    assert pieces == [
        ("Acme Robotics annual report", "h1"),
        ("Maria Gonzalez works for Acme Robotics in Toronto.", "p"),
        ("Helix opened an office in Lisbon.", "li"),
        ("Revenue", "td"),
        ("David Chen in Berlin", "td"),
    ]
    assert locate(doc.metadata, doc.text.index("Berlin")) == {"element": 4, "element_tag": "td"}


def test_every_cell_of_a_word_table_is_read_and_a_merged_cell_once(tmp_path: Path) -> None:
    document = docx.Document()
    table = document.add_table(rows=30, cols=3)
    for row in range(30):
        for column in range(3):
            table.cell(row, column).text = f"Person {row}-{column}"
    table.cell(0, 0).merge(table.cell(1, 0)).text = "Merged"  # two rows, one cell
    buffer = io.BytesIO()
    document.save(buffer)
    (tmp_path / "table.docx").write_bytes(buffer.getvalue())
    doc = read_one(tmp_path)
    cells = [doc.text[s:e] for s, e, _ in json.loads(doc.metadata["elements"])]
    expected = ["Merged", "Person 0-1", "Person 0-2", "Person 1-1", "Person 1-2"]
    expected += [f"Person {row}-{column}" for row in range(2, 30) for column in range(3)]
    assert cells == expected  # only 7 of them were read: ids of freed cells were reused


def test_a_table_inside_a_word_table_cell_is_read(tmp_path: Path) -> None:
    document = docx.Document()
    outer = document.add_table(rows=1, cols=2)
    outer.cell(0, 0).text = "Staff"
    inner = outer.cell(0, 0).add_table(rows=2, cols=1)
    inner.cell(0, 0).text = "Maria Gonzalez"
    inner.cell(1, 0).text = "David Chen"
    outer.cell(0, 1).text = "Toronto"
    buffer = io.BytesIO()
    document.save(buffer)
    (tmp_path / "nested.docx").write_bytes(buffer.getvalue())
    doc = read_one(tmp_path)
    cells = [(doc.text[s:e], tag) for s, e, tag in json.loads(doc.metadata["elements"])]
    assert cells == [
        ("Staff", "td"),
        ("Maria Gonzalez", "td"),
        ("David Chen", "td"),
        ("Toronto", "td"),
    ]


def test_corrupt_legacy_and_empty_word_files_are_recorded_failures(tmp_path: Path) -> None:
    (tmp_path / "zip-garbage.docx").write_bytes(b"PK\x03\x04" + b"\x00garbage" * 20)
    (tmp_path / "truncated.docx").write_bytes(make_docx()[:500])
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    (tmp_path / "encrypted.docx").write_bytes(ole)
    import docx

    empty = docx.Document()
    empty.add_paragraph("  ")
    empty.save(str(tmp_path / "empty.docx"))
    result = read_documents([tmp_path])
    assert result.documents == []
    errors = {Path(f.source).name: f.error for f in result.failures}
    assert "not a readable .docx" in errors["zip-garbage.docx"]
    assert "not a readable .docx" in errors["truncated.docx"]
    assert "encrypted Word file or a legacy .doc" in errors["encrypted.docx"]
    assert "no text" in errors["empty.docx"]


def test_layout_metadata_that_is_not_a_layout_is_ignored() -> None:
    assert Layout.from_metadata({}) is None
    assert Layout.from_metadata({"pages": "not json"}) is None
    assert Layout.from_metadata({"pages": "[[0, 5]]"}) == Layout("page", ((0, 5, ""),))
    assert locate({"pages": "[[0, 5], [7, 9]]"}, 8) == {"page": 2}


def test_pages_and_elements_reach_the_graph_files(
    tmp_path: Path, keyword_ner_model: Path, settings_for: object
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "report.pdf").write_bytes(make_pdf(PAGES))
    (docs / "report.docx").write_bytes(make_docx())
    (docs / "news.html").write_text(ARTICLE_HTML, encoding="utf-8")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 nothing")
    report = build([str(docs)], settings_for(keyword_ner_model))  # type: ignore[operator]
    assert [Path(f.source).name for f in report.failures] == ["broken.pdf"]
    data = json.loads(report.outputs["json"].read_text(encoding="utf-8"))
    names = {n["id"]: n.get("name") for n in data["nodes"]}
    texts = {n["id"]: n for n in data["nodes"] if n["kind"] == "document"}
    assert {"doc:report.pdf", "doc:report.docx", "doc:news.html"} <= set(texts)
    provenance = [
        (names[e["source"]], p)
        for e in data["edges"]
        if e["type"] == "MENTIONED_IN"
        for p in e["provenance"]
    ]
    in_pdf = {name: p["page"] for name, p in provenance if p["doc_id"] == "report.pdf"}
    assert in_pdf["Toronto"] == 1 and in_pdf["Berlin"] == 3
    in_docx = {name: p["element_tag"] for name, p in provenance if p["doc_id"] == "report.docx"}
    assert in_docx["Lisbon"] == "li" and in_docx["Berlin"] == "td"
    in_html = {name: p["element_tag"] for name, p in provenance if p["doc_id"] == "news.html"}
    assert in_html["Lisbon"] == "p"
    assert texts["doc:report.pdf"]["meta_format"] == "pdf"


def test_a_word_file_whose_text_is_over_the_size_limit_is_a_clear_failure(tmp_path: Path) -> None:
    """A .docx is a zip: a file under ``max_document_bytes`` can hold far more text."""
    document = docx.Document()
    for _ in range(2_000):
        document.add_paragraph("Acme Robotics opened an office in Lisbon. " * 5)
    document.save(tmp_path / "big.docx")
    limit = 200_000
    assert (tmp_path / "big.docx").stat().st_size < limit
    result = read_documents([tmp_path], IngestConfig(max_document_bytes=limit))
    assert result.documents == []
    (failure,) = result.failures
    assert (
        "the text extracted is" in failure.error
        and "over ingest.max_document_bytes" in failure.error
    )
    assert read_documents([tmp_path], IngestConfig(max_document_bytes=1_000_000)).documents


def test_a_word_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    """A few kilobytes of .docx that unpack to megabytes of XML (gigabytes, in a real bomb)."""
    import zipfile

    from kgbuild.stages.formats import DOCX_UNPACKED_RATIO, DOCX_UNPACKED_SPARE

    limit = 100_000
    padding = b'<w:bookmarkStart w:id="0" w:name="pad"/><w:bookmarkEnd w:id="0"/>'
    wanted = DOCX_UNPACKED_RATIO * limit + DOCX_UNPACKED_SPARE + 1_000_000
    with zipfile.ZipFile(io.BytesIO(make_docx())) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    body = parts["word/document.xml"].index(b"<w:body>") + len(b"<w:body>")
    xml = parts["word/document.xml"]
    parts["word/document.xml"] = xml[:body] + padding * (wanted // len(padding)) + xml[body:]
    with zipfile.ZipFile(tmp_path / "bomb.docx", "w", zipfile.ZIP_DEFLATED) as bomb:
        for name, data in parts.items():
            bomb.writestr(name, data)
    assert (tmp_path / "bomb.docx").stat().st_size < limit
    result = read_documents([tmp_path], IngestConfig(max_document_bytes=limit))
    assert result.documents == []
    (failure,) = result.failures
    assert "the Word file's parts unpack to" in failure.error and "zip bomb" in failure.error
    assert "raise the limit" in failure.error
    (document,) = read_documents([tmp_path], IngestConfig(max_document_bytes=1_000_000)).documents
    assert "Maria Gonzalez" in document.text


def test_word_content_controls_tracked_insertions_and_fields_are_read(tmp_path: Path) -> None:
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    def run(text: str) -> str:
        return f'<w:r><w:t xml:space="preserve">{text}</w:t></w:r>'

    def sdt(content: str, declare: str = "") -> str:
        return f"<w:sdt {declare}><w:sdtPr/><w:sdtContent>{content}</w:sdtContent></w:sdt>"

    sentence = (
        run("The client is ")
        + sdt(run("Vantor Shipping"))
        + run(" of ")
        + f'<w:ins w:id="1" w:author="x">{run("Oslo")}</w:ins>'
        + '<w:del w:id="2" w:author="x"><w:r><w:delText>Bergen</w:delText></w:r></w:del>'
        + run(", signed by ")
        + f'<w:fldSimple w:instr=" MERGEFIELD signer ">{run("Ana Lopez")}</w:fldSimple>'
        + run(".")
    )
    document = docx.Document()
    end = document.element.body.sectPr  # the section's settings close the body
    end.addprevious(parse_xml(sdt(f"<w:p>{run('Prepared by Nadia Okafor')}</w:p>", nsdecls("w"))))
    end.addprevious(parse_xml(f"<w:p {nsdecls('w')}>{sentence}</w:p>"))
    cell = document.add_table(rows=1, cols=1).cell(0, 0)._tc
    cell.remove(cell.p_lst[0])
    cell.append(parse_xml(sdt(f"<w:p>{run('Helix Biotech')}</w:p>", nsdecls("w"))))
    buffer = io.BytesIO()
    document.save(buffer)
    (tmp_path / "form.docx").write_bytes(buffer.getvalue())
    doc = read_one(tmp_path)
    pieces = [(doc.text[s:e], tag) for s, e, tag in json.loads(doc.metadata["elements"])]
    # were: the content controls (the first paragraph, the client, the cell) lost, and the
    # tracked insertion and the merge field's value missing from the sentence
    assert pieces == [
        ("Prepared by Nadia Okafor", "p"),
        ("The client is Vantor Shipping of Oslo, signed by Ana Lopez.", "p"),
        ("Helix Biotech", "td"),
    ]


def test_a_word_table_of_contents_is_not_read_again(tmp_path: Path) -> None:
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    document = docx.Document()
    toc = (
        f"<w:sdt {nsdecls('w')}><w:sdtPr><w:docPartObj>"
        '<w:docPartGallery w:val="Table of Contents"/><w:docPartUnique/>'
        "</w:docPartObj></w:sdtPr><w:sdtContent>"
        "<w:p><w:r><w:t>Acme Robotics in Toronto 1</w:t></w:r></w:p>"
        "</w:sdtContent></w:sdt>"
    )
    document.element.body.sectPr.addprevious(parse_xml(toc))
    document.styles.add_style("toc 2", WD_STYLE_TYPE.PARAGRAPH)
    document.add_paragraph("Helix in Lisbon 2", style="toc 2")  # a field-made contents line
    document.add_heading("Acme Robotics in Toronto", level=1)
    document.add_heading("Helix in Lisbon", level=1)
    buffer = io.BytesIO()
    document.save(buffer)
    (tmp_path / "report.docx").write_bytes(buffer.getvalue())
    doc = read_one(tmp_path)
    pieces = [(doc.text[s:e], tag) for s, e, tag in json.loads(doc.metadata["elements"])]
    # the contents repeat the headings (and page numbers): each name once, where it stands
    assert pieces == [("Acme Robotics in Toronto", "h1"), ("Helix in Lisbon", "h1")]


def test_the_sentences_file_holds_the_extracted_text_every_offset_points_into(
    tmp_path: Path, keyword_ner_model: Path, settings_for: object
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "report.pdf").write_bytes(make_pdf(PAGES))
    (docs / "report.docx").write_bytes(make_docx())
    (docs / "news.html").write_text(ARTICLE_HTML, encoding="utf-8")
    settings = settings_for(keyword_ner_model)  # type: ignore[operator]
    report = build([str(docs)], settings)
    extracted = {d.id: d.text for d in read_documents([docs]).documents}
    lines = report.outputs["sentences"].read_text(encoding="utf-8").splitlines()
    sentences = {}
    for line in lines:
        record = json.loads(line)
        for sentence in record["sentences"]:
            start, end = sentence["start"], sentence["end"]
            # each sentence is the extracted text at its offsets
            assert sentence["text"] == extracted[record["doc_id"]][start:end]
            sentences[sentence["id"]] = sentence
    assert [json.loads(line)["doc_id"] for line in lines] == sorted(extracted)
    data = json.loads(report.outputs["json"].read_text(encoding="utf-8"))
    provenance = [p for e in data["edges"] if e["type"] == "MENTIONED_IN" for p in e["provenance"]]
    assert {p["doc_id"] for p in provenance} == set(extracted)
    for p in provenance:  # a user checks a mention's offsets with the file alone
        sentence = sentences[p["chunk_id"]]
        at = sentence["start"]
        assert sentence["text"][p["start"] - at : p["end"] - at] == p["text"]
    # `kgbuild export` writes the same file from the ledger
    written = report.outputs["sentences"].read_text(encoding="utf-8")
    report.outputs["sentences"].unlink()
    from typer.testing import CliRunner

    from kgbuild.cli import app

    result = CliRunner().invoke(app, ["export", "--out", str(settings.out_dir)])
    assert result.exit_code == 0, result.output
    assert report.outputs["sentences"].read_text(encoding="utf-8") == written
