"""The audit trail is a hash chain that exposes every edit, deletion, reordering and
truncation, never forks under concurrent writers, and on PostgreSQL cannot be rewritten
(SECURITY.md row 13)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge import audit
from knowledge.audit_chain import GENESIS, event_hash
from knowledge.models import AuditChainHead, AuditEvent
from tests.factories import make_user

PASSWORD = "correct horse battery"
POSTGRES_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only triggers exist on PostgreSQL"
)


def verify() -> tuple[int, dict[str, Any]]:
    """Run `manage.py audit verify --json`: (exit status, report)."""
    out = io.StringIO()
    try:
        call_command("audit", "verify", "--json", stdout=out)
        status = 0
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    return status, json.loads(out.getvalue())


@contextmanager
def tampering() -> Iterator[None]:
    """A change to the audit tables, rolled back afterwards. On PostgreSQL it goes through the
    owner's maintenance path, since the triggers refuse it otherwise."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL colleague.audit_maintenance = 'on'")
        yield
        transaction.set_rollback(True)


# --- Recording ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_event_records_the_request_id_and_client_ip_and_the_response_echoes_the_id() -> None:
    make_user("dana")
    client = Client(REMOTE_ADDR="203.0.113.9")
    response = client.post(
        "/login/",
        {"username": "dana", "password": PASSWORD},
        HTTP_X_REQUEST_ID="req-42.a:b",
    )
    assert response["X-Request-ID"] == "req-42.a:b"
    event = AuditEvent.objects.get(action="login")
    assert (event.ip, event.request_id, event.result) == ("203.0.113.9", "req-42.a:b", "ok")
    assert event.at.tzinfo is not None

    # An id that is not a plain token is replaced by a fresh one, echoed the same way.
    response = client.get("/", HTTP_X_REQUEST_ID="<script>" + "x" * 100)
    assert response["X-Request-ID"] != "<script>" + "x" * 100
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_events_outside_a_request_have_no_ip_or_request_id_and_chain_in_order() -> None:
    first = audit.record("test.first", "colleague:1", note=1)
    second = audit.record("test.second", "colleague:2", result=audit.Result.DENIED)
    assert (first.ip, first.request_id) == ("", "")
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.hash
    assert second.result == "denied"
    assert AuditChainHead.objects.get().seq == 2
    status, report = verify()
    assert (status, report["ok"], report["events"]) == (0, True, 2)


@pytest.mark.django_db
def test_an_unknown_result_or_content_that_is_not_json_is_refused_before_writing() -> None:
    with pytest.raises(ValueError, match="unknown audit result"):
        audit.record("test.x", "colleague:1", result="maybe")
    with pytest.raises(ValueError, match="not JSON compliant"):
        audit.record("test.x", "colleague:1", score=float("nan"))
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_an_event_rolled_back_with_its_transaction_leaves_no_hole_in_the_chain() -> None:
    audit.record("test.kept", "colleague:1")
    with transaction.atomic():
        audit.record("test.undone", "colleague:1")
        transaction.set_rollback(True)
    audit.record("test.kept", "colleague:2")
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2]
    assert verify()[0] == 0


@pytest.mark.django_db
def test_deleting_a_user_keeps_their_events_as_written() -> None:
    user = make_user("leaver")
    audit.record("test.did", "colleague:1", actor=user)
    user_id = user.pk
    get_user_model().objects.filter(pk=user_id).delete()
    event = AuditEvent.objects.get(action="test.did")
    assert (event.actor_id, event.actor_name) == (user_id, "leaver")
    assert verify()[0] == 0


@pytest.mark.django_db
def test_the_command_names_the_first_broken_link_and_exits_1() -> None:
    for n in range(5):
        audit.record("test.event", f"colleague:{n}")
    third = AuditEvent.objects.get(seq=3)
    with tampering():
        AuditEvent.objects.filter(pk=third.pk).update(target="colleague:99")
        status, report = verify()
        out = io.StringIO()
        with pytest.raises(SystemExit) as exit_:
            call_command("audit", "verify", stdout=out)
    assert status == 1 == exit_.value.code
    assert report["broken"] == {
        "seq": 3,
        "event_id": third.pk,
        "reason": "was changed after it was written (hash mismatch)",
    }
    assert "BROKEN at #3" in out.getvalue()
    out = io.StringIO()
    call_command("audit", "verify", stdout=out)
    assert "intact: 5 events" in out.getvalue()


# --- Tampering: a 10,000-event chain -----------------------------------------------------------

CHAIN_LENGTH = 10_000
EDITABLE = (
    "seq",
    "at",
    "actor_id",
    "actor_name",
    "action",
    "target",
    "result",
    "ip",
    "request_id",
    "detail",
    "prev_hash",
    "hash",
)


def build_chain(length: int) -> None:
    """`length` chained events written in bulk, as record() would have written them."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    previous = GENESIS
    events = []
    for seq in range(1, length + 1):
        fields: dict[str, Any] = {
            "seq": seq,
            "at": start + timedelta(seconds=seq, microseconds=seq % 997),
            "actor_id": seq % 7 or None,
            "actor_name": f"user{seq % 7}" if seq % 7 else "",
            "action": ("answers.asked", "skill.exported", "login", "grant_created")[seq % 4],
            "target": f"colleague:{seq % 50}",
            "result": ("ok", "ok", "denied", "failed")[seq % 4],
            "ip": f"192.0.2.{seq % 250}" if seq % 3 else "",
            "request_id": f"{seq:032x}",
            "detail": {"cited_items": [seq, seq + 1], "via": "api", "n": seq % 5},
            "prev_hash": previous,
        }
        digest = event_hash(**fields)
        events.append(AuditEvent(hash=digest, **fields))
        previous = digest
    AuditEvent.objects.bulk_create(events, batch_size=1000)
    AuditChainHead.objects.create(seq=length, hash=previous)


def _changed(field: str, value: Any) -> Any:
    if field == "seq":
        return value + 10 * CHAIN_LENGTH
    if field == "at":
        return value + timedelta(microseconds=1)
    if field == "actor_id":
        return (value or 0) + 1
    if field == "result":
        return "failed" if value == "ok" else "ok"
    if field == "detail":
        return {**value, "cited_items": [*value["cited_items"], 0]}
    if field in ("prev_hash", "hash"):
        return ("1" if value[0] == "0" else "0") + value[1:]
    return value + "x"


def tamper(kind: str, first: int, second: int, field: str) -> None:
    """Apply one tampering to the chain; `first` and `second` are positions (1-based)."""
    events = AuditEvent.objects
    if kind == "edit":
        value = events.values_list(field, flat=True).get(seq=first)
        events.filter(seq=first).update(**{field: _changed(field, value)})
    elif kind == "delete":
        events.filter(seq=first).delete()
    elif kind == "swap":
        low, high = sorted((first, second))
        if low == high:
            high = low + 1 if low < CHAIN_LENGTH else low - 1
            low, high = sorted((low, high))
        parked = 100 * CHAIN_LENGTH
        events.filter(seq=low).update(seq=parked)
        events.filter(seq=high).update(seq=low)
        events.filter(seq=parked).update(seq=high)
    elif kind == "truncate":
        events.filter(seq__gte=first).delete()
    else:  # pragma: no cover
        raise AssertionError(kind)


@pytest.mark.django_db
def test_every_edit_deletion_reordering_and_truncation_of_10000_events_is_detected() -> None:
    build_chain(CHAIN_LENGTH)
    status, report = verify()
    assert (status, report["events"]) == (0, CHAIN_LENGTH)
    outcomes: list[tuple[str, bool]] = []

    positions = st.integers(min_value=1, max_value=CHAIN_LENGTH)

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        kind=st.sampled_from(["edit", "delete", "swap", "truncate"]),
        first=positions,
        second=positions,
        field=st.sampled_from(EDITABLE),
    )
    def check(kind: str, first: int, second: int, field: str) -> None:
        with tampering():
            tamper(kind, first, second, field)
            status, report = verify()
        outcomes.append((kind, status == 1 and not report["ok"]))
        assert status == 1, (kind, first, second, field, report)
        assert report["broken"] is not None

    check()
    assert outcomes
    assert all(detected for _, detected in outcomes)
    # Boundaries hypothesis may not pick: the first and the last event, one of each kind.
    for kind, first, second in [
        ("edit", 1, 1),
        ("edit", CHAIN_LENGTH, 1),
        ("delete", 1, 1),
        ("delete", CHAIN_LENGTH, 1),
        ("swap", 1, 2),
        ("swap", CHAIN_LENGTH - 1, CHAIN_LENGTH),
        ("truncate", CHAIN_LENGTH, 1),
        ("truncate", 2, 1),
    ]:
        for field in EDITABLE if kind == "edit" else ("action",):
            with tampering():
                tamper(kind, first, second, field)
                status, report = verify()
            assert status == 1, (kind, first, field, report)
    assert verify()[0] == 0  # every tampering was rolled back


@pytest.mark.django_db
def test_a_removed_head_or_a_removed_whole_chain_is_reported() -> None:
    for n in range(3):
        audit.record("test.event", f"colleague:{n}")
    with tampering():
        AuditChainHead.objects.all().delete()
        status, report = verify()
    assert (status, report["broken"]["reason"]) == (1, "the chain head is missing")
    with tampering():
        AuditEvent.objects.all().delete()
        status, report = verify()
    assert status == 1
    assert report["broken"]["reason"] == "events after #0 are missing (the head is #3)"


# --- Concurrent writers ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain() -> None:
    writers, each = 8, 25
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(number: int) -> None:
        try:
            start.wait()
            for n in range(each):
                audit.record("test.concurrent", f"colleague:{number}", n=n)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, writers * each + 1))
    status, report = verify()
    assert (status, report["events"]) == (0, writers * each)


# --- PostgreSQL: the table refuses to be rewritten ---------------------------------------------


@POSTGRES_ONLY
@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE knowledge_auditevent SET target = 'colleague:0'",
        "DELETE FROM knowledge_auditevent",
        "TRUNCATE knowledge_auditevent",
        "UPDATE knowledge_auditchainhead SET seq = seq - 1",
        "DELETE FROM knowledge_auditchainhead",
        "TRUNCATE knowledge_auditchainhead",
    ],
)
def test_on_postgresql_the_audit_tables_refuse_to_be_rewritten(statement: str) -> None:
    audit.record("test.event", "colleague:1")
    audit.record("test.event", "colleague:2")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    # Not even by the ORM, and not by turning the maintenance setting on for a role that does
    # not own the table: the owner's maintenance path is tested by every tampering above.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=1).update(action="test.rewritten")
    assert verify()[0] == 0


@POSTGRES_ONLY
@pytest.mark.django_db
def test_on_postgresql_a_role_without_ownership_cannot_use_the_maintenance_path() -> None:
    audit.record("test.event", "colleague:1")
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE colleague_test_app NOLOGIN")
        cursor.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON knowledge_auditevent TO colleague_test_app"
        )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL ROLE colleague_test_app")
        cursor.execute("SET LOCAL colleague.audit_maintenance = 'on'")
        with pytest.raises(DatabaseError, match="append-only"):
            cursor.execute("DELETE FROM knowledge_auditevent")
        transaction.set_rollback(True)
    assert AuditEvent.objects.count() == 1
