"""LDAP injection (docs/SECURITY.md row 15): text from outside changes no result set of a
search we build, on a real slapd (marker `ldap`). The server is only read here, so one serves
the whole module."""

from __future__ import annotations

import operator
import unicodedata
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from connectors.directory.client import DirectoryClient
from connectors.directory.conf import DirectoryConfig, load_config
from tests.directory.conftest import configure
from tests.directory.slapd import PEOPLE, SlapdServer

pytestmark = pytest.mark.ldap

UIDS = [person.uid for person in PEOPLE]
INJECTIONS = [
    "*)(uid=*))(|(uid=*",
    "*",
    "\x00",
    "admin)(|(objectClass=*",
    "bob)(|(uid=*",
    "bob\x00",
    "bob*",
    "*)(|(objectClass=*",
    "*))%00",
    "\\2a",
    "\\",
    ")",
    "(",
]
# Printable ASCII, the filter's special characters and a few controls.
ALPHABET = st.characters(codec="ascii") | st.sampled_from(["*", "(", ")", "\\", "\x00", "|", "&"])


@pytest.fixture(name="client")
def client_fixture(settings: Settings, shared_slapd: SlapdServer) -> Iterator[DirectoryClient]:
    configure(settings, shared_slapd, LDAP_PAGE_SIZE=5)
    with DirectoryClient(load_config()) as client:
        yield client


def everyone(config: DirectoryConfig) -> set[str]:
    with DirectoryClient(config) as client:
        return {p.uid for p in client.people() if not isinstance(p, ValueError)}


def prepared(text: str) -> str:
    """At most what slapd ignores when it compares a uid (caseIgnoreMatch after RFC 4518
    string preparation): case, repeated and outer spaces, and (more than slapd ignores)
    control characters."""
    kept = []
    for char in unicodedata.normalize("NFKC", text):
        if char in "\t\n\x0b\x0c\r\x85":
            kept.append(" ")
        elif unicodedata.category(char) != "Cc":
            kept.append(char)
    return " ".join("".join(kept).casefold().split())


def test_exact_login_names_find_exactly_their_person(client: DirectoryClient) -> None:
    for uid in UIDS:
        assert [p.uid for p in client.find_people(uid)] == [uid]


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_find_nobody(client: DirectoryClient, text: str) -> None:
    assert client.find_people(text) == []


def test_injection_strings_change_no_later_result(client: DirectoryClient) -> None:
    before = everyone(client.config)
    for text in INJECTIONS:
        client.find_people(text)
    assert everyone(client.config) == before == set(UIDS)
    assert [p.uid for p in client.find_people("bob")] == ["bob"]


@hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.one_of(
        st.text(ALPHABET, max_size=30),
        st.builds(operator.add, st.sampled_from(UIDS), st.text(ALPHABET, max_size=12)),
        st.builds(operator.add, st.text(ALPHABET, max_size=12), st.sampled_from(UIDS)),
        st.sampled_from(INJECTIONS),
    )
)
def test_any_text_finds_at_most_the_person_of_that_name(client: DirectoryClient, text: str) -> None:
    found = {p.uid for p in client.find_people(text)}

    # Never anyone but a person whose login name is the text, as the server compares them.
    assert found <= {uid for uid in UIDS if prepared(uid) == prepared(text)}
    if text in UIDS:
        assert found == {text}
