"""Source credentials: key rotation, and write-only on every surface that shows a source."""

from __future__ import annotations

import json
import logging
from email.message import EmailMessage
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rest_framework.test import APIClient

from connectors.actions import create_source, run_sync
from connectors.credentials import CredentialsUndecryptable, merge_credentials
from connectors.errors import SourceUnavailableError
from connectors.models import Source, SyncRun
from knowledge.models import AuditEvent

pytestmark = pytest.mark.django_db

SECRET = "s3cret-Pa55word-never-shown"


def mail_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    message = EmailMessage()
    message["From"] = "Ann Lee <ann@acme.test>"
    message["To"] = "bob@acme.test"
    message["Subject"] = "Kernel patching"
    message["Message-ID"] = f"<{folder.name}@acme.test>"
    message["Date"] = "Tue, 04 Mar 2025 10:00:00 +0000"
    message.set_content("Drain the node before patching the kernel.")
    (folder / "0.eml").write_bytes(bytes(message))
    return folder


def make_mail_source(tmp_path: Path, name: str, password: str = SECRET) -> Source:
    return create_source(
        name=name,
        kind="email",
        config={"path": str(mail_folder(tmp_path / name))},
        credentials={"password": password},
    )


def stored_token(source: Source) -> str:
    return Source.objects.values_list("encrypted_credentials", flat=True).get(pk=source.pk)


def rotate(*args: str) -> dict[str, object]:
    out = StringIO()
    call_command("rotate_credentials", "--json", *args, stdout=out)
    result: dict[str, object] = json.loads(out.getvalue())
    return result


# --- Rotation --------------------------------------------------------------------------------


def test_rotation_moves_every_source_to_the_newest_key_so_the_old_one_can_go(
    settings, tmp_path: Path
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CREDENTIALS_KEY = old
    first = make_mail_source(tmp_path, "first")
    second = make_mail_source(tmp_path, "second", password="other-secret")
    Source.objects.create(name="no secrets", kind="email", config={})
    before = stored_token(first)

    settings.CREDENTIALS_KEY = f"{new}, {old}"  # the new key first; both decrypt
    assert Source.objects.get(pk=first.pk).credentials == {"password": SECRET}
    assert rotate() == {"rotated": 2, "without_credentials": 1, "failed": [], "keys": 2}
    assert stored_token(first) != before

    settings.CREDENTIALS_KEY = new  # the old key is gone
    assert Source.objects.get(pk=first.pk).credentials == {"password": SECRET}
    assert Source.objects.get(pk=second.pk).credentials == {"password": "other-secret"}
    event = AuditEvent.objects.get(action="credentials.rotated")
    assert event.detail["rotated"] == [first.pk, second.pk]
    assert event.detail["failed"] == []


def test_a_source_no_key_decrypts_is_reported_and_the_others_are_rotated(
    settings, tmp_path: Path
) -> None:
    lost, kept, new = (Fernet.generate_key().decode() for _ in range(3))
    settings.CREDENTIALS_KEY = lost
    orphan = make_mail_source(tmp_path, "orphan")
    settings.CREDENTIALS_KEY = kept
    fine = make_mail_source(tmp_path, "fine")
    orphan_token = stored_token(orphan)

    settings.CREDENTIALS_KEY = f"{new},{kept}"
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 sources could not be re-encrypted") as failure:
        call_command("rotate_credentials", "--json", stdout=out, stderr=err)
    assert failure.value.returncode == 1
    report = json.loads(out.getvalue())
    assert report["rotated"] == 1
    assert report["failed"] == [
        {"id": orphan.pk, "name": "orphan", "error": "CredentialsUndecryptable"}
    ]
    assert stored_token(orphan) == orphan_token  # left exactly as it was
    settings.CREDENTIALS_KEY = new
    assert Source.objects.get(pk=fine.pk).credentials == {"password": SECRET}
    with pytest.raises(CredentialsUndecryptable, match="cannot be decrypted by any key"):
        _ = Source.objects.get(pk=orphan.pk).credentials
    event = AuditEvent.objects.get(action="credentials.rotated")
    assert event.detail["failed"] == [orphan.pk]


def test_rotation_without_json_names_the_failed_source_on_stderr(settings, tmp_path: Path) -> None:
    settings.CREDENTIALS_KEY = Fernet.generate_key().decode()
    make_mail_source(tmp_path, "orphan")
    settings.CREDENTIALS_KEY = Fernet.generate_key().decode()
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command("rotate_credentials", stdout=out, stderr=err)
    assert "Re-encrypted the credentials of 0 sources" in out.getvalue()
    assert "orphan" in err.getvalue()
    assert "put the old key back in CREDENTIALS_KEY" in err.getvalue()
    assert SECRET not in out.getvalue() + err.getvalue()


def test_sources_under_the_secret_key_derived_key_move_to_a_credentials_key(
    settings, tmp_path: Path
) -> None:
    settings.CREDENTIALS_KEY = ""
    source = make_mail_source(tmp_path, "legacy")
    settings.CREDENTIALS_KEY = Fernet.generate_key().decode()
    assert rotate()["rotated"] == 1
    # Once rotated, the credentials no longer depend on SECRET_KEY.
    settings.SECRET_KEY = "a rotated django secret key"
    assert Source.objects.get(pk=source.pk).credentials == {"password": SECRET}


def test_a_malformed_key_is_a_clear_error_that_does_not_echo_it(settings, tmp_path: Path) -> None:
    settings.CREDENTIALS_KEY = f"{Fernet.generate_key().decode()},not-a-key-xyz"
    with pytest.raises(ImproperlyConfigured, match="CREDENTIALS_KEY entry 2 is not") as error:
        make_mail_source(tmp_path, "any")
    assert "not-a-key-xyz" not in str(error.value)


def test_a_rotation_interrupted_midway_leaves_every_source_readable(
    settings, tmp_path: Path
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CREDENTIALS_KEY = old
    sources = [make_mail_source(tmp_path, f"s{n}") for n in range(3)]
    settings.CREDENTIALS_KEY = f"{new},{old}"
    # As if the first run had stopped after one source: each source is its own transaction.
    first = Source.objects.get(pk=sources[0].pk)
    first.encrypted_credentials = (
        Fernet(new.encode()).encrypt(json.dumps({"password": SECRET}).encode()).decode()
    )
    first.save(update_fields=["encrypted_credentials"])
    assert all(Source.objects.get(pk=s.pk).credentials for s in sources)
    assert rotate()["rotated"] == 3  # a re-run finishes the job
    settings.CREDENTIALS_KEY = new
    assert all(Source.objects.get(pk=s.pk).credentials == {"password": SECRET} for s in sources)


# --- Write-only --------------------------------------------------------------------------------


@pytest.fixture
def staff_client() -> Client:
    user = get_user_model().objects.create_user(
        "ops", password="pw", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def synced_source(tmp_path: Path, django_capture_on_commit_callbacks) -> Source:
    source = make_mail_source(tmp_path, "ops mail")
    with django_capture_on_commit_callbacks(execute=True):
        run_sync(source=source)
    return source


def assert_hidden(text: str | bytes, source: Source) -> None:
    body = text.decode() if isinstance(text, bytes) else text
    assert SECRET not in body
    # Nor the ciphertext, which a key leaked later would open.
    assert stored_token(source) not in body


def test_pages_that_show_a_source_never_show_its_credentials(
    staff_client: Client, synced_source: Source
) -> None:
    pk = synced_source.pk
    for url in (
        "/sources/",
        f"/sources/{pk}/",
        f"/sources/{pk}/delete/",
        "/admin/connectors/source/",
        f"/admin/connectors/source/{pk}/change/",
        f"/admin/connectors/source/{pk}/history/",
        f"/admin/connectors/syncrun/{synced_source.runs.get().pk}/change/",
    ):
        page = staff_client.get(url)
        assert page.status_code == 200, url
        assert_hidden(page.content, synced_source)
    # The source's page says which credentials are set, not what they are.
    assert "<code>password</code> set" in staff_client.get(f"/sources/{pk}/").content.decode()


def test_api_responses_never_show_credentials(staff_client: Client, synced_source: Source) -> None:
    user = get_user_model().objects.get(username="ops")
    api = APIClient()
    api.force_authenticate(user)
    for url in ("/api/items/", f"/api/items/?source={synced_source.name}", "/api/search/?q=kernel"):
        response = api.get(url)
        assert response.status_code == 200, url
        assert_hidden(response.content, synced_source)
    # No operation of the API returns a secret: a password (the login user's own, to get an
    # API token) is only ever taken in, and nothing takes or returns a source's credentials.
    schema = api.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    components = json.loads(schema.content)["components"]["schemas"]
    fields = [
        (name.lower(), spec)
        for body in components.values()
        for name, spec in body.get("properties", {}).items()
    ]
    assert not [name for name, _ in fields if "credential" in name]
    secrets = [(name, spec) for name, spec in fields if "password" in name or "secret" in name]
    assert all(spec.get("writeOnly") for _, spec in secrets), secrets


def test_an_admin_edit_keeps_the_stored_credentials(
    staff_client: Client, synced_source: Source
) -> None:
    pk = synced_source.pk
    page = staff_client.post(
        f"/admin/connectors/source/{pk}/change/",
        {
            "name": "ops mail renamed",
            "kind": "email",
            "config": json.dumps(synced_source.config),
            "status": "active",
            "sync_every": "",
        },
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    source = Source.objects.get(pk=pk)
    assert source.name == "ops mail renamed"
    assert source.credentials == {"password": SECRET}


def test_an_empty_credential_field_keeps_the_stored_value() -> None:
    stored = {"token": "xoxb-1", "signing_secret": "abc"}
    merged = merge_credentials(stored, {"token": "", "signing_secret": "new"})
    assert merged == {"token": "xoxb-1", "signing_secret": "new"}


def test_commands_and_logs_never_show_credentials(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks
) -> None:
    caplog.set_level(logging.DEBUG)
    out = StringIO()
    folder = mail_folder(tmp_path / "cli")
    stdin = StringIO(json.dumps({"password": SECRET}))
    import sys

    real_stdin, sys.stdin = sys.stdin, stdin
    try:
        call_command(
            "add_source",
            "cli mail",
            "--kind",
            "email",
            "--config",
            json.dumps({"path": str(folder)}),
            "--credentials-stdin",
            "--json",
            stdout=out,
        )
    finally:
        sys.stdin = real_stdin
    source = Source.objects.get(name="cli mail")
    assert source.credentials == {"password": SECRET}
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sync", "cli mail", "--json", stdout=out)
    call_command("rotate_credentials", "--json", stdout=out)
    call_command("rotate_credentials", stdout=out)
    assert_hidden(out.getvalue(), source)
    assert_hidden(caplog.text, source)


def test_a_failing_sync_shows_its_error_but_not_the_password(
    staff_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # An IMAP server that refuses connections: the sync fails at once, offline.
    source = create_source(
        name="mailbox",
        kind="imap",
        config={"host": "127.0.0.1", "port": 1, "username": "ann", "timeout": 5},
        credentials={"password": SECRET},
    )
    with pytest.raises(SourceUnavailableError):
        run_sync(source=source)
    run = SyncRun.objects.get(source=source)
    assert run.status == SyncRun.Status.FAILED
    assert run.error
    assert_hidden(run.error, source)
    assert_hidden(staff_client.get(f"/sources/{source.pk}/").content, source)
    assert_hidden(caplog.text, source)
