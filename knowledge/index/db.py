"""The default index backend: the index is the Chunk table itself.

Keyword side: the full-text index of knowledge/migrations/0002_keyword_index.py (SQLite FTS5
ranked by BM25, PostgreSQL's GIN-indexed tsvector ranked by ts_rank_cd). On PostgreSQL the scope
and the filters are in the same SQL as the ranking. On SQLite FTS5 ranks first, and the scope
and the filters are the SQL that selects the rows returned from blocks of the best matches,
with the one-shot query as the fall-back: the same hits, in the same order
(`DbIndexBackend._sqlite_keyword_search`).

Vector side: the int8 vectors stored on the chunks (knowledge/indexing.py), scored with numpy in
two steps:

1. **Candidates, in memory.** Each process keeps, per database and embedder, one row per
   embedded chunk: id, audience id, author identity id, source id, kind, created_at and the
   sign bits of the vector (64 bytes for 512 dimensions; ~90 MB for a million chunks, against
   2 GB for float32 vectors). The reader's permitted audiences become a boolean mask together
   with the filters, *before* anything is ranked (a colleague filter or grant by that
   colleague's identities, read per query: identities move between colleagues, while a
   chunk's author does not change: an item whose author changes is stored again, with new
   chunks); the Hamming distance between sign bits, over bit columns stored contiguously,
   ranks a million rows in a few milliseconds (only the permitted rows when they are few);
   the nearest `COLLEAGUE_INDEX_DB_RESCORE` are the candidates, ties by row (for a deeper
   query, 4 × `limit`, at most `limit` + `COLLEAGUE_INDEX_DB_RESCORE`: the sign bits misplace
   a few near the boundary, not thousands). When no more than that are permitted, all of
   them are candidates and the result is exact.
2. **Exact scores, from the database.** The candidates' vectors are read back by chunk id in
   one query that repeats the visibility and filter conditions (but the colleague filter,
   decided in step 1) and requires a current vector, and are scored by exact cosine. So a
   chunk deleted, re-embedded or moved out of scope since the cache was loaded is never
   returned; ids found gone are dropped from the cache, and the next candidates are taken
   until `limit` chunks are found or none are left.

The cache loads everything once, then only the vectors stored since its last look (by the
database clock in `Chunk.embedded_at`, re-reading a short overlap for transactions that
committed late), at most every `COLLEAGUE_INDEX_DB_REFRESH_SECONDS`. It reloads in full after
`COLLEAGUE_INDEX_DB_MAX_AGE_SECONDS` or when a quarter of its rows are gone. The keyword side
uses it, as it stands, to find a colleague's chunks (`_colleagues_matches`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Max, Q, QuerySet

from colleagues.models import Identity
from knowledge.index.base import (
    PUBLIC,
    ChunkHit,
    ChunkRecord,
    Filters,
    IndexBackend,
    Scope,
)
from knowledge.index.cjk import fts5_query, split_terms, tsquery_text
from knowledge.models import Audience, Chunk
from knowledge.search import query_terms

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_FAR = 2**15  # at least this Hamming distance: a row that must not be a candidate
_SPARSE = 8  # distances of the permitted rows only when they are at most 1 in _SPARSE
_LOAD_PAGE = 20_000
_FETCH_PAGE = 5000
_MAX_ROUNDS = 8
_NONE = np.zeros(0, dtype=np.int64)
# Compiled `_where` SQL by (database alias, scope, filters); at most _COMPILED kept.
_compiled: dict[Any, tuple[str, list[Any]]] = {}
_COMPILED = 512
_PERMITS_NOTHING: tuple[str, list[Any]] = ("", [])
# Matches the vector cache cannot decide for a colleague's keyword search (not embedded, or
# since it last looked) above which the colleague's chunk ids are read from the database.
_UNDECIDED = 5000


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


class DbIndexBackend(IndexBackend):
    """The Chunk table as an index: FTS for words, cached sign bits plus exact rescoring for
    vectors. Records must name existing chunks; their text and visibility are the chunk's own.
    """

    name = "db"

    def __init__(self, *, embedder_name: str | None = None, using: str = DEFAULT_DB_ALIAS) -> None:
        self._embedder_name = embedder_name
        self.using = using

    @property
    def embedder_name(self) -> str:
        if self._embedder_name is not None:
            return self._embedder_name
        from knowledge.embeddings import get_embedder

        return get_embedder().name

    # Writes: vectors on the chunk rows.

    def upsert(self, records: Sequence[ChunkRecord]) -> None:
        """Store the records' vectors on their chunks; a record without one makes it pending.

        Text and visibility come from the chunk rows, which actions write.
        """
        from knowledge.indexing import clear_vectors, store_vectors

        store_vectors(
            {r.chunk_id: r.vector for r in records if r.vector is not None},
            embedder_name=self.embedder_name,
            using=self.using,
        )
        clear_vectors([r.chunk_id for r in records if r.vector is None], using=self.using)

    def delete(self, chunk_ids: Sequence[int]) -> None:
        """Remove the vectors of these chunks (their rows go with their items, in actions)."""
        from knowledge.indexing import clear_vectors

        clear_vectors(chunk_ids, using=self.using)
        _cache(self.using, self.embedder_name).forget(np.asarray(chunk_ids, dtype=np.int64))

    def indexed_ids(self) -> Iterator[int]:
        """Chunks holding a vector of the configured embedder."""
        ids = (
            Chunk.objects.using(self.using)
            .filter(embedder=self.embedder_name, embedding__isnull=False)
            .order_by("id")
            .values_list("id", flat=True)
        )
        yield from ids.iterator(chunk_size=10_000)

    # Keyword side.

    def keyword_search(
        self, query: str, *, scope: Scope, filters: Filters, limit: int
    ) -> list[ChunkHit]:
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        try:
            where, params = self._where(scope, filters)
        except EmptyResultSet:
            return []
        connection = connections[self.using]
        latin, cjk = split_terms(terms)
        if connection.vendor == "postgresql":
            sql, values = _postgres_keyword_sql(latin, cjk, where)
            return self._keyword_hits(sql, [*values, *params, limit])
        return self._sqlite_keyword_search(
            latin, cjk, where, params, filters=filters, authors=authors_in(scope), limit=limit
        )

    def _keyword_hits(self, sql: str, values: list[Any]) -> list[ChunkHit]:
        # Only constant SQL and `where` (Django's own compiled SQL) are interpolated.
        with connections[self.using].cursor() as cursor:
            cursor.execute(sql, values)
            return [ChunkHit(int(r[0]), int(r[1]), float(r[2])) for r in cursor.fetchall()]

    def _sqlite_keyword_search(
        self,
        latin: list[str],
        cjk: list[str],
        where: str,
        params: list[Any],
        *,
        filters: Filters,
        authors: tuple[int, ...],
        limit: int,
    ) -> list[ChunkHit]:
        """The hits of the one-shot query `_sqlite_keyword_sql` (the same chunks, scores and
        order), found by ranking in FTS5 first and selecting the visible ones among the best.

        The one-shot query joins every matching chunk to its chunk and item rows, for the
        scope and the filters, before it orders and limits: at a million chunks 10,000-20,000
        joins for a query of two or three mid-frequency words (30-180 ms). FTS5 alone ranks the
        same matches, with the same scores, in 10-25 ms. So FTS5 ranks first:

        - with a colleague filter, only that colleague's chunks, all of them: a colleague's
          matches are few. Told apart by the vector cache when this process holds one
          (`_colleagues_matches`), else read from two indexes (`_authored_by`, no table row).
          Either is implied by the filter, so nothing it drops could be a hit;
        - otherwise the best `COLLEAGUE_INDEX_DB_KEYWORD_BLOCK` (at least 4 × `limit`).

        Then the scope and filters, as SQL on the chunk and item rows (`_visible_chunks`),
        select the rows returned from growing blocks of that ranking, best first, until
        `limit` are found. Those are the one-shot query's first `limit`: it orders the same
        matches by the same key (score, then chunk id). If the ranking runs out first, either
        it held every match (the visible ones are all there are) or it was the best block
        only: then, for a reader who sees few of the matches, the one-shot query runs, so the
        worst case costs one FTS5 ranking more than before.
        """
        names_item = _names_item(filters, authors)
        block = max(int(_setting("COLLEAGUE_INDEX_DB_KEYWORD_BLOCK", 500)), limit * 4)
        best = None
        if filters.colleague_id is not None:
            best = self._colleagues_matches(latin, cjk, filters.colleague_id)
        if best is None:
            within, within_params = _authored_by(filters)
            ranked, ranked_values = _sqlite_ranked_sql(latin, cjk, within=within)
            values = [*ranked_values, *within_params]
            if not within:
                ranked += " LIMIT %s"
                values.append(block)
            # Only constant SQL is interpolated.
            with connections[self.using].cursor() as cursor:
                cursor.execute(ranked, values)
                best = [(int(r[0]), float(r[1])) for r in cursor.fetchall()]
        complete = filters.colleague_id is not None or len(best) < block
        hits: list[ChunkHit] = []
        start, size = 0, max(1, min(block, limit * 2))
        while len(hits) < limit and start < len(best):
            chunk = best[start : start + size]
            items = self._visible_chunks(
                [chunk_id for chunk_id, _ in chunk], where, params, items=names_item
            )
            hits.extend(ChunkHit(i, items[i], score) for i, score in chunk if i in items)
            start += len(chunk)
            size *= 4
        if len(hits) >= limit or complete:
            return hits[:limit]
        sql, values = _sqlite_keyword_sql(latin, cjk, where)
        return self._keyword_hits(sql, [*values, *params, limit])

    def _colleagues_matches(
        self, latin: list[str], cjk: list[str], colleague_id: int
    ) -> list[tuple[int, float]] | None:
        """`_sqlite_ranked_sql`'s ranking of every match that `colleague_id` may have written,
        a superset of that colleague's matches, told apart by the vector cache; None when no
        cache is loaded in this process or it leaves too many matches undecided.

        `_authored_by` reads the colleague's chunk ids from the author and chunk indexes, a
        seek per item: 20 ms for a colleague of 38,000 chunks at a million. The cache holds
        each embedded chunk's author identity, which does not change for a chunk id (an item
        whose author changes is stored again, with new chunks; ids are not reused), and the
        colleague's identities are read now (identities move between colleagues). So the
        matches, as ids alone from FTS5 (no score, no row), are kept when the cache holds
        them with one of those authors, or does not hold them (pending, embedded by another
        model or since the cache last looked: kept, the scope SQL decides), and FTS5 scores
        the kept ones only. The caller's `_visible_chunks` applies the colleague filter
        itself, so a chunk kept that is not the colleague's is never a hit.
        """
        view = _loaded_view(self.using)
        if view is None:
            return None
        matches, values = _sqlite_matches_sql(latin, cjk)
        # Only constant SQL is interpolated.
        with connections[self.using].cursor() as cursor:
            cursor.execute(matches, values)
            listed = cursor.fetchone()[0]
        if not listed:
            return []
        ids = np.fromstring(listed, dtype=np.int64, sep=",")
        rows = view.rows_of(ids)
        known = rows >= 0
        if len(ids) - int(np.count_nonzero(known)) > _UNDECIDED:
            return None
        keep = ~known
        keep[known] = _among(
            view.author[rows[known]], _identities_of((colleague_id,), using=self.using)
        )
        kept = ids[keep]
        if not len(kept):
            return []
        ranked, ranked_values = _sqlite_ranked_sql(
            latin, cjk, within="IN (SELECT value FROM json_each(%s))"
        )
        with connections[self.using].cursor() as cursor:
            cursor.execute(ranked, [*ranked_values, json.dumps(kept.tolist())])
            return [(int(r[0]), float(r[1])) for r in cursor.fetchall()]

    def _visible_chunks(
        self, ids: list[int], where: str, params: list[Any], *, items: bool
    ) -> dict[int, int]:
        """The item id of each chunk among `ids` that `where` (scope and filters) selects;
        `items`: whether `where` names the item (`_names_item`)."""
        connection = connections[self.using]
        found: dict[int, int] = {}
        for start in range(0, len(ids), _FETCH_PAGE):
            page = ids[start : start + _FETCH_PAGE]
            wanted, listed = _ids_condition(connection.vendor, page)
            sql = (
                f"SELECT c.id, c.item_id {_chunks_by_id(connection.vendor, items=items)}"
                f" WHERE {wanted}{where}"
            )
            # Only constant SQL and `where` (Django's own compiled SQL) are interpolated.
            with connection.cursor() as cursor:
                cursor.execute(sql, [listed, *params])
                found.update((int(r[0]), int(r[1])) for r in cursor.fetchall())
        return found

    def _where(self, scope: Scope, filters: Filters) -> tuple[str, list[Any]]:
        """SQL conditions on `c` (chunk) and `i` (item) for the scope and the filters.

        The SQL depends on nothing but its arguments (the audiences are a subquery, run with
        it), so it is compiled once per scope and filters and kept: Django compiling it was a
        part of every query, twice in a hybrid one."""
        key: tuple[str, Scope, Filters] | None = (self.using, scope, filters)
        try:
            compiled = _compiled.get(key)
        except TypeError:  # filters holding a list: not kept
            key, compiled = None, None
        if compiled is None:
            try:
                compiled = self._where_audiences(
                    audiences_in(scope, using=self.using), filters, authors=authors_in(scope)
                )
            except EmptyResultSet:
                compiled = _PERMITS_NOTHING
            if key is not None:
                with _caches_lock:
                    if len(_compiled) >= _COMPILED:
                        _compiled.clear()
                    _compiled[key] = compiled
        if compiled is _PERMITS_NOTHING:
            raise EmptyResultSet
        where, params = compiled
        return where, list(params)

    def _where_audiences(
        self,
        audiences: QuerySet[Audience] | None,
        filters: Filters,
        *,
        authors: tuple[int, ...] = (),
    ) -> tuple[str, list[Any]]:
        """As `_where`, for a scope already resolved to its audiences (None: unrestricted) and
        granted authors. Raises EmptyResultSet when the scope permits nothing."""
        connection = connections[self.using]
        clauses: list[str] = []
        params: list[Any] = []
        if audiences is not None:
            visible = ""
            try:
                audience_sql, audience_params = audiences.values("id").query.sql_with_params()
                visible = f"c.audience_id IN ({audience_sql})"
                params.extend(audience_params)
            except EmptyResultSet:
                if not authors:
                    raise
            if authors:
                by_author = (
                    "i.author_id IN (SELECT id FROM colleagues_identity"  # noqa: S608
                    f" WHERE colleague_id IN ({', '.join(['%s'] * len(authors))}))"
                )
                visible = f"({visible} OR {by_author})" if visible else by_author
                params.extend(authors)
            clauses.append(visible)
        if filters.colleague_id is not None:
            clauses.append(
                "i.author_id IN (SELECT id FROM colleagues_identity WHERE colleague_id = %s)"
            )
            params.append(filters.colleague_id)
        if filters.source_ids:
            clauses.append(f"i.source_id IN ({', '.join(['%s'] * len(filters.source_ids))})")
            params.extend(filters.source_ids)
        if filters.kinds:
            clauses.append(f"i.kind IN ({', '.join(['%s'] * len(filters.kinds))})")
            params.extend(filters.kinds)
        if filters.since is not None:
            clauses.append("i.created_at >= %s")
            params.append(connection.ops.adapt_datetimefield_value(filters.since))
        if filters.until is not None:
            clauses.append("i.created_at <= %s")
            params.append(connection.ops.adapt_datetimefield_value(filters.until))
        return "".join(f" AND {clause}" for clause in clauses), params

    # Vector side.

    def vector_search(
        self, vector: np.ndarray, *, scope: Scope, filters: Filters, limit: int
    ) -> list[ChunkHit]:
        if limit <= 0:
            return []
        audiences = audiences_in(scope, using=self.using)
        authors = authors_in(scope)
        permitted: np.ndarray | None = None
        if audiences is not None:
            permitted = np.fromiter(audiences.values_list("id", flat=True), dtype=np.int64)
            if not len(permitted) and not authors:
                return []
        name = self.embedder_name
        cache = _cache(self.using, name)
        view = cache.view()
        if view.size == 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if len(query) != view.dimension:
            raise ValueError(
                f"query vector has {len(query)} dimensions, the index {view.dimension} ({name})"
            )
        mask = view.mask(
            permitted,
            filters,
            granted=_identities_of(authors, using=self.using) if authors else None,
            colleague=(
                None
                if filters.colleague_id is None
                else _identities_of((filters.colleague_id,), using=self.using)
            ),
        )
        rescore = int(_setting("COLLEAGUE_INDEX_DB_RESCORE", 1000))
        budget = max(rescore, min(limit * 4, limit + rescore))
        # Candidates are the permitted rows nearest by Hamming distance, ties by row. Few
        # permitted rows (one colleague's, a narrow filter): distances of those rows only.
        permitted_rows: np.ndarray | None = None
        distances: np.ndarray | None = None
        hits: dict[int, ChunkHit] = {}
        for _ in range(_MAX_ROUNDS):
            remaining = int(np.count_nonzero(mask))
            if remaining == 0:
                break
            if remaining <= budget:
                rows = np.flatnonzero(mask)
            else:
                if distances is None:
                    if remaining * _SPARSE <= view.size:
                        permitted_rows = np.flatnonzero(mask)
                        distances = view.hamming(query, rows=permitted_rows)
                    else:
                        distances = view.hamming(query, outside=~mask)
                nearest = _nearest(distances, budget)
                distances[nearest] = _FAR
                rows = nearest if permitted_rows is None else permitted_rows[nearest]
            mask[rows] = False
            ids = view.ids[rows]
            scored = self._rescore(ids, query, scope, filters, name)
            hits.update((hit.chunk_id, hit) for hit in scored)
            if len(scored) < len(ids):
                cache.forget_gone(np.setdiff1d(ids, [h.chunk_id for h in scored]), using=self.using)
            if len(hits) >= limit:
                break
            # Some candidates were gone or out of scope: take the next ones.
        ranked_hits = sorted(hits.values(), key=lambda h: (-h.score, h.chunk_id))
        return ranked_hits[:limit]

    def _rescore(
        self,
        ids: np.ndarray,
        query: np.ndarray,
        scope: Scope,
        filters: Filters,
        embedder_name: str,
    ) -> list[ChunkHit]:
        """Exact cosine of the chunks among `ids` that are, right now, in scope and current.

        One query per page of ids, holding the scope and the filters, driven by the ids
        (`_chunks_by_id`). All but the colleague filter: the candidates passed it in the
        cache (`_View.mask`), by their author identity, which does not change for a chunk
        id, and that colleague's identities as they are now; so the item row is read only
        for the other filters or a grant.
        """
        connection = connections[self.using]
        filters = replace(filters, colleague_id=None)
        try:
            where, params = self._where(scope, filters)
        except EmptyResultSet:
            return []
        authors = authors_in(scope)
        hits: list[ChunkHit] = []
        for start in range(0, len(ids), _FETCH_PAGE):
            wanted, listed = _ids_condition(connection.vendor, ids[start : start + _FETCH_PAGE])
            sql = (
                "SELECT c.id, c.item_id, c.embedding"
                f" {_chunks_by_id(connection.vendor, items=_names_item(filters, authors))}"
                f" WHERE {wanted} AND c.embedder = %s AND c.embedding IS NOT NULL{where}"
            )
            # Only constant SQL and `where` (Django's own compiled SQL) are interpolated.
            with connection.cursor() as cursor:
                cursor.execute(sql, [listed, embedder_name, *params])
                rows = cursor.fetchall()
            if not rows:
                continue
            # Bytes (SQLite, psycopg) or memoryviews: join takes both; none is NULL (above).
            matrix = np.frombuffer(b"".join([r[2] for r in rows]), dtype=np.int8)
            matrix = matrix.reshape(len(rows), -1).astype(np.float32)
            if matrix.shape[1] != len(query):
                continue
            norms = np.linalg.norm(matrix, axis=1)
            scores = matrix @ query / np.where(norms > 0, norms, 1.0)
            hits.extend(
                ChunkHit(chunk_id=int(r[0]), item_id=int(r[1]), score=s)
                for r, s in zip(rows, scores.tolist(), strict=True)
            )
        return hits


def _ids_condition(vendor: str, ids: Sequence[int] | np.ndarray) -> tuple[str, Any]:
    """ "`c.id` is one of `ids`" and its one parameter: a JSON array on SQLite, an array on
    PostgreSQL. One parameter rather than one per id: binding thousands, and with DEBUG on
    logging them, cost more than reading the rows."""
    listed = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
    if vendor == "sqlite":
        return "c.id IN (SELECT value FROM json_each(%s))", json.dumps(listed)
    return "c.id = ANY(%s)", listed


def _names_item(filters: Filters, authors: tuple[int, ...]) -> bool:
    """Whether the conditions of `_where_audiences` for these filters and granted authors name
    the item (`i`): every filter and a grant do; the audiences alone do not."""
    return bool(authors) or filters != Filters()


def _chunks_by_id(vendor: str, *, items: bool) -> str:
    """The FROM clause of a query reading given chunk ids (`c.id IN (...)`), with their items
    when `items` (else the item is not read: half the rows).

    On SQLite the chunk is the outer loop (CROSS JOIN fixes the order) and is read by rowid
    only (NOT INDEXED): otherwise SQLite may start from the filters, e.g. every item of a
    colleague, or, from about 2,000 ids, from the audience index (every public chunk, half the
    table), and probe each against the id list: 70 ms for 2,000 ids at a million chunks,
    against 8 ms by rowid."""
    if vendor == "sqlite":
        chunks = "FROM knowledge_chunk c NOT INDEXED"
        return f"{chunks} CROSS JOIN knowledge_item i ON i.id = c.item_id" if items else chunks
    chunks = "FROM knowledge_chunk c"
    return f"{chunks} JOIN knowledge_item i ON i.id = c.item_id" if items else chunks


def _postgres_keyword_sql(latin: list[str], cjk: list[str], where: str) -> tuple[str, list[Any]]:
    """The ranked keyword query on PostgreSQL, before the scope's parameters and the limit.

    English words match search_vector ('english', as before); CJK words match the bigrams of
    search_cjk; a chunk's score is the sum of both sides' ts_rank_cd."""
    sides: list[tuple[str, str]] = []  # (column, tsquery expression)
    values: list[Any] = []
    if latin:
        sides.append(
            ("search_vector", " || ".join(["plainto_tsquery('english', %s)"] * len(latin)))
        )
        values.extend(latin)
    if cjk:
        sides.append(("search_cjk", "to_tsquery('simple', %s)"))
        values.append(tsquery_text(cjk))
    queries = ", ".join(f"({expression}) AS q{n}" for n, (_, expression) in enumerate(sides))
    if len(sides) == 1:
        column = sides[0][0]
        score = f"ts_rank_cd(c.{column}, q.q0)"
        match = f"c.{column} @@ q.q0"
    else:
        score = " + ".join(
            f"coalesce(ts_rank_cd(c.{column}, q.q{n}), 0)" for n, (column, _) in enumerate(sides)
        )
        match = "(" + " OR ".join(f"c.{col} @@ q.q{n}" for n, (col, _) in enumerate(sides)) + ")"
    sql = (
        f"WITH q AS (SELECT {queries})"  # noqa: S608 (constant SQL and Django's `where`)
        f" SELECT c.id, c.item_id, {score} AS score"
        " FROM knowledge_chunk c JOIN knowledge_item i ON i.id = c.item_id, q"
        f" WHERE {match}{where}"
        " ORDER BY score DESC, c.id LIMIT %s"
    )
    return sql, values


def _sqlite_keyword_sides(
    latin: list[str], cjk: list[str]
) -> tuple[list[str], list[Any], list[str]]:
    """The CTEs of a query with CJK words, their parameters, and the SELECTs to union."""
    # Each side in its own materialised CTE: bm25() works only in a query on its own table.
    sides = [
        "cjk AS MATERIALIZED (SELECT rowid AS id, -bm25(knowledge_chunk_cjk) AS s"
        " FROM knowledge_chunk_cjk WHERE knowledge_chunk_cjk MATCH %s)"
    ]
    values: list[Any] = [fts5_query(cjk)]
    unions = ["SELECT id, s FROM cjk"]
    if latin:
        sides.append(
            "en AS MATERIALIZED (SELECT rowid AS id, -bm25(knowledge_chunk_fts) AS s"
            " FROM knowledge_chunk_fts WHERE knowledge_chunk_fts MATCH %s)"
        )
        values.append(" OR ".join(f'"{term}"' for term in latin))
        unions.append("SELECT id, s FROM en")
    return sides, values, unions


def _sqlite_keyword_sql(latin: list[str], cjk: list[str], where: str) -> tuple[str, list[Any]]:
    """The ranked keyword query on SQLite, before the scope's parameters and the limit.

    English words match knowledge_chunk_fts (porter, as before) and CJK words the bigram table
    knowledge_chunk_cjk; a chunk's score is the sum of both sides' BM25. Each term is quoted,
    so nothing in a query is FTS5 syntax."""
    if latin and not cjk:
        sql = (
            "SELECT c.id, c.item_id, -bm25(knowledge_chunk_fts) AS score"  # noqa: S608
            " FROM knowledge_chunk_fts"
            " JOIN knowledge_chunk c ON c.id = knowledge_chunk_fts.rowid"
            " JOIN knowledge_item i ON i.id = c.item_id"
            f" WHERE knowledge_chunk_fts MATCH %s{where}"
            " ORDER BY bm25(knowledge_chunk_fts), c.id LIMIT %s"
        )
        return sql, [" OR ".join(f'"{term}"' for term in latin)]
    sides, values, unions = _sqlite_keyword_sides(latin, cjk)
    sql = (
        f"WITH {', '.join(sides)},"  # noqa: S608 (constant SQL and Django's `where`)
        f" m AS (SELECT id, sum(s) AS score FROM ({' UNION ALL '.join(unions)}) GROUP BY id)"
        " SELECT c.id, c.item_id, m.score FROM m"
        " JOIN knowledge_chunk c ON c.id = m.id"
        " JOIN knowledge_item i ON i.id = c.item_id"
        f" WHERE 1 = 1{where}"
        " ORDER BY m.score DESC, c.id LIMIT %s"
    )
    return sql, values


def _sqlite_ranked_sql(
    latin: list[str], cjk: list[str], *, within: str = ""
) -> tuple[str, list[Any]]:
    """FTS5's ranking alone: (chunk id, score) of every match, in `_sqlite_keyword_sql`'s order
    (score descending, then chunk id) and with its scores, before `within`'s parameters; no
    limit (the caller adds one). `within` ("IN (SELECT ...)") restricts the chunk ids before
    they are scored: SQLite computes bm25() for the rows the WHERE clause keeps, and the unary
    + keeps the condition out of FTS5's index, where each id would start a query of its own."""
    if latin and not cjk:
        restrict = f" AND +rowid {within}" if within else ""
        sql = (
            "SELECT rowid, -bm25(knowledge_chunk_fts) FROM knowledge_chunk_fts"  # noqa: S608
            f" WHERE knowledge_chunk_fts MATCH %s{restrict}"
            " ORDER BY bm25(knowledge_chunk_fts), rowid"
        )
        return sql, [" OR ".join(f'"{term}"' for term in latin)]
    sides, values, unions = _sqlite_keyword_sides(latin, cjk)
    restrict = f" WHERE id {within}" if within else ""
    sql = (
        f"WITH {', '.join(sides)},"  # noqa: S608 (constant SQL)
        f" m AS (SELECT id, sum(s) AS score FROM ({' UNION ALL '.join(unions)}) GROUP BY id)"
        f" SELECT id, score FROM m{restrict} ORDER BY score DESC, id"
    )
    return sql, values


def _sqlite_matches_sql(latin: list[str], cjk: list[str]) -> tuple[str, list[Any]]:
    """The ids of every chunk `_sqlite_ranked_sql` ranks, as one comma-separated text (one
    value to fetch, not one row per match), unscored."""
    sides: list[str] = []
    values: list[Any] = []
    if cjk:
        sides.append(
            "SELECT rowid AS id FROM knowledge_chunk_cjk WHERE knowledge_chunk_cjk MATCH %s"
        )
        values.append(fts5_query(cjk))
    if latin:
        sides.append(
            "SELECT rowid AS id FROM knowledge_chunk_fts WHERE knowledge_chunk_fts MATCH %s"
        )
        values.append(" OR ".join(f'"{term}"' for term in latin))
    union = " UNION ".join(sides)
    return f"SELECT group_concat(id) FROM ({union})", values  # noqa: S608 (constant SQL)


def _authored_by(filters: Filters) -> tuple[str, list[Any]]:
    """With a colleague filter, "IN (the ids of the chunks that colleague wrote)": a condition
    the filter implies, read from the author and chunk indexes alone (no table row), so it can
    narrow the keyword ranking before the scope is applied. Else ("", [])."""
    if filters.colleague_id is None:
        return "", []
    return (
        "IN (SELECT c.id FROM knowledge_item i"
        " JOIN knowledge_chunk c ON c.item_id = i.id"
        " WHERE i.author_id IN (SELECT id FROM colleagues_identity WHERE colleague_id = %s))",
        [filters.colleague_id],
    )


def _identities_of(colleague_ids: Sequence[int], *, using: str) -> np.ndarray:
    """The ids of these colleagues' identities, as they are now."""
    return np.fromiter(
        Identity.objects.using(using)
        .filter(colleague_id__in=colleague_ids)
        .values_list("id", flat=True),
        dtype=np.int64,
    )


def audiences_in(scope: Scope, *, using: str = DEFAULT_DB_ALIAS) -> QuerySet[Audience] | None:
    """The audiences whose chunks `scope` may see; None when it is unrestricted.

    The same rule as knowledge.visibility.visible_audiences, from principals: public, named
    identities, members of named containers. Unknown principals grant nothing.
    """
    if scope.principals is None:
        return None
    containers: list[int] = []
    identities: list[int] = []
    conditions: list[Q] = []
    for principal in scope.principals:
        if principal == PUBLIC:
            conditions.append(Q(is_public=True))
        elif principal[:1] in ("c", "i") and principal[1:].isdigit():
            (containers if principal[0] == "c" else identities).append(int(principal[1:]))
    if identities:
        named = Audience.identities.through.objects.using(using).filter(identity_id__in=identities)
        conditions.append(Q(id__in=named.values("audience_id")))
    if containers:
        via = Audience.containers.through.objects.using(using).filter(container_id__in=containers)
        conditions.append(Q(id__in=via.values("audience_id")))
    if not conditions:
        return Audience.objects.using(using).none()
    condition = conditions[0]
    for more in conditions[1:]:
        condition |= more
    return Audience.objects.using(using).filter(condition)


def authors_in(scope: Scope) -> tuple[int, ...]:
    """The colleagues whose chunks `scope` may see through a grant (its ``a`` principals)."""
    if scope.principals is None:
        return ()
    return tuple(sorted(int(p[1:]) for p in scope.principals if p[:1] == "a" and p[1:].isdigit()))


def narrow(queryset: QuerySet[Chunk], filters: Filters) -> QuerySet[Chunk]:
    """Chunks of `queryset` that pass `filters`."""
    if filters.colleague_id is not None:
        queryset = queryset.filter(item__author__colleague_id=filters.colleague_id)
    if filters.source_ids:
        queryset = queryset.filter(item__source_id__in=filters.source_ids)
    if filters.kinds:
        queryset = queryset.filter(item__kind__in=filters.kinds)
    if filters.since is not None:
        queryset = queryset.filter(item__created_at__gte=filters.since)
    if filters.until is not None:
        queryset = queryset.filter(item__created_at__lte=filters.until)
    return queryset


# The in-memory candidate cache.


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


@dataclass
class _View:
    """A consistent, read-only look at the first `size` rows of a cache."""

    size: int
    dimension: int
    ids: np.ndarray
    audience: np.ndarray
    author: np.ndarray  # the item's author identity, -1 for none
    source: np.ndarray
    kind: np.ndarray
    created: np.ndarray
    alive: np.ndarray
    codes: np.ndarray  # (words, size) uint64: bit column j of every row is contiguous
    kinds: dict[str, int]
    # The alive rows' chunk ids, sorted, and their rows: to find a chunk's row.
    sorted_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sorted_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def mask(
        self,
        permitted: np.ndarray | None,
        filters: Filters,
        *,
        granted: np.ndarray | None = None,
        colleague: np.ndarray | None = None,
    ) -> np.ndarray:
        """Rows alive, in one of the `permitted` audiences (None: any) or written by one of the
        `granted` identities, and passing `filters`, with the colleague filter as `colleague`:
        that colleague's identities (read when asked: identities move between colleagues)."""
        mask = self.alive.copy()
        if permitted is not None:
            top = int(self.audience.max()) if self.size else 0
            allowed = np.zeros(top + 1, dtype=bool)
            allowed[permitted[permitted <= top]] = True
            visible = allowed[self.audience]
            if granted is not None and len(granted):
                visible |= _among(self.author, granted)
            mask &= visible
        if filters.colleague_id is not None:
            mask &= _among(self.author, colleague if colleague is not None else _NONE)
        if filters.source_ids:
            mask &= np.isin(self.source, np.asarray(filters.source_ids, dtype=np.int64))
        if filters.kinds:
            codes = [self.kinds[k] for k in filters.kinds if k in self.kinds]
            mask &= np.isin(self.kind, np.asarray(codes, dtype=np.int16))
        if filters.since is not None:
            mask &= self.created >= _micros(filters.since)
        if filters.until is not None:
            mask &= self.created <= _micros(filters.until)
        return mask

    def rows_of(self, chunk_ids: np.ndarray) -> np.ndarray:
        """The row of each of `chunk_ids` that is alive, -1 for the others."""
        at = np.searchsorted(self.sorted_ids, chunk_ids)
        found = at < len(self.sorted_ids)
        found[found] = self.sorted_ids[at[found]] == chunk_ids[found]
        rows = np.full(len(chunk_ids), -1, dtype=np.int64)
        rows[found] = self.sorted_rows[at[found]]
        return rows

    def hamming(
        self,
        query: np.ndarray,
        *,
        rows: np.ndarray | None = None,
        outside: np.ndarray | None = None,
    ) -> np.ndarray:
        """Hamming distance between the sign bits of `query` and of each of `rows` (None:
        every row); at least `_FAR` for the rows flagged in `outside`, which must never be
        candidates."""
        words = _sign_words(query[None, :])[0]
        codes = self.codes if rows is None else self.codes[:, rows]
        size = codes.shape[1]
        if outside is None:
            distances = np.zeros(size, dtype=np.uint16)
        else:
            distances = outside.astype(np.uint16)
            distances <<= 15  # _FAR; a distance is at most 64 * words < 2 ** 15
        scratch = np.empty(size, dtype=np.uint64)
        counts = np.empty(size, dtype=np.uint8)
        for j, word in enumerate(words):
            np.bitwise_xor(codes[j], word, out=scratch)
            np.bitwise_count(scratch, out=counts)
            distances += counts
        return distances


def _among(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Whether each of `values` (ids, or -1) is one of `wanted` (ids): one comparison per
    wanted id when they are a few (a colleague's identities), else a lookup table: 0.2-1.4 ms
    over a million values on the loaded 2-core machine, where np.isin took 30 ms for three."""
    if len(wanted) <= 8:
        found = np.zeros(len(values), dtype=bool)
        for one in wanted.tolist():
            found |= values == one
        return found
    top = max(int(values.max(initial=-1)), int(wanted.max()))
    table = np.zeros(top + 2, dtype=bool)
    table[wanted[wanted >= -1] + 1] = True
    return table[values + 1]


def _nearest(distances: np.ndarray, count: int) -> np.ndarray:
    """Positions of the `count` smallest `distances` (small non-negative integers), ties by
    position; all of them if there are fewer."""
    if count >= len(distances):
        return np.arange(len(distances))
    # A counting selection: the threshold from a histogram, then two scans.
    threshold = int(np.searchsorted(np.cumsum(np.bincount(distances)), count))
    below = np.flatnonzero(distances < threshold)
    at = np.flatnonzero(distances == threshold)[: count - len(below)]
    return np.concatenate([below, at])


def _sign_words(vectors: np.ndarray) -> np.ndarray:
    """Sign bits of each row packed into uint64 words: shape (rows, ceil(dimension / 64))."""
    bits = np.packbits(vectors > 0, axis=1, bitorder="little")
    pad = (-bits.shape[1]) % 8
    if pad:
        bits = np.pad(bits, ((0, 0), (0, pad)))
    return np.ascontiguousarray(bits).view(np.uint64)


class _VectorCache:
    """Per-process rows of one database's chunks embedded by one embedder."""

    _FIELDS = (
        "id",
        "audience_id",
        "item__author_id",
        "item__source_id",
        "item__kind",
        "item__created_at",
        "embedding",
        "embedded_at",
    )

    def __init__(self, using: str, embedder_name: str) -> None:
        self.using = using
        self.embedder_name = embedder_name
        self.lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.size = 0
        self.dead = 0
        self.dimension = 0
        self.ids = np.zeros(0, dtype=np.int64)
        self.audience = np.zeros(0, dtype=np.int64)
        self.author = np.zeros(0, dtype=np.int64)
        self.source = np.zeros(0, dtype=np.int64)
        self.kind = np.zeros(0, dtype=np.int16)
        self.created = np.zeros(0, dtype=np.int64)
        self.alive = np.zeros(0, dtype=bool)
        self.codes = np.zeros((0, 0), dtype=np.uint64)
        self.kinds: dict[str, int] = {}
        # Sorted ids and their rows, to find a row by chunk id.
        self.sorted_ids = np.zeros(0, dtype=np.int64)
        self.sorted_rows = np.zeros(0, dtype=np.int64)
        self.watermark: datetime | None = None
        self.recent: dict[int, datetime | None] = {}  # id -> embedded_at, inside the overlap window
        self.loaded_at = -float("inf")
        self.checked_at = -float("inf")
        self.overlap_checked_at = -float("inf")

    def _chunks(self) -> QuerySet[Chunk]:
        # No default ordering: ORDER BY (item, ordinal) would make SQLite scan the whole table
        # in that order rather than use the embedded_at index for the refresh's range.
        return (
            Chunk.objects.using(self.using)
            .filter(embedder=self.embedder_name, embedding__isnull=False)
            .order_by()
        )

    def view(self) -> _View:
        """Refresh as due, then return the rows as they are now."""
        with self.lock:
            now = time.monotonic()
            if now - self.loaded_at >= _setting(
                "COLLEAGUE_INDEX_DB_MAX_AGE_SECONDS", 3600
            ) or self.dead > max(self.size // 4, 1000):
                self._load_all()
            elif now - self.checked_at >= _setting("COLLEAGUE_INDEX_DB_REFRESH_SECONDS", 1.0):
                self._load_new()
            return self._snapshot()

    def snapshot(self) -> _View:
        """The rows as they are, without refreshing."""
        with self.lock:
            return self._snapshot()

    def _snapshot(self) -> _View:
        n = self.size
        return _View(
            size=n,
            dimension=self.dimension,
            ids=self.ids[:n],
            audience=self.audience[:n],
            author=self.author[:n],
            source=self.source[:n],
            kind=self.kind[:n],
            created=self.created[:n],
            alive=self.alive[:n],
            codes=self.codes[:, :n],
            kinds=dict(self.kinds),
            sorted_ids=self.sorted_ids,
            sorted_rows=self.sorted_rows,
        )

    def _load_all(self) -> None:
        self._reset()
        # The clock to follow from: taken before reading, so nothing stored meanwhile is missed.
        self.watermark = self._chunks().aggregate(at=Max("embedded_at"))["at"]
        after = 0
        while True:
            rows = list(
                self._chunks()
                .filter(id__gt=after)
                .order_by("id")
                .values_list(*self._FIELDS)[:_LOAD_PAGE]
            )
            if not rows:
                break
            self._append(rows)
            after = rows[-1][0]
        self._remember(self._recent_rows())
        self.loaded_at = self.checked_at = time.monotonic()

    def _recent_rows(self) -> list[tuple[int, datetime | None]]:
        if self.watermark is None:
            return []
        return list(
            self._chunks()
            .filter(embedded_at__gte=self.watermark - self._overlap())
            .values_list("id", "embedded_at")
        )

    def _overlap(self) -> timedelta:
        return timedelta(seconds=_setting("COLLEAGUE_INDEX_DB_OVERLAP_SECONDS", 120))

    def _load_new(self) -> None:
        """Load vectors stored since the last look; every quarter of the overlap, also those
        stamped up to the overlap before it (committed late)."""
        seen = self._chunks()
        now = time.monotonic()
        if self.watermark is not None:
            since = self.watermark
            if now - self.overlap_checked_at >= self._overlap().total_seconds() / 4:
                since -= self._overlap()
                self.overlap_checked_at = now
            seen = seen.filter(embedded_at__gte=since)
        stamps = list(seen.values_list("id", "embedded_at"))
        fresh = [chunk_id for chunk_id, at in stamps if self.recent.get(chunk_id) != at]
        for start in range(0, len(fresh), _FETCH_PAGE):
            rows = list(
                self._chunks()
                .filter(id__in=fresh[start : start + _FETCH_PAGE])
                .order_by("id")
                .values_list(*self._FIELDS)
            )
            self._append(rows)
        self._remember(stamps)
        self.checked_at = time.monotonic()

    def _remember(self, stamps: list[tuple[int, datetime | None]]) -> None:
        for chunk_id, at in stamps:
            self.recent[chunk_id] = at
            if at is None:
                continue
            if self.watermark is None or at > self.watermark:
                self.watermark = at
        if self.watermark is not None:
            horizon = self.watermark - self._overlap()
            self.recent = {i: at for i, at in self.recent.items() if at and at >= horizon}

    def _append(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if not self.dimension:
            self.dimension = len(bytes(rows[0][6]))
        rows = [r for r in rows if len(bytes(r[6])) == self.dimension]
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        self._forget(ids)  # an id seen again was re-embedded: its old row goes
        vectors = np.frombuffer(b"".join(bytes(r[6]) for r in rows), dtype=np.int8)
        words = _sign_words(vectors.reshape(len(rows), self.dimension))
        start, end = self.size, self.size + len(rows)
        self._grow(end, words.shape[1])
        self.ids[start:end] = ids
        self.audience[start:end] = [r[1] for r in rows]
        self.author[start:end] = [-1 if r[2] is None else r[2] for r in rows]
        self.source[start:end] = [r[3] for r in rows]
        self.kind[start:end] = [self.kinds.setdefault(r[4], len(self.kinds)) for r in rows]
        self.created[start:end] = [_micros(r[5]) for r in rows]
        self.alive[start:end] = True
        self.codes[:, start:end] = words.T
        self.size = end
        order = np.argsort(ids, kind="stable")
        new_ids, new_rows = ids[order], np.arange(start, end, dtype=np.int64)[order]
        at = np.searchsorted(self.sorted_ids, new_ids)
        self.sorted_ids = np.insert(self.sorted_ids, at, new_ids)
        self.sorted_rows = np.insert(self.sorted_rows, at, new_rows)

    def _grow(self, needed: int, words: int) -> None:
        capacity = len(self.ids)
        if needed <= capacity and self.codes.shape[0] == words:
            return
        capacity = max(needed, capacity * 2, 1024)
        for name in ("ids", "audience", "author", "source", "kind", "created", "alive"):
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)
        codes = np.zeros((words, capacity), dtype=np.uint64)
        if self.size:
            codes[:, : self.size] = self.codes[:, : self.size]
        self.codes = codes

    def _forget(self, ids: np.ndarray) -> None:
        """Drop these chunk ids from the cache (their rows stay, marked dead)."""
        if not len(ids) or not len(self.sorted_ids):
            return
        at = np.searchsorted(self.sorted_ids, ids)
        at = at[at < len(self.sorted_ids)]
        found = at[np.isin(self.sorted_ids[at], ids)]
        if not len(found):
            return
        rows = self.sorted_rows[found]
        self.dead += int(np.count_nonzero(self.alive[rows]))
        self.alive[rows] = False
        self.sorted_ids = np.delete(self.sorted_ids, found)
        self.sorted_rows = np.delete(self.sorted_rows, found)

    def forget(self, ids: np.ndarray) -> None:
        with self.lock:
            self._forget(ids)

    def forget_gone(self, ids: np.ndarray, *, using: str) -> None:
        """Drop the ids among `ids` that no longer hold a current vector."""
        if not len(ids):
            return
        still = set(self._chunks().filter(id__in=ids.tolist()).values_list("id", flat=True))
        gone = np.asarray([i for i in ids.tolist() if i not in still], dtype=np.int64)
        self.forget(gone)


_caches: dict[tuple[str, str, str], _VectorCache] = {}
_caches_lock = threading.Lock()


def _cache(using: str, embedder_name: str) -> _VectorCache:
    key = (using, str(connections[using].settings_dict.get("NAME")), embedder_name)
    with _caches_lock:
        cache = _caches.get(key)
        if cache is None:
            cache = _caches[key] = _VectorCache(using, embedder_name)
        return cache


def _loaded_view(using: str) -> _View | None:
    """The rows of this database's vector cache as they are, not refreshed, if this process
    has loaded one (the keyword side never loads one: a vector search does); else None."""
    name = str(connections[using].settings_dict.get("NAME"))
    with _caches_lock:
        loaded = [
            cache
            for (alias, database, _), cache in _caches.items()
            if alias == using and database == name and cache.size
        ]
    if not loaded:
        return None
    return max(loaded, key=lambda cache: cache.loaded_at).snapshot()


def reset_caches() -> None:
    """Forget every cached row (tests; a process after its database was replaced)."""
    with _caches_lock:
        _caches.clear()
