"""The connector contract: plain config and credentials in, batches of documents out.

A connector never touches the database. `connectors.actions.run_sync` is the only place where
one meets it: each batch is stored together with its cursor in one transaction.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

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


class Connector(abc.ABC):
    """Reads one configured source. Subclasses set `kind` and implement `fetch`."""

    kind: ClassVar[str]

    def __init__(self, *, config: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        self.config = config
        self.credentials = credentials

    def validate(self) -> None:  # noqa: B027 - an optional hook; most connectors add checks
        """Raise ConnectorConfigError if the config or credentials cannot work."""

    @abc.abstractmethod
    def fetch(self, *, cursor: str | None) -> Iterator[SourceBatch]:
        """Yield batches of documents changed since `cursor`, oldest first."""

    def list_external_ids(self) -> Iterator[str]:
        """Yield the id of every document still at the source, for pruning."""
        raise NotImplementedError(f"{type(self).__name__} cannot list ids")

    def external_ids_by_full_fetch(self) -> Iterator[str]:
        """Yield the external id of every document a fetch from the start yields, in order.

        For connectors whose full read is the only way to list what is at the source (files
        on disk); they return this from `list_external_ids`.
        """
        for batch in self.fetch(cursor=None):
            for document in batch.documents:
                yield document.external_id
