"""In a real Chromium: log in, open the directory, run a search, open a result."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from tests.knowledge.conftest import Org

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
