"""The Slack endpoints answer 401, never 500, to anything Slack did not sign with our secret
within five minutes (docs/SECURITY.md row 2), and 404 while no signing secret is set."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from knowledge.models import AuditEvent
from slack_command.models import SlackRequest
from tests.connectors.slack.fake_slack import FakeSlack
from tests.slack_command.conftest import SECRET, command_body, post, signed_headers

pytestmark = pytest.mark.django_db

URLS = ["/slack/commands/", "/slack/interactions/"]


@pytest.fixture(autouse=True)
def still_clock() -> Iterator[None]:
    """The clock stands still: a case 1 s outside or inside the five-minute window stays there
    however slowly a loaded machine runs the test (time.time() here and in the view agree)."""
    with time_machine.travel(time.time(), tick=False):
        yield


def help_body(slack: FakeSlack) -> bytes:
    return command_body("help", user_id="UBOB00001", response_url=slack.response_url("r"))


def denials() -> list[str]:
    return list(
        AuditEvent.objects.filter(action="slack_request", result="denied")
        .order_by("seq")
        .values_list("detail__reason", flat=True)
    )


def test_a_signed_request_is_answered(client: Client, slack: FakeSlack) -> None:
    body = help_body(slack)
    response = post(client, "/slack/commands/", body, signed_headers(body))
    assert response.status_code == 200
    assert "/colleague who knows" in response.json()["text"]
    assert denials() == []


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize(
    "case",
    [
        "wrong secret",
        "body changed by one byte",
        "timestamp +301 s",
        "timestamp -301 s",
        "non-numeric timestamp",
        "timestamp with spaces",
        "timestamp with underscores",
        "non-ASCII digits",
        "no timestamp",
        "no signature",
        "no headers",
        "unknown version prefix",
        "non-ASCII signature",
        "signature of another timestamp",
    ],
)
def test_anything_else_is_refused_with_401(
    client: Client, slack: FakeSlack, url: str, case: str
) -> None:
    body = help_body(slack)
    now = int(time.time())
    headers = signed_headers(body)
    if case == "wrong secret":
        headers = signed_headers(body, secret=SECRET[:-1] + "0")
    elif case == "body changed by one byte":
        body = body[:-1] + bytes([body[-1] ^ 1])
    elif case == "timestamp +301 s":
        headers = signed_headers(body, timestamp=now + 301)
    elif case == "timestamp -301 s":
        headers = signed_headers(body, timestamp=now - 301)
    elif case == "non-numeric timestamp":
        headers["X-Slack-Request-Timestamp"] = "17000000ab"
    elif case == "timestamp with spaces":
        headers = signed_headers(body)
        headers["X-Slack-Request-Timestamp"] = " " + headers["X-Slack-Request-Timestamp"]
    elif case == "timestamp with underscores":
        headers["X-Slack-Request-Timestamp"] = f"{now // 1000}_{now % 1000:03d}"
    elif case == "non-ASCII digits":
        headers["X-Slack-Request-Timestamp"] = str(now).translate(
            str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
        )
    elif case == "no timestamp":
        del headers["X-Slack-Request-Timestamp"]
    elif case == "no signature":
        del headers["X-Slack-Signature"]
    elif case == "no headers":
        headers = {}
    elif case == "unknown version prefix":
        headers["X-Slack-Signature"] = "v1=" + headers["X-Slack-Signature"][3:]
    elif case == "non-ASCII signature":
        headers["X-Slack-Signature"] = "v0=" + "é" * 64
    elif case == "signature of another timestamp":
        headers["X-Slack-Request-Timestamp"] = str(now - 1)
    response = post(client, url, body, headers)
    assert response.status_code == 401
    assert len(denials()) == 1
    assert SlackRequest.objects.count() == 0


@pytest.mark.parametrize("offset", [-299, 299])
def test_the_window_is_five_minutes_either_way(
    client: Client, slack: FakeSlack, offset: int
) -> None:
    body = help_body(slack)
    headers = signed_headers(body, timestamp=int(time.time()) + offset)
    assert post(client, "/slack/commands/", body, headers).status_code == 200


def test_a_body_that_is_not_utf8_is_refused(client: Client, slack: FakeSlack) -> None:
    body = help_body(slack) + b"\xff\xfe"
    at = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), b"v0:" + at.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": at, "X-Slack-Signature": f"v0={mac}"}
    assert post(client, "/slack/commands/", body, headers).status_code == 401
    assert denials() == ["body_not_utf8"]


def test_a_replayed_request_is_refused(client: Client, slack: FakeSlack) -> None:
    body = help_body(slack)
    headers = signed_headers(body)
    assert post(client, "/slack/commands/", body, headers).status_code == 200
    assert post(client, "/slack/commands/", body, headers).status_code == 401
    assert denials() == ["replay"]


def test_a_replay_after_five_minutes_is_refused(client: Client, slack: FakeSlack) -> None:
    body = help_body(slack)
    headers = signed_headers(body, timestamp=int(time.time()) - 301)
    assert post(client, "/slack/commands/", body, headers).status_code == 401
    assert denials() == ["stale_timestamp"]


def test_without_a_signing_secret_the_endpoints_do_not_exist(
    client: Client, slack: FakeSlack, settings: Any
) -> None:
    settings.SLACK_SIGNING_SECRET = ""
    body = help_body(slack)
    for url in URLS:
        assert post(client, url, body, signed_headers(body)).status_code == 404


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    timestamp=st.one_of(st.none(), st.text(max_size=20), st.integers().map(str)),
    signature=st.one_of(
        st.none(),
        st.text(max_size=80),
        st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: "v0=" + h),
    ),
    body=st.binary(max_size=300),
    url=st.sampled_from(URLS),
)
def test_no_forged_request_gets_past_the_check(
    client: Client,
    slack: FakeSlack,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    url: str,
) -> None:
    headers = {}
    for name, value in (("X-Slack-Request-Timestamp", timestamp), ("X-Slack-Signature", signature)):
        if value is not None and value.isprintable() and value.isascii():
            headers[name] = value
    assert post(client, url, body, headers).status_code == 401
