"""Offboarding cases: opening, the checklist's due dates, and the state machine (issue 9)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colleagues.models import Colleague
from knowledge.models import AuditEvent, RetentionPolicy
from offboarding.cases import (
    ALLOWED,
    CaseRefused,
    TransitionRefused,
    change_dates,
    complete_step,
    open_case,
    overdue_items,
    set_retention,
    transition,
)
from offboarding.models import CaptureRun, ChecklistTemplateStep, OffboardingCase
from tests import factories as f
from tests.knowledge.conftest import Org
from tests.knowledge.conftest import org as org  # the fixture

pytestmark = pytest.mark.django_db

State = OffboardingCase.State
LAST_DAY = date(2026, 12, 18)
REMOVAL = date(2027, 1, 15)


def opened(org: Org) -> OffboardingCase:
    return open_case(org.alice, last_day=LAST_DAY, account_removal_on=REMOVAL, via="ui", actor=None)


def test_a_case_gets_the_template_checklist_dated_from_its_days(org: Org) -> None:
    case = opened(org)
    due = {item.step: item.due_on for item in case.checklist.all()}
    assert due == {
        "connect_sources": date(2026, 12, 4),
        "exit_interview": date(2026, 12, 11),
        "successors": date(2026, 12, 13),
        "capture": date(2027, 1, 12),  # three days before the accounts go
        "review": date(2027, 1, 14),
        "publish": date(2027, 1, 22),
        "set_retention": date(2027, 1, 29),
    }
    # HR edits the template: new cases follow it, existing ones keep theirs.
    ChecklistTemplateStep.objects.filter(step="capture").update(offset_days=-10)
    change_dates(case, actor=None, account_removal_on=date(2027, 2, 1))
    assert case.checklist.get(step="capture").due_on == date(2027, 1, 22)
    assert AuditEvent.objects.filter(action="offboarding_opened").count() == 1


def test_one_open_case_per_person_and_dates_in_order(org: Org) -> None:
    opened(org)
    with pytest.raises(CaseRefused, match="open offboarding case already"):
        opened(org)
    with pytest.raises(CaseRefused, match="before the last day"):
        open_case(org.bob, last_day=REMOVAL, account_removal_on=LAST_DAY, via="ui")


def test_the_walk_through_every_state_with_its_guards(org: Org) -> None:
    case = opened(org)
    org.alice.consent = Colleague.Consent.REQUIRED
    org.alice.save()
    transition(case, State.NOTIFIED, actor=None)
    with pytest.raises(TransitionRefused, match="consent is required, not yet asked"):
        transition(case, State.CAPTURING, actor=None)
    org.alice.consent = Colleague.Consent.GIVEN
    org.alice.save()
    transition(case, State.CAPTURING, actor=None)
    with pytest.raises(TransitionRefused, match="Capture has not finished"):
        transition(case, State.IN_REVIEW, actor=None)
    CaptureRun.objects.create(case=case, source=org.source, state=CaptureRun.State.DONE)
    transition(case, State.IN_REVIEW, actor=None)
    with pytest.raises(TransitionRefused, match="Publish from the review"):
        transition(case, State.PUBLISHED, actor=None)
    case = transition(case, State.PUBLISHED, actor=None, published=True)
    with pytest.raises(TransitionRefused, match="Set how long"):
        transition(case, State.RETAINED, actor=None)
    set_retention(case, days=365, actor=None)
    policy = RetentionPolicy.objects.get()
    assert (policy.scope, policy.colleague, policy.keep_days) == ("departure", org.alice, 365)
    transition(case, State.RETAINED, actor=None)
    with pytest.raises(TransitionRefused, match="erasure request"):
        transition(case, State.ERASED, actor=None)
    case = transition(case, State.ARCHIVED, actor=None)
    with pytest.raises(TransitionRefused, match="Allowed next: none: the case is closed"):
        transition(case, State.PLANNED, actor=None)
    moves = [
        (e.detail["previous"], e.detail["state"])
        for e in AuditEvent.objects.filter(action="offboarding_transition").order_by("seq")
    ]
    assert moves == [
        ("planned", "notified"),
        ("notified", "capturing"),
        ("capturing", "in_review"),
        ("in_review", "published"),
        ("published", "retained"),
        ("retained", "archived"),
    ]
    # A closed case lets a new one open.
    assert opened(org).state == State.PLANNED


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(st.sampled_from(State.values), max_size=8))
def test_no_sequence_of_moves_leaves_the_allowed_graph(org: Org, moves: list[str]) -> None:
    OffboardingCase.objects.all().delete()
    case = opened(org)
    for to in moves:
        before = OffboardingCase.objects.get(pk=case.pk).state
        try:
            case = transition(case, to, actor=None, published=True, erased=True)
        except TransitionRefused:
            assert OffboardingCase.objects.get(pk=case.pk).state == before
            continue
        assert to in ALLOWED[before]


def test_overdue_steps_are_the_open_steps_of_open_cases_past_their_day(org: Org) -> None:
    case = opened(org)
    complete_step(case, "connect_sources", actor=f.make_user("hr"))
    late = [i.step for i in overdue_items(date(2026, 12, 12))]
    assert late == ["exit_interview"]
    transition(case, State.ARCHIVED, actor=None, reason="stays after all")
    assert not overdue_items(date(2026, 12, 12)).exists()
