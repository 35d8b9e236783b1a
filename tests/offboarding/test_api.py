"""The offboarding REST API: HR only, and each operation's behaviour (issue 9)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, cast

import pytest
from django.contrib.auth.models import AbstractUser, User
from django.core import mail
from rest_framework.test import APIClient

from colleagues.roles import Role
from knowledge.models import AuditEvent, RetentionPolicy
from offboarding.cases import complete_step, open_case
from offboarding.models import OffboardingCase, Successor
from tests import factories as f
from tests.knowledge.conftest import Org
from tests.knowledge.conftest import org as org  # the fixture

pytestmark = pytest.mark.django_db

State = OffboardingCase.State
API = "/api/offboarding/cases/"
LAST_DAY = date(2026, 12, 18)


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
