"""Intranet pages for consent and transparency: "My data" for every employee, and the
curators' queue of redaction requests (knowledge/redaction.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.functional import Promise as StrPromise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from colleagues.access import own_colleague
from colleagues.models import Colleague
from knowledge.models import RedactionRequest
from knowledge.redaction import (
    RedactionRefused,
    access_redactable_item,
    approve_request,
    can_curate,
    captured_counts,
    items_captured_from,
    open_requests,
    reject_request,
    request_redaction,
)
from skills.selectors import package_of

ITEMS_PER_PAGE = 25
REASON_CHARS = 1000

# What each consent state means for the person reading "My data".
CONSENT_EXPLANATIONS: dict[str, StrPromise] = {
    Colleague.Consent.NOT_REQUIRED: gettext_lazy(
        "Your organisation's policy allows your work messages, mail and documents to be "
        "captured without asking you first. You can still see everything captured below and "
        "ask for any item to be removed."
    ),
    Colleague.Consent.REQUIRED: gettext_lazy(
        "Your consent is required before your work is captured, and it has not been recorded "
        "yet. Ask HR to record your answer; until then you can see here what was captured."
    ),
    Colleague.Consent.GIVEN: gettext_lazy(
        "You agreed that your work messages, mail and documents may be captured. You can see "
        "everything captured below and ask for any item to be removed."
    ),
    Colleague.Consent.REFUSED: gettext_lazy(
        "You refused capture. If anything of yours is listed below, ask for it to be removed, "
        "or tell HR."
    ),
}


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required
    return request.user


@login_required
def my_data(request: HttpRequest) -> HttpResponse:
    """The logged-in person's consent state, package, and every item captured of theirs."""
    user = _user(request)
    colleague = own_colleague(user)
    context: dict[str, object] = {"colleague": colleague}
    if colleague is not None:
        page = Paginator(items_captured_from(colleague), ITEMS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        requests = list(
            RedactionRequest.objects.filter(requested_by=user).select_related("decided_by")[:50]
        )
        context.update(
            {
                "consent_explanation": CONSENT_EXPLANATIONS.get(colleague.consent, ""),
                "package": package_of(colleague),
                "counts": captured_counts(colleague),
                "page": page,
                "requests": requests,
                "requested_ids": {r.item_id for r in requests if r.is_open},
                "reason_chars": REASON_CHARS,
            }
        )
    return render(request, "knowledge/my_data.html", context)


@login_required
@require_POST
def ask_redaction(request: HttpRequest, item_id: int) -> HttpResponse:
    """Ask for one of the user's own items (or one their package cites) to be redacted."""
    user = _user(request)
    item = access_redactable_item(user, item_id)
    reason = request.POST.get("reason", "")[:REASON_CHARS]
    redaction = request_redaction(item, user=user, reason=reason)
    messages.success(
        request,
        _("Your request to remove item #%(number)s is waiting for a curator.")
        % {"number": redaction.item_id},
    )
    return redirect("knowledge:my_data")


@login_required
def redaction_queue(request: HttpRequest) -> HttpResponse:
    """Requests waiting for a decision, and the latest decided; for curators only."""
    if not can_curate(request.user):
        raise PermissionDenied(_("Only a knowledge curator or HR admin decides on redactions."))
    decided = (
        RedactionRequest.objects.filter(
            state__in=[RedactionRequest.State.REJECTED, RedactionRequest.State.DONE]
        )
        .select_related("requested_by", "decided_by", "colleague")
        .order_by("-decided_at", "-id")[:50]
    )
    return render(
        request,
        "knowledge/redaction_queue.html",
        {"waiting": open_requests(), "decided": decided, "reason_chars": REASON_CHARS},
    )


@login_required
@require_POST
def decide_redaction(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve (which redacts the item) or reject a request, with a reason."""
    user = _user(request)
    if not can_curate(user):
        raise PermissionDenied(_("Only a knowledge curator or HR admin decides on redactions."))
    redaction = get_object_or_404(RedactionRequest, pk=pk)
    reason = request.POST.get("reason", "")[:REASON_CHARS]
    decision = request.POST.get("decision", "")
    try:
        if decision == "approve":
            redaction = approve_request(redaction, curator=user, reason=reason)
            if redaction.state == RedactionRequest.State.DONE:
                messages.success(
                    request,
                    _("Item #%(number)s is redacted everywhere.") % {"number": redaction.item_id},
                )
            else:
                messages.warning(
                    request,
                    _(
                        "Approved, but item #%(number)s is held; approve again once the "
                        "hold has ended."
                    )
                    % {"number": redaction.item_id},
                )
        elif decision == "reject":
            reject_request(redaction, curator=user, reason=reason)
            messages.success(
                request, _("Rejected; item #%(number)s stays.") % {"number": redaction.item_id}
            )
        else:
            messages.error(request, _("Choose approve or reject."))
    except RedactionRefused as exc:
        messages.error(request, str(exc))
    return redirect("knowledge:redaction_queue")
