"""Operating sources: encrypted credentials, pause/resume, re-run, delete, stuck runs."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from connectors.actions import (
    SyncAlreadyRunning,
    create_source,
    delete_source,
    run_sync,
    source_for_path,
)
from connectors.errors import ConnectorConfigError
from connectors.models import STUCK_AFTER, QuarantinedFile, Source, SyncRun
from connectors.tasks import sync_due_sources
from knowledge.models import Audience, Chunk, Container, Item
from knowledge.search import search_items
from knowledge.visibility import Reader

pytestmark = pytest.mark.django_db


def write_mail(folder: Path, subjects: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n, subject in enumerate(subjects):
        message = EmailMessage()
        message["From"] = "Ann Lee <ann@acme.test>"
        message["To"] = "bob@acme.test"
        message["Subject"] = subject
        message["Message-ID"] = f"<{folder.name}-{n}@acme.test>"
        message["Date"] = "Tue, 04 Mar 2025 10:00:00 +0000"
        message.set_content(f"{subject}: drain the node before patching the kernel.")
        (folder / f"{n}.eml").write_bytes(bytes(message))
    return folder


@pytest.fixture
def admin_client() -> Client:
    user = get_user_model().objects.create_user("ops", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def synced(tmp_path: Path, django_capture_on_commit_callbacks) -> Source:  # type: ignore[no-untyped-def]
    mail = write_mail(tmp_path / "mail", ["Kernel patching", "Node drains"])
    (mail / "broken.eml").write_bytes(b"")  # quarantined: an empty file
    source = source_for_path(mail, kind="email", name="ops mail")
    with django_capture_on_commit_callbacks(execute=True):  # the quarantine copy is made
        run_sync(source=source)
    return source


def test_credentials_are_encrypted_at_rest(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = create_source(
        name="mail",
        kind="email",
        config={"path": str(write_mail(tmp_path / "m", ["x"]))},
        credentials={"password": "hunter2-very-secret"},
    )
    stored = Source.objects.values_list("encrypted_credentials", flat=True).get(pk=source.pk)
    assert "hunter2" not in stored
    assert Source.objects.get(pk=source.pk).credentials == {"password": "hunter2-very-secret"}
    settings.SECRET_KEY = "another key entirely"
    with pytest.raises(ConnectorConfigError, match="enter them again"):
        _ = Source.objects.get(pk=source.pk).credentials


def test_paused_source_is_not_synced_until_resumed(admin_client: Client, synced: Source) -> None:
    runs = synced.runs.count()
    admin_client.post(f"/sources/{synced.pk}/pause/", {"paused": "1"})
    synced.refresh_from_db()
    assert synced.status == Source.Status.PAUSED
    page = admin_client.post(f"/sources/{synced.pk}/sync/", follow=True)
    assert b"is paused" in page.content
    assert synced.runs.count() == runs
    admin_client.post(f"/sources/{synced.pk}/pause/", {"paused": "0"})
    # No broker configured: the requested sync runs in-process.
    page = admin_client.post(f"/sources/{synced.pk}/sync/", follow=True)
    assert b"Sync of ops mail requested" in page.content
    latest = synced.runs.order_by("-id").first()
    assert synced.runs.count() == runs + 1
    assert latest is not None
    assert latest.status == SyncRun.Status.SUCCEEDED


def test_source_page_shows_runs_and_quarantine(admin_client: Client, synced: Source) -> None:
    page = admin_client.get(f"/sources/{synced.pk}/")
    assert page.status_code == 200
    assert b"broken.eml" in page.content
    error_type = synced.quarantine.get().error_type
    assert error_type.encode() in page.content
    assert b"Succeeded" in page.content


def test_only_staff_operate_sources(synced: Source) -> None:
    user = get_user_model().objects.create_user("reader", password="pw")
    client = Client()
    client.force_login(user)
    for url in ("/sources/", f"/sources/{synced.pk}/", f"/sources/{synced.pk}/delete/"):
        assert client.get(url).status_code == 302  # to the admin login
    client.post(f"/sources/{synced.pk}/delete/")
    assert Source.objects.filter(pk=synced.pk).exists()


def test_deleting_a_source_removes_everything_captured_from_it(
    admin_client: Client,
    synced: Source,
    tmp_path: Path,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    other = source_for_path(write_mail(tmp_path / "other", ["Billing keys"]), kind="email")
    run_sync(source=other)
    copies = [Path(q.stored_path) for q in synced.quarantine.exclude(stored_path="")]
    assert copies
    assert all(copy.exists() for copy in copies)
    confirm = admin_client.get(f"/sources/{synced.pk}/delete/")
    assert b"2 items" in confirm.content
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/sources/{synced.pk}/delete/")
    assert not Source.objects.filter(pk=synced.pk).exists()
    assert not Item.objects.filter(source_id=synced.pk).exists()
    assert not Chunk.objects.filter(item__source_id=synced.pk).exists()
    assert not Container.objects.filter(source_id=synced.pk).exists()
    assert not QuarantinedFile.objects.filter(source_id=synced.pk).exists()
    assert not SyncRun.objects.filter(source_id=synced.pk).exists()
    assert not any(copy.exists() for copy in copies)
    assert not Audience.objects.filter(items__isnull=True, chunks__isnull=True).exists()
    hits = search_items(reader=Reader.operator(), query="kernel")
    assert [hit.item.title for hit in hits] == ["Billing keys"]


def test_a_live_run_blocks_a_second_one_and_a_dead_one_does_not(synced: Source) -> None:
    now = timezone.now()
    live = SyncRun.objects.create(
        source=synced, status=SyncRun.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    with pytest.raises(SyncAlreadyRunning):
        run_sync(source=synced)
    with pytest.raises(ConnectorConfigError, match="is syncing"):
        delete_source(source=synced)
    SyncRun.objects.filter(pk=live.pk).update(heartbeat_at=now - STUCK_AFTER - timedelta(1))
    assert run_sync(source=synced).status == SyncRun.Status.SUCCEEDED
    live.refresh_from_db()
    assert live.status == SyncRun.Status.FAILED
    assert "heartbeats" in live.error


def test_scheduler_resumes_stuck_runs_and_queues_due_sources(
    synced: Source, tmp_path: Path
) -> None:
    long_ago = timezone.now() - STUCK_AFTER - timedelta(minutes=1)
    stuck = SyncRun.objects.create(
        source=synced, status=SyncRun.Status.RUNNING, started_at=long_ago, heartbeat_at=long_ago
    )
    due = source_for_path(write_mail(tmp_path / "due", ["Due"]), kind="email")
    Source.objects.filter(pk=due.pk).update(sync_every=timedelta(hours=1))
    fresh = source_for_path(write_mail(tmp_path / "fresh", ["Fresh"]), kind="email")
    Source.objects.filter(pk=fresh.pk).update(
        sync_every=timedelta(hours=1), last_synced_at=timezone.now()
    )
    queued = sync_due_sources()
    assert queued == sorted([synced.pk, due.pk])
    stuck.refresh_from_db()
    assert stuck.status == SyncRun.Status.FAILED
    # Without a broker the queued syncs ran in-process; the resumed one duplicated nothing.
    assert Item.objects.filter(source=synced).count() == 2
    assert Item.objects.filter(source=due).count() == 1
    assert not fresh.runs.exists()


def test_a_running_sync_shows_its_progress_and_keeps_polling(
    admin_client: Client, synced: Source
) -> None:
    now = timezone.now()
    SyncRun.objects.create(
        source=synced,
        status=SyncRun.Status.RUNNING,
        started_at=now - timedelta(seconds=10),
        heartbeat_at=now,
        items_created=500,
        current_container="general",
    )
    partial = admin_client.get(f"/sources/{synced.pk}/", HTTP_HX_REQUEST="true")
    text = partial.content.decode()
    assert "Syncing: 500 items stored (50/s)" in text
    assert "<code>general</code>" in text
    assert 'hx-trigger="every 2s"' in text
    assert "<h1>" not in text  # only the runs table is swapped
    SyncRun.objects.filter(source=synced, status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.SUCCEEDED, finished_at=now
    )
    done = admin_client.get(f"/sources/{synced.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in done  # polling stops once the run has ended
