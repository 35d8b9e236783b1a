"""LDAP login through the intranet's login form, against a real slapd (marker `ldap`)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from colleagues.models import Colleague
from colleagues.roles import Role
from connectors.directory.actions import sync_directory
from connectors.directory.auth import DirectoryBackend
from knowledge.models import ErasedIdentity
from knowledge.tombstones import identity_sha256
from tests.directory.conftest import enable_ldap_login
from tests.directory.slapd import DEFAULT_PASSWORD, LOCKED, PEOPLE, PEOPLE_BY_UID, SlapdServer

pytestmark = [pytest.mark.ldap, pytest.mark.django_db]

# Each is typed as a username, with a password every seeded person has.
INJECTIONS = [
    "*)(uid=*))(|(uid=*",
    "*",
    "\x00",
    "bob\x00",
    "admin)(|(objectClass=*",
    "bob)(|(uid=*",
    "*)(|(objectClass=*",
    "b*",
    "\\2a",
]


@pytest.fixture(autouse=True)
def _ldap_login(settings: Settings, directory: SlapdServer) -> None:
    enable_ldap_login(settings)
    # The login rate limiter counts failures per client IP in this cache.
    caches[settings.LOGIN_FAILURE_CACHE].clear()


def log_in(client: Client, username: str, password: str = DEFAULT_PASSWORD) -> User | None:
    """Post the login form; return the user the session is now logged in as, if any."""
    client.post(reverse("login"), {"username": username, "password": password})
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def roles(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_login_maps_groups_to_roles_and_links_the_colleague(client: Client) -> None:
    sync_directory()

    user = log_in(client, "ivan")

    assert user is not None
    assert user.username == "ivan"
    assert roles(user) == {Role.HR_ADMIN, Role.EMPLOYEE}
    colleague = Colleague.objects.get(user=user)
    assert colleague.email == "ivan@example.org"
    assert not user.has_usable_password()  # the password stays in the directory
    response = client.get(reverse("home"))
    assert response.status_code == 200


def test_manager_and_auditor_roles(client: Client) -> None:
    assert roles(log_in(client, "fin.head") or User()) == {Role.MANAGER, Role.EMPLOYEE}
    client.logout()
    assert roles(log_in(client, "nina") or User()) == {Role.AUDITOR, Role.EMPLOYEE}


def test_login_before_any_sync_creates_the_colleague(client: Client) -> None:
    user = log_in(client, "grace")

    assert user is not None
    colleague = Colleague.objects.get(user=user)
    assert (colleague.name, colleague.title, colleague.department) == (
        "Grace Hopper",
        "Staff Engineer",
        "Engineering",
    )
    # A later sync finds the same colleague rather than making a second one.
    sync_directory()
    assert Colleague.objects.filter(email="grace@example.org").count() == 1
    assert Colleague.objects.count() == len(PEOPLE)


def test_wrong_password_logs_in_nobody(client: Client) -> None:
    response = client.post(reverse("login"), {"username": "bob", "password": "wrong"})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(username="bob").exists()


def test_locked_account_cannot_log_in(client: Client) -> None:
    assert log_in(client, LOCKED) is None


def test_removing_a_group_removes_the_role_at_the_next_login(
    client: Client, directory: SlapdServer
) -> None:
    user = log_in(client, "ivan")
    assert user is not None
    assert Role.HR_ADMIN in roles(user)
    client.logout()
    directory.remove_member("hr", PEOPLE_BY_UID["ivan"].dn)

    user = log_in(client, "ivan")

    assert user is not None
    assert roles(user) == {Role.EMPLOYEE}


def test_a_directory_entry_cannot_take_over_a_local_account(client: Client) -> None:
    User.objects.create_user("bob", password="local password")

    assert log_in(client, "bob") is None  # the directory's password
    assert log_in(client, "bob", "local password") is not None  # ModelBackend


@pytest.mark.parametrize("username", INJECTIONS)
def test_injection_strings_log_in_nobody(client: Client, username: str) -> None:
    assert log_in(client, username) is None
    # The form refuses NUL before any backend sees it; the LDAP backend itself refuses all.
    assert DirectoryBackend().authenticate(None, username, DEFAULT_PASSWORD) is None
    assert not User.objects.exists()


def test_an_erased_person_cannot_log_in_and_come_back(client: Client) -> None:
    # Erased here (knowledge.erasure) while their directory account is still enabled.
    ErasedIdentity.objects.create(value_sha256=identity_sha256("email", "judy@example.org"))
    assert log_in(client, "judy") is None
    assert not Colleague.objects.filter(email="judy@example.org").exists()
    assert log_in(client, "karl") is not None  # everyone else still logs in
