"""DocumentsConnector over folders of real and generated documents."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import Audience, Connector, PersonRef, SourceBatch, SourceDocument
from connectors.documents.connector import DocumentsConnector
from connectors.errors import ConnectorConfigError
from tests.connectors.contract import ConnectorContract
from tests.connectors.documents.builders import write_docx

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "documents"


def connector(path: Path | str, **config: str) -> DocumentsConnector:
    return DocumentsConnector(config={"path": str(path), **config}, credentials={})


def fetch(path: Path | str, cursor: str | None = None, **config: str) -> list[SourceBatch]:
    return list(connector(path, **config).fetch(cursor=cursor))


def documents(batches: list[SourceBatch]) -> dict[str, SourceDocument]:
    return {doc.external_id: doc for batch in batches for doc in batch.documents}


def failures(batches: list[SourceBatch]) -> dict[str, str]:
    return {Path(f.path).name: f.error_type for batch in batches for f in batch.failures}


class TestDocumentsContract(ConnectorContract):
    def make_connector(self) -> Connector:
        return connector(FIXTURES / "docx")


class TestPublicDocumentsContract(ConnectorContract):
    # Damaged PDFs: documents and failures mixed, and quick to read.
    def make_connector(self) -> Connector:
        return connector(FIXTURES / "pdf-malformed", audience="public")


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    (root / "engineering" / "runbooks").mkdir(parents=True)
    write_docx(root / "engineering" / "plan.docx")
    write_docx(root / "engineering" / "mailed.docx", author="Grace.Hopper@Example.com")
    shutil.copy(FIXTURES / "pdf-real" / "150109DSP-Milw-505-90D.pdf", root / "report.pdf")
    shutil.copy(FIXTURES / "pdf-real" / "password-example.pdf", root / "locked.pdf")
    shutil.copy(FIXTURES / "pdf-real" / "empty.pdf", root / "empty.pdf")
    (root / "engineering" / "runbooks" / "deploy.md").write_text("# Deploy\n\nRun it.\n")
    (root / "notes.txt").write_text("Notes\nsecond line\n")
    (root / "page.htm").write_text("<title>Page</title><p>Hello</p>")
    (root / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n not a document")
    (root / "archive.zip").write_bytes(b"PK")
    return root


def test_folder_walk_yields_documents_and_typed_failures(library: Path) -> None:
    batches = fetch(library)
    docs = documents(batches)
    assert set(docs) == {
        "engineering/plan.docx",
        "engineering/mailed.docx",
        "engineering/runbooks/deploy.md",
        "report.pdf",
        "notes.txt",
        "page.htm",
    }
    # Unknown extensions are skipped silently; bad documents are failures, never successes.
    assert failures(batches) == {"locked.pdf": "EncryptedFile", "empty.pdf": "EmptyDocument"}
    assert all(doc.kind == "document" for doc in docs.values())


def test_titles_authors_and_containers(library: Path) -> None:
    batches = fetch(library)
    docs = documents(batches)
    plan = docs["engineering/plan.docx"]
    assert plan.title == "Engine plans"
    assert plan.author == PersonRef("name", "Ada Lovelace")
    assert plan.container_id == "engineering"
    assert docs["engineering/mailed.docx"].author == PersonRef("email", "grace.hopper@example.com")
    assert docs["engineering/runbooks/deploy.md"].title == "Deploy"
    assert docs["engineering/runbooks/deploy.md"].container_id == "engineering/runbooks"
    assert docs["notes.txt"].title == "Notes"
    assert docs["notes.txt"].author is None
    assert docs["page.htm"].title == "Page"
    assert docs["report.pdf"].author == PersonRef("name", "JOHNSCA")
    assert docs["report.pdf"].metadata == {
        "format": "pdf",
        "path": "report.pdf",
        "size": (library / "report.pdf").stat().st_size,
        "pages": 2,
    }
    containers = {c.external_id: c for batch in batches for c in batch.containers}
    assert set(containers) == {".", "engineering", "engineering/runbooks"}
    assert containers["."].name == "library"
    assert all(c.kind == "folder" and c.is_private for c in containers.values())
    people = {p.ref: p for batch in batches for p in batch.people}
    assert people[PersonRef("name", "Ada Lovelace")].display_name == "Ada Lovelace"


def test_author_audience_shows_a_document_to_its_author_only(library: Path) -> None:
    docs = documents(fetch(library))
    assert docs["engineering/plan.docx"].audience == Audience(
        people=(PersonRef("name", "Ada Lovelace"),)
    )
    # Fail closed: nobody is named, nobody sees it at the source.
    assert docs["notes.txt"].audience == Audience()
    assert not docs["notes.txt"].audience.public


def test_public_audience_shows_every_document_to_everyone(library: Path) -> None:
    batches = fetch(library, audience="public")
    assert all(doc.audience == Audience(public=True) for doc in documents(batches).values())
    assert not any(c.is_private for batch in batches for c in batch.containers)


def test_unknown_audience_is_a_config_error(library: Path) -> None:
    with pytest.raises(ConnectorConfigError):
        connector(library, audience="everyone").validate()
    with pytest.raises(ConnectorConfigError):
        fetch(library, audience="everyone")


def test_missing_path_is_a_config_error() -> None:
    with pytest.raises(ConnectorConfigError):
        fetch("/nonexistent/documents")


def test_timestamps_come_from_metadata_else_the_file(library: Path) -> None:
    stamp = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp()
    os.utime(library / "notes.txt", (stamp, stamp))
    os.utime(library / "report.pdf", (stamp, stamp))
    docs = documents(fetch(library))
    notes, report = docs["notes.txt"], docs["report.pdf"]
    assert notes.created_at == notes.updated_at == datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert report.created_at == datetime(2015, 7, 20, 21, 16, 48, tzinfo=UTC)  # /CreationDate
    assert report.updated_at == datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_single_file_is_identified_by_its_name(library: Path) -> None:
    batches = fetch(library / "engineering" / "plan.docx")
    (doc,) = documents(batches).values()
    assert doc.external_id == "plan.docx"
    assert doc.container_id == "."
    assert json.loads(batches[-1].cursor).keys() == {"plan.docx"}


def test_single_file_of_unknown_type_is_unsupported(library: Path) -> None:
    batches = fetch(library / "picture.png")
    assert not documents(batches)
    assert failures(batches) == {"picture.png": "UnsupportedFile"}


def test_zero_byte_pdf_is_a_failure_not_a_success() -> None:
    batches = fetch(FIXTURES / "pdf-real" / "empty.pdf")
    assert not documents(batches)
    assert failures(batches) == {"empty.pdf": "EmptyDocument"}


def test_real_fixtures_end_as_documents_or_typed_failures() -> None:
    batches = fetch(FIXTURES)
    docs = documents(batches)
    failed = failures(batches)
    assert failed["password-example.pdf"] == "EncryptedFile"
    assert failed["bad7.pdf"] == "CorruptFile"
    assert failed["mammoth-strict-format.docx"] == "CorruptFile"
    assert failed["mammoth-empty.docx"] == "EmptyDocument"
    assert "docx/test.docx" in docs
    assert "pdf-real/word365_structure.pdf" in docs
    assert set(failed).isdisjoint(Path(name).name for name in docs)


def test_resume_skips_unchanged_files_and_rereads_changed_ones(library: Path) -> None:
    first = fetch(library)
    assert not documents(fetch(library, cursor=first[-1].cursor))
    assert not failures(fetch(library, cursor=first[-1].cursor))  # failed files are done too
    (library / "notes.txt").write_text("Notes\nrewritten, and longer than before\n")
    again = fetch(library, cursor=first[-1].cursor)
    assert set(documents(again)) == {"notes.txt"}
    (library / "notes.txt").unlink()
    assert "notes.txt" not in json.loads(fetch(library, cursor=again[-1].cursor)[-1].cursor)


def test_batches_hold_at_most_1000_documents(tmp_path: Path) -> None:
    for n in range(1_001):
        (tmp_path / f"{n:04}.txt").write_text(f"note {n}\n")
    batches = fetch(tmp_path)
    assert [len(batch.documents) for batch in batches] == [1_000, 1]
    assert len(json.loads(batches[0].cursor)) == 1_000
    assert not documents(fetch(tmp_path, cursor=batches[-1].cursor))


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symbolic_links_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "own.txt").write_text("own\n")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / "linked.txt").symlink_to(outside / "secret.txt")
    assert set(documents(fetch(root))) == {"own.txt"}


def test_fifo_in_a_folder_never_blocks_and_is_quarantined_once(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs FIFOs")
    os.mkfifo(tmp_path / "pipe.txt")
    os.mkfifo(tmp_path / "notes")  # not named like a document: skipped, as any other file
    (tmp_path / "real.txt").write_text("real\n")
    batches = fetch(tmp_path)
    assert set(documents(batches)) == {"real.txt"}
    (failure,) = [f for b in batches for f in b.failures]
    assert (Path(failure.path).name, failure.error_type) == ("pipe.txt", "UnsupportedFile")
    assert "FIFO" in failure.message
    assert Path(failure.file).is_absolute()
    # Reported once: the next sync does not quarantine it again.
    assert not [f for b in fetch(tmp_path, cursor=batches[-1].cursor) for f in b.failures]


def test_undecodable_file_names_become_storable_ids(tmp_path: Path) -> None:
    root = os.fsencode(tmp_path)
    try:
        with open(os.path.join(root, b"caf\xe9.txt"), "wb") as handle:
            handle.write(b"menu\n")
    except OSError:
        pytest.skip("the file system refuses non-UTF-8 names")
    batches = fetch(tmp_path)
    (doc,) = documents(batches).values()
    assert doc.external_id == "caf\\xe9.txt"
    assert doc.title == "menu"
    doc.external_id.encode("utf-8")  # no lone surrogates: PostgreSQL would refuse them
    json.loads(batches[-1].cursor)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_a_configured_path_that_is_a_link_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("real\n")
    (tmp_path / "chosen.txt").symlink_to(tmp_path / "real.txt")
    assert set(documents(fetch(tmp_path / "chosen.txt"))) == {"chosen.txt"}
