"""Celery entry points for syncing sources: they take ids and call actions."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Task, shared_task
from django.utils import timezone

from connectors.errors import SourceUnavailableError
from connectors.models import Source, SyncRun

logger = logging.getLogger(__name__)

# A running sync whose heartbeat is older than this is considered dead.
STUCK_AFTER = timedelta(minutes=30)


@shared_task(bind=True, max_retries=5, default_retry_delay=60, acks_late=True)
def sync_source(self: Task, source_id: int) -> int | None:
    """Sync one active source; return the id of its run. Retries when the source is down."""
    from connectors.actions import run_sync

    source = Source.objects.filter(id=source_id, status=Source.Status.ACTIVE).first()
    if source is None:
        logger.info("Skipping sync of missing or paused source %s", source_id)
        return None
    try:
        return run_sync(source=source).pk
    except SourceUnavailableError as exc:
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc


@shared_task
def sync_due_sources() -> list[int]:
    """Fail runs that stopped sending heartbeats, then queue each scheduled source now due.

    Returns the ids of the sources queued.
    """
    now = timezone.now()
    stale = now - STUCK_AFTER
    stuck = SyncRun.objects.filter(status=SyncRun.Status.RUNNING, heartbeat_at__lt=stale)
    for run in stuck:
        logger.warning("Sync run %s stopped sending heartbeats; marking it failed", run.pk)
    stuck.update(
        status=SyncRun.Status.FAILED, error="the sync stopped (worker lost)", finished_at=now
    )
    running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).values("source_id")
    queued = []
    scheduled = Source.objects.filter(
        status=Source.Status.ACTIVE, sync_every__isnull=False
    ).exclude(id__in=running)
    for source in scheduled:
        assert source.sync_every is not None
        if source.last_synced_at is None or source.last_synced_at + source.sync_every <= now:
            sync_source.delay(source.pk)
            queued.append(source.pk)
    return queued
