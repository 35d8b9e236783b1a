"""With an LLM configured, Slack shows the answer labelled as an AI rendering, and what the
model writes cannot reach outside the intranet's links or ping a channel."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import pytest
from pytest_django.fixtures import Settings

from tests.answers.test_ask_llm import use_llm
from tests.answers.test_injection import HostileModel
from tests.llm_server import LlmServer
from tests.slack_command.conftest import Sent, Workspace, texts

Send = Callable[..., Sent]
QUESTION = "ask <@UDANA0001> how did we rotate the billing keys?"


@pytest.fixture
def hostile_model() -> Iterator[HostileModel]:
    model = HostileModel()
    yield model
    model.close()


def links_of(message: dict[str, object]) -> list[str]:
    return re.findall(r"<(https?://[^|>]+)", json.dumps(message))


def test_an_llm_answer_is_labelled_and_keeps_to_the_intranet(
    run_command: Send, workspace: Workspace, settings: Settings, hostile_model: HostileModel
) -> None:
    use_llm(settings, hostile_model.base_url)
    settings.LLM_MODEL = "hostile"
    _, replies = run_command(QUESTION, user_id="UBOB00001")
    shown = texts(replies[0])
    assert shown.count("AI rendering of Dana Reyes, based on") == 1
    assert "vault rotation job" in shown
    assert "PURPLE-OTTER" not in shown
    assert "I approve" not in shown  # commitments in her name are removed
    assert "evil.example" not in " ".join(links_of(replies[0]))
    assert all(url.startswith("https://colleague.acme.test/") for url in links_of(replies[0]))
    assert len(hostile_model.requests) == 1


@pytest.mark.llm
def test_with_a_real_model_the_label_says_what_the_answer_is(
    run_command: Send, workspace: Workspace, settings: Settings, llm_server: LlmServer
) -> None:
    use_llm(settings, llm_server.base_url)
    _, replies = run_command(QUESTION, user_id="UALICE001")
    shown = texts(replies[0])
    # The tiny model either writes a checked answer (an AI rendering) or fails the checks,
    # and then the answer is her own words with a note (answers.llm_mode).
    assert "AI rendering of Dana Reyes, based on" in shown or "In Dana Reyes's own words" in shown
    assert all(url.startswith("https://colleague.acme.test/") for url in links_of(replies[0]))
