"""Build Slack exports for tests: from the real fixtures, or written out record by record."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from connectors.base import SourceBatch, SourceDocument
from connectors.slack.export import SlackExportConnector

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "slack"
EXPORT_2016 = FIXTURES / "export-2016"
THREAD_SNIPPETS = FIXTURES / "thread-snippets"
WORKSPACE = "T0BMHLSRH"  # the team id of export-2016's users


def write_export(root: Path, files: Mapping[str, Any]) -> Path:
    """Write `{relative path: JSON value or raw bytes}` under `root` and return it."""
    for name, value in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = value if isinstance(value, bytes) else json.dumps(value, indent=1).encode()
        path.write_bytes(data)
    return root


def zip_folder(folder: Path, destination: Path, *, top: str = "") -> Path:
    """Zip a folder export the way Slack does (optionally under a `top` folder)."""
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, top + path.relative_to(folder).as_posix())
    return destination


def copy_export(source: Path, destination: Path) -> Path:
    """Copy a fixture export to a writable place and return the copy."""
    shutil.copytree(source, destination)
    for path in destination.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return destination


def connector(path: Path, **config: Any) -> SlackExportConnector:
    return SlackExportConnector(config={"path": str(path), **config}, credentials={})


def fetch(path: Path, cursor: str | None = None, **config: Any) -> list[SourceBatch]:
    return list(connector(path, **config).fetch(cursor=cursor))


def documents(batches: Iterable[SourceBatch]) -> list[SourceDocument]:
    return [document for batch in batches for document in batch.documents]


def by_id(batches: Iterable[SourceBatch]) -> dict[str, SourceDocument]:
    return {document.external_id: document for document in documents(batches)}


def thread_export(root: Path) -> Path:
    """Return an export holding the thread snippets: #random (a thread) and #announce
    (a thread with a broadcast reply). The snippets' users carry no team id."""
    users = json.loads((THREAD_SNIPPETS / "users.json").read_text())
    normal = json.loads((THREAD_SNIPPETS / "normal_thread.json").read_text())
    broadcast = json.loads((THREAD_SNIPPETS / "thread_with_broadcast_reply.json").read_text())
    everyone = [user["id"] for user in users]
    return write_export(
        root,
        {
            "users.json": users,
            "channels.json": [
                {"id": "C0RANDOM1", "name": "random", "members": everyone},
                {"id": "C0ANNOUNC", "name": "announce", "members": everyone},
            ],
            "random/2015-06-12.json": normal,
            "announce/2015-06-12.json": broadcast,
        },
    )


def private_export(root: Path) -> Path:
    """Return a small export with a private channel, a DM and a group DM (written here)."""
    users = [
        {
            "id": "UALICE001",
            "team_id": "TACME0001",
            "name": "alice",
            "real_name": "Alice Archer",
            "profile": {"display_name": "Alice", "email": "Alice@Example.COM", "title": "SRE"},
        },
        {
            "id": "UBOB00001",
            "team_id": "TACME0001",
            "name": "bob",
            "profile": {"display_name": "", "real_name": "Bob Baker"},
        },
        {
            "id": "UCAROL001",
            "team_id": "TACME0001",
            "name": "carol",
            "deleted": True,
            "profile": {"display_name": "Carol"},
        },
        {
            "id": "UAPP00001",
            "team_id": "TACME0001",
            "name": "deploybot",
            "is_app_user": True,
            "profile": {"display_name": "Deploy Bot"},
        },
        # A Slack Connect guest from another workspace: the minority team id.
        {"id": "UGUEST001", "team_id": "TOTHER001", "name": "guest"},
    ]
    return write_export(
        root,
        {
            "users.json": users,
            "channels.json": [
                {"id": "CPUBLIC01", "name": "general", "members": ["UALICE001", "UBOB00001"]},
            ],
            "groups.json": [
                {
                    "id": "GSECRET01",
                    "name": "secret-project",
                    "members": ["UALICE001"],
                    "topic": {"value": "the merger"},
                }
            ],
            "dms.json": [{"id": "DALICEBOB", "members": ["UALICE001", "UBOB00001"]}],
            "mpims.json": [
                {
                    "id": "GMPIM0001",
                    "name": "mpdm-alice--bob--carol-1",
                    "members": ["UALICE001", "UBOB00001", "UCAROL001"],
                }
            ],
            "general/2021-03-01.json": [
                {
                    "type": "message",
                    "user": "UALICE001",
                    "text": "hello <!here>",
                    "ts": "1614600000.000100",
                },
                {
                    "type": "message",
                    "user": "UBOB00001",
                    "text": "see <#GSECRET01|secret-project> &amp; <mailto:a@b.co|a@b.co>",
                    "ts": "1614600060.000200",
                },
            ],
            "secret-project/2021-03-01.json": [
                {
                    "type": "message",
                    "subtype": "group_join",
                    "user": "UBOB00001",
                    "text": "<@UBOB00001> has joined the group",
                    "ts": "1614600100.000100",
                },
                {
                    "type": "message",
                    "user": "UALICE001",
                    "text": "The merger closes Friday, <@UBOB00001>",
                    "ts": "1614600200.000100",
                },
            ],
            # DMs are exported in a folder named by the DM's id.
            "DALICEBOB/2021-03-02.json": [
                {
                    "type": "message",
                    "user": "UBOB00001",
                    "text": "my salary is...",
                    "ts": "1614690000.000100",
                },
            ],
            "mpdm-alice--bob--carol-1/2021-03-02.json": [
                {
                    "type": "message",
                    "user": "UCAROL001",
                    "text": "lunch?",
                    "ts": "1614690100.000100",
                },
                {
                    "type": "message",
                    "user": "UGUEST001",
                    "text": "count me in",
                    "ts": "1614690200.000100",
                },
            ],
        },
    )
