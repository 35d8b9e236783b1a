"""Split an mbox file into messages, reading bytes and trusting nothing about them.

Python's `mailbox.mbox` decodes `From ` lines as ASCII and fails on real files whose envelope
line carries other bytes (perceval's `mbox_unixfrom_encoding.mbox`), and it keeps whole files
in view. This splitter streams the file in binary and guarantees:
- a message starts at a `From ` line that is the first line of the file, or that follows an
  empty line and looks like an envelope line (it carries an asctime date, or the next line is
  a header field); a `From ` line in a body that was not escaped does not split a message;
- `>From ` lines are unescaped one level (mboxrd; also right for mboxo);
- no message is held in memory beyond `max_message_bytes`: a larger one is yielded with
  `too_large` set and no bytes, so the caller can report it and go on;
- lines are read in bounded pieces, so a file without newlines cannot exhaust memory;
- nothing but the handle's own OSError is raised, and every date is timezone-aware.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from connectors.limits import MAX_MESSAGE_BYTES

# Beyond this a message is rejected (as in connectors.email.parsing).
DEFAULT_MAX_MESSAGE_BYTES = MAX_MESSAGE_BYTES
# Lines longer than this are read in several pieces.
READ_PIECE_BYTES = 1 << 16
# Envelope lines are short; longer ones are kept in the message but not parsed for a date.
MAX_FROM_LINE_BYTES = 1_000

_ASCTIME = re.compile(
    rb"(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+"
    rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+"
    rb"(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s+(?:[A-Z]{3,4}\s+)?(\d{4})"
)
_MONTHS = {
    m: n
    for n, m in enumerate(
        (
            b"Jan",
            b"Feb",
            b"Mar",
            b"Apr",
            b"May",
            b"Jun",
            b"Jul",
            b"Aug",
            b"Sep",
            b"Oct",
            b"Nov",
            b"Dec",
        ),
        start=1,
    )
}
_HEADER_FIELD = re.compile(rb"^[!-9;-~]{1,100}:")
_ESCAPED_FROM = re.compile(rb"^>(>*From )")


@dataclass(frozen=True)
class MboxMessage:
    """One message of an mbox file, without its envelope line."""

    number: int  # 1-based position in the file
    from_line: bytes  # the envelope line ("From sender date"), empty for leading text
    raw: bytes  # the message, `>From ` unescaped; empty when `too_large`
    size: int  # bytes of the message as stored
    received_at: datetime | None  # the envelope date, aware UTC, when it parses
    too_large: bool = False


def envelope_date(from_line: bytes) -> datetime | None:
    """Return the asctime date of an mbox `From ` line as aware UTC, or None."""
    match = _ASCTIME.search(from_line[:MAX_FROM_LINE_BYTES])
    if match is None:
        return None
    _, month, day, hour, minute, second, year = match.groups()
    try:
        return datetime(
            int(year),
            _MONTHS[month],
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def is_mbox_start(head: bytes) -> bool:
    """Return True if a file starting with `head` is an mbox (its first line is `From `)."""
    return head.startswith(b"From ")


SNIFF_BYTES = 4096
_HEADER_LINE = re.compile(rb"^([!-9;-~]{1,76}):")
_MESSAGE_HEADERS = frozenset({b"from", b"to", b"date", b"subject", b"message-id", b"received"})


def is_message_start(head: bytes) -> bool:
    """Return True if a file starting with `head` reads as one RFC 822 message.

    Its first line must be a header, and at least two of From, To, Date, Subject, Message-ID
    and Received must appear before the first blank line (a raw message saved as .txt).
    """
    lines = head.splitlines()
    if not lines or not _HEADER_LINE.match(lines[0]):
        return False
    seen = set()
    for line in lines:
        if not line.strip():
            break
        match = _HEADER_LINE.match(line)
        if match:
            seen.add(match.group(1).lower())
    return len(seen & _MESSAGE_HEADERS) >= 2


def _pieces(handle: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """Yield (piece, starts_line): whole lines, or bounded pieces of very long lines."""
    at_line_start = True
    while piece := handle.readline(READ_PIECE_BYTES):
        yield piece, at_line_start
        at_line_start = piece.endswith(b"\n")


def _is_blank(line: bytes) -> bool:
    return line in (b"\n", b"\r\n")


class _Collector:
    """Bytes of the message being read, dropped once it passes the size limit."""

    def __init__(self, max_bytes: int, from_line: bytes = b"") -> None:
        self.max_bytes = max_bytes
        self.from_line = from_line
        self.parts: list[bytes] = []
        self.size = 0
        self.has_text = False  # kept as a flag: re-scanning the parts would be quadratic

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        if not self.has_text and piece.strip():
            self.has_text = True
        if self.size <= self.max_bytes:
            self.parts.append(piece)
        else:
            self.parts = []

    @property
    def too_large(self) -> bool:
        return self.size > self.max_bytes

    @property
    def empty(self) -> bool:
        return not self.from_line and not self.has_text


def split_mbox(
    handle: BinaryIO, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
) -> Iterator[MboxMessage]:
    """Yield the messages of the mbox read from binary `handle`, in file order.

    Text before the first `From ` line, if not blank, is yielded as message 1 with an empty
    `from_line`, so that nothing in the file is silently ignored.
    """
    number = 0
    current = _Collector(max_message_bytes)
    previous_blank = False
    candidate: bytes | None = None  # a `From ` line waiting for the next line to decide

    def finish(collector: _Collector) -> MboxMessage | None:
        nonlocal number
        if collector.empty:
            return None
        number += 1
        raw = b"".join(collector.parts)
        # The empty line before the next envelope line is mbox framing, not message text.
        if raw.endswith(b"\r\n\r\n"):
            raw = raw[:-2]
        elif raw.endswith(b"\n\n"):
            raw = raw[:-1]
        return MboxMessage(
            number=number,
            from_line=collector.from_line.rstrip(b"\r\n"),
            raw=b"" if collector.too_large else raw,
            size=collector.size,
            received_at=envelope_date(collector.from_line),
            too_large=collector.too_large,
        )

    def add_line(piece: bytes, starts_line: bool) -> None:
        if starts_line:
            piece = _ESCAPED_FROM.sub(rb"\1", piece, count=1)
        current.add(piece)

    for piece, starts_line in _pieces(handle):
        if candidate is not None:
            # Decide on the pending `From ` line now that the line after it is known.
            if starts_line and _HEADER_FIELD.match(piece):
                done = finish(current)
                if done is not None:
                    yield done
                current = _Collector(max_message_bytes, candidate)
            else:
                add_line(candidate, True)
            candidate = None
        elif starts_line and piece.startswith(b"From "):
            at_start = number == 0 and current.empty
            if at_start or (previous_blank and envelope_date(piece) is not None):
                done = finish(current)
                if done is not None:
                    yield done
                current = _Collector(max_message_bytes, piece)
                previous_blank = False
                continue
            if previous_blank and piece.endswith(b"\n"):
                candidate = piece
                previous_blank = False
                continue
        add_line(piece, starts_line)
        previous_blank = starts_line and _is_blank(piece)
    if candidate is not None:
        add_line(candidate, True)
    done = finish(current)
    if done is not None:
        yield done
