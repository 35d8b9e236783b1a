"""The Slack Web API connector (kind "slack"): a bot token in, batches of messages out.

It reads the same records a workspace export holds, through users.list, conversations.list,
conversations.members, conversations.history and conversations.replies, and parses them with
`connectors.slack.parsing` like `SlackExportConnector` does: one workspace read either way
gives the same external ids, people, containers, threads, audiences and links.

Incremental: the cursor keeps, per conversation, the newest change (post or edit) yielded.
The next sync asks conversations.history for what is newer than that minus `lookback_days`
(default 7), so edits and new replies of recent threads are found too; only documents whose
last change is newer than the cursor are yielded. A thread is re-read when its root, within
that window, reports a reply newer than the cursor. Slack offers no "changed since" query, so
an edit older than the window, a reply to a root older than it, or an edit of a reply in a
thread with no new reply waits for a full read (cursor None). Deleted messages are not
yielded: `list_external_ids` lists what is still at Slack, for the caller to prune the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django.utils.translation import gettext_lazy as _

from connectors.base import (
    Connector,
    PersonRef,
    Setting,
    SourceBatch,
    SourceContainer,
    SourceDocument,
    SourceFailure,
    SourcePerson,
)
from connectors.errors import ConnectorConfigError, FileRejected
from connectors.slack import parsing
from connectors.slack.client import (
    RetryPolicy,
    SlackApiFailure,
    SlackChannelError,
    SlackClient,
)

# conversations.list `types`, in the order channels are described to users.
CHANNEL_TYPES = ("public_channel", "private_channel", "mpim", "im")
# The bot scopes each call needs (https://docs.slack.dev/reference/scopes). manifest.yml asks
# for exactly their union; users:read.email adds profile emails to users.list, which link a
# person's Slack identity to their mail identity.
SCOPES: dict[str, tuple[str, ...]] = {
    "users.list": ("users:read", "users:read.email"),
    "public_channel": ("channels:read", "channels:history"),
    "private_channel": ("groups:read", "groups:history"),
    "mpim": ("mpim:read", "mpim:history"),
    "im": ("im:read", "im:history"),
    "files.info": ("files:read",),
}
BOT_SCOPES = frozenset(scope for scopes in SCOPES.values() for scope in scopes)

# Bot tokens, rotating ones included ("xoxe.xoxb-1-..."). User tokens (xoxp-) would read one
# person's DMs with the app's reach: refused.
_TOKEN = re.compile(r"(?:xoxe\.)?xoxb-[A-Za-z0-9-]{8,500}")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_SECONDS_PER_DAY = 86_400
# Unexpected errors a bug in a parser could still raise on a strange record (see export.py).
_PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError)


@dataclass(frozen=True)
class ApiLimits:
    """Batch size, page size and retry policy of the connector."""

    max_batch_documents: int = 1_000
    page_size: int = 200  # Slack's recommended `limit` for paginated methods
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class _Settings:
    token: str
    channel_types: tuple[str, ...]
    base_url: str | None
    workspace_url: str | None
    lookback: Decimal  # seconds


@dataclass
class _Plan:
    """What is known before the first message is read."""

    context: parsing.ExportContext
    people: tuple[SourcePerson, ...] = ()
    containers: tuple[SourceContainer, ...] = ()
    # The conversations to read, by id.
    conversations: list[SourceContainer] = field(default_factory=list)
    # Every conversation listed, read or not: their cursor entries are kept.
    listed: set[str] = field(default_factory=set)
    failures: list[SourceFailure] = field(default_factory=list)
    # Conversations that could not even be described: listing ids is then unsafe.
    unreadable: list[SlackChannelError] = field(default_factory=list)


@dataclass
class _Read:
    """One conversation read: documents ordered by last change, who wrote them, failures."""

    documents: list[SourceDocument] = field(default_factory=list)
    people: list[SourcePerson] = field(default_factory=list)
    failures: list[SourceFailure] = field(default_factory=list)


@dataclass
class _Cursor:
    """Per conversation, the newest change yielded once it was read through (`channels`), and
    while it is being read, the newest change yielded so far (`partial`)."""

    channels: dict[str, str] = field(default_factory=dict)
    partial: dict[str, str] = field(default_factory=dict)

    def dump(self) -> str:
        return json.dumps(
            {"channels": self.channels, "partial": self.partial},
            sort_keys=True,
            separators=(",", ":"),
        )


class SlackApiConnector(Connector):
    """Reads a Slack workspace through the Web API with a bot token.

    Config: `channel_types` (list of public_channel, private_channel, mpim, im; default all),
    `workspace_url` (https://acme.slack.com, for links; default the one auth.test gives),
    `lookback_days` (default 7), `base_url` (the Web API, default https://slack.com/api/;
    plain http only on a loopback address). Credentials: `{"token": "xoxb-..."}`.

    Guarantees: the first batch carries every person and every conversation read (with its
    members); each batch's cursor resumes exactly after it; a conversation the app cannot read
    (`not_in_channel`) becomes a SourceFailure and the others are still read; a refused token
    or missing scope raises ConnectorConfigError, Slack being unreachable or rate-limiting past
    the retries raises SourceUnavailableError; private channels, group DMs and DMs are never
    public; all datetimes are aware UTC.
    """

    kind: ClassVar[str] = "slack"
    label = _("Slack workspace (Web API)")
    settings = (
        Setting(
            "channel_types",
            _("Conversation types"),
            type="list",
            help=_(
                "Any of public_channel, private_channel, mpim, im, separated by commas; "
                "empty: all of them."
            ),
        ),
        Setting(
            "workspace_url",
            _("Workspace address"),
            type="url",
            help=_("Links to messages point here, e.g. https://acme.slack.com."),
        ),
        Setting(
            "lookback_days",
            _("Days read again on each sync"),
            type="number",
            help=_("Edits and replies this recent are found by an incremental sync (default 7)."),
        ),
    )
    secrets = (
        Setting(
            "token",
            _("Bot token"),
            required=True,
            help=_("The Slack app's bot token (xoxb-…), from OAuth & Permissions."),
        ),
    )
    limits: ClassVar[ApiLimits] = ApiLimits()

    def validate(self) -> None:
        """Raise ConnectorConfigError unless the token and config are well-formed.

        Slack is not called: a refused token is reported by the first sync.
        """
        self._settings()

    def fetch(self, *, cursor: str | None) -> Iterator[SourceBatch]:
        """Yield what changed since `cursor`, one conversation at a time, oldest change first.

        The first batch carries the people and conversations (and why some cannot be read),
        even when nothing changed.
        """
        state = parse_cursor(cursor)
        settings = self._settings()
        client = self._client(settings)
        plan = self._plan(client, settings)
        state = _Cursor(
            channels={k: v for k, v in state.channels.items() if k in plan.listed},
            partial={k: v for k, v in state.partial.items() if k in plan.listed},
        )
        sent = {person.ref for person in plan.people}
        last = state.dump()
        yield SourceBatch(
            cursor=last,
            people=plan.people,
            containers=plan.containers,
            failures=tuple(plan.failures),
        )
        files: dict[str, dict[str, Any]] = {}
        for container in plan.conversations:
            channel_id = container.external_id
            since = state.channels.get(channel_id)
            try:
                read = self._read(
                    client,
                    container,
                    plan.context,
                    since=since,
                    lookback=settings.lookback,
                    known=sent,
                    files=files,
                )
            except SlackChannelError as exc:
                yield SourceBatch(cursor=last, failures=(_channel_failure(container, exc),))
                continue
            floor = _newest(since, state.partial.get(channel_id))
            fresh = [
                document
                for document in read.documents
                if floor is None or Decimal(parsing.change_ts(document)) > Decimal(floor)
            ]
            high = _newest(floor, *(parsing.change_ts(document) for document in read.documents))
            chunks = _chunks(fresh, self.limits.max_batch_documents)
            for number, chunk in enumerate(chunks):
                if number == len(chunks) - 1:
                    # Read through: later syncs start from the newest change seen.
                    if high is not None:
                        state.channels[channel_id] = high
                    state.partial.pop(channel_id, None)
                else:
                    state.partial[channel_id] = parsing.change_ts(chunk[-1])
                people = tuple(person for person in read.people if person.ref not in sent)
                sent.update(person.ref for person in people)
                failures = tuple(read.failures) if number == 0 else ()
                dumped = state.dump()
                if chunk or people or failures or dumped != last:
                    yield SourceBatch(
                        cursor=dumped, documents=tuple(chunk), people=people, failures=failures
                    )
                    last = dumped

    def list_external_ids(self) -> Iterator[str]:
        """Yield the external id of every message still at Slack that `fetch` would read.

        Raises SlackChannelError if a conversation that is read cannot be: an incomplete list
        must never be taken as "everything else was deleted". Conversations out of the
        source's reach (public channels the app is not in, types left out of
        `channel_types`) are not listed, so their items are pruned.
        """
        settings = self._settings()
        client = self._client(settings)
        plan = self._plan(client, settings)
        if plan.unreadable:
            raise plan.unreadable[0]
        files: dict[str, dict[str, Any]] = {}
        known = {person.ref for person in plan.people}
        for container in plan.conversations:
            read = self._read(
                client,
                container,
                plan.context,
                since=None,
                lookback=settings.lookback,
                known=known,
                files=files,
            )
            for document in read.documents:
                yield document.external_id

    # --- config ----------------------------------------------------------------------------

    def _settings(self) -> _Settings:
        return _Settings(
            token=_token(self.credentials.get("token")),
            channel_types=_channel_types(self.config.get("channel_types")),
            base_url=_base_url(self.config.get("base_url")),
            workspace_url=_workspace_url(self.config.get("workspace_url")),
            lookback=_lookback(self.config.get("lookback_days")),
        )

    def _client(self, settings: _Settings) -> SlackClient:
        return SlackClient(
            settings.token,
            base_url=settings.base_url,
            page_size=self.limits.page_size,
            retry=self.limits.retry,
        )

    # --- reading ---------------------------------------------------------------------------

    def _plan(self, client: SlackClient, settings: _Settings) -> _Plan:
        """List people and conversations, and the members of every conversation to read."""
        auth = client.auth_test()
        workspace = str(auth.get("team_id") or "")
        if not parsing.is_slack_id(workspace):
            raise SlackApiFailure("Slack's auth.test answer has no team_id", code="bad_response")
        workspace_url = settings.workspace_url or _team_url(auth.get("url"))

        failures: list[SourceFailure] = []
        people: dict[PersonRef, SourcePerson] = {}
        for index, record in enumerate(client.users()):
            try:
                person = parsing.parse_user(record, workspace=workspace)
            except FileRejected as exc:
                failures.append(_failure(f"slack:users.list[{index}]", exc))
                continue
            people.setdefault(person.ref, person)
        names = parsing.display_names(people.values())

        records = [
            record
            for record in client.conversations(settings.channel_types)
            if parsing.is_slack_id(record.get("id"))
        ]
        plan = _Plan(context=parsing.ExportContext(workspace=workspace))
        channel_names: dict[str, str] = {}
        not_joined: list[str] = []
        containers: dict[str, SourceContainer] = {}
        for record in sorted(records, key=lambda record: str(record["id"])):
            channel_id = str(record["id"])
            kind = parsing.api_container_kind(record)
            if kind is None or channel_id in plan.listed:
                continue
            plan.listed.add(channel_id)
            label = str(record.get("name") or channel_id)
            if kind in ("channel", "private_channel"):
                channel_names[channel_id] = label
            if kind == "channel" and record.get("is_member") is False:
                not_joined.append(f"#{label}")
                continue
            try:
                member_ids = list(client.members(channel_id))
            except SlackChannelError as exc:
                container = SourceContainer(channel_id, label, kind, kind != "channel")
                failures.append(_channel_failure(container, exc))
                plan.unreadable.append(exc)
                continue
            other = record.get("user")  # a DM's other party
            if kind == "dm" and parsing.is_slack_id(other) and other not in member_ids:
                member_ids.append(str(other))
            try:
                channel = parsing.parse_container(
                    {**record, "members": member_ids}, kind=kind, workspace=workspace, names=names
                )
            except FileRejected as exc:
                failures.append(_failure(f"slack:conversations.list:{channel_id}", exc))
                continue
            containers[channel_id] = channel.container
        if not_joined:
            failures.append(
                SourceFailure(
                    path="slack:public channels the app is not in",
                    error_type="NotInChannel",
                    message=(
                        f"the app is not in {len(not_joined)} public channel(s), so they are "
                        f"not read: {', '.join(not_joined[:20])}"
                        f"{', ...' if len(not_joined) > 20 else ''}. Invite it to each channel "
                        "to read (/invite @app-name in the channel)."
                    ),
                )
            )
        plan.context = parsing.ExportContext(
            workspace=workspace,
            workspace_url=workspace_url,
            names=names,
            channel_names=channel_names,
        )
        plan.people = parsing.sorted_people(people.values())
        plan.containers = tuple(containers[key] for key in sorted(containers))
        plan.conversations = list(plan.containers)
        plan.failures = failures
        return plan

    def _read(
        self,
        client: SlackClient,
        container: SourceContainer,
        context: parsing.ExportContext,
        *,
        since: str | None,
        lookback: Decimal,
        known: set[PersonRef],
        files: dict[str, dict[str, Any]],
    ) -> _Read:
        """Read a conversation's messages changed since `since` (all when None), and the
        threads with replies newer than `since`; return documents ordered by last change."""
        channel_id = container.external_id
        oldest = None if since is None else _minus(since, lookback)
        latest: dict[str, SourceDocument] = {}
        people: dict[PersonRef, SourcePerson] = {}
        failures: list[SourceFailure] = []
        threads: list[str] = []

        def take(record: Any, where: str) -> None:
            if not isinstance(record, dict):
                return
            self._people(record, context.workspace, known, people)
            if wanted := [item for item in parsing.files_to_look_up(record) if item not in files]:
                for file_id in wanted:
                    try:
                        files[file_id] = client.file_info(file_id)
                    except SlackApiFailure:
                        files[file_id] = {}  # deleted meanwhile: keep the stub
            details = {key: files[key] for key in parsing.files_to_look_up(record) if files[key]}
            try:
                document = parsing.parse_message(
                    parsing.with_file_details(record, details), container=container, context=context
                )
            except FileRejected as exc:
                failures.append(_failure(f"slack:{channel_id}/{where}", exc))
                return
            except _PARSE_ERRORS as exc:
                error = FileRejected(f"unexpected record: {exc!r}"[:300])
                failures.append(_failure(f"slack:{channel_id}/{where}", error))
                return
            if document is None:
                return
            known_version = latest.get(document.external_id)
            if known_version is None or _change_key(document) >= _change_key(known_version):
                latest[document.external_id] = document

        for record in client.history(channel_id, oldest=oldest):
            take(record, str(record.get("ts")))
            if parsing.thread_root_has_replies(record):
                activity = parsing.thread_root_activity(record)
                if since is None or activity is None or Decimal(activity) > Decimal(since):
                    threads.append(str(record["ts"]))
        for thread_ts in threads:
            try:
                for record in client.replies(channel_id, thread_ts):
                    take(record, f"{thread_ts}/{record.get('ts')}")
            except SlackApiFailure as exc:
                if exc.code != "thread_not_found":  # the root was deleted meanwhile
                    raise
        documents = sorted(
            latest.values(), key=lambda document: (*_change_key(document), document.external_id)
        )
        return _Read(documents=documents, people=list(people.values()), failures=failures)

    def _people(
        self,
        record: dict[str, Any],
        workspace: str,
        known: set[PersonRef],
        found: dict[PersonRef, SourcePerson],
    ) -> None:
        """Collect authors users.list does not name: bots posting without a user, and
        people from other workspaces whose profile the message carries."""
        if bot_id := parsing.bot_author(record):
            ref = parsing.person_ref(workspace, bot_id)
            if ref not in known and ref not in found:
                named = parsing.bot_name(record)
                profile = record.get("bot_profile")
                found[ref] = SourcePerson(
                    ref=ref,
                    display_name=named[1] if named else bot_id,
                    is_bot=True,
                    is_deleted=isinstance(profile, dict) and profile.get("deleted") is True,
                )
        person = parsing.profile_person(record, workspace=workspace)
        if person is not None and person.ref not in known and person.ref not in found:
            found[person.ref] = person


# --- cursor ----------------------------------------------------------------------------------


def parse_cursor(cursor: str | None) -> _Cursor:
    """Return the cursor's state; raise ConnectorConfigError if it is malformed."""
    if not cursor:
        return _Cursor()
    try:
        value = json.loads(cursor)
    except ValueError as exc:
        raise ConnectorConfigError(f"cursor is not JSON: {exc}") from exc
    if not isinstance(value, dict) or not set(value) <= {"channels", "partial"}:
        raise ConnectorConfigError("cursor is not a Slack API cursor")
    state = _Cursor()
    for key, target in (("channels", state.channels), ("partial", state.partial)):
        entries = value.get(key, {})
        if not isinstance(entries, dict):
            raise ConnectorConfigError(f"cursor {key} is not a map of channel ids to timestamps")
        for channel_id, ts in entries.items():
            if not parsing.is_slack_id(channel_id):
                raise ConnectorConfigError("cursor holds a malformed channel id")
            try:
                parsing.parse_ts(ts)
            except FileRejected as exc:
                raise ConnectorConfigError(f"cursor holds a bad timestamp: {exc}") from exc
            target[channel_id] = ts
    return state


# --- config checks ---------------------------------------------------------------------------


def _token(value: object) -> str:
    if value in (None, ""):
        raise ConnectorConfigError(
            "credentials need `token`: the Slack app's bot token (xoxb-...), from "
            "OAuth & Permissions once the app is installed"
        )
    if not isinstance(value, str) or not _TOKEN.fullmatch(value.strip()):
        # Never echo the value: it may be a real secret pasted in the wrong field.
        raise ConnectorConfigError(
            "credentials `token` is not a Slack bot token: it must start with xoxb- "
            "(user tokens, xoxp-, are not accepted)"
        )
    return value.strip()


def _channel_types(value: object) -> tuple[str, ...]:
    if value in (None, "", []):
        return CHANNEL_TYPES
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise ConnectorConfigError("channel_types must be a list such as ['public_channel']")
    wanted = [item.strip() for item in items if item.strip()]
    unknown = sorted(set(wanted) - set(CHANNEL_TYPES))
    if unknown or not wanted:
        raise ConnectorConfigError(
            f"channel_types {unknown or value!r} not known; use any of {', '.join(CHANNEL_TYPES)}"
        )
    return tuple(kind for kind in CHANNEL_TYPES if kind in wanted)


def _base_url(value: object) -> str | None:
    if value in (None, ""):
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if (
        parts is None
        or parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or any(char.isspace() for char in str(value))
    ):
        raise ConnectorConfigError(f"base_url {value!r} is not like https://slack.com/api/")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        # The token goes wherever base_url points: never in clear over a network.
        raise ConnectorConfigError("base_url must use https (http only on 127.0.0.1)")
    return str(value)


def _workspace_url(value: object) -> str | None:
    if value in (None, ""):
        return None
    if (
        not isinstance(value, str)
        or not value.startswith(("https://", "http://"))
        or any(char.isspace() or char in "?#" for char in value)
    ):
        raise ConnectorConfigError(f"workspace_url {value!r} is not like https://acme.slack.com")
    return value.rstrip("/")


def _lookback(value: object) -> Decimal:
    if value is None:
        return Decimal(7 * _SECONDS_PER_DAY)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 365:
        raise ConnectorConfigError("lookback_days must be a number of days from 0 to 365")
    return Decimal(str(value)) * _SECONDS_PER_DAY


def _team_url(value: object) -> str | None:
    """Return auth.test's workspace URL (https://acme.slack.com/) without its slash."""
    if isinstance(value, str) and value.startswith("https://") and "?" not in value:
        return value.rstrip("/")
    return None


# --- helpers ---------------------------------------------------------------------------------


def _newest(*values: str | None) -> str | None:
    present = [value for value in values if value is not None]
    return max(present, key=Decimal) if present else None


def _minus(ts: str, seconds: Decimal) -> str | None:
    value = Decimal(ts) - seconds
    return f"{value:.6f}" if value > 0 else None


def _change_key(document: SourceDocument) -> tuple[Decimal, Decimal]:
    return Decimal(parsing.change_ts(document)), Decimal(str(document.metadata["ts"]))


def _chunks(documents: list[SourceDocument], size: int) -> list[list[SourceDocument]]:
    """Split into chunks of about `size`, never between two equal change timestamps.

    A resume yields what is strictly newer than the cursor, so splitting between equal
    timestamps would lose the second half. One empty chunk for no documents.
    """
    if not documents:
        return [[]]
    chunks: list[list[SourceDocument]] = []
    start = 0
    while start < len(documents):
        end = min(start + size, len(documents))
        while (
            end < len(documents)
            and _change_key(documents[end])[0] == _change_key(documents[end - 1])[0]
        ):
            end += 1
        chunks.append(documents[start:end])
        start = end
    return chunks


def _failure(path: str, error: Exception) -> SourceFailure:
    return SourceFailure(path=path, error_type=type(error).__name__, message=str(error))


def _channel_failure(container: SourceContainer, error: SlackChannelError) -> SourceFailure:
    """Say which conversation is skipped and what would let the app read it."""
    named = container.kind in ("channel", "private_channel")
    label = f"#{container.name}" if named else container.name
    where = f"{label} ({container.external_id})"
    if error.code == "not_in_channel":
        message = (
            f"the app is not in {where}, so it is skipped: invite the app to {label} "
            "(/invite @app-name in the channel) and the next sync reads it"
        )
    else:
        message = f"{where} is gone or hidden from the app ({error.code}); it is skipped"
    return SourceFailure(path=f"slack:{where}", error_type=type(error).__name__, message=message)
