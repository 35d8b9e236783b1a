"""Forms of the ask and who-knows pages."""

from __future__ import annotations

from django import forms

from skills.models import Correction


class QuestionForm(forms.Form):
    question = forms.CharField(
        max_length=2000, label="Your question", widget=forms.Textarea(attrs={"rows": 2})
    )


class FeedbackForm(forms.Form):
    verdict = forms.ChoiceField(choices=[("helpful", "Helpful"), ("wrong", "Wrong")])
    comment = forms.CharField(
        required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )
    correction_kind = forms.ChoiceField(
        required=False, choices=[("", "—"), *Correction.Kind.choices], label="Correction about"
    )
    correction_wrong = forms.CharField(required=False, max_length=2000, label="What is wrong")
    correction_right = forms.CharField(required=False, max_length=2000, label="What is right")
