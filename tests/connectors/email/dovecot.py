"""A private Dovecot IMAP server for tests, started from the binary named by TEST_DOVECOT.

Import the fixtures into a test module marked `imap`:

    from tests.connectors.email.dovecot import dovecot_server_fixture, imap_account_fixture

- `dovecot_server` (one per test session) writes a config, a passwd folder and a test CA and
  server certificate into a fresh temporary folder, starts `dovecot -F -c <config>` and waits
  until it completes a TLS handshake and greets; it is stopped and the folder removed at the
  end. Listeners: implicit TLS (`tls_port`) and STARTTLS (`starttls_port`), both on
  127.0.0.1 and on free ports; `ssl = required`, so no login happens without TLS.
- `imap_account` (one per test) adds a new user with an empty maildir: tests never share mail.
  Users are passwd-file entries, one file per user, with `{PLAIN}` passwords.

When TEST_DOVECOT is set and the server does not start, the fixture fails the test with
Dovecot's own log. Dovecot runs as the current user; under root (whose login processes
Dovecot refuses to run) it runs as `nobody`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import grp
import imaplib
import ipaddress
import itertools
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from connectors.email.imap import encode_folder_name
from tests.services import required_env

HOST = "127.0.0.1"
STARTUP_SECONDS = 20.0
STOP_SECONDS = 10.0
DEFAULT_PASSWORD = "correct horse battery"

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")


@dataclass(frozen=True)
class RunAs:
    """The account Dovecot's processes run under."""

    user: str
    group: str
    uid: int
    gid: int

    @classmethod
    def for_tests(cls) -> RunAs:
        if os.geteuid() == 0:
            entry = pwd.getpwnam("nobody")
            uid, gid = entry.pw_uid, entry.pw_gid
        else:
            uid, gid = os.geteuid(), os.getegid()
        return cls(pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name, uid, gid)

    @property
    def is_other_user(self) -> bool:
        return self.uid != os.geteuid()


@dataclass
class DovecotServer:
    """A running Dovecot instance and what tests need to reach it."""

    root: Path
    tls_port: int
    starttls_port: int
    ca_file: Path
    run_as: RunAs
    process: subprocess.Popen[bytes] | None = None
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    @property
    def passwd_folder(self) -> Path:
        """One passwd file per user: a new file is read on first use, whereas Dovecot may
        miss a change to a file it has already read within the same second."""
        return self.root / "users"

    @property
    def log_file(self) -> Path:
        return self.root / "dovecot.log"

    def log(self) -> str:
        """Dovecot's log and whatever it wrote to stderr before the log was open."""
        parts = []
        for path in (self.root / "stderr.log", self.log_file):
            with contextlib.suppress(OSError):
                parts.append(path.read_text(errors="replace"))
        return "\n".join(p for p in parts if p)

    def add_user(self, password: str = DEFAULT_PASSWORD) -> ImapAccount:
        """Add a user with an empty mailbox, able to log in at once."""
        username = f"user{next(self._numbers)}"
        entry = f"{username}:{{PLAIN}}{password}\n"
        (self.passwd_folder / username).write_text(entry, encoding="utf-8")
        return ImapAccount(server=self, username=username, password=password)


@dataclass
class ImapAccount:
    """One user on the test server, with helpers that change its mail over real IMAP."""

    server: DovecotServer
    username: str
    password: str

    @property
    def credentials(self) -> dict[str, str]:
        return {"password": self.password}

    def config(self, **overrides: Any) -> dict[str, Any]:
        """An ImapConnector config for this account over implicit TLS, trusting the test CA."""
        return {
            "host": HOST,
            "port": self.server.tls_port,
            "username": self.username,
            "ca_file": str(self.server.ca_file),
            "timeout": 10,
            **overrides,
        }

    @contextlib.contextmanager
    def client(self) -> Iterator[imaplib.IMAP4_SSL]:
        """A logged-in connection of the test itself (not of the connector)."""
        context = ssl.create_default_context(cafile=str(self.server.ca_file))
        client = imaplib.IMAP4_SSL(HOST, self.server.tls_port, ssl_context=context, timeout=10)
        try:
            if self.password.isascii():
                client.login(self.username, self.password)
            else:
                token = f"\0{self.username}\0{self.password}".encode()
                client.authenticate("PLAIN", lambda _challenge: token)
            yield client
        finally:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                client.logout()

    def append(self, folder: str, *messages: bytes, flags: str = "") -> list[int]:
        """APPEND messages to `folder` and return their UIDs."""
        uids = []
        with self.client() as client:
            for raw in messages:
                typ, data = client.append(_mailbox(folder), flags or None, None, raw)
                assert typ == "OK", data
                match = _APPENDUID.search(data[-1] or b"")
                assert match, data
                uids.append(int(match.group(2)))
        return uids

    def create_folder(self, folder: str) -> None:
        with self.client() as client:
            typ, data = client.create(_mailbox(folder))
            assert typ == "OK", data

    def delete_folder(self, folder: str) -> None:
        with self.client() as client:
            typ, data = client.delete(_mailbox(folder))
            assert typ == "OK", data

    def uidvalidity(self, folder: str) -> int:
        with self.client() as client:
            typ, data = client.status(_mailbox(folder), "(UIDVALIDITY)")
            assert typ == "OK", data
            match = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
            assert match, data
            return int(match.group(1))

    def flags(self, folder: str, uid: int) -> set[str]:
        """The flags of one message, read without changing them (EXAMINE)."""
        with self.client() as client:
            typ, data = client.select(_mailbox(folder), readonly=True)
            assert typ == "OK", data
            typ, data = client.uid("FETCH", str(uid), "(FLAGS)")
            assert typ == "OK", data
            match = _FLAGS.search(data[0] or b"")
            assert match, data
            return set(match.group(1).decode().split())

    def expunge(self, folder: str, uid: int) -> None:
        """Delete one message for good."""
        with self.client() as client:
            typ, data = client.select(_mailbox(folder))
            assert typ == "OK", data
            typ, data = client.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)")
            assert typ == "OK", data
            typ, data = client.expunge()
            assert typ == "OK", data


def _mailbox(folder: str) -> str:
    return '"' + encode_folder_name(folder).replace("\\", "\\\\").replace('"', '\\"') + '"'


# Starting and stopping.


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def write_certificates(folder: Path) -> Path:
    """Write a test CA and a server certificate for 127.0.0.1 and localhost signed by it.

    Returns the CA file; the server's chain and key are `server.pem` and `server.key`.
    """
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Colleague test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(pem))
    (folder / "server.pem").write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    (folder / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (folder / "server.key").chmod(0o600)
    return ca_file


def dovecot_config(server: DovecotServer) -> str:
    """The whole configuration: nothing is read from /etc/dovecot."""
    root, run_as = server.root, server.run_as
    return f"""\
# Generated by tests/connectors/email/dovecot.py for one test session.
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = colleague-test-{server.tls_port}
protocols = imap
listen = {HOST}

# Everything runs as one unprivileged user, without chroots.
default_internal_user = {run_as.user}
default_internal_group = {run_as.group}
default_login_user = {run_as.user}
first_valid_uid = {run_as.uid}
last_valid_uid = {run_as.uid}
first_valid_gid = {run_as.gid}
last_valid_gid = {run_as.gid}

ssl = required
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key

auth_mechanisms = plain
# No brute-force delays: tests log in with wrong passwords on purpose.
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users/%u
}}
userdb {{
  driver = static
  args = uid={run_as.uid} gid={run_as.gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
mail_max_userip_connections = 100

service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {server.starttls_port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {server.tls_port}
    ssl = yes
  }}
}}
"""


def start_dovecot(binary: str) -> DovecotServer:
    """Start a Dovecot instance in a new temporary folder; fail the test if it does not come up.

    The folder is made with `tempfile.mkdtemp` (short, so Dovecot's socket paths fit).
    """
    if not Path(binary).is_file():
        pytest.fail(f"TEST_DOVECOT={binary} is not a file (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="dovecot-"))
    server = DovecotServer(
        root=root,
        tls_port=free_port(),
        starttls_port=free_port(),
        ca_file=root / "ca.pem",
        run_as=RunAs.for_tests(),
    )
    write_certificates(root)
    server.passwd_folder.mkdir()
    config = root / "dovecot.conf"
    config.write_text(dovecot_config(server))
    if server.run_as.is_other_user:
        for path in [root, *root.iterdir()]:
            os.chown(path, server.run_as.uid, server.run_as.gid)
    privileges: dict[str, Any] = {}
    if server.run_as.is_other_user:
        privileges = {"user": server.run_as.uid, "group": server.run_as.gid, "extra_groups": []}
    with (root / "stderr.log").open("wb") as stderr:
        server.process = subprocess.Popen(
            [binary, "-F", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            **privileges,
        )
    try:
        _wait_until_ready(server)
    except BaseException:
        stop_dovecot(server)
        raise
    return server


def _wait_until_ready(server: DovecotServer) -> None:
    assert server.process is not None
    context = ssl.create_default_context(cafile=str(server.ca_file))
    deadline = time.monotonic() + STARTUP_SECONDS
    last_error = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = server.log()
            pytest.fail(f"dovecot exited with {server.process.returncode}:\n{log}")
        try:
            client = imaplib.IMAP4_SSL(HOST, server.tls_port, ssl_context=context, timeout=2)
        except (OSError, imaplib.IMAP4.error) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.1)
            continue
        client.shutdown()
        return
    log = server.log()
    pytest.fail(f"dovecot did not greet over TLS within {STARTUP_SECONDS}s ({last_error}):\n{log}")


def stop_dovecot(server: DovecotServer) -> None:
    """Stop the master (it stops its children) and remove the folder."""
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session", name="dovecot_server")
def dovecot_server_fixture() -> Iterator[DovecotServer]:
    """The session's Dovecot; fails (never skips) when TEST_DOVECOT is set but it cannot run."""
    server = start_dovecot(required_env("TEST_DOVECOT"))
    yield server
    stop_dovecot(server)


@pytest.fixture(name="imap_account")
def imap_account_fixture(dovecot_server: DovecotServer) -> ImapAccount:
    """A new user with an empty mailbox on the session's Dovecot."""
    return dovecot_server.add_user()
