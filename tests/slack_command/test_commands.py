"""What `/colleague` understands (slack_command.commands.parse)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slack_command.commands import MAX_QUESTION_CHARS, Command, Target, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "ask <@U024BE7LH|dana> how did we rotate the billing keys?",
            Command(
                "ask", "how did we rotate the billing keys?", Target(slack_user_id="U024BE7LH")
            ),
        ),
        ("ask <@W0ABC123> why?", Command("ask", "why?", Target(slack_user_id="W0ABC123"))),
        (
            "ask <mailto:Dana@Acme.test|Dana@Acme.test> why  the\nretry?",
            Command("ask", "why the retry?", Target(email="dana@acme.test")),
        ),
        ("ASK dana@acme.test why?", Command("ask", "why?", Target(email="dana@acme.test"))),
        ("ask @dana-reyes why?", Command("ask", "why?", Target(slug="dana-reyes"))),
        ("who knows billing key rotation", Command("who_knows", "billing key rotation")),
        ("Who  Knows   kafka lag", Command("who_knows", "kafka lag")),
        ("who-knows kafka", Command("who_knows", "kafka")),
    ],
)
def test_commands_are_understood(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text", ["", "   ", "help", "HELP me", "dance", "whoknowsx y", "askdana why"]
)
def test_help_and_unknown_subcommands_give_help(text: str) -> None:
    assert parse(text).action == "help"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ask", "whom to ask"),
        ("ask <@U024BE7LH>", "Add your question"),
        ("ask ??? why", "whom to ask"),
        ("who knows", "what about"),
        ("who knows " + "x" * (MAX_QUESTION_CHARS + 1), "under 2000"),
    ],
)
def test_incomplete_commands_say_what_is_missing(text: str, problem: str) -> None:
    command = parse(text)
    assert command.action == "usage"
    assert problem in command.problem


@given(st.text(max_size=3000))
def test_any_text_parses_to_a_command_and_a_bounded_question(text: str) -> None:
    command = parse(text)
    assert command.action in {"ask", "who_knows", "help", "usage"}
    assert len(command.question) <= MAX_QUESTION_CHARS
    if command.action in {"ask", "who_knows"}:
        assert command.question.strip()
    assert (command.target is not None) == (command.action == "ask")
