"""Audit reports in the intranet (knowledge/reports.py), for holders of
`colleagues.view_audit_reports`: the event log, access per package and access per user, each
as a page, a CSV file (`?format=csv`) or a PDF (`?format=pdf`). Every download is audited."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from colleagues.models import Colleague
from knowledge import audit, reports
from knowledge.reports import EventFilter, Period, Table
from skills.charts import bar_chart

PERMISSION = "colleagues.view_audit_reports"
EVENTS_PER_PAGE = 50
DOWNLOADED = "report_downloaded"


def _auditor(request: HttpRequest) -> User:
    """The signed-in user, if they may read audit reports (403 otherwise)."""
    user = request.user
    assert isinstance(user, User)  # login_required
    if not user.has_perm(PERMISSION):
        raise PermissionDenied("audit reports are for auditors and HR")
    return user


def _period(request: HttpRequest) -> Period:
    return Period.parse(request.GET.get("from"), request.GET.get("to"))


def _download(request: HttpRequest, user: User, report: str, table: Table) -> HttpResponse | None:
    """The CSV or PDF asked for with ?format=, audited; None for the page."""
    kind = request.GET.get("format", "")
    if kind not in ("csv", "pdf"):
        return None
    now = datetime.now(UTC)
    if kind == "csv":
        body, content_type = reports.csv_bytes(table), "text/csv; charset=utf-8"
    else:
        body = reports.pdf_bytes(table, generated_by=user.get_username(), generated_at=now)
        content_type = "application/pdf"
    filters = {k: v[:200] for k, v in request.GET.items() if k in ("action", "actor", "target")}
    filters.update({k: v for k, v in request.GET.items() if k in ("colleague", "user")})
    audit.record(
        DOWNLOADED,
        f"audit_report:{report}",
        actor=user,
        format=kind,
        rows=len(table.rows),
        subtitle=table.subtitle[:300],
        filters={k: str(v)[:200] for k, v in filters.items()},
    )
    response = HttpResponse(body, content_type=content_type)
    name = f"audit-{report}-{now:%Y%m%d-%H%M%S}.{kind}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _chart(title: str, counts: list[tuple[date, int]]) -> str:
    labels = [f"{day:%d %b}" for day, _ in counts]
    every = max(1, len(labels) // 8)
    return bar_chart(title, labels, [n for _, n in counts], every_label=every)


@login_required
def audit_events(request: HttpRequest) -> HttpResponse:
    """The event log, filtered by action, actor, target and period, newest first."""
    user = _auditor(request)
    filters = EventFilter(
        period=_period(request),
        action=request.GET.get("action", "").strip()[:64],
        actor=request.GET.get("actor", "").strip()[:150],
        target=request.GET.get("target", "").strip()[:200],
    )
    found = reports.events(filters)
    download = _download(request, user, "events", reports.event_table(found, filters))
    if download is not None:
        return download
    page = Paginator(found, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "knowledge/audit_events.html",
        {
            "filters": filters,
            "page": page,
            "actions": reports.actions_recorded(),
            "chart": _chart("Events per day", reports.events_per_day(found, filters.period)),
            "query": query.urlencode(),
        },
    )


@login_required
def audit_packages(request: HttpRequest) -> HttpResponse:
    """Who asked about, was pointed to or exported which colleague's package, over a period."""
    user = _auditor(request)
    period = _period(request)
    colleague = None
    if slug := request.GET.get("colleague", "").strip():
        colleague = Colleague.objects.filter(slug=slug).first()
    rows = reports.by_package(
        reports.access(period, colleague_id=colleague.pk if colleague else None)
        if colleague or not slug
        else []
    )
    table = reports.access_table(rows, per="package", period=period)
    download = _download(request, user, "packages", table)
    if download is not None:
        return download
    return _access_page(request, "package", period, rows, table, selected=slug)


@login_required
def audit_users(request: HttpRequest) -> HttpResponse:
    """What each user asked, was shown and exported, package by package, over a period."""
    user = _auditor(request)
    period = _period(request)
    username = request.GET.get("user", "").strip()[:150]
    rows = reports.by_user(reports.access(period, username=username))
    table = reports.access_table(rows, per="user", period=period)
    download = _download(request, user, "users", table)
    if download is not None:
        return download
    return _access_page(request, "user", period, rows, table, selected=username)


def _access_page(
    request: HttpRequest,
    per: str,
    period: Period,
    rows: list[reports.AccessRow],
    table: Table,
    *,
    selected: str,
) -> HttpResponse:
    access_events = reports.events(EventFilter(period=period)).filter(
        action__in=reports.ACCESS_ACTIONS
    )
    chart = _chart(
        "Questions, who-knows searches and exports per day",
        reports.events_per_day(access_events, period),
    )
    return render(
        request,
        "knowledge/audit_access.html",
        {
            "per": per,
            "period": period,
            "rows": rows,
            "table": table,
            "selected": selected,
            "chart": chart,
            "query": request.GET.urlencode(),
            "totals": {
                "questions": sum(r.questions for r in rows),
                "exports": sum(r.exports for r in rows),
                "users": len({r.user for r in rows}),
                "packages": len({r.colleague_id for r in rows}),
            },
        },
    )
