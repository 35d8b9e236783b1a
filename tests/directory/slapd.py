"""A private OpenLDAP server for tests, started from the binary named by TEST_SLAPD.

Import the fixtures into a test module marked `ldap`:

    from tests.directory.slapd import slapd_fixture, seeded_slapd_fixture

- `slapd` (one per test) writes a slapd.conf into a fresh temporary folder (mdb backend, the
  core/cosine/inetorgperson/nis schemas, the ppolicy overlay so that an administratively locked
  account cannot bind, the memberof overlay so that people carry memberOf like Active Directory),
  starts `slapd -d stats -h ldap://127.0.0.1:PORT/ -f slapd.conf` and waits until the rootdn
  can bind; the server is stopped and the folder removed at the end. Each test gets its own
  server, so tests that rename, disable or delete people never see each other's changes.
- The sync reads as a service account, `cn=sync,dc=example,dc=org`, never as the rootdn:
  slapd applies no limits to its rootdn. Plain searches of anyone else are cut at
  `SEARCH_LIMIT` entries, as a production directory (Active Directory's MaxPageSize) cuts
  them; only a paged search reads everyone.
- `seed_company(server)` adds the test company: `PEOPLE` in three departments with managers,
  `GROUPS`, and one administratively locked account (`pwdAccountLockedTime: 000001010000Z`).

When TEST_SLAPD is set and the server does not start, the fixture fails the test with slapd's
own log.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap
import ldap.dn
import ldap.modlist
import pytest

from tests.services import required_env

HOST = "127.0.0.1"
SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root secret"
SYNC_DN = f"cn=sync,{SUFFIX}"
SYNC_PASSWORD = "sync secret"
PEOPLE_BASE = f"ou=People,{SUFFIX}"
# The default password policy: with it, ppolicy refuses binds of locked accounts.
POLICY_DN = f"cn=default,{SUFFIX}"
GROUP_BASE = f"ou=Groups,{SUFFIX}"
DEFAULT_PASSWORD = "correct horse battery"
# Entries a plain (unpaged) search returns at most, for everyone but the rootdn.
SEARCH_LIMIT = 10
STARTUP_SECONDS = 20.0
STOP_SECONDS = 10.0
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")


@dataclass(frozen=True)
class Person:
    uid: str
    name: str
    title: str
    department: str
    manager: str | None = None  # uid
    # The RDN attribute: most people are uid=..., one is cn=... with a comma in it.
    rdn: str = "uid"

    @property
    def dn(self) -> str:
        value = self.name if self.rdn == "cn" else self.uid
        return f"{self.rdn}={ldap.dn.escape_dn_chars(value)},{PEOPLE_BASE}"

    @property
    def email(self) -> str:
        return f"{self.uid}@example.org"


PEOPLE: tuple[Person, ...] = (
    Person("ceo", "Carla Eriksen", "Chief Executive", "Management"),
    Person("eng.head", "Ada Byron", "Head of Engineering", "Engineering", "ceo"),
    Person("bob", "Bob Stone", "Backend Engineer", "Engineering", "eng.head"),
    Person("carol", "Carol Danvers", "Frontend Engineer", "Engineering", "eng.head"),
    Person("dave", "Dave Miller", "Site Reliability Engineer", "Engineering", "eng.head"),
    Person("erin", "Erin Walsh", "QA Engineer", "Engineering", "eng.head"),
    Person("frank", "Frank Ocean", "Data Engineer", "Engineering", "eng.head"),
    Person("grace", "Grace Hopper", "Staff Engineer", "Engineering", "eng.head"),
    Person("heidi", "Heidi Klum", "Security Engineer", "Engineering", "eng.head"),
    Person("hr.head", "Hannah Reed", "Head of People", "People", "ceo"),
    Person("ivan", "Ivan Petrov", "HR Partner", "People", "hr.head"),
    Person("judy", "Judy Garland", "Recruiter", "People", "hr.head"),
    Person("karl", "Karl Marx", "Payroll Specialist", "People", "hr.head"),
    Person("fin.head", "Pat O'Brien, Jr.", "Head of Finance", "Finance", "ceo", rdn="cn"),
    Person("leo", "Leo Tolstoy", "Accountant", "Finance", "fin.head"),
    Person("mia", "Mia Wong", "Controller", "Finance", "fin.head"),
    Person("nina", "Nina Simone", "Auditor", "Finance", "fin.head"),
    Person("oscar", "Oscar Wilde", "Financial Analyst", "Finance", "fin.head"),
    Person("peggy", "Peggy Olson", "Accounts Payable", "Finance", "fin.head"),
    Person("quinn", "Quinn Fabray", "Treasury Analyst", "Finance", "fin.head"),
    # Locked by an administrator: a departed person whose entry is kept.
    Person("rupert", "Rupert Giles", "Librarian", "Engineering", "eng.head"),
)
PEOPLE_BY_UID = {person.uid: person for person in PEOPLE}
LOCKED = "rupert"
# Group cn -> member uids.
GROUPS: dict[str, tuple[str, ...]] = {
    "hr": ("hr.head", "ivan"),
    "audit": ("nina",),
    "managers": ("ceo", "eng.head", "hr.head", "fin.head"),
    "staff": tuple(p.uid for p in PEOPLE),
}


def group_dn(cn: str) -> str:
    return f"cn={ldap.dn.escape_dn_chars(cn)},{GROUP_BASE}"


@dataclass
class SlapdServer:
    """A running slapd and what tests need to reach and change it."""

    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"ldap://{HOST}:{self.port}"

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "slapd.log").read_text(errors="replace")[-20_000:]
        return ""

    @contextlib.contextmanager
    def admin(self) -> Iterator[Any]:
        """A connection bound as the rootdn (no limits, may write anything)."""
        connection = ldap.initialize(self.uri)
        connection.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
        try:
            connection.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
            yield connection
        finally:
            connection.unbind_s()

    def add(self, dn: str, attrs: dict[str, list[str]]) -> None:
        encoded = {name: [v.encode() for v in values] for name, values in attrs.items()}
        with self.admin() as connection:
            connection.add_s(dn, ldap.modlist.addModlist(encoded))

    def replace(self, dn: str, **attrs: list[str]) -> None:
        """Replace attributes of one entry (an empty list removes the attribute)."""
        changes = [
            (ldap.MOD_REPLACE, name, [v.encode() for v in values] or None)
            for name, values in attrs.items()
        ]
        with self.admin() as connection:
            connection.modify_s(dn, changes)

    def delete(self, dn: str) -> None:
        with self.admin() as connection:
            connection.delete_s(dn)

    def add_person(self, person: Person, *, password: str = DEFAULT_PASSWORD) -> None:
        manager = PEOPLE_BY_UID[person.manager].dn if person.manager else None
        given, _, surname = person.name.partition(" ")
        attrs = {
            "objectClass": ["inetOrgPerson"],
            "uid": [person.uid],
            "cn": [person.name],
            "displayName": [person.name],
            "givenName": [given],
            "sn": [surname or person.name],
            "mail": [person.email],
            "title": [person.title],
            "departmentNumber": [person.department],
            "userPassword": [password],
        }
        if manager:
            attrs["manager"] = [manager]
        self.add(person.dn, attrs)

    def lock(self, dn: str) -> None:
        """Lock an account for good, as an administrator does (ppolicy)."""
        self.replace(dn, pwdAccountLockedTime=["000001010000Z"])

    def unlock(self, dn: str) -> None:
        self.replace(dn, pwdAccountLockedTime=[])

    def add_member(self, group: str, dn: str) -> None:
        with self.admin() as connection:
            connection.modify_s(group_dn(group), [(ldap.MOD_ADD, "member", [dn.encode()])])

    def remove_member(self, group: str, dn: str) -> None:
        with self.admin() as connection:
            connection.modify_s(group_dn(group), [(ldap.MOD_DELETE, "member", [dn.encode()])])


def seed_company(server: SlapdServer) -> None:
    """Add the organisation, the service account, PEOPLE (one locked) and GROUPS."""
    server.add(
        SUFFIX, {"objectClass": ["dcObject", "organization"], "dc": ["example"], "o": ["Example"]}
    )
    server.add(
        SYNC_DN,
        {
            "objectClass": ["organizationalRole", "simpleSecurityObject"],
            "cn": ["sync"],
            "userPassword": [SYNC_PASSWORD],
        },
    )
    server.add(
        POLICY_DN,
        {
            "objectClass": ["organizationalRole", "pwdPolicy"],
            "cn": ["default"],
            "pwdAttribute": ["userPassword"],
            "pwdLockout": ["TRUE"],
        },
    )
    for base in (PEOPLE_BASE, GROUP_BASE):
        ou = base.split(",")[0].split("=")[1]
        server.add(base, {"objectClass": ["organizationalUnit"], "ou": [ou]})
    for person in PEOPLE:
        server.add_person(person)
    for cn, members in GROUPS.items():
        server.add(
            group_dn(cn),
            {
                "objectClass": ["groupOfNames"],
                "cn": [cn],
                "member": [PEOPLE_BY_UID[uid].dn for uid in members],
            },
        )
    server.lock(PEOPLE_BY_UID[LOCKED].dn)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def slapd_config(root: Path) -> str:
    """The whole configuration: nothing is read from /etc/ldap but the schema files."""
    includes = "\n".join(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS)
    return f"""\
# Generated by tests/directory/slapd.py for one test.
{includes}
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
moduleload memberof
pidfile {root}/slapd.pid
argsfile {root}/slapd.args

# Plain searches stop at {SEARCH_LIMIT} entries; paged searches may read everything.
sizelimit size.soft={SEARCH_LIMIT} size.hard={SEARCH_LIMIT} size.prtotal=unlimited

database mdb
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw "{ROOT_PASSWORD}"
directory {root}/data
maxsize 104857600
index objectClass eq
index uid,mail eq
index member eq

overlay ppolicy
ppolicy_default "{POLICY_DN}"
ppolicy_use_lockout
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint true

access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by dn.exact="{SYNC_DN}" read
    by self read
    by * none
"""


def start_slapd(binary: str) -> SlapdServer:
    """Start slapd in a new temporary folder; fail the test if it does not come up."""
    if not Path(binary).is_file():
        pytest.fail(f"TEST_SLAPD={binary} is not a file (apt-get install slapd ldap-utils)")
    root = Path(tempfile.mkdtemp(prefix="slapd-"))
    server = SlapdServer(root=root, port=free_port())
    (root / "data").mkdir()
    config = root / "slapd.conf"
    config.write_text(slapd_config(root))
    with (root / "slapd.log").open("wb") as log:
        server.process = subprocess.Popen(
            [binary, "-d", "stats", "-h", f"{server.uri}/", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        _wait_until_ready(server)
    except BaseException:
        stop_slapd(server)
        raise
    return server


def _wait_until_ready(server: SlapdServer) -> None:
    assert server.process is not None
    deadline = time.monotonic() + STARTUP_SECONDS
    last_error = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"slapd exited with {server.process.returncode}:\n{server.log()}")
        try:
            with server.admin():
                return
        except ldap.LDAPError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)
    pytest.fail(
        f"slapd did not accept a bind within {STARTUP_SECONDS}s ({last_error}):\n{server.log()}"
    )


def stop_slapd(server: SlapdServer) -> None:
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    shutil.rmtree(server.root, ignore_errors=True)


@contextlib.contextmanager
def running_company() -> Iterator[SlapdServer]:
    server = start_slapd(required_env("TEST_SLAPD"))
    try:
        seed_company(server)
        yield server
    except BaseException:
        if server.process is not None and server.process.poll() is not None:
            pytest.fail(f"slapd died:\n{server.log()}")
        raise
    finally:
        stop_slapd(server)


@pytest.fixture(name="slapd")
def slapd_fixture() -> Iterator[SlapdServer]:
    """A fresh slapd holding the seeded company, for one test that may change it."""
    with running_company() as server:
        yield server


@pytest.fixture(scope="module", name="shared_slapd")
def shared_slapd_fixture() -> Iterator[SlapdServer]:
    """One seeded slapd for a module whose tests only read it."""
    with running_company() as server:
        yield server
