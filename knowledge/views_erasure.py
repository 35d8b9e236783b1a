"""Erasure requests in the intranet, for holders of `colleagues.erase_colleagues` (HR admins):
the list of requests with the form to ask for one, and each request with its certificate and
the approve and reject buttons (knowledge/erasure.py). Everyone else gets 403."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from colleagues.models import Colleague
from config.widgets import LongSelect
from knowledge.erasure import (
    ErasureRefused,
    approve_erasure,
    can_erase,
    certificate_lines,
    open_requests,
    reject_erasure,
    request_erasure,
)
from knowledge.models import ErasureRequest

FINISHED_SHOWN = 100


class RequestForm(forms.Form):
    colleague = forms.ModelChoiceField(
        Colleague.objects.filter(status=Colleague.Status.DEPARTED).order_by("name"),
        label=gettext_lazy("Colleague"),
        widget=LongSelect,
        help_text=gettext_lazy("Only people who have left can be erased."),
    )
    label = forms.CharField(
        max_length=200,
        label=gettext_lazy("Case label"),
        help_text=gettext_lazy(
            "A case or ticket number; never the person's name: it outlives them."
        ),
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=1000, label=gettext_lazy("Reason")
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", gettext_lazy("Approve")), ("reject", gettext_lazy("Reject"))]
    )
    reason = forms.CharField(max_length=1000, required=False)


def _hr(request: HttpRequest) -> User:
    user: User | AnonymousUser = request.user
    if not isinstance(user, User) or not can_erase(user):
        raise PermissionDenied(_("Only an HR admin handles erasure requests."))
    return user


def _list(request: HttpRequest, form: RequestForm, *, status: int = 200) -> HttpResponse:
    finished = ErasureRequest.objects.exclude(pk__in=open_requests().values("pk")).select_related(
        "requested_by", "decided_by"
    )[:FINISHED_SHOWN]
    context = {"open": open_requests(), "finished": finished, "form": form}
    return render(request, "knowledge/erasure_list.html", context, status=status)


@login_required
def erasure_requests(request: HttpRequest) -> HttpResponse:
    """Open and finished requests; POST asks for a new one (someone else approves it)."""
    user = _hr(request)
    if request.method != "POST":
        initial = (
            {"colleague": request.GET.get("colleague")} if request.GET.get("colleague") else {}
        )
        return _list(request, RequestForm(initial=initial))
    form = RequestForm(request.POST)
    if form.is_valid():
        try:
            created = request_erasure(
                form.cleaned_data["colleague"],
                requested_by=user,
                label=form.cleaned_data["label"],
                reason=form.cleaned_data["reason"],
            )
        except ErasureRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("Erasure request #%(number)s waits for another HR admin's approval.")
                % {"number": created.pk},
            )
            return redirect("knowledge:erasure_request", pk=created.pk)
    return _list(request, form, status=400)


@login_required
def erasure_request(request: HttpRequest, pk: int) -> HttpResponse:
    """One request: its state, its certificate, and the decision for who did not ask."""
    user = _hr(request)
    erasure = get_object_or_404(
        ErasureRequest.objects.select_related(
            "colleague", "requested_by", "decided_by", "certificate_event"
        ),
        pk=pk,
    )
    context = {
        "erasure": erasure,
        "lines": certificate_lines(erasure),
        "may_decide": erasure.state == ErasureRequest.State.REQUESTED
        and erasure.requested_by_id != user.pk,
        "form": DecisionForm(),
    }
    return render(request, "knowledge/erasure_request.html", context)


@login_required
@require_POST
def decide_erasure(request: HttpRequest, pk: int) -> HttpResponse:
    user = _hr(request)
    erasure = get_object_or_404(ErasureRequest, pk=pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose approve or reject."))
        return redirect("knowledge:erasure_request", pk=pk)
    try:
        if form.cleaned_data["decision"] == "approve":
            approve_erasure(erasure, approver=user, reason=form.cleaned_data["reason"])
            messages.success(
                request,
                _("Erasure request #%(number)s approved: the erasure runs now.") % {"number": pk},
            )
        else:
            reject_erasure(erasure, approver=user, reason=form.cleaned_data["reason"])
            messages.success(request, _("Erasure request #%(number)s rejected.") % {"number": pk})
    except ErasureRefused as exc:
        messages.error(request, str(exc))
    return redirect("knowledge:erasure_request", pk=pk)
