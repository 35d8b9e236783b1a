"""Forms of the skill package pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from skills.models import Correction


class CorrectionForm(forms.Form):
    kind = forms.ChoiceField(
        choices=Correction.Kind.choices, initial=Correction.Kind.STYLE, label=_("Kind")
    )
    wrong = forms.CharField(
        required=False,
        max_length=2000,
        label=_("What is wrong"),
        help_text=_('"They would never say …", or a statement that is not so.'),
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    right = forms.CharField(
        required=False,
        max_length=2000,
        label=_("What is right"),
        help_text=_('"They\'d say …", or what is so instead.'),
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if not str(data.get("wrong", "")).strip() and not str(data.get("right", "")).strip():
            raise forms.ValidationError(_("Say what is wrong, what is right, or both."))
        return data


class StyleCheckForm(forms.Form):
    text = forms.CharField(
        max_length=20000,
        label=_("Text to check"),
        help_text=_("A message written as them: how closely does it match how they write?"),
        widget=forms.Textarea(attrs={"rows": 4}),
    )
