"""Write planned conversations as a Slack workspace export (.zip).

The layout follows Slack's export format (https://slack.com/help/articles/220556107):
``users.json``, ``channels.json``, ``groups.json``, ``dms.json``, ``mpims.json`` at the top,
and one folder per conversation (channel name, group DM name, or DM id) holding one
``YYYY-MM-DD.json`` file per UTC day with that day's messages, oldest first.

Guarantees: the zip is byte-identical for the same conversations and seed (fixed entry
times and order); every ``ts`` is unique within its conversation; every message with a
``user`` names a user in ``users.json``; every thread reply's root is in the same folder.
"""

from __future__ import annotations

import json
import random
import unicodedata
import uuid
import zipfile
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from colleagues.demo.company import (
    CHANNELS_BY_NAME,
    PEOPLE,
    PEOPLE_BY_KEY,
    START,
    TEAM_ID,
    Person,
)
from colleagues.demo.conversations import Conversation, Post
from colleagues.demo.writing import to_slack

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Fixed zip entry time so the archive does not depend on when it was written.
ZIP_TIME = (2026, 3, 27, 18, 0, 0)
_COLORS = ("9f69e7", "4bbe2e", "e7392d", "3c989f", "e96699", "db3150", "5b89d5", "2b6836")


def slack_ts(at: datetime) -> str:
    """Slack's ``ts``: seconds since the epoch with six decimals, as a string."""
    delta = at - _EPOCH
    return f"{delta.days * 86400 + delta.seconds}.{delta.microseconds:06d}"


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros)


def _day(ts: str) -> date:
    """The UTC day a message belongs to: Slack exports one file per day."""
    return (_EPOCH + timedelta(seconds=_ts_key(ts)[0])).date()


def _epoch(day: date) -> int:
    return int((datetime.combine(day, time(9, 0), tzinfo=UTC) - _EPOCH).total_seconds())


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _user(person: Person, index: int) -> dict[str, Any]:
    first, _, last = person.name.partition(" ")
    display = person.display_name or person.first_name
    offset = person.utc_offset * 3600
    return {
        "id": person.slack_id,
        "team_id": TEAM_ID,
        "name": person.handle,
        "deleted": person.departed_on is not None,
        "color": _COLORS[index % len(_COLORS)],
        "real_name": person.name,
        "tz": person.tz,
        "tz_label": person.tz,
        "tz_offset": offset,
        "profile": {
            "title": person.title,
            "phone": "",
            "skype": "",
            "real_name": person.name,
            "real_name_normalized": _ascii(person.name),
            "display_name": display,
            "display_name_normalized": display,
            "fields": {},
            "status_text": "",
            "status_emoji": "",
            "avatar_hash": person.slack_id[-6:].lower(),
            "email": person.email,
            "first_name": first,
            "last_name": last,
            "image_72": f"https://avatars.slack-edge.example/{person.slack_id}_72.png",
            "team": TEAM_ID,
        },
        "is_admin": person.key in ("helen", "marcus"),
        "is_owner": person.key == "helen",
        "is_primary_owner": person.key == "helen",
        "is_restricted": False,
        "is_ultra_restricted": False,
        "is_bot": False,
        "is_app_user": False,
        "updated": _epoch(person.departed_on or START.date()),
    }


def _topic(value: str, creator: str, day: date) -> dict[str, Any]:
    return {
        "value": value,
        "creator": PEOPLE_BY_KEY[creator].slack_id if value else "",
        "last_set": _epoch(day) if value else 0,
    }


def _conversation_meta(conversation: Conversation) -> dict[str, Any]:
    members = [PEOPLE_BY_KEY[k].slack_id for k in conversation.members]
    if conversation.kind == "dm":
        return {
            "id": conversation.conversation_id,
            "created": _epoch(START.date()),
            "members": members,
        }
    if conversation.kind == "mpim":
        created = START.date() - timedelta(days=30)
        handles = " ".join("@" + PEOPLE_BY_KEY[k].handle for k in conversation.members)
        return {
            "id": conversation.conversation_id,
            "name": conversation.name,
            "created": _epoch(created),
            "creator": members[0],
            "is_archived": False,
            "members": members,
            "topic": _topic("", conversation.members[0], created),
            "purpose": _topic(f"Group messaging with: {handles}", conversation.members[0], created),
        }
    channel = CHANNELS_BY_NAME[conversation.name]
    meta: dict[str, Any] = {
        "id": channel.channel_id,
        "name": channel.name,
        "created": _epoch(channel.created),
        "creator": PEOPLE_BY_KEY[channel.creator].slack_id,
        "is_archived": False,
    }
    if not channel.private:
        meta["is_general"] = channel.name == "general"
    meta |= {
        "members": members,
        "pins": [],
        "topic": _topic(channel.topic, channel.creator, channel.created),
        "purpose": _topic(channel.purpose, channel.creator, channel.created),
    }
    return meta


class _Messages:
    """Turns one conversation's posts into Slack message dicts grouped by day."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def assign_ts(self, conversation: Conversation) -> dict[int, str]:
        """A unique ``ts`` per message (Slack's message id), nudging ties by a microsecond."""
        everything = [m for p in conversation.posts for m in (p, *p.replies)]
        seen: set[str] = set()
        stamps: dict[int, str] = {}
        for message in sorted(everything, key=lambda m: m.at):
            at = message.at
            while slack_ts(at) in seen:
                at += timedelta(microseconds=1)
            stamps[id(message)] = slack_ts(at)
            seen.add(stamps[id(message)])
        return stamps

    def base(self, post: Post, ts: str) -> dict[str, Any]:
        if post.bot is not None:
            bot_id, username = post.bot
            return {
                "type": "message",
                "subtype": "bot_message",
                "text": to_slack(post.text),
                "ts": ts,
                "bot_id": bot_id,
                "username": username,
            }
        assert post.author is not None
        person = PEOPLE_BY_KEY[post.author]
        if post.subtype == "channel_join":
            return {
                "type": "message",
                "subtype": "channel_join",
                "ts": ts,
                "user": person.slack_id,
                "text": to_slack(post.text),
            }
        message: dict[str, Any] = {
            "client_msg_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "type": "message",
            "text": to_slack(post.text),
            "user": person.slack_id,
            "ts": ts,
            "team": TEAM_ID,
            "user_team": TEAM_ID,
            "source_team": TEAM_ID,
            "user_profile": {
                "avatar_hash": person.slack_id[-6:].lower(),
                "image_72": f"https://avatars.slack-edge.example/{person.slack_id}_72.png",
                "first_name": person.first_name,
                "real_name": person.name,
                "display_name": person.display_name or person.first_name,
                "team": TEAM_ID,
                "name": person.handle,
                "is_restricted": False,
                "is_ultra_restricted": False,
            },
        }
        if post.edited_at is not None:
            message["edited"] = {"user": person.slack_id, "ts": slack_ts(post.edited_at)}
        if post.reactions:
            message["reactions"] = [
                {
                    "name": name,
                    "users": [PEOPLE_BY_KEY[u].slack_id for u in users],
                    "count": len(users),
                }
                for name, users in post.reactions
            ]
        return message

    def by_day(self, conversation: Conversation) -> dict[date, list[dict[str, Any]]]:
        stamps = self.assign_ts(conversation)
        days: dict[date, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for post in conversation.posts:
            root = self.base(post, stamps[id(post)])
            if post.replies:
                reply_users = list(
                    dict.fromkeys(
                        PEOPLE_BY_KEY[r.author].slack_id for r in post.replies if r.author
                    )
                )
                root |= {
                    "thread_ts": root["ts"],
                    "reply_count": len(post.replies),
                    "reply_users_count": len(reply_users),
                    "latest_reply": stamps[id(post.replies[-1])],
                    "reply_users": reply_users,
                    "replies": [
                        {"user": PEOPLE_BY_KEY[r.author].slack_id, "ts": stamps[id(r)]}
                        for r in post.replies
                        if r.author
                    ],
                    "is_locked": False,
                    "subscribed": False,
                }
            days[_day(root["ts"])].append((root["ts"], root))
            for reply in post.replies:
                message = self.base(reply, stamps[id(reply)])
                message["thread_ts"] = root["ts"]
                message["parent_user_id"] = root["user"]
                if reply.broadcast:
                    message["subtype"] = "thread_broadcast"
                    message["root"] = {
                        k: root[k]
                        for k in (
                            "text",
                            "user",
                            "ts",
                            "thread_ts",
                            "reply_count",
                            "reply_users_count",
                            "latest_reply",
                            "reply_users",
                        )
                    }
                days[_day(message["ts"])].append((message["ts"], message))
        return {
            day: [m for _, m in sorted(items, key=lambda item: _ts_key(item[0]))]
            for day, items in sorted(days.items())
        }


def _dump(data: Any) -> bytes:
    return (json.dumps(data, indent=4, ensure_ascii=False) + "\n").encode()


def write_slack_export(conversations: list[Conversation], path: Path, *, rng: random.Random) -> int:
    """Write the export zip to `path`; return the number of messages written."""
    files: dict[str, bytes] = {
        "users.json": _dump([_user(p, i) for i, p in enumerate(PEOPLE)]),
    }
    for kind, filename in (
        ("channel", "channels.json"),
        ("group", "groups.json"),
        ("dm", "dms.json"),
        ("mpim", "mpims.json"),
    ):
        files[filename] = _dump([_conversation_meta(c) for c in conversations if c.kind == kind])
    messages = _Messages(rng)
    total = 0
    for conversation in conversations:
        for day, items in messages.by_day(conversation).items():
            files[f"{conversation.name}/{day.isoformat()}.json"] = _dump(items)
            total += len(items)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return total
