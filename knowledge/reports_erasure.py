"""The erasure report for auditors and data protection officers: every erasure request with
what its runs erased and what legal holds kept (knowledge/erasure.py), and one request's
certificate of erasure. Subjects appear only as their case label and the SHA-256 of their
address, as the requests keep them."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext

from knowledge.erasure import certificate_lines
from knowledge.models import ErasureRequest
from knowledge.reports import Chart, Report, Table


def header() -> list[str]:
    """The requests table's column names, in the active language."""
    return [
        gettext("Request"),
        gettext("Case"),
        gettext("Subject (SHA-256)"),
        gettext("State"),
        gettext("Asked"),
        gettext("Decided"),
        gettext("Finished"),
        gettext("Items deleted"),
        gettext("Kept by holds"),
        gettext("Audit event"),
    ]


def requests() -> QuerySet[ErasureRequest]:
    return ErasureRequest.objects.select_related(
        "requested_by", "decided_by", "certificate_event"
    ).order_by("-created_at", "-pk")


def _row(request: ErasureRequest) -> list[str]:
    certificate = request.certificate or {}
    event = request.certificate_event
    return [
        f"#{request.pk}",
        request.subject_label,
        request.subject_sha256[:16] + "…",
        request.get_state_display(),
        f"{request.created_at:%Y-%m-%d} {_who(request.requested_by)}",
        f"{request.decided_at:%Y-%m-%d} {_who(request.decided_by)}" if request.decided_at else "",
        f"{request.finished_at:%Y-%m-%d %H:%M}" if request.finished_at else "",
        str(certificate.get("items_deleted", "")),
        str(certificate.get("held_items", "")),
        f"#{event.seq}" if event is not None else "",
    ]


def _who(user: object) -> str:
    return getattr(user, "username", "") or gettext("operator")


def erasure_report(found: list[ErasureRequest]) -> Report:
    """These requests (`requests()`) with their latest certificates' figures, and the count
    per state; the table's rows are in the order of `found`."""
    per_state = [
        (str(label), sum(1 for r in found if r.state == value))
        for value, label in ErasureRequest.State.choices
    ]
    table = Table(
        gettext("Erasure requests"),
        gettext("All requests, newest first; times UTC"),
        header(),
        [_row(r) for r in found],
        [6, 12, 14, 14, 14, 14, 12, 8, 8, 8],
        key="requests",
        empty=gettext("No erasure request."),
    )
    return Report(
        gettext("Erasure requests and certificates"),
        gettext("%(count)s requests") % {"count": len(found)},
        [table],
        chart=Chart(gettext("Erasure requests per state"), per_state),
    )


def certificate_table(request: ErasureRequest) -> Table:
    """One request's certificate of erasure, as a two-column table."""
    return Table(
        gettext("Certificate of erasure #%(number)s") % {"number": request.pk},
        gettext("Case %(label)s") % {"label": request.subject_label},
        [gettext("What"), gettext("Value")],
        [[what, value] for what, value in certificate_lines(request)],
        [12, 40],
        key="certificate",
    )
