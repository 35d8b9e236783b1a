"""The Weaviate index backend (weaviate-client v4: REST for the schema, gRPC for data).

Two collections hold every chunk, each object keyed by a UUID derived from the chunk id:

- ``{WEAVIATE_COLLECTION}`` (default ``ColleagueChunk``) is **multi-tenant, one tenant per
  colleague** (``colleague-<id>``), plus the shared tenant ``external`` for chunks whose author
  is no colleague. A query with ``Filters.colleague_id`` runs inside that colleague's tenant:
  one small shard, BM25 statistics of that colleague's own writing, and erasing or offloading
  a colleague is a tenant operation.
- ``{WEAVIATE_COLLECTION}Org`` is one **non-tenant** collection for organisation-wide queries
  (ask, who-knows). Fanning a query out over a tenant per colleague would cost one gRPC call
  per colleague (thousands) and merge BM25 and hybrid scores that are computed per tenant and
  do not compare; one collection answers in one call with one ranking. It also serves as the
  placement directory: it records each chunk's colleague, so an upsert that moves a chunk to
  another colleague (identity merge or split) knows which tenant to clean.

Visibility is the ``principals`` TEXT_ARRAY property (field tokenization, so "c7" matches
only "c7"), filtered with ``contains_any(reader principals)`` inside every bm25, near_vector
and hybrid request, so hidden chunks never take a top-k slot. A chunk with no principals
matches no reader. Each object also stores ``fingerprint``, a digest of everything indexed for
the chunk, which `knowledge.index.outbox.reconcile_external_index` compares with the database.

Writes reach this backend through the outbox (knowledge/index/outbox.py), never from inside a
database transaction. Every write is idempotent (deterministic UUIDs, batch import replaces),
so a retried batch converges.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import numpy as np
import weaviate
from django.conf import settings
from weaviate.classes.config import (
    Configure,
    DataType,
    Property,
    Tokenization,
    VectorDistances,
)
from weaviate.classes.data import DataObject
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.classes.query import Filter, HybridFusion, MetadataQuery
from weaviate.collections import Collection
from weaviate.collections.classes.filters import _Filters
from weaviate.exceptions import WeaviateInsertManyAllFailedError, WeaviateQueryError
from weaviate.util import generate_uuid5

from knowledge.index.base import ChunkHit, ChunkRecord, Filters, IndexBackend, Scope

logger = logging.getLogger(__name__)

EXTERNAL_TENANT = "external"
ORG = "org"  # the placement name of the organisation-wide collection, for reconciliation
VECTOR = "text"  # the one named, self-provided vector
# Ids per filter or batch request: well under Weaviate's QUERY_MAXIMUM_RESULTS (10,000).
ID_BATCH = 500
DEFAULT_GRPC_PORT = 50051
ID_PROPERTIES = ["chunk_id", "item_id"]


class WeaviateIndexError(Exception):
    """Weaviate refused some objects of a write; `failed` maps chunk id to the reason."""

    def __init__(self, message: str, *, failed: dict[int, str]) -> None:
        super().__init__(message)
        self.failed = failed


@dataclass(frozen=True)
class IndexedCopy:
    """One stored copy of a chunk, as reconciliation sees it."""

    chunk_id: int
    placement: str  # ORG or a tenant name
    fingerprint: str


def tenant_for(colleague_id: int | None) -> str:
    """The tenant holding a colleague's chunks; authors who are no colleague share one."""
    return EXTERNAL_TENANT if colleague_id is None else f"colleague-{colleague_id}"


def object_uuid(chunk_id: int) -> uuid.UUID:
    return uuid.UUID(generate_uuid5(f"chunk:{chunk_id}"))


def record_fingerprint(record: ChunkRecord) -> str:
    """A digest of everything indexed for a chunk: equal digests mean nothing to re-send."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (
        str(record.item_id),
        record.text,
        "\x1f".join(sorted(record.principals)),
        "" if record.colleague_id is None else str(record.colleague_id),
        str(record.source_id),
        record.kind,
        record.created_at.isoformat(),
    ):
        digest.update(part.encode())
        digest.update(b"\x1e")
    if record.vector is not None:
        digest.update(np.asarray(record.vector, dtype="<f4").tobytes())
    return digest.hexdigest()


def _properties() -> list[Property]:
    keyword = Tokenization.FIELD
    return [
        Property(name="chunk_id", data_type=DataType.INT, index_range_filters=False),
        Property(name="item_id", data_type=DataType.INT, index_filterable=False),
        Property(
            name="text",
            data_type=DataType.TEXT,
            tokenization=Tokenization.WORD,
            index_filterable=False,
        ),
        # Visibility: exact principal strings, filterable, never searched.
        Property(
            name="principals",
            data_type=DataType.TEXT_ARRAY,
            tokenization=keyword,
            index_filterable=True,
            index_searchable=False,
        ),
        Property(name="colleague_id", data_type=DataType.INT),
        Property(name="source_id", data_type=DataType.INT),
        Property(
            name="kind", data_type=DataType.TEXT, tokenization=keyword, index_searchable=False
        ),
        Property(name="created_at", data_type=DataType.DATE, index_range_filters=True),
        Property(
            name="fingerprint",
            data_type=DataType.TEXT,
            tokenization=keyword,
            index_filterable=False,
            index_searchable=False,
        ),
    ]


def _object(record: ChunkRecord) -> DataObject[dict[str, Any], None]:
    properties: dict[str, Any] = {
        "chunk_id": record.chunk_id,
        "item_id": record.item_id,
        "text": record.text,
        "principals": sorted(record.principals),
        "source_id": record.source_id,
        "kind": record.kind,
        "created_at": record.created_at,
        "fingerprint": record_fingerprint(record),
    }
    if record.colleague_id is not None:
        properties["colleague_id"] = record.colleague_id
    vector = None if record.vector is None else {VECTOR: record.vector.astype(float).tolist()}
    return DataObject(uuid=object_uuid(record.chunk_id), properties=properties, vector=vector)


def query_filters(scope: Scope, filters: Filters) -> _Filters | None:
    """The where-filter of every query: visibility first, then the narrowing filters.

    `Filters.colleague_id` is not here: it selects the tenant instead. The caller returns no
    hits without querying when the scope holds no principal at all.
    """
    parts: list[_Filters] = []
    if scope.principals is not None:
        parts.append(Filter.by_property("principals").contains_any(sorted(scope.principals)))
    if filters.source_ids:
        parts.append(Filter.by_property("source_id").contains_any(list(filters.source_ids)))
    if filters.kinds:
        parts.append(Filter.by_property("kind").contains_any(list(filters.kinds)))
    if filters.since is not None:
        parts.append(Filter.by_property("created_at").greater_or_equal(filters.since))
    if filters.until is not None:
        # Half-open [since, until): consecutive windows never count a chunk twice.
        parts.append(Filter.by_property("created_at").less_than(filters.until))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Filter.all_of(parts)


def _ids_filter(chunk_ids: Sequence[int]) -> _Filters:
    return Filter.by_property("chunk_id").contains_any(list(chunk_ids))


def _batches(values: Sequence[int], size: int = ID_BATCH) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def connect(
    url: str, *, api_key: str = "", grpc_port: int = DEFAULT_GRPC_PORT, timeout: int = 30
) -> weaviate.WeaviateClient:
    """A connected client for `url` (http[s]://host[:port]); gRPC on the same host."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or "localhost"
    return weaviate.connect_to_custom(
        http_host=host,
        http_port=parts.port or (443 if secure else 80),
        http_secure=secure,
        grpc_host=host,
        grpc_port=grpc_port,
        grpc_secure=secure,
        auth_credentials=Auth.api_key(api_key) if api_key else None,
        additional_config=AdditionalConfig(timeout=Timeout(init=timeout, query=timeout)),
        # The init checks ping gRPC health and ask GitHub for the latest client release; the
        # first real request reports an unreachable server just as clearly.
        skip_init_checks=True,
    )


class WeaviateIndexBackend(IndexBackend):
    """Chunks in a per-colleague multi-tenant collection and an organisation-wide one."""

    name: ClassVar[str] = "weaviate"

    def __init__(
        self,
        *,
        client: weaviate.WeaviateClient | None = None,
        collection: str | None = None,
    ) -> None:
        self._client = client
        self.collection_name = collection or settings.WEAVIATE_COLLECTION
        self.org_collection_name = f"{self.collection_name}Org"
        self._schema_ready = False

    # Connection and schema.

    @property
    def client(self) -> weaviate.WeaviateClient:
        if self._client is None:
            if not settings.WEAVIATE_URL:
                raise WeaviateIndexError("WEAVIATE_URL is not set", failed={})
            self._client = connect(
                settings.WEAVIATE_URL,
                api_key=settings.WEAVIATE_API_KEY,
                grpc_port=settings.WEAVIATE_GRPC_PORT,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def ensure_schema(self) -> None:
        """Create both collections when missing (idempotent; one request when they exist)."""
        if self._schema_ready:
            return
        collections = self.client.collections
        vectors = Configure.Vectors.self_provided(
            name=VECTOR,
            vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE),
        )
        if not collections.exists(self.collection_name):
            collections.create(
                self.collection_name,
                description="Chunks by colleague: one tenant each, 'external' for the rest.",
                multi_tenancy_config=Configure.multi_tenancy(
                    enabled=True, auto_tenant_creation=True, auto_tenant_activation=True
                ),
                properties=_properties(),
                vector_config=vectors,
            )
        if not collections.exists(self.org_collection_name):
            collections.create(
                self.org_collection_name,
                description="Every chunk, for organisation-wide queries.",
                properties=_properties(),
                vector_config=vectors,
            )
        self._schema_ready = True

    def drop_schema(self) -> None:
        """Delete both collections and everything in them (tests, `index rebuild`)."""
        self.client.collections.delete([self.collection_name, self.org_collection_name])
        self._schema_ready = False

    def _org(self) -> Collection[Any, Any]:
        self.ensure_schema()
        return self.client.collections.use(self.org_collection_name)

    def _tenant(self, tenant: str) -> Collection[Any, Any]:
        self.ensure_schema()
        return self.client.collections.use(self.collection_name).with_tenant(tenant)

    def tenants(self) -> list[str]:
        self.ensure_schema()
        return sorted(self.client.collections.use(self.collection_name).tenants.get())

    def _searched(self, filters: Filters) -> Collection[Any, Any] | None:
        """The collection a query runs in: the colleague's tenant, or the org collection.

        None when the colleague has no tenant yet (nothing of theirs is indexed).
        """
        if filters.colleague_id is None:
            return self._org()
        tenant = tenant_for(filters.colleague_id)
        if tenant not in self._existing_tenants([tenant]):
            return None
        return self._tenant(tenant)

    def _existing_tenants(self, names: Iterable[str]) -> set[str]:
        self.ensure_schema()
        wanted = sorted(set(names))
        if not wanted:
            return set()
        found = self.client.collections.use(self.collection_name).tenants.get_by_names(wanted)
        return set(found)

    # Writes.

    def upsert(self, records: Sequence[ChunkRecord]) -> None:
        """Write each chunk to its colleague's tenant and the org collection.

        A chunk that moved to another colleague is first removed from its old tenant; the org
        collection is written last, so its placement is updated only once the tenants are.
        """
        if not records:
            return
        latest = {r.chunk_id: r for r in records}  # the last record of a chunk wins
        previous = self._placements(list(latest))
        moved: dict[str, list[int]] = defaultdict(list)
        by_tenant: dict[str, list[ChunkRecord]] = defaultdict(list)
        for record in latest.values():
            tenant = tenant_for(record.colleague_id)
            by_tenant[tenant].append(record)
            old = previous.get(record.chunk_id)
            if old is not None and old != tenant:
                moved[old].append(record.chunk_id)
        for tenant, ids in moved.items():
            self.remove_copies(tenant, ids)
        for tenant, tenant_records in by_tenant.items():
            self._insert(self._tenant(tenant), tenant_records)
        self._insert(self._org(), list(latest.values()))

    def delete(self, chunk_ids: Sequence[int]) -> None:
        """Remove these chunks from their tenants and the org collection; unknown ids pass."""
        ids = sorted(set(chunk_ids))
        if not ids:
            return
        by_tenant: dict[str, list[int]] = defaultdict(list)
        for chunk_id, tenant in self._placements(ids).items():
            by_tenant[tenant].append(chunk_id)
        for tenant, tenant_ids in by_tenant.items():
            self.remove_copies(tenant, tenant_ids)
        self.remove_copies(ORG, ids)

    def remove_copies(self, placement: str, chunk_ids: Sequence[int]) -> None:
        """Delete these chunks from one tenant, or from the org collection (`ORG`)."""
        if placement != ORG and placement not in self._existing_tenants([placement]):
            return
        target = self._org() if placement == ORG else self._tenant(placement)
        for ids in _batches(sorted(set(chunk_ids))):
            target.data.delete_many(where=_ids_filter(ids))

    def _insert(self, target: Collection[Any, Any], records: Sequence[ChunkRecord]) -> None:
        for start in range(0, len(records), ID_BATCH):
            batch = records[start : start + ID_BATCH]
            try:
                result = target.data.insert_many([_object(r) for r in batch])
            except WeaviateInsertManyAllFailedError as exc:
                # The client raises instead of returning errors when every object failed.
                failed = {r.chunk_id: str(exc) for r in batch}
                raise WeaviateIndexError(str(exc), failed=failed) from exc
            if result.errors:
                failed = {batch[n].chunk_id: err.message for n, err in result.errors.items()}
                raise WeaviateIndexError(
                    f"Weaviate refused {len(failed)} of {len(batch)} chunks", failed=failed
                )

    def _placements(self, chunk_ids: Sequence[int]) -> dict[int, str]:
        """The tenant each of these chunks is in now, per the org collection."""
        found: dict[int, str] = {}
        for ids in _batches(chunk_ids):
            result = self._org().query.fetch_objects(
                filters=_ids_filter(ids),
                limit=len(ids),
                return_properties=["chunk_id", "colleague_id"],
            )
            for obj in result.objects:
                found[int(obj.properties["chunk_id"])] = tenant_for(
                    _optional_int(obj.properties.get("colleague_id"))
                )
        return found

    # Queries.

    def keyword_search(
        self, query: str, *, scope: Scope, filters: Filters, limit: int
    ) -> list[ChunkHit]:
        target = self._searched(filters)
        if target is None or _sees_nothing(scope) or not query.strip():
            return []
        result = self._run(
            filters,
            lambda: target.query.bm25(
                query,
                query_properties=["text"],
                filters=query_filters(scope, filters),
                limit=limit,
                return_metadata=MetadataQuery(score=True),
                return_properties=ID_PROPERTIES,
            ),
        )
        return [_hit(obj, float(obj.metadata.score or 0.0)) for obj in result]

    def vector_search(
        self, vector: np.ndarray, *, scope: Scope, filters: Filters, limit: int
    ) -> list[ChunkHit]:
        target = self._searched(filters)
        if target is None or _sees_nothing(scope):
            return []
        result = self._run(
            filters,
            lambda: target.query.near_vector(
                vector.astype(float).tolist(),
                target_vector=VECTOR,
                filters=query_filters(scope, filters),
                limit=limit,
                return_metadata=MetadataQuery(distance=True),
                return_properties=ID_PROPERTIES,
            ),
        )
        # Cosine distance is 1 - cosine similarity; report the similarity, higher is better.
        return [_hit(obj, 1.0 - float(obj.metadata.distance or 0.0)) for obj in result]

    def hybrid_search(
        self,
        query: str,
        vector: np.ndarray | None,
        *,
        scope: Scope,
        filters: Filters,
        limit: int,
        alpha: float = 0.5,
    ) -> list[ChunkHit]:
        """BM25 and vector search fused by Weaviate (relative score fusion), in scope.

        `alpha` weighs the vector side: 0 is pure BM25, 1 pure vector.
        """
        target = self._searched(filters)
        if target is None or _sees_nothing(scope):
            return []
        result = self._run(
            filters,
            lambda: target.query.hybrid(
                query,
                vector=None if vector is None else vector.astype(float).tolist(),
                alpha=alpha,
                target_vector=VECTOR,
                query_properties=["text"],
                fusion_type=HybridFusion.RELATIVE_SCORE,
                filters=query_filters(scope, filters),
                limit=limit,
                return_metadata=MetadataQuery(score=True),
                return_properties=ID_PROPERTIES,
            ),
        )
        return [_hit(obj, float(obj.metadata.score or 0.0)) for obj in result]

    def _run(self, filters: Filters, request: Any) -> list[Any]:
        try:
            return list(request().objects)
        except WeaviateQueryError:
            # A tenant deleted between the existence check and the query: nothing to find.
            if filters.colleague_id is not None and not self._existing_tenants(
                [tenant_for(filters.colleague_id)]
            ):
                return []
            raise

    # Listing, for `index verify` and reconciliation.

    def indexed_ids(self) -> Iterator[int]:
        for obj in self._org().iterator(return_properties=["chunk_id"]):
            yield int(obj.properties["chunk_id"])

    def scan_copies(self) -> Iterator[IndexedCopy]:
        """Every stored copy: the org collection, then each tenant in turn."""
        placements: list[tuple[str, Collection[Any, Any]]] = [(ORG, self._org())]
        placements += [(tenant, self._tenant(tenant)) for tenant in self.tenants()]
        for placement, target in placements:
            for obj in target.iterator(return_properties=["chunk_id", "fingerprint"]):
                yield IndexedCopy(
                    chunk_id=int(obj.properties["chunk_id"]),
                    placement=placement,
                    fingerprint=str(obj.properties.get("fingerprint") or ""),
                )

    def expected_placements(self, record: ChunkRecord) -> frozenset[str]:
        return frozenset({ORG, tenant_for(record.colleague_id)})

    def fingerprint(self, record: ChunkRecord) -> str:
        return record_fingerprint(record)


def _sees_nothing(scope: Scope) -> bool:
    return scope.principals is not None and not scope.principals


def _optional_int(value: object) -> int | None:
    return None if value is None else int(str(value))


def _hit(obj: Any, score: float) -> ChunkHit:
    return ChunkHit(
        chunk_id=int(obj.properties["chunk_id"]),
        item_id=int(obj.properties["item_id"]),
        score=score,
    )


__all__ = [
    "EXTERNAL_TENANT",
    "ORG",
    "IndexedCopy",
    "WeaviateIndexBackend",
    "WeaviateIndexError",
    "connect",
    "query_filters",
    "record_fingerprint",
    "tenant_for",
]
