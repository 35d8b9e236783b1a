"""Read the text and metadata of one document: .docx, .pdf, .md, .txt, .html.

Guarantees of every `parse_*` function: it returns a ParsedDocument with non-blank text of
at most MAX_TEXT_CHARS characters, or raises a FileRejected subclass; nothing else escapes. A
file that yields no text is an EmptyDocument, never a success (docs/SECURITY.md row 4).
Datetimes are aware UTC.

Limits (figures in `connectors.limits`): `parse_document` reads at most MAX_FILE_BYTES, from
a regular file only (a FIFO or device swapped in after the folder walk never blocks, a link
is refused unless followed on purpose), and reads it once, so what is checked is what is
parsed. PDF and DOCX, and any file of CONNECTORS_SANDBOX_MIN_BYTES or more, are parsed in a
child process bounded in wall time, CPU time and memory (`connectors.sandbox`): their parsers
are where a small file can cost minutes or gigabytes.

Hostile files, as docs/SECURITY.md lists them:
- DOCX is a ZIP: SafeZip checks entry count, sizes, compression ratio and names before
  anything is decompressed. Every XML part is then refused if it declares a DTD or entities
  (XXE, CVE-2016-5851; billion laughs), or an encoding other than UTF-8/UTF-16 that would hide
  such a declaration from the check. python-docx parses with `resolve_entities=False` as well.
  External relationships (linked images, a loopback URL) are never fetched: python-docx only
  records them. A macro-enabled package (.docm renamed) is refused; an encrypted package (an
  OLE compound file) is an EncryptedFile.
- PDF: pypdf with `strict=False`; every exception it raises becomes CorruptFile; encrypted
  files that do not open with an empty password are EncryptedFile; at most MAX_PDF_PAGES pages
  (the declared /Count is checked before the page tree is walked); pypdf bounds each stream's
  decompression (75 MB), the sandbox the rest. XMP metadata is never read.
- HTML is parsed by lxml with no network access (see `connectors.documents.html`).
"""

from __future__ import annotations

import codecs
import io
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import docx
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.table import Table
from docx.text.paragraph import Paragraph
from lxml import etree
from pypdf import PasswordType, PdfReader
from pypdf.errors import LimitReachedError
from pypdf.generic import IndirectObject

from connectors import limits
from connectors.archives import ArchiveLimits, SafeZip
from connectors.documents.files import read_regular_file
from connectors.documents.html import out_of_memory, parse_html
from connectors.errors import (
    CorruptFile,
    EmptyDocument,
    EncryptedFile,
    FileRejected,
    LimitExceeded,
    UnsupportedFile,
)
from connectors.sandbox import run_sandboxed

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = limits.MAX_DOCUMENT_BYTES
MAX_TEXT_CHARS = limits.MAX_TEXT_CHARS
MAX_PDF_PAGES = limits.MAX_PDF_PAGES
MAX_DOCX_XML_BYTES = limits.MAX_DOCX_XML_BYTES
DOCX_LIMITS = ArchiveLimits(
    max_entries=limits.MAX_DOCX_ENTRIES,
    max_total_bytes=limits.MAX_DOCX_TOTAL_BYTES,
    max_member_bytes=MAX_DOCX_XML_BYTES,
)
# Formats whose parsers are known to blow up in time or memory on small files.
SANDBOXED_FORMATS = frozenset({"docx", "pdf"})
MAX_TITLE_CHARS = 300

FORMATS: dict[str, str] = {
    ".docx": "docx",
    ".pdf": "pdf",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
}

_WORD_MAIN = "word/document.xml"
_CONTENT_TYPES = "[Content_Types].xml"
_MACRO_MARKERS = (b"macroEnabled", b"vbaProject")
# An OLE2 compound file: a legacy .doc, or an OOXML package encrypted with a password
# (MS-OFFCRYPTO), which keeps its key data in an "EncryptionInfo" stream.
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
_OLE_ENCRYPTION_STREAM = "EncryptionInfo".encode("utf-16-le")
_XML_DECLARED_ENCODING = re.compile(
    r"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']"""
)
_XML_ENCODINGS = frozenset({"utf-8", "utf8", "utf-16", "utf16", "utf-16le", "utf-16be"})
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_PDF_DATE = re.compile(
    r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*"
    r"(?:([Zz])|([+-])(\d{2})'?(\d{2})?'?)?"
)
_MARKDOWN_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$")
_FRONT_MATTER_TITLE = re.compile(r"^title\s*:\s*[\"']?(.+?)[\"']?\s*$", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9._-]{1,40})""", re.I)
_BLANK_RUNS = re.compile(r"\n{3,}")
_CONTROL = re.compile("[\x00\ud800-\udfff]")
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]+")


@dataclass(frozen=True)
class ParsedDocument:
    """What a document says about itself. Empty strings and None mean "not stated"."""

    format: str
    title: str
    text: str
    author: str = ""
    created_at: datetime | None = None
    modified_at: datetime | None = None
    pages: int | None = None


def format_of(path: Path) -> str | None:
    """Return the format name for `path`'s extension, or None if it is not one we read."""
    return FORMATS.get(path.suffix.lower())


def parse_document(path: Path, *, follow_symlinks: bool = True) -> ParsedDocument:
    """Read the document at `path` by its extension; raise a FileRejected subclass if not.

    OSError means the file could not be read now (it may be readable later). A symbolic link
    at `path` is refused (UnsafeArchive) unless `follow_symlinks`.
    """
    kind = format_of(path)
    if kind is None:
        raise UnsupportedFile(f"{path.suffix or 'files without an extension'} is not supported")
    data = read_regular_file(path, max_bytes=MAX_FILE_BYTES, follow_symlinks=follow_symlinks)
    if not data:
        raise EmptyDocument("the file is empty (0 bytes)")
    bounds = limits.parse_limits()
    if kind in SANDBOXED_FORMATS or len(data) >= bounds.sandbox_min_bytes:
        result: ParsedDocument = run_sandboxed(parse_bytes, kind, data, limits=bounds)
        return result
    return parse_bytes(kind, data)


def parse_bytes(kind: str, data: bytes) -> ParsedDocument:
    """Parse `data` as a document of format `kind` (a value of FORMATS), in this process."""
    if kind == "docx":
        return parse_docx(data)
    if kind == "pdf":
        return parse_pdf(data)
    if kind == "html":
        return parse_html_document(data)
    if kind in ("markdown", "text"):
        return parse_plain_text(data, markdown=kind == "markdown")
    raise UnsupportedFile(f"{kind} is not a format this connector reads")


# DOCX


def parse_docx(data: bytes) -> ParsedDocument:
    """Read a .docx: paragraphs, "# Heading" lines, " | "-joined table rows, comments."""
    _vet_docx(data)
    try:
        document = docx.Document(io.BytesIO(data))
        lines = _docx_lines(document)
        comments = _docx_comments(document)
        properties = _docx_properties(document)
    except FileRejected:
        raise
    except MemoryError:
        raise
    except etree.Error as exc:
        if out_of_memory(exc):
            raise MemoryError(str(exc)) from exc
        raise CorruptFile(f"the document cannot be read: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        # python-docx and lxml raise many types on damaged packages (KeyError for a missing
        # part, ValueError for a wrong content type, XMLSyntaxError...): all mean "corrupt".
        raise CorruptFile(f"the document cannot be read: {type(exc).__name__}: {exc}") from exc
    if comments:
        lines.extend(["", "Comments:", *comments])
    text = _final_text("\n".join(lines))
    if not text:
        raise EmptyDocument("the document has no text")
    return ParsedDocument(format="docx", text=text, **properties)


def _vet_docx(data: bytes) -> None:
    """Check the package before python-docx opens it."""
    if data.startswith(_OLE_MAGIC):
        if _OLE_ENCRYPTION_STREAM in data:
            raise EncryptedFile("the document is encrypted with a password")
        raise CorruptFile("an OLE compound file (a .doc renamed to .docx?), not a .docx")
    with SafeZip(io.BytesIO(data), limits=DOCX_LIMITS) as package:
        if _CONTENT_TYPES not in package:
            raise CorruptFile("no [Content_Types].xml: not an Office Open XML package")
        if _WORD_MAIN not in package:
            raise CorruptFile("no word/document.xml: not a Word document")
        total = 0
        for name in package.names():
            if name.lower().startswith("word/vbaproject"):
                raise CorruptFile("the package carries macros (a .docm renamed to .docx?)")
            if not name.lower().endswith((".xml", ".rels")):
                continue
            part = package.read(name, max_bytes=MAX_DOCX_XML_BYTES)
            total += len(part)
            if total > MAX_DOCX_XML_BYTES:
                raise LimitExceeded(f"the document's XML is over {MAX_DOCX_XML_BYTES} bytes")
            check_xml_part(part, name)
            if name == _CONTENT_TYPES and any(m in part for m in _MACRO_MARKERS):
                raise CorruptFile("a macro-enabled document (.docm) renamed to .docx")


def check_xml_part(data: bytes, name: str) -> None:
    """Refuse an XML part that declares a DTD or entities, or hides from this check.

    Office Open XML parts are UTF-8 or UTF-16 (ECMA-376 Part 2): any other encoding, declared
    or sniffed (EBCDIC, UTF-32, UTF-7), is refused, so the text searched here is the text the
    XML parser will read.
    """
    if data.startswith(codecs.BOM_UTF8):
        text = data[len(codecs.BOM_UTF8) :].decode("utf-8", "replace")
    elif data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise CorruptFile(f"{name} is UTF-32 encoded, which Office Open XML does not allow")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", "replace")
    elif data[:2] in (b"<\x00", b"\x00<"):
        text = data.decode("utf-16-le" if data[0] == 0x3C else "utf-16-be", "replace")
    else:
        text = data.decode("utf-8", "replace")
    stripped = text.lstrip()
    if stripped and not stripped.startswith("<"):
        raise CorruptFile(f"{name} is not XML in UTF-8 or UTF-16")
    declared = _XML_DECLARED_ENCODING.match(stripped[:500])
    if declared and declared.group(1).lower() not in _XML_ENCODINGS:
        raise CorruptFile(f"{name} declares encoding {declared.group(1)!r}")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise CorruptFile(f"{name} declares a DTD or entities (XXE or billion laughs)")


def _docx_lines(document: Any) -> list[str]:
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines.append("")
            lines.extend(_table_rows(block))
            lines.append("")
        elif isinstance(block, Paragraph):
            lines.append(_paragraph_line(block))
    return lines


def _paragraph_line(paragraph: Paragraph) -> str:
    text = paragraph.text
    try:
        style = paragraph.style.name if paragraph.style is not None else ""
    except (KeyError, AttributeError, ValueError):
        style = ""  # a style id the styles part does not define
    heading = _HEADING_STYLE.match(style or "")
    level = int(heading.group(1)) if heading else (1 if style == "Title" else 0)
    if level and text.strip():
        return f"{'#' * level} {text.strip()}"
    return text


def _table_rows(table: Table) -> list[str]:
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # A merged cell is returned once per grid column it spans: show it once.
            if previous is not None and cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def _docx_comments(document: Any) -> list[str]:
    out: list[str] = []
    for comment in document.comments:
        text = " ".join((comment.text or "").split())
        if not text:
            continue
        author = _single_line(comment.author or "")
        out.append(f"- {author}: {text}" if author else f"- {text}")
    return out


def _docx_properties(document: Any) -> dict[str, Any]:
    # python-docx invents core properties (author "python-docx", title "Word Document",
    # created now) when the package has none: only read them when they are really there.
    package = document.part.package
    if not any(rel.reltype == RELATIONSHIP_TYPE.CORE_PROPERTIES for rel in package.rels.values()):
        return {"title": "", "author": ""}
    core = document.core_properties
    return {
        "title": _single_line(core.title or "")[:MAX_TITLE_CHARS],
        "author": _single_line(core.author or ""),
        "created_at": _aware(core.created),
        "modified_at": _aware(core.modified),
    }


# PDF


def parse_pdf(data: bytes) -> ParsedDocument:
    """Read a PDF: the text of each page joined with blank lines, /Author, /Title, dates."""
    started = time.monotonic()
    seconds = limits.parse_limits().seconds
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            _decrypt(reader)
        declared = _declared_pages(reader)
        if declared is not None and declared > MAX_PDF_PAGES:
            raise LimitExceeded(f"the PDF declares {declared} pages, over {MAX_PDF_PAGES}")
        pages = len(reader.pages)
        if pages > MAX_PDF_PAGES:
            raise LimitExceeded(f"the PDF has {pages} pages, over {MAX_PDF_PAGES}")
        texts: list[str] = []
        length = 0
        for page in reader.pages:
            # The sandbox stops even a page that never ends; this bounds parse_pdf called
            # without it, between pages.
            if time.monotonic() - started > seconds:
                raise LimitExceeded(f"text extraction took over {seconds:g} s")
            texts.append(page.extract_text() or "")
            length += len(texts[-1])
            if length > MAX_TEXT_CHARS:
                raise LimitExceeded(f"the PDF holds more than {MAX_TEXT_CHARS} characters")
        info = _pdf_info(reader)
    except FileRejected:
        raise
    except LimitReachedError as exc:
        # pypdf's own decompression caps (75 MB per stream): a bomb, not damage.
        raise LimitExceeded(f"the PDF hit a decompression limit: {exc}") from exc
    except MemoryError:
        raise
    except Exception as exc:
        # pypdf's errors on damaged files range from PdfReadError to AttributeError and
        # TypeError (qpdf's bad*.pdf show each): all of them mean "corrupt".
        raise CorruptFile(f"the PDF cannot be read: {type(exc).__name__}: {exc}") from exc
    text = _final_text("\n\n".join(_CONTROL.sub("", t).strip() for t in texts))
    if not text:
        # Scanned pages, or content without /Resources: pypdf returns "" silently.
        raise EmptyDocument(f"no text in {pages} page(s) (scanned, or text without fonts?)")
    return ParsedDocument(
        format="pdf",
        title=_single_line(info.get("/Title", ""))[:MAX_TITLE_CHARS],
        text=text,
        author=_single_line(info.get("/Author", "")),
        created_at=parse_pdf_date(info.get("/CreationDate", "")),
        modified_at=parse_pdf_date(info.get("/ModDate", "")),
        pages=pages,
    )


def _declared_pages(reader: PdfReader) -> int | None:
    """The page count the page tree's root declares, read without walking the tree."""
    try:
        pages: Any = reader.root_object["/Pages"].get_object()
        count = pages.get("/Count")
        if isinstance(count, IndirectObject):
            count = count.get_object()
    except Exception:
        return None  # damaged: walking the tree will tell
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _decrypt(reader: PdfReader) -> None:
    # Many PDFs are encrypted only to set permissions, with an empty user password: every
    # viewer opens them without asking, so they are read. Anything else needs a key.
    try:
        result = reader.decrypt("")
    except Exception as exc:
        raise EncryptedFile(f"the PDF is encrypted and cannot be opened: {exc}") from exc
    if result == PasswordType.NOT_DECRYPTED:
        raise EncryptedFile("the PDF is encrypted and no password is configured")


def _pdf_info(reader: PdfReader) -> dict[str, str]:
    try:
        info = reader.metadata
    except Exception:
        logger.info("Unreadable PDF document information dictionary", exc_info=True)
        return {}
    if info is None:
        return {}
    out: dict[str, str] = {}
    for key in ("/Title", "/Author", "/CreationDate", "/ModDate"):
        try:
            value = info.get(key)
            if isinstance(value, IndirectObject):
                value = value.get_object()
        except Exception:
            # A dangling or damaged reference: the field is simply unknown.
            logger.debug("Unreadable PDF info field %s", key, exc_info=True)
            continue
        if isinstance(value, str):
            out[key] = str(value)
        elif isinstance(value, bytes):
            out[key] = value.decode("latin-1")
    return out


def parse_pdf_date(value: str) -> datetime | None:
    """Return a PDF date ("D:20150720161648-05'00'") as aware UTC, or None."""
    match = _PDF_DATE.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, zulu, sign, tz_hours, tz_minutes = match.groups()
    try:
        zone = UTC  # no zone, or "Z": the PDF does not say, or says UTC
        if sign and not zulu:
            offset = timedelta(hours=int(tz_hours or 0), minutes=int(tz_minutes or 0))
            # timezone() refuses offsets of 24 hours or more with ValueError.
            zone = timezone(offset if sign == "+" else -offset)
        parsed = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=zone,
        )
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


# Markdown, text, HTML


def parse_plain_text(data: bytes, *, markdown: bool) -> ParsedDocument:
    """Read .md or .txt: UTF-8 (Latin-1 fallback); the title is the first "# " heading
    (Markdown) or the first non-blank line."""
    text = _final_text(_CONTROL.sub("", decode_text(data)))
    if not text:
        raise EmptyDocument("the file has no text")
    return ParsedDocument(
        format="markdown" if markdown else "text",
        title=_text_title(text, markdown=markdown),
        text=text,
    )


def _text_title(text: str, *, markdown: bool) -> str:
    lines = text.split("\n")
    if markdown and lines and lines[0].strip() == "---":
        # YAML front matter: its title wins, and its lines are not a title.
        for n, line in enumerate(lines[1:], start=1):
            if line.strip() == "---":
                lines = lines[n + 1 :]
                break
            found = _FRONT_MATTER_TITLE.match(line)
            if found:
                return _single_line(found.group(1))[:MAX_TITLE_CHARS]
    if markdown:
        for line in lines:
            heading = _MARKDOWN_HEADING.match(line)
            if heading:
                return _single_line(heading.group(1))[:MAX_TITLE_CHARS]
    first = next((line for line in lines if line.strip()), "")
    return _single_line(first.lstrip("#"))[:MAX_TITLE_CHARS]


def parse_html_document(data: bytes) -> ParsedDocument:
    """Read an HTML file: its visible text, <title> and <meta name="author">."""
    declared = _META_CHARSET.search(data[:4096])
    content = parse_html(decode_text(data, declared.group(1).decode() if declared else None))
    text = _final_text(_CONTROL.sub("", content.text))
    if not text:
        raise EmptyDocument("the page has no visible text")
    return ParsedDocument(
        format="html",
        title=_single_line(content.title)[:MAX_TITLE_CHARS],
        text=text,
        author=_single_line(content.author),
    )


def decode_text(data: bytes, declared: str | None = None) -> str:
    """Decode a text file: by its BOM, else UTF-8, else `declared`, else Latin-1."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            body = data[len(bom) :] if name == "utf-8" else data
            return body.decode(name, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if declared:
        try:
            codecs.lookup(declared)
            return data.decode(declared, "replace")
        except (LookupError, UnicodeError, ValueError, TypeError):
            pass  # a bogus or non-text charset: fall back
    return data.decode("latin-1")


# Shared


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    # Core properties are W3CDTF, normally in UTC ("Z"); python-docx drops the zone.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _single_line(value: str) -> str:
    return " ".join(_UNSAFE_LINE.sub(" ", value).split())


def _final_text(text: str) -> str:
    """Tidy a document's text; raise LimitExceeded past MAX_TEXT_CHARS characters."""
    if len(text) > MAX_TEXT_CHARS:
        raise LimitExceeded(f"the document holds more than {MAX_TEXT_CHARS} characters")
    return _tidy(text)


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()
