"""The connector contract's shared helpers (connectors/base.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import (
    Audience,
    Connector,
    ListingGap,
    SourceBatch,
    SourceDocument,
    SourceFailure,
    SourceListing,
)
from connectors.documents.connector import DocumentsConnector
from connectors.email.connector import EmailFilesConnector
from connectors.errors import CorruptFile, IncompleteListing
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


def test_listing_by_full_fetch_reads_from_the_start_and_maps_each_failure_to_a_gap() -> None:
    connector = _TwoBatches()
    listing = connector.listing_by_full_fetch(
        lambda failure: ListingGap(failure, external_ids=frozenset({failure.path}))
    )
    assert listing.external_ids == {"a", "b", "d"}
    assert [(gap.failure.path, gap.external_ids) for gap in listing.gaps] == [("c", {"c"})]
    assert connector.cursors == [None]
    # The strict list refuses, with the failure's own typed error naming it.
    with pytest.raises(CorruptFile, match="c: bad"):
        listing.complete_ids()


def test_a_gap_holds_what_it_names_and_a_gap_naming_nothing_holds_everything() -> None:
    failure = SourceFailure("x", "PermissionError", "denied")
    listing = SourceListing(
        frozenset({"a"}),
        gaps=(
            ListingGap(failure, external_ids=frozenset({"b"})),
            ListingGap(failure, id_prefixes=("docs/",)),
            ListingGap(failure, containers=frozenset({"C1"})),
            ListingGap(failure, container_prefixes=("box/",)),
        ),
    )
    held = [("a", None), ("b", None), ("docs/x.md", None), ("m1", "C1"), ("m2", "box/inbox")]
    assert all(listing.may_hold(*item) for item in held)
    missing = [("c", None), ("docsx.md", None), ("m3", "C2"), ("m4", "box"), ("m5", None)]
    assert not any(listing.may_hold(*item) for item in missing)
    unbounded = SourceListing(frozenset(), gaps=(ListingGap(failure),))
    assert unbounded.may_hold("anything", None)
    with pytest.raises(IncompleteListing, match="x: denied"):
        unbounded.complete_ids()


def test_a_connector_that_cannot_list_ids_says_so() -> None:
    with pytest.raises(NotImplementedError):
        list(_TwoBatches().list_external_ids())
    with pytest.raises(NotImplementedError):
        _TwoBatches().list_source()


def test_file_connectors_list_every_id_a_full_fetch_yields(tmp_path: Path) -> None:
    write_upload(tmp_path / "uploads", "1-upload")
    connectors: list[Connector] = [
        DocumentsConnector(config={"path": str(FIXTURES / "documents")}, credentials={}),
        EmailFilesConnector(config={"path": str(FIXTURES / "email")}, credentials={}),
        UploadsConnector(config={"path": str(tmp_path / "uploads")}, credentials={}),
    ]
    for connector in connectors:
        fetched = {
            doc.external_id for batch in connector.fetch(cursor=None) for doc in batch.documents
        }
        assert fetched
        assert fetched <= connector.list_source().external_ids
