"""Shared fixtures. Service-backed tests run when their variable is set, and then must pass."""

from __future__ import annotations

import os

import pytest

# On PostgreSQL, empty the append-only audit trail before a transactional test's flush.
from tests.audit_maintenance import _audit_trail_emptied_before_flush  # noqa: F401

# A browser page on the live server (the `browser` group), for any test module.
from tests.browser import console_errors_fixture, page_fixture  # noqa: F401

# The llama.cpp server of the `llm` group, for any test module (started only when used).
from tests.llm_server import llm_model_path_fixture, llm_server_fixture  # noqa: F401


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip service tests whose variable is unset; never skip when it is set."""
    needs = {
        "worker": "TEST_CELERY_BROKER_URL",
        "browser": "TEST_BROWSER",
        "imap": "TEST_DOVECOT",
        "weaviate": "WEAVIATE_URL",
        "pgvector": "TEST_PGVECTOR",
        "llm": "TEST_LLM_MODEL",
        "ldap": "TEST_SLAPD",
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


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with an empty cache: no failed-login counters (config/security.py)
    or other state left by an earlier test."""
    from django.core.cache import caches

    caches["default"].clear()


@pytest.fixture(autouse=True)
def _test_index(request, settings) -> None:  # type: ignore[no-untyped-def]
    """Tests that touch the database embed with the fast hashing embedder (ingest embeds on
    commit) and index with the db backend, from an empty in-memory cache. Tests without a
    database keep the real defaults (tests/knowledge/test_embeddings.py checks them)."""
    from knowledge.index.db import reset_caches

    reset_caches()
    uses_db = request.node.get_closest_marker("django_db") or any(
        name in request.fixturenames for name in ("db", "transactional_db")
    )
    if uses_db:
        settings.COLLEAGUE_EMBEDDER = "hashing"
        settings.COLLEAGUE_INDEX_BACKEND = "db"
        settings.COLLEAGUE_INDEX_DB_REFRESH_SECONDS = 0
