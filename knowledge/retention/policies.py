"""Retention policies: what an item inherits, which items have expired, and changing policies.

An item expires when the last of the active policies applying to it says so: the longest
retention wins (Purview and Vault). A policy counts its keep period from the item's creation,
or, for the departure scope, from the day its author left. An item no active policy applies
to is kept. Holds are not considered here: they decide whether an expired item is deleted
(knowledge.retention.holds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from colleagues.models import Colleague
from connectors.models import Source
from knowledge import audit
from knowledge.audit import Actor, login_user
from knowledge.models import Container, Item, LegalHold, RetentionPolicy
from knowledge.retention.holds import holds_covering, start_of

CREATED = "retention_policy_created"
CHANGED = "retention_policy_changed"
# The fields `change_policy` may change (the scope stays: make a new policy instead).
CHANGEABLE = frozenset({"name", "keep_days", "is_active"})
Scope = RetentionPolicy.Scope


class PolicyRefused(ValueError):
    """A policy that cannot be created or changed as asked."""


# Reads.


def active_policies() -> list[RetentionPolicy]:
    return list(
        RetentionPolicy.objects.filter(is_active=True)
        .select_related("source", "container", "colleague")
        .order_by("pk")
    )


def scope_condition(policy: RetentionPolicy) -> Q:
    """The items `policy` applies to, whatever their age."""
    if policy.scope == Scope.SOURCE_KIND:
        return Q(source__kind=policy.source_kind)
    if policy.scope == Scope.SOURCE:
        return Q(source_id=policy.source_id)
    if policy.scope == Scope.CONTAINER:
        return Q(container_id=policy.container_id)
    if policy.scope == Scope.COLLEAGUE:
        return Q(author__colleague_id=policy.colleague_id)
    departed = Q(
        author__colleague__status=Colleague.Status.DEPARTED,
        author__colleague__departed_on__isnull=False,
    )
    if policy.colleague_id is not None:
        departed &= Q(author__colleague_id=policy.colleague_id)
    return departed


def kept_condition(policy: RetentionPolicy, now: datetime) -> Q:
    """The items `policy` applies to and still keeps at `now`."""
    if policy.scope == Scope.DEPARTURE:
        # Expired from midnight UTC of departed_on + keep_days (see `expiry_under`).
        last_kept_departure = now.astimezone(UTC).date() - timedelta(days=policy.keep_days)
        return scope_condition(policy) & Q(author__colleague__departed_on__gt=last_kept_departure)
    return scope_condition(policy) & Q(created_at__gt=now - timedelta(days=policy.keep_days))


def expired_items(*, now: datetime | None = None) -> QuerySet[Item]:
    """Items at least one active policy applies to and none keeps any more, holds ignored."""
    now = now or timezone.now()
    policies = active_policies()
    if not policies:
        return Item.objects.none()
    applies = Q()
    kept = Q()
    for policy in policies:
        applies |= scope_condition(policy)
        kept |= kept_condition(policy, now)
    return Item.objects.filter(applies).exclude(kept)


def expiry_under(
    policy: RetentionPolicy, *, created_at: datetime, departed_on: date | None
) -> datetime:
    """When `policy` lets an item expire; a departure policy applies only with `departed_on`."""
    if policy.scope == Scope.DEPARTURE:
        assert departed_on is not None  # scope_condition requires it
        return start_of(departed_on + timedelta(days=policy.keep_days))
    return created_at + timedelta(days=policy.keep_days)


@dataclass(frozen=True)
class Expiry:
    """What an item inherits: when it expires, under which policy, and what holds it."""

    item_id: int
    expires_at: datetime | None
    policy: RetentionPolicy | None
    # How many active policies apply; the longest retention among them decides.
    policies: int
    holds: tuple[LegalHold, ...]
    now: datetime

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= self.now

    @property
    def will_be_deleted(self) -> bool:
        return self.expired and not self.holds

    @property
    def explanation(self) -> str:
        """ "Expires on 2027-03-01 because of policy 'Slack 2 years'." and the like, in the
        active language (the item page; commands and the API's default: English)."""
        if self.expires_at is None or self.policy is None:
            kept = gettext("Kept: no retention policy applies.")
        else:
            if self.expired:
                sentence = gettext(
                    "Expired on %(day)s because of policy %(policy)s "
                    "(keep %(days)s days %(counted)s%(longest)s)."
                )
            else:
                sentence = gettext(
                    "Expires on %(day)s because of policy %(policy)s "
                    "(keep %(days)s days %(counted)s%(longest)s)."
                )
            longest = gettext(", the longest of %(count)s policies") if self.policies > 1 else ""
            kept = sentence % {
                "day": f"{self.expires_at:%Y-%m-%d}",
                "policy": repr(self.policy.name),
                "days": self.policy.keep_days,
                "counted": _counted_from(self.policy),
                "longest": longest % {"count": self.policies} if longest else "",
            }
        if self.holds:
            named = ", ".join(
                gettext("legal hold #%(number)s %(name)s") % {"number": h.pk, "name": repr(h.name)}
                for h in self.holds
            )
            return gettext("%(kept)s Not deleted while held by %(holds)s.") % {
                "kept": kept,
                "holds": named,
            }
        return kept

    def as_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "expired": self.expired,
            "policy": self.policy.pk if self.policy else None,
            "policy_name": self.policy.name if self.policy else None,
            "policies_applying": self.policies,
            "holds": [hold.pk for hold in self.holds],
            "will_be_deleted": self.will_be_deleted,
            "explanation": self.explanation,
        }


def _counted_from(policy: RetentionPolicy) -> str:
    return (
        gettext("after departure") if policy.scope == Scope.DEPARTURE else gettext("from creation")
    )


def expiry_of(item: Item, *, now: datetime | None = None) -> Expiry:
    """When `item` expires and why (the longest retention of the active policies applying to
    it; none: kept), and the active holds covering it."""
    now = now or timezone.now()
    facts = (
        Item.objects.filter(pk=item.pk)
        .values("created_at", "author__colleague__departed_on")
        .first()
    )
    best: tuple[datetime, RetentionPolicy] | None = None
    applying = 0
    if facts is not None:
        for policy in active_policies():
            if not Item.objects.filter(pk=item.pk).filter(scope_condition(policy)).exists():
                continue
            applying += 1
            at = expiry_under(
                policy,
                created_at=facts["created_at"],
                departed_on=facts["author__colleague__departed_on"],
            )
            if best is None or at > best[0]:
                best = (at, policy)
    return Expiry(
        item_id=item.pk,
        expires_at=best[0] if best else None,
        policy=best[1] if best else None,
        policies=applying,
        holds=tuple(holds_covering(item)),
        now=now,
    )


# Writes.


def create_policy(
    *,
    name: str,
    scope: str,
    keep_days: int,
    actor: Actor,
    source_kind: str = "",
    source: Source | None = None,
    container: Container | None = None,
    colleague: Colleague | None = None,
) -> RetentionPolicy:
    """Create an active policy; audited. The next purge deletes what it lets expire (unless
    a longer policy or a hold keeps it). Raises PolicyRefused when its scope is not named."""
    policy = RetentionPolicy(
        name=name.strip()[:200],
        scope=scope,
        keep_days=keep_days,
        source_kind=source_kind.strip() if scope == Scope.SOURCE_KIND else "",
        source=source if scope == Scope.SOURCE else None,
        container=container if scope == Scope.CONTAINER else None,
        colleague=colleague if scope in (Scope.COLLEAGUE, Scope.DEPARTURE) else None,
        created_by=login_user(actor),
    )
    _check(policy)
    with transaction.atomic():
        policy.save()
        audit.record(CREATED, f"retention_policy:{policy.pk}", actor=actor, **_facts(policy))
    return policy


def change_policy(policy: RetentionPolicy, *, actor: Actor, **changes: Any) -> RetentionPolicy:
    """Rename, change the keep period of, deactivate or reactivate a policy; audited."""
    unknown = set(changes) - CHANGEABLE
    if unknown:
        raise PolicyRefused(f"a policy's {', '.join(sorted(unknown))} cannot be changed")
    with transaction.atomic():
        policy = RetentionPolicy.objects.select_for_update().get(pk=policy.pk)
        before = _facts(policy)
        for field, value in changes.items():
            setattr(policy, field, value.strip() if isinstance(value, str) else value)
        _check(policy)
        policy.save(update_fields=[*sorted(changes), "updated_at"])
        audit.record(
            CHANGED, f"retention_policy:{policy.pk}", actor=actor, before=before, **_facts(policy)
        )
    return policy


def _check(policy: RetentionPolicy) -> None:
    if not policy.name:
        raise PolicyRefused(gettext("Name the policy."))
    if policy.scope not in Scope.values:
        raise PolicyRefused(f"{policy.scope!r} is not a policy scope")
    if policy.keep_days is None or policy.keep_days < 1:
        raise PolicyRefused(gettext("Keep items at least one day."))
    named = {
        Scope.SOURCE_KIND: bool(policy.source_kind),
        Scope.SOURCE: policy.source_id is not None,
        Scope.CONTAINER: policy.container_id is not None,
        Scope.COLLEAGUE: policy.colleague_id is not None,
        Scope.DEPARTURE: True,
    }
    if not named[Scope(policy.scope)]:
        raise PolicyRefused(
            gettext("Choose the %(scope)s it applies to.")
            % {"scope": Scope(policy.scope).label.lower()}
        )


def _facts(policy: RetentionPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "scope": policy.scope,
        "source_kind": policy.source_kind or None,
        "source": policy.source_id,
        "container": policy.container_id,
        "colleague": policy.colleague_id,
        "keep_days": policy.keep_days,
        "policy_action": policy.action,
        "active": policy.is_active,
    }
