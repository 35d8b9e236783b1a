"""Shared fixtures. Service-backed tests run when their variable is set, and then must pass."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip service tests whose variable is unset; never skip when it is set."""
    needs = {
        "worker": "TEST_CELERY_BROKER_URL",
        "browser": "TEST_BROWSER",
        "imap": "TEST_DOVECOT",
    }
    for item in items:
        for marker, variable in needs.items():
            if item.get_closest_marker(marker) and not os.environ.get(variable):
                item.add_marker(pytest.mark.skip(reason=f"set {variable} to run {marker} tests"))


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Keep quarantined copies of each test in its own folder; hash passwords fast."""
    settings.COLLEAGUE_QUARANTINE_DIR = tmp_path / "quarantine"
    # Password hashing is deliberately slow; tests do not need that.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
