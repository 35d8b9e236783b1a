"""In a real Chromium: log in, open the directory, run a search, open a result; an auditor
opens every audit report and an erasure certificate."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from django.conf import settings

from colleagues.grants import set_consent
from colleagues.models import Colleague
from knowledge.erasure import request_erasure
from tests.knowledge.conftest import Org
from tests.knowledge.test_audit_reports import activity as activity  # the fixtures
from tests.knowledge.test_audit_reports import auditor as auditor
from tests.knowledge.test_audit_reports import retention as retention

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "tests" / "artifacts"


def test_login_directory_and_search(page, org: Org) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto("/")
    assert "/login/" in page.url
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="What did they know?").wait_for()

    page.get_by_role("link", name="Colleagues").click()
    page.get_by_role("link", name="Alice Archer").wait_for()
    page.screenshot(path=str(ARTIFACTS / "directory.png"), full_page=True)

    page.get_by_role("link", name="Search", exact=True).click()
    page.get_by_label("Search words").fill("postmortem")
    page.get_by_role("button", name="Search").click()
    result = page.locator(".result").first
    result.wait_for()
    assert "zebracorn" in result.inner_text()
    assert result.locator("mark").first.inner_text().lower() == "postmortem"
    page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)

    result.locator(".result-title").click()
    page.get_by_text("zebracorn outage").wait_for()
    assert page.locator("[aria-current=true]").count() == 1


def test_the_audit_reports_render_their_tables_and_charts(  # type: ignore[no-untyped-def]
    page, console_errors, org: Org, auditor, activity, retention
) -> None:
    set_consent(org.alice, Colleague.Consent.GIVEN, actor=None)
    gone = Colleague.objects.create(
        name="Dan", slug="dan", status="departed", departed_on=date(2025, 1, 31)
    )
    erasure = request_erasure(gone, requested_by=None, label="DSR-1", reason="asked")
    page.goto("/login/")
    page.get_by_label("Username").fill(auditor.username)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").wait_for()

    page.goto("/knowledge/audit/")
    page.get_by_role("heading", name="Audit events").wait_for()
    for link, heading, table in (
        ("Access per package", "Access per package", "table.table"),
        ("Access per user", "Access per user", "table.table"),
        ("Retention", "Retention", "#table-policies"),
        ("Consent", "Consent status", "#table-colleagues"),
        ("Erasures", "Erasure requests and certificates", "#table-requests"),
        ("Event log", "Audit events", "table.table"),
    ):
        page.get_by_role("navigation", name="Audit reports").get_by_role("link", name=link).click()
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        assert page.locator("svg.chart").count() == 1, link
        assert page.locator(table).locator("tbody tr").count() >= 1, link
    page.goto("/knowledge/audit/erasures/")
    page.get_by_role("link", name=f"#{erasure.pk}").click()
    page.get_by_role("heading", name=f"Certificate of erasure #{erasure.pk}").wait_for()
    assert page.locator("#table-certificate tr").count() >= 20
    page.goto("/knowledge/audit/retention/")
    assert page.locator("#table-policies tbody tr").count() == 4  # three, and any policy
    assert page.locator("#table-holds tbody tr").count() == 1
    page.screenshot(path=str(ARTIFACTS / "audit-retention.png"), full_page=True)
    assert console_errors == []
