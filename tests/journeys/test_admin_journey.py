"""An administrator adds a source, watches its sync and fixes a quarantined file (issue 11,
item 5).

The HR administrator of the demo company (a staff login) adds a documents source pointing at a
folder of good files and one DOCX that is not a ZIP, and asks for a sync. The sync really runs:
without a broker Celery runs tasks in the process (CELERY_TASK_ALWAYS_EAGER, config/settings.py),
so the live server's request for "Sync now" runs the whole sync before it answers. The
administrator watches it in a second tab opened on the source's page while it runs: the runs
table polls (htmx) and swaps in the finished run and the quarantined file without the page
being loaded again. They replace the broken file on disk, click Retry, and open the item it
became.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from connectors.models import QuarantinedFile, Source, SyncRun
from knowledge.models import Item
from tests.journeys.steps import log_in, shoot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GOOD_DOCX = (
    settings.BASE_DIR / "tests" / "fixtures" / "documents" / "docx" / "blk-paras-and-tables.docx"
)
# Enough small files that the sync runs for a few seconds, long enough to be watched.
NOTES = 3000


def _handover_folder(root: Path) -> Path:
    folder = root / "handover"
    (folder / "notes").mkdir(parents=True)
    (folder / "runbook.md").write_text(
        "# Billing runbook\n\nRotate the billing keys on the first working day of a quarter.\n"
    )
    for n in range(NOTES):
        (folder / "notes" / f"note-{n:04}.txt").write_text(f"Handover note {n}: check cron {n}.\n")
    (folder / "design.docx").write_bytes(b"PK? no: this design document is not a zip archive")
    return folder


def _wait_until(condition: Any, *, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_an_admin_adds_a_source_watches_its_sync_and_fixes_a_quarantined_file(
    journey_page: Any, console_errors: list[str], demo: dict[str, str], tmp_path: Path
) -> None:
    page = journey_page
    folder = _handover_folder(tmp_path)
    log_in(page, "hr", demo["hr"])

    # Add the source.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sources").click()
    page.get_by_role("link", name="Add a source").click()
    page.get_by_role("link", name="Documents (a folder or a file)").click()
    page.get_by_label("Name").fill("Handover folder")
    page.get_by_label("Path of the documents").fill(str(tmp_path / "nowhere"))
    page.get_by_label("Who may see them").select_option("public")
    page.get_by_role("button", name="Add the source").click()
    # A path that does not exist is refused on its field; nothing is created.
    page.get_by_role("alert").filter(has_text="cannot be read").wait_for()
    assert not Source.objects.filter(name="Handover folder").exists()
    page.get_by_label("Path of the documents").fill(str(folder))
    shoot(page, "admin-add-source", full_page=True)
    page.get_by_role("button", name="Add the source").click()
    page.get_by_role("heading", name="Handover folder").wait_for()
    page.get_by_text("This source has not run yet.").wait_for()
    source = Source.objects.get(name="Handover folder")
    assert source.kind == "docs"

    # Sync now. The request runs the sync (eager Celery) and answers when it is done; a second
    # tab opened on the source's page while it runs shows its progress.
    page.get_by_role("button", name="Sync now").click(no_wait_after=True)
    _wait_until(lambda: source.runs.filter(status=SyncRun.Status.RUNNING).exists())
    # The same login in a second browser context (a page of its own, the session's cookies).
    base_url = page.url.split("/sources/")[0]
    second = page.context.browser.new_context(
        base_url=base_url, viewport={"width": 1280, "height": 800}
    )
    second.add_cookies(page.context.cookies())
    watcher = second.new_page()
    watcher.on("pageerror", lambda error: console_errors.append(str(error)))
    watcher.goto(source.get_absolute_url())
    progress = watcher.get_by_role("status").filter(has_text="Syncing:")
    progress.wait_for()
    watcher.evaluate("window.journeyMarker = 'not reloaded'")
    shoot(watcher, "admin-sync-running", full_page=True)
    # htmx polls every 2 s: the finished run and the quarantined file are swapped in.
    runs = watcher.locator("#runs")
    runs.locator(".badge.succeeded").wait_for(timeout=120_000)
    assert progress.count() == 0
    assert runs.get_attribute("hx-get") is None  # polling stopped
    quarantined = watcher.locator("#quarantine-section tbody tr").filter(has_text="design.docx")
    quarantined.wait_for()
    assert "CorruptFile" in quarantined.inner_text()
    assert watcher.evaluate("window.journeyMarker") == "not reloaded"
    run = source.runs.get()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.items_created == NOTES + 1
    assert run.files_quarantined == 1
    assert f"{NOTES + 1}" in runs.inner_text()
    shoot(watcher, "admin-sync-finished", full_page=True)
    page.get_by_role("table").first.wait_for()  # the first tab's request has answered
    page.close()
    page = watcher

    # The sources list shows the source's health.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sources").click()
    row = page.get_by_role("row").filter(has_text="Handover folder")
    assert "Succeeded" in row.inner_text()
    row.get_by_role("link", name="1").click()

    # Fix the quarantined file: replace it on disk, Retry.
    shutil.copyfile(GOOD_DOCX, folder / "design.docx")
    quarantined = page.locator("#quarantine-section tbody tr").filter(has_text="design.docx")
    quarantined.get_by_role("button", name="Retry").click()
    page.get_by_text("is read and stored: 1 item").wait_for()
    assert page.get_by_text("Nothing quarantined.").is_visible()
    record = QuarantinedFile.objects.get(source=source)
    assert record.state == QuarantinedFile.State.RESOLVED
    item = Item.objects.get(source=source, external_id="design.docx")
    shoot(page, "admin-quarantine-retried", full_page=True)
    closed = page.locator("#quarantine-section tbody tr").filter(has_text="design.docx")
    assert "Stored by a retry" in closed.inner_text()
    closed.get_by_role("link").click()
    page.wait_for_url(f"**{item.get_absolute_url()}")
    page.get_by_text("Lorem ipsum dolor sit amet").first.wait_for()
    shoot(page, "admin-stored-item", full_page=True)
    # The one error the browser logged: the refused form's answer, 400 Bad Request.
    assert console_errors == [
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]
