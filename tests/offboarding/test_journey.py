"""The whole offboarding journey against a real slapd (issue 9, acceptance): an account is
disabled in the directory → the directory sync → a case opens → capture runs for that person
only → the manager redacts an item in review → the package is published and visible to the
team but not to others → retention is set → every step is in the audit trail; then the person
is erased and the directory does not bring them back (issue 8)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import mail as outbox
from django.utils import timezone
from pytest_django.fixtures import Settings

from colleagues.access import can_view_package
from colleagues.models import Colleague
from colleagues.roles import Role
from connectors.actions import create_source
from connectors.directory.actions import sync_directory
from knowledge import audit
from knowledge.erasure import approve_erasure, request_erasure
from knowledge.models import AuditEvent, Item
from offboarding.capture import start_capture
from offboarding.cases import set_retention, transition
from offboarding.models import OffboardingCase
from offboarding.review import approve_review, publish, redact_in_review
from tests import factories as f
from tests.directory.conftest import configure
from tests.directory.slapd import PEOPLE_BY_UID, SlapdServer
from tests.directory.slapd import slapd_fixture as slapd_fixture  # the fixture

pytestmark = [pytest.mark.ldap, pytest.mark.django_db]

State = OffboardingCase.State
HANDOVER = "The payment retries run from the ledger worker; restart it with the runbook."
PRIVATE = "About my salary review next month, please keep this between us."
ASKED = "Bob, which queue does the ledger worker read?"
OTHERS = "Carol, the design review moved to Thursday."


def _mbox(path: Path) -> Path:
    return f.write_mbox(
        path,
        ("bob@example.org", "carol@example.org", "Ledger handover", HANDOVER),
        ("bob@example.org", "eng.head@example.org", "Personal", PRIVATE),
        ("dave@example.org", "bob@example.org", "Ledger queue", ASKED),
        ("dave@example.org", "carol@example.org", "Design review", OTHERS),
        id_prefix="j",
    )


def test_a_disabled_account_becomes_a_reviewed_published_package(
    settings: Settings,
    slapd: SlapdServer,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    configure(settings, slapd)
    # Packages are not open to the whole organisation by default here: the team policy decides.
    settings.COLLEAGUE_PACKAGE_DEFAULT_ACCESS = "team"
    sync_directory()
    people = {c.email.split("@")[0]: c for c in Colleague.objects.all()}
    bob, ada = people["bob"], people["eng.head"]
    assert (bob.department, bob.manager) == ("Engineering", ada)
    hr = f.make_user("hilda", roles=(Role.HR_ADMIN,), email="hilda@example.org")
    ada_user = f.make_user("ada", colleague=ada, roles=(Role.MANAGER,))
    carol_user = f.make_user("carol", colleague=people["carol"], roles=(Role.EMPLOYEE,))
    leo_user = f.make_user("leo", colleague=people["leo"], roles=(Role.EMPLOYEE,))
    mailbox = create_source(
        name="engineering-mail",
        kind="email",
        config={"path": str(_mbox(tmp_path / "mail" / "mbox"))},
    )

    # The account is disabled: the next sync marks Bob departed and opens his case.
    slapd.lock(PEOPLE_BY_UID["bob"].dn)
    with django_capture_on_commit_callbacks(execute=True):
        sync_directory()
    case = OffboardingCase.objects.get(colleague=bob)
    today = timezone.localdate()
    assert (case.state, case.opened_via) == (State.PLANNED, "directory")
    assert (case.last_day, case.account_removal_on) == (today, today + timedelta(days=30))
    assert any("hilda@example.org" in m.to for m in outbox.outbox)

    # HR notifies and captures Bob's mail only.
    transition(case, State.NOTIFIED, actor=hr)
    with django_capture_on_commit_callbacks(execute=True):
        start_capture(case, sources=[mailbox], actor=hr)
    stored = set(Item.objects.values_list("body", flat=True))
    assert {b.strip() for b in stored} == {HANDOVER, PRIVATE, ASKED}
    case = transition(case, State.IN_REVIEW, actor=hr)

    # Ada, his manager, removes the private mail and approves; HR publishes to the team.
    private = Item.objects.get(body__contains="salary review")
    redact_in_review(case, private, actor=ada_user, reason="personal, not knowledge")
    assert not Item.objects.filter(body__contains="salary").exists()
    approve_review(case, actor=ada_user)
    case = publish(case, actor=hr)
    assert case.state == State.PUBLISHED
    assert can_view_package(carol_user, bob)  # same department
    assert can_view_package(ada_user, bob)  # his manager
    assert not can_view_package(leo_user, bob)  # Finance: not his team
    version = bob.skill_package.versions.order_by("number").last()
    assert version is not None
    assert "salary" not in str(version.files) + str(version.analysis)

    # Retention is set, and the case retained.
    case = set_retention(case, days=365, actor=hr)
    case = transition(case, State.RETAINED, actor=hr)
    assert case.state == State.RETAINED

    actions = list(
        AuditEvent.objects.filter(
            target__in=[f"offboarding:{case.pk}", f"colleague:{bob.pk}", f"item:{private.pk}"]
        )
        .order_by("seq")
        .values_list("action", flat=True)
    )
    for expected in (
        "colleague.departed",
        "offboarding_opened",
        "offboarding_transition",
        "offboarding_capture_started",
        "item_redacted",
        "offboarding_step_done",
        "offboarding_published",
    ):
        assert expected in actions, expected
    moves = [
        e.detail["state"]
        for e in AuditEvent.objects.filter(action="offboarding_transition").order_by("seq")
    ]
    assert moves == ["notified", "capturing", "in_review", "published", "retained"]
    assert AuditEvent.objects.filter(action="retention_policy_created").exists()

    # Later Bob asks to be forgotten: the erasure closes his case, and the directory, which
    # still holds his (disabled) entry, does not bring him back.
    bob.refresh_from_db()
    request = request_erasure(bob, requested_by=hr, label="DSR-77", reason="Art. 17")
    with django_capture_on_commit_callbacks(execute=True):
        approve_erasure(request, approver=f.make_user("ivan", roles=(Role.HR_ADMIN,)))
    case.refresh_from_db()
    assert (case.state, case.colleague) == (State.ERASED, None)
    assert not Colleague.objects.filter(email="bob@example.org").exists()
    again = sync_directory(full=True)
    assert again.erased == 1
    assert not Colleague.objects.filter(email="bob@example.org").exists()
    assert audit.verify_chain().ok
