"""Turn the bytes of one RFC 822 message into a SourceDocument and the people it names.

Guarantees of `parse_email`:
- It returns a ParsedEmail or raises a FileRejected subclass; nothing else escapes, whatever
  the bytes (the `email` package raises a wide and undocumented set of errors on damaged
  input, and RecursionError on deep MIME trees).
- Limits (`connectors.limits`) are checked before parsing: at most MAX_MESSAGE_BYTES in all,
  MAX_HEADER_BYTES of top-level header block and MAX_MIME_DEPTH levels of nesting (measured by
  an iterative scan, because Python's parser recurses once per level and fails near 1,000),
  then at most MAX_MIME_PARTS parts. Attached messages (message/rfc822) are never opened.
- A message of CONNECTORS_SANDBOX_MIN_BYTES or more is parsed in a child process bounded in
  wall time, CPU and memory (`connectors.sandbox`): the `email` package's parameter parsing is
  quadratic, so a 25 MB message of crafted MIME headers could otherwise take minutes.
- Every datetime is timezone-aware UTC; no header-derived text carries CR or LF; attachment
  names are bare file names, never paths.
- Header lines end at LF (or CRLF) only: a bare CR inside the top-level header block is a
  space, so "Subject: hi\rBcc: x@evil" is one Subject and the audience is exactly the people
  the raw header lines name (Python's parser would end a line at the CR and add the Bcc). A
  message without any LF keeps CR as its line ending (old Mac files).
- The body is the author's own words: text/plain if there is one, else the HTML converted to
  text; quoted replies and the signature are split off (see `quoting`), the quote is kept in
  metadata["quoted"].
"""

from __future__ import annotations

import email.message
import email.utils
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser

from connectors import limits
from connectors.base import Audience, PersonRef, SourceDocument, SourcePerson
from connectors.documents.html import html_to_text
from connectors.email.headers import (
    clean_text,
    decode_bytes,
    header_text,
    message_ids,
    parse_addresses,
    single_line,
)
from connectors.email.quoting import split_reply
from connectors.errors import CorruptFile, FileRejected, LimitExceeded
from connectors.sandbox import run_sandboxed

MAX_MESSAGE_BYTES = limits.MAX_MESSAGE_BYTES
MAX_HEADER_BYTES = limits.MAX_HEADER_BYTES
MAX_MIME_DEPTH = limits.MAX_MIME_DEPTH
MAX_MIME_PARTS = limits.MAX_MIME_PARTS
MAX_QUOTED_CHARS = 20_000
MAX_SIGNATURE_CHARS = 2_000
MAX_REFERENCES = 100
MAX_ATTACHMENT_NAMES = 200
MAX_FILENAME_CHARS = 255
MAX_TITLE_CHARS = 1_000

# When a message has no usable date and the caller knows none either.
UNKNOWN_DATE = datetime(1970, 1, 1, tzinfo=UTC)

# A message must carry at least one of these to be taken for one: random bytes are not mail.
IDENTIFYING_HEADERS = frozenset(
    {"from", "to", "cc", "subject", "date", "message-id", "sender", "received", "in-reply-to"}
)

# As Python's feedparser decides: a header line, a continuation, or the Unix "From " line.
_HEADER_LINE = re.compile(rb"(?:From |[\x21-\x39\x3b-\x7e]*:|[ \t])")
_NEWLINES = re.compile(r"\r\n?")
_BARE_CR = re.compile(rb"\r(?!\n)")
# The end of the top-level header block: an empty line (LF or CRLF) at the start or after a
# line's LF.
_HEADER_END = re.compile(rb"\A\r?\n|\n\r?\n")


@dataclass(frozen=True)
class ParsedEmail:
    """One message as a document, and everyone its address headers name."""

    document: SourceDocument
    people: tuple[SourcePerson, ...]


def parse_email(
    raw: bytes,
    *,
    container_id: str | None = None,
    fallback_date: datetime | None = None,
) -> ParsedEmail:
    """Parse one message; raise a FileRejected subclass if it cannot be ingested.

    `fallback_date` (aware) stands in for a missing or unparseable Date header: the mbox
    envelope date or the file's mtime. `container_id` names the mailbox it was found in.
    """
    check_limits(raw)
    bounds = limits.parse_limits()
    if len(raw) >= bounds.sandbox_min_bytes:
        parsed: ParsedEmail = run_sandboxed(
            _parse_guarded, raw, container_id, fallback_date, limits=bounds
        )
        return parsed
    return _parse_guarded(raw, container_id, fallback_date)


def _parse_guarded(
    raw: bytes, container_id: str | None, fallback_date: datetime | None
) -> ParsedEmail:
    try:
        return _parse(raw, container_id, fallback_date)
    except FileRejected:
        raise
    except RecursionError as exc:
        raise LimitExceeded("the message is nested too deeply to parse") from exc
    except MemoryError:
        raise
    except Exception as exc:
        # The email package's failure modes on hostile bytes are not documented; whatever it
        # raises, this message is rejected and the sync goes on.
        raise CorruptFile(f"the message cannot be parsed: {type(exc).__name__}: {exc}") from exc


def check_limits(raw: bytes) -> None:
    """Raise LimitExceeded if `raw` is too large, its header too long or its MIME too deep."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise LimitExceeded(f"the message is {len(raw)} bytes, over {MAX_MESSAGE_BYTES}")
    # Measured as parsed: without bare CRs, which no longer end a line of the header.
    if header_block_size(bare_cr_as_space(raw)) > MAX_HEADER_BYTES:
        raise LimitExceeded(f"the header block is over {MAX_HEADER_BYTES} bytes")
    depth, parts = mime_shape(raw, stop_depth=MAX_MIME_DEPTH, stop_parts=MAX_MIME_PARTS)
    if depth > MAX_MIME_DEPTH:
        raise LimitExceeded(f"MIME parts are nested more than {MAX_MIME_DEPTH} levels deep")
    if parts > MAX_MIME_PARTS:
        raise LimitExceeded(f"the message has more than {MAX_MIME_PARTS} MIME parts")


def header_block_size(raw: bytes) -> int:
    """Return the size of the top-level header block, up to MAX_HEADER_BYTES + 1."""
    size = 0
    for line in raw[: MAX_HEADER_BYTES + 2].splitlines(keepends=True):
        if not _HEADER_LINE.match(line):
            return size
        size += len(line)
        if size > MAX_HEADER_BYTES:
            break
    return size


def mime_shape(raw: bytes, *, stop_depth: int, stop_parts: int) -> tuple[int, int]:
    """Return (deepest nesting, number of parts) of a message, scanning lines iteratively.

    Content types and boundaries are read with `email.message.Message` itself, so this
    agrees with the parser about what opens a level. The scan stops early once either count
    passes its `stop_` value.
    """
    # One entry per open level: a multipart's boundary, or None for an attached message.
    stack: list[str | None] = []
    deepest = 0
    parts = 1
    in_headers = True
    content_type: list[str] = []  # the first Content-Type field of the current header block
    reading_content_type = False
    seen_content_type = False
    for line_bytes in raw.splitlines():
        line = line_bytes.decode("ascii", "surrogateescape")
        if in_headers:
            if line and _HEADER_LINE.match(line_bytes):
                if line[0] in " \t":
                    if reading_content_type:
                        content_type.append(line)
                    continue
                reading_content_type = False
                if not seen_content_type and line[:13].lower() == "content-type:":
                    reading_content_type = seen_content_type = True
                    content_type.append(line[13:])
                continue
            # The header block ends: does it open a level?
            in_headers = reading_content_type = seen_content_type = False
            opened = _opened_level("".join(content_type))
            content_type = []
            if opened is not None:
                kind, boundary = opened
                stack.append(boundary)
                deepest = max(deepest, len(stack))
                if deepest > stop_depth:
                    break
                if kind == "message":
                    in_headers = True  # the attached message's own headers follow
            if not line:
                continue
        if stack and line.startswith("--"):
            stripped = line.rstrip()
            for level in range(len(stack) - 1, -1, -1):
                boundary = stack[level]
                if boundary is None:
                    continue
                if stripped == f"--{boundary}--":
                    del stack[level:]
                    break
                if stripped == f"--{boundary}":
                    del stack[level + 1 :]
                    in_headers = True
                    parts += 1
                    break
            if parts > stop_parts:
                break
    return deepest, parts


def bare_cr_as_space(raw: bytes) -> bytes:
    """Return `raw` with each CR that is not before an LF in its top-level header block
    turned into a space; the body is left alone. A message without LF is returned as is."""
    if b"\n" not in raw or not _BARE_CR.search(raw):
        return raw
    end = _HEADER_END.search(raw)
    stop = end.end() if end is not None else len(raw)
    return _BARE_CR.sub(b" ", raw[:stop]) + raw[stop:]


def _opened_level(content_type: str) -> tuple[str, str | None] | None:
    if not content_type.strip():
        return None
    probe = email.message.Message()
    probe["Content-Type"] = content_type
    maintype = probe.get_content_maintype()
    if maintype == "multipart":
        boundary = probe.get_boundary()
        return ("multipart", boundary) if boundary else None
    if maintype == "message" and probe.get_content_subtype() != "delivery-status":
        return ("message", None)
    return None


def _parse(raw: bytes, container_id: str | None, fallback_date: datetime | None) -> ParsedEmail:
    if not raw.strip():
        raise CorruptFile("the message is empty")
    message = BytesParser(policy=policy.compat32).parsebytes(bare_cr_as_space(raw))
    fields = _raw_fields(message)
    if not IDENTIFYING_HEADERS & fields.keys():
        raise CorruptFile("no mail header fields: this is not an email message")

    own_ids = message_ids(_first(fields, "message-id"))
    own_id = own_ids[0] if own_ids else None
    external_id = own_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    references = message_ids(" ".join(fields.get("references", [])))[:MAX_REFERENCES]
    in_reply_to = next(iter(message_ids(_first(fields, "in-reply-to"))), None)
    thread_id = references[0] if references else in_reply_to or external_id

    senders = parse_addresses(_first(fields, "from"))
    recipients = {
        name: [pair for value in fields.get(name, []) for pair in parse_addresses(value)]
        for name in ("to", "cc", "bcc")
    }
    people: dict[PersonRef, SourcePerson] = {}
    for display, address in [*senders, *recipients["to"], *recipients["cc"], *recipients["bcc"]]:
        ref = PersonRef("email", address)
        if ref not in people or (display and not people[ref].display_name):
            people[ref] = SourcePerson(ref=ref, display_name=display)
    author = PersonRef("email", senders[0][1]) if senders else None

    date = parse_date(_first(fields, "date"))
    date_source = "header"
    if date is None:
        date = fallback_date.astimezone(UTC) if fallback_date is not None else UNKNOWN_DATE
        date_source = "fallback" if fallback_date is not None else "unknown"

    text, attachments = _body_and_attachments(message)
    reply = split_reply(text)
    metadata = {
        "message_id": own_id,
        "in_reply_to": in_reply_to,
        "references": references,
        "from": senders[0][1] if senders else None,
        "to": [address for _, address in recipients["to"]],
        "cc": [address for _, address in recipients["cc"]],
        # Bcc recipients are in the audience but not listed: the other recipients of the
        # message never saw them, and metadata is shown to everyone in the audience.
        "attachments": attachments,
        "folder": container_id,
        "quoted": reply.quoted[:MAX_QUOTED_CHARS],
        "signature": reply.signature[:MAX_SIGNATURE_CHARS],
        "date_source": date_source,
    }
    document = SourceDocument(
        external_id=external_id,
        kind="email",
        title=header_text(_first(fields, "subject"), limit=MAX_TITLE_CHARS),
        body=reply.body,
        author=author,
        created_at=date,
        updated_at=date,
        audience=Audience(people=tuple(people)),
        container_id=container_id,
        thread_id=thread_id,
        metadata=metadata,
    )
    return ParsedEmail(document=document, people=tuple(people.values()))


def _raw_fields(message: email.message.Message) -> dict[str, list[str]]:
    # raw_items() gives the values as parsed, before compat32 wraps 8-bit ones in Header
    # objects; headers.raw_header_text decodes them.
    fields: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        if isinstance(value, str):
            fields.setdefault(name.strip().lower(), []).append(value)
    return fields


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def parse_date(value: str | None) -> datetime | None:
    """Return an RFC 5322 date as aware UTC, or None if it does not parse."""
    if not value:
        return None
    text = single_line(value)
    if not text:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
        if parsed.tzinfo is None:  # "-0000": the zone is unknown; UTC is the convention
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def _walk(message: email.message.Message) -> Iterator[email.message.Message]:
    """Yield the message's parts depth first, without recursion and without entering
    attached messages."""
    stack: list[tuple[email.message.Message, int]] = [(message, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if depth > MAX_MIME_DEPTH:
            raise LimitExceeded(f"MIME parts are nested more than {MAX_MIME_DEPTH} levels deep")
        if seen > MAX_MIME_PARTS:
            raise LimitExceeded(f"the message has more than {MAX_MIME_PARTS} MIME parts")
        yield part
        if part.get_content_maintype() == "message" and part is not message:
            continue  # an attachment: its name is listed, its content is not read
        if not part.is_multipart():
            continue  # get_payload() on a leaf decodes 8-bit text and may raise: never here
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend(
                (sub, depth + 1)
                for sub in reversed(payload)
                if isinstance(sub, email.message.Message)
            )


def _body_and_attachments(message: email.message.Message) -> tuple[str, list[str]]:
    plain: list[str] = []
    html: list[str] = []
    attachments: list[str] = []
    for part in _walk(message):
        if part.is_multipart() and part.get_content_maintype() != "message":
            continue
        filename = _filename(part)
        is_attachment = part.get_content_disposition() == "attachment" or filename is not None
        if part.get_content_maintype() == "message" and part is not message:
            is_attachment = True
        if is_attachment:
            if filename and len(attachments) < MAX_ATTACHMENT_NAMES:
                attachments.append(filename)
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain":
            plain.append(_part_text(part))
        elif content_type == "text/html":
            html.append(_part_text(part))
    # Prefer what the author typed as text; HTML only when there is nothing else.
    text = "\n\n".join(plain) if plain else "\n\n".join(html_to_text(m) for m in html)
    return clean_text(_NEWLINES.sub("\n", text)), attachments


def _part_text(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset())


def _filename(part: email.message.Message) -> str | None:
    raw = part.get_filename()
    if not raw:
        return None
    return safe_filename(str(raw))


def safe_filename(name: str) -> str | None:
    """Return the bare file name of an attachment name: no folders, no drive, one line.

    "../../x" and "C:\\\\Windows\\\\x" both become "x"; None when nothing usable is left.
    """
    text = header_text(name, limit=4 * MAX_FILENAME_CHARS).replace("\\", "/")
    base = text.rsplit("/", 1)[-1]
    # A drive prefix ("C:x") and leading dots ("..", ".hidden") are never part of the name.
    base = re.sub(r"^[A-Za-z]:", "", base).strip().lstrip(".").strip()
    if not base:
        return None
    return base[:MAX_FILENAME_CHARS]
