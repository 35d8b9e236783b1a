"""Let transactional tests empty the database on PostgreSQL, where the audit trail refuses
UPDATE, DELETE and TRUNCATE (knowledge/migrations/0011_audit_append_only.py).

pytest-django ends a transactional test with Django's `flush`, which TRUNCATEs every table.
Before it does, this empties the audit tables through the documented maintenance path (the
tables' owner, `SET LOCAL colleague.audit_maintenance = 'on'`); TRUNCATE of an empty audit
table is allowed. Tests wrapped in a rolled-back transaction need nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

TRANSACTIONAL_FIXTURES = {"transactional_db", "live_server", "django_db_reset_sequences"}


def _transactional(request: pytest.FixtureRequest) -> bool:
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and (
        marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")
    ):
        return True
    return bool(TRANSACTIONAL_FIXTURES & set(request.fixturenames))


def empty_audit_trail() -> None:
    """Delete every audit event and the chain head, as the owner in maintenance mode."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL colleague.audit_maintenance = 'on'")
        cursor.execute("DELETE FROM knowledge_auditevent")
        cursor.execute("DELETE FROM knowledge_auditchainhead")


@pytest.fixture(autouse=True)
def _audit_trail_emptied_before_flush(request: pytest.FixtureRequest) -> Iterator[None]:
    from django.db import connection

    if connection.vendor != "postgresql" or not _transactional(request):
        yield
        return
    # Set up the database first, so that it is flushed after this fixture's teardown.
    request.getfixturevalue("transactional_db")
    yield
    empty_audit_trail()
