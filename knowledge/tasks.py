"""Celery entry points for the knowledge index: they take ids and call knowledge.indexing."""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import Task, shared_task

from knowledge.embeddings import EmbeddingServiceError

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=5, default_retry_delay=60, acks_late=True)
def embed_chunks(self: Task, chunk_ids: list[int]) -> int:
    """Embed the pending chunks among `chunk_ids` and index them; return how many."""
    from knowledge.indexing import embed_chunks as embed

    return _retrying(self, lambda: embed(chunk_ids=chunk_ids))


@shared_task(bind=True, max_retries=5, default_retry_delay=60, acks_late=True)
def embed_pending_chunks(self: Task, source_id: int | None = None) -> int:
    """Embed every pending chunk of one source (None: of all sources); queued after each
    ingested batch. Return how many were embedded."""
    from knowledge.indexing import embed_chunks as embed

    return _retrying(self, lambda: embed(source_id=source_id))


@shared_task(acks_late=True)
def repair_index() -> dict[str, object]:
    """Verify the index and repair what is pending, stale, missing or orphaned."""
    from knowledge.indexing import rebuild_index, verify_index

    report = verify_index()
    if not report.ok:
        result = rebuild_index(report)
        logger.info(
            "Index repaired: %s embedded, %s upserted, %s deleted",
            result.embedded,
            result.upserted,
            result.deleted,
        )
    return report.as_json()


def _retrying(task: Task, run: Callable[[], int]) -> int:
    try:
        done = run()
    except EmbeddingServiceError as exc:
        if task.request.is_eager:
            # Inline (no broker): the ingest that queued this has committed and must not fail;
            # the chunks stay pending for the next batch or the hourly repair.
            logger.warning("Embedding failed, chunks stay pending: %s", exc)
            return 0
        raise task.retry(exc=exc, countdown=60 * 2**task.request.retries) from exc
    return done


@shared_task(acks_late=True)
def purge_expired_items() -> dict[str, object]:
    """Delete expired items no legal hold covers, with what derives from them (retention);
    then run again the erasures that were waiting for holds to end."""
    from knowledge.erasure import resume_held_erasures
    from knowledge.retention.purge import purge_expired

    report = purge_expired().as_json()
    report["erasures_resumed"] = resume_held_erasures()
    return report


@shared_task(acks_late=True)
def run_erasure_request(request_id: int, actor_id: int | None = None) -> dict[str, object]:
    """Run an approved erasure request (knowledge.erasure); its certificate."""
    from django.contrib.auth import get_user_model

    from knowledge.erasure import run_erasure
    from knowledge.models import ErasureRequest

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    request = run_erasure(ErasureRequest.objects.get(pk=request_id), actor=actor)
    return dict(request.certificate)
