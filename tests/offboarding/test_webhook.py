"""The HR system's webhook: signed deliveries open, reschedule and cancel cases; anything
unsigned, stale, replayed or malformed is refused (issue 9)."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any, cast

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from knowledge.models import AuditEvent
from offboarding.cases import open_case
from offboarding.models import OffboardingCase, WebhookDelivery
from offboarding.webhook import MAX_AGE_SECONDS, MAX_BODY_BYTES, SignatureRefused, sign
from offboarding.webhook import verify_signature as verify
from tests.knowledge.conftest import Org
from tests.knowledge.conftest import org as org  # the fixture

URL = "/api/offboarding/webhook/"
SECRET = "whsec-test-0123456789abcdef"
State = OffboardingCase.State


def scheduled(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event": "offboarding.scheduled",
        "id": "HR-123",
        "employee": {"email": "alice@acme.test"},
        "last_day": "2026-12-31",
        "account_removal_on": "2027-01-30",
    }
    body.update(changes)
    return body


_deliveries = iter(range(1, 1_000_000))


def deliver(
    body: dict[str, Any] | bytes,
    *,
    delivery: str | None = None,
    timestamp: str | None = None,
    signature: str | None = None,
    secret: str = SECRET,
    client: Client | None = None,
    content_type: str = "application/json",
) -> Any:
    """POST `body` signed as the HR system signs it (unless `signature` is given)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    timestamp = timestamp if timestamp is not None else str(int(time.time()))
    delivery = delivery or f"delivery-{next(_deliveries)}"
    headers = {
        "X-Colleague-Timestamp": timestamp,
        "X-Colleague-Delivery": delivery,
        "X-Colleague-Signature": signature or sign(secret, timestamp, delivery, raw),
    }
    return (client or Client()).post(URL, raw, content_type=content_type, headers=headers)


@pytest.fixture(autouse=True)
def _secret(settings: Settings) -> None:
    settings.OFFBOARDING_WEBHOOK_SECRET = SECRET


def denied_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="offboarding_webhook", result="denied"))


# Accepted deliveries.


@pytest.mark.django_db
def test_a_signed_delivery_opens_a_case_for_the_person_without_csrf_or_login(org: Org) -> None:
    response = deliver(scheduled(), delivery="d-1", client=Client(enforce_csrf_checks=True))

    assert response.status_code == 201, response.content
    case = OffboardingCase.objects.get()
    assert response.json() == {"case": case.pk, "state": "planned", "created": True}
    assert (case.colleague, case.opened_via, case.external_id) == (org.alice, "webhook", "HR-123")
    assert (case.last_day, case.account_removal_on) == (date(2026, 12, 31), date(2027, 1, 30))
    assert case.checklist.count() == 7
    assert WebhookDelivery.objects.filter(delivery_id="d-1").exists()
    event = AuditEvent.objects.get(action="offboarding_webhook")
    assert (event.result, event.target, event.detail["delivery"]) == (
        "ok",
        f"offboarding:{case.pk}",
        "d-1",
    )


@pytest.mark.django_db
def test_an_address_is_matched_in_any_case(org: Org) -> None:
    response = deliver(scheduled(employee={"email": "Alice@ACME.test"}))
    assert response.status_code == 201
    assert OffboardingCase.objects.get().colleague == org.alice


@pytest.mark.django_db
def test_scheduling_the_same_hr_id_again_returns_the_existing_case(org: Org) -> None:
    first = deliver(scheduled()).json()

    again = deliver(scheduled(last_day="2026-11-30"))

    assert again.status_code == 200
    assert again.json() == {**first, "created": False}
    assert OffboardingCase.objects.get().last_day == date(2026, 12, 31)


@pytest.mark.django_db
def test_updated_moves_the_dates_and_redates_the_open_steps(org: Org) -> None:
    deliver(scheduled())
    case = OffboardingCase.objects.get()
    before = dict(case.checklist.values_list("step", "due_on"))

    response = deliver({"event": "offboarding.updated", "id": "HR-123", "last_day": "2027-01-15"})

    assert response.status_code == 200, response.content
    case.refresh_from_db()
    assert (case.last_day, case.account_removal_on) == (date(2027, 1, 15), date(2027, 1, 30))
    after = dict(case.checklist.values_list("step", "due_on"))
    assert (after["connect_sources"] - before["connect_sources"]).days == 15
    assert after["capture"] == before["capture"]  # relative to the unchanged removal date
    assert AuditEvent.objects.filter(action="offboarding_rescheduled").count() == 1


@pytest.mark.django_db
def test_cancelled_archives_the_case_and_again_changes_nothing(org: Org) -> None:
    deliver(scheduled())

    response = deliver({"event": "offboarding.cancelled", "id": "HR-123"})
    again = deliver({"event": "offboarding.cancelled", "id": "HR-123"})

    assert response.status_code == again.status_code == 200
    assert response.json()["state"] == again.json()["state"] == "archived"
    assert OffboardingCase.objects.get().state == State.ARCHIVED
    assert AuditEvent.objects.filter(action="offboarding_transition").count() == 1


@pytest.mark.django_db
def test_a_case_that_cannot_be_called_off_any_more_is_a_conflict(org: Org) -> None:
    deliver(scheduled())
    OffboardingCase.objects.update(state=State.PUBLISHED)

    response = deliver({"event": "offboarding.cancelled", "id": "HR-123"})

    assert response.status_code == 409
    assert "cannot move to archived" in response.json()["detail"]


# Refused deliveries.


@pytest.mark.django_db
def test_a_bad_signature_is_refused_changes_nothing_and_is_audited(org: Org) -> None:
    response = deliver(scheduled(), signature="sha256=" + "0" * 64)

    assert response.status_code == 401
    assert response.json() == {"detail": "The signature does not match."}
    assert not OffboardingCase.objects.exists()
    assert not WebhookDelivery.objects.exists()
    [event] = denied_events()
    assert (event.target, event.detail["reason"]) == (
        "offboarding:webhook",
        "The signature does not match.",
    )


@pytest.mark.django_db
def test_a_signature_with_another_secret_is_refused(org: Org) -> None:
    assert deliver(scheduled(), secret="someone-elses").status_code == 401
    assert not OffboardingCase.objects.exists()


@pytest.mark.django_db
def test_a_body_changed_by_one_byte_is_refused(org: Org) -> None:
    raw = json.dumps(scheduled()).encode()
    timestamp = str(int(time.time()))
    signature = sign(SECRET, timestamp, "d-1", raw)

    tampered = raw.replace(b"2026-12-31", b"2026-12-30")
    response = deliver(tampered, delivery="d-1", timestamp=timestamp, signature=signature)

    assert response.status_code == 401
    assert not OffboardingCase.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["X-Colleague-Timestamp", "X-Colleague-Signature"])
def test_a_missing_header_is_refused(org: Org, header: str) -> None:
    raw = json.dumps(scheduled()).encode()
    timestamp = str(int(time.time()))
    headers = {
        "X-Colleague-Timestamp": timestamp,
        "X-Colleague-Delivery": "d-1",
        "X-Colleague-Signature": sign(SECRET, timestamp, "d-1", raw),
    }
    del headers[header]

    response = Client().post(URL, raw, content_type="application/json", headers=headers)

    assert response.status_code == 401
    assert len(denied_events()) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("skew", [-(MAX_AGE_SECONDS + 1), MAX_AGE_SECONDS + 1, -86_400])
def test_a_stale_or_future_timestamp_is_refused_even_when_signed(org: Org, skew: int) -> None:
    response = deliver(scheduled(), timestamp=str(int(time.time()) + skew))

    assert response.status_code == 401
    assert "5 minutes" in response.json()["detail"]
    assert not OffboardingCase.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("timestamp", ["soon", "1.7e9", "-5", " 1700000000", "１７００"])
def test_a_timestamp_that_is_not_unix_seconds_is_refused(org: Org, timestamp: str) -> None:
    assert deliver(scheduled(), timestamp=timestamp).status_code == 401


@pytest.mark.django_db
def test_a_replayed_delivery_is_refused_and_audited(org: Org) -> None:
    first = deliver(scheduled(), delivery="d-1")

    replay = deliver(scheduled(), delivery="d-1")
    other_body = deliver({"event": "offboarding.cancelled", "id": "HR-123"}, delivery="d-1")

    assert first.status_code == 201
    assert replay.status_code == other_body.status_code == 409
    assert replay.json() == {"detail": "Delivery 'd-1' was received already."}
    assert OffboardingCase.objects.get().state == State.PLANNED
    assert WebhookDelivery.objects.count() == 1
    assert [e.detail["reason"] for e in denied_events()] == ["replay", "replay"]


@pytest.mark.django_db
def test_an_unknown_person_is_422_and_the_delivery_may_be_sent_again(org: Org) -> None:
    body = scheduled(employee={"email": "dave@acme.test"})

    response = deliver(body, delivery="d-9")

    assert response.status_code == 422
    assert "No colleague has the address dave@acme.test" in response.json()["detail"]
    assert not WebhookDelivery.objects.exists()
    org.carol.email = "dave@acme.test"
    org.carol.save(update_fields=["email"])
    assert deliver(body, delivery="d-9").status_code == 201


@pytest.mark.django_db
def test_an_update_for_an_unknown_hr_id_is_422(org: Org) -> None:
    response = deliver({"event": "offboarding.updated", "id": "HR-404", "last_day": "2027-01-01"})
    assert response.status_code == 422
    assert "HR-404" in response.json()["detail"]


@pytest.mark.django_db
def test_a_case_opened_here_first_takes_the_hr_systems_id_and_dates(org: Org) -> None:
    opened = open_case(org.alice, last_day=date(2026, 12, 1), via="directory")
    response = deliver(scheduled())
    assert response.status_code == 200
    case = OffboardingCase.objects.get()
    assert case.pk == opened.pk
    assert (case.external_id, case.last_day) == ("HR-123", date(2026, 12, 31))
    assert case.account_removal_on == date(2027, 1, 30)
    # From now on the HR system's events find it.
    assert deliver({**scheduled(), "event": "offboarding.cancelled"}).status_code == 200
    case.refresh_from_db()
    assert case.state == "archived"


@pytest.mark.django_db
def test_a_person_with_an_open_case_is_a_conflict(org: Org) -> None:
    deliver(scheduled())
    response = deliver(scheduled(id="HR-999"))
    assert response.status_code == 409
    assert "open offboarding case already" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid UTF-8 JSON"),
        (b"\xff\xfe{}", "not valid UTF-8 JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"[" * 10_000 + b"]" * 10_000, "not valid UTF-8 JSON"),
        (b'{"event": "offboarding.cancelled", "id": "a", "id": "b"}', "appears twice"),
        (b'{"event": "offboarding.cancelled", "id": NaN}', "NaN is not a JSON value"),
        (json.dumps(scheduled(last_date="2026-12-31")).encode(), "Unknown key 'last_date'"),
        (json.dumps(scheduled(event="offboarding.hired")).encode(), "event must be one of"),
        (json.dumps(scheduled(id=123)).encode(), "id must be a string"),
        (json.dumps(scheduled(id="  ")).encode(), "id must not be empty"),
        (json.dumps(scheduled(id="a\nb")).encode(), "printable"),
        (json.dumps(scheduled(id="x" * 201)).encode(), "at most 200"),
        (json.dumps(scheduled(employee="alice@acme.test")).encode(), "employee must be"),
        (json.dumps(scheduled(employee={"email": "nope"})).encode(), "not an email address"),
        (json.dumps(scheduled(employee={"email": "a@b.c", "x": 1})).encode(), "employee.x"),
        (json.dumps(scheduled(last_day="31/12/2026")).encode(), "YYYY-MM-DD"),
        (json.dumps(scheduled(last_day="2026-02-30")).encode(), "not a calendar date"),
        (json.dumps(scheduled(last_day=20261231)).encode(), "YYYY-MM-DD"),
        (json.dumps(scheduled(last_day=None)).encode(), "last_day is required"),
        (json.dumps(scheduled(account_removal_on="2026-01-01")).encode(), "must not be before"),
        (json.dumps({"event": "offboarding.updated", "id": "HR-1"}).encode(), "needs last_day"),
    ],
)
def test_malformed_bodies_are_400_with_a_message(org: Org, body: bytes, message: str) -> None:
    response = deliver(body)

    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]
    assert not OffboardingCase.objects.exists()
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_a_body_over_the_limit_is_refused_before_it_is_read(org: Org) -> None:
    body = json.dumps(scheduled(id="x" * MAX_BODY_BYTES)).encode()
    assert deliver(body).status_code == 413


@pytest.mark.django_db
def test_a_body_that_is_not_declared_json_is_refused(org: Org) -> None:
    response = deliver(scheduled(), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "application/json" in response.json()["detail"]


@pytest.mark.django_db
def test_a_missing_delivery_id_is_refused(org: Org) -> None:
    raw = json.dumps(scheduled()).encode()
    timestamp = str(int(time.time()))
    headers = {
        "X-Colleague-Timestamp": timestamp,
        "X-Colleague-Signature": sign(SECRET, timestamp, "", raw),
    }
    response = Client().post(URL, raw, content_type="application/json", headers=headers)
    # The delivery id is part of what is signed: without it nothing is verified.
    assert response.status_code == 401
    assert len(denied_events()) == 1


@pytest.mark.django_db
def test_without_a_secret_the_webhook_is_not_there(org: Org, settings: Settings) -> None:
    settings.OFFBOARDING_WEBHOOK_SECRET = ""
    response = deliver(scheduled(), secret="")
    assert response.status_code == 404
    assert not OffboardingCase.objects.exists()
    assert not denied_events()


@pytest.mark.django_db
def test_the_webhook_is_not_in_the_api_schema(org: Org) -> None:
    client = Client()
    client.force_login(cast(User, org.alice_user))
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert URL not in schema["paths"]
    assert "/api/offboarding/cases/" in schema["paths"]


# The signature, as a property.

bodies = st.binary(max_size=300)
timestamps = st.integers(min_value=0, max_value=10**11).map(str)


@given(body=bodies, timestamp=timestamps)
def test_what_is_signed_verifies(body: bytes, timestamp: str) -> None:
    verify(
        secret=SECRET,
        timestamp=timestamp,
        delivery="d-1",
        signature=sign(SECRET, timestamp, "d-1", body),
        body=body,
        now=int(timestamp) + 7,
    )


@given(
    body=bodies,
    timestamp=timestamps,
    data=st.data(),
    part=st.sampled_from(["body", "timestamp", "delivery", "signature", "secret"]),
)
def test_any_tampering_is_refused(body: bytes, timestamp: str, data: Any, part: str) -> None:
    """Change the body, the timestamp, the delivery id, the signature or the key in any way:
    refused."""
    delivery = "d-1"
    signature = sign(SECRET, timestamp, delivery, body)
    secret, now = SECRET, int(timestamp)
    if part == "body":
        body = data.draw(bodies.filter(lambda other: other != body), label="body")
    elif part == "timestamp":
        timestamp = data.draw(st.text(max_size=14).filter(lambda t: t != timestamp))
        now = int(timestamp) if timestamp.isascii() and timestamp.isdigit() else now
    elif part == "delivery":
        delivery = data.draw(st.text(max_size=40).filter(lambda d: d != "d-1"))
    elif part == "signature":
        signature = data.draw(st.text(max_size=80).filter(lambda s: s != signature))
    else:
        secret = data.draw(st.text(min_size=1, max_size=40).filter(lambda s: s != SECRET))
    with pytest.raises(SignatureRefused):
        verify(
            secret=secret,
            timestamp=timestamp,
            delivery=delivery,
            signature=signature,
            body=body,
            now=now,
        )


@given(skew=st.integers(min_value=MAX_AGE_SECONDS + 1, max_value=10**9), sign_of=st.booleans())
def test_a_correct_signature_on_a_stale_timestamp_is_refused(skew: int, sign_of: bool) -> None:
    timestamp = str(2_000_000_000)
    now = int(timestamp) + (skew if sign_of else -skew)
    with pytest.raises(SignatureRefused):
        verify(
            secret=SECRET,
            timestamp=timestamp,
            delivery="d-1",
            signature=sign(SECRET, timestamp, "d-1", b"{}"),
            body=b"{}",
            now=now,
        )


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    timestamp=st.one_of(st.none(), st.text(max_size=20), timestamps),
    signature=st.one_of(st.none(), st.text(max_size=80)),
)
def test_the_endpoint_answers_401_never_500_to_forged_headers(
    org: Org, timestamp: str | None, signature: str | None
) -> None:
    headers = {"X-Colleague-Delivery": "d-1"}
    if timestamp is not None:
        headers["X-Colleague-Timestamp"] = timestamp
    if signature is not None:
        headers["X-Colleague-Signature"] = signature
    raw = json.dumps(scheduled()).encode()
    response = Client().post(URL, raw, content_type="application/json", headers=headers)
    assert response.status_code == 401
    assert not OffboardingCase.objects.exists()


@pytest.mark.django_db
def test_a_captured_request_sent_again_under_a_new_delivery_id_is_refused(org: Org) -> None:
    raw = json.dumps(scheduled()).encode()
    timestamp = str(int(time.time()))
    signature = sign(SECRET, timestamp, "d-7", raw)
    first = deliver(raw, delivery="d-7", timestamp=timestamp, signature=signature)
    assert first.status_code in (200, 201)
    again = deliver(raw, delivery="d-8", timestamp=timestamp, signature=signature)
    assert again.status_code == 401
    assert OffboardingCase.objects.count() == 1
