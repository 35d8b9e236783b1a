"""`{% retention_note item %}`: when an item expires and why (knowledge.retention)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django import template

from knowledge.models import Item
from knowledge.retention.policies import expiry_of

register = template.Library()


@register.simple_tag(takes_context=True)
def retention_note(context: dict[str, Any], item: Item) -> str:
    """ "Expires on 2027-03-01 because of policy 'Slack 2 years' (…)." Holds are named only
    to those who manage them (HR admins): a hold is not announced to the people it covers."""
    expiry = expiry_of(item)
    request = context.get("request")
    user = getattr(request, "user", None)
    if expiry.holds and not (user is not None and user.has_perm("colleagues.manage_grants")):
        expiry = replace(expiry, holds=())
    return expiry.explanation
