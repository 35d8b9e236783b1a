"""Where the in-process limits are enforced: ZIP directories, file reads, settings."""

from __future__ import annotations

import io
import os
import struct
import time
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from connectors.archives import ArchiveLimits, SafeZip, check_directory
from connectors.documents.files import read_regular_file
from connectors.documents.parsing import parse_document
from connectors.errors import CorruptFile, LimitExceeded, UnsafeArchive, UnsupportedFile
from connectors.limits import (
    DEFAULT_PARSE_MEMORY_MB,
    DEFAULT_PARSE_SECONDS,
    ParseLimits,
    parse_limits,
)
from tests.connectors.hostile import zips

SMALL = ArchiveLimits(max_entries=10)


def _entries(count: int) -> list[tuple[bytes, bytes]]:
    return [(b"f%03d.txt" % n, b"x") for n in range(count)]


# --- ZIP central directory, before zipfile reads it --------------------------------------------


def test_an_archive_at_the_entry_limit_opens() -> None:
    with SafeZip(io.BytesIO(zips.raw_zip(_entries(10))), limits=SMALL) as archive:
        assert len(archive.names()) == 10


def test_a_declared_entry_count_over_the_limit_is_refused() -> None:
    with pytest.raises(LimitExceeded, match="11 entries"):
        check_directory(io.BytesIO(zips.raw_zip(_entries(11))), SMALL)


def test_records_are_counted_when_the_declared_count_lies() -> None:
    data = bytearray(zips.raw_zip(_entries(50)))
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 1, 1)  # "1 entry"
    with pytest.raises(LimitExceeded, match="more than 10 entries"):
        SafeZip(io.BytesIO(bytes(data)), limits=SMALL)


def test_a_central_directory_too_large_for_its_entries_is_refused() -> None:
    # Names of 60 kB each: 10 entries would make a 600 kB directory, over 10 x 1 kB.
    entries = [(b"%d" % n + b"n" * 60_000, b"") for n in range(10)]
    with pytest.raises(LimitExceeded, match="central directory"):
        check_directory(io.BytesIO(zips.raw_zip(entries)), SMALL)


def test_a_zip64_end_record_declaring_billions_of_entries_is_refused() -> None:
    data = zips.raw_zip(_entries(1))
    end = data.rfind(b"PK\x05\x06")
    directory_size = struct.unpack_from("<L", data, end + 12)[0]
    zip64_end = struct.pack(
        "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 1 << 40, 1 << 40, directory_size, 0
    )
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, end, 1)
    forged = data[:end] + zip64_end + locator + data[end:]
    with pytest.raises(LimitExceeded, match=str(1 << 40)):
        check_directory(io.BytesIO(forged), SMALL)


def test_a_million_entries_are_refused_in_well_under_a_second() -> None:
    data = zips.many_entries_zip(1_000_000)
    started = time.monotonic()
    with pytest.raises(LimitExceeded):
        SafeZip(io.BytesIO(data))
    assert time.monotonic() - started < 1.0


def test_no_end_record_is_a_corrupt_file() -> None:
    with pytest.raises(CorruptFile):
        SafeZip(io.BytesIO(b"PK\x03\x04 not really a zip"))


def test_a_path_is_opened_and_closed_with_the_archive(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(zips.deflated_zip([("a.txt", b"hello")]))
    archive = SafeZip(path)
    assert archive.read("a.txt") == b"hello"
    info = archive.info("a.txt")
    assert info is not None
    assert (info.file_size, info.CRC) == (5, zipfile.crc32(b"hello"))
    assert archive.info("missing") is None
    archive.close()
    assert archive._handle is not None
    assert archive._handle.closed


# --- reading a file once, within bounds --------------------------------------------------------


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    with pytest.raises(UnsupportedFile):
        read_regular_file(tmp_path / "pipe.txt", max_bytes=100)


def test_a_link_is_refused_unless_followed_on_purpose(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("hello")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    with pytest.raises(UnsafeArchive):
        read_regular_file(tmp_path / "link.txt", max_bytes=100)
    assert read_regular_file(tmp_path / "link.txt", max_bytes=100, follow_symlinks=True) == b"hello"


def test_a_file_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    with (tmp_path / "big.txt").open("wb") as handle:
        handle.truncate(1 << 40)  # 1 TB, sparse
    with pytest.raises(LimitExceeded):
        read_regular_file(tmp_path / "big.txt", max_bytes=100)


def test_a_document_swapped_for_a_link_after_the_walk_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").symlink_to("/etc/passwd")
    with pytest.raises(UnsafeArchive):
        parse_document(tmp_path / "notes.txt", follow_symlinks=False)


# --- settings ---------------------------------------------------------------------------------


def test_parse_limits_come_from_settings(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CONNECTORS_PARSE_SECONDS = 7
    settings.CONNECTORS_PARSE_MEMORY_MB = 300
    settings.CONNECTORS_SANDBOX_MIN_BYTES = 5
    assert parse_limits() == ParseLimits(seconds=7.0, memory_mb=300, sandbox_min_bytes=5)
    assert parse_limits().cpu_seconds == 7


def test_parse_limits_have_defaults(settings) -> None:  # type: ignore[no-untyped-def]
    del settings.CONNECTORS_PARSE_SECONDS
    del settings.CONNECTORS_PARSE_MEMORY_MB
    limits = parse_limits()
    assert (limits.seconds, limits.memory_mb) == (DEFAULT_PARSE_SECONDS, DEFAULT_PARSE_MEMORY_MB)


@pytest.mark.parametrize("values", [{"seconds": 0}, {"memory_mb": -1}, {"sandbox_min_bytes": -1}])
def test_nonsense_limits_are_a_configuration_error(values: dict[str, float]) -> None:
    with pytest.raises(ImproperlyConfigured):
        ParseLimits(**values)  # type: ignore[arg-type]
