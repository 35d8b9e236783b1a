"""`manage.py mcp_serve --user` driven by the SDK's own stdio client: the same answers, access
and audit trail as the intranet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import AbstractUser, User
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent

from colleagues.models import Colleague
from knowledge.models import AuditEvent
from tests.agents.conftest import BASE_URL, SECRET_WORD, Company, McpClient
from tests.services import live_database_url

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "how did we rotate the billing keys?"
ITEM_LINK = f"{BASE_URL}/knowledge/items/"


def run(mcp_client: McpClient, username: str, scenario: Callable[[Client], Awaitable[Any]]) -> Any:
    """Run `scenario` against a fresh `mcp_serve --user username`; return what it returns."""

    async def main() -> Any:
        async with mcp_client(username) as client:
            return await scenario(client)

    return anyio.run(main)


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def mcp_events(user: AbstractUser) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(actor_id=user.pk, detail__via="mcp").order_by("seq"))


def test_tools_answer_with_citations_and_links_and_every_call_is_audited(
    mcp_client: McpClient, company: Company
) -> None:
    slug = company.dana.slug

    async def scenario(client: Client) -> dict[str, Any]:
        return {
            "tools": await client.list_tools(),
            "ask": await client.call_tool(
                "ask_colleague", {"colleague": "dana@acme.test", "question": QUESTION}
            ),
            "who": await client.call_tool("who_knows", {"question": "billing keys rotation"}),
            "search": await client.call_tool(
                "search", {"query": "billing keys", "colleague": slug}
            ),
            "style": await client.call_tool(
                "style_check", {"colleague": slug, "text": "Rotate the keys, then restart."}
            ),
            "unknown": await client.call_tool(
                "ask_colleague", {"colleague": "nobody@acme.test", "question": QUESTION}
            ),
        }

    got = run(mcp_client, "bob", scenario)

    assert {t.name for t in got["tools"].tools} == {
        "ask_colleague",
        "who_knows",
        "search",
        "style_check",
    }
    ask = got["ask"].structured_content
    assert not got["ask"].is_error
    assert ask["mode"] == "extractive"
    assert ask["colleague"]["link"] == f"{BASE_URL}/colleagues/{slug}/skill/"
    assert "vault rotation job" in ask["answer"]
    assert ask["citations"], ask
    for citation in ask["citations"]:
        assert citation["link"] == f"{ITEM_LINK}{citation['item_id']}/"
    assert "[1]" in ask["answer"]
    # The agent reads the same JSON as text.
    assert json.loads(text_of(got["ask"])) == ask

    who = got["who"].structured_content["results"]
    assert who[0]["colleague"]["slug"] == slug
    assert who[0]["evidence"][0]["link"].startswith(ITEM_LINK)

    hits = got["search"].structured_content["results"]
    assert hits
    assert all(h["colleague"] == "dana@acme.test" for h in hits)
    assert all(h["link"] == f"{ITEM_LINK}{h['item_id']}/" for h in hits)

    style = got["style"].structured_content
    assert style["colleague"]["slug"] == slug
    assert style["match"]["rank"] == 1
    assert 0 < style["match"]["score"] <= 1

    assert got["unknown"].is_error
    assert "No such colleague" in text_of(got["unknown"])
    assert got["unknown"].structured_content is None

    for result in got.values():
        assert SECRET_WORD not in str(result)  # Bob is not in #billing-ops

    events = mcp_events(company.bob)
    assert [(e.action, e.result) for e in events] == [
        ("answers.asked", "ok"),
        ("answers.who_knows", "ok"),
        ("knowledge.searched", "ok"),
        ("skills.style_checked", "ok"),
        ("agents.refused", "denied"),
    ]
    asked = events[0]
    assert asked.target == f"colleague:{company.dana.pk}"
    assert asked.detail["cited_items"] == [c["item_id"] for c in ask["citations"]]
    assert events[2].detail["cited_items"] == [h["item_id"] for h in hits]
    # Ids and hashes only, never what was asked or written.
    trail = json.dumps([e.detail for e in events])
    for text in (QUESTION, "billing keys", "Rotate the keys", "nobody@acme.test"):
        assert text not in trail


def test_packages_are_resources_and_the_prompt_is_an_ai_rendering(
    mcp_client: McpClient, company: Company
) -> None:
    slug = company.dana.slug

    async def scenario(client: Client) -> dict[str, Any]:
        listed = await client.list_resources()
        files = {
            r.name: (await client.read_resource(str(r.uri))).contents[0] for r in listed.resources
        }
        errors = []
        for call in (
            client.read_resource("colleague://nobody/SKILL.md"),
            client.read_resource(f"colleague://{slug}/meta.json"),
            client.get_prompt("answer_as", {"colleague": "nobody"}),
        ):
            try:
                await call
            except MCPError as exc:
                errors.append(exc.message)
        prompt = await client.get_prompt("answer_as", {"colleague": slug})
        return {"listed": listed, "files": files, "errors": errors, "prompt": prompt}

    got = run(mcp_client, "bob", scenario)

    assert [str(r.uri) for r in got["listed"].resources] == [
        f"colleague://{slug}/SKILL.md",
        f"colleague://{slug}/work.md",
        f"colleague://{slug}/persona.md",
    ]
    skill = got["files"][f"{slug}/SKILL.md"]
    assert skill.mime_type == "text/markdown"
    assert skill.text.startswith("---\nname: dana-reyes\n")
    assert "# Dana Reyes" in got["files"][f"{slug}/work.md"].text
    assert got["errors"][0].startswith("No such colleague")
    assert got["errors"][1] == "No such package file: 'meta.json'."
    assert got["errors"][2].startswith("No such colleague")
    message = got["prompt"].messages[0].content.text
    assert message.startswith("AI rendering of Dana Reyes, from their skill package (version 1)")
    assert "Never approve, authorise, promise" in message
    assert skill.text in message
    assert SECRET_WORD not in str(got)

    events = mcp_events(company.bob)
    assert [(e.action, e.detail.get("file") or e.detail.get("prompt")) for e in events] == [
        ("agents.packages_listed", None),
        ("skill.viewed", "SKILL.md"),
        ("skill.viewed", "work.md"),
        ("skill.viewed", "persona.md"),
        ("agents.refused", None),
        ("agents.refused", None),
        ("agents.refused", None),
        ("skill.viewed", "answer_as"),
    ]
    assert events[0].detail["colleagues"] == [company.dana.pk]
    assert events[1].detail["version"] == 1


def test_only_a_member_of_the_private_channel_gets_its_evidence(
    mcp_client: McpClient, company: Company
) -> None:
    async def scenario(client: Client) -> str:
        answers = [
            await client.call_tool(
                "ask_colleague", {"colleague": company.dana.slug, "question": QUESTION}
            ),
            await client.call_tool("who_knows", {"question": f"{SECRET_WORD} runbook"}),
            await client.call_tool("search", {"query": f"{SECRET_WORD} runbook"}),
        ]
        listed = await client.list_resources()
        files = [await client.read_resource(str(r.uri)) for r in listed.resources]
        prompt = await client.get_prompt("answer_as", {"colleague": company.dana.slug})
        return str([*answers, *files, prompt])

    assert SECRET_WORD in run(mcp_client, "alice", scenario)
    assert SECRET_WORD not in run(mcp_client, "bob", scenario)


def test_a_deactivated_account_is_refused_on_its_next_call(
    mcp_client: McpClient, company: Company
) -> None:
    def deactivate() -> None:
        User.objects.filter(pk=company.bob.pk).update(is_active=False)

    async def scenario(client: Client) -> tuple[CallToolResult, CallToolResult]:
        before = await client.call_tool("who_knows", {"question": "billing keys rotation"})
        await anyio.to_thread.run_sync(deactivate)
        after = await client.call_tool("who_knows", {"question": "billing keys rotation"})
        return before, after

    before, after = run(mcp_client, "bob", scenario)
    assert not before.is_error
    assert after.is_error
    assert "may not use" in text_of(after)
    refused = AuditEvent.objects.get(action="agents.refused")
    assert (refused.target, refused.result, refused.actor) == ("tool:who_knows", "denied", None)


def test_an_inactive_account_cannot_start_the_server(company: Company) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "mcp_serve", "--user", "carol"],
        cwd=django_settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": live_database_url()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "user 'carol' is inactive" in done.stderr
    assert done.stdout == ""


def test_a_departed_colleagues_login_reads_nothing(mcp_client: McpClient, company: Company) -> None:
    Colleague.objects.filter(user_id=company.bob.pk).update(status=Colleague.Status.DEPARTED)

    async def scenario(client: Client) -> dict[str, Any]:
        return {
            "who": await client.call_tool("who_knows", {"question": "billing keys rotation"}),
            "search": await client.call_tool("search", {"query": "billing keys"}),
            "ask": await client.call_tool(
                "ask_colleague", {"colleague": company.dana.slug, "question": QUESTION}
            ),
            "resources": await client.list_resources(),
        }

    got = run(mcp_client, "bob", scenario)
    assert got["who"].structured_content == {"results": []}
    assert got["search"].structured_content == {"results": []}
    assert got["ask"].is_error
    assert "No such colleague" in text_of(got["ask"])
    assert got["resources"].resources == []
