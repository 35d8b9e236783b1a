from __future__ import annotations

from django import forms

from agents.models import AgentToken

EXPIRY_CHOICES = [(7, "7 days"), (30, "30 days"), (90, "90 days"), (365, "1 year")]


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What will use it, e.g. “Claude Code on my laptop”"
    )
    scopes = forms.MultipleChoiceField(
        choices=AgentToken.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=AgentToken.Scope.values,
    )
    expires_in_days = forms.TypedChoiceField(
        choices=EXPIRY_CHOICES, coerce=int, initial=30, label="Expires in"
    )
