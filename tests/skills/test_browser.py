"""In a real Chromium: a colleague's skill package page, its style check and a correction."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test.utils import override_settings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "tests" / "artifacts"


def test_package_page_style_check_and_correction(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    with override_settings(VAR_DIR=tmp_path):
        call_command("load_demo", "--json", stdout=out)
    logins = {
        login["username"]: login["password"] for login in json.loads(out.getvalue())["logins"]
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    page.goto("/login/")
    page.get_by_label("Username").fill("engineer")
    page.get_by_label("Password").fill(logins["engineer"])
    page.get_by_role("button", name="Log in").click()
    page.goto("/colleagues/dana-kowalski/")
    page.get_by_role("link", name="Skill package").click()
    page.get_by_role("heading", name="How they write").wait_for()
    assert page.locator("svg.chart").count() == 3
    assert "postmortem draft" not in page.content()  # a private channel Tom is not in

    page.get_by_label("Text to check").fill("Touch wood, belt and braces. Cheers, Dana")
    page.get_by_role("button", name="Check").click()
    result = page.locator("#style-check-result p")
    result.wait_for()
    assert "rank 1 of" in result.inner_text()
    page.screenshot(path=str(ARTIFACTS / "skill-package.png"), full_page=True)

    # Tom may not correct Dana's package; HR (a curator by role) may, and rebuilds every
    # package: the request returns at once (no broker: a background thread) and the overview
    # follows the progress until all are up to date.
    assert page.get_by_label("What is wrong").count() == 0
    page.get_by_role("button", name="Log out").click()
    page.goto("/login/")
    page.get_by_label("Username").fill("hr")
    page.get_by_label("Password").fill(logins["hr"])
    page.get_by_role("button", name="Log in").click()
    page.goto("/colleagues/dana-kowalski/skill/")
    page.get_by_label("What is wrong").fill("touch wood")
    page.get_by_label("What is right").fill("knock on wood")
    page.get_by_role("button", name="Add correction").click()
    page.get_by_text("Correction recorded").wait_for()
    page.get_by_role("link", name="Diff with v1").click()
    added = page.locator("pre.diff .added", has_text="knock on wood")
    added.first.wait_for()
    assert added.count() >= 1

    page.goto("/skills/")
    page.get_by_role("button", name="Rebuild all packages").click()
    page.get_by_text("Rebuilding 17 packages").wait_for()
    page.get_by_text("Up to date: 17").wait_for(timeout=120_000)
    assert page.locator("progress").count() == 0
    # The rebuild thread closes its database connections as it ends; wait for that before the
    # test database is dropped.
    for thread in threading.enumerate():
        if thread.name == "skill-rebuild":
            thread.join(timeout=60)
