"""Legal holds: what they cover, placing, changing and releasing them, and recording what they
kept from being deleted. Every change is audited; events hold ids and counts, never content."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from colleagues.models import Colleague
from connectors.models import Source
from knowledge import audit
from knowledge.audit import Actor, login_user
from knowledge.models import Container, Item, LegalHold

PLACED = "legal_hold_placed"
CHANGED = "legal_hold_changed"
RELEASED = "legal_hold_released"
BLOCKED = "blocked_by_hold"
# The fields `change_hold` may change.
CHANGEABLE = frozenset(
    {"name", "reason", "colleague", "source", "container", "created_from", "created_until"}
)


class HoldRefused(ValueError):
    """A hold that cannot be placed or changed as asked (no scope, no reason, released)."""


def start_of(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time.min, tzinfo=UTC)


# Reads.


def active_holds() -> list[LegalHold]:
    """Every hold not released, oldest first."""
    return list(
        LegalHold.objects.filter(released_at__isnull=True)
        .select_related("owner", "colleague", "source", "container")
        .order_by("started_at", "pk")
    )


def hold_condition(hold: LegalHold) -> Q | None:
    """The items `hold` covers, as a condition on Item; None when it names no criterion."""
    parts: list[Q] = []
    if hold.colleague_id is not None:
        parts.append(Q(author__colleague_id=hold.colleague_id))
    if hold.source_id is not None:
        parts.append(Q(source_id=hold.source_id))
    if hold.container_id is not None:
        parts.append(Q(container_id=hold.container_id))
    if hold.created_from is not None:
        parts.append(Q(created_at__gte=start_of(hold.created_from)))
    if hold.created_until is not None:
        parts.append(Q(created_at__lt=start_of(hold.created_until + timedelta(days=1))))
    if not parts:
        return None
    condition = parts[0]
    for part in parts[1:]:
        condition &= part
    return condition


def held_condition(holds: Iterable[LegalHold]) -> Q | None:
    """The items any of `holds` covers; None when they cover nothing."""
    condition: Q | None = None
    for hold in holds:
        covered = hold_condition(hold)
        if covered is not None:
            condition = covered if condition is None else condition | covered
    return condition


def without_held(items: QuerySet[Item], holds: Iterable[LegalHold] | None = None) -> QuerySet[Item]:
    """`items` less those an active hold (or one of `holds`) covers."""
    condition = held_condition(active_holds() if holds is None else holds)
    return items if condition is None else items.exclude(condition)


def held_counts(items: QuerySet[Item], holds: Sequence[LegalHold] | None = None) -> dict[int, int]:
    """How many of `items` each active hold covers (hold id -> count), holds covering none left
    out. An item two holds cover counts for both."""
    conditions = {
        hold.pk: condition
        for hold in (active_holds() if holds is None else holds)
        if (condition := hold_condition(hold)) is not None
    }
    if not conditions:
        return {}
    # One query whatever the number of holds: a filtered count per hold.
    counts = items.aggregate(
        **{f"hold_{pk}": Count("pk", filter=condition) for pk, condition in conditions.items()}
    )
    return {pk: counts[f"hold_{pk}"] for pk in conditions if counts[f"hold_{pk}"]}


def holds_covering(item: Item) -> list[LegalHold]:
    """The active holds covering `item`, oldest first."""
    return [
        hold
        for hold in active_holds()
        if (condition := hold_condition(hold)) is not None
        and Item.objects.filter(pk=item.pk).filter(condition).exists()
    ]


def describe(hold: LegalHold) -> str:
    """ "legal hold #3 'Acme litigation'"."""
    return f"legal hold #{hold.pk} {hold.name!r}"


def blocked_reason(item: Item) -> str | None:
    """Why a hold keeps `item` from being deleted, or None when nothing holds it."""
    holds = holds_covering(item)
    if not holds:
        return None
    named = ", ".join(describe(hold) for hold in holds)
    return f"held by {named}: {holds[0].reason.strip()[:200]}"


# Writes.


def record_blocked(
    operation: str,
    target: str,
    items: QuerySet[Item],
    *,
    actor: Actor = None,
    holds: Sequence[LegalHold] | None = None,
) -> dict[int, int]:
    """Record that active holds kept these of `items` from `operation` ("retention_purge",
    "redaction", "source_deletion", "prune", "erasure"): one `blocked_by_hold` event on
    `target` with the count per hold. Nothing is recorded when no hold covers any of them.
    Return the counts."""
    chosen = active_holds() if holds is None else list(holds)
    counts = held_counts(items, chosen)
    if counts:
        condition = held_condition(h for h in chosen if h.pk in counts)
        audit.record(
            BLOCKED,
            target,
            actor=actor,
            operation=operation,
            holds={str(hold_id): count for hold_id, count in sorted(counts.items())},
            items=items.filter(condition).count() if condition is not None else 0,
        )
    return counts


def place_hold(
    *,
    name: str,
    reason: str,
    owner: Actor,
    colleague: Colleague | None = None,
    source: Source | None = None,
    container: Container | None = None,
    created_from: date | None = None,
    created_until: date | None = None,
) -> LegalHold:
    """Place a hold on every item matching all the criteria given; audited.

    Raises HoldRefused when no criterion or no reason is given, or the dates are reversed.
    From this moment no deletion touches what it covers; a purge already running honours it
    from its next batch.
    """
    hold = LegalHold(
        name=name.strip()[:200],
        reason=reason.strip(),
        owner=login_user(owner),
        colleague=colleague,
        source=source,
        container=container,
        created_from=created_from,
        created_until=created_until,
    )
    _check(hold)
    with transaction.atomic():
        hold.save()
        audit.record(PLACED, f"legal_hold:{hold.pk}", actor=owner, **_facts(hold))
    return hold


def change_hold(hold: LegalHold, *, actor: Actor, **changes: Any) -> LegalHold:
    """Change an active hold's name, reason or scope; audited with the scope before and after.

    Raises HoldRefused for a released hold, an unknown field or a scope left empty.
    """
    unknown = set(changes) - CHANGEABLE
    if unknown:
        raise HoldRefused(f"a hold's {', '.join(sorted(unknown))} cannot be changed")
    with transaction.atomic():
        hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
        if not hold.is_active:
            raise HoldRefused(f"{describe(hold)} is released; place a new hold instead")
        before = _facts(hold)
        for field, value in changes.items():
            setattr(hold, field, value.strip() if isinstance(value, str) else value)
        _check(hold)
        hold.save(update_fields=sorted(changes))
        audit.record(CHANGED, f"legal_hold:{hold.pk}", actor=actor, before=before, **_facts(hold))
    return hold


def release_hold(hold: LegalHold, *, actor: Actor) -> LegalHold:
    """Release a hold; audited. What only it covered is eligible for deletion again at the next
    purge. Releasing a released hold changes nothing."""
    with transaction.atomic():
        hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
        if not hold.is_active:
            return hold
        hold.released_at = timezone.now()
        hold.released_by = login_user(actor)
        hold.save(update_fields=["released_at", "released_by"])
        audit.record(RELEASED, f"legal_hold:{hold.pk}", actor=actor, **_facts(hold))
    return hold


def _check(hold: LegalHold) -> None:
    if not hold.name:
        raise HoldRefused(gettext("Name the hold."))
    if not hold.reason:
        raise HoldRefused(gettext("Say why the data is held."))
    if hold_condition(hold) is None:
        raise HoldRefused(
            gettext("Choose what the hold covers: a colleague, a source, a place or dates.")
        )
    if hold.created_from and hold.created_until and hold.created_from > hold.created_until:
        raise HoldRefused(gettext("The first day of the hold's range is after its last day."))


def _facts(hold: LegalHold) -> dict[str, Any]:
    """What an audit event says of a hold: ids and dates, and how many items it covers."""
    condition = hold_condition(hold)
    return {
        "name": hold.name,
        "colleague": hold.colleague_id,
        "source": hold.source_id,
        "container": hold.container_id,
        "created_from": hold.created_from.isoformat() if hold.created_from else None,
        "created_until": hold.created_until.isoformat() if hold.created_until else None,
        "items_covered": Item.objects.filter(condition).count() if condition is not None else 0,
    }
