"""Read mail from files: .eml messages, mbox files and maildirs, alone or in folders.

Config: `{"path": str}`, one of
- an .eml file (or any single file that is not an mbox: it is read as one message);
- an mbox file: any file whose first line starts with `From ` (or whose name ends in .mbox);
- a maildir: a folder with cur/ and/or new/ (tmp/ holds unfinished deliveries: skipped);
- a folder holding any of these, walked recursively without following symbolic links.
Other files in a folder are skipped silently.

Guarantees: nothing raises out of `fetch` but ConnectorConfigError for a missing path; each
message or file that cannot be read becomes a SourceFailure (`archive.mbox#17` names the 17th
message of an mbox; its `file` is the mbox, its `member` "#17") and the rest goes on. Files
are opened without following links and without blocking: a FIFO, socket or device where a
message should be (in a maildir's cur/ or new/, or named .eml/.mbox), found by the walk or
swapped in after it, is quarantined as an UnsupportedFile, never read. A Message-ID is yielded
once per fetch. Every document's mailbox is private and its audience is its sender and
recipients.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from django.utils.translation import gettext_lazy as _

from connectors.base import (
    Connector,
    ListingGap,
    Setting,
    SourceBatch,
    SourceContainer,
    SourceFailure,
    SourceListing,
    strict_ids,
)
from connectors.documents.files import (
    ROOT,
    BatchBuilder,
    FileCursor,
    FileEntry,
    configured_root,
    failure_from,
    file_entry,
    open_regular_file,
    printable,
    read_regular_file,
    relative_in,
    walk_tree,
)
from connectors.email.mbox import SNIFF_BYTES, is_mbox_start, is_message_start, split_mbox
from connectors.email.parsing import MAX_MESSAGE_BYTES, ParsedEmail, parse_email
from connectors.errors import ConnectorConfigError, FileRejected, LimitExceeded

logger = logging.getLogger(__name__)

MAILDIR_MESSAGE_FOLDERS = ("cur", "new")
MAILDIR_FOLDERS = frozenset({"cur", "new", "tmp"})
MESSAGE_SUFFIXES = frozenset({".eml"})
MBOX_SUFFIXES = frozenset({".mbox", ".mbx"})


@dataclass(frozen=True)
class MailFile:
    """A file to read: one message (.eml, maildir) or many (mbox), and its mailbox."""

    entry: FileEntry
    is_mbox: bool
    mailbox: SourceContainer
    # Only the configured path itself may be a link: the operator chose it.
    follow_symlinks: bool = False


class EmailFilesConnector(Connector):
    """Yield each message as a document of kind "email", in private "mailbox" containers."""

    kind = "email"
    label = _("Mail files (mbox, .eml, maildir)")
    settings = (
        Setting(
            "path",
            _("Path of the mail"),
            type="path",
            required=True,
            help=_("An mbox file, an .eml file, a maildir, or a folder holding any of them."),
            placeholder="/data/mail/",
        ),
    )
    rereads_files = True

    def validate(self) -> None:
        """Raise ConnectorConfigError unless `path` names an existing file or folder."""
        configured_root(self.config)

    def fetch(self, *, cursor: str | None) -> Iterator[SourceBatch]:
        """Yield messages of files that changed since `cursor`, at most 1,000 per batch.

        Each batch's cursor lists the files whose messages have all been yielded by then.
        """
        root = configured_root(self.config)
        state = FileCursor(cursor)
        builder = BatchBuilder()
        files = self._mail_files(root, builder)
        state.keep_only(f.entry.relative for f in files)
        seen_ids: set[str] = set()
        for mail_file in files:
            if state.unchanged(mail_file.entry):
                continue
            complete = True
            for item in self._read(mail_file):
                if isinstance(item, _ReadError):
                    builder.add_failure(item.failure)
                    complete = False  # read it again next time rather than mark it done
                elif isinstance(item, SourceFailure):
                    builder.add_failure(item)
                elif item.document.external_id not in seen_ids:
                    seen_ids.add(item.document.external_id)
                    builder.add_document(
                        item.document, people=item.people, container=mail_file.mailbox
                    )
                if builder.full:
                    yield builder.take(state.dumps())
            if complete:
                state.mark(mail_file.entry)
        last = builder.finish(state.dumps())
        if last is not None:
            yield last

    def read_file(self, file: str) -> SourceBatch:
        """Read one message file again (an .eml, a maildir message, a raw message saved under
        another name) as `fetch` reads it: the same id, mailbox and audience, or the same typed
        failure. The file is found by the walk `fetch` makes, so it gets the mailbox a sync
        gives it. An mbox is refused (ConnectorConfigError): its next sync reads it again
        when it changed, as do files the walk does not find as mail."""
        root = configured_root(self.config)
        target = os.path.abspath(file)
        listing = BatchBuilder()
        builder = BatchBuilder()
        for mail_file in self._mail_files(root, listing):
            if os.path.abspath(mail_file.entry.path) != target:
                continue
            if mail_file.is_mbox:
                raise ConnectorConfigError(
                    f"{file} is an mbox; its next sync reads it again when it changed"
                )
            for item in self._read(mail_file):
                if isinstance(item, _ReadError):
                    builder.add_failure(item.failure)
                elif isinstance(item, SourceFailure):
                    builder.add_failure(item)
                else:
                    builder.add_document(
                        item.document, people=item.people, container=mail_file.mailbox
                    )
            return builder.take("")
        for failure in listing.failures:
            if failure.file and os.path.abspath(failure.file) == target:
                builder.add_failure(failure)  # still not readable as mail
                return builder.take("")
        raise ConnectorConfigError(f"{file} is not a message file of this source")

    def list_external_ids(self) -> Iterator[str]:
        """Yield the id of every message at the source; raise if anything failed."""
        return strict_ids(self.list_source())

    def list_source(self) -> SourceListing:
        """List the Message-IDs at the source (a full read, without a cursor).

        What fails is a gap holding the stored messages of the mailboxes it may have fed:
        the mbox itself, the folder or maildir of a message file, every mailbox under a
        folder that cannot be listed; anything at all when the configured path is one file.
        """
        root = configured_root(self.config)
        single = root.is_file()
        return self.listing_by_full_fetch(
            lambda failure: ListingGap(failure) if single else _mailbox_gap(root, failure)
        )

    # Finding files.

    def _mail_files(self, root: Path, builder: BatchBuilder) -> list[MailFile]:
        if root.is_file():
            # The configured path itself may be a link: the operator chose it.
            entry = file_entry(root, printable(root.name), follow_symlinks=True)
            if entry is None:
                return []
            mailbox = _mailbox(ROOT, root.name)
            sniffed = _sniff(entry, builder, follow_symlinks=True)
            if sniffed is None:
                return []
            return [MailFile(entry, sniffed == "mbox", mailbox, follow_symlinks=True)]

        found: list[MailFile] = []

        def on_error(path: Path, exc: OSError) -> None:
            builder.add_failure(failure_from(path, exc))

        for listing in walk_tree(root, on_error=on_error):
            folder_box = _mailbox(listing.relative, root.name)
            if set(MAILDIR_MESSAGE_FOLDERS) & set(listing.dirs):
                found.extend(_maildir_messages(listing.path, folder_box, on_error))
                # Maildir++ subfolders (".Sent") are maildirs of their own: keep walking.
                listing.dirs[:] = [d for d in listing.dirs if d not in MAILDIR_FOLDERS]
            for entry in listing.others:
                # A FIFO, socket or device named like mail: reported, never opened to sniff.
                suffix = entry.path.suffix.lower()
                if suffix in MESSAGE_SUFFIXES | MBOX_SUFFIXES:
                    found.append(MailFile(entry, False, folder_box))
            for entry in listing.files:
                suffix = entry.path.suffix.lower()
                if suffix in MESSAGE_SUFFIXES:
                    found.append(MailFile(entry, False, folder_box))
                    continue
                sniffed = _sniff(entry, builder)
                if sniffed == "mbox":
                    found.append(MailFile(entry, True, _mailbox(entry.relative, root.name)))
                elif sniffed == "message":
                    # A raw message saved under another name (Enron's N/*.txt).
                    found.append(MailFile(entry, False, folder_box))
        return found

    # Reading files.

    def _read(self, mail_file: MailFile) -> Iterator[ParsedEmail | SourceFailure | _ReadError]:
        entry = mail_file.entry
        folder = mail_file.mailbox.external_id
        follow = mail_file.follow_symlinks

        def failed(exc: BaseException, member: str = "") -> SourceFailure:
            return failure_from(entry.path, exc, member=member, follow_symlinks=follow)

        if not mail_file.is_mbox:
            try:
                # Opened once, without blocking and without following a link: what is there
                # now may not be the regular file the walk saw.
                raw = read_regular_file(
                    entry.path, max_bytes=MAX_MESSAGE_BYTES, follow_symlinks=follow
                )
                yield parse_email(raw, container_id=folder, fallback_date=entry.modified_at)
            except FileRejected as exc:
                yield failed(exc)
            except OSError as exc:
                yield _ReadError(failed(exc))
            except Exception as exc:
                # A bug of ours must cost one file, not the sync: report it and go on.
                logger.exception("Unexpected error reading %s", entry.path)
                yield failed(exc)
            return
        try:
            with open_regular_file(entry.path, follow_symlinks=follow) as handle:
                for message in split_mbox(handle, max_message_bytes=MAX_MESSAGE_BYTES):
                    number = f"#{message.number}"
                    if message.too_large:
                        yield failed(LimitExceeded(f"the message is {message.size} bytes"), number)
                        continue
                    try:
                        yield parse_email(
                            message.raw,
                            container_id=folder,
                            fallback_date=message.received_at or entry.modified_at,
                        )
                    except FileRejected as exc:
                        yield failed(exc, number)
                    except Exception as exc:
                        logger.exception("Unexpected error reading %s%s", entry.path, number)
                        yield failed(exc, number)
        except FileRejected as exc:
            yield failed(exc)  # a link or a FIFO where the mbox was
        except OSError as exc:
            yield _ReadError(failed(exc))
        except Exception as exc:
            logger.exception("Unexpected error splitting %s", entry.path)
            yield failed(exc)


@dataclass(frozen=True)
class _ReadError:
    """A file that could not be read (an I/O error, which may pass), as opposed to one that
    was read and rejected."""

    failure: SourceFailure


def _mailbox_gap(root: Path, failure: SourceFailure) -> ListingGap:
    """Return the gap of a failure under the folder `root`: the mailboxes its file may feed.

    A message's mailbox is its folder (a maildir's, for cur/ and new/); an mbox is its own.
    The path alone does not say which it is, so every candidate is kept.
    """
    relative = relative_in(root, failure.file)
    if relative is None:
        return ListingGap(failure)
    parent = Path(relative).parent
    boxes = {relative, parent.as_posix()}
    if parent.name in MAILDIR_MESSAGE_FOLDERS:
        boxes.add(parent.parent.as_posix())
    return ListingGap(failure, containers=frozenset(boxes), container_prefixes=(f"{relative}/",))


def _maildir_messages(
    maildir: Path, mailbox: SourceContainer, on_error: Callable[[Path, OSError], None]
) -> list[MailFile]:
    """List the messages of a maildir: the regular files directly in cur/ and new/."""
    found: list[MailFile] = []
    for sub in MAILDIR_MESSAGE_FOLDERS:
        folder = maildir / sub
        if folder.is_symlink() or not folder.is_dir():
            continue
        prefix = sub if mailbox.external_id == ROOT else f"{mailbox.external_id}/{sub}"
        for listing in walk_tree(folder, on_error=on_error):
            listing.dirs[:] = []  # messages live directly in cur/ and new/
            # Everything in cur/ and new/ is a message; one that is a FIFO, a socket or a
            # device is quarantined when read, never opened in a way that blocks.
            for entry in [*listing.files, *listing.others]:
                if entry.path.name.startswith("."):
                    continue
                relative = f"{prefix}/{entry.relative}"
                moved = FileEntry(entry.path, relative, entry.size, entry.mtime_ns)
                found.append(MailFile(moved, False, mailbox))
    return found


def _mailbox(relative: str, root_name: str) -> SourceContainer:
    # The root is "." by contract; its name is the configured file or folder's own name,
    # which means more to a reader than ".".
    name = printable(root_name) if relative == ROOT else relative
    return SourceContainer(external_id=relative, name=name, kind="mailbox", is_private=True)


def _sniff(
    entry: FileEntry, builder: BatchBuilder, *, follow_symlinks: bool = False
) -> Literal["mbox", "message", ""] | None:
    """What a file holds: an mbox, one message, or neither (""); None (a failure) if unreadable."""
    if entry.path.suffix.lower() in MBOX_SUFFIXES:
        return "mbox"
    try:
        with open_regular_file(entry.path, follow_symlinks=follow_symlinks) as handle:
            head = handle.read(SNIFF_BYTES)
    except (FileRejected, OSError) as exc:
        builder.add_failure(failure_from(entry.path, exc))
        return None
    if is_mbox_start(head):
        return "mbox"
    return "message" if is_message_start(head) else ""
