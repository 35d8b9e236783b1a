"""The intranet page of one's own API tokens for AI agents: list, create (the secret shown
once), revoke. Another user's token is a 404."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from agents.actions import TokenRefused, create_token, revoke_token
from agents.forms import TokenForm
from agents.models import AgentToken


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """The signed-in user's tokens (GET); create one and show its secret once (POST)."""
    user = cast(User, request.user)  # login_required
    form = TokenForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        expires_at = timezone.now() + timedelta(days=form.cleaned_data["expires_in_days"])
        try:
            created = create_token(
                user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=expires_at,
            )
        except TokenRefused as exc:
            form.add_error(None, str(exc))
        else:
            secret = created.secret
            form = TokenForm()
    context = {
        "form": form,
        "secret": secret,
        "tokens": AgentToken.objects.filter(user=user),
        "now": timezone.now(),
        "mcp_url": request.build_absolute_uri("/mcp/"),
    }
    return render(request, "agents/tokens.html", context)


@login_required
@require_POST
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the signed-in user's tokens; refused from its next use on."""
    user = cast(User, request.user)  # login_required
    token = get_object_or_404(AgentToken, pk=pk, user=user)
    revoke_token(token, actor=user)
    messages.success(request, _("Token “%(name)s” is revoked.") % {"name": token.name})
    return redirect(reverse("agents:tokens"))
