"""EmailFilesConnector over real files: .eml, mbox, maildir and folders of them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from connectors.base import Connector, SourceBatch, SourceDocument
from connectors.email.connector import EmailFilesConnector
from connectors.errors import ConnectorConfigError
from tests.connectors.contract import ConnectorContract
from tests.connectors.hostile.harness import bounded, deadline

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"


def connector(path: Path | str) -> EmailFilesConnector:
    return EmailFilesConnector(config={"path": str(path)}, credentials={})


def fetch(path: Path | str, cursor: str | None = None) -> list[SourceBatch]:
    return list(connector(path).fetch(cursor=cursor))


def documents(batches: list[SourceBatch]) -> list[SourceDocument]:
    return [doc for batch in batches for doc in batch.documents]


def eml(subject: str, message_id: str | None = None, sender: str = "a@example.com") -> bytes:
    lines = [f"From: {sender}", "To: b@example.com", f"Subject: {subject}"]
    if message_id:
        lines.append(f"Message-ID: <{message_id}>")
    return ("\n".join(lines) + "\n\nbody of " + subject + "\n").encode()


def mbox(*messages: bytes) -> bytes:
    envelope = b"From x@example.com Mon Jan  1 00:00:00 2001\n"
    return b"".join(envelope + m.rstrip(b"\n") + b"\n\n" for m in messages)


class TestEmailFilesContract(ConnectorContract):
    def make_connector(self) -> Connector:
        return connector(FIXTURES)


def test_folder_of_real_mail_yields_documents_and_no_failures() -> None:
    batches = fetch(FIXTURES)
    docs = documents(batches)
    assert not [f for b in batches for f in b.failures]
    containers = {c.external_id: c for b in batches for c in b.containers}
    assert "talon-replies/standard_replies" in containers
    assert "perceval-mbox/mbox_no_fields.mbox" in containers
    assert all(c.kind == "mailbox" and c.is_private for c in containers.values())
    assert {d.container_id for d in docs} <= containers.keys()
    assert all(d.kind == "email" and not d.audience.public for d in docs)
    assert {d.metadata["folder"] for d in docs} == containers.keys()
    # Files that are neither .eml nor mbox (the HTML bodies, the *_reply_text files) are
    # skipped silently: none of them became a document or a failure.
    assert "talon-replies/html_replies" not in containers


def test_batches_carry_the_people_their_documents_name() -> None:
    for batch in fetch(FIXTURES):
        refs = {person.ref for person in batch.people}
        for doc in batch.documents:
            assert set(doc.audience.people) <= refs
            assert doc.author is None or doc.author in refs


def test_single_eml_file_is_one_document_in_the_root_mailbox() -> None:
    batches = fetch(FIXTURES / "talon-replies" / "standard_replies" / "gmail.eml")
    (doc,) = documents(batches)
    (container,) = batches[0].containers
    assert doc.body == "Hello"
    assert container.external_id == "."
    assert container.name == "gmail.eml"
    stat = (FIXTURES / "talon-replies" / "standard_replies" / "gmail.eml").stat()
    assert json.loads(batches[-1].cursor) == {"gmail.eml": [stat.st_size, stat.st_mtime_ns]}


def test_single_mbox_file_dedupes_repeated_message_ids() -> None:
    docs = documents(fetch(FIXTURES / "perceval-mbox" / "mbox_no_fields.mbox"))
    ids = [d.external_id for d in docs]
    # Six messages: three share one Message-ID, one has an empty Message-Id header.
    assert len(ids) == len(set(ids)) == 3
    assert "4CF64D10.9020206@domain.com" in ids


def test_missing_path_is_a_config_error() -> None:
    with pytest.raises(ConnectorConfigError):
        connector("/nonexistent/mail").validate()
    with pytest.raises(ConnectorConfigError):
        fetch("/nonexistent/mail")
    with pytest.raises(ConnectorConfigError):
        list(EmailFilesConnector(config={}, credentials={}).fetch(cursor=None))


def test_maildir_reads_cur_and_new_but_not_tmp(tmp_path: Path) -> None:
    box = tmp_path / "Mail" / "work"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    (box / "cur" / "1.host:2,S").write_bytes(eml("seen", "seen@x"))
    (box / "new" / "2.host").write_bytes(eml("unseen", "unseen@x"))
    (box / "tmp" / "3.host").write_bytes(eml("half delivered", "tmp@x"))
    sent = box / ".Sent"
    (sent / "cur").mkdir(parents=True)
    (sent / "cur" / "4.host:2,S").write_bytes(eml("sent", "sent@x"))
    batches = fetch(tmp_path / "Mail")
    by_id = {d.external_id: d for d in documents(batches)}
    assert set(by_id) == {"seen@x", "unseen@x", "sent@x"}
    assert by_id["seen@x"].container_id == "work"
    assert by_id["sent@x"].container_id == "work/.Sent"
    assert set(json.loads(batches[-1].cursor)) == {
        "work/cur/1.host:2,S",
        "work/new/2.host",
        "work/.Sent/cur/4.host:2,S",
    }


def test_configured_maildir_is_the_root_mailbox(tmp_path: Path) -> None:
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "1.host").write_bytes(eml("hi", "hi@x"))
    (doc,) = documents(fetch(tmp_path))
    assert doc.container_id == "."


def test_unparseable_mbox_message_is_a_failure_and_the_rest_goes_on(tmp_path: Path) -> None:
    deep = b"From: a@x.org\n" + b"Content-Type: message/rfc822\n\n" * 100 + b"x"
    path = tmp_path / "archive.mbox"
    path.write_bytes(mbox(eml("one", "one@x"), deep, b"no headers at all", eml("four", "4@x")))
    batches = fetch(path)
    assert [d.external_id for d in documents(batches)] == ["one@x", "4@x"]
    failures = [f for b in batches for f in b.failures]
    assert [(f.path, f.error_type) for f in failures] == [
        (f"{path}#2", "LimitExceeded"),
        (f"{path}#3", "CorruptFile"),
    ]


def test_broken_eml_is_a_failure_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "good.eml").write_bytes(eml("good", "good@x"))
    (tmp_path / "bad.eml").write_bytes(b"\x00\x01 not mail")
    batches = fetch(tmp_path)
    assert [d.external_id for d in documents(batches)] == ["good@x"]
    (failure,) = [f for b in batches for f in b.failures]
    assert failure.path == str(tmp_path / "bad.eml")
    assert failure.error_type == "CorruptFile"


def test_duplicate_message_ids_across_files_are_yielded_once(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(eml("first copy", "same@x"))
    (tmp_path / "b.eml").write_bytes(eml("second copy", "same@x"))
    assert [d.external_id for d in documents(fetch(tmp_path))] == ["same@x"]


def test_resume_skips_unchanged_files_and_rereads_changed_ones(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(eml("a", "a@x"))
    (tmp_path / "b.mbox").write_bytes(mbox(eml("b1", "b1@x"), eml("b2", "b2@x")))
    first = fetch(tmp_path)
    assert len(documents(first)) == 3
    assert not documents(fetch(tmp_path, cursor=first[-1].cursor))
    (tmp_path / "b.mbox").write_bytes(mbox(eml("b1", "b1@x"), eml("b2", "b2@x"), eml("b3", "3@x")))
    again = fetch(tmp_path, cursor=first[-1].cursor)
    assert sorted(d.external_id for d in documents(again)) == ["3@x", "b1@x", "b2@x"]
    (tmp_path / "a.eml").unlink()
    after_delete = fetch(tmp_path, cursor=again[-1].cursor)
    assert not documents(after_delete)
    assert "a.eml" not in json.loads(after_delete[-1].cursor)


def test_batches_hold_at_most_1000_documents_and_mark_an_mbox_only_when_done(
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.mbox"
    path.write_bytes(mbox(*(eml(f"m{n}", f"m{n}@x") for n in range(1_500))))
    (tmp_path / "z.eml").write_bytes(eml("last", "last@x"))
    batches = fetch(tmp_path)
    assert [len(b.documents) for b in batches] == [1_000, 501]
    assert "big.mbox" not in json.loads(batches[0].cursor)
    assert set(json.loads(batches[-1].cursor)) == {"big.mbox", "z.eml"}
    assert all(b.containers for b in batches)
    # A crash after the first batch resumes from its cursor: the mbox is read again whole.
    resumed = fetch(tmp_path, cursor=batches[0].cursor)
    assert sum(len(b.documents) for b in resumed) == 1_501


def test_unreadable_cursor_reads_everything_again(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(eml("a", "a@x"))
    assert len(documents(fetch(tmp_path, cursor="not json"))) == 1
    assert len(documents(fetch(tmp_path, cursor='["a list"]'))) == 1


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symbolic_links_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.eml").write_bytes(eml("secret", "secret@x"))
    root = tmp_path / "root"
    root.mkdir()
    (root / "own.eml").write_bytes(eml("own", "own@x"))
    (root / "linked-folder").symlink_to(outside, target_is_directory=True)
    (root / "linked.eml").symlink_to(outside / "secret.eml")
    assert [d.external_id for d in documents(fetch(root))] == ["own@x"]


def test_list_external_ids_names_every_message(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "perceval-mbox" / "mbox_multipart.mbox", tmp_path / "list.mbox")
    (tmp_path / "a.eml").write_bytes(eml("a", "a@x"))
    ids = set(connector(tmp_path).list_external_ids())
    assert "a@x" in ids
    assert len(ids) == 3


def test_unreadable_file_is_a_failure_and_is_read_again_later(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    locked = tmp_path / "locked.eml"
    locked.write_bytes(eml("locked", "locked@x"))
    locked.chmod(0)
    batches = fetch(tmp_path)
    assert [f.error_type for b in batches for f in b.failures] == ["PermissionError"]
    assert "locked.eml" not in json.loads(batches[-1].cursor)


def test_raw_messages_saved_as_txt_are_mail_and_other_text_is_not(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "enron-txt", tmp_path / "enron")
    (tmp_path / "enron" / "notes.txt").write_text("From: the desk of nobody\nJust notes.\n")
    docs = documents(fetch(tmp_path))
    assert sorted(d.title for d in docs) == [
        "TW Gas Sales: PRIVILEGED AND CONFIDENTIAL ATTORNEY CLIENT PRIVILEGE",
        "Translation of articles",
    ]
    kean = next(d for d in docs if d.title == "Translation of articles")
    assert kean.author is not None
    assert kean.author.value == "steven.kean@enron.com"


# --- FIFOs, sockets and links where messages should be -----------------------------------------


def test_a_fifo_in_a_maildir_or_named_eml_is_quarantined_not_read(tmp_path: Path) -> None:
    box = tmp_path / "Mail"
    (box / "cur").mkdir(parents=True)
    (box / "cur" / "1.host:2,S").write_bytes(eml("seen", "seen@x"))
    os.mkfifo(box / "cur" / "2.host:2,S")
    os.mkfifo(tmp_path / "pipe.eml")
    os.mkfifo(tmp_path / "pipe.mbox")
    os.mkfifo(tmp_path / "notes")  # not named like mail: skipped, as any other file
    batches = bounded(lambda: fetch(tmp_path))
    assert [d.external_id for d in documents(batches)] == ["seen@x"]
    failures = {Path(f.path).name: f for b in batches for f in b.failures}
    assert set(failures) == {"2.host:2,S", "pipe.eml", "pipe.mbox"}
    for failure in failures.values():
        assert failure.error_type == "UnsupportedFile"
        assert "FIFO" in failure.message
        assert Path(failure.file).is_absolute()
    # Reported once: the next sync does not quarantine them again.
    assert not [f for b in fetch(tmp_path, cursor=batches[-1].cursor) for f in b.failures]


def test_files_swapped_for_a_fifo_or_a_link_after_the_walk_never_hang_the_sync(
    tmp_path: Path,
) -> None:
    # The first batch is taken after 1,000 messages of a.mbox; only then are the other files
    # (walked already as regular files) swapped for FIFOs and a link.
    (tmp_path / "a.mbox").write_bytes(mbox(*(eml(f"m{n}", f"m{n}@x") for n in range(1_000))))
    for name in ("x.eml", "y.mbox", "z.eml"):
        (tmp_path / name).write_bytes(eml(name, f"{name}@x"))
    fetching = connector(tmp_path).fetch(cursor=None)
    first = bounded(lambda: next(fetching))
    assert len(first.documents) == 1_000
    for name in ("x.eml", "y.mbox", "z.eml"):
        (tmp_path / name).unlink()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.eml"
    outside.write_bytes(eml("outside", "outside@x"))
    (tmp_path / "x.eml").symlink_to(outside)
    os.mkfifo(tmp_path / "y.mbox")
    os.mkfifo(tmp_path / "z.eml")

    rest = bounded(lambda: list(fetching), seconds=10)

    assert not documents(rest)
    failures = {Path(f.path).name: f.error_type for b in rest for f in b.failures}
    assert failures == {
        "x.eml": "UnsafeArchive",
        "y.mbox": "UnsupportedFile",
        "z.eml": "UnsupportedFile",
    }


@pytest.mark.django_db
def test_a_sync_with_a_fifo_in_a_maildir_succeeds_with_it_quarantined(
    tmp_path: Path,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    from connectors.actions import create_source, run_sync
    from connectors.models import QuarantinedFile, SyncRun

    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "1.host").write_bytes(eml("hi", "hi@x"))
    os.mkfifo(tmp_path / "new" / "2.host")
    source = create_source(name="mail", kind="email", config={"path": str(tmp_path)})
    with deadline(30), django_capture_on_commit_callbacks(execute=True):
        run = run_sync(source=source)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.items_created == 1
    (record,) = QuarantinedFile.objects.filter(run=run)
    assert (record.file, record.error_type) == (str(tmp_path / "new" / "2.host"), "UnsupportedFile")
    assert record.copy_status == QuarantinedFile.Copy.NOT_REGULAR
