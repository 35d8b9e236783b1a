"""The Block Kit messages the command answers with (https://docs.slack.dev/block-kit).

Built with slack_sdk's block models, whose `to_dict` checks Slack's documented limits (3,000
characters a text, 75 a button label, 2,000 a button value...), so a message that Slack would
reject fails here instead. Every text captured from a source is escaped for mrkdwn (`&`, `<`,
`>`), so captured text can never mention `@channel`, link anywhere or look like our own links;
the only links are the ones built here, into the intranet (COLLEAGUE_BASE_URL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.urls import reverse
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    MarkdownTextObject,
    SectionBlock,
)

from answers.ask import Answer
from answers.who_knows import Expert
from colleagues.models import Colleague
from slack_command.commands import HELP_TEXT

SHARE_ACTION = "share"
TEXT_LIMIT = 3000
MAX_SOURCES = 10
MAX_EXPERTS = 5


def escape(text: str) -> str:
    """`text` as literal mrkdwn: Slack's three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def intranet_url(path: str) -> str:
    return settings.COLLEAGUE_BASE_URL.rstrip("/") + path


def link(path: str, label: str) -> str:
    """A mrkdwn link into the intranet; the label is escaped, and "|" would end it early."""
    return f"<{intranet_url(path)}|{escape(label).replace('|', '¦')}>"


def message(text: str, blocks: Sequence[Block] = ()) -> dict[str, Any]:
    """An ephemeral message: `text` is the notification's fallback (mrkdwn we wrote, escaped
    where it holds names), `blocks` what is shown."""
    body: dict[str, Any] = {"response_type": "ephemeral", "text": _clip(text, TEXT_LIMIT)}
    if blocks:
        body["blocks"] = [block.to_dict() for block in blocks]
    return body


def notice(text: str) -> dict[str, Any]:
    """A one-section ephemeral message (`text` is mrkdwn we wrote, already escaped)."""
    return message(text, [SectionBlock(text=MarkdownTextObject(text=_clip(text, TEXT_LIMIT)))])


def help_message(problem: str = "") -> dict[str, Any]:
    text = f"{problem}\n\n{HELP_TEXT}" if problem else HELP_TEXT
    return notice(text)


def answer_blocks(answer: Answer, colleague: Colleague, *, request_pk: int) -> list[Block]:
    """An ask's answer: the text, its label, the sources as links, and Share / Open buttons."""
    label = answer.extra.get("label") or (
        f"In {colleague.name}'s own words, from {len(answer.citations)} "
        f"source{'s' if len(answer.citations) != 1 else ''}"
    )
    # An LLM answer's text starts with its label (answers.llm_mode): shown once, below it.
    text = answer.answer.removeprefix(label).lstrip()
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=_clip(escape(text), TEXT_LIMIT))),
        ContextBlock(elements=[MarkdownTextObject(text=_clip(escape(label), TEXT_LIMIT))]),
    ]
    fidelity = answer.extra.get("fidelity")
    if fidelity:
        match = (
            f"Style match with {escape(colleague.name)}: {float(fidelity['score']):.2f} "
            f"(rank {fidelity['rank']} of {fidelity['of']})"
        )
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=match)]))
    if answer.citations:
        lines = [
            f"[{n}] "
            + link(
                reverse("knowledge:item", args=[c.item_id]),
                f"{c.source}, {c.created_at.date().isoformat()}",
            )
            for n, c in enumerate(answer.citations[:MAX_SOURCES], start=1)
        ]
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=_clip("*Sources*\n" + "\n".join(lines), TEXT_LIMIT))
            )
        )
    blocks.append(
        _buttons(request_pk, reverse("answers:chat", args=[colleague.slug]), "Ask in the intranet")
    )
    return blocks


def who_knows_blocks(topic: str, experts: Sequence[Expert], *, request_pk: int) -> list[Block]:
    """Who knows `topic`: each colleague with their status and evidence links, best first;
    for a departed one, who is left that knows the area."""
    if not experts:
        return [
            SectionBlock(
                text=MarkdownTextObject(
                    text=_clip(
                        f"Nobody found who wrote about _{escape(topic)}_ in what you may see.",
                        TEXT_LIMIT,
                    )
                )
            )
        ]
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(text=_clip(f"*Who knows* _{escape(topic)}_", TEXT_LIMIT))
        )
    ]
    for expert in experts[:MAX_EXPERTS]:
        person = expert.colleague
        status = " (left)" if person.is_departed else ""
        lines = [f"*{link(reverse('answers:chat', args=[person.slug]), person.name)}*{status}"]
        lines += [
            "• "
            + link(reverse("knowledge:item", args=[ev.item_id]), f"#{ev.item_id}")
            + " "
            + escape(_clip(ev.excerpt, 200))
            for ev in expert.evidence[:2]
        ]
        if expert.successors:
            names = ", ".join(
                link(reverse("answers:chat", args=[s.colleague.slug]), s.colleague.name)
                for s in expert.successors
            )
            lines.append(f"Who is here and knows this: {names}")
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=_clip("\n".join(lines), TEXT_LIMIT)))
        )
    blocks.append(DividerBlock())
    blocks.append(_buttons(request_pk, reverse("answers:who_knows"), "Who knows, in the intranet"))
    return blocks


def shared(blocks: Sequence[dict[str, Any]], slack_user_id: str) -> dict[str, Any]:
    """The message "share" posts to the channel: the answer without its buttons, saying who
    shared it."""
    kept = [b for b in blocks if b.get("type") != "actions"]
    kept.append(
        ContextBlock(elements=[MarkdownTextObject(text=f"Shared by <@{slack_user_id}>")]).to_dict()
    )
    return {
        "response_type": "in_channel",
        "delete_original": True,
        "text": "An answer from Colleague.skill",
        "blocks": kept,
    }


def _buttons(request_pk: int, path: str, open_label: str) -> ActionsBlock:
    return ActionsBlock(
        elements=[
            ButtonElement(
                text="Share in channel",
                action_id=SHARE_ACTION,
                value=str(request_pk),
                confirm=ConfirmObject(
                    title="Share this answer?",
                    text="Everyone in this conversation will see it, with its quotes.",
                    confirm="Share",
                    deny="Cancel",
                ),
            ),
            ButtonElement(text=open_label, action_id="open", url=intranet_url(path)),
        ]
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
