"""`manage.py load_demo`: the demo company lands in the database, each login sees its share."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.test.utils import override_settings

from colleagues.models import Colleague
from knowledge.models import Container
from knowledge.search import search_items
from knowledge.selectors import items_by, items_visible_to
from knowledge.visibility import Reader, reader_for

pytestmark = pytest.mark.django_db


def load(var_dir: Path) -> dict[str, Any]:
    out = io.StringIO()
    with override_settings(VAR_DIR=var_dir):
        call_command("load_demo", "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def loaded(tmp_path: Path) -> dict[str, Any]:
    return load(tmp_path)


def counts(summary: dict[str, Any], key: str) -> dict[str, int]:
    return {source["source"]: source[key] for source in summary["sources"]}


def test_demo_company_is_captured_with_nothing_quarantined(loaded: dict[str, Any]) -> None:
    created = counts(loaded, "items_created")
    assert created["Northwind Slack"] > 2000
    assert created["Northwind mail"] == 300
    assert created["Northwind documents"] == 9
    assert set(counts(loaded, "quarantined").values()) == {0}
    # Vendors and customers who mailed in are captured, but are not colleagues.
    assert Colleague.objects.count() == 17
    dana = Colleague.objects.get(email="dana.kowalski@northwind.example")
    assert dana.status == Colleague.Status.DEPARTED
    assert dana.manager == Colleague.objects.get(name="Samuel Osei")
    # Her Slack, mail and runbook are all hers, whichever identity wrote them.
    kinds = set(items_by(Reader.operator(), dana).values_list("kind", flat=True))
    assert kinds == {"message", "email", "document"}
    # HR sees her public messages and documents, but not mail HR was not sent.
    hr = get_user_model().objects.get(username="hr")
    assert set(items_by(reader_for(hr), dana).values_list("kind", flat=True)) == {
        "message",
        "document",
    }


def test_running_it_again_stores_nothing_and_resets_the_passwords(
    tmp_path: Path, loaded: dict[str, Any]
) -> None:
    again = load(tmp_path)
    assert set(counts(again, "items_created").values()) == {0}
    assert set(counts(again, "items_updated").values()) == {0}
    client = Client()
    for old, new in zip(loaded["logins"], again["logins"], strict=True):
        assert not client.login(username=old["username"], password=old["password"])
        assert client.login(username=new["username"], password=new["password"])


def test_each_demo_login_sees_only_its_channels(loaded: dict[str, Any]) -> None:
    users = get_user_model().objects.in_bulk(["hr", "manager", "engineer"], field_name="username")

    def private_channels_seen(username: str) -> set[str]:
        return set(
            items_visible_to(reader_for(users[username]))
            .filter(container__kind=Container.Kind.PRIVATE_CHANNEL)
            .values_list("container__name", flat=True)
        )

    assert private_channels_seen("engineer") == set()
    assert {"payments-incidents", "leadership"} <= private_channels_seen("manager")
    assert "hr-private" not in private_channels_seen("manager")
    assert "hr-private" in private_channels_seen("hr")
    assert "payments-incidents" not in private_channels_seen("hr")

    def finds_salary_bands(username: str) -> bool:
        hits = search_items(reader=reader_for(users[username]), query="salary band sheet", limit=50)
        return any("salary band sheet" in hit.item.body for hit in hits)

    assert finds_salary_bands("hr")
    assert not finds_salary_bands("engineer")
    assert not finds_salary_bands("manager")
