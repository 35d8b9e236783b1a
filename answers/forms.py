"""Forms of the ask and who-knows pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from skills.models import Correction


class QuestionForm(forms.Form):
    question = forms.CharField(
        max_length=2000, label=_("Your question"), widget=forms.Textarea(attrs={"rows": 2})
    )


class FeedbackForm(forms.Form):
    verdict = forms.ChoiceField(choices=[("helpful", _("Helpful")), ("wrong", _("Wrong"))])
    comment = forms.CharField(
        required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )
    correction_kind = forms.ChoiceField(
        required=False, choices=[("", "—"), *Correction.Kind.choices], label=_("Correction about")
    )
    correction_wrong = forms.CharField(required=False, max_length=2000, label=_("What is wrong"))
    correction_right = forms.CharField(required=False, max_length=2000, label=_("What is right"))
