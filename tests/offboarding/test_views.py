"""The offboarding pages: HR's dashboard and case page, the review as the manager sees it,
the checklist template and the bus-factor view, and who may open them (issue 9, item 8)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.urls import reverse

from colleagues.models import Colleague
from colleagues.roles import Role
from knowledge.models import Item
from offboarding.cases import open_case
from offboarding.models import ChecklistTemplateStep, OffboardingCase
from tests import factories as f
from tests.knowledge.conftest import Org
from tests.knowledge.conftest import org as org  # the fixture

pytestmark = pytest.mark.django_db


def client_for(user: AbstractUser) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def hr() -> AbstractUser:
    return f.make_user("hilda", roles=(Role.HR_ADMIN,))


def test_hr_opens_a_case_on_the_dashboard_and_moves_it(org: Org, hr: AbstractUser) -> None:
    client = client_for(hr)
    assert client.get(reverse("offboarding:dashboard")).status_code == 200
    page = client.post(
        reverse("offboarding:open_case"),
        {
            "colleague": org.alice.pk,
            "last_day": "2026-12-18",
            "account_removal_on": "2027-01-15",
            "access_policy": "team",
        },
        follow=True,
    )
    case = OffboardingCase.objects.get()
    assert "opened with its checklist" in page.text
    assert '<tr id="step-capture"><td>Capture this person&#x27;s data</td>' in page.text
    assert "Move to notified" in page.text
    dashboard = client.get(reverse("offboarding:dashboard")).text
    assert f'<tr id="case-{case.pk}">' in dashboard
    # The same person twice is refused with the reason, on the form.
    again = client.post(
        reverse("offboarding:open_case"),
        {"colleague": org.alice.pk, "last_day": "2026-12-18", "access_policy": "team"},
    )
    assert again.status_code == 400
    assert "open offboarding case already" in again.text

    moved = client.post(reverse("offboarding:move", args=[case.pk]), {"state": "notified"})
    assert moved.status_code == 302
    refused = client.post(
        reverse("offboarding:move", args=[case.pk]), {"state": "published"}, follow=True
    )
    assert "it cannot move to published. Allowed next: capturing, archived." in refused.text
    case.refresh_from_db()
    assert case.state == "notified"


def test_the_manager_reviews_and_reads_only_what_they_could_see_at_the_source(
    org: Org, hr: AbstractUser
) -> None:
    # Bob manages Carol; Carol's mail is to Alice (Bob could not see it), her #general
    # message is public.
    Colleague.objects.filter(pk=org.carol.pk).update(manager=org.bob)
    case = open_case(org.carol, last_day=date(2026, 12, 18), via="ui", actor=hr)
    manager = client_for(org.bob_user)
    review = manager.get(reverse("offboarding:review", args=[case.pk]))
    assert review.status_code == 200
    assert "<li>acme-slack <span" in review.text  # what was captured, per source
    assert "Forecast numbers for the quarter" in review.text
    assert "narwhal" not in review.text
    mail = Item.objects.get(body__contains="narwhal")
    assert f'<tr id="item-{mail.pk}"><td>Email' in review.text
    assert "you could not see its text at the source" in review.text
    # The case page, but no HR buttons.
    page = manager.get(reverse("offboarding:case", args=[case.pk]))
    assert page.status_code == 200
    assert "Move to" not in page.text
    assert (
        manager.post(reverse("offboarding:move", args=[case.pk]), {"state": "archived"}).status_code
        == 403
    )
    # Someone else: nothing.
    other = client_for(org.alice_user)
    assert other.get(reverse("offboarding:review", args=[case.pk])).status_code == 403
    assert other.get(reverse("offboarding:case", args=[case.pk])).status_code == 403
    assert other.get(reverse("offboarding:dashboard")).status_code == 403


def test_hr_edits_the_checklist_template(hr: AbstractUser) -> None:
    client = client_for(hr)
    page = client.get(reverse("offboarding:template"))
    steps = list(ChecklistTemplateStep.objects.order_by("position"))
    data: dict[str, Any] = {
        "form-TOTAL_FORMS": len(steps),
        "form-INITIAL_FORMS": len(steps),
        "form-MIN_NUM_FORMS": 0,
        "form-MAX_NUM_FORMS": 1000,
    }
    for i, step in enumerate(steps):
        data.update(
            {
                f"form-{i}-id": step.pk,
                f"form-{i}-title": step.title,
                f"form-{i}-responsible": step.responsible,
                f"form-{i}-relative_to": step.relative_to,
                f"form-{i}-offset_days": step.offset_days,
                f"form-{i}-position": step.position,
                f"form-{i}-is_active": "on",
            }
        )
    assert page.status_code == 200
    capture = next(i for i, s in enumerate(steps) if s.step == "capture")
    data[f"form-{capture}-offset_days"] = -10
    saved = client.post(reverse("offboarding:template"), data, follow=True)
    assert "Checklist template saved" in saved.text
    assert ChecklistTemplateStep.objects.get(step="capture").offset_days == -10


def test_the_bus_factor_view_is_for_hr_who_may_read_every_package(
    org: Org, hr: AbstractUser
) -> None:
    assert client_for(hr).get(reverse("offboarding:bus_factor")).status_code == 200
    curator = f.make_user("curt", roles=(Role.CURATOR,))
    assert client_for(curator).get(reverse("offboarding:bus_factor")).status_code == 403
