"""Hostile exports (docs/SECURITY.md rows 4-5): each ends as a typed failure, never a crash."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import stat
import struct
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import SourceBatch
from connectors.errors import CorruptFile, FileRejected, UnsafeArchive
from connectors.slack.export import ExportLimits, SlackExportConnector
from connectors.slack.files import FolderExportFiles
from tests.connectors.slack.builders import (
    EXPORT_2016,
    by_id,
    connector,
    copy_export,
    documents,
    fetch,
    write_export,
    zip_folder,
)

USERS = json.dumps([{"id": "U1", "team_id": "T1", "name": "ada"}]).encode()
CHANNELS = json.dumps([{"id": "C1", "name": "general", "members": ["U1"]}]).encode()
DAY = json.dumps([{"user": "U1", "text": "hello", "ts": "1452837352.000006"}]).encode()


def build_zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return path


def valid_members() -> list[tuple[str | zipfile.ZipInfo, bytes]]:
    return [
        ("users.json", USERS),
        ("channels.json", CHANNELS),
        ("general/2016-01-15.json", DAY),
    ]


def assert_rejected_whole(batches: list[SourceBatch], error_type: str) -> None:
    """One batch, one failure of `error_type`, nothing read from the archive."""
    (batch,) = batches
    (failure,) = batch.failures
    assert failure.error_type == error_type
    assert failure.path.endswith(".zip")
    # The archive on disk, for the quarantine to keep; nothing within it is singled out.
    assert failure.file.endswith(failure.path)
    assert Path(failure.file).is_absolute()
    assert failure.member == ""
    assert not batch.documents
    assert not batch.people
    assert not batch.containers


def symlink_entry(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix, so the mode bits are honoured
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    "bad_name",
    ["../../evil.json", "/etc/cron.d/evil", "general/../../evil.json", "C:/evil.json", "a\\..\\b"],
)
def test_zip_slip_names_reject_the_archive(tmp_path: Path, bad_name: str) -> None:
    path = build_zip(tmp_path / "export.zip", [*valid_members(), (bad_name, DAY)])
    assert_rejected_whole(fetch(path), "UnsafeArchive")
    assert not (tmp_path.parent / "evil.json").exists()


def test_a_symlink_entry_rejects_the_archive(tmp_path: Path) -> None:
    members = [
        *valid_members(),
        (symlink_entry("general/2016-01-16.json", "/etc/passwd"), b"/etc/passwd"),
    ]
    assert_rejected_whole(fetch(build_zip(tmp_path / "export.zip", members)), "UnsafeArchive")


def test_duplicate_names_reject_the_archive(tmp_path: Path) -> None:
    # Which copy would a reader take? Refuse to guess.
    members = [
        *valid_members(),
        ("channels.json", json.dumps([{"id": "C1", "name": "x"}]).encode()),
    ]
    assert_rejected_whole(fetch(build_zip(tmp_path / "export.zip", members)), "UnsafeArchive")


def test_a_zip_bomb_rejects_the_archive(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in valid_members():
            archive.writestr(name, data)
        with archive.open("general/2016-01-16.json", "w") as member:
            for _ in range(32):
                member.write(b" " * (1 << 20))  # 32 MB of spaces: ~1000:1
    assert_rejected_whole(fetch(path), "LimitExceeded")


def test_a_file_size_header_that_lies_fails_that_file_only(tmp_path: Path) -> None:
    big_day = json.dumps([{"user": "U1", "text": "x" * 50_000, "ts": "1452900000.000001"}]).encode()
    path = build_zip(
        tmp_path / "export.zip", [*valid_members(), ("general/2016-01-16.json", big_day)]
    )
    _lie_about_size(path, "general/2016-01-16.json", declared=100)
    batches = fetch(path)
    (failure,) = [f for batch in batches for f in batch.failures]
    assert failure.path == "export.zip:general/2016-01-16.json"
    assert failure.error_type in {"CorruptFile", "LimitExceeded"}
    # The honest day file is still read.
    assert list(by_id(batches)) == ["C1/1452837352.000006"]


def _lie_about_size(path: Path, name: str, *, declared: int) -> None:
    """Rewrite the central directory's uncompressed size of `name` (offset 24)."""
    data = bytearray(path.read_bytes())
    position = data.find(b"PK\x01\x02")
    while position != -1:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46 : position + 46 + name_length] == name.encode():
            struct.pack_into("<I", data, position + 24, declared)
            path.write_bytes(bytes(data))
            return
        position = data.find(b"PK\x01\x02", position + 4)
    raise AssertionError(f"{name} not found")


def test_a_nested_zip_is_never_opened(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("2016-01-16.json", DAY)
    path = build_zip(
        tmp_path / "export.zip",
        [
            *valid_members(),
            ("general/2016-01-16.json", inner.getvalue()),
            ("42.zip", inner.getvalue()),
        ],
    )
    batches = fetch(path)
    (failure,) = [f for batch in batches for f in batch.failures]
    assert (failure.path, failure.error_type) == (
        "export.zip:general/2016-01-16.json",
        "CorruptFile",
    )
    assert list(by_id(batches)) == ["C1/1452837352.000006"]


def test_not_a_zip_at_all_is_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    path.write_bytes(b"\x00" * 1000)
    assert_rejected_whole(fetch(path), "CorruptFile")


@pytest.mark.parametrize(
    ("content", "why"),
    [(b'[{"user": "U1", "text": "cut', "not valid JSON"), (b'{"a": 1}', "not a list")],
)
def test_a_broken_day_file_fails_alone(tmp_path: Path, content: bytes, why: str) -> None:
    export = copy_export(EXPORT_2016, tmp_path / "export")
    write_export(export, {"enrique/2016-01-14.json": content})
    path = zip_folder(export, tmp_path / "export.zip")
    batches = fetch(path)
    failures = [failure for batch in batches for failure in batch.failures]
    assert [(f.path, f.error_type) for f in failures] == [
        ("export.zip:enrique/2016-01-14.json", "CorruptFile")
    ]
    assert why in failures[0].message
    # The day's two messages are gone, the other 145 are there.
    assert len(documents(batches)) == 147 - 2
    with pytest.raises(CorruptFile):
        list(connector(path).list_external_ids())


def test_records_of_the_wrong_shape_fail_one_by_one(tmp_path: Path) -> None:
    export = copy_export(EXPORT_2016, tmp_path / "export")
    day = json.loads((export / "enrique/2016-01-15.json").read_text())
    day[1:1] = ["a string", {"user": "U0BMQB6JE", "text": "no ts"}, {"text": ["x"], "ts": "1.0"}]
    write_export(export, {"enrique/2016-01-15.json": day})
    batches = fetch(export)
    failures = [failure for batch in batches for failure in batch.failures]
    assert [(f.path, f.error_type) for f in failures] == [
        (f"export:enrique/2016-01-15.json[{index}]", "CorruptFile") for index in (1, 2, 3)
    ]
    assert len(documents(batches)) == 147
    # A failed record keeps only the message its ts names; one without a ts keeps nothing.
    listing = connector(export).list_source()
    assert len(listing.external_ids) == 147
    assert [gap.external_ids for gap in listing.gaps] == [{"C0JGLMMNX/1.0"}]


def test_a_channels_json_that_is_not_a_list_hides_nothing_it_cannot_place(tmp_path: Path) -> None:
    export = copy_export(EXPORT_2016, tmp_path / "export")
    write_export(export, {"channels.json": {"C0JGLMMNX": {"name": "enrique"}}})
    batches = fetch(export)
    failures = {(f.path, f.error_type) for batch in batches for f in batch.failures}
    assert failures == {
        ("export:channels.json", "CorruptFile"),
        ("export:enrique/", "CorruptFile"),
        ("export:traveling-sailor/", "CorruptFile"),
    }
    # Without its channel, no message can be given an audience: none is yielded.
    assert not documents(batches)
    assert batches[0].people


class _TinyLimits(SlackExportConnector):
    limits: ClassVar[ExportLimits] = dataclasses.replace(
        ExportLimits(), max_metadata_bytes=2_000, max_day_file_bytes=10_000
    )


def test_oversized_metadata_and_day_files_are_limit_failures(tmp_path: Path) -> None:
    for form in ("folder", "zip"):
        path = EXPORT_2016 if form == "folder" else zip_folder(EXPORT_2016, tmp_path / "e.zip")
        batches = list(_TinyLimits(config={"path": str(path)}, credentials={}).fetch(cursor=None))
        failures = [f for batch in batches for f in batch.failures]
        assert {f.error_type for f in failures} == {"LimitExceeded"}
        # users.json (8.9 kB) is over the limit, channels.json (1.1 kB) is not.
        assert any(f.path.endswith(":users.json") for f in failures)
        assert not any(f.path.endswith(":channels.json") for f in failures)
        # The biggest day file (traveling-sailor/2016-03-27.json) is refused, the rest read.
        assert any(f.path.endswith("traveling-sailor/2016-03-27.json") for f in failures)
        assert documents(batches)


def test_the_day_file_cap_defaults_to_64_mb_and_is_a_setting(settings) -> None:  # type: ignore[no-untyped-def]
    assert ExportLimits().day_file_bytes == 64 * 1024 * 1024
    settings.CONNECTORS_SLACK_DAY_FILE_MB = 3
    assert ExportLimits().day_file_bytes == 3 * 1024 * 1024
    assert ExportLimits(max_day_file_bytes=10).day_file_bytes == 10


def test_a_day_file_over_the_setting_is_quarantined_and_the_rest_read(  # type: ignore[no-untyped-def]
    tmp_path: Path, settings
) -> None:
    settings.CONNECTORS_SLACK_DAY_FILE_MB = 1
    # 1.2 MB of messages on one day: over 1 MB, decoded it would take about 15 MB.
    big = json.dumps(
        [{"user": "U1", "text": "x" * 1_000, "ts": f"1452900000.{n:06d}"} for n in range(1_200)]
    ).encode()
    path = build_zip(tmp_path / "export.zip", [*valid_members(), ("general/2016-01-16.json", big)])
    batches = fetch(path)
    (failure,) = [f for batch in batches for f in batch.failures]
    assert (failure.path, failure.error_type) == (
        "export.zip:general/2016-01-16.json",
        "LimitExceeded",
    )
    assert (failure.file, failure.member) == (str(path), "general/2016-01-16.json")
    assert [d.body for d in documents(batches)] == ["hello"]


def test_a_huge_channels_json_is_refused_and_nothing_is_misfiled(tmp_path: Path) -> None:
    export = copy_export(EXPORT_2016, tmp_path / "export")
    channels = (export / "channels.json").read_text()
    (export / "channels.json").write_text(channels + " " * 5_000)
    batches = list(_TinyLimits(config={"path": str(export)}, credentials={}).fetch(cursor=None))
    failures = {(f.path, f.error_type) for batch in batches for f in batch.failures}
    assert ("export:channels.json", "LimitExceeded") in failures
    assert not batches[0].containers
    assert not documents(batches)


# --- folder exports and symbolic links -----------------------------------------------------


def test_symlinks_in_a_folder_export_are_never_followed(tmp_path: Path) -> None:
    outside = write_export(
        tmp_path / "outside",
        {
            "2016-01-15.json": [{"user": "U1", "text": "stolen", "ts": "1452837352.000009"}],
            "secrets.json": [{"user": "U1", "text": "stolen too", "ts": "1452837352.000010"}],
        },
    )
    export = write_export(
        tmp_path / "export",
        {
            "users.json": json.loads(USERS),
            "channels.json": [
                {"id": "C1", "name": "general", "members": ["U1"]},
                {"id": "C2", "name": "linked", "members": ["U1"]},
            ],
            "general/2016-01-15.json": json.loads(DAY),
        },
    )
    (export / "linked").symlink_to(outside, target_is_directory=True)
    (export / "general" / "2016-01-16.json").symlink_to(outside / "secrets.json")
    batches = fetch(export)
    failures = {(f.path, f.error_type) for batch in batches for f in batch.failures}
    assert failures == {
        ("export:linked", "UnsafeArchive"),
        ("export:general/2016-01-16.json", "UnsafeArchive"),
    }
    assert [doc.body for doc in documents(batches)] == ["hello"]
    with pytest.raises(UnsafeArchive):
        list(connector(export).list_external_ids())


def test_a_symlinked_users_json_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "passwd.json").write_text(json.dumps([{"id": "UROOT", "name": "root"}]))
    export = write_export(
        tmp_path / "export", {"channels.json": json.loads(CHANNELS), "general/2016-01-15.json": DAY}
    )
    (export / "users.json").symlink_to(tmp_path / "passwd.json")
    batches = fetch(export)
    assert not batches[0].people
    assert ("export:users.json", "UnsafeArchive") in {
        (f.path, f.error_type) for f in batches[0].failures
    }


def test_a_file_swapped_for_a_link_after_listing_is_not_read(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", {"channels.json": json.loads(CHANNELS)})
    (tmp_path / "secret.txt").write_text("top secret")
    files = FolderExportFiles(export)
    assert files.names() == ["channels.json"]
    (export / "channels.json").unlink()
    (export / "channels.json").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(UnsafeArchive):
        files.read("channels.json", max_bytes=1_000)


def test_a_rejected_archive_cannot_be_listed_for_pruning(tmp_path: Path) -> None:
    path = build_zip(tmp_path / "export.zip", [*valid_members(), ("../evil.json", DAY)])
    with pytest.raises(FileRejected):
        list(connector(path).list_external_ids())


# --- fuzzing the whole connector ----------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
_message = st.fixed_dictionaries(
    {},
    optional={
        "user": st.sampled_from(["U1", "B1"]) | _json,
        "bot_id": st.sampled_from(["B1"]) | _json,
        "text": st.text(max_size=20) | _json,
        "ts": st.from_regex(r"\A\d{1,10}\.\d{6}\Z") | _json,
        "subtype": st.sampled_from(["channel_join", "message_changed", "bot_message"]) | _json,
        "message": _json,
        "thread_ts": _json,
    },
)
_file = (
    st.binary(max_size=60)
    | _json.map(lambda value: json.dumps(value).encode())
    | st.lists(_message | _json, max_size=5).map(lambda value: json.dumps(value).encode())
)


@settings(
    max_examples=int(os.environ.get("SLACK_EXPORT_FUZZ_EXAMPLES", "100")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(users=_file, channels=_file, dms=_file, day=_file, zipped=st.booleans())
def test_any_export_contents_yield_batches_and_never_raise(
    users: bytes, channels: bytes, dms: bytes, day: bytes, zipped: bool
) -> None:
    files: dict[str, Any] = {
        "users.json": users,
        "channels.json": channels,
        "dms.json": dms,
        "general/2016-01-15.json": day,
        "D1/2016-01-15.json": day,
    }
    with tempfile.TemporaryDirectory() as folder:
        export = write_export(Path(folder) / "export", files)
        path = zip_folder(export, Path(folder) / "export.zip") if zipped else export
        batches = fetch(path)
        assert batches
        assert batches[0].cursor
        for document in documents(batches):
            assert document.updated_at.utcoffset() is not None
            # Whatever the input, a DM is never public.
            if document.container_id == "D1":
                assert not document.audience.public
