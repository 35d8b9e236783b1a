"""The Slack workspace export connector: a ZIP or folder in, batches of messages out.

Export format: https://slack.com/help/articles/220556107. One batch per conversation (split
past `ExportLimits.max_batch_documents`); the first batch also carries every person and
conversation. Anything unreadable becomes a `SourceFailure` and the sync goes on.

A sync of a newer copy of the export reads only what changed: the cursor remembers, for each
conversation read to its end, a fingerprint of its day files (CRC and size from the ZIP
directory, or size and mtime in a folder) and what they said about people (joins, bots,
profiles). A conversation whose day files are unchanged is not read at all; one that only
gained day files reads just those; anything else is read again in full.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _

from connectors import limits as _limits
from connectors.archives import DEFAULT_LIMITS, ArchiveLimits
from connectors.base import (
    Connector,
    ContainerKind,
    ListingGap,
    Setting,
    SourceBatch,
    SourceContainer,
    SourceDocument,
    SourceFailure,
    SourceListing,
    SourcePerson,
    strict_ids,
)
from connectors.errors import ConnectorConfigError, CorruptFile, FileRejected
from connectors.slack import parsing
from connectors.slack.files import ExportFiles, ExportLayout, find_layout, open_export

# Which file lists which kind of conversation (https://slack.com/help/articles/220556107):
# groups.json holds private channels, mpims.json group DMs; which of them an export has
# depends on the plan and on what the owner chose to export.
CONTAINER_FILES: tuple[tuple[str, ContainerKind], ...] = (
    ("channels.json", "channel"),
    ("groups.json", "private_channel"),
    ("mpims.json", "mpim"),
    ("dms.json", "dm"),
)
# Unexpected errors a bug in a parser could still raise on a strange record. They become a
# CorruptFile failure for that record, never a crashed sync.
_PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError)


@dataclass(frozen=True)
class ExportLimits:
    """Sizes past which a file is refused (LimitExceeded) and batches are split."""

    # users.json, channels.json, groups.json, dms.json, mpims.json, decoded in this process.
    # None: the setting CONNECTORS_SLACK_METADATA_MB (256 MB).
    max_metadata_bytes: int | None = None
    # One conversation's messages of one day, decoded in this process (JSON takes about 12
    # times its size in memory). None: the setting CONNECTORS_SLACK_DAY_FILE_MB (64 MB).
    max_day_file_bytes: int | None = None
    max_batch_documents: int = 5_000

    @property
    def metadata_bytes(self) -> int:
        """The metadata file cap in bytes: `max_metadata_bytes`, else the setting now."""
        if self.max_metadata_bytes is not None:
            return self.max_metadata_bytes
        return _limits.slack_metadata_bytes()

    @property
    def day_file_bytes(self) -> int:
        """The day file cap in bytes: `max_day_file_bytes`, else the setting now."""
        if self.max_day_file_bytes is not None:
            return self.max_day_file_bytes
        return _limits.slack_day_file_bytes()


@dataclass(frozen=True)
class ChannelState:
    """What the cursor remembers of one conversation whose day files were all read."""

    files: int  # how many day files (the first ones, in reading order)
    digest: str  # of their names and fingerprints
    members: str  # digest of the members channels.json listed
    # What the day files said about people, so an unchanged conversation need not be read:
    joined: tuple[str, ...] = ()  # Slack ids whose last join/leave was a join, not listed
    membership_ts: str | None = None  # the latest join or leave
    bots: tuple[tuple[str, str | None, bool | None], ...] = ()  # (bot id, name, deleted)
    # (Slack id, display name, real name) of authors missing from users.json.
    profiles: tuple[tuple[str, str, str], ...] = ()


@dataclass
class ExportCursor:
    """Where a sync stopped: the newest change yielded per conversation, and what was read."""

    ts: dict[str, str] = field(default_factory=dict)  # channel id -> newest change ts
    read: dict[str, ChannelState] = field(default_factory=dict)


@dataclass(frozen=True)
class _Conversation:
    container: SourceContainer
    day_files: tuple[str, ...]  # oldest day first
    start: int = 0  # the first day file to read: the ones before it are known and unchanged
    # Recorded in the cursor with the conversation's last batch; None: fingerprints unknown.
    state: ChannelState | None = None

    @property
    def unread(self) -> tuple[str, ...]:
        return self.day_files[self.start :]


@dataclass
class _ExportPlan:
    """Everything known before the first message is read."""

    context: parsing.ExportContext
    people: tuple[SourcePerson, ...] = ()
    containers: tuple[SourceContainer, ...] = ()
    conversations: list[_Conversation] = field(default_factory=list)
    failures: list[SourceFailure] = field(default_factory=list)
    # The failures that hide messages (folders skipped, links refused): listing ids is unsafe.
    unlisted: list[SourceFailure] = field(default_factory=list)


@dataclass
class _Read:
    """One conversation read: its documents by last change, and what could not be read."""

    documents: list[SourceDocument] = field(default_factory=list)
    failures: list[SourceFailure] = field(default_factory=list)
    # The subset of failures that are whole day files (not single records).
    unreadable: list[SourceFailure] = field(default_factory=list)
    # Records that failed, with the id of the message each is about when its ts is readable.
    records: list[tuple[SourceFailure, str | None]] = field(default_factory=list)


class SlackExportConnector(Connector):
    """Reads a Slack workspace export (`.zip` or folder) given as config `path`.

    Config: `path`; optional `workspace_url` ("https://acme.slack.com", for message links)
    and `workspace` (the key of people when users.json has no team id). No credentials.

    Guarantees: a ZIP is never extracted and a folder's symbolic links are never followed;
    no input makes `fetch` raise, except a missing `path` or a malformed cursor
    (ConnectorConfigError): an archive or a folder that cannot be read safely, or is no Slack
    export, is a failure (quarantined) like any file in it; all datetimes are aware UTC;
    private channels, DMs and group DMs are never public. Each failure's `file` is the file
    on disk holding it (the ZIP, or the folder export's file) and its `member` what within.
    """

    kind: ClassVar[str] = "slack-export"
    label = _("Slack export (ZIP or folder)")
    settings = (
        Setting(
            "path",
            _("Path of the export"),
            type="path",
            required=True,
            help=_("A Slack workspace export: the .zip file or its unpacked folder."),
            placeholder="/data/slack-export.zip",
        ),
        Setting(
            "workspace_url",
            _("Workspace address"),
            type="url",
            help=_("Links to messages point here, e.g. https://acme.slack.com."),
        ),
    )
    limits: ClassVar[ExportLimits] = ExportLimits()
    archive_limits: ClassVar[ArchiveLimits] = DEFAULT_LIMITS

    def validate(self) -> None:
        """Raise ConnectorConfigError unless the config can work: `path` is a folder or a
        regular file (a link to one is followed: the operator chose it) and `workspace_url`
        is well formed.

        What the export holds is not looked at: an archive that cannot be read safely, or is
        no Slack export, is reported by `fetch` as a quarantined file, and the run goes on.
        """
        path = self._path()
        self._workspace_url()
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise ConnectorConfigError(f"{path} cannot be read: {exc.strerror}") from exc
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            raise ConnectorConfigError(f"{path} is neither a folder nor a regular file")

    def fetch(self, *, cursor: str | None) -> Iterator[SourceBatch]:
        """Yield messages newer than `cursor`, one conversation at a time, oldest change first.

        The first batch carries every person and conversation of the export, even when
        resuming. Each batch's cursor covers every batch yielded so far.
        """
        since = parse_cursor(cursor)
        progress = ExportCursor(ts=dict(since.ts), read=dict(since.read))
        path = self._path()
        workspace_url = self._workspace_url()
        try:
            files = open_export(path, archive_limits=self.archive_limits)
        except FileRejected as exc:
            # A rejected archive (bomb, zip slip, link...): report it, read nothing from it.
            failure = _export_failure(path, exc)
            yield SourceBatch(cursor=dump_cursor(progress), failures=(failure,))
            return
        with files:
            layout = find_layout(files.names())
            if layout is None:
                error = CorruptFile("not a Slack export: no users.json or channels.json")
                failure = _export_failure(path, error)
                yield SourceBatch(cursor=dump_cursor(progress), failures=(failure,))
                return
            plan = self._plan(files, layout, workspace_url, since)
            first = True
            last_cursor = ""
            for documents, failures in self._increments(files, plan, since, progress):
                last_cursor = dump_cursor(progress)
                if first:
                    # The first batch introduces everyone and every conversation, so stored
                    # documents can always resolve their author and audience.
                    yield SourceBatch(
                        cursor=last_cursor,
                        documents=documents,
                        people=plan.people,
                        containers=plan.containers,
                        failures=(*plan.failures, *failures),
                    )
                    first = False
                else:
                    yield SourceBatch(cursor=last_cursor, documents=documents, failures=failures)
            if first:
                yield SourceBatch(
                    cursor=dump_cursor(progress),
                    people=plan.people,
                    containers=plan.containers,
                    failures=tuple(plan.failures),
                )
            elif dump_cursor(progress) != last_cursor:
                # Conversations read after the last batch, with nothing new in them.
                yield SourceBatch(cursor=dump_cursor(progress))

    def list_external_ids(self) -> Iterator[str]:
        """Yield the external id of every message `fetch(cursor=None)` would yield.

        Raises the FileRejected of the first archive, file or folder that cannot be read:
        an incomplete list must never be taken as "everything else was deleted".
        """
        return strict_ids(self.list_source())

    def list_source(self) -> SourceListing:
        """List the id of every message `fetch(cursor=None)` would yield, and the gaps.

        A day file that cannot be read is a gap holding its conversation's messages; a
        record that fails, the message its ts names (none, without a readable ts).
        What may hide whole conversations (an archive that cannot be read, a folder that
        matches no conversation, as all do when channels.json cannot be read, a link) holds
        everything: nothing is pruned.
        """
        path = self._path()
        try:
            files = open_export(path, archive_limits=self.archive_limits)
        except FileRejected as exc:
            return SourceListing(frozenset(), gaps=(ListingGap(_export_failure(path, exc)),))
        ids: set[str] = set()
        gaps: list[ListingGap] = []
        with files:
            layout = find_layout(files.names())
            if layout is None:
                error = CorruptFile(f"{path.name} is not a Slack export")
                return SourceListing(frozenset(), gaps=(ListingGap(_export_failure(path, error)),))
            plan = self._plan(files, layout, self._workspace_url(), ExportCursor())
            gaps.extend(ListingGap(failure) for failure in plan.unlisted)
            for conversation in plan.conversations:
                channel = frozenset({conversation.container.external_id})
                read = self._read_conversation(files, conversation, plan.context)
                ids.update(document.external_id for document in read.documents)
                gaps.extend(ListingGap(failure, containers=channel) for failure in read.unreadable)
                # A record without a readable ts cannot be a stored message: ids come from ts.
                gaps.extend(
                    ListingGap(failure, external_ids=frozenset({external_id}))
                    for failure, external_id in read.records
                    if external_id is not None
                )
        return SourceListing(frozenset(ids), gaps=tuple(gaps))

    def _increments(
        self,
        files: ExportFiles,
        plan: _ExportPlan,
        since: ExportCursor,
        progress: ExportCursor,
    ) -> Iterator[tuple[tuple[SourceDocument, ...], tuple[SourceFailure, ...]]]:
        """Yield (documents, failures) per conversation chunk, advancing `progress` first.

        Only what changed after `since` is yielded; chunks with neither are left out. Day
        files the cursor knows unchanged are not read.
        """
        for conversation in plan.conversations:
            channel_id = conversation.container.external_id
            read = _Read()
            if conversation.unread:
                read = self._read_conversation(files, conversation, plan.context)
            newer_than = since.ts.get(channel_id)
            fresh = read.documents
            if newer_than is not None:
                floor = Decimal(newer_than)
                fresh = [doc for doc in fresh if Decimal(parsing.change_ts(doc)) > floor]
            chunks = list(_chunks(fresh, self.limits.max_batch_documents))
            for number, chunk in enumerate(chunks):
                failures = tuple(read.failures) if number == 0 else ()
                if chunk:
                    _advance(progress.ts, channel_id, parsing.change_ts(chunk[-1]))
                if number == len(chunks) - 1:
                    # Only once its last batch is stored is a conversation known to be read.
                    if conversation.state is None:
                        progress.read.pop(channel_id, None)
                    else:
                        progress.read[channel_id] = conversation.state
                if chunk or failures:
                    yield tuple(chunk), failures

    # --- config ----------------------------------------------------------------------------

    def _path(self) -> Path:
        value = self.config.get("path")
        if not isinstance(value, str) or not value.strip():
            raise ConnectorConfigError("config needs `path`: a Slack export .zip or folder")
        path = Path(value)
        if not path.exists():
            raise ConnectorConfigError(f"{value} does not exist")
        return path

    def _workspace_url(self) -> str | None:
        value = self.config.get("workspace_url")
        if value in (None, ""):
            return None
        if (
            not isinstance(value, str)
            or not value.startswith(("https://", "http://"))
            or any(char.isspace() or char in "?#" for char in value)
        ):
            raise ConnectorConfigError(
                f"workspace_url {value!r} is not like https://acme.slack.com"
            )
        return value.rstrip("/")

    def _default_workspace(self) -> str:
        value = self.config.get("workspace")
        return value if isinstance(value, str) and value.strip() else "slack"

    # --- reading ---------------------------------------------------------------------------

    def _read_json(self, files: ExportFiles, name: str, *, max_bytes: int) -> Any:
        return parsing.load_json(files.read(name, max_bytes=max_bytes))

    def _read_list(
        self, files: ExportFiles, name: str, failures: list[SourceFailure], *, max_bytes: int
    ) -> list[Any] | None:
        """Return a JSON list file, or None after recording why it cannot be used."""
        try:
            value = self._read_json(files, name, max_bytes=max_bytes)
        except FileRejected as exc:
            failures.append(_failure(files, name, exc))
            return None
        if not isinstance(value, list):
            error = CorruptFile(f"{name} holds a {type(value).__name__}, not a list")
            failures.append(_failure(files, name, error))
            return None
        return value

    def _plan(
        self,
        files: ExportFiles,
        layout: ExportLayout,
        workspace_url: str | None,
        since: ExportCursor,
    ) -> _ExportPlan:
        """Read the metadata files and scan the day files for members, bots and profiles.

        Day files that `since` records as read and unchanged are not scanned again: what
        they said is in the cursor.
        """
        # Entries refused while listing (links in a folder) may hide messages, like folders
        # that match no conversation: both make the list of ids incomplete.
        rejected = [_failure(files, name, exc) for name, exc in files.rejected()]
        failures = list(rejected)
        # Over the cap, a file is quarantined (LimitExceeded) and the rest goes on: without
        # users.json authors stay unresolved; without a conversation list, its folders are
        # skipped (and reported) rather than filed under a guessed audience.
        max_bytes = self.limits.metadata_bytes

        users: list[Any] = []
        users_name = layout.metadata("users.json") or ""
        if users_name:
            users = self._read_list(files, users_name, failures, max_bytes=max_bytes) or []
        workspace = parsing.workspace_of(users) or self._default_workspace()
        people: dict[str, SourcePerson] = {}
        for index, record in enumerate(users):
            try:
                person = parsing.parse_user(record, workspace=workspace)
            except FileRejected as exc:
                failures.append(_failure(files, users_name, exc, record=f"[{index}]"))
                continue
            people.setdefault(person.ref.value, person)

        records: list[tuple[ContainerKind, str, int, Any]] = []
        for filename, kind in CONTAINER_FILES:
            if name := layout.metadata(filename):
                listed = self._read_list(files, name, failures, max_bytes=max_bytes) or []
                records.extend((kind, name, index, record) for index, record in enumerate(listed))
        channels = self._channels(records, workspace, _names(people.values()), failures, files)
        skipped: list[SourceFailure] = []
        folders = _map_folders(channels, layout, skipped, files)
        failures.extend(skipped)

        listed_users = {person.ref.value.rsplit("/", 1)[-1] for person in people.values()}
        day_file_bytes = self.limits.day_file_bytes
        scans = {
            channel_id: _scan_conversation(
                files,
                day_files,
                channels[channel_id].container,
                since.read.get(channel_id),
                root=layout.root,
                workspace=workspace,
                listed_users=listed_users,
                max_bytes=day_file_bytes,
            )
            for channel_id, day_files in folders.items()
        }
        for person in _scanned_people(scans.values(), workspace):
            people.setdefault(person.ref.value, person)
        names = _names(people.values())
        # DM names are built from member names: parse again now that every name is known.
        channels = self._channels(records, workspace, names, [], files)

        containers: list[SourceContainer] = []
        conversations: list[_Conversation] = []
        for channel in channels.values():
            channel_id = channel.container.external_id
            scan = scans.get(channel_id)
            joined = scan.joined if scan is not None else ()
            container = _with_joiners(channel.container, joined, workspace)
            containers.append(container)
            day_files = folders.get(channel_id)
            if day_files and scan is not None:
                conversations.append(
                    _Conversation(container, day_files, start=scan.start, state=scan.state)
                )
        context = parsing.ExportContext(
            workspace=workspace,
            workspace_url=workspace_url,
            names=names,
            channel_names={
                channel.container.external_id: channel.container.name
                for channel in channels.values()
                if channel.container.kind in ("channel", "private_channel")
            },
        )
        return _ExportPlan(
            context=context,
            people=parsing.sorted_people(people.values()),
            containers=tuple(sorted(containers, key=lambda container: container.external_id)),
            conversations=sorted(conversations, key=lambda item: item.container.external_id),
            failures=failures,
            unlisted=rejected + skipped,
        )

    def _channels(
        self,
        records: Sequence[tuple[ContainerKind, str, int, Any]],
        workspace: str,
        names: Mapping[str, str],
        failures: list[SourceFailure],
        files: ExportFiles,
    ) -> dict[str, parsing.ExportChannel]:
        channels: dict[str, parsing.ExportChannel] = {}
        for kind, name, index, record in records:
            try:
                channel = parsing.parse_container(
                    record, kind=kind, workspace=workspace, names=names
                )
            except FileRejected as exc:
                failures.append(_failure(files, name, exc, record=f"[{index}]"))
                continue
            known = channels.get(channel.container.external_id)
            if known is not None:
                twice = CorruptFile(f"conversation {channel.container.external_id} is listed twice")
                failures.append(_failure(files, name, twice, record=f"[{index}]"))
                # Fail closed: a conversation listed as public and as private stays private.
                if known.container.is_private or not channel.container.is_private:
                    continue
            channels[channel.container.external_id] = channel
        return channels

    def _read_conversation(
        self, files: ExportFiles, conversation: _Conversation, context: parsing.ExportContext
    ) -> _Read:
        """Return a conversation's documents, ordered by last change, and its failures.

        Ordered by last change (ts, or edit ts) rather than by day: the cursor is the newest
        change yielded, so an old message edited late must come after what was posted before
        the edit, or a resume could skip messages. Deleted messages are left out.
        """
        read = _Read()
        latest: dict[str, SourceDocument] = {}
        deleted: set[str] = set()
        channel_id = conversation.container.external_id
        limit = self.limits.day_file_bytes
        for name in conversation.unread:
            before = len(read.failures)
            day = self._read_list(files, name, read.failures, max_bytes=limit)
            read.unreadable.extend(read.failures[before:])
            for index, record in enumerate(day or []):
                if gone := parsing.deleted_ts(record):
                    deleted.add(f"{channel_id}/{gone}")
                    latest.pop(f"{channel_id}/{gone}", None)
                    continue
                try:
                    document = parsing.parse_message(
                        record, container=conversation.container, context=context
                    )
                except FileRejected as exc:
                    read.failures.append(_failure(files, name, exc, record=f"[{index}]"))
                    read.records.append((read.failures[-1], _record_id(channel_id, record)))
                    continue
                except _PARSE_ERRORS as exc:
                    error = CorruptFile(f"unexpected record: {exc!r}"[:300])
                    read.failures.append(_failure(files, name, error, record=f"[{index}]"))
                    read.records.append((read.failures[-1], _record_id(channel_id, record)))
                    continue
                if document is None or document.external_id in deleted:
                    continue
                known = latest.get(document.external_id)
                # The same message twice (the original, then a message_changed record): keep
                # the newest version; on a tie, the one read last.
                if known is None or _change_key(document) >= _change_key(known):
                    latest[document.external_id] = document
        read.documents = sorted(
            latest.values(),
            key=lambda document: (*_change_key(document), document.external_id),
        )
        return read


# --- cursor ----------------------------------------------------------------------------------


CURSOR_VERSION = 2


def parse_cursor(cursor: str | None) -> ExportCursor:
    """Return the cursor `dump_cursor` wrote; raise ConnectorConfigError if malformed.

    Also reads the first version's cursor, a bare {channel id: ts} map (nothing known read).
    """
    if not cursor:
        return ExportCursor()
    try:
        value = json.loads(cursor)
    except ValueError as exc:
        raise ConnectorConfigError(f"cursor is not JSON: {exc}") from exc
    if isinstance(value, dict) and value.get("v") == CURSOR_VERSION:
        ts, read = value.get("ts"), value.get("read")
    else:
        ts, read = value, {}
    if not isinstance(ts, dict) or not all(
        isinstance(key, str) and isinstance(stamp, str) for key, stamp in ts.items()
    ):
        raise ConnectorConfigError("cursor is not a map of channel ids to timestamps")
    if not isinstance(read, dict):
        raise ConnectorConfigError("cursor's record of read conversations is not a map")
    try:
        for stamp in ts.values():
            parsing.parse_ts(stamp)
        states = {str(key): _load_state(state) for key, state in read.items()}
    except FileRejected as exc:
        raise ConnectorConfigError(f"cursor holds a bad timestamp: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise ConnectorConfigError(f"cursor's record of read conversations is bad: {exc}") from exc
    return ExportCursor(ts=ts, read=states)


def dump_cursor(progress: ExportCursor) -> str:
    """Return the cursor string for `progress` (stable: keys sorted)."""
    value = {
        "v": CURSOR_VERSION,
        "ts": progress.ts,
        "read": {key: _dump_state(state) for key, state in progress.read.items()},
    }
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _dump_state(state: ChannelState) -> dict[str, Any]:
    value: dict[str, Any] = {"n": state.files, "d": state.digest, "m": state.members}
    if state.joined:
        value["j"] = list(state.joined)
    if state.membership_ts is not None:
        value["t"] = state.membership_ts
    if state.bots:
        value["b"] = [list(bot) for bot in state.bots]
    if state.profiles:
        value["p"] = [list(profile) for profile in state.profiles]
    return value


def _load_state(value: object) -> ChannelState:
    """Return the state `_dump_state` wrote; raise TypeError or ValueError if malformed."""
    if not isinstance(value, dict):
        raise TypeError("a conversation's record is not a map")
    files, digest, members = value.get("n"), value.get("d"), value.get("m")
    if not isinstance(files, int) or isinstance(files, bool) or files < 0:
        raise ValueError("bad count of day files")
    if not isinstance(digest, str) or not isinstance(members, str):
        raise TypeError("bad digest")
    membership_ts = value.get("t")
    if membership_ts is not None:
        membership_ts = str(parsing.parse_ts(membership_ts))
    joined = tuple(_strings(value.get("j", [])))
    bots = tuple(
        (_text(bot[0]), _optional(bot[1], str), _optional(bot[2], bool))
        for bot in _lists(value.get("b", []), 3)
    )
    profiles = tuple((_text(p[0]), _text(p[1]), _text(p[2])) for p in _lists(value.get("p", []), 3))
    return ChannelState(files, digest, members, joined, membership_ts, bots, profiles)


def _lists(value: object, length: int) -> list[list[Any]]:
    if not isinstance(value, list) or not all(
        isinstance(item, list) and len(item) == length for item in value
    ):
        raise TypeError(f"not a list of {length}-item lists")
    return value


def _strings(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError("not a list of strings")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _optional(value: object, kind: type) -> Any:
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"not a {kind.__name__} or null")
    return value


# --- helpers ---------------------------------------------------------------------------------


@dataclass
class _Scan:
    """What one conversation's day files say about people, and which files to read."""

    start: int  # the first day file still to read
    state: ChannelState | None  # to record once the conversation is read; None: unknown
    joined: tuple[str, ...]  # Slack ids whose last join/leave was a join, not listed
    bots: tuple[tuple[str, str | None, bool | None], ...]  # (bot id, name, deleted)
    profiles: dict[str, SourcePerson]  # Slack id -> first embedded profile


def _scan_conversation(
    files: ExportFiles,
    day_files: tuple[str, ...],
    container: SourceContainer,
    known: ChannelState | None,
    *,
    root: str,
    workspace: str,
    listed_users: set[str],
    max_bytes: int,
) -> _Scan:
    """Collect joins/leaves, bot authors and embedded profiles from a conversation's day files.

    Done before the first batch, because that batch must carry every person and member.
    Unreadable files are skipped here; the conversation's own pass reports them. With `known`
    (from the cursor) matching the first day files, only the files after them are read, and
    the result is the same as reading them all.
    """
    prints = [files.fingerprint(name) for name in day_files]
    # Named from the export's top, so a copy zipped with its folder has the same cursor.
    relative = [name[len(root) :] for name in day_files]
    listed = {ref.value.rsplit("/", 1)[-1] for ref in container.members}
    members = _digest(sorted(listed))
    start = 0
    if (
        known is not None
        and None not in prints
        and known.members == members
        and known.files <= len(day_files)
        and _files_digest(relative[: known.files], prints[: known.files]) == known.digest
    ):
        start = known.files
    changes, bot_names, bot_authors, profiles = _scan_files(
        files, day_files[start:], workspace, listed_users, max_bytes
    )
    if (
        known is not None
        and start
        and known.membership_ts is not None
        and changes
        and min(change.ts for change in changes) < Decimal(known.membership_ts)
    ):
        # A join or leave older than one already counted: count them all again.
        start = 0
        changes, bot_names, bot_authors, profiles = _scan_files(
            files, day_files, workspace, listed_users, max_bytes
        )
    joined: set[str] = set()
    membership_ts: Decimal | None = None
    bots: dict[str, list[Any]] = {}
    if start and known is not None:
        # Earlier files come first: their joins are replayed before, their finds win.
        joined = set(known.joined)
        membership_ts = Decimal(known.membership_ts) if known.membership_ts else None
        bots = {bot_id: [name, deleted] for bot_id, name, deleted in known.bots}
        later = profiles
        profiles = {
            user_id: SourcePerson(
                ref=parsing.person_ref(workspace, user_id),
                display_name=display_name,
                real_name=real_name,
            )
            for user_id, display_name, real_name in known.profiles
        }
        for user_id, person in later.items():
            profiles.setdefault(user_id, person)
    for change in sorted(changes, key=lambda change: change.ts):
        if change.user_id not in listed:
            if change.joined:
                joined.add(change.user_id)
            else:
                joined.discard(change.user_id)
        membership_ts = change.ts
    for bot_id, name in bot_names.items():
        entry = bots.setdefault(bot_id, [None, None])
        if entry[0] is None:
            entry[0] = name
    for bot_id, deleted in bot_authors.items():
        entry = bots.setdefault(bot_id, [None, None])
        if entry[1] is None:
            entry[1] = deleted
    bot_list = tuple((bot_id, entry[0], entry[1]) for bot_id, entry in bots.items())
    state = None
    if None not in prints:
        state = ChannelState(
            files=len(day_files),
            digest=_files_digest(relative, prints),
            members=members,
            joined=tuple(sorted(joined)),
            membership_ts=None if membership_ts is None else str(membership_ts),
            bots=bot_list,
            # Profiles of people in users.json never count (users.json wins): not kept.
            profiles=tuple(
                (user_id, person.display_name, person.real_name)
                for user_id, person in profiles.items()
                if user_id not in listed_users
            ),
        )
    return _Scan(
        start=start,
        state=state,
        joined=tuple(sorted(joined)),
        bots=bot_list,
        profiles=profiles,
    )


def _scan_files(
    files: ExportFiles,
    names: Sequence[str],
    workspace: str,
    listed_users: set[str],
    max_bytes: int,
) -> tuple[
    list[parsing.MembershipChange], dict[str, str], dict[str, bool], dict[str, SourcePerson]
]:
    """Return (joins and leaves, bot id -> name, bot author id -> deleted, Slack id -> profile)
    found in `names`, the first find winning. Profiles are those of authors not in
    `listed_users` (users.json wins over them).

    A day file whose bytes show it can add nothing (see `_adds_nothing`) is not decoded.
    """
    changes: list[parsing.MembershipChange] = []
    bot_names: dict[str, str] = {}
    bot_authors: dict[str, bool] = {}
    profiles: dict[str, SourcePerson] = {}
    listed = {user.encode() for user in listed_users}
    settled: set[bytes] = set()  # bots whose name and deleted flag are both found
    for name in names:
        try:
            data = files.read(name, max_bytes=max_bytes)
        except FileRejected:
            continue
        if _adds_nothing(data, listed, settled):
            continue
        try:
            day = parsing.load_json(data)
        except FileRejected:
            continue
        if not isinstance(day, list):
            continue
        for record in day:
            if change := parsing.membership_change(record):
                changes.append(change)
            message = parsing.unwrap(record)
            if named := parsing.bot_name(message):
                bot_names.setdefault(*named)
            if bot_id := parsing.bot_author(message):
                profile = message.get("bot_profile") if isinstance(message, dict) else None
                deleted = isinstance(profile, dict) and profile.get("deleted") is True
                bot_authors.setdefault(bot_id, deleted)
            if person := parsing.profile_person(message, workspace=workspace):
                user_id = person.ref.value.rsplit("/", 1)[-1]
                if user_id not in listed_users:
                    profiles.setdefault(user_id, person)
        settled.update(bot.encode() for bot in bot_names.keys() & bot_authors.keys())
    return changes, bot_names, bot_authors, profiles


# A \u escape of an ASCII character: the only way JSON can spell a key or an id other than
# literally (letters, digits and "_" have no other escape).
_ASCII_ESCAPE = re.compile(rb"\\u00[0-7]")
_MEMBERSHIP_WORDS = (b"channel_join", b"group_join", b"channel_leave", b"group_leave")
_USER_KEY = re.compile(rb'"user"\s*:\s*')
_BOT_KEY = re.compile(rb'"bot_id"\s*:\s*')


def _adds_nothing(data: bytes, listed: set[bytes], settled: set[bytes]) -> bool:
    """Return True if decoding a day file could find no join or leave, no bot not `settled`
    and no profile of an author not `listed`; False when that cannot be told.

    Sound on the raw bytes because, in UTF-8 JSON without \\u00XX escapes of ASCII, every key
    and every id is written literally: a join is the literal "channel_join"..., a bot has the
    literal key "bot_id", an author the literal key "user". Quotes inside strings are escaped,
    so a match may be spurious (which only makes the file decoded) but none is missed.
    """
    if json.detect_encoding(data) not in ("utf-8", "utf-8-sig") or _ASCII_ESCAPE.search(data):
        return False
    if any(word in data for word in _MEMBERSHIP_WORDS):
        return False
    bots = _string_values(data, _BOT_KEY)
    if bots is None or not bots <= settled:
        return False
    if b'"user_profile"' not in data:
        return True
    users = _string_values(data, _USER_KEY)
    return users is not None and users <= listed


def _string_values(data: bytes, key: re.Pattern[bytes]) -> set[bytes] | None:
    """Return the string values written after `key` (other values are left out), or None if
    one has an escape or no end."""
    values: set[bytes] = set()
    for match in key.finditer(data):
        start = match.end()
        if data[start : start + 1] != b'"':
            continue  # a number, null, object...: never an id
        end = data.find(b'"', start + 1)
        value = data[start + 1 : end]
        if end < 0 or b"\\" in value:
            return None
        values.add(value)
    return values


def _scanned_people(scans: Iterable[_Scan], workspace: str) -> list[SourcePerson]:
    """Return the people the scans found: profiles first, then bots, in reading order."""
    people: list[SourcePerson] = []
    bot_names: dict[str, str] = {}
    bot_authors: dict[str, bool] = {}
    scans = list(scans)
    for scan in scans:
        people.extend(scan.profiles.values())
        for bot_id, name, deleted in scan.bots:
            if name is not None:
                bot_names.setdefault(bot_id, name)
            if deleted is not None:
                bot_authors.setdefault(bot_id, deleted)
    for bot_id, deleted in sorted(bot_authors.items()):
        people.append(
            SourcePerson(
                ref=parsing.person_ref(workspace, bot_id),
                display_name=bot_names.get(bot_id, bot_id),
                is_bot=True,
                is_deleted=deleted,
            )
        )
    return people


def _digest(parts: Iterable[str]) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def _files_digest(names: Sequence[str], prints: Sequence[str | None]) -> str:
    return _digest(
        f"{name}\t{fingerprint}" for name, fingerprint in zip(names, prints, strict=True)
    )


def _map_folders(
    channels: Mapping[str, parsing.ExportChannel],
    layout: ExportLayout,
    failures: list[SourceFailure],
    files: ExportFiles,
) -> dict[str, tuple[str, ...]]:
    """Return channel id -> its day files, matching folders by channel name or id.

    A folder that matches no conversation, or several, is reported and skipped: its messages
    would otherwise be filed under the wrong audience.
    """
    claims: dict[str, set[str]] = {}
    for channel_id, channel in channels.items():
        for folder in channel.folder_names:
            claims.setdefault(folder, set()).add(channel_id)
    mapped: dict[str, list[str]] = {}
    for folder, day_files in layout.folders.items():
        owners = claims.get(folder, set())
        if len(owners) != 1:
            why = "matches no conversation" if not owners else "matches several conversations"
            error = CorruptFile(
                f"folder {folder!r} {why} in channels.json, groups.json, mpims.json or dms.json;"
                " its messages are skipped"
            )
            failures.append(_failure(files, f"{layout.root}{folder}/", error))
            continue
        # A conversation may have a folder by name and one by id: read both.
        mapped.setdefault(owners.pop(), []).extend(day_files)
    return {
        channel_id: tuple(sorted(day_files, key=lambda name: (name.rsplit("/", 1)[-1], name)))
        for channel_id, day_files in mapped.items()
    }


def _with_joiners(
    container: SourceContainer, joined: Sequence[str], workspace: str
) -> SourceContainer:
    """Add to a container's listed members everyone whose last join/leave was a join.

    Exports may list no members (older ones, or a channel everyone left); channel_join
    messages still say who was in.
    """
    refs = {parsing.person_ref(workspace, user) for user in joined}
    if refs <= set(container.members):
        return container
    return dataclasses.replace(container, members=tuple(sorted(set(container.members) | refs)))


def _names(people: Iterable[SourcePerson]) -> dict[str, str]:
    """Return Slack id -> the name rendered for its mentions."""
    names: dict[str, str] = {}
    for person in people:
        slack_id = person.ref.value.rsplit("/", 1)[-1]
        names[slack_id] = person.display_name or person.real_name or slack_id
    return names


def _change_key(document: SourceDocument) -> tuple[Decimal, Decimal]:
    return Decimal(parsing.change_ts(document)), Decimal(str(document.metadata["ts"]))


def _chunks(documents: list[SourceDocument], size: int) -> Iterator[list[SourceDocument]]:
    """Split into chunks of about `size`, never between two equal change timestamps.

    A resume yields what is strictly newer than the cursor; splitting between equal
    timestamps would lose the second half. Yields one empty chunk for no documents.
    """
    if not documents:
        yield []
        return
    start = 0
    while start < len(documents):
        end = min(start + size, len(documents))
        while (
            end < len(documents)
            and _change_key(documents[end])[0] == _change_key(documents[end - 1])[0]
        ):
            end += 1
        yield documents[start:end]
        start = end


def _advance(progress: dict[str, str], channel_id: str, ts: str) -> None:
    known = progress.get(channel_id)
    if known is None or Decimal(ts) > Decimal(known):
        progress[channel_id] = ts


def _failure(
    files: ExportFiles, name: str, error: FileRejected, *, record: str = ""
) -> SourceFailure:
    """Describe a failure of the export's file `name` (or of `record` within it, "[3]")."""
    return SourceFailure(
        path=f"{files.label}:{name}{record}",
        error_type=type(error).__name__,
        message=str(error),
        file=files.disk_path(name),
        member=f"{name}{record}",
    )


def _export_failure(path: Path, error: FileRejected) -> SourceFailure:
    """Describe a failure of the whole export at the configured `path`."""
    # The configured path may be a link the operator chose: the file is where it leads.
    return SourceFailure(
        path=path.name,
        error_type=type(error).__name__,
        message=str(error),
        file=os.path.realpath(path),
    )


def _record_id(channel_id: str, record: object) -> str | None:
    """Return the id of the message a record that failed is about, if its ts says."""
    ts = parsing.record_ts(record)
    return None if ts is None else f"{channel_id}/{ts}"
