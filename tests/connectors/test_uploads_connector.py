"""UploadsConnector on the folders `store_upload` writes: the contract, and damaged uploads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Connector, SourceBatch
from connectors.errors import ConnectorConfigError
from connectors.uploads.connector import MANIFEST, UploadsConnector
from tests.connectors.contract import ConnectorContract

RUNBOOK = b"# Billing key rotation\n\nRotate the billing API keys every quarter.\n"


def manifest(**changes: Any) -> dict[str, Any]:
    return {
        "uploader": "dana@acme.test",
        "author": "tom@acme.test",
        "public": False,
        "people": ["lucia@acme.test"],
        "uploaded_at": "2026-11-26T01:45:01.123456+00:00",
        **changes,
    }


def write_upload(
    root: Path, name: str, *, file_name: str = "runbook.md", data: bytes = RUNBOOK, meta: Any = None
) -> Path:
    """Write an upload folder as `store_upload` leaves it."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / file_name).write_bytes(data)
    text = meta if isinstance(meta, str) else json.dumps(manifest() if meta is None else meta)
    (folder / MANIFEST).write_text(text, encoding="utf-8")
    return folder


def connector(root: Path) -> UploadsConnector:
    return UploadsConnector(config={"path": str(root)}, credentials={})


def fetch(root: Path, cursor: str | None = None) -> list[SourceBatch]:
    return list(connector(root).fetch(cursor=cursor))


class TestUploadsContract(ConnectorContract):
    @pytest.fixture(autouse=True)
    def _uploads(self, tmp_path: Path) -> None:
        self.root = tmp_path / "uploads"
        write_upload(self.root, "20261126T014501123456-3f2a9c1e")
        write_upload(
            self.root,
            "20261126T014502000000-0badc0de",
            file_name="notes.txt",
            data=b"Deploys go through the pipeline.\n",
            meta=manifest(public=True, people=[]),
        )
        write_upload(self.root, "20261126T014503000000-00000001", file_name="x.txt", data=b"x\n")
        (self.root / ".upload-staging").mkdir()  # unfinished: never read

    def make_connector(self) -> Connector:
        return connector(self.root)


@pytest.mark.parametrize(
    "meta",
    [
        "not json",
        [],
        {},
        manifest(uploaded_at="yesterday"),
        manifest(uploaded_at=5),
        manifest(public="yes"),
        manifest(people="lucia@acme.test"),
        manifest(author=None),
    ],
    ids=lambda value: str(value)[:40],
)
def test_a_damaged_manifest_is_a_failure_and_the_other_uploads_are_read(
    tmp_path: Path, meta: Any
) -> None:
    write_upload(tmp_path, "1-good")
    write_upload(tmp_path, "2-damaged", meta=meta)
    batches = fetch(tmp_path)
    assert [d.external_id for b in batches for d in b.documents] == ["1-good"]
    (failure,) = [f for b in batches for f in b.failures]
    assert failure.error_type == "CorruptFile"
    assert failure.file == str(tmp_path / "2-damaged" / "runbook.md")
    assert batches[-1].cursor == "2-damaged"


def test_links_are_never_followed(tmp_path: Path) -> None:
    outside = write_upload(tmp_path / "outside", "0-secret", data=b"# The payroll password\n")
    root = tmp_path / "uploads"
    write_upload(root, "1-good")
    (root / "2-linked-folder").symlink_to(outside, target_is_directory=True)
    linked = root / "3-linked-document"
    linked.mkdir()
    (linked / MANIFEST).write_text(json.dumps(manifest()))
    (linked / "runbook.md").symlink_to(outside / "runbook.md")
    batches = fetch(root)
    assert [d.external_id for b in batches for d in b.documents] == ["1-good"]
    (failure,) = [f for b in batches for f in b.failures]
    assert (failure.path, failure.error_type) == (str(linked), "CorruptFile")
    assert "payroll" not in repr(batches)


def test_without_a_path_nothing_is_read_from_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_upload(tmp_path, "1-here")
    monkeypatch.chdir(tmp_path)
    for config in ({}, {"path": ""}):
        uploads = UploadsConnector(config=config, credentials={})
        with pytest.raises(ConnectorConfigError):
            uploads.validate()
        with pytest.raises(ConnectorConfigError):
            list(uploads.fetch(cursor=None))


def test_a_folder_not_created_yet_holds_no_uploads(tmp_path: Path) -> None:
    (batch,) = fetch(tmp_path / "uploads")
    assert (batch.cursor, batch.documents, batch.failures) == ("", (), ())
