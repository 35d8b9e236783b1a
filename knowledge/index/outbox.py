"""The outbox between the database and an index outside it (Weaviate), and its reconciliation.

The database is the truth; an external index is a copy that must not drift from it:

1. `queue_index_changes` writes one `IndexOutbox` row per changed chunk **in the caller's
   transaction**, so a change and its promise to re-index commit or roll back together, and
   queues `flush_index_outbox` once the transaction commits.
2. `flush_outbox` drains the rows in batches, oldest and least-tried first. It syncs each chunk
   to the database's state *now*: a chunk still in the database is upserted, one that is gone
   is deleted, whatever operation the row recorded. Rows may therefore arrive late, twice or
   out of order and the index still converges. A failure bumps the row's `attempts` and keeps
   `last_error`; after `MAX_ATTEMPTS` a row is left for an operator (and for the next
   reconciliation, whose fresh row for the chunk clears it once that succeeds).
3. `reconcile_external_index` compares every chunk in the database (with a fingerprint of what
   would be indexed, vector included) with every copy in the index (the org collection and
   each tenant) and queues the fixes both ways: missing or stale copies are upserted, copies
   of chunks the database no longer has are deleted. Copies in a tenant where the chunk does
   not belong are removed on the spot (they are no database change).

With the default `db` backend the index lives inside the database and no row is written.

The model is re-exported by knowledge/models.py, which is where Django looks for it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from celery import Task, shared_task
from django.conf import settings
from django.db import models, transaction
from django.db.models import F

from knowledge.index.base import ChunkRecord

if TYPE_CHECKING:
    from knowledge.index.base import IndexBackend
    from knowledge.index.weaviate import IndexedCopy

logger = logging.getLogger(__name__)

# Rows tried this often are left for an operator instead of being retried.
MAX_ATTEMPTS = 8
FLUSH_BATCH = 200
# Batches per task run; the next commit or the next run picks up the rest.
FLUSH_MAX_BATCHES = 50
# Seconds before a flush that met failures runs again: doubled per attempt, capped at an hour.
RETRY_BASE_DELAY = 30
EXTERNAL_BACKENDS = frozenset({"weaviate"})

RecordLoader = Callable[[Sequence[int]], Mapping[int, ChunkRecord]]


class IndexOutbox(models.Model):
    """A chunk whose copy in the external index must be brought in line with the database."""

    class Operation(models.TextChoices):
        UPSERT = "upsert", "Upsert"
        DELETE = "delete", "Delete"

    # Not a foreign key: a delete must outlive its chunk.
    chunk_id = models.BigIntegerField(db_index=True)
    operation = models.CharField(max_length=8, choices=Operation.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        app_label = "knowledge"
        ordering = ["attempts", "id"]
        indexes = [models.Index(fields=["attempts", "id"], name="index_outbox_queue")]

    def __str__(self) -> str:
        return f"{self.operation} chunk {self.chunk_id}"


class ReconcilableIndex(Protocol):
    """What reconciliation needs from an external backend besides IndexBackend's writes."""

    def upsert(self, records: Sequence[ChunkRecord]) -> None: ...

    def delete(self, chunk_ids: Sequence[int]) -> None: ...

    def scan_copies(self) -> Iterator[IndexedCopy]: ...

    def expected_placements(self, record: ChunkRecord) -> frozenset[str]: ...

    def fingerprint(self, record: ChunkRecord) -> str: ...

    def remove_copies(self, placement: str, chunk_ids: Sequence[int]) -> None: ...


def uses_external_index() -> bool:
    return getattr(settings, "COLLEAGUE_INDEX_BACKEND", "db") in EXTERNAL_BACKENDS


def external_backend() -> ReconcilableIndex | None:
    """The configured index backend when it lives outside the database, else None."""
    if not uses_external_index():
        return None
    from knowledge.index import get_index

    backend = get_index()
    assert hasattr(backend, "scan_copies"), f"{backend.name} cannot be reconciled"
    return cast("ReconcilableIndex", backend)


# Writing rows.


def queue_index_changes(
    *, upserted: Iterable[int] = (), deleted: Iterable[int] = (), force: bool = False
) -> int:
    """Record that these chunks changed, inside the caller's transaction; flush after commit.

    Call it in the same `transaction.atomic()` block as the change itself. A no-op unless the
    configured backend is external (or `force`). Returns the number of rows written.
    """
    if not (force or uses_external_index()):
        return 0
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("queue_index_changes must run inside the change's transaction")
    rows = [
        IndexOutbox(chunk_id=chunk_id, operation=IndexOutbox.Operation.UPSERT)
        for chunk_id in sorted(set(upserted))
    ] + [
        IndexOutbox(chunk_id=chunk_id, operation=IndexOutbox.Operation.DELETE)
        for chunk_id in sorted(set(deleted))
    ]
    if rows:
        IndexOutbox.objects.bulk_create(rows, batch_size=1000)
        transaction.on_commit(flush_index_outbox.delay)
    return len(rows)


# Reading chunks as records.


def load_chunk_records(chunk_ids: Sequence[int]) -> dict[int, ChunkRecord]:
    """The index record of each chunk that still exists, by chunk id."""
    # Imported here: knowledge.models imports this module at its end, before knowledge.index
    # has finished importing.
    from knowledge.index import records_for

    return {record.chunk_id: record for record in records_for(list(chunk_ids))}


def iter_chunk_records(
    *, batch_size: int = 1000, load_records: RecordLoader = load_chunk_records
) -> Iterator[ChunkRecord]:
    """Every chunk in the database as a record, in id order, `batch_size` at a time."""
    from knowledge.models import Chunk

    after = 0
    while True:
        ids = list(
            Chunk.objects.filter(id__gt=after)
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return
        records = load_records(ids)
        yield from (records[i] for i in ids if i in records)
        after = ids[-1]


# Draining rows.


@dataclass
class FlushResult:
    synced: int = 0  # chunks brought in line with the database
    failed: int = 0  # chunks whose rows stay, with one more attempt counted
    max_attempts: int = 0  # the highest attempt count among the failed rows


def flush_outbox(
    *,
    backend: IndexBackend | ReconcilableIndex,
    load_records: RecordLoader = load_chunk_records,
    batch_size: int = FLUSH_BATCH,
    max_batches: int = FLUSH_MAX_BATCHES,
) -> FlushResult:
    """Sync the chunks of pending rows to the index, a batch at a time; stop at a failure.

    Rows of synced chunks are deleted, together with any rows of theirs already given up on.
    Concurrent flushes skip each other's rows (on PostgreSQL, `SKIP LOCKED`).
    """
    result = FlushResult()
    for _ in range(max_batches):
        with transaction.atomic():
            rows = list(
                IndexOutbox.objects.select_for_update(skip_locked=True)
                .filter(attempts__lt=MAX_ATTEMPTS)
                .order_by("attempts", "id")[:batch_size]
            )
            if not rows:
                break
            chunk_ids = sorted({row.chunk_id for row in rows})
            errors = _sync(backend, chunk_ids, load_records)
            synced = [i for i in chunk_ids if i not in errors]
            IndexOutbox.objects.filter(
                models.Q(pk__in=[row.pk for row in rows if row.chunk_id not in errors])
                | models.Q(chunk_id__in=synced, attempts__gte=MAX_ATTEMPTS)
            ).delete()
            for row in rows:
                if row.chunk_id in errors:
                    IndexOutbox.objects.filter(pk=row.pk).update(
                        attempts=F("attempts") + 1, last_error=errors[row.chunk_id][:2000]
                    )
                    result.max_attempts = max(result.max_attempts, row.attempts + 1)
        result.synced += len(synced)
        result.failed += len(errors)
        if errors:
            break
    return result


def _sync(
    backend: IndexBackend | ReconcilableIndex, chunk_ids: Sequence[int], load: RecordLoader
) -> dict[int, str]:
    """Bring these chunks in line with the database; the error of each that failed."""
    try:
        _write(backend, chunk_ids, load)
        return {}
    except Exception as exc:
        failed: Any = getattr(exc, "failed", None)
        if not isinstance(failed, dict) or not failed or len(chunk_ids) == 1:
            # The index or the network failed as a whole: every chunk waits for the next try.
            logger.warning("Index outbox: %d chunks not synced: %s", len(chunk_ids), exc)
            return dict.fromkeys(chunk_ids, f"{type(exc).__name__}: {exc}")
    # The index refused some objects: sync one by one, so one bad chunk holds up no other.
    errors: dict[int, str] = {}
    for chunk_id in chunk_ids:
        try:
            _write(backend, [chunk_id], load)
        except Exception as exc:
            logger.warning("Index outbox: chunk %s not synced: %s", chunk_id, exc)
            errors[chunk_id] = f"{type(exc).__name__}: {exc}"
    return errors


def _write(
    backend: IndexBackend | ReconcilableIndex, chunk_ids: Sequence[int], load: RecordLoader
) -> None:
    records = load(chunk_ids)
    if records:
        backend.upsert(list(records.values()))
    gone = [i for i in chunk_ids if i not in records]
    if gone:
        backend.delete(gone)


@shared_task(bind=True, name="knowledge.flush_index_outbox", acks_late=True)
def flush_index_outbox(self: Task[Any, Any]) -> int:
    """Drain the outbox into the external index; run again later while rows keep failing.

    The rows bound the retries: once each failing row reaches MAX_ATTEMPTS it is no longer
    tried, and no further run is scheduled for it.
    """
    backend = external_backend()
    if backend is None:
        return 0
    result = flush_outbox(backend=backend)
    if result.failed and not self.request.is_eager:
        delay = min(3600, RETRY_BASE_DELAY * 2 ** max(0, result.max_attempts - 1))
        flush_index_outbox.apply_async(countdown=delay)
    return result.synced


# Reconciliation.


@dataclass
class ReconcileResult:
    chunks: int = 0  # chunks in the database
    copies: int = 0  # copies in the index (org collection and tenants)
    queued_upserts: int = 0
    queued_deletes: int = 0
    strays_removed: int = 0


def reconcile_external_index(
    *,
    backend: ReconcilableIndex | None = None,
    load_records: RecordLoader = load_chunk_records,
    batch_size: int = 1000,
) -> ReconcileResult:
    """Compare the database with the external index and queue what brings them together.

    Holds one fingerprint per chunk in memory (about 100 bytes each: 100 MB per million).
    Queued rows are flushed after commit like any other change.
    """
    result = ReconcileResult()
    backend = backend or external_backend()
    if backend is None:
        return result
    expected: dict[int, tuple[str, frozenset[str]]] = {}
    for record in iter_chunk_records(batch_size=batch_size, load_records=load_records):
        expected[record.chunk_id] = (
            backend.fingerprint(record),
            backend.expected_placements(record),
        )
    result.chunks = len(expected)
    seen: dict[int, set[str]] = defaultdict(set)
    upserts: set[int] = set()
    deletes: set[int] = set()
    strays: dict[str, list[int]] = defaultdict(list)
    for copy in backend.scan_copies():
        result.copies += 1
        wanted = expected.get(copy.chunk_id)
        if wanted is None:
            deletes.add(copy.chunk_id)
            continue
        fingerprint, placements = wanted
        if copy.placement not in placements:
            strays[copy.placement].append(copy.chunk_id)
            continue
        seen[copy.chunk_id].add(copy.placement)
        if copy.fingerprint != fingerprint:
            upserts.add(copy.chunk_id)
    for chunk_id, (_, placements) in expected.items():
        if not placements <= seen.get(chunk_id, set()):
            upserts.add(chunk_id)
    for placement, chunk_ids in strays.items():
        backend.remove_copies(placement, chunk_ids)
        result.strays_removed += len(chunk_ids)
    with transaction.atomic():
        queue_index_changes(upserted=upserts, deleted=deletes, force=True)
    result.queued_upserts = len(upserts)
    result.queued_deletes = len(deletes)
    logger.info("Index reconciliation: %s", result)
    return result


@shared_task(name="knowledge.reconcile_external_index", acks_late=True)
def reconcile_index() -> dict[str, int]:
    """Reconcile the configured external index with the database (a no-op with `db`)."""
    result = reconcile_external_index()
    return asdict(result)
