"""Writes of the agents app: create and revoke API tokens, each an audit event (ids, never
the secret), and take note of a token's use."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from agents.models import AgentToken
from knowledge import audit

#: Every secret starts with this, so a leaked one is easy to recognise (and to scan for).
SECRET_PREFIX = "csk_"  # noqa: S105 (not a secret: the mark on every secret)


class TokenRefused(ValueError):
    """The token asked for may not be created (no scope, a bad expiry)."""


@dataclass(frozen=True)
class NewToken:
    token: AgentToken
    secret: str  # shown once; never stored


def secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(user: User, *, name: str, scopes: Iterable[str], expires_at: datetime) -> NewToken:
    """Create a token acting as `user` within `scopes` until `expires_at`; return it with its
    secret, which is not stored (only its SHA-256). Audited as `agents.token_created`."""
    chosen = sorted(set(scopes))
    if not chosen or not set(chosen) <= set(AgentToken.Scope.values):
        raise TokenRefused("Choose at least one known scope.")
    now = timezone.now()
    if expires_at <= now:
        raise TokenRefused("The expiry must be in the future.")
    if expires_at > now + timedelta(days=settings.AGENTS_TOKEN_MAX_DAYS):
        raise TokenRefused(f"A token lives at most {settings.AGENTS_TOKEN_MAX_DAYS} days.")
    prefix = secrets.token_hex(4)
    secret = f"{SECRET_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = AgentToken.objects.create(
            user=user,
            name=name.strip()[:100] or "Agent",
            prefix=prefix,
            secret_sha256=secret_sha256(secret),
            scopes=chosen,
            created_at=now,
            expires_at=expires_at,
        )
        audit.record(
            "agents.token_created",
            f"agent_token:{token.pk}",
            actor=user,
            prefix=prefix,
            scopes=chosen,
            expires_at=expires_at.isoformat(),
        )
    return NewToken(token, secret)


def revoke_token(token: AgentToken, *, actor: User) -> AgentToken:
    """Revoke `token` now (a no-op if it already is); it is refused from its next use on.
    Audited as `agents.token_revoked`."""
    with transaction.atomic():
        locked = AgentToken.objects.select_for_update().get(pk=token.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            audit.record(
                "agents.token_revoked",
                f"agent_token:{locked.pk}",
                actor=actor,
                prefix=locked.prefix,
                owner=locked.user_id,
            )
    return locked


def use_token(secret: str) -> AgentToken | None:
    """The live token whose secret this is, its user active, with `last_used_at` set to now;
    None for anything else (unknown, revoked, expired, an inactive user)."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    now = timezone.now()
    token = (
        AgentToken.objects.select_related("user")
        .filter(secret_sha256=secret_sha256(secret), revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    AgentToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
    return token
