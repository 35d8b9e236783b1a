"""What a `/colleague` command's text asks for.

    /colleague ask @dana how did we rotate the billing keys?
    /colleague ask dana@example.org how did we rotate the billing keys?
    /colleague who knows billing key rotation
    /colleague help

`parse` reads the text Slack sends (with the manifest's `should_escape: true` a mention arrives
as `<@U123ABC|dana>` and an address as `<mailto:dana@example.org|dana@example.org>`). It never
raises: an empty text, "help" and anything unknown give HELP, an `ask` without a colleague or
a question gives USAGE with what is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_QUESTION_CHARS = 2000

HELP_TEXT = (
    "*Ask a colleague, even one who has left, from what they wrote:*\n"
    "• `/colleague ask @dana how did we rotate the billing keys?` (a mention or an address)\n"
    "• `/colleague who knows billing key rotation`\n"
    "• `/colleague help` shows this.\n"
    "Answers are visible only to you, with their sources, until you share them; you see only "
    "what you may see in the intranet."
)


@dataclass(frozen=True)
class Target:
    """Whom an `ask` is for: a Slack user id, an address, or a slug (plain text)."""

    slack_user_id: str = ""
    email: str = ""
    slug: str = ""


@dataclass(frozen=True)
class Command:
    """One parsed command: `action` is "ask", "who_knows", "help" or "usage"."""

    action: str
    question: str = ""
    target: Target | None = None
    problem: str = ""  # for "usage": what is wrong, in words for the asker


HELP = Command("help")

_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,30})(?:\|[^>]*)?>")
_MAILTO = re.compile(r"<mailto:([^|>\s]+)(?:\|[^>]*)?>")
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
_SLUG = re.compile(r"@?([a-z0-9][a-z0-9_-]{0,99})")
_WHO_KNOWS = re.compile(
    r"(?:who\s+knows|who[-_]knows|whoknows)\b\s*(.*)", re.IGNORECASE | re.DOTALL
)


def parse(text: str) -> Command:
    """The command `text` asks for (see the module's docstring)."""
    text = " ".join(text.split())
    if not text:
        return HELP
    word, _, rest = text.partition(" ")
    word = word.lower()
    if word == "ask":
        return _ask(rest)
    if match := _WHO_KNOWS.fullmatch(text):
        topic = match.group(1).strip()
        if not topic:
            return Command("usage", problem="Say what about: `/colleague who knows <topic>`.")
        return _checked(Command("who_knows", question=topic))
    return HELP


def _ask(rest: str) -> Command:
    first, _, question = rest.partition(" ")
    target = _target(first)
    if target is None:
        return Command(
            "usage",
            problem="Say whom to ask, as a mention or an address: "
            "`/colleague ask @dana <question>`.",
        )
    if not question.strip():
        return Command("usage", problem="Add your question after the colleague.")
    return _checked(Command("ask", question=question.strip(), target=target))


def _target(word: str) -> Target | None:
    if match := _MENTION.fullmatch(word):
        return Target(slack_user_id=match.group(1))
    if match := _MAILTO.fullmatch(word):
        return Target(email=match.group(1).lower())
    if _EMAIL.fullmatch(word):
        return Target(email=word.lower())
    if match := _SLUG.fullmatch(word.lower()):
        return Target(slug=match.group(1))
    return None


def _checked(command: Command) -> Command:
    if len(command.question) > MAX_QUESTION_CHARS:
        return Command("usage", problem=f"Keep the question under {MAX_QUESTION_CHARS} characters.")
    return command
