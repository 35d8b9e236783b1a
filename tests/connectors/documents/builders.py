"""Build documents for tests: DOCX packages rewritten part by part, minimal PDFs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import docx

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
WORD_MAIN_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
MACRO_MAIN_TYPE = "application/vnd.ms-word.document.macroEnabled.main+xml"


def write_docx(
    path: Path,
    *,
    author: str = "Ada Lovelace",
    title: str = "Engine plans",
    body: bool = True,
) -> Path:
    """Save a small real .docx: two heading levels, paragraphs, a table, core properties."""
    document = docx.Document()
    document.core_properties.author = author
    document.core_properties.title = title
    if body:
        document.add_heading("Overview", level=1)
        document.add_paragraph("The engine computes Bernoulli numbers.")
        document.add_heading("Parts", level=2)
        table = document.add_table(rows=2, cols=2)
        table.cell(0, 0).text = "Part"
        table.cell(0, 1).text = "Count"
        table.cell(1, 0).text = "Gear"
        table.cell(1, 1).text = "42"
        document.add_paragraph("Closing words.")
    document.save(str(path))
    return path


def rewrite_docx(
    source: Path,
    target: Path,
    *,
    replace: dict[str, bytes] | None = None,
    drop: tuple[str, ...] = (),
    add: dict[str, bytes] | None = None,
) -> Path:
    """Copy a .docx, replacing, dropping or adding parts."""
    replace = replace or {}
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename in drop:
                continue
            data = replace.get(info.filename, old.read(info.filename))
            new.writestr(info.filename, data)
        for name, data in (add or {}).items():
            new.writestr(name, data)
    return target


def document_xml(body_xml: str, *, prolog: str = "") -> bytes:
    """Return a word/document.xml with `body_xml` inside <w:body>, after `prolog`."""
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{prolog}'
        f'<w:document xmlns:w="{W_NS}"><w:body>{body_xml}</w:body></w:document>'
    ).encode()


def paragraph(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def minimal_pdf(objects: list[bytes], *, root: int = 1, trailer: bytes = b"") -> bytes:
    """Return a PDF whose objects are numbered from 1 in order, with a correct xref."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\n" % (len(objects) + 1, root, trailer)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def pdf_with_content(stream: bytes, *, flate: bool = False, info: bytes = b"") -> bytes:
    """Return a one-page PDF drawing `stream` with Helvetica."""
    length = b"/Length %d" % len(stream)
    filters = b" /Filter /FlateDecode" if flate else b""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< " + length + filters + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if not info:
        return minimal_pdf(objects)
    objects.append(info)
    return minimal_pdf(objects, trailer=b"/Info 6 0 R ")
