"""Celery entry point of the directory sync, queued by beat (config/settings.py, LDAP block)."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from connectors.errors import SourceUnavailableError


@shared_task(bind=True, max_retries=3, default_retry_delay=60, acks_late=True)
def sync_directory(self: Task, full: bool = False) -> dict[str, Any]:
    """Sync the directory (incremental unless `full` or a full pass is due); return the
    summary. Retries when the server cannot be reached."""
    from connectors.directory.actions import sync_directory as run

    try:
        return run(full=full).summary()
    except SourceUnavailableError as exc:
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc
