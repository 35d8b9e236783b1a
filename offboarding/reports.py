"""The offboarding status report for auditors and HR (knowledge/views_audit.py): every case
with its state, dates, checklist progress, overdue steps, capture and publication, and the
count of cases per state. Names only the case's subject label, never captured content."""

from __future__ import annotations

from datetime import date

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext

from knowledge.reports import Chart, Report, Table
from offboarding.models import CaptureRun, OffboardingCase


def header() -> list[str]:
    """The cases table's column names, in the active language."""
    return [
        gettext("Case"),
        gettext("Person"),
        gettext("State"),
        gettext("Opened"),
        gettext("Last day"),
        gettext("Accounts removed"),
        gettext("Steps done"),
        gettext("Overdue"),
        gettext("Capture"),
        gettext("Published to"),
        gettext("Kept (days)"),
    ]


def offboarding_report(today: date | None = None) -> Report:
    """Every case, newest last day first, and the count per state."""
    today = today or timezone.localdate()
    found = list(
        OffboardingCase.objects.annotate(
            steps=Count("checklist", distinct=True),
            done=Count("checklist", filter=Q(checklist__done_at__isnull=False), distinct=True),
            overdue=Count(
                "checklist",
                filter=Q(checklist__done_at__isnull=True, checklist__due_on__lt=today)
                & ~Q(state__in=["archived", "erased"]),
                distinct=True,
            ),
        ).order_by("-last_day", "-pk")
    )
    captures: dict[int, list[str]] = {}
    for case_id, state in CaptureRun.objects.values_list("case_id", "state").order_by("pk"):
        captures.setdefault(case_id, []).append(state)
    rows = [
        [
            f"#{case.pk}",
            case.subject_label,
            case.get_state_display(),
            f"{case.created_at:%Y-%m-%d} ({case.opened_via})",
            f"{case.last_day:%Y-%m-%d}",
            f"{case.account_removal_on:%Y-%m-%d}" if case.account_removal_on else "",
            f"{case.done}/{case.steps}",
            str(case.overdue),
            _capture(captures.get(case.pk, [])),
            case.get_access_policy_display()
            if case.state in ("published", "retained", "archived")
            else "",
            str(case.retention_days or ""),
        ]
        for case in found
    ]
    per_state = [
        (str(label), sum(1 for c in found if c.state == value))
        for value, label in OffboardingCase.State.choices
    ]
    table = Table(
        gettext("Offboarding cases"),
        gettext("On %(day)s") % {"day": f"{today:%Y-%m-%d}"},
        header(),
        rows,
        [5, 14, 9, 12, 9, 9, 7, 7, 12, 14, 7],
        key="cases",
        empty=gettext("No offboarding case."),
    )
    return Report(
        gettext("Offboarding status"),
        gettext("%(count)s cases on %(day)s") % {"count": len(found), "day": f"{today:%Y-%m-%d}"},
        [table],
        chart=Chart(gettext("Offboarding cases per state"), per_state),
    )


def _capture(states: list[str]) -> str:
    if not states:
        return gettext("not started")
    done = states.count(CaptureRun.State.DONE)
    failed = states.count(CaptureRun.State.FAILED)
    text = gettext("%(done)s/%(all)s sources done") % {"done": done, "all": len(states)}
    return (
        gettext("%(text)s, %(failed)s failed") % {"text": text, "failed": failed}
        if failed
        else text
    )
