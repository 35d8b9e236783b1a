"""The document upload form and the form of a source's exclusion rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from colleagues.models import Colleague
from colleagues.selectors import colleague_by_email
from connectors.documents.parsing import FORMATS, MAX_FILE_BYTES
from connectors.exclusions import ExclusionRules


class UploadForm(forms.Form):
    AUDIENCES = [
        ("me", _("Only me")),
        ("people", _("Me and the people below")),
        ("public", _("Everyone in the organisation")),
    ]

    file = forms.FileField(
        label=_("File"),
        help_text=format_lazy(
            _("{formats}; at most {megabytes} MB."),
            formats=", ".join(sorted(FORMATS)),
            megabytes=MAX_FILE_BYTES // 2**20,
        ),
    )
    audience = forms.ChoiceField(
        choices=AUDIENCES, initial="me", widget=forms.RadioSelect, label=_("Audience")
    )
    people = forms.CharField(
        required=False,
        label=_("People"),
        help_text=_("Colleagues' addresses, separated by commas."),
        widget=forms.TextInput(attrs={"placeholder": "dana@example.com, tom@example.com"}),
    )
    author = forms.ModelChoiceField(
        queryset=Colleague.objects.order_by("name"),
        required=False,
        label=_("Author"),
        help_text=_("Used when the document does not name a colleague as its author."),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(
                gettext("The file is over %(megabytes)s MB.")
                % {"megabytes": MAX_FILE_BYTES // 2**20}
            )
        suffix = "." + upload.name.rsplit(".", 1)[-1].lower() if "." in upload.name else ""
        if suffix not in FORMATS:
            raise forms.ValidationError(
                gettext("%(suffix)s is not a format we read.") % {"suffix": suffix}
                if suffix
                else gettext("This type is not a format we read.")
            )
        return upload

    def clean_people(self) -> list[str]:
        emails = [e.strip().lower() for e in self.cleaned_data["people"].split(",") if e.strip()]
        unknown = [e for e in emails if colleague_by_email(e) is None]
        if unknown:
            raise forms.ValidationError(
                gettext("Not a colleague's address: %(addresses)s")
                % {"addresses": ", ".join(unknown)}
            )
        return emails


class ExclusionRulesForm(forms.Form):
    """A source's own exclusion rules (connectors/exclusions.py), one pattern per line."""

    containers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "hr-*\nlegal/*\nC024BE91L"}),
        label=_("Containers"),
        help_text=_(
            "Channel names or ids, mail folders, document folder paths; * and ? match "
            "anything. A folder rule also excludes the folders below it."
        ),
    )
    senders = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "*@legal.example.com\nU024BE7LH"}),
        label=_("Senders"),
        help_text=_("Mail addresses or Slack user ids; * and ? match anything."),
    )
    keywords = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "medical leave\ngrievance"}),
        label=_("Keywords"),
        help_text=_("Words or phrases, matched whole and in any case, in a title or body."),
    )
    include_direct_messages = forms.BooleanField(
        required=False,
        label=_("Capture direct messages and group DMs"),
        help_text=_("Off by default: DMs are captured only from sources that enable them."),
    )

    @classmethod
    def for_rules(cls, rules: ExclusionRules) -> ExclusionRulesForm:
        return cls(
            initial={
                "containers": "\n".join(rules.containers),
                "senders": "\n".join(rules.senders),
                "keywords": "\n".join(rules.keywords),
                "include_direct_messages": rules.include_direct_messages,
            }
        )

    def rules(self) -> ExclusionRules:
        """The rules entered; call once the form is valid."""
        data = self.cleaned_data
        return ExclusionRules(
            containers=_lines(data["containers"]),
            senders=_lines(data["senders"]),
            keywords=_lines(data["keywords"]),
            include_direct_messages=data["include_direct_messages"],
        )


def _lines(text: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for line in text.splitlines():
        if line.strip():
            seen.setdefault(line.strip()[:300], None)
    return tuple(seen)
