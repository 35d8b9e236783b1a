"""Intranet pages for the colleague directory and a colleague's page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from colleagues.actions import IdentityChangeRefused, merge_colleagues, split_identity
from colleagues.models import Colleague, Identity
from colleagues.selectors import (
    colleague_by_email,
    colleague_directory,
    departments,
    merge_candidates,
)
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
    if request.user.is_staff:
        context["identities"] = colleague.identities.order_by("kind", "value")
        context["merge_candidates"] = merge_candidates(colleague)
    return render(request, "colleagues/detail.html", context)


@staff_member_required
@require_POST
def colleague_merge(request: HttpRequest, slug: str) -> HttpResponse:
    """Merge the colleague named in `absorb` (slug or address) into this one."""
    keep = get_object_or_404(Colleague, slug=slug)
    wanted = request.POST.get("absorb", "").strip()[:320]
    absorb = Colleague.objects.filter(slug=wanted).first() or (
        colleague_by_email(wanted) if "@" in wanted else None
    )
    if absorb is None:
        messages.error(request, f"No colleague {wanted!r} to merge.")
        return redirect(keep)
    name = absorb.name
    try:
        merge_colleagues(keep=keep, absorb=absorb)
    except IdentityChangeRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Merged {name} into {keep.name}.")
    return redirect(keep)


@staff_member_required
@require_POST
def identity_split(request: HttpRequest, slug: str, identity_id: int) -> HttpResponse:
    """Split one identity off this colleague into a colleague of its own."""
    owner = get_object_or_404(Colleague, slug=slug)
    identity = get_object_or_404(Identity, pk=identity_id, colleague=owner)
    try:
        colleague = split_identity(identity=identity)
    except IdentityChangeRefused as exc:
        messages.error(request, str(exc))
        return redirect(owner)
    messages.success(request, f"{identity.value} is now {colleague.name}, split from {owner.name}.")
    return redirect(colleague)
