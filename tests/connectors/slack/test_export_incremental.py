"""A newer copy of an export is read only where it changed (issue 3).

The cursor remembers each conversation's day files; these tests count which files a resumed
fetch reads, and check it yields what a full read would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.base import SourceBatch
from connectors.slack import files as export_files
from connectors.slack.export import parse_cursor
from tests.connectors.slack.builders import (
    EXPORT_2016,
    copy_export,
    documents,
    fetch,
    private_export,
    write_export,
    zip_folder,
)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the name of every day file an export read (a spy on the real readers)."""
    names: list[str] = []
    for cls in (export_files.ZipExportFiles, export_files.FolderExportFiles):
        real = cls.read

        def spy(self: object, name: str, *, max_bytes: int, real=real) -> bytes:  # type: ignore[no-untyped-def]
            if name.count("/") >= 1 and name.endswith(".json"):
                names.append(name)
            return real(self, name, max_bytes=max_bytes)

        monkeypatch.setattr(cls, "read", spy)
    return names


def _first(batches: list[SourceBatch]) -> SourceBatch:
    return batches[0]


@pytest.mark.parametrize("as_zip", [True, False])
def test_an_unchanged_export_reads_no_day_file_again(
    tmp_path: Path, reads: list[str], as_zip: bool
) -> None:
    export = copy_export(EXPORT_2016, tmp_path / "export")
    path = zip_folder(export, tmp_path / "export.zip") if as_zip else export
    full = fetch(path)
    assert reads
    reads.clear()
    resumed = fetch(path, cursor=full[-1].cursor)
    assert reads == []
    assert not documents(resumed)
    # Everyone and every conversation still come first, as a full read gives them.
    assert _first(resumed).people == _first(full).people
    assert _first(resumed).containers == _first(full).containers
    assert resumed[-1].cursor == full[-1].cursor


def test_a_new_day_file_is_the_only_file_read(tmp_path: Path, reads: list[str]) -> None:
    export = copy_export(EXPORT_2016, tmp_path / "export")
    cursor = fetch(export)[-1].cursor
    write_export(
        export,
        {
            "traveling-sailor/2016-03-30.json": [
                {"type": "message", "user": "U0BMQB6JE", "text": "v2 is out", "ts": "1459340000.1"}
            ]
        },
    )
    reads.clear()
    resumed = fetch(export, cursor=cursor)
    assert set(reads) == {"traveling-sailor/2016-03-30.json"}
    assert [doc.external_id for doc in documents(resumed)] == ["C0JL6CGQ2/1459340000.1"]
    # The next resume reads nothing at all.
    reads.clear()
    assert not documents(fetch(export, cursor=resumed[-1].cursor))
    assert reads == []


def test_an_old_day_file_edited_later_is_read_again(tmp_path: Path, reads: list[str]) -> None:
    export = copy_export(EXPORT_2016, tmp_path / "export")
    cursor = fetch(export)[-1].cursor
    # A newer export of the same workspace carries the edit in the message's own day file.
    day = export / "enrique" / "2016-01-14.json"
    records = json.loads(day.read_text())
    target = next(r for r in records if r.get("ts") == "1452837359.000007")
    target["text"] = "Need that done before Vancouver"
    target["edited"] = {"user": "U0BMQB6JE", "ts": "1459340000.000000"}
    day.write_text(json.dumps(records))
    reads.clear()
    resumed = fetch(export, cursor=cursor)
    assert "enrique/2016-01-14.json" in reads
    assert not any(name.startswith("traveling-sailor/") for name in reads)
    (edited,) = documents(resumed)
    assert edited.external_id == "C0JGLMMNX/1452837359.000007"
    assert edited.body == "Need that done before Vancouver"


def test_what_day_files_say_about_people_survives_a_resume(tmp_path: Path) -> None:
    export = private_export(tmp_path / "acme")
    # An author missing from users.json, known only by the profile copied into a message.
    write_export(
        export,
        {
            "general/2021-03-03.json": [
                {
                    "type": "message",
                    "user": "UOUTSIDE1",
                    "user_profile": {"display_name": "Olga", "real_name": "Olga Outside"},
                    "text": "hello from outside",
                    "ts": "1614780000.000100",
                }
            ]
        },
    )
    full = fetch(export)
    # Later: carol joins the private channel.
    write_export(
        export,
        {
            "secret-project/2021-03-04.json": [
                {
                    "type": "message",
                    "subtype": "group_join",
                    "user": "UCAROL001",
                    "text": "<@UCAROL001> has joined the group",
                    "ts": "1614870000.000100",
                }
            ]
        },
    )
    resumed = fetch(export, cursor=full[-1].cursor)
    fresh = fetch(export)
    assert _first(resumed).people == _first(fresh).people
    assert _first(resumed).containers == _first(fresh).containers
    assert any(p.real_name == "Olga Outside" for p in _first(resumed).people)
    secret = next(c for c in _first(resumed).containers if c.external_id == "GSECRET01")
    assert {ref.value.rsplit("/", 1)[-1] for ref in secret.members} >= {"UBOB00001", "UCAROL001"}


def test_a_cursor_of_the_first_version_still_resumes(tmp_path: Path) -> None:
    full = fetch(EXPORT_2016)
    old_style = json.dumps(parse_cursor(full[-1].cursor).ts)
    assert not documents(fetch(EXPORT_2016, cursor=old_style))


@pytest.mark.parametrize(
    "read",
    [
        "[]",
        '{"n": -1, "d": "x", "m": "y"}',
        '{"n": 1, "d": 5, "m": "y"}',
        '{"n": 1, "d": "x", "m": "y", "t": "yesterday"}',
        '{"n": 1, "d": "x", "m": "y", "b": [["B1", "bot"]]}',
    ],
)
def test_a_malformed_record_of_read_files_is_a_config_error(read: str) -> None:
    from connectors.errors import ConnectorConfigError

    cursor = f'{{"v": 2, "ts": {{}}, "read": {{"C1": {read}}}}}'
    with pytest.raises(ConnectorConfigError):
        fetch(EXPORT_2016, cursor=cursor)
