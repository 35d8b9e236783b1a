"""Turn topic templates and a person's style into message text.

Text produced here carries neutral markers for mentions, channel links and links
(``⟦@dana⟧``, ``⟦#payments⟧``, ``⟦https://...|label⟧``); `to_slack` and `to_plain` render
them for Slack markup or for email and documents. All randomness comes from the
`random.Random` handed in, so the same seed gives the same words.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence

from colleagues.demo.company import (
    CHANNELS_BY_NAME,
    COMPANY_NAME,
    PEOPLE_BY_KEY,
    Person,
)
from colleagues.demo.topics import EXPERTISE, GIT, Procedure

# Share of a person's messages that carry one of their pet phrases.
PET_PHRASE_RATE = 0.22

_SLOT = re.compile(r"\{([@#]?[a-z_-]+)\}")
_MARKER = re.compile(r"⟦([^⟧]+)⟧")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(⟦])")
# A full stop that ends a sentence, not part of an ellipsis, a version or a path.
_FULL_STOP = re.compile(r"(?<!\.)\.(?=\s|$)")

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_TIMES = ("09:30", "10:00", "11:00", "11:30", "14:00", "15:00", "15:30", "16:00")
_DURATIONS = ("10 minutes", "15 minutes", "20 minutes", "30 minutes", "an hour", "two hours")


def split_sentences(text: str) -> list[str]:
    """Split a template's text into sentences (Chinese text stays whole)."""
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def _lower_first(sentence: str) -> str:
    if len(sentence) > 1 and sentence[0].isupper() and not sentence[1].isupper():
        return sentence[0].lower() + sentence[1:]
    return sentence


# Names written in lower case even at the start of a sentence: "billing-svc", "shipyard".
_LOWERCASE_NAMES = frozenset(
    name for e in EXPERTISE.values() for name in e.systems if name.islower() and " " not in name
)


def _upper_first(sentence: str) -> str:
    if not sentence or not sentence[0].islower():
        return sentence
    word = sentence.split()[0].rstrip(",.:;!?")
    if word in _LOWERCASE_NAMES or any(c in word for c in "-_./()"):
        return sentence
    return sentence[0].upper() + sentence[1:]


class Writer:
    """Writes text in a person's voice; deterministic for a given `random.Random`."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    # -- templates -------------------------------------------------------------------------

    def fill(self, template: str, *, author: Person, roles: Mapping[str, str] | None = None) -> str:
        """Fill every ``{slot}`` of `template`; raise KeyError on an unknown slot."""
        roles = roles or {}
        owner = PEOPLE_BY_KEY[roles.get("owner", author.key)]

        def slot(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("@"):
                who = name[1:]
                if who in PEOPLE_BY_KEY:
                    return f"⟦@{who}⟧"
                if who == "manager":
                    return f"⟦@{author.manager or 'rafael'}⟧"
                return f"⟦@{roles[who]}⟧"
            if name.startswith("#"):
                channel = owner.expertise.home if name == "#home" else name[1:]
                if channel not in CHANNELS_BY_NAME:
                    raise KeyError(channel)
                return f"⟦#{channel}⟧"
            return self._value(name, owner=owner, roles=roles)

        return _SLOT.sub(slot, template)

    def _value(self, name: str, *, owner: Person, roles: Mapping[str, str]) -> str:
        rng = self.rng
        expertise = owner.expertise
        match name:
            case "s":  # a pet phrase's lead-in slot, filled by `compose`
                return "{s}"
            case "n":
                return str(rng.randint(2, 9))
            case "nn":
                return str(rng.randint(10, 99))
            case "pct":
                return str(rng.randint(2, 40))
            case "ver":
                return f"{rng.randint(1, 3)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
            case "ticket":
                return f"{expertise.ticket}-{rng.randint(100, 2999)}"
            case "pr":
                return str(rng.randint(100, 1999))
            case "day":
                return rng.choice(_DAYS)
            case "month":
                return rng.choice(_MONTHS)
            case "time":
                return rng.choice(_TIMES)
            case "dur":
                return rng.choice(_DURATIONS)
            case "system":
                return roles.get("system") or rng.choice(expertise.systems)
            case "link":
                url, label = rng.choice(expertise.links)
                return f"⟦{url}|{label}⟧"
            case "pr_link":
                number = rng.randint(100, 1999)
                return f"⟦{GIT}/{expertise.repo}/pull/{number}|PR #{number}⟧"
        raise KeyError(name)

    # -- style -----------------------------------------------------------------------------

    def compose(
        self,
        author: Person,
        sentences: Sequence[str],
        *,
        roles: Mapping[str, str] | None = None,
        opening: bool = False,
        block: Sequence[str] = (),
        cut: bool = True,
        chinese: bool = True,
        email: bool = False,
    ) -> str:
        """Write a Slack message by `author` from template sentences.

        Applies, in the author's manner: length, pet phrase (at `PET_PHRASE_RATE`),
        Chinese (for bilingual authors), punctuation, greeting and sign-off on opening posts,
        emoji and case. `block` lines (numbered steps, bullets) follow the first sentences.
        """
        rng = self.rng
        style = author.style
        parts = [self.fill(s, author=author, roles=roles) for s in sentences]
        parts = [p for s in parts for p in split_sentences(s)] if cut else list(parts)
        if cut:
            keep = {"terse": 1, "medium": 2}.get(style.verbosity, len(parts))
            if style.verbosity == "terse" and len(parts) > 1 and len(parts[0]) < 40:
                keep = 2
            parts = parts[:keep]
        zh_only = False
        # Bilingual authors switch to Chinese when talking about their own systems.
        own_topic = (roles or {}).get("owner", author.key) == author.key
        if (
            chinese
            and own_topic
            and style.chinese
            and author.expertise.zh
            and rng.random() < style.chinese
        ):
            line = self.fill(rng.choice(author.expertise.zh), author=author, roles=roles)
            if rng.random() < 0.5 and not block:
                parts, zh_only = [line], True
            else:
                parts.append(line)
        parts = [_upper_first(p) for p in parts]
        if style.pet_phrases and rng.random() < PET_PHRASE_RATE:
            phrase = rng.choice(style.pet_phrases)
            form = self.fill(rng.choice(phrase.forms), author=author, roles=roles)
            if "{s}" in form and parts:
                parts[0] = form.replace("{s}", _lower_first(parts[0]))
            elif "{s}" in form:
                parts.append(_upper_first(form.replace("{s}", "").strip()))
            elif rng.random() < 0.7:
                parts.append(form)
            else:
                parts.insert(0, form)
        parts = [self._punctuate(author, p) for p in parts]
        text = " ".join(parts)
        if block:
            text = text + "\n" + "\n".join(self._punctuate(author, line) for line in block)
        if opening and rng.random() < 0.75:
            greeting = "大家好，" if zh_only else style.greeting
            if greeting:
                if greeting.endswith("，"):
                    text = greeting + text
                elif style.formal:
                    text = greeting + "\n" + text
                else:
                    text = greeting + " " + (_lower_first(text) if greeting.endswith(",") else text)
        emoji = [e for e in style.emoji if not (email and e.startswith(":"))]
        if emoji and rng.random() < style.emoji_rate / (2 if email else 1):
            text = text + " " + rng.choice(emoji)
            if style.emoji_rate > 0.5 and rng.random() < 0.3:
                text = text + " " + rng.choice(emoji)
        if opening and style.signs_slack and style.sign_off and rng.random() < 0.6:
            text = text + "\n" + style.sign_off
        return text.lower() if style.lowercase else text

    def _punctuate(self, author: Person, sentence: str) -> str:
        style = author.style
        if style.exclaims:
            sentence = _FULL_STOP.sub(lambda m: "!" if self.rng.random() < 0.5 else ".", sentence)
        if style.ellipses:
            sentence = _FULL_STOP.sub(lambda m: "..." if self.rng.random() < 0.5 else ".", sentence)
        return sentence

    def decision(self, author: Person, decision: str, reason: str) -> list[str]:
        """Sentences announcing a decision and its reason, in the author's register."""
        match author.style.verbosity:
            case "long":
                return [
                    f"After weighing the options, we decided that {decision}, because {reason}."
                ]
            case "medium":
                return [f"Decision: {decision}.", f"The reason: {reason}."]
        return [f"Decided: {decision}.", f"Why: {reason}."]

    def procedure(self, author: Person, procedure: Procedure) -> tuple[list[str], list[str]]:
        """(intro sentences, numbered step lines) for sharing a procedure."""
        match author.style.verbosity:
            case "long":
                intro = f"Here is how I {procedure.title}, step by step."
            case "medium":
                intro = f"Here's how I {procedure.title}:"
            case _:
                intro = f"To {procedure.title}:"
        steps = [
            f"{i}. {_upper_first(self.fill(step, author=author))}"
            for i, step in enumerate(procedure.steps, start=1)
        ]
        return [intro], [*steps, f"Note: {self.fill(procedure.note, author=author)}"]

    # -- email -----------------------------------------------------------------------------

    def email_body(
        self,
        author: Person,
        sentences: Sequence[str],
        *,
        to_name: str,
        roles: Mapping[str, str] | None = None,
        block: Sequence[str] = (),
    ) -> str:
        """Write an email body: greeting line, paragraphs, sign-off, signature after ``-- ``.

        Markers are left in; render with `to_plain`.
        """
        rng = self.rng
        style = author.style
        text = self.compose(author, sentences, roles=roles, cut=False, email=True)
        if style.lowercase:
            text = text.lower()
        # Split the composed text back into paragraphs of one to three sentences.
        flat = split_sentences(text.replace("\n", " "))
        paragraphs: list[str] = []
        while flat:
            size = rng.randint(1, 3)
            paragraphs.append(" ".join(flat[:size]))
            flat = flat[size:]
        if style.formal and paragraphs and rng.random() < 0.25:
            paragraphs.insert(1, "From what I can see, nothing else needs to change for now.")
        lines: list[str] = []
        if style.email_greeting:
            greeting = style.email_greeting.format(name=to_name)
            lines += [greeting.lower() if style.lowercase else greeting, ""]
        for paragraph in paragraphs:
            lines += [paragraph, ""]
        if block:
            lines += [*block, ""]
        if style.sign_off:
            head, sep, tail = style.sign_off.partition(", ")
            if not sep:
                head, sep, tail = style.sign_off.partition("! ")
                head += "!" if sep else ""
            else:
                head += ","
            lines += [head, tail] if sep else [style.sign_off]
        elif lines and not lines[-1]:
            lines.pop()
        if style.signature:
            lines += ["", "-- ", author.name, author.title, COMPANY_NAME]
        return "\n".join(lines).rstrip("\n") + "\n"


# -- rendering ---------------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    # Slack escapes these three in message text:
    # https://api.slack.com/reference/surfaces/formatting#escaping
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_slack(text: str) -> str:
    """Render markers as Slack markup: ``<@U…>``, ``<#C…|name>``, ``<url|label>``."""

    def render(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner.startswith("@"):
            return f"<@{PEOPLE_BY_KEY[inner[1:]].slack_id}>"
        if inner.startswith("#"):
            channel = CHANNELS_BY_NAME[inner[1:]]
            return f"<#{channel.channel_id}|{channel.name}>"
        url, _, label = inner.partition("|")
        return f"<{url}|{label}>"

    return _MARKER.sub(render, _slack_escape(text))


def to_plain(text: str, *, at_sign: bool = False, markdown: bool = False) -> str:
    """Render markers as plain text: first names, ``#channel``, ``label (url)``
    (``[label](url)`` with `markdown`)."""

    def render(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner.startswith("@"):
            return ("@" if at_sign else "") + PEOPLE_BY_KEY[inner[1:]].first_name
        if inner.startswith("#"):
            return inner
        url, _, label = inner.partition("|")
        return f"[{label}]({url})" if markdown else f"{label} ({url})"

    return _MARKER.sub(render, text)
