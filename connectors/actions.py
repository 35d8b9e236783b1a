"""Writes about sources: configuring them and running their syncs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.detection import detect_kind
from connectors.errors import ConnectorConfigError
from connectors.models import Source, SyncRun
from connectors.registry import connector_class

logger = logging.getLogger(__name__)


@transaction.atomic
def create_source(*, name: str, kind: str, config: Mapping[str, Any]) -> Source:
    """Create a source after checking its connector accepts the config."""
    connector_class(kind)(config=config, credentials={}).validate()
    if Source.objects.filter(name=name).exists():
        raise ConnectorConfigError(f"a source named {name!r} already exists")
    return Source.objects.create(name=name, kind=kind, config=dict(config))


@transaction.atomic
def source_for_path(
    path: Path, *, kind: str | None = None, name: str | None = None, **config: Any
) -> Source:
    """Return the source reading `path`, creating or re-pointing it.

    Named sources keep their checkpoint when pointed at a newer copy of the same data (a new
    Slack export of the same workspace), so only what changed is stored.
    """
    path = path.expanduser().resolve()
    kind = kind or detect_kind(path)
    name = name or str(path)
    wanted = {"path": str(path), **{k: v for k, v in config.items() if v is not None}}
    source = Source.objects.select_for_update().filter(name=name).first()
    if source is None:
        return create_source(name=name[:200], kind=kind, config=wanted)
    if source.kind != kind:
        raise ConnectorConfigError(f"source {name!r} reads {source.kind}, not {kind}")
    if source.config != {**source.config, **wanted}:
        connector_class(kind)(config={**source.config, **wanted}, credentials={}).validate()
        source.config = {**source.config, **wanted}
        source.save(update_fields=["config"])
    return source


@dataclass(frozen=True)
class SyncProgress:
    run: SyncRun
    items_per_second: float


ProgressCallback = Callable[[SyncProgress], None]


def run_sync(*, source: Source, on_progress: ProgressCallback | None = None) -> SyncRun:
    """Fetch everything new at `source` and store it batch by batch; return the finished run.

    Each batch is stored with its checkpoint in one transaction, so a crash resumes after the
    last stored batch. A failure marks the run failed with its error and is raised again.
    """
    from knowledge.actions import ingest_batch

    now = timezone.now()
    run = SyncRun.objects.create(
        source=source, status=SyncRun.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    started = time.monotonic()
    colleague_ids: set[int] = set()
    try:
        connector = connector_class(source.kind)(config=source.config, credentials={})
        connector.validate()
        for batch in connector.fetch(cursor=source.checkpoint or None):
            result = ingest_batch(source=source, batch=batch, run=run)
            colleague_ids |= result.colleague_ids
            run.items_created += result.created
            run.items_updated += result.updated
            run.items_unchanged += result.unchanged
            run.files_quarantined += result.quarantined
            run.colleagues = len(colleague_ids)
            if batch.documents:
                run.current_container = (batch.documents[-1].container_id or "")[:300]
            run.heartbeat_at = timezone.now()
            run.save(
                update_fields=[
                    "items_created",
                    "items_updated",
                    "items_unchanged",
                    "files_quarantined",
                    "colleagues",
                    "current_container",
                    "heartbeat_at",
                ]
            )
            if on_progress is not None:
                elapsed = max(time.monotonic() - started, 1e-6)
                on_progress(SyncProgress(run=run, items_per_second=run.items_stored / elapsed))
    except Exception as exc:
        run.status = SyncRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:5000]
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        logger.exception("Sync of source %s failed", source.pk)
        raise
    run.status = SyncRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    source.last_synced_at = run.finished_at
    source.save(update_fields=["last_synced_at"])
    return run
