"""The MCP server over Streamable HTTP at /mcp/ (config/asgi.py under a real uvicorn process on
the test database), driven by the SDK's own streamable HTTP client with per-user tokens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import AbstractUser, User
from django.utils import timezone
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from agents.actions import NewToken, create_token, revoke_token
from knowledge.models import AuditEvent
from tests.agents.conftest import BASE_URL, SECRET_WORD, Company
from tests.services import live_database_url

pytestmark = pytest.mark.django_db(transaction=True)

RATE_LIMIT = 12
REQUEST_ID = "agent-request-1"
QUESTION = "how did we rotate the billing keys?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mcp_url(company: Company, tmp_path: Path) -> Iterator[str]:
    """`uvicorn config.asgi:application` on a free port, on the test database; its /mcp/ URL."""
    port = free_port()
    log = tmp_path / "uvicorn.log"
    env = {
        **os.environ,
        "DATABASE_URL": live_database_url(),
        "COLLEAGUE_VAR_DIR": str(tmp_path / "var"),
        "COLLEAGUE_EMBEDDER": "hashing",
        "COLLEAGUE_INDEX_BACKEND": "db",
        "COLLEAGUE_BASE_URL": BASE_URL,
        "AGENTS_RATE_LIMIT": str(RATE_LIMIT),
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port)],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "Application startup complete" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp/"
    finally:
        process.terminate()
        process.wait(timeout=20)


def token_for(user: AbstractUser, *scopes: str) -> NewToken:
    return create_token(
        user,  # type: ignore[arg-type]
        name="agent",
        scopes=scopes or ("ask", "read_packages"),
        expires_at=timezone.now() + timedelta(days=1),
    )


@asynccontextmanager
async def connect(url: str, secret: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {secret}", "X-Request-ID": REQUEST_ID}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), cache=None) as client,
    ):
        yield client


def test_a_token_serves_its_users_view_with_citations_and_every_call_is_audited(
    mcp_url: str, company: Company
) -> None:
    secret = token_for(company.bob).secret
    slug = company.dana.slug

    async def main() -> dict[str, Any]:
        async with connect(mcp_url, secret) as client:
            return {
                "tools": await client.list_tools(),
                "ask": await client.call_tool(
                    "ask_colleague", {"colleague": slug, "question": QUESTION}
                ),
                "search": await client.call_tool("search", {"query": f"{SECRET_WORD} runbook"}),
                "unknown": await client.call_tool(
                    "style_check", {"colleague": "nobody", "text": "Hello"}
                ),
                "skill": await client.read_resource(f"colleague://{slug}/work.md"),
            }

    got = anyio.run(main)
    assert len(got["tools"].tools) == 4
    ask = got["ask"].structured_content
    assert ask["citations"]
    assert ask["citations"][0]["link"].startswith(f"{BASE_URL}/knowledge/items/")
    # Found by meaning at best, never the private channel's messages (checked below).
    hits = got["search"].structured_content["results"]
    assert all(h["link"] == f"{BASE_URL}/knowledge/items/{h['item_id']}/" for h in hits)
    assert got["unknown"].is_error
    assert "No such colleague" in got["unknown"].content[0].text
    assert "# Dana Reyes" in got["skill"].contents[0].text
    assert SECRET_WORD not in str(got)  # Bob is not in #billing-ops
    events = AuditEvent.objects.filter(actor_id=company.bob.pk, detail__via="mcp").order_by("seq")
    # Each with the HTTP request's client IP and X-Request-ID, as an intranet request's.
    assert {(e.ip, e.request_id) for e in events} == {("127.0.0.1", REQUEST_ID)}
    actions = [e.action for e in events]
    assert actions == [
        "answers.asked",
        "knowledge.searched",
        "agents.refused",
        "skill.viewed",
    ]


def test_a_revoked_token_is_refused_on_its_next_call(mcp_url: str, company: Company) -> None:
    new = token_for(company.alice)

    def revoke() -> None:
        revoke_token(new.token, actor=User.objects.get(pk=company.alice.pk))

    async def main() -> tuple[Any, MCPError | None]:
        async with connect(mcp_url, new.secret) as client:
            before = await client.call_tool("who_knows", {"question": "billing keys"})
            await anyio.to_thread.run_sync(revoke)
            try:
                await client.call_tool("who_knows", {"question": "billing keys"})
            except MCPError as exc:  # the server answered 401
                return before, exc
            return before, None

    before, refused = anyio.run(main)
    assert not before.is_error
    assert refused is not None
    event = AuditEvent.objects.filter(action="agents.refused").get()
    assert (event.target, event.result, event.detail["reason"]) == ("path:/mcp/", "denied", "token")


def test_a_token_serves_only_its_scopes(mcp_url: str, company: Company) -> None:
    secret = token_for(company.alice, "ask").secret

    async def main() -> tuple[Any, str]:
        async with connect(mcp_url, secret) as client:
            asked = await client.call_tool(
                "ask_colleague", {"colleague": company.dana.slug, "question": QUESTION}
            )
            try:
                await client.read_resource(f"colleague://{company.dana.slug}/SKILL.md")
            except MCPError as exc:
                return asked, exc.message
            return asked, ""

    asked, refused = anyio.run(main)
    assert SECRET_WORD in str(asked.structured_content)  # Alice is in #billing-ops
    assert refused == "This token lacks the 'read_packages' scope."
    event = AuditEvent.objects.get(action="agents.refused")
    assert (event.actor, event.detail["reason"]) == (company.alice, "scope")


def test_requests_without_a_live_token_or_over_the_rate_limit_are_refused(
    mcp_url: str, company: Company
) -> None:
    secret = token_for(company.bob).secret
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    accept = {"Accept": "application/json, text/event-stream"}
    with httpx2.Client(timeout=30) as http:
        anonymous = http.post(mcp_url, json=ping, headers=accept)
        forged = http.post(mcp_url, json=ping, headers={**accept, "Authorization": "Bearer csk_x"})
        assert anonymous.status_code == forged.status_code == 401
        assert anonymous.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        # Within one minute's window.
        if time.time() % 60 > 45:
            time.sleep(61 - time.time() % 60)
        auth = {**accept, "Authorization": f"Bearer {secret}"}
        statuses = [http.post(mcp_url, json=ping, headers=auth).status_code for _ in range(14)]
    assert statuses[RATE_LIMIT - 1] != 429
    assert statuses[RATE_LIMIT:] == [429, 429]
