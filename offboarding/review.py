"""Reviewing what was captured of a departing person, and publishing their package (issue 9).

Who reviews (`can_review`): the person themselves while still employed, their manager, and HR
(`colleagues.manage_offboarding`). Reviewers see what was captured of the person's own writing
and redact items of it (knowledge.redaction: gone everywhere; a legal hold still wins). The
manager or HR then approves the review, and HR publishes: the package is built and shared as
the case's access policy says, in one transaction with the move to published.

Every action here takes an `actor`; None is the console operator or the system, who may do
everything (as elsewhere). Each is audited on "offboarding:<id>".
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AnonymousUser, Group, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext

from colleagues.grants import grant_access
from colleagues.models import AccessGrant, Colleague
from colleagues.roles import Role
from knowledge import audit
from knowledge.audit import Actor
from knowledge.models import Item
from knowledge.redaction import (
    RedactionBlocked,
    captured_counts,
    items_captured_from,
    redact_item,
)
from knowledge.selectors import SourceCount, items_visible_to
from knowledge.visibility import reader_for
from offboarding.cases import CaseRefused, can_manage, complete_step, transition
from offboarding.models import ChecklistItem, OffboardingCase, Step
from offboarding.notifications import notify_published
from skills.actions import build_package

State = OffboardingCase.State
Access = OffboardingCase.Access
REDACTED = "offboarding_item_redacted"
REDACTION_BLOCKED = "offboarding_redaction_blocked"
PUBLISHED = "offboarding_published"


# Who.


def _login(user: User | AnonymousUser | None) -> User | None:
    return user if isinstance(user, User) and user.is_active else None


def can_review(user: User | AnonymousUser | None, case: OffboardingCase) -> bool:
    """Whether `user` may see and redact what was captured for `case`: the person while still
    employed, their manager (while not departed), or HR."""
    login = _login(user)
    if login is None:
        return False
    if can_manage(login):
        return True
    colleague = case.colleague
    if colleague is None:
        return False
    if colleague.user_id == login.pk and not colleague.is_departed:
        return True
    return _is_manager(login, colleague)


def _is_manager(login: User, colleague: Colleague) -> bool:
    manager = colleague.manager
    return manager is not None and manager.user_id == login.pk and not manager.is_departed


def _check(actor: Actor, allowed: bool, message: str) -> None:
    """Raise PermissionDenied unless `actor` is the operator (None) or `allowed`."""
    if actor is not None and not allowed:
        raise PermissionDenied(message)


# What was captured.


def captured_per_source(case: OffboardingCase) -> list[SourceCount]:
    """How many items of the person were captured, per source (most first)."""
    if case.colleague is None:
        return []
    return captured_counts(case.colleague)


def readable_item_ids(
    user: User | AnonymousUser, case: OffboardingCase, items: Iterable[Item]
) -> set[int]:
    """The ids of `items` whose text `user` reads in the review: all of them for the person;
    for anyone else (their manager, HR) those they could see at the source. The others are
    shown by kind, place and date only."""
    ids = [item.pk for item in items]
    if case.colleague is not None and case.colleague.user_id == user.pk:
        return set(ids)
    visible = items_visible_to(reader_for(user)).filter(pk__in=ids)
    return set(visible.values_list("pk", flat=True))


def captured_items(case: OffboardingCase) -> QuerySet[Item]:
    """Every item the person authored, whatever its audience, newest first: for reviewers
    only (`can_review`), who are shown it to redact what must not be kept."""
    if case.colleague is None:
        return Item.objects.none()
    return items_captured_from(case.colleague)


# Review.


def redact_in_review(case: OffboardingCase, item: Item, *, actor: Actor, reason: str) -> None:
    """Redact an item the person authored, everywhere (knowledge.redaction.redact_item), and
    record it on the case. PermissionDenied for a non-reviewer, CaseRefused when the case is
    not in review, the item is not theirs or no reason is given; RedactionBlocked (the hold's
    message, the refusal audited) while a legal hold covers the item."""
    _check(actor, can_review(actor, case), "Only the person, their manager or HR reviews this.")
    if case.state != State.IN_REVIEW:
        raise CaseRefused(_not_in_review(case))
    reason = reason.strip()
    if not reason:
        raise CaseRefused(gettext("Say why the item is redacted."))
    theirs = None
    if case.colleague_id is not None:
        theirs = Item.objects.filter(pk=item.pk, author__colleague=case.colleague_id).first()
    if theirs is None:
        raise CaseRefused(
            gettext("Item #%(number)s is not one of %(person)s's.")
            % {"number": item.pk, "person": case.subject_label}
        )
    blocked: RedactionBlocked | None = None
    with transaction.atomic():
        try:
            redact_item(theirs, actor=actor, reason=f"offboarding #{case.pk}: {reason}")
        except RedactionBlocked as exc:
            # Kept out of the rollback: the refusal stays in the audit trail.
            blocked = exc
        audit.record(
            REDACTION_BLOCKED if blocked else REDACTED,
            f"offboarding:{case.pk}",
            actor=actor,
            result=audit.Result.DENIED if blocked else audit.Result.OK,
            item=theirs.pk,
        )
    if blocked is not None:
        raise blocked


def approve_review(case: OffboardingCase, *, actor: Actor, note: str = "") -> ChecklistItem:
    """Tick off the review step: the manager or HR says what remains may be published.
    PermissionDenied for anyone else (the person included); CaseRefused unless in review."""
    login = _login(actor)
    allowed = login is not None and (
        can_manage(login) or (case.colleague is not None and _is_manager(login, case.colleague))
    )
    _check(actor, allowed, "Only their manager or HR approves the review.")
    if case.state != State.IN_REVIEW:
        raise CaseRefused(_not_in_review(case))
    return complete_step(case, Step.REVIEW, actor=actor, note=note)


def _not_in_review(case: OffboardingCase) -> str:
    return gettext("Case #%(number)s is %(state)s, not in review.") % {
        "number": case.pk,
        "state": case.get_state_display().lower(),
    }


# Publishing.


def publish(case: OffboardingCase, *, actor: Actor) -> OffboardingCase:
    """Build the person's package, share it as the case's access policy says, tick off the
    publish step and move the case to published, in one transaction; audited.

    Access: TEAM grants their department and their manager's login; DEPARTMENT their
    department; ORGANISATION the Employee role's group; NAMED nothing (HR grants by name).
    Note that a grant also lets its holders read every item the person authored, whatever
    its audience at the source (colleagues.models.AccessGrant): that is what the review is for.
    PermissionDenied unless HR; CaseRefused (changing nothing) unless the case is in review
    with the review approved; BuildRefused when their consent is missing.
    """
    login = _login(actor)
    _check(actor, login is not None and can_manage(login), "Only HR publishes.")
    with transaction.atomic():
        locked = (
            OffboardingCase.objects.select_for_update(of=("self",))
            .select_related("colleague", "colleague__manager", "colleague__manager__user")
            .get(pk=case.pk)
        )
        colleague = locked.colleague
        if locked.state != State.IN_REVIEW or colleague is None:
            raise CaseRefused(
                gettext("Case #%(number)s is %(state)s: only a case in review is published.")
                % {"number": locked.pk, "state": locked.get_state_display().lower()}
            )
        if not locked.checklist.filter(step=Step.REVIEW, done_at__isnull=False).exists():
            raise CaseRefused(
                gettext("The review is not approved yet: their manager or HR approves it.")
            )
        version = build_package(colleague, user=actor)
        grants = _apply_access_policy(locked, colleague, actor=actor)
        complete_step(locked, Step.PUBLISH, actor=actor, note=locked.get_access_policy_display())
        published = transition(locked, State.PUBLISHED, actor=actor, published=True)
        audit.record(
            PUBLISHED,
            f"offboarding:{locked.pk}",
            actor=actor,
            colleague=colleague.pk,
            version=version.number,
            access_policy=locked.access_policy,
            grants=[grant.pk for grant in grants],
        )
        notify_published(published)  # the manager and the successors, once committed
    return published


def _apply_access_policy(
    case: OffboardingCase, colleague: Colleague, *, actor: Actor
) -> list[AccessGrant]:
    """Grant what the case's access policy names; a grantee holding a lasting grant already
    is skipped."""
    policy = case.access_policy
    grant = _Granter(colleague, f"Offboarding #{case.pk}: {case.get_access_policy_display()}")
    if policy in (Access.TEAM, Access.DEPARTMENT) and colleague.department:
        grant(department=colleague.department, actor=actor)
    manager = colleague.manager
    if policy == Access.TEAM and manager is not None and manager.user is not None:
        grant(user=manager.user, actor=actor)
    if policy == Access.ORGANISATION:
        group = Group.objects.filter(name=Role.EMPLOYEE.value).first()
        if group is None:
            raise CaseRefused(f"The {Role.EMPLOYEE.value!r} role group is missing: run migrate.")
        grant(group=group, actor=actor)
    return grant.made


class _Granter:
    """Grants viewing `colleague`'s package, once per grantee, and remembers what it made."""

    def __init__(self, colleague: Colleague, reason: str) -> None:
        self.colleague = colleague
        self.reason = reason[:500]
        self.made: list[AccessGrant] = []

    def __call__(
        self,
        *,
        actor: Actor,
        user: User | None = None,
        group: Group | None = None,
        department: str = "",
    ) -> None:
        lasting = AccessGrant.objects.filter(
            colleague=self.colleague, revoked_at__isnull=True, expires_at__isnull=True
        )
        if lasting.filter(user=user, group=group, department=department).exists():
            return
        self.made.append(
            grant_access(
                self.colleague,
                user=user,
                group=group,
                department=department,
                reason=self.reason,
                actor=actor,
            )
        )
