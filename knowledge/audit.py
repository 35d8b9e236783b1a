"""The audit trail: one call records one event (docs/ARCHITECTURE.md, governance).

Events are appended to a hash chain (knowledge/audit_chain.py) under a lock, so concurrent
writers queue instead of forking it: on PostgreSQL a transaction-scoped advisory lock, on
SQLite the database's write lock, which every transaction takes at BEGIN (config/settings.py
sets `transaction_mode` IMMEDIATE). The lock is held until the surrounding transaction ends,
and the event disappears with it if that transaction rolls back: a chain never holds a link to
an event that was not committed.

Events hold ids and hashes, never content (SECURITY.md row 13); the client IP and request id
come from the request being served (config/request_context.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from config import request_context
from knowledge.audit_chain import (
    FIELDS,
    GENESIS,
    Verification,
    event_hash,
    normalized_detail,
    verify_links,
)
from knowledge.models import AuditChainHead, AuditEvent

# Who did something: a login user, an anonymous visitor, or None for the console operator and
# the system itself.
Actor = User | AnonymousUser | None
Result = AuditEvent.Result

# The key of the PostgreSQL advisory lock that serialises appends ("audit" in ASCII).
CHAIN_LOCK_KEY = 0x6175646974


def login_user(actor: Actor) -> User | None:
    """The login user behind `actor`, or None (anonymous, operator, system)."""
    return actor if isinstance(actor, User) else None


def record(
    action: str,
    target: str,
    *,
    actor: Actor = None,
    result: str = Result.OK,
    ip: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Append one event to the audit chain; `actor` None means the console operator or the
    system. `ip` defaults to the client IP of the request being served, if any."""
    if result not in Result.values:
        raise ValueError(f"unknown audit result {result!r}")
    user = login_user(actor)
    context = request_context.current()
    event = AuditEvent(
        actor_id=user.pk if user is not None else None,
        actor_name=user.get_username() if user is not None else "",
        action=action,
        target=target,
        result=str(result),
        ip=ip if ip is not None else (context.ip if context else ""),
        request_id=context.request_id if context else "",
        detail=normalized_detail(detail),
    )
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        _lock_chain()
        head = AuditChainHead.objects.filter(pk=1).first()
        if head is None:  # the first event ever, or a database emptied by maintenance
            last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
            seq, previous = last if last is not None else (0, GENESIS)
        else:
            seq, previous = head.seq, head.hash
        event.seq = seq + 1
        event.prev_hash = previous
        # Taken under the lock, so times follow the chain's order.
        event.at = timezone.now()
        event.hash = event_hash(**{name: getattr(event, name) for name in FIELDS})
        event.save(force_insert=True)
        if head is None:
            AuditChainHead.objects.create(pk=1, seq=event.seq, hash=event.hash)
        else:
            head.seq, head.hash = event.seq, event.hash
            head.save(update_fields=["seq", "hash"])
    return event


def _lock_chain() -> None:
    """Make every other writer wait until this transaction ends."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
    elif connection.vendor != "sqlite":  # SQLite: BEGIN IMMEDIATE already holds the write lock
        list(AuditChainHead.objects.select_for_update().filter(pk=1))


def _rows() -> Iterator[tuple[Any, ...]]:
    fields = ["id", *FIELDS, "hash"]
    return AuditEvent.objects.order_by("seq").values_list(*fields).iterator(chunk_size=2000)


def verify_chain() -> Verification:
    """Recompute the whole chain in seq order; the result names the first broken link.

    Reads the head and the events from one snapshot: on PostgreSQL a REPEATABLE READ
    transaction, so writers are not held up (inside a transaction already begun, the append
    lock instead); on SQLite the write lock, which holds up writers while it runs.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        if snapshot:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        else:
            _lock_chain()
        head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
        return verify_links(_rows(), head=head)
