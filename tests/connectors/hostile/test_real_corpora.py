"""Real damaged files (qpdf's malformed PDFs, python-docx's and mammoth's .docx): each one is
stored or quarantined with a typed error, with no crash and within a time bound.

The files are copies from ../shared/corpora kept in tests/fixtures/hostile-real (with their
licences), so the test runs on a clone without ../shared.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from django.conf import settings

from connectors.actions import create_source, run_sync
from connectors.documents.connector import DocumentsConnector
from connectors.models import QuarantinedFile, SyncRun
from knowledge.models import Item
from tests.connectors.hostile.harness import (
    TYPED_ERRORS,
    assert_storable,
    bounded,
    deadline,
    documents_of,
    failures_of,
    snapshot,
)

# Copied from ../shared/corpora into the repository: tests pass on a clone without it.
CORPORA = Path(__file__).resolve().parents[2] / "fixtures" / "hostile-real"
FOLDERS = ("pdf-malformed", "docx")
# Generous: the slowest of these files takes well under a second.
SECONDS_PER_FILE = 5.0


@pytest.fixture
def real_files(tmp_path: Path) -> Path:
    """Copy the real damaged files into a folder of their own."""
    target = tmp_path / "real"
    for name in FOLDERS:
        shutil.copytree(CORPORA / name, target / name)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    count = sum(1 for path in target.rglob("*") if path.is_file())
    assert count >= 80, f"only {count} files copied from {CORPORA}"
    return target


def test_every_real_damaged_file_is_stored_or_rejected_with_a_typed_error(
    real_files: Path,
) -> None:
    files = sorted(path.relative_to(real_files).as_posix() for path in real_files.rglob("*.*"))
    connector = DocumentsConnector(config={"path": str(real_files)}, credentials={})
    started = time.monotonic()
    batches = bounded(
        lambda: list(connector.fetch(cursor=None)), seconds=SECONDS_PER_FILE * len(files)
    )
    elapsed = time.monotonic() - started

    stored = {document.external_id for document in documents_of(batches)}
    failed = {
        Path(failure.path).relative_to(real_files).as_posix(): failure
        for failure in failures_of(batches)
    }
    assert stored | set(failed) == set(files)
    assert not stored & set(failed)
    untyped = {path: f.error_type for path, f in failed.items() if f.error_type not in TYPED_ERRORS}
    assert not untyped, f"crashes, not typed errors: {untyped}"
    for document in documents_of(batches):
        assert_storable(document)
    # Not everything rejected: most are readable (many python-docx fixtures hold no text, and
    # are EmptyDocument, rightly).
    assert len([name for name in stored if name.startswith("docx/")]) >= 30
    assert len([name for name in stored if name.startswith("pdf-malformed/")]) >= 10
    assert elapsed < 2.0 * len(files)


@pytest.mark.django_db
def test_a_sync_of_the_real_damaged_files_quarantines_the_rest(
    real_files: Path,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    source = create_source(name="real", kind="docs", config={"path": str(real_files)})
    quarantine = Path(settings.COLLEAGUE_QUARANTINE_DIR)
    before = snapshot(real_files.parent, skip=[quarantine])
    # Quarantine copies are made once each batch is stored.
    with deadline(120), django_capture_on_commit_callbacks(execute=True):
        run = run_sync(source=source)
    assert snapshot(real_files.parent, skip=[quarantine]) == before
    assert run.status == SyncRun.Status.SUCCEEDED
    files = {path.relative_to(real_files).as_posix() for path in real_files.rglob("*.*")}
    quarantined = QuarantinedFile.objects.filter(run=run)
    stored = set(Item.objects.filter(source=source).values_list("external_id", flat=True))
    rejected = {Path(q.path).relative_to(real_files).as_posix() for q in quarantined}
    assert stored | rejected == files
    assert not stored & rejected
    assert set(quarantined.values_list("error_type", flat=True)) <= TYPED_ERRORS
    for record in quarantined:
        assert record.copy_status == QuarantinedFile.Copy.COPIED
        assert Path(record.stored_path).read_bytes() == Path(record.file).read_bytes()
