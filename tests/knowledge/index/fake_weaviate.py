"""A Weaviate-shaped server on loopback: REST for the schema, gRPC for data, in memory.

It stands where the network to a Weaviate server starts (docs/STYLE.md section 5): the real
weaviate-client talks to it over real HTTP and real gRPC, using the client's own generated
service stubs and messages. It records every request so tests can read what the adapter sent.

What it answers is deliberately simple and is NOT Weaviate: filters are evaluated for the
operators the adapter sends (and, or, equal, contains_any, ranges); "bm25" counts query words
in the text; near_vector is exact cosine over every object; hybrid mixes the two by `alpha`.
Tests against it prove the adapter's requests and its handling of replies, not Weaviate's
ranking, HNSW recall or tokenisation.
"""

from __future__ import annotations

import json
import re
import struct
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import numpy as np
from google.protobuf.json_format import MessageToDict
from weaviate.proto.v1 import (
    base_pb2,
    batch_delete_pb2,
    batch_pb2,
    properties_pb2,
    search_get_pb2,
    tenants_pb2,
    weaviate_pb2_grpc,
)

VERSION = "1.32.0"
Op = base_pb2.Filters


@dataclass
class StoredObject:
    uuid: str
    properties: dict[str, Any]
    vector: np.ndarray | None


@dataclass
class StoredCollection:
    config: dict[str, Any]
    # Tenant name -> uuid -> object; "" for a collection without multi-tenancy.
    shards: dict[str, dict[str, StoredObject]] = field(default_factory=dict)

    @property
    def multi_tenant(self) -> bool:
        return bool(self.config.get("multiTenancyConfig", {}).get("enabled"))


@dataclass
class FakeWeaviate:
    """The state and the request log; tests read and steer it."""

    collections: dict[str, StoredCollection] = field(default_factory=dict)
    grpc_calls: list[tuple[str, Any]] = field(default_factory=list)
    http_calls: list[tuple[str, str, Any]] = field(default_factory=list)
    # Called with each BatchObjects request; may raise grpc errors via `abort`, or return
    # {index: error} to refuse some objects.
    on_batch: Callable[[batch_pb2.BatchObjectsRequest], dict[int, str]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    http_port: int = 0
    grpc_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def calls(self, method: str) -> list[Any]:
        return [request for name, request in self.grpc_calls if name == method]

    def objects(self, collection: str, tenant: str = "") -> dict[int, StoredObject]:
        shard = self.collections[collection].shards.get(tenant, {})
        return {int(o.properties["chunk_id"]): o for o in shard.values()}

    def tenants(self, collection: str) -> set[str]:
        return set(self.collections[collection].shards)


# REST.


def _handler(fake: FakeWeaviate) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: Any = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"null")

        def do_GET(self) -> None:
            fake.http_calls.append(("GET", self.path, None))
            if self.path == "/v1/meta":
                self._reply(200, {"version": VERSION, "grpcMaxMessageSize": 104858000})
            elif match := re.fullmatch(r"/v1/schema/(\w+)", self.path):
                found = fake.collections.get(match.group(1))
                self._reply(200, found.config) if found else self._reply(404)
            else:
                self._reply(404)

        def do_POST(self) -> None:
            body = self._body()
            fake.http_calls.append(("POST", self.path, body))
            if self.path == "/v1/schema":
                with fake.lock:
                    fake.collections[body["class"]] = StoredCollection(config=body)
                self._reply(200, body)
            else:
                self._reply(404)

        def do_DELETE(self) -> None:
            fake.http_calls.append(("DELETE", self.path, None))
            if match := re.fullmatch(r"/v1/schema/(\w+)", self.path):
                with fake.lock:
                    fake.collections.pop(match.group(1), None)
                self._reply(200)
            else:
                self._reply(404)

    return Handler


# gRPC.


def _decode_properties(message: batch_pb2.BatchObject.Properties) -> dict[str, Any]:
    properties: dict[str, Any] = MessageToDict(message.non_ref_properties)
    for array in message.text_array_properties:
        properties[array.prop_name] = list(array.values)
    for int_array in message.int_array_properties:
        properties[int_array.prop_name] = list(int_array.values)
    for name in message.empty_list_props:
        properties[name] = []
    return properties


def _floats(data: bytes) -> np.ndarray:
    return np.array(struct.unpack(f"{len(data) // 4}f", data), dtype=np.float32)


def _query_vector(near: Any) -> np.ndarray | None:
    """The query vector of a NearVector or Hybrid message, however the client packed it."""
    for vectors in near.vectors:
        return _floats(vectors.vector_bytes)
    for value in getattr(near, "vector_per_target", {}).values():
        return _floats(value)
    if near.vector_bytes:
        return _floats(near.vector_bytes)
    if len(near.vector):
        return np.array(near.vector, dtype=np.float32)
    return None


def _as_time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _matches(f: base_pb2.Filters, properties: dict[str, Any]) -> bool:
    if f.operator == Op.OPERATOR_AND:
        return all(_matches(part, properties) for part in f.filters)
    if f.operator == Op.OPERATOR_OR:
        return any(_matches(part, properties) for part in f.filters)
    name = f.target.property or (f.on[0] if f.on else "")
    value = properties.get(name)
    if f.operator == Op.OPERATOR_CONTAINS_ANY:
        wanted = list(f.value_text_array.values) or list(f.value_int_array.values)
        held = value if isinstance(value, list) else [value]
        return any(_same(h, w) for h in held for w in wanted)
    which = f.WhichOneof("test_value")
    expected = getattr(f, which) if which else None
    if value is None:
        return False
    if which == "value_text" and name == "created_at":
        value, expected = _as_time(value), _as_time(expected)
    comparisons = {
        Op.OPERATOR_EQUAL: lambda a, b: _same(a, b),
        Op.OPERATOR_GREATER_THAN_EQUAL: lambda a, b: a >= b,
        Op.OPERATOR_GREATER_THAN: lambda a, b: a > b,
        Op.OPERATOR_LESS_THAN: lambda a, b: a < b,
        Op.OPERATOR_LESS_THAN_EQUAL: lambda a, b: a <= b,
    }
    return bool(comparisons[f.operator](value, expected))


def _same(held: Any, wanted: Any) -> bool:
    if isinstance(wanted, int) and not isinstance(wanted, bool):
        return held is not None and int(held) == wanted
    return held == wanted


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm else 0.0


class _Servicer(weaviate_pb2_grpc.WeaviateServicer):
    def __init__(self, fake: FakeWeaviate) -> None:
        self.fake = fake

    def _shard(
        self, collection: str, tenant: str, context: grpc.ServicerContext, create: bool = False
    ) -> dict[str, StoredObject]:
        stored = self.fake.collections.get(collection)
        if stored is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"class {collection} not found")
        assert stored is not None
        if stored.multi_tenant and not tenant:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "multi-tenancy: tenant required")
        if not stored.multi_tenant and tenant:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "multi-tenancy is not enabled")
        if tenant not in stored.shards:
            if not create and stored.multi_tenant:
                context.abort(grpc.StatusCode.NOT_FOUND, f'tenant not found: "{tenant}"')
            stored.shards[tenant] = {}
        return stored.shards[tenant]

    def Search(
        self, request: search_get_pb2.SearchRequest, context: grpc.ServicerContext
    ) -> search_get_pb2.SearchReply:
        self.fake.grpc_calls.append(("Search", request))
        with self.fake.lock:
            shard = self._shard(request.collection, request.tenant, context)
            candidates = [
                o
                for o in shard.values()
                if not request.HasField("filters") or _matches(request.filters, o.properties)
            ]
        scored = self._rank(request, candidates)
        limit = request.limit or 100
        results = []
        for obj, score, distance in scored[:limit]:
            wanted = list(request.properties.non_ref_properties)
            fields = {
                name: _value(obj.properties[name])
                for name in wanted
                if obj.properties.get(name) is not None
            }
            results.append(
                search_get_pb2.SearchResult(
                    properties=search_get_pb2.PropertiesResult(
                        non_ref_props=properties_pb2.Properties(fields=fields)
                    ),
                    metadata=search_get_pb2.MetadataResult(
                        id_as_bytes=uuid.UUID(obj.uuid).bytes,
                        score=score or 0.0,
                        score_present=score is not None,
                        distance=distance or 0.0,
                        distance_present=distance is not None,
                    ),
                )
            )
        return search_get_pb2.SearchReply(took=0.001, results=results)

    def _rank(
        self, request: search_get_pb2.SearchRequest, candidates: list[StoredObject]
    ) -> list[tuple[StoredObject, float | None, float | None]]:
        if request.HasField("bm25_search"):
            return self._keyword(request.bm25_search.query, candidates)
        if request.HasField("near_vector"):
            return self._near(_query_vector(request.near_vector), candidates)
        if request.HasField("hybrid_search"):
            hybrid = request.hybrid_search
            alpha = hybrid.alpha_param if hybrid.use_alpha_param else hybrid.alpha
            keyword = {o.uuid: s or 0.0 for o, s, _ in self._keyword(hybrid.query, candidates)}
            vector = (
                _query_vector(hybrid.near_vector)
                if hybrid.HasField("near_vector")
                else _query_vector(hybrid)
            )
            near = {o.uuid: 1 - (d or 0.0) for o, _, d in self._near(vector, candidates)}
            top = max(keyword.values(), default=0.0) or 1.0
            scores = [
                (o, alpha * near.get(o.uuid, 0.0) + (1 - alpha) * keyword.get(o.uuid, 0.0) / top)
                for o in candidates
                if o.uuid in keyword or o.uuid in near
            ]
            scores.sort(key=lambda pair: -pair[1])
            return [(o, s, None) for o, s in scores]
        ordered = sorted(candidates, key=lambda o: uuid.UUID(o.uuid).int)
        if request.after:
            after = uuid.UUID(request.after).int
            ordered = [o for o in ordered if uuid.UUID(o.uuid).int > after]
        return [(o, None, None) for o in ordered]

    def _keyword(
        self, query: str, candidates: list[StoredObject]
    ) -> list[tuple[StoredObject, float | None, float | None]]:
        terms = set(_words(query))
        scored = []
        for obj in candidates:
            words = _words(str(obj.properties.get("text", "")))
            score = sum(words.count(t) for t in terms)
            if score:
                scored.append((obj, float(score) / (1 + 0.01 * len(words)), None))
        scored.sort(key=lambda triple: -(triple[1] or 0.0))
        return scored

    def _near(
        self, vector: np.ndarray | None, candidates: list[StoredObject]
    ) -> list[tuple[StoredObject, float | None, float | None]]:
        if vector is None:
            return []
        scored = [
            (o, None, 1.0 - _cosine(vector, o.vector)) for o in candidates if o.vector is not None
        ]
        scored.sort(key=lambda triple: triple[2] or 0.0)
        return scored

    def BatchObjects(
        self, request: batch_pb2.BatchObjectsRequest, context: grpc.ServicerContext
    ) -> batch_pb2.BatchObjectsReply:
        self.fake.grpc_calls.append(("BatchObjects", request))
        refused = self.fake.on_batch(request) if self.fake.on_batch else {}
        with self.fake.lock:
            for index, obj in enumerate(request.objects):
                if index in refused:
                    continue
                shard = self._shard(obj.collection, obj.tenant, context, create=True)
                vector = None
                for vectors in obj.vectors:
                    vector = _floats(vectors.vector_bytes)
                if obj.vector_bytes:
                    vector = _floats(obj.vector_bytes)
                shard[obj.uuid] = StoredObject(
                    uuid=obj.uuid, properties=_decode_properties(obj.properties), vector=vector
                )
        return batch_pb2.BatchObjectsReply(
            took=0.001,
            errors=[
                batch_pb2.BatchObjectsReply.BatchError(index=i, error=e) for i, e in refused.items()
            ],
        )

    def BatchDelete(
        self, request: batch_delete_pb2.BatchDeleteRequest, context: grpc.ServicerContext
    ) -> batch_delete_pb2.BatchDeleteReply:
        self.fake.grpc_calls.append(("BatchDelete", request))
        with self.fake.lock:
            shard = self._shard(request.collection, request.tenant, context)
            gone = [k for k, o in shard.items() if _matches(request.filters, o.properties)]
            if not request.dry_run:
                for key in gone:
                    del shard[key]
        return batch_delete_pb2.BatchDeleteReply(
            took=0.001, matches=len(gone), successful=len(gone), failed=0
        )

    def TenantsGet(
        self, request: tenants_pb2.TenantsGetRequest, context: grpc.ServicerContext
    ) -> tenants_pb2.TenantsGetReply:
        self.fake.grpc_calls.append(("TenantsGet", request))
        stored = self.fake.collections.get(request.collection)
        if stored is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"class {request.collection} not found")
        assert stored is not None
        names = set(stored.shards)
        if request.HasField("names"):
            names &= set(request.names.values)
        return tenants_pb2.TenantsGetReply(
            took=0.001,
            tenants=[
                tenants_pb2.Tenant(name=n, activity_status=tenants_pb2.TENANT_ACTIVITY_STATUS_HOT)
                for n in sorted(names)
            ],
        )


def _value(value: Any) -> properties_pb2.Value:
    if isinstance(value, bool):
        return properties_pb2.Value(bool_value=value)
    if isinstance(value, int | float) and float(value).is_integer():
        return properties_pb2.Value(int_value=int(value))
    if isinstance(value, float):
        return properties_pb2.Value(number_value=value)
    if isinstance(value, list):
        return properties_pb2.Value(
            list_value=properties_pb2.ListValue(
                text_values=properties_pb2.TextValues(values=[str(v) for v in value])
            )
        )
    return properties_pb2.Value(text_value=str(value))


@contextmanager
def serve() -> Iterator[FakeWeaviate]:
    """Start the REST and gRPC servers on free loopback ports; stop them on exit."""
    fake = FakeWeaviate()
    http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.http_port = http.server_address[1]
    rpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    weaviate_pb2_grpc.add_WeaviateServicer_to_server(_Servicer(fake), rpc)
    fake.grpc_port = rpc.add_insecure_port("127.0.0.1:0")
    rpc.start()
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        rpc.stop(grace=None)
        http.shutdown()
        http.server_close()
