"""The two URLs Slack calls: `/slack/commands/` (the `/colleague` slash command) and
`/slack/interactions/` (its "share" button).

Both check Slack's signature before reading anything else (slack_command.signature) and answer
401 to whatever fails it — never 500 — with an audit event (result "denied"). A body seen
before is a replay (401), unless Slack marks it as its own retry (`X-Slack-Retry-Num`), which
is acknowledged and does nothing more. A command is acknowledged at once with an ephemeral
"working on it"; the answer follows through `response_url` from a Celery task (actions.py).
Without SLACK_SIGNING_SECRET both answer 404, as if they did not exist.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config import request_context
from knowledge import audit
from slack_command import blocks
from slack_command.actions import receive, response_url_allowed
from slack_command.commands import parse
from slack_command.models import SlackRequest
from slack_command.signature import SignatureRefused, verify
from slack_command.tasks import answer_command_task, share_answer_task

WORKING_TEXT = "Working on it… the answer will appear here, visible only to you."


def _form(body: bytes) -> dict[str, str]:
    """The form fields of a verified (so UTF-8) body, last value of each; {} for a body of
    more than 100 fields."""
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
    except ValueError:
        return {}
    return {key: values[-1] for key, values in fields.items()}


def _refused(request: HttpRequest, reason: str) -> HttpResponse:
    audit.record("slack_request", f"path:{request.path}", result=audit.Result.DENIED, reason=reason)
    return HttpResponse("invalid request", status=401, content_type="text/plain")


def _checked(request: HttpRequest) -> HttpResponse | None:
    """None when the request is signed; else the 401 to answer."""
    if not settings.SLACK_SIGNING_SECRET:
        raise Http404
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > 64 * 1024:
        return _refused(request, "body_too_large")
    try:
        verify(settings.SLACK_SIGNING_SECRET, request.body, request.headers)
    except SignatureRefused as refused:
        return _refused(request, refused.reason)
    return None


def _stored(
    request: HttpRequest, kind: str, *, team: str, user: str, channel: str
) -> SlackRequest | HttpResponse:
    """The request's new row; for a body seen before, the response to give instead."""
    context = request_context.current()
    received = receive(
        kind,
        request.body,
        team_id=team,
        slack_user_id=user,
        channel_id=channel,
        ip=context.ip if context else "",
        request_id=context.request_id if context else "",
    )
    if received.row is not None:
        return received.row
    if request.headers.get("X-Slack-Retry-Num"):
        return HttpResponse(status=200)  # Slack's own retry: the first delivery is handled
    return _refused(request, "replay")


@csrf_exempt
@require_POST
def command(request: HttpRequest) -> HttpResponse:
    """Acknowledge a `/colleague` command and queue its answer."""
    if (refused := _checked(request)) is not None:
        return refused
    form = _form(request.body)
    response_url = form.get("response_url", "")
    if not response_url_allowed(response_url) or not form.get("user_id") or not form.get("team_id"):
        return JsonResponse(blocks.notice("This request cannot be answered."), status=400)
    row = _stored(
        request,
        SlackRequest.Kind.COMMAND,
        team=form["team_id"],
        user=form["user_id"],
        channel=form.get("channel_id", ""),
    )
    if isinstance(row, HttpResponse):
        return row
    text = form.get("text", "")
    parsed = parse(text)
    if parsed.action in ("help", "usage"):
        SlackRequest.objects.filter(pk=row.pk).update(state=SlackRequest.State.DONE)
        return JsonResponse(blocks.help_message(parsed.problem))
    transaction.on_commit(lambda: answer_command_task.delay(row.pk, text, response_url))
    return JsonResponse(blocks.notice(WORKING_TEXT))


@csrf_exempt
@require_POST
def interaction(request: HttpRequest) -> HttpResponse:
    """Acknowledge a button press; "share" is queued, other actions need nothing."""
    if (refused := _checked(request)) is not None:
        return refused
    try:
        payload = json.loads(_form(request.body).get("payload", ""))
        team = str(payload["team"]["id"])
        user = str(payload["user"]["id"])
        response_url = str(payload.get("response_url", ""))
        actions = [
            a for a in payload.get("actions", []) if a.get("action_id") == blocks.SHARE_ACTION
        ]
        answer_pk = int(actions[0]["value"]) if actions else None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return HttpResponse("unexpected payload", status=400, content_type="text/plain")
    if answer_pk is None:
        return HttpResponse(status=200)  # a link button: Slack opens the URL itself
    if not response_url_allowed(response_url):
        return HttpResponse("unexpected payload", status=400, content_type="text/plain")
    channel = payload.get("channel") or payload.get("container") or {}
    row = _stored(
        request,
        SlackRequest.Kind.INTERACTION,
        team=team,
        user=user,
        channel=str(channel.get("id") or channel.get("channel_id") or "")
        if isinstance(channel, dict)
        else "",
    )
    if isinstance(row, HttpResponse):
        return row
    transaction.on_commit(lambda: share_answer_task.delay(row.pk, answer_pk, response_url))
    return HttpResponse(status=200)
