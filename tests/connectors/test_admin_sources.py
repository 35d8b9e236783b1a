"""The administrator's sources pages: add a source, watch its runs, retry or dismiss a
quarantined file (connectors/views.py, connectors/forms.py SourceForm, connectors/actions.py)."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from connectors.actions import run_sync
from connectors.models import QuarantinedFile, Source, SyncRun
from knowledge.models import AuditEvent, Item

pytestmark = pytest.mark.django_db

FIXTURES = Path(settings.BASE_DIR) / "tests" / "fixtures" / "documents"
GOOD_DOCX = FIXTURES / "docx" / "blk-paras-and-tables.docx"
EMPTY_DOCX = FIXTURES / "docx" / "mammoth-empty.docx"
SECRET = "hunter2-correct-horse-battery"


@pytest.fixture
def ops() -> object:
    return get_user_model().objects.create_user("ops", password="pw", is_staff=True)


@pytest.fixture
def admin_client(ops: object) -> Client:
    client = Client()
    client.force_login(ops)  # type: ignore[arg-type]
    return client


@pytest.fixture
def employee_client() -> Client:
    user = get_user_model().objects.create_user("eve", password="pw")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two good documents and a DOCX that is not a ZIP."""
    root = tmp_path / "handover"
    root.mkdir()
    (root / "runbook.md").write_text("# Runbook\n\nDrain the node before patching the kernel.\n")
    (root / "notes.txt").write_text("Rotate the billing keys every quarter.\n")
    (root / "design.docx").write_bytes(b"this is not a zip archive")
    return root


def add_docs_source(client: Client, folder: Path, name: str = "Handover") -> Source:
    response = client.post(
        "/sources/add/docs/",
        {"name": name, "config_path": str(folder), "config_audience": "public"},
    )
    assert response.status_code == 302, response.content.decode()
    return Source.objects.get(name=name)


@pytest.fixture
def synced(
    admin_client: Client,
    folder: Path,
    django_capture_on_commit_callbacks,
) -> Source:
    source = add_docs_source(admin_client, folder)
    with django_capture_on_commit_callbacks(execute=True):
        run_sync(source=source)
    return source


def errors_of(response) -> str:
    form = response.context["form"]
    return json.dumps(form.errors)


# --- adding a source ------------------------------------------------------------------------


def test_the_sources_page_links_to_adding_one_of_each_kind_but_uploads(
    admin_client: Client,
) -> None:
    page = admin_client.get("/sources/").content.decode()
    assert 'href="/sources/add/"' in page
    kinds = admin_client.get("/sources/add/").content.decode()
    for kind in ("docs", "email", "imap", "slack", "slack-export"):
        assert f'href="/sources/add/{kind}/"' in kinds
    assert "/sources/add/upload/" not in kinds
    assert admin_client.get("/sources/add/upload/").status_code == 404
    assert admin_client.get("/sources/add/nonsense/").status_code == 404


def test_each_kind_asks_for_what_its_connector_declares(admin_client: Client) -> None:
    imap = admin_client.get("/sources/add/imap/").content.decode()
    for field in ("config_host", "config_username", "config_folders", "config_port"):
        assert f'name="{field}"' in imap
    assert 'type="password" name="credential_password"' in imap
    slack = admin_client.get("/sources/add/slack/").content.decode()
    assert 'type="password" name="credential_token"' in slack
    docs = admin_client.get("/sources/add/docs/").content.decode()
    assert 'name="config_path"' in docs
    assert "credential_" not in docs


def test_adding_a_documents_source_creates_it_and_audits_who(
    admin_client: Client, ops: object, folder: Path
) -> None:
    response = admin_client.post(
        "/sources/add/docs/",
        {
            "name": "Handover",
            "config_path": str(folder),
            "config_audience": "public",
            "sync_every": "1 00:00:00",
        },
    )
    source = Source.objects.get(name="Handover")
    assert response["Location"] == f"/sources/{source.pk}/"
    assert source.kind == "docs"
    assert source.config == {"path": str(folder), "audience": "public"}
    assert source.sync_every is not None
    assert source.sync_every.days == 1
    event = AuditEvent.objects.get(action="source.created")
    assert event.target == f"source:{source.pk}"
    assert event.actor_id == ops.pk  # type: ignore[attr-defined]
    assert event.detail["kind"] == "docs"


def test_an_unknown_path_is_refused_on_the_path_field(admin_client: Client, tmp_path: Path) -> None:
    response = admin_client.post(
        "/sources/add/docs/", {"name": "Gone", "config_path": str(tmp_path / "nowhere")}
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "config_path" in errors
    assert "cannot be read" in errors["config_path"][0]
    assert not Source.objects.filter(name="Gone").exists()
    assert 'role="alert"' in response.content.decode()


def test_a_duplicate_name_is_refused_on_the_name_field(admin_client: Client, folder: Path) -> None:
    add_docs_source(admin_client, folder)
    response = admin_client.post("/sources/add/docs/", {"name": "Handover", "config_path": "/"})
    assert response.status_code == 400
    assert "Another source already has this name." in response.context["form"].errors["name"]
    assert Source.objects.filter(name="Handover").count() == 1


def test_a_missing_secret_is_refused(admin_client: Client) -> None:
    response = admin_client.post(
        "/sources/add/imap/",
        {"name": "Ops box", "config_host": "mail.example.com", "config_username": "ops"},
    )
    assert response.status_code == 400
    assert "credential_password" in response.context["form"].errors
    assert not Source.objects.exists()


def test_a_value_the_connector_refuses_names_its_field(admin_client: Client) -> None:
    response = admin_client.post(
        "/sources/add/slack/", {"name": "Acme", "credential_token": "xoxp-a-user-token"}
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "is not a Slack bot token" in errors["credential_token"][0]
    assert not Source.objects.exists()


def test_secrets_are_never_shown_nor_stored_in_clear(admin_client: Client) -> None:
    # Refused (a bad port): the form comes back without the password.
    refused = admin_client.post(
        "/sources/add/imap/",
        {
            "name": "Ops box",
            "config_host": "mail.example.com",
            "config_username": "ops",
            "config_port": "70000",
            "credential_password": SECRET,
        },
    )
    assert refused.status_code == 400, errors_of(refused)
    assert "port" in errors_of(refused)
    assert SECRET not in refused.content.decode()
    # Django's error reports leave every posted value of this page out.
    assert refused.wsgi_request.sensitive_post_parameters == "__ALL__"  # type: ignore[attr-defined]
    # Accepted: stored encrypted, the source page names the key only.
    added = admin_client.post(
        "/sources/add/imap/",
        {
            "name": "Ops box",
            "config_host": "mail.example.com",
            "config_username": "ops",
            "config_folders": "INBOX\nArchive",
            "config_security": "starttls",
            "credential_password": SECRET,
        },
        follow=True,
    )
    assert added.status_code == 200
    page = added.content.decode()
    assert SECRET not in page
    assert "<code>password</code>" in page
    row = Source.objects.values("config", "encrypted_credentials").get(name="Ops box")
    assert SECRET not in json.dumps(row["config"])
    assert SECRET not in row["encrypted_credentials"]
    assert row["config"]["folders"] == ["INBOX", "Archive"]
    assert Source.objects.get(name="Ops box").credentials == {"password": SECRET}
    assert SECRET not in json.dumps(list(AuditEvent.objects.values_list("detail", flat=True)))


def test_the_command_and_the_page_refuse_alike(admin_client: Client, folder: Path) -> None:
    add_docs_source(admin_client, folder)
    with pytest.raises(CommandError, match="already exists"):
        call_command(
            "add_source",
            "Handover",
            "--kind",
            "docs",
            "--config",
            json.dumps({"path": str(folder)}),
            stdout=StringIO(),
        )
    call_command(
        "add_source",
        "From the console",
        "--kind",
        "docs",
        "--config",
        json.dumps({"path": str(folder)}),
        stdout=StringIO(),
    )
    event = AuditEvent.objects.filter(action="source.created").latest("seq")
    assert event.actor_id is None  # the console operator


# --- watching the sync ----------------------------------------------------------------------


def test_the_runs_fragment_polls_while_running_and_stops_when_done(
    admin_client: Client, synced: Source
) -> None:
    run = synced.runs.get()
    done = admin_client.get(f"/sources/{synced.pk}/", headers={"HX-Request": "true"})
    fragment = done.content.decode()
    assert "hx-get" not in fragment  # finished: no more polling
    assert "<html" not in fragment
    # The quarantined file comes along, swapped out of band.
    assert 'id="quarantine-section" hx-swap-oob="true"' in fragment
    assert "design.docx" in fragment
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.RUNNING, finished_at=None, current_container="reports/2025"
    )
    running = admin_client.get(f"/sources/{synced.pk}/", headers={"HX-Request": "true"})
    text = running.content.decode()
    assert f'hx-get="/sources/{synced.pk}/"' in text
    assert 'hx-trigger="every 2s"' in text
    assert "Syncing: 2 items stored" in text
    assert "reports/2025" in text


def test_the_sources_list_shows_each_sources_health(admin_client: Client, synced: Source) -> None:
    page = admin_client.get("/sources/").content.decode()
    assert '<span class="badge succeeded">Succeeded</span>' in page
    assert f'href="/sources/{synced.pk}/#quarantine">1</a>' in page
    QuarantinedFile.objects.filter(source=synced).update(state=QuarantinedFile.State.DISMISSED)
    page = admin_client.get("/sources/").content.decode()
    assert f'href="/sources/{synced.pk}/#quarantine"' not in page


# --- fixing a quarantined file --------------------------------------------------------------


def test_retry_after_replacing_the_file_stores_it_as_a_sync_would(
    admin_client: Client, ops: object, synced: Source, folder: Path
) -> None:
    record = synced.quarantine.get()
    assert record.error_type == "CorruptFile"
    assert record.state == QuarantinedFile.State.OPEN
    checkpoint = Source.objects.get(pk=synced.pk).checkpoint
    shutil.copyfile(GOOD_DOCX, folder / "design.docx")
    page = admin_client.get(f"/sources/{synced.pk}/").content.decode()
    assert f'action="/sources/{synced.pk}/quarantine/{record.pk}/retry/"' in page

    response = admin_client.post(f"/sources/{synced.pk}/quarantine/{record.pk}/retry/", follow=True)
    page = response.content.decode()
    item = Item.objects.get(source=synced, external_id="design.docx")
    assert f"{record.path} is read and stored: 1 item" in page
    assert f'href="{item.get_absolute_url()}"' in page
    record.refresh_from_db()
    assert record.state == QuarantinedFile.State.RESOLVED
    assert record.resolved_by_id == ops.pk  # type: ignore[attr-defined]
    assert record.stored_item_ids == [item.pk]
    assert item.audience.is_public
    assert item.body.strip()
    # The source's incremental position did not move; a later sync leaves the item as it is.
    assert Source.objects.get(pk=synced.pk).checkpoint == checkpoint
    again = run_sync(source=Source.objects.get(pk=synced.pk))
    assert again.items_created == 0
    assert again.files_quarantined == 0
    assert Item.objects.filter(source=synced, external_id="design.docx").count() == 1
    event = AuditEvent.objects.get(action="quarantine.retried")
    assert event.target == f"quarantine:{record.pk}"
    assert event.result == "ok"
    assert event.detail["items"] == [item.pk]


def test_a_retry_that_fails_again_records_the_new_error(
    admin_client: Client, synced: Source, folder: Path
) -> None:
    record = synced.quarantine.get()
    shutil.copyfile(EMPTY_DOCX, folder / "design.docx")
    response = admin_client.post(f"/sources/{synced.pk}/quarantine/{record.pk}/retry/", follow=True)
    record.refresh_from_db()
    assert record.state == QuarantinedFile.State.OPEN
    assert record.error_type == "EmptyDocument"
    assert record.retries == 1
    assert "still rejected: EmptyDocument" in response.content.decode()
    assert not Item.objects.filter(source=synced, external_id="design.docx").exists()
    assert synced.quarantine.count() == 1  # updated, not a second row
    event = AuditEvent.objects.get(action="quarantine.retried")
    assert event.result == "failed"
    assert event.detail["error_type"] == "EmptyDocument"


def test_dismiss_needs_a_reason_and_keeps_the_row(
    admin_client: Client, ops: object, synced: Source
) -> None:
    record = synced.quarantine.get()
    url = f"/sources/{synced.pk}/quarantine/{record.pk}/dismiss/"
    refused = admin_client.post(url, {"reason": "  "}, follow=True)
    assert f"Say why {record.path} is dismissed." in refused.content.decode()
    record.refresh_from_db()
    assert record.state == QuarantinedFile.State.OPEN
    assert not AuditEvent.objects.filter(action="quarantine.dismissed").exists()

    page = admin_client.post(url, {"reason": "an abandoned draft"}, follow=True).content.decode()
    record.refresh_from_db()
    assert record.state == QuarantinedFile.State.DISMISSED
    assert record.resolution == "an abandoned draft"
    assert record.resolved_by_id == ops.pk  # type: ignore[attr-defined]
    assert "Nothing quarantined." in page
    assert "an abandoned draft" in page
    event = AuditEvent.objects.get(action="quarantine.dismissed")
    assert event.target == f"quarantine:{record.pk}"
    assert event.detail["reason"] == "an abandoned draft"
    # Closed: neither retried nor dismissed again.
    admin_client.post(f"/sources/{synced.pk}/quarantine/{record.pk}/retry/")
    record.refresh_from_db()
    assert record.state == QuarantinedFile.State.DISMISSED
    assert record.retries == 0


def _mail(subject: str, message_id: str) -> bytes:
    return (
        f"From: Ann Lee <ann@acme.test>\nTo: bob@acme.test\nSubject: {subject}\n"
        f"Message-ID: <{message_id}>\nDate: Tue, 04 Mar 2025 10:00:00 +0000\n\n"
        f"{subject}: drain the node before patching the kernel.\n"
    ).encode()


def test_a_record_within_a_file_cannot_be_retried_and_the_page_says_so(
    admin_client: Client, tmp_path: Path, django_capture_on_commit_callbacks
) -> None:
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / "archive.mbox").write_bytes(
        b"From a@x Tue Mar  4 10:00:00 2025\n"
        + _mail("one", "one@acme.test")
        + b"\nFrom b@x Tue Mar  4 10:00:00 2025\nno headers at all\n"
    )
    response = admin_client.post(
        "/sources/add/email/", {"name": "Ops mail", "config_path": str(mail)}
    )
    assert response.status_code == 302
    source = Source.objects.get(name="Ops mail")
    with django_capture_on_commit_callbacks(execute=True):
        run_sync(source=source)
    record = source.quarantine.get()
    assert record.member == "#2"
    page = admin_client.get(f"/sources/{source.pk}/").content.decode()
    assert "Cannot be read again alone (a record within a file" in page
    assert f"/quarantine/{record.pk}/retry/" not in page
    refused = admin_client.post(f"/sources/{source.pk}/quarantine/{record.pk}/retry/", follow=True)
    assert "cannot be read again on its own" in refused.content.decode()
    record.refresh_from_db()
    assert record.state == QuarantinedFile.State.OPEN
    assert record.retries == 0


def test_a_broken_mail_file_is_retried_into_its_mailbox(
    admin_client: Client, tmp_path: Path, django_capture_on_commit_callbacks
) -> None:
    mail = tmp_path / "mail"
    (mail / "ops").mkdir(parents=True)
    (mail / "ops" / "1.eml").write_bytes(_mail("Kernel patching", "1@acme.test"))
    (mail / "ops" / "2.eml").write_bytes(b"")
    admin_client.post("/sources/add/email/", {"name": "Ops mail", "config_path": str(mail)})
    source = Source.objects.get(name="Ops mail")
    with django_capture_on_commit_callbacks(execute=True):
        run_sync(source=source)
    record = source.quarantine.get()
    (mail / "ops" / "2.eml").write_bytes(_mail("Node drains", "2@acme.test"))
    admin_client.post(f"/sources/{source.pk}/quarantine/{record.pk}/retry/")
    record.refresh_from_db()
    assert record.state == QuarantinedFile.State.RESOLVED
    first, second = Item.objects.filter(source=source).order_by("external_id")
    assert second.external_id == "2@acme.test"
    assert second.container_id == first.container_id  # the mailbox a sync gives it
    assert second.audience_id == first.audience_id  # its sender and recipient


def test_non_staff_can_neither_add_nor_fix(
    employee_client: Client, synced: Source, folder: Path
) -> None:
    record = synced.quarantine.get()
    for url in ("/sources/add/", "/sources/add/docs/"):
        assert employee_client.get(url).status_code == 302
    response = employee_client.post(
        "/sources/add/docs/", {"name": "Mine", "config_path": str(folder)}
    )
    assert response.status_code == 302
    assert "login" in response["Location"]
    assert not Source.objects.filter(name="Mine").exists()
    shutil.copyfile(GOOD_DOCX, folder / "design.docx")
    employee_client.post(f"/sources/{synced.pk}/quarantine/{record.pk}/retry/")
    employee_client.post(f"/sources/{synced.pk}/quarantine/{record.pk}/dismiss/", {"reason": "x"})
    record.refresh_from_db()
    assert record.state == QuarantinedFile.State.OPEN
    assert record.retries == 0
    assert not Item.objects.filter(external_id="design.docx").exists()


def test_retry_and_dismiss_are_post_only(admin_client: Client, synced: Source) -> None:
    record = synced.quarantine.get()
    for action in ("retry", "dismiss"):
        url = f"/sources/{synced.pk}/quarantine/{record.pk}/{action}/"
        assert admin_client.get(url).status_code == 405
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(get_user_model().objects.get(username="ops"))
    assert (
        csrf.post(f"/sources/{synced.pk}/quarantine/{record.pk}/dismiss/", {"reason": "x"})
    ).status_code == 403


def test_read_file_gives_what_a_sync_reads_and_only_files_of_the_source(
    folder: Path, tmp_path: Path
) -> None:
    from connectors.documents.connector import DocumentsConnector
    from connectors.errors import ConnectorConfigError

    (folder / "reports").mkdir()
    (folder / "reports" / "q3.md").write_text("# Q3\n\nRevenue grew in the third quarter.\n")
    connector = DocumentsConnector(
        config={"path": str(folder), "audience": "public"}, credentials={}
    )
    fetched = {
        document.external_id: document
        for batch in connector.fetch(cursor=None)
        for document in batch.documents
    }
    again = connector.read_file(str(folder / "reports" / "q3.md"))
    assert again.documents == (fetched["reports/q3.md"],)
    assert [c.external_id for c in again.containers] == ["reports"]
    broken = connector.read_file(str(folder / "design.docx"))
    assert broken.documents == ()
    assert [f.error_type for f in broken.failures] == ["CorruptFile"]
    outside = tmp_path / "elsewhere.md"
    outside.write_text("# Not of this source\n")
    with pytest.raises(ConnectorConfigError, match="not a document file of this source"):
        connector.read_file(str(outside))
    with pytest.raises(ConnectorConfigError, match="not a document file of this source"):
        connector.read_file(str(folder / "reports" / ".." / ".." / "elsewhere.md"))
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "secret.md").write_text("# Behind a link\n")
    (folder / "via-link").symlink_to(tmp_path / "linked")
    with pytest.raises(ConnectorConfigError, match="through a link"):
        connector.read_file(str(folder / "via-link" / "secret.md"))


def test_retry_waits_while_the_source_is_syncing(
    admin_client: Client, synced: Source, folder: Path
) -> None:
    record = synced.quarantine.get()
    shutil.copyfile(GOOD_DOCX, folder / "design.docx")
    synced.runs.update(status=SyncRun.Status.RUNNING, finished_at=None)
    response = admin_client.post(f"/sources/{synced.pk}/quarantine/{record.pk}/retry/", follow=True)
    assert "Handover is syncing: retry once the run has ended." in response.content.decode()
    record.refresh_from_db()
    assert record.state == QuarantinedFile.State.OPEN
    assert not Item.objects.filter(external_id="design.docx").exists()


def test_the_form_speaks_the_readers_language(admin_client: Client) -> None:
    page = admin_client.get("/sources/add/imap/", headers={"Accept-Language": "zh-Hans"})
    text = page.content.decode()
    assert "添加数据源：IMAP 邮箱" in text
    assert "服务器" in text  # the host's label
    assert "添加该数据源" in text


def test_after_sync_now_the_page_polls_until_a_worker_has_run_it(
    admin_client: Client, synced: Source
) -> None:
    latest = synced.runs.get()
    # No broker here: the sync ran in the request, so the page it leads to does not poll.
    response = admin_client.post(f"/sources/{synced.pk}/sync/")
    assert response["Location"] == f"/sources/{synced.pk}/?after={latest.pk}"
    page = admin_client.get(response["Location"]).content.decode()
    assert synced.runs.count() == 2
    assert "hx-get" not in page
    # With a worker, no newer run has started yet: the page waits for it, and says so.
    newest = synced.runs.latest()
    waiting = admin_client.get(
        f"/sources/{synced.pk}/?after={newest.pk}", headers={"HX-Request": "true"}
    ).content.decode()
    assert f'hx-get="/sources/{synced.pk}/?after={newest.pk}"' in waiting
    assert "Sync requested: waiting for a worker to start it." in waiting
