"""Writes of the knowledge index: embedding chunks, storing their vectors, verify and rebuild.

Vectors live on the Chunk rows, int8-quantised (knowledge.models.Chunk), whatever the index
backend: they are the source the other backends are rebuilt from. A chunk is *pending* while it
has no vector, or one made by another embedder than `COLLEAGUE_EMBEDDER`'s: changing the
embedder makes every chunk pending again, and `embed_chunks` / `rebuild_index` catch up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.db.models.functions import Now, Substr
from django.db.models.sql import Query

from knowledge.chunking import MAX_CONTEXT_CHARS, embedding_input, shorten
from knowledge.embeddings import Embedder, get_embedder
from knowledge.index import get_index, records_for
from knowledge.index.base import IndexBackend
from knowledge.models import Chunk, Item

logger = logging.getLogger(__name__)

#: Chunks embedded and written per transaction.
EMBED_BATCH = 1024
#: Ids listed in a verify report's JSON per kind of problem (the counts are complete).
REPORT_SAMPLE = 100

Progress = Callable[[int, int], None]  # (done, total)


# Quantisation: symmetric int8 per vector. Cosine between a query and a quantised unit vector
# moves by well under 0.01, far below the gap between neighbours that matter to a ranking.


def quantise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (int8 rows, float32 scales) with rows * scale ≈ vectors; zero rows scale 0."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"expected a matrix of vectors, got shape {vectors.shape}")
    peaks = np.abs(vectors).max(axis=1) if vectors.shape[1] else np.zeros(len(vectors))
    scales = (peaks / 127.0).astype(np.float32)
    safe = np.where(scales > 0, scales, 1.0).astype(np.float32)
    rows = np.clip(np.rint(vectors / safe[:, None]), -127, 127).astype(np.int8)
    return rows, scales


def dequantise(data: bytes, scale: float) -> np.ndarray:
    """The float32 vector of a stored embedding."""
    return np.frombuffer(data, dtype=np.int8).astype(np.float32) * np.float32(scale)


def pending(embedder_name: str, *, using: str = DEFAULT_DB_ALIAS) -> QuerySet[Chunk]:
    """Chunks with no vector, or one made by another embedder."""
    return Chunk.objects.using(using).filter(Q(embedding__isnull=True) | ~Q(embedder=embedder_name))


def store_vectors(
    vectors: Mapping[int, np.ndarray],
    *,
    embedder_name: str,
    using: str = DEFAULT_DB_ALIAS,
) -> None:
    """Store `vectors` (chunk id -> unit float32 vector) on their chunks; missing ids are skipped.

    Each is stamped with the embedder's name, its dimension and the database's clock, which the
    db backend's cache follows to load new vectors.
    """
    if not vectors:
        return
    ids = list(vectors)
    rows, scales = quantise(np.stack([vectors[i] for i in ids]))
    dimension = rows.shape[1]
    # One prepared UPDATE per chunk through executemany: bulk_update's CASE WHEN per column
    # cost as much as embedding the chunks (2.2 s for 2,000 chunks, against 0.1 s).
    connection = connections[using]
    now, _ = Query(Chunk).get_compiler(connection=connection).compile(Now())
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(Chunk._meta.db_table)} SET {quote('embedding')} = %s,"  # noqa: S608
        f" {quote('embedding_scale')} = %s, {quote('embedder')} = %s,"
        f" {quote('dimension')} = %s, {quote('embedded_at')} = {now} WHERE {quote('id')} = %s"
    )
    params = [
        (rows[n].tobytes(), float(scales[n]), embedder_name, dimension, chunk_id)
        for n, chunk_id in enumerate(ids)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def clear_vectors(chunk_ids: Iterable[int], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Make these chunks pending again; unknown ids are ignored."""
    ids = list(chunk_ids)
    for start in range(0, len(ids), 5000):
        Chunk.objects.using(using).filter(id__in=ids[start : start + 5000]).update(
            embedding=None, embedding_scale=None, embedder="", dimension=None, embedded_at=None
        )


def reembed_replies_to(item_ids: Sequence[int], *, using: str = DEFAULT_DB_ALIAS) -> list[int]:
    """Call before deleting or changing these items, or after storing them when they begin
    threads: the chunks of the replies in Slack threads that one of them began lose their
    vectors, made with its words as the question (or without it, before it was stored), and
    are embedded again once the caller's transaction commits, with the question as it is then
    (none when the message is gone); return those chunks' ids.

    So no vector keeps words of a deleted, redacted or erased message. Replies among `item_ids`
    are left out: they go or change too. With `COLLEAGUE_EMBED_ON_INGEST` off they stay
    pending, like new chunks, until `manage.py index` or the index repair embeds them.
    """
    threads: dict[int, list[str]] = {}  # source id -> external ids of the deleted first messages
    first_messages = Item.objects.using(using).filter(id__in=item_ids, kind=Item.Kind.MESSAGE)
    for source_id, external_id in first_messages.values_list("source_id", "external_id"):
        threads.setdefault(source_id, []).append(external_id)
    chunk_ids: list[int] = []
    for source_id, keys in threads.items():
        replies = Chunk.objects.using(using).filter(
            item__source_id=source_id, item__thread_key__in=keys
        )
        chunk_ids.extend(replies.exclude(item_id__in=item_ids).values_list("id", flat=True))
    clear_vectors(chunk_ids, using=using)
    if chunk_ids and settings.COLLEAGUE_EMBED_ON_INGEST:
        from knowledge import tasks

        transaction.on_commit(lambda: tasks.embed_chunks.delay(chunk_ids), using=using, robust=True)
    return chunk_ids


def embed_chunks(
    *,
    chunk_ids: Sequence[int] | None = None,
    source_id: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Embed the pending chunks among `chunk_ids`, or those of one source without a vector, or
    every pending chunk; return how many.

    Vectors are computed outside any transaction, then stored on the chunks and upserted to the
    configured index backend. Chunks deleted meanwhile are skipped; already-embedded ones are
    left alone, so a repeated call does nothing. Raises EmbeddingError when the embedder fails;
    what was stored before stays stored.
    """
    embedder = get_embedder()
    index = get_index()
    if source_id is not None:
        # After an ingested batch: its new chunks have no vector yet. Only those, through the
        # small partial index of chunks without one; stale vectors are the repair's work.
        queryset = Chunk.objects.filter(embedding__isnull=True, item__source_id=source_id)
    else:
        queryset = pending(embedder.name)
    done = 0
    if chunk_ids is not None:
        ids = sorted(set(chunk_ids))
        total = len(ids)
        for start in range(0, len(ids), EMBED_BATCH):
            wanted = queryset.filter(id__in=ids[start : start + EMBED_BATCH])
            done += _embed(_embedding_inputs(wanted), embedder, index)
            if progress is not None:
                progress(min(start + EMBED_BATCH, total), total)
        return done
    total = queryset.count() if progress is not None else 0
    after = 0
    while True:
        rows = _embedding_inputs(queryset.filter(id__gt=after).order_by("id")[:EMBED_BATCH])
        if not rows:
            return done
        after = rows[-1][0]
        done += _embed(rows, embedder, index)
        if progress is not None:
            progress(done, max(total, done))


def _embedding_inputs(chunks: QuerySet[Chunk]) -> list[tuple[int, str]]:
    """(chunk id, what to embed) of `chunks`: the text after its context and, for a reply in a
    Slack thread, after the question the thread began with.

    The question is read from the thread's first message as it is now: a reply whose thread
    began before what was ingested, or whose first message is gone, is embedded without it.
    """
    rows = list(
        chunks.values_list(
            "id",
            "text",
            "context",
            "item__kind",
            "item__source_id",
            "item__thread_key",
            "item__external_id",
        )
    )
    replies = {
        chunk_id
        for chunk_id, _, _, kind, _, thread_key, external_id in rows
        if kind == Item.Kind.MESSAGE and thread_key and thread_key != external_id
    }
    wanted: dict[int, set[str]] = {}  # source id -> external ids of threads' first messages
    for chunk_id, _, _, _, source_id, thread_key, _ in rows:
        if chunk_id in replies:
            wanted.setdefault(source_id, set()).add(thread_key)
    questions: dict[tuple[int, str], str] = {}
    for source_id, keys in wanted.items():
        first_messages = Item.objects.filter(
            source_id=source_id, external_id__in=keys, kind=Item.Kind.MESSAGE
        ).values_list("external_id", Substr("body", 1, 4 * MAX_CONTEXT_CHARS))
        for external_id, body in first_messages:
            questions[source_id, external_id] = shorten(body)
    return [
        (
            chunk_id,
            embedding_input(
                text,
                context,
                questions.get((source_id, thread_key), "") if chunk_id in replies else "",
            ),
        )
        for chunk_id, text, context, _, source_id, thread_key, _ in rows
    ]


def _embed(rows: list[tuple[int, str]], embedder: Embedder, index: IndexBackend) -> int:
    if not rows:
        return 0
    from knowledge.index.outbox import queue_index_changes

    vectors = embedder.embed([text for _, text in rows])
    ids = [chunk_id for chunk_id, _ in rows]
    with transaction.atomic():
        store_vectors(dict(zip(ids, vectors, strict=True)), embedder_name=embedder.name)
        # Weaviate: an outbox row per chunk in this transaction, flushed once it commits.
        queued = queue_index_changes(upserted=ids)
    # The db backend is the Chunk table: storing the vectors was its upsert.
    if index.name != "db" and not queued:
        index.upsert(records_for(ids, embedder_name=embedder.name))
    return len(rows)


# Verify and rebuild.


@dataclass
class IndexReport:
    """What `verify_index` found: chunks the index lacks, and index entries with no chunk."""

    backend: str
    embedder: str
    chunks: int = 0
    indexed: int = 0
    pending: list[int] = field(default_factory=list)  # no vector yet
    stale: list[int] = field(default_factory=list)  # a vector of another embedder
    missing: list[int] = field(default_factory=list)  # a current vector the index lacks
    orphans: list[int] = field(default_factory=list)  # in the index, no such chunk

    @property
    def ok(self) -> bool:
        return not (self.pending or self.stale or self.missing or self.orphans)

    def as_json(self) -> dict[str, object]:
        problems = {
            "pending": self.pending,
            "stale": self.stale,
            "missing": self.missing,
            "orphans": self.orphans,
        }
        return {
            "backend": self.backend,
            "embedder": self.embedder,
            "ok": self.ok,
            "chunks": self.chunks,
            "indexed": self.indexed,
            **{name: len(ids) for name, ids in problems.items()},
            "sample": {name: ids[:REPORT_SAMPLE] for name, ids in problems.items()},
        }


def verify_index(*, index: IndexBackend | None = None) -> IndexReport:
    """Compare the chunks with the index: pending and stale vectors, missing and orphan entries."""
    index = index or get_index()
    name = get_embedder().name
    report = IndexReport(backend=index.name, embedder=name)
    chunk_ids: list[int] = []
    current: list[int] = []
    rows = (
        Chunk.objects.order_by("id")
        .annotate(no_vector=ExpressionWrapper(Q(embedding__isnull=True), BooleanField()))
        .values_list("id", "embedder", "no_vector")
    )
    for chunk_id, embedder, no_vector in rows.iterator(chunk_size=10_000):
        chunk_ids.append(chunk_id)
        if no_vector:
            report.pending.append(chunk_id)
        elif embedder != name:
            report.stale.append(chunk_id)
        else:
            current.append(chunk_id)
    indexed = np.fromiter(index.indexed_ids(), dtype=np.int64)
    report.chunks = len(chunk_ids)
    report.indexed = len(indexed)
    all_ids = np.asarray(chunk_ids, dtype=np.int64)
    report.missing = np.setdiff1d(np.asarray(current, dtype=np.int64), indexed).tolist()
    report.orphans = np.setdiff1d(indexed, all_ids).tolist()
    return report


@dataclass
class RebuildResult:
    embedded: int = 0
    upserted: int = 0
    deleted: int = 0


def rebuild_index(report: IndexReport, *, progress: Progress | None = None) -> RebuildResult:
    """Repair what `report` found: embed pending and stale chunks, upsert missing ones, delete
    orphans. Safe to repeat and to interrupt."""
    index = get_index()
    result = RebuildResult()
    todo = report.pending + report.stale
    total = len(todo) + len(report.missing) + len(report.orphans)
    if todo:
        result.embedded = embed_chunks(
            chunk_ids=todo,
            progress=(lambda done, _: progress(done, total)) if progress else None,
        )
    for start in range(0, len(report.missing), EMBED_BATCH):
        records = records_for(report.missing[start : start + EMBED_BATCH])
        index.upsert(records)
        result.upserted += len(records)
        if progress is not None:
            progress(len(todo) + start + len(records), total)
    if report.orphans:
        for start in range(0, len(report.orphans), 5000):
            index.delete(report.orphans[start : start + 5000])
        result.deleted = len(report.orphans)
        if progress is not None:
            progress(total, total)
    return result
