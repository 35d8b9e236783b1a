"""config.memory: once a process has served its first request, what is alive is frozen out of
the collector's full passes, once."""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator

import pytest
from django.core.signals import request_finished
from django.test import Client

from answers.packages import package_index
from colleagues.models import Colleague
from config.memory import install
from skills.models import SkillPackage, SkillVersion

pytestmark = pytest.mark.django_db

UID = "config.memory.freeze_after_first_request"


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test session collects as before
    request_finished.disconnect(dispatch_uid=UID)


def test_the_first_request_freezes_what_is_alive_and_later_ones_do_not(
    client: Client, unfrozen: None
) -> None:
    install()
    assert gc.get_freeze_count() == 0
    client.get("/login/")
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # Django, the apps, the caches the request filled
    gc.unfreeze()
    client.get("/login/")
    assert gc.get_freeze_count() == 0  # it ran once: the receiver is gone


def test_the_server_entry_points_install_it() -> None:
    import config.wsgi

    request_finished.disconnect(dispatch_uid=UID)
    importlib.reload(config.wsgi)  # as a server process starts
    try:
        assert any(key[0] == UID for key, *_ in request_finished.receivers)
    finally:
        request_finished.disconnect(dispatch_uid=UID)


def test_the_package_index_is_frozen_when_outlines_are_read_and_only_then(
    unfrozen: None,
) -> None:
    """A process that serves no request (a command's batch, a worker) builds the package
    index too: its outlines are frozen as they are read, not at every question."""
    colleague = Colleague.objects.create(name="Dana Reyes", email="dana@acme.test", slug="dana")
    package = SkillPackage.objects.create(colleague=colleague)
    SkillVersion.objects.create(
        package=package,
        number=1,
        generator="test",
        analysis={"work": {"systems": [{"name": "Vault", "count": 2, "evidence": [1, 2]}]}},
        files={},
    )
    package_index()
    assert gc.get_freeze_count() > 1000
    gc.unfreeze()
    package_index()  # nothing new to read
    assert gc.get_freeze_count() == 0
