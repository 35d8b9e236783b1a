"""/colleague from Slack to the answer: acknowledged at once, answered through response_url
with the asker's own access, audited like the intranet."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from slack_sdk.models.blocks import Block

from connectors.models import Source
from knowledge.actions import ingest_batch
from knowledge.models import AuditEvent, Item
from slack_command.actions import prune_requests
from slack_command.models import SlackRequest
from tests.factories import batch, message
from tests.slack_command.conftest import (
    Sent,
    Workspace,
    command_body,
    post,
    signed_headers,
    texts,
)

Send = Callable[..., Sent]


def test_ask_is_acknowledged_then_answered_with_sources(
    run_command: Send, workspace: Workspace
) -> None:
    ack, replies = run_command(
        "ask <@UDANA0001|dana> how did we rotate the billing keys?",
        user_id="UBOB00001",
    )
    assert ack.status_code == 200
    assert ack.json()["response_type"] == "ephemeral"
    assert "Working on it" in ack.json()["text"]
    assert len(replies) == 1
    shown = texts(replies[0])
    assert replies[0]["response_type"] == "ephemeral"
    assert "vault rotation job" in shown
    assert "https://colleague.acme.test/knowledge/items/" in shown
    assert "PURPLE-OTTER" not in shown  # Bob is not in #billing-ops


def test_a_member_of_the_private_channel_gets_its_evidence(
    run_command: Send, workspace: Workspace
) -> None:
    _, replies = run_command(
        "ask dana@acme.test how did we rotate the billing keys?",
        user_id="UALICE001",
    )
    assert "PURPLE-OTTER" in texts(replies[0])


def test_who_knows_names_the_departed_expert_with_evidence_the_asker_may_see(
    run_command: Send, workspace: Workspace
) -> None:
    _, replies = run_command("who knows billing keys rotation", user_id="UBOB00001")
    shown = texts(replies[0])
    assert "Dana Reyes" in shown
    assert "(left)" in shown
    assert "vault rotation job" in shown
    assert "PURPLE-OTTER" not in shown
    event = AuditEvent.objects.get(action="answers.who_knows")
    assert event.actor == workspace.bob
    assert event.detail["via"] == "slack"


def test_every_question_is_audited_like_the_intranet(
    run_command: Send, workspace: Workspace
) -> None:
    run_command("ask <@UDANA0001> how did we rotate the billing keys?", user_id="UALICE001")
    event = AuditEvent.objects.get(action="answers.asked")
    assert event.actor == workspace.alice
    assert event.target == f"colleague:{workspace.dana.pk}"
    assert event.detail["via"] == "slack"
    assert len(event.detail["cited_items"]) == 2
    assert "billing" not in str(event.detail)  # a hash of the question, not its text
    assert event.ip == "127.0.0.1"
    assert event.request_id


def test_help_and_unknown_subcommands_answer_at_once(
    run_command: Send, workspace: Workspace
) -> None:
    for text in ("help", "", "dance with me"):
        ack, replies = run_command(text, user_id="UBOB00001", name=f"help-{text}")
        assert ack.status_code == 200
        assert "/colleague ask @dana" in ack.json()["text"]
        assert replies == []
    ack, _ = run_command("ask <@UDANA0001>", user_id="UBOB00001", name="usage")
    assert "Add your question" in ack.json()["text"]
    assert not AuditEvent.objects.filter(action__startswith="answers.").exists()


def test_an_unmapped_slack_user_is_told_and_nothing_else(
    run_command: Send, workspace: Workspace
) -> None:
    workspace.slack.add_user("UCAROL001", "carol", email="carol@elsewhere.test", team_id="T0TEST")
    _, replies = run_command(
        "ask <@UDANA0001> how did we rotate the billing keys?", user_id="UCAROL001"
    )
    assert len(replies) == 1
    assert "does not know you" in texts(replies[0])
    assert "vault" not in texts(replies[0])
    assert not AuditEvent.objects.filter(action="answers.asked").exists()
    denied = AuditEvent.objects.get(action="slack_command")
    assert denied.result == "denied"
    assert denied.detail["reason"] == "no_user"


@pytest.mark.parametrize(
    ("slack_user", "reason"),
    [
        ({"email_confirmed": False}, "not_verified"),
        ({"team_id": "TOTHER001"}, "not_verified"),  # Slack Connect: someone else's workspace
        ({"deleted": True}, "not_verified"),
        ({"email": ""}, "not_verified"),
    ],
)
def test_only_a_verified_address_of_our_workspace_maps(
    run_command: Send, workspace: Workspace, slack_user: dict[str, object], reason: str
) -> None:
    fields = {"email": "bob@acme.test", "team_id": "T0TEST", **slack_user}
    workspace.slack.add_user("UMALLORY1", "mallory", **fields)  # type: ignore[arg-type]
    _, replies = run_command("who knows billing keys", user_id="UMALLORY1")
    assert "does not know you" in texts(replies[0])
    assert AuditEvent.objects.get(action="slack_command").detail["reason"] == reason


def test_a_deactivated_login_stops_at_once_despite_the_cache(
    run_command: Send, workspace: Workspace
) -> None:
    run_command("who knows billing keys", user_id="UBOB00001", name="first")
    workspace.bob.is_active = False
    workspace.bob.save(update_fields=["is_active"])
    _, replies = run_command("who knows billing keys", user_id="UBOB00001", name="second")
    assert "does not know you" in texts(replies[0])
    assert len(workspace.slack.calls_of("users.info")) == 1  # the address came from the cache


def test_when_slack_cannot_say_who_asks_the_asker_is_told_to_retry(
    run_command: Send, workspace: Workspace
) -> None:
    workspace.slack.unavailable("users.info", times=1)
    _, replies = run_command("who knows billing keys", user_id="UBOB00001")
    assert "Try again in a minute" in texts(replies[0])
    _, replies = run_command("who knows billing keys", user_id="UBOB00001", name="later")
    assert "Dana Reyes" in texts(replies[0])  # the failure was not cached


def test_an_unknown_or_hidden_colleague_gets_the_same_reply(
    run_command: Send, workspace: Workspace, settings: object
) -> None:
    _, unknown = run_command("ask nobody@acme.test why?", user_id="UBOB00001", name="unknown")
    assert "no such colleague" in texts(unknown[0])
    settings.COLLEAGUE_PACKAGE_DEFAULT_ACCESS = "team"
    _, hidden = run_command("ask <@UDANA0001> why?", user_id="UBOB00001", name="hidden")
    assert texts(hidden[0]) == texts(unknown[0])


def test_a_slack_retry_does_no_work_twice(
    client: Client, workspace: Workspace, django_capture_on_commit_callbacks: object
) -> None:
    slack = workspace.slack
    body = command_body(
        "ask <@UDANA0001> how did we rotate the billing keys?",
        user_id="UBOB00001",
        response_url=slack.response_url("r"),
    )
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        first = post(client, "/slack/commands/", body, signed_headers(body))
        retry = post(
            client,
            "/slack/commands/",
            body,
            {
                **signed_headers(body),
                "X-Slack-Retry-Num": "1",
                "X-Slack-Retry-Reason": "http_timeout",
            },
        )
    assert first.status_code == 200
    assert retry.status_code == 200
    assert len(slack.responses_to("r")) == 1
    assert AuditEvent.objects.filter(action="answers.asked").count() == 1


def test_replies_go_only_to_slack(client: Client, workspace: Workspace) -> None:
    body = command_body(
        "who knows billing", user_id="UBOB00001", response_url="https://evil.example/commands/x"
    )
    response = post(client, "/slack/commands/", body, signed_headers(body))
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action__startswith="answers.").exists()


def test_captured_text_cannot_mention_everyone_or_link_away(
    run_command: Send, workspace: Workspace
) -> None:
    ingest_batch(
        source=Source.objects.get(name="acme-slack"),
        batch=batch(
            message(
                "CGENERAL1",
                "UDANA0001",
                "Billing keys: <!channel> see <https://evil.example|the runbook> & rotate",
            )
        ),
    )
    _, replies = run_command("ask <@UDANA0001> billing keys runbook", user_id="UBOB00001")
    shown = texts(replies[0])
    assert "&lt;!channel&gt;" in shown
    assert "<!channel>" not in shown
    assert "<https://evil.example" not in shown
    links = re.findall(r"<(https?://[^|>]+)", json.dumps(replies[0]))
    assert links
    assert all(url.startswith("https://colleague.acme.test/") for url in links)


def test_messages_follow_block_kit(run_command: Send, workspace: Workspace) -> None:
    messages = [
        run_command(
            "ask <@UDANA0001> how did we rotate the billing keys?", user_id="UALICE001", name="a"
        )[1][0],
        run_command("who knows billing keys", user_id="UALICE001", name="b")[1][0],
        run_command("who knows zebra migration patterns", user_id="UALICE001", name="c")[1][0],
        run_command("help", user_id="UALICE001", name="d")[0].json(),
    ]
    for sent in messages:
        assert_block_kit(sent)


def assert_block_kit(message: dict[str, object]) -> None:
    """`message` as Slack documents a message payload: a fallback text, at most 50 blocks of
    known types, each the same when read back by slack_sdk's models (which check limits)."""
    assert isinstance(message["text"], str)
    assert 0 < len(message["text"]) <= 40_000
    assert message["response_type"] in {"ephemeral", "in_channel"}
    blocks = message["blocks"]
    assert isinstance(blocks, list)
    assert 0 < len(blocks) <= 50
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        assert parsed.type in {"section", "context", "actions", "divider"}
        assert parsed.to_dict() == block
        if parsed.type == "actions":
            ids = [e["action_id"] for e in block["elements"]]
            assert len(ids) == len(set(ids))
            assert all(len(i) <= 255 for i in ids)


def test_share_posts_the_answer_in_the_channel_once(
    run_command: Send, press_share: Send, workspace: Workspace
) -> None:
    _, replies = run_command(
        "ask <@UDANA0001> how did we rotate the billing keys?", user_id="UBOB00001"
    )
    value = share_value(replies[0])
    ack, shared = press_share(value, user_id="UBOB00001")
    assert ack.status_code == 200
    assert shared[0]["response_type"] == "in_channel"
    assert "vault rotation job" in texts(shared[0])
    assert "Shared by <@UBOB00001>" in texts(shared[0])
    assert all(b["type"] != "actions" for b in shared[0]["blocks"])
    assert_block_kit(shared[0])
    event = AuditEvent.objects.get(action="answers.shared")
    assert event.actor == workspace.bob
    assert event.detail["channel"] == "CGENERAL1"
    _, again = press_share(value, user_id="UBOB00001", name="again")
    assert "already" in texts(again[0])


def test_only_the_asker_may_share_and_only_what_they_still_see(
    run_command: Send, press_share: Send, workspace: Workspace
) -> None:
    _, replies = run_command(
        "ask <@UDANA0001> how did we rotate the billing keys?", user_id="UALICE001"
    )
    value = share_value(replies[0])
    _, by_bob = press_share(value, user_id="UBOB00001", name="bob")
    assert "no longer be shared" in texts(by_bob[0])
    Item.objects.filter(body__contains="PURPLE-OTTER").delete()
    _, changed = press_share(value, user_id="UALICE001", name="alice")
    assert "changed" in texts(changed[0])
    assert not AuditEvent.objects.filter(action="answers.shared").exists()


def test_answers_are_forgotten_after_the_share_window(
    run_command: Send, press_share: Send, workspace: Workspace
) -> None:
    _, replies = run_command(
        "ask <@UDANA0001> how did we rotate the billing keys?", user_id="UBOB00001"
    )
    value = share_value(replies[0])
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert prune_requests() == (1, 0)
        _, late = press_share(value, user_id="UBOB00001")
    assert "no longer be shared" in texts(late[0])
    with time_machine.travel(timezone.now() + timedelta(hours=49)):
        assert prune_requests()[1] >= 1
    assert not SlackRequest.objects.filter(pk=int(value)).exists()


def share_value(message: dict[str, object]) -> str:
    for block in message["blocks"]:  # type: ignore[attr-defined]
        for element in block.get("elements", []):
            if element.get("action_id") == "share":
                return str(element["value"])
    raise AssertionError("no share button")
