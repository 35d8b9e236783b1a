"""Steps every journey takes: log in through the login form, log out through the header's
button, and save a screenshot of what the user sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.journeys.screenshots import screenshot_path


def log_in(page: Any, username: str, password: str) -> None:
    """Sign in on the login page and wait for the home page, which greets the user by name."""
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="What did they know?").wait_for()


def log_out(page: Any) -> None:
    """Sign out with the header's button; the login page follows."""
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Username").wait_for()


def shoot(page: Any, name: str, *, full_page: bool = False) -> Path:
    """Save the viewport (the whole page when `full_page`) as `name`.png; the file exists and
    is a PNG."""
    path = screenshot_path(name)
    page.screenshot(path=str(path), full_page=full_page)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    return path
