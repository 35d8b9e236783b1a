"""Forms of the skill package pages."""

from __future__ import annotations

from django import forms

from skills.models import Correction


class CorrectionForm(forms.Form):
    kind = forms.ChoiceField(choices=Correction.Kind.choices, initial=Correction.Kind.STYLE)
    wrong = forms.CharField(
        required=False,
        max_length=2000,
        label="What is wrong",
        help_text='"They would never say …", or a statement that is not so.',
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    right = forms.CharField(
        required=False,
        max_length=2000,
        label="What is right",
        help_text='"They\'d say …", or what is so instead.',
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if not str(data.get("wrong", "")).strip() and not str(data.get("right", "")).strip():
            raise forms.ValidationError("Say what is wrong, what is right, or both.")
        return data


class StyleCheckForm(forms.Form):
    text = forms.CharField(
        max_length=20000,
        label="Text to check",
        help_text="A message written as them: how closely does it match how they write?",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
