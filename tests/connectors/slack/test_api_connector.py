"""SlackApiConnector against a local fake of the Slack Web API, through slack-sdk's WebClient.

Nothing of ours is mocked: the connector, its client and slack-sdk run as in production; only
Slack itself is replaced by `FakeSlack`, an HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from connectors.base import Audience, Connector, PersonRef, SourceBatch
from connectors.errors import ConnectorConfigError, ConnectorError, SourceUnavailableError
from connectors.registry import connector_class
from connectors.slack.api import BOT_SCOPES, ApiLimits, SlackApiConnector
from connectors.slack.client import SlackChannelError, SlackScopeError
from tests.connectors.contract import ConnectorContract
from tests.connectors.slack.builders import by_id, documents, write_export
from tests.connectors.slack.builders import fetch as fetch_export
from tests.connectors.slack.fake_slack import BOT_USER, TEAM_ID, TOKEN, FakeSlack

MANIFEST = Path(__file__).resolve().parents[3] / "connectors" / "slack" / "manifest.yml"


def ref(user_id: str) -> PersonRef:
    return PersonRef("slack", f"{TEAM_ID}/{user_id}")


@dataclasses.dataclass
class Acme:
    """Ids of the workspace `acme` builds."""

    general: str
    secret: str
    group_dm: str
    dm: str
    root: str
    replies: tuple[str, str]
    snippet: str


def acme(slack: FakeSlack) -> Acme:
    """A small workspace: a public and a private channel, a group DM and a DM with the app,
    a thread with a broadcast reply, a bot post, a snippet and a join."""
    slack.add_user("UALICE001", "alice", real_name="Alice Archer", email="Alice@Acme.test")
    slack.add_user("UBOB00001", "bob", real_name="Bob Baker", email="bob@acme.test")
    slack.add_user("UCAROL001", "carol", deleted=True)
    general = slack.add_channel("general", members=["UALICE001", "UBOB00001"], topic="all")
    secret = slack.add_channel("secret", members=["UALICE001"], kind="private_channel")
    group_dm = slack.add_channel(
        "mpdm-alice--bob--carol-1", members=["UALICE001", "UBOB00001", "UCAROL001"], kind="mpim"
    )
    dm = slack.add_channel("", members=["UBOB00001"], kind="im")
    slack.post(general, "UBOB00001", "<@UBOB00001> has joined the channel", subtype="channel_join")
    slack.post(general, "UALICE001", "hello <!here>, see <#G00000002|secret>")
    root = slack.post(general, "UBOB00001", "how do we rotate the keys, <@UALICE001>?")
    first = slack.post(general, "UALICE001", "with the runbook", thread_ts=root)
    second = slack.post(general, "UBOB00001", "done &amp; dusted", thread_ts=root, broadcast=True)
    slack.post(
        general,
        None,
        "",
        subtype="bot_message",
        bot_id="B0DEPLOY1",
        username="deploybot",
        attachments=[{"fallback": "deploy <http://ci/1|#1> passed"}],
    )
    snippet = slack.post(
        general,
        "UALICE001",
        "the script",
        files=[{"id": "F0SNIPPET", "name": "rotate.sh", "title": "Rotate", "preview": "vault x"}],
    )
    slack.post(secret, "UALICE001", "The merger closes Friday")
    slack.post(secret, "UALICE001", "keep it quiet")
    slack.post(group_dm, "UCAROL001", "lunch?")
    slack.post(dm, "UBOB00001", "remind me to rotate the keys")
    return Acme(general, secret, group_dm, dm, root, (first, second), snippet)


def connector(slack: FakeSlack, **config: Any) -> SlackApiConnector:
    return SlackApiConnector(
        config={"base_url": slack.base_url, **config}, credentials={"token": TOKEN}
    )


def fetch(slack: FakeSlack, cursor: str | None = None, **config: Any) -> list[SourceBatch]:
    return list(connector(slack, **config).fetch(cursor=cursor))


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def ids(slack: FakeSlack) -> Acme:
    return acme(slack)


class TestSlackApiContract(ConnectorContract):
    @pytest.fixture(autouse=True)
    def _workspace(self, slack: FakeSlack) -> None:
        acme(slack)
        self.slack = slack

    def make_connector(self) -> Connector:
        return connector(self.slack)


def test_registry_knows_the_slack_kind() -> None:
    assert connector_class("slack") is SlackApiConnector


# --- reading -----------------------------------------------------------------------------


def test_pagination_collects_every_page(slack: FakeSlack, ids: Acme) -> None:
    slack.add_user("UDAVE0001", "dave")
    for n in range(7):
        slack.post(ids.general, "UBOB00001", f"message {n}")
    batches = fetch(slack)
    found = by_id(batches)
    assert {f"{ids.general}/{ts}" for ts in (ids.root, *ids.replies, ids.snippet)} <= set(found)
    assert sum(doc.body.startswith("message ") for doc in found.values()) == 7
    # Two items a page: every list was read page by page, each page asked with its cursor.
    history = [c for c in slack.calls_of("conversations.history") if c["channel"] == ids.general]
    assert len(history) > 5
    assert all("cursor" in call for call in history[1:])
    assert len(slack.calls_of("users.list")) == 3  # 5 users, the app's own bot too
    assert len(batches[0].people) == 5
    assert {c.external_id for c in batches[0].containers} == {
        ids.general,
        ids.secret,
        ids.group_dm,
        ids.dm,
    }


def test_people_carry_their_profiles(slack: FakeSlack, ids: Acme) -> None:
    people = {person.ref: person for person in fetch(slack)[0].people}
    alice = people[ref("UALICE001")]
    assert (alice.display_name, alice.real_name, alice.email) == (
        "alice",
        "Alice Archer",
        "alice@acme.test",
    )
    assert people[ref("UCAROL001")].is_deleted
    assert people[ref(BOT_USER)].is_bot


def test_messages_render_like_the_export(slack: FakeSlack, ids: Acme) -> None:
    batches = fetch(slack)
    found = by_id(batches)
    question = found[f"{ids.general}/{ids.root}"]
    assert question.body == "how do we rotate the keys, @alice?"
    assert question.metadata["mentions"] == [f"{TEAM_ID}/UALICE001"]
    assert (
        question.url
        == f"https://acme.slack.com/archives/{ids.general}/p{ids.root.replace('.', '')}"
    )
    assert question.author == ref("UBOB00001")
    assert question.created_at.tzinfo is UTC
    hello = next(doc for doc in found.values() if doc.body.startswith("hello"))
    assert hello.body == "hello @here, see #secret"
    # System messages (joins) are no documents.
    assert not any("has joined" in doc.body for doc in found.values())


def test_bot_posts_are_authored_by_a_named_bot(slack: FakeSlack, ids: Acme) -> None:
    batches = fetch(slack)
    post = next(doc for doc in documents(batches) if "deploy" in doc.body)
    assert post.author == ref("B0DEPLOY1")
    assert post.body == "deploy #1 (http://ci/1) passed"
    bots = {person.ref: person for batch in batches for person in batch.people if person.is_bot}
    assert bots[ref("B0DEPLOY1")].display_name == "deploybot"


def test_shared_text_files_bring_their_preview(slack: FakeSlack, ids: Acme) -> None:
    document = by_id(fetch(slack))[f"{ids.general}/{ids.snippet}"]
    assert document.body == "the script\nFile: Rotate (rotate.sh)\nvault x"
    assert document.metadata["files"] == ["rotate.sh"]


def test_file_stubs_are_looked_up_with_files_info(slack: FakeSlack, ids: Acme) -> None:
    slack.add_file("F0REMOTE1", name="notes.txt", title="Notes", preview="step one: drain")
    ts = slack.post(
        ids.general,
        "UBOB00001",
        "from the partner",
        files=[{"id": "F0REMOTE1", "file_access": "check_file_info"}],
    )
    document = by_id(fetch(slack))[f"{ids.general}/{ts}"]
    assert document.body == "from the partner\nFile: Notes (notes.txt)\nstep one: drain"
    assert [call["file"] for call in slack.calls_of("files.info")] == ["F0REMOTE1"]


def test_thread_replies_are_keyed_to_their_root(slack: FakeSlack, ids: Acme) -> None:
    found = by_id(fetch(slack))
    root_id = f"{ids.general}/{ids.root}"
    replies = [found[f"{ids.general}/{ts}"] for ts in ids.replies]
    assert found[root_id].thread_id == root_id
    assert found[root_id].metadata["reply_count"] == 2
    assert [reply.thread_id for reply in replies] == [root_id, root_id]
    assert [reply.body for reply in replies] == ["with the runbook", "done & dusted"]
    assert replies[1].metadata["is_broadcast"] is True
    assert replies[0].url == (
        f"https://acme.slack.com/archives/{ids.general}/p{ids.replies[0].replace('.', '')}"
        f"?thread_ts={ids.root}&cid={ids.general}"
    )


def test_audiences_follow_channel_membership(slack: FakeSlack, ids: Acme) -> None:
    batches = fetch(slack)
    containers = {container.external_id: container for container in batches[0].containers}
    assert containers[ids.general].kind == "channel"
    assert not containers[ids.general].is_private
    secret = containers[ids.secret]
    assert (secret.kind, secret.is_private) == ("private_channel", True)
    assert secret.members == (ref("UALICE001"), ref(BOT_USER))
    assert containers[ids.group_dm].kind == "mpim"
    assert containers[ids.group_dm].name == "Group DM: alice, bob, carol, colleague"
    assert containers[ids.dm].kind == "dm"
    assert set(containers[ids.dm].members) == {ref("UBOB00001"), ref(BOT_USER)}
    for document in documents(batches):
        if document.container_id == ids.general:
            assert document.audience == Audience(public=True)
        else:
            assert document.audience == Audience(containers=(document.container_id,))
            assert not document.audience.public


def test_api_and_export_of_one_workspace_give_the_same_items(
    slack: FakeSlack, ids: Acme, tmp_path: Path
) -> None:
    from_api = fetch(slack)
    from_export = fetch_export(
        export_of(slack, tmp_path / "export"), workspace_url="https://acme.slack.com"
    )
    assert by_id(from_api) == by_id(from_export)
    assert set(from_api[0].containers) == set(from_export[0].containers)
    api_people = {person for batch in from_api for person in batch.people}
    assert api_people == {person for batch in from_export for person in batch.people}


# --- incremental syncs -------------------------------------------------------------------


def test_an_incremental_run_yields_only_new_messages(slack: FakeSlack, ids: Acme) -> None:
    first = fetch(slack)
    new = [
        slack.post(ids.general, "UALICE001", "new one"),
        slack.post(ids.secret, "UALICE001", "x"),
    ]
    second = fetch(slack, cursor=first[-1].cursor)
    assert [doc.external_id for doc in documents(second)] == [
        f"{ids.general}/{new[0]}",
        f"{ids.secret}/{new[1]}",
    ]
    # Slack was asked only for what is recent, by timestamp.
    assert all("oldest" in call for call in slack.calls_of("conversations.history")[-4:])
    assert not documents(fetch(slack, cursor=second[-1].cursor))


def test_an_edit_updates_the_message(slack: FakeSlack, ids: Acme) -> None:
    cursor = fetch(slack)[-1].cursor
    edited_ts = slack.edit(ids.general, ids.root, "how do we rotate the TLS keys?")
    (document,) = documents(fetch(slack, cursor=cursor))
    assert document.external_id == f"{ids.general}/{ids.root}"
    assert document.body == "how do we rotate the TLS keys?"
    assert document.updated_at == datetime.fromtimestamp(int(Decimal(edited_ts)), tz=UTC)
    assert document.updated_at > document.created_at
    assert document.metadata["edited"] is True


def test_a_new_reply_to_an_earlier_thread_is_found(slack: FakeSlack, ids: Acme) -> None:
    cursor = fetch(slack)[-1].cursor
    reply = slack.post(ids.general, "UALICE001", "one more thing", thread_ts=ids.root)
    found = documents(fetch(slack, cursor=cursor))
    assert [doc.external_id for doc in found] == [f"{ids.general}/{reply}"]
    assert found[0].thread_id == f"{ids.general}/{ids.root}"


def test_a_deleted_message_is_no_longer_listed(slack: FakeSlack, ids: Acme) -> None:
    before = set(connector(slack).list_external_ids())
    assert f"{ids.general}/{ids.snippet}" in before
    slack.delete(ids.general, ids.snippet)
    slack.delete(ids.general, ids.root)  # a root with replies: a tombstone stays
    after = set(connector(slack).list_external_ids())
    assert before - after == {f"{ids.general}/{ids.snippet}", f"{ids.general}/{ids.root}"}
    assert {f"{ids.general}/{ts}" for ts in ids.replies} <= after
    assert f"{ids.general}/{ids.root}" not in by_id(fetch(slack))


def test_someone_leaving_a_private_channel_loses_it_on_the_next_run(
    slack: FakeSlack, ids: Acme
) -> None:
    slack.members[ids.secret].append("UBOB00001")
    cursor = fetch(slack)[-1].cursor
    slack.members[ids.secret].remove("UBOB00001")
    containers = {c.external_id: c for c in fetch(slack, cursor=cursor)[0].containers}
    assert ref("UBOB00001") not in containers[ids.secret].members


class _SmallBatches(SlackApiConnector):
    limits: ClassVar[ApiLimits] = ApiLimits(max_batch_documents=3)


def test_batches_are_bounded_and_every_cursor_resumes_exactly(slack: FakeSlack, ids: Acme) -> None:
    for n in range(8):
        slack.post(ids.general, "UBOB00001", f"message {n}")
    config = {"base_url": slack.base_url}
    credentials = {"token": TOKEN}
    batches = list(_SmallBatches(config=config, credentials=credentials).fetch(cursor=None))
    assert max(len(batch.documents) for batch in batches) == 3
    everything = [doc.external_id for doc in documents(batches)]
    assert len(everything) == len(set(everything)) == 18
    for crashed_after in range(len(batches)):
        cursor = batches[crashed_after].cursor
        rest = _SmallBatches(config=config, credentials=credentials).fetch(cursor=cursor)
        done = everything[: sum(len(b.documents) for b in batches[: crashed_after + 1])]
        assert done + [doc.external_id for doc in documents(rest)] == everything


# --- rate limits, outages and errors -------------------------------------------------------


def test_a_429_is_retried_after_the_time_slack_asks(slack: FakeSlack, ids: Acme) -> None:
    slack.rate_limit("conversations.history", times=1, retry_after=1)
    started = time.monotonic()
    batches = fetch(slack)
    assert time.monotonic() - started >= 1
    assert f"{ids.general}/{ids.root}" in by_id(batches)
    first_two = slack.calls_of("conversations.history")[:2]
    assert first_two[0] == first_two[1]  # the same request, retried


def test_a_method_that_stays_rate_limited_ends_as_unavailable(slack: FakeSlack) -> None:
    acme(slack)
    slack.rate_limit("users.list", times=None, retry_after=1)
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError, match=r"rate-limiting users\.list"):
        fetch(slack)
    assert 3 <= time.monotonic() - started < 30  # three waits of a second, then it gives up
    assert len(slack.calls_of("users.list")) == 4


def test_a_wait_longer_than_allowed_fails_at_once(slack: FakeSlack) -> None:
    acme(slack)
    slack.rate_limit("conversations.list", times=None, retry_after=3600)
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError, match="wait 3600 s"):
        fetch(slack)
    assert time.monotonic() - started < 5


def test_server_errors_are_retried_then_unavailable(slack: FakeSlack, ids: Acme) -> None:
    slack.unavailable("users.list", times=1)
    assert documents(fetch(slack))
    slack.unavailable("users.list", times=None)
    with pytest.raises(SourceUnavailableError, match="HTTP 503"):
        fetch(slack)


def test_unreachable_slack_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = SlackApiConnector(
        config={"base_url": f"http://127.0.0.1:{port}/api/"}, credentials={"token": TOKEN}
    )
    with pytest.raises(SourceUnavailableError, match="cannot reach Slack"):
        list(api.fetch(cursor=None))


def test_missing_scope_names_the_scope_to_add(slack: FakeSlack, ids: Acme) -> None:
    slack.scopes.discard("groups:history")
    with pytest.raises(SlackScopeError) as caught:
        fetch(slack)
    assert isinstance(caught.value, ConnectorConfigError)
    assert caught.value.needed == "groups:history"
    assert "lacks the scope groups:history" in str(caught.value)
    assert "leave private_channel out of the source's channel_types" in str(caught.value)
    # Without private channels, the rest is read.
    types = ["public_channel", "mpim", "im"]
    assert ids.secret not in {
        doc.container_id for doc in documents(fetch(slack, channel_types=types))
    }


def test_without_the_email_scope_people_come_without_email(slack: FakeSlack, ids: Acme) -> None:
    slack.scopes.discard("users:read.email")
    people = {person.ref: person for person in fetch(slack)[0].people}
    assert people[ref("UALICE001")].email == ""


def test_not_in_channel_skips_that_channel_only(slack: FakeSlack, ids: Acme) -> None:
    slack.fail("conversations.history", "not_in_channel", channel=ids.general)
    batches = fetch(slack)
    failures = [failure for batch in batches for failure in batch.failures]
    assert [(f.path, f.error_type) for f in failures] == [
        (f"slack:#general ({ids.general})", "SlackChannelError")
    ]
    assert "invite the app to #general" in failures[0].message
    containers = {doc.container_id for doc in documents(batches)}
    assert containers == {ids.secret, ids.group_dm, ids.dm}
    # Its ids cannot be listed, so nothing may be pruned.
    with pytest.raises(SlackChannelError, match="not_in_channel"):
        list(connector(slack).list_external_ids())


def test_public_channels_the_app_is_not_in_are_reported_not_read(
    slack: FakeSlack, ids: Acme
) -> None:
    slack.add_channel("watercooler", members=["UALICE001"], bot_is_member=False)
    batches = fetch(slack)
    (failure,) = batches[0].failures
    assert "#watercooler" in failure.message
    assert "Invite it" in failure.message
    read = {call["channel"] for call in slack.calls_of("conversations.history")}
    assert read == {ids.general, ids.secret, ids.group_dm, ids.dm}


@pytest.mark.parametrize(
    "error", ["invalid_auth", "not_authed", "account_inactive", "token_revoked"]
)
def test_a_refused_token_is_a_config_error(slack: FakeSlack, error: str) -> None:
    acme(slack)
    slack.fail("auth.test", error)
    with pytest.raises(ConnectorConfigError, match=error) as caught:
        fetch(slack)
    assert TOKEN not in str(caught.value)


def test_a_wrong_token_is_refused_by_slack(slack: FakeSlack) -> None:
    acme(slack)
    api = SlackApiConnector(
        config={"base_url": slack.base_url}, credentials={"token": "xoxb-9999-wrong-token"}
    )
    with pytest.raises(ConnectorConfigError, match="invalid_auth"):
        list(api.fetch(cursor=None))


# --- config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "credentials", "message"),
    [
        ({}, {}, "credentials need `token`"),
        ({}, {"token": "xoxp-1234-user-token"}, "not a Slack bot token"),
        ({}, {"token": "xoxb-short"}, "not a Slack bot token"),
        ({"channel_types": ["public_channel", "shared"]}, {"token": TOKEN}, "not known"),
        ({"channel_types": 3}, {"token": TOKEN}, "must be a list"),
        ({"base_url": "http://slack.example.com/api/"}, {"token": TOKEN}, "must use https"),
        ({"base_url": "ftp://x/"}, {"token": TOKEN}, "base_url"),
        ({"workspace_url": "acme.slack.com"}, {"token": TOKEN}, "workspace_url"),
        ({"lookback_days": -1}, {"token": TOKEN}, "lookback_days"),
    ],
)
def test_validate_refuses_bad_config(
    config: dict[str, Any], credentials: dict[str, str], message: str
) -> None:
    with pytest.raises(ConnectorConfigError, match=message) as caught:
        SlackApiConnector(config=config, credentials=credentials).validate()
    assert "xoxp-1234" not in str(caught.value)


def test_validate_accepts_a_bot_token_and_a_comma_separated_type_list() -> None:
    SlackApiConnector(
        config={"channel_types": "public_channel, im", "base_url": "https://slack.com/api/"},
        credentials={"token": "xoxe.xoxb-1-abcdefghijkl"},
    ).validate()


@pytest.mark.parametrize(
    "cursor", ["{", "[]", '{"channels": {"C1": "yesterday"}}', '{"channels": {"../x": "1.0"}}']
)
def test_a_malformed_cursor_is_a_config_error(slack: FakeSlack, cursor: str) -> None:
    with pytest.raises(ConnectorConfigError, match="cursor"):
        fetch(slack, cursor=cursor)


def test_the_manifest_asks_for_exactly_the_scopes_used() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES
    assert "user" not in manifest["oauth_config"]["scopes"]


def test_every_error_is_a_connector_error() -> None:
    assert issubclass(SlackChannelError, ConnectorError)
    assert issubclass(SlackScopeError, ConnectorConfigError)


# --- end to end, through run_sync and the database -------------------------------------------


@pytest.mark.django_db
def test_run_sync_stores_the_workspace_then_nothing_new_then_prunes(
    slack: FakeSlack, ids: Acme
) -> None:
    from connectors.actions import create_source, prune_source, run_sync
    from knowledge.models import Container, Item

    source = create_source(
        name="acme slack",
        kind="slack",
        config={"base_url": slack.base_url, "channel_types": ["public_channel", "private_channel"]},
        credentials={"token": TOKEN},
    )
    run = run_sync(source=source)
    assert run.status == "succeeded", run.error
    stored = Item.objects.filter(source=source)
    assert run.items_created == stored.count() == 8
    secret = Container.objects.get(source=source, external_id=ids.secret)
    assert secret.is_private
    assert stored.filter(container=secret).count() == 2
    again = run_sync(source=source)
    assert (again.status, again.items_created, again.items_updated) == ("succeeded", 0, 0)
    slack.post(ids.general, "UBOB00001", "rotated")
    third = run_sync(source=source)
    assert third.items_created == 1
    # A message deleted at Slack is pruned; the rest stays.
    slack.delete(ids.general, ids.snippet)
    assert prune_source(source=source).deleted == 1
    assert not stored.filter(external_id=f"{ids.general}/{ids.snippet}").exists()
    assert stored.count() == 8


# --- helpers -----------------------------------------------------------------------------


def export_of(slack: FakeSlack, root: Path) -> Path:
    """Write the fake workspace as Slack's export would hold it (same records, same ids)."""
    files: dict[str, Any] = {"users.json": slack.users}
    listing = {
        "public_channel": "channels.json",
        "private_channel": "groups.json",
        "mpim": "mpims.json",
        "im": "dms.json",
    }
    for name in listing.values():
        files[name] = []
    for channel_id, channel in slack.channels.items():
        record = {k: v for k, v in channel.items() if not k.startswith("_")}
        record["members"] = slack.members[channel_id]
        files[listing[channel["_type"]]].append(record)
        folder = channel_id if channel["_type"] == "im" else channel["name"]
        days: dict[str, list[dict[str, Any]]] = {}
        for message in slack.messages[channel_id]:
            shown = slack._with_thread_info(channel_id, message)
            day = datetime.fromtimestamp(float(message["ts"]), tz=UTC).date().isoformat()
            days.setdefault(day, []).append(json.loads(json.dumps(shown)))
        for day, messages in days.items():
            files[f"{folder}/{day}.json"] = messages
    return write_export(root, files)


@pytest.mark.django_db
def test_the_commands_add_a_slack_source_and_sync_it(
    slack: FakeSlack, ids: Acme, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`add_source` keeps the token encrypted, never on the command line; `sync` reports it
    in `ingest`'s JSON."""
    import io
    import json

    from django.core.management import CommandError, call_command

    from connectors.models import Source

    config = json.dumps({"base_url": slack.base_url, "channel_types": ["public_channel"]})
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"token": TOKEN})))
    call_command(
        "add_source",
        "acme",
        "--kind",
        "slack",
        "--config",
        config,
        "--credentials-stdin",
        stdout=io.StringIO(),
    )
    source = Source.objects.get(name="acme")
    assert TOKEN not in source.encrypted_credentials
    assert TOKEN not in json.dumps(source.config)
    out = io.StringIO()
    call_command("sync", "acme", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["source"] == "acme"
    assert summary["items_created"] > 0
    assert set(summary) == {
        "source",
        "items_created",
        "items_updated",
        "items_unchanged",
        "colleagues",
        "quarantined",
        "seconds",
    }
    with pytest.raises(CommandError, match="no source named 'nope'"):
        call_command("sync", "nope")
