"""Offboarding cases: opening one, its checklist, and the state machine (issue 9).

States, and the only moves between them (`ALLOWED`):

    planned → notified → capturing → in review → published → retained → archived | erased
                              ↑____________|
    planned, notified, capturing, in review → archived (called off)
    any open state → erased (the person was erased: knowledge.erasure closes their cases)

Guards, checked under a row lock so two requests cannot both move a case:
- notified → capturing: the person's consent is given, or not required by policy;
- capturing → in review: every capture of the case has finished;
- in review → published: only through `offboarding.review.publish` (it builds the package and
  applies the access policy);
- published → retained: a retention period is set (`set_retention`);
- → erased: only by the erasure of the person (knowledge.erasure, `close_for_erasure`).

Every opening, move and ticked-off step is an audit event on "offboarding:<id>".
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from colleagues.models import Colleague
from knowledge import audit
from knowledge.audit import Actor, login_user
from offboarding.models import (
    CaptureRun,
    ChecklistItem,
    ChecklistTemplateStep,
    OffboardingCase,
)

State = OffboardingCase.State
PERMISSION = "colleagues.manage_offboarding"
OPENED = "offboarding_opened"
MOVED = "offboarding_transition"
STEP_DONE = "offboarding_step_done"

ALLOWED: dict[str, tuple[str, ...]] = {
    State.PLANNED: (State.NOTIFIED, State.ARCHIVED, State.ERASED),
    State.NOTIFIED: (State.CAPTURING, State.ARCHIVED, State.ERASED),
    State.CAPTURING: (State.IN_REVIEW, State.ARCHIVED, State.ERASED),
    State.IN_REVIEW: (State.CAPTURING, State.PUBLISHED, State.ARCHIVED, State.ERASED),
    State.PUBLISHED: (State.RETAINED, State.ERASED),
    State.RETAINED: (State.ARCHIVED, State.ERASED),
    State.ARCHIVED: (),
    State.ERASED: (),
}


class CaseRefused(ValueError):
    """A case that cannot be opened or changed as asked; the message says why."""


class TransitionRefused(CaseRefused):
    """A move the state machine or its guards do not allow."""


def can_manage(user: User | AnonymousUser) -> bool:
    return user.is_active and user.has_perm(PERMISSION)


# Opening.


def open_case(
    colleague: Colleague,
    *,
    last_day: date,
    via: str,
    actor: Actor = None,
    account_removal_on: date | None = None,
    external_id: str = "",
    access_policy: str = OffboardingCase.Access.TEAM,
) -> OffboardingCase:
    """Open a case for `colleague` with the checklist of the current template; audited.
    Raises CaseRefused when they have an open case already or the dates are reversed."""
    if account_removal_on is not None and account_removal_on < last_day:
        raise CaseRefused(gettext("The accounts cannot be removed before the last day."))
    if via not in OffboardingCase.Trigger.values:
        raise CaseRefused(gettext("Unknown trigger %(via)r.") % {"via": via})
    if access_policy not in OffboardingCase.Access.values:
        raise CaseRefused(gettext("Unknown access policy %(policy)r.") % {"policy": access_policy})
    existing = open_case_of(colleague)
    if existing is not None:
        raise CaseRefused(
            gettext("%(person)s has an open offboarding case already (#%(number)s).")
            % {"person": colleague, "number": existing.pk}
        )
    try:
        with transaction.atomic():
            case = OffboardingCase.objects.create(
                colleague=colleague,
                subject_label=colleague.name[:200],
                last_day=last_day,
                account_removal_on=account_removal_on,
                opened_via=via,
                opened_by=login_user(actor),
                external_id=external_id.strip()[:200],
                access_policy=access_policy,
            )
            _make_checklist(case)
            audit.record(
                OPENED,
                f"offboarding:{case.pk}",
                actor=actor,
                colleague=colleague.pk,
                via=via,
                last_day=last_day.isoformat(),
                account_removal_on=account_removal_on.isoformat() if account_removal_on else None,
            )
            from offboarding.notifications import notify_opened  # it imports this module

            notify_opened(case)  # by email and Slack, once this commits
    except IntegrityError as exc:
        # Another request opened one at the same moment (the one-open-case constraint).
        raise CaseRefused(
            gettext("%(person)s has an open offboarding case already.") % {"person": colleague}
        ) from exc
    return case


# The checklist a new installation starts with: (step, title, responsible, relative to,
# offset in days). HR edits it on the checklist template page.
DEFAULT_CHECKLIST = (
    ("connect_sources", "Connect and scope the sources", "hr", "last_day", -14),
    ("exit_interview", "Exit interview on the gaps in their package", "hr", "last_day", -7),
    ("successors", "Name successors per area and system", "manager", "last_day", -5),
    ("capture", "Capture this person's data", "hr", "account_removal", -3),
    ("review", "Manager review and redaction", "manager", "account_removal", -1),
    ("publish", "Publish with an access policy", "hr", "account_removal", 7),
    ("set_retention", "Set retention", "hr", "account_removal", 14),
)


def ensure_default_checklist(*, using: str = "default") -> None:
    """Create the default checklist template when there is none at all (a new installation);
    a template HR has edited is left as it is."""
    steps = ChecklistTemplateStep.objects.using(using)
    if steps.exists():
        return
    steps.bulk_create(
        ChecklistTemplateStep(
            step=step,
            title=title,
            responsible=responsible,
            relative_to=relative_to,
            offset_days=offset,
            position=position,
        )
        for position, (step, title, responsible, relative_to, offset) in enumerate(
            DEFAULT_CHECKLIST, start=1
        )
    )


def open_case_of(colleague: Colleague) -> OffboardingCase | None:
    return (
        OffboardingCase.objects.filter(colleague=colleague)
        .exclude(state__in=[State.ARCHIVED, State.ERASED])
        .first()
    )


def due_date(case: OffboardingCase, template: ChecklistTemplateStep) -> date:
    """When a step of `template` is due for `case` (the last day stands in for a missing
    account-removal date)."""
    anchor = case.last_day
    if template.relative_to == ChecklistTemplateStep.RelativeTo.ACCOUNT_REMOVAL:
        anchor = case.account_removal_on or case.last_day
    return anchor + timedelta(days=template.offset_days)


def _make_checklist(case: OffboardingCase) -> None:
    ChecklistItem.objects.bulk_create(
        ChecklistItem(
            case=case,
            step=t.step,
            title=t.title,
            responsible=t.responsible,
            due_on=due_date(case, t),
            position=t.position,
        )
        for t in ChecklistTemplateStep.objects.filter(is_active=True).order_by("position", "pk")
    )


def change_dates(
    case: OffboardingCase,
    *,
    actor: Actor,
    last_day: date | None = None,
    account_removal_on: date | None = None,
) -> OffboardingCase:
    """Move the case's dates (the HR system rescheduled); open steps are re-dated. Audited."""
    with transaction.atomic():
        case = OffboardingCase.objects.select_for_update().get(pk=case.pk)
        if not case.is_open:
            raise CaseRefused(
                gettext("Case #%(number)s is %(state)s.")
                % {"number": case.pk, "state": case.get_state_display().lower()}
            )
        case.last_day = last_day or case.last_day
        case.account_removal_on = account_removal_on or case.account_removal_on
        if case.account_removal_on is not None and case.account_removal_on < case.last_day:
            raise CaseRefused(gettext("The accounts cannot be removed before the last day."))
        case.save(update_fields=["last_day", "account_removal_on", "updated_at"])
        templates = {t.step: t for t in ChecklistTemplateStep.objects.all()}
        for item in case.checklist.filter(done_at__isnull=True):
            if item.step in templates:
                item.due_on = due_date(case, templates[item.step])
                item.save(update_fields=["due_on"])
        audit.record(
            "offboarding_rescheduled",
            f"offboarding:{case.pk}",
            actor=actor,
            last_day=case.last_day.isoformat(),
            account_removal_on=(
                case.account_removal_on.isoformat() if case.account_removal_on else None
            ),
        )
    return case


def link_to_hr_system(case: OffboardingCase, *, external_id: str, actor: Actor) -> OffboardingCase:
    """Give a case opened here (intranet, directory) the HR system's id for the departure, so
    the HR system's later events find it; audited. CaseRefused when it has another id."""
    external_id = external_id.strip()[:200]
    with transaction.atomic():
        locked = OffboardingCase.objects.select_for_update().get(pk=case.pk)
        if locked.external_id and locked.external_id != external_id:
            raise CaseRefused(
                gettext("Case #%(number)s is the HR system's %(external)r already.")
                % {"number": locked.pk, "external": locked.external_id}
            )
        locked.external_id = external_id
        locked.save(update_fields=["external_id", "updated_at"])
        audit.record("offboarding_linked", f"offboarding:{locked.pk}", actor=actor)
    return locked


# Moving.


def transition(
    case: OffboardingCase, to: str, *, actor: Actor, reason: str = "", **guarded: Any
) -> OffboardingCase:
    """Move `case` to state `to` if `ALLOWED` and the guards say so; audited. Raises
    TransitionRefused, changing nothing, otherwise. `guarded` is for the actions that own a
    guarded move (publish, erasure) to say they did what it needs."""
    with transaction.atomic():
        locked = (
            OffboardingCase.objects.select_for_update(of=("self",))
            .select_related("colleague")
            .get(pk=case.pk)
        )
        _check(locked, to, guarded)
        before = locked.state
        locked.state = to
        locked.save(update_fields=["state", "updated_at"])
        audit.record(
            MOVED,
            f"offboarding:{locked.pk}",
            actor=actor,
            previous=before,
            state=to,
            reason=reason.strip()[:500],
        )
    return locked


def _check(case: OffboardingCase, to: str, guarded: dict[str, Any]) -> None:
    if to not in State.values:
        raise TransitionRefused(gettext("Unknown state %(state)r.") % {"state": to})
    allowed = ALLOWED[case.state]
    if to not in allowed:
        # Erased is never chosen: the erasure of the person moves the case there.
        labels = ", ".join(State(s).label.lower() for s in allowed if s != State.ERASED) or gettext(
            "none: the case is closed"
        )
        raise TransitionRefused(
            gettext(
                "Case #%(number)s is %(state)s: it cannot move to %(to)s. Allowed next: %(next)s."
            )
            % {
                "number": case.pk,
                "state": case.get_state_display().lower(),
                "to": State(to).label.lower(),
                "next": labels,
            }
        )
    colleague = case.colleague
    if (
        to == State.CAPTURING
        and colleague is not None
        and colleague.consent in (Colleague.Consent.REQUIRED, Colleague.Consent.REFUSED)
    ):
        raise TransitionRefused(
            gettext("%(person)s's consent is %(consent)s: nothing of theirs may be captured.")
            % {"person": colleague, "consent": colleague.get_consent_display().lower()}
        )
    if to == State.IN_REVIEW and case.state == State.CAPTURING:
        unfinished = case.captures.exclude(state=CaptureRun.State.DONE).count()
        if not case.captures.exists() or unfinished:
            raise TransitionRefused(
                ngettext(
                    "Capture has not finished: run it for every source first "
                    "(%(count)d capture not done).",
                    "Capture has not finished: run it for every source first "
                    "(%(count)d captures not done).",
                    unfinished,
                )
                % {"count": unfinished}
            )
    if to == State.PUBLISHED and not guarded.get("published"):
        raise TransitionRefused(
            gettext("Publish from the review: it builds and shares the package.")
        )
    if to == State.RETAINED and case.retention_days is None:
        raise TransitionRefused(gettext("Set how long their knowledge is kept first."))
    if to == State.ERASED and not guarded.get("erased"):
        raise TransitionRefused(gettext("A case is erased by an erasure request for the person."))


# The checklist.


def complete_step(
    case: OffboardingCase, step: str, *, actor: Actor, note: str = ""
) -> ChecklistItem:
    """Tick off a step of the case's checklist (again: keeps the first time); audited."""
    with transaction.atomic():
        item = ChecklistItem.objects.select_for_update().filter(case=case, step=step).first()
        if item is None:
            raise CaseRefused(
                gettext("Case #%(number)s has no step %(step)r.")
                % {"number": case.pk, "step": step}
            )
        if item.done_at is None:
            item.done_at = timezone.now()
            item.done_by = login_user(actor)
            item.note = note.strip()[:1000]
            item.save(update_fields=["done_at", "done_by", "note"])
            audit.record(STEP_DONE, f"offboarding:{case.pk}", actor=actor, step=step)
    return item


def overdue_items(today: date | None = None) -> QuerySet[ChecklistItem]:
    """Open steps of open cases whose due date has passed, soonest due first."""
    today = today or timezone.localdate()
    return (
        ChecklistItem.objects.filter(done_at__isnull=True, due_on__lt=today)
        .exclude(case__state__in=[State.ARCHIVED, State.ERASED])
        .select_related("case", "case__colleague")
        .order_by("due_on", "pk")
    )


def set_retention(case: OffboardingCase, *, days: int, actor: Actor) -> OffboardingCase:
    """Record how long what they wrote is kept after they left, as a departure retention
    policy for them (knowledge.retention), and tick off the step; audited."""
    from knowledge.models import RetentionPolicy
    from knowledge.retention.policies import create_policy

    if days < 1:
        raise CaseRefused(gettext("Keep their knowledge at least one day."))
    if case.colleague is None:
        raise CaseRefused(gettext("The person of this case was erased."))
    with transaction.atomic():
        create_policy(
            name=f"Offboarding #{case.pk}: {case.subject_label}"[:200],
            scope=RetentionPolicy.Scope.DEPARTURE,
            colleague=case.colleague,
            keep_days=days,
            actor=actor,
        )
        OffboardingCase.objects.filter(pk=case.pk).update(
            retention_days=days, updated_at=timezone.now()
        )
        case.refresh_from_db()
        complete_step(case, "set_retention", actor=actor, note=f"{days} days")
    return case


def close_for_erasure(colleague: Colleague, *, actor: Actor, request_id: int) -> list[int]:
    """Move the person's open cases to erased, just before the erasure deletes them, and give
    every case of theirs a label without their name; return the ids of the cases closed."""
    closed = []
    for case in OffboardingCase.objects.filter(colleague=colleague).exclude(
        state__in=[State.ARCHIVED, State.ERASED]
    ):
        transition(
            case, State.ERASED, actor=actor, reason=f"erasure request {request_id}", erased=True
        )
        closed.append(case.pk)
    OffboardingCase.objects.filter(colleague=colleague).update(
        subject_label=f"Erased person (erasure request #{request_id})"
    )
    return closed
