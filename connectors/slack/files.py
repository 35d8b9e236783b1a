"""Read the files of a Slack export, a ZIP or a folder, without trusting them.

A ZIP is read only through `SafeZip`: its directory is checked first, nothing is extracted.
A folder is walked without following symbolic links, so no entry can lead out of it; each
link found is reported as an `UnsafeArchive` and left alone. Layout of an export:
https://slack.com/help/articles/220556107.
"""

from __future__ import annotations

import abc
import errno
import os
import re
import stat
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from connectors.archives import DEFAULT_LIMITS, ArchiveLimits, SafeZip
from connectors.errors import CorruptFile, FileRejected, LimitExceeded, UnsafeArchive

METADATA_FILES = ("users.json", "channels.json", "groups.json", "dms.json", "mpims.json")
# Each conversation folder holds one file of messages per day: general/2016-01-14.json.
DAY_FILE = re.compile(r"\d{4}-\d{2}-\d{2}\.json")
# root/ then an optional top folder (some tools zip the export's folder), channel/, day.json.
_MAX_FOLDER_DEPTH = 3
_READ_BLOCK = 1 << 16


class ExportFiles(abc.ABC):
    """Read-only access to an export's files by POSIX path relative to its top."""

    def __init__(self, label: str) -> None:
        # How failures name the export: "export.zip" in "export.zip:general/2016-01-14.json".
        self.label = label

    @abc.abstractmethod
    def names(self) -> list[str]:
        """Return the paths of the regular files in the export."""

    @abc.abstractmethod
    def read(self, name: str, *, max_bytes: int) -> bytes:
        """Return a file's bytes; raise LimitExceeded past `max_bytes`, FileRejected if bad."""

    def rejected(self) -> list[tuple[str, FileRejected]]:
        """Return entries refused while listing (e.g. symbolic links in a folder)."""
        return []

    @abc.abstractmethod
    def disk_path(self, name: str) -> str:
        """Return the absolute path of the file on disk holding `name`: the ZIP itself, or
        the folder export's own file (a link or a folder, if that is what is there)."""

    def fingerprint(self, name: str) -> str | None:
        """Return a short string that changes when the file's content changes, without
        reading it; None when that cannot be told, so the file is always read."""
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Release the archive, if any."""

    def __enter__(self) -> ExportFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ZipExportFiles(ExportFiles):
    """An export ZIP, checked by SafeZip (bombs, zip slip, links, duplicates) before use."""

    def __init__(self, path: Path, *, limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
        super().__init__(path.name)
        # The configured path may be a link the operator chose: the archive is where it leads.
        self._file = os.path.realpath(path)
        self._zip = SafeZip(path, limits=limits)

    def names(self) -> list[str]:
        return self._zip.names()

    def disk_path(self, name: str) -> str:
        return self._file

    def read(self, name: str, *, max_bytes: int) -> bytes:
        return self._zip.read(name, max_bytes=max_bytes)

    def fingerprint(self, name: str) -> str | None:
        # The CRC-32 and size from the central directory, already read and checked.
        # TODO: use a public SafeZip accessor once archives.py (being reworked) has one.
        info = self._zip._members.get(name)
        return None if info is None else f"{info.CRC:08x}:{info.file_size}"

    def close(self) -> None:
        self._zip.close()


class FolderExportFiles(ExportFiles):
    """An unzipped export. Symbolic links are never followed, at listing or at reading."""

    def __init__(self, path: Path, *, max_entries: int = DEFAULT_LIMITS.max_entries) -> None:
        super().__init__(path.name)
        self._root = path.resolve()
        self._max_entries = max_entries
        self._names: list[str] = []
        self._rejected: list[tuple[str, FileRejected]] = []
        self._walk(self._root, PurePosixPath(), depth=0)

    def _walk(self, folder: Path, relative: PurePosixPath, *, depth: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            self._rejected.append((f"{relative}/", CorruptFile(f"cannot list folder: {exc}")))
            return
        for entry in entries:
            name = relative / entry.name
            if entry.is_symlink():
                self._rejected.append(
                    (str(name), UnsafeArchive(f"{name} is a symbolic link; links are not followed"))
                )
            elif entry.is_dir(follow_symlinks=False):
                if depth + 1 < _MAX_FOLDER_DEPTH:
                    self._walk(Path(entry.path), name, depth=depth + 1)
            elif entry.is_file(follow_symlinks=False):
                if len(self._names) >= self._max_entries:
                    raise LimitExceeded(f"more than {self._max_entries} files in the export")
                self._names.append(str(name))

    def names(self) -> list[str]:
        return list(self._names)

    def disk_path(self, name: str) -> str:
        return str(self._root / name)

    def rejected(self) -> list[tuple[str, FileRejected]]:
        return list(self._rejected)

    def close(self) -> None:
        """Nothing to release: each read opens and closes its own file."""

    def fingerprint(self, name: str) -> str | None:
        # The CRC-32 and size of the content, as a ZIP's directory gives them, so a folder and
        # its ZIP have the same cursor. Reading to checksum costs far less than parsing.
        try:
            with self._open(name) as handle:
                crc, size = 0, 0
                while block := handle.read(_READ_BLOCK):
                    crc = zlib.crc32(block, crc)
                    size += len(block)
        except (FileRejected, OSError):
            return None
        return f"{crc:08x}:{size}"

    def read(self, name: str, *, max_bytes: int) -> bytes:
        with self._open(name) as handle:
            info = os.fstat(handle.fileno())
            if info.st_size > max_bytes:
                raise LimitExceeded(f"{name} is {info.st_size} bytes, over {max_bytes}")
            chunks: list[bytes] = []
            seen = 0
            # Count while reading: the file may grow after fstat.
            while block := handle.read(_READ_BLOCK):
                seen += len(block)
                if seen > max_bytes:
                    raise LimitExceeded(f"{name} grew past {max_bytes} bytes while read")
                chunks.append(block)
        return b"".join(chunks)

    def _open(self, name: str) -> BinaryIO:
        """Open a regular file of the export for reading; raise FileRejected if unsafe."""
        path = self._root / name
        # Names come from our own walk, but the folder may change under us: re-check that the
        # file is inside the root and open it without following a link (O_NOFOLLOW) and
        # without blocking on a FIFO put in its place (O_NONBLOCK).
        if not path.resolve().is_relative_to(self._root):
            raise UnsafeArchive(f"{name} leads out of the export folder")
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            descriptor = os.open(path, flags)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link put there since the walk
                raise UnsafeArchive(f"{name} is a symbolic link; links are not followed") from exc
            raise CorruptFile(f"{name} cannot be opened: {exc.strerror}") from exc
        handle = os.fdopen(descriptor, "rb")
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            handle.close()
            raise UnsafeArchive(f"{name} is not a regular file")
        return handle


def open_export(path: Path, *, archive_limits: ArchiveLimits = DEFAULT_LIMITS) -> ExportFiles:
    """Open a ZIP or a folder export; raise FileRejected if it cannot be read safely."""
    if path.is_dir():
        return FolderExportFiles(path, max_entries=archive_limits.max_entries)
    return ZipExportFiles(path, limits=archive_limits)


@dataclass(frozen=True)
class ExportLayout:
    """Where an export's files are: its top folder, and each conversation folder's day files."""

    root: str  # "" or the top folder with a trailing slash ("acme export/")
    # Folder name -> its day files (full paths), oldest day first.
    folders: Mapping[str, tuple[str, ...]]
    present: frozenset[str]  # every file path in the export

    def metadata(self, filename: str) -> str | None:
        """Return the path of `users.json` and the like, or None if the export lacks it."""
        name = self.root + filename
        return name if name in self.present else None


def find_layout(names: Iterable[str]) -> ExportLayout | None:
    """Return the layout of a Slack export, or None if no users.json or channels.json is found.

    The top is the shallowest folder holding users.json or channels.json, so exports zipped
    with their folder work. Files outside `<top>/<folder>/<YYYY-MM-DD>.json` (for example
    macOS `__MACOSX/` shadows) are ignored.
    """
    present = frozenset(names)
    tops = [
        name[: -len(filename)]
        for name in present
        for filename in ("users.json", "channels.json")
        if name == filename or name.endswith("/" + filename)
    ]
    if not tops:
        return None
    root = min(tops, key=lambda top: (top.count("/"), top))
    folders: dict[str, list[str]] = {}
    for name in present:
        if not name.startswith(root):
            continue
        parts = name[len(root) :].split("/")
        if len(parts) == 2 and parts[0] and DAY_FILE.fullmatch(parts[1]):
            folders.setdefault(parts[0], []).append(name)
    return ExportLayout(
        root=root,
        folders={folder: tuple(sorted(days)) for folder, days in sorted(folders.items())},
        present=present,
    )
