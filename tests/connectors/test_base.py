"""The connector contract's shared helpers (connectors/base.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import Audience, Connector, SourceBatch, SourceDocument, SourceFailure
from connectors.documents.connector import DocumentsConnector
from connectors.email.connector import EmailFilesConnector
from connectors.uploads.connector import UploadsConnector
from tests.connectors.test_uploads_connector import write_upload

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WHEN = datetime(2024, 3, 5, tzinfo=UTC)


def document(external_id: str) -> SourceDocument:
    return SourceDocument(
        external_id=external_id,
        kind="document",
        title=external_id,
        body="text",
        author=None,
        created_at=WHEN,
        updated_at=WHEN,
        audience=Audience(),
    )


class _TwoBatches(Connector):
    kind = "two-batches"

    def __init__(self) -> None:
        super().__init__(config={}, credentials={})
        self.cursors: list[str | None] = []

    def fetch(self, *, cursor: str | None) -> Iterator[SourceBatch]:
        self.cursors.append(cursor)
        yield SourceBatch(cursor="1", documents=(document("a"), document("b")))
        yield SourceBatch(cursor="2", failures=(SourceFailure("c", "CorruptFile", "bad"),))
        yield SourceBatch(cursor="3", documents=(document("d"),))


def test_external_ids_by_full_fetch_reads_from_the_start_and_yields_every_id() -> None:
    connector = _TwoBatches()
    assert list(connector.external_ids_by_full_fetch()) == ["a", "b", "d"]
    assert connector.cursors == [None]


def test_a_connector_that_cannot_list_ids_says_so() -> None:
    with pytest.raises(NotImplementedError):
        list(_TwoBatches().list_external_ids())


def test_file_connectors_list_ids_by_a_full_fetch(tmp_path: Path) -> None:
    write_upload(tmp_path / "uploads", "1-upload")
    connectors: list[Connector] = [
        DocumentsConnector(config={"path": str(FIXTURES / "documents")}, credentials={}),
        EmailFilesConnector(config={"path": str(FIXTURES / "email")}, credentials={}),
        UploadsConnector(config={"path": str(tmp_path / "uploads")}, credentials={}),
    ]
    for connector in connectors:
        listed = list(connector.list_external_ids())
        assert listed
        assert listed == list(connector.external_ids_by_full_fetch())
