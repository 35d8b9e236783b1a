"""Intranet pages for administrators: sources, their sync runs and quarantined files."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from connectors.models import Source


@staff_member_required
def source_list(request: HttpRequest) -> HttpResponse:
    sources = Source.objects.annotate(
        item_count=Count("items", distinct=True),
        quarantine_count=Count("quarantine", distinct=True),
    ).order_by("name")
    return render(request, "connectors/sources.html", {"sources": sources})


@staff_member_required
def source_detail(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    context = {
        "source": source,
        "runs": source.runs.all()[:20],
        "quarantine": source.quarantine.all()[:100],
    }
    return render(request, "connectors/source.html", context)
