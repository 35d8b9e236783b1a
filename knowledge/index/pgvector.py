"""The pgvector backend: the index in its own PostgreSQL table, searched by HNSW and full text.

The table (``colleague_chunks`` by default) lives in the database at ``PGVECTOR_URL``, which may
be the Django database or another one. It is created on first use: ``CREATE EXTENSION vector``
when the extension is missing (that needs a role allowed to create it; an administrator can run
it once instead), then the table and its indexes, all idempotent and serialised by an advisory
lock so two workers starting together do not race.

The embedding column starts untyped; the first vectors written (or the `dimension` the backend
was built with) fix it to ``vector(N)`` and create the HNSW index (``vector_cosine_ops``). From
then on every vector written or searched is checked against N: vectors of another embedder
raise `IndexDimensionError` instead of being compared with the wrong ones.

Keyword side: a stored ``tsvector`` column (``english``) with a GIN index, queried with any word
of the query matching, ranked by ``ts_rank_cd``, as the db backend does on PostgreSQL.

Vector side: the visibility filter is in the WHERE clause (``principals && reader``, GIN
indexed), so the planner either measures the few visible rows exactly (what it picks for a reader
who sees about 1% of the chunks) or walks the HNSW graph. A plain filtered walk returns fewer
than `limit` rows when most of its ``ef_search`` candidates are hidden; pgvector 0.8's iterative
scan (``relaxed_order``) keeps walking until `limit` visible rows are found. When the walk still
comes back short (fewer than `limit` visible chunks, or a capped walk whose candidates are
mostly hidden) the query is repeated exactly, so a reader who can see `limit` chunks gets them.
A walk capped by ``hnsw.max_scan_tuples`` hands back the candidates it has met, a full list but
a worse one, which no fallback can see: keep `max_scan_tuples` well above the number of chunks a
narrow reader's walk needs (docs: https://github.com/pgvector/pgvector#iterative-index-scans).

For a bulk load (a first backfill, a reindex) drop the ``<table>_embedding`` index first: rows
then go in without graph inserts, and the next connection a backend opens rebuilds the index
in one pass, several times faster (raise ``maintenance_work_mem`` so the graph fits).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pgvector.psycopg import register_vector
from psycopg import sql

from knowledge.index.base import ChunkHit, ChunkRecord, Filters, IndexBackend, Scope
from knowledge.search import query_terms

# The text search configuration of the db backend (knowledge/migrations/0002_keyword_index.py).
TEXT_SEARCH_CONFIG = "english"
_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,40}")
_IDS_PAGE = 10_000
# HNSW graph: neighbours per node and candidate list while building. pgvector's defaults are
# 16 and 64; 24 lifts filtered recall on hard (random, 256-dimensional) vectors from 0.95 to
# 0.98 for 20% more build time (tests/knowledge/index/test_pgvector_backend.py).
HNSW_M = 24
HNSW_EF_CONSTRUCTION = 64


class IndexDimensionError(ValueError):
    """A vector's dimension differs from the one the index holds (another embedder's)."""


class PgvectorIndexBackend(IndexBackend):
    """Chunks in a PostgreSQL table with an HNSW index on their vectors.

    One connection per backend (and per process: a forked worker opens its own), used by one
    thread at a time. `ef_search` is the HNSW candidate list per step (raised to `limit` when
    smaller); `max_scan_tuples` bounds an iterative scan before the exact fallback.
    """

    name = "pgvector"

    def __init__(
        self,
        *,
        url: str | None = None,
        table: str = "colleague_chunks",
        dimension: int | None = None,
        ef_search: int = 100,
        max_scan_tuples: int = 20_000,
    ) -> None:
        self.url = url if url is not None else settings.PGVECTOR_URL
        if not self.url:
            raise ImproperlyConfigured("The pgvector index backend needs PGVECTOR_URL.")
        if not _TABLE_NAME.fullmatch(table):
            raise ImproperlyConfigured(f"Not a plain table name: {table!r}")
        if dimension is not None and dimension <= 0:
            raise ImproperlyConfigured(f"Vector dimension must be positive, not {dimension}")
        self.table = table
        self.ef_search = ef_search
        self.max_scan_tuples = max_scan_tuples
        self._wanted_dimension = dimension
        self._dimension: int | None = None  # of the embedding column, once it is typed
        self._connection: psycopg.Connection[Any] | None = None
        self._pid = 0
        self._lock = threading.RLock()
        self._sql = _Statements(table)

    # Writes.

    def upsert(self, records: Sequence[ChunkRecord]) -> None:
        if not records:
            return
        vectors = [_as_vector(r.vector) for r in records]
        dimensions = {len(v) for v in vectors if v is not None}
        if len(dimensions) > 1:
            raise IndexDimensionError(f"One batch holds vectors of sizes {sorted(dimensions)}")
        rows = [
            (
                r.chunk_id,
                r.item_id,
                # PostgreSQL text cannot hold NUL; it carries no words anyway.
                r.text.replace("\x00", ""),
                vector,
                list(r.principals),
                r.colleague_id,
                r.source_id,
                r.kind,
                r.created_at,
            )
            for r, vector in zip(records, vectors, strict=True)
        ]
        with self._lock:
            connection = self._connect()
            if dimensions:
                self._check_dimension(connection, dimensions.pop())
            with connection.transaction(), connection.cursor() as cursor:
                cursor.executemany(self._sql.upsert, rows)

    def delete(self, chunk_ids: Sequence[int]) -> None:
        if not chunk_ids:
            return
        with self._lock:
            self._connect().execute(self._sql.delete, [list(chunk_ids)])

    # Reads.

    def keyword_search(
        self, query: str, *, scope: Scope, filters: Filters, limit: int
    ) -> list[ChunkHit]:
        terms = query_terms(query)
        if not terms or limit <= 0 or _sees_nothing(scope):
            return []
        where, params = _conditions(scope, filters)
        tsquery = sql.SQL(" || ").join(
            [sql.SQL("plainto_tsquery({}, %s)").format(TEXT_SEARCH_CONFIG)] * len(terms)
        )
        statement = sql.SQL(
            "SELECT chunk_id, item_id, ts_rank_cd(tsv, q.query) AS score"
            " FROM {table}, (SELECT {tsquery} AS query) AS q"
            " WHERE tsv @@ q.query{where} ORDER BY score DESC, chunk_id LIMIT %s"
        ).format(table=sql.Identifier(self.table), tsquery=tsquery, where=where)
        with self._lock:
            rows = self._connect().execute(statement, [*terms, *params, limit]).fetchall()
        return [ChunkHit(chunk_id=r[0], item_id=r[1], score=float(r[2])) for r in rows]

    def vector_search(
        self, vector: np.ndarray, *, scope: Scope, filters: Filters, limit: int
    ) -> list[ChunkHit]:
        query = _as_vector(vector)
        if query is None or limit <= 0 or _sees_nothing(scope):
            return []
        where, params = _conditions(scope, filters)
        table = sql.Identifier(self.table)
        nearest = sql.SQL(
            "WITH nearest AS MATERIALIZED ("
            " SELECT chunk_id, item_id, embedding <=> %s AS distance FROM {table}"
            " WHERE embedding IS NOT NULL{where} ORDER BY distance LIMIT %s)"
            # relaxed_order may hand rows back slightly out of order; put them in order.
            " SELECT chunk_id, item_id, 1 - distance FROM nearest ORDER BY distance, chunk_id"
        ).format(table=table, where=where)
        # OFFSET 0 keeps the subquery apart, so its rows cannot come from the HNSW index:
        # every visible row is measured.
        exact = sql.SQL(
            "SELECT chunk_id, item_id, 1 - distance FROM ("
            " SELECT chunk_id, item_id, embedding <=> %s AS distance FROM {table}"
            " WHERE embedding IS NOT NULL{where} OFFSET 0) AS visible"
            " ORDER BY distance, chunk_id LIMIT %s"
        ).format(table=table, where=where)
        arguments = [query, *params, limit]
        with self._lock:
            connection = self._connect()
            if self._dimension is None:
                # Another process may have written the first vectors since we looked.
                self._dimension = self._column_dimension(connection)
            if self._dimension is None:
                return []  # nothing has been embedded yet
            if len(query) != self._dimension:
                raise IndexDimensionError(
                    f"The index holds {self._dimension}-dimensional vectors, not {len(query)}"
                )
            with connection.transaction():
                connection.execute(
                    self._sql.scan_settings,
                    [str(max(self.ef_search, limit)), str(self.max_scan_tuples)],
                )
                rows = connection.execute(nearest, arguments).fetchall()
                if len(rows) < limit:
                    # The walk stopped short, or fewer than `limit` chunks are visible at all:
                    # only an exact scan can tell, and it is cheap exactly when few are visible.
                    rows = connection.execute(exact, arguments).fetchall()
        return [ChunkHit(chunk_id=r[0], item_id=r[1], score=float(r[2])) for r in rows]

    def indexed_ids(self) -> Iterator[int]:
        after = -(2**63)
        while True:
            with self._lock:
                page = self._connect().execute(self._sql.ids, [after, _IDS_PAGE]).fetchall()
            yield from (row[0] for row in page)
            if len(page) < _IDS_PAGE:
                return
            after = page[-1][0]

    def close(self) -> None:
        """Close this process's connection; the next call opens a new one."""
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    # The connection and the schema.

    def _connect(self) -> psycopg.Connection[Any]:
        """This process's open connection, with the table ready (created on first use)."""
        connection = self._connection
        if connection is not None and self._pid != os.getpid():
            # Inherited across a fork: closing it would end the parent's session too.
            connection = self._connection = None
        if connection is not None and not connection.closed and not connection.broken:
            return connection
        connection = psycopg.connect(self.url, autocommit=True)
        try:
            self._create_schema(connection)
            register_vector(connection)
        except BaseException:
            connection.close()
            raise
        self._connection, self._pid = connection, os.getpid()
        return connection

    def _create_schema(self, connection: psycopg.Connection[Any]) -> None:
        with connection.transaction():
            connection.execute(self._sql.lock)
            installed = connection.execute(
                "SELECT 1 FROM pg_extension WHERE extname = 'vector'"
            ).fetchone()
            if installed is None:
                connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
            for statement in self._sql.schema:
                connection.execute(statement)
            self._dimension = self._column_dimension(connection)
            if self._dimension is not None:
                # Normally a no-op; rebuilds the index if it was dropped for a bulk load.
                connection.execute(self._sql.hnsw)
        if self._wanted_dimension is not None:
            self._check_dimension(connection, self._wanted_dimension)

    def _column_dimension(self, connection: psycopg.Connection[Any]) -> int | None:
        row = connection.execute(self._sql.dimension, [self.table]).fetchone()
        assert row is not None
        return int(row[0]) if row[0] > 0 else None

    def _check_dimension(self, connection: psycopg.Connection[Any], dimension: int) -> None:
        """Fix the column to `dimension` if it is still untyped; raise if it holds another."""
        if self._dimension is None:
            with connection.transaction():
                connection.execute(self._sql.lock)
                self._dimension = self._column_dimension(connection)
                if self._dimension is None:
                    # Every embedding is still NULL, so the type change rewrites nothing.
                    connection.execute(self._sql.type_embedding(dimension))
                    connection.execute(self._sql.hnsw)
                    self._dimension = dimension
        if dimension != self._dimension:
            raise IndexDimensionError(
                f"The index {self.table} holds {self._dimension}-dimensional vectors, not"
                f" {dimension}: it was built by another embedder; drop the table to reindex"
            )


class _Statements:
    """The SQL of one table, composed once."""

    def __init__(self, table: str) -> None:
        t = sql.Identifier(table)

        def index(suffix: str) -> sql.Identifier:
            return sql.Identifier(f"{table}_{suffix}")

        self.lock = sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(
            sql.Literal(f"colleague-index:{table}")
        )
        self.schema = [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {t} ("
                " chunk_id bigint PRIMARY KEY,"
                " item_id bigint NOT NULL,"
                " text text NOT NULL,"
                " embedding vector,"
                " principals text[] NOT NULL,"
                " colleague_id bigint,"
                " source_id bigint NOT NULL,"
                " kind text NOT NULL,"
                " created_at timestamptz NOT NULL,"
                " tsv tsvector GENERATED ALWAYS AS (to_tsvector({config}, text)) STORED)"
            ).format(t=t, config=sql.Literal(TEXT_SEARCH_CONFIG)),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin (tsv)").format(index("tsv"), t),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin (principals)").format(
                index("principals"), t
            ),
        ]
        self.dimension = sql.SQL(
            "SELECT atttypmod FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attname = 'embedding'"
        )
        self._type_embedding = sql.SQL("ALTER TABLE {} ALTER COLUMN embedding TYPE vector({})")
        self._table = t
        self.hnsw = sql.SQL(
            "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding vector_cosine_ops)"
            " WITH (m = {}, ef_construction = {})"
        ).format(index("embedding"), t, sql.Literal(HNSW_M), sql.Literal(HNSW_EF_CONSTRUCTION))
        self.upsert = sql.SQL(
            "INSERT INTO {} (chunk_id, item_id, text, embedding, principals, colleague_id,"
            " source_id, kind, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (chunk_id) DO UPDATE SET item_id = EXCLUDED.item_id,"
            " text = EXCLUDED.text, embedding = EXCLUDED.embedding,"
            " principals = EXCLUDED.principals, colleague_id = EXCLUDED.colleague_id,"
            " source_id = EXCLUDED.source_id, kind = EXCLUDED.kind,"
            " created_at = EXCLUDED.created_at"
        ).format(t)
        self.delete = sql.SQL("DELETE FROM {} WHERE chunk_id = ANY(%s)").format(t)
        self.ids = sql.SQL(
            "SELECT chunk_id FROM {} WHERE chunk_id > %s ORDER BY chunk_id LIMIT %s"
        ).format(t)
        # Transaction-local: the next query on this connection runs with the defaults again.
        self.scan_settings = sql.SQL(
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true),"
            " set_config('hnsw.ef_search', %s, true),"
            " set_config('hnsw.max_scan_tuples', %s, true)"
        )

    def type_embedding(self, dimension: int) -> sql.Composed:
        return self._type_embedding.format(self._table, sql.Literal(dimension))


def _as_vector(vector: np.ndarray | None) -> np.ndarray | None:
    """`vector` as float32, or None when there is none or it has no direction.

    A zero vector (an empty text) has no cosine distance to anything, and the HNSW index
    skips it; it is stored as not embedded, found by keyword only.
    """
    if vector is None:
        return None
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    if not np.any(array):
        return None
    return array


def _sees_nothing(scope: Scope) -> bool:
    return scope.principals is not None and not scope.principals


def _conditions(scope: Scope, filters: Filters) -> tuple[sql.Composable, list[Any]]:
    """The WHERE conditions (each starting with AND) for visibility and filters."""
    parts: list[sql.Composable] = []
    params: list[Any] = []
    if scope.principals is not None:
        parts.append(sql.SQL(" AND principals && %s::text[]"))
        params.append(sorted(scope.principals))
    if filters.colleague_id is not None:
        parts.append(sql.SQL(" AND colleague_id = %s"))
        params.append(filters.colleague_id)
    if filters.source_ids:
        parts.append(sql.SQL(" AND source_id = ANY(%s::bigint[])"))
        params.append(list(filters.source_ids))
    if filters.kinds:
        parts.append(sql.SQL(" AND kind = ANY(%s::text[])"))
        params.append(list(filters.kinds))
    if filters.since is not None:
        parts.append(sql.SQL(" AND created_at >= %s"))
        params.append(filters.since)
    if filters.until is not None:
        parts.append(sql.SQL(" AND created_at <= %s"))
        params.append(filters.until)
    return sql.Composed(parts), params
