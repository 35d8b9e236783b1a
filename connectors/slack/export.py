"""The Slack workspace export connector: a ZIP or folder in, batches of messages out.

Export format: https://slack.com/help/articles/220556107. One batch per conversation (split
past `ExportLimits.max_batch_documents`); the first batch also carries every person and
conversation. Anything unreadable becomes a `SourceFailure` and the sync goes on.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from connectors.archives import DEFAULT_LIMITS, ArchiveLimits
from connectors.base import (
    Connector,
    ContainerKind,
    SourceBatch,
    SourceContainer,
    SourceDocument,
    SourceFailure,
    SourcePerson,
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

    max_metadata_bytes: int = 200 * 1024**2  # users.json, channels.json...
    max_day_file_bytes: int = 200 * 1024**2  # one conversation's messages of one day
    max_batch_documents: int = 5_000


@dataclass(frozen=True)
class _Conversation:
    container: SourceContainer
    day_files: tuple[str, ...]  # oldest day first


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


class SlackExportConnector(Connector):
    """Reads a Slack workspace export (`.zip` or folder) given as config `path`.

    Config: `path`; optional `workspace_url` ("https://acme.slack.com", for message links)
    and `workspace` (the key of people when users.json has no team id). No credentials.

    Guarantees: a ZIP is never extracted and a folder's symbolic links are never followed;
    no input makes `fetch` raise, except a missing `path` or a malformed cursor
    (ConnectorConfigError); all datetimes are aware UTC; private channels, DMs and group DMs
    are never public.
    """

    kind: ClassVar[str] = "slack-export"
    limits: ClassVar[ExportLimits] = ExportLimits()
    archive_limits: ClassVar[ArchiveLimits] = DEFAULT_LIMITS

    def validate(self) -> None:
        """Raise ConnectorConfigError unless `path` is a readable Slack export."""
        path = self._path()
        self._workspace_url()
        try:
            with open_export(path, archive_limits=self.archive_limits) as files:
                if find_layout(files.names()) is None:
                    raise ConnectorConfigError(
                        f"{path.name} is not a Slack export: it has no users.json or channels.json"
                    )
        except FileRejected as exc:
            raise ConnectorConfigError(f"{path.name} cannot be read safely: {exc}") from exc

    def fetch(self, *, cursor: str | None) -> Iterator[SourceBatch]:
        """Yield messages newer than `cursor`, one conversation at a time, oldest change first.

        The first batch carries every person and conversation of the export, even when
        resuming. Each batch's cursor covers every batch yielded so far.
        """
        since = parse_cursor(cursor)
        progress = dict(since)
        path = self._path()
        workspace_url = self._workspace_url()
        try:
            files = open_export(path, archive_limits=self.archive_limits)
        except FileRejected as exc:
            # A rejected archive (bomb, zip slip, link...): report it, read nothing from it.
            yield SourceBatch(cursor=dump_cursor(progress), failures=(_failure(path.name, exc),))
            return
        with files:
            layout = find_layout(files.names())
            if layout is None:
                error = CorruptFile("not a Slack export: no users.json or channels.json")
                yield SourceBatch(
                    cursor=dump_cursor(progress), failures=(_failure(path.name, error),)
                )
                return
            plan = self._plan(files, layout, workspace_url)
            first = True
            for documents, failures in self._increments(files, plan, since, progress):
                if first:
                    # The first batch introduces everyone and every conversation, so stored
                    # documents can always resolve their author and audience.
                    yield SourceBatch(
                        cursor=dump_cursor(progress),
                        documents=documents,
                        people=plan.people,
                        containers=plan.containers,
                        failures=(*plan.failures, *failures),
                    )
                    first = False
                else:
                    yield SourceBatch(
                        cursor=dump_cursor(progress), documents=documents, failures=failures
                    )
            if first:
                yield SourceBatch(
                    cursor=dump_cursor(progress),
                    people=plan.people,
                    containers=plan.containers,
                    failures=tuple(plan.failures),
                )

    def list_external_ids(self) -> Iterator[str]:
        """Yield the external id of every message `fetch(cursor=None)` would yield.

        Raises the FileRejected of the first archive, file or folder that cannot be read:
        an incomplete list must never be taken as "everything else was deleted".
        """
        path = self._path()
        with open_export(path, archive_limits=self.archive_limits) as files:
            layout = find_layout(files.names())
            if layout is None:
                raise CorruptFile(f"{path.name} is not a Slack export")
            plan = self._plan(files, layout, self._workspace_url())
            if plan.unlisted:
                raise _rejection(plan.unlisted[0])
            for conversation in plan.conversations:
                read = self._read_conversation(files, conversation, plan.context)
                if read.unreadable:
                    raise _rejection(read.unreadable[0])
                for document in read.documents:
                    yield document.external_id

    def _increments(
        self,
        files: ExportFiles,
        plan: _ExportPlan,
        since: Mapping[str, str],
        progress: dict[str, str],
    ) -> Iterator[tuple[tuple[SourceDocument, ...], tuple[SourceFailure, ...]]]:
        """Yield (documents, failures) per conversation chunk, advancing `progress` first.

        Only what changed after `since` is yielded; chunks with neither are left out.
        """
        for conversation in plan.conversations:
            read = self._read_conversation(files, conversation, plan.context)
            channel_id = conversation.container.external_id
            newer_than = since.get(channel_id)
            fresh = [
                document
                for document in read.documents
                if newer_than is None or Decimal(parsing.change_ts(document)) > Decimal(newer_than)
            ]
            for number, chunk in enumerate(_chunks(fresh, self.limits.max_batch_documents)):
                failures = tuple(read.failures) if number == 0 else ()
                if chunk:
                    _advance(progress, channel_id, parsing.change_ts(chunk[-1]))
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
            failures.append(_failure(f"{files.label}:{name}", exc))
            return None
        if not isinstance(value, list):
            error = CorruptFile(f"{name} holds a {type(value).__name__}, not a list")
            failures.append(_failure(f"{files.label}:{name}", error))
            return None
        return value

    def _plan(
        self, files: ExportFiles, layout: ExportLayout, workspace_url: str | None
    ) -> _ExportPlan:
        """Read the metadata files and scan every day file once for members and bots."""
        # Entries refused while listing (links in a folder) may hide messages, like folders
        # that match no conversation: both make the list of ids incomplete.
        rejected = [_failure(f"{files.label}:{name}", exc) for name, exc in files.rejected()]
        failures = list(rejected)
        max_bytes = self.limits.max_metadata_bytes

        users: list[Any] = []
        if users_name := layout.metadata("users.json"):
            users = self._read_list(files, users_name, failures, max_bytes=max_bytes) or []
        workspace = parsing.workspace_of(users) or self._default_workspace()
        people: dict[str, SourcePerson] = {}
        for index, record in enumerate(users):
            try:
                person = parsing.parse_user(record, workspace=workspace)
            except FileRejected as exc:
                failures.append(_failure(f"{files.label}:{users_name}[{index}]", exc))
                continue
            people.setdefault(person.ref.value, person)

        records: list[tuple[ContainerKind, str, int, Any]] = []
        for filename, kind in CONTAINER_FILES:
            if name := layout.metadata(filename):
                listed = self._read_list(files, name, failures, max_bytes=max_bytes) or []
                records.extend((kind, name, index, record) for index, record in enumerate(listed))
        channels = self._channels(records, workspace, _names(people.values()), failures, files)
        skipped: list[SourceFailure] = []
        folders = _map_folders(channels, layout, skipped, files.label)
        failures.extend(skipped)

        scan = _scan_days(files, folders, workspace, self.limits.max_day_file_bytes)
        for person in scan.people:
            people.setdefault(person.ref.value, person)
        names = _names(people.values())
        # DM names are built from member names: parse again now that every name is known.
        channels = self._channels(records, workspace, names, [], files)

        containers: list[SourceContainer] = []
        conversations: list[_Conversation] = []
        for channel in channels.values():
            container = _with_joiners(
                channel.container, scan.changes.get(channel.container.external_id, []), workspace
            )
            containers.append(container)
            day_files = folders.get(container.external_id)
            if day_files:
                conversations.append(_Conversation(container, day_files))
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
                failures.append(_failure(f"{files.label}:{name}[{index}]", exc))
                continue
            known = channels.get(channel.container.external_id)
            if known is not None:
                failures.append(
                    _failure(
                        f"{files.label}:{name}[{index}]",
                        CorruptFile(
                            f"conversation {channel.container.external_id} is listed twice"
                        ),
                    )
                )
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
        for name in conversation.day_files:
            path = f"{files.label}:{name}"
            before = len(read.failures)
            limit = self.limits.max_day_file_bytes
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
                    read.failures.append(_failure(f"{path}[{index}]", exc))
                    continue
                except _PARSE_ERRORS as exc:
                    error = CorruptFile(f"unexpected record: {exc!r}"[:300])
                    read.failures.append(_failure(f"{path}[{index}]", error))
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


def parse_cursor(cursor: str | None) -> dict[str, str]:
    """Return {channel id: newest change ts yielded}; raise ConnectorConfigError if malformed."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except ValueError as exc:
        raise ConnectorConfigError(f"cursor is not JSON: {exc}") from exc
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(ts, str) for key, ts in value.items()
    ):
        raise ConnectorConfigError("cursor is not a map of channel ids to timestamps")
    try:
        for ts in value.values():
            parsing.parse_ts(ts)
    except FileRejected as exc:
        raise ConnectorConfigError(f"cursor holds a bad timestamp: {exc}") from exc
    return value


def dump_cursor(progress: Mapping[str, str]) -> str:
    """Return the cursor string for `progress` (stable: keys sorted)."""
    return json.dumps(dict(progress), sort_keys=True, separators=(",", ":"))


# --- helpers ---------------------------------------------------------------------------------


@dataclass
class _Scan:
    people: list[SourcePerson] = field(default_factory=list)
    changes: dict[str, list[parsing.MembershipChange]] = field(default_factory=dict)


def _scan_days(
    files: ExportFiles, folders: Mapping[str, tuple[str, ...]], workspace: str, max_bytes: int
) -> _Scan:
    """Collect joins/leaves, bot authors and embedded profiles from every day file.

    Done before the first batch, because that batch must carry every person and member.
    Unreadable files are skipped here; the conversation's own pass reports them.
    """
    scan = _Scan()
    bot_names: dict[str, str] = {}
    bot_authors: dict[str, bool] = {}  # bot id -> deleted
    for channel_id, day_files in folders.items():
        changes = scan.changes.setdefault(channel_id, [])
        for name in day_files:
            try:
                day = parsing.load_json(files.read(name, max_bytes=max_bytes))
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
                    scan.people.append(person)
    for bot_id, deleted in sorted(bot_authors.items()):
        name = bot_names.get(bot_id, bot_id)
        scan.people.append(
            SourcePerson(
                ref=parsing.person_ref(workspace, bot_id),
                display_name=name,
                is_bot=True,
                is_deleted=deleted,
            )
        )
    return scan


def _map_folders(
    channels: Mapping[str, parsing.ExportChannel],
    layout: ExportLayout,
    failures: list[SourceFailure],
    label: str,
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
            failures.append(_failure(f"{label}:{layout.root}{folder}/", error))
            continue
        # A conversation may have a folder by name and one by id: read both.
        mapped.setdefault(owners.pop(), []).extend(day_files)
    return {
        channel_id: tuple(sorted(day_files, key=lambda name: (name.rsplit("/", 1)[-1], name)))
        for channel_id, day_files in mapped.items()
    }


def _with_joiners(
    container: SourceContainer, changes: list[parsing.MembershipChange], workspace: str
) -> SourceContainer:
    """Add to a container's listed members everyone whose last join/leave was a join.

    Exports may list no members (older ones, or a channel everyone left); channel_join
    messages still say who was in.
    """
    last: dict[str, parsing.MembershipChange] = {}
    for change in sorted(changes, key=lambda change: change.ts):
        last[change.user_id] = change
    joined = {parsing.person_ref(workspace, user) for user, change in last.items() if change.joined}
    if joined <= set(container.members):
        return container
    return dataclasses.replace(container, members=tuple(sorted(set(container.members) | joined)))


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


def _failure(path: str, error: FileRejected) -> SourceFailure:
    return SourceFailure(path=path, error_type=type(error).__name__, message=str(error))


def _rejection(failure: SourceFailure) -> FileRejected:
    """Return the typed error a failure records, to raise it again."""
    kinds = {cls.__name__: cls for cls in FileRejected.__subclasses__()}
    return kinds.get(failure.error_type, FileRejected)(f"{failure.path}: {failure.message}")
