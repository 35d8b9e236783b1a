"""Forms of the colleague pages: access grants and consent."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django import forms
from django.contrib.auth.models import Group, User
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from colleagues.models import AccessGrant, Colleague
from colleagues.roles import Role

# The role groups' names are data (colleagues/roles.py); these are how a page shows them.
ROLE_LABELS = {
    Role.HR_ADMIN.value: _("HR admin"),
    Role.CURATOR.value: _("Knowledge curator"),
    Role.MANAGER.value: _("Manager"),
    Role.EMPLOYEE.value: _("Employee"),
    Role.AUDITOR.value: _("Auditor"),
}


class GroupChoiceField(forms.ModelChoiceField):
    """A group, a role's shown in the reader's language."""

    def label_from_instance(self, obj: Group) -> str:
        return str(ROLE_LABELS.get(obj.name, obj.name))


class GrantForm(forms.Form):
    """Exactly one grantee: a username, a group, or a department."""

    username = forms.CharField(max_length=150, required=False, label=_("User (username)"))
    group = GroupChoiceField(
        queryset=Group.objects.order_by("name"), required=False, label=_("Group")
    )
    department = forms.CharField(max_length=200, required=False, label=_("Department"))
    level = forms.ChoiceField(
        choices=AccessGrant.Level.choices, initial=AccessGrant.Level.VIEWER, label=_("Level")
    )
    expires_on = forms.DateField(
        required=False,
        label=_("Expires on"),
        help_text=_("The grant ends at the end of this day; empty: until revoked."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    reason = forms.CharField(max_length=500, required=False, label=_("Reason"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        username = (data.get("username") or "").strip()
        user = None
        if username:
            user = User.objects.filter(username=username, is_active=True).first()
            if user is None:
                self.add_error("username", _("No active user has this username."))
        data["user"] = user
        named = [bool(username), data.get("group") is not None, bool(data.get("department"))]
        if sum(named) != 1:
            raise forms.ValidationError(_("Name exactly one: a user, a group or a department."))
        expires_on = data.get("expires_on")
        data["expires_at"] = (
            timezone.make_aware(datetime.combine(expires_on, time.max)) if expires_on else None
        )
        return data


class ConsentForm(forms.Form):
    consent = forms.ChoiceField(choices=Colleague.Consent.choices, label=_("Consent"))
