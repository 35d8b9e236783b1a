"""Celery entry points of the Slack command; each calls its action in slack_command.actions."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def answer_command_task(request_pk: int, text: str, response_url: str) -> str | None:
    """Answer a stored `/colleague` command (actions.answer_command); a redelivered task
    whose command was answered does nothing."""
    from slack_command.actions import answer_command

    return answer_command(request_pk, text, response_url)


@shared_task(acks_late=True)
def share_answer_task(interaction_pk: int, answer_pk: int, response_url: str) -> str:
    """Share an answer into its channel (actions.share_answer)."""
    from slack_command.actions import share_answer

    return share_answer(interaction_pk, answer_pk, response_url)


@shared_task
def prune_requests() -> tuple[int, int]:
    """The beat schedule's hourly clean-up (actions.prune_requests)."""
    from slack_command.actions import prune_requests as prune

    return prune()
