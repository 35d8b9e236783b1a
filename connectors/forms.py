"""The intranet's forms about sources: a new source, its exclusion rules, a quarantined
file's dismissal, and the document upload."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.dateparse import parse_duration
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from colleagues.models import Colleague
from colleagues.selectors import colleague_by_email
from config.widgets import LongSelect
from connectors.actions import DuplicateSourceName, create_source
from connectors.base import Connector, Setting
from connectors.documents.parsing import FORMATS, MAX_FILE_BYTES
from connectors.errors import ConnectorError
from connectors.exclusions import ExclusionRules
from connectors.models import Source
from connectors.registry import CONNECTORS, connector_class


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
        widget=LongSelect,
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


# The schedules offered when adding a source (Source.sync_every); empty: only when asked.
SCHEDULES = [
    ("", _("Only when someone asks")),
    ("01:00:00", _("Every hour")),
    ("06:00:00", _("Every 6 hours")),
    ("1 00:00:00", _("Every day")),
    ("7 00:00:00", _("Every week")),
]
CONFIG_PREFIX = "config_"
CREDENTIAL_PREFIX = "credential_"
# The first choice of an optional choice setting: leave the key out of the config.
DEFAULT_CHOICE = _("The connector's default")


def addable_kinds() -> list[tuple[str, type[Connector]]]:
    """The source kinds an administrator may add, with their connector classes."""
    kinds = [(kind, connector_class(kind)) for kind in CONNECTORS]
    return [(kind, cls) for kind, cls in kinds if cls.addable]


class SourceForm(forms.Form):
    """A new source of one kind, its fields those the kind's connector declares
    (`Connector.settings` and `Connector.secrets`); `save` hands them to
    `connectors.actions.create_source`, which `manage.py add_source` calls too.

    Secrets are password inputs whose values are never rendered back.
    """

    name = forms.CharField(
        max_length=200,
        label=_("Name"),
        help_text=_("How the source is shown, e.g. “Handover folder”. Unique."),
    )

    def __init__(self, kind: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.connector = connector_class(kind)
        for setting in self.connector.settings:
            self.fields[CONFIG_PREFIX + setting.key] = _field_for(setting)
        for setting in self.connector.secrets:
            self.fields[CREDENTIAL_PREFIX + setting.key] = forms.CharField(
                label=setting.label,
                required=setting.required,
                help_text=setting.help,
                strip=False,
                widget=forms.PasswordInput(
                    render_value=False, attrs={"autocomplete": "new-password"}
                ),
            )
        self.fields["sync_every"] = forms.ChoiceField(
            choices=SCHEDULES, required=False, label=_("Schedule")
        )

    def config(self) -> dict[str, Any]:
        """The plain config entered, shaped by each setting's type; empty values left out."""
        config: dict[str, Any] = {}
        for setting in self.connector.settings:
            value = self.cleaned_data.get(CONFIG_PREFIX + setting.key)
            if value in (None, "", []):
                continue
            config[setting.key] = value
        return config

    def credentials(self) -> dict[str, str]:
        """The secrets entered; empty ones left out (the connector says if one is needed)."""
        return {
            setting.key: value
            for setting in self.connector.secrets
            if (value := self.cleaned_data.get(CREDENTIAL_PREFIX + setting.key))
        }

    def save(self, *, actor: Any) -> Source | None:
        """Create the source through `create_source`; None, with the refusal added to the
        form (on the field it names, if any), when the connector or the name is refused."""
        every = self.cleaned_data.get("sync_every") or ""
        try:
            return create_source(
                name=self.cleaned_data["name"].strip(),
                kind=self.kind,
                config=self.config(),
                credentials=self.credentials(),
                sync_every=parse_duration(every) if every else None,
                actor=actor,
            )
        except DuplicateSourceName:
            self.add_error("name", gettext("Another source already has this name."))
        except ConnectorError as exc:
            field = self._field_named_in(str(exc))
            self.add_error(
                field,
                gettext("Refused by the %(kind)s connector: %(error)s")
                % {"kind": self.kind, "error": str(exc)},
            )
        return None

    def _field_named_in(self, message: str) -> str | None:
        """The form field whose config or secret key the connector's message names."""
        declared = [(CONFIG_PREFIX, s.key) for s in self.connector.settings] + [
            (CREDENTIAL_PREFIX, s.key) for s in self.connector.secrets
        ]
        for prefix, key in declared:
            if re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", message):
                return prefix + key
        return None


def _field_for(setting: Setting) -> forms.Field:
    common: dict[str, Any] = {
        "label": setting.label,
        "required": setting.required,
        "help_text": setting.help,
    }
    attrs = {"placeholder": setting.placeholder} if setting.placeholder else {}
    if setting.type == "choice":
        default = [("", DEFAULT_CHOICE)] if not setting.required else []
        return forms.ChoiceField(
            choices=default + [(choice, choice) for choice in setting.choices], **common
        )
    if setting.type == "integer":
        return forms.IntegerField(**common)
    if setting.type == "number":
        return forms.FloatField(**common)
    if setting.type == "list":
        return _ListField(widget=forms.Textarea(attrs={"rows": 2, **attrs}), **common)
    return forms.CharField(max_length=1000, widget=forms.TextInput(attrs=attrs), **common)


class _ListField(forms.CharField):
    """Lines or comma-separated parts, as a list of the non-empty ones."""

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]


class DismissForm(forms.Form):
    """Why a quarantined file is closed without being stored."""

    reason = forms.CharField(
        max_length=2000,
        label=_("Reason"),
        widget=forms.TextInput(attrs={"placeholder": _("e.g. a draft nobody needs")}),
    )
