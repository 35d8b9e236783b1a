"""The db backend's keyword side on SQLite: ranked in FTS5 first, scoped on the best blocks.

`DbIndexBackend.keyword_search` must return exactly what the one-shot query
(`_sqlite_keyword_sql`: every match joined to its chunk and item, scope and filters in the
WHERE clause, then ordered and limited) returns: the same chunks, scores and order, for any
reader, scope, filters and limit, ties in BM25 included.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colleagues.models import Colleague, Identity
from knowledge.index.base import PUBLIC, ChunkHit, Filters, Scope
from knowledge.index.cjk import split_terms
from knowledge.index.db import DbIndexBackend, _sqlite_keyword_sql
from knowledge.models import Chunk
from knowledge.search import query_terms
from tests.knowledge.index import test_db_backend as db_tests
from tests.knowledge.index.contract import BASE_TIME, Spec, vector

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite keyword path"),
]

# Few words, often repeated: many chunks hold the same words the same number of times, so
# BM25 ties (broken by chunk id) are common. One CJK word takes the query with CJK words.
WORDS = ["alpha", "beta", "gamma", "delta", "数据库"]
PRINCIPALS = [PUBLIC, "c1", "c2", "i1", "i2"]
COLLEAGUES = [None, 1, 2, 3]


def one_shot(
    backend: DbIndexBackend, query: str, *, scope: Scope, filters: Filters, limit: int
) -> list[ChunkHit]:
    """The hits of the one-shot query, as keyword_search returned them before."""
    try:
        where, params = backend._where(scope, filters)
    except EmptyResultSet:
        return []
    latin, cjk = split_terms(query_terms(query))
    sql, values = _sqlite_keyword_sql(latin, cjk, where)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *params, limit])
        return [ChunkHit(int(r[0]), int(r[1]), float(r[2])) for r in cursor.fetchall()]


texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)
specs = st.builds(
    Spec,
    text=texts,
    principals=st.sets(st.sampled_from(PRINCIPALS), max_size=2).map(lambda p: tuple(sorted(p))),
    colleague_id=st.sampled_from(COLLEAGUES),
    source_id=st.sampled_from([1, 2]),
    kind=st.sampled_from(["message", "email", "document"]),
    days=st.integers(0, 30),
)
scopes = st.one_of(
    st.just(Scope(principals=None)),
    st.sets(st.sampled_from([*PRINCIPALS, "a1", "a2", "a3", "c9"]), max_size=4).map(
        lambda held: Scope(principals=frozenset(held))
    ),
)
days = st.none() | st.integers(0, 30).map(lambda d: BASE_TIME + timedelta(days=d))
filters = st.builds(
    Filters,
    colleague_id=st.sampled_from([*COLLEAGUES, 4]),
    source_ids=st.sampled_from([(), (1,), (2,), (1, 2)]),
    kinds=st.sampled_from([(), ("message",), ("email", "document")]),
    since=days,
    until=days,
)
queries = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    chunks=st.lists(specs, min_size=1, max_size=40),
    # Second chunks of some items (their index among `chunks`), stored after all the first.
    seconds=st.lists(st.tuples(st.integers(0, 39), texts), max_size=10),
    searches=st.lists(
        st.tuples(queries, scopes, filters, st.integers(1, 25), st.integers(1, 12)),
        min_size=1,
        max_size=6,
    ),
    # With the vector cache loaded (a vector search first), a colleague's keyword search
    # tells their chunks apart by it; then identities move between colleagues.
    warm=st.booleans(),
    moves=st.lists(st.tuples(st.sampled_from(COLLEAGUES[1:]), st.integers(1, 4)), max_size=2),
)
def test_keyword_search_returns_exactly_the_one_shot_querys_hits(
    chunks: list[Spec],
    seconds: list[tuple[int, str]],
    searches: list[tuple[str, Scope, Filters, int, int]],
    warm: bool,
    moves: list[tuple[int, int]],
) -> None:
    store = db_tests.TestDbIndexBackend()
    backend = store.backend()
    records = store.store(chunks)
    # Half the records embedded before the cache loads, the rest after (not in it).
    backend.upsert(records[::2])
    if warm:
        backend.vector_search(
            vector("alpha"), scope=Scope(principals=None), filters=Filters(), limit=1
        )
    backend.upsert(records[1::2])
    for at, text in seconds:  # pending: no vector
        first = Chunk.objects.get(pk=records[at % len(records)].chunk_id)
        Chunk.objects.get_or_create(
            item_id=first.item_id, ordinal=1, defaults={"text": text, "audience": first.audience}
        )
    for identity_of, joins in moves:
        colleague, _ = Colleague.objects.get_or_create(
            pk=joins, defaults={"name": f"Colleague {joins}", "slug": f"colleague-{joins}"}
        )
        Identity.objects.filter(pk=1000 + identity_of).update(colleague=colleague)
    for query, scope, narrowing, limit, block in searches:
        # Small blocks: the first block is often short of visible hits, so the fall-back
        # query runs as well as the block's own answer.
        with override_settings(COLLEAGUE_INDEX_DB_KEYWORD_BLOCK=block):
            hits = backend.keyword_search(query, scope=scope, filters=narrowing, limit=limit)
        assert hits == one_shot(backend, query, scope=scope, filters=narrowing, limit=limit)


def _stored(texts: list[str], **fields: Any) -> tuple[DbIndexBackend, list[int]]:
    store = db_tests.TestDbIndexBackend()
    backend = store.backend()
    records = store.store([Spec(text, **fields) for text in texts])
    backend.upsert(records)
    return backend, [r.chunk_id for r in records]


def test_equal_scores_come_in_chunk_id_order() -> None:
    backend, ids = _stored(["incident review"] * 30)
    hits = backend.keyword_search(
        "incident", scope=Scope(principals=None), filters=Filters(), limit=12
    )
    assert [h.chunk_id for h in hits] == ids[:12]
    assert len({h.score for h in hits}) == 1


def test_a_reader_who_sees_few_matches_still_gets_every_visible_one() -> None:
    """600 hidden matches rank above the 5 visible ones: more than the first block holds."""
    hidden = ["salary salary salary review"] * 600
    backend, hidden_ids = _stored(hidden, principals=("c9",))
    store = db_tests.TestDbIndexBackend()
    visible = store.store([Spec(f"salary review week {n}") for n in range(5)])
    backend.upsert(visible)
    hits = backend.keyword_search(
        "salary", scope=Scope(principals=frozenset({PUBLIC})), filters=Filters(), limit=10
    )
    assert {h.chunk_id for h in hits} == {r.chunk_id for r in visible}
    assert not {h.chunk_id for h in hits} & set(hidden_ids)


def test_one_colleagues_chunks_are_found_among_many_better_matches() -> None:
    store = db_tests.TestDbIndexBackend()
    backend = store.backend()
    others = store.store([Spec("budget budget budget plan", colleague_id=1)] * 600)
    mine = store.store([Spec(f"budget plan draft {n}", colleague_id=2) for n in range(3)])
    backend.upsert(others + mine)
    hits = backend.keyword_search(
        "budget", scope=Scope(principals=None), filters=Filters(colleague_id=2), limit=10
    )
    assert [h.chunk_id for h in hits] == [r.chunk_id for r in mine]


def test_a_colleagues_chunks_are_found_by_word_with_the_vector_cache_loaded() -> None:
    """Scoped to one colleague with the vector cache warm: their chunks embedded before it
    loaded, embedded since, not embedded, and those of an identity that joined them since."""
    store = db_tests.TestDbIndexBackend()
    backend = store.backend()
    others = store.store([Spec("budget budget budget plan", colleague_id=1)] * 300)
    before = store.store([Spec(f"budget plan draft {n}", colleague_id=2) for n in range(3)])
    backend.upsert(others + before)
    everyone = Scope(principals=None)
    backend.vector_search(vector("budget"), scope=everyone, filters=Filters(), limit=1)
    since = store.store([Spec("budget plan since", colleague_id=2)])
    backend.upsert(since)
    pending = store.store([Spec("budget plan pending", colleague_id=2)])
    joined = store.store([Spec("budget plan of an old address", colleague_id=3)])
    backend.upsert(joined)
    Identity.objects.filter(pk=1003).update(colleague_id=2)

    hits = backend.keyword_search(
        "budget", scope=everyone, filters=Filters(colleague_id=2), limit=20
    )

    assert {h.chunk_id for h in hits} == {r.chunk_id for r in before + since + pending + joined}
    assert not backend.keyword_search(
        "budget", scope=everyone, filters=Filters(colleague_id=3), limit=20
    )
