"""users.json and the conversation lists are capped by CONNECTORS_SLACK_METADATA_MB: a bigger
one is quarantined with a typed error and the rest of the export is synced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from connectors.actions import create_source, run_sync
from connectors.limits import DEFAULT_SLACK_METADATA_MB, MiB
from connectors.models import SyncRun
from connectors.slack.export import ExportLimits
from knowledge.models import Item
from tests.connectors.slack.builders import EXPORT_2016, copy_export

pytestmark = pytest.mark.django_db


def sync(path: Path, name: str) -> SyncRun:
    source = create_source(name=name, kind="slack-export", config={"path": str(path)})
    return run_sync(source=source)


def test_the_metadata_cap_defaults_to_256_mb_and_is_a_setting(settings: Any) -> None:
    assert ExportLimits().metadata_bytes == 256 * MiB
    settings.CONNECTORS_SLACK_METADATA_MB = 2
    assert ExportLimits().metadata_bytes == 2 * MiB
    assert ExportLimits(max_metadata_bytes=10).metadata_bytes == 10
    settings.CONNECTORS_SLACK_METADATA_MB = 0
    with pytest.raises(ImproperlyConfigured, match="CONNECTORS_SLACK_METADATA_MB"):
        _ = ExportLimits().metadata_bytes


def test_the_default_cap_fits_the_users_json_of_a_100k_user_workspace() -> None:
    # Real users.json records (the 2016 export) are the largest of the ones we have.
    users = EXPORT_2016 / "users.json"
    per_user = users.stat().st_size / len(json.loads(users.read_text()))
    assert 2_000 < per_user < 2_500
    assert 100_000 * per_user < DEFAULT_SLACK_METADATA_MB * MiB


def test_a_users_json_over_the_setting_is_quarantined_and_the_messages_still_stored(
    tmp_path: Path, settings: Any
) -> None:
    whole = sync(copy_export(EXPORT_2016, tmp_path / "whole"), "whole")
    export = copy_export(EXPORT_2016, tmp_path / "export")
    users = json.loads((export / "users.json").read_text())
    filler = [{**users[0], "id": f"UF{n:07d}", "name": f"filler{n}"} for n in range(600)]
    (export / "users.json").write_text(json.dumps(users + filler, indent=4))
    assert (export / "users.json").stat().st_size > 1 * MiB
    settings.CONNECTORS_SLACK_METADATA_MB = 1
    run = sync(export, "oversized")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    [quarantined] = run.quarantined.all()
    assert (quarantined.path, quarantined.error_type) == ("export:users.json", "LimitExceeded")
    assert (quarantined.file, quarantined.member) == (str(export / "users.json"), "users.json")
    # Every message is stored; only what users.json alone says about people is missing.
    assert run.items_created == whole.items_created > 0
    stored = Item.objects.filter(source__name="oversized")
    assert stored.count() == Item.objects.filter(source__name="whole").count()


def test_an_export_without_users_json_is_synced_with_authors_unresolved(tmp_path: Path) -> None:
    export = copy_export(EXPORT_2016, tmp_path / "export")
    (export / "users.json").unlink()
    run = sync(export, "no users")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.items_created > 0
    assert not run.quarantined.exists()
