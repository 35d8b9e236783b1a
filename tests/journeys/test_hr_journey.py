"""HR opens an offboarding case and publishes the package (issue 11, item 5).

Grace Holloway, Head of People, goes from the home page's offboarding panel to the dashboard,
opens a case for Lucía Fernández, who is leaving, notifies her, captures her Slack and mail,
puts the case in review, approves the review and publishes her package; the case links the
published package, whose page shows the new version, built by HR.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.journeys.steps import log_in, shoot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_hr_opens_a_case_captures_approves_and_publishes_the_package(
    journey_page: Any, console_errors: list[str], demo: dict[str, str]
) -> None:
    page = journey_page
    log_in(page, "hr", demo["hr"])
    panel = page.get_by_role("region", name="Offboarding")
    assert panel.get_by_text("0 open cases.").count() == 1
    panel.get_by_role("link", name="Offboarding dashboard").click()
    page.get_by_role("heading", name="Offboarding", exact=True).wait_for()

    today = timezone.localdate()
    page.get_by_label("Colleague").select_option(label="Lucía Fernández")
    page.get_by_label("Last day").fill((today + timedelta(days=21)).isoformat())
    page.get_by_label("Accounts removed on").fill((today + timedelta(days=35)).isoformat())
    page.get_by_label("Who may open the published package").select_option(
        label="Their manager and department"
    )
    page.get_by_role("button", name="Open case").click()
    page.get_by_role("heading", name="Offboarding of Lucía Fernández").wait_for()
    assert page.locator("#case-state").inner_text() == "Planned"

    page.get_by_role("button", name="Move to notified").click()
    page.get_by_text("is notified").wait_for()
    page.get_by_label("Northwind Slack").check()
    page.get_by_label("Northwind mail").check()
    page.get_by_role("button", name="Capture", exact=True).click()
    captures = page.locator("#captures tbody tr")
    captures.first.wait_for()
    for source in ("Northwind Slack", "Northwind mail"):
        row = captures.filter(has_text=source)
        row.get_by_text("Done").wait_for(timeout=60_000)
        # Hers among all the documents the source read.
        read, theirs = (int(row.locator("td").nth(i).inner_text()) for i in (2, 3))
        assert 0 < theirs < read, source
    assert page.locator("#case-state").inner_text() == "Capturing"
    page.get_by_role("heading", name="Capture").scroll_into_view_if_needed()
    shoot(page, "hr-capture")

    page.get_by_role("button", name="Move to in review").click()
    page.get_by_text("is in review").wait_for()
    page.get_by_role("link", name="Review what was captured").click()
    page.get_by_role("heading", name="Review what was captured of Lucía Fernández").wait_for()
    assert page.locator("#review-items tbody tr").count() >= 10
    page.get_by_role("button", name="Approve the review").click()
    page.get_by_text("Review approved: HR can publish the package.").wait_for()
    page.get_by_role("button", name="Build and publish the package").click()
    page.get_by_text("Package published (their manager and department).").wait_for()
    assert page.locator("#case-state").inner_text() == "Published"
    checklist = page.locator("#checklist")
    for step in ("Capture this person's data", "Manager review and redaction"):
        assert checklist.locator("tr", has_text=step).locator("td").nth(3).inner_text() != (
            "Mark done"
        ), step
    page.mouse.move(0, 0)
    shoot(page, "hr-published")

    # The published version: the latest, built just now by HR.
    page.get_by_role("link", name="Open the published package").click()
    page.get_by_role("heading", name="Versions").wait_for()
    current = page.locator("section[aria-labelledby=versions-h] tbody tr[aria-current=true]")
    assert current.count() == 1
    cells = current.locator("td")
    number = cells.nth(0).inner_text()
    assert number != "v1"
    assert cells.nth(3).inner_text() == "hr"
    assert page.get_by_text(f"version {number[1:]}, built").count() == 1
    shoot(page, "hr-package")
    assert console_errors == []
