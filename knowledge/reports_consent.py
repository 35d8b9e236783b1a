"""The consent report for HR and data protection officers: every colleague's capture consent
state (Colleague.consent), with when and by whom it last changed according to the audit trail
(`consent_changed`, recorded by colleagues.grants.set_consent), and how many colleagues are in
each state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC

from django.db.models import CharField, Count, OuterRef, QuerySet, Subquery, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Concat
from django.utils.translation import gettext

from colleagues.models import Colleague
from knowledge.models import AuditEvent
from knowledge.reports import Chart, Report, Table

CHANGED = "consent_changed"  # colleagues.grants.set_consent
Consent = Colleague.Consent
Status = Colleague.Status


@dataclass(frozen=True)
class ConsentFilter:
    state: str = ""  # a Colleague.Consent value
    department: str = ""  # exactly
    status: str = ""  # a Colleague.Status value

    @classmethod
    def parse(cls, state: str, department: str, status: str) -> ConsentFilter:
        """The filters asked for; unknown states and statuses are ignored."""
        return cls(
            state=state if state in Consent.values else "",
            department=department.strip()[:200],
            status=status if status in Status.values else "",
        )

    def __str__(self) -> str:
        parts = []
        if self.state:
            parts.append(
                gettext("consent %(state)s") % {"state": Consent(self.state).label.lower()}
            )
        if self.department:
            parts.append(gettext("department %(name)s") % {"name": self.department})
        if self.status:
            parts.append(Status(self.status).label.lower())
        return ", ".join(parts) or gettext("every colleague")


def colleagues(filters: ConsentFilter) -> QuerySet[Colleague]:
    """The colleagues matching `filters` by name, each annotated with its last consent change:
    `consent_changed_at`, `consent_changed_by` (a username; empty for the operator),
    `consent_changed_by_id` and `consent_previous` (None when none was recorded)."""
    found = _of_department(filters)
    if filters.state:
        found = found.filter(consent=filters.state)
    changes = _changes()
    return found.annotate(
        consent_changed_at=Subquery(changes.values("at")[:1]),
        consent_changed_by=Subquery(changes.values("actor_name")[:1]),
        consent_changed_by_id=Subquery(changes.values("actor_id")[:1]),
        consent_previous=Subquery(
            changes.annotate(previous=KT("detail__previous")).values("previous")[:1]
        ),
    ).order_by("name", "pk")


def _changes() -> QuerySet[AuditEvent]:
    """The consent changes of the outer query's colleague, newest first."""
    target = Concat(Value("colleague:"), Cast(OuterRef("pk"), CharField()))
    return AuditEvent.objects.filter(action=CHANGED, target=target).order_by("-seq")


def counts(filters: ConsentFilter) -> list[tuple[str, str, int]]:
    """(state, label, colleagues) for every consent state, of the department and status
    chosen (the state filter aside), in Colleague.Consent order."""
    found = dict(
        _of_department(filters)
        .order_by()
        .values("consent")
        .annotate(n=Count("pk"))
        .values_list("consent", "n")
    )
    return [(value, str(label), found.get(value, 0)) for value, label in Consent.choices]


def departments() -> list[str]:
    return list(
        Colleague.objects.exclude(department="")
        .order_by("department")
        .values_list("department", flat=True)
        .distinct()
    )


def _of_department(filters: ConsentFilter) -> QuerySet[Colleague]:
    found = Colleague.objects.all()
    if filters.department:
        found = found.filter(department=filters.department)
    if filters.status:
        found = found.filter(status=filters.status)
    return found


def consent_rows(found: Iterable[Colleague]) -> list[list[str]]:
    """Table rows of colleagues annotated by `colleagues`."""
    rows = []
    for c in found:
        at = getattr(c, "consent_changed_at", None)
        previous = getattr(c, "consent_previous", None)
        by = getattr(c, "consent_changed_by", "") or (
            gettext("operator") if at and getattr(c, "consent_changed_by_id", None) is None else ""
        )
        rows.append(
            [
                c.name,
                c.department,
                c.get_status_display() + (f" ({c.departed_on:%Y-%m-%d})" if c.departed_on else ""),
                c.get_consent_display(),
                f"{at.astimezone(UTC):%Y-%m-%d %H:%M}" if at else gettext("never recorded"),
                by,
                str(Consent(previous).label) if previous in Consent.values else "",
            ]
        )
    return rows


def header() -> list[str]:
    """The colleagues table's column names, in the active language."""
    return [
        gettext("Colleague"),
        gettext("Department"),
        gettext("Status"),
        gettext("Consent"),
        gettext("Last changed (UTC)"),
        gettext("By"),
        gettext("Before"),
    ]


def consent_report(filters: ConsentFilter) -> Report:
    """Every colleague matching `filters`, and the count per state, as a Report."""
    per_state = counts(filters)
    summary = Table(
        gettext("Colleagues per consent state"),
        str(filters),
        [gettext("Consent"), gettext("Colleagues")],
        [[label, str(n)] for _, label, n in per_state],
        [30, 10],
        key="states",
    )
    table = Table(
        gettext("Consent status"),
        str(filters),
        header(),
        consent_rows(colleagues(filters)),
        [20, 16, 14, 18, 14, 12, 14],
        key="colleagues",
        empty=gettext("No colleague matches."),
    )
    return Report(
        gettext("Consent status"),
        str(filters),
        [table, summary],
        chart=Chart(
            gettext("Colleagues per consent state"), [(label, n) for _, label, n in per_state]
        ),
    )
