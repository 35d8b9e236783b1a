"""The pure parsing functions: Slack markup, people, conversations, messages."""

from __future__ import annotations

import contextlib
import json
import os
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Audience, PersonRef, SourceContainer
from connectors.errors import ConnectorError, CorruptFile
from connectors.slack import parsing

CONTEXT = parsing.ExportContext(
    workspace="T1",
    workspace_url="https://acme.slack.com",
    names={"U123": "Ada Lovelace", "B9": "deploy"},
    channel_names={"C1": "general"},
)
GENERAL = SourceContainer(external_id="C1", name="general", kind="channel", is_private=False)
SECRET = SourceContainer(external_id="G1", name="secret", kind="private_channel", is_private=True)


def message(**fields: Any) -> parsing.SourceDocument | None:
    record = {"type": "message", "user": "U123", "text": "hi", "ts": "1452837352.000006"}
    record.update(fields)
    return parsing.parse_message(record, container=GENERAL, context=CONTEXT)


@pytest.mark.parametrize(
    ("markup", "readable"),
    [
        ("<@U123> please review", "@Ada Lovelace please review"),
        ("<@U123|ada> please review", "@Ada Lovelace please review"),
        ("<@U999|someone> left", "@someone left"),
        ("<@U999> left", "@U999 left"),
        ("see <#C1|general>", "see #general"),
        ("see <#C1>", "see #general"),
        ("see <#C7|random>", "see #random"),
        ("<http://x.io/a?b=1&amp;c=2|the docs>", "the docs (http://x.io/a?b=1&c=2)"),
        ("<http://x.io>", "http://x.io"),
        ("<mailto:a@b.co|a@b.co>", "a@b.co"),
        ("<!here> and <!channel> and <!everyone>", "@here and @channel and @everyone"),
        ("<!subteam^S1|@oncall> ping", "@oncall ping"),
        ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
        ("a &lt;b&gt; &amp;amp; c", "a <b> &amp; c"),
        ("1 &lt; 2 <@U123>", "1 < 2 @Ada Lovelace"),
    ],
)
def test_render_text_turns_markup_into_readable_text(markup: str, readable: str) -> None:
    assert parsing.render_text(markup, CONTEXT) == readable


def test_user_becomes_a_person_with_lowercased_verified_email() -> None:
    person = parsing.parse_user(
        {
            "id": "U1",
            "name": "ada",
            "deleted": True,
            "profile": {
                "display_name": "",
                "real_name": "Ada Lovelace",
                "email": "Ada@Example.COM",
                "title": "Analyst",
            },
        },
        workspace="T1",
    )
    assert person.ref == PersonRef("slack", "T1/U1")
    assert (person.display_name, person.real_name) == ("ada", "Ada Lovelace")
    assert (person.email, person.title, person.is_deleted) == ("ada@example.com", "Analyst", True)


@pytest.mark.parametrize("flag", ["is_bot", "is_app_user"])
def test_bot_and_app_users_are_bots(flag: str) -> None:
    assert parsing.parse_user({"id": "U1", flag: True}, workspace="T1").is_bot


def test_user_without_id_is_corrupt() -> None:
    with pytest.raises(CorruptFile):
        parsing.parse_user({"name": "ghost"}, workspace="T1")


def test_workspace_is_the_most_common_team() -> None:
    users = [{"team_id": "T1"}, {"team_id": "T2"}, {"team_id": "T1"}, "junk", {"team_id": 3}]
    assert parsing.workspace_of(users) == "T1"
    assert parsing.workspace_of({"not": "a list"}) is None


def test_channel_flagged_private_in_channels_json_stays_private() -> None:
    channel = parsing.parse_container(
        {"id": "C2", "name": "hr", "is_private": True}, kind="channel", workspace="T1", names={}
    )
    assert channel.container.kind == "private_channel"
    assert channel.container.is_private
    assert parsing.audience_of(channel.container) == Audience(containers=("C2",))


def test_dm_is_named_after_its_members_and_found_by_id() -> None:
    channel = parsing.parse_container(
        {"id": "D1", "members": ["U123", "U2", 7]}, kind="dm", workspace="T1", names=CONTEXT.names
    )
    assert channel.container.name == "DM: Ada Lovelace, U2"
    assert channel.container.members == (PersonRef("slack", "T1/U123"), PersonRef("slack", "T1/U2"))
    assert channel.folder_names == ("D1",)


def test_message_carries_ids_times_author_and_link() -> None:
    document = message(text="<@U123|ada>: shipped", reactions=[{"name": "tada", "count": 2}])
    assert document is not None
    assert document.external_id == "C1/1452837352.000006"
    assert document.title == "#general"
    assert document.body == "@Ada Lovelace: shipped"
    assert document.author == PersonRef("slack", "T1/U123")
    assert document.created_at == datetime(2016, 1, 15, 5, 55, 52, 6, tzinfo=UTC)
    assert document.updated_at == document.created_at
    assert document.url == "https://acme.slack.com/archives/C1/p1452837352000006"
    assert document.audience == Audience(public=True)
    assert document.thread_id is None
    assert document.metadata["reactions"] == [{"name": "tada", "count": 2}]
    assert document.metadata["mentions"] == ["T1/U123"]


def test_thread_reply_points_at_its_root_and_links_into_the_thread() -> None:
    root = message(thread_ts="1452837352.000006", reply_count=1)
    reply = message(ts="1452837400.000001", thread_ts="1452837352.000006")
    assert root is not None
    assert reply is not None
    assert root.thread_id == root.external_id == reply.thread_id
    assert root.metadata["reply_count"] == 1
    assert reply.url == (
        "https://acme.slack.com/archives/C1/p1452837400000001?thread_ts=1452837352.000006&cid=C1"
    )


def test_private_channel_message_is_visible_to_its_members_only() -> None:
    document = parsing.parse_message(
        {"user": "U123", "text": "secret", "ts": "1.5"}, container=SECRET, context=CONTEXT
    )
    assert document is not None
    assert document.audience == Audience(containers=("G1",))
    assert not document.audience.public


def test_message_changed_gives_the_new_text_and_edit_time() -> None:
    document = message(
        subtype="message_changed",
        ts="1452837999.000001",
        message={
            "user": "U123",
            "text": "fixed typo",
            "ts": "1452837352.000006",
            "edited": {"user": "U123", "ts": "1452837990.000000"},
        },
    )
    assert document is not None
    assert document.external_id == "C1/1452837352.000006"
    assert document.body == "fixed typo"
    assert document.updated_at == datetime(2016, 1, 15, 6, 6, 30, tzinfo=UTC)
    assert document.metadata["edited"] is True


@pytest.mark.parametrize(
    "subtype",
    [
        "channel_join",
        "channel_leave",
        "channel_topic",
        "channel_purpose",
        "channel_name",
        "tombstone",
        "message_deleted",
        "bot_add",
    ],
)
def test_system_messages_are_skipped(subtype: str) -> None:
    assert message(subtype=subtype, text="<@U123> has joined the channel") is None


def test_empty_message_without_files_is_skipped_but_a_file_is_kept() -> None:
    assert message(text="") is None
    assert message(text="", files=[{"mode": "tombstone"}]) is None
    document = message(text="", files=[{"name": "plan.txt", "title": "Plan", "preview": "step 1"}])
    assert document is not None
    assert document.body == "File: Plan (plan.txt)\nstep 1"
    assert document.metadata["files"] == ["plan.txt"]


def test_bot_message_is_authored_by_the_bot_and_keeps_attachment_text() -> None:
    document = message(
        user=None,
        bot_id="B9",
        subtype="bot_message",
        text="",
        attachments=[{"fallback": "deploy <http://ci/1|#1> passed"}],
    )
    assert document is not None
    assert document.author == PersonRef("slack", "T1/B9")
    assert document.body == "deploy #1 (http://ci/1) passed"


def test_broadcast_reply_is_kept_and_flagged() -> None:
    document = message(subtype="thread_broadcast", thread_ts="1452837000.000001")
    assert document is not None
    assert document.metadata["is_broadcast"] is True
    assert document.thread_id == "C1/1452837000.000001"


@pytest.mark.parametrize(
    "record",
    [
        "not a dict",
        {"text": "no ts"},
        {"text": "hi", "ts": "yesterday"},
        {"text": "hi", "ts": 1.5},
        {"text": {"rich": True}, "ts": "1.0"},
        {"text": "hi", "ts": "1.0", "thread_ts": ["x"]},
        {"subtype": "message_changed", "message": "nope", "ts": "1.0"},
    ],
)
def test_wrong_shapes_raise_corrupt_file(record: object) -> None:
    with pytest.raises(CorruptFile):
        parsing.parse_message(record, container=GENERAL, context=CONTEXT)


@pytest.mark.parametrize("data", [b"{", b"\xff\xfe\x00", b"[" * 100_000, b"1" * 5000])
def test_load_json_raises_only_corrupt_file(data: bytes) -> None:
    with pytest.raises(CorruptFile):
        parsing.load_json(data)


# --- fuzzing (docs/SECURITY.md row 4) ----------------------------------------------------

# Strategies are kept light so that 10k examples run in seconds: mostly plausible values,
# sometimes any JSON at all.
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 10**12) | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=5,
)
_ts = (
    st.builds("{}.{:06d}".format, st.integers(0, 10**11), st.integers(0, 999_999))
    | st.sampled_from(["1", "99999999999.999999999", "1e5", "-1.0", " 1.0", "1.0\n", ""])
    | st.integers(-5, 10**13)
    | _json
)
_markup = st.lists(
    st.sampled_from(
        ["<@U123>", "<@U9|x>", "<#C1>", "<http://a|b>", "<!here>", "&amp;", "<", ">", "|", "w "]
    )
    | st.text(max_size=4),
    max_size=6,
).map("".join)
_file = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=4) | _json,
        "title": st.text(max_size=4) | _json,
        "preview": _markup | _json,
        "mode": st.sampled_from(["tombstone", "snippet"]) | _json,
    },
)
_attachment = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(("fallback", "text", "pretext", "title", "fields"), _markup | _json),
)
_keys = {
    "type": st.sampled_from(["message", "file"]) | _json,
    "subtype": st.sampled_from(
        [*sorted(parsing.SYSTEM_SUBTYPES), "bot_message", "thread_broadcast", "message_changed"]
    )
    | _json,
    "ts": _ts,
    "thread_ts": _ts,
    "user": st.sampled_from(["U123", "../etc", ""]) | _json,
    "bot_id": st.just("B9") | _json,
    "text": _markup | _json,
    "edited": st.fixed_dictionaries({"ts": _ts}) | _json,
    "hidden": st.booleans() | _json,
    "files": st.lists(_file | _json, max_size=2) | _json,
    "file": _file | _json,
    "attachments": st.lists(_attachment | _json, max_size=2) | _json,
    "reactions": st.lists(st.fixed_dictionaries({"name": _json, "count": _json}), max_size=2),
    "reply_count": _json,
    "deleted_ts": _ts,
    "user_profile": st.dictionaries(st.sampled_from(["display_name", "name"]), _json),
    "bot_profile": st.dictionaries(st.sampled_from(["name", "deleted"]), _json),
    "username": _json,
}
_record = st.fixed_dictionaries({}, optional=_keys)
_message = (
    _record
    | st.fixed_dictionaries(
        {"subtype": st.just("message_changed"), "message": _record | _json}, optional={"ts": _ts}
    )
    | _json
)


# Hypothesis shrinks a failure to a minimal record, but costs milliseconds per example here,
# so it runs a few hundred by default (SLACK_FUZZ_EXAMPLES=10000 for a long run); the seeded
# random fuzz below feeds 10k records to every parser on each run (docs/SECURITY.md row 4).
FUZZ = settings(
    max_examples=int(os.environ.get("SLACK_FUZZ_EXAMPLES", "200")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ_RECORDS = 10_000


@FUZZ
@given(record=_message, container=st.sampled_from([GENERAL, SECRET]))
def test_any_record_gives_a_document_none_or_a_typed_error(
    record: object, container: SourceContainer
) -> None:
    try:
        document = parsing.parse_message(record, container=container, context=CONTEXT)
    except ConnectorError:
        return
    if document is None:
        return
    assert document.created_at.utcoffset() is not None
    assert document.updated_at.utcoffset() is not None
    assert document.updated_at >= document.created_at
    assert document.body.strip()
    assert document.audience.public == (container is GENERAL)
    json.dumps(dict(document.metadata))  # storable as JSON


@FUZZ
@given(data=st.binary(max_size=200) | _json.map(lambda value: json.dumps(value).encode()))
def test_any_bytes_load_as_json_or_raise_corrupt_file(data: bytes) -> None:
    with contextlib.suppress(CorruptFile):
        parsing.load_json(data)


@FUZZ
@given(record=_message | _record)
def test_export_wide_scanners_never_raise_on_any_record(record: object) -> None:
    # Run over every record of every day file before the first batch: they must not fail.
    parsing.membership_change(record)
    parsing.deleted_ts(record)
    message = parsing.unwrap(record)
    parsing.bot_author(message)
    parsing.bot_name(message)
    parsing.profile_person(message, workspace="T1")


@FUZZ
@given(
    record=_json
    | st.dictionaries(
        st.sampled_from(
            [
                "id",
                "name",
                "members",
                "profile",
                "team_id",
                "is_bot",
                "deleted",
                "topic",
                "is_private",
            ]
        ),
        _json | st.text(max_size=12),
    ),
    kind=st.sampled_from(["channel", "private_channel", "dm", "mpim"]),
)
def test_user_and_channel_records_give_a_value_or_corrupt_file(record: object, kind: Any) -> None:
    with contextlib.suppress(CorruptFile):
        parsing.parse_user(record, workspace="T1")
    with contextlib.suppress(CorruptFile):
        parsing.parse_container(record, kind=kind, workspace="T1", names={})


# --- seeded random fuzz: 10k records per parser, in well under a second each ---------------

_PLAUSIBLE: dict[str, list[Any]] = {
    "type": ["message", "message", "file", None],
    "subtype": [
        *sorted(parsing.SYSTEM_SUBTYPES),
        "bot_message",
        "thread_broadcast",
        "message_changed",
        "file_share",
        None,
    ],
    "ts": ["1452837352.000006", "1459254786.000027", "1", "99999999999.999999999", "1e5", 12],
    "thread_ts": ["1452837352.000006", "1452837000.5", "x"],
    "deleted_ts": ["1452837352.000006", "x"],
    "user": ["U123", "../etc", "", "W1"],
    "bot_id": ["B9", None],
    "text": ["<@U123> hi", "<#C1|x> <http://a|b> &amp;", "<", "<<!here>>", "", "|>"],
    "hidden": [True, False],
    "username": ["hook", ""],
    "id": ["U1", "C1", "D1", "bad id"],
    "name": ["general", ""],
    "members": [["U1", "U2"], ["U1", 3, None]],
}
_NESTED = {
    "edited": ["ts", "user"],
    "message": list(_PLAUSIBLE),
    "files": ["name", "title", "preview", "plain_text", "mode"],
    "file": ["name", "title", "preview", "mode"],
    "attachments": ["fallback", "text", "pretext", "title", "fields"],
    "reactions": ["name", "count"],
    "user_profile": ["display_name", "real_name", "name"],
    "bot_profile": ["name", "deleted"],
    "profile": ["display_name", "real_name", "email", "title"],
    "topic": ["value"],
}


# How often a key is present: most records get a ts and a text, so parsing goes deep.
_LIKELY = {"ts": 0.95, "text": 0.8, "user": 0.7}


def _any_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.random() < 0.5
    if choice == 2:
        return rng.choice([0, -1, 2**70, 1452837352])
    if choice == 3:
        return rng.choice([1.5, float("nan"), float("inf"), -0.0])
    if choice in (4, 5):
        return "".join(rng.choice("aU1<>|@#!&;.:/ \x00\u00e9\n") for _ in range(rng.randrange(8)))
    if choice in (6, 7):
        return [_any_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {str(_any_json(rng, 3)): _any_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def _random_record(rng: random.Random, depth: int = 0) -> Any:
    if rng.random() < 0.05:
        return _any_json(rng)
    record: dict[str, Any] = {}
    for key, values in _PLAUSIBLE.items():
        if rng.random() < _LIKELY.get(key, 0.3):
            record[key] = rng.choice(values) if rng.random() < 0.8 else _any_json(rng)
    for key, fields in _NESTED.items():
        if rng.random() < 0.15:
            if key == "message" and depth < 2:
                record[key] = _random_record(rng, depth + 1)
                continue
            item = {
                field: rng.choice(_PLAUSIBLE.get(field, ["x", "<@U123>", 3]))
                if rng.random() < 0.7
                else _any_json(rng)
                for field in fields
                if rng.random() < 0.6
            }
            record[key] = [item, _any_json(rng)] if key in ("files", "attachments") else item
    return record


@pytest.mark.parametrize("seed", [0, 1])
def test_seeded_fuzz_of_every_record_parser(seed: int) -> None:
    rng = random.Random(seed)
    parsed = 0
    for _ in range(FUZZ_RECORDS):
        record = _random_record(rng)
        container = rng.choice([GENERAL, SECRET])
        try:
            document = parsing.parse_message(record, container=container, context=CONTEXT)
        except CorruptFile:
            document = None
        if document is not None:
            parsed += 1
            assert document.created_at.utcoffset() is not None
            assert document.updated_at >= document.created_at
            assert document.audience.public == (container is GENERAL)
        parsing.membership_change(record)
        parsing.deleted_ts(record)
        message = parsing.unwrap(record)
        parsing.bot_author(message)
        parsing.bot_name(message)
        parsing.profile_person(message, workspace="T1")
        with contextlib.suppress(CorruptFile):
            parsing.parse_user(record, workspace="T1")
        with contextlib.suppress(CorruptFile):
            parsing.parse_container(record, kind="dm", workspace="T1", names={})
        with contextlib.suppress(CorruptFile):
            parsing.load_json(json.dumps(record).encode()[: rng.randrange(200)])
    # The generator must reach the interesting paths, not only the error ones.
    assert parsed > FUZZ_RECORDS // 10
