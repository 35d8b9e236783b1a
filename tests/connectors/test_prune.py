"""`ingest --prune`: items deleted at the source are deleted here too, and only those."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from knowledge.models import Item
from tests.connectors.test_source_operations import write_mail

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
