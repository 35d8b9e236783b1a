"""Each hostile file, next to a good one, through the real connector (docs/SECURITY.md 4-7).

For every case: no exception escapes, it ends within a hard deadline, its file ends exactly
as the corpus says (stored, or rejected with that typed error), the good file next to it is
still stored, nothing is written anywhere, and nothing is fetched from the network.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.base import SourceBatch
from connectors.documents.connector import DocumentsConnector
from connectors.email.connector import EmailFilesConnector
from connectors.slack.export import SlackExportConnector
from tests.connectors.hostile import corpus
from tests.connectors.hostile.corpus import INGESTED, Case
from tests.connectors.hostile.harness import (
    Canary,
    assert_storable,
    bounded,
    documents_of,
    evil_files,
    failures_of,
    snapshot,
)

_NO_URL = "http://127.0.0.1:9"
DOCUMENT_NAMES = [case.name for case in corpus.document_cases(_NO_URL)]
EMAIL_NAMES = [case.name for case in corpus.email_cases()]
SLACK_NAMES = [case.name for case in corpus.slack_cases()]
GOOD_MAIL_ID = "good@example.com"
SANDBOX_LIMIT = r"took longer than|s of CPU|MB of memory|was killed"


def _case(cases: list[Case], name: str) -> Case:
    (case,) = [case for case in cases if case.name == name]
    return case


def _fetch_untouched(connector_path: Path, tmp_path: Path, fetch: type) -> list[SourceBatch]:
    """Fetch everything under a deadline; assert nothing under tmp_path changed."""
    before = snapshot(tmp_path)
    connector = fetch(config={"path": str(connector_path)}, credentials={})
    batches: list[SourceBatch] = bounded(lambda: list(connector.fetch(cursor=None)))
    assert snapshot(tmp_path) == before, "the connector wrote or changed files"
    assert not evil_files(tmp_path)
    return batches


def _observed(documents: int, errors: list[str]) -> frozenset[str]:
    return frozenset(([INGESTED] if documents else []) + errors)


def _assert_sandbox_ended(case: Case, batches: list[SourceBatch]) -> None:
    """A case built to outrun every parser check ends on the sandbox's time or memory."""
    if case.sandbox_limit:
        messages = [failure.message for failure in failures_of(batches)]
        assert any(re.search(SANDBOX_LIMIT, message) for message in messages), messages


def _describe(case: Case, batches: list[SourceBatch]) -> str:
    failures = [f"{f.error_type}: {f.message[:120]}" for f in failures_of(batches)]
    return f"{case.name} ({case.why}): {failures}"


@pytest.mark.parametrize("name", DOCUMENT_NAMES)
def test_hostile_document_ends_as_expected(name: str, tmp_path: Path, canary: Canary) -> None:
    case = _case(corpus.document_cases(canary.url), name)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_bytes(corpus.GOOD_TEXT)
    case.write(folder / case.name)

    batches = _fetch_untouched(folder, tmp_path, DocumentsConnector)

    documents = documents_of(batches)
    assert "good.txt" in {document.external_id for document in documents}
    from_case = [document for document in documents if document.external_id != "good.txt"]
    errors = [failure.error_type for failure in failures_of(batches)]
    assert _observed(len(from_case), errors) == case.expected, _describe(case, batches)
    assert len(errors) == len(case.expected - {INGESTED})  # one failure per file
    _assert_sandbox_ended(case, batches)
    for document in documents:
        assert_storable(document)
    if case.check is not None:
        case.check(list(from_case))


@pytest.mark.parametrize("name", EMAIL_NAMES)
def test_hostile_mail_ends_as_expected(name: str, tmp_path: Path) -> None:
    case = _case(corpus.email_cases(), name)
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "good.eml").write_bytes(corpus.GOOD_MAIL)
    case.write(folder / case.name)

    batches = _fetch_untouched(folder, tmp_path, EmailFilesConnector)

    documents = documents_of(batches)
    assert GOOD_MAIL_ID in {document.external_id for document in documents}
    from_case = [document for document in documents if document.external_id != GOOD_MAIL_ID]
    failures = failures_of(batches)
    assert all(case.name in failure.path for failure in failures)
    errors = [failure.error_type for failure in failures]
    assert _observed(len(from_case), errors) == case.expected, _describe(case, batches)
    _assert_sandbox_ended(case, batches)
    for document in documents:
        assert_storable(document)
    if case.check is not None:
        case.check(list(from_case))


@pytest.mark.parametrize("name", SLACK_NAMES)
def test_hostile_slack_export_ends_as_expected(name: str, tmp_path: Path) -> None:
    case = _case(corpus.slack_cases(), name)
    path = tmp_path / case.name
    case.write(path)

    batches = _fetch_untouched(path, tmp_path, SlackExportConnector)

    documents = documents_of(batches)
    errors = [failure.error_type for failure in failures_of(batches)]
    assert _observed(len(documents), errors) == case.expected, _describe(case, batches)
    assert batches
    assert batches[-1].cursor
    for document in documents:
        assert_storable(document)
    if INGESTED in case.expected:
        # The good day file of the same export is read whatever the bad one does.
        assert "C1/1452837352.000006" in {document.external_id for document in documents}
    else:
        # A rejected archive or metadata file: nothing of it is used.
        assert not documents


def test_the_corpus_is_as_large_as_security_md_asks() -> None:
    cases = [*corpus.document_cases(_NO_URL), *corpus.email_cases(), *corpus.slack_cases()]
    assert len({case.name for case in cases}) == len(cases)
    rejected = [case for case in cases if case.expected - {INGESTED}]
    assert len(cases) >= 60
    assert len(rejected) >= 40
