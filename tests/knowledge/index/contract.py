"""The contract every index backend passes (knowledge/index/base.py).

A backend's test class inherits `IndexBackendContract` and provides `backend()`: a fresh,
empty backend. Backends whose records must exist elsewhere first (the db backend keeps its
index in the Chunk table) also override `store(specs)`, which turns record specs into stored
records with their real ids, `change(record, **fields)`, which changes a stored chunk the way
the source would, and `discard(records)`, which removes stored chunks before the index is told.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge.embeddings.hashing import HashingEmbedder
from knowledge.index.base import PUBLIC, ChunkRecord, Filters, IndexBackend, Scope

EMBEDDER = HashingEmbedder()
BASE_TIME = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
EVERYONE = Scope(principals=None)


@dataclass(frozen=True)
class Spec:
    """A chunk to index, before it has ids."""

    text: str
    principals: tuple[str, ...] = (PUBLIC,)
    colleague_id: int | None = None
    source_id: int = 1
    kind: str = "message"
    days: int = 0  # after BASE_TIME


def vector(text: str) -> np.ndarray:
    return EMBEDDER.embed([text])[0]


def scope(*principals: str) -> Scope:
    return Scope(principals=frozenset({PUBLIC, *principals}))


class IndexBackendContract:
    _ids = itertools.count(1)

    def backend(self) -> IndexBackend:
        raise NotImplementedError

    def store(self, specs: list[Spec]) -> list[ChunkRecord]:
        """Records for `specs`, with ids nobody else uses."""
        return [
            ChunkRecord(
                chunk_id=(n := next(self._ids)),
                item_id=n,
                text=spec.text,
                vector=vector(spec.text),
                principals=spec.principals,
                colleague_id=spec.colleague_id,
                source_id=spec.source_id,
                kind=spec.kind,
                created_at=BASE_TIME + timedelta(days=spec.days),
            )
            for spec in specs
        ]

    def change(self, record: ChunkRecord, **fields: object) -> ChunkRecord:
        """The record of a chunk after its text or visibility changed at the source."""
        return dataclasses.replace(record, **fields)  # type: ignore[arg-type]

    def discard(self, records: list[ChunkRecord]) -> None:
        """Remove these chunks where they are stored, before the index is told to delete them."""

    def indexed(self, specs: list[Spec]) -> tuple[IndexBackend, list[ChunkRecord]]:
        backend = self.backend()
        records = self.store(specs)
        backend.upsert(records)
        return backend, records

    # Keyword and vector search find what they should.

    def test_keyword_search_finds_the_chunk_with_the_words(self) -> None:
        backend, records = self.indexed(
            [Spec("rotate the billing api keys quarterly"), Spec("lunch menu for friday")]
        )
        hits = backend.keyword_search("billing keys", scope=EVERYONE, filters=Filters(), limit=5)
        assert [h.chunk_id for h in hits] == [records[0].chunk_id]
        assert hits[0].item_id == records[0].item_id

    def test_vector_search_ranks_the_nearest_first(self) -> None:
        backend, records = self.indexed(
            [
                Spec("kubernetes node drain before kernel patching"),
                Spec("quarterly revenue forecast for the sales team"),
                Spec("draining kubernetes nodes for kernel patches"),
            ]
        )
        hits = backend.vector_search(
            vector("drain kubernetes nodes before patching the kernel"),
            scope=EVERYONE,
            filters=Filters(),
            limit=3,
        )
        assert hits[-1].chunk_id == records[1].chunk_id
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    def test_limit_is_respected(self) -> None:
        backend, _ = self.indexed([Spec(f"incident report number {n}") for n in range(12)])
        assert (
            len(backend.keyword_search("incident", scope=EVERYONE, filters=Filters(), limit=5)) == 5
        )
        assert (
            len(
                backend.vector_search(
                    vector("incident"), scope=EVERYONE, filters=Filters(), limit=5
                )
            )
            == 5
        )

    # Visibility is part of the query.

    def test_a_chunk_outside_the_scope_is_never_returned(self) -> None:
        backend, records = self.indexed(
            [
                Spec("postmortem draft for the payments outage", principals=("c7",)),
                Spec("postmortem template everyone can use"),
            ]
        )
        for hits in (
            backend.keyword_search("postmortem", scope=scope("i1"), filters=Filters(), limit=10),
            backend.vector_search(
                vector("postmortem"), scope=scope("i1"), filters=Filters(), limit=10
            ),
        ):
            assert [h.chunk_id for h in hits] == [records[1].chunk_id]
        members = backend.keyword_search(
            "postmortem", scope=scope("c7"), filters=Filters(), limit=10
        )
        assert {h.chunk_id for h in members} == {r.chunk_id for r in records}

    def test_hidden_chunks_never_take_a_top_k_slot(self) -> None:
        """Filtered HNSW can come back short: with 200 hidden near neighbours and 5 visible
        far ones, the reader still gets all 5."""
        hidden = [Spec(f"salary band sheet row {n}", principals=("c9",)) for n in range(200)]
        visible = [Spec(f"office plants watering rota week {n}") for n in range(5)]
        backend, records = self.indexed(hidden + visible)
        wanted = {r.chunk_id for r in records[200:]}
        hits = backend.vector_search(
            vector("salary band sheet"), scope=scope("i1"), filters=Filters(), limit=5
        )
        assert {h.chunk_id for h in hits} == wanted

    def test_nobody_sees_a_chunk_with_no_principals(self) -> None:
        backend, records = self.indexed([Spec("orphaned note", principals=())])
        assert not backend.keyword_search("orphaned", scope=scope("i1"), filters=Filters(), limit=5)
        assert [
            h.chunk_id
            for h in backend.keyword_search("orphaned", scope=EVERYONE, filters=Filters(), limit=5)
        ] == [records[0].chunk_id]

    # Filters narrow within the scope.

    def test_filters_by_colleague_source_kind_and_date(self) -> None:
        backend, records = self.indexed(
            [
                Spec("deploy checklist", colleague_id=1, source_id=1, kind="message", days=0),
                Spec("deploy checklist", colleague_id=2, source_id=1, kind="email", days=10),
                Spec("deploy checklist", colleague_id=1, source_id=2, kind="document", days=20),
            ]
        )
        ids = [r.chunk_id for r in records]

        def found(filters: Filters) -> set[int]:
            keyword = backend.keyword_search("deploy", scope=EVERYONE, filters=filters, limit=10)
            near = backend.vector_search(
                vector("deploy"), scope=EVERYONE, filters=filters, limit=10
            )
            assert {h.chunk_id for h in keyword} == {h.chunk_id for h in near}
            return {h.chunk_id for h in keyword}

        assert found(Filters(colleague_id=1)) == {ids[0], ids[2]}
        assert found(Filters(source_ids=(2,))) == {ids[2]}
        assert found(Filters(kinds=("email", "document"))) == {ids[1], ids[2]}
        assert found(Filters(since=BASE_TIME + timedelta(days=5))) == {ids[1], ids[2]}
        assert found(Filters(until=BASE_TIME + timedelta(days=15))) == {ids[0], ids[1]}

    # Writes.

    def test_upsert_replaces_text_and_visibility(self) -> None:
        backend, records = self.indexed([Spec("old wording about vault tokens")])
        first = records[0]
        backend.upsert(
            [
                self.change(
                    first,
                    text="new wording about billing",
                    vector=vector("new wording about billing"),
                    principals=("c3",),
                )
            ]
        )
        assert not backend.keyword_search("vault", scope=EVERYONE, filters=Filters(), limit=5)
        assert not backend.keyword_search("billing", scope=scope("i1"), filters=Filters(), limit=5)
        assert backend.keyword_search("billing", scope=scope("c3"), filters=Filters(), limit=5)
        assert list(backend.indexed_ids()).count(first.chunk_id) == 1

    def test_delete_removes_from_both_sides_and_from_the_ids(self) -> None:
        backend, records = self.indexed([Spec("erase me please"), Spec("keep me please")])
        self.discard(records[:1])
        backend.delete([records[0].chunk_id, 10**9])
        assert {
            h.chunk_id
            for h in backend.keyword_search("please", scope=EVERYONE, filters=Filters(), limit=5)
        } == {records[1].chunk_id}
        assert {
            h.chunk_id
            for h in backend.vector_search(
                vector("erase me please"), scope=EVERYONE, filters=Filters(), limit=5
            )
        } == {records[1].chunk_id}
        ids = set(backend.indexed_ids())
        assert records[0].chunk_id not in ids
        assert records[1].chunk_id in ids

    def test_chunks_not_yet_embedded_are_found_by_keyword_only(self) -> None:
        backend = self.backend()
        (record,) = self.store([Spec("pending embedding of this chunk")])
        backend.upsert([ChunkRecord(**{**record.__dict__, "vector": None})])
        assert backend.keyword_search("pending", scope=EVERYONE, filters=Filters(), limit=5)
        assert not backend.vector_search(
            vector("pending embedding"), scope=EVERYONE, filters=Filters(), limit=5
        )

    # No leak, whatever the organisation.

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["alpha", "beta", "gamma"]),
                st.sets(st.sampled_from([PUBLIC, "c1", "c2", "i1", "i2"]), max_size=2),
            ),
            min_size=1,
            max_size=15,
        ),
        st.sets(st.sampled_from(["c1", "c2", "i1", "i2"]), max_size=2),
    )
    def test_random_organisations_never_leak(
        self, chunks: list[tuple[str, set[str]]], held: set[str]
    ) -> None:
        backend, records = self.indexed(
            [Spec(f"{word} report", principals=tuple(sorted(p))) for word, p in chunks]
        )
        reader = scope(*held)
        assert reader.principals is not None
        allowed = {r.chunk_id for r in records if set(r.principals) & reader.principals}
        for word in ("alpha", "beta", "gamma"):
            keyword = backend.keyword_search(word, scope=reader, filters=Filters(), limit=20)
            near = backend.vector_search(
                vector(f"{word} report"), scope=reader, filters=Filters(), limit=20
            )
            assert {h.chunk_id for h in keyword} <= allowed
            assert {h.chunk_id for h in near} <= allowed
        every = backend.vector_search(vector("report"), scope=reader, filters=Filters(), limit=20)
        assert {h.chunk_id for h in every} == allowed
