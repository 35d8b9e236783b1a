"""An account disabled in the directory opens an offboarding case on the next sync, against a
real slapd (marker `ldap`, TEST_SLAPD=/usr/sbin/slapd; set, the test fails rather than skips
when slapd does not come up). The fixtures are tests/directory's own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from pytest_django.fixtures import Settings

from colleagues.models import Colleague
from colleagues.roles import Role
from connectors.directory.actions import sync_directory
from knowledge.models import AuditEvent
from offboarding.models import OffboardingCase
from tests import factories as f
from tests.directory.conftest import directory_fixture  # noqa: F401 - fixtures, found by name
from tests.directory.slapd import (
    LOCKED,
    PEOPLE_BY_UID,
    SlapdServer,
    slapd_fixture,  # noqa: F401
)

pytestmark = [pytest.mark.ldap, pytest.mark.django_db]


def test_disabling_an_account_opens_a_case_via_the_directory_with_its_dates(
    directory: SlapdServer, settings: Settings, django_capture_on_commit_callbacks: Any
) -> None:
    settings.OFFBOARDING_ACCOUNT_REMOVAL_DAYS = 21
    f.make_user("hr", roles=(Role.HR_ADMIN,), email="hr@example.org")
    sync_directory()
    # Someone locked before the first sync arrives departed: that opens no case.
    assert Colleague.objects.get(email=PEOPLE_BY_UID[LOCKED].email).is_departed
    assert not OffboardingCase.objects.exists()
    directory.lock(PEOPLE_BY_UID["bob"].dn)

    with django_capture_on_commit_callbacks(execute=True):
        result = sync_directory()

    bob = Colleague.objects.get(email="bob@example.org")
    case = OffboardingCase.objects.get(colleague=bob)
    today = timezone.localdate()
    assert result.departed == 1
    assert (case.opened_via, case.state) == ("directory", "planned")
    assert (case.last_day, case.account_removal_on) == (today, today + timedelta(days=21))
    assert case.checklist.get(step="connect_sources").due_on == today - timedelta(days=14)
    assert case.checklist.get(step="capture").due_on == today + timedelta(days=18)
    opened = AuditEvent.objects.get(action="offboarding_opened", target=f"offboarding:{case.pk}")
    assert opened.detail["via"] == "directory"
    # HR and his manager (Ada Byron, from the entry's `manager`) are told.
    assert sorted((m.to[0], m.subject) for m in mail.outbox) == [
        ("eng.head@example.org", "Offboarding opened: Bob Stone"),
        ("hr@example.org", "Offboarding opened: Bob Stone"),
    ]

    # The next sync finds him still disabled: no second case.
    sync_directory(full=True)
    assert OffboardingCase.objects.filter(colleague=bob).count() == 1
