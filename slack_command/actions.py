"""What the `/colleague` command does, from a signed request to the answer in Slack.

`receive` stores a signed request once (views.py calls it after the signature check);
`answer_command` (a Celery task's body) maps the asker, answers and posts the reply to the
command's `response_url`; `share_answer` posts an answer into its channel when its asker
presses "share"; `prune_requests` forgets old requests. Guarantees:

- The asker is the intranet user their verified Slack address maps to (slack_command.people);
  they see exactly what that user sees in the intranet (`knowledge.visibility.reader_for`,
  `colleagues.access.can_view_package`). An unmapped asker is told so and nothing else.
- Every question is an audit event like one from the intranet (`answers.actions`, via
  "slack"), with the Slack request's client IP and request id.
- A request body is worked on once: a Slack retry of it finds it stored and does nothing.
- Replies go only to response URLs under SLACK_RESPONSE_URL_PREFIXES.
- "share" posts what the asker saw, only while every item it cites is still there and visible
  to them, once, by the asker only, within SLACK_SHARE_HOURS.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from answers.actions import record_ask, record_who_knows
from answers.ask import ask
from answers.who_knows import who_knows
from colleagues.access import can_view_package
from config.request_context import RequestContext, serving
from knowledge import audit
from knowledge.selectors import items_visible_to
from knowledge.visibility import reader_for
from slack_command import blocks
from slack_command.commands import Command, parse
from slack_command.models import SlackRequest
from slack_command.people import Mapping, colleague_for, intranet_user

logger = logging.getLogger(__name__)

State = SlackRequest.State

UNMAPPED_TEXT = (
    "Colleague.skill does not know you yet: no active intranet account has the address of "
    "your Slack profile. Ask your Colleague.skill administrator to add one; nothing was asked."
)
SLACK_DOWN_TEXT = "I could not check who you are in Slack just now. Try again in a minute."
FAILED_TEXT = "Something went wrong while answering; it has been logged. Try again later."
EXPERTS_SHOWN = 5
CITATIONS_SHOWN = 5


@dataclass(frozen=True)
class Received:
    """A stored request (`row`), or None when its body was stored before (`duplicate`)."""

    row: SlackRequest | None

    @property
    def duplicate(self) -> bool:
        return self.row is None


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def receive(
    kind: str,
    body: bytes,
    *,
    team_id: str,
    slack_user_id: str,
    channel_id: str,
    ip: str,
    request_id: str,
) -> Received:
    """Store a signed request, unless its body was stored before (a retry or a replay)."""
    try:
        with transaction.atomic():
            row = SlackRequest.objects.create(
                kind=kind,
                body_sha256=body_hash(body),
                team_id=team_id[:32],
                slack_user_id=slack_user_id[:32],
                channel_id=channel_id[:32],
                ip=ip[:64],
                request_id=request_id[:64],
            )
    except IntegrityError:
        return Received(None)
    return Received(row)


def response_url_allowed(url: str) -> bool:
    return any(url.startswith(prefix) for prefix in settings.SLACK_RESPONSE_URL_PREFIXES)


def deliver(response_url: str, body: dict[str, Any]) -> bool:
    """Post `body` to a response URL; False (and logged) when it is not allowed or fails."""
    if not response_url_allowed(response_url):
        logger.warning("Slack response URL outside SLACK_RESPONSE_URL_PREFIXES; not posted")
        return False
    client = WebhookClient(
        response_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(),
            RateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )
    try:
        response = client.send_dict(body)
    except Exception:  # the client raises a variety of errors for a network that fails
        logger.exception("Posting to a Slack response URL failed")
        return False
    if response.status_code != 200:
        logger.warning("Slack response URL answered %s", response.status_code)
        return False
    return True


def answer_command(request_pk: int, text: str, response_url: str) -> str | None:
    """Answer a stored command and post the reply; return the final state, None when it was
    answered before (a redelivered task) or is gone."""
    row = SlackRequest.objects.filter(pk=request_pk, kind=SlackRequest.Kind.COMMAND).first()
    if row is None or row.state != State.RECEIVED:
        return None
    with serving(RequestContext(ip=row.ip, request_id=row.request_id)):
        try:
            reply = _reply(row, parse(text))
        except Exception:
            logger.exception("Answering Slack command %s failed", row.pk)
            row.state = State.FAILED
            reply = blocks.notice(FAILED_TEXT)
        row.answered_at = timezone.now()
        row.save()
        if not deliver(response_url, reply):
            SlackRequest.objects.filter(pk=row.pk).update(state=State.FAILED)
            return State.FAILED
    return row.state


def _reply(row: SlackRequest, command: Command) -> dict[str, Any]:
    """The reply to `command`; sets the row's state, user, blocks and cited items."""
    row.state = State.DONE
    if command.action in ("help", "usage"):
        return blocks.help_message(command.problem)
    mapping = intranet_user(row.team_id, row.slack_user_id)
    if mapping.user is None:
        return _unmapped(row, mapping)
    user = row.user = mapping.user
    reader = reader_for(user)
    if command.action == "ask":
        assert command.target is not None
        colleague = colleague_for(command.target, row.team_id)
        if colleague is None or not can_view_package(user, colleague):
            return blocks.notice("There is no such colleague that you may ask.")
        answer = ask(reader, colleague, command.question, limit=CITATIONS_SHOWN)
        record_ask(
            reader=reader,
            colleague=colleague,
            question=command.question,
            answer=answer,
            actor=user,
            via="slack",
        )
        shown = blocks.answer_blocks(answer, colleague, request_pk=row.pk)
        row.cited_items = [c.item_id for c in answer.citations]
        fallback = f"An answer from what {blocks.escape(colleague.name)} wrote"
    else:
        experts = who_knows(reader, command.question, limit=EXPERTS_SHOWN)
        record_who_knows(
            reader=reader, question=command.question, experts=experts, actor=user, via="slack"
        )
        shown = blocks.who_knows_blocks(command.question, experts, request_pk=row.pk)
        row.cited_items = sorted(
            {ev.item_id for e in experts for ev in e.evidence}
            | {ev.item_id for e in experts for s in e.successors for ev in s.evidence}
        )
        fallback = "Who knows: " + blocks.escape(", ".join(e.colleague.name for e in experts))
    reply = blocks.message(fallback, shown)
    row.blocks = reply["blocks"]
    row.state = State.ANSWERED
    return reply


def _unmapped(row: SlackRequest, mapping: Mapping) -> dict[str, Any]:
    audit.record(
        "slack_command",
        f"slack_user:{row.team_id}/{row.slack_user_id}",
        result=audit.Result.DENIED,
        reason=mapping.reason,
    )
    if mapping.reason == "slack_error":
        row.state = State.FAILED
        return blocks.notice(SLACK_DOWN_TEXT)
    row.state = State.UNMAPPED
    return blocks.notice(UNMAPPED_TEXT)


def share_answer(interaction_pk: int, answer_pk: int, response_url: str) -> str:
    """Post answer `answer_pk` into its channel for the interaction's user, or tell them why
    not; return what happened ("shared", "expired", "changed", "refused", "failed")."""
    interaction = SlackRequest.objects.get(pk=interaction_pk)
    with serving(RequestContext(ip=interaction.ip, request_id=interaction.request_id)):
        outcome, reply = _share(interaction, answer_pk)
        interaction.state = State.DONE
        interaction.save(update_fields=["state", "user"])
        if not deliver(response_url, reply):
            return "failed"
    return outcome


def _share(interaction: SlackRequest, answer_pk: int) -> tuple[str, dict[str, Any]]:
    with transaction.atomic():
        answer = (
            SlackRequest.objects.select_for_update()
            .filter(
                pk=answer_pk,
                kind=SlackRequest.Kind.COMMAND,
                team_id=interaction.team_id,
                slack_user_id=interaction.slack_user_id,
                state=State.ANSWERED,
            )
            .first()
        )
        window = timedelta(hours=settings.SLACK_SHARE_HOURS)
        if (
            answer is None
            or not answer.blocks
            or answer.answered_at is None
            or answer.answered_at < timezone.now() - window
        ):
            return "expired", blocks.notice("This answer can no longer be shared. Ask again.")
        if answer.shared_at is not None:
            return "refused", blocks.notice("You shared this answer already.")
        mapping = intranet_user(interaction.team_id, interaction.slack_user_id)
        if mapping.user is None:
            return "refused", _unmapped(interaction, mapping)
        interaction.user = mapping.user
        cited = set(answer.cited_items)
        visible = items_visible_to(reader_for(mapping.user)).filter(pk__in=cited).count()
        if visible != len(cited):
            return "changed", blocks.notice(
                "Some sources of this answer changed or you may no longer see them. Ask again."
            )
        answer.shared_at = timezone.now()
        answer.save(update_fields=["shared_at"])
        audit.record(
            "answers.shared",
            f"slack_request:{answer.pk}",
            actor=mapping.user,
            channel=interaction.channel_id,
            cited_items=sorted(cited),
            via="slack",
        )
    return "shared", blocks.shared(answer.blocks, interaction.slack_user_id)


def prune_requests() -> tuple[int, int]:
    """Clear answers kept for "share" past SLACK_SHARE_HOURS and delete requests a day older
    than that; return (cleared, deleted)."""
    now = timezone.now()
    window = timedelta(hours=settings.SLACK_SHARE_HOURS)
    cleared = (
        SlackRequest.objects.filter(answered_at__lt=now - window)
        .exclude(blocks=[])
        .update(blocks=[], cited_items=[])
    )
    deleted, _ = SlackRequest.objects.filter(
        received_at__lt=now - window - timedelta(days=1)
    ).delete()
    return cleared, deleted
