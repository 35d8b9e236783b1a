"""A `/colleague` command acknowledged by the web process is answered by a real Celery worker
on the broker at TEST_CELERY_BROKER_URL, once, even when Slack retries it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from knowledge.models import AuditEvent
from slack_command.models import SlackRequest
from tests.connectors.test_worker import broker_url, worker_process  # noqa: F401 (fixture)
from tests.slack_command.conftest import Workspace, command_body, post, signed_headers, texts

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_for(condition: Any, *, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_commands_are_answered_by_the_worker_once(
    client: Client,
    workspace: Workspace,
    broker_url: str,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    slack = workspace.slack
    env = {
        "SLACK_BOT_TOKEN": django_settings.SLACK_BOT_TOKEN,
        "SLACK_API_URL": slack.base_url,
        "SLACK_RESPONSE_URL_PREFIXES": slack.response_url_prefix,
        "COLLEAGUE_BASE_URL": django_settings.COLLEAGUE_BASE_URL,
    }
    with worker_process(broker_url, tmp_path / "worker", extra_env=env) as worker:
        ask = command_body(
            "ask <@UDANA0001> how did we rotate the billing keys?",
            user_id="UBOB00001",
            response_url=slack.response_url("ask"),
        )
        who = command_body(
            "who knows billing keys", user_id="UALICE001", response_url=slack.response_url("who")
        )
        assert post(client, "/slack/commands/", ask, signed_headers(ask)).status_code == 200
        retry = {**signed_headers(ask), "X-Slack-Retry-Num": "1"}
        assert post(client, "/slack/commands/", ask, retry).status_code == 200
        assert post(client, "/slack/commands/", who, signed_headers(who)).status_code == 200
        wait_for(lambda: slack.responses_to("ask") and slack.responses_to("who"))
        time.sleep(1)  # room for a duplicate to arrive, if there were one
    log = worker.log.read_text()
    assert log.count("answer_command_task") >= 2  # received and answered there, not inline
    (asked,) = slack.responses_to("ask")
    assert "vault rotation job" in texts(asked)
    assert "PURPLE-OTTER" not in texts(asked)
    (who_knows,) = slack.responses_to("who")
    assert "Dana Reyes" in texts(who_knows)
    assert set(SlackRequest.objects.values_list("state", flat=True)) == {"answered"}
    assert AuditEvent.objects.filter(action="answers.asked", detail__via="slack").count() == 1
