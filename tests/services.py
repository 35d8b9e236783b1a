"""Helpers for tests that run real services: their URLs, and the live test database."""

from __future__ import annotations

import os
from urllib.parse import quote

from django.db import connection


def required_env(name: str) -> str:
    """The value of a service variable; the test fails (not skips) if the fixture asks for it
    and it is empty."""
    value = os.environ.get(name, "")
    assert value, f"{name} must be set for this test"
    return value


def live_database_url() -> str:
    """A DATABASE_URL pointing at the database this test run uses, for a child process."""
    conf = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{conf['NAME']}"
    if connection.vendor == "postgresql":
        user = quote(conf.get("USER") or "")
        password = f":{quote(conf['PASSWORD'])}" if conf.get("PASSWORD") else ""
        auth = f"{user}{password}@" if user else ""
        host = conf.get("HOST") or "127.0.0.1"
        port = conf.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{conf['NAME']}"
    raise AssertionError(f"no URL for database vendor {connection.vendor}")
