"""Intranet pages for the colleague directory and a colleague's page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from colleagues.access import can_view_package, default_access, live_grants
from colleagues.actions import IdentityChangeRefused, merge_colleagues, split_identity
from colleagues.forms import ConsentForm, GrantForm
from colleagues.grants import GrantRefused, grant_access, revoke_grant, set_consent
from colleagues.models import AccessGrant, Colleague, Identity
from colleagues.selectors import (
    colleague_by_email,
    colleague_directory,
    departments,
    merge_candidates,
)
from knowledge.selectors import characteristic_terms, item_counts_by_source, items_by
from knowledge.visibility import reader_for

# The directory lists this many colleagues a page: a large organisation's would otherwise be one
# page of thousands of rows.
COLLEAGUES_PER_PAGE = 100


@login_required
def directory(request: HttpRequest) -> HttpResponse:
    department = request.GET.get("department", "")[:200]
    status = request.GET.get("status", "")
    if status not in Colleague.Status.values:
        status = ""
    query = request.GET.get("q", "").strip()[:200]
    page = Paginator(
        colleague_directory(department=department, status=status, query=query),
        COLLEAGUES_PER_PAGE,
    ).get_page(request.GET.get("page"))
    filters = {"q": query, "department": department, "status": status}
    context = {
        "colleagues": page.object_list,
        "page": page,
        # The filters, for the pager's links (the filter form starts again from page 1).
        "filters": urlencode({k: v for k, v in filters.items() if v}),
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
        "can_open_package": can_view_package(request.user, colleague),
        "can_manage_grants": request.user.has_perm("colleagues.manage_grants"),
    }
    if request.user.has_perm("colleagues.manage_consent"):
        context["consent_form"] = ConsentForm(initial={"consent": colleague.consent})
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
        messages.error(request, _("No colleague %(wanted)r to merge.") % {"wanted": wanted})
        return redirect(keep)
    name = absorb.name
    try:
        merge_colleagues(keep=keep, absorb=absorb)
    except IdentityChangeRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, _("Merged %(name)s into %(keep)s.") % {"name": name, "keep": keep.name}
        )
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
    messages.success(
        request,
        _("%(identity)s is now %(name)s, split from %(owner)s.")
        % {"identity": identity.value, "name": colleague.name, "owner": owner.name},
    )
    return redirect(colleague)


@login_required
@permission_required("colleagues.manage_grants", raise_exception=True)
def access(request: HttpRequest, slug: str) -> HttpResponse:
    """Who may open this colleague's package: the grants in force, a form to add one."""
    colleague = get_object_or_404(Colleague, slug=slug)
    form = GrantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            grant_access(
                colleague,
                user=data["user"],
                group=data["group"],
                department=data["department"],
                level=data["level"],
                expires_at=data["expires_at"],
                reason=data["reason"],
                actor=request.user,
            )
        except GrantRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Access granted."))
            return redirect("colleagues:access", slug=slug)
    grants = live_grants().filter(colleague=colleague).select_related("user", "group", "created_by")
    ended = (
        AccessGrant.objects.filter(colleague=colleague)
        .exclude(pk__in=grants.values("pk"))
        .select_related("user", "group")[:50]
    )
    return render(
        request,
        "colleagues/access.html",
        {
            "colleague": colleague,
            "grants": grants,
            "ended": ended,
            "form": form,
            "default_access": default_access(),
        },
    )


@login_required
@permission_required("colleagues.manage_grants", raise_exception=True)
@require_POST
def revoke(request: HttpRequest, slug: str, grant_id: int) -> HttpResponse:
    grant = get_object_or_404(AccessGrant, pk=grant_id, colleague__slug=slug)
    revoke_grant(grant, actor=request.user)
    messages.success(
        request,
        _("Revoked: %(grantee)s no longer holds this grant.") % {"grantee": grant.grantee_label},
    )
    return redirect("colleagues:access", slug=slug)


@login_required
@permission_required("colleagues.manage_consent", raise_exception=True)
@require_POST
def consent(request: HttpRequest, slug: str) -> HttpResponse:
    colleague = get_object_or_404(Colleague, slug=slug)
    form = ConsentForm(request.POST)
    if form.is_valid():
        set_consent(colleague, form.cleaned_data["consent"], actor=request.user)
        messages.success(
            request,
            _("Consent recorded: %(consent)s.") % {"consent": colleague.get_consent_display()},
        )
    else:
        messages.error(request, _("Choose a consent state."))
    return redirect(colleague)
