"""Reviewing a departing person's captured data, and publishing their package (issue 9)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, override_settings

from colleagues.access import can_view_package
from colleagues.models import AccessGrant
from colleagues.roles import Role
from knowledge.models import AuditEvent, Item
from knowledge.redaction import RedactionBlocked
from knowledge.retention.holds import place_hold
from knowledge.search import search_items
from knowledge.visibility import Reader
from offboarding.cases import CaseRefused, transition
from offboarding.review import (
    approve_review,
    can_review,
    captured_items,
    captured_per_source,
    publish,
    redact_in_review,
)
from skills.models import SkillVersion
from tests.offboarding.test_capture import (
    DANA_POST,
    DANA_REPLY,
    ERIN_QUESTION,
    Callbacks,
    Org,
    captured,
    login,
)
from tests.offboarding.test_capture import org as org  # the fixture

pytestmark = [
    pytest.mark.django_db,
    # Packages nobody was granted are seen by the person's department and managers only.
    pytest.mark.usefixtures("team_default"),
]

IN_REVIEW = "in_review"


@pytest.fixture
def team_default() -> Iterator[None]:
    with override_settings(COLLEAGUE_PACKAGE_DEFAULT_ACCESS="team"):
        yield


@pytest.fixture
def in_review(org: Org, django_capture_on_commit_callbacks: Callbacks) -> Org:
    captured(org, django_capture_on_commit_callbacks, org.slack, org.mail, org.docs)
    org.case = transition(org.case, "in_review", actor=org.hr_user)
    return org


def test_reviewers_are_the_person_their_manager_and_hr(in_review: Org) -> None:
    org = in_review
    assert can_review(org.dana_user, org.case)
    assert can_review(org.mark_user, org.case)
    assert can_review(org.hr_user, org.case)
    assert not can_review(org.olga_user, org.case)
    assert not can_review(org.erin_user, org.case)  # a teammate is not a reviewer
    assert not can_review(None, org.case)
    org.dana.status, org.dana.departed_on = "departed", org.case.last_day
    org.dana.save(update_fields=["status", "departed_on"])
    org.case.refresh_from_db()
    assert not can_review(org.dana_user, org.case)  # gone: the review is their manager's


def test_the_review_lists_what_was_captured_of_theirs(in_review: Org) -> None:
    per_source = {(c.source, c.items) for c in captured_per_source(in_review.case)}
    assert per_source == {("acme-slack", 2), ("dana-mail", 1), ("shared-docs", 1)}
    assert DANA_REPLY in {i.body for i in captured_items(in_review.case)}
    assert ERIN_QUESTION not in {i.body for i in captured_items(in_review.case)}


def test_the_manager_redacts_an_item_of_the_person_everywhere(in_review: Org) -> None:
    org = in_review
    item = Item.objects.get(body=DANA_POST)
    query = "deploy freeze starts Friday"
    before = search_items(reader=Reader.operator(), query=query)
    assert DANA_POST in {hit.item.body for hit in before}

    redact_in_review(org.case, item, actor=org.mark_user, reason="not for the successor")

    assert not Item.objects.filter(pk=item.pk).exists()
    assert DANA_POST not in {i.body for i in captured_items(org.case)}
    hits = search_items(reader=Reader.operator(), query=query)
    assert hits
    assert DANA_POST not in {hit.item.body for hit in hits}
    assert AuditEvent.objects.filter(action="item_redacted", target=f"item:{item.pk}").exists()
    event = AuditEvent.objects.get(action="offboarding_item_redacted")
    assert (event.target, event.actor_name, event.detail["item"]) == (
        f"offboarding:{org.case.pk}",
        "mark",
        item.pk,
    )


def test_only_items_of_the_person_are_redacted_in_their_review(in_review: Org) -> None:
    org = in_review
    erins = Item.objects.get(body=ERIN_QUESTION)
    with pytest.raises(CaseRefused, match="not one of Dana Diaz's"):
        redact_in_review(org.case, erins, actor=org.mark_user, reason="tidy up")
    with pytest.raises(CaseRefused, match="Say why"):
        redact_in_review(org.case, Item.objects.get(body=DANA_POST), actor=org.hr_user, reason="")
    assert Item.objects.filter(pk=erins.pk).exists()


def test_an_unrelated_user_can_neither_review_nor_publish(in_review: Org) -> None:
    org = in_review
    item = Item.objects.get(body=DANA_POST)
    with pytest.raises(PermissionDenied):
        redact_in_review(org.case, item, actor=org.olga_user, reason="curious")
    with pytest.raises(PermissionDenied):
        approve_review(org.case, actor=org.olga_user)
    with pytest.raises(PermissionDenied):
        approve_review(org.case, actor=org.dana_user)  # the person reviews, but does not approve
    with pytest.raises(PermissionDenied):
        publish(org.case, actor=org.mark_user)  # publishing is HR's
    assert Item.objects.filter(pk=item.pk).exists()
    assert not org.case.checklist.get(step="review").is_done


def test_a_legal_hold_keeps_the_item_and_says_so(in_review: Org) -> None:
    org = in_review
    place_hold(name="Billing audit", reason="regulator inquiry", owner=None, colleague=org.dana)
    item = Item.objects.get(body=DANA_POST)

    with pytest.raises(RedactionBlocked, match=r"Billing audit.*regulator inquiry"):
        redact_in_review(org.case, item, actor=org.mark_user, reason="private")

    assert Item.objects.filter(pk=item.pk).exists()
    assert AuditEvent.objects.filter(action="blocked_by_hold", target=f"item:{item.pk}").exists()
    refused = AuditEvent.objects.get(action="offboarding_redaction_blocked")
    assert refused.result == "denied"


def test_publish_needs_the_review_approved(in_review: Org) -> None:
    org = in_review
    with pytest.raises(CaseRefused, match="review is not approved"):
        publish(org.case, actor=org.hr_user)
    assert not SkillVersion.objects.exists()
    assert org.case.state == IN_REVIEW


def test_publish_builds_a_version_shared_with_the_team_only(in_review: Org) -> None:
    org = in_review
    outsider_employee = login("ollie", roles=(Role.EMPLOYEE,))
    assert not can_view_package(org.mark_user, org.dana)  # another department, no Manager role

    approve_review(org.case, actor=org.mark_user)
    case = publish(org.case, actor=org.hr_user)

    assert case.state == "published"
    version = SkillVersion.objects.get(package__colleague=org.dana)
    assert version.number == 1
    assert can_view_package(org.mark_user, org.dana)  # granted to the manager's login
    assert can_view_package(org.erin_user, org.dana)  # their department
    assert not can_view_package(org.olga_user, org.dana)
    assert not can_view_package(outsider_employee, org.dana)
    grants = {(g.department, g.user_id) for g in AccessGrant.objects.filter(colleague=org.dana)}
    assert grants == {("Billing", None), ("", org.mark_user.pk)}
    assert {i.step for i in case.checklist.all() if i.is_done} == {"capture", "review", "publish"}

    events = AuditEvent.objects.filter(target=f"offboarding:{case.pk}").order_by("seq")
    assert [e.action for e in events] == [
        "offboarding_opened",
        "offboarding_transition",  # notified
        "offboarding_transition",  # capturing
        "offboarding_capture_started",
        *["offboarding_capture_done"] * 3,
        "offboarding_step_done",  # capture
        "offboarding_transition",  # in review
        "offboarding_step_done",  # review
        "offboarding_step_done",  # publish
        "offboarding_transition",  # published
        "offboarding_published",
    ]
    published = events.get(action="offboarding_published")
    assert published.actor_name == "hr"
    assert published.detail["version"] == 1
    assert published.detail["access_policy"] == "team"
    grants_made = AuditEvent.objects.filter(
        action="grant_created", target=f"colleague:{org.dana.pk}"
    )
    assert grants_made.count() == 2


def test_an_organisation_wide_package_is_granted_to_every_employee(in_review: Org) -> None:
    org = in_review
    org.case.access_policy = "organisation"
    org.case.save(update_fields=["access_policy"])
    employee = login("ollie", roles=(Role.EMPLOYEE,))
    assert not can_view_package(employee, org.dana)

    approve_review(org.case, actor=org.hr_user)
    publish(org.case, actor=org.hr_user)

    assert can_view_package(employee, org.dana)
    (grant,) = AccessGrant.objects.filter(colleague=org.dana)
    assert grant.group is not None
    assert grant.group.name == Role.EMPLOYEE.value


def test_a_failed_publish_changes_nothing(in_review: Org) -> None:
    from skills.actions import BuildRefused

    org = in_review
    approve_review(org.case, actor=org.mark_user)
    org.dana.consent = "refused"
    org.dana.save(update_fields=["consent"])

    with pytest.raises(BuildRefused):
        publish(org.case, actor=org.hr_user)

    org.case.refresh_from_db()
    assert org.case.state == IN_REVIEW
    assert not AccessGrant.objects.exists()
    assert not org.case.checklist.get(step="publish").is_done


def test_the_review_page_redacts_after_asking_and_returns_to_the_reviewers_page(
    in_review: Org, client: Client
) -> None:
    org = in_review
    item = Item.objects.get(body=DANA_POST)
    client.force_login(org.mark_user)
    url = f"/offboarding/cases/{org.case.pk}/review/"
    page = client.get(url).content.decode()
    # Redacting is behind a disclosure that says what it does; nothing is deleted by one click.
    assert "deleted everywhere, for everyone, and cannot be brought back" in page
    assert 'name="reason"' in page

    response = client.post(f"{url}items/{item.pk}/redact/", {"reason": "", "page": "1"})

    assert response.status_code == 302
    assert response["Location"] == f"{url}?page=1"
    assert not Item.objects.filter(pk=item.pk).exists()
    event = AuditEvent.objects.get(action="item_redacted", target=f"item:{item.pk}")
    assert (
        event.detail["reason"] == f"offboarding #{org.case.pk}: removed in the offboarding review"
    )
