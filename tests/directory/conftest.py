"""The directory tests' settings: LDAP_* pointed at a test slapd (tests/directory/slapd.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from colleagues.models import Colleague
from connectors.directory.signals import colleague_departed
from tests.directory.slapd import (
    GROUP_BASE,
    PEOPLE_BASE,
    SYNC_DN,
    SYNC_PASSWORD,
    SlapdServer,
    group_dn,
    shared_slapd_fixture,  # noqa: F401 - fixtures, found by name
    slapd_fixture,  # noqa: F401
)

ROLE_GROUPS = ";".join(
    [
        f"HR admin={group_dn('hr')}",
        f"Auditor={group_dn('audit')}",
        f"Manager={group_dn('managers')}",
        f"Employee={group_dn('staff')}",
    ]
)
LDAP_BACKEND = "connectors.directory.auth.DirectoryBackend"


def configure(settings: Settings, server: SlapdServer, **overrides: Any) -> None:
    """Point the LDAP_* settings at `server`, reading as the service account."""
    settings.LDAP_SERVER_URI = server.uri
    settings.LDAP_BIND_DN = SYNC_DN
    settings.LDAP_BIND_PASSWORD = SYNC_PASSWORD
    settings.LDAP_USER_BASE = PEOPLE_BASE
    settings.LDAP_GROUP_BASE = GROUP_BASE
    settings.LDAP_ROLE_GROUPS = ROLE_GROUPS
    settings.LDAP_TIMEOUT = 10
    for name, value in overrides.items():
        setattr(settings, name, value)


def enable_ldap_login(settings: Settings) -> None:
    """What config/settings.py does when LDAP_SERVER_URI is set at start."""
    backends = list(settings.AUTHENTICATION_BACKENDS)
    backends.insert(backends.index("django.contrib.auth.backends.ModelBackend"), LDAP_BACKEND)
    settings.AUTHENTICATION_BACKENDS = backends


@pytest.fixture(name="directory")
def directory_fixture(settings: Settings, slapd: SlapdServer) -> SlapdServer:
    """A fresh seeded slapd of this test, with the LDAP_* settings pointing at it."""
    configure(settings, slapd)
    return slapd


@pytest.fixture(name="departures")
def departures_fixture() -> Iterator[list[tuple[Colleague, str]]]:
    """The (colleague, reason) of every colleague_departed signal sent during the test."""
    sent: list[tuple[Colleague, str]] = []

    def receive(sender: object, *, colleague: Colleague, reason: str, **kwargs: object) -> None:
        sent.append((colleague, reason))

    colleague_departed.connect(receive, dispatch_uid="tests.directory.departures")
    yield sent
    colleague_departed.disconnect(dispatch_uid="tests.directory.departures")
