"""The index backend contract: chunks with their vectors and visibility in, ranked chunk ids out.

Every backend (db, pgvector, weaviate) passes the same contract suite. Visibility is part of
each query a backend runs, never a filter applied to its top k: a backend returns at most
`limit` chunks, all of them inside `scope`.

Visibility is expressed as **principals**, strings an index can store and filter on:
``"public"`` (everyone in the organisation), ``"c<container id>"`` (members of a container),
``"i<identity id>"`` (one identity) and ``"a<colleague id>"`` (holders of a grant on that
colleague's package, who see everything the colleague wrote). A chunk lists the principals
allowed to see it (its author's ``a`` principal among them); a reader holds principals; the
reader may see the chunk when the two sets intersect.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import numpy as np

PUBLIC = "public"


def container_principal(container_id: int) -> str:
    return f"c{container_id}"


def identity_principal(identity_id: int) -> str:
    return f"i{identity_id}"


def author_principal(colleague_id: int) -> str:
    return f"a{colleague_id}"


@dataclass(frozen=True)
class ChunkRecord:
    """What a backend indexes for one chunk."""

    chunk_id: int
    item_id: int
    text: str
    # Unit-length float32 vector of the configured embedder; None while not yet embedded.
    vector: np.ndarray | None
    principals: tuple[str, ...]  # who may see it; never empty ("public" at least, or nobody)
    colleague_id: int | None  # the author's colleague, for one colleague's package
    source_id: int
    kind: str  # message | email | document
    created_at: datetime


@dataclass(frozen=True)
class Scope:
    """Whom a query is for: None is the unrestricted console operator."""

    principals: frozenset[str] | None

    @property
    def unrestricted(self) -> bool:
        return self.principals is None


@dataclass(frozen=True)
class Filters:
    """Narrowing a query beyond visibility; empty means no narrowing."""

    colleague_id: int | None = None
    source_ids: tuple[int, ...] = ()
    kinds: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class ChunkHit:
    chunk_id: int
    item_id: int
    score: float  # higher is better; comparable only within one result list


class IndexBackend(abc.ABC):
    """Stores chunk records and answers keyword and vector queries inside a scope."""

    name: ClassVar[str]

    @abc.abstractmethod
    def upsert(self, records: Sequence[ChunkRecord]) -> None:
        """Add or replace these chunks (by chunk_id)."""

    @abc.abstractmethod
    def delete(self, chunk_ids: Sequence[int]) -> None:
        """Remove these chunks; unknown ids are ignored."""

    @abc.abstractmethod
    def keyword_search(
        self, query: str, *, scope: Scope, filters: Filters, limit: int
    ) -> list[ChunkHit]:
        """The best `limit` chunks for the words of `query` (BM25 or the like), in scope."""

    @abc.abstractmethod
    def vector_search(
        self, vector: np.ndarray, *, scope: Scope, filters: Filters, limit: int
    ) -> list[ChunkHit]:
        """The `limit` chunks nearest `vector` (cosine), in scope."""

    @abc.abstractmethod
    def indexed_ids(self) -> Iterator[int]:
        """Every chunk id the index holds, for `index verify`."""
