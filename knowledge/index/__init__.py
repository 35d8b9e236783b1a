"""Index backends behind one contract (knowledge/index/base.py), chosen by a setting.

`COLLEAGUE_INDEX_BACKEND` names the backend the way `AXES_HANDLER` names a handler: ``db`` (the
default: the Chunk table itself, FTS plus numpy), ``pgvector`` or ``weaviate``. Each is imported
only when chosen.

`scope_for(reader)` turns a reader into the principals a backend filters on, and
`records_for(chunks)` turns stored chunks into what a backend indexes. The two agree with
`knowledge.visibility.visible_audiences`: a reader sees a chunk exactly when they share a
principal.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS
from django.utils.module_loading import import_string

from knowledge.index.base import (
    PUBLIC,
    ChunkRecord,
    IndexBackend,
    Scope,
    author_principal,
    container_principal,
    identity_principal,
)
from knowledge.models import Audience, Chunk, Container
from knowledge.visibility import Reader

__all__ = ["BACKENDS", "get_index", "records_for", "scope_for"]

#: `COLLEAGUE_INDEX_BACKEND` value -> dotted path of the backend class, imported when chosen.
BACKENDS: dict[str, str] = {
    "db": "knowledge.index.db.DbIndexBackend",
    "pgvector": "knowledge.index.pgvector.PgvectorIndexBackend",
    "weaviate": "knowledge.index.weaviate.WeaviateIndexBackend",
}
DEFAULT_BACKEND = "db"

# Backends hold connections that serve one thread at a time: one instance per thread.
_local = threading.local()


def get_index() -> IndexBackend:
    """Return the backend `COLLEAGUE_INDEX_BACKEND` names, built once per thread and name.

    Raises ImproperlyConfigured for an unknown name.
    """
    choice = getattr(settings, "COLLEAGUE_INDEX_BACKEND", DEFAULT_BACKEND) or DEFAULT_BACKEND
    path = BACKENDS.get(choice)
    if path is None:
        raise ImproperlyConfigured(
            f"COLLEAGUE_INDEX_BACKEND={choice!r} is not an index backend; choose one of "
            f"{', '.join(sorted(BACKENDS))}"
        )
    built: dict[str, IndexBackend] = _local.__dict__.setdefault("backends", {})
    backend = built.get(choice)
    if backend is None:
        backend_class: type[IndexBackend] = import_string(path)
        backend = built[choice] = backend_class()
    return backend


def scope_for(reader: Reader) -> Scope:
    """The principals `reader` holds: public, their identities, the containers they are in,
    and the colleagues whose packages they hold a grant on.

    The console operator is unrestricted (None); someone who is not a member holds nothing.
    """
    if reader.unrestricted:
        return Scope(principals=None)
    if not reader.is_member:
        return Scope(principals=frozenset())
    principals = {PUBLIC}
    if reader.identity_ids:
        principals.update(identity_principal(i) for i in reader.identity_ids)
        containers = Container.members.through.objects.filter(
            identity_id__in=reader.identity_ids
        ).values_list("container_id", flat=True)
        principals.update(container_principal(c) for c in containers)
    principals.update(author_principal(c) for c in reader.granted_colleague_ids)
    return Scope(principals=frozenset(principals))


def principals_of(audience_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    """The principals of each audience: ("public",), or its containers and identities.

    An audience naming nobody has no principals: only the operator sees its items.
    """
    wanted = set(audience_ids)
    found: dict[int, list[str]] = {a: [] for a in wanted}
    public = set(
        Audience.objects.filter(id__in=wanted, is_public=True).values_list("id", flat=True)
    )
    containers = Audience.containers.through.objects.filter(audience_id__in=wanted - public)
    for audience_id, container_id in containers.values_list("audience_id", "container_id"):
        found[audience_id].append(container_principal(container_id))
    identities = Audience.identities.through.objects.filter(audience_id__in=wanted - public)
    for audience_id, identity_id in identities.values_list("audience_id", "identity_id"):
        found[audience_id].append(identity_principal(identity_id))
    return {
        audience_id: (PUBLIC,) if audience_id in public else tuple(sorted(names))
        for audience_id, names in found.items()
    }


def _with_author(principals: tuple[str, ...], colleague_id: int | None) -> tuple[str, ...]:
    """A chunk's principals plus its author's grant principal (public chunks need none)."""
    if colleague_id is None or principals == (PUBLIC,):
        return principals
    return tuple(sorted((*principals, author_principal(colleague_id))))


# Chunks read at once by records_for: bounds memory and stays under SQLite's parameter limit.
_RECORDS_PAGE = 2000


def records_for(
    chunks: Iterable[Chunk | int], *, embedder_name: str | None = None, using: str | None = None
) -> list[ChunkRecord]:
    """The index records of these chunks (objects or ids), as stored now; missing ones skipped.

    A record carries the chunk's vector when it was made by `embedder_name` (by default the
    configured embedder's), else None: a pending chunk is indexed for keywords only.
    """
    from knowledge.indexing import dequantise

    ids = [c if isinstance(c, int) else c.pk for c in chunks]
    alias = using or DEFAULT_DB_ALIAS
    records: list[ChunkRecord] = []
    name = embedder_name
    for start in range(0, len(ids), _RECORDS_PAGE):
        rows = list(
            Chunk.objects.using(alias)
            .filter(id__in=ids[start : start + _RECORDS_PAGE])
            .order_by("id")
            .values_list(
                "id",
                "item_id",
                "text",
                "audience_id",
                "item__author__colleague_id",
                "item__source_id",
                "item__kind",
                "item__created_at",
                "embedding",
                "embedding_scale",
                "embedder",
            )
        )
        if name is None and any(row[8] is not None for row in rows):
            from knowledge.embeddings import get_embedder

            name = get_embedder().name
        principals = principals_of({row[3] for row in rows})
        for (
            chunk_id,
            item_id,
            text,
            audience_id,
            colleague_id,
            source_id,
            kind,
            created_at,
            embedding,
            scale,
            embedder,
        ) in rows:
            vector = None
            if embedding is not None and embedder == name:
                vector = dequantise(bytes(embedding), scale or 0.0)
            records.append(
                ChunkRecord(
                    chunk_id=chunk_id,
                    item_id=item_id,
                    text=text,
                    vector=vector,
                    principals=_with_author(principals[audience_id], colleague_id),
                    colleague_id=colleague_id,
                    source_id=source_id,
                    kind=kind,
                    created_at=created_at,
                )
            )
    return records
