"""Writes that govern access to a colleague's package: grants, and the colleague's consent.

Every write is audited. Who may call them is checked by the caller (the `manage_grants` and
`manage_consent` permissions, colleagues/roles.py); these functions check what was asked.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from colleagues.models import AccessGrant, Colleague
from knowledge.audit import Actor, login_user, record


class GrantRefused(ValueError):
    """A grant that cannot be made as asked (no grantee, two grantees, an expiry in the past)."""


@transaction.atomic
def grant_access(
    colleague: Colleague,
    *,
    user: User | None = None,
    group: Group | None = None,
    department: str = "",
    level: str = AccessGrant.Level.VIEWER,
    expires_at: datetime | None = None,
    reason: str = "",
    actor: Actor = None,
) -> AccessGrant:
    """Let one user, group or department view (or curate) the colleague's package."""
    department = department.strip()[:200]
    named = [g for g in (user, group, department or None) if g is not None]
    if len(named) != 1:
        raise GrantRefused(gettext("Name exactly one grantee: a user, a group or a department."))
    if level not in AccessGrant.Level.values:
        raise GrantRefused(
            gettext("Unknown level %(level)r: viewer or curator.") % {"level": level}
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise GrantRefused(gettext("The expiry must be in the future."))
    grant = AccessGrant.objects.create(
        colleague=colleague,
        user=user,
        group=group,
        department=department,
        level=level,
        expires_at=expires_at,
        reason=reason.strip()[:500],
        created_by=login_user(actor),
    )
    record(
        "grant_created",
        f"colleague:{colleague.pk}",
        actor=actor,
        grant=grant.pk,
        grantee=grant.grantee_label,
        level=level,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    return grant


@transaction.atomic
def revoke_grant(grant: AccessGrant, *, actor: Actor = None) -> AccessGrant:
    """End a grant now; its holders lose it on their next request. Revoking twice is a no-op."""
    locked = AccessGrant.objects.select_for_update().get(pk=grant.pk)
    if locked.revoked_at is not None:
        return locked
    locked.revoked_at = timezone.now()
    locked.revoked_by = login_user(actor)
    locked.save(update_fields=["revoked_at", "revoked_by"])
    record(
        "grant_revoked",
        f"colleague:{locked.colleague_id}",
        actor=actor,
        grant=locked.pk,
        grantee=locked.grantee_label,
    )
    return locked


@transaction.atomic
def set_consent(colleague: Colleague, consent: str, *, actor: Actor = None) -> Colleague:
    """Record the colleague's capture consent state (Colleague.Consent)."""
    if consent not in Colleague.Consent.values:
        raise ValueError(f"Unknown consent state {consent!r}.")
    previous = colleague.consent
    if previous == consent:
        return colleague
    colleague.consent = consent
    colleague.save(update_fields=["consent", "updated_at"])
    record(
        "consent_changed",
        f"colleague:{colleague.pk}",
        actor=actor,
        previous=previous,
        consent=consent,
    )
    return colleague
