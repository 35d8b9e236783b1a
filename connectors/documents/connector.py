"""Read documents from a file or a folder: .docx, .pdf, .md, .txt, .html/.htm.

Config: `{"path": str, "audience": "public" | "author"}` (default "author"). A folder is
walked recursively without following symbolic links; files of other types in it are skipped
silently, while a single configured file of another type is an UnsupportedFile failure.

Guarantees: nothing raises out of `fetch` but ConnectorConfigError (missing path, unknown
audience); a file that cannot be read becomes a SourceFailure and the walk goes on.
"audience": "author" shows a document to its author only (to nobody when the file names no
author); "public" shows it to everyone in the organisation.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from connectors.base import (
    Audience,
    Connector,
    ListingGap,
    PersonRef,
    Setting,
    SourceBatch,
    SourceContainer,
    SourceDocument,
    SourceListing,
    SourcePerson,
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
    printable,
    relative_in,
    walk_tree,
)
from connectors.documents.parsing import ParsedDocument, format_of, parse_document
from connectors.errors import ConnectorConfigError, FileRejected

logger = logging.getLogger(__name__)

AUDIENCES = ("public", "author")
DEFAULT_AUDIENCE = "author"
_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\"]+@[\w-]+(?:\.[\w-]+)+$")
# I/O errors may pass: such a file is read again on the next sync instead of being marked.
_TRANSIENT = (OSError,)


class DocumentsConnector(Connector):
    """Yield each readable file as a document of kind "document", in "folder" containers."""

    kind = "docs"
    label = _("Documents (a folder or a file)")
    settings = (
        Setting(
            "path",
            _("Path of the documents"),
            type="path",
            required=True,
            help=_(
                "A folder (read with its subfolders) or one file: .docx, .pdf, .md, .txt, .html."
            ),
            placeholder="/data/handover/",
        ),
        Setting(
            "audience",
            _("Who may see them"),
            type="choice",
            choices=AUDIENCES,
            help=_("author: each document's author only; public: everyone in the organisation."),
        ),
    )
    rereads_files = True

    def validate(self) -> None:
        """Raise ConnectorConfigError unless `path` exists and `audience` is known."""
        configured_root(self.config)
        self._audience_mode()

    def _audience_mode(self) -> str:
        mode = self.config.get("audience", DEFAULT_AUDIENCE)
        if mode not in AUDIENCES:
            raise ConnectorConfigError(f'"audience" must be one of {AUDIENCES}, not {mode!r}')
        return str(mode)

    def fetch(self, *, cursor: str | None) -> Iterator[SourceBatch]:
        """Yield documents of files that changed since `cursor`, at most 1,000 per batch."""
        root = configured_root(self.config)
        public = self._audience_mode() == "public"
        state = FileCursor(cursor)
        builder = BatchBuilder()
        entries = self._entries(root, builder)
        state.keep_only(entry.relative for entry in entries)
        for entry in entries:
            if state.unchanged(entry):
                continue
            if self._read_entry(entry, root, public=public, builder=builder):
                state.mark(entry)
            if builder.full:
                yield builder.take(state.dumps())
        last = builder.finish(state.dumps())
        if last is not None:
            yield last

    def _read_entry(
        self, entry: FileEntry, root: Path, *, public: bool, builder: BatchBuilder
    ) -> bool:
        """Add the entry's document, or its failure, to `builder`; return False when the
        failure is transient (an I/O error: the next sync reads the file again)."""
        # Walked files are never links; only a configured file may be one.
        follow = entry.path == root
        try:
            parsed = parse_document(entry.path, follow_symlinks=follow)
        except FileRejected as exc:
            builder.add_failure(failure_from(entry.path, exc, follow_symlinks=follow))
        except _TRANSIENT as exc:
            builder.add_failure(failure_from(entry.path, exc, follow_symlinks=follow))
            return False
        except Exception as exc:
            # A bug of ours must cost one file, not the sync: report it and go on.
            logger.exception("Unexpected error reading %s", entry.path)
            builder.add_failure(failure_from(entry.path, exc, follow_symlinks=follow))
        else:
            document, people, container = build_document(
                entry, parsed, public=public, root_name=printable(root.name)
            )
            builder.add_document(document, people=people, container=container)
        return True

    def read_file(self, file: str) -> SourceBatch:
        """Read one file of the source again, as `fetch` reads it: the same document (id,
        folder, audience) or the same typed failure. A link or anything but a regular file
        under the configured path is refused (ConnectorConfigError), as the walk skips it."""
        root = configured_root(self.config)
        public = self._audience_mode() == "public"
        path = Path(file)
        if root.is_file():
            if os.path.abspath(path) != os.path.abspath(root):
                raise ConnectorConfigError(f"{file} is not the file this source reads")
            relative = printable(root.name)
        else:
            inside = relative_in(root, file)
            if inside is None or format_of(path) is None:
                raise ConnectorConfigError(f"{file} is not a document file of this source")
            relative = inside
            # Every folder between the root and the file must be a real folder, not a link:
            # the walk never follows one.
            parent = path.parent
            while os.path.abspath(parent) != os.path.abspath(root):
                if parent.is_symlink():
                    raise ConnectorConfigError(f"{file} is reached through a link")
                parent = parent.parent
        builder = BatchBuilder()
        try:
            entry = file_entry(path, relative, follow_symlinks=path == root)
        except OSError as exc:
            builder.add_failure(failure_from(path, exc, follow_symlinks=path == root))
            return builder.take("")
        if entry is None:
            raise ConnectorConfigError(f"{file} is not a regular file")
        self._read_entry(entry, root, public=public, builder=builder)
        return builder.take("")

    def list_external_ids(self) -> Iterator[str]:
        """Yield the id of every document file at the source; raise if a folder failed."""
        return strict_ids(self.list_source())

    def list_source(self) -> SourceListing:
        """List the document files at the source by walking it, without reading them.

        A file that is there is listed even if it cannot be parsed now (a document that
        became corrupt keeps its stored item). A folder that cannot be listed, or a file that
        cannot be looked at, is a gap holding every id at or under its path.
        """
        root = configured_root(self.config)
        builder = BatchBuilder()
        try:
            entries = self._entries(root, builder)
        except OSError as exc:  # the configured file itself
            failure = failure_from(root, exc, follow_symlinks=True)
            return SourceListing(external_ids=frozenset(), gaps=(ListingGap(failure),))
        gaps = []
        for failure in builder.failures:
            relative = None if root.is_file() else relative_in(root, failure.file)
            if relative is None:
                gaps.append(ListingGap(failure))
            else:
                gap = ListingGap(
                    failure, external_ids=frozenset({relative}), id_prefixes=(f"{relative}/",)
                )
                gaps.append(gap)
        return SourceListing(
            external_ids=frozenset(entry.relative for entry in entries), gaps=tuple(gaps)
        )

    def _entries(self, root: Path, builder: BatchBuilder) -> list[FileEntry]:
        if root.is_file():
            # Given explicitly, a file of an unknown type is reported by parse_document.
            # The configured path itself may be a link: the operator chose it.
            entry = file_entry(root, printable(root.name), follow_symlinks=True)
            return [] if entry is None else [entry]

        def on_error(path: Path, exc: OSError) -> None:
            builder.add_failure(failure_from(path, exc))

        # A FIFO, socket or device named like a document is listed too: reading it is refused
        # (UnsupportedFile, never opened to block), so it is quarantined and explained, as in
        # the mail connector, rather than skipped without a word.
        return [
            entry
            for listing in walk_tree(root, on_error=on_error)
            for entry in (*listing.files, *listing.others)
            if format_of(entry.path) is not None
        ]


def build_document(
    entry: FileEntry, parsed: ParsedDocument, *, public: bool, root_name: str
) -> tuple[SourceDocument, tuple[SourcePerson, ...], SourceContainer]:
    """Return the document for a parsed file, the person it names and its folder."""
    author = author_ref(parsed.author)
    people = (SourcePerson(ref=author, display_name=parsed.author),) if author else ()
    if public:
        audience = Audience(public=True)
    else:
        # Fail closed: a document that names no author is visible to nobody but operators.
        audience = Audience(people=(author,)) if author else Audience()
    folder = entry.folder
    container = SourceContainer(
        external_id=folder,
        name=root_name if folder == ROOT else folder,
        kind="folder",
        is_private=not public,
    )
    metadata: dict[str, object] = {
        "format": parsed.format,
        "path": entry.relative,
        "size": entry.size,
    }
    if parsed.pages is not None:
        metadata["pages"] = parsed.pages
    document = SourceDocument(
        external_id=entry.relative,
        kind="document",
        title=parsed.title or printable(entry.path.name),
        body=parsed.text,
        author=author,
        created_at=parsed.created_at or entry.modified_at,
        updated_at=entry.modified_at,
        audience=audience,
        container_id=folder,
        metadata=metadata,
    )
    return document, people, container


def author_ref(author: str) -> PersonRef | None:
    """Return how the source names a document's author: an address, else a name."""
    author = author.strip()
    if not author:
        return None
    if _ADDRESS.match(author):
        return PersonRef("email", author.lower())
    return PersonRef("name", author)
