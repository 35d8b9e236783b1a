"""`ingest --prune`: items deleted at the source are deleted here too, and only those."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from connectors.actions import create_source, prune_source, run_sync
from connectors.documents.connector import DocumentsConnector
from connectors.errors import IncompleteListing
from knowledge.models import Item
from tests.connectors.documents.builders import write_docx
from tests.connectors.slack.builders import EXPORT_2016, copy_export
from tests.connectors.test_source_operations import write_mail
from tests.connectors.test_uploads_connector import write_upload

pytestmark = pytest.mark.django_db


def ingest(path: Path, *options: str) -> dict[str, object]:
    out = io.StringIO()
    call_command("ingest", str(path), "--json", *options, stdout=out)
    summary: dict[str, object] = json.loads(out.getvalue())
    return summary


def test_prune_deletes_what_the_source_no_longer_has(tmp_path: Path) -> None:
    mail = write_mail(tmp_path / "mail", ["Kernel patching", "Node drains", "Billing keys"])
    first = ingest(mail)
    assert first["items_created"] == 3
    assert "items_pruned" not in first  # the contract's keys are unchanged without --prune
    (mail / "1.eml").unlink()
    again = ingest(mail, "--prune")
    assert again["items_pruned"] == 1
    assert set(Item.objects.values_list("title", flat=True)) == {"Kernel patching", "Billing keys"}


def test_prune_refuses_when_the_source_lists_nothing(tmp_path: Path) -> None:
    mail = write_mail(tmp_path / "mail", ["Kernel patching"])
    ingest(mail)
    (mail / "0.eml").unlink()
    with pytest.raises(CommandError, match="lists no items"):
        ingest(mail, "--prune")
    assert Item.objects.count() == 1


# --- what fails while listing is kept, what is gone is still pruned --------------------------


def test_a_document_that_became_corrupt_is_kept_and_a_deleted_one_pruned(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    write_docx(docs / "engine.docx", title="Engine plans")
    (docs / "gone.md").write_text("# Old runbook\n\nDrain the node first.\n")
    (docs / "stays.md").write_text("# Patching\n\nReboot one node at a time.\n")
    assert ingest(docs, "--audience", "public")["items_created"] == 3
    (docs / "engine.docx").write_bytes(b"PK\x03\x04 no longer a zip")
    (docs / "gone.md").unlink()
    again = ingest(docs, "--prune")
    assert [q["path"] for q in again["quarantined"]] == [str(docs / "engine.docx")]
    assert again["items_pruned"] == 1
    assert set(Item.objects.values_list("external_id", flat=True)) == {"engine.docx", "stays.md"}


def test_a_folder_that_cannot_be_listed_is_a_gap_holding_every_document_under_it(
    tmp_path: Path,
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "top.md").write_text("# Top\n\ntext\n")
    # Nested until the folder's path is longer than the OS accepts (ENAMETOOLONG): it cannot
    # be listed, while its parent can. Built through directory descriptors to get there.
    names = ["d" * 250] * (4096 // 251 + 1)
    descriptor = os.open(docs, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=descriptor)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = child
        os.close(os.open("deep.md", os.O_WRONLY | os.O_CREAT, dir_fd=descriptor))
    finally:
        os.close(descriptor)
    connector = DocumentsConnector(config={"path": str(docs)}, credentials={})
    listing = connector.list_source()
    assert listing.external_ids == {"top.md"}
    depth = next(
        n for n in range(1, len(names) + 1) if len(f"{docs}/{'/'.join(names[:n])}") >= 4096
    )
    folder = "/".join(names[:depth])
    [gap] = listing.gaps
    assert gap.failure.error_type == "OSError"
    assert (gap.external_ids, gap.id_prefixes) == ({folder}, (f"{folder}/",))
    assert listing.may_hold(f"{'/'.join(names)}/deep.md", "/".join(names))
    assert not listing.may_hold("other.md", ".")
    with pytest.raises(IncompleteListing):
        list(connector.list_external_ids())


def test_an_upload_whose_document_cannot_be_read_is_kept_and_a_deleted_one_pruned(
    tmp_path: Path,
) -> None:
    root = tmp_path / "uploads"
    kept = write_upload(root, "20261126T010000000000-aaaaaaaa")
    gone = write_upload(root, "20261126T020000000000-bbbbbbbb")
    other = write_upload(root, "20261126T030000000000-cccccccc")
    source = create_source(name="Uploads", kind="upload", config={"path": str(root)})
    assert run_sync(source=source).items_created == 3
    # The document is replaced by a folder: the upload cannot be read, but it is there.
    (kept / "runbook.md").unlink()
    (kept / "runbook.md").mkdir()
    shutil.rmtree(gone)
    pruned = prune_source(source=source)
    assert (pruned.deleted, pruned.kept) == (1, 0)
    assert set(Item.objects.values_list("external_id", flat=True)) == {kept.name, other.name}


def test_mail_that_became_unreadable_is_kept_and_deleted_mail_pruned(tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    write_mail(mail / "inbox", ["Kernel patching", "Node drains"])
    write_mail(mail / "archive", ["Billing keys"])
    assert ingest(mail)["items_created"] == 3
    # Past the header limit: the message is rejected now, and its Message-ID is unknown.
    (mail / "inbox" / "0.eml").write_bytes(b"Subject: " + b"x" * (2 * 1024 * 1024) + b"\n\nhi\n")
    (mail / "archive" / "0.eml").unlink()
    again = ingest(mail, "--prune")
    assert again["items_pruned"] == 1
    assert again["items_kept_unlisted"] == 1
    assert [failure["path"] for failure in again["prune_failures"]] == [
        str(mail / "inbox" / "0.eml")
    ]
    assert set(Item.objects.values_list("title", flat=True)) == {"Kernel patching", "Node drains"}


def test_a_slack_day_file_that_became_corrupt_keeps_its_conversation(tmp_path: Path) -> None:
    export = copy_export(EXPORT_2016, tmp_path / "export")
    source = create_source(name="export", kind="slack-export", config={"path": str(export)})
    run_sync(source=source)
    stored = Item.objects.filter(source=source)
    in_enrique = stored.filter(container__name="enrique").count()
    victim = stored.exclude(container__name="enrique").order_by("external_id").first()
    assert in_enrique
    assert victim is not None
    assert victim.container is not None
    (export / "enrique" / "2016-01-15.json").write_text("[{broken")
    # The victim is deleted at Slack: the next export lacks its record.
    ts = victim.metadata["ts"]
    for day in (export / victim.container.name).iterdir():
        records = json.loads(day.read_text())
        day.write_text(json.dumps([r for r in records if ts not in json.dumps(r)]))
    before = stored.count()
    pruned = prune_source(source=source)
    assert pruned.deleted == 1
    assert pruned.kept > 0
    assert [failure.path for failure in pruned.failures] == ["export:enrique/2016-01-15.json"]
    assert stored.filter(container__name="enrique").count() == in_enrique
    assert stored.count() == before - 1
    assert not stored.filter(pk=victim.pk).exists()


def test_the_text_summary_says_what_prune_kept_and_why(tmp_path: Path) -> None:
    mail = write_mail(tmp_path / "mail" / "inbox", ["Kernel patching", "Node drains"])
    ingest(mail.parent)
    (mail / "0.eml").write_bytes(b"Subject: " + b"x" * (2 * 1024 * 1024) + b"\n\nhi\n")
    out = io.StringIO()
    call_command("ingest", str(mail.parent), "--prune", stdout=out)
    text = out.getvalue()
    assert ", 0 pruned, 1 kept (not listed)" in text
    assert f"not pruned, could not list {mail / '0.eml'}: LimitExceeded" in text
