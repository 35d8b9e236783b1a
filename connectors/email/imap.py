"""Read mail from an IMAP server over TLS, incrementally by UID.

Config: `{"host": str, "port": int, "username": str, "folders": [str], "security": "tls" |
"starttls", "ca_file": str, "timeout": seconds}`; only `host` and `username` are required
(port 993 for "tls", 143 for "starttls"; folders ["INBOX"]; timeout 30). Credentials:
`{"password": str}`. There is no plaintext mode: the password never crosses the network
unencrypted. `ca_file`, when set, is the only trusted CA (a private server's own CA).

Guarantees:
- Read only: folders are opened with EXAMINE and bodies fetched with BODY.PEEK[], so no flag
  (\\Seen included) changes at the source.
- Every socket has a timeout; a server that stops answering ends the sync with
  SourceUnavailableError, as does one that cannot be reached. A refused login, a folder that
  does not exist or an untrusted certificate raise ConnectorConfigError.
- Messages become documents through `connectors.email.parsing`, exactly as the file connector
  reads them (same external ids, threads, audience); the folder is a private "mailbox".
  A Message-ID found in several folders is yielded once per fetch, from the first folder.
- A message that cannot be parsed, is over MAX_MESSAGE_BYTES (not downloaded) or that the
  server refuses to send becomes a SourceFailure, and the rest goes on.
- `list_external_ids` yields every id or raises: a partial list would prune stored mail.
- The cursor is JSON `{folder: {"uidvalidity": N, "last_uid": N}}`; each batch (at most 500
  documents) carries the cursor just after its last message. When a folder's UIDVALIDITY
  changes, the folder is read again from the start: storage is idempotent by external id.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import json
import logging
import re
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import quote

from django.utils.translation import gettext_lazy as _

from connectors.base import Connector, Setting, SourceBatch, SourceContainer, SourceFailure
from connectors.documents.files import BatchBuilder, failure_from
from connectors.email.parsing import MAX_MESSAGE_BYTES, ParsedEmail, parse_email
from connectors.errors import (
    ConnectorConfigError,
    ConnectorError,
    FileRejected,
    LimitExceeded,
    SourceUnavailableError,
)

logger = logging.getLogger(__name__)

SECURITY_PORTS = {"tls": 993, "starttls": 143}
DEFAULT_FOLDERS = ("INBOX",)
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_TIMEOUT_SECONDS = 600.0
MAX_BATCH_DOCUMENTS = 500
# One UID FETCH of bodies asks for at most this many messages and (unless a single message
# is larger) this many bytes, so memory stays bounded whatever the mailbox holds.
FETCH_MESSAGES = 50
FETCH_BYTES = 8 * 1024 * 1024
# Headers are small: list_external_ids asks for this many at a time.
FETCH_HEADERS = 200
MAX_UID = 2**32 - 1  # UIDs are 32-bit (RFC 3501 2.3.1.1)
# Logging in again after the server closed the connection, at most this often per sync.
MAX_REOPENS = 10

_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_INTERNALDATE = re.compile(rb'\bINTERNALDATE "([^"]+)"')
_LITERAL_AT_END = re.compile(rb"\{\d+\}$")
_RESPONSE_START = re.compile(rb"^\d+ \(")
_RESPONSE_CODE = re.compile(r"^\[([A-Z-]+)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MONTHS = {
    name: number
    for number, name in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
        start=1,
    )
}
# Login refusals that say "try later", not "wrong credentials" (RFC 5530).
_TEMPORARY_CODES = frozenset({"UNAVAILABLE", "SERVERBUG", "INUSE", "LIMIT"})


@dataclass(frozen=True)
class ImapSettings:
    """A checked configuration: every field valid, the CA file loadable."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    folders: tuple[str, ...]
    security: str
    ca_file: str | None
    timeout: float

    def location(self, folder: str | None = None) -> str:
        """An RFC 5092 IMAP URL naming the server (and folder), for messages and failures."""
        base = f"imap://{quote(self.username, safe='')}@{self.host}:{self.port}/"
        return base if folder is None else base + quote(folder, safe="")

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying TLS context: `ca_file` alone if set, else the system's trusted CAs."""
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectorConfigError(f"ca_file {self.ca_file!r} cannot be loaded: {exc}") from exc


@dataclass(frozen=True)
class FolderState:
    """Where reading a folder stopped: its UIDVALIDITY and the last UID read."""

    uidvalidity: int
    last_uid: int


class ImapConnector(Connector):
    """Yield the messages of the configured IMAP folders as documents of kind "email"."""

    kind = "imap"
    label = _("IMAP mailbox")
    settings = (
        Setting("host", _("Server"), required=True, placeholder="mail.example.com"),
        Setting("username", _("User name"), required=True),
        Setting(
            "folders",
            _("Folders"),
            type="list",
            help=_("One per line or separated by commas; empty: INBOX."),
        ),
        Setting("security", _("Connection security"), type="choice", choices=("tls", "starttls")),
        Setting("port", _("Port"), type="integer", help=_("Empty: 993 for TLS, 143 for STARTTLS.")),
        Setting(
            "ca_file",
            _("CA certificate file"),
            type="path",
            help=_("Only for a server whose certificate a private CA signed."),
        ),
    )
    secrets = (Setting("password", _("Password"), required=True),)

    def validate(self) -> None:
        """Raise ConnectorConfigError unless config and credentials are well formed.

        No connection is made: login and folder problems surface when the sync runs.
        """
        settings_from(self.config, self.credentials)

    def fetch(self, *, cursor: str | None) -> Iterator[SourceBatch]:
        """Yield messages whose UID is above the cursor's, folder by folder, oldest first.

        Every configured folder is checked before anything is read, so a misspelt folder
        fails the sync at once. At least one batch is yielded, to carry the cursor.
        """
        settings = settings_from(self.config, self.credentials)
        state = load_cursor(cursor, settings.folders)
        builder = BatchBuilder(max_documents=MAX_BATCH_DOCUMENTS)
        seen_ids: set[str] = set()
        with imap_session(settings) as session:
            for folder in settings.folders:
                _check_folder(session.client, settings, folder)
            for folder in settings.folders:
                yield from self._fetch_folder(session, folder, state, builder, seen_ids)
        last = builder.finish(dump_cursor(state))
        if last is not None:
            yield last

    def list_external_ids(self) -> Iterator[str]:
        """Yield the external id of every message still in the configured folders, once.

        Only headers are downloaded, except for messages without a Message-ID, whose id is
        a hash of their whole content. Messages that cannot be parsed are left out.
        """
        settings = settings_from(self.config, self.credentials)
        listed: set[str] = set()
        with imap_session(settings) as session:
            client = session.client
            for folder in settings.folders:
                _check_folder(client, settings, folder)
            for folder in settings.folders:
                _, count = _examine(client, settings, folder)
                sizes = _sizes_above(client, settings, folder, 0) if count else []
                for start in range(0, len(sizes), FETCH_HEADERS):
                    chunk = sizes[start : start + FETCH_HEADERS]
                    for external_id in _ids_of(client, settings, folder, chunk):
                        if external_id not in listed:
                            listed.add(external_id)
                            yield external_id

    def _fetch_folder(
        self,
        session: ImapSession,
        folder: str,
        state: dict[str, FolderState],
        builder: BatchBuilder,
        seen_ids: set[str],
    ) -> Iterator[SourceBatch]:
        settings = session.settings
        uidvalidity, count = _examine(session.client, settings, folder)
        saved = state.get(folder)
        last_uid = 0
        if saved is not None and saved.uidvalidity == uidvalidity:
            last_uid = saved.last_uid
        elif saved is not None:
            logger.info("UIDVALIDITY of %s changed: reading it again", settings.location(folder))
        state[folder] = FolderState(uidvalidity, last_uid)
        mailbox = SourceContainer(external_id=folder, name=folder, kind="mailbox", is_private=True)
        sizes = _sizes_above(session.client, settings, folder, last_uid) if count else []
        logger.debug("%d new messages in %s", len(sizes), settings.location(folder))
        for group in _groups(sizes):
            wanted = [uid for uid, size in group if size <= MAX_MESSAGE_BYTES]
            bodies, refused = _bodies_or_refusals(session, folder, uidvalidity, wanted)
            for uid, size in group:
                where = f"{settings.location(folder)};UIDVALIDITY={uidvalidity}/;UID={uid}"
                if size > MAX_MESSAGE_BYTES:
                    builder.add_failure(
                        failure_from(where, LimitExceeded(f"the message is {size} bytes"))
                    )
                elif uid in refused:
                    builder.add_failure(failure_from(where, refused[uid]))
                elif uid in bodies:  # else it was expunged since it was listed
                    parsed = _parse(bodies[uid], folder, where)
                    if isinstance(parsed, SourceFailure):
                        builder.add_failure(parsed)
                    elif parsed.document.external_id not in seen_ids:
                        seen_ids.add(parsed.document.external_id)
                        builder.add_document(
                            parsed.document, people=parsed.people, container=mailbox
                        )
                state[folder] = FolderState(uidvalidity, uid)
                if builder.full:
                    yield builder.take(dump_cursor(state))


# Configuration and cursor.


def settings_from(config: Mapping[str, Any], credentials: Mapping[str, str]) -> ImapSettings:
    """Check config and credentials; raise ConnectorConfigError naming the first bad field."""
    known = {"host", "port", "username", "folders", "security", "ca_file", "timeout"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ConnectorConfigError(f"unknown IMAP config keys: {', '.join(unknown)}")
    host = _text(config, "host")
    if any(c.isspace() for c in host) or "/" in host:
        raise ConnectorConfigError(f"host {host!r} is not a host name or address")
    security = config.get("security", "tls")
    if security not in SECURITY_PORTS:
        raise ConnectorConfigError(
            f'security must be "tls" or "starttls" (no plaintext mode), not {security!r}'
        )
    port = config.get("port", SECURITY_PORTS[security])
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ConnectorConfigError(f"port must be a number from 1 to 65535, not {port!r}")
    username = _text(config, "username")
    password = credentials.get("password")
    if not isinstance(password, str) or not password:
        raise ConnectorConfigError('IMAP credentials need a "password"')
    if _CONTROL.search(password):
        raise ConnectorConfigError("the IMAP password contains control characters")
    folders = config.get("folders", list(DEFAULT_FOLDERS))
    if (
        not isinstance(folders, list | tuple)
        or not folders
        or not all(isinstance(f, str) and f.strip() for f in folders)
    ):
        raise ConnectorConfigError('folders must be a non-empty list of names, e.g. ["INBOX"]')
    if len(set(folders)) != len(folders):
        raise ConnectorConfigError("folders lists a folder twice")
    ca_file = config.get("ca_file")
    if ca_file is not None and (not isinstance(ca_file, str) or not Path(ca_file).is_file()):
        raise ConnectorConfigError(f"ca_file {ca_file!r} is not a file")
    timeout = config.get("timeout", DEFAULT_TIMEOUT_SECONDS)
    if (
        not isinstance(timeout, int | float)
        or isinstance(timeout, bool)
        or not 0 < timeout <= MAX_TIMEOUT_SECONDS
    ):
        raise ConnectorConfigError(
            f"timeout must be a number of seconds up to {MAX_TIMEOUT_SECONDS:.0f}"
        )
    settings = ImapSettings(
        host=host,
        port=port,
        username=username,
        password=password,
        folders=tuple(folders),
        security=security,
        ca_file=ca_file,
        timeout=float(timeout),
    )
    settings.ssl_context()  # a CA file that does not load is a config error, found now
    return settings


def _text(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConnectorConfigError(f"IMAP config needs {key!r}")
    if _CONTROL.search(value):
        raise ConnectorConfigError(f"{key} contains control characters")
    return value


def load_cursor(raw: str | None, folders: tuple[str, ...]) -> dict[str, FolderState]:
    """Read a cursor, keeping configured folders; anything malformed reads from scratch."""
    if not raw:
        return {}
    try:
        loaded = json.loads(raw)
    except ValueError:
        logger.warning("Ignoring an IMAP cursor that is not JSON; every folder is read again")
        return {}
    if not isinstance(loaded, dict):
        logger.warning("Ignoring an IMAP cursor that is not a JSON object")
        return {}
    state: dict[str, FolderState] = {}
    for folder in folders:
        entry = loaded.get(folder)
        if not isinstance(entry, dict):
            continue
        uidvalidity, last_uid = entry.get("uidvalidity"), entry.get("last_uid")
        if _is_count(uidvalidity) and _is_count(last_uid):
            state[folder] = FolderState(uidvalidity, last_uid)
    return state


def dump_cursor(state: Mapping[str, FolderState]) -> str:
    """Write a cursor as compact, key-sorted JSON."""
    data = {
        folder: {"uidvalidity": s.uidvalidity, "last_uid": s.last_uid}
        for folder, s in state.items()
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# The IMAP conversation.


class ImapSession:
    """A logged-in connection that can log in again when the server closes it."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.client = _open(settings)
        self.reopened = 0

    def reopen(self, folder: str, uidvalidity: int) -> None:
        """Log in again and open `folder`; SourceUnavailableError if that keeps happening
        or the folder's UIDVALIDITY changed meanwhile (the next sync reads it again)."""
        _shutdown(self.client)
        self.reopened += 1
        if self.reopened > MAX_REOPENS:
            raise SourceUnavailableError(
                f"{self.settings.location()} closed the connection {MAX_REOPENS} times"
            )
        self.client = _open(self.settings)
        if _examine(self.client, self.settings, folder)[0] != uidvalidity:
            raise SourceUnavailableError(
                f"the UIDVALIDITY of {self.settings.location(folder)} changed during the sync"
            )


@contextlib.contextmanager
def imap_session(settings: ImapSettings) -> Iterator[ImapSession]:
    """A logged-in session, logged out on leaving; on an error the socket is just closed.

    Errors inside are translated: see `_translated`.
    """
    with _translated(settings):
        session = ImapSession(settings)
    try:
        with _translated(settings):
            yield session
    except BaseException:
        _shutdown(session.client)  # no LOGOUT: a server that timed out would make us wait
        raise
    with contextlib.suppress(OSError, imaplib.IMAP4.error, ValueError):
        session.client.logout()  # also closes the socket, whatever the server answers


def _open(settings: ImapSettings) -> imaplib.IMAP4:
    client = _connect(settings)
    try:
        _login(client, settings)
    except BaseException:
        _shutdown(client)
        raise
    return client


def _connect(settings: ImapSettings) -> imaplib.IMAP4:
    context = settings.ssl_context()
    if settings.security == "tls":
        return imaplib.IMAP4_SSL(
            settings.host, settings.port, ssl_context=context, timeout=settings.timeout
        )
    client = imaplib.IMAP4(settings.host, settings.port, timeout=settings.timeout)
    try:
        if "STARTTLS" not in client.capabilities:
            raise ConnectorConfigError(
                f"{settings.host}:{settings.port} does not offer STARTTLS; "
                'use security "tls" and its TLS port (usually 993)'
            )
        client.starttls(ssl_context=context)
    except BaseException:
        _shutdown(client)
        raise
    return client


def _login(client: imaplib.IMAP4, settings: ImapSettings) -> None:
    user, password = settings.username, settings.password
    try:
        if "LOGINDISABLED" in client.capabilities:
            raise ConnectorConfigError(f"{settings.host} refuses LOGIN on this connection")
        if user.isascii() and password.isascii():
            client.login(_quoted(user), password)
        elif "AUTH=PLAIN" in client.capabilities:
            token = f"\0{user}\0{password}".encode()
            client.authenticate("PLAIN", lambda _challenge: token)
        else:
            raise ConnectorConfigError(
                f"{settings.host} does not offer AUTH=PLAIN, needed for a non-ASCII username "
                "or password"
            )
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as exc:
        said = _said(exc)
        code = _RESPONSE_CODE.match(said)
        if code and code.group(1) in _TEMPORARY_CODES:
            raise SourceUnavailableError(f"{settings.host} cannot log in now: {said}") from exc
        raise ConnectorConfigError(
            f"IMAP login as {user!r} at {settings.host}:{settings.port} failed "
            f"(check the username and password): {said}"
        ) from exc


def _shutdown(client: imaplib.IMAP4) -> None:
    """Close the connection without a word to the server; never raise."""
    with contextlib.suppress(OSError, imaplib.IMAP4.error, ValueError):
        client.shutdown()


@contextlib.contextmanager
def _translated(settings: ImapSettings) -> Iterator[None]:
    """Turn socket, TLS and protocol errors into the connector's typed errors."""
    where = f"{settings.host}:{settings.port}"
    try:
        yield
    except ConnectorError:
        raise
    except ssl.SSLCertVerificationError as exc:
        hint = "set ca_file to its CA" if settings.ca_file is None else "check ca_file"
        raise ConnectorConfigError(
            f"the certificate of {where} is not trusted ({exc.verify_message}): {hint}"
        ) from exc
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
        raise SourceUnavailableError(f"{where} closed the TLS connection: {exc}") from exc
    except ssl.SSLError as exc:
        raise ConnectorConfigError(
            f"TLS with {where} failed ({exc.reason or exc}); check the port and security"
        ) from exc
    except TimeoutError as exc:
        raise SourceUnavailableError(
            f"{where} did not answer within {settings.timeout:g} seconds"
        ) from exc
    except OSError as exc:
        raise SourceUnavailableError(f"cannot reach IMAP server {where}: {exc}") from exc
    except imaplib.IMAP4.abort as exc:
        raise SourceUnavailableError(f"{where} dropped the connection: {_said(exc)}") from exc
    except imaplib.IMAP4.error as exc:
        raise SourceUnavailableError(f"{where} refused a command: {_said(exc)}") from exc


def _check_folder(client: imaplib.IMAP4, settings: ImapSettings, folder: str) -> None:
    typ, data = client.status(_mailbox_arg(folder), "(UIDVALIDITY)")
    if typ != "OK":
        raise ConnectorConfigError(
            f"IMAP folder {folder!r} cannot be opened at {settings.location()}: {_said(data)}"
        )


def _examine(client: imaplib.IMAP4, settings: ImapSettings, folder: str) -> tuple[int, int]:
    """Open `folder` read-only; return its UIDVALIDITY and how many messages it holds."""
    typ, data = client.select(_mailbox_arg(folder), readonly=True)
    if typ != "OK":
        raise ConnectorConfigError(
            f"IMAP folder {folder!r} cannot be opened at {settings.location()}: {_said(data)}"
        )
    exists = data[-1] if data else None
    _, values = client.response("UIDVALIDITY")
    value = values[-1] if values else None
    if not isinstance(value, bytes) or not value.strip().isdigit():
        raise SourceUnavailableError(f"{settings.location(folder)} reported no UIDVALIDITY")
    count = int(exists) if isinstance(exists, bytes) and exists.strip().isdigit() else 1
    return int(value), count


def _sizes_above(
    client: imaplib.IMAP4, settings: ImapSettings, folder: str, last_uid: int
) -> list[tuple[int, int]]:
    """Return (uid, size) of every message above `last_uid`, by UID."""
    if last_uid >= MAX_UID:
        return []
    data = _uid_fetch(client, settings, folder, f"{last_uid + 1}:*", "(UID RFC822.SIZE)")
    found: dict[int, int] = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if not isinstance(line, bytes):
            continue
        uid, size = _UID.search(line), _SIZE.search(line)
        # "n:*" names the last message even when its UID is below n.
        if uid and size and int(uid.group(1)) > last_uid:
            found[int(uid.group(1))] = int(size.group(1))
    return sorted(found.items())


def _groups(sizes: list[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    """Split (uid, size) pairs into fetches of at most FETCH_MESSAGES and FETCH_BYTES."""
    group: list[tuple[int, int]] = []
    total = 0
    for uid, size in sizes:
        fetched = size if size <= MAX_MESSAGE_BYTES else 0
        if group and (len(group) >= FETCH_MESSAGES or total + fetched > FETCH_BYTES):
            yield group
            group, total = [], 0
        group.append((uid, size))
        total += fetched
    if group:
        yield group


@dataclass(frozen=True)
class _Fetched:
    raw: bytes
    internal_date: datetime | None


def _bodies(
    client: imaplib.IMAP4, settings: ImapSettings, folder: str, uids: list[int]
) -> dict[int, _Fetched]:
    if not uids:
        return {}
    return _fetch_literals(client, settings, folder, uids, "BODY.PEEK[]")


def _bodies_or_refusals(
    session: ImapSession, folder: str, uidvalidity: int, uids: list[int]
) -> tuple[dict[int, _Fetched], dict[int, FetchRefused]]:
    """Fetch bodies; if the server refuses them, ask for each message alone, so that one
    message it cannot send (a damaged file) becomes a failure instead of a stuck sync.

    Servers refuse with NO, or (Dovecot, once it has started answering) with BYE and a
    closed connection: then the session logs in again, and a message is given up only if
    the server closes the connection on it twice. A refusal the server marks as temporary
    (RFC 5530: UNAVAILABLE, LIMIT...) is raised.
    """
    settings = session.settings
    try:
        return _bodies(session.client, settings, folder, uids), {}
    except FetchRefused as exc:
        _recover(session, exc, folder, uidvalidity)
    bodies: dict[int, _Fetched] = {}
    refused: dict[int, FetchRefused] = {}
    for uid in uids:
        for attempt in range(2):
            try:
                bodies.update(_bodies(session.client, settings, folder, [uid]))
                break
            except FetchRefused as exc:
                _recover(session, exc, folder, uidvalidity)
                if attempt or not exc.closed:
                    refused[uid] = exc
                    break
    return bodies, refused


def _recover(session: ImapSession, exc: FetchRefused, folder: str, uidvalidity: int) -> None:
    """Raise a temporary refusal; log in again if the server closed the connection."""
    if exc.temporary:
        raise exc
    if exc.closed:
        session.reopen(folder, uidvalidity)


def _fetch_literals(
    client: imaplib.IMAP4, settings: ImapSettings, folder: str, uids: list[int], item: str
) -> dict[int, _Fetched]:
    """UID FETCH `item` (a body section) of messages of at most MAX_MESSAGE_BYTES."""
    wanted = set(uids)
    data = _uid_fetch(client, settings, folder, uid_set(uids), f"(UID INTERNALDATE {item})")
    found: dict[int, _Fetched] = {}
    for index, entry in enumerate(data):
        if not isinstance(entry, tuple) or len(entry) != 2:
            continue
        head, literal = entry
        if not (isinstance(head, bytes) and isinstance(literal, bytes)):
            continue
        if not _LITERAL_AT_END.search(head):
            continue
        # imaplib splits a response at its literal: what follows it is the next entry.
        tail = data[index + 1] if index + 1 < len(data) else b""
        if not isinstance(tail, bytes) or _RESPONSE_START.match(tail):
            tail = b""
        line = head + b" " + tail
        uid = _UID.search(line)
        if uid is None or int(uid.group(1)) not in wanted:
            continue
        date = _INTERNALDATE.search(line)
        found[int(uid.group(1))] = _Fetched(
            raw=literal, internal_date=parse_internal_date(date.group(1)) if date else None
        )
    return found


def _uid_fetch(
    client: imaplib.IMAP4, settings: ImapSettings, folder: str, uids: str, items: str
) -> list[Any]:
    try:
        typ, data = client.uid("FETCH", uids, items)
    except imaplib.IMAP4.abort as exc:
        if not client.untagged_responses.get("BYE"):
            raise  # the connection broke: not the server's answer
        raise FetchRefused(
            f"{settings.location(folder)} closed the connection on UID FETCH {items}: {_said(exc)}",
            temporary=False,
            closed=True,
        ) from exc
    if typ != "OK":
        said = _said(data)
        code = _RESPONSE_CODE.match(said)
        raise FetchRefused(
            f"{settings.location(folder)} refused UID FETCH {items}: {said}",
            temporary=bool(code and code.group(1) in _TEMPORARY_CODES),
            closed=False,
        )
    return [entry for entry in data if entry is not None]


class FetchRefused(SourceUnavailableError):
    """The server would not send what a UID FETCH asked for: it answered NO, or BYE and
    closed the connection (a damaged message, or a passing limit)."""

    def __init__(self, message: str, *, temporary: bool, closed: bool) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.closed = closed


def _ids_of(
    client: imaplib.IMAP4, settings: ImapSettings, folder: str, sizes: list[tuple[int, int]]
) -> Iterator[str]:
    headers = _fetch_literals(client, settings, folder, [u for u, _ in sizes], "BODY.PEEK[HEADER]")
    need_body: list[int] = []
    for uid, size in sizes:
        if uid not in headers:
            continue
        parsed = _parse(headers[uid], folder, f"{settings.location(folder)}/;UID={uid}")
        if isinstance(parsed, SourceFailure) or parsed.document.metadata.get("message_id") is None:
            # Without a Message-ID the id is a hash of the whole message.
            if size <= MAX_MESSAGE_BYTES:
                need_body.append(uid)
            continue
        yield parsed.document.external_id
    size_of = dict(sizes)
    for group in _groups([(uid, size_of[uid]) for uid in need_body]):
        bodies = _bodies(client, settings, folder, [uid for uid, _ in group])
        for uid, fetched in bodies.items():
            parsed = _parse(fetched, folder, f"{settings.location(folder)}/;UID={uid}")
            if not isinstance(parsed, SourceFailure):
                yield parsed.document.external_id


# Messages.


def _parse(fetched: _Fetched, folder: str, where: str) -> ParsedEmail | SourceFailure:
    """Parse one fetched message as the file connector would read it from a maildir.

    IMAP sends CRLF line ends; maildir and mbox files hold LF. Converting first keeps the
    hash id of a message without Message-ID the same whichever way it was read.
    """
    raw = fetched.raw.replace(b"\r\n", b"\n")
    try:
        return parse_email(raw, container_id=folder, fallback_date=fetched.internal_date)
    except FileRejected as exc:
        return failure_from(where, exc)
    except Exception as exc:
        # A bug of ours must cost one message, not the sync: report it and go on.
        logger.exception("Unexpected error parsing %s", where)
        return failure_from(where, exc)


def parse_internal_date(value: bytes) -> datetime | None:
    """Return an IMAP INTERNALDATE (`17-Jul-1996 02:44:25 -0700`) as aware UTC, or None."""
    match = re.fullmatch(
        rb" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})", value
    )
    if match is None:
        return None
    day, month, year, hour, minute, second, zone = (g.decode() for g in match.groups())
    month_number = _MONTHS.get(month.capitalize())
    if month_number is None:
        return None
    try:
        local = datetime.strptime(
            f"{year}-{month_number:02d}-{int(day):02d} {hour}:{minute}:{second} {zone}",
            "%Y-%m-%d %H:%M:%S %z",
        )
    except ValueError:
        return None
    return local.astimezone(UTC)


# Protocol details.


def uid_set(uids: list[int]) -> str:
    """Return an IMAP sequence set for `uids`, runs written as ranges: "1:3,7,9:10"."""
    parts: list[str] = []
    ordered = sorted(set(uids))
    index = 0
    while index < len(ordered):
        end = index
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        first, last = ordered[index], ordered[end]
        parts.append(str(first) if first == last else f"{first}:{last}")
        index = end + 1
    return ",".join(parts)


def encode_folder_name(name: str) -> str:
    """Return `name` in IMAP's modified UTF-7 (RFC 3501 5.1.3): "Entwürfe" -> "Entw&APw-rfe"."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if " " <= char <= "~":
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _mailbox_arg(folder: str) -> str:
    """A folder name as an IMAP quoted string (imaplib sends arguments as given)."""
    return _quoted(encode_folder_name(folder))


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _said(value: object) -> str:
    """What the server said, from an imaplib error or a response's data, as one line."""
    if isinstance(value, BaseException):
        value = value.args[0] if value.args else str(value)
    if isinstance(value, list):
        value = b" ".join(v for v in value if isinstance(v, bytes))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return _CONTROL.sub(" ", str(value)).strip()[:500]
