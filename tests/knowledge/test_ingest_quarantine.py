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
import time
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
from knowledge.models import AuditEvent, Item
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


def test_each_quarantined_file_is_an_audit_event_without_its_content(
    tmp_path: Path, on_commit: OnCommit
) -> None:
    bad = tmp_path / "secret-plans.pdf"
    bad.write_bytes(b"%PDF-1.4 garbage")
    source = f.make_source()
    with on_commit(execute=True):
        ingest_batch(source=source, batch=failing(failure_of(bad), failure_of(bad, member="#2")))
    records = list(QuarantinedFile.objects.order_by("pk"))
    events = list(AuditEvent.objects.filter(action="quarantine.created").order_by("seq"))
    assert [e.target for e in events] == [f"quarantine:{r.pk}" for r in records]
    assert all(e.result == AuditEvent.Result.FAILED for e in events)
    assert events[0].detail["error_type"] == "CorruptFile"
    assert events[0].detail["source"] == source.pk
    assert "secret-plans" not in json.dumps([e.detail for e in events])


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
    assert not AuditEvent.objects.filter(action="quarantine.created").exists()
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


# --- a sync killed between storing a batch and copying its files -----------------------------


def test_copies_a_killed_sync_left_pending_are_made_by_the_next_sync(
    tmp_path: Path, on_commit: OnCommit
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "keys.txt").write_text("Rotate the billing keys every quarter.")
    source = create_source(name="docs", kind="docs", config={"path": str(docs)})
    still_there = tmp_path / "broken.pdf"
    still_there.write_bytes(b"%PDF-1.4 garbage")
    gone = tmp_path / "gone.pdf"
    gone.write_bytes(b"%PDF-1.4 gone since")
    # The batch is stored; the process dies before its on-commit copies run.
    with on_commit(execute=False):
        ingest_batch(source=source, batch=failing(failure_of(still_there), failure_of(gone)))
    assert {q.copy_status for q in QuarantinedFile.objects.all()} == {QuarantinedFile.Copy.PENDING}
    gone.unlink()

    _synced(source, on_commit)

    copied = QuarantinedFile.objects.get(file=str(still_there))
    assert copied.copy_status == QuarantinedFile.Copy.COPIED
    assert digest(Path(copied.stored_path)) == digest(still_there)
    missing = QuarantinedFile.objects.get(file=str(gone))
    assert (missing.copy_status, missing.stored_path) == (QuarantinedFile.Copy.UNREADABLE, "")
    assert "gone" in missing.copy_detail
    assert not QuarantinedFile.objects.filter(copy_status=QuarantinedFile.Copy.PENDING).exists()


def test_partial_copies_older_than_an_hour_are_deleted_by_the_next_sync(
    tmp_path: Path, on_commit: OnCommit
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "keys.txt").write_text("Rotate the billing keys every quarter.")
    source = create_source(name="docs", kind="docs", config={"path": str(docs)})
    folder = Path(settings.COLLEAGUE_QUARANTINE_DIR) / str(source.pk)
    folder.mkdir(parents=True, exist_ok=True)
    stale = folder / ".partial-k1ll3d"
    stale.write_bytes(b"half a copy")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(stale, (two_hours_ago, two_hours_ago))
    fresh = folder / ".partial-wr1t1ng"  # another process may be writing it right now
    fresh.write_bytes(b"a copy being written")
    old_copy = folder / "0123456789abcdef-report.pdf"  # a finished copy, however old
    old_copy.write_bytes(b"%PDF")
    os.utime(old_copy, (two_hours_ago, two_hours_ago))
    other = Path(settings.COLLEAGUE_QUARANTINE_DIR) / str(source.pk + 1)
    other.mkdir(parents=True, exist_ok=True)
    elsewhere = other / ".partial-0th3r"  # another source's folder is left to its own syncs
    elsewhere.write_bytes(b"half")
    os.utime(elsewhere, (two_hours_ago, two_hours_ago))

    _synced(source, on_commit)

    assert not stale.exists()
    assert fresh.exists()
    assert old_copy.exists()
    assert elsewhere.exists()


def test_an_archive_named_by_failures_in_several_batches_is_copied_once_per_run(
    tmp_path: Path, on_commit: OnCommit
) -> None:
    export = tmp_path / "export.zip"
    users = [{"id": "U1", "team_id": "T1", "name": "ada"}]
    channels = [
        {"id": "C1", "name": "general", "members": ["U1"]},
        {"id": "C2", "name": "random", "members": ["U1"]},
    ]
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("users.json", json.dumps(users))
        archive.writestr("channels.json", json.dumps(channels))
        for number, channel in enumerate(("general", "random")):
            day = [{"user": "U1", "text": f"hello {channel}", "ts": f"145283735{number}.000001"}]
            archive.writestr(f"{channel}/2016-01-15.json", json.dumps(day))
            archive.writestr(f"{channel}/2016-01-16.json", b"[not json")
    source = create_source(name="slack", kind="slack-export", config={"path": str(export)})
    with on_commit(execute=False) as callbacks:
        run = run_sync(source=source)
    # One batch per conversation: each names the archive, and each copies once committed.
    first_copy: os.stat_result | None = None
    for callback in callbacks:
        callback()
        stored = QuarantinedFile.objects.exclude(stored_path="").first()
        if first_copy is None and stored is not None:
            first_copy = os.stat(stored.stored_path)
    records = list(QuarantinedFile.objects.filter(run=run).order_by("id"))
    assert [r.member for r in records] == ["general/2016-01-16.json", "random/2016-01-16.json"]
    assert {r.copy_status for r in records} == {QuarantinedFile.Copy.COPIED}
    assert len({r.stored_path for r in records}) == 1
    assert first_copy is not None
    again = os.stat(records[0].stored_path)
    assert (again.st_ino, again.st_mtime_ns) == (first_copy.st_ino, first_copy.st_mtime_ns)
    assert len(quarantine_files()) == 1
