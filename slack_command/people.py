"""Who is asking, and whom they ask: Slack users mapped to intranet users and colleagues.

`intranet_user(team_id, slack_user_id)` maps the asker by their verified Slack address
(users.info with SLACK_BOT_TOKEN, scopes users:read and users:read.email): the one active
intranet login with that address, else nobody. The address Slack gives is cached for
SLACK_USER_CACHE_SECONDS; the login it leads to is looked up each time, so a deactivated or
departed login stops working at once. A Slack user of another workspace (Slack Connect), a
bot, a deactivated account or an address Slack marks unconfirmed is never mapped.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from colleagues.models import Colleague, Identity
from colleagues.selectors import colleague_by_email
from slack_command.commands import Target

SLACK_ERRORS = (SlackApiError, SlackClientError, OSError)


@dataclass(frozen=True)
class Mapping:
    """The intranet user behind a Slack user, or None and why not (`reason`, for the audit
    trail: "no_token", "slack_error", "not_verified", "no_user", "ambiguous")."""

    user: User | None
    reason: str = ""


def intranet_user(team_id: str, slack_user_id: str) -> Mapping:
    """The active intranet user with the Slack user's verified address (module docstring)."""
    if not settings.SLACK_BOT_TOKEN:
        return Mapping(None, "no_token")
    try:
        email = verified_email(team_id, slack_user_id)
    except SLACK_ERRORS:
        return Mapping(None, "slack_error")
    if not email:
        return Mapping(None, "not_verified")
    users = list(User.objects.filter(email__iexact=email, is_active=True)[:2])
    if not users:
        return Mapping(None, "no_user")
    if len(users) > 1:
        return Mapping(None, "ambiguous")
    return Mapping(users[0])


def verified_email(team_id: str, slack_user_id: str) -> str:
    """The Slack user's address as Slack vouches for it in workspace `team_id`, else "";
    cached. Raises one of SLACK_ERRORS when Slack cannot be asked."""
    key = f"slack-user-email:{team_id}:{slack_user_id}"
    email = cache.get(key)
    if email is None:
        email = _ask_slack(team_id, slack_user_id)
        cache.set(key, email, settings.SLACK_USER_CACHE_SECONDS)
    return str(email)


def _ask_slack(team_id: str, slack_user_id: str) -> str:
    client = WebClient(token=settings.SLACK_BOT_TOKEN, base_url=settings.SLACK_API_URL, timeout=5)
    user = client.users_info(user=slack_user_id).get("user") or {}
    profile = user.get("profile") or {}
    email = str(profile.get("email") or "").strip().lower()
    if (
        user.get("deleted")
        or user.get("is_bot")
        or user.get("is_email_confirmed") is False
        or (user.get("team_id") and user.get("team_id") != team_id)
        or "@" not in email
    ):
        return ""
    return email


def colleague_for(target: Target, team_id: str) -> Colleague | None:
    """The colleague `target` names: by Slack identity, address or slug; None if unknown."""
    if target.slack_user_id:
        identities = Identity.objects.filter(
            kind=Identity.Kind.SLACK, colleague__isnull=False, is_bot=False
        ).select_related("colleague")
        exact = identities.filter(value=f"{team_id}/{target.slack_user_id}").first()
        if exact is not None:
            return exact.colleague
        # Exports without a team id key people by another workspace name: one match or none.
        loose = list(identities.filter(value__endswith=f"/{target.slack_user_id}")[:2])
        if len(loose) == 1:
            return loose[0].colleague
        # Known only from mail, say: by the address Slack has for them.
        try:
            email = (
                verified_email(team_id, target.slack_user_id) if settings.SLACK_BOT_TOKEN else ""
            )
        except SLACK_ERRORS:
            return None
        return colleague_by_email(email) if email else None
    if target.email:
        return colleague_by_email(target.email)
    return Colleague.objects.filter(slug=target.slug).first()
