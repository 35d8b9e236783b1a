"""The audit trail: one call records one event (docs/ARCHITECTURE.md, governance)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User

from knowledge.models import AuditEvent

# Who did something: a login user, an anonymous visitor, or None for the console operator and
# the system itself.
Actor = User | AnonymousUser | None


def login_user(actor: Actor) -> User | None:
    """The login user behind `actor`, or None (anonymous, operator, system)."""
    return actor if isinstance(actor, User) else None


def record(action: str, target: str, *, actor: Actor = None, **detail: Any) -> AuditEvent:
    """Write one audit event; `actor` None means the console operator or the system."""
    user = login_user(actor)
    return AuditEvent.objects.create(
        actor=user,
        actor_name=user.get_username() if user is not None else "",
        action=action,
        target=target,
        detail=detail,
    )
