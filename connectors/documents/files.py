"""Walk a folder of files and remember which ones were read: shared by file-based connectors.

Guarantees:
- Symbolic links are never followed (neither linked folders nor linked files). Only regular
  files are listed as files; FIFOs, sockets and devices are listed apart (`DirListing.others`)
  and never opened in a way that blocks, so none can block a sync.
- The walk is iterative and sorted, so a deep tree cannot exhaust the stack and two walks of
  an unchanged tree list the same files in the same order.
- The cursor is a JSON object mapping a file's path relative to the configured root to
  `[size, mtime_ns]`; a file whose size and mtime are unchanged is skipped on the next fetch.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from connectors.base import (
    SourceBatch,
    SourceContainer,
    SourceDocument,
    SourceFailure,
    SourcePerson,
)
from connectors.errors import ConnectorConfigError, LimitExceeded, UnsafeArchive, UnsupportedFile

logger = logging.getLogger(__name__)

# One batch is stored in one transaction: keep it a size the database handles comfortably.
MAX_BATCH_DOCUMENTS = 1_000
# Failures are cheap, but a folder of 100k broken files must not be held in memory at once.
MAX_BATCH_FAILURES = 1_000

ROOT = "."


@dataclass(frozen=True)
class FileEntry:
    """A regular file found under the configured root, with the stat taken before reading it."""

    path: Path
    relative: str  # POSIX path relative to the root; the file name when the root is this file
    size: int
    mtime_ns: int

    @property
    def modified_at(self) -> datetime:
        """Return the file's mtime as an aware UTC datetime."""
        return datetime.fromtimestamp(self.mtime_ns / 1e9, tz=UTC)

    @property
    def folder(self) -> str:
        """Return the relative folder holding the file, "." for the root."""
        parent = Path(self.relative).parent.as_posix()
        return ROOT if parent in ("", ".") else parent


@dataclass
class DirListing:
    """One folder of a walk. Remove names from `dirs` to keep the walk out of them."""

    path: Path
    relative: str  # "." for the root
    dirs: list[str]
    files: list[FileEntry]
    # Entries that are neither folders, regular files nor links: FIFOs, sockets, devices.
    # Their `FileEntry` holds what `lstat` said; opening one for reading must not block.
    others: list[FileEntry] = field(default_factory=list)


def configured_root(config: Mapping[str, Any]) -> Path:
    """Return the existing file or folder named by `config["path"]`.

    Raise ConnectorConfigError when the path is missing, does not exist, or is neither a
    regular file nor a folder.
    """
    raw = config.get("path")
    if not isinstance(raw, str) or not raw.strip():
        raise ConnectorConfigError('config needs "path": a file or a folder')
    root = Path(raw).expanduser()
    try:
        mode = root.stat().st_mode
    except OSError as exc:
        raise ConnectorConfigError(f"path {raw!r} cannot be read: {exc.strerror}") from exc
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise ConnectorConfigError(f"path {raw!r} is neither a regular file nor a folder")
    return root


def file_entry(path: Path, relative: str, *, follow_symlinks: bool = False) -> FileEntry | None:
    """Stat `path`; None unless it is a regular file (a link, unless `follow_symlinks`)."""
    st = path.stat(follow_symlinks=follow_symlinks)
    if not stat.S_ISREG(st.st_mode):
        return None
    return FileEntry(path=path, relative=relative, size=st.st_size, mtime_ns=st.st_mtime_ns)


def walk_tree(root: Path, *, on_error: Callable[[Path, OSError], None]) -> Iterator[DirListing]:
    """Yield every folder under `root` (itself first), depth first, in sorted order.

    Folders that cannot be listed are reported to `on_error` and skipped; the walk goes on.
    """
    stack: list[tuple[Path, str]] = [(root, ROOT)]
    while stack:
        folder, relative = stack.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            on_error(folder, exc)
            continue
        dirs: list[str] = []
        files: list[FileEntry] = []
        others: list[FileEntry] = []
        for entry in entries:
            name = printable(entry.name)
            child = name if relative == ROOT else f"{relative}/{name}"
            try:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    dirs.append(entry.name)
                    continue
                st = entry.stat(follow_symlinks=False)
                found = FileEntry(Path(entry.path), child, st.st_size, st.st_mtime_ns)
                (files if stat.S_ISREG(st.st_mode) else others).append(found)
            except OSError as exc:
                on_error(Path(entry.path), exc)
        listing = DirListing(path=folder, relative=relative, dirs=dirs, files=files, others=others)
        yield listing
        for name in reversed(listing.dirs):
            shown = printable(name)
            child = shown if relative == ROOT else f"{relative}/{shown}"
            stack.append((folder / name, child))


def open_regular_file(path: Path, *, follow_symlinks: bool = False) -> BinaryIO:
    """Open the regular file at `path` for reading in binary; the caller closes it.

    The file is opened without blocking (a FIFO put in its place after a walk cannot hang a
    sync) and, unless `follow_symlinks`, without following a link (UnsafeArchive). A file that
    is not a regular file is an UnsupportedFile. OSError: it cannot be opened now.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise UnsafeArchive("the file is a symbolic link; links are not followed") from exc
        if exc.errno == errno.ENXIO:  # a socket, or a device without a driver
            raise UnsupportedFile("not a regular file: a socket or a device") from exc
        raise
    handle = os.fdopen(descriptor, "rb")
    try:
        mode = os.fstat(handle.fileno()).st_mode
    except BaseException:
        handle.close()
        raise
    if not stat.S_ISREG(mode):
        handle.close()
        raise UnsupportedFile(f"not a regular file: {_kind_of(mode)}")
    return handle


def read_regular_file(path: Path, *, max_bytes: int, follow_symlinks: bool = False) -> bytes:
    """Return the bytes of the regular file at `path`, read once, at most `max_bytes`.

    Opened as `open_regular_file` does (never blocks, links refused unless
    `follow_symlinks`). A file over `max_bytes`, by its size or by what is read (it may
    grow), is LimitExceeded. OSError: it cannot be read now.
    """
    with open_regular_file(path, follow_symlinks=follow_symlinks) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise LimitExceeded(f"the file is {size} bytes, over {max_bytes}")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise LimitExceeded(f"the file grew past {max_bytes} bytes while it was read")
    return data


def _kind_of(mode: int) -> str:
    """Name what a non-regular file is, for error messages."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "an unknown kind of file"


class FileCursor:
    """Which files were fully read, as `{relative path: [size, mtime_ns]}`.

    An unreadable cursor is treated as empty: reading everything again is safe, because
    documents are stored idempotently by external id.
    """

    def __init__(self, raw: str | None = None) -> None:
        self.seen: dict[str, list[int]] = {}
        if not raw:
            return
        try:
            loaded = json.loads(raw)
        except ValueError:
            logger.warning("Ignoring a cursor that is not JSON; every file will be read again")
            return
        if not isinstance(loaded, dict):
            logger.warning("Ignoring a cursor that is not a JSON object")
            return
        for key, value in loaded.items():
            if (
                isinstance(key, str)
                and isinstance(value, list)
                and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            ):
                self.seen[key] = [value[0], value[1]]

    def unchanged(self, entry: FileEntry) -> bool:
        """Return True if `entry` was fully read before and its size and mtime still match."""
        return self.seen.get(entry.relative) == [entry.size, entry.mtime_ns]

    def mark(self, entry: FileEntry) -> None:
        """Record `entry` as fully read (its documents and failures have all been emitted)."""
        self.seen[entry.relative] = [entry.size, entry.mtime_ns]

    def keep_only(self, relatives: Iterable[str]) -> None:
        """Forget files that are no longer at the source."""
        keep = set(relatives)
        self.seen = {k: v for k, v in self.seen.items() if k in keep}

    def dumps(self) -> str:
        """Return the cursor as compact, key-sorted JSON."""
        return json.dumps(self.seen, sort_keys=True, separators=(",", ":"))


@dataclass
class BatchBuilder:
    """Collect documents, what they refer to and failures into batches of bounded size."""

    max_documents: int = MAX_BATCH_DOCUMENTS
    max_failures: int = MAX_BATCH_FAILURES
    documents: list[SourceDocument] = field(default_factory=list)
    people: dict[Any, SourcePerson] = field(default_factory=dict)
    containers: dict[str, SourceContainer] = field(default_factory=dict)
    failures: list[SourceFailure] = field(default_factory=list)
    last_cursor: str | None = None  # the cursor of the last batch taken
    batches_taken: int = 0

    def add_document(
        self,
        document: SourceDocument,
        *,
        people: Iterable[SourcePerson] = (),
        container: SourceContainer | None = None,
    ) -> None:
        """Add one document with the people and the container it refers to."""
        self.documents.append(document)
        for person in people:
            known = self.people.get(person.ref)
            # Keep the first description that carries a name.
            if known is None or (not known.display_name and person.display_name):
                self.people[person.ref] = person
        if container is not None:
            self.containers[container.external_id] = container

    def add_failure(self, failure: SourceFailure) -> None:
        """Add one file or record that could not be read."""
        self.failures.append(failure)

    @property
    def full(self) -> bool:
        """True when the pending batch should be emitted now."""
        return len(self.documents) >= self.max_documents or len(self.failures) >= self.max_failures

    @property
    def pending(self) -> bool:
        """True when documents or failures wait to be emitted."""
        return bool(self.documents or self.failures)

    def take(self, cursor: str) -> SourceBatch:
        """Return the pending batch with `cursor` and start a new one."""
        batch = SourceBatch(
            cursor=cursor,
            documents=tuple(self.documents),
            people=tuple(self.people.values()),
            containers=tuple(self.containers.values()),
            failures=tuple(self.failures),
        )
        self.documents = []
        self.people = {}
        self.containers = {}
        self.failures = []
        self.last_cursor = cursor
        self.batches_taken += 1
        return batch

    def finish(self, cursor: str) -> SourceBatch | None:
        """Return the last batch of a fetch, or None if it would repeat the previous one.

        A fetch always yields at least one batch, so even a fetch that found nothing new
        hands back a cursor to save.
        """
        if self.pending or self.batches_taken == 0 or cursor != self.last_cursor:
            return self.take(cursor)
        return None


def relative_in(root: Path, file: str) -> str | None:
    """Return `file` (an absolute path a failure names) relative to the folder `root`, as the
    walk spells it (POSIX, printable); None for the root itself or a path outside it."""
    relative = os.path.relpath(file, os.path.abspath(root))
    if relative == os.curdir or relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return None
    return printable(Path(relative).as_posix())


def printable(name: str) -> str:
    """Return a file name as storable text: undecodable bytes become backslash escapes.

    Python decodes file names that are not valid UTF-8 with lone surrogates, which neither
    UTF-8 nor PostgreSQL accept; an id or a path holding one would fail its whole batch.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    return name


def failure_from(
    path: Path | str, exc: BaseException, *, member: str = "", follow_symlinks: bool = False
) -> SourceFailure:
    """Describe why `path` (or `member` within it, e.g. "#17") was not read, naming the typed
    error's class.

    A `Path` is a file on disk: the failure carries its absolute path, for the quarantine to
    keep a copy; with `follow_symlinks` (a configured path the operator chose), the path of
    the file it leads to. A `str` names something else (an IMAP message) and carries no file.
    """
    message = printable(str(exc) or type(exc).__name__)
    file = ""
    if isinstance(path, Path):
        # Otherwise not resolved: a link stays a link, for the quarantine to refuse it. Kept
        # as the OS spells it (a name that is not UTF-8 too), so the copy opens that file.
        file = os.path.realpath(path) if follow_symlinks else os.path.abspath(path)
    return SourceFailure(
        path=printable(f"{path}{member}"),
        error_type=type(exc).__name__,
        message=message[:5000],
        file=file,
        member=printable(member),
    )
