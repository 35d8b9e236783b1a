"""An employee asks a departed colleague and opens a citation (issue 11, item 5).

Tom Becker, a platform engineer of the demo company, opens Dana Kowalski's page from the home
page's departed colleagues, asks her how often the billing API keys are rotated, reads her
answer in her own words with its sources, asks a follow-up in the same conversation, and opens
a citation: it lands on the message quoted, in its thread.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.journeys.steps import log_in, shoot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_employee_asks_a_departed_colleague_and_opens_a_citation(
    journey_page: Any, console_errors: list[str], demo: dict[str, str]
) -> None:
    page = journey_page
    log_in(page, "engineer", demo["engineer"])

    departed = page.get_by_role("heading", name="Departed colleagues").locator("..")
    departed.get_by_role("link", name="Dana Kowalski").click()
    page.get_by_role("heading", name="Dana Kowalski").wait_for()
    page.get_by_role("link", name="Ask Dana Kowalski").click()
    page.get_by_role("heading", name="Ask Dana Kowalski").wait_for()

    page.get_by_label("Your question").fill("How often do we rotate the billing API keys?")
    page.get_by_role("button", name="Ask", exact=True).click()
    turn = page.locator("article.turn").first
    turn.wait_for()
    answer = turn.locator(".answer").inner_text()
    # Her words, quoted with where and when she wrote them, and the sources numbered.
    assert "Dana Kowalski" in answer
    assert "Every 90 days" in answer
    assert "[1]" in answer
    assert turn.get_by_text("Extractive: Dana Kowalski's own words, nothing generated.").count()
    citations = turn.locator("ol.citations > li")
    assert citations.count() >= 2
    # The conversation is listed under the user's conversations.
    conversations = page.get_by_role("navigation", name="Your conversations")
    assert conversations.get_by_role("link", name="How often do we rotate the billing API keys?")
    shoot(page, "employee-answer")

    # A follow-up in the same conversation: the answer is added below the first (htmx).
    page.get_by_label("Your question").fill("Where does billing-svc read the PayStream key from?")
    page.get_by_role("button", name="Ask", exact=True).click()
    page.locator("article.turn").nth(1).wait_for()
    follow_up = page.locator("article.turn").nth(1)
    assert "Vault" in follow_up.locator(".answer").inner_text()
    expect(page.get_by_label("Your question")).to_have_value("")  # emptied for the next one
    assert page.locator("article.turn").count() == 2

    # The first answer's first source: the message she wrote, marked in its thread.
    first = turn.locator("ol.citations > li").first
    excerpt = first.inner_text().split(" — ", 1)[1][:60]
    first.get_by_role("link").click()
    page.wait_for_url("**/knowledge/items/**")
    cited = page.locator("[aria-current=true]")
    assert cited.count() == 1
    assert cited.locator(".result-meta").get_by_role("link", name="Dana Kowalski").count() == 1
    assert excerpt in " ".join(cited.locator(".body").inner_text().split())
    cited.scroll_into_view_if_needed()
    shoot(page, "employee-citation")
    assert console_errors == []
