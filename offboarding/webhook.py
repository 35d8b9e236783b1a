"""The HR system's webhook: departures scheduled, rescheduled and called off (issue 9).

`POST /api/offboarding/webhook/` with a JSON body such as

    {"event": "offboarding.scheduled", "id": "HR-123", "employee": {"email": "a@example.org"},
     "last_day": "2026-12-31", "account_removal_on": "2027-01-30"}

and three headers:

- `X-Colleague-Timestamp`: unix seconds when it was sent; more than `MAX_AGE_SECONDS` away from
  our clock (either way) is refused;
- `X-Colleague-Delivery`: the delivery's unique id; an id already accepted is a replay (409). It
  is stored in the transaction that makes the change, so a delivery refused for its content
  (an unknown person, say) may be sent again under the same id once that is fixed;
- `X-Colleague-Signature`: `sha256=` and the hex HMAC-SHA256, keyed with
  OFFBOARDING_WEBHOOK_SECRET, of `f"{timestamp}.{delivery id}.{raw body}"` (see `sign`),
  compared in constant time: a captured request cannot be sent again under another delivery
  id. A missing or wrong signature (a missing delivery id included), or a stale timestamp, is
  401 and an audit event with result "denied".

Events: `offboarding.scheduled` opens a case (trigger "webhook", `external_id` = `id`) for the
colleague with that address, or returns the case already opened for that id, or gives a case
opened here first (the directory sync, HR) that id and the event's dates;
`offboarding.updated` moves its dates (`cases.change_dates`); `offboarding.cancelled` archives
it. Bodies are checked strictly: unknown or duplicate keys, wrong types and malformed dates are
400 with a message naming the field.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from colleagues.selectors import colleague_by_email
from knowledge import audit
from offboarding.cases import (
    CaseRefused,
    change_dates,
    link_to_hr_system,
    open_case,
    open_case_of,
    transition,
)
from offboarding.models import OffboardingCase, WebhookDelivery

State = OffboardingCase.State

SIGNATURE_PREFIX = "sha256="
MAX_AGE_SECONDS = 300
MAX_BODY_BYTES = 64 * 1024
AUDIT_ACTION = "offboarding_webhook"
SCHEDULED = "offboarding.scheduled"
UPDATED = "offboarding.updated"
CANCELLED = "offboarding.cancelled"
EVENTS = (SCHEDULED, UPDATED, CANCELLED)

_KEYS = frozenset({"event", "id", "employee", "last_day", "account_removal_on"})
_EMPLOYEE_KEYS = frozenset({"email"})
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Unix seconds as the HR system sends them: digits only, no sign, no fraction.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class WebhookError(Exception):
    """A delivery refused; `status` is the HTTP answer, the message says why."""

    status: ClassVar[int] = 400


class SignatureRefused(WebhookError):
    """Missing or wrong signature, or a timestamp too far from now."""

    status = 401


class PayloadInvalid(WebhookError):
    """The body is not the JSON this endpoint takes."""

    status = 400


class BodyTooLarge(WebhookError):
    status = 413


class UnknownSubject(WebhookError):
    """The person or the case the delivery names is not known here."""

    status = 422


class Conflict(WebhookError):
    """A replay, or a change the case's state does not allow."""

    status = 409


@dataclass(frozen=True)
class HrEvent:
    """One validated delivery body."""

    event: str
    hr_id: str
    email: str
    last_day: date | None
    account_removal_on: date | None


@dataclass(frozen=True)
class Outcome:
    case: OffboardingCase
    created: bool


# The signature.


def sign(secret: str, timestamp: str, delivery: str, body: bytes) -> str:
    """Return the `X-Colleague-Signature` value for `body` sent at `timestamp` as the delivery
    `delivery`."""
    message = f"{timestamp}.{delivery}.".encode("utf-8", "replace") + body
    mac = hmac.new(secret.encode(), message, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(
    *,
    secret: str,
    timestamp: str | None,
    delivery: str | None,
    signature: str | None,
    body: bytes,
    now: float,
) -> None:
    """Return if `signature` is `sign(secret, timestamp, delivery, body)` and `timestamp` is
    within
    MAX_AGE_SECONDS of `now`; raise SignatureRefused (saying which) otherwise."""
    if not secret:
        raise SignatureRefused("The webhook has no secret configured.")
    if not timestamp or not signature or not delivery:
        raise SignatureRefused("The timestamp, delivery or signature header is missing.")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureRefused("The timestamp is not unix seconds.")
    expected = sign(secret, timestamp, delivery, body).encode()
    # Header values arrive as str; any code point encodes, so the comparison never raises.
    if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        raise SignatureRefused("The signature does not match.")
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        raise SignatureRefused("The timestamp is more than 5 minutes from now.")


# The body.


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise PayloadInvalid(f"The key {key!r} appears twice.")
        found[key] = value
    return found


def _no_constants(name: str) -> Any:
    raise PayloadInvalid(f"{name} is not a JSON value.")


def _text(value: Any, field: str, *, max_length: int) -> str:
    if not isinstance(value, str):
        raise PayloadInvalid(f"{field} must be a string.")
    value = value.strip()
    if not value:
        raise PayloadInvalid(f"{field} must not be empty.")
    if len(value) > max_length or not value.isprintable():
        raise PayloadInvalid(f"{field} must be at most {max_length} printable characters.")
    return value


def _date(value: Any, field: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise PayloadInvalid(f"{field} must be a date as YYYY-MM-DD.")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise PayloadInvalid(f"{field} is not a calendar date.") from exc


def parse_event(body: bytes) -> HrEvent:
    """Return the delivery `body` as an HrEvent; raise PayloadInvalid naming what is wrong."""
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        data = json.loads(
            body.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constants
        )
    except PayloadInvalid:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise PayloadInvalid("The body is not valid UTF-8 JSON.") from exc
    if not isinstance(data, dict):
        raise PayloadInvalid("The body must be a JSON object.")
    if unknown := sorted(set(data) - _KEYS):
        raise PayloadInvalid(f"Unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_KEYS))}.")
    event = data.get("event")
    if event not in EVENTS:
        raise PayloadInvalid(f"event must be one of {', '.join(EVENTS)}.")
    hr_id = _text(data.get("id"), "id", max_length=200)
    email = ""
    employee = data.get("employee")
    if employee is not None or event == SCHEDULED:
        if not isinstance(employee, dict):
            raise PayloadInvalid("employee must be an object with an email.")
        if unknown := sorted(set(employee) - _EMPLOYEE_KEYS):
            raise PayloadInvalid(f"Unknown key employee.{unknown[0]}; allowed: email.")
        email = _text(employee.get("email"), "employee.email", max_length=254).lower()
        try:
            validate_email(email)
        except ValidationError as exc:
            raise PayloadInvalid("employee.email is not an email address.") from exc
    last_day = _date(data.get("last_day"), "last_day")
    removal = _date(data.get("account_removal_on"), "account_removal_on")
    if event == SCHEDULED and last_day is None:
        raise PayloadInvalid("last_day is required to schedule an offboarding.")
    if event == UPDATED and last_day is None and removal is None:
        raise PayloadInvalid("An update needs last_day, account_removal_on or both.")
    if last_day is not None and removal is not None and removal < last_day:
        raise PayloadInvalid("account_removal_on must not be before last_day.")
    return HrEvent(event, hr_id, email, last_day, removal)


# Acting on it.


def receive(
    *,
    secret: str,
    body: bytes,
    content_type: str,
    timestamp: str | None,
    signature: str | None,
    delivery_id: str | None,
    now: float,
) -> Outcome:
    """Check and apply one delivery; the delivery id is stored in the transaction of the
    change, so it is stored exactly when the change is. Audited, refusals of the signature and
    replays included. Raises WebhookError."""
    try:
        verify_signature(
            secret=secret,
            timestamp=timestamp,
            delivery=delivery_id,
            signature=signature,
            body=body,
            now=now,
        )
    except SignatureRefused as exc:
        audit.record(
            AUDIT_ACTION, "offboarding:webhook", result=audit.Result.DENIED, reason=str(exc)
        )
        raise
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise PayloadInvalid("Send the body as application/json.")
    delivery = (delivery_id or "").strip()
    if not delivery or len(delivery) > 200 or not delivery.isprintable():
        raise PayloadInvalid("X-Colleague-Delivery must be 1 to 200 printable characters.")
    event = parse_event(body)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    WebhookDelivery.objects.create(delivery_id=delivery)
            except IntegrityError as exc:  # accepted before, or by another request just now
                raise _SeenBefore from exc
            outcome = apply_event(event)
            audit.record(
                AUDIT_ACTION,
                f"offboarding:{outcome.case.pk}",
                event=event.event,
                delivery=delivery,
                created=outcome.created,
            )
    except _SeenBefore:
        audit.record(
            AUDIT_ACTION,
            "offboarding:webhook",
            result=audit.Result.DENIED,
            reason="replay",
            delivery=delivery,
        )
        raise Conflict(f"Delivery {delivery!r} was received already.") from None
    return outcome


class _SeenBefore(Exception):
    pass


def apply_event(event: HrEvent) -> Outcome:
    """Open, reschedule or call off the case of `event.hr_id`. Idempotent: scheduling an id
    again returns its case, cancelling an archived case changes nothing."""
    existing = OffboardingCase.objects.filter(external_id=event.hr_id).first()
    if event.event == SCHEDULED:
        if existing is not None:
            return Outcome(existing, created=False)
        assert event.last_day is not None  # parse_event requires it
        colleague = colleague_by_email(event.email)
        if colleague is None:
            raise UnknownSubject(
                f"No colleague has the address {event.email}: add them or sync the directory, "
                "then send the event again."
            )
        already = open_case_of(colleague)
        if already is not None and not already.external_id:
            # Opened here first (the directory sync, HR): the HR system's dates and id join it.
            try:
                case = link_to_hr_system(already, external_id=event.hr_id, actor=None)
                case = change_dates(
                    case,
                    actor=None,
                    last_day=event.last_day,
                    account_removal_on=event.account_removal_on,
                )
            except CaseRefused as exc:
                raise Conflict(str(exc)) from exc
            return Outcome(case, created=False)
        try:
            case = open_case(
                colleague,
                last_day=event.last_day,
                account_removal_on=event.account_removal_on,
                via=OffboardingCase.Trigger.WEBHOOK,
                external_id=event.hr_id,
            )
        except CaseRefused as exc:
            raise Conflict(str(exc)) from exc
        return Outcome(case, created=True)
    if existing is None:
        raise UnknownSubject(f"No offboarding case has the HR id {event.hr_id!r}.")
    try:
        if event.event == UPDATED:
            case = change_dates(
                existing,
                actor=None,
                last_day=event.last_day,
                account_removal_on=event.account_removal_on,
            )
        elif existing.state == State.ARCHIVED:
            case = existing
        else:
            case = transition(
                existing, State.ARCHIVED, actor=None, reason="Cancelled by the HR system."
            )
    except CaseRefused as exc:
        raise Conflict(str(exc)) from exc
    return Outcome(case, created=False)
