"""Benchmark skill package builds (issue 5).

Issue 5 asks that building a package for a colleague with 10,000 messages takes under 10 s on
the default stack (SQLite in COLLEAGUE_VAR_DIR, no broker, default settings), and that
rebuilding every package of a 1,000-person organisation runs as a background job with
progress. This script:

1. writes a Slack export of an organisation of `--people` people (default 1,000): one of
   them, "the heavy colleague", writes exactly `--heavy` messages (default 10,000), the others
   about `--messages-per-person` each (default 100; lognormal spread). Conversations are the
   demo company's (colleagues/demo): its threads, replies, DMs, group DMs and bot posts, with
   their texts and reply delays, re-cast onto this organisation's people and channels. Cached
   as `<dir>/skill-org-<people>p-<per person>m-<heavy>h-s<spread>-seed<seed>.zip`;
2. on a fresh COLLEAGUE_VAR_DIR (SQLite): `migrate`, then `manage.py ingest` of the export
   (source_for_path + run_sync, the real ingest path), with COLLEAGUE_EMBED_ON_INGEST=0;
3. times `skills.actions.build_package(colleague)` for the heavy colleague `--repeat` times,
   each in a fresh child process (so no repetition warms Python-level caches for the next),
   then, in the same child, the same work stage by stage by calling the functions
   build_package calls: OrgContext.compute, load_corpus, analyse_work, style_profile and
   _write_version (evidence lookup, render, store);
4. with `--profile`, runs one more build under cProfile and lists the hotspots (file:line);
5. rebuilds every package as the "Rebuild all" button does (`request_rebuild_all`, then
   `build_packages(colleagues_with_new_material())`, as `rebuild_stale_packages` does) with
   an `on_built` progress callback: total seconds, seconds per package (median, p95, max)
   and the peak RSS of the process.

Django runs in child processes (`python bench/skill_build.py --child ...`); wall and CPU time
and peak RSS (wait4) are measured per child, the 1-minute load average is recorded before
each step. A table is printed, then JSON (`--json` prints only the JSON; `--json-out` writes
it to a file too).

    .venv/bin/python bench/skill_build.py                          # 1,000 people, 10,000 msgs
    .venv/bin/python bench/skill_build.py --profile --json-out var/bench/skill-build.json
    .venv/bin/python bench/skill_build.py --people 100 --heavy 2000 --repeat 1   # quick
    .venv/bin/python bench/skill_build.py --skip-org --profile     # only the 10,000-message build
    # again on a kept run's database (no ingest), e.g. with DEBUG off for the children:
    .venv/bin/python bench/skill_build.py --var-dir var/bench/skill-run-XXXX/var --set DEBUG=0
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TEAM = "TSKILLBNCH"
DOMAIN = "skillbench.example"
START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 730
# The demo workspace has about 2,300 messages at scale 1 (colleagues.demo.conversations).
DEMO_MESSAGES_PER_SCALE = 2300
TARGET_SINGLE_SECONDS = 10.0

_MARKER = re.compile(r"⟦([^⟧]+)⟧")  # colleagues.demo.writing's neutral markup
_CHANNEL = re.compile(r"⟦#([^⟧|]+)⟧")
_FIRST = (
    "Aisha Alex Amara Ana Ben Carla Chen Chloe Dana Daniel David Elena Emma Farah Felix "
    "Grace Hana Hugo Ines Isaac Ivan Jana Jonas Julia Kai Kenji Lara Leo Lina Lucas Maya "
    "Mei Mohammed Nadia Nina Noah Omar Olivia Pablo Priya Rafael Ravi Rosa Sam Sara Sofia "
    "Tariq Tom Uma Victor Wei Yara Yusuf Zoe"
).split()
_LAST = (
    "Abbott Adeyemi Alvarez Bauer Becker Brooks Castro Chowdhury Costa Dubois Eriksen "
    "Fischer Garcia Gupta Hansen Hoffmann Ito Jensen Kaur Kim Kowalski Lambert Larsen Lopez "
    "Meyer Moreau Murphy Nakamura Novak Okafor Olsen Park Patel Petrov Quinn Reyes Rossi "
    "Sato Schmidt Silva Singh Sorensen Tanaka Torres Usman Vasquez Wagner Walsh Wong Yilmaz "
    "Zhang"
).split()


# -- the organisation's export ------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """One message of a demo thread: `role` is the demo person's key, None for a bot."""

    role: str | None
    text: str  # colleagues.demo.writing's marker text
    offset: float  # seconds after the thread's root
    broadcast: bool = False
    bot: tuple[str, str] | None = None  # (bot id, username)
    edited_after: float | None = None
    reactions: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class _Template:
    kind: str  # colleagues.demo.conversations.Conversation.kind: channel, group, dm, mpim
    lines: tuple[_Line, ...]  # the root first

    @property
    def roles(self) -> list[str]:
        return list(dict.fromkeys(line.role for line in self.lines if line.role is not None))


@dataclass(frozen=True)
class _Member:
    id: str
    name: str
    handle: str
    email: str


@dataclass
class _Channel:
    id: str
    name: str
    private: bool
    members: set[int] = field(default_factory=set)


@dataclass
class _Direct:
    """A DM or group DM."""

    id: str
    name: str  # folder: the DM id, or the mpim name
    members: tuple[int, ...]


class _Remaining:
    """Messages each person has still to write. `draw` picks a person in proportion to
    them: a Fenwick tree, so a draw and a take cost O(log n)."""

    def __init__(self, quotas: list[int]) -> None:
        self.left = list(quotas)
        self.total = sum(quotas)
        self.tree = [0] * (len(quotas) + 1)
        for index, quota in enumerate(quotas):
            self._add(index, quota)

    def _add(self, index: int, delta: int) -> None:
        i = index + 1
        while i < len(self.tree):
            self.tree[i] += delta
            i += i & -i

    def take(self, index: int) -> None:
        self.left[index] -= 1
        self.total -= 1
        self._add(index, -1)

    def draw(self, rng: random.Random, exclude: set[int]) -> int | None:
        for _ in range(20):
            if self.total <= 0:
                return None
            target = rng.randrange(self.total)
            i, step = 0, 1 << len(self.tree).bit_length()
            while step:
                if i + step < len(self.tree) and self.tree[i + step] <= target:
                    i += step
                    target -= self.tree[i]
                step >>= 1
            if i not in exclude:
                return i
        return None


def _demo_templates(messages: int, seed: int) -> list[_Template]:
    """The demo company's threads (colleagues.demo), at a scale of about `messages` messages."""
    from colleagues.demo.conversations import plan_conversations

    scale = max(1.0, messages / DEMO_MESSAGES_PER_SCALE)
    conversations = plan_conversations(random.Random(f"northwind:{seed}:slack"), scale=scale)
    templates = []
    for conversation in conversations:
        for post in conversation.posts:
            if post.subtype == "channel_join":
                continue
            lines = tuple(
                _Line(
                    role=message.author if message.bot is None else None,
                    text=message.text,
                    offset=(message.at - post.at).total_seconds(),
                    broadcast=message.broadcast,
                    bot=message.bot,
                    edited_after=(
                        (message.edited_at - message.at).total_seconds()
                        if message.edited_at
                        else None
                    ),
                    reactions=tuple((name, tuple(users)) for name, users in message.reactions),
                )
                for message in (post, *post.replies)
            )
            templates.append(_Template(conversation.kind, lines))
    return templates


def _slack_ts(at: datetime) -> tuple[int, int]:
    micros = round(at.timestamp() * 1_000_000)
    return micros // 1_000_000, micros % 1_000_000


class _Org:
    """An organisation of `people` people and what they wrote on Slack.

    Person 0, the heavy colleague, writes exactly `heavy` messages; the others a lognormal
    number around `per_person` each (every quota is met exactly: a thread whose person has
    written their share continues with someone else of the channel, and in a DM that person's
    further lines are left out). Each person has a few home channels (Zipf-sized), maybe a
    private channel, and a circle they DM, whose size grows with how much they write.
    """

    def __init__(
        self, *, people: int, per_person: int, heavy: int, spread: float, seed: int
    ) -> None:
        self.rng = rng = random.Random(f"skill-bench:{seed}")
        self.ids = random.Random(f"skill-bench:{seed}:ids")
        names = [f"{first} {last}" for first in _FIRST for last in _LAST]
        rng.shuffle(names)
        self.members = []
        for index in range(people):
            name = names[index % len(names)]
            handle = ".".join(name.lower().split()) + (
                str(index // len(names)) if index >= len(names) else ""
            )
            self.members.append(_Member(f"U{index:08X}", name, handle, f"{handle}@{DOMAIN}"))
        weights = [rng.lognormvariate(0.0, spread) for _ in range(people - 1)]
        scale = (people - 1) * per_person / sum(weights)
        self.quotas = [heavy, *(max(1, round(weight * scale)) for weight in weights)]
        self.remaining = _Remaining(self.quotas)

        self.public = [
            _Channel(f"C{index:08X}", f"team-{index}" if index else "general", False)
            for index in range(max(10, people // 8))
        ]
        self.private = [
            _Channel(f"G{index:08X}", f"private-{index}", True)
            for index in range(max(2, people // 40))
        ]
        self.zipf = [1 / (1 + index) ** 0.8 for index in range(len(self.public))]
        self.home: list[list[_Channel]] = []
        self.secret: list[list[_Channel]] = []
        self.circles: list[list[int]] = []
        for person in range(people):
            picked = {c.id: c for c in rng.choices(self.public, self.zipf, k=3 + rng.randrange(5))}
            self.home.append([picked[key] for key in sorted(picked)])
            secret = [rng.choice(self.private)] if person == 0 or rng.random() < 0.3 else []
            self.secret.append(secret)
            for channel in (*self.home[-1], *secret):
                channel.members.add(person)
            size = min(people - 1, max(6, self.quotas[person] // 12))
            others = [p for p in rng.sample(range(people), min(people, size + 1)) if p != person]
            self.circles.append(others[:size])
        self.near = {c.id: sorted(c.members) for c in (*self.public, *self.private)}
        self.dms: dict[tuple[int, ...], _Direct] = {}
        self.mpims: dict[tuple[int, ...], _Direct] = {}
        self.channel_of: dict[str, _Channel] = {}
        # (folder, day) -> [(ts key, record)]
        self.days: dict[tuple[str, date], list[tuple[tuple[int, int], dict[str, Any]]]] = (
            defaultdict(list)
        )
        self.stamps: dict[str, set[tuple[int, int]]] = defaultdict(set)
        self.messages = 0

    # - writing ---------------------------------------------------------------------------------

    def generate(self, templates: list[_Template]) -> None:
        demo_channels = sorted(
            {name for t in templates for line in t.lines for name in _CHANNEL.findall(line.text)}
        )
        for index, name in enumerate(demo_channels):
            self.channel_of[name] = self.public[1 + index % (len(self.public) - 1)]
        order = list(range(len(templates)))
        while self.remaining.total > 0:
            self.rng.shuffle(order)
            for index in order:
                template = templates[index]
                if not template.roles:
                    # A bot post; as common as in the demo, and nobody's message.
                    channel = self.rng.choices(self.public, self.zipf)[0]
                    self._thread(template, channel.name, channel, {}, self.near[channel.id])
                    continue
                first = self.remaining.draw(self.rng, set())
                if first is None:
                    return
                self._cast_thread(template, first)

    def _cast_thread(self, template: _Template, first: int) -> None:
        rng = self.rng
        roles = template.roles
        cast = {roles[0]: first}
        if template.kind in ("dm", "mpim"):
            wanted = 1 if template.kind == "dm" else max(2, min(4, len(roles) - 1))
            others = self._from_circle(first, wanted)
            for role, other in zip(roles[1:], others, strict=False):
                cast[role] = other
            key = tuple(sorted({first, *others}))
            if template.kind == "dm":
                dm = f"D{len(self.dms):08X}"
                direct = self.dms.setdefault(key, _Direct(dm, dm, key))
            else:
                handles = "--".join(self.members[p].handle.split(".")[0] for p in key)
                name = f"mpdm-{handles}-{len(self.mpims) + 1}"
                direct = self.mpims.setdefault(key, _Direct(f"G1{len(self.mpims):07X}", name, key))
            self._thread(template, direct.name, None, cast, list(direct.members))
            return
        homes = self.secret[first] if template.kind == "group" and self.secret[first] else []
        channel = rng.choice(homes or self.home[first])
        self._thread(template, channel.name, channel, cast, self.near[channel.id])

    def _from_circle(self, person: int, wanted: int) -> list[int]:
        circle = self.circles[person]
        found: list[int] = []
        for _ in range(wanted * 8):
            other = self.rng.choice(circle)
            if other not in found and self.remaining.left[other] > 0:
                found.append(other)
                if len(found) == wanted:
                    return found
        rest = [p for p in circle if p not in found]
        return found + self.rng.sample(rest, min(len(rest), wanted - len(found)))

    def _next_in_channel(self, near: list[int], exclude: set[int]) -> int | None:
        """Someone of the channel who still writes, or anyone who does."""
        if near and self.rng.random() < 0.6:
            for _ in range(3):
                person = self.rng.choice(near)
                if person not in exclude and self.remaining.left[person] > 0:
                    return person
        return self.remaining.draw(self.rng, exclude)

    def _thread(
        self,
        template: _Template,
        folder: str,
        channel: _Channel | None,
        cast: dict[str, int],
        near: list[int],
    ) -> None:
        rng = self.rng
        cast_lines: list[tuple[int | None, _Line]] = []
        for line in template.lines:
            if line.role is None:
                cast_lines.append((None, line))
                continue
            person = cast.get(line.role)
            if person is None or self.remaining.left[person] <= 0:
                if channel is None:  # a DM: nobody else can take over
                    if person is None or self.remaining.left[person] <= 0:
                        continue
                else:
                    person = self._next_in_channel(near, set(cast.values()))
                    if person is None:
                        continue
                    cast[line.role] = person
            self.remaining.take(person)
            cast_lines.append((person, line))
        if not cast_lines:
            return

        def anyone() -> int:
            return rng.choice(near) if near else rng.randrange(len(self.members))

        base = self._moment()
        records = []
        for person, line in cast_lines:
            at = base + timedelta(seconds=line.offset)
            key = self._stamp(folder, at)
            ts = f"{key[0]}.{key[1]:06d}"
            text = self._render(line.text, cast, anyone)
            if person is None:
                assert line.bot is not None
                record: dict[str, Any] = {
                    "type": "message",
                    "subtype": "bot_message",
                    "text": text,
                    "ts": ts,
                    "bot_id": line.bot[0],
                    "username": line.bot[1],
                }
            else:
                record = self._message(person, text, ts)
                if line.edited_after is not None:
                    edited = _slack_ts(at + timedelta(seconds=line.edited_after))
                    record["edited"] = {
                        "user": self.members[person].id,
                        "ts": f"{edited[0]}.{edited[1]:06d}",
                    }
                if line.reactions:
                    record["reactions"] = [
                        {
                            "name": name,
                            "users": [self.members[cast.get(u, anyone())].id for u in users],
                            "count": len(users),
                        }
                        for name, users in line.reactions
                    ]
            records.append((key, record, person, line))
            if channel is not None and person is not None:
                channel.members.add(person)

        root_key, root, root_person, _ = records[0]
        replies = records[1:]
        if replies:
            users = list(
                dict.fromkeys(self.members[p].id for _, _, p, _ in replies if p is not None)
            )
            root |= {
                "thread_ts": root["ts"],
                "reply_count": len(replies),
                "reply_users_count": len(users),
                "latest_reply": replies[-1][1]["ts"],
                "reply_users": users,
                "replies": [
                    {"user": self.members[p].id, "ts": r["ts"]}
                    for _, r, p, _ in replies
                    if p is not None
                ],
                "is_locked": False,
                "subscribed": False,
            }
        self._add(folder, root_key, root)
        for key, record, _, line in replies:
            record["thread_ts"] = root["ts"]
            if root_person is not None:
                record["parent_user_id"] = self.members[root_person].id
            if line.broadcast:
                record["subtype"] = "thread_broadcast"
            self._add(folder, key, record)

    def _moment(self) -> datetime:
        """A working hour of a random day, weekdays nine times out of ten."""
        rng = self.rng
        day = rng.randrange(DAYS)
        while (START + timedelta(days=day)).weekday() >= 5 and rng.random() < 0.9:
            day = rng.randrange(DAYS)
        return START + timedelta(days=day, seconds=rng.randrange(7 * 3600, 19 * 3600))

    def _stamp(self, folder: str, at: datetime) -> tuple[int, int]:
        """A `ts` unique in its conversation (Slack's message id), nudged by a microsecond."""
        seen = self.stamps[folder]
        seconds, micros = _slack_ts(at)
        while (seconds, micros) in seen:
            micros += 1
            if micros == 1_000_000:
                seconds, micros = seconds + 1, 0
        seen.add((seconds, micros))
        return seconds, micros

    def _render(self, text: str, cast: dict[str, int], anyone: Any) -> str:
        """Demo markup as Slack markup; a demo person not in this thread becomes `anyone()`."""

        def one(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("@"):
                person = cast.get(inner[1:])
                return f"<@{self.members[anyone() if person is None else person].id}>"
            if inner.startswith("#"):
                channel = self.channel_of[inner[1:]]
                return f"<#{channel.id}|{channel.name}>"
            url, _, label = inner.partition("|")
            return f"<{url}|{label}>"

        # Slack escapes these three in message text:
        # https://api.slack.com/reference/surfaces/formatting#escaping
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return _MARKER.sub(one, escaped)

    def _message(self, person: int, text: str, ts: str) -> dict[str, Any]:
        member = self.members[person]
        first = member.name.split()[0]
        return {
            "client_msg_id": f"{self.ids.getrandbits(64):016x}-{self.ids.getrandbits(32):08x}",
            "type": "message",
            "text": text,
            "user": member.id,
            "ts": ts,
            "team": TEAM,
            "user_team": TEAM,
            "source_team": TEAM,
            "user_profile": {
                "avatar_hash": member.id[-6:].lower(),
                "image_72": f"https://avatars.example/{member.id}_72.png",
                "first_name": first,
                "real_name": member.name,
                "display_name": first,
                "team": TEAM,
                "name": member.handle,
                "is_restricted": False,
                "is_ultra_restricted": False,
            },
        }

    def _add(self, folder: str, key: tuple[int, int], record: dict[str, Any]) -> None:
        day = datetime.fromtimestamp(key[0], UTC).date()
        self.days[(folder, day)].append((key, record))
        self.messages += 1

    # - the zip ---------------------------------------------------------------------------------

    def write(self, path: Path) -> int:
        """Write the export as Slack lays it out; return the number of day files."""
        created = int(START.timestamp()) - 86_400 * 30

        def channel(c: _Channel) -> dict[str, Any]:
            members = [self.members[p].id for p in sorted(c.members)]
            return {
                "id": c.id,
                "name": c.name,
                "created": created,
                "creator": members[0] if members else self.members[0].id,
                "is_archived": False,
                **({} if c.private else {"is_general": c.name == "general"}),
                "members": members,
                "pins": [],
                "topic": {"value": f"all about {c.name}", "creator": "", "last_set": 0},
                "purpose": {"value": "", "creator": "", "last_set": 0},
            }

        def mpim(d: _Direct) -> dict[str, Any]:
            members = [self.members[p].id for p in d.members]
            return {
                "id": d.id,
                "name": d.name,
                "created": created,
                "creator": members[0],
                "is_archived": False,
                "members": members,
                "topic": {"value": "", "creator": "", "last_set": 0},
                "purpose": {"value": "Group messaging", "creator": members[0], "last_set": 0},
            }

        users = [
            {
                "id": m.id,
                "team_id": TEAM,
                "name": m.handle,
                "deleted": False,
                "real_name": m.name,
                "tz": "Europe/London",
                "is_admin": False,
                "is_bot": False,
                "is_app_user": False,
                "profile": {
                    "title": "Engineer" if index % 4 else "Product manager",
                    "real_name": m.name,
                    "display_name": m.name.split()[0],
                    "email": m.email,
                    "image_72": f"https://avatars.example/{m.id}_72.png",
                    "team": TEAM,
                },
            }
            for index, m in enumerate(self.members)
        ]
        tops = {
            "users.json": users,
            "channels.json": [channel(c) for c in self.public],
            "groups.json": [channel(c) for c in self.private],
            "dms.json": [
                {
                    "id": d.id,
                    "created": created,
                    "members": [self.members[p].id for p in d.members],
                }
                for d in self.dms.values()
            ],
            "mpims.json": [mpim(d) for d in self.mpims.values()],
        }
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for name, data in tops.items():
                archive.writestr(name, json.dumps(data, indent=4, ensure_ascii=False))
            for (folder, day), records in sorted(self.days.items()):
                records.sort(key=lambda pair: pair[0])
                # Slack pretty-prints; one record per line keeps json's C encoder.
                lines = [json.dumps(r, ensure_ascii=False) for _, r in records]
                archive.writestr(
                    f"{folder}/{day.isoformat()}.json", "[\n    " + ",\n    ".join(lines) + "\n]\n"
                )
        return len(self.days)


def write_org_export(
    path: Path, *, people: int, per_person: int, heavy: int, spread: float, seed: int
) -> dict[str, Any]:
    """Write the organisation's Slack export to `path` (see `_Org`); describe it."""
    started = time.perf_counter()
    org = _Org(people=people, per_person=per_person, heavy=heavy, spread=spread, seed=seed)
    templates = _demo_templates(sum(org.quotas), seed)
    org.generate(templates)
    files = org.write(path)
    return {
        "path": str(path),
        "people": people,
        "messages": org.messages,
        "messages_by_people": sum(org.quotas) - org.remaining.total,
        "heavy_colleague": org.members[0].email,
        "heavy_messages": org.quotas[0] - org.remaining.left[0],
        "per_person": _spread_of(org.quotas[1:]),
        "conversations": {
            "public": len(org.public),
            "private": len(org.private),
            "dms": len(org.dms),
            "mpims": len(org.mpims),
        },
        "day_files": files,
        "demo_threads": len(templates),
        "bytes": path.stat().st_size,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of `values` (not empty)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _spread_of(values: list[float] | list[int]) -> dict[str, float]:
    floats = [float(v) for v in values]
    return {
        "n": len(floats),
        "min": round(min(floats), 3),
        "median": round(statistics.median(floats), 3),
        "mean": round(statistics.fmean(floats), 3),
        "p95": round(_percentile(floats, 0.95), 3),
        "max": round(max(floats), 3),
    }


# -- children: Django runs here -----------------------------------------------------------------


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _rss_mb() -> float:
    """Peak RSS of this process so far, in MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _current_rss_mb() -> float | None:
    """RSS now (Linux: /proc), in MB; the peak alone hides whether memory keeps growing."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


class _Clock:
    """Wall and CPU seconds of consecutive stages, and the time spent in SQL `execute`
    (SQLite does most of a query's work before its first row) while `sql()` is entered."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        self._sql = self._sql_at_lap = 0.0

    def sql(self) -> Any:
        from django.db import connection

        def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                self._sql += time.perf_counter() - started

        return connection.execute_wrapper(timed)

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.stages[name] = {
            "seconds": round(wall - self._wall, 3),
            "cpu": round(cpu - self._cpu, 3),
            "sql_execute": round(self._sql - self._sql_at_lap, 3),
        }
        self._wall, self._cpu, self._sql_at_lap = wall, cpu, self._sql


def _child_single(email: str) -> dict[str, Any]:
    """One cold `build_package`, then the same work stage by stage."""
    _setup_django()
    from django.conf import settings
    from django.db.models import Max

    from colleagues.selectors import colleague_by_email
    from knowledge.selectors import items_by
    from knowledge.visibility import Reader
    from skills.actions import OrgContext, _write_version, build_package
    from skills.analysis.corpus import load_corpus
    from skills.analysis.style import style_profile
    from skills.analysis.work import analyse_work
    from skills.models import SkillPackage, SkillVersion
    from skills.render import GENERATOR, render_package
    from skills.selectors import evidence_ids, visible_analysis, visible_evidence

    colleague = colleague_by_email(email)
    if colleague is None:
        raise SystemExit(f"no colleague {email}")
    reader = Reader.operator()
    items = items_by(reader, colleague).count()

    wall, cpu = time.perf_counter(), time.process_time()
    version = build_package(colleague)
    build = {
        "seconds": round(time.perf_counter() - wall, 3),
        "cpu": round(time.process_time() - cpu, 3),
        "version_seconds": version.seconds,
        "version": version.number,
        "items": version.items,
    }
    rss_after_build = _rss_mb()

    clock = _Clock()
    with clock.sql():
        context = OrgContext.compute(reader)
        clock.lap("org_context")
        corpus = load_corpus(reader, colleague, max_items=settings.COLLEAGUE_SKILL_MAX_ITEMS)
        clock.lap("load_corpus")
        work = analyse_work(corpus, context.work).to_dict()
        clock.lap("analyse_work")
        style = style_profile(corpus.writings, background=context.phrases).to_dict()
        clock.lap("style_profile")
        package, _ = SkillPackage.objects.get_or_create(colleague=colleague)
        through = items_by(reader, colleague).aggregate(top=Max("id"))["top"] or 0
        clock.lap("package_row")
        analysis = {"work": work, "style": style}
        _write_version(
            package,
            analysis=analysis,
            reason=SkillVersion.Reason.BUILD,
            user=None,
            items=len(corpus.items),
            through=through,
        )
        clock.lap("write_version")
        # What _write_version does, apart (outside its transaction, on the same analysis).
        evidence = visible_evidence(reader, evidence_ids(analysis))
        clock.lap("of_which_evidence")
        rendered = render_package(
            colleague=colleague,
            number=0,
            built_at=version.built_at,
            generator=GENERATOR,
            analysis=visible_analysis(analysis, frozenset(evidence)),
            corrections=[],
            evidence=evidence,
        )
        clock.lap("of_which_render")
    return {
        "colleague": email,
        "items_visible": items,
        "corpus": {
            "items": len(corpus.items),
            "context": len(corpus.context),
            "threads": len(corpus.threads),
            "answers": len(corpus.answers),
            "truncated": corpus.truncated,
            "chars": sum(len(e.body) for e in corpus.items),
        },
        "build": build,
        "stages": clock.stages,
        "files_bytes": sum(len(text.encode()) for text in rendered.files.values()),
        "analysis_bytes": len(json.dumps(analysis)),
        "debug": settings.DEBUG,
        "rss_after_build_mb": round(rss_after_build, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
    }


def _hotspots(stats: Any, key: str, limit: int) -> list[dict[str, Any]]:
    rows = []
    for (path, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():
        rows.append(
            {
                "function": f"{_short(path)}:{line}({name})",
                "calls": calls,
                "tottime": round(tottime, 3),
                "cumtime": round(cumtime, 3),
            }
        )
    rows.sort(key=lambda row: -row[key])
    return rows[:limit]


def _short(path: str) -> str:
    """A profiled function's file relative to the project, site-packages or the stdlib."""
    import sysconfig

    paths = sysconfig.get_paths()
    for prefix, shown in (
        (paths["purelib"], "site-packages"),
        (paths["stdlib"], "stdlib"),
        (str(ROOT), ""),
    ):
        if path.startswith(prefix + "/"):
            return f"{shown}/{path[len(prefix) + 1 :]}" if shown else path[len(prefix) + 1 :]
    return path


def _child_profile(email: str, out: Path) -> dict[str, Any]:
    """One `build_package` under cProfile; the hotspots by own and by cumulative time."""
    _setup_django()
    import cProfile
    import pstats

    from colleagues.selectors import colleague_by_email
    from skills.actions import build_package

    colleague = colleague_by_email(email)
    assert colleague is not None
    profiler = cProfile.Profile()
    wall = time.perf_counter()
    profiler.enable()
    build_package(colleague)
    profiler.disable()
    seconds = time.perf_counter() - wall
    profiler.dump_stats(out)
    stats = pstats.Stats(profiler)
    project = [
        row
        for row in _hotspots(stats, "cumtime", 400)
        if not row["function"].startswith(("site-packages/", "stdlib/", "bench/", "<", "{", "~"))
    ]
    return {
        "seconds_under_profiler": round(seconds, 3),
        "profile": str(out),
        "by_tottime": _hotspots(stats, "tottime", 25),
        "project_by_cumtime": project[:40],
    }


def _child_org() -> dict[str, Any]:
    """Rebuild every package as "Rebuild all" does, with a progress callback."""
    _setup_django()
    from django.conf import settings
    from django.db import connection

    from skills.actions import (
        BuildOutcome,
        build_packages,
        colleagues_with_new_material,
        request_rebuild_all,
    )
    from skills.models import SkillVersion

    clock = _Clock()
    queued = request_rebuild_all()
    clock.lap("request_rebuild_all")
    colleagues = colleagues_with_new_material()
    clock.lap("colleagues_with_new_material")
    per_package: list[float] = []  # SkillVersion.seconds: build_package up to its version
    between: list[float] = []  # wall time between two callbacks: the whole build, saved
    items: list[int] = []
    failed: list[str] = []
    samples: list[dict[str, float]] = []
    started = last = time.perf_counter()

    def on_built(outcome: BuildOutcome) -> None:
        nonlocal last
        now = time.perf_counter()
        if per_package or failed:  # the first one also holds OrgContext.compute
            between.append(now - last)
        if outcome.version is None:
            failed.append(f"{outcome.colleague.email}: {outcome.error}")
        else:
            per_package.append(outcome.version.seconds)
            items.append(outcome.version.items)
        done = len(per_package) + len(failed)
        if done % 50 == 0 or done == len(colleagues):
            samples.append(
                {
                    "done": done,
                    "seconds": round(now - started, 1),
                    "peak_rss_mb": round(_rss_mb(), 1),
                    "rss_mb": round(_current_rss_mb() or 0.0, 1),
                    # With DEBUG (the default without SECRET_KEY) Django keeps the last 9,000
                    # queries of the connection.
                    "queries_logged": len(connection.queries_log),
                    "load": round(os.getloadavg()[0], 2),
                }
            )
            sys.stderr.write(
                f"\r[{done}/{len(colleagues)}] {now - started:7.1f}s  "
                f"RSS {_current_rss_mb() or 0:6.0f} MB (peak {_rss_mb():.0f} MB)"
            )
            sys.stderr.flush()
        last = now

    build_packages(colleagues, reason=SkillVersion.Reason.BUILD, on_built=on_built)
    sys.stderr.write("\n")
    clock.lap("build_packages")
    slowest = sorted(zip(per_package, items, strict=True), reverse=True)[:5]
    return {
        "queued": queued,
        "colleagues": len(colleagues),
        "built": len(per_package),
        "failed": failed[:20],
        "failed_count": len(failed),
        "stages": clock.stages,
        "total_seconds": round(sum(stage["seconds"] for stage in clock.stages.values()), 2),
        "per_package_seconds": _spread_of(per_package) if per_package else {},
        "between_callbacks_seconds": _spread_of(between) if between else {},
        "items_per_package": _spread_of(items) if items else {},
        "slowest": [{"seconds": s, "items": i} for s, i in slowest],
        "progress": samples,
        "peak_rss_mb": round(_rss_mb(), 1),
        "debug": settings.DEBUG,
    }


# -- the parent -----------------------------------------------------------------------------------


@dataclass
class _Child:
    stdout: str
    seconds: float
    cpu_seconds: float  # user + system time of the child: its own work, whatever else runs
    peak_rss_mb: float
    load_before: float  # 1-minute load average when it started


def _run(command: list[str], env: dict[str, str]) -> _Child:
    """Run a child (its stderr goes to ours: progress); measure it with wait4."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE)
    assert process.stdout is not None
    out = process.stdout.read()  # read while it runs: a full pipe would block the child
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed with {process.returncode}")
    return _Child(
        stdout=out.decode(),
        seconds=round(seconds, 2),
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 2),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
        load_before=round(load, 2),
    )


def _child_json(args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], _Child]:
    child = _run([sys.executable, str(Path(__file__).resolve()), "--child", *args], env)
    return json.loads(child.stdout), child


def _steps_of(child: _Child) -> dict[str, float]:
    return {
        "seconds": child.seconds,
        "cpu_seconds": child.cpu_seconds,
        "peak_rss_mb": child.peak_rss_mb,
        "load_before": child.load_before,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--messages-per-person", type=int, default=100)
    parser.add_argument("--heavy", type=int, default=10_000, help="the heavy colleague's messages")
    parser.add_argument("--spread", type=float, default=0.5, help="lognormal sigma of the others")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="cold builds of the heavy colleague")
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument("--skip-org", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also one build under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the run's var dir")
    parser.add_argument(
        "--var-dir",
        type=Path,
        help="reuse a kept run's COLLEAGUE_VAR_DIR (this export already ingested): no migrate, "
        "no ingest, nothing deleted",
    )
    parser.add_argument(
        "--set",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="an environment variable for the children (e.g. DEBUG=0); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON report")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, *rest = args.child
        if kind == "single":
            result = _child_single(rest[0])
        elif kind == "profile":
            result = _child_profile(rest[0], Path(rest[1]))
        elif kind == "org":
            result = _child_org()
        else:
            raise SystemExit(f"unknown child {kind}")
        print(json.dumps(result))
        return 0

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    args.dir.mkdir(parents=True, exist_ok=True)
    export = args.dir / (
        f"skill-org-{args.people}p-{args.messages_per_person}m-{args.heavy}h"
        f"-s{args.spread:g}-seed{args.seed}.zip"
    )
    described = export.with_suffix(".json")
    if not export.exists() or not described.exists():
        say(f"writing {export}")
        partial = export.with_suffix(".partial.zip")
        generated = write_org_export(
            partial,
            people=args.people,
            per_person=args.messages_per_person,
            heavy=args.heavy,
            spread=args.spread,
            seed=args.seed,
        )
        partial.rename(export)
        generated["path"] = str(export)
        described.write_text(json.dumps(generated, indent=2) + "\n")
    generated = json.loads(described.read_text())
    email = generated["heavy_colleague"]

    if args.var_dir:
        var_dir = args.var_dir.resolve()
        run_dir = var_dir.parent
    else:
        run_dir = Path(tempfile.mkdtemp(prefix="skill-run-", dir=args.dir))
        var_dir = run_dir / "var"
    env = {**os.environ, "COLLEAGUE_VAR_DIR": str(var_dir), "PYTHONHASHSEED": "0"}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "LLM_BASE_URL"):
        env.pop(name, None)  # the default stack: SQLite, no broker, no LLM
    env["COLLEAGUE_EMBED_ON_INGEST"] = "0"  # embedding would dominate setting up
    for assignment in args.set:
        name, _, value = assignment.partition("=")
        env[name] = value
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "export": generated,
        "settings": dict(assignment.partition("=")[::2] for assignment in args.set),
    }
    try:
        if not args.var_dir:
            say("migrate")
            report["migrate"] = _steps_of(
                _run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], env)
            )
            say(f"ingest {generated['messages']:,} messages")
            command = ["manage.py", "ingest", str(export), "--json", "--source", "bench"]
            ingest = _run([sys.executable, *command], env)
            summary = json.loads(ingest.stdout)
            report["ingest"] = {
                **_steps_of(ingest),
                "messages_per_second": round(generated["messages"] / ingest.seconds),
                "items_created": summary["items_created"],
                "colleagues": summary["colleagues"],
                "quarantined": len(summary["quarantined"]),
            }
        if not args.skip_single:
            runs = []
            for index in range(args.repeat):
                say(f"build_package({email}), run {index + 1} of {args.repeat}")
                result, child = _child_json(["single", email], env)
                runs.append({**result, "child": _steps_of(child)})
            builds = [run["build"]["seconds"] for run in runs]
            stages = {
                name: {
                    measure: round(
                        statistics.median(run["stages"][name][measure] for run in runs), 3
                    )
                    for measure in ("seconds", "cpu", "sql_execute")
                }
                for name in runs[0]["stages"]
            }
            report["single"] = {
                "colleague": email,
                "runs": runs,
                "build_seconds": builds,
                "build_seconds_median": statistics.median(builds),
                "build_cpu_median": statistics.median(run["build"]["cpu"] for run in runs),
                "stages_median": stages,
                "peak_rss_mb": max(run["child"]["peak_rss_mb"] for run in runs),
                "target_seconds": TARGET_SINGLE_SECONDS,
                "target_met": statistics.median(builds) < TARGET_SINGLE_SECONDS,
            }
        if args.profile:
            say("build_package under cProfile")
            result, child = _child_json(["profile", email, str(run_dir / "build.prof")], env)
            report["profile"] = {**result, "child": _steps_of(child)}
        if not args.skip_org:
            say(f"rebuild all {args.people:,} packages")
            result, child = _child_json(["org"], env)
            report["org"] = {**result, "child": _steps_of(child)}
    finally:
        if not args.keep and not args.profile and not args.var_dir:
            shutil.rmtree(run_dir, ignore_errors=True)

    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    if not args.json:
        _print_table(report)
    print(json.dumps(report, indent=2))
    if args.profile or args.keep:
        say(f"var dir kept: {var_dir}")
    return 0


def _print_table(report: dict[str, Any]) -> None:
    export = report["export"]
    print(
        f"\n{export['people']:,} people, {export['messages']:,} messages "
        f"({export['heavy_messages']:,} by {export['heavy_colleague']}), "
        f"export {export['bytes'] / 1e6:.0f} MB"
    )
    ingest = report.get("ingest")
    if ingest:
        print(
            f"ingest: {ingest['seconds']} s (CPU {ingest['cpu_seconds']} s), "
            f"{ingest['items_created']:,} items, peak RSS {ingest['peak_rss_mb']:.0f} MB"
        )
    single = report.get("single")
    if single:
        met = "met" if single["target_met"] else "NOT met"
        print(
            f"\nbuild_package, {single['runs'][0]['corpus']['items']:,} items: "
            f"{', '.join(f'{s:.2f}' for s in single['build_seconds'])} s, median "
            f"{single['build_seconds_median']:.2f} s (< {single['target_seconds']:.0f} s: {met}), "
            f"peak RSS {single['peak_rss_mb']:.0f} MB"
        )
        print(f"  {'stage (median)':<20} {'seconds':>8} {'CPU s':>8} {'SQL s':>8}")
        for name, stage in single["stages_median"].items():
            print(
                f"  {name:<20} {stage['seconds']:8.2f} {stage['cpu']:8.2f} "
                f"{stage['sql_execute']:8.2f}"
            )
    profile = report.get("profile")
    if profile:
        print(f"\nhotspots (own time), {profile['seconds_under_profiler']} s under cProfile:")
        for row in profile["by_tottime"][:15]:
            print(
                f"  {row['tottime']:8.2f} {row['cumtime']:8.2f} {row['calls']:>9} {row['function']}"
            )
    org = report.get("org")
    if org:
        per = org["per_package_seconds"]
        print(
            f"\nrebuild all: {org['built']:,} built, {org['failed_count']} failed in "
            f"{org['total_seconds']:.1f} s; per package median {per.get('median')} s, "
            f"p95 {per.get('p95')} s, max {per.get('max')} s; peak RSS {org['peak_rss_mb']:.0f} MB"
        )


if __name__ == "__main__":
    raise SystemExit(main())
