"""Keyword search over chunks, within the reader's visibility, ranked by relevance.

SQLite uses FTS5 with BM25; PostgreSQL a GIN-indexed tsvector ranked with ts_rank_cd. The
visibility filter is part of the SQL that ranks, so hidden chunks never take a top-k slot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import connection

from colleagues.models import Colleague
from knowledge.models import Item
from knowledge.selectors import STOPWORDS, items_visible_to
from knowledge.visibility import Reader, visible_audiences

# Around each matched word in an excerpt; the UI turns them into <mark>, JSON drops them.
MARK_START = "\ue000"
MARK_END = "\ue001"
_TOKEN = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_TERMS = 32


@dataclass(frozen=True)
class SearchHit:
    item: Item
    score: float
    excerpt: str  # with MARK_START / MARK_END around matches

    @property
    def plain_excerpt(self) -> str:
        return self.excerpt.replace(MARK_START, "").replace(MARK_END, "")


def query_terms(query: str) -> list[str]:
    """The distinct words of a query worth matching, in order."""
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(query.lower()):
        if token not in STOPWORDS and token.strip("_"):
            seen.setdefault(token, None)
    terms = list(seen) or list(dict.fromkeys(_TOKEN.findall(query.lower())))
    return terms[:MAX_QUERY_TERMS]


def search_items(
    *,
    reader: Reader,
    query: str,
    colleague: Colleague | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[SearchHit]:
    """Items matching any word of `query` that `reader` may see, best first, one hit per item."""
    terms = query_terms(query)
    if not terms or limit <= 0:
        return []
    wanted = offset + limit
    rows = _ranked_chunks(reader, terms, colleague, wanted * 4)
    best: dict[int, tuple[float, str]] = {}
    for item_id, score, excerpt in rows:
        if item_id not in best:
            best[item_id] = (score, excerpt)
    ranked = list(best.items())[offset:wanted]
    items = items_visible_to(reader).in_bulk([item_id for item_id, _ in ranked])
    return [
        SearchHit(item=items[item_id], score=score, excerpt=excerpt)
        for item_id, (score, excerpt) in ranked
        if item_id in items
    ]


def _filters(reader: Reader, colleague: Colleague | None) -> tuple[str, list[Any]]:
    sql: list[str] = []
    params: list[Any] = []
    if not reader.unrestricted:
        audience_sql, audience_params = (
            visible_audiences(reader).values("id").query.sql_with_params()
        )
        sql.append(f"c.audience_id IN ({audience_sql})")
        params.extend(audience_params)
    if colleague is not None:
        sql.append(
            "c.item_id IN (SELECT i.id FROM knowledge_item i JOIN colleagues_identity a"
            " ON a.id = i.author_id WHERE a.colleague_id = %s)"
        )
        params.append(colleague.pk)
    return "".join(f" AND {clause}" for clause in sql), params


def _ranked_chunks(
    reader: Reader, terms: list[str], colleague: Colleague | None, limit: int
) -> list[tuple[int, float, str]]:
    if not reader.unrestricted and not reader.is_member:
        return []
    where, params = _filters(reader, colleague)
    if connection.vendor == "postgresql":
        return _ranked_chunks_postgres(terms, where, params, limit)
    return _ranked_chunks_sqlite(terms, where, params, limit)


def _ranked_chunks_sqlite(
    terms: list[str], where: str, params: list[Any], limit: int
) -> list[tuple[int, float, str]]:
    # Each term is quoted, so nothing in a query is FTS5 syntax.
    match = " OR ".join(f'"{term}"' for term in terms)
    # Only constant SQL and `where` (built from Django's own compiled SQL) are interpolated;
    # every value is a parameter.
    sql = (
        "SELECT c.item_id, -bm25(knowledge_chunk_fts) AS score,"
        " snippet(knowledge_chunk_fts, 0, %s, %s, '…', 32)"
        " FROM knowledge_chunk_fts JOIN knowledge_chunk c ON c.id = knowledge_chunk_fts.rowid"
        f" WHERE knowledge_chunk_fts MATCH %s{where}"
        " ORDER BY bm25(knowledge_chunk_fts) LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [MARK_START, MARK_END, match, *params, limit])
        return [(int(r[0]), float(r[1]), str(r[2])) for r in cursor.fetchall()]


def _ranked_chunks_postgres(
    terms: list[str], where: str, params: list[Any], limit: int
) -> list[tuple[int, float, str]]:
    # Terms are \w+ words joined by OR; plainto_tsquery normalises each one safely.
    tsquery = "(" + " || ".join(["plainto_tsquery('english', %s)"] * len(terms)) + ")"
    sql = (
        "WITH q AS (SELECT " + tsquery + " AS query),"
        " ranked AS (SELECT c.id, c.item_id, ts_rank_cd(c.search_vector, q.query) AS score"
        " FROM knowledge_chunk c, q"
        f" WHERE c.search_vector @@ q.query{where}"
        " ORDER BY score DESC, c.id LIMIT %s)"
        " SELECT r.item_id, r.score, ts_headline('english', c.text, q.query,"
        " %s) FROM ranked r JOIN knowledge_chunk c ON c.id = r.id, q"
        " ORDER BY r.score DESC, r.id"
    )
    options = (
        f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=40, MinWords=15,"
        ' MaxFragments=2, FragmentDelimiter=" … "'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*terms, *params, limit, options])
        return [(int(r[0]), float(r[1]), str(r[2])) for r in cursor.fetchall()]


def hit_as_json(hit: SearchHit) -> dict[str, object]:
    """A hit in the command-line contract's shape (docs/ARCHITECTURE.md)."""
    item = hit.item
    colleague = item.author.colleague if item.author is not None else None
    return {
        "item_id": item.pk,
        "colleague": colleague.email or None if colleague is not None else None,
        "excerpt": hit.plain_excerpt,
        "score": round(hit.score, 6),
        "source": item.source.name,
        "created_at": item.created_at.isoformat(),
        "url": item.url or None,
    }
