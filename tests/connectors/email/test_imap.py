"""ImapConnector against a real Dovecot (marker `imap`, TEST_DOVECOT), plus its pure helpers.

Server tests each get a fresh user on one Dovecot per session; see `dovecot.py`.
"""

from __future__ import annotations

import imaplib
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from connectors import actions
from connectors.base import Connector, SourceBatch, SourceDocument
from connectors.email import imap
from connectors.email.connector import EmailFilesConnector
from connectors.email.imap import (
    ImapConnector,
    encode_folder_name,
    load_cursor,
    parse_internal_date,
    settings_from,
    uid_set,
)
from connectors.errors import ConnectorConfigError, SourceUnavailableError
from connectors.models import SyncRun
from connectors.registry import connector_class
from knowledge.models import Item
from tests.connectors.contract import ConnectorContract
from tests.connectors.email.dovecot import (  # noqa: F401 - fixtures, found by name
    HOST,
    DovecotServer,
    ImapAccount,
    dovecot_server_fixture,
    free_port,
    imap_account_fixture,
)

needs_dovecot = pytest.mark.imap


def mail(
    subject: str,
    message_id: str | None = None,
    *,
    sender: str = "ann@example.com",
    to: str = "bob@example.com",
    headers: tuple[str, ...] = (),
) -> bytes:
    lines = [f"From: Ann <{sender}>", f"To: {to}", f"Subject: {subject}"]
    lines.append("Date: Tue, 3 Jun 2025 10:00:00 +0200")
    if message_id:
        lines.append(f"Message-ID: <{message_id}>")
    lines.extend(headers)
    return ("\n".join(lines) + f"\n\nBody of {subject}.\n").encode()


def connector(account: ImapAccount, **config: object) -> ImapConnector:
    return ImapConnector(config=account.config(**config), credentials=account.credentials)


def fetch(account: ImapAccount, cursor: str | None = None, **config: object) -> list[SourceBatch]:
    return list(connector(account, **config).fetch(cursor=cursor))


def documents(batches: list[SourceBatch]) -> list[SourceDocument]:
    return [document for batch in batches for document in batch.documents]


def titles(batches: list[SourceBatch]) -> list[str]:
    return [document.title for document in documents(batches)]


# Against Dovecot.


@needs_dovecot
class TestImapContract(ConnectorContract):
    @pytest.fixture(autouse=True)
    def _mailbox(self, imap_account: ImapAccount) -> None:
        imap_account.append(
            "INBOX", mail("one", "1@example.com"), mail("two", "2@example.com"), mail("three")
        )
        self.account = imap_account

    def make_connector(self) -> Connector:
        return connector(self.account)


@needs_dovecot
def test_documents_are_the_ones_the_file_connector_reads(
    imap_account: ImapAccount, tmp_path: Path
) -> None:
    messages = [
        mail("root", "root@example.com", to="bob@example.com, Cid <cid@example.com>"),
        mail(
            "reply",
            "reply@example.com",
            sender="bob@example.com",
            headers=("In-Reply-To: <root@example.com>", "References: <root@example.com>"),
        ),
        mail("no id"),  # its id is a hash of the message: it must not depend on line ends
    ]
    imap_account.append("INBOX", *messages)
    for number, raw in enumerate(messages):
        (tmp_path / f"{number}.eml").write_bytes(raw)

    over_imap = {d.external_id: d for d in documents(fetch(imap_account))}
    from_files = {
        d.external_id: d
        for d in documents(
            list(
                EmailFilesConnector(config={"path": str(tmp_path)}, credentials={}).fetch(
                    cursor=None
                )
            )
        )
    }

    assert set(over_imap) == set(from_files)
    assert len(over_imap) == 3
    for external_id, document in over_imap.items():
        twin = from_files[external_id]
        assert (document.title, document.body, document.thread_id, document.author) == (
            twin.title,
            twin.body,
            twin.thread_id,
            twin.author,
        )
        assert document.audience == twin.audience
        assert document.container_id == "INBOX"
        assert document.metadata["folder"] == "INBOX"
    assert over_imap["reply@example.com"].thread_id == "root@example.com"
    assert {p.value for p in over_imap["root@example.com"].audience.people} == {
        "ann@example.com",
        "bob@example.com",
        "cid@example.com",
    }


@needs_dovecot
def test_folder_is_a_private_mailbox_container(imap_account: ImapAccount) -> None:
    imap_account.append("INBOX", mail("one", "1@example.com"))
    (batch,) = fetch(imap_account)
    (container,) = batch.containers
    assert (container.external_id, container.name, container.kind) == ("INBOX", "INBOX", "mailbox")
    assert container.is_private
    assert {p.ref.value for p in batch.people} == {"ann@example.com", "bob@example.com"}


@needs_dovecot
def test_next_fetch_yields_exactly_the_new_mail(imap_account: ImapAccount) -> None:
    imap_account.append("INBOX", mail("one", "1@example.com"), mail("two", "2@example.com"))
    first = fetch(imap_account)
    assert sorted(titles(first)) == ["one", "two"]
    cursor = first[-1].cursor
    uidvalidity = imap_account.uidvalidity("INBOX")
    assert json.loads(cursor) == {"INBOX": {"uidvalidity": uidvalidity, "last_uid": 2}}

    imap_account.append("INBOX", mail("three", "3@example.com"), mail("four"))
    second = fetch(imap_account, cursor)

    assert sorted(titles(second)) == ["four", "three"]
    assert json.loads(second[-1].cursor) == {"INBOX": {"uidvalidity": uidvalidity, "last_uid": 4}}
    assert not documents(fetch(imap_account, second[-1].cursor))


@needs_dovecot
def test_batches_hold_at_most_500_and_each_cursor_resumes_right_after_it(
    imap_account: ImapAccount,
) -> None:
    imap_account.append("INBOX", *(mail(f"m{n}", f"{n}@example.com") for n in range(501)))

    batches = fetch(imap_account)

    assert [len(b.documents) for b in batches] == [500, 1]
    assert json.loads(batches[0].cursor)["INBOX"]["last_uid"] == 500
    rest = fetch(imap_account, batches[0].cursor)
    assert titles(rest) == ["m500"]


@needs_dovecot
def test_small_batches_and_fetch_groups_resume_exactly(
    imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap, "MAX_BATCH_DOCUMENTS", 2)
    monkeypatch.setattr(imap, "FETCH_MESSAGES", 3)
    imap_account.append("INBOX", *(mail(f"m{n}", f"{n}@example.com") for n in range(5)))

    batches = fetch(imap_account)

    assert [titles([b]) for b in batches] == [["m0", "m1"], ["m2", "m3"], ["m4"]]
    for index, batch in enumerate(batches[:-1]):
        later = [t for b in batches[index + 1 :] for t in titles([b])]
        assert titles(fetch(imap_account, batch.cursor)) == later


@needs_dovecot
def test_a_new_uidvalidity_reads_the_folder_again(imap_account: ImapAccount) -> None:
    imap_account.create_folder("Archive")
    imap_account.append("Archive", mail("old one", "1@example.com"), mail("old two"))
    cursor = fetch(imap_account, folders=["Archive"])[-1].cursor
    before = imap_account.uidvalidity("Archive")

    # Recreated: the new messages get UIDs 1 and 2 again, under another UIDVALIDITY.
    imap_account.delete_folder("Archive")
    imap_account.create_folder("Archive")
    imap_account.append("Archive", mail("old one", "1@example.com"), mail("new"))
    after = imap_account.uidvalidity("Archive")
    assert after != before

    batches = fetch(imap_account, cursor, folders=["Archive"])

    assert sorted(titles(batches)) == ["new", "old one"]
    assert json.loads(batches[-1].cursor) == {"Archive": {"uidvalidity": after, "last_uid": 2}}


@needs_dovecot
def test_only_the_configured_folders_are_read(imap_account: ImapAccount) -> None:
    projects = "Projets Été & co"  # a space, non-ASCII and "&": modified UTF-7, quoted
    imap_account.create_folder(projects)
    imap_account.create_folder("Spam")
    imap_account.append("INBOX", mail("in inbox", "1@example.com"))
    imap_account.append(projects, mail("in projects", "2@example.com"))
    imap_account.append("Spam", mail("in spam", "3@example.com"))

    default = fetch(imap_account)
    both = fetch(imap_account, folders=["INBOX", projects])

    assert titles(default) == ["in inbox"]
    assert {d.title: d.container_id for d in documents(both)} == {
        "in inbox": "INBOX",
        "in projects": projects,
    }
    assert {c.external_id for b in both for c in b.containers} == {"INBOX", projects}
    assert json.loads(both[-1].cursor).keys() == {"INBOX", projects}
    # A folder dropped from the config is dropped from the cursor; the other resumes.
    assert not documents(fetch(imap_account, both[-1].cursor, folders=[projects]))


@needs_dovecot
def test_a_message_in_two_folders_is_one_document(imap_account: ImapAccount) -> None:
    imap_account.create_folder("Archive")
    imap_account.append("INBOX", mail("copied", "1@example.com"))
    imap_account.append("Archive", mail("copied", "1@example.com"))

    found = documents(fetch(imap_account, folders=["INBOX", "Archive"]))

    assert [(d.external_id, d.container_id) for d in found] == [("1@example.com", "INBOX")]
    ids = list(connector(imap_account, folders=["INBOX", "Archive"]).list_external_ids())
    assert ids == ["1@example.com"]


@needs_dovecot
def test_a_missing_folder_is_a_config_error_before_anything_is_read(
    imap_account: ImapAccount,
) -> None:
    imap_account.append("INBOX", mail("one", "1@example.com"))
    batches: list[SourceBatch] = []
    with pytest.raises(ConnectorConfigError, match="'Nowhere'"):
        batches.extend(connector(imap_account, folders=["INBOX", "Nowhere"]).fetch(cursor=None))
    assert batches == []
    with pytest.raises(ConnectorConfigError, match="'Nowhere'"):
        list(connector(imap_account, folders=["Nowhere"]).list_external_ids())


@needs_dovecot
def test_reading_never_sets_the_seen_flag(imap_account: ImapAccount) -> None:
    unread, other = imap_account.append("INBOX", mail("unread", "1@example.com"), mail("other"))
    (flagged,) = imap_account.append(
        "INBOX", mail("flagged", "3@example.com"), flags=r"(\Seen \Flagged)"
    )

    assert len(documents(fetch(imap_account))) == 3
    assert len(list(connector(imap_account).list_external_ids())) == 3

    assert r"\Seen" not in imap_account.flags("INBOX", unread)
    assert r"\Seen" not in imap_account.flags("INBOX", other)
    assert {r"\Seen", r"\Flagged"} <= imap_account.flags("INBOX", flagged)


@needs_dovecot
def test_an_unparseable_message_is_a_failure_and_the_rest_goes_on(
    imap_account: ImapAccount,
) -> None:
    imap_account.append(
        "INBOX",
        mail("before", "1@example.com"),
        b"X-Nothing: at all\n\nnot an email\n",
        mail("after", "3@example.com"),
    )

    batches = fetch(imap_account)

    assert titles(batches) == ["before", "after"]
    (failure,) = [f for b in batches for f in b.failures]
    assert failure.error_type == "CorruptFile"
    assert failure.path.startswith(f"imap://{imap_account.username}@{HOST}:")
    assert failure.path.endswith(
        "/INBOX;UIDVALIDITY=" + str(imap_account.uidvalidity("INBOX")) + "/;UID=2"
    )
    # It is not read again: the cursor is past it.
    again = fetch(imap_account, batches[-1].cursor)
    assert not documents(again)
    assert not [f for b in again for f in b.failures]


@needs_dovecot
def test_a_message_the_server_cannot_send_is_a_failure_and_the_rest_goes_on(
    imap_account: ImapAccount,
) -> None:
    imap_account.append(
        "INBOX", mail("m0", "0@example.com"), mail("unreadable"), mail("m2", "2@example.com")
    )
    maildir = imap_account.server.root / "home" / imap_account.username / "Maildir"
    (damaged,) = [
        path
        for path in maildir.glob("*/*")
        if path.parent.name in ("cur", "new") and b"Subject: unreadable" in path.read_bytes()
    ]
    damaged.chmod(0)  # Dovecot (never root) can no longer open it, and says BYE

    batches = fetch(imap_account)

    assert titles(batches) == ["m0", "m2"]
    (failure,) = [f for b in batches for f in b.failures]
    assert failure.error_type == "FetchRefused"
    assert "closed the connection" in failure.message
    assert failure.path.endswith("/;UID=2")
    assert json.loads(batches[-1].cursor)["INBOX"]["last_uid"] == 3
    with pytest.raises(SourceUnavailableError):  # pruning needs every id, or none
        list(connector(imap_account).list_external_ids())


@needs_dovecot
def test_messages_parsed_in_the_sandbox_leave_the_connection_usable(
    imap_account: ImapAccount, settings: Settings
) -> None:
    # Every message is parsed in a forked child that inherits the TLS socket.
    settings.CONNECTORS_SANDBOX_MIN_BYTES = 1
    imap_account.append("INBOX", *(mail(f"m{n}", f"{n}@example.com") for n in range(3)))

    batches = fetch(imap_account)

    assert titles(batches) == ["m0", "m1", "m2"]
    assert not [f for b in batches for f in b.failures]


@needs_dovecot
def test_an_oversized_message_is_a_failure_without_being_downloaded(
    imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    imap_account.append("INBOX", mail("small", "1@example.com"))
    imap_account.append("INBOX", mail("large", "2@example.com", headers=("X-Pad: " + "x" * 900,)))
    monkeypatch.setattr(imap, "MAX_MESSAGE_BYTES", 600)
    fetched: list[list[int]] = []
    real_bodies = imap._bodies

    def spy(
        client: imaplib.IMAP4, settings: imap.ImapSettings, folder: str, uids: list[int]
    ) -> dict[int, Any]:
        fetched.append(list(uids))
        return real_bodies(client, settings, folder, uids)

    monkeypatch.setattr(imap, "_bodies", spy)

    batches = fetch(imap_account)

    assert titles(batches) == ["small"]
    (failure,) = [f for b in batches for f in b.failures]
    assert failure.error_type == "LimitExceeded"
    assert fetched == [[1]]


@needs_dovecot
def test_a_deleted_message_disappears_from_list_external_ids(imap_account: ImapAccount) -> None:
    _, second, third = imap_account.append(
        "INBOX", mail("one", "1@example.com"), mail("two", "2@example.com"), mail("no id")
    )
    listed = list(connector(imap_account).list_external_ids())
    fetched = [d.external_id for d in documents(fetch(imap_account))]
    assert sorted(listed) == sorted(fetched)
    assert len(listed) == 3

    imap_account.expunge("INBOX", second)
    imap_account.expunge("INBOX", third)

    assert list(connector(imap_account).list_external_ids()) == ["1@example.com"]


@needs_dovecot
def test_a_wrong_password_is_a_config_error(imap_account: ImapAccount) -> None:
    wrong = ImapConnector(config=imap_account.config(), credentials={"password": "wrong"})
    with pytest.raises(ConnectorConfigError, match=f"login as '{imap_account.username}'"):
        list(wrong.fetch(cursor=None))
    with pytest.raises(ConnectorConfigError, match="login"):
        list(wrong.list_external_ids())


@needs_dovecot
def test_a_non_ascii_password_logs_in(dovecot_server: DovecotServer) -> None:
    account = dovecot_server.add_user(password="mot de passe été")
    account.append("INBOX", mail("one", "1@example.com"))
    assert titles(fetch(account)) == ["one"]


@needs_dovecot
def test_starttls_mode_upgrades_before_logging_in(imap_account: ImapAccount) -> None:
    imap_account.append("INBOX", mail("one", "1@example.com"))
    server = imap_account.server

    batches = fetch(imap_account, security="starttls", port=server.starttls_port)

    assert titles(batches) == ["one"]
    logins = [
        line
        for line in server.log_file.read_text().splitlines()
        if f"Login: user=<{imap_account.username}>" in line
    ]
    assert logins
    assert all(", TLS," in line for line in logins), logins


@needs_dovecot
def test_tls_against_the_starttls_port_is_a_config_error(imap_account: ImapAccount) -> None:
    with pytest.raises(ConnectorConfigError, match="check the port and security"):
        list(connector(imap_account, port=imap_account.server.starttls_port).fetch(cursor=None))


@needs_dovecot
def test_an_untrusted_certificate_is_a_config_error(imap_account: ImapAccount) -> None:
    config = imap_account.config()
    del config["ca_file"]
    untrusting = ImapConnector(config=config, credentials=imap_account.credentials)
    with pytest.raises(ConnectorConfigError, match="not trusted"):
        list(untrusting.fetch(cursor=None))


@needs_dovecot
def test_run_sync_stores_the_mail_once(imap_account: ImapAccount, db: None) -> None:
    imap_account.append("INBOX", mail("one", "1@example.com"), mail("two"))
    source = actions.create_source(
        name="team mailbox",
        kind="imap",
        config=imap_account.config(),
        credentials=imap_account.credentials,
    )
    assert imap_account.password not in json.dumps(source.config)

    first = actions.run_sync(source=source)
    source.refresh_from_db()
    second = actions.run_sync(source=source)
    source.refresh_from_db()
    imap_account.append("INBOX", mail("three", "3@example.com"))
    third = actions.run_sync(source=source)

    assert (first.status, first.items_created) == (SyncRun.Status.SUCCEEDED, 2)
    assert (second.status, second.items_created, second.items_updated) == (
        SyncRun.Status.SUCCEEDED,
        0,
        0,
    )
    assert (third.items_created, third.items_updated) == (1, 0)
    stored = Item.objects.filter(source=source)
    assert sorted(stored.values_list("title", flat=True)) == ["one", "three", "two"]
    assert set(stored.values_list("container__external_id", flat=True)) == {"INBOX"}


# Without a server.


def test_nothing_listening_is_unavailable_at_once() -> None:
    config = {"host": HOST, "port": free_port(), "username": "u", "timeout": 30}
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError, match="cannot reach"):
        list(ImapConnector(config=config, credentials={"password": "p"}).fetch(cursor=None))
    assert time.monotonic() - started < 5


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(5)
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_a_silent_server_times_out_instead_of_hanging(silent_port: int, security: str) -> None:
    config = {
        "host": HOST,
        "port": silent_port,
        "username": "u",
        "security": security,
        "timeout": 1,
    }
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError, match="did not answer within 1 seconds"):
        list(ImapConnector(config=config, credentials={"password": "p"}).fetch(cursor=None))
    assert time.monotonic() - started < 5


def test_the_registry_knows_imap() -> None:
    assert connector_class("imap") is ImapConnector


@pytest.mark.parametrize(
    ("config", "credentials", "message"),
    [
        ({"username": "u"}, {"password": "p"}, "needs 'host'"),
        ({"host": "h"}, {"password": "p"}, "needs 'username'"),
        ({"host": "h", "username": "u"}, {}, "password"),
        ({"host": "h", "username": "u", "security": "plain"}, {"password": "p"}, "no plaintext"),
        ({"host": "h", "username": "u", "port": "993"}, {"password": "p"}, "port"),
        ({"host": "h", "username": "u", "folders": "INBOX"}, {"password": "p"}, "folders"),
        ({"host": "h", "username": "u", "folders": []}, {"password": "p"}, "folders"),
        ({"host": "h", "username": "u", "folders": ["A", "A"]}, {"password": "p"}, "twice"),
        ({"host": "h", "username": "u", "ca_file": "/nonexistent"}, {"password": "p"}, "ca_file"),
        ({"host": "h", "username": "u", "timeout": 0}, {"password": "p"}, "timeout"),
        ({"host": "h", "username": "u\r\nA1 DELETE INBOX"}, {"password": "p"}, "control"),
        ({"host": "h", "username": "u"}, {"password": "p\r\nx"}, "control"),
        ({"host": "h", "username": "u", "hots": "x"}, {"password": "p"}, "unknown"),
    ],
)
def test_validate_names_the_bad_setting(
    config: dict[str, object], credentials: dict[str, str], message: str
) -> None:
    with pytest.raises(ConnectorConfigError, match=message):
        ImapConnector(config=config, credentials=credentials).validate()


def test_validate_fills_in_defaults_and_makes_no_connection() -> None:
    settings = settings_from({"host": "mail.example.com", "username": "u"}, {"password": "s3cr3t"})
    assert (settings.port, settings.security, settings.folders) == (993, "tls", ("INBOX",))
    assert "s3cr3t" not in repr(settings)
    starttls = settings_from(
        {"host": "h", "username": "u", "security": "starttls"}, {"password": "p"}
    )
    assert starttls.port == 143


def test_a_malformed_cursor_reads_everything_again() -> None:
    folders = ("INBOX", "Sent")
    assert load_cursor("not json", folders) == {}
    assert load_cursor("[1]", folders) == {}
    state = load_cursor(
        '{"INBOX": {"uidvalidity": 7, "last_uid": 3}, "Sent": {"uidvalidity": "x"}, "Old": {}}',
        folders,
    )
    assert state == {"INBOX": imap.FolderState(7, 3)}


def test_folder_names_are_modified_utf7() -> None:
    assert encode_folder_name("INBOX") == "INBOX"
    assert encode_folder_name("Tom & Jerry") == "Tom &- Jerry"
    assert encode_folder_name("Entwürfe") == "Entw&APw-rfe"
    # RFC 3501 section 5.1.3's example.
    assert encode_folder_name("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"


def test_uid_sets_compress_runs() -> None:
    assert uid_set([5, 1, 2, 3, 9, 10, 7]) == "1:3,5,7,9:10"
    assert uid_set([4]) == "4"


def test_internal_dates_parse_to_utc() -> None:
    assert parse_internal_date(b"17-Jul-1996 02:44:25 -0700") == datetime(
        1996, 7, 17, 9, 44, 25, tzinfo=UTC
    )
    assert parse_internal_date(b" 3-Jan-2024 00:00:00 +0100") == datetime(
        2024, 1, 2, 23, 0, tzinfo=UTC
    )
    assert parse_internal_date(b"yesterday") is None
    assert parse_internal_date(b"31-Feb-2024 00:00:00 +0000") is None
