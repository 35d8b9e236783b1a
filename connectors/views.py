"""Intranet pages for administrators: sources, their sync runs and quarantined files."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from connectors.actions import delete_source, set_source_status
from connectors.errors import ConnectorConfigError
from connectors.models import Source
from connectors.tasks import sync_source


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
    # htmx polls the runs table while a run is in progress.
    template = "connectors/_runs.html" if request.headers.get("HX-Request") else None
    return render(request, template or "connectors/source.html", context)


@staff_member_required
@require_POST
def source_sync(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    if source.status != Source.Status.ACTIVE:
        messages.error(request, f"{source.name} is paused: resume it to sync.")
    else:
        sync_source.delay(source.pk)
        messages.success(request, f"Sync of {source.name} requested.")
    return redirect(source)


@staff_member_required
@require_POST
def source_pause(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    paused = request.POST.get("paused") == "1"
    set_source_status(
        source=source, status=Source.Status.PAUSED if paused else Source.Status.ACTIVE
    )
    messages.success(request, f"{source.name} {'paused' if paused else 'resumed'}.")
    return redirect(source)


@staff_member_required
def source_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes the source and everything captured from it."""
    source = get_object_or_404(Source, pk=pk)
    if request.method != "POST":
        context = {"source": source, "item_count": source.items.count()}
        return render(request, "connectors/source_delete.html", context)
    try:
        deleted = delete_source(source=source)
    except ConnectorConfigError as exc:
        messages.error(request, str(exc))
        return redirect(source)
    messages.success(request, f"Deleted {deleted.name} and its {deleted.items} items.")
    return redirect(reverse("connectors:sources"))
