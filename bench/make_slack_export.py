"""Write a synthetic Slack workspace export of N messages, deterministic by seed.

The layout follows https://slack.com/help/articles/220556107: users.json, channels.json,
groups.json (private channels), dms.json, mpims.json and one JSON list of messages per
conversation and day. Messages carry what real exports carry and the connector must handle:
threads with replies (some broadcast), edits, `message_changed` records, bot posts with
attachments, mentions, channel links, URLs, reactions, shared files, joins and the author's
embedded `user_profile`.

Written streaming, one day file at a time, so a million messages never sit in memory.

    python bench/make_slack_export.py var/bench/slack-100k.zip --messages 100000
    python bench/make_slack_export.py var/bench/slack-100k.zip --append-day \
        --channels 3 --messages 300
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TEAM = "TBENCH0001"
START = datetime(2023, 1, 2, tzinfo=UTC)
MESSAGES_PER_ACTIVE_DAY = 12

_SYLLABLES = (
    "ka lo mi ra te su no pa ri ve do la shi mo ne ta ku zi be fa go hu ja xe wy "
    "tor ban qel dri mun sop har lin cov pet nar gis"
).split()
_COMMON = (
    "the a to of and in is it for on that with we this be can deploy build release fix "
    "bug test review merge branch service api latency queue invoice customer ticket "
    "meeting tomorrow today please thanks ok done blocked rollout config staging prod "
    "alert dashboard metric cache database migration schema index backup restore"
).split()
_EMOJI = ("thumbsup", "eyes", "tada", "white_check_mark", "heart", "joy", "rocket", "pray")
_BOTS = (("B0BOT0001", "deploybot"), ("B0BOT0002", "jira"), ("B0BOT0003", "pagerduty"))


@dataclass(frozen=True)
class User:
    id: str
    name: str
    real_name: str
    display_name: str


@dataclass(frozen=True)
class Conversation:
    id: str
    name: str  # folder name: the channel name, or the DM id
    kind: str  # channel, private_channel, dm, mpim
    members: tuple[str, ...]
    weight: float


def _word(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(_COMMON)
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3)))


def make_users(count: int, seed: int) -> list[User]:
    rng = random.Random(f"{seed}:users")
    users = []
    for index in range(count):
        first = _word(rng).capitalize() + rng.choice(_SYLLABLES)
        last = _word(rng).capitalize() + rng.choice(_SYLLABLES)
        handle = f"{first.lower()}.{last.lower()}{index}"
        users.append(User(f"U{index:08X}", handle, f"{first} {last}", first if index % 3 else ""))
    return users


def make_conversations(messages: int, users: list[User], seed: int) -> list[Conversation]:
    """Public channels take most messages (Zipf-like sizes), then private channels and DMs."""
    rng = random.Random(f"{seed}:conversations")
    ids = [user.id for user in users]
    public = max(3, messages // 8_000)
    private = max(1, messages // 25_000)
    dms = max(2, messages // 7_000)
    mpims = max(1, messages // 30_000)
    found: list[Conversation] = []
    for index in range(public):
        size = min(len(ids), max(3, int(len(ids) / (1 + index) ** 0.5)))
        name = "general" if index == 0 else f"{_word(rng)}-{_word(rng)}-{index}"
        members = tuple(sorted(rng.sample(ids, size)))
        found.append(
            Conversation(f"C{index:08X}", name, "channel", members, 1 / (1 + index) ** 0.8)
        )
    for index in range(private):
        members = tuple(sorted(rng.sample(ids, min(len(ids), rng.randint(3, 25)))))
        name = f"priv-{_word(rng)}-{index}"
        found.append(Conversation(f"G{index:08X}", name, "private_channel", members, 0.08))
    for index in range(dms):
        members = tuple(sorted(rng.sample(ids, 2)))
        found.append(Conversation(f"D{index:08X}", f"D{index:08X}", "dm", members, 0.015))
    for index in range(mpims):
        members = tuple(sorted(rng.sample(ids, min(len(ids), rng.randint(3, 5)))))
        handles = "--".join(users[int(member[1:], 16)].name.split(".")[0] for member in members)
        found.append(Conversation(f"G1{index:07X}", f"mpdm-{handles}-1", "mpim", members, 0.02))
    return found


def allocate(total: int, weights: list[float]) -> list[int]:
    """Split `total` in proportion to `weights` (largest remainder: sums exactly)."""
    scale = total / sum(weights)
    shares = [weight * scale for weight in weights]
    counts = [int(share) for share in shares]
    order = sorted(range(len(weights)), key=lambda i: counts[i] - shares[i])
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def days_in_export(messages: int) -> int:
    # About two years for a million messages; at least a month.
    return max(30, min(730, messages // 1_400))


def _user_record(user: User, *, deleted: bool = False) -> dict[str, Any]:
    return {
        "id": user.id,
        "team_id": TEAM,
        "name": user.name,
        "deleted": deleted,
        "real_name": user.real_name,
        "tz": "Europe/London",
        "is_admin": False,
        "is_bot": False,
        "is_app_user": False,
        "profile": {
            "title": "Engineer" if int(user.id[1:], 16) % 4 else "Product manager",
            "real_name": user.real_name,
            "display_name": user.display_name,
            "email": f"{user.name}@bench.example",
            "image_72": f"https://avatars.example/{user.id}_72.png",
            "team": TEAM,
        },
    }


def _conversation_record(conversation: Conversation, created: int) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": conversation.id,
        "created": created,
        "creator": conversation.members[0],
        "members": list(conversation.members),
    }
    if conversation.kind == "dm":
        record["user"] = conversation.members[1]
        return record
    record.update(
        {
            "name": conversation.name,
            "is_archived": False,
            "is_general": conversation.name == "general",
            "topic": {"value": f"all about {conversation.name}", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }
    )
    return record


class _DayWriter:
    """Produces the records of one conversation day by day; state carries over days."""

    def __init__(
        self,
        conversation: Conversation,
        users: dict[str, User],
        channels: list[Conversation],
        rng: random.Random,
    ) -> None:
        self.conversation = conversation
        self.users = users
        self.channels = [c for c in channels if c.kind == "channel"][:50]
        self.rng = rng
        self.joined: set[str] = set()

    def _text(self) -> str:
        rng = self.rng
        words = [_word(rng) for _ in range(max(2, int(rng.lognormvariate(2.3, 0.7))))]
        roll = rng.random()
        if roll < 0.15:
            words.insert(rng.randrange(len(words)), f"<@{rng.choice(self.conversation.members)}>")
        elif roll < 0.20 and self.channels:
            channel = rng.choice(self.channels)
            words.insert(rng.randrange(len(words)), f"<#{channel.id}|{channel.name}>")
        elif roll < 0.27:
            words.append(f"<https://wiki.example/{_word(rng)}/{rng.randint(1, 9999)}|{_word(rng)}>")
        elif roll < 0.29:
            words.append("&amp; <!here>")
        text = " ".join(words)
        return text[0].upper() + text[1:] + rng.choice((".", "", "?", "!"))

    def _message(self, ts: str, author: str) -> dict[str, Any]:
        rng = self.rng
        user = self.users[author]
        text = self._text()
        record: dict[str, Any] = {
            "client_msg_id": f"{rng.getrandbits(64):016x}-{rng.getrandbits(32):08x}",
            "type": "message",
            "text": text,
            "user": author,
            "ts": ts,
            "team": TEAM,
            "user_team": TEAM,
            "source_team": TEAM,
            "user_profile": {
                "avatar_hash": f"{rng.getrandbits(48):012x}",
                "image_72": f"https://avatars.example/{author}_72.png",
                "first_name": user.real_name.split()[0],
                "real_name": user.real_name,
                "display_name": user.display_name,
                "team": TEAM,
                "name": user.name,
                "is_restricted": False,
                "is_ultra_restricted": False,
            },
            "blocks": [
                {
                    "type": "rich_text",
                    "block_id": f"{rng.getrandbits(20):05x}",
                    "elements": [
                        {
                            "type": "rich_text_section",
                            "elements": [{"type": "text", "text": text}],
                        }
                    ],
                }
            ],
        }
        roll = rng.random()
        if roll < 0.03:
            seconds, _, _micros = ts.partition(".")
            edited = f"{int(seconds) + rng.randint(5, 3000)}.000000"
            record["edited"] = {"user": author, "ts": edited}
        elif roll < 0.05:
            record["files"] = [
                {
                    "id": f"F{rng.getrandbits(40):010X}",
                    "name": f"{_word(rng)}.txt",
                    "title": f"{_word(rng)} notes",
                    "mimetype": "text/plain",
                    "filetype": "text",
                    "mode": "snippet",
                    "preview": self._text(),
                    "url_private": f"https://files.example/{rng.getrandbits(32):08x}",
                }
            ]
        if rng.random() < 0.10:
            record["reactions"] = [
                {"name": rng.choice(_EMOJI), "users": [author], "count": rng.randint(1, 6)}
            ]
        return record

    def _bot_message(self, ts: str) -> dict[str, Any]:
        bot_id, name = self.rng.choice(_BOTS)
        return {
            "type": "message",
            "subtype": "bot_message",
            "text": "",
            "ts": ts,
            "username": name,
            "bot_id": bot_id,
            "attachments": [
                {
                    "fallback": f"{name}: {self._text()}",
                    "title": f"{name} #{self.rng.randint(100, 99999)}",
                    "text": self._text(),
                    "color": "36a64f",
                }
            ],
        }

    def day(self, day: int, count: int) -> Iterator[dict[str, Any]]:
        """Yield `count` message records (plus joins and edit records) for `day`."""
        rng = self.rng
        base = int((START + timedelta(days=day)).timestamp())
        seconds = sorted(rng.randrange(7 * 3600, 21 * 3600) for _ in range(count))
        stamps = [f"{base + s}.{index + 1:06d}" for index, s in enumerate(seconds)]
        members = self.conversation.members
        index = 0
        while index < count:
            ts = stamps[index]
            author = rng.choice(members)
            if author not in self.joined and self.conversation.kind in (
                "channel",
                "private_channel",
            ):
                self.joined.add(author)
                yield {
                    "type": "message",
                    "subtype": "channel_join",
                    "user": author,
                    "text": f"<@{author}> has joined the channel",
                    "ts": f"{base + seconds[index] - 1}.{index + 1:06d}",
                }
            if rng.random() < 0.04:
                yield self._bot_message(ts)
                index += 1
                continue
            root = self._message(ts, author)
            replies = min(rng.choice((0, 0, 0, 0, 0, 0, 0, 1, 2, 5)), count - index - 1)
            if replies:
                root["thread_ts"] = ts
                root["reply_count"] = replies
                root["reply_users"] = sorted({rng.choice(members) for _ in range(replies)})
            yield root
            index += 1
            for _ in range(replies):
                reply = self._message(stamps[index], rng.choice(members))
                reply["thread_ts"] = ts
                reply["parent_user_id"] = author
                if rng.random() < 0.05:
                    reply["subtype"] = "thread_broadcast"
                yield reply
                index += 1
            if rng.random() < 0.002 and not replies:
                # A late edit recorded as its own event; the message it changes is kept too.
                changed = dict(root, text=root["text"] + " (edited)")
                changed["edited"] = {"user": author, "ts": f"{int(ts.split('.')[0]) + 60}.5"}
                yield {
                    "type": "message",
                    "subtype": "message_changed",
                    "hidden": True,
                    "ts": f"{int(ts.split('.')[0]) + 60}.500000",
                    "message": changed,
                }


def _dump_day(records: Iterator[dict[str, Any]]) -> bytes:
    # Slack pretty-prints; one record per line keeps the C encoder (indent= is pure Python).
    lines = [json.dumps(record, ensure_ascii=False, separators=(", ", ": ")) for record in records]
    return ("[\n    " + ",\n    ".join(lines) + "\n]\n").encode()


class _Sink:
    """A folder or a ZIP being written (or appended to)."""

    def __init__(self, path: Path, *, append: bool = False) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        if path.suffix == ".zip":
            self.zip = zipfile.ZipFile(
                path, "a" if append else "w", zipfile.ZIP_DEFLATED, compresslevel=6
            )
        else:
            path.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, data: bytes) -> None:
        if self.zip is not None:
            self.zip.writestr(name, data)
        else:
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def read(self, name: str) -> bytes:
        if self.zip is not None:
            return self.zip.read(name)
        return (self.path / name).read_bytes()

    def names(self) -> list[str]:
        if self.zip is not None:
            return self.zip.namelist()
        return [p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()]

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def cached_export(folder: Path, messages: int, *, seed: int) -> Path:
    """The export of `messages` messages with `seed` in `folder`, written the first time
    (`slack-<N>-seed<seed>.zip`; a run interrupted while writing leaves only a .partial.zip)."""
    folder.mkdir(parents=True, exist_ok=True)
    export = folder / f"slack-{messages}-seed{seed}.zip"
    if not export.exists():
        partial = export.with_suffix(".partial.zip")
        partial.unlink(missing_ok=True)
        generated = write_export(partial, messages, seed=seed)
        partial.rename(export)
        print(f"generated {export} in {generated['seconds']}s", file=sys.stderr)
    return export


def write_export(path: Path, messages: int, *, seed: int = 1) -> dict[str, Any]:
    """Write an export of about `messages` messages (exactly that many message records)."""
    started = time.perf_counter()
    users = make_users(max(20, min(2_000, messages // 2_000)), seed)
    by_id = {user.id: user for user in users}
    conversations = make_conversations(messages, users, seed)
    counts = allocate(messages, [c.weight for c in conversations])
    days = days_in_export(messages)
    created = int(START.timestamp())
    sink = _Sink(path)
    files = 0
    try:
        people = [_user_record(user, deleted=index % 97 == 96) for index, user in enumerate(users)]
        people.append(
            {
                "id": "U0BOTUSER",
                "team_id": TEAM,
                "name": "helperbot",
                "is_bot": True,
                "profile": {"real_name": "Helper Bot", "display_name": "helperbot"},
            }
        )
        sink.write("users.json", json.dumps(people, indent=4).encode())
        for filename, kind in (
            ("channels.json", "channel"),
            ("groups.json", "private_channel"),
            ("dms.json", "dm"),
            ("mpims.json", "mpim"),
        ):
            listed = [_conversation_record(c, created) for c in conversations if c.kind == kind]
            sink.write(filename, json.dumps(listed, indent=4).encode())
        for conversation, count in zip(conversations, counts, strict=True):
            rng = random.Random(f"{seed}:{conversation.id}")
            writer = _DayWriter(conversation, by_id, conversations, rng)
            active = min(days, max(1, math.ceil(count / MESSAGES_PER_ACTIVE_DAY)))
            chosen = sorted(rng.sample(range(days), active))
            per_day = allocate(count, [rng.uniform(0.3, 1.7) for _ in chosen])
            for day, day_count in zip(chosen, per_day, strict=True):
                if not day_count:
                    continue
                name = f"{conversation.name}/{(START + timedelta(days=day)).date()}.json"
                sink.write(name, _dump_day(writer.day(day, day_count)))
                files += 1
    finally:
        sink.close()
    return {
        "path": str(path),
        "messages": messages,
        "users": len(users),
        "conversations": len(conversations),
        "day_files": files,
        "days": days,
        "bytes": path.stat().st_size if path.is_file() else None,
        "seconds": round(time.perf_counter() - started, 2),
    }


def append_day(path: Path, *, channels: int, messages: int, seed: int = 1) -> dict[str, Any]:
    """Add one new day, after every existing one, with `messages` messages in `channels`."""
    sink = _Sink(path, append=True)
    try:
        names = sink.names()
        last = max(
            datetime.strptime(name.rsplit("/", 1)[-1], "%Y-%m-%d.json").replace(tzinfo=UTC)
            for name in names
            if name.count("/") == 1 and name.endswith(".json")
        )
        day = (last - START).days + 1
        users = [
            User(u["id"], u["name"], u.get("real_name", ""), u["profile"].get("display_name", ""))
            for u in json.loads(sink.read("users.json"))
            if not u.get("is_bot")
        ]
        by_id = {user.id: user for user in users}
        listed = json.loads(sink.read("channels.json"))
        public = [
            Conversation(c["id"], c["name"], "channel", tuple(c["members"]), 1.0) for c in listed
        ]
        rng = random.Random(f"{seed}:append:{day}")
        chosen = rng.sample(public, min(channels, len(public)))
        counts = allocate(messages, [1.0] * len(chosen))
        for conversation, count in zip(chosen, counts, strict=True):
            writer = _DayWriter(conversation, by_id, public, random.Random(f"{rng.random()}"))
            writer.joined.update(conversation.members)
            name = f"{conversation.name}/{(START + timedelta(days=day)).date()}.json"
            sink.write(name, _dump_day(writer.day(day, count)))
    finally:
        sink.close()
    return {
        "path": str(path),
        "appended_day": str((START + timedelta(days=day)).date()),
        "channels": [c.id for c in chosen],
        "messages": messages,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="a .zip, or a folder to write the export in")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--append-day", action="store_true", help="add a new day to an existing export"
    )
    parser.add_argument("--channels", type=int, default=3, help="with --append-day")
    args = parser.parse_args(argv)
    if args.append_day:
        result = append_day(
            args.path, channels=args.channels, messages=args.messages, seed=args.seed
        )
    else:
        if args.path.exists():
            parser.error(f"{args.path} exists; remove it first")
        args.path.parent.mkdir(parents=True, exist_ok=True)
        result = write_export(args.path, args.messages, seed=args.seed)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
