"""Real PDF, Word and HTML files made in the tests (pypdf writes the PDFs, python-docx the .docx)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import docx
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

__all__ = ["ARTICLE_HTML", "make_docx", "make_pdf"]


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(
    pages: Sequence[Sequence[str]], *, password: str | None = None, owner_only: bool = False
) -> bytes:
    """A PDF with one page per item, each line of text drawn in Helvetica (WinAnsi).

    ``password`` encrypts it (RC4-128, which pypdf reads without extra packages); with
    ``owner_only`` the user password is empty, so it opens without one.
    """
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
            NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
        }
    )
    font_ref = writer._add_object(font)
    for lines in pages:
        page = writer.add_blank_page(width=612, height=792)
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        ops += [f"({_escape(line)}) Tj T*" for line in lines]
        ops.append("ET")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode("cp1252"))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font_ref})}
        )
    if password is not None:
        user = "" if owner_only else password
        writer.encrypt(user_password=user, owner_password=password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx(title: str = "Annual report") -> bytes:
    """A Word file: a heading, two paragraphs, a list item and a two-cell table."""
    document = docx.Document()
    document.core_properties.title = title
    document.core_properties.author = "Kim Example"
    document.add_heading("Acme Robotics annual report", level=1)
    document.add_paragraph("Maria Gonzalez works for Acme Robotics in Toronto.")
    document.add_paragraph("   ")  # an empty paragraph is no element
    document.add_paragraph("Helix opened an office in Lisbon.", style="List Bullet")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Revenue"
    table.cell(0, 1).text = "David Chen in Berlin"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


ARTICLE_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Acme opens a plant - Example News</title>
<style>p { color: red; }</style></head>
<body>
<nav><a href="/">Home</a> | <a href="/markets">Markets</a> | <a href="/about">About us</a></nav>
<main><article>
<h1>Acme Robotics opens a plant</h1>
<p>Acme Robotics, based in Toronto, opened a plant in Lisbon on Monday. Maria Gonzalez leads it
and says the plant will build warehouse robots for customers across the region.</p>
<p>The plant employs 200 people &amp; works with Helix on the software that runs the robots.</p>
<ul><li>Omar Haddad joins from Northwind Logistics.</li><li>Production starts in spring.</li></ul>
</article></main>
<footer>Copyright Example Media. All rights reserved. Contact the newsroom.</footer>
<script>var tracker = "<p>not text</p>";</script>
</body></html>
"""
