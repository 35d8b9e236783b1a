"""The offboarding pages: the HR dashboard, a case with its checklist, capture progress,
handover map and exit-interview questions, the review screen, the checklist template and the
bus-factor view. HR (`colleagues.manage_offboarding`) sees everything; the person (while still
employed) and their manager see their case's page and review (offboarding.review.can_review);
everyone else gets 403."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.forms import modelformset_factory
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from colleagues.models import Colleague
from config.widgets import LongSelect
from connectors.models import Source
from knowledge.models import Item
from knowledge.redaction import RedactionRefused
from offboarding import capture, cases, handover, review
from offboarding.cases import ALLOWED, CaseRefused
from offboarding.models import ChecklistItem, ChecklistTemplateStep, OffboardingCase, Step
from skills.actions import BuildRefused
from skills.charts import bar_chart

State = OffboardingCase.State
ITEMS_PER_PAGE = 50


class OpenCaseForm(forms.Form):
    colleague = forms.ModelChoiceField(
        Colleague.objects.order_by("name"), label=gettext_lazy("Colleague"), widget=LongSelect
    )
    last_day = forms.DateField(
        label=gettext_lazy("Last day"), widget=forms.DateInput(attrs={"type": "date"})
    )
    account_removal_on = forms.DateField(
        required=False,
        label=gettext_lazy("Accounts removed on"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("Capture must finish before this day."),
    )
    access_policy = forms.ChoiceField(
        choices=OffboardingCase.Access.choices,
        label=gettext_lazy("Who may open the published package"),
    )


class SuccessorForm(forms.Form):
    area = forms.CharField(max_length=200, label=gettext_lazy("Area or system"))
    successor = forms.ModelChoiceField(
        Colleague.objects.filter(status=Colleague.Status.CURRENT).order_by("name"),
        required=False,
        widget=LongSelect,
        label=gettext_lazy("Successor"),
    )
    note = forms.CharField(max_length=1000, required=False, label=gettext_lazy("Note"))


class TemplateStepForm(forms.ModelForm):
    """One row of the checklist template table: its fields have no visible label of their own
    (the column headings are), so each names its column and its step for screen readers."""

    class Meta:
        model = ChecklistTemplateStep
        fields = ["title", "responsible", "relative_to", "offset_days", "position", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        step = self.instance.title if self.instance.pk else _("new step")
        for field in self.fields.values():
            field.widget.attrs["aria-label"] = _("%(column)s of “%(step)s”") % {
                "column": field.label,
                "step": step,
            }


TemplateFormSet = modelformset_factory(ChecklistTemplateStep, form=TemplateStepForm, extra=0)


def _user(request: HttpRequest) -> User:
    user: User | AnonymousUser = request.user
    assert isinstance(user, User)  # login_required
    return user


def _hr(request: HttpRequest) -> User:
    user = _user(request)
    if not cases.can_manage(user):
        raise PermissionDenied(_("Only HR runs offboarding."))
    return user


def _case_for(request: HttpRequest, pk: int) -> tuple[User, OffboardingCase]:
    """The case, if the signed-in user is HR or one of its reviewers (403 otherwise)."""
    user = _user(request)
    case = get_object_or_404(
        OffboardingCase.objects.select_related("colleague", "colleague__manager", "opened_by"),
        pk=pk,
    )
    if not (cases.can_manage(user) or review.can_review(user, case)):
        raise PermissionDenied(_("This offboarding case is for HR, the person and their manager."))
    return user, case


# The dashboard.


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Cases by state, with what is due and overdue; the form to open one."""
    _hr(request)
    form = OpenCaseForm(initial={"access_policy": OffboardingCase.Access.TEAM})
    return _dashboard(request, form)


def _dashboard(request: HttpRequest, form: OpenCaseForm, *, status: int = 200) -> HttpResponse:
    today = timezone.localdate()
    open_cases = list(
        OffboardingCase.objects.exclude(state__in=[State.ARCHIVED, State.ERASED])
        .select_related("colleague")
        .annotate(overdue=Count("checklist", filter=_overdue_filter(today)))
        .order_by("last_day", "pk")
    )
    next_steps = {
        item.case_id: item
        for item in reversed(
            list(
                ChecklistItem.objects.filter(case__in=open_cases, done_at__isnull=True).order_by(
                    "case_id", "due_on", "position"
                )
            )
        )
    }
    per_state = dict(
        OffboardingCase.objects.values_list("state").annotate(n=Count("pk")).order_by()
    )
    counts = [(str(label), per_state.get(value, 0)) for value, label in State.choices]
    closed = OffboardingCase.objects.filter(state__in=[State.ARCHIVED, State.ERASED]).order_by(
        "-updated_at"
    )[:50]
    context = {
        "open_cases": [(c, next_steps.get(c.pk)) for c in open_cases],
        "closed": closed,
        "overdue": sum(c.overdue for c in open_cases),
        "chart": bar_chart(
            _("Cases per state"), [label for label, __ in counts], [n for __, n in counts]
        ),
        "form": form,
        "today": today,
    }
    return render(request, "offboarding/dashboard.html", context, status=status)


def _overdue_filter(today: date) -> Q:
    return Q(checklist__done_at__isnull=True, checklist__due_on__lt=today)


@login_required
@require_POST
def open_new_case(request: HttpRequest) -> HttpResponse:
    user = _hr(request)
    form = OpenCaseForm(request.POST)
    if form.is_valid():
        try:
            case = cases.open_case(
                form.cleaned_data["colleague"],
                last_day=form.cleaned_data["last_day"],
                account_removal_on=form.cleaned_data["account_removal_on"],
                access_policy=form.cleaned_data["access_policy"],
                via=OffboardingCase.Trigger.UI,
                actor=user,
            )
        except CaseRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("Offboarding case #%(number)s opened with its checklist.") % {"number": case.pk},
            )
            return redirect(case)
    return _dashboard(request, form, status=400)


# One case.


@login_required
def case_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The case: state and moves, checklist, capture progress, handover map, exit-interview
    questions, retention."""
    user, case = _case_for(request, pk)
    is_hr = cases.can_manage(user)
    runs = list(case.captures.select_related("source"))
    context = {
        "case": case,
        "is_hr": is_hr,
        "moves": [
            (s, State(s).label)
            for s in ALLOWED[case.state]
            if s not in (State.PUBLISHED, State.ERASED)
        ],
        "checklist": case.checklist.select_related("done_by"),
        "today": timezone.localdate(),
        "runs": runs,
        "capturing": any(r.state in ("queued", "running") for r in runs),
        "sources": Source.objects.exclude(kind="upload").order_by("name") if is_hr else [],
        "handover": handover.handover_map(case),
        "successor_form": SuccessorForm(),
        "questions": handover.exit_interview_questions(case.colleague) if case.colleague else [],
        "steps": Step,
    }
    return render(request, "offboarding/case.html", context)


@login_required
@require_POST
def move_case(request: HttpRequest, pk: int) -> HttpResponse:
    user = _hr(request)
    case = get_object_or_404(OffboardingCase, pk=pk)
    try:
        case = cases.transition(
            case, request.POST.get("state", ""), actor=user, reason=request.POST.get("reason", "")
        )
    except CaseRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Case #%(number)s is %(state)s.")
            % {"number": case.pk, "state": case.get_state_display().lower()},
        )
    return redirect(case)


@login_required
@require_POST
def tick_step(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    user, case = _case_for(request, pk)
    if not cases.can_manage(user) and step not in (Step.SUCCESSORS, Step.EXIT_INTERVIEW):
        raise PermissionDenied(_("HR ticks off this step."))
    try:
        cases.complete_step(case, step, actor=user, note=request.POST.get("note", ""))
    except CaseRefused as exc:
        messages.error(request, str(exc))
    return redirect(case)


@login_required
@require_POST
def start_capture(request: HttpRequest, pk: int) -> HttpResponse:
    user = _hr(request)
    case = get_object_or_404(OffboardingCase, pk=pk)
    chosen = Source.objects.filter(pk__in=request.POST.getlist("sources")).exclude(kind="upload")
    if not chosen:
        messages.error(request, _("Choose the sources to capture from."))
        return redirect(case)
    try:
        runs = capture.start_capture(case, sources=list(chosen), actor=user)
    except CaseRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            ngettext(
                "Capture started from %(count)d source.",
                "Capture started from %(count)d sources.",
                len(runs),
            )
            % {"count": len(runs)},
        )
    return redirect(case)


@login_required
@require_POST
def add_successor(request: HttpRequest, pk: int) -> HttpResponse:
    user, case = _case_for(request, pk)
    form = SuccessorForm(request.POST)
    if form.is_valid():
        handover.set_successor(
            case,
            area=form.cleaned_data["area"],
            successor=form.cleaned_data["successor"],
            note=form.cleaned_data["note"],
            actor=user,
        )
        messages.success(request, _("Handover map updated."))
    else:
        messages.error(request, _("Name the area or system."))
    return redirect(case)


@login_required
@require_POST
def retain(request: HttpRequest, pk: int) -> HttpResponse:
    user = _hr(request)
    case = get_object_or_404(OffboardingCase, pk=pk)
    try:
        cases.set_retention(case, days=int(request.POST.get("days") or 0), actor=user)
    except (CaseRefused, ValueError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("What they wrote is kept %(days)s days.") % {"days": case.retention_days},
        )
    return redirect(case)


# The review.


@login_required
def review_page(request: HttpRequest, pk: int) -> HttpResponse:
    """What was captured of the person, per source and item by item, to redact and approve."""
    user, case = _case_for(request, pk)
    items = Paginator(review.captured_items(case), ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    readable = review.readable_item_ids(user, case, items)
    context = {
        "case": case,
        "per_source": review.captured_per_source(case),
        "items": items,
        "rows": [(item, item.pk in readable) for item in items],
        "is_hr": cases.can_manage(user),
        "review_done": case.checklist.filter(step=Step.REVIEW, done_at__isnull=False).exists(),
    }
    return render(request, "offboarding/review.html", context)


@login_required
@require_POST
def redact(request: HttpRequest, pk: int, item_id: int) -> HttpResponse:
    user, case = _case_for(request, pk)
    item = get_object_or_404(Item, pk=item_id)
    reason = request.POST.get("reason", "").strip() or "removed in the offboarding review"
    try:
        review.redact_in_review(case, item, actor=user, reason=reason)
    except (RedactionRefused, CaseRefused, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The item is removed everywhere."))
    # Back to the page the reviewer was on (the paginator clamps it if that page is gone).
    page = request.POST.get("page", "")
    url = reverse("offboarding:review", kwargs={"pk": case.pk})
    return redirect(f"{url}?page={page}" if page.isdigit() else url)


@login_required
@require_POST
def approve(request: HttpRequest, pk: int) -> HttpResponse:
    user, case = _case_for(request, pk)
    try:
        review.approve_review(case, actor=user)
    except (CaseRefused, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Review approved: HR can publish the package."))
    return redirect("offboarding:review", pk=case.pk)


@login_required
@require_POST
def publish(request: HttpRequest, pk: int) -> HttpResponse:
    user = _hr(request)
    case = get_object_or_404(OffboardingCase, pk=pk)
    try:
        case = review.publish(case, actor=user)
    except (CaseRefused, BuildRefused) as exc:
        messages.error(request, str(exc))
        return redirect("offboarding:review", pk=case.pk)
    messages.success(
        request,
        _("Package published (%(policy)s).") % {"policy": case.get_access_policy_display().lower()},
    )
    return redirect(case)


# Organisation-wide.


@login_required
def template(request: HttpRequest) -> HttpResponse:
    """The checklist every new case gets: HR edits titles, who does it and when it is due."""
    _hr(request)
    formset = TemplateFormSet(
        request.POST or None, queryset=ChecklistTemplateStep.objects.order_by("position", "pk")
    )
    if request.method == "POST" and formset.is_valid():
        formset.save()
        messages.success(request, _("Checklist template saved: new cases follow it."))
        return redirect("offboarding:template")
    status = 400 if request.method == "POST" else 200
    return render(request, "offboarding/template.html", {"formset": formset}, status=status)


@login_required
def bus_factor(request: HttpRequest) -> HttpResponse:
    """Areas and systems only one person writes about, those of people leaving first."""
    user = _hr(request)
    if not user.has_perm("colleagues.view_all_packages"):
        raise PermissionDenied(_("The bus-factor view reads every package."))
    return render(request, "offboarding/bus_factor.html", {"topics": handover.bus_factor()})
