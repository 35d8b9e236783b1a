"""The connector contract: plain config and credentials in, batches of documents out.

A connector never touches the database. `connectors.actions.run_sync` is the only place where
one meets it: each batch is stored together with its cursor in one transaction.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from connectors.errors import ConnectorError, FileRejected, IncompleteListing

if TYPE_CHECKING:  # the stubs' helper, a development dependency
    from django_stubs_ext import StrOrPromise

IdentityKind = Literal["slack", "email", "name"]
DocumentKind = Literal["message", "email", "document"]
ContainerKind = Literal["channel", "private_channel", "dm", "mpim", "mailbox", "folder"]


@dataclass(frozen=True, order=True)
class PersonRef:
    """How a source names a person: a key into the Identity table."""

    kind: IdentityKind
    # slack: "<workspace>/<user id>"; email: the lower-cased address; name: as written.
    value: str


@dataclass(frozen=True)
class SourcePerson:
    """What a source says about a person (a Slack profile, a mail display name)."""

    ref: PersonRef
    display_name: str = ""
    real_name: str = ""
    # An address the source has verified for this person (a Slack profile email): it links
    # this identity to the person's mail identity.
    email: str = ""
    title: str = ""
    is_bot: bool = False
    is_deleted: bool = False


@dataclass(frozen=True)
class SourceContainer:
    """Where documents live at the source: a channel, a DM, a mail folder, a document folder."""

    external_id: str
    name: str
    kind: ContainerKind
    is_private: bool
    # Members of a private container: they may see what is posted in it.
    members: tuple[PersonRef, ...] = ()
    topic: str = ""


@dataclass(frozen=True)
class Audience:
    """Who may see a document at its source. Nobody, unless something below says so."""

    # Everyone in the organisation (a public channel, an organisation-wide document).
    public: bool = False
    # Members of these containers (external ids of SourceContainer), e.g. a private channel.
    containers: tuple[str, ...] = ()
    # These people, e.g. a mail's sender and recipients.
    people: tuple[PersonRef, ...] = ()


@dataclass(frozen=True)
class SourceDocument:
    """One unit of captured knowledge as the source has it."""

    external_id: str  # stable id in the source, unique per source
    kind: DocumentKind
    title: str
    body: str
    author: PersonRef | None
    created_at: datetime  # timezone-aware
    updated_at: datetime  # timezone-aware; changes when the source edits the document
    audience: Audience
    container_id: str | None = None  # external id of its SourceContainer
    thread_id: str | None = None  # external id of the thread's first document
    url: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceFailure:
    """A file or record the connector could not read; the rest of the sync goes on."""

    path: str  # where, as shown to people: the file, or the file and the record within it
    error_type: str  # the typed error's class name, e.g. "CorruptFile"
    message: str
    # The absolute path of the file on disk that holds what failed: the quarantine keeps a
    # copy of it. Empty when there is no such file (a mailbox on a server, the Slack API).
    file: str = ""
    # What failed within `file`, when not the whole file: an archive member
    # ("general/2016-01-14.json"), an mbox message ("#17"), a record ("users.json[3]").
    member: str = ""


@dataclass(frozen=True)
class SourceBatch:
    """Documents and what they refer to, plus the cursor to resume after them."""

    cursor: str  # opaque; saved with the batch, so a crash resumes here
    documents: tuple[SourceDocument, ...] = ()
    people: tuple[SourcePerson, ...] = ()
    containers: tuple[SourceContainer, ...] = ()
    failures: tuple[SourceFailure, ...] = ()


@dataclass(frozen=True)
class ListingGap:
    """Something that failed while listing a source's ids, and the stored items it may hold.

    Pruning keeps every stored item a gap may hold. A gap that narrows nothing (every field
    below empty) may hold anything: nothing of the source is pruned.
    """

    failure: SourceFailure
    external_ids: frozenset[str] = frozenset()
    id_prefixes: tuple[str, ...] = ()  # e.g. "reports/" for a folder of documents
    containers: frozenset[str] = frozenset()  # external ids of SourceContainer
    container_prefixes: tuple[str, ...] = ()  # e.g. "archive/" for the mailboxes below it

    @property
    def unbounded(self) -> bool:
        """True when the gap may hold any item of the source."""
        return not (
            self.external_ids or self.id_prefixes or self.containers or self.container_prefixes
        )


@dataclass(frozen=True)
class SourceListing:
    """The id of every document still at the source, and what failed while listing them."""

    external_ids: frozenset[str]
    gaps: tuple[ListingGap, ...] = ()

    def may_hold(self, external_id: str, container_id: str | None) -> bool:
        """Return True if `external_id` is listed, or a gap may hold it (in `container_id`)."""
        if external_id in self.external_ids:
            return True
        held = self._held
        if held.everything or external_id in held.external_ids:
            return True
        if held.id_prefixes and external_id.startswith(held.id_prefixes):
            return True
        if container_id is None:
            return False
        if container_id in held.containers:
            return True
        return bool(held.container_prefixes) and container_id.startswith(held.container_prefixes)

    def complete_ids(self) -> frozenset[str]:
        """Return the ids; raise a typed error naming the failures if there are gaps.

        The error is the FileRejected subclass the first failure names, else
        IncompleteListing (an I/O error).
        """
        if not self.gaps:
            return self.external_ids
        named = "; ".join(f"{gap.failure.path}: {gap.failure.message}" for gap in self.gaps[:5])
        more = f" (and {len(self.gaps) - 5} more)" if len(self.gaps) > 5 else ""
        kinds = {cls.__name__: cls for cls in FileRejected.__subclasses__()}
        error: type[ConnectorError] = kinds.get(self.gaps[0].failure.error_type, IncompleteListing)
        raise error(f"{named}{more}")

    @functools.cached_property
    def _held(self) -> _Held:
        gaps = self.gaps
        return _Held(
            everything=any(gap.unbounded for gap in gaps),
            external_ids=frozenset(i for gap in gaps for i in gap.external_ids),
            id_prefixes=tuple(p for gap in gaps for p in gap.id_prefixes),
            containers=frozenset(c for gap in gaps for c in gap.containers),
            container_prefixes=tuple(p for gap in gaps for p in gap.container_prefixes),
        )


@dataclass(frozen=True)
class _Held:
    """The union of a listing's gaps, for fast lookups."""

    everything: bool
    external_ids: frozenset[str]
    id_prefixes: tuple[str, ...]
    containers: frozenset[str]
    container_prefixes: tuple[str, ...]


SettingType = Literal["text", "path", "integer", "number", "list", "choice", "url"]


@dataclass(frozen=True)
class Setting:
    """One key of a connector's plain config or of its credentials, as an administrator's
    form asks for it (connectors/forms.py `SourceForm`).

    The form only shapes the value: "integer" and "number" become numbers, "list" a list of
    the non-empty lines (or comma-separated parts), an empty optional value is left out. The
    connector's own `validate` remains the one judge of whether the config works.
    """

    key: str
    label: StrOrPromise
    type: SettingType = "text"
    required: bool = False
    help: StrOrPromise = ""
    choices: tuple[str, ...] = ()
    placeholder: str = ""


class Connector(abc.ABC):
    """Reads one configured source. Subclasses set `kind` and implement `fetch`."""

    kind: ClassVar[str]
    # What an administrator may configure for this kind: the plain config keys and the
    # secrets (stored encrypted). A kind with `addable` False is created by the product
    # itself (the uploads source), never from the "Add a source" page.
    label: ClassVar[StrOrPromise] = ""
    settings: ClassVar[tuple[Setting, ...]] = ()
    secrets: ClassVar[tuple[Setting, ...]] = ()
    addable: ClassVar[bool] = True
    # Whether `read_file` can read one quarantined file again on its own.
    rereads_files: ClassVar[bool] = False

    def __init__(self, *, config: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        self.config = config
        self.credentials = credentials

    def validate(self) -> None:  # noqa: B027 - an optional hook; most connectors add checks
        """Raise ConnectorConfigError if the config or credentials cannot work."""

    @abc.abstractmethod
    def fetch(self, *, cursor: str | None) -> Iterator[SourceBatch]:
        """Yield batches of documents changed since `cursor`, oldest first."""

    def read_file(self, file: str) -> SourceBatch:
        """Read the one file at absolute path `file` again, exactly as `fetch` reads it: a
        batch with its document(s), or with the failure that stops it. Its cursor is empty;
        the caller stores it without moving the source's checkpoint.

        Raise ConnectorConfigError if `file` is not part of this source; connectors that
        cannot read one file alone (`rereads_files` False) raise NotImplementedError.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot read one file alone")

    def list_external_ids(self) -> Iterator[str]:
        """Yield the id of every document still at the source, or raise: never only some.

        Connectors that override `list_source` return `strict_ids(self.list_source())`.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot list ids")

    def list_source(self) -> SourceListing:
        """Return the ids still at the source and what failed while listing them, for pruning.

        By default `list_external_ids`, which raises rather than list only some. Connectors
        reading files override this: a file or folder that fails becomes a `ListingGap`
        naming the stored items it may hold, and the rest is listed.
        """
        return SourceListing(external_ids=frozenset(self.list_external_ids()))

    def listing_by_full_fetch(
        self, gap_for: Callable[[SourceFailure], ListingGap]
    ) -> SourceListing:
        """Return the ids a fetch from the start yields, and `gap_for(failure)` for each
        failure it reports.

        For connectors whose full read is the only way to tell what is at the source (the
        Message-IDs in mail files).
        """
        ids: set[str] = set()
        gaps: list[ListingGap] = []
        for batch in self.fetch(cursor=None):
            ids.update(document.external_id for document in batch.documents)
            gaps.extend(gap_for(failure) for failure in batch.failures)
        return SourceListing(external_ids=frozenset(ids), gaps=tuple(gaps))


def strict_ids(listing: SourceListing) -> Iterator[str]:
    """Yield a listing's ids, sorted; raise as `SourceListing.complete_ids` if it has gaps."""
    return iter(sorted(listing.complete_ids()))
