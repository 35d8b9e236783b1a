"""The Weaviate backend: the contract against a real server, the rest at the client boundary.

`TestWeaviateBackend` runs the contract suite against the Weaviate server at WEAVIATE_URL
(marker `weaviate`; skipped when unset). Every other test runs the real weaviate-client over
real HTTP and gRPC against `fake_weaviate`, a loopback server built from the client's own
protobuf service definitions, and reads the requests the adapter made. Its answers are not
Weaviate's ranking: see fake_weaviate.py.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db import transaction
from weaviate.proto.v1 import base_pb2

import knowledge.index as index_registry
from knowledge.index.base import PUBLIC, ChunkRecord, Filters, IndexBackend, Scope
from knowledge.index.outbox import (
    MAX_ATTEMPTS,
    IndexOutbox,
    flush_outbox,
    load_chunk_records,
    queue_index_changes,
    reconcile_external_index,
)
from knowledge.index.weaviate import (
    EXTERNAL_TENANT,
    WeaviateIndexBackend,
    connect,
    object_uuid,
    record_fingerprint,
)
from knowledge.models import Chunk
from tests.knowledge.index import fake_weaviate
from tests.knowledge.index.contract import IndexBackendContract, vector

Op = base_pb2.Filters
WHEN = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


# The contract, against a real server.


@pytest.mark.weaviate
class TestWeaviateBackend(IndexBackendContract):
    """Each test gets its own pair of collections, dropped afterwards."""

    @pytest.fixture(autouse=True)
    def _server(self) -> Iterator[None]:
        self._made: list[WeaviateIndexBackend] = []
        yield
        for backend in self._made:
            backend.drop_schema()
            backend.close()

    def backend(self) -> IndexBackend:
        client = connect(
            os.environ["WEAVIATE_URL"],
            api_key=os.environ.get("WEAVIATE_API_KEY", ""),
            grpc_port=int(os.environ.get("WEAVIATE_GRPC_PORT", "50051")),
        )
        made = WeaviateIndexBackend(client=client, collection=f"Contract{uuid.uuid4().hex[:12]}")
        self._made.append(made)
        return made


# The boundary: the real client against a loopback server.


@pytest.fixture
def fake() -> Iterator[fake_weaviate.FakeWeaviate]:
    with fake_weaviate.serve() as server:
        yield server


@pytest.fixture
def backend(fake: fake_weaviate.FakeWeaviate) -> Iterator[WeaviateIndexBackend]:
    client = connect(fake.url, grpc_port=fake.grpc_port)
    made = WeaviateIndexBackend(client=client, collection="Chunks")
    yield made
    made.close()


class TestContractOnTheFakeServer(IndexBackendContract):
    """The contract through the real client to the fake: proves requests and reply handling
    end to end, with visibility decided by the filters the adapter sent. Ranking is the
    fake's, not Weaviate's."""

    @pytest.fixture(autouse=True)
    def _server(self) -> Iterator[None]:
        self._made: list[WeaviateIndexBackend] = []
        with fake_weaviate.serve() as server:
            self._fake = server
            yield
            for backend in self._made:
                backend.close()

    def backend(self) -> IndexBackend:
        client = connect(self._fake.url, grpc_port=self._fake.grpc_port)
        made = WeaviateIndexBackend(client=client, collection=f"C{uuid.uuid4().hex[:12]}")
        self._made.append(made)
        return made


def record(chunk_id: int, text: str = "deploy checklist", **fields: object) -> ChunkRecord:
    values: dict[str, object] = {
        "chunk_id": chunk_id,
        "item_id": chunk_id * 10,
        "text": text,
        "vector": vector(text),
        "principals": (PUBLIC,),
        "colleague_id": None,
        "source_id": 1,
        "kind": "message",
        "created_at": WHEN,
    }
    values.update(fields)
    return ChunkRecord(**values)  # type: ignore[arg-type]


def search_filter(request: object) -> base_pb2.Filters:
    return request.filters  # type: ignore[attr-defined,no-any-return]


def is_query(request: object) -> bool:
    """A bm25, near_vector or hybrid search, not a lookup by id or an iterator page."""
    return any(
        request.HasField(kind)  # type: ignore[attr-defined]
        for kind in ("bm25_search", "near_vector", "hybrid_search")
    )


def leaves(f: base_pb2.Filters) -> list[tuple[str, int, base_pb2.Filters]]:
    """The (property, operator, filter) of each condition of an and-filter."""
    if f.operator == Op.OPERATOR_AND:
        return [leaf for part in f.filters for leaf in leaves(part)]
    return [(f.target.property, f.operator, f)]


def test_schema_is_multi_tenant_with_principals_as_exact_filterable_strings(
    fake: fake_weaviate.FakeWeaviate, backend: WeaviateIndexBackend
) -> None:
    backend.ensure_schema()
    created = {body["class"]: body for method, path, body in fake.http_calls if method == "POST"}
    tenanted, org = created["Chunks"], created["ChunksOrg"]
    assert tenanted["multiTenancyConfig"]["enabled"] is True
    assert tenanted["multiTenancyConfig"]["autoTenantCreation"] is True
    assert not org.get("multiTenancyConfig", {}).get("enabled")
    principals = next(p for p in tenanted["properties"] if p["name"] == "principals")
    assert principals["dataType"] == ["text[]"]
    assert principals["tokenization"] == "field"
    assert principals["indexFilterable"] is True
    assert principals["indexSearchable"] is False
    assert tenanted["vectorConfig"]["text"]["vectorIndexConfig"]["distance"] == "cosine"


def test_each_chunk_goes_to_its_colleagues_tenant_and_the_org_collection(
    fake: fake_weaviate.FakeWeaviate, backend: WeaviateIndexBackend
) -> None:
    backend.upsert([record(1, colleague_id=7), record(2), record(3, colleague_id=7)])
    assert fake.tenants("Chunks") == {"colleague-7", EXTERNAL_TENANT}
    assert set(fake.objects("Chunks", "colleague-7")) == {1, 3}
    assert set(fake.objects("Chunks", EXTERNAL_TENANT)) == {2}
    assert set(fake.objects("ChunksOrg")) == {1, 2, 3}
    stored = fake.objects("ChunksOrg")[1]
    assert stored.uuid == str(object_uuid(1))
    assert stored.properties["principals"] == [PUBLIC]
    assert stored.properties["fingerprint"] == record_fingerprint(record(1, colleague_id=7))
    assert stored.vector is not None
    assert np.allclose(stored.vector, vector("deploy checklist"), atol=1e-6)


def test_a_chunk_not_yet_embedded_is_sent_without_a_vector(
    fake: fake_weaviate.FakeWeaviate, backend: WeaviateIndexBackend
) -> None:
    backend.upsert([record(1, vector=None)])
    assert fake.objects("ChunksOrg")[1].vector is None


def test_every_query_carries_the_readers_principals(
    fake: fake_weaviate.FakeWeaviate, backend: WeaviateIndexBackend
) -> None:
    backend.upsert([record(1)])
    reader = Scope(principals=frozenset({PUBLIC, "c7", "i3"}))
    backend.keyword_search("deploy", scope=reader, filters=Filters(), limit=5)
    backend.vector_search(vector("deploy"), scope=reader, filters=Filters(), limit=5)
    backend.hybrid_search("deploy", vector("deploy"), scope=reader, filters=Filters(), limit=5)
    searches = [r for r in fake.calls("Search") if is_query(r)]
    assert len(searches) == 3
    for request in searches:
        principals = search_filter(request)
        assert principals.operator == Op.OPERATOR_CONTAINS_ANY
        assert principals.target.property == "principals"
        assert sorted(principals.value_text_array.values) == ["c7", "i3", PUBLIC]
        assert request.limit == 5
        assert request.collection == "ChunksOrg"
        assert not request.tenant


def test_the_unrestricted_operator_sends_no_principal_filter_and_nobody_sends_nothing(
    fake: fake_weaviate.FakeWeaviate, backend: WeaviateIndexBackend
) -> None:
    backend.upsert([record(1)])
    before = len(fake.calls("Search"))
    nobody = Scope(principals=frozenset())
    assert backend.keyword_search("deploy", scope=nobody, filters=Filters(), limit=5) == []
    assert len(fake.calls("Search")) == before
    backend.keyword_search("deploy", scope=Scope(principals=None), filters=Filters(), limit=5)
    assert not fake.calls("Search")[-1].HasField("filters")


def test_narrowing_filters_are_sent_beside_visibility(
    fake: fake_weaviate.FakeWeaviate, backend: WeaviateIndexBackend
) -> None:
    backend.upsert([record(1)])
    since, until = WHEN, WHEN + timedelta(days=7)
    backend.vector_search(
        vector("deploy"),
        scope=Scope(principals=frozenset({PUBLIC})),
        filters=Filters(source_ids=(4, 5), kinds=("email",), since=since, until=until),
        limit=3,
    )
    sent = {(name, op): f for name, op, f in leaves(search_filter(fake.calls("Search")[-1]))}
    assert set(sent) == {
        ("principals", Op.OPERATOR_CONTAINS_ANY),
        ("source_id", Op.OPERATOR_CONTAINS_ANY),
        ("kind", Op.OPERATOR_CONTAINS_ANY),
        ("created_at", Op.OPERATOR_GREATER_THAN_EQUAL),
        ("created_at", Op.OPERATOR_LESS_THAN),
    }
    assert list(sent["source_id", Op.OPERATOR_CONTAINS_ANY].value_int_array.values) == [4, 5]
    assert list(sent["kind", Op.OPERATOR_CONTAINS_ANY].value_text_array.values) == ["email"]


def test_the_colleague_filter_selects_the_tenant(
    fake: fake_weaviate.FakeWeaviate, backend: WeaviateIndexBackend
) -> None:
    backend.upsert([record(1, colleague_id=7), record(2, colleague_id=8)])
    hits = backend.keyword_search(
        "deploy", scope=Scope(principals=None), filters=Filters(colleague_id=7), limit=5
    )
    assert [h.chunk_id for h in hits] == [1]
    request = fake.calls("Search")[-1]
    assert (request.collection, request.tenant) == ("Chunks", "colleague-7")
    assert not request.HasField("filters")


def test_a_colleague_with_nothing_indexed_finds_nothing_without_a_search(
    fake: fake_weaviate.FakeWeaviate, backend: WeaviateIndexBackend
) -> None:
    backend.upsert([record(1, colleague_id=7)])
    searches = len(fake.calls("Search"))
    assert not backend.vector_search(
        vector("deploy"), scope=Scope(principals=None), filters=Filters(colleague_id=99), limit=5
    )
    assert len(fake.calls("Search")) == searches


def test_hybrid_asks_weaviate_to_fuse_bm25_and_the_vector(
    fake: fake_weaviate.FakeWeaviate, backend: WeaviateIndexBackend
) -> None:
    backend.upsert([record(1), record(2, "lunch menu")])
    everyone = Scope(principals=None)
    hits = backend.hybrid_search(
        "deploy", vector("deploy"), scope=everyone, filters=Filters(), limit=2, alpha=0.25
    )
    assert hits[0].chunk_id == 1
    hybrid = fake.calls("Search")[-1].hybrid_search
    assert hybrid.query == "deploy"
    assert list(hybrid.properties) == ["text"]
    assert hybrid.fusion_type == hybrid.FUSION_TYPE_RELATIVE_SCORE
    assert (hybrid.alpha_param if hybrid.use_alpha_param else hybrid.alpha) == pytest.approx(0.25)


def test_moving_a_chunk_to_another_colleague_leaves_no_copy_behind(
    fake: fake_weaviate.FakeWeaviate, backend: WeaviateIndexBackend
) -> None:
    backend.upsert([record(1), record(2)])
    backend.upsert([record(1, colleague_id=7)])
    assert set(fake.objects("Chunks", EXTERNAL_TENANT)) == {2}
    assert set(fake.objects("Chunks", "colleague-7")) == {1}
    assert fake.objects("ChunksOrg")[1].properties["colleague_id"] == 7


def test_delete_removes_every_copy_and_ignores_unknown_ids(
    fake: fake_weaviate.FakeWeaviate, backend: WeaviateIndexBackend
) -> None:
    backend.upsert([record(1, colleague_id=7), record(2)])
    backend.delete([1, 10**9])
    assert set(fake.objects("ChunksOrg")) == {2}
    assert not fake.objects("Chunks", "colleague-7")
    assert sorted(backend.indexed_ids()) == [2]


def test_scanning_walks_the_org_collection_and_every_tenant(
    backend: WeaviateIndexBackend,
) -> None:
    backend.upsert([record(n, colleague_id=n % 3 or None) for n in range(1, 251)])
    copies = list(backend.scan_copies())
    assert len(copies) == 500  # more than one iterator page per placement
    assert {c.placement for c in copies} == {"org", "colleague-1", "colleague-2", "external"}


# The outbox and reconciliation, on the real database and the fake server.


@pytest.fixture
def external(settings, fake: fake_weaviate.FakeWeaviate) -> Iterator[fake_weaviate.FakeWeaviate]:  # type: ignore[no-untyped-def]
    """Configure the Weaviate backend at the fake server, as production would."""
    settings.COLLEAGUE_INDEX_BACKEND = "weaviate"
    settings.WEAVIATE_URL = fake.url
    settings.WEAVIATE_GRPC_PORT = fake.grpc_port
    settings.WEAVIATE_COLLECTION = "Chunks"
    index_registry._local.__dict__.pop("backends", None)  # built per thread: build afresh
    yield fake
    for made in index_registry._local.__dict__.pop("backends", {}).values():
        made.close()


def chunk_ids() -> list[int]:
    return sorted(Chunk.objects.values_list("id", flat=True))


@pytest.mark.django_db(transaction=True)
def test_outbox_rows_commit_or_roll_back_with_the_change(org, external) -> None:  # type: ignore[no-untyped-def]
    ids = chunk_ids()

    def change_that_fails() -> None:
        with transaction.atomic():
            queue_index_changes(upserted=ids)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        change_that_fails()
    assert not IndexOutbox.objects.exists()
    assert not external.calls("BatchObjects")

    with transaction.atomic():
        assert queue_index_changes(upserted=ids) == len(ids)
        # Nothing reaches Weaviate before the change commits.
        assert not external.calls("BatchObjects")
    # After commit the flush ran (tasks are eager here) and drained the outbox.
    assert not IndexOutbox.objects.exists()
    assert set(external.objects("ChunksOrg")) == set(ids)


@pytest.mark.django_db(transaction=True)
def test_queue_index_changes_refuses_to_run_outside_a_transaction(external) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError, match="inside the change's transaction"):
        queue_index_changes(upserted=[1])


def test_with_the_db_backend_no_outbox_row_is_written(db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.COLLEAGUE_INDEX_BACKEND = "db"
    with transaction.atomic():
        assert queue_index_changes(upserted=[1], deleted=[2]) == 0
    assert not IndexOutbox.objects.exists()


def test_flush_syncs_each_chunk_to_the_database_as_it_is_now(
    org, external, backend, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    ids = chunk_ids()
    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        queue_index_changes(upserted=ids)
    assert flush_outbox(backend=backend).synced == len(ids)
    stored = external.objects("ChunksOrg")
    assert set(stored) == set(ids)
    private = Chunk.objects.get(text__contains="zebracorn")
    assert stored[private.id].properties["principals"] != [PUBLIC]
    alice_tenant = f"colleague-{org.alice.id}"
    assert private.id in external.objects("Chunks", alice_tenant)

    # The chunk goes from the database; a late "upsert" row still removes it from the index.
    Chunk.objects.filter(id=private.id).delete()
    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        queue_index_changes(upserted=[private.id])
    flush_outbox(backend=backend)
    assert private.id not in external.objects("ChunksOrg")
    assert private.id not in external.objects("Chunks", alice_tenant)
    assert not IndexOutbox.objects.exists()


def _unavailable(request: object) -> dict[int, str]:
    raise RuntimeError("weaviate is down")


def test_failed_flushes_are_retried_a_bounded_number_of_times(
    org, external, backend, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    ids = chunk_ids()
    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        queue_index_changes(upserted=ids)
    external.on_batch = _unavailable
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result = flush_outbox(backend=backend)
        assert result.failed == len(ids)
        assert set(IndexOutbox.objects.values_list("attempts", flat=True)) == {attempt}
    assert "weaviate is down" in IndexOutbox.objects.first().last_error  # type: ignore[union-attr]
    tries = len(external.calls("BatchObjects"))
    assert flush_outbox(backend=backend).failed == 0  # given up on: not tried again
    assert len(external.calls("BatchObjects")) == tries

    # Weaviate is back; reconciliation queues the chunks afresh and their dead rows go too.
    external.on_batch = None
    with django_capture_on_commit_callbacks(execute=False):
        assert reconcile_external_index(backend=backend).queued_upserts == len(ids)
    flush_outbox(backend=backend)
    assert not IndexOutbox.objects.exists()
    assert set(external.objects("ChunksOrg")) == set(ids)


def test_one_refused_chunk_holds_up_no_other(
    org, external, backend, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    ids = chunk_ids()
    poison = ids[1]

    def refuse_poison(request) -> dict[int, str]:  # type: ignore[no-untyped-def]
        return {
            n: "vector lengths don't match"
            for n, obj in enumerate(request.objects)
            if obj.uuid == str(object_uuid(poison))
        }

    external.on_batch = refuse_poison
    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        queue_index_changes(upserted=ids)
    result = flush_outbox(backend=backend)
    assert (result.synced, result.failed) == (len(ids) - 1, 1)
    (left,) = IndexOutbox.objects.all()
    assert (left.chunk_id, left.attempts) == (poison, 1)
    assert "vector lengths don't match" in left.last_error


def test_reconciliation_queues_fixes_both_ways_then_finds_nothing(
    org, external, backend, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    ids = chunk_ids()
    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        queue_index_changes(upserted=ids)
    flush_outbox(backend=backend)
    missing, stale, moved = ids[0], ids[1], ids[2]
    # Drift behind the outbox's back: a lost copy, a stale one, a stray and an orphan.
    backend.delete([missing])
    older = dataclasses.replace(load_chunk_records([stale])[stale], text="an older wording")
    backend.upsert([older])
    backend.upsert([record(10**6, colleague_id=424242)])
    stray = record(moved, colleague_id=31337)
    backend._insert(backend._tenant("colleague-31337"), [stray])

    with django_capture_on_commit_callbacks(execute=False):
        result = reconcile_external_index(backend=backend)
    assert result.chunks == len(ids)
    queued = IndexOutbox.objects.values_list("operation", "chunk_id")
    assert set(queued) == {("upsert", missing), ("upsert", stale), ("delete", 10**6)}
    assert result.strays_removed == 1
    assert not external.objects("Chunks", "colleague-31337")

    flush_outbox(backend=backend)
    with django_capture_on_commit_callbacks(execute=False):
        again = reconcile_external_index(backend=backend)
    assert (again.queued_upserts, again.queued_deletes, again.strays_removed) == (0, 0, 0)
    assert sorted(backend.indexed_ids()) == ids
