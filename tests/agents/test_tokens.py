"""API tokens for AI agents: created on the intranet with the secret shown once, stored only
as a hash, revoked by their owner, refused once revoked, expired or their user inactive."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from agents.actions import TokenRefused, create_token, revoke_token, use_token
from agents.models import AgentToken
from knowledge.models import AuditEvent
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann() -> User:
    return cast(User, make_user("ann"))


def test_a_token_is_created_on_the_page_and_its_secret_shown_only_once(
    client: Client, ann: User
) -> None:
    client.force_login(ann)
    created = client.post(
        "/agents/tokens/",
        {"name": "Claude Code", "scopes": ["ask", "read_packages"], "expires_in_days": "30"},
    )
    assert created.status_code == 200
    token = AgentToken.objects.get(user=ann)
    secret = created.context["secret"]
    assert secret.startswith(f"csk_{token.prefix}_")
    assert secret in created.content.decode()
    assert use_token(secret) == token
    # Only its hash is kept, and the audit trail holds neither.
    stored = AgentToken.objects.filter(pk=token.pk).values().get()
    assert secret not in str(stored)
    event = AuditEvent.objects.get(action="agents.token_created")
    assert event.actor == ann
    assert event.detail["scopes"] == ["ask", "read_packages"]
    assert secret not in str(event.detail)
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)

    listed = client.get("/agents/tokens/").content.decode()
    assert secret not in listed
    assert f"csk_{token.prefix}_…" in listed
    assert "Claude Code" in listed


def test_only_its_owner_revokes_a_token_and_it_is_refused_from_then_on(
    client: Client, ann: User
) -> None:
    new = create_token(
        ann, name="laptop", scopes=["ask"], expires_at=timezone.now() + timedelta(days=7)
    )
    other = cast(User, make_user("ben"))
    client.force_login(other)
    assert client.post(f"/agents/tokens/{new.token.pk}/revoke/").status_code == 404
    assert use_token(new.secret) == new.token

    client.force_login(ann)
    response = client.post(f"/agents/tokens/{new.token.pk}/revoke/")
    assert response.status_code == 302
    assert use_token(new.secret) is None
    assert "revoked" in client.get("/agents/tokens/").content.decode()
    event = AuditEvent.objects.get(action="agents.token_revoked")
    assert (event.actor, event.target) == (ann, f"agent_token:{new.token.pk}")
    revoke_token(new.token, actor=ann)  # again: nothing more happens
    assert AuditEvent.objects.filter(action="agents.token_revoked").count() == 1


def test_an_expired_token_or_one_of_an_inactive_user_is_refused(ann: User) -> None:
    expiring = create_token(
        ann, name="a", scopes=["ask"], expires_at=timezone.now() + timedelta(days=1)
    )
    live = create_token(
        ann, name="b", scopes=["ask"], expires_at=timezone.now() + timedelta(days=1)
    )
    AgentToken.objects.filter(pk=expiring.token.pk).update(expires_at=timezone.now())
    assert use_token(expiring.secret) is None
    used = use_token(live.secret)
    assert used is not None
    assert used.last_used_at is not None
    assert use_token(live.secret + "x") is None
    assert use_token("not-a-token") is None
    User.objects.filter(pk=ann.pk).update(is_active=False)
    assert use_token(live.secret) is None


@pytest.mark.parametrize(
    ("scopes", "days", "message"),
    [
        ([], 7, "at least one known scope"),
        (["admin"], 7, "at least one known scope"),
        (["ask"], -1, "in the future"),
        (["ask"], 400, "at most 365 days"),
    ],
)
def test_a_token_needs_a_known_scope_and_a_bounded_expiry(
    ann: User, scopes: list[str], days: int, message: Any
) -> None:
    with pytest.raises(TokenRefused, match=message):
        create_token(ann, name="x", scopes=scopes, expires_at=timezone.now() + timedelta(days=days))
    assert not AgentToken.objects.exists()
