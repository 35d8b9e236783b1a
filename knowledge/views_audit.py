"""Audit reports in the intranet (knowledge/reports*.py), for holders of
`colleagues.view_audit_reports`: the event log, access per package, access per user, retention,
erasure certificates, offboarding status and consent, each as a page, a CSV file
(`?format=csv`, one table: `&table=` names which of a report's) or a PDF (`?format=pdf`).
Every download is audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext

from colleagues.models import Colleague
from knowledge import audit, reports, reports_consent, reports_erasure, reports_retention
from knowledge.reports import EventFilter, Period, Report, Table
from knowledge.reports_consent import ConsentFilter
from skills.charts import bar_chart

View = Callable[[HttpRequest], HttpResponse]

PERMISSION = "colleagues.view_audit_reports"
EVENTS_PER_PAGE = 50
COLLEAGUES_PER_PAGE = 100
DOWNLOADED = "report_downloaded"
# The query parameters a download's audit event records.
FILTERS = (
    "action",
    "actor",
    "target",
    "colleague",
    "user",
    "state",
    "department",
    "status",
    "request",
)


def _auditor(request: HttpRequest) -> User:
    """The signed-in user, if they may read audit reports (403 otherwise)."""
    user = request.user
    assert isinstance(user, User)  # login_required
    if not user.has_perm(PERMISSION):
        raise PermissionDenied(gettext("Audit reports are for auditors and HR."))
    return user


def _period(request: HttpRequest) -> Period:
    return Period.parse(request.GET.get("from"), request.GET.get("to"))


def _downloads_in_english(view: View) -> View:
    """Serve CSV and PDF downloads in English whatever the page's language: they are records
    read by scripts and other people, and the PDF's font (DejaVu) has no Chinese glyphs."""

    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if request.GET.get("format", "") in ("csv", "pdf"):
            with translation.override(settings.LANGUAGE_CODE):
                return view(request)
        return view(request)

    return wrapper


def _download(
    request: HttpRequest, user: User, report: str, document: Table | Report
) -> HttpResponse | None:
    """The CSV (of one table) or PDF asked for with ?format=, audited; None for the page."""
    kind = request.GET.get("format", "")
    if kind not in ("csv", "pdf"):
        return None
    now = datetime.now(UTC)
    filters = {k: v[:200] for k, v in request.GET.items() if k in FILTERS}
    name = report
    if kind == "csv":
        table = (
            document.table(request.GET.get("table", ""))
            if isinstance(document, Report)
            else document
        )
        if table.key:
            filters["table"] = table.key
            name = f"{report}-{table.key}"
        body, content_type = reports.csv_bytes(table), "text/csv; charset=utf-8"
        rows = len(table.rows)
    else:
        body = reports.pdf_bytes(document, generated_by=user.get_username(), generated_at=now)
        content_type = "application/pdf"
        tables = document.tables if isinstance(document, Report) else [document]
        rows = sum(len(t.rows) for t in tables)
    audit.record(
        DOWNLOADED,
        f"audit_report:{report}",
        actor=user,
        format=kind,
        rows=rows,
        subtitle=document.subtitle[:300],
        filters=filters,
    )
    response = HttpResponse(body, content_type=content_type)
    name = f"audit-{name}-{now:%Y%m%d-%H%M%S}.{kind}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _report_chart(report: Report) -> str:
    """The report's chart as the page's SVG (the PDF draws the same bars)."""
    assert report.chart is not None
    bars = report.chart.bars
    return bar_chart(report.chart.title, [label for label, _ in bars], [n for _, n in bars])


def _chart(title: str, counts: list[tuple[date, int]]) -> str:
    labels = [date_format(day, "MONTH_DAY_FORMAT") for day, _ in counts]
    every = max(1, len(labels) // 8)
    return bar_chart(title, labels, [n for _, n in counts], every_label=every)


@login_required
@_downloads_in_english
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
            "chart": _chart(
                gettext("Events per day"), reports.events_per_day(found, filters.period)
            ),
            "query": query.urlencode(),
        },
    )


@login_required
@_downloads_in_english
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
@_downloads_in_english
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
        gettext("Questions, who-knows searches and exports per day"),
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


@login_required
@_downloads_in_english
def audit_retention(request: HttpRequest) -> HttpResponse:
    """What the retention policies govern and when it expires, the items expiring soonest, and
    the legal holds in force with what they keep."""
    user = _auditor(request)
    found = reports_retention.retention()
    report = reports_retention.retention_report(found)
    download = _download(request, user, "retention", report)
    if download is not None:
        return download
    policies, soonest, holds, _ = report.tables
    chart = bar_chart(
        gettext("Items expiring per month"),
        [date_format(month, "YEAR_MONTH_FORMAT") for month, _ in found.months],
        [n for _, n in found.months],
        every_label=2,
    )
    return render(
        request,
        "knowledge/audit_retention.html",
        {
            "found": found,
            "report": report,
            "policies": policies,
            "soonest": soonest,
            "holds": holds,
            "chart": chart,
            "horizons": reports_retention.HORIZONS,
        },
    )


@login_required
@_downloads_in_english
def audit_consent(request: HttpRequest) -> HttpResponse:
    """Every colleague's capture consent, when and by whom it last changed, and how many
    colleagues are in each state; filtered by state, department and status."""
    user = _auditor(request)
    filters = ConsentFilter.parse(
        request.GET.get("state", ""),
        request.GET.get("department", ""),
        request.GET.get("status", ""),
    )
    if request.GET.get("format"):
        download = _download(request, user, "consent", reports_consent.consent_report(filters))
        if download is not None:
            return download
    page = Paginator(reports_consent.colleagues(filters), COLLEAGUES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    per_state = reports_consent.counts(filters)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "knowledge/audit_consent.html",
        {
            "filters": filters,
            "page": page,
            "header": reports_consent.header(),
            "rows": reports_consent.consent_rows(page.object_list),
            "per_state": per_state,
            "chart": bar_chart(
                gettext("Colleagues per consent state"),
                [label for _, label, _ in per_state],
                [n for _, _, n in per_state],
            ),
            "states": reports_consent.Consent.choices,
            "statuses": reports_consent.Status.choices,
            "departments": reports_consent.departments(),
            "query": query.urlencode(),
        },
    )


@login_required
@_downloads_in_english
def audit_erasures(request: HttpRequest) -> HttpResponse:
    """Every erasure request with what its runs erased and what holds kept; with ?request=ID,
    that request's certificate of erasure (page, CSV or PDF)."""
    user = _auditor(request)
    chosen = request.GET.get("request", "")
    if chosen:
        erasure = get_object_or_404(
            reports_erasure.requests(), pk=int(chosen) if chosen.isdigit() else 0
        )
        table = reports_erasure.certificate_table(erasure)
        download = _download(request, user, f"erasure-{erasure.pk}", table)
        if download is not None:
            return download
        return render(
            request, "knowledge/audit_erasure.html", {"certificate": table, "erasure": erasure}
        )
    found = list(reports_erasure.requests())
    report = reports_erasure.erasure_report(found)
    download = _download(request, user, "erasures", report)
    if download is not None:
        return download
    chart = _report_chart(report)
    return render(
        request,
        "knowledge/audit_erasure.html",
        {
            "table": report.tables[0],
            "rows": list(zip(found, report.tables[0].rows, strict=True)),
            "chart": chart,
        },
    )


@login_required
@_downloads_in_english
def audit_offboarding(request: HttpRequest) -> HttpResponse:
    """Every offboarding case: state, dates, checklist progress, overdue steps, capture,
    publication and retention."""
    from offboarding.reports import offboarding_report

    user = _auditor(request)
    report = offboarding_report()
    download = _download(request, user, "offboarding", report)
    if download is not None:
        return download
    chart = _report_chart(report)
    return render(
        request,
        "knowledge/audit_offboarding.html",
        {"report": report, "table": report.tables[0], "chart": chart},
    )
