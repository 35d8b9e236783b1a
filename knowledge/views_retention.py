"""The retention page for HR admins: policies and legal holds, with forms to add a policy,
place a hold and release one (knowledge/retention). Only holders of `colleagues.manage_grants`
(HR admins, superusers) see it; everyone else gets 403."""

from __future__ import annotations

from typing import Any

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
from connectors.models import Source
from knowledge.models import Container, LegalHold, RetentionPolicy
from knowledge.retention.holds import HoldRefused, place_hold, release_hold
from knowledge.retention.policies import PolicyRefused, create_policy

PERMISSION = "colleagues.manage_grants"


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    scope = forms.ChoiceField(choices=RetentionPolicy.Scope.choices, label=gettext_lazy("Scope"))
    keep_days = forms.IntegerField(min_value=1, label=gettext_lazy("Keep (days)"))
    source_kind = forms.CharField(max_length=32, required=False, label=gettext_lazy("Source kind"))
    source = forms.ModelChoiceField(
        Source.objects.order_by("name"), required=False, label=gettext_lazy("Source")
    )
    container = forms.ModelChoiceField(
        Container.objects.select_related("source").order_by("name"),
        required=False,
        widget=LongSelect,
        label=gettext_lazy("Channel or folder"),
    )
    colleague = forms.ModelChoiceField(
        Colleague.objects.order_by("name"),
        required=False,
        widget=LongSelect,
        label=gettext_lazy("Colleague"),
        help_text=gettext_lazy(
            "For the colleague scope; for departure, only this leaver (empty: all)."
        ),
    )


class HoldForm(forms.Form):
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, label=gettext_lazy("Reason")
    )
    colleague = forms.ModelChoiceField(
        Colleague.objects.order_by("name"),
        required=False,
        widget=LongSelect,
        label=gettext_lazy("Colleague"),
        help_text=gettext_lazy("What they wrote."),
    )
    source = forms.ModelChoiceField(
        Source.objects.order_by("name"), required=False, label=gettext_lazy("Source")
    )
    container = forms.ModelChoiceField(
        Container.objects.select_related("source").order_by("name"),
        required=False,
        widget=LongSelect,
        label=gettext_lazy("Channel or folder"),
    )
    created_from = forms.DateField(
        required=False,
        label=gettext_lazy("Created from"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    created_until = forms.DateField(
        required=False,
        label=gettext_lazy("Created until"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )


def _hr(request: HttpRequest) -> User:
    user: User | AnonymousUser = request.user
    if not isinstance(user, User) or not user.is_active or not user.has_perm(PERMISSION):
        raise PermissionDenied(_("Only an HR admin manages retention and legal holds."))
    return user


def _page(
    request: HttpRequest,
    *,
    policy_form: PolicyForm | None = None,
    hold_form: HoldForm | None = None,
    status: int = 200,
) -> HttpResponse:
    holds = list(
        LegalHold.objects.select_related(
            "owner", "colleague", "source", "container", "released_by"
        ).order_by("released_at", "-started_at", "-id")[:200]
    )
    context: dict[str, Any] = {
        "policies": RetentionPolicy.objects.select_related(
            "source", "container", "colleague", "created_by"
        ).order_by("-is_active", "name", "id"),
        "active_holds": [h for h in holds if h.is_active],
        "released_holds": [h for h in holds if not h.is_active],
        "policy_form": policy_form or PolicyForm(),
        "hold_form": hold_form or HoldForm(),
    }
    return render(request, "knowledge/retention.html", context, status=status)


@login_required
def retention(request: HttpRequest) -> HttpResponse:
    """Policies and holds, with the forms to add them."""
    _hr(request)
    return _page(request)


@login_required
@require_POST
def add_policy(request: HttpRequest) -> HttpResponse:
    user = _hr(request)
    form = PolicyForm(request.POST)
    if form.is_valid():
        try:
            policy = create_policy(actor=user, **form.cleaned_data)
        except PolicyRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("Policy %(name)r is in force from the next purge.") % {"name": policy.name},
            )
            return redirect("knowledge:retention")
    return _page(request, policy_form=form, status=400)


@login_required
@require_POST
def place_legal_hold(request: HttpRequest) -> HttpResponse:
    user = _hr(request)
    form = HoldForm(request.POST)
    if form.is_valid():
        try:
            hold = place_hold(owner=user, **form.cleaned_data)
        except HoldRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("Legal hold #%(number)s is in force: nothing it covers is deleted.")
                % {"number": hold.pk},
            )
            return redirect("knowledge:retention")
    return _page(request, hold_form=form, status=400)


@login_required
@require_POST
def release_legal_hold(request: HttpRequest, pk: int) -> HttpResponse:
    user = _hr(request)
    hold = release_hold(get_object_or_404(LegalHold, pk=pk), actor=user)
    messages.success(
        request,
        _("Legal hold #%(number)s released: what it covered may be deleted at the next purge.")
        % {"number": hold.pk},
    )
    return redirect("knowledge:retention")
