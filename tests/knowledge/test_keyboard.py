"""A keyboard-only user in Chromium: logs in, skips the menu, searches, opens a result, and on a
phone opens the menu, each step with a visible focus ring (issue 11, item 3: keyboard use and
focus order)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.knowledge.conftest import Org

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FOCUSED = (
    "() => { const e = document.activeElement; return [e.tagName, e.id, e.textContent.trim()]; }"
)
RING = "() => getComputedStyle(document.activeElement).outlineStyle"


def _focused(page: Any) -> list[str]:
    return page.evaluate(FOCUSED)  # type: ignore[no-any-return]


def test_keyboard_only_login_skip_link_search_and_result(page, org: Org) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login/")
    assert _focused(page)[1] == "id_username"  # the form starts where the user types
    page.keyboard.type("bob")
    page.keyboard.press("Tab")
    assert _focused(page)[1] == "id_password"
    page.keyboard.type("correct horse battery")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="What did they know?").wait_for()

    page.keyboard.press("Tab")
    assert _focused(page) == ["A", "", "Skip to content"]
    assert page.get_by_role("link", name="Skip to content").is_visible()
    assert page.evaluate(RING) != "none"
    page.keyboard.press("Enter")
    assert _focused(page)[:2] == ["MAIN", "main"]
    page.keyboard.press("Tab")
    assert _focused(page)[1] == "home-q"
    assert page.evaluate(RING) != "none"
    page.keyboard.type("postmortem")
    page.keyboard.press("Enter")
    page.wait_for_url("**/knowledge/search/?q=postmortem*")
    first_result = page.locator("main ol a, main ul a").first
    first_result.focus()
    title = first_result.inner_text()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=title).wait_for()


def test_keyboard_only_menu_on_a_phone(page, org: Org) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/login/")
    page.keyboard.type("bob")
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="What did they know?").wait_for()
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the brand
    page.keyboard.press("Tab")
    assert _focused(page)[2] == "Menu"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert _focused(page)[2] == "Home"
    assert page.get_by_role("link", name="Home").is_visible()
