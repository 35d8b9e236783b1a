from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from agents.models import AgentToken

EXPIRY_CHOICES = [(7, _("7 days")), (30, _("30 days")), (90, _("90 days")), (365, _("1 year"))]


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label=_("Name"),
        help_text=_("What will use it, e.g. “Claude Code on my laptop”"),
    )
    scopes = forms.MultipleChoiceField(
        choices=AgentToken.Scope.choices,
        label=_("Scopes"),
        widget=forms.CheckboxSelectMultiple,
        initial=AgentToken.Scope.values,
    )
    expires_in_days = forms.TypedChoiceField(
        choices=EXPIRY_CHOICES, coerce=int, initial=30, label=_("Expires in")
    )
