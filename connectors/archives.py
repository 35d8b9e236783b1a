"""Read ZIP archives (Slack exports, DOCX) without trusting them.

Checked before anything is decompressed: entry count, declared sizes, per-member compression
ratio, unsafe names (`../`, absolute, drive letters, NUL, backslashes), symlinks and duplicate
names. Members are read in memory, never extracted, through a counter that stops at the
declared size in case the header lies (docs/SECURITY.md row 5).
"""

from __future__ import annotations

import itertools
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from connectors.errors import CorruptFile, LimitExceeded, UnsafeArchive

READ_BLOCK = 1 << 16


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int = 200_000
    max_total_bytes: int = 20 * 1024**3
    max_member_bytes: int = 2 * 1024**3
    # Text compresses about 10:1; bombs reach 1000:1 and more.
    max_ratio: float = 200.0
    # Small members may have high ratios without being dangerous.
    ratio_floor_bytes: int = 1 << 20


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
    """A ZIP archive whose directory has been checked against `limits`."""

    def __init__(self, path: Path, *, limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
        self.path = path
        self.limits = limits
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise CorruptFile(f"not a readable ZIP archive: {exc}") from exc
        try:
            self._members = self._check()
        except Exception:
            self._zip.close()
            raise

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

    def names(self) -> list[str]:
        """Return the names of file members (folders left out), in archive order."""
        return [name for name, info in self._members.items() if not info.is_dir()]

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def size(self, name: str) -> int:
        return self._members[name].file_size

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


def _blocks(handle: IO[bytes]) -> Iterator[bytes]:
    while block := handle.read(READ_BLOCK):
        yield block
