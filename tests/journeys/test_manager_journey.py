"""A manager reviews and redacts during an offboarding (issue 11, item 5).

Kenji Watanabe is leaving Northwind Robotics; HR has opened his case and put it in review.
Tom Becker can find Kenji's question about parental leave in #general. Samuel Osei, Kenji's
manager, follows the home page's "Offboarding cases to review" to the review, redacts that
message and approves the review. Tom searches again: Kenji's message is gone, from the
results and at its address, while other people's messages on the subject stay.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from colleagues.models import Colleague
from connectors.models import Source
from offboarding import capture, cases
from offboarding.models import OffboardingCase
from tests.journeys.steps import log_in, log_out, shoot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Without its question mark: PostgreSQL's excerpts leave punctuation at their ends out.
PERSONAL = "how much parental leave do we offer"


def _kenji_in_review() -> OffboardingCase:
    """HR's part, before the journey: Kenji's case opened, his Slack captured, in review."""
    hr = get_user_model().objects.get(username="hr")
    kenji = Colleague.objects.get(name="Kenji Watanabe")
    case = cases.open_case(
        kenji, last_day=timezone.localdate() + timezone.timedelta(days=14), via="ui", actor=hr
    )
    case = cases.transition(case, OffboardingCase.State.NOTIFIED, actor=hr)
    # No broker in tests: the capture runs as it is queued, on commit.
    capture.start_capture(case, sources=[Source.objects.get(name="Northwind Slack")], actor=hr)
    assert {run.state for run in case.captures.all()} == {"done"}
    return cases.transition(case, OffboardingCase.State.IN_REVIEW, actor=hr)


def _search(page: Any, words: str) -> Any:
    """Search for the exact words from the Search page; the results' list items."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    page.get_by_role("heading", name="Search", exact=True).wait_for()
    page.get_by_label("Search words").fill(words)
    page.get_by_label("Match").select_option(label="Exact words")
    page.get_by_role("main").get_by_role("button", name="Search").click()
    # The results replace the empty list in place (htmx).
    page.locator("#results .result, #results .empty").first.wait_for()
    return page.locator("#results .result")


def _kenjis(results: Any) -> Any:
    return results.filter(has=results.page.get_by_role("link", name="Kenji Watanabe")).filter(
        has_text=PERSONAL
    )


def test_a_manager_redacts_a_captured_item_and_others_no_longer_find_it(
    journey_page: Any, console_errors: list[str], demo: dict[str, str]
) -> None:
    page = journey_page
    _kenji_in_review()

    # Before: Tom finds Kenji's question among the answers on parental leave.
    log_in(page, "engineer", demo["engineer"])
    results = _search(page, PERSONAL)
    assert _kenjis(results).count() == 1
    # Others asked the same in #general: their messages are not his to redact.
    others = results.filter(has_text=PERSONAL).count() - 1
    assert others >= 1
    _kenjis(results).locator(".result-title").click()
    page.get_by_text(PERSONAL).wait_for()
    kenji_url = page.url
    log_out(page)

    # Samuel reviews what was captured of Kenji and redacts the personal question.
    log_in(page, "manager", demo["manager"])
    team = page.get_by_role("region", name="Your team")
    team.get_by_role("link", name="Kenji Watanabe").first.wait_for()
    assert team.get_by_text("Offboarding cases to review").count() == 1
    team.locator("ul.plain").first.get_by_role("link", name="Kenji Watanabe").click()
    page.get_by_role("heading", name="Review what was captured of Kenji Watanabe").wait_for()
    slack = page.locator("#per-source li", has_text="Northwind Slack").locator("strong")
    captured = int(slack.inner_text())
    row = page.locator("#review-items tbody tr", has_text=PERSONAL)
    assert row.count() == 1
    shoot(page, "manager-review")

    row.get_by_text("Redact…").click()
    row.get_by_role("button", name="Redact everywhere").click()
    page.get_by_text("The item is removed everywhere.").wait_for()
    assert page.locator("#review-items tbody tr", has_text=PERSONAL).count() == 0
    assert int(slack.inner_text()) == captured - 1
    shoot(page, "manager-redacted")
    page.get_by_role("button", name="Approve the review").click()
    page.get_by_text("Review approved: HR can publish the package.").wait_for()
    log_out(page)

    # After: Tom no longer finds it, nor opens it at the address he had; others' stay.
    log_in(page, "engineer", demo["engineer"])
    results = _search(page, PERSONAL)
    assert _kenjis(results).count() == 0
    assert results.filter(has_text=PERSONAL).count() == others
    response = page.goto(kenji_url)
    assert response is not None
    assert response.status == 404
    page.get_by_role("heading", name="Page not found").wait_for()
    assert PERSONAL not in page.content()
    # The browser logs the 404 it was answered; nothing else went wrong.
    assert [message for message in console_errors if "404 (Not Found)" not in message] == []
