"""The hostile corpus: every kind of file docs/SECURITY.md rows 4-7 name, built at test time.

Nothing here is a committed binary. Each `Case` writes one file (or one export) and states
exactly how it must end, as the set of outcomes its file produces: INGESTED (a stored
document) and/or the names of typed errors (`LimitExceeded`, `CorruptFile`...). An empty set
means the file must be skipped without a trace (a FIFO, a symbolic link).

Files that need a server to prove nothing is fetched take `canary`, the URL of a loopback
server that records every connection (see `harness.Canary`).
"""

from __future__ import annotations

import functools
import io
import json
import os
import random
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import docx
from pypdf import PdfWriter

from connectors.limits import DEFAULT_SLACK_METADATA_MB
from tests.connectors.documents.builders import document_xml, minimal_pdf, paragraph
from tests.connectors.hostile import zips

INGESTED = "ingested"
MiB = 1 << 20

# What each case's file must never leak into a stored document.
PASSWD_MARKER = "root:x:0:0"


@dataclass(frozen=True)
class Case:
    name: str  # the file (or export) name, unique within its corpus
    write: Callable[[Path], object]  # writes the file at this path
    expected: frozenset[str]  # the outcomes its file must produce, exactly
    why: str
    # Ends only on a sandbox limit (wall time or memory): no parser check catches it.
    sandbox_limit: bool = False
    # Extra checks on the documents stored from this file.
    check: Callable[[list[object]], None] | None = field(default=None, compare=False)
    # The relative path it is stored under, when `write` puts it elsewhere than `name`.
    stored_as: str | None = None


def _outcomes(*names: str) -> frozenset[str]:
    return frozenset(names)


def _bytes(data: Callable[[], bytes]) -> Callable[[Path], object]:
    return lambda path: path.write_bytes(data())


# --- shared good files ------------------------------------------------------------------------

GOOD_TEXT = b"Good notes\n\nThe release checklist lives in the wiki.\n"
GOOD_MAIL = (
    b"From: Ada <ada@example.com>\r\nTo: Bob <bob@example.com>\r\nSubject: Good mail\r\n"
    b"Date: Mon, 4 Mar 2024 10:00:00 +0000\r\nMessage-ID: <good@example.com>\r\n\r\n"
    b"The release checklist lives in the wiki.\r\n"
)


# --- DOCX ------------------------------------------------------------------------------------


@functools.cache
def base_docx() -> bytes:
    """A small real .docx (python-docx's template) with one paragraph and an author."""
    document = docx.Document()
    document.core_properties.author = "Ada Lovelace"
    document.add_paragraph("Hostile corpus control text.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def docx_with(
    *,
    replace: dict[str, bytes] | None = None,
    add: Iterable[tuple[str | zipfile.ZipInfo, bytes]] = (),
    drop: tuple[str, ...] = (),
) -> bytes:
    """Return the base .docx with parts replaced, added (duplicates allowed) or dropped."""
    replace = replace or {}
    members: list[tuple[str | zipfile.ZipInfo, bytes]] = []
    with zipfile.ZipFile(io.BytesIO(base_docx())) as source:
        for info in source.infolist():
            if info.filename not in drop:
                members.append((info.filename, replace.get(info.filename, source.read(info))))
    members.extend(add)
    return zips.deflated_zip(members)


def _docx_members() -> list[tuple[bytes, bytes]]:
    with zipfile.ZipFile(io.BytesIO(base_docx())) as source:
        return [(info.filename.encode(), source.read(info)) for info in source.infolist()]


BILLION_LAUGHS_DTD = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'
        for n in range(1, 10)
    )
    + "]>"
)


def _xxe_document(system: str) -> bytes:
    return document_xml(
        paragraph("&xxe;"), prolog=f'<!DOCTYPE d [<!ENTITY xxe SYSTEM "{system}">]>'
    )


def _huge_paragraphs_xml(size: int) -> bytes:
    # Random hex per paragraph: it compresses about 2:1, so the ratio check lets it through
    # and only the memory limit stops python-docx from building its tree.
    rng = random.Random(7)
    body = "".join(paragraph(f"{rng.getrandbits(64):016x}") for _ in range(size // 48))
    return document_xml(body)


def _ole_file(*, encrypted: bool) -> bytes:
    # The OLE2 compound-file magic, then stream names as a directory would hold them.
    names = ["EncryptionInfo", "EncryptedPackage"] if encrypted else ["WordDocument", "1Table"]
    directory = b"".join(name.encode("utf-16-le").ljust(64, b"\x00") for name in names)
    return bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 504 + directory + b"\x00" * 1024


def _nested_zip(depth: int) -> bytes:
    data = zips.bomb_member("bomb.txt", 4 * MiB, fill=b"\x00")
    for level in range(depth):
        data = zips.deflated_zip([(f"level{level}.zip", data)] * 4)
    return data


def _nul_name_docx() -> bytes:
    members = _docx_members()
    members.append((b"word/media/aXXX../../../evil.png", b"\x89PNG"))
    archive = zips.raw_zip(members)
    return zips.rename_raw(archive, b"aXXX..", b"a\x00\x00\x00..")


def _zip_document() -> bytes:
    return zips.deflated_zip([("word/document.xml", document_xml(paragraph("inner")))])


def docx_cases(canary: str) -> list[Case]:
    main = "word/document.xml"
    return [
        Case(
            "docx-zip-bomb.docx",
            _bytes(lambda: docx_with(add=[("word/bomb.xml", b" " * (8 * MiB))])),
            _outcomes("LimitExceeded"),
            "a member that inflates 1000:1",
        ),
        Case(
            "docx-10k-entries.docx",
            _bytes(lambda: docx_with(add=[(f"word/e{n}.bin", b"") for n in range(10_001)])),
            _outcomes("LimitExceeded"),
            "more entries than a document has",
        ),
        Case(
            "docx-100k-entries.docx",
            _bytes(lambda: zips.many_entries_zip(100_000, _docx_members())),
            _outcomes("LimitExceeded"),
            "100k entries, refused before zipfile lists them",
        ),
        Case(
            "docx-nested-42.docx",
            _bytes(lambda: docx_with(add=[("word/media/42.zip", _nested_zip(3))])),
            _outcomes(INGESTED),
            "nested zips inside the package are never opened",
        ),
        Case(
            "docx-document-is-a-zip.docx",
            _bytes(lambda: docx_with(replace={main: _zip_document()})),
            _outcomes("CorruptFile"),
            "word/document.xml is itself a ZIP",
        ),
        *[
            Case(
                f"docx-slip-{label}.docx",
                _bytes(functools.partial(lambda n: docx_with(add=[(n, b"<a/>")]), name)),
                _outcomes("UnsafeArchive"),
                f"zip slip: {name!r}",
            )
            for label, name in [
                ("parent", "../../evil.xml"),
                ("absolute", "/tmp/evil.xml"),
                ("drive", "C:/evil.xml"),
                ("backslash", "..\\..\\evil.xml"),
            ]
        ],
        Case(
            "docx-nul-in-name.docx",
            _bytes(_nul_name_docx),
            _outcomes(INGESTED),
            "a NUL in an entry name (zipfile cuts the name there; never extracted)",
        ),
        Case(
            "docx-symlink-entry.docx",
            _bytes(lambda: docx_with(add=[(zips.symlink_info("word/media/link"), b"/etc/passwd")])),
            _outcomes("UnsafeArchive"),
            "a symbolic-link entry",
        ),
        Case(
            "docx-duplicate-names.docx",
            _bytes(lambda: docx_with(add=[(main, document_xml(paragraph("second")))])),
            _outcomes("UnsafeArchive"),
            "two entries named word/document.xml",
        ),
        Case(
            "docx-overlapping-entries.docx",
            _bytes(
                lambda: zips.raw_zip(
                    [(b"word/a.xml", b"<a/>" * 1000), *_docx_members()], shared_data=True
                )
            ),
            _outcomes("UnsafeArchive"),
            "entries sharing one data block (CVE-2024-0450)",
        ),
        Case(
            "docx-lying-size.docx",
            _bytes(
                lambda: zips.lie_about_size(
                    docx_with(replace={main: document_xml(paragraph("x" * 50_000))}),
                    main,
                    declared=100,
                )
            ),
            _outcomes("CorruptFile"),
            "the header says 100 bytes, the data holds 50 kB: reading stops at 100, the CRC fails",
        ),
        Case(
            "docx-xxe-file.docx",
            _bytes(lambda: docx_with(replace={main: _xxe_document("file:///etc/passwd")})),
            _outcomes("CorruptFile"),
            "XXE reading /etc/passwd (CVE-2016-5851)",
        ),
        Case(
            "docx-xxe-loopback.docx",
            _bytes(lambda: docx_with(replace={main: _xxe_document(f"{canary}/xxe")})),
            _outcomes("CorruptFile"),
            "XXE fetching a loopback URL",
        ),
        Case(
            "docx-billion-laughs.docx",
            _bytes(
                lambda: docx_with(
                    replace={main: document_xml(paragraph("&lol9;"), prolog=BILLION_LAUGHS_DTD)}
                )
            ),
            _outcomes("CorruptFile"),
            "billion laughs",
        ),
        Case(
            "docx-xxe-utf16.docx",
            _bytes(
                lambda: docx_with(
                    replace={
                        main: _xxe_document("file:///etc/passwd")
                        .decode()
                        .replace('encoding="UTF-8"', 'encoding="UTF-16"')
                        .encode("utf-16")
                    }
                )
            ),
            _outcomes("CorruptFile"),
            "a DTD hidden in UTF-16",
        ),
        Case(
            "docx-xxe-in-rels.docx",
            _bytes(
                lambda: docx_with(
                    replace={
                        "word/_rels/document.xml.rels": b'<?xml version="1.0"?>'
                        b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                        b'relationships">&x;</Relationships>'
                    }
                )
            ),
            _outcomes("CorruptFile"),
            "XXE in a relationships part",
        ),
        Case(
            "docx-xxe-in-core.docx",
            _bytes(
                lambda: docx_with(
                    replace={
                        "docProps/core.xml": b'<?xml version="1.0"?>'
                        + BILLION_LAUGHS_DTD.encode()
                        + b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/'
                        b'package/2006/metadata/core-properties">&lol9;</cp:coreProperties>'
                    }
                )
            ),
            _outcomes("CorruptFile"),
            "billion laughs in the core properties",
        ),
        Case(
            "docx-external-relationships.docx",
            functools.partial(_write_linked_docx, canary=canary),
            _outcomes(INGESTED),
            "linked image and hyperlink to a loopback URL, never fetched",
        ),
        Case(
            "docx-no-content-types.docx",
            _bytes(lambda: docx_with(drop=("[Content_Types].xml",))),
            _outcomes("CorruptFile"),
            "no [Content_Types].xml",
        ),
        Case(
            "docx-docm-renamed.docx",
            _bytes(
                lambda: docx_with(
                    add=[("word/vbaProject.bin", b"\x00macro" * 100)],
                )
            ),
            _outcomes("CorruptFile"),
            "a macro-enabled document renamed",
        ),
        Case(
            "docx-truncated.docx",
            _bytes(lambda: base_docx()[: len(base_docx()) // 2]),
            _outcomes("CorruptFile"),
            "cut in half",
        ),
        Case(
            "docx-10k-nested-tables.docx",
            _bytes(
                lambda: docx_with(
                    replace={
                        main: document_xml(
                            "<w:tbl><w:tr><w:tc>" * 10_000
                            + paragraph("deep")
                            + "</w:tc></w:tr></w:tbl>" * 10_000
                        )
                    }
                )
            ),
            _outcomes("CorruptFile"),
            "10,000 nested tables (libxml2 stops at depth 256)",
        ),
        Case(
            "docx-huge-xml.docx",
            _bytes(lambda: docx_with(replace={main: _huge_paragraphs_xml(24 * MiB)})),
            _outcomes("LimitExceeded"),
            "24 MB of incompressible paragraphs: python-docx's tree outgrows the memory limit",
            sandbox_limit=True,
        ),
        Case(
            "docx-is-a-pdf.docx",
            _bytes(lambda: good_pdf()),
            _outcomes("CorruptFile"),
            "a PDF named .docx",
        ),
        Case(
            "docx-encrypted.docx",
            _bytes(lambda: _ole_file(encrypted=True)),
            _outcomes("EncryptedFile"),
            "a password-protected package (an OLE file)",
        ),
        Case(
            "docx-legacy-doc.docx",
            _bytes(lambda: _ole_file(encrypted=False)),
            _outcomes("CorruptFile"),
            "a Word 97 .doc renamed",
        ),
        Case(
            "docx-invalid-utf8.docx",
            _bytes(
                lambda: docx_with(
                    replace={main: document_xml(paragraph("ok")).replace(b"ok", b"\xff\xfe\x00")}
                )
            ),
            _outcomes("CorruptFile"),
            "invalid UTF-8 and a NUL in the XML",
        ),
    ]


def _write_linked_docx(path: Path, *, canary: str) -> None:
    from docx.opc.constants import RELATIONSHIP_TYPE as RT

    document = docx.Document()
    document.add_paragraph("Linked content")
    document.part.relate_to(f"{canary}/image.png", RT.IMAGE, is_external=True)
    document.part.relate_to(f"{canary}/page", RT.HYPERLINK, is_external=True)
    document.save(str(path))


# --- PDF -------------------------------------------------------------------------------------

_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
_TEXT = b"BT /F1 12 Tf 72 700 Td (Hostile corpus control text) Tj ET"


def _page_objects(
    contents: bytes, *, extra_page: bytes = b"", extra: Iterable[bytes] = ()
) -> list[bytes]:
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> " + extra_page + b">>",
        contents,
        _FONT,
        *extra,
    ]


def _stream(data: bytes, *, filters: bytes = b"", length: bytes | None = None) -> bytes:
    declared = length if length is not None else b"%d" % len(data)
    return b"<< /Length " + declared + filters + b" >>\nstream\n" + data + b"\nendstream"


@functools.cache
def good_pdf() -> bytes:
    return minimal_pdf(_page_objects(_stream(_TEXT)))


@functools.cache
def _flate(size: int, fill: bytes = b"0") -> bytes:
    compressor = zlib.compressobj(1)
    block = fill * MiB
    out = [compressor.compress(block) for _ in range(size // MiB)]
    out.append(compressor.flush())
    return b"".join(out)


def _nested_flate() -> bytes:
    # The outer stage inflates to 1 MB; the inner to 80 MB.
    inner = _flate(80 * MiB)
    return zlib.compress(inner, 9)


def _runlength_bomb() -> bytes:
    # Each pair (129, byte) repeats the byte 128 times: 1.3 MB becomes 80 MB.
    return bytes([129, 0x20]) * (80 * MiB // 128) + b"\x80"


def _lzw_bomb() -> bytes:
    # What an LZW encoder writes for a long run of one byte: each new code stands for a run
    # one byte longer, until the 4,096-entry table is full and cleared. 60 kB become 81 MB.
    from pypdf._codecs._codecs import LzwCodec

    clear, end, first, last = 256, 257, 258, 4095
    codes = [clear]
    for _ in range(11):
        codes += [ord("0"), *range(first, last + 1), clear]
    codes[-1] = end
    return LzwCodec()._pack_codes_into_bytes(codes)


def _many_pages(count: int, *, declared: int | None = None) -> bytes:
    kids = b" ".join(b"%d 0 R" % (n + 4) for n in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % (declared or count),
        _stream(_TEXT),
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R /Contents 3 0 R >>"] * count
    return minimal_pdf(objects)


def _slow_content() -> bytes:
    # 4 M trivial operators in 60 MB, under pypdf's 75 MB cap: text extraction takes minutes.
    operators = b"1 0 0 1 0 0 cm\n" * (60 * MiB // 15)
    return _stream(zlib.compress(_TEXT + b"\n" + operators, 1), filters=b" /Filter /FlateDecode")


def _many_big_streams() -> bytes:
    # 40 pages, each with its own 60 MB content stream of spaces: 2.4 GB once decoded.
    pages = 40
    compressed = _flate(60 * MiB, b" ")
    kids = b" ".join(b"%d 0 R" % (4 + 2 * n) for n in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        _FONT,
    ]
    for n in range(pages):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /Contents %d 0 R"
            b" /Resources << /Font << /F1 3 0 R >> >> >>" % (5 + 2 * n)
        )
        objects.append(_stream(compressed, filters=b" /Filter /FlateDecode"))
    return minimal_pdf(objects)


def _encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=72, height=72)
    writer.encrypt(user_password="secret", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _xref_at(pdf: bytes) -> int:
    return pdf.rindex(b"\nxref\n") + 1


def _xref_loop() -> bytes:
    # The trailer's /Prev points back at the same cross-reference table.
    pdf = good_pdf()
    xref = _xref_at(pdf)
    return pdf.replace(b"/Root 1 0 R ", b"/Root 1 0 R /Prev %d " % xref)


def _wrong_offsets() -> bytes:
    # Every entry of the cross-reference table points 7 bytes past its object.
    pdf = good_pdf()
    start = _xref_at(pdf)
    end = pdf.index(b"trailer", start)
    table = re.sub(
        rb"(\d{10}) 00000 n", lambda m: b"%010d 00000 n" % (int(m[1]) + 7), pdf[start:end]
    )
    return pdf[:start] + table + pdf[end:]


def _missing_xref() -> bytes:
    pdf = good_pdf()
    return pdf[: _xref_at(pdf)] + b"%%EOF\n"


def _deep_nesting(opener: bytes, closer: bytes) -> bytes:
    return minimal_pdf(
        _page_objects(
            _stream(_TEXT), extra_page=b"/Deep " + opener * 100_000 + closer * 100_000 + b" "
        )
    )


def _xmp_bomb() -> bytes:
    xmp = (
        '<?xml version="1.0"?>' + BILLION_LAUGHS_DTD + "<x:xmpmeta xmlns:x='adobe:ns:meta/'>&lol9;"
        '<!DOCTYPE y [<!ENTITY e SYSTEM "file:///etc/passwd">]>&e;</x:xmpmeta>'
    ).encode()
    objects = _page_objects(
        _stream(_TEXT), extra=[_stream(xmp, filters=b" /Type /Metadata /Subtype /XML")]
    )
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R /Metadata 6 0 R >>"
    return minimal_pdf(objects)


def _xfa(canary: str) -> bytes:
    xfa = f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "{canary}/xfa">]><xdp>&e;</xdp>'
    objects = _page_objects(_stream(_TEXT), extra=[_stream(xfa.encode())])
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [] /XFA 6 0 R >> >>"
    return minimal_pdf(objects)


def _outline_loop() -> bytes:
    objects = _page_objects(
        _stream(_TEXT),
        extra=[
            b"<< /Type /Outlines /First 7 0 R /Last 7 0 R /Count 1 >>",
            b"<< /Title (loop) /Parent 6 0 R /Next 7 0 R /Prev 7 0 R /First 7 0 R >>",
        ],
    )
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R /Outlines 6 0 R >>"
    return minimal_pdf(objects)


def pdf_cases(canary: str) -> list[Case]:
    flate = b" /Filter /FlateDecode"
    return [
        Case(
            "pdf-flate-bomb.pdf",
            _bytes(lambda: minimal_pdf(_page_objects(_stream(_flate(80 * MiB), filters=flate)))),
            _outcomes("LimitExceeded"),
            "80 MB of zeros in one FlateDecode stream",
        ),
        Case(
            "pdf-nested-flate.pdf",
            _bytes(
                lambda: minimal_pdf(
                    _page_objects(
                        _stream(_nested_flate(), filters=b" /Filter [/FlateDecode /FlateDecode]")
                    )
                )
            ),
            _outcomes("LimitExceeded"),
            "a bomb inside a bomb",
        ),
        Case(
            "pdf-lzw-bomb.pdf",
            _bytes(
                lambda: minimal_pdf(
                    _page_objects(_stream(_lzw_bomb(), filters=b" /Filter /LZWDecode"))
                )
            ),
            _outcomes("LimitExceeded"),
            "an LZW bomb",
        ),
        Case(
            "pdf-runlength-bomb.pdf",
            _bytes(
                lambda: minimal_pdf(
                    _page_objects(_stream(_runlength_bomb(), filters=b" /Filter /RunLengthDecode"))
                )
            ),
            _outcomes("LimitExceeded"),
            "a RunLength bomb",
        ),
        Case(
            "pdf-huge-length.pdf",
            _bytes(lambda: minimal_pdf(_page_objects(_stream(_TEXT, length=b"2147483647")))),
            _outcomes("LimitExceeded"),
            "/Length 2147483647",
        ),
        Case(
            "pdf-many-big-streams.pdf",
            _bytes(_many_big_streams),
            _outcomes("LimitExceeded"),
            "40 streams of 60 MB each: under pypdf's cap one by one, 2.4 GB together",
            sandbox_limit=True,
        ),
        Case(
            "pdf-slow-content.pdf",
            _bytes(lambda: minimal_pdf(_page_objects(_slow_content()))),
            _outcomes("LimitExceeded"),
            "4 M operators on one page: minutes of text extraction",
            sandbox_limit=True,
        ),
        Case(
            "pdf-kids-loop.pdf",
            _bytes(
                lambda: minimal_pdf(
                    [
                        b"<< /Type /Catalog /Pages 2 0 R >>",
                        b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
                        b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R"
                        b" /Resources << /Font << /F1 5 0 R >> >> >>",
                        _stream(_TEXT),
                        _FONT,
                    ]
                )
            ),
            _outcomes("CorruptFile"),
            "a page tree that contains itself",
        ),
        Case(
            "pdf-object-loop.pdf",
            _bytes(
                lambda: minimal_pdf(
                    _page_objects(_stream(_TEXT), extra_page=b"/Loop 6 0 R ", extra=[b"6 0 R"])
                )
            ),
            _outcomes(INGESTED),
            "an object that is a reference to itself",
        ),
        Case(
            "pdf-xref-prev-loop.pdf",
            _bytes(_xref_loop),
            _outcomes(INGESTED),
            "a cross-reference /Prev chain that loops",
        ),
        Case(
            "pdf-outline-loop.pdf",
            _bytes(_outline_loop),
            _outcomes(INGESTED),
            "cyclic outlines (never read)",
        ),
        Case(
            "pdf-missing-xref.pdf",
            _bytes(_missing_xref),
            _outcomes("CorruptFile"),
            "no cross-reference table and no startxref",
        ),
        Case(
            "pdf-wrong-xref-offsets.pdf",
            _bytes(_wrong_offsets),
            _outcomes(INGESTED),
            "cross-reference offsets that all miss: pypdf finds the objects",
        ),
        Case(
            "pdf-comment-after-eof.pdf",
            _bytes(lambda: good_pdf() + b"%" + b"junk " * 100_000 + b"\n"),
            _outcomes(INGESTED),
            "a long comment after %%EOF",
        ),
        Case(
            "pdf-no-root-huge-size.pdf",
            _bytes(
                lambda: (
                    good_pdf()
                    .replace(b"/Root 1 0 R ", b"")
                    .replace(b"/Size 6", b"/Size 2147483647")
                    .replace(b"/Type /Catalog", b"/Type /NotACatalog")
                )
            ),
            _outcomes("LimitExceeded"),
            "no /Root, and /Size 2147483647: pypdf's recovery is bounded",
        ),
        Case(
            "pdf-50k-pages.pdf",
            _bytes(lambda: _many_pages(50_000)),
            _outcomes("LimitExceeded"),
            "50,000 pages",
        ),
        Case(
            "pdf-count-lie.pdf",
            _bytes(lambda: _many_pages(1, declared=10_000_000)),
            _outcomes("LimitExceeded"),
            "/Count 10,000,000 for one page",
        ),
        Case(
            "pdf-deep-arrays.pdf",
            _bytes(lambda: _deep_nesting(b"[", b"]")),
            _outcomes("CorruptFile"),
            "100,000 nested arrays",
        ),
        Case(
            "pdf-deep-dicts.pdf",
            _bytes(lambda: _deep_nesting(b"<< /A ", b" >>")),
            _outcomes(INGESTED),
            "100,000 nested dictionaries (read without recursion)",
        ),
        Case(
            "pdf-inline-image-without-ei.pdf",
            _bytes(
                lambda: minimal_pdf(
                    _page_objects(
                        _stream(
                            _TEXT
                            + b"\nBI /W 100 /H 100 /BPC 8 /CS /G ID "
                            + random.Random(3).randbytes(2 * MiB)
                        )
                    )
                )
            ),
            _outcomes("CorruptFile"),
            "an inline image with no EI",
        ),
        Case(
            "pdf-encrypted.pdf",
            _bytes(_encrypted_pdf),
            _outcomes("EncryptedFile"),
            "encrypted with a user password",
        ),
        Case(
            "pdf-text-without-resources.pdf",
            _bytes(
                lambda: minimal_pdf(
                    [
                        b"<< /Type /Catalog /Pages 2 0 R >>",
                        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
                        _stream(_TEXT),
                    ]
                )
            ),
            _outcomes("EmptyDocument"),
            "text drawn without /Resources: pypdf returns '' (flagged, not success)",
        ),
        Case(
            "pdf-truncated.pdf",
            _bytes(lambda: good_pdf()[: len(good_pdf()) // 3]),
            _outcomes("CorruptFile"),
            "cut before its page",
        ),
        Case(
            "pdf-xmp-billion-laughs.pdf",
            _bytes(_xmp_bomb),
            _outcomes(INGESTED),
            "XMP metadata with entities (never read)",
        ),
        Case(
            "pdf-xfa-xxe.pdf",
            _bytes(functools.partial(_xfa, canary)),
            _outcomes(INGESTED),
            "an XFA form with an external entity (never read)",
        ),
        Case(
            "pdf-is-a-zip.pdf",
            _bytes(lambda: base_docx()),
            _outcomes("CorruptFile"),
            "a ZIP named .pdf",
        ),
        Case(
            "pdf-invisible-text.pdf",
            _bytes(
                lambda: minimal_pdf(
                    _page_objects(_stream(b"BT /F1 12 Tf 3 Tr 72 700 Td (Invisible words) Tj ET"))
                )
            ),
            _outcomes(INGESTED),
            "text rendering mode 3 (invisible): read, as a reader's tools would",
        ),
    ]


# --- HTML, text, names -------------------------------------------------------------------------


def _no_passwd(documents: list[object]) -> None:
    for document in documents:
        assert PASSWD_MARKER not in document.body  # type: ignore[attr-defined]


def _short_bodies(documents: list[object]) -> None:
    for document in documents:
        assert len(document.body) < 10_000  # type: ignore[attr-defined]


def html_cases(canary: str) -> list[Case]:
    return [
        Case(
            "html-xxe.html",
            _bytes(
                lambda: (
                    b'<!DOCTYPE html [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                    b"<html><body><p>before &x; after</p></body></html>"
                )
            ),
            _outcomes(INGESTED),
            "an external entity in HTML: never resolved",
            check=_no_passwd,
        ),
        Case(
            "html-billion-laughs.html",
            _bytes(
                lambda: (
                    BILLION_LAUGHS_DTD + "<html><body><p>&lol9;</p>laughs</body></html>"
                ).encode()
            ),
            _outcomes(INGESTED),
            "billion laughs in HTML: never expanded",
            check=_short_bodies,
        ),
        Case(
            "html-deep-nesting.html",
            _bytes(lambda: b"<div>" * 200_000 + b"deep" + b"</div>" * 200_000),
            _outcomes("LimitExceeded"),
            "200,000 nested elements",
        ),
        Case(
            "html-too-many-elements.html",
            _bytes(lambda: b"<p>" + b"<b>x</b>" * 300_000),
            _outcomes("LimitExceeded"),
            "300,000 elements",
        ),
        Case(
            "html-external-resources.html",
            _bytes(
                lambda: (
                    f'<html><head><link rel="stylesheet" href="{canary}/css">'
                    f'<script src="{canary}/js"></script></head><body>'
                    f'<img src="{canary}/img"><iframe src="{canary}/frame"></iframe>'
                    f'<object data="{canary}/object"></object><p>Visible words</p></body></html>'
                ).encode()
            ),
            _outcomes(INGESTED),
            "images, scripts, styles and frames on a loopback server: never fetched",
        ),
        Case(
            "html-xhtml-external-dtd.html",
            _bytes(
                lambda: (
                    '<?xml version="1.0" encoding="UTF-8"?>'
                    f'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "{canary}/dtd">'
                    '<html xmlns="http://www.w3.org/1999/xhtml">'
                    "<body><p>XHTML words</p></body></html>"
                ).encode()
            ),
            _outcomes(INGESTED),
            "an external DTD: never loaded",
        ),
        Case(
            "html-giant-line.html",
            _bytes(lambda: b"<p>" + b"word " * (600_000) + b"</p>"),
            _outcomes(INGESTED),
            "a 3 MB single line",
        ),
        Case(
            "html-nul-invalid-utf8.html",
            _bytes(lambda: b"<p>caf\xe9 \x00 \xff\xfe na\xefve</p>"),
            _outcomes(INGESTED),
            "NUL and invalid UTF-8 in the content",
        ),
        Case(
            "html-bogus-charset.html",
            _bytes(lambda: b'<meta charset="zlib_codec"><p>caf\xe9</p>'),
            _outcomes(INGESTED),
            "a charset that is not a text encoding",
        ),
    ]


def _write_fifo(path: Path) -> None:
    os.mkfifo(path)


def _write_link(path: Path) -> None:
    path.symlink_to("/etc/passwd")


def _write_sparse(size: int) -> Callable[[Path], object]:
    def write(path: Path) -> None:
        with path.open("wb") as handle:
            handle.truncate(size)

    return write


def _write_bytes_name(path: Path) -> None:
    # A name that is not UTF-8: \xff\xfe, plus a newline and a tab.
    folder = os.fsencode(path.parent)
    with open(os.path.join(folder, b"bad-\xff\xfe\n\tname.txt"), "wb") as handle:
        handle.write(GOOD_TEXT)


def text_cases() -> list[Case]:
    return [
        Case(
            "txt-long-line.txt",
            _bytes(lambda: b"word " * (800_000)),
            _outcomes(INGESTED),
            "a 4 MB single line",
        ),
        Case(
            "txt-over-text-cap.txt",
            _bytes(lambda: b"x" * (17 * MiB)),
            _outcomes("LimitExceeded"),
            "17 M characters on one line: over the text cap",
        ),
        Case(
            "txt-over-size-cap.txt",
            _write_sparse(101 * MiB),
            _outcomes("LimitExceeded"),
            "101 MB (sparse): refused before reading",
        ),
        Case(
            "txt-nul-invalid-utf8.txt",
            _bytes(lambda: b"Notes \x00 caf\xe9\n\xff\xfe\xfd binary \x00\x01\x02 end\n"),
            _outcomes(INGESTED),
            "NUL bytes and invalid UTF-8",
        ),
        Case(
            "txt-only-nuls.txt",
            _bytes(lambda: b"\x00" * 10_000),
            _outcomes("EmptyDocument"),
            "a non-empty file with no text",
        ),
        Case("txt-empty.txt", _bytes(lambda: b""), _outcomes("EmptyDocument"), "0 bytes"),
        Case(
            "md-surrogates.md",
            _bytes(
                lambda: (
                    b"# Title\n\n" + b"\xed\xa0\x80 lone surrogate, \xf4\x90\x80\x80 out of range\n"
                )
            ),
            _outcomes(INGESTED),
            "encoded surrogates and code points past U+10FFFF",
        ),
        Case(
            "name-not-utf8.txt",
            _write_bytes_name,
            _outcomes(INGESTED),
            "a file name that is not UTF-8 and holds a newline (written next to this one)",
            stored_as="bad-\\xff\\xfe\n\tname.txt",
        ),
        Case(
            "fifo.txt",
            _write_fifo,
            _outcomes("UnsupportedFile"),
            "a FIFO named like a document: quarantined, never opened to block",
        ),
        Case("link-to-passwd.txt", _write_link, _outcomes(), "a symbolic link: never followed"),
    ]


def document_cases(canary: str) -> list[Case]:
    return [*docx_cases(canary), *pdf_cases(canary), *html_cases(canary), *text_cases()]


# --- email ------------------------------------------------------------------------------------

_HEAD = (
    b"From: Mallory <mallory@example.com>\r\nTo: Ada <ada@example.com>\r\n"
    b"Date: Tue, 5 Mar 2024 10:00:00 +0000\r\n"
)


def _mail(headers: bytes, body: bytes = b"Body text.\r\n", *, message_id: bytes = b"") -> bytes:
    ident = b"Message-ID: <" + (message_id or b"%d@hostile" % zlib.crc32(headers + body)) + b">\r\n"
    return _HEAD + ident + headers + b"\r\n" + body


def _deep_multipart(levels: int) -> bytes:
    opening = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (n, n + 1)
        for n in range(levels)
    )
    return _mail(
        b"Subject: deep\r\nContent-Type: multipart/mixed; boundary=b0\r\n", opening + b"bottom\r\n"
    )


def _deep_rfc822(levels: int) -> bytes:
    inner = (
        b"Content-Type: message/rfc822\r\n\r\n" * (levels - 1)
        + b"Subject: bottom\r\n\r\nbottom\r\n"
    )
    return _mail(b"Subject: nested\r\nContent-Type: message/rfc822\r\n", inner)


def _many_parts(count: int) -> bytes:
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(count))
    return _mail(
        b"Subject: parts\r\nContent-Type: multipart/mixed; boundary=b\r\n", parts + b"--b--\r\n"
    )


def _quadratic_params(repeats: int) -> bytes:
    part = (
        b'--b\r\nContent-Type: text/plain; name="' + b';"' * repeats + b'"\r\n'
        b'Content-Disposition: attachment; filename="' + b'";' * repeats + b'"\r\n\r\nx\r\n'
    )
    return _mail(
        b"Subject: params\r\nContent-Type: multipart/mixed; boundary=b\r\n",
        part + b"--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n--b--\r\n",
    )


def _no_newlines(documents: list[object]) -> None:
    # A bare CR ends a line for Python's parser, not for the raw header lines: it is a space
    # in the Subject, and the Bcc after it never joins the audience.
    (document,) = documents
    assert document.title == "hello Bcc: evil@example.net"  # type: ignore[attr-defined]
    audience = {ref.value for ref in document.audience.people}  # type: ignore[attr-defined]
    assert audience == {"mallory@example.com", "ada@example.com"}


def _no_injected_recipient(documents: list[object]) -> None:
    # CR/LF decoded from an encoded word is text, never a new header field.
    (document,) = documents
    assert "\r" not in document.title  # type: ignore[attr-defined]
    assert "\n" not in document.title  # type: ignore[attr-defined]
    assert document.title.startswith("hi")  # type: ignore[attr-defined]
    audience = {ref.value for ref in document.audience.people}  # type: ignore[attr-defined]
    assert "evil@example.net" not in audience
    assert "ok@example.com" in audience


def _bare_attachment_names(documents: list[object]) -> None:
    (document,) = documents
    assert document.metadata["attachments"] == ["passwd", "evil.sh"]  # type: ignore[attr-defined]


def _author_is_the_angle_address(documents: list[object]) -> None:
    (document,) = documents
    assert document.author.value == "mallory@evil.example"  # type: ignore[attr-defined]


def _mbox(*messages: bytes) -> bytes:
    return b"".join(
        b"From sender@example.com Tue Mar  5 10:00:00 2024\n" + m.replace(b"\r\n", b"\n") + b"\n"
        for m in messages
    )


def email_cases() -> list[Case]:
    def good_second(case: bytes) -> bytes:
        return _mail(b"Subject: after the bad one\r\n", message_id=b"after-%s@hostile" % case)

    return [
        Case(
            "deep-multipart.eml",
            _bytes(lambda: _deep_multipart(5_000)),
            _outcomes("LimitExceeded"),
            "5,000 nested multiparts (RecursionError in Python's parser)",
        ),
        Case(
            "deep-rfc822.eml",
            _bytes(lambda: _deep_rfc822(5_000)),
            _outcomes("LimitExceeded"),
            "5,000 nested message/rfc822",
        ),
        Case(
            "giant-header.eml",
            _bytes(lambda: _mail(b"Subject: big\r\nX-Big: " + b"a" * (10 * MiB) + b"\r\n")),
            _outcomes("LimitExceeded"),
            "a 10 MB header",
        ),
        Case(
            "header-injection-raw.eml",
            _bytes(lambda: _mail(b"Subject: hello\rBcc: evil@example.net\r\n")),
            _outcomes(INGESTED),
            "a bare CR in Subject",
            check=_no_newlines,
        ),
        Case(
            "header-injection-encoded.eml",
            _bytes(
                lambda: _mail(
                    b"Subject: =?utf-8?q?hi=0D=0ABcc=3A_evil@example.net?=\r\n"
                    b"Cc: =?utf-8?q?x=0D=0ABcc=3A?= <ok@example.com>\r\n"
                )
            ),
            _outcomes(INGESTED),
            "CR/LF in RFC 2047 encoded words (CVE-2024-6923)",
            check=_no_injected_recipient,
        ),
        Case(
            "many-parts.eml",
            _bytes(lambda: _many_parts(10_001)),
            _outcomes("LimitExceeded"),
            "10,001 MIME parts",
        ),
        Case(
            "bogus-charset.eml",
            _bytes(
                lambda: _mail(
                    b"Subject: =?x-bogus?q?caf=E9?=\r\n"
                    b"Content-Type: text/plain; charset=zlib_codec\r\n",
                    b"caf\xe9\r\n",
                )
            ),
            _outcomes(INGESTED),
            "charsets Python does not know or that are not text (LookupError)",
        ),
        Case(
            "no-closing-boundary.eml",
            _bytes(
                lambda: _mail(
                    b"Subject: open\r\nContent-Type: multipart/mixed; boundary=b\r\n",
                    b"--b\r\nContent-Type: text/plain\r\n\r\nnever closed\r\n",
                )
            ),
            _outcomes(INGESTED),
            "no closing boundary",
        ),
        Case(
            "attachment-traversal.eml",
            _bytes(
                lambda: _mail(
                    b"Subject: files\r\nContent-Type: multipart/mixed; boundary=b\r\n",
                    b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
                    b"--b\r\nContent-Disposition: attachment;"
                    b' filename="../../etc/passwd"\r\n\r\nx\r\n'
                    b"--b\r\nContent-Disposition: attachment;"
                    b' filename="=?utf-8?q?C=3A=5C=5CWindows=5C=5Cevil=2Esh?="'
                    b"\r\n\r\ny\r\n--b--\r\n",
                )
            ),
            _outcomes(INGESTED),
            "attachment names that are paths",
            check=_bare_attachment_names,
        ),
        Case(
            "address-confusion.eml",
            _bytes(
                lambda: (
                    b'From: "alice@good.example" <mallory@evil.example>\r\n'
                    b"To: ada@example.com\r\nSubject: confusion\r\n"
                    b"Message-ID: <confusion@hostile>\r\n\r\nbody\r\n"
                )
            ),
            _outcomes(INGESTED),
            "a display name that looks like an address (CVE-2023-27043)",
            check=_author_is_the_angle_address,
        ),
        Case(
            "deep-comments.eml",
            _bytes(lambda: _mail(b"Subject: comments\r\nCc: " + b"(" * 100_000 + b"\r\n")),
            _outcomes(INGESTED),
            "100,000 nested comments in an address header (RecursionError in getaddresses)",
        ),
        Case(
            "oversized.eml",
            _write_sparse(26 * MiB),
            _outcomes("LimitExceeded"),
            "26 MB: over the message cap, never read",
        ),
        Case(
            "random-binary.eml",
            _bytes(lambda: random.Random(5).randbytes(64 * 1024)),
            _outcomes("CorruptFile"),
            "random bytes",
        ),
        Case(
            "nul-invalid-utf8.eml",
            _bytes(
                lambda: _mail(b"Subject: caf\xe9 \x00 \xff\r\n", b"body \x00 \xff\xfe caf\xe9\r\n")
            ),
            _outcomes(INGESTED),
            "NUL bytes and invalid UTF-8 in headers and body",
        ),
        Case(
            "truncated-header.eml",
            _bytes(lambda: _HEAD + b"Subject: cut mid-hea"),
            _outcomes(INGESTED),
            "cut in the middle of a header",
        ),
        Case(
            "quadratic-params.eml",
            _bytes(lambda: _quadratic_params(2_000_000)),
            _outcomes("LimitExceeded"),
            "8 MB of MIME parameters: the email package's parameter parsing is quadratic",
            sandbox_limit=True,
        ),
        Case(
            "html-bomb.eml",
            _bytes(
                lambda: _mail(
                    b"Subject: html\r\nContent-Type: text/html\r\n", b"<b>x</b>" * 300_000
                )
            ),
            _outcomes("LimitExceeded"),
            "an HTML body of 300,000 elements",
        ),
        Case(
            "big-attachment.eml",
            _bytes(
                lambda: _mail(
                    b"Subject: big\r\nContent-Type: multipart/mixed; boundary=b\r\n",
                    b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
                    b"Content-Type: application/octet-stream\r\n"
                    b"Content-Transfer-Encoding: base64\r\n"
                    b'Content-Disposition: attachment; filename="big.bin"\r\n\r\n'
                    + b"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n"
                    * 80_000
                    + b"--b--\r\n",
                )
            ),
            _outcomes(INGESTED),
            "a 5 MB attachment: parsed in the sandbox, never decoded",
        ),
        Case(
            "unescaped-from.mbox",
            _bytes(
                lambda: _mbox(
                    _mail(b"Subject: from\r\n", b"Hello\r\n\r\nFrom here on, we ship.\r\n")
                )
            ),
            _outcomes(INGESTED),
            "an unescaped From line in a body",
        ),
        Case(
            "non-ascii-from-line.mbox",
            _bytes(
                lambda: (
                    b"From j\xf6rg@example.com Tue Mar  5 10:00:00 2024\n"
                    + _mail(b"Subject: envelope\r\n").replace(b"\r\n", b"\n")
                )
            ),
            _outcomes(INGESTED),
            "a non-ASCII envelope line (mailbox.mbox fails on it)",
        ),
        Case(
            "mixed.mbox",
            _bytes(
                lambda: _mbox(
                    _mail(b"Subject: first\r\n"), _deep_multipart(5_000), good_second(b"mixed")
                )
            ),
            _outcomes(INGESTED, "LimitExceeded"),
            "a hostile message between two good ones",
        ),
        Case(
            "oversized-message.mbox",
            _bytes(
                lambda: _mbox(
                    _mail(b"Subject: huge\r\n", (b"x" * 1022 + b"\r\n") * (26 * 1024)),
                    good_second(b"big"),
                )
            ),
            _outcomes(INGESTED, "LimitExceeded"),
            "a 26 MB message, then a good one",
        ),
        Case(
            "no-newlines.mbox",
            _bytes(lambda: b"From x@example.com Tue Mar  5 10:00:00 2024 " + b"x" * (5 * MiB)),
            _outcomes("CorruptFile"),
            "5 MB without a newline",
        ),
        Case(
            "garbage.mbox",
            _bytes(lambda: b"From " + random.Random(9).randbytes(256 * 1024)),
            _outcomes("CorruptFile"),
            "random bytes after From",
        ),
    ]


# --- Slack exports ---------------------------------------------------------------------------

USERS = [{"id": "U1", "team_id": "T1", "name": "ada", "profile": {"real_name": "Ada"}}]
CHANNELS = [{"id": "C1", "name": "general", "members": ["U1"]}]
GOOD_DAY = [
    {"user": "U1", "text": "The release checklist lives in the wiki.", "ts": "1452837352.000006"}
]
GOOD_MEMBERS: list[tuple[str | zipfile.ZipInfo, bytes]] = [
    ("users.json", json.dumps(USERS).encode()),
    ("channels.json", json.dumps(CHANNELS).encode()),
    ("general/2016-01-15.json", json.dumps(GOOD_DAY).encode()),
]
BAD_DAY = "general/2016-01-16.json"


def _export(*extra: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    return zips.deflated_zip([*GOOD_MEMBERS, *extra])


def _raw_good_members() -> list[tuple[bytes, bytes]]:
    return [(str(name).encode(), data) for name, data in GOOD_MEMBERS]


def _slack_nul_name() -> bytes:
    archive = zips.raw_zip([*_raw_good_members(), (b"general/2016-01-16.jsonXX../evil", b"[]")])
    return zips.rename_raw(archive, b".jsonXX..", b".json\x00\x00..")


def _write_folder_export(*, channels_size: int) -> Callable[[Path], object]:
    def write(path: Path) -> None:
        path.mkdir()
        (path / "users.json").write_text(json.dumps(USERS))
        (path / "general").mkdir()
        (path / "general" / "2016-01-15.json").write_text(json.dumps(GOOD_DAY))
        with (path / "channels.json").open("wb") as handle:
            handle.write(json.dumps(CHANNELS).encode())
            handle.truncate(channels_size)

    return write


def _words(count: int) -> str:
    rng = random.Random(11)
    vocabulary = [f"w{rng.getrandbits(24):x}" for _ in range(5_000)]
    return " ".join(rng.choices(vocabulary, k=count))


def slack_cases() -> list[Case]:
    day = BAD_DAY
    return [
        Case(
            "bomb.zip",
            _bytes(lambda: zips.add_members(zips.bomb_member(day, 64 * MiB), GOOD_MEMBERS)),
            _outcomes("LimitExceeded"),
            "a day file that inflates 1000:1",
        ),
        Case(
            "200k-entries.zip",
            _bytes(lambda: zips.many_entries_zip(200_001, _raw_good_members())),
            _outcomes("LimitExceeded"),
            "200,001 entries, refused before zipfile lists them",
        ),
        *[
            Case(
                f"slip-{label}.zip",
                _bytes(functools.partial(lambda n: _export((n, b"[]")), name)),
                _outcomes("UnsafeArchive"),
                f"zip slip: {name!r}",
            )
            for label, name in [
                ("parent", "../../evil.json"),
                ("absolute", "/tmp/evil.json"),
                ("drive", "C:/evil.json"),
                ("backslash", "general\\..\\..\\evil.json"),
                ("inner-parent", "general/../../evil.json"),
            ]
        ],
        Case(
            "nul-in-name.zip",
            _bytes(_slack_nul_name),
            _outcomes(INGESTED),
            "a NUL in a day file's name: zipfile cuts the name there; nothing is extracted",
        ),
        Case(
            "symlink.zip",
            _bytes(lambda: _export((zips.symlink_info(day), b"/etc/passwd"))),
            _outcomes("UnsafeArchive"),
            "a symbolic-link entry",
        ),
        Case(
            "duplicate-names.zip",
            _bytes(lambda: _export(("channels.json", b"[]"))),
            _outcomes("UnsafeArchive"),
            "two channels.json",
        ),
        Case(
            "overlapping.zip",
            _bytes(
                lambda: zips.raw_zip(
                    [*_raw_good_members(), (day.encode(), b"[]")], shared_data=True
                )
            ),
            _outcomes("UnsafeArchive"),
            "entries sharing one data block (CVE-2024-0450)",
        ),
        Case(
            "nested-42.zip",
            _bytes(lambda: _export((day, _nested_zip(2)), ("42.zip", _nested_zip(2)))),
            _outcomes(INGESTED, "CorruptFile"),
            "a nested zip as a day file: never opened, that day fails",
        ),
        Case(
            "lying-size.zip",
            _bytes(
                lambda: zips.lie_about_size(
                    _export(
                        (
                            day,
                            json.dumps(
                                [{"user": "U1", "text": "x" * 50_000, "ts": "1452900000.000001"}]
                            ).encode(),
                        )
                    ),
                    day,
                    declared=100,
                )
            ),
            _outcomes(INGESTED, "CorruptFile"),
            "a day file's header that lies about its size: reading stops there, the CRC fails",
        ),
        Case(
            "deep-json.zip",
            _bytes(lambda: _export((day, b"[" * 100_000 + b"]" * 100_000))),
            _outcomes(INGESTED, "CorruptFile"),
            "100,000 nested JSON arrays (RecursionError in json)",
        ),
        Case(
            "invalid-utf8-json.zip",
            _bytes(
                lambda: _export(
                    (day, b'[{"user": "U1", "text": "\xff\xfe", "ts": "1452900000.000001"}]')
                )
            ),
            _outcomes(INGESTED, "CorruptFile"),
            "a day file that is not UTF-8",
        ),
        Case(
            "gigantic-message.zip",
            _bytes(
                lambda: _export(
                    (
                        day,
                        json.dumps(
                            [{"user": "U1", "text": _words(400_000), "ts": "1452900000.000001"}]
                        ).encode(),
                    )
                )
            ),
            _outcomes(INGESTED),
            "one 3 MB message",
        ),
        Case(
            "truncated.zip",
            _bytes(lambda: _export()[: len(_export()) // 2]),
            _outcomes("CorruptFile"),
            "cut in half",
        ),
        Case(
            "pdf-named.zip",
            _bytes(lambda: good_pdf()),
            _outcomes("CorruptFile"),
            "a PDF named .zip",
        ),
        Case(
            "huge-channels-folder",
            # Just over CONNECTORS_SLACK_METADATA_MB's default.
            _write_folder_export(channels_size=(DEFAULT_SLACK_METADATA_MB + 1) * MiB),
            _outcomes("LimitExceeded", "CorruptFile"),
            "a 257 MB channels.json (sparse): refused, and its folders' messages are not misfiled",
        ),
    ]


SLACK_NUL_TEXT_DAY = [
    {"user": "U1", "text": "nul \u0000 here", "ts": "1452900000.000001"},
    {"user": "U1", "text": "lone \ud800 surrogate", "ts": "1452900000.000002"},
]
