"""A small company for the MCP server: Dana wrote in #general and in the private #billing-ops
(members Dana and Alice), and has a skill package; Bob is in #general only; Carol's account is
inactive. `mcp_client` starts `manage.py mcp_serve --user NAME` as a child process on the test
database and drives it with the SDK's own stdio client."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import AbstractUser
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from colleagues.models import Colleague
from knowledge.indexing import embed_chunks
from skills.actions import build_package
from tests.factories import BILLING_SECRET, ingest_billing_workspace, make_user, message
from tests.services import live_database_url

BASE_URL = "https://colleague.acme.test"
SECRET_WORD = BILLING_SECRET


@dataclass
class Company:
    dana: Colleague
    alice: AbstractUser
    bob: AbstractUser


@pytest.fixture
def company(settings: Any, transactional_db: Any) -> Company:
    settings.COLLEAGUE_BASE_URL = BASE_URL
    ingest_billing_workspace(
        message("GBILLING1", "UDANA0001", f"{SECRET_WORD} also covers the HSM audit.", private=True)
    )
    embed_chunks()
    dana = Colleague.objects.get(email="dana@acme.test")
    build_package(dana)
    alice = make_user(
        "alice", email="alice@acme.test", colleague=Colleague.objects.get(email="alice@acme.test")
    )
    bob = make_user(
        "bob", email="bob@acme.test", colleague=Colleague.objects.get(email="bob@acme.test")
    )
    make_user("carol", is_active=False)
    return Company(dana=dana, alice=alice, bob=bob)


McpClient = Callable[[str], AbstractAsyncContextManager[Client]]


@pytest.fixture
def mcp_client(company: Company, tmp_path: Path) -> McpClient:
    """Connect to `manage.py mcp_serve --user USERNAME`, a child process on the test database;
    its stderr goes to a file in tmp_path."""

    @asynccontextmanager
    async def connect(username: str) -> AsyncIterator[Client]:
        env = {
            **os.environ,
            "DATABASE_URL": live_database_url(),
            "COLLEAGUE_VAR_DIR": str(tmp_path / "var"),
            # As in this process (tests/conftest.py).
            "COLLEAGUE_EMBEDDER": "hashing",
            "COLLEAGUE_INDEX_BACKEND": "db",
            "COLLEAGUE_BASE_URL": BASE_URL,
        }
        params = StdioServerParameters(
            command=sys.executable,
            args=["manage.py", "mcp_serve", "--user", username],
            env=env,
            cwd=str(django_settings.BASE_DIR),
        )
        with (tmp_path / f"mcp-{username}.log").open("w") as errlog:
            # No client cache: every call must reach the server (and its audit trail).
            async with Client(stdio_client(params, errlog=errlog), cache=None) as client:
                yield client

    return connect
