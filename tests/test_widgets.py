"""config.widgets.LongSelect writes exactly the HTML of Django's Select (faster)."""

from __future__ import annotations

import pytest
from django import forms

from colleagues.models import Colleague
from config.widgets import LongSelect

GROUPED = [
    ("", "---------"),
    ("Chat", [("slack", "Slack <export>"), ("teams", 'Teams "live"')]),
    ("mail", "Mail & files"),
]


def _form(widget: type[forms.Select], **kwargs: object) -> type[forms.Form]:
    class PersonForm(forms.Form):
        colleague = forms.ModelChoiceField(
            Colleague.objects.order_by("name"),
            widget=widget(attrs={"class": "wide", "data-x": True, "hidden": False}),
            help_text="Only people who left.",
            **kwargs,  # type: ignore[arg-type]
        )
        kind = forms.ChoiceField(choices=GROUPED, widget=widget, required=False)

    return PersonForm


@pytest.mark.django_db
@pytest.mark.parametrize("required", [True, False])
@pytest.mark.parametrize("data", [None, {}, {"colleague": "2", "kind": "teams"}, {"kind": "x"}])
def test_renders_as_select(required: bool, data: dict[str, str] | None) -> None:
    for n, name in enumerate(["Zoë <Zed> & co", "Ann 'A' \"B\"", "Bob"], start=1):
        Colleague.objects.create(pk=n, name=name, slug=f"p{n}")
    expected = _form(forms.Select, required=required)(data)
    found = _form(LongSelect, required=required)(data)
    for field in ("colleague", "kind"):
        assert str(found[field]) == str(expected[field])
    assert "Zoë &lt;Zed&gt; &amp; co" in str(found["colleague"])
    assert found.as_div() == expected.as_div()
