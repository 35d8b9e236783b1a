"""Per-user API tokens for AI agents (the MCP server over HTTP).

A token's secret is shown once, when it is created (agents.actions.create_token); only its
SHA-256 is stored, with a short prefix to tell tokens apart on the page. A token acts as its
user, within its scopes, until it expires or is revoked; every use is checked afresh.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AgentToken(models.Model):
    class Scope(models.TextChoices):
        ASK = "ask", _("Ask, who knows, search and style check (the tools)")
        READ_PACKAGES = "read_packages", _("Read skill packages (resources and the prompt)")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_tokens"
    )
    name = models.CharField(max_length=100, help_text="what the token is for")
    prefix = models.CharField(max_length=16, unique=True, help_text="shown to tell tokens apart")
    secret_sha256 = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_live(self, at: datetime | None = None) -> bool:
        """Not revoked and not expired at `at` (default now)."""
        return self.revoked_at is None and self.expires_at > (at or timezone.now())
