"""ZIP archives written byte by byte, so that names, sizes and offsets can be anything.

`zipfile` refuses to write most hostile archives (it truncates names at NUL, writes honest
sizes, never shares data between entries); these helpers do, and build them fast enough to
make 200,000 entries in about a second.
"""

from __future__ import annotations

import io
import stat
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterable

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_UNIX = 3
_VERSION = 20


def raw_zip(
    entries: Iterable[tuple[bytes, bytes]],
    *,
    shared_data: bool = False,
    symlinks: frozenset[bytes] = frozenset(),
) -> bytes:
    """Return a ZIP of stored (uncompressed) entries, names taken as raw bytes.

    `shared_data`: every entry after the first points at the first one's data (the
    overlapping-entry bomb of CVE-2024-0450). `symlinks`: names marked as symbolic links.
    The end record declares at most 65,535 entries, as a writer without ZIP64 would.
    """
    out = bytearray()
    central = bytearray()
    count = 0
    first_offset: int | None = None
    for name, data in entries:
        crc = zlib.crc32(data)
        offset = len(out)
        if shared_data and first_offset is not None:
            offset = first_offset
        else:
            out += _LOCAL.pack(
                b"PK\x03\x04", _VERSION, 0, 0, 0, 0x21, crc, len(data), len(data), len(name), 0
            )
            out += name + data
            first_offset = offset if first_offset is None else first_offset
        mode = (stat.S_IFLNK | 0o777) if name in symlinks else (stat.S_IFREG | 0o644)
        central += _CENTRAL.pack(
            b"PK\x01\x02",
            (_UNIX << 8) | _VERSION,
            _VERSION,
            0,
            0,
            0,
            0x21,
            crc,
            len(data),
            len(data),
            len(name),
            0,
            0,
            0,
            0,
            mode << 16,
            offset,
        )
        central += name
        count += 1
    declared = min(count, 0xFFFF)
    end = _END.pack(b"PK\x05\x06", 0, 0, declared, declared, len(central), len(out), 0)
    return bytes(out + central + end)


def many_entries_zip(count: int, extra: Iterable[tuple[bytes, bytes]] = ()) -> bytes:
    """Return a ZIP with `count` empty entries after the `extra` ones."""

    def entries() -> Iterable[tuple[bytes, bytes]]:
        yield from extra
        for number in range(count):
            yield b"e/%07d" % number, b""

    return raw_zip(entries())


def deflated_zip(members: Iterable[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    """Return an ordinary deflated ZIP, duplicate names allowed."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


def bomb_member(name: str, size: int, *, fill: bytes = b" ") -> bytes:
    """Return a ZIP whose one member inflates `size` bytes of `fill` (about 1000:1)."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open(name, "w", force_zip64=True) as member,
    ):
        block = fill * (1 << 20)
        for _ in range(size >> 20):
            member.write(block)
    return buffer.getvalue()


def add_members(archive: bytes, members: Iterable[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    """Return `archive` with `members` appended (deflated), duplicates allowed."""
    buffer = io.BytesIO(archive)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as target:
            for name, data in members:
                target.writestr(name, data)
    return buffer.getvalue()


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = _UNIX  # so that the mode bits are read
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def lie_about_size(archive: bytes, name: str, *, declared: int) -> bytes:
    """Return `archive` with `name`'s uncompressed size in the central directory set to
    `declared` (the data is unchanged)."""
    data = bytearray(archive)
    position = data.find(b"PK\x01\x02")
    while position != -1:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46 : position + 46 + name_length] == name.encode():
            struct.pack_into("<I", data, position + 24, declared)
            return bytes(data)
        position = data.find(b"PK\x01\x02", position + 4)
    raise AssertionError(f"{name} is not in the archive")


def rename_raw(archive: bytes, old: bytes, new: bytes) -> bytes:
    """Return `archive` with every occurrence of the name `old` (headers and directory)
    replaced by `new` of the same length, e.g. to put a NUL inside a name."""
    assert len(old) == len(new)
    assert old in archive
    return archive.replace(old, new)
