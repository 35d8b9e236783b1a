"""Tests every connector passes, in the spirit of Django's `SessionTestsMixin`.

A test class inherits `ConnectorContract` and overrides `make_connector` to return a connector
reading a small source that has documents:

    class TestSlackExportContract(ConnectorContract):
        def make_connector(self) -> Connector:
            return SlackExportConnector(config={"path": ...}, credentials={})
"""

from __future__ import annotations

from connectors.base import Connector, SourceBatch, SourceDocument


class ConnectorContract:
    """Mixin of contract tests; `make_connector` must return a fresh connector each call."""

    def make_connector(self) -> Connector:
        raise NotImplementedError

    def fetch_all(self, cursor: str | None = None) -> list[SourceBatch]:
        return list(self.make_connector().fetch(cursor=cursor))

    def documents(self, batches: list[SourceBatch]) -> list[SourceDocument]:
        return [document for batch in batches for document in batch.documents]

    def test_fetch_yields_at_least_one_batch(self) -> None:
        batches = self.fetch_all()
        assert batches, "fetch must yield a batch, if only to carry the cursor"
        assert self.documents(batches), "the contract needs a source with documents"

    def test_timestamps_are_aware(self) -> None:
        for document in self.documents(self.fetch_all()):
            assert document.created_at.utcoffset() is not None, document.external_id
            assert document.updated_at.utcoffset() is not None, document.external_id

    def test_resuming_from_last_cursor_yields_no_documents(self) -> None:
        *_, last = self.fetch_all()
        assert not self.documents(self.fetch_all(cursor=last.cursor))

    def test_external_ids_are_stable_across_fetches(self) -> None:
        first = [document.external_id for document in self.documents(self.fetch_all())]
        second = [document.external_id for document in self.documents(self.fetch_all())]
        assert first
        assert sorted(first) == sorted(second)

    def test_external_ids_are_unique_within_a_fetch(self) -> None:
        ids = [document.external_id for document in self.documents(self.fetch_all())]
        assert len(ids) == len(set(ids))

    def test_list_external_ids_covers_fetched_ids(self) -> None:
        fetched = {document.external_id for document in self.documents(self.fetch_all())}
        assert fetched <= set(self.make_connector().list_external_ids())

    def test_list_source_covers_fetched_ids_and_reports_no_gap_for_a_readable_source(
        self,
    ) -> None:
        fetched = {document.external_id for document in self.documents(self.fetch_all())}
        listing = self.make_connector().list_source()
        assert fetched <= listing.external_ids
        assert not listing.gaps
