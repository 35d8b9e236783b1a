"""Hybrid retrieval: keyword (BM25) and vector search, fused by reciprocal rank.

`retrieve(reader, query, ...)` asks the configured index backend (knowledge.index) twice: for
the words of the query (`keyword_search`) and for its embedding (`vector_search`), each inside
the reader's Scope and the Filters. Visibility is part of both backend queries, so a hidden
chunk never takes a candidate slot; the items are then read through items_visible_to, which
drops nothing a backend returned correctly.

Fusion is reciprocal-rank fusion over *items* (an item ranks at its best chunk in each list):
score(item) = sum over sides of weight / (k + rank), k = 60 by default. An optional recency
boost multiplies the fused score by 1 + weight * 2^(-age / half-life).

Chunks without a vector (pending, or made by another embedder) are still found by the keyword
side. If the query cannot be embedded (an embeddings server is down, a model is missing) the
hybrid and vector modes fall back to keyword search with a logged warning.

Ranking is deterministic: ties break by item id. The candidate depth grows in fixed blocks of
`depth` with offset + limit, so consecutive pages inside one block come from one fused list.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from django.conf import settings
from django.db import connection, transaction

from knowledge.index import get_index, scope_for
from knowledge.index.base import ChunkHit, Filters, Scope
from knowledge.models import Chunk, Item
from knowledge.search import MARK_END, MARK_START, SearchHit, query_terms
from knowledge.selectors import visible_items_among
from knowledge.text import cjk_matches, has_cjk
from knowledge.visibility import Reader

logger = logging.getLogger(__name__)

Mode = Literal["hybrid", "keyword", "vector"]
MODES: tuple[str, ...] = ("hybrid", "keyword", "vector")
KEYWORD = "keyword"
VECTOR = "vector"

#: Characters of a chunk shown around the first matched word when the database has no snippet.
EXCERPT_CHARS = 240


@dataclass(frozen=True)
class Tuning:
    """The knobs of fusion; defaults come from settings (COLLEAGUE_RETRIEVAL_*)."""

    #: 20, not the customary 60: chosen on the Enron query set of seed 13 once chunks carried
    #: their context, confirmed on seeds 14-16 (docs/BENCHMARKS.md, "Chunking per kind").
    rrf_k: float = 20.0
    keyword_weight: float = 1.0
    vector_weight: float = 1.0
    depth: int = 100  # chunks asked of each side, per block of results
    recency_weight: float = 0.5
    recency_half_life_days: float = 180.0
    #: "rrf" (reciprocal rank) or "convex": keyword_weight * BM25 / best BM25 plus
    #: vector_weight * cosine / best cosine, each over this query's candidates.
    fusion: str = "rrf"

    @classmethod
    def from_settings(cls) -> Tuning:
        def get(name: str, default: float) -> float:
            return float(getattr(settings, f"COLLEAGUE_RETRIEVAL_{name}", default))

        return cls(
            rrf_k=get("RRF_K", cls.rrf_k),
            keyword_weight=get("KEYWORD_WEIGHT", cls.keyword_weight),
            vector_weight=get("VECTOR_WEIGHT", cls.vector_weight),
            depth=max(1, int(get("DEPTH", cls.depth))),
            recency_weight=get("RECENCY_WEIGHT", cls.recency_weight),
            recency_half_life_days=get("RECENCY_HALF_LIFE_DAYS", cls.recency_half_life_days),
            fusion=str(getattr(settings, "COLLEAGUE_RETRIEVAL_FUSION", cls.fusion)),
        )


@dataclass(frozen=True)
class Retrieval:
    """One page of results and how it was found."""

    hits: list[SearchHit]
    mode: str  # the mode used: the one asked for, or "keyword" after a fallback
    requested_mode: str
    fallback_reason: str | None = None
    candidates: int = 0  # distinct items fused, all inside the reader's scope


@dataclass
class _Fused:
    item_id: int
    score: float = 0.0
    matched: list[str] = field(default_factory=list)
    keyword_chunk: int | None = None
    vector_chunk: int | None = None


def retrieve(
    reader: Reader,
    query: str,
    *,
    filters: Filters | None = None,
    limit: int = 20,
    offset: int = 0,
    mode: str = "hybrid",
    recency: bool = False,
    tuning: Tuning | None = None,
    excerpts: bool = True,
) -> Retrieval:
    """The items best matching `query` that `reader` may see, one hit per item, best first.

    Without `excerpts`, every hit's excerpt is "" (a caller reading the chunks itself skips
    the database's snippets: at 1M chunks FTS5 matches the query again to make them)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    filters = filters or Filters()
    tuning = tuning or Tuning.from_settings()
    empty = Retrieval(hits=[], mode=mode, requested_mode=mode)
    terms = query_terms(query)
    if not query.strip() or limit <= 0 or offset < 0:
        return empty
    scope = scope_for(reader)
    if scope.principals is not None and not scope.principals:
        return empty  # not a member: sees nothing
    index = get_index()
    wanted = offset + limit
    depth = tuning.depth * math.ceil(wanted / tuning.depth)

    used = mode
    reason: str | None = None
    vector_hits: list[ChunkHit] = []
    if mode in ("hybrid", "vector"):
        try:
            vector_hits = vector_side(query, scope=scope, filters=filters, limit=depth)
        except Exception as exc:  # the vector side degrades, never fails a page
            reason = f"{type(exc).__name__}: {exc}"
            logger.warning("vector search unavailable, falling back to keyword search: %s", reason)
            used = "keyword"
            vector_hits = []
    keyword_hits: list[ChunkHit] = []
    if used in ("hybrid", "keyword") and terms:
        keyword_hits = index.keyword_search(query, scope=scope, filters=filters, limit=depth)

    fused: dict[int, _Fused] = {}
    weights = {KEYWORD: tuning.keyword_weight, VECTOR: tuning.vector_weight}
    for side, side_hits in ((KEYWORD, keyword_hits), (VECTOR, vector_hits)):
        rank = 0
        best = max((h.score for h in side_hits), default=0.0)
        for hit in side_hits:
            entry = fused.get(hit.item_id)
            if entry is None:
                entry = fused[hit.item_id] = _Fused(hit.item_id)
            if side in entry.matched:
                continue  # a later chunk of an item already ranked on this side
            rank += 1
            entry.matched.append(side)
            if tuning.fusion == "convex":
                entry.score += weights[side] * (hit.score / best if best > 0 else 0.0)
            else:
                entry.score += weights[side] / (tuning.rrf_k + rank)
            if side == KEYWORD:
                entry.keyword_chunk = hit.chunk_id
            else:
                entry.vector_chunk = hit.chunk_id

    if recency and fused:
        now = datetime.now(tz=UTC)
        half_life = max(tuning.recency_half_life_days, 1e-6)
        created = dict(Item.objects.filter(pk__in=list(fused)).values_list("pk", "created_at"))
        for entry in fused.values():
            if entry.item_id in created:
                age_days = max((now - created[entry.item_id]).total_seconds() / 86400.0, 0.0)
                entry.score *= 1.0 + tuning.recency_weight * 0.5 ** (age_days / half_life)
    ranked = sorted(fused.values(), key=lambda e: (-e.score, e.item_id))
    # Only the page's items are read, through the visibility selector once more (the backends
    # already kept the scope; an item deleted or hidden since is skipped, the next one taken).
    page: list[_Fused] = []
    items: dict[int, Item] = {}
    start = offset
    while len(page) < limit and start < len(ranked):
        batch = ranked[start : start + (limit - len(page))]
        items.update(visible_items_among(reader, [e.item_id for e in batch]).in_bulk())
        page.extend(e for e in batch if e.item_id in items)
        start += len(batch)
    chunk_ids = [_best_chunk(e) for e in page]
    shown = (
        excerpts_for(chunk_ids, terms, keyword_ids={e.keyword_chunk for e in page})
        if excerpts
        else {}
    )
    hits = [
        SearchHit(
            item=items[e.item_id],
            score=e.score,
            excerpt=shown.get(chunk_id, ""),
            matched=tuple(sorted(e.matched)),
            chunk_id=chunk_id,
        )
        for e, chunk_id in zip(page, chunk_ids, strict=True)
    ]
    return Retrieval(
        hits=hits,
        mode=used,
        requested_mode=mode,
        fallback_reason=reason,
        candidates=len(ranked),
    )


def vector_side(query: str, *, scope: Scope, filters: Filters, limit: int) -> list[ChunkHit]:
    """The index's `limit` chunks nearest `query` by meaning inside `scope`, best first.

    Raises what the embedder or the index raises (an embeddings server down, ValueError for
    a query with no content or an index of vectors of another dimension), leaving the
    caller's transaction usable."""
    from knowledge.embeddings import get_embedder

    vector = get_embedder().embed_one(query)
    if not vector.any():
        raise ValueError("the query has no content to embed")
    # Inside a transaction, a savepoint: on PostgreSQL a failed query would otherwise abort
    # the caller's transaction and the queries after it. Outside one, no transaction: on
    # SQLite it would take the write lock (BEGIN IMMEDIATE, see config/settings.py) for a
    # read, stalling every writer meanwhile.
    in_transaction = connection.in_atomic_block
    with transaction.atomic() if in_transaction else contextlib.nullcontext():
        return get_index().vector_search(vector, scope=scope, filters=filters, limit=limit)


def _best_chunk(entry: _Fused) -> int:
    # The keyword side's chunk holds the words, so its excerpt can show them.
    chunk = entry.keyword_chunk if entry.keyword_chunk is not None else entry.vector_chunk
    assert chunk is not None
    return chunk


# Excerpts.


def excerpts_for(
    chunk_ids: Sequence[int], terms: Sequence[str], *, keyword_ids: set[int | None]
) -> dict[int, str]:
    """An excerpt of each chunk with MARK_START / MARK_END around the query's words.

    Chunks found by words get the database's own snippet (FTS5 snippet(), ts_headline), which
    marks stemmed forms too; the rest a window of their text around the first word matched.
    """
    out: dict[int, str] = {}
    worded = [c for c in chunk_ids if c in keyword_ids]
    # The database marks English words only: a query with CJK words is marked here.
    if worded and terms and not any(has_cjk(t) for t in terms):
        out.update(_database_snippets(worded, terms))
    missing = [c for c in chunk_ids if c not in out]
    if missing:
        texts = dict(Chunk.objects.filter(id__in=missing).values_list("id", "text"))
        for chunk_id in missing:
            out[chunk_id] = window_excerpt(texts.get(chunk_id, ""), terms)
    return out


def _database_snippets(chunk_ids: Sequence[int], terms: Sequence[str]) -> dict[int, str]:
    ids = list(dict.fromkeys(chunk_ids))
    marks = ", ".join(["%s"] * len(ids))
    if connection.vendor == "postgresql":
        tsquery = "(" + " || ".join(["plainto_tsquery('english', %s)"] * len(terms)) + ")"
        options = (
            f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=40, MinWords=15,"
            ' MaxFragments=2, FragmentDelimiter=" … "'
        )
        sql = (
            f"SELECT c.id, ts_headline('english', c.text, {tsquery}, %s)"  # noqa: S608
            f" FROM knowledge_chunk c WHERE c.id IN ({marks})"
        )
        values: list[Any] = [*terms, options, *ids]
    else:
        # Each term is quoted, so nothing in a query is FTS5 syntax.
        sql = (
            "SELECT rowid, snippet(knowledge_chunk_fts, 0, %s, %s, '…', 32)"  # noqa: S608
            f" FROM knowledge_chunk_fts WHERE knowledge_chunk_fts MATCH %s AND rowid IN ({marks})"
        )
        values = [MARK_START, MARK_END, " OR ".join(f'"{t}"' for t in terms), *ids]
    # Only constant SQL is interpolated; every value is a parameter.
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return {int(r[0]): str(r[1]) for r in cursor.fetchall()}


def window_excerpt(text: str, terms: Sequence[str], size: int = EXCERPT_CHARS) -> str:
    """About `size` characters of `text` around the first of `terms`, each term marked."""
    text = " ".join(text.split())
    pattern = _marked(terms)
    first = pattern.search(text) if pattern else None
    start = max(0, (first.start() if first else 0) - size // 3)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 30 else start
    end = min(len(text), start + size)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + size // 2 else end
    window = text[start:end]
    if pattern is not None:
        window = pattern.sub(lambda m: f"{MARK_START}{m.group(0)}{MARK_END}", window)
    return ("…" if start else "") + window + ("…" if end < len(text) else "")


def _marked(terms: Sequence[str]) -> re.Pattern[str] | None:
    """What an excerpt marks: a Latin-script term from a word start, with the rest of its word
    ("rotat" marks "rotation"); a CJK term where it stands, or, for one looked up by its
    bigrams (knowledge.text.cjk_matches), any of them, longest first."""
    latin = [re.escape(t) for t in terms if not has_cjk(t)]
    cjk: set[str] = set()
    for term in terms:
        if has_cjk(term):
            cjk.add(term)
            cjk.update("".join(m.tokens) if len(m.tokens) == 1 else term for m in cjk_matches(term))
    alternatives = []
    if latin:
        alternatives.append(r"\b(?:" + "|".join(latin) + r")\w*")
    if cjk:
        alternatives.append("|".join(re.escape(t) for t in sorted(cjk, key=lambda t: (-len(t), t))))
    return re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None


def parse_when(value: str, *, end: bool = False) -> datetime:
    """An ISO date or date-time as an aware datetime (UTC when no zone is given).

    A bare date means its first moment, or with `end` its last (so `until` includes the day).
    """
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.max if end else time.min)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO date or date-time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment
