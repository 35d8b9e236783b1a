"""Read ZIP archives (Slack exports, DOCX) without trusting them.

Checked before anything is decompressed, and before `zipfile` builds its list of entries (it
would hold every entry of a giant directory in memory): the end-of-directory record and the
central directory's size and entry count. Then, per entry: declared sizes, per-member
compression ratio, unsafe names (`../`, absolute, drive letters, NUL, backslashes), symlinks,
duplicate names and entries sharing their compressed bytes. Members are read in memory, never
extracted, through a counter that stops at the declared size in case the header lies
(docs/SECURITY.md row 5). Nested archives are data like any other member: never opened.
"""

from __future__ import annotations

import io
import itertools
import stat
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from connectors import limits as _limits
from connectors.documents.files import open_regular_file
from connectors.errors import CorruptFile, LimitExceeded, UnsafeArchive

READ_BLOCK = 1 << 16
# A central directory record is 46 bytes plus its name, extra field and comment: a few
# hundred bytes in real archives; 64 kB each at most, which a bomb would use.
MAX_DIRECTORY_BYTES_PER_ENTRY = 1024

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"
_DIRECTORY_RECORD = struct.Struct("<4s4B4HL2L5H2L")
_DIRECTORY_SIGNATURE = b"PK\x01\x02"
_MAX_COMMENT = 65_535


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int = _limits.MAX_ARCHIVE_ENTRIES
    max_total_bytes: int = _limits.MAX_ARCHIVE_TOTAL_BYTES
    max_member_bytes: int = _limits.MAX_ARCHIVE_MEMBER_BYTES
    max_ratio: float = _limits.MAX_COMPRESSION_RATIO
    # Small members may have high ratios without being dangerous.
    ratio_floor_bytes: int = _limits.RATIO_FLOOR_BYTES


DEFAULT_LIMITS = ArchiveLimits()


def _check_name(name: str) -> None:
    if "\x00" in name or "\\" in name:
        raise UnsafeArchive(f"entry {name!r} has a NUL or backslash in its name")
    path = PurePosixPath(name)
    if path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"entry {name!r} is an absolute path")
    if ".." in path.parts:
        raise UnsafeArchive(f"entry {name!r} climbs out of its folder")


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


class SafeZip:
    """A ZIP archive, from a path or a seekable binary file, checked against `limits`."""

    def __init__(self, source: Path | IO[bytes], *, limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        handle: IO[bytes]
        try:
            # A path is opened without blocking: a FIFO in its place cannot hang the caller.
            # A link is followed (a configured export may be one); it is never an entry.
            handle = (
                open_regular_file(source, follow_symlinks=True)
                if isinstance(source, Path)
                else source
            )
        except OSError as exc:
            raise CorruptFile(f"not a readable ZIP archive: {exc}") from exc
        # Closed with the archive only when opened here.
        self._handle = handle if isinstance(source, Path) else None
        try:
            check_directory(handle, limits)
            self._zip = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            self._close_handle()
            raise CorruptFile(f"not a readable ZIP archive: {exc}") from exc
        except Exception:
            self._close_handle()
            raise
        try:
            self._members = self._check()
        except Exception:
            self.close()
            raise

    def _close_handle(self) -> None:
        if self._handle is not None:
            self._handle.close()

    def _check(self) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        if len(infos) > self.limits.max_entries:
            raise LimitExceeded(f"{len(infos)} entries, more than {self.limits.max_entries}")
        members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        spans: list[tuple[int, int]] = []
        for info in infos:
            _check_name(info.filename)
            if _is_symlink(info):
                raise UnsafeArchive(f"entry {info.filename!r} is a symbolic link")
            if info.filename in members:
                raise UnsafeArchive(f"entry {info.filename!r} appears twice")
            if info.file_size > self.limits.max_member_bytes:
                raise LimitExceeded(f"entry {info.filename!r} declares {info.file_size} bytes")
            total += info.file_size
            if total > self.limits.max_total_bytes:
                raise LimitExceeded(
                    f"entries declare more than {self.limits.max_total_bytes} bytes"
                )
            if info.file_size > self.limits.ratio_floor_bytes:
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > self.limits.max_ratio:
                    raise LimitExceeded(
                        f"entry {info.filename!r} expands {ratio:.0f} times (a ZIP bomb?)"
                    )
            spans.append((info.header_offset, info.header_offset + max(info.compress_size, 1)))
            members[info.filename] = info
        # Overlapping entries (CVE-2024-0450): several names sharing the same compressed bytes.
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            if start < end:
                raise UnsafeArchive("entries overlap (a ZIP bomb built from shared data)")
        return members

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()
        self._close_handle()

    def names(self) -> list[str]:
        """Return the names of file members (folders left out), in archive order."""
        return [name for name, info in self._members.items() if not info.is_dir()]

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def size(self, name: str) -> int:
        return self._members[name].file_size

    def info(self, name: str) -> zipfile.ZipInfo | None:
        """Return the checked directory entry of `name` (sizes, CRC-32), or None."""
        return self._members.get(name)

    def read(self, name: str, *, max_bytes: int | None = None) -> bytes:
        """Return a member's bytes, stopping at its declared size (or `max_bytes`)."""
        info = self._members[name]
        limit = info.file_size if max_bytes is None else min(info.file_size, max_bytes)
        if max_bytes is not None and info.file_size > max_bytes:
            raise LimitExceeded(f"entry {name!r} is {info.file_size} bytes, over {max_bytes}")
        chunks: list[bytes] = []
        seen = 0
        try:
            with self._zip.open(info) as handle:
                for block in _blocks(handle):
                    seen += len(block)
                    if seen > limit:
                        raise LimitExceeded(f"entry {name!r} is larger than its header says")
                    chunks.append(block)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
            # RuntimeError: an encrypted member; the rest: damaged data or a bad CRC.
            raise CorruptFile(f"entry {name!r} cannot be read: {exc}") from exc
        except NotImplementedError as exc:
            raise CorruptFile(f"entry {name!r} uses an unsupported compression: {exc}") from exc
        return b"".join(chunks)


def check_directory(handle: IO[bytes], limits: ArchiveLimits) -> None:
    """Refuse an archive whose central directory is over the entry limit, before `zipfile`
    reads it: by its declared count, by its size, and by counting its records.

    Raise CorruptFile when the end-of-directory record cannot be found or points outside the
    file (zipfile would refuse it too).
    """
    handle.seek(0, io.SEEK_END)
    file_size = handle.tell()
    tail_size = min(file_size, _EOCD.size + _MAX_COMMENT)
    handle.seek(file_size - tail_size)
    tail = handle.read(tail_size)
    position = tail.rfind(_EOCD_SIGNATURE)
    if position < 0 or position + _EOCD.size > len(tail):
        raise CorruptFile("not a ZIP archive: no end of central directory")
    end = file_size - tail_size + position
    _, _, _, _, entries, directory_size, _, _ = _EOCD.unpack_from(tail, position)
    directory_end = end
    locator_at = end - _ZIP64_LOCATOR.size
    if locator_at >= _ZIP64_EOCD.size:
        handle.seek(locator_at)
        locator = handle.read(_ZIP64_LOCATOR.size)
        if locator.startswith(_ZIP64_LOCATOR_SIGNATURE):
            handle.seek(locator_at - _ZIP64_EOCD.size)
            record = handle.read(_ZIP64_EOCD.size)
            if not record.startswith(_ZIP64_EOCD_SIGNATURE):
                raise CorruptFile("damaged ZIP64 end of central directory")
            fields = _ZIP64_EOCD.unpack(record)
            entries, directory_size = fields[7], fields[8]
            directory_end = locator_at - _ZIP64_EOCD.size
    if entries > limits.max_entries:
        raise LimitExceeded(f"{entries} entries, more than {limits.max_entries}")
    max_directory = limits.max_entries * MAX_DIRECTORY_BYTES_PER_ENTRY
    if directory_size > max_directory:
        raise LimitExceeded(f"a central directory of {directory_size} bytes, over {max_directory}")
    start = directory_end - directory_size
    if start < 0:
        raise CorruptFile("the central directory starts before the file")
    # zipfile reads records until it has read `directory_size` bytes, whatever the declared
    # count says: count them the same way.
    handle.seek(start)
    seen = 0
    records = 0
    while seen < directory_size:
        header = handle.read(_DIRECTORY_RECORD.size)
        if len(header) != _DIRECTORY_RECORD.size or not header.startswith(_DIRECTORY_SIGNATURE):
            return  # a damaged directory: zipfile reports it
        fields = _DIRECTORY_RECORD.unpack(header)
        variable = fields[12] + fields[13] + fields[14]  # name, extra field, comment
        handle.seek(variable, io.SEEK_CUR)
        seen += _DIRECTORY_RECORD.size + variable
        records += 1
        if records > limits.max_entries:
            raise LimitExceeded(f"more than {limits.max_entries} entries")


def _blocks(handle: IO[bytes]) -> Iterator[bytes]:
    while block := handle.read(READ_BLOCK):
        yield block
