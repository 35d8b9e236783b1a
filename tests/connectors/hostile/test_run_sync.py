"""The whole hostile corpus through `run_sync`, on the database (docs/SECURITY.md row 4).

One sync per source reads every hostile file at once, next to good ones. The run succeeds;
each bad file becomes one quarantined file per typed error (a complete copy kept when it is a
file), with no item and no chunk; every good file is stored with its chunks; nothing is
written outside the quarantine folder, and no partial copy is left in it. A Slack archive
refused as a whole (bomb, zip slip...) is such a quarantined file too: the run succeeds.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from django.conf import settings

from connectors.actions import create_source
from connectors.actions import run_sync as run_sync_action
from connectors.models import QuarantinedFile, Source, SyncRun
from knowledge.actions import MAX_QUARANTINE_COPY_BYTES
from knowledge.models import Chunk, Item
from tests.connectors.hostile import corpus
from tests.connectors.hostile.corpus import INGESTED, Case
from tests.connectors.hostile.harness import Canary, deadline, evil_files, snapshot

pytestmark = pytest.mark.django_db

SYNC_SECONDS = 120.0

OnCommit = Callable[..., AbstractContextManager[object]]


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks: OnCommit) -> OnCommit:
    """Runs what each stored batch sets off once committed (its quarantine copies)."""
    return django_capture_on_commit_callbacks


def _sync(source: Source, tmp_path: Path, on_commit: OnCommit) -> SyncRun:
    """Run the sync under a deadline; assert it wrote nothing outside the quarantine."""
    quarantine = Path(settings.COLLEAGUE_QUARANTINE_DIR)
    before = snapshot(tmp_path, skip=[quarantine])
    with deadline(SYNC_SECONDS), on_commit(execute=True):
        run = run_sync_action(source=source)
    assert snapshot(tmp_path, skip=[quarantine]) == before
    assert not evil_files(tmp_path)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_quarantine_is_complete(run: SyncRun) -> list[QuarantinedFile]:
    """Each copy is whole (same bytes as the file on disk it was made of), each regular file
    is copied, and nothing else is in the folder."""
    quarantined = list(QuarantinedFile.objects.filter(run=run))
    assert run.files_quarantined == len(quarantined)
    kept = set()
    for record in quarantined:
        file = Path(record.file)
        assert file.is_absolute(), record.path
        if file.is_file() and not file.is_symlink():
            expected = (
                QuarantinedFile.Copy.COPIED
                if file.stat().st_size <= MAX_QUARANTINE_COPY_BYTES
                else QuarantinedFile.Copy.TOO_LARGE
            )
            assert record.copy_status == expected, record.path
        if record.stored_path:
            copy = Path(record.stored_path)
            assert copy.is_relative_to(Path(settings.COLLEAGUE_QUARANTINE_DIR))
            assert _digest(copy) == _digest(Path(record.file)), record.path
            kept.add(copy)
    folder = Path(settings.COLLEAGUE_QUARANTINE_DIR)
    present = {path for path in folder.rglob("*") if path.is_file()} if folder.exists() else set()
    assert present == kept, "a copy no record points at: half-written or left over"
    return quarantined


def _assert_outcomes(
    cases: list[Case],
    *,
    errors: dict[str, list[str]],
    stored: dict[str, int],
) -> None:
    for case in cases:
        observed = frozenset(errors.get(case.name, [])) | (
            {INGESTED} if stored.get(case.name) else set()
        )
        assert observed == case.expected, f"{case.name} ({case.why}): {errors.get(case.name)}"


def test_a_folder_of_hostile_documents_syncs_and_quarantines_each_bad_file(
    tmp_path: Path, canary: Canary, on_commit: OnCommit
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_bytes(corpus.GOOD_TEXT)
    (folder / "good.pdf").write_bytes(corpus.good_pdf())
    (folder / "good.docx").write_bytes(corpus.base_docx())
    cases = corpus.document_cases(canary.url)
    for case in cases:
        case.write(folder / case.name)
    source = create_source(name="hostile docs", kind="docs", config={"path": str(folder)})

    run = _sync(source, tmp_path, on_commit)

    quarantined = _assert_quarantine_is_complete(run)
    errors: dict[str, list[str]] = defaultdict(list)
    for record in quarantined:
        errors[Path(record.path).name].append(record.error_type)
    items = dict(Item.objects.filter(source=source).values_list("external_id", "pk"))
    stored = {case.name: items.get(case.stored_as or case.name, 0) for case in cases}
    _assert_outcomes(cases, errors=errors, stored=stored)
    for good in ("good.txt", "good.pdf", "good.docx"):
        assert Chunk.objects.filter(item_id=items[good]).exists(), good
    assert set(items) == {"good.txt", "good.pdf", "good.docx"} | {
        case.stored_as or case.name for case in cases if INGESTED in case.expected
    }
    # 0 chunks from a rejected file: only stored items have chunks.
    assert set(
        Chunk.objects.filter(item__source=source).values_list("item__external_id", flat=True)
    ) <= set(items)
    assert not {record.path for record in quarantined} & {str(folder / name) for name in items}


def test_a_folder_of_hostile_mail_syncs_and_quarantines_each_bad_message(
    tmp_path: Path, on_commit: OnCommit
) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "good.eml").write_bytes(corpus.GOOD_MAIL)
    cases = corpus.email_cases()
    for case in cases:
        # One folder per case: its documents' mailbox tells which file they came from.
        (folder / case.name).mkdir()
        case.write(folder / case.name / case.name)
    source = create_source(name="hostile mail", kind="email", config={"path": str(folder)})

    run = _sync(source, tmp_path, on_commit)

    quarantined = _assert_quarantine_is_complete(run)
    errors: dict[str, list[str]] = defaultdict(list)
    for record in quarantined:
        errors[Path(record.path.split("#")[0]).name].append(record.error_type)
    stored: dict[str, int] = defaultdict(int)
    for item in Item.objects.filter(source=source).select_related("container"):
        assert item.container is not None
        stored[item.container.external_id.split("/")[0]] += 1
    assert stored.pop(".") == 1  # good.eml, in the root mailbox
    _assert_outcomes(cases, errors=errors, stored=stored)
    assert Chunk.objects.filter(item__source=source, item__external_id="good@example.com").exists()
    # A hostile message among good ones costs only itself.
    assert stored["mixed.mbox"] == 2
    assert errors["mixed.mbox"] == ["LimitExceeded"]


@pytest.mark.parametrize("name", [case.name for case in corpus.slack_cases()])
def test_a_hostile_slack_export_syncs_and_quarantines_what_it_cannot_read(
    name: str, tmp_path: Path, on_commit: OnCommit
) -> None:
    (case,) = [case for case in corpus.slack_cases() if case.name == name]
    path = tmp_path / case.name
    case.write(path)
    # Created as if the export had been swapped for this one after it was configured.
    source = Source.objects.create(
        name=f"hostile {name}", kind="slack-export", config={"path": str(path)}
    )

    run = _sync(source, tmp_path, on_commit)

    quarantined = _assert_quarantine_is_complete(run)
    items = list(Item.objects.filter(source=source).values_list("external_id", flat=True))
    _assert_outcomes(
        [case],
        errors={case.name: [record.error_type for record in quarantined]},
        stored={case.name: len(items)},
    )
    if INGESTED in case.expected:
        assert "C1/1452837352.000006" in items
    assert set(
        Chunk.objects.filter(item__source=source).values_list("item__external_id", flat=True)
    ) == set(items)


@pytest.mark.parametrize(
    "name",
    [
        case.name
        for case in corpus.slack_cases()
        if case.expected.isdisjoint({INGESTED}) and case.name.endswith(".zip")
    ],
)
def test_a_rejected_slack_export_is_configured_and_its_sync_quarantines_it(
    name: str, tmp_path: Path, on_commit: OnCommit
) -> None:
    # Configuring checks the configuration only; what the archive holds is the sync's to find.
    (case,) = [case for case in corpus.slack_cases() if case.name == name]
    path = tmp_path / case.name
    case.write(path)
    with deadline(SYNC_SECONDS):
        source = create_source(name=name, kind="slack-export", config={"path": str(path)})

    run = _sync(source, tmp_path, on_commit)

    (record,) = _assert_quarantine_is_complete(run)
    assert record.error_type in case.expected
    assert (record.path, record.file, record.member) == (path.name, str(path), "")
    assert record.copy_status == QuarantinedFile.Copy.COPIED
    assert not Item.objects.filter(source=source).exists()


def test_nul_and_lone_surrogates_in_slack_text_do_not_fail_the_sync(tmp_path: Path) -> None:
    path = tmp_path / "nul.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in corpus.GOOD_MEMBERS:
            archive.writestr(member, data)
        archive.writestr(corpus.BAD_DAY, json.dumps(corpus.SLACK_NUL_TEXT_DAY))
    source = create_source(name="nul", kind="slack-export", config={"path": str(path)})
    with deadline(SYNC_SECONDS):
        run = run_sync_action(source=source)
    assert run.status == SyncRun.Status.SUCCEEDED
    bodies = list(Item.objects.filter(source=source).values_list("body", flat=True))
    assert len(bodies) == 3
    assert not any("\x00" in body for body in bodies)


_NUL = "nul \u0000 and lone \ud800 here"
_HOSTILE_TEXT_EXPORTS: dict[str, dict[str, object]] = {
    "user names": {
        "users.json": [{"id": "U1", "team_id": "T1", "name": _NUL, "profile": {"real_name": _NUL}}]
    },
    "channel name and topic": {
        "channels.json": [
            {"id": "C1", "name": "general", "members": ["U1"], "topic": {"value": _NUL}}
        ]
    },
    "attachment text": {
        corpus.BAD_DAY: [
            {
                "user": "U1",
                "text": "see",
                "ts": "1452900000.000003",
                "attachments": [{"title": _NUL, "text": _NUL, "fallback": _NUL}],
            }
        ]
    },
    "file title": {
        corpus.BAD_DAY: [
            {
                "user": "U1",
                "text": "file",
                "ts": "1452900000.000004",
                "files": [{"id": "F1", "name": _NUL, "title": _NUL, "preview": _NUL}],
            }
        ]
    },
}


@pytest.mark.parametrize(
    "where",
    sorted(_HOSTILE_TEXT_EXPORTS),
)
def test_nul_and_lone_surrogates_anywhere_in_a_slack_export_never_fail_the_sync(
    where: str, tmp_path: Path
) -> None:
    members = {str(name): data for name, data in corpus.GOOD_MEMBERS}
    for name, value in _HOSTILE_TEXT_EXPORTS[where].items():
        members[name] = json.dumps(value).encode()
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    source = create_source(name="nul", kind="slack-export", config={"path": str(path)})
    with deadline(SYNC_SECONDS):
        run = run_sync_action(source=source)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert Item.objects.filter(source=source).exists()
