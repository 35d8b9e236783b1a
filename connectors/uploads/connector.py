"""Documents people upload in the intranet, each with the audience its uploader chose.

The upload action writes each upload into its own folder under the configured root, named so
that names sort in upload order, and renames it into place only when complete::

    <root>/20261126T014501123456-3f2a9c1e/upload.json   who uploaded, author, audience
    <root>/20261126T014501123456-3f2a9c1e/<file name>   the document

The cursor is the name of the last upload folder read, so a sync reads only newer uploads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.base import (
    Audience,
    Connector,
    PersonRef,
    SourceBatch,
    SourceContainer,
    SourceDocument,
    SourcePerson,
)
from connectors.documents.files import failure_from, printable
from connectors.documents.parsing import parse_document
from connectors.errors import ConnectorConfigError, CorruptFile, FileRejected

MANIFEST = "upload.json"
CONTAINER = SourceContainer(external_id="uploads", name="Uploads", kind="folder", is_private=True)
BATCH_SIZE = 200


class UploadsConnector(Connector):
    kind = "upload"

    @property
    def root(self) -> Path:
        return Path(self.config.get("path", ""))

    def validate(self) -> None:
        if not self.config.get("path"):
            raise ConnectorConfigError("an uploads source needs a folder ('path')")

    def fetch(self, *, cursor: str | None) -> Iterator[SourceBatch]:
        """Yield the uploads completed after `cursor`, oldest first."""
        done = sorted(
            entry.name
            for entry in (self.root.iterdir() if self.root.is_dir() else ())
            if entry.is_dir() and not entry.name.startswith(".") and entry.name > (cursor or "")
        )
        if not done:
            yield SourceBatch(cursor=cursor or "")
            return
        for start in range(0, len(done), BATCH_SIZE):
            names = done[start : start + BATCH_SIZE]
            documents, people, failures = [], {}, []
            for name in names:
                try:
                    document, named = self._read(self.root / name)
                except FileRejected as exc:
                    failures.append(failure_from(self._document_path(self.root / name), exc))
                    continue
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
        for batch in self.fetch(cursor=None):
            for document in batch.documents:
                yield document.external_id

    def _document_path(self, folder: Path) -> Path:
        files = [p for p in folder.iterdir() if p.name != MANIFEST and p.is_file()]
        return files[0] if len(files) == 1 else folder

    def _read(self, folder: Path) -> tuple[SourceDocument, list[SourcePerson]]:
        try:
            manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise CorruptFile(f"the upload's {MANIFEST} cannot be read: {exc}") from exc
        path = self._document_path(folder)
        if path == folder:
            raise CorruptFile("the upload holds no single document")
        parsed = parse_document(path)
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
        uploaded_at = datetime.fromisoformat(manifest["uploaded_at"]).astimezone(UTC)
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
                "size": path.stat().st_size,
            },
        )
        return document, people
