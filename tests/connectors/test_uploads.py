"""Uploading a document in the intranet: who may see it, who wrote it, what a bad file does."""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from colleagues.actions import create_colleague, link_login
from colleagues.models import Colleague
from connectors.models import Source
from knowledge.models import ErasedIdentity, Item
from knowledge.redaction import redact_item
from knowledge.retention.purge import verify_retention
from knowledge.search import search_items
from knowledge.tombstones import identity_sha256
from knowledge.visibility import reader_for

pytestmark = pytest.mark.django_db

RUNBOOK = (
    b"# Billing key rotation\n\nRotate the billing API keys every quarter with the vault CLI.\n"
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def person(username: str, name: str) -> tuple[AbstractBaseUser, Colleague]:
    user = get_user_model().objects.create_user(username, password="pw")
    colleague = create_colleague(name=name, email=f"{username}@acme.test")
    link_login(colleague=colleague, user=user)
    return user, colleague


@pytest.fixture
def team() -> dict[str, tuple[AbstractBaseUser, Colleague]]:
    return {
        name.split()[0].lower(): person(name.split()[0].lower(), name)
        for name in ("Dana Kowalski", "Tom Becker", "Lucia Fernandez")
    }


def client_for(user: AbstractBaseUser) -> Client:
    client = Client()
    client.force_login(user)
    return client


def finds(user: AbstractBaseUser, query: str) -> bool:
    return bool(search_items(reader=reader_for(user), query=query))


def upload(user: AbstractBaseUser, name: str, data: bytes, **fields: str) -> object:
    file = SimpleUploadedFile(name, data)
    return client_for(user).post(
        "/sources/upload/", {"file": file, "audience": "me", **fields}, follow=True
    )


def test_only_me_means_only_the_uploader(team) -> None:  # type: ignore[no-untyped-def]
    dana, tom = team["dana"][0], team["tom"][0]
    page = upload(dana, "rotation.md", RUNBOOK)
    assert b"is stored and searchable" in page.content  # type: ignore[attr-defined]
    assert finds(dana, "vault")
    assert not finds(tom, "vault")


def test_chosen_people_see_it_and_nobody_else(team) -> None:  # type: ignore[no-untyped-def]
    (dana, _), (tom, _), (lucia, _) = team["dana"], team["tom"], team["lucia"]
    upload(dana, "rotation.md", RUNBOOK, audience="people", people="tom@acme.test")
    assert finds(tom, "vault")
    assert not finds(lucia, "vault")


def test_everyone_means_every_member(team) -> None:  # type: ignore[no-untyped-def]
    upload(team["dana"][0], "rotation.md", RUNBOOK, audience="public")
    assert finds(team["lucia"][0], "vault")


def test_author_named_in_the_document_wins_over_the_choice(team) -> None:  # type: ignore[no-untyped-def]
    dana = team["dana"][0]
    tom_colleague, lucia_colleague = team["tom"][1], team["lucia"][1]
    document = docx.Document()
    document.core_properties.author = "Lucia Fernandez"
    document.add_paragraph("Month-end close: reconcile the ledger before the 3rd.")
    data = io.BytesIO()
    document.save(data)
    upload(dana, "close.docx", data.getvalue(), author=str(tom_colleague.pk))
    upload(dana, "rotation.md", RUNBOOK, author=str(tom_colleague.pk))
    authors = dict(
        Item.objects.filter(source__kind="upload").values_list("title", "author__colleague")
    )
    assert authors["Billing key rotation"] == tom_colleague.pk
    (close_author,) = [a for title, a in authors.items() if title != "Billing key rotation"]
    assert close_author == lucia_colleague.pk


def test_unknown_people_are_refused_and_nothing_is_kept(team, media_root: Path) -> None:  # type: ignore[no-untyped-def]
    page = upload(team["dana"][0], "rotation.md", RUNBOOK, audience="people", people="x@evil.test")
    assert b"Not a colleague" in page.content  # type: ignore[attr-defined]
    assert not Item.objects.exists()
    assert not (media_root / "uploads").exists()


def test_a_broken_file_is_quarantined_with_its_reason(team, media_root: Path) -> None:  # type: ignore[no-untyped-def]
    page = upload(team["dana"][0], "report.pdf", b"%PDF-1.7 this is not really a pdf")
    assert b"could not be read" in page.content  # type: ignore[attr-defined]
    source = Source.objects.get(kind="upload")
    assert source.quarantine.count() == 1
    assert not Item.objects.exists()
    assert not list((media_root / "uploads").glob(".upload-*"))  # no staging leftovers


def test_unsupported_types_and_anonymous_users_are_turned_away(team) -> None:  # type: ignore[no-untyped-def]
    page = upload(team["dana"][0], "tool.exe", b"MZ\x90\x00")
    assert b"not a format we read" in page.content  # type: ignore[attr-defined]
    anonymous = Client().post("/sources/upload/", {"audience": "public"})
    assert anonymous.status_code == 302
    assert "/login/" in anonymous["Location"]


def test_a_deleted_upload_leaves_no_file_and_verify_finds_one_left_behind(  # type: ignore[no-untyped-def]
    team, media_root: Path, django_capture_on_commit_callbacks
) -> None:
    upload(team["dana"][0], "rotation.md", RUNBOOK)
    item = Item.objects.get()
    folder = media_root / "uploads" / item.external_id
    assert (folder / "rotation.md").read_bytes() == RUNBOOK
    assert verify_retention().orphan_files == []

    with django_capture_on_commit_callbacks(execute=True):
        redact_item(item, actor=None, reason="asked")
    assert not folder.exists()
    assert verify_retention().ok

    # A deletion that left its file behind (made around the deletion actions) is reported.
    upload(team["dana"][0], "again.md", RUNBOOK)
    stray = Item.objects.get()
    Item.objects.filter(pk=stray.pk).delete()
    report = verify_retention()
    assert report.orphan_files == [str(media_root / "uploads" / stray.external_id)]
    assert not report.ok


def test_an_upload_naming_an_erased_person_is_neither_captured_nor_kept(  # type: ignore[no-untyped-def]
    team, media_root: Path, django_capture_on_commit_callbacks
) -> None:
    ErasedIdentity.objects.create(value_sha256=identity_sha256("email", "gone@acme.test"))
    with django_capture_on_commit_callbacks(execute=True):
        upload(team["dana"][0], "handover.md", b"# Handover\n\nAsk gone@acme.test about billing.\n")
    assert not Item.objects.exists()
    assert list((media_root / "uploads").iterdir()) == []
    assert verify_retention().ok
