"""Fixtures of the browser journeys: the demo company with its logins, and a Chromium page of
1280×800 on the live server (tests/browser.py's `page`, through tests/conftest.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test.utils import override_settings

from colleagues.roles import Role
from tests.factories import make_user

VIEWPORT = {"width": 1280, "height": 800}
AUDITOR_PASSWORD = "correct horse battery"


@pytest.fixture(name="demo")
def demo_fixture(tmp_path: Path) -> dict[str, str]:
    """Northwind Robotics loaded as `make demo` loads it (its files under this test's tmp_path),
    plus an auditor; the logins' passwords by username (hr, manager, engineer, auditor)."""
    out = io.StringIO()
    with override_settings(VAR_DIR=tmp_path):
        call_command("load_demo", "--json", stdout=out)
    logins = {
        login["username"]: login["password"] for login in json.loads(out.getvalue())["logins"]
    }
    make_user("auditor", roles=(Role.AUDITOR,), first_name="Ada", last_name="Auditor")
    logins["auditor"] = AUDITOR_PASSWORD
    return logins


@pytest.fixture(name="journey_page")
def journey_page_fixture(page: Any) -> Any:
    """The browser page at 1280×800, the size of the README's screenshots."""
    page.set_viewport_size(VIEWPORT)
    return page
