"""config.memory: once a process has served its first request, what is alive is frozen out of
the collector's full passes, once."""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator

import pytest
from django.core.signals import request_finished
from django.test import Client

from config.memory import install

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
