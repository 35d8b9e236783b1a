"""The offboarding REST API: HR only, and each operation's behaviour (issue 9)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, cast

import pytest
from django.contrib.auth.models import AbstractUser, Permission, User
from django.core import mail
from rest_framework.test import APIClient

from colleagues.models import Colleague
from colleagues.roles import Role
from knowledge.models import AuditEvent, Item, RetentionPolicy
from knowledge.retention.holds import place_hold
from offboarding.cases import complete_step, open_case, transition
from offboarding.handover import bus_factor, exit_interview_questions
from offboarding.models import CaptureRun, OffboardingCase, Successor
from skills.actions import build_package
from skills.models import SkillVersion
from tests import factories as f
from tests.knowledge.conftest import Org
from tests.knowledge.conftest import org as org  # the fixture
from tests.offboarding import test_capture
from tests.offboarding.test_capture import DANA_POST, ERIN_QUESTION, MAIL_SENT, captured
from tests.offboarding.test_capture import Org as CaptureOrg

pytestmark = pytest.mark.django_db

State = OffboardingCase.State
API = "/api/offboarding/cases/"
LAST_DAY = date(2026, 12, 18)
# Dana's organisation (tests.offboarding.test_capture), whose sources a capture can read, as
# the fixture `capture_org`.
capture_org = test_capture.org


@pytest.fixture
def hr(org: Org) -> User:
    return cast(User, f.make_user("hr", roles=(Role.HR_ADMIN,), email="hr@acme.test"))


@pytest.fixture
def case(org: Org) -> OffboardingCase:
    return open_case(org.alice, last_day=LAST_DAY, via="ui", actor=None)


def as_user(user: AbstractUser | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


# Who may call it.

CALLS: list[tuple[str, Callable[[int], str], dict[str, Any] | None]] = [
    ("get", lambda pk: API, None),
    ("post", lambda pk: API, {"colleague": "bob-baker", "last_day": "2026-12-01"}),
    ("get", lambda pk: f"{API}{pk}/", None),
    ("post", lambda pk: f"{API}{pk}/transition/", {"state": "notified"}),
    ("post", lambda pk: f"{API}{pk}/steps/connect_sources/", {}),
    ("post", lambda pk: f"{API}{pk}/retention/", {"days": 365}),
    ("get", lambda pk: f"{API}{pk}/successors/", None),
    ("post", lambda pk: f"{API}{pk}/successors/", {"area": "Billing", "successor": "bob-baker"}),
    ("get", lambda pk: f"{API}{pk}/capture/", None),
    ("get", lambda pk: f"{API}{pk}/review/", None),
    ("get", lambda pk: f"{API}{pk}/handover/", None),
    ("get", lambda pk: "/api/offboarding/bus-factor/", None),
]


@pytest.mark.parametrize(("method", "path", "data"), CALLS)
def test_hr_may_call_it_an_employee_is_403_and_anonymous_401(
    org: Org,
    hr: User,
    case: OffboardingCase,
    method: str,
    path: Callable[[int], str],
    data: dict[str, Any] | None,
) -> None:
    f.give_roles(org.carol_user, Role.EMPLOYEE, Role.MANAGER)
    url = path(case.pk)

    def call(user: AbstractUser | None) -> int:
        response = getattr(as_user(user), method)(url, data, format="json")
        return int(response.status_code)

    assert call(None) == 401
    assert call(org.carol_user) == 403
    assert call(hr) in (200, 201)


# Cases.


def test_the_list_filters_by_state_in_a_fixed_number_of_queries(
    org: Org, hr: User, case: OffboardingCase, django_assert_num_queries: Any
) -> None:
    other = open_case(org.bob, last_day=date(2026, 11, 1), via="api", actor=hr)
    open_case(org.carol, last_day=date(2027, 1, 1), via="ui", actor=None)
    client = as_user(hr)
    client.get(API)  # fills the permission cache of the (forced) `hr` user object

    with django_assert_num_queries(2):  # count, page with each case's colleague
        everyone = client.get(API).json()
    client.post(f"{API}{other.pk}/transition/", {"state": "notified"}, format="json")
    notified = client.get(API, {"state": "notified"}).json()

    assert [c["colleague"] for c in everyone["results"]] == [
        "bob-baker",
        "alice-archer",
        "carol-chen",
    ]
    assert [c["id"] for c in notified["results"]] == [other.pk]
    assert client.get(API, {"state": "gone"}).status_code == 400


def test_opening_a_case_returns_it_with_its_checklist_and_tells_hr(
    org: Org, hr: User, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(hr).post(
            API,
            {
                "colleague": "bob-baker",
                "last_day": "2026-12-01",
                "account_removal_on": "2026-12-31",
                "access_policy": "department",
            },
            format="json",
        )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["colleague"], body["state"], body["opened_via"]) == ("bob-baker", "planned", "api")
    assert body["access_policy"] == "department"
    assert [item["step"] for item in body["checklist"]][:2] == ["connect_sources", "exit_interview"]
    assert body["checklist"][0]["due_on"] == "2026-11-17"
    assert OffboardingCase.objects.get(pk=body["id"]).opened_by == hr
    assert [m.to for m in mail.outbox] == [["hr@acme.test"]]


def test_opening_a_second_case_is_409_and_bad_input_400(
    org: Org, hr: User, case: OffboardingCase
) -> None:
    client = as_user(hr)

    twice = client.post(API, {"colleague": "alice-archer", "last_day": "2026-12-01"}, format="json")
    nobody = client.post(API, {"colleague": "nobody", "last_day": "2026-12-01"}, format="json")
    reversed_dates = client.post(
        API,
        {"colleague": "bob-baker", "last_day": "2026-12-01", "account_removal_on": "2026-11-01"},
        format="json",
    )

    assert twice.status_code == 409
    assert "has an open offboarding case already" in twice.json()["detail"]
    assert nobody.status_code == 400
    assert nobody.json() == {"colleague": ["No colleague 'nobody'."]}
    assert reversed_dates.status_code == 400
    assert "account_removal_on" in reversed_dates.json()


def test_a_case_shows_its_checklist_and_another_id_is_404(hr: User, case: OffboardingCase) -> None:
    client = as_user(hr)
    complete_step(case, "connect_sources", actor=hr, note="Slack and mail")

    body = client.get(f"{API}{case.pk}/").json()

    first = body["checklist"][0]
    assert (first["step"], first["done_by"], first["note"]) == (
        "connect_sources",
        "hr",
        "Slack and mail",
    )
    assert body["checklist"][1]["done_at"] is None
    assert client.get(f"{API}{case.pk + 1000}/").status_code == 404


def test_moving_a_case_follows_the_state_machine(hr: User, case: OffboardingCase) -> None:
    client = as_user(hr)
    url = f"{API}{case.pk}/transition/"

    moved = client.post(url, {"state": "notified", "reason": "told them"}, format="json")
    refused = client.post(url, {"state": "published"}, format="json")
    unknown = client.post(url, {"state": "vanished"}, format="json")

    assert moved.status_code == 200
    assert moved.json()["state"] == "notified"
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith(f"Case #{case.pk} is notified: it cannot move")
    assert unknown.status_code == 400
    case.refresh_from_db()
    assert case.state == State.NOTIFIED
    event = AuditEvent.objects.get(action="offboarding_transition")
    assert (event.actor_name, event.detail["state"]) == ("hr", "notified")


def test_ticking_off_a_step_records_who_and_keeps_the_first_time(
    hr: User, case: OffboardingCase
) -> None:
    client = as_user(hr)
    url = f"{API}{case.pk}/steps/exit_interview/"

    first = client.post(url, {"note": "done on Friday"}, format="json").json()
    again = client.post(url, {"note": "again"}, format="json").json()

    assert (first["done_by"], first["note"]) == ("hr", "done on Friday")
    assert again["done_at"] == first["done_at"]
    assert again["note"] == "done on Friday"
    assert client.post(f"{API}{case.pk}/steps/lunch/", {}, format="json").status_code == 404


def test_setting_retention_records_a_policy_and_ticks_off_the_step(
    org: Org, hr: User, case: OffboardingCase
) -> None:
    client = as_user(hr)

    response = client.post(f"{API}{case.pk}/retention/", {"days": 730}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["retention_days"] == 730
    step = next(item for item in body["checklist"] if item["step"] == "set_retention")
    assert step["done_by"] == "hr"
    assert RetentionPolicy.objects.get(colleague=org.alice).keep_days == 730
    zero = client.post(f"{API}{case.pk}/retention/", {"days": 0}, format="json")
    assert zero.status_code == 400


def test_successors_are_named_per_area_and_listed(
    org: Org, hr: User, case: OffboardingCase
) -> None:
    client = as_user(hr)
    url = f"{API}{case.pk}/successors/"

    named = client.post(
        url, {"area": "Billing keys", "successor": "bob-baker", "note": "KMS"}, format="json"
    )
    nobody_yet = client.post(url, {"area": "Vault", "successor": None}, format="json")
    listed = client.get(url).json()

    assert named.status_code == nobody_yet.status_code == 200
    rows = {row["area"]: (row["successor"], row["note"]) for row in listed}
    assert rows == {"billing keys": ("bob-baker", "KMS"), "vault": (None, "")}
    assert Successor.objects.get(area="billing keys").successor == org.bob


def test_a_successor_must_be_someone_staying(org: Org, hr: User, case: OffboardingCase) -> None:
    client = as_user(hr)
    url = f"{API}{case.pk}/successors/"

    themselves = client.post(url, {"area": "Billing", "successor": "alice-archer"}, format="json")
    unknown = client.post(url, {"area": "Billing", "successor": "nobody"}, format="json")

    assert themselves.status_code == unknown.status_code == 400
    assert not Successor.objects.exists()


def test_successors_of_a_closed_case_cannot_change(hr: User, case: OffboardingCase) -> None:
    client = as_user(hr)
    client.post(f"{API}{case.pk}/transition/", {"state": "archived"}, format="json")

    response = client.post(
        f"{API}{case.pk}/successors/", {"area": "Billing", "successor": "bob-baker"}, format="json"
    )

    assert response.status_code == 409
    assert not Successor.objects.exists()


# HR-only actions, for someone who reviews the case.


@pytest.fixture
def carols_case(org: Org) -> OffboardingCase:
    """Carol leaves; Bob is her manager, so he reviews her case (but is not HR)."""
    Colleague.objects.filter(pk=org.carol.pk).update(manager=org.bob)
    return open_case(org.carol, last_day=LAST_DAY, via="ui", actor=None)


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("post", "capture/", {"sources": []}),
        ("post", "publish/", None),
        ("get", "", None),
        ("post", "transition/", {"state": "archived"}),
    ],
)
def test_hr_actions_are_403_to_the_manager_who_reviews(
    org: Org, carols_case: OffboardingCase, method: str, path: str, data: dict[str, Any] | None
) -> None:
    response = getattr(as_user(org.bob_user), method)(
        f"{API}{carols_case.pk}/{path}", data, format="json"
    )

    assert response.status_code == 403
    carols_case.refresh_from_db()
    assert carols_case.state == State.PLANNED


def test_a_case_that_does_not_exist_is_404_to_hr_only(org: Org, hr: User) -> None:
    url = f"{API}999999/review/"

    assert as_user(hr).get(url).status_code == 404
    # Anyone else cannot tell whether a case of that id exists.
    assert as_user(org.bob_user).get(url).status_code == 403


# Capture.


def test_hr_starts_a_capture_and_reviewers_follow_its_progress(
    org: Org, hr: User, carols_case: OffboardingCase
) -> None:
    client = as_user(hr)
    client.post(f"{API}{carols_case.pk}/transition/", {"state": "notified"}, format="json")

    started = client.post(
        f"{API}{carols_case.pk}/capture/",
        {"sources": [org.source.pk, org.mail.pk]},
        format="json",
    )
    progress = as_user(org.bob_user).get(f"{API}{carols_case.pk}/capture/")

    assert started.status_code == 202, started.content
    body = started.json()
    assert body["state"] == "capturing"
    assert {(run["source"], run["state"]) for run in body["runs"]} == {
        ("acme-slack", "queued"),
        ("acme-mail", "queued"),
    }
    assert (body["total"], body["finished"]) == (2, False)
    assert progress.status_code == 200
    assert progress.json() == body
    event = AuditEvent.objects.get(action="offboarding_capture_started")
    assert event.actor_name == "hr"


def test_a_capture_needs_known_sources_and_a_notified_case(
    org: Org, hr: User, case: OffboardingCase
) -> None:
    client = as_user(hr)
    url = f"{API}{case.pk}/capture/"
    upload = f.make_source("uploads", kind="upload")

    planned = client.post(url, {"sources": [org.source.pk]}, format="json")
    unknown = client.post(url, {"sources": [org.source.pk, 999999, upload.pk]}, format="json")
    none = client.post(url, {"sources": []}, format="json")

    assert planned.status_code == 409
    assert "capture starts once the person is notified" in planned.json()["detail"]
    assert unknown.status_code == 400
    assert unknown.json() == {
        "sources": [f"No source #{pk} to capture from." for pk in (upload.pk, 999999)]
    }
    assert none.status_code == 400
    assert not CaptureRun.objects.exists()


# The review.


def review_rows(response: Any) -> dict[str, dict[str, Any]]:
    """The review's items by kind (one of each in these tests)."""
    return {row["kind"]: row for row in response.json()["results"]}


def test_the_manager_reviews_through_the_api_reading_only_what_they_could_see_at_the_source(
    org: Org, hr: User, carols_case: OffboardingCase
) -> None:
    # Carol's #general message is public; her mail went to Alice only.
    url = f"{API}{carols_case.pk}/review/"
    mail = Item.objects.get(body__contains="narwhal")

    as_manager = as_user(org.bob_user).get(url)

    assert as_manager.status_code == 200
    body = as_manager.json()
    assert body["per_source"] == [
        {"source": "acme-mail", "kind": "email", "items": 1},
        {"source": "acme-slack", "kind": "slack-export", "items": 1},
    ]
    assert (body["count"], body["next"], body["previous"]) == (2, None, None)
    assert body["review_approved"] is False
    rows = review_rows(as_manager)
    assert rows["message"]["readable"] is True
    assert rows["message"]["text"].startswith("Forecast numbers for the quarter")
    assert rows["message"]["container"] == "general"
    assert rows["email"] == {
        "id": mail.pk,
        "kind": "email",
        "source": "acme-mail",
        "container_kind": rows["email"]["container_kind"],
        "created_at": rows["email"]["created_at"],
        "readable": False,
        "title": None,
        "text": None,
        "container": None,
    }
    assert b"narwhal" not in as_manager.content
    assert b"Budget" not in as_manager.content
    # HR, who has no identity at the sources, reads only what is public there too.
    assert review_rows(as_user(hr).get(url))["email"]["text"] is None


def test_the_person_reads_all_of_their_own_and_others_may_not_review(
    org: Org, carols_case: OffboardingCase
) -> None:
    url = f"{API}{carols_case.pk}/review/"

    own = review_rows(as_user(org.carol_user).get(url))

    assert own["email"]["readable"] is True
    assert "narwhal budget" in own["email"]["text"]
    assert as_user(org.alice_user).get(url).status_code == 403  # the mail was to her, still 403


def test_the_manager_reads_what_they_could_see_in_a_private_channel(
    org: Org, case: OffboardingCase
) -> None:
    # Bob is in the private #payments-incidents with Alice; Carol is not.
    Colleague.objects.filter(pk=org.alice.pk).update(manager=org.bob)
    url = f"{API}{case.pk}/review/"
    f.give_roles(org.carol_user, Role.MANAGER)

    texts = [row["text"] for row in as_user(org.bob_user).get(url).json()["results"]]

    assert any("zebracorn" in (text or "") for text in texts)
    assert as_user(org.carol_user).get(url).status_code == 403


def test_the_review_is_paged_in_a_fixed_number_of_queries(
    org: Org, carols_case: OffboardingCase, django_assert_num_queries: Any
) -> None:
    client = as_user(org.bob_user)
    url = f"{API}{carols_case.pk}/review/"
    client.get(url)  # fills the permission cache of the (forced) user object

    # The case; the count and the page; the manager's reader (colleague, identities, department,
    # grants) and what of the page they could see; whether it is approved; per-source counts.
    with django_assert_num_queries(10):
        client.get(url)
    assert client.get(url, {"page": 2}).status_code == 404


def test_redacting_approving_and_publishing_are_refused_outside_the_review(
    org: Org, hr: User, carols_case: OffboardingCase
) -> None:
    client = as_user(hr)
    forecast = Item.objects.get(body__contains="Forecast numbers")
    redact = f"{API}{carols_case.pk}/review/items/{forecast.pk}/redact/"

    not_in_review = client.post(redact, {"reason": "private"}, format="json")
    no_reason = client.post(redact, {}, format="json")
    no_item = client.post(
        f"{API}{carols_case.pk}/review/items/999999/redact/", {"reason": "x"}, format="json"
    )
    approve = client.post(f"{API}{carols_case.pk}/review/approve/", {}, format="json")
    publish = client.post(f"{API}{carols_case.pk}/publish/", format="json")

    assert not_in_review.status_code == 409
    assert not_in_review.json()["detail"] == f"Case #{carols_case.pk} is planned, not in review."
    assert no_reason.status_code == 400
    assert no_item.status_code == 404
    assert approve.status_code == 409
    assert publish.status_code == 409
    assert "only a case in review is published" in publish.json()["detail"]
    assert Item.objects.filter(pk=forecast.pk).exists()


# Handover and the bus factor.


def test_reviewers_see_the_handover_map_and_the_exit_interview_questions(
    org: Org, hr: User, case: OffboardingCase
) -> None:
    Colleague.objects.filter(pk=org.alice.pk).update(manager=org.bob)
    build_package(org.alice)
    as_user(hr).post(
        f"{API}{case.pk}/successors/", {"area": "Vault", "successor": "carol-chen"}, format="json"
    )

    response = as_user(org.bob_user).get(f"{API}{case.pk}/handover/")

    assert response.status_code == 200
    body = response.json()
    assert {row["area"]: row["successor"] for row in body["areas"]}["vault"] == "carol-chen"
    assert body["questions"] == exit_interview_questions(org.alice)
    assert as_user(org.carol_user).get(f"{API}{case.pk}/handover/").status_code == 403


def test_the_bus_factor_is_for_hr_who_may_read_every_package(org: Org, hr: User) -> None:
    build_package(org.alice)
    runs_offboarding_only = cast(User, f.make_user("olive"))
    runs_offboarding_only.user_permissions.add(
        Permission.objects.get(codename="manage_offboarding")
    )
    url = "/api/offboarding/bus-factor/"

    topics = as_user(hr).get(url)

    assert topics.status_code == 200
    assert topics.json() == [
        {
            "name": topic.name,
            "kind": topic.kind,
            "holder": topic.holder.slug,
            "holder_name": topic.holder.name,
            "items": topic.items,
            "asked": topic.asked,
            "leaving": topic.leaving,
        }
        for topic in bus_factor()
    ]
    assert as_user(runs_offboarding_only).get(url).status_code == 403


# From capture to publication, on sources that can be read.


def test_a_case_goes_from_capture_to_publication_through_the_api(
    capture_org: CaptureOrg, django_capture_on_commit_callbacks: Any
) -> None:
    org = capture_org
    hr, manager, person = as_user(org.hr_user), as_user(org.mark_user), as_user(org.dana_user)
    url = f"{API}{org.case.pk}/"
    sources = [org.slack.pk, org.mail.pk, org.docs.pk]

    with django_capture_on_commit_callbacks(execute=True):
        assert hr.post(f"{url}capture/", {"sources": sources}, format="json").status_code == 202
    progress = manager.get(f"{url}capture/").json()
    assert (progress["done"], progress["finished"]) == (3, True)
    assert hr.post(f"{url}transition/", {"state": "in_review"}, format="json").status_code == 200

    # Dana reads all of hers; Mark, not in the mail, reads her messages but not her mail.
    own = {row["id"]: row for row in person.get(f"{url}review/").json()["results"]}
    seen = {row["id"]: row for row in manager.get(f"{url}review/").json()["results"]}
    sent = Item.objects.get(body=MAIL_SENT)
    assert own.keys() == seen.keys()
    assert own[sent.pk]["text"] == MAIL_SENT
    assert (seen[sent.pk]["readable"], seen[sent.pk]["text"]) == (False, None)

    post = Item.objects.get(body=DANA_POST)
    redacted = manager.post(
        f"{url}review/items/{post.pk}/redact/", {"reason": "not for the successor"}, format="json"
    )
    assert redacted.status_code == 204
    assert not Item.objects.filter(pk=post.pk).exists()
    erins = Item.objects.get(body=ERIN_QUESTION)
    not_hers = manager.post(
        f"{url}review/items/{erins.pk}/redact/", {"reason": "tidy up"}, format="json"
    )
    assert not_hers.status_code == 409
    assert not_hers.json()["detail"] == f"Item #{erins.pk} is not one of Dana Diaz's."

    by_person = person.post(f"{url}review/approve/", {}, format="json")
    assert by_person.status_code == 403
    assert by_person.json()["detail"] == "Only their manager or HR approves the review."
    too_early = hr.post(f"{url}publish/", format="json")
    assert too_early.status_code == 409
    assert "review is not approved" in too_early.json()["detail"]
    approved = manager.post(f"{url}review/approve/", {"note": "fine"}, format="json")
    assert approved.status_code == 200
    assert (approved.json()["done_by"], approved.json()["note"]) == ("mark", "fine")
    assert manager.get(f"{url}review/").json()["review_approved"] is True

    published = hr.post(f"{url}publish/", format="json")
    assert published.status_code == 200, published.content
    assert published.json()["state"] == "published"
    assert SkillVersion.objects.filter(package__colleague=org.dana).count() == 1


def test_a_legal_hold_keeps_an_item_the_api_is_asked_to_redact(
    capture_org: CaptureOrg, django_capture_on_commit_callbacks: Any
) -> None:
    org = capture_org
    captured(org, django_capture_on_commit_callbacks, org.slack)
    transition(org.case, State.IN_REVIEW, actor=org.hr_user)
    place_hold(name="Billing audit", reason="regulator inquiry", owner=None, colleague=org.dana)
    post = Item.objects.get(body=DANA_POST)

    response = as_user(org.mark_user).post(
        f"{API}{org.case.pk}/review/items/{post.pk}/redact/", {"reason": "private"}, format="json"
    )

    assert response.status_code == 409
    assert "Billing audit" in response.json()["detail"]
    assert Item.objects.filter(pk=post.pk).exists()
