"""The retention report for auditors, HR and data protection officers: what each active
retention policy governs and when it expires, the items expiring soonest with the policy that
decides, the legal holds in force with what they keep, and expiries per month.

Expiry follows knowledge.retention.policies (the longest retention applying wins). Counts are
aggregated in the database in a fixed number of queries whatever the number of items; only the
bounded list of soonest items is worked out item by item. Items are shown by id and metadata
(kind, dates, source, channel or folder), never by their text.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Case, Count, F, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext

from knowledge.models import Item, LegalHold, RetentionPolicy
from knowledge.reports import Chart, Report, Table
from knowledge.retention.holds import (
    active_holds,
    describe,
    held_condition,
    held_counts,
    hold_condition,
)
from knowledge.retention.policies import (
    Scope,
    active_policies,
    expiry_under,
    kept_condition,
    scope_condition,
)

# Days ahead the policy table counts expiries over, cumulatively.
HORIZONS = (30, 90, 365)
# The most items the "expiring soonest" list shows; it looks HORIZONS[-1] days ahead.
SOONEST = 50
MONTHS = 12


@dataclass(frozen=True)
class PolicyFigures:
    """Of the items one policy applies to: how many, how many have expired, and how many more
    expire within each horizon (the longest policy applying decides when)."""

    policy: RetentionPolicy
    governs: int
    expired: int
    within: dict[int, int]


@dataclass(frozen=True)
class Expiring:
    """One item that has not expired yet, when it will, and why."""

    item_id: int
    kind: str
    created_at: datetime
    expires_at: datetime
    source: str
    container: str
    policy: RetentionPolicy
    policies: int  # how many active policies apply to it
    holds: tuple[LegalHold, ...]


@dataclass(frozen=True)
class HoldFigures:
    hold: LegalHold
    covers: int  # items it covers
    expired: int  # expired items it keeps from the purge


@dataclass(frozen=True)
class Retention:
    now: datetime
    items: int
    governed: PolicyFigures | None  # every item some active policy applies to; None: no policy
    policies: list[PolicyFigures]
    expired_held: int  # expired items an active hold keeps
    soonest: list[Expiring]
    holds: list[HoldFigures]
    months: list[tuple[date, int]]  # first day of each month -> items expiring in it


def retention(*, now: datetime | None = None) -> Retention:
    """The retention figures at `now`."""
    now = now or timezone.now()
    policies = active_policies()
    holds = active_holds()
    starts = _month_starts(now)
    if policies:
        counts = _counts(policies, now, [start_of_day(m) for m in starts[1:]])
        governed = PolicyFigures(
            policy=RetentionPolicy(name=gettext("Any policy (the longest wins)")),
            governs=counts["all"],
            expired=counts["all_0"],
            within={d: counts[f"all_{d}"] - counts["all_0"] for d in HORIZONS},
        )
        figures = [
            PolicyFigures(
                policy=policy,
                governs=counts[f"p{i}"],
                expired=counts[f"p{i}_0"],
                within={d: counts[f"p{i}_{d}"] - counts[f"p{i}_0"] for d in HORIZONS},
            )
            for i, policy in enumerate(policies)
        ]
        by_month = [counts["all_0"], *(counts[f"m{i}"] for i in range(1, MONTHS + 1))]
        months = [(start, by_month[i + 1] - by_month[i]) for i, start in enumerate(starts[:-1])]
    else:
        governed, figures = None, []
        months = [(start, 0) for start in starts[:-1]]
    expired = _expired(policies, now)
    held = held_condition(holds)
    covers = held_counts(Item.objects.all(), holds)
    keeps = held_counts(expired, holds)
    return Retention(
        now=now,
        items=Item.objects.count(),
        governed=governed,
        policies=figures,
        expired_held=expired.filter(held).count() if held is not None else 0,
        soonest=_soonest(policies, holds, now, governed),
        holds=[HoldFigures(h, covers.get(h.pk, 0), keeps.get(h.pk, 0)) for h in holds],
        months=months,
    )


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def _month_starts(now: datetime) -> list[date]:
    """The first day of this month and of the MONTHS months after it."""
    first = now.astimezone(UTC).date().replace(day=1)
    return [
        date(first.year + (first.month - 1 + n) // 12, (first.month - 1 + n) % 12 + 1, 1)
        for n in range(MONTHS + 1)
    ]


def _kept(policies: list[RetentionPolicy], at: datetime) -> Q:
    """Items one of `policies` (active, at least one) still keeps at `at`."""
    return functools.reduce(operator.or_, (kept_condition(p, at) for p in policies))


def _applies(policies: list[RetentionPolicy]) -> Q:
    """Items one of `policies` (at least one) applies to."""
    return functools.reduce(operator.or_, (scope_condition(p) for p in policies))


def _expired(policies: list[RetentionPolicy], at: datetime) -> QuerySet[Item]:
    """Items expired at `at` (as knowledge.retention.policies.expired_items)."""
    if not policies:
        return Item.objects.none()
    return Item.objects.filter(_applies(policies)).exclude(_kept(policies, at))


def _expiring(policies: list[RetentionPolicy], after: datetime, until: datetime) -> QuerySet[Item]:
    """Items kept at `after` that have expired by `until`."""
    return _expired(policies, until).filter(_kept(policies, after))


def _counts(
    policies: list[RetentionPolicy], now: datetime, month_ends: list[datetime]
) -> dict[str, int]:
    """One query: items each policy (and any) applies to, and how many of them have expired
    now and by each horizon; items of any policy expired by each month's end."""
    moments = {0: now, **{d: now + timedelta(days=d) for d in HORIZONS}}
    gone = {d: ~_kept(policies, at) for d, at in moments.items()}
    counts: dict[str, Any] = {"all": Count("pk")}
    for d in moments:
        counts[f"all_{d}"] = Count("pk", filter=gone[d])
    for i, end in enumerate(month_ends, start=1):
        counts[f"m{i}"] = Count("pk", filter=~_kept(policies, end))
    for i, policy in enumerate(policies):
        scope = scope_condition(policy)
        counts[f"p{i}"] = Count("pk", filter=scope)
        for d in moments:
            counts[f"p{i}_{d}"] = Count("pk", filter=scope & gone[d])
    return Item.objects.filter(_applies(policies)).aggregate(**counts)


def _soonest(
    policies: list[RetentionPolicy],
    holds: list[LegalHold],
    now: datetime,
    governed: PolicyFigures | None,
) -> list[Expiring]:
    """The SOONEST items expiring next within HORIZONS[-1] days, soonest first.

    Finds the fewest whole days ahead holding SOONEST expiries by halving (a count each), then
    works out only those items; of the last day, the items created first are taken.
    """
    if governed is None:
        return []
    low, high = 0, None
    for days in HORIZONS:
        if governed.within[days] >= SOONEST:
            high = days
            break
        low = days
    if high is None:
        ids = list(_expiring(policies, now, now + timedelta(days=low)).values_list("pk", flat=True))
    else:
        while high - low > 1:
            middle = (low + high) // 2
            if _expiring(policies, now, now + timedelta(days=middle)).count() >= SOONEST:
                high = middle
            else:
                low = middle
        edge = now + timedelta(days=low)
        ids = list(_expiring(policies, now, edge).values_list("pk", flat=True)) if low else []
        last_day = _expiring(policies, edge, now + timedelta(days=high))
        ids += list(last_day.order_by("created_at", "pk").values_list("pk", flat=True)[:SOONEST])
    found = _explain(ids, policies, holds)
    return sorted(found, key=lambda e: (e.expires_at, e.item_id))[:SOONEST]


def _explain(
    ids: list[int], policies: list[RetentionPolicy], holds: list[LegalHold]
) -> list[Expiring]:
    """When each of these items expires and which policy decides: the longest of those
    applying, the first of equals by id (as knowledge.retention.policies.expiry_of)."""
    if not ids:
        return []
    # One query whatever the number of policies and holds: which of them applies to each item
    # is a boolean column per policy and per hold.
    conditions = {f"policy_{p.pk}": scope_condition(p) for p in policies}
    conditions.update({f"hold_{h.pk}": c for h in holds if (c := hold_condition(h)) is not None})
    flags = {
        name: Case(When(condition, then=Value(True)), default=Value(False))
        for name, condition in conditions.items()
    }
    columns = ("pk", "kind", "created_at", "source__name", "container__name")
    rows = (
        Item.objects.filter(pk__in=ids)
        .annotate(departed_on=F("author__colleague__departed_on"), **flags)
        .values(*columns, "departed_on", *flags)
    )
    found = []
    for row in rows:
        best: tuple[datetime, RetentionPolicy] | None = None
        count = 0
        for policy in policies:
            if not row[f"policy_{policy.pk}"]:
                continue
            count += 1
            at = expiry_under(policy, created_at=row["created_at"], departed_on=row["departed_on"])
            if best is None or at > best[0]:
                best = (at, policy)
        if best is None:
            continue
        found.append(
            Expiring(
                item_id=row["pk"],
                kind=row["kind"],
                created_at=row["created_at"],
                expires_at=best[0],
                source=row["source__name"],
                container=row["container__name"] or "",
                policy=best[1],
                policies=count,
                holds=tuple(h for h in holds if row.get(f"hold_{h.pk}")),
            )
        )
    return found


# --- As tables ----------------------------------------------------------------------------------


def policy_scope(policy: RetentionPolicy) -> str:
    """ "One source: acme-slack", "What departed colleagues wrote, …"."""
    label = Scope(policy.scope).label
    named = (
        policy.source_kind
        or (policy.source.name if policy.source else "")
        or (policy.container.name if policy.container else "")
        or (policy.colleague.name if policy.colleague else "")
    )
    return f"{label}: {named}" if named else str(label)


def hold_scope(hold: LegalHold) -> str:
    """ "what Alice Archer wrote, in acme-slack, created from 2025-03-01 until 2025-03-31"."""
    parts = []
    if hold.colleague:
        parts.append(gettext("what %(name)s wrote") % {"name": hold.colleague.name})
    if hold.source:
        parts.append(gettext("in %(place)s") % {"place": hold.source.name})
    if hold.container:
        parts.append(gettext("in %(place)s") % {"place": hold.container.name})
    if hold.created_from or hold.created_until:
        dates = gettext("created")
        if hold.created_from:
            dates += " " + gettext("from %(day)s") % {"day": f"{hold.created_from:%Y-%m-%d}"}
        if hold.created_until:
            dates += " " + gettext("until %(day)s") % {"day": f"{hold.created_until:%Y-%m-%d}"}
        parts.append(dates)
    return ", ".join(parts)


def _keep(policy: RetentionPolicy) -> str:
    if policy.scope == Scope.DEPARTURE:
        return gettext("%(days)s days after departure") % {"days": policy.keep_days}
    return gettext("%(days)s days from creation") % {"days": policy.keep_days}


def _day(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d}"


def _minute(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M}"


def retention_report(found: Retention) -> Report:
    """The figures as a Report: policies, items expiring soonest, holds, expiries per month."""
    subtitle = gettext("At %(when)s UTC") % {"when": _minute(found.now)}
    policy_rows = [
        [
            f"#{f.policy.pk} {f.policy.name}",
            policy_scope(f.policy),
            _keep(f.policy),
            str(f.governs),
            str(f.expired),
            *(str(f.within[d]) for d in HORIZONS),
        ]
        for f in found.policies
    ]
    if found.governed is not None:
        g = found.governed
        policy_rows.append(
            [g.policy.name, "", "", str(g.governs), str(g.expired)]
            + [str(g.within[d]) for d in HORIZONS]
        )
    policies = Table(
        gettext("Retention policies in force"),
        subtitle,
        [
            gettext("Policy"),
            gettext("Applies to"),
            gettext("Keep"),
            gettext("Items"),
            gettext("Expired"),
            *(gettext("Expire within %(days)s days") % {"days": d} for d in HORIZONS),
        ],
        policy_rows,
        [18, 24, 14, 8, 8, 9, 9, 10],
        key="policies",
        empty=gettext("No active policy: every item is kept."),
    )
    soonest = Table(
        gettext("Items expiring soonest (next %(days)s days, at most %(most)s)")
        % {"days": HORIZONS[-1], "most": SOONEST},
        subtitle,
        [
            gettext("Item"),
            gettext("Kind"),
            gettext("Created (UTC)"),
            gettext("Expires (UTC)"),
            gettext("Source"),
            gettext("Channel or folder"),
            gettext("Decided by"),
            gettext("Policies applying"),
            gettext("Held by"),
        ],
        [
            [
                str(e.item_id),
                e.kind,
                _minute(e.created_at),
                _minute(e.expires_at),
                e.source,
                e.container,
                f"#{e.policy.pk} {e.policy.name}",
                str(e.policies),
                ", ".join(describe(h) for h in e.holds),
            ]
            for e in found.soonest
        ],
        [6, 7, 11, 11, 12, 12, 16, 7, 16],
        key="expiring",
        empty=gettext("Nothing expires in the next %(days)s days.") % {"days": HORIZONS[-1]},
    )
    holds = Table(
        gettext("Legal holds in force"),
        subtitle,
        [
            gettext("Hold"),
            gettext("Reason"),
            gettext("Owner"),
            gettext("Covers"),
            gettext("Since (UTC)"),
            gettext("Items covered"),
            gettext("Expired, kept"),
        ],
        [
            [
                f"#{h.hold.pk} {h.hold.name}",
                h.hold.reason,
                h.hold.owner.get_username() if h.hold.owner else gettext("operator"),
                hold_scope(h.hold),
                _day(h.hold.started_at),
                str(h.covers),
                str(h.expired),
            ]
            for h in found.holds
        ],
        [16, 28, 10, 22, 9, 8, 8],
        key="holds",
        empty=gettext("No legal hold in force."),
    )
    months = Table(
        gettext("Items expiring per month"),
        subtitle,
        [gettext("Month"), gettext("Items expiring")],
        [[f"{m:%Y-%m}", str(n)] for m, n in found.months],
        [20, 20],
        key="months",
    )
    return Report(
        gettext("Retention"),
        gettext(
            "%(subtitle)s: %(items)s items, %(governed)s under a policy, "
            "%(held)s expired but kept by legal holds"
        )
        % {
            "subtitle": subtitle,
            "items": found.items,
            "governed": found.governed.governs if found.governed else 0,
            "held": found.expired_held,
        },
        [policies, soonest, holds, months],
        chart=Chart(
            gettext("Items expiring per month"), [(f"{m:%b %y}", n) for m, n in found.months]
        ),
    )
