"""Guess the source kind of a path given to `ingest`."""

from __future__ import annotations

from pathlib import Path

from connectors.archives import SafeZip
from connectors.documents.files import open_regular_file
from connectors.email.mbox import SNIFF_BYTES, is_mbox_start, is_message_start
from connectors.errors import ConnectorConfigError, CorruptFile, FileRejected

EMAIL_SUFFIXES = frozenset({".eml", ".mbox", ".mbx"})
DOCUMENT_SUFFIXES = frozenset({".docx", ".pdf", ".md", ".markdown", ".txt", ".html", ".htm"})
SLACK_EXPORT_MARKERS = frozenset({"users.json", "channels.json"})
MAX_FILES_LOOKED_AT = 10_000


def detect_kind(path: Path) -> str:
    """Return "slack-export", "email" or "docs" for `path`, or raise ConnectorConfigError.

    A ZIP is read only through the checked reader (connectors.archives). One it refuses as
    unsafe or over a limit is taken for the Slack export it was given as: only exports come
    as ZIPs, and the sync then quarantines it with its typed error.
    """
    if not path.exists():
        raise ConnectorConfigError(f"{path} does not exist")
    if path.is_file():
        return _detect_file(path)
    if any((path / marker).is_file() for marker in SLACK_EXPORT_MARKERS):
        return "slack-export"
    if (path / "cur").is_dir() or (path / "new").is_dir():
        return "email"
    email = docs = 0
    for n, child in enumerate(path.rglob("*")):
        if n > MAX_FILES_LOOKED_AT:
            break
        if not child.is_file():
            continue
        suffix = child.suffix.lower()
        if suffix in EMAIL_SUFFIXES or _starts_like_mail(child):
            email += 1
        elif suffix in DOCUMENT_SUFFIXES:
            docs += 1
    if email or docs:
        return "email" if email >= docs else "docs"
    raise ConnectorConfigError(f"{path}: no Slack export, mail or documents found; pass --kind")


def _detect_file(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".zip":
        try:
            with SafeZip(path) as archive:
                names = {name.rsplit("/", 1)[-1] for name in archive.names()}
        except CorruptFile as exc:
            raise ConnectorConfigError(f"{path}: not a readable ZIP archive ({exc})") from exc
        except FileRejected:
            # A bomb, a zip slip, too many entries...: ingested, it ends quarantined.
            return "slack-export"
        if names & SLACK_EXPORT_MARKERS:
            return "slack-export"
        raise ConnectorConfigError(f"{path}: a ZIP without users.json or channels.json")
    if suffix in EMAIL_SUFFIXES or _starts_like_mail(path):
        return "email"
    if suffix in DOCUMENT_SUFFIXES:
        return "docs"
    raise ConnectorConfigError(f"{path}: unknown file type {suffix or '(none)'}; pass --kind")


def _starts_like_mail(path: Path) -> bool:
    """An mbox, or one raw message whatever its name (a .txt from a mail archive)."""
    try:
        # Never blocks: a FIFO put in the file's place is not a mail.
        with open_regular_file(path, follow_symlinks=True) as handle:
            head = handle.read(SNIFF_BYTES)
    except (FileRejected, OSError):
        return False
    return is_mbox_start(head) or is_message_start(head)
