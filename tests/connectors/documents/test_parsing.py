"""Reading one document: real files, and hostile ones that must end as typed failures."""

from __future__ import annotations

import io
import socket
import time
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import docx
import pytest
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml.parser import parse_xml
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from pypdf import PdfWriter

from connectors.documents.html import html_to_text, parse_html
from connectors.documents.parsing import (
    check_xml_part,
    parse_document,
    parse_pdf,
    parse_pdf_date,
)
from connectors.errors import (
    CorruptFile,
    EmptyDocument,
    EncryptedFile,
    FileRejected,
    LimitExceeded,
    UnsupportedFile,
)
from tests.connectors.documents.builders import (
    MACRO_MAIN_TYPE,
    WORD_MAIN_TYPE,
    document_xml,
    paragraph,
    pdf_with_content,
    rewrite_docx,
    write_docx,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "documents"
DOCX = FIXTURES / "docx"
PDF_REAL = FIXTURES / "pdf-real"
PDF_BAD = FIXTURES / "pdf-malformed"
FAST = 3.0


# DOCX


def test_docx_headings_tables_and_core_properties(tmp_path: Path) -> None:
    parsed = parse_document(write_docx(tmp_path / "plan.docx"))
    assert parsed.text == (
        "# Overview\n"
        "The engine computes Bernoulli numbers.\n"
        "## Parts\n\n"
        "Part | Count\n"
        "Gear | 42\n\n"
        "Closing words."
    )
    assert parsed.title == "Engine plans"
    assert parsed.author == "Ada Lovelace"
    assert parsed.format == "docx"


def test_real_docx_heading_and_author() -> None:
    parsed = parse_document(DOCX / "test.docx")
    assert parsed.text.splitlines()[0] == "# python-docx was here!"
    assert parsed.author == "Cisco Employee"
    assert parsed.created_at == datetime(2013, 12, 15, 10, 40, tzinfo=UTC)


def test_real_docx_tables_are_pipe_joined_rows() -> None:
    assert parse_document(DOCX / "mammoth-tables.docx").text == (
        "Above\n\nTop left | Top right\nBottom left | Bottom right\n\nBelow"
    )
    # Merged cells appear once per row, not once per grid column they span.
    assert "1 | 2 | 3\n4 | 6\n" in parse_document(DOCX / "tbl-cell-access.docx").text


def test_real_docx_comments_are_kept_with_their_author() -> None:
    parsed = parse_document(DOCX / "mammoth-comments.docx")
    assert parsed.text == (
        "Ouch.\n\nComments:\n- Michael Williamson: A tachyon walks into a bar.\n"
        "- Michael Williamson: Fin."
    )


def test_docx_without_core_properties_names_no_author() -> None:
    # python-docx would invent "python-docx" / "Word Document": they must not leak out.
    parsed = parse_document(DOCX / "mammoth-utf8-bom.docx")
    assert parsed.text == "This XML has a byte order mark."
    assert (parsed.author, parsed.title, parsed.created_at) == ("", "", None)


@pytest.mark.parametrize("fixture", ["mammoth-empty.docx", "doc-no-coreprops.docx"])
def test_docx_without_text_is_an_empty_document(fixture: str) -> None:
    with pytest.raises(EmptyDocument):
        parse_document(DOCX / fixture)


def test_strict_ooxml_docx_is_corrupt_not_a_crash() -> None:
    with pytest.raises(CorruptFile):
        parse_document(DOCX / "mammoth-strict-format.docx")


def test_python_docx_itself_does_not_resolve_entities() -> None:
    # Defence in depth behind our own DTD check: python-docx's parser has
    # resolve_entities=False, so an external entity stays an unexpanded reference.
    xml = (
        b'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        b"<w:body><w:p><w:r><w:t>&xxe;</w:t></w:r></w:p></w:body></w:document>"
    )
    text = etree.tostring(parse_xml(xml))
    assert b"&xxe;" in text
    assert Path("/etc/hostname").read_bytes().strip() not in text.replace(b"&xxe;", b"")


XXE = '<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
BILLION_LAUGHS = (
    '<!DOCTYPE w:document [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10}">' for n in range(1, 10))
    + "]>"
).replace("&lol0;", "&lol;")


@pytest.mark.parametrize(
    ("prolog", "body"),
    [(XXE, paragraph("&xxe;")), (BILLION_LAUGHS, paragraph("&lol9;"))],
    ids=["xxe", "billion-laughs"],
)
def test_docx_with_dtd_entities_is_refused_fast(tmp_path: Path, prolog: str, body: str) -> None:
    source = write_docx(tmp_path / "plain.docx")
    hostile = rewrite_docx(
        source,
        tmp_path / "hostile.docx",
        replace={"word/document.xml": document_xml(body, prolog=prolog)},
    )
    started = time.monotonic()
    with pytest.raises(CorruptFile, match="DTD or entities"):
        parse_document(hostile)
    assert time.monotonic() - started < FAST


def test_dtd_hidden_in_utf16_is_still_found(tmp_path: Path) -> None:
    xml = document_xml(paragraph("&xxe;"), prolog=XXE).decode().replace("UTF-8", "UTF-16")
    with pytest.raises(CorruptFile, match="DTD or entities"):
        check_xml_part(xml.encode("utf-16"), "word/document.xml")


@pytest.mark.parametrize("encoding", ["UTF-7", "ISO-8859-1", "EBCDIC-US"])
def test_xml_part_in_another_encoding_is_refused(encoding: str) -> None:
    xml = document_xml(paragraph("x")).decode().replace("UTF-8", encoding).encode()
    with pytest.raises(CorruptFile, match="encoding"):
        check_xml_part(xml, "word/document.xml")


def test_ebcdic_sniffed_xml_is_refused() -> None:
    with pytest.raises(CorruptFile):
        check_xml_part('<?xml version="1.0"?><a/>'.encode("cp500"), "word/document.xml")


def test_docx_zip_bomb_member_is_refused_before_decompressing(tmp_path: Path) -> None:
    source = write_docx(tmp_path / "plain.docx")
    zeros = bytes(30 << 20)  # 30 MB that deflate to 30 kB
    bomb = rewrite_docx(source, tmp_path / "bomb.docx", add={"word/media/bomb.bin": zeros})
    started = time.monotonic()
    with pytest.raises(LimitExceeded):
        parse_document(bomb)
    assert time.monotonic() - started < FAST


def test_docx_with_too_many_entries_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "many.docx"
    with zipfile.ZipFile(target, "w") as package:
        for n in range(10_001):
            package.writestr(f"word/media/{n}.txt", b"")
    with pytest.raises(LimitExceeded):
        parse_document(target)


def test_docx_without_content_types_is_corrupt(tmp_path: Path) -> None:
    source = write_docx(tmp_path / "plain.docx")
    broken = rewrite_docx(source, tmp_path / "broken.docx", drop=("[Content_Types].xml",))
    with pytest.raises(CorruptFile, match="Content_Types"):
        parse_document(broken)


def test_docx_without_word_document_is_corrupt(tmp_path: Path) -> None:
    source = write_docx(tmp_path / "plain.docx")
    broken = rewrite_docx(source, tmp_path / "broken.docx", drop=("word/document.xml",))
    with pytest.raises(CorruptFile, match=r"word/document\.xml"):
        parse_document(broken)


def test_renamed_docm_is_refused(tmp_path: Path) -> None:
    source = write_docx(tmp_path / "plain.docx")
    with zipfile.ZipFile(source) as package:
        types = package.read("[Content_Types].xml")
    assert WORD_MAIN_TYPE.encode() in types
    renamed = rewrite_docx(
        source,
        tmp_path / "macros.docx",
        replace={
            "[Content_Types].xml": types.replace(WORD_MAIN_TYPE.encode(), MACRO_MAIN_TYPE.encode())
        },
        add={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0 macros"},
    )
    with pytest.raises(CorruptFile, match="macro"):
        parse_document(renamed)


def test_not_a_zip_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "fake.docx"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(CorruptFile):
        parse_document(path)


def test_zip_slip_member_name_is_refused(tmp_path: Path) -> None:
    source = write_docx(tmp_path / "plain.docx")
    hostile = rewrite_docx(source, tmp_path / "slip.docx", add={"../../evil.xml": b"<a/>"})
    with pytest.raises(FileRejected):
        parse_document(hostile)


def test_deeply_nested_tables_end_as_a_typed_failure_or_a_document(tmp_path: Path) -> None:
    nested = "<w:tbl><w:tr><w:tc>" * 10_000 + paragraph("deep") + "</w:tc></w:tr></w:tbl>" * 10_000
    source = write_docx(tmp_path / "plain.docx")
    hostile = rewrite_docx(
        source, tmp_path / "nested.docx", replace={"word/document.xml": document_xml(nested)}
    )
    started = time.monotonic()
    try:
        parsed = parse_document(hostile)
    except FileRejected:
        pass
    else:
        assert isinstance(parsed.text, str)
    assert time.monotonic() - started < FAST


def test_external_relationships_are_never_fetched(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.5)
        port = server.getsockname()[1]
        document = docx.Document()
        document.add_paragraph("Linked content")
        document.part.relate_to(f"http://127.0.0.1:{port}/image.png", RT.IMAGE, is_external=True)
        document.part.relate_to(f"http://127.0.0.1:{port}/page", RT.HYPERLINK, is_external=True)
        path = tmp_path / "linked.docx"
        document.save(str(path))
        assert parse_document(path).text == "Linked content"
        with pytest.raises(TimeoutError):
            server.accept()


# PDF


def test_real_pdf_text_title_and_author() -> None:
    parsed = parse_document(PDF_REAL / "150109DSP-Milw-505-90D.pdf")
    assert parsed.author == "JOHNSCA"
    assert parsed.title.startswith("Public Notification of a Child Death")
    assert "90-Day Summary Report" in parsed.text
    assert parsed.pages == 2
    assert parsed.created_at == datetime(2015, 7, 20, 21, 16, 48, tzinfo=UTC)
    assert "\n\n" in parsed.text  # pages are joined by blank lines


def test_real_pdf_author_from_word() -> None:
    parsed = parse_document(PDF_REAL / "word365_structure.pdf")
    assert parsed.author == "David Huggins-Daines"
    assert "Lorem ipsum" in parsed.text


def test_encrypted_pdf_is_an_encrypted_file() -> None:
    with pytest.raises(EncryptedFile):
        parse_document(PDF_REAL / "password-example.pdf")


def test_pdf_encrypted_with_an_empty_password_is_read() -> None:
    parsed = parse_document(PDF_REAL / "pr-138-example.pdf")
    assert parsed.title == "Home Loan Interest Rates"
    assert "Effective as at 9 April 2019" in parsed.text


@pytest.mark.parametrize("fixture", ["bad2.pdf", "bad7.pdf", "bad23.pdf", "broken-lzw.pdf"])
def test_malformed_pdf_is_corrupt(fixture: str) -> None:
    with pytest.raises(CorruptFile):
        parse_document(PDF_BAD / fixture)


@pytest.mark.parametrize(
    "path",
    [
        PDF_BAD / "bad25.pdf",
        PDF_BAD / "damaged-inline-image.pdf",
        PDF_REAL / "issue-203-decimalize.pdf",
    ],
    ids=lambda p: p.name,
)
def test_pdf_without_text_is_an_empty_document(path: Path) -> None:
    with pytest.raises(EmptyDocument):
        parse_document(path)


def test_zero_byte_pdf_is_a_failure() -> None:
    with pytest.raises(EmptyDocument):
        parse_document(PDF_REAL / "empty.pdf")


def test_repairable_pdf_is_read() -> None:
    assert parse_document(PDF_BAD / "bad10.pdf").text == "Potato"


def test_generated_pdf_text_and_info() -> None:
    pdf = pdf_with_content(
        b"BT /F1 12 Tf 72 720 Td (Hello from a PDF) Tj ET",
        info=b"<< /Author (Grace Hopper) /Title (Compilers)"
        b" /CreationDate (D:19520501120000+02'00') >>",
    )
    parsed = parse_pdf(pdf)
    assert parsed.text == "Hello from a PDF"
    assert (parsed.author, parsed.title) == ("Grace Hopper", "Compilers")
    assert parsed.created_at == datetime(1952, 5, 1, 10, 0, tzinfo=UTC)


def test_pdf_flate_bomb_is_a_typed_failure_fast() -> None:
    # 80 MB of zeros in 370 kB: over pypdf's 75 MB cap per stream.
    bomb = pdf_with_content(zlib.compress(b"0" * (80 << 20), 1), flate=True)
    started = time.monotonic()
    with pytest.raises(LimitExceeded):
        parse_pdf(bomb)
    assert time.monotonic() - started < FAST


def test_pdf_over_the_page_cap_is_refused() -> None:
    writer = PdfWriter()
    for _ in range(2_001):
        writer.add_blank_page(width=72, height=72)
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(LimitExceeded):
        parse_pdf(buffer.getvalue())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("D:20150720161648-05'00'", datetime(2015, 7, 20, 21, 16, 48, tzinfo=UTC)),
        ("D:20231207135731Z00'00'", datetime(2023, 12, 7, 13, 57, 31, tzinfo=UTC)),
        ("D:2021", datetime(2021, 1, 1, tzinfo=UTC)),
        ("D:20211399", None),
        ("D:20200101000000+99'00'", None),
        ("yesterday", None),
    ],
)
def test_parse_pdf_date(value: str, expected: datetime | None) -> None:
    assert parse_pdf_date(value) == expected


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes_as_pdf_raise_only_file_rejected(data: bytes) -> None:
    try:
        parsed = parse_pdf(b"%PDF-1.4\n" + data)
    except FileRejected:
        return
    assert parsed.text.strip()


# Markdown, text, HTML


def test_markdown_title_is_the_first_heading(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("Intro line\n\n# Deploying the app\n\nRun `make deploy`.\n", encoding="utf-8")
    parsed = parse_document(path)
    assert parsed.title == "Deploying the app"
    assert parsed.text.endswith("Run `make deploy`.")


def test_markdown_front_matter_title(tmp_path: Path) -> None:
    path = tmp_path / "post.md"
    path.write_text('---\ntitle: "On call"\nauthor: x\n---\n\nBody\n', encoding="utf-8")
    assert parse_document(path).title == "On call"


def test_text_title_is_the_first_line_and_latin1_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("\n  Café opening hours \nMonday to Friday\n".encode("latin-1"))
    parsed = parse_document(path)
    assert parsed.title == "Café opening hours"
    assert "Monday to Friday" in parsed.text


@pytest.mark.parametrize("content", [b"", b"  \n\t\n", b"\x00\x00"])
def test_blank_text_file_is_a_failure(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "blank.txt"
    path.write_bytes(content)
    with pytest.raises(EmptyDocument):
        parse_document(path)


def test_html_title_author_and_visible_text(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(
        b'<html><head><title>Runbook</title><meta name="author" content="ops@example.com">'
        b"<style>body{}</style><script>steal()</script>"
        b'<link rel="stylesheet" href="http://127.0.0.1:9/x.css"></head>'
        b"<body><h1>Restart</h1><p>Run <b>restart</b> twice.</p>"
        b"<table><tr><th>Step</th><th>Command</th></tr><tr><td>1</td><td>stop</td></tr></table>"
        b"<!-- a comment --></body></html>"
    )
    parsed = parse_document(path)
    assert parsed.title == "Runbook"
    assert parsed.author == "ops@example.com"
    assert parsed.text == "# Restart\n\nRun restart twice.\n\nStep | Command\n1 | stop"


def test_html_entities_are_never_expanded() -> None:
    markup = '<!DOCTYPE html [<!ENTITY a "AAAAAAAAAA">]><p>&a;&a;&a;</p>'
    assert "AAAAAAAAAA" not in html_to_text(markup)


def test_html_deep_nesting_is_fast() -> None:
    started = time.monotonic()
    text = html_to_text("<div>" * 100_000 + "deep" + "</div>" * 100_000)
    assert isinstance(text, str)
    assert time.monotonic() - started < FAST


def test_html_with_xml_declaration_parses() -> None:
    markup = '<?xml version="1.0" encoding="UTF-8"?><html><body>x</body></html>'
    assert parse_html(markup).text == "x"


def test_unknown_extension_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "data.xyz"
    path.write_text("hello")
    with pytest.raises(UnsupportedFile):
        parse_document(path)


@pytest.mark.parametrize("markup", ["<b>x</b>" * 400_000, "<br>x" * 150_000])
def test_html_with_too_many_elements_is_refused_fast(markup: str) -> None:
    started = time.monotonic()
    with pytest.raises(LimitExceeded):
        html_to_text(markup)
    assert time.monotonic() - started < 2 * FAST
