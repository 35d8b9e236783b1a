"""Intranet pages for the colleague directory and a colleague's page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from colleagues.models import Colleague
from colleagues.selectors import colleague_directory, departments
from knowledge.selectors import characteristic_terms, item_counts_by_source, items_by
from knowledge.visibility import reader_for


@login_required
def directory(request: HttpRequest) -> HttpResponse:
    department = request.GET.get("department", "")[:200]
    status = request.GET.get("status", "")
    if status not in Colleague.Status.values:
        status = ""
    query = request.GET.get("q", "").strip()[:200]
    context = {
        "colleagues": colleague_directory(department=department, status=status, query=query),
        "departments": departments(),
        "statuses": Colleague.Status.choices,
        "department": department,
        "status": status,
        "query": query,
    }
    template = (
        "colleagues/_directory_rows.html"
        if request.headers.get("HX-Request")
        else "colleagues/directory.html"
    )
    return render(request, template, context)


@login_required
def colleague_detail(request: HttpRequest, slug: str) -> HttpResponse:
    colleague = get_object_or_404(Colleague.objects.select_related("manager"), slug=slug)
    reader = reader_for(request.user)
    context = {
        "colleague": colleague,
        "reports": colleague.reports.order_by("name"),
        "counts": item_counts_by_source(reader, colleague),
        "recent": items_by(reader, colleague)[:20],
        "terms": characteristic_terms(reader, colleague),
    }
    return render(request, "colleagues/detail.html", context)
