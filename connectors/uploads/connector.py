"""Documents people upload in the intranet, each with the audience its uploader chose.

The upload action writes each upload into its own folder under the configured root, named so
that names sort in upload order, and renames it into place only when complete::

    <root>/20261126T014501123456-3f2a9c1e/upload.json   who uploaded, author, audience
    <root>/20261126T014501123456-3f2a9c1e/<file name>   the document

The cursor is the name of the last upload folder read, so a sync reads only newer uploads.

Guarantees: links are never followed; an upload that cannot be ingested (a broken document,
a damaged manifest) becomes a SourceFailure and the rest goes on; an upload that cannot be
read right now (an I/O error) stops the sync with SourceUnavailableError before its batch,
so the next sync reads it again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.base import (
    Audience,
    Connector,
    ListingGap,
    PersonRef,
    SourceBatch,
    SourceContainer,
    SourceDocument,
    SourceListing,
    SourcePerson,
    strict_ids,
)
from connectors.documents.files import failure_from, printable, read_regular_file
from connectors.documents.parsing import parse_document
from connectors.errors import (
    ConnectorConfigError,
    CorruptFile,
    FileRejected,
    SourceUnavailableError,
)

MANIFEST = "upload.json"
CONTAINER = SourceContainer(external_id="uploads", name="Uploads", kind="folder", is_private=True)
BATCH_SIZE = 200
# store_upload writes a few hundred bytes; a long list of people stays far below this.
MAX_MANIFEST_BYTES = 1024 * 1024


class UploadsConnector(Connector):
    """Yield each completed upload as a document of kind "document" in the "uploads" folder."""

    kind = "upload"
    # Created by the upload page (connectors.actions.uploads_source), never by hand.
    addable = False

    @property
    def root(self) -> Path:
        """The configured folder; ConnectorConfigError if none is configured."""
        return _configured_folder(self.config)

    def validate(self) -> None:
        """Raise ConnectorConfigError unless a folder is configured (it may not exist yet)."""
        _configured_folder(self.config)

    def fetch(self, *, cursor: str | None) -> Iterator[SourceBatch]:
        """Yield the uploads completed after `cursor`, oldest first."""
        done = self._uploads_after(cursor or "")
        if not done:
            yield SourceBatch(cursor=cursor or "")
            return
        for start in range(0, len(done), BATCH_SIZE):
            names = done[start : start + BATCH_SIZE]
            documents, people, failures = [], {}, []
            for name in names:
                folder = self.root / name
                try:
                    document, named = self._read(folder)
                except FileRejected as exc:
                    failures.append(failure_from(self._document_path(folder), exc))
                    continue
                except OSError as exc:
                    # Not read, and the cursor must not pass it: the next sync tries again.
                    raise SourceUnavailableError(f"upload {name} cannot be read: {exc}") from exc
                documents.append(document)
                people.update({person.ref: person for person in named})
            yield SourceBatch(
                cursor=names[-1],
                documents=tuple(documents),
                people=tuple(people.values()),
                containers=(CONTAINER,),
                failures=tuple(failures),
            )

    def list_external_ids(self) -> Iterator[str]:
        """Yield the id of every completed upload; raise if the folder cannot be listed."""
        return strict_ids(self.list_source())

    def list_source(self) -> SourceListing:
        """List the completed uploads by their folders, without reading them.

        An upload whose folder is there is listed even if its document cannot be read now,
        so its stored item stays. A root that cannot be listed is a gap holding everything.
        """
        try:
            names = self._uploads_after("")
        except OSError as exc:
            failure = failure_from(self.root, exc)
            return SourceListing(external_ids=frozenset(), gaps=(ListingGap(failure),))
        return SourceListing(external_ids=frozenset(names))

    def _uploads_after(self, cursor: str) -> list[str]:
        """Return the names of the completed upload folders after `cursor`, sorted."""
        root = self.root
        if not root.is_dir():
            return []  # nothing uploaded yet
        with os.scandir(root) as entries:
            return sorted(
                entry.name
                for entry in entries
                if entry.is_dir(follow_symlinks=False)
                and not entry.name.startswith(".")
                and entry.name > cursor
            )

    def _document_path(self, folder: Path) -> Path:
        """Return the upload's document (the folder when it holds not exactly one file)."""
        try:
            with os.scandir(folder) as entries:
                files = [
                    Path(entry.path)
                    for entry in entries
                    if entry.name != MANIFEST and entry.is_file(follow_symlinks=False)
                ]
        except OSError:
            return folder
        return files[0] if len(files) == 1 else folder

    def _read(self, folder: Path) -> tuple[SourceDocument, list[SourcePerson]]:
        manifest = _manifest(folder)
        path = self._document_path(folder)
        if path == folder:
            raise CorruptFile("the upload holds no single document")
        parsed = parse_document(path, follow_symlinks=False)
        refs = {
            email: PersonRef("email", email.lower())
            for email in [manifest["author"], manifest["uploader"], *manifest["people"]]
            if email
        }
        people = [SourcePerson(ref=ref) for ref in refs.values()]
        # Besides those the uploader chose, the uploader and the author always see it.
        audience = (
            Audience(public=True) if manifest["public"] else Audience(people=tuple(refs.values()))
        )
        uploaded_at = manifest["uploaded_at"]
        document = SourceDocument(
            external_id=folder.name,
            kind="document",
            title=parsed.title or printable(path.name),
            body=parsed.text,
            author=refs.get(manifest["author"]),
            created_at=parsed.created_at or uploaded_at,
            updated_at=uploaded_at,
            audience=audience,
            container_id=CONTAINER.external_id,
            metadata={
                "format": parsed.format,
                "file_name": printable(path.name),
                "uploaded_by": manifest["uploader"],
                "size": path.stat(follow_symlinks=False).st_size,
            },
        )
        return document, people


def _configured_folder(config: Mapping[str, Any]) -> Path:
    value = config.get("path")
    if not isinstance(value, str) or not value.strip():
        raise ConnectorConfigError("an uploads source needs a folder ('path')")
    return Path(value)


def _manifest(folder: Path) -> dict[str, Any]:
    """Return an upload's manifest, checked, with `uploaded_at` as an aware datetime.

    Raise CorruptFile if it cannot be decoded or lacks a field `store_upload` writes.
    """
    try:
        data = read_regular_file(folder / MANIFEST, max_bytes=MAX_MANIFEST_BYTES)
    except FileNotFoundError as exc:
        raise CorruptFile(f"the upload has no {MANIFEST}") from exc
    try:
        manifest = json.loads(data)
        if not isinstance(manifest, dict):
            raise TypeError("not a JSON object")
        people = manifest.get("people", [])
        fields = (manifest.get("author"), manifest.get("uploader"), *people)
        if not isinstance(people, list) or not all(isinstance(v, str) for v in fields):
            raise TypeError("author, uploader and people must be addresses")
        if not isinstance(manifest.get("public"), bool):
            raise TypeError("public must be true or false")
        uploaded_at = datetime.fromisoformat(manifest["uploaded_at"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFile(f"the upload's {MANIFEST} is damaged: {exc!r}") from exc
    return {**manifest, "people": people, "uploaded_at": uploaded_at}
