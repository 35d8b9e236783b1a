"""The directory sync against a real slapd (marker `ldap`, TEST_SLAPD): each test gets a fresh
server seeded with PEOPLE and GROUPS (tests/directory/slapd.py)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from io import StringIO

import ldap
import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.utils import timezone
from pytest_django.fixtures import Settings

from colleagues.actions import create_colleague, link_login
from colleagues.models import Colleague
from colleagues.roles import Role, ensure_roles
from connectors.directory.actions import sync_directory
from connectors.directory.models import DirectoryAccount, DirectorySyncState
from connectors.directory.tasks import sync_directory as sync_task
from connectors.errors import ConnectorConfigError, SourceUnavailableError
from knowledge.models import AuditEvent
from tests.directory.slapd import (
    LOCKED,
    PEOPLE,
    PEOPLE_BASE,
    PEOPLE_BY_UID,
    SEARCH_LIMIT,
    SYNC_DN,
    SYNC_PASSWORD,
    Person,
    SlapdServer,
    free_port,
    group_dn,
)

pytestmark = [pytest.mark.ldap, pytest.mark.django_db]


def colleague(uid: str) -> Colleague:
    return Colleague.objects.select_related("manager").get(email=f"{uid}@example.org")


def next_second() -> None:
    """Wait until the clock's second changes: modifyTimestamp has one-second resolution."""
    now = time.time()
    time.sleep(int(now) + 1.05 - now)


def test_sync_creates_colleagues_with_titles_departments_and_managers(
    directory: SlapdServer,
) -> None:
    result = sync_directory()

    assert result.mode == "full"
    assert (result.created, result.updated, result.unchanged) == (len(PEOPLE), 0, 0)
    assert result.groups == 4
    assert Colleague.objects.count() == len(PEOPLE)
    bob = colleague("bob")
    assert (bob.name, bob.title, bob.department) == ("Bob Stone", "Backend Engineer", "Engineering")
    assert bob.manager == colleague("eng.head")
    assert colleague("ceo").manager is None
    # A manager whose DN holds an escaped comma ("cn=Pat O'Brien\, Jr.") is found all the same.
    assert colleague("leo").manager == colleague("fin.head")
    assert colleague("fin.head").name == "Pat O'Brien, Jr."
    assert bob.status == Colleague.Status.CURRENT


def test_second_full_sync_changes_nothing(directory: SlapdServer) -> None:
    sync_directory()
    before = dict(Colleague.objects.values_list("pk", "updated_at"))

    result = sync_directory(full=True)

    assert (result.created, result.updated, result.departed) == (0, 0, 0)
    assert result.unchanged == len(PEOPLE)
    assert dict(Colleague.objects.values_list("pk", "updated_at")) == before


def test_sync_updates_existing_colleagues_matched_by_mail(directory: SlapdServer) -> None:
    existing = create_colleague(name="Robert Stone", email="BOB@example.org", title="Engineer")

    result = sync_directory()

    assert result.created == len(PEOPLE) - 1
    existing.refresh_from_db()
    assert (existing.name, existing.title, existing.department) == (
        "Bob Stone",
        "Backend Engineer",
        "Engineering",
    )
    assert DirectoryAccount.objects.get(uid="bob").colleague == existing


def test_incremental_sync_reads_and_changes_only_modified_entries(
    directory: SlapdServer,
) -> None:
    sync_directory()
    untouched = dict(
        Colleague.objects.exclude(email="dave@example.org").values_list("pk", "updated_at")
    )
    next_second()
    directory.replace(PEOPLE_BY_UID["bob"].dn, title=["Principal Engineer"])
    first = sync_directory()
    next_second()
    directory.replace(
        PEOPLE_BY_UID["dave"].dn,
        title=["SRE Lead"],
        departmentNumber=["Platform"],
        manager=[PEOPLE_BY_UID["grace"].dn],
    )

    second = sync_directory()

    assert first.mode == second.mode == "incremental"
    assert (first.updated, first.created) == (1, 0)
    # Entries modified at or after the latest time already read: bob's second, and dave.
    assert second.read == 2
    assert (second.updated, second.unchanged, second.created) == (1, 1, 0)
    dave = colleague("dave")
    assert (dave.title, dave.department, dave.manager) == (
        "SRE Lead",
        "Platform",
        colleague("grace"),
    )
    assert colleague("bob").title == "Principal Engineer"
    now = dict(Colleague.objects.exclude(email="dave@example.org").values_list("pk", "updated_at"))
    changed = {pk for pk in untouched if now[pk] != untouched[pk]}
    assert changed == {colleague("bob").pk}


def test_new_person_appears_on_incremental_sync(directory: SlapdServer) -> None:
    sync_directory()
    directory.add_person(Person("zoe", "Zoe Kravitz", "Designer", "Engineering", "eng.head"))

    result = sync_directory()

    assert (result.mode, result.created) == ("incremental", 1)
    zoe = colleague("zoe")
    assert (zoe.title, zoe.manager) == ("Designer", colleague("eng.head"))


def test_locked_account_is_departed_from_the_first_sync(directory: SlapdServer) -> None:
    result = sync_directory()

    rupert = colleague(LOCKED)
    assert rupert.status == Colleague.Status.DEPARTED
    assert result.created == len(PEOPLE)


def test_disabling_an_account_marks_its_colleague_departed_and_signals(
    directory: SlapdServer, departures: list[tuple[Colleague, str]]
) -> None:
    sync_directory()
    directory.lock(PEOPLE_BY_UID["bob"].dn)

    result = sync_directory()

    bob = colleague("bob")
    assert (bob.status, bob.departed_on) == (Colleague.Status.DEPARTED, timezone.localdate())
    assert result.departed == 1
    assert [(c.pk, reason) for c, reason in departures] == [(bob.pk, "disabled")]
    event = AuditEvent.objects.get(action="colleague.departed")
    assert (event.target, event.detail["reason"]) == (f"colleague:{bob.pk}", "disabled")
    # Nothing was deleted: the colleague keeps its profile.
    assert bob.title == "Backend Engineer"
    assert Colleague.objects.count() == len(PEOPLE)


def test_removed_account_departs_on_a_full_pass_only(
    directory: SlapdServer, departures: list[tuple[Colleague, str]]
) -> None:
    sync_directory()
    directory.delete(PEOPLE_BY_UID["carol"].dn)

    incremental = sync_directory()
    assert incremental.departed == 0
    assert colleague("carol").status == Colleague.Status.CURRENT

    full = sync_directory(full=True)

    carol = colleague("carol")
    assert (carol.status, carol.departed_on) == (Colleague.Status.DEPARTED, timezone.localdate())
    assert full.departed == 1
    assert [(c.pk, reason) for c, reason in departures] == [(carol.pk, "removed")]
    assert DirectoryAccount.objects.get(uid="carol").removed_at is not None
    assert Colleague.objects.count() == len(PEOPLE)


def test_a_full_pass_is_due_after_full_sync_hours(
    directory: SlapdServer, settings: Settings
) -> None:
    sync_directory()
    directory.delete(PEOPLE_BY_UID["carol"].dn)
    settings.LDAP_FULL_SYNC_HOURS = 0  # never automatic
    assert sync_directory().mode == "incremental"

    settings.LDAP_FULL_SYNC_HOURS = 24
    DirectorySyncState.objects.update(last_full_at=timezone.now() - timedelta(hours=25))
    result = sync_directory()

    assert (result.mode, result.departed) == ("full", 1)


def test_reenabled_account_is_reported_and_stays_departed(directory: SlapdServer) -> None:
    sync_directory()
    directory.lock(PEOPLE_BY_UID["bob"].dn)
    sync_directory()
    directory.unlock(PEOPLE_BY_UID["bob"].dn)

    result = sync_directory()

    assert result.reenabled == ["bob"]
    assert colleague("bob").status == Colleague.Status.DEPARTED
    assert AuditEvent.objects.filter(action="directory.reenabled").count() == 1
    # Reported once, not at every sync.
    assert sync_directory(full=True).reenabled == []


def test_reenabled_account_is_reinstated_when_configured(
    directory: SlapdServer, settings: Settings
) -> None:
    settings.LDAP_REINSTATE_REENABLED = True
    sync_directory()
    directory.lock(PEOPLE_BY_UID["bob"].dn)
    sync_directory()
    directory.unlock(PEOPLE_BY_UID["bob"].dn)

    result = sync_directory()

    bob = colleague("bob")
    assert (bob.status, bob.departed_on) == (Colleague.Status.CURRENT, None)
    assert result.reinstated == ["bob"]


def test_paged_search_reads_more_people_than_the_server_returns_at_once(
    directory: SlapdServer, settings: Settings
) -> None:
    # The service account's unpaged search is cut at SEARCH_LIMIT entries...
    connection = ldap.initialize(directory.uri)
    connection.simple_bind_s(SYNC_DN, SYNC_PASSWORD)
    with pytest.raises(ldap.SIZELIMIT_EXCEEDED):
        connection.search_s(PEOPLE_BASE, ldap.SCOPE_SUBTREE, "(objectClass=inetOrgPerson)")
    connection.unbind_s()
    assert len(PEOPLE) > SEARCH_LIMIT
    settings.LDAP_PAGE_SIZE = 3

    result = sync_directory()

    # ...and the sync, reading pages of 3, sees everyone.
    assert result.read == result.created == len(PEOPLE)


def test_group_changes_reach_roles_at_the_next_sync(directory: SlapdServer) -> None:
    sync_directory()
    ivan = User.objects.create_user("ivan")
    link_login(colleague=colleague("ivan"), user=ivan)
    sync_directory(full=True)
    assert set(ivan.groups.values_list("name", flat=True)) == {Role.HR_ADMIN, Role.EMPLOYEE}

    directory.remove_member("hr", PEOPLE_BY_UID["ivan"].dn)
    directory.add_member("audit", PEOPLE_BY_UID["ivan"].dn)
    result = sync_directory()

    assert result.mode == "incremental"
    assert set(ivan.groups.values_list("name", flat=True)) == {Role.AUDITOR, Role.EMPLOYEE}
    assert DirectoryAccount.objects.get(uid="ivan").group_dns == sorted(
        [
            "cn=audit,ou=groups,dc=example,dc=org",
            "cn=staff,ou=groups,dc=example,dc=org",
        ]
    )


def test_roles_not_in_the_mapping_are_left_alone(
    directory: SlapdServer, settings: Settings
) -> None:
    settings.LDAP_ROLE_GROUPS = f"HR admin={group_dn('hr')}"
    sync_directory()
    bob = User.objects.create_user("bob")
    ensure_roles()
    bob.groups.add(Group.objects.get(name=Role.CURATOR))
    link_login(colleague=colleague("bob"), user=bob)

    sync_directory(full=True)

    assert set(bob.groups.values_list("name", flat=True)) == {Role.CURATOR}


def test_memberof_is_read_when_no_group_base_is_set(
    directory: SlapdServer, settings: Settings
) -> None:
    settings.LDAP_GROUP_BASE = ""  # Active Directory style: the people's memberOf

    result = sync_directory()

    assert result.groups == 4
    assert DirectoryAccount.objects.get(uid="nina").group_dns == [
        "cn=audit,ou=groups,dc=example,dc=org",
        "cn=staff,ou=groups,dc=example,dc=org",
    ]


def test_sync_is_audited_with_counts(directory: SlapdServer) -> None:
    sync_directory()

    event = AuditEvent.objects.get(action="directory.synced")
    assert event.detail["created"] == len(PEOPLE)
    assert event.detail["mode"] == "full"
    assert SYNC_PASSWORD not in json.dumps(event.detail)


def test_command_prints_the_json_summary(directory: SlapdServer) -> None:
    out = StringIO()

    call_command("sync_directory", "--json", stdout=out)

    summary = json.loads(out.getvalue())
    assert {"created", "updated", "departed", "unchanged", "groups", "seconds"} <= set(summary)
    assert summary["created"] == len(PEOPLE)
    out = StringIO()
    call_command("sync_directory", "--full", stdout=out)
    assert f"{len(PEOPLE)} unchanged" in out.getvalue()


def test_command_fails_with_one_line_on_a_wrong_password(
    directory: SlapdServer, settings: Settings
) -> None:
    settings.LDAP_BIND_PASSWORD = "wrong"

    with pytest.raises(CommandError, match="Invalid credentials"):
        call_command("sync_directory", "--json", stdout=StringIO())


def test_unreachable_server_is_unavailable_not_departures(
    directory: SlapdServer, settings: Settings
) -> None:
    sync_directory()
    settings.LDAP_SERVER_URI = f"ldap://127.0.0.1:{free_port()}"

    with pytest.raises(SourceUnavailableError):
        sync_directory(full=True)
    assert not Colleague.objects.filter(status=Colleague.Status.DEPARTED).exclude(
        email=PEOPLE_BY_UID[LOCKED].email
    )


def test_a_full_pass_that_finds_nobody_departs_nobody(
    directory: SlapdServer, settings: Settings
) -> None:
    sync_directory()
    settings.LDAP_USER_FILTER = "(objectClass=device)"  # a configuration mistake

    with pytest.raises(ConnectorConfigError, match="returned nobody"):
        sync_directory(full=True)
    assert Colleague.objects.filter(status=Colleague.Status.DEPARTED).count() == 1


def test_scheduled_task_syncs_and_returns_the_summary(directory: SlapdServer) -> None:
    summary = sync_task.delay().get()

    assert summary["created"] == len(PEOPLE)
    assert Colleague.objects.count() == len(PEOPLE)
