"""Quarantined files: what is recorded, what is copied, and when.

A failure names the file on disk holding what failed (a ZIP for one of its members, an mbox
for one of its messages). The copy is made once the batch is stored, opened without following
a link and without blocking, bounded, written under a temporary name and renamed into place:
never a half-written copy, never one for a batch that was rolled back. The record says what
was copied, or why not.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction

from connectors.actions import create_source, run_sync
from connectors.base import SourceBatch, SourceFailure
from connectors.models import QuarantinedFile, Source, SyncRun
from knowledge.actions import MAX_QUARANTINE_COPY_BYTES, ingest_batch
from knowledge.models import Item
from tests import factories as f
from tests.connectors.hostile import corpus
from tests.connectors.hostile.harness import deadline

pytestmark = pytest.mark.django_db

OnCommit = Callable[..., AbstractContextManager[list[Callable[[], object]]]]


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks: OnCommit) -> OnCommit:
    return django_capture_on_commit_callbacks


def quarantine_files() -> set[Path]:
    folder = Path(settings.COLLEAGUE_QUARANTINE_DIR)
    return {path for path in folder.rglob("*") if path.is_file()} if folder.exists() else set()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def failing(*failures: SourceFailure) -> SourceBatch:
    return SourceBatch(cursor="c", failures=failures)


def failure_of(path: Path, *, member: str = "") -> SourceFailure:
    return SourceFailure(
        path=f"{path}{member}",
        error_type="CorruptFile",
        message="damaged",
        file=str(path),
        member=member,
    )


def test_the_copy_is_made_only_once_the_batch_is_stored(
    tmp_path: Path, on_commit: OnCommit
) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 garbage")
    source = f.make_source()
    with on_commit(execute=False) as callbacks:
        ingest_batch(source=source, batch=failing(failure_of(bad)))
        record = QuarantinedFile.objects.get()
        assert record.copy_status == QuarantinedFile.Copy.PENDING
        assert not record.stored_path
        assert not quarantine_files()
    for callback in callbacks:
        callback()
    record.refresh_from_db()
    assert record.copy_status == QuarantinedFile.Copy.COPIED
    assert (record.file, record.member) == (str(bad), "")
    assert quarantine_files() == {Path(record.stored_path)}
    assert Path(record.stored_path).read_bytes() == bad.read_bytes()
    assert str(bad.stat().st_size) in record.copy_detail


def test_a_rolled_back_batch_leaves_no_copy_and_no_record(
    tmp_path: Path, on_commit: OnCommit
) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 garbage")
    source = f.make_source()

    def store_then_fail() -> None:
        with transaction.atomic():
            ingest_batch(source=source, batch=failing(failure_of(bad)))
            raise RuntimeError("the database went away before the commit")

    with on_commit(execute=True), pytest.raises(RuntimeError):
        store_then_fail()
    assert not QuarantinedFile.objects.exists()
    assert not quarantine_files()


def test_a_file_several_failures_name_is_copied_once(tmp_path: Path, on_commit: OnCommit) -> None:
    mbox = tmp_path / "archive.mbox"
    mbox.write_bytes(b"From a@example.com Tue Mar  5 10:00:00 2024\n\ngarbage\n")
    source = f.make_source()
    with on_commit(execute=True):
        ingest_batch(
            source=source,
            batch=failing(*(failure_of(mbox, member=f"#{n}") for n in (1, 2, 3))),
        )
    records = list(QuarantinedFile.objects.order_by("id"))
    assert [r.member for r in records] == ["#1", "#2", "#3"]
    assert {r.copy_status for r in records} == {QuarantinedFile.Copy.COPIED}
    assert len({r.stored_path for r in records}) == 1
    assert quarantine_files() == {Path(records[0].stored_path)}


def test_a_symbolic_link_is_recorded_never_followed(tmp_path: Path, on_commit: OnCommit) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the payroll password")
    link = tmp_path / "notes.txt"
    link.symlink_to(secret)
    source = f.make_source()
    with on_commit(execute=True):
        ingest_batch(source=source, batch=failing(failure_of(link)))
    record = QuarantinedFile.objects.get()
    assert record.copy_status == QuarantinedFile.Copy.SYMLINK
    assert not record.stored_path
    assert not quarantine_files()


def test_a_fifo_is_recorded_not_copied_and_never_blocks(
    tmp_path: Path, on_commit: OnCommit
) -> None:
    fifo = tmp_path / "message.eml"
    os.mkfifo(fifo)
    source = f.make_source()
    with deadline(10), on_commit(execute=True):
        ingest_batch(source=source, batch=failing(failure_of(fifo)))
    record = QuarantinedFile.objects.get()
    assert record.copy_status == QuarantinedFile.Copy.NOT_REGULAR
    assert "FIFO" in record.copy_detail
    assert not quarantine_files()


def test_a_file_over_the_copy_cap_is_recorded_not_copied(
    tmp_path: Path, on_commit: OnCommit
) -> None:
    big = tmp_path / "huge.txt"
    with big.open("wb") as handle:
        handle.truncate(MAX_QUARANTINE_COPY_BYTES + 1)  # sparse: nothing is written
    source = f.make_source()
    with on_commit(execute=True):
        ingest_batch(source=source, batch=failing(failure_of(big)))
    record = QuarantinedFile.objects.get()
    assert record.copy_status == QuarantinedFile.Copy.TOO_LARGE
    assert str(MAX_QUARANTINE_COPY_BYTES + 1) in record.copy_detail
    assert not quarantine_files()


def test_a_failure_without_a_file_copies_nothing_not_even_a_namesake(
    tmp_path: Path, on_commit: OnCommit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A relative name is no file: "export.zip" in the working folder is somebody else's.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "export.zip").write_bytes(b"another export")
    source = f.make_source()
    failure = SourceFailure(
        path="export.zip", error_type="CorruptFile", message="\x00 damaged \ud800"
    )
    with on_commit(execute=True):
        ingest_batch(source=source, batch=failing(failure))
    record = QuarantinedFile.objects.get()
    assert record.copy_status == QuarantinedFile.Copy.NO_FILE
    assert "\x00" not in record.message
    assert not quarantine_files()


def _synced(source: Source, on_commit: OnCommit) -> SyncRun:
    with deadline(60), on_commit(execute=True):
        run = run_sync(source=source)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def test_a_bad_member_of_a_slack_export_quarantines_a_copy_of_the_archive(
    tmp_path: Path, on_commit: OnCommit
) -> None:
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w") as archive:
        for name, data in corpus.GOOD_MEMBERS:
            archive.writestr(name, data)
        archive.writestr(corpus.BAD_DAY, b"[not json")
    source = create_source(name="slack", kind="slack-export", config={"path": str(export)})

    run = _synced(source, on_commit)

    record = QuarantinedFile.objects.get(run=run)
    assert record.path == f"export.zip:{corpus.BAD_DAY}"
    assert (record.file, record.member) == (str(export), corpus.BAD_DAY)
    assert record.copy_status == QuarantinedFile.Copy.COPIED
    assert digest(Path(record.stored_path)) == digest(export)
    assert Item.objects.filter(source=source).exists()  # the good day file is stored


def test_a_bad_message_of_an_mbox_quarantines_a_copy_of_the_mbox(
    tmp_path: Path, on_commit: OnCommit
) -> None:
    mbox = tmp_path / "mail" / "archive.mbox"
    mbox.parent.mkdir()
    mbox.write_bytes(
        b"From ada@example.com Tue Mar  5 10:00:00 2024\n"
        + corpus.GOOD_MAIL.replace(b"\r\n", b"\n")
        + b"\nFrom eve@example.com Tue Mar  5 11:00:00 2024\n"
        + b"no header at all, just words\n"
    )
    source = create_source(name="mail", kind="email", config={"path": str(mbox.parent)})

    run = _synced(source, on_commit)

    record = QuarantinedFile.objects.get(run=run)
    assert record.path == f"{mbox}#2"
    assert (record.file, record.member) == (str(mbox), "#2")
    assert record.copy_status == QuarantinedFile.Copy.COPIED
    assert digest(Path(record.stored_path)) == digest(mbox)
    assert Item.objects.filter(source=source).count() == 1


def test_the_ingest_json_keeps_its_shape(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text("Rotate the billing keys every quarter.")
    (folder / "empty.txt").write_bytes(b"")
    out = io.StringIO()
    call_command("ingest", str(folder), "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["quarantined"] == [
        {"path": str(folder / "empty.txt"), "error": "EmptyDocument: the file is empty (0 bytes)"}
    ]
