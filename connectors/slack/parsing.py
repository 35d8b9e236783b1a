"""Pure functions turning the JSON of a Slack workspace export into connector dataclasses.

The export format is described at https://slack.com/help/articles/220556107: `users.json`,
`channels.json` (public), `groups.json` (private channels), `dms.json`, `mpims.json`, and one
folder per conversation holding a JSON list of messages per day (`general/2016-01-14.json`).

Nothing here reads files: callers pass decoded JSON values. Every function returns a value or
raises a typed `FileRejected` (`CorruptFile` for a record of the wrong shape); no other
exception escapes, whatever the input.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from connectors.base import (
    Audience,
    ContainerKind,
    PersonRef,
    SourceContainer,
    SourceDocument,
    SourcePerson,
)
from connectors.errors import CorruptFile

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Slack ids are short upper-case strings (U0BMQB6JE, C0JGLMMNX, B0JL6RASU, W... on Enterprise
# Grid). Anything else is refused, so an id can never smuggle a path or a URL into a key.
_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
# A Slack timestamp is "seconds.sequence" as a string; it doubles as the message id within its
# channel. 11 digits of seconds keep every value inside datetime's range.
_TS = re.compile(r"(\d{1,11})(?:\.(\d{1,9}))?")
# Control sequences in message text: <@U123>, <@U123|name>, <#C123|general>, <!here>,
# <http://x|label>. See https://api.slack.com/reference/surfaces/formatting.
_TOKEN = re.compile(r"<([^<>]*)>")
_MENTION = re.compile(r"<@([A-Za-z0-9_-]{1,80})(?:\|[^<>]*)?>")
# "added an integration to this channel: <https://x.slack.com/services/B0JL6RASU|github>"
_BOT_ADD_LABEL = re.compile(r"/services/([A-Za-z0-9_-]{1,80})\|([^<>]+)>")
_SCHEMES = ("https://", "http://", "mailto:", "tel:")

# Subtypes Slack writes for events rather than for something a person said. Exports keep them
# as messages ("<@U123> has joined the channel"); they carry no knowledge.
SYSTEM_SUBTYPES = frozenset(
    {
        "channel_join",
        "channel_leave",
        "group_join",
        "group_leave",
        "channel_purpose",
        "group_purpose",
        "channel_topic",
        "group_topic",
        "channel_name",
        "group_name",
        "channel_archive",
        "channel_unarchive",
        "group_archive",
        "group_unarchive",
        "channel_convert_to_private",
        "channel_convert_to_public",
        "channel_posting_permissions",
        "bot_add",
        "bot_remove",
        "bot_enable",
        "bot_disable",
        "pinned_item",
        "unpinned_item",
        "sh_room_created",
        "joiner_notification",
        "joiner_notification_for_inviter",
        # A thread root deleted while it still has replies, and deletion events.
        "tombstone",
        "message_deleted",
    }
)
JOIN_SUBTYPES = frozenset({"channel_join", "group_join"})
LEAVE_SUBTYPES = frozenset({"channel_leave", "group_leave"})
# Files whose content is gone (deleted, or beyond a free plan's limit) keep only a stub.
_FILE_STUBS = frozenset({"tombstone", "hidden_by_limit"})


@dataclass(frozen=True)
class ExportContext:
    """What parsing one message needs to know about the whole export."""

    workspace: str
    workspace_url: str | None = None
    # Slack user or bot id -> the name to show for it in rendered text.
    names: Mapping[str, str] = field(default_factory=dict)
    # Channel id -> channel name, for <#C123> links without a label.
    channel_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportChannel:
    """A conversation from channels/groups/dms/mpims.json and the folder names it may use."""

    container: SourceContainer
    # The export names a channel's folder by channel name, a DM's folder by its id
    # (https://slack.com/help/articles/220556107); both are accepted for every kind.
    folder_names: tuple[str, ...]


@dataclass(frozen=True)
class MembershipChange:
    """A join or leave message: who, in or out, and when."""

    user_id: str
    joined: bool
    ts: Decimal


def person_ref(workspace: str, slack_id: str) -> PersonRef:
    """Return the PersonRef of a Slack user or bot: the same key everywhere in one export."""
    return PersonRef("slack", f"{workspace}/{slack_id}")


_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def load_json(data: bytes) -> Any:
    """Decode one export file; raise CorruptFile for anything that is not JSON.

    orjson decodes the common case (UTF-8) about twice as fast. What it refuses and `json`
    accepts (UTF-16 and -32, NaN, lone surrogates...) is decoded by `json`, which alone
    decides what is refused: the result is always `json.loads`'s.
    """
    # orjson reads integers past 64 bits as floats where json keeps them exact: any run of 19
    # digits (in a number or, harmlessly, in a string) leaves the file to json.
    if not _LONG_DIGITS.search(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and over-long integers;
        # RecursionError: nesting too deep for the decoder.
        raise CorruptFile(f"not valid JSON: {_short(str(exc))}") from exc


def parse_ts(value: object) -> Decimal:
    """Return a Slack timestamp ("1452837318.000002") exactly, or raise CorruptFile.

    Decimal, not float: a float cannot hold 16 significant digits, and two messages one
    sequence number apart must stay apart.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise CorruptFile(f"timestamp {_short(repr(value))} is not a Slack timestamp")
    return Decimal(_ts_text(value))


def ts_datetime(ts: Decimal) -> datetime:
    """Return the aware UTC datetime of a timestamp from `parse_ts` (always in range)."""
    seconds = int(ts)
    micros = int((ts - seconds) * 1_000_000)
    return EPOCH + timedelta(seconds=seconds, microseconds=micros)


def _text_datetime(text: str) -> datetime:
    """Return `ts_datetime(parse_ts(text))` for a text `_ts_text` accepted, without Decimal."""
    seconds, _, fraction = text.partition(".")
    # Microseconds are the first six digits of the fraction, truncated as ts_datetime does.
    return EPOCH + timedelta(seconds=int(seconds), microseconds=int((fraction + "000000")[:6]))


def workspace_of(users: object) -> str | None:
    """Return the team id most users in users.json belong to, or None if there is none."""
    if not isinstance(users, list):
        return None
    teams = Counter(
        team
        for user in users
        if isinstance(user, dict)
        and isinstance(team := user.get("team_id"), str)
        and _ID.fullmatch(team)
    )
    if not teams:
        return None
    return teams.most_common(1)[0][0]


def parse_user(record: object, *, workspace: str) -> SourcePerson:
    """Return the person one users.json record describes; raise CorruptFile if it has no id."""
    user = _record(record, "user")
    user_id = _id(user.get("id"), "user id")
    profile = _dict(user.get("profile"))
    email = _str(profile.get("email")).strip().lower()
    if "@" not in email or any(char.isspace() for char in email) or len(email) > 254:
        email = ""
    return SourcePerson(
        ref=person_ref(workspace, user_id),
        display_name=_str(profile.get("display_name")).strip() or _str(user.get("name")).strip(),
        real_name=_str(profile.get("real_name")).strip() or _str(user.get("real_name")).strip(),
        email=email,
        title=_str(profile.get("title")).strip(),
        # Slackbot is listed without is_bot; app users are bots that act for an app.
        is_bot=user.get("is_bot") is True
        or user.get("is_app_user") is True
        or user_id == "USLACKBOT",
        is_deleted=user.get("deleted") is True,
    )


def parse_container(
    record: object, *, kind: ContainerKind, workspace: str, names: Mapping[str, str]
) -> ExportChannel:
    """Return the conversation one channels/groups/dms/mpims.json record describes.

    `kind` is what the file implies; a channels.json record flagged private, mpim or im is
    treated as private all the same (fail closed). Raises CorruptFile if the record has no id.
    """
    channel = _record(record, "channel")
    channel_id = _id(channel.get("id"), "channel id")
    raw_name = _str(channel.get("name")).strip()
    member_ids = _ids(channel.get("members"))
    if kind == "channel" and any(
        channel.get(flag) is True for flag in ("is_private", "is_group", "is_mpim", "is_im")
    ):
        kind = "private_channel"
    if kind in ("dm", "mpim") and member_ids:
        who = ", ".join(names.get(member, member) for member in member_ids)
        name = f"DM: {who}" if kind == "dm" else f"Group DM: {who}"
    else:
        name = raw_name or channel_id
    topic = _str(_dict(channel.get("topic")).get("value")).strip()
    purpose = _str(_dict(channel.get("purpose")).get("value")).strip()
    container = SourceContainer(
        external_id=channel_id,
        name=name,
        kind=kind,
        is_private=kind != "channel",
        members=tuple(sorted({person_ref(workspace, member) for member in member_ids})),
        topic=topic or purpose,
    )
    folders = tuple(dict.fromkeys(folder for folder in (raw_name, channel_id) if folder))
    return ExportChannel(container=container, folder_names=folders)


def audience_of(container: SourceContainer) -> Audience:
    """Return who may see a conversation's messages: everyone only for a public channel."""
    if container.kind == "channel" and not container.is_private:
        return Audience(public=True)
    return Audience(containers=(container.external_id,))


def unwrap(record: object) -> object:
    """Return the message a record stands for: the new version for `message_changed`."""
    if isinstance(record, dict) and record.get("subtype") == "message_changed":
        return record.get("message")
    return record


def membership_change(record: object) -> MembershipChange | None:
    """Return the join or leave a record announces, or None for any other record."""
    if not isinstance(record, dict):
        return None
    subtype = _str(record.get("subtype"))
    if subtype not in JOIN_SUBTYPES and subtype not in LEAVE_SUBTYPES:
        return None
    user_id = record.get("user")
    if not isinstance(user_id, str) or not _ID.fullmatch(user_id):
        return None
    try:
        ts = parse_ts(record.get("ts"))
    except CorruptFile:
        return None
    return MembershipChange(user_id=user_id, joined=subtype in JOIN_SUBTYPES, ts=ts)


def deleted_ts(record: object) -> str | None:
    """Return the ts of the message a `message_deleted` record removes, else None."""
    if not isinstance(record, dict) or record.get("subtype") != "message_deleted":
        return None
    value = record.get("deleted_ts")
    if isinstance(value, str) and _TS.fullmatch(value):
        return value
    return None


def record_ts(record: object) -> str | None:
    """Return the ts of the message a record is about (the original's, for an edit), or
    None if the record has none that reads as a Slack timestamp."""
    if not isinstance(record, dict):
        return None
    inner = record.get("message")
    if record.get("subtype") == "message_changed" and isinstance(inner, dict):
        record = inner
    try:
        return _ts_text(record.get("ts"))
    except CorruptFile:
        return None


def bot_author(record: object) -> str | None:
    """Return the bot id of a message a bot posted without a user id (webhooks, old bots)."""
    if not isinstance(record, dict) or _valid_id(record.get("user")):
        return None
    bot_id = record.get("bot_id")
    return bot_id if _valid_id(bot_id) else None


def bot_name(record: object) -> tuple[str, str] | None:
    """Return (bot id, name) if a record names a bot, from `username` or `bot_profile`.

    `bot_add` events name the integration in a link label, which is used too: old exports
    give bots no other name.
    """
    if not isinstance(record, dict):
        return None
    bot_id = record.get("bot_id")
    if not isinstance(bot_id, str) or not _valid_id(bot_id):
        return None
    if record.get("subtype") == "bot_add":
        match = _BOT_ADD_LABEL.search(_str(record.get("text")))
        if match and match.group(1) == bot_id:
            return bot_id, _unescape(match.group(2)).strip()
        return None
    if _valid_id(record.get("user")):
        return None
    name = _str(_dict(record.get("bot_profile")).get("name")) or _str(record.get("username"))
    return (bot_id, name.strip()) if name.strip() else None


def profile_person(record: object, *, workspace: str) -> SourcePerson | None:
    """Return the author a message's embedded `user_profile` describes, if it has one.

    Newer exports copy the author's profile into each message; it names people missing from
    users.json (guests, Slack Connect users from another workspace).
    """
    if not isinstance(record, dict):
        return None
    user_id, profile = record.get("user"), record.get("user_profile")
    if not isinstance(user_id, str) or not _valid_id(user_id) or not isinstance(profile, dict):
        return None
    return SourcePerson(
        ref=person_ref(workspace, user_id),
        display_name=_str(profile.get("display_name")).strip() or _str(profile.get("name")),
        real_name=_str(profile.get("real_name")).strip(),
    )


def render_text(text: str, context: ExportContext) -> str:
    """Return Slack markup as readable text: names for mentions, labels for links.

    `<@U1>` -> `@Name`, `<#C1|general>` -> `#general`, `<http://x|label>` -> `label (http://x)`,
    `<!here>` -> `@here`; `&amp;`, `&lt;` and `&gt;` are unescaped (Slack escapes only those).
    """
    parts: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        parts.append(_unescape(text[position : match.start()]))
        parts.append(_render_token(match.group(1), context))
        position = match.end()
    parts.append(_unescape(text[position:]))
    return storable("".join(parts))


def storable(text: str) -> str:
    """Return `text` without NUL and with lone surrogates replaced by U+FFFD.

    Neither can be stored (PostgreSQL refuses NUL, UTF-8 has no surrogates); a single hostile
    message holding one must not fail its whole batch.
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def mentioned_ids(text: str) -> list[str]:
    """Return the user ids mentioned in Slack markup, in order, without repeats."""
    return list(dict.fromkeys(_MENTION.findall(text)))


def parse_message(
    record: object, *, container: SourceContainer, context: ExportContext
) -> SourceDocument | None:
    """Return the document for one message record of `container`'s day files.

    None for records that carry no knowledge: system events (joins, topic changes...), hidden
    events, deletions and tombstones, and messages with no text, file or attachment. For
    `message_changed` the new version is returned, under the original message's id. Raises
    CorruptFile for a record of the wrong shape. Datetimes are aware UTC; updated_at is
    never before created_at.
    """
    message = _record(record, "message")
    changed_at: str | None = None
    if message.get("subtype") == "message_changed":
        # An edit event: `message` is the new version (with the original ts), the event's own
        # ts is when the change happened.
        outer_ts = message.get("ts")
        if isinstance(outer_ts, str) and _TS.fullmatch(outer_ts):
            changed_at = outer_ts
        message = _record(message.get("message"), "changed message")
    subtype = message.get("subtype")
    if subtype is not None and not isinstance(subtype, str):
        raise CorruptFile("message subtype is not a string")
    if message.get("type", "message") != "message" or subtype in SYSTEM_SUBTYPES:
        return None
    if message.get("hidden") is True:
        # Hidden records are bookkeeping (message_replied and the like), never shown to users.
        return None

    ts_text = _ts_text(message.get("ts"))
    thread_ts = message.get("thread_ts")
    if thread_ts is not None:
        thread_ts = _ts_text(thread_ts)
    edited = message.get("edited")
    edited_ts = _edit_ts(edited)
    if edited_ts is None and changed_at is not None:
        edited_ts = changed_at
    if edited_ts is not None and Decimal(edited_ts) <= Decimal(ts_text):
        edited_ts = None

    text = message.get("text")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise CorruptFile("message text is not a string")
    files = _files(message)
    body = "\n".join(
        part
        for part in (
            render_text(text, context).strip(),
            *_attachment_parts(message.get("attachments"), context),
            *(_file_text(item) for item in files),
        )
        if part.strip()
    )
    if not body:
        return None

    channel_id = container.external_id
    named = container.kind in ("channel", "private_channel")
    created_at = _text_datetime(ts_text)
    updated_at = _text_datetime(edited_ts) if edited_ts else created_at
    mentions = [person_ref(context.workspace, user).value for user in mentioned_ids(text)]
    metadata: dict[str, Any] = {
        "channel_id": channel_id,
        "channel_name": container.name,
        "ts": ts_text,
        "edited_ts": edited_ts,
        "subtype": subtype,
        "reactions": _reactions(message.get("reactions")),
        "reply_count": _count(message.get("reply_count")),
        "files": [_file_name(item) for item in files if _file_name(item)],
        "is_broadcast": subtype == "thread_broadcast",
        "edited": isinstance(edited, dict) or changed_at is not None,
        # PersonRef values (kind "slack") of the people the text mentions.
        "mentions": mentions,
    }
    return SourceDocument(
        external_id=f"{channel_id}/{ts_text}",
        kind="message",
        title=f"#{container.name}" if named else container.name,
        body=body,
        author=_author(message, context.workspace),
        created_at=created_at,
        updated_at=updated_at,
        audience=audience_of(container),
        container_id=channel_id,
        thread_id=f"{channel_id}/{thread_ts}" if thread_ts else None,
        url=_permalink(context.workspace_url, channel_id, ts_text, thread_ts),
        metadata=metadata,
    )


def change_ts(document: SourceDocument) -> str:
    """Return the ts of a parsed message's last change: its edit ts, else its own ts."""
    edited = document.metadata.get("edited_ts")
    return edited if isinstance(edited, str) else str(document.metadata["ts"])


def sorted_people(people: Iterable[SourcePerson]) -> tuple[SourcePerson, ...]:
    """Return people without repeated refs (first wins), ordered by ref."""
    unique: dict[PersonRef, SourcePerson] = {}
    for person in people:
        unique.setdefault(person.ref, person)
    return tuple(sorted(unique.values(), key=lambda person: person.ref))


# --- helpers -------------------------------------------------------------------------------


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _record(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CorruptFile(f"a {what} is {type(value).__name__}, not a JSON object")
    return value


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str:
    return storable(value) if isinstance(value, str) else ""


def _valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _id(value: object, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise CorruptFile(f"{what} {_short(repr(value))} is not a Slack id")
    return value


def _ids(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return list(dict.fromkeys(item for item in value if _valid_id(item)))


def _ts_text(value: object) -> str:
    """Return a Slack timestamp's text, or raise CorruptFile as `parse_ts` does."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise CorruptFile(f"timestamp {_short(repr(value))} is not a Slack timestamp")
    text = str(value)
    if not _TS.fullmatch(text):
        raise CorruptFile(f"timestamp {_short(text)!r} is not a Slack timestamp")
    return text


def _edit_ts(edited: object) -> str | None:
    # {"user": "U0BMQB6JE", "ts": "1458981134.000000"}; a malformed block is no edit.
    value = _dict(edited).get("ts")
    if isinstance(value, str) and _TS.fullmatch(value):
        return value
    return None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _unescape(text: str) -> str:
    # &amp; last, so "&amp;lt;" becomes the "&lt;" that was typed. Most texts have no "&".
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _render_token(inner: str, context: ExportContext) -> str:
    target, _, label = inner.partition("|")
    target, label = _unescape(target).strip(), _unescape(label).strip()
    if target.startswith("@"):
        slack_id = target[1:]
        return "@" + (context.names.get(slack_id) or label.lstrip("@") or slack_id)
    if target.startswith("#"):
        channel_id = target[1:]
        return "#" + (context.channel_names.get(channel_id) or label.lstrip("#") or channel_id)
    if target.startswith("!"):
        # <!here>, <!channel>, <!everyone>, <!subteam^S123|@team>, <!date^...|fallback>
        command = target[1:]
        if command in ("here", "channel", "everyone"):
            return "@" + command
        if label:
            return label
        return "@" + command.partition("^")[2] if "^" in command else "@" + command
    if not target:
        return label
    if not label or label == target:
        return target
    for scheme in _SCHEMES:
        if target.startswith(scheme) and target[len(scheme) :].rstrip("/") == label.rstrip("/"):
            # <mailto:a@b.com|a@b.com>, <tel:123|123>, <http://x.com|x.com>: the label says it all.
            return label
    return f"{label} ({target})"


def _attachment_parts(attachments: object, context: ExportContext) -> list[str]:
    # Unfurled links and bot posts: https://api.slack.com/reference/messaging/attachments
    if not isinstance(attachments, list):
        return []
    parts: list[str] = []
    for attachment in attachments:
        if not isinstance(attachment, dict):
            continue
        lines = [
            _str(attachment.get(key)).strip() for key in ("pretext", "author_name", "title", "text")
        ]
        fields = attachment.get("fields")
        for item in fields if isinstance(fields, list) else []:
            pair = [_str(_dict(item).get(key)).strip() for key in ("title", "value")]
            lines.append(": ".join(part for part in pair if part))
        lines = [line for line in lines if line]
        if not lines:
            # The fallback is the plain-text summary for clients that render nothing else.
            lines = [_str(attachment.get("fallback")).strip()]
        parts.extend(render_text(line, context).strip() for line in lines if line)
    return parts


def _files(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    # Newer exports list `files`; before 2018 a share carried a single `file`.
    items = message.get("files")
    found = [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    if isinstance(message.get("file"), dict):
        found.append(message["file"])
    return [item for item in found if _str(item.get("mode")) not in _FILE_STUBS]


def _file_name(item: Mapping[str, Any]) -> str:
    return (_str(item.get("name")) or _str(item.get("title"))).strip()


def _file_text(item: Mapping[str, Any]) -> str:
    title, name = _str(item.get("title")).strip(), _str(item.get("name")).strip()
    label = f"{title} ({name})" if title and name and title != name else title or name
    # Snippets and posts carry a text `preview`; email files carry `plain_text`.
    content = (_str(item.get("plain_text")) or _str(item.get("preview"))).strip()
    lines = [f"File: {label}" if label else "", content]
    return "\n".join(line for line in lines if line)


def _reactions(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    found: list[dict[str, Any]] = []
    for item in value:
        item = _dict(item)
        name, count = _str(item.get("name")), _count(item.get("count"))
        if name:
            found.append({"name": name, "count": count if count is not None else 0})
    return found


def _author(message: Mapping[str, Any], workspace: str) -> PersonRef | None:
    # A person's message has `user`; old bots and webhooks post with only `bot_id`.
    for key in ("user", "bot_id"):
        value = message.get(key)
        if _valid_id(value):
            return person_ref(workspace, str(value))
    return None


def _permalink(base: str | None, channel_id: str, ts: str, thread_ts: str | None) -> str | None:
    if not base:
        return None
    # https://acme.slack.com/archives/C0JGLMMNX/p1452837352000006; a reply adds its thread.
    url = f"{base}/archives/{channel_id}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        url += f"?thread_ts={thread_ts}&cid={channel_id}"
    return url


# --- Slack Web API records -------------------------------------------------------------------
# users.list, conversations.list and conversations.history return the objects an export writes
# to users.json, channels.json (and groups/mpims/dms.json) and the day files, so the functions
# above parse both. These cover what only the Web API has.


def is_slack_id(value: object) -> bool:
    """Return True if `value` is a string shaped like a Slack id (U123, C0JGLMMNX...)."""
    return _valid_id(value)


def api_container_kind(record: object) -> ContainerKind | None:
    """Return the kind of one conversations.list record, or None if it is no JSON object.

    `is_im` -> dm, `is_mpim` -> mpim, `is_private` or `is_group` -> private_channel, anything
    else -> channel. Fails closed: a record flagged both public and private is private.
    """
    if not isinstance(record, dict):
        return None
    if record.get("is_im") is True:
        return "dm"
    if record.get("is_mpim") is True:
        return "mpim"
    if record.get("is_private") is True or record.get("is_group") is True:
        return "private_channel"
    return "channel"


def display_names(people: Iterable[SourcePerson]) -> dict[str, str]:
    """Return Slack id -> the name rendered for its mentions (display, real name, or id)."""
    names: dict[str, str] = {}
    for person in people:
        slack_id = person.ref.value.rsplit("/", 1)[-1]
        names[slack_id] = person.display_name or person.real_name or slack_id
    return names


def thread_root_activity(record: object) -> str | None:
    """Return the `latest_reply` ts of a thread root from conversations.history.

    None when the record is no thread root or does not say (older payloads); callers then
    read the thread all the same if `thread_root_has_replies`.
    """
    if not isinstance(record, dict):
        return None
    ts, thread_ts = record.get("ts"), record.get("thread_ts")
    if not isinstance(ts, str) or ts != thread_ts or not _TS.fullmatch(ts):
        return None
    latest = record.get("latest_reply")
    if isinstance(latest, str) and _TS.fullmatch(latest):
        return latest
    return None


def thread_root_has_replies(record: object) -> bool:
    """Return True if a conversations.history record is a thread root that has replies."""
    if not isinstance(record, dict):
        return False
    ts, thread_ts = record.get("ts"), record.get("thread_ts")
    if not isinstance(ts, str) or ts != thread_ts:
        return False
    count = _count(record.get("reply_count"))
    return (count is not None and count > 0) or thread_root_activity(record) is not None


def files_to_look_up(record: object) -> list[str]:
    """Return the ids of a message's files that Slack sent as stubs to look up with files.info.

    Slack marks such a file `"file_access": "check_file_info"` (files shared from another
    workspace, or too large to inline); its title and text come only from files.info.
    """
    if not isinstance(record, dict):
        return []
    items = record.get("files")
    if not isinstance(items, list):
        return []
    return [
        item["id"]
        for item in items
        if isinstance(item, dict)
        and item.get("file_access") == "check_file_info"
        and _valid_id(item.get("id"))
    ]


def with_file_details(record: dict[str, Any], details: Mapping[str, Mapping[str, Any]]) -> Any:
    """Return a copy of a message whose stub files are replaced by their files.info objects."""
    items = record.get("files")
    if not isinstance(items, list) or not details:
        return record
    merged = [
        {**item, **details[item["id"]]}
        if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"] in details
        else item
        for item in items
    ]
    return {**record, "files": merged}
