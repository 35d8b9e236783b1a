"""The demo company for the answers tests: ingested once per module (tests/skills/conftest.py),
then embedded with the tests' hashing embedder, so retrieval is hybrid as in production, and
every colleague's skill package built."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.test.utils import override_settings

from colleagues.actions import link_login
from colleagues.models import Colleague
from knowledge.indexing import embed_chunks
from skills.actions import build_packages
from tests.skills.conftest import Demo, demo_company  # noqa: F401  (the module-scoped fixture)

TOM = "tom.becker@northwind.example"
SAMUEL = "samuel.osei@northwind.example"


@pytest.fixture(scope="module")
def northwind(demo_company: Demo, django_db_blocker: Any) -> Demo:  # noqa: F811
    """The demo company, embedded and with every package built (rolled back with the demo)."""
    with (
        django_db_blocker.unblock(),
        override_settings(COLLEAGUE_EMBEDDER="hashing", COLLEAGUE_INDEX_BACKEND="db"),
    ):
        assert embed_chunks() > 0
        outcomes = build_packages(Colleague.objects.order_by("name"))
    assert [o.error for o in outcomes if o.version is None] == []
    return demo_company


def login(username: str, email: str) -> AbstractUser:
    user = get_user_model().objects.create_user(username, email=email)
    link_login(colleague=Colleague.objects.get(email=email), user=user)
    return user


@pytest.fixture
def engineer(northwind: Demo) -> AbstractUser:
    """Tom, a platform engineer in no private channel: public channels, his DMs and mail."""
    return login("tom", TOM)


@pytest.fixture
def manager(northwind: Demo) -> AbstractUser:
    """Samuel, the payments manager: a member of #payments-incidents and #leadership."""
    return login("samuel", SAMUEL)
