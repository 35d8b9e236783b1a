"""The limits every untrusted file is parsed under (docs/SECURITY.md rows 4-7), in one place.

Two kinds of limit, enforced in two ways:

- Sizes and counts are checked in-process, before or while parsing, because they are cheap
  and exact: file and message size, archive entries, declared and streamed member sizes,
  compression ratio, MIME depth and parts, header size, HTML elements, PDF pages, and the
  length of the extracted text.
- Wall time, CPU time and memory cannot be bounded from inside a parser that runs away in C
  (lxml) or in a tight Python loop (pypdf's content-stream tokenizer): `ParseLimits` is
  enforced by running the parser in a child process (`connectors.sandbox`). Every PDF and
  DOCX goes through it, and any other file or message of at least `sandbox_min_bytes`.

`ParseLimits` is read from settings at call time, so an operator on a slow machine can raise
it and a test can lower it:

    CONNECTORS_PARSE_SECONDS      wall-clock seconds for one file (default 120)
    CONNECTORS_PARSE_MEMORY_MB    memory one parse may add to the process, MB (default 1024)
    CONNECTORS_SANDBOX_MIN_BYTES  files this big or bigger are parsed in the sandbox whatever
                                  their format (default 1 MiB)
    CONNECTORS_SLACK_DAY_FILE_MB  the largest Slack export day file read, MB (default 64);
                                  it is decoded in this process, at about 12 times its size
    CONNECTORS_SLACK_METADATA_MB  the largest users.json, channels.json, groups.json,
                                  dms.json or mpims.json read, MB (default 256); decoded in
                                  this process too

The other figures are fixed: each is there because something downstream (the database, the
chunker, python-docx's in-memory trees) cannot take more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MiB = 1024 * 1024

# --- files and documents ---------------------------------------------------------------------

# One document file (.docx, .pdf, .md, .txt, .html); also the upload form's cap.
MAX_DOCUMENT_BYTES = 100 * MiB
# Text extracted from one document. A 2,000-page report holds about 6 M characters; beyond
# 16 M a file is a data dump, not know-how, and storing and chunking it gets slow.
MAX_TEXT_CHARS = 16 * MiB
MAX_PDF_PAGES = 2_000
# The decompressed XML of one DOCX: python-docx holds all of it in memory as lxml trees.
MAX_DOCX_XML_BYTES = 256 * MiB
MAX_DOCX_ENTRIES = 10_000
MAX_DOCX_TOTAL_BYTES = 1024 * MiB
MAX_HTML_ELEMENTS = 100_000

# --- archives (Slack export ZIPs; DOCX uses the figures above) --------------------------------

MAX_ARCHIVE_ENTRIES = 200_000
MAX_ARCHIVE_TOTAL_BYTES = 20 * 1024 * MiB
MAX_ARCHIVE_MEMBER_BYTES = 2 * 1024 * MiB
# Text compresses about 10:1; bombs reach 1000:1 and more.
MAX_COMPRESSION_RATIO = 200.0
# Members smaller than this may have any ratio: they cannot do harm.
RATIO_FLOOR_BYTES = 1 * MiB

# --- email --------------------------------------------------------------------------------------

MAX_MESSAGE_BYTES = 25 * MiB
MAX_HEADER_BYTES = 1 * MiB
# Python's parser recurses once per level and fails near 1,000.
MAX_MIME_DEPTH = 30
MAX_MIME_PARTS = 10_000

# --- Slack exports --------------------------------------------------------------------------------

# One conversation's messages of one day, decoded in this process (not in the sandbox: an
# export holds thousands of them). Decoded JSON takes about 12 times its size in memory, so
# 64 MB keeps a day file under 1 GB; real day files are kilobytes to a few megabytes.
DEFAULT_SLACK_DAY_FILE_MB = 64
# users.json and the conversation lists, decoded in this process. Sized so a 100,000-user
# workspace fits: a real export's users.json takes 2,226 bytes per user (the 2016 export in
# ../shared/corpora; bench/make_slack_export.py writes 597, the demo 1,200), so 100,000
# users take about 215 MB. Decoded, a users.json takes about 2.5 times its size (measured on
# those records; files of tiny values take up to about 12 times).
DEFAULT_SLACK_METADATA_MB = 256

# --- time, CPU and memory: the sandbox ---------------------------------------------------------

DEFAULT_PARSE_SECONDS = 120.0
DEFAULT_PARSE_MEMORY_MB = 1024
DEFAULT_SANDBOX_MIN_BYTES = 1 * MiB
# A parse result (text and metadata) sent back from the sandbox: text is capped at
# MAX_TEXT_CHARS, at most 4 bytes each in UTF-8, plus room for metadata.
MAX_RESULT_BYTES = 4 * MAX_TEXT_CHARS + 16 * MiB


@dataclass(frozen=True)
class ParseLimits:
    """How long, how much CPU and how much memory one file's parse may take."""

    seconds: float = DEFAULT_PARSE_SECONDS
    memory_mb: int = DEFAULT_PARSE_MEMORY_MB
    sandbox_min_bytes: int = DEFAULT_SANDBOX_MIN_BYTES
    # CPU seconds; None: the wall time, rounded up. A backstop: a parse stops at its wall
    # time first, unless its parent died and nobody is left to time it.
    cpu: int | None = None

    def __post_init__(self) -> None:
        if not (self.seconds > 0 and self.memory_mb > 0 and self.sandbox_min_bytes >= 0):
            raise ImproperlyConfigured(
                "CONNECTORS_PARSE_SECONDS and CONNECTORS_PARSE_MEMORY_MB must be positive, "
                "CONNECTORS_SANDBOX_MIN_BYTES at least 0"
            )

    @property
    def cpu_seconds(self) -> int:
        return self.cpu if self.cpu is not None else max(1, math.ceil(self.seconds))

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * MiB


def slack_day_file_bytes() -> int:
    """Return the largest Slack export day file to read, in bytes, as configured now."""
    return _megabytes("CONNECTORS_SLACK_DAY_FILE_MB", DEFAULT_SLACK_DAY_FILE_MB)


def slack_metadata_bytes() -> int:
    """Return the largest Slack export metadata file (users.json...) to read, in bytes."""
    return _megabytes("CONNECTORS_SLACK_METADATA_MB", DEFAULT_SLACK_METADATA_MB)


def _megabytes(name: str, default: int) -> int:
    if not settings.configured:
        return default * MiB
    value = int(getattr(settings, name, default))
    if value <= 0:
        raise ImproperlyConfigured(f"{name} must be positive")
    return value * MiB


def parse_limits() -> ParseLimits:
    """Return the limits configured now (settings, else the defaults above)."""
    if not settings.configured:
        return ParseLimits()
    return ParseLimits(
        seconds=float(getattr(settings, "CONNECTORS_PARSE_SECONDS", DEFAULT_PARSE_SECONDS)),
        memory_mb=int(getattr(settings, "CONNECTORS_PARSE_MEMORY_MB", DEFAULT_PARSE_MEMORY_MB)),
        sandbox_min_bytes=int(
            getattr(settings, "CONNECTORS_SANDBOX_MIN_BYTES", DEFAULT_SANDBOX_MIN_BYTES)
        ),
    )
