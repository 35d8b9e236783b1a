"""Load what a colleague wrote, once, with the context the analyses need.

`load_corpus(reader, colleague)` reads the colleague's most recent items and, around them, the
messages they answer and the replies they got, all through `knowledge.selectors` and therefore
within what `reader` may see: an item the reader may not see is never in the corpus, not even
as context. It runs a handful of queries whatever the number of items (no query per item):

1. the colleague's items, newest first;
2. the threads those items belong to (Slack threads, mail threads), in batches of keys;
3. for Slack messages posted outside a thread, the channel or DM traffic just before them (a
   few hours in a channel, a day in a DM), to find the message each one answers;
4. mail a reply of theirs answers that lies outside its thread, when there is any;
5. people: the identities and colleagues named as authors, recipients, mentions and DM members.

"Answers" means: a mail's In-Reply-To parent; a Slack thread reply's thread root when it is the
colleague's first reply in someone else's thread, else the message just before it; a message
outside any thread, the previous top-level message of its channel or DM within the window.
Only messages by someone else are answered: a message following the colleague's own has none.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from colleagues.models import Colleague, Identity
from knowledge.models import Container
from knowledge.selectors import items_by, items_in_threads, items_in_windows, items_visible_to
from knowledge.visibility import Reader
from skills.analysis.types import Writing

# How far back a message outside any thread may answer the previous message of its channel.
CHANNEL_WINDOW = timedelta(hours=2)
CONVERSATION_WINDOW = timedelta(hours=24)  # DMs and group DMs
# Keys and windows per query: each one is a query parameter or two.
THREADS_PER_QUERY = 2000
WINDOWS_PER_QUERY = 200
IDS_PER_QUERY = 5000

_DIRECT = frozenset({Container.Kind.DM, Container.Kind.MPIM})
_ITEM_FIELDS = (
    "id",
    "kind",
    "title",
    "body",
    "created_at",
    "url",
    "thread_key",
    "external_id",
    "source_id",
    "source__name",
    "source__kind",
    "container_id",
    "container__name",
    "container__kind",
    "author_id",
    "metadata",
)
_QUOTE_LINE = re.compile(r"^[ \t]*>")


@dataclass(frozen=True)
class Person:
    """Someone an item names: a colleague, or an identity or address known to no colleague.

    `key` is stable within a corpus: "c<colleague id>", "i<identity id>" or "e:<address>".
    """

    key: str
    name: str
    email: str = ""
    colleague_id: int | None = None
    manager_id: int | None = None  # the colleague's manager (a colleague id)
    is_bot: bool = False


@dataclass(frozen=True)
class Entry:
    """One visible item, as the analyses read it. People are `Person.key`s ("" if unknown)."""

    id: int
    kind: str  # knowledge.models.Item.Kind
    title: str
    body: str
    created_at: datetime
    author: str
    source_id: int
    source: str  # the source's name
    source_kind: str
    container_id: int | None
    container: str  # channel, DM, mail folder or document folder name
    container_kind: str  # knowledge.models.Container.Kind, "" when none
    thread_key: str
    external_id: str
    url: str = ""
    to: tuple[str, ...] = ()  # mail To recipients
    cc: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()  # Slack mentions
    message_id: str = ""  # mail Message-ID
    in_reply_to: str = ""  # mail In-Reply-To

    @property
    def thread(self) -> tuple[int, str] | None:
        """(source id, thread key), or None outside any thread."""
        return (self.source_id, self.thread_key) if self.thread_key else None

    @property
    def is_thread_reply(self) -> bool:
        return bool(self.thread_key) and self.thread_key != self.external_id


@dataclass(frozen=True)
class Corpus:
    """A colleague's items and the context around them, as one reader may see them.

    `items` are the colleague's (newest first, at most `max_items`); `context` the visible
    items by others in the same threads and conversations. `threads` lists every loaded item
    of each thread in order. `answers` maps an item of theirs to the earlier item by someone
    else it answers; `addressees` to the people it was written to (Person keys). `writings`
    holds one Writing per item of theirs, in the order of `items`.
    """

    colleague: Person
    items: tuple[Entry, ...]
    context: Mapping[int, Entry]
    threads: Mapping[tuple[int, str], tuple[int, ...]]
    answers: Mapping[int, int]
    addressees: Mapping[int, tuple[str, ...]]
    people: Mapping[str, Person]
    writings: list[Writing]
    truncated: bool = False  # the colleague wrote more visible items than `max_items`

    @cached_property
    def _by_id(self) -> dict[int, Entry]:
        return {**self.context, **{entry.id: entry for entry in self.items}}

    def entry(self, item_id: int) -> Entry:
        """The loaded item with this id (theirs or context); KeyError if none."""
        return self._by_id[item_id]

    def thread_entries(self, entry: Entry) -> list[Entry]:
        """The loaded items of `entry`'s thread in order, or [entry] outside any thread."""
        key = entry.thread
        if key is None or key not in self.threads:
            return [entry]
        return [self._by_id[i] for i in self.threads[key]]


def load_corpus(reader: Reader, colleague: Colleague, *, max_items: int = 20000) -> Corpus:
    """Load `colleague`'s most recent `max_items` items visible to `reader`, with context.

    Nothing outside `reader`'s visibility is read. Deterministic for the same database.
    """
    own_rows = list(items_by(reader, colleague).values(*_ITEM_FIELDS)[: max_items + 1])
    truncated = len(own_rows) > max_items
    own_rows = own_rows[:max_items]
    own_ids = {row["id"] for row in own_rows}

    rows: dict[int, dict[str, Any]] = {row["id"]: row for row in own_rows}
    for row in _thread_rows(reader, own_rows):
        rows.setdefault(row["id"], row)
    previous = _previous_top_level(reader, own_rows, rows)
    _add_mail_parents(reader, own_rows, rows)

    people, identity_people, members = _people(colleague, rows.values())
    me = people[f"c{colleague.pk}"]
    entries = {i: _entry(row, identity_people, people) for i, row in rows.items()}
    items = tuple(entries[row["id"]] for row in own_rows)
    context = {i: e for i, e in sorted(entries.items()) if i not in own_ids}

    threads: dict[tuple[int, str], list[Entry]] = defaultdict(list)
    for entry in entries.values():
        if entry.thread is not None:
            threads[entry.thread].append(entry)
    ordered = {
        key: tuple(e.id for e in sorted(group, key=lambda e: (e.created_at, e.id)))
        for key, group in sorted(threads.items())
    }
    answers, addressees = _answers(me, items, entries, ordered, previous, members)
    writings = [
        Writing(
            item_id=entry.id,
            text=own_words(entry.body, entry.kind),
            created_at=entry.created_at,
            kind=entry.kind,
            container=entry.container,
            replying_to_at=entries[answers[entry.id]].created_at if entry.id in answers else None,
            addressed_to=_relation(me, addressees.get(entry.id, ()), people),
        )
        for entry in items
    ]
    return Corpus(
        colleague=me,
        items=items,
        context=context,
        threads=ordered,
        answers=answers,
        addressees=addressees,
        people=people,
        writings=writings,
        truncated=truncated,
    )


def own_words(body: str, kind: str) -> str:
    """The author's own words of an item body: quoted lines ("> ...") left out.

    Mail bodies are stored with the quote and signature already split off (connectors.email);
    Slack messages may still quote someone with "> ".
    """
    if kind == "document" or ">" not in body:
        return body.strip()
    return "\n".join(line for line in body.splitlines() if not _QUOTE_LINE.match(line)).strip()


# -- reading ------------------------------------------------------------------------------------


def _batches(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _thread_rows(reader: Reader, own_rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    keys = sorted({(row["source_id"], row["thread_key"]) for row in own_rows if row["thread_key"]})
    for batch in _batches(keys, THREADS_PER_QUERY):
        yield from items_in_threads(reader, batch).values(*_ITEM_FIELDS)


def _is_top_level(thread_key: str, external_id: str) -> bool:
    return not thread_key or thread_key == external_id


def _previous_top_level(
    reader: Reader, own_rows: list[dict[str, Any]], rows: dict[int, dict[str, Any]]
) -> dict[int, int]:
    """Map each of their top-level Slack messages to the top-level message just before it in
    its channel or DM (by anyone, within the window); add the ones found to `rows`."""
    # A thread root of theirs starts something new (a review, an announcement): only messages
    # outside any thread answer what came before.
    wanted = [
        row
        for row in own_rows
        if row["kind"] == "message" and row["container_id"] is not None and not row["thread_key"]
    ]
    if not wanted:
        return {}
    # One window per message, merged per container so each stretch of traffic is read once.
    spans: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for row in wanted:
        spans[row["container_id"]].append((row["created_at"] - _window(row), row["created_at"]))
    windows: list[tuple[int, datetime, datetime]] = []
    for container_id, intervals in sorted(spans.items()):
        intervals.sort()
        start, end = intervals[0]
        for lo, hi in intervals[1:]:
            if lo <= end:
                end = max(end, hi)
            else:
                windows.append((container_id, start, end))
                start, end = lo, hi
        windows.append((container_id, start, end))

    timeline: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for batch in _batches(windows, WINDOWS_PER_QUERY):
        for item_id, container_id, created_at, thread_key, external_id in items_in_windows(
            reader, batch
        ).values_list("id", "container_id", "created_at", "thread_key", "external_id"):
            if _is_top_level(thread_key, external_id):
                timeline[container_id].append((created_at, item_id))
    for events in timeline.values():
        events.sort()

    previous: dict[int, int] = {}
    for row in wanted:
        events = timeline.get(row["container_id"], [])
        position = bisect.bisect_left(events, (row["created_at"], row["id"]))
        # Merged windows hold older traffic too: only what lies within this one's window.
        if position > 0 and events[position - 1][0] >= row["created_at"] - _window(row):
            previous[row["id"]] = events[position - 1][1]
    missing = sorted(set(previous.values()) - rows.keys())
    for batch in _batches(missing, IDS_PER_QUERY):
        for row in items_visible_to(reader).filter(id__in=batch).values(*_ITEM_FIELDS):
            rows[row["id"]] = row
    return {own: prev for own, prev in previous.items() if prev in rows}


def _add_mail_parents(
    reader: Reader, own_rows: list[dict[str, Any]], rows: dict[int, dict[str, Any]]
) -> None:
    """Add to `rows` the visible mail each of their replies answers, if not loaded yet."""
    known = {(row["source_id"], row["external_id"]) for row in rows.values()}
    missing = sorted(
        {
            (row["source_id"], parent)
            for row in own_rows
            if row["kind"] == "email"
            and isinstance(parent := _metadata(row).get("in_reply_to"), str)
            and parent
            and (row["source_id"], parent) not in known
        }
    )
    for batch in _batches(missing, IDS_PER_QUERY):
        wanted = set(batch)
        found = items_visible_to(reader).filter(
            source_id__in={source_id for source_id, _ in batch},
            external_id__in={external_id for _, external_id in batch},
        )
        for row in found.values(*_ITEM_FIELDS):
            if (row["source_id"], row["external_id"]) in wanted:
                rows.setdefault(row["id"], row)


def _window(row: Mapping[str, Any]) -> timedelta:
    return CONVERSATION_WINDOW if row["container__kind"] in _DIRECT else CHANNEL_WINDOW


def _metadata(row: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = row.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _strings(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str) and v]


def _people(
    colleague: Colleague, rows: Iterable[dict[str, Any]]
) -> tuple[dict[str, Person], dict[tuple[str, str], Person], dict[int, tuple[str, ...]]]:
    """Resolve everyone the rows name, in four queries (more only for huge sets).

    Returns people by key; a lookup by ("id", identity id), ("email", address) and
    ("slack", user value); and the members (Person keys) of each DM or group DM among the rows.
    """
    rows = list(rows)
    identity_ids: set[int] = set()
    addresses: set[str] = set()
    slack_values: set[str] = set()
    for row in rows:
        if row["author_id"] is not None:
            identity_ids.add(row["author_id"])
        metadata = _metadata(row)
        if row["kind"] == "email":
            addresses.update(a.lower() for a in _strings(metadata.get("to")))
            addresses.update(a.lower() for a in _strings(metadata.get("cc")))
        elif row["kind"] == "message":
            slack_values.update(_strings(metadata.get("mentions")))
    direct = sorted(
        {
            row["container_id"]
            for row in rows
            if row["container__kind"] in _DIRECT and row["container_id"] is not None
        }
    )
    memberships = sorted(
        Container.members.through.objects.filter(container_id__in=direct).values_list(
            "container_id", "identity_id"
        )
    )
    identity_ids.update(identity_id for _, identity_id in memberships)

    fields = ("id", "kind", "value", "display_name", "colleague_id", "is_bot")
    identities: dict[int, dict[str, Any]] = {}
    for batch in _batches(sorted(identity_ids), IDS_PER_QUERY):
        found = Identity.objects.filter(id__in=batch).values(*fields)
        identities.update((i["id"], i) for i in found)
    for kind, values in (("email", addresses), ("slack", slack_values)):
        for batch in _batches(sorted(values), IDS_PER_QUERY):
            found = Identity.objects.filter(kind=kind, value__in=batch).values(*fields)
            identities.update((i["id"], i) for i in found)
    colleague_ids = {i["colleague_id"] for i in identities.values() if i["colleague_id"]}
    colleague_ids.add(colleague.pk)
    colleagues = Colleague.objects.filter(id__in=sorted(colleague_ids)).values(
        "id", "name", "email", "manager_id"
    )

    people: dict[str, Person] = {}
    for record in colleagues:
        key = f"c{record['id']}"
        people[key] = Person(
            key=key,
            name=record["name"],
            email=record["email"],
            colleague_id=record["id"],
            manager_id=record["manager_id"],
        )
    lookup: dict[tuple[str, str], Person] = {}
    for identity_id, identity in sorted(identities.items()):
        person = people.get(f"c{identity['colleague_id']}")
        if person is None:
            person = Person(
                key=f"i{identity_id}",
                name=identity["display_name"] or identity["value"],
                email=identity["value"] if identity["kind"] == "email" else "",
                is_bot=identity["is_bot"],
            )
            people[person.key] = person
        lookup[("id", str(identity_id))] = person
        lookup[(identity["kind"], identity["value"])] = person
    for address in sorted(addresses):
        if ("email", address) not in lookup:
            person = Person(key=f"e:{address}", name=address, email=address)
            people[person.key] = lookup[("email", address)] = person

    members: dict[int, list[str]] = defaultdict(list)
    for container_id, identity_id in memberships:
        member = lookup.get(("id", str(identity_id)))
        if member is not None and member.key not in members[container_id]:
            members[container_id].append(member.key)
    return (
        dict(sorted(people.items())),
        lookup,
        {c: tuple(sorted(keys)) for c, keys in members.items()},
    )


def _entry(
    row: dict[str, Any], lookup: dict[tuple[str, str], Person], people: dict[str, Person]
) -> Entry:
    metadata = _metadata(row)
    author = lookup.get(("id", str(row["author_id"]))) if row["author_id"] is not None else None

    def keys(kind: str, values: list[str]) -> tuple[str, ...]:
        found = (lookup.get((kind, v.lower() if kind == "email" else v)) for v in values)
        return tuple(dict.fromkeys(p.key for p in found if p is not None))

    is_mail = row["kind"] == "email"
    return Entry(
        id=row["id"],
        kind=row["kind"],
        title=row["title"],
        body=row["body"],
        created_at=row["created_at"],
        author=author.key if author is not None else "",
        source_id=row["source_id"],
        source=row["source__name"],
        source_kind=row["source__kind"],
        container_id=row["container_id"],
        container=row["container__name"] or "",
        container_kind=row["container__kind"] or "",
        thread_key=row["thread_key"],
        external_id=row["external_id"],
        url=row["url"],
        to=keys("email", _strings(metadata.get("to"))) if is_mail else (),
        cc=keys("email", _strings(metadata.get("cc"))) if is_mail else (),
        mentions=keys("slack", _strings(metadata.get("mentions"))) if not is_mail else (),
        message_id=str(metadata.get("message_id") or "") if is_mail else "",
        in_reply_to=str(metadata.get("in_reply_to") or "") if is_mail else "",
    )


# -- who answers whom ---------------------------------------------------------------------------


def _answers(
    me: Person,
    items: tuple[Entry, ...],
    entries: dict[int, Entry],
    threads: dict[tuple[int, str], tuple[int, ...]],
    previous: dict[int, int],
    members: dict[int, tuple[str, ...]],
) -> tuple[dict[int, int], dict[int, tuple[str, ...]]]:
    mail_by_id = {
        (e.source_id, e.message_id or e.external_id): e
        for e in sorted(entries.values(), key=lambda e: e.id)
        if e.kind == "email"
    }
    answers: dict[int, int] = {}
    addressees: dict[int, tuple[str, ...]] = {}
    for entry in items:
        answered: Entry | None = None
        written_to: tuple[str, ...] = ()
        if entry.kind == "email":
            parent = mail_by_id.get((entry.source_id, entry.in_reply_to))
            if entry.in_reply_to and parent is not None and parent.author != me.key:
                answered = parent
            written_to = entry.to
        elif entry.kind == "message" and entry.is_thread_reply and entry.thread in threads:
            thread = [entries[i] for i in threads[entry.thread]]
            position = next(i for i, e in enumerate(thread) if e.id == entry.id)
            root = thread[0] if thread[0].external_id == entry.thread_key else None
            earlier_own = any(e.author == me.key for e in thread[1:position])
            if root is not None and root.author != me.key and not earlier_own:
                answered = root
            elif position > 0 and thread[position - 1].author != me.key:
                answered = thread[position - 1]
            if root is not None and root.author != me.key:
                written_to = (root.author,)
            elif answered is not None:
                written_to = (answered.author,)
            else:
                written_to = entry.mentions
        elif entry.kind == "message":
            before = entries.get(previous.get(entry.id, -1))
            if before is not None and before.author != me.key:
                answered = before
            if entry.container_kind in _DIRECT:
                written_to = members.get(entry.container_id or -1, ())
            elif answered is not None:
                written_to = (answered.author,)
            else:
                written_to = entry.mentions
        if answered is not None and answered.author:
            answers[entry.id] = answered.id
        written_to = tuple(k for k in dict.fromkeys(written_to) if k and k != me.key)
        if written_to:
            addressees[entry.id] = written_to
    return answers, addressees


def _relation(me: Person, addressees: tuple[str, ...], people: Mapping[str, Person]) -> str:
    """ "manager", "report", "peer", or "" when someone written to is not a known colleague."""
    found = [people.get(key) for key in addressees]
    if not found or any(p is None or p.colleague_id is None or p.is_bot for p in found):
        return ""
    colleagues = [p for p in found if p is not None]
    if me.manager_id is not None and all(p.colleague_id == me.manager_id for p in colleagues):
        return "manager"
    if all(p.manager_id == me.colleague_id for p in colleagues):
        return "report"
    return "peer"
