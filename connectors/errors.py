"""Typed errors of connectors. A `FileRejected` quarantines one file; the sync goes on."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error a connector raises on purpose."""


class ConnectorConfigError(ConnectorError):
    """The source's config or credentials cannot work (missing path, unknown kind...)."""


class SourceUnavailableError(ConnectorError):
    """The source cannot be reached right now; retrying later may succeed."""


class IncompleteListing(ConnectorError):
    """Part of a source could not be read while listing its ids: the list is not complete."""


class FileRejected(ConnectorError):
    """One file cannot be ingested. It is quarantined with this error, and nothing from it
    is stored."""


class UnsupportedFile(FileRejected):
    """The file's type is not one this connector reads."""


class CorruptFile(FileRejected):
    """The file is damaged or not what its name says."""


class EncryptedFile(FileRejected):
    """The file is encrypted and no key is configured."""


class LimitExceeded(FileRejected):
    """The file exceeds a parsing limit: size, entries, ratio, depth, time or memory."""


class UnsafeArchive(FileRejected):
    """An archive entry would escape its folder (`../`, absolute, drive letter, NUL, link)."""


class EmptyDocument(FileRejected):
    """A non-empty file yielded no text: flagged, never counted as success."""
