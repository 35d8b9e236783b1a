"""Celery entry points for syncing sources: they take ids and call actions."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.utils import timezone

from connectors.errors import ConnectorConfigError, SourceUnavailableError
from connectors.models import STUCK_AFTER, STUCK_ERROR, Source, SyncRun

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=5, default_retry_delay=60, acks_late=True)
def sync_source(self: Task, source_id: int) -> int | None:
    """Sync one active source; return the id of its run. Retries when the source is down."""
    from connectors.actions import SyncAlreadyRunning, run_sync

    source = Source.objects.filter(id=source_id, status=Source.Status.ACTIVE).first()
    if source is None:
        logger.info("Skipping sync of missing or paused source %s", source_id)
        return None
    try:
        return run_sync(source=source).pk
    except SyncAlreadyRunning:
        logger.info("Source %s is already syncing; this request is dropped", source_id)
        return None
    except SourceUnavailableError as exc:
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc
    except ConnectorConfigError:
        # Recorded on the failed run, shown on the source's page; retrying cannot help.
        logger.warning("Sync of source %s failed: its configuration is wrong", source_id)
        run = SyncRun.objects.filter(source_id=source_id).order_by("-id").first()
        return run.pk if run is not None else None


@shared_task
def sync_due_sources() -> list[int]:
    """Resume runs that stopped sending heartbeats, and queue each scheduled source now due.

    A stuck run is marked failed and its source queued again: it resumes from the checkpoint
    of its last stored batch. Returns the ids of the sources queued.
    """
    now = timezone.now()
    stuck = list(
        SyncRun.objects.filter(
            status=SyncRun.Status.RUNNING, heartbeat_at__lt=now - STUCK_AFTER
        ).select_related("source")
    )
    for run in stuck:
        logger.warning("Sync run %s stopped sending heartbeats; resuming its source", run.pk)
    SyncRun.objects.filter(pk__in=[run.pk for run in stuck]).update(
        status=SyncRun.Status.FAILED,
        error=STUCK_ERROR,
        finished_at=now,
    )
    running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).values("source_id")
    due = {run.source_id for run in stuck if run.source.status == Source.Status.ACTIVE}
    scheduled = Source.objects.filter(
        status=Source.Status.ACTIVE, sync_every__isnull=False
    ).exclude(id__in=running)
    for source in scheduled:
        assert source.sync_every is not None
        if source.last_synced_at is None or source.last_synced_at + source.sync_every <= now:
            due.add(source.pk)
    for source_id in sorted(due):
        sync_source.delay(source_id)
    return sorted(due)
