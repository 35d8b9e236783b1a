"""The document upload form."""

from __future__ import annotations

from typing import Any

from django import forms

from colleagues.models import Colleague
from colleagues.selectors import colleague_by_email
from connectors.documents.parsing import FORMATS, MAX_FILE_BYTES


class UploadForm(forms.Form):
    AUDIENCES = [
        ("me", "Only me"),
        ("people", "Me and the people below"),
        ("public", "Everyone in the organisation"),
    ]

    file = forms.FileField(
        help_text=f"{', '.join(sorted(FORMATS))}; at most {MAX_FILE_BYTES // 2**20} MB."
    )
    audience = forms.ChoiceField(choices=AUDIENCES, initial="me", widget=forms.RadioSelect)
    people = forms.CharField(
        required=False,
        help_text="Colleagues' addresses, separated by commas.",
        widget=forms.TextInput(attrs={"placeholder": "dana@example.com, tom@example.com"}),
    )
    author = forms.ModelChoiceField(
        queryset=Colleague.objects.order_by("name"),
        required=False,
        help_text="Used when the document does not name a colleague as its author.",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(f"The file is over {MAX_FILE_BYTES // 2**20} MB.")
        suffix = "." + upload.name.rsplit(".", 1)[-1].lower() if "." in upload.name else ""
        if suffix not in FORMATS:
            raise forms.ValidationError(f"{suffix or 'This type'} is not a format we read.")
        return upload

    def clean_people(self) -> list[str]:
        emails = [e.strip().lower() for e in self.cleaned_data["people"].split(",") if e.strip()]
        unknown = [e for e in emails if colleague_by_email(e) is None]
        if unknown:
            raise forms.ValidationError(f"Not a colleague's address: {', '.join(unknown)}")
        return emails
