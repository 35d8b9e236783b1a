"""What the Slack endpoints keep of each signed request (slack_command/views.py).

One row per Slack request body: its SHA-256 is unique, so a body seen before is either one of
Slack's retries (`X-Slack-Retry-Num`, answered without doing anything again) or a replay
(refused). Rows hold ids, hashes and the state of the work, never the question; an answered
command also keeps the Block Kit answer for its "share" button, for SLACK_SHARE_HOURS, after
which `prune_requests` clears it (and deletes the row a day later).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SlackRequest(models.Model):
    class Kind(models.TextChoices):
        COMMAND = "command"
        INTERACTION = "interaction"

    class State(models.TextChoices):
        RECEIVED = "received"  # acknowledged, queued
        ANSWERED = "answered"  # the answer went to the response_url
        UNMAPPED = "unmapped"  # no intranet user for the Slack user: told so, nothing else
        FAILED = "failed"  # the work or the reply failed; logged
        DONE = "done"  # nothing to queue (help, usage) or an interaction handled

    kind = models.CharField(max_length=16, choices=Kind.choices)
    body_sha256 = models.CharField(max_length=64, unique=True)
    team_id = models.CharField(max_length=32)
    slack_user_id = models.CharField(max_length=32)
    channel_id = models.CharField(max_length=32, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Where the request came from, for the audit events its work records.
    ip = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The answer as sent (Block Kit), for "share"; emptied after SLACK_SHARE_HOURS.
    blocks = models.JSONField(default=list, blank=True)
    cited_items = models.JSONField(default=list, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    shared_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Slack {self.kind} {self.pk} ({self.state})"
