"""The directory's pure parts: entries, disabled accounts, DNs, timestamps, role mapping and
filters built from outside text. No server needed."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from colleagues.roles import Role
from connectors.directory.conf import DirectoryConfig, load_config, roles_for_groups
from connectors.directory.parsing import (
    escaped,
    is_disabled,
    latest_timestamp,
    login_filter,
    login_search_template,
    normalize_dn,
    parse_generalized_time,
    people_filter,
    person_from_entry,
)

BASE_DIR = Path(__file__).resolve().parents[2]
GUID = bytes.fromhex("a1b2c3d4e5f60718293a4b5c6d7e8f90")


@pytest.fixture(name="config")
def config_fixture(settings: Settings) -> DirectoryConfig:
    settings.LDAP_SERVER_URI = "ldap://ldap.example.org"
    settings.LDAP_USER_BASE = "ou=People,dc=example,dc=org"
    return load_config()


def with_settings(settings: Settings, **values: object) -> DirectoryConfig:
    for name, value in values.items():
        setattr(settings, name, value)
    return load_config()


def test_openldap_entry_is_read(config: DirectoryConfig) -> None:
    person = person_from_entry(
        "uid=bob,ou=People,dc=example,dc=org",
        {
            "uid": [b"bob"],
            "cn": [b"Robert Stone"],
            "displayName": [b"Bob Stone"],
            "mail": [b"Bob@Example.org"],
            "title": [b"Engineer"],
            "departmentNumber": [b"Engineering"],
            "manager": [b"UID=ada, OU=People,DC=example,DC=org"],
            "entryUUID": [b"548125A0-7DD2-1041-8E34-75F20091AC59"],
            "modifyTimestamp": [b"20261126104607Z"],
        },
        config,
    )
    assert (person.uid, person.name, person.email) == ("bob", "Bob Stone", "bob@example.org")
    assert (person.title, person.department) == ("Engineer", "Engineering")
    assert person.manager_dn_key == "uid=ada,ou=people,dc=example,dc=org"
    assert person.key == "548125a0-7dd2-1041-8e34-75f20091ac59"
    assert not person.disabled


def test_active_directory_entry_is_read(config: DirectoryConfig) -> None:
    attrs: dict[str, list[bytes]] = {
        "sAMAccountName": [b"bstone"],
        "cn": [b"Stone, Bob"],
        "displayName": [b"Bob Stone"],
        "department": [b"Engineering"],
        "objectGUID": [GUID],
        "memberOf": [b"CN=Engineers,OU=Groups,DC=corp,DC=example"],
        "userAccountControl": [b"514"],  # NORMAL_ACCOUNT | ACCOUNTDISABLE
        "modifyTimestamp": [b"20261126104607.0Z"],
    }
    person = person_from_entry("CN=Stone\\, Bob,OU=Staff,DC=corp,DC=example", attrs, config)

    assert (person.uid, person.name, person.department) == ("bstone", "Bob Stone", "Engineering")
    assert person.key == GUID.hex()
    assert person.group_dns == {"cn=engineers,ou=groups,dc=corp,dc=example"}
    assert person.disabled
    assert person.email == ""


def test_guid_decoded_by_django_auth_ldap_gives_the_same_key(config: DirectoryConfig) -> None:
    ascii_guid = b"0123456789abcdef"  # valid UTF-8, so django-auth-ldap hands on a str
    as_bytes = person_from_entry("cn=x,dc=org", {"uid": [b"x"], "objectGUID": [ascii_guid]}, config)
    as_text = person_from_entry(
        "cn=x,dc=org", {"uid": ["x"], "objectGUID": [ascii_guid.decode()]}, config
    )
    assert as_bytes.key == as_text.key == ascii_guid.hex()


def test_entry_without_login_name_is_refused(config: DirectoryConfig) -> None:
    with pytest.raises(ValueError, match="none of uid, sAMAccountName"):
        person_from_entry("cn=printer,dc=example,dc=org", {"cn": [b"printer"]}, config)


@pytest.mark.parametrize(
    ("attrs", "disabled"),
    [
        ({"userAccountControl": [b"512"]}, False),
        ({"userAccountControl": [b"514"]}, True),
        ({"userAccountControl": [b"66050"]}, True),  # + DONT_EXPIRE_PASSWORD
        ({"pwdAccountLockedTime": [b"000001010000Z"]}, True),
        # A lockout after failed passwords holds the time it began: not a departure.
        ({"pwdAccountLockedTime": [b"20261126104607Z"]}, False),
        ({}, False),
    ],
)
def test_disabled_accounts(
    config: DirectoryConfig, attrs: dict[str, list[bytes]], disabled: bool
) -> None:
    assert is_disabled(attrs, config) is disabled


def test_a_configured_attribute_disables(settings: Settings, config: DirectoryConfig) -> None:
    by_value = with_settings(
        settings, LDAP_DISABLED_ATTR="employeeType", LDAP_DISABLED_VALUES=["Left", "disabled"]
    )
    assert is_disabled({"employeeType": [b"DISABLED"]}, by_value)
    assert not is_disabled({"employeeType": [b"Contractor"]}, by_value)
    by_presence = with_settings(
        settings, LDAP_DISABLED_ATTR="nsAccountLock", LDAP_DISABLED_VALUES=[]
    )
    assert is_disabled({"nsAccountLock": [b"true"]}, by_presence)
    assert not is_disabled({}, by_presence)


def test_dns_compare_in_one_spelling() -> None:
    assert normalize_dn("CN=Pat O'Brien\\2C Jr. , OU=People,DC=Example,DC=org") == normalize_dn(
        "cn=Pat O'Brien\\, Jr.,ou=people,dc=example,dc=org"
    )
    with pytest.raises(ValueError, match="not a DN"):
        normalize_dn("no equals sign")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20261126104607Z", datetime(2026, 11, 26, 10, 46, 7, tzinfo=UTC)),
        ("20261126104607.0Z", datetime(2026, 11, 26, 10, 46, 7, tzinfo=UTC)),
        ("20261126124607+0200", datetime(2026, 11, 26, 10, 46, 7, tzinfo=UTC)),
        ("202611261046Z", datetime(2026, 11, 26, 10, 46, tzinfo=UTC)),
        ("yesterday", None),
        ("20261126104607", None),
    ],
)
def test_generalized_time(text: str, expected: datetime | None) -> None:
    assert parse_generalized_time(text) == expected


def test_high_water_mark_is_the_latest_or_nothing() -> None:
    assert latest_timestamp(["20261126104607Z", "20261126124607+0300", "20250101000000Z"]) == (
        "20261126104607Z"
    )
    # One entry without a timestamp: the next sync reads everything rather than miss it.
    assert latest_timestamp(["20261126104607Z", ""]) == ""


def test_role_groups_setting(settings: Settings, config: DirectoryConfig) -> None:
    config = with_settings(
        settings,
        LDAP_ROLE_GROUPS=(
            " hr admin = CN=HR,OU=Groups,DC=example,DC=org ;"
            "Auditor=cn=audit,ou=groups,dc=example,dc=org;"
            "Knowledge curator=cn=hr,ou=groups,dc=example,dc=org;"
        ),
    )
    assert roles_for_groups(config, {"cn=hr,ou=groups,dc=example,dc=org"}) == {
        Role.HR_ADMIN,
        Role.CURATOR,
    }
    assert roles_for_groups(config, {"cn=other,dc=example,dc=org"}) == set()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Boss=cn=boss,dc=example,dc=org", "not 'Role=group DN'"),
        ("HR admin", "not 'Role=group DN'"),
        ("HR admin=not a dn", "is not a DN"),
    ],
)
def test_bad_role_groups_are_a_clear_error(
    settings: Settings, config: DirectoryConfig, text: str, message: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        with_settings(settings, LDAP_ROLE_GROUPS=text)


def test_people_filter_escapes_the_high_water_mark(config: DirectoryConfig) -> None:
    search_filter = people_filter(config, modified_since="2026*)(uid=*")
    assert search_filter.endswith("(modifyTimestamp>=2026\\2a\\29\\28uid=\\2a))")


# A filter is only ever parsed by the server (python-ldap has no parser): these properties
# say what the server sees. The real-server tests are in test_injection.py.
SPECIAL = re.compile(r"[()*\x00]|\\(?![0-9a-f]{2})")


@given(st.text())
def test_escaped_text_holds_no_filter_syntax(text: str) -> None:
    value = escaped(text)
    assert not SPECIAL.search(value)
    assert re.sub(r"\\([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), value) == text


# As the settings' defaults would give, with a % in the user filter.
PLAIN = DirectoryConfig(
    server_uri="ldap://ldap.example.org",
    bind_dn="",
    bind_password="",
    user_base="dc=example,dc=org",
    user_filter="(&(objectClass=person)(description=100%))",
    group_base="",
    group_filter="",
    group_member_attr="member",
    uid_attrs=("uid", "sAMAccountName"),
    mail_attrs=("mail",),
    name_attrs=("displayName", "cn"),
    title_attrs=("title",),
    department_attrs=("department", "departmentNumber"),
    manager_attrs=("manager",),
    member_of_attrs=("memberOf",),
    id_attrs=("entryUUID", "objectGUID"),
    modified_attr="modifyTimestamp",
    disabled_attr="pwdAccountLockedTime",
    disabled_values=frozenset({"000001010000z"}),
    page_size=500,
    timeout=30,
    reinstate_reenabled=False,
    full_sync_hours=24,
    role_groups=(),
)


@given(st.text())
def test_login_filter_keeps_its_structure_whatever_the_name(text: str) -> None:
    value = escaped(text)
    assert login_filter(PLAIN, text) == (
        f"(&(&(objectClass=person)(description=100%))(|(uid={value})(sAMAccountName={value})))"
    )


@given(st.text())
def test_django_auth_ldap_search_is_our_login_filter(text: str) -> None:
    # django-auth-ldap escapes the name with escape_filter_chars and fills in %(user)s.
    assert login_search_template(PLAIN) % {"user": escaped(text)} == login_filter(PLAIN, text)


def test_command_without_a_server_is_a_one_line_error(settings: Settings) -> None:
    settings.LDAP_SERVER_URI = ""
    with pytest.raises(CommandError, match="LDAP_SERVER_URI is not set"):
        call_command("sync_directory", "--json", stdout=StringIO())


@pytest.mark.parametrize("uri", ["", "ldap://127.0.0.1:1"])
def test_ldap_login_is_switched_on_by_the_server_setting(uri: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDAP_")}
    env["LDAP_SERVER_URI"] = uri
    code = "import config.settings as s; print(s.AUTHENTICATION_BACKENDS)"
    output = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    backends = ast.literal_eval(output)
    model = backends.index("django.contrib.auth.backends.ModelBackend")
    if uri:
        assert backends[model - 1] == "connectors.directory.auth.DirectoryBackend"
        assert backends[0] == "config.security.LoginRateLimitBackend"
    else:
        assert "connectors.directory.auth.DirectoryBackend" not in backends
