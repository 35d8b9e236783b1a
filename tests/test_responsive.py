"""On a phone (390 × 844 CSS pixels, Chromium): the header's menu folds behind a "Menu" button,
pages do not scroll sideways, and a table's stacked rows still name each value (issue 11,
item 2)."""

from __future__ import annotations

import pytest

from colleagues.roles import Role
from tests.factories import make_source, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_on_a_phone_the_menu_folds_and_tables_stack_with_their_headings(  # type: ignore[no-untyped-def]
    page, console_errors: list[str]
) -> None:
    make_user("hr", roles=(Role.HR_ADMIN,), is_staff=True)
    make_source("Northwind Slack")
    page.set_viewport_size(PHONE)
    page.goto("/login/")
    page.get_by_label("Username").fill("hr")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    menu = page.get_by_role("button", name="Menu")
    menu.wait_for()

    sources_link = page.get_by_role("link", name="Sources", exact=True)
    assert not sources_link.is_visible()
    assert menu.get_attribute("aria-expanded") == "false"
    menu.click()
    assert menu.get_attribute("aria-expanded") == "true"
    sources_link.click()
    page.get_by_role("heading", name="Sources", exact=True).wait_for()

    for path in ("/", "/colleagues/", "/sources/", "/offboarding/", "/knowledge/audit/"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path

    page.goto("/sources/")
    name_cell = page.get_by_role("cell", name="Northwind Slack")
    assert name_cell.get_attribute("data-label") == "Name"
    shown_label = name_cell.evaluate("cell => getComputedStyle(cell, '::before').content")
    assert shown_label == '"Name"'
    assert not page.locator("table.table thead").is_visible()
    assert console_errors == []


def test_on_a_wide_screen_the_menu_is_the_header_row(page) -> None:  # type: ignore[no-untyped-def]
    make_user("hr", roles=(Role.HR_ADMIN,), is_staff=True)
    page.goto("/login/")
    page.get_by_label("Username").fill("hr")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Sources", exact=True).wait_for()
    assert not page.get_by_role("button", name="Menu").is_visible()
