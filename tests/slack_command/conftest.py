"""A small Slack workspace for the slash command: Dana (departed) wrote in #general and in the
private #billing-ops, whose members are Dana and Alice; Bob is in #general only. Slack itself is
FakeSlack (tests/connectors/slack/fake_slack.py): users.info, and response URLs that keep what
is posted to them."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client

from colleagues.models import Colleague
from knowledge.indexing import embed_chunks
from slack_command.signature import sign
from tests.connectors.slack.fake_slack import TOKEN, FakeSlack
from tests.factories import WORKSPACE, ingest_billing_workspace, make_user

SECRET = "e5c1d2f8a9b04c3e8d7f6a5b4c3d2e1f"
_triggers = itertools.count(1)


@dataclass
class Workspace:
    slack: FakeSlack
    dana: Colleague
    alice: AbstractUser
    bob: AbstractUser


@pytest.fixture
def slack(settings: Any) -> Iterator[FakeSlack]:
    """FakeSlack, with the settings pointing the command at it."""
    with FakeSlack() as fake:
        settings.SLACK_SIGNING_SECRET = SECRET
        settings.SLACK_BOT_TOKEN = TOKEN
        settings.SLACK_API_URL = fake.base_url
        settings.SLACK_RESPONSE_URL_PREFIXES = [fake.response_url_prefix]
        settings.COLLEAGUE_BASE_URL = "https://colleague.acme.test"
        yield fake


@pytest.fixture
def workspace(slack: FakeSlack, db: Any) -> Workspace:
    ingest_billing_workspace()
    embed_chunks()
    dana = Colleague.objects.get(email="dana@acme.test")
    dana.status = Colleague.Status.DEPARTED
    dana.save(update_fields=["status"])
    for user_id, name, email in (
        ("UDANA0001", "dana", "dana@acme.test"),
        ("UALICE001", "alice", "alice@acme.test"),
        ("UBOB00001", "bob", "bob@acme.test"),
    ):
        slack.add_user(user_id, name, email=email, team_id=WORKSPACE)
    alice = make_user(
        "alice", email="alice@acme.test", colleague=Colleague.objects.get(email="alice@acme.test")
    )
    bob = make_user(
        "bob", email="bob@acme.test", colleague=Colleague.objects.get(email="bob@acme.test")
    )
    return Workspace(slack=slack, dana=dana, alice=alice, bob=bob)


def command_body(text: str, *, user_id: str, response_url: str, team_id: str = WORKSPACE) -> bytes:
    """A slash command's form body as Slack sends it
    (https://docs.slack.dev/interactivity/implementing-slash-commands)."""
    return urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": team_id,
            "team_domain": "acme",
            "channel_id": "CGENERAL1",
            "channel_name": "general",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": "/colleague",
            "text": text,
            "api_app_id": "A0COLLEAGUE",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{next(_triggers)}.1234.abcdef",
        }
    ).encode()


def signed_headers(
    body: bytes, *, secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    at = int(time.time()) if timestamp is None else timestamp
    return {
        "X-Slack-Request-Timestamp": str(at),
        "X-Slack-Signature": sign(secret, body, at),
    }


def post(client: Client, path: str, body: bytes, headers: dict[str, str]) -> Any:
    return client.generic(
        "POST", path, body, content_type="application/x-www-form-urlencoded", headers=headers
    )


Sent = tuple[Any, list[dict[str, Any]]]


@pytest.fixture
def run_command(
    client: Client, slack: FakeSlack, django_capture_on_commit_callbacks: Any
) -> Callable[..., Sent]:
    """Send `/colleague text` as `user_id`; return the acknowledgement and what reached the
    response URL (the task runs inline, without a broker, once the request commits)."""

    def send(text: str, *, user_id: str, name: str = "reply") -> Sent:
        body = command_body(text, user_id=user_id, response_url=slack.response_url(name))
        with django_capture_on_commit_callbacks(execute=True):
            ack = post(client, "/slack/commands/", body, signed_headers(body))
        return ack, slack.responses_to(name)

    return send


def texts(message: dict[str, Any]) -> str:
    """Every text of a Block Kit message, joined (what a reader would see)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("blocks", []))
    return "\n".join(found)


def interaction_body(
    action_value: str, *, user_id: str, response_url: str, team_id: str = WORKSPACE
) -> bytes:
    """A block_actions payload for the "share" button, as Slack posts it
    (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload)."""
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "team_id": team_id},
        "api_app_id": "A0COLLEAGUE",
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": "1709251200.000100",
            "channel_id": "CGENERAL1",
            "is_ephemeral": True,
        },
        "trigger_id": f"{next(_triggers)}.1234.abcdef",
        "team": {"id": team_id, "domain": "acme"},
        "channel": {"id": "CGENERAL1", "name": "general"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": "share",
                "block_id": "b1",
                "text": {"type": "plain_text", "text": "Share in channel", "emoji": True},
                "value": action_value,
                "type": "button",
                "action_ts": "1709251300.000200",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


@pytest.fixture
def press_share(
    client: Client, slack: FakeSlack, django_capture_on_commit_callbacks: Any
) -> Callable[..., Sent]:
    """Press "share" on the answer of request `value` as `user_id`; return the
    acknowledgement and what reached the interaction's response URL."""

    def press(value: str, *, user_id: str, name: str = "share") -> Sent:
        body = interaction_body(value, user_id=user_id, response_url=slack.response_url(name))
        with django_capture_on_commit_callbacks(execute=True):
            ack = post(client, "/slack/interactions/", body, signed_headers(body))
        return ack, slack.responses_to(name)

    return press
