"""Writes of captured knowledge: storing a connector's batch."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from colleagues.actions import ensure_author_colleague, identities_for_refs, resolve_people
from colleagues.models import Colleague, Identity
from connectors import base as connectors_base
from connectors.base import (
    PersonRef,
    SourceBatch,
    SourceContainer,
    SourceDocument,
    SourceFailure,
    SourcePerson,
)
from connectors.documents.files import open_regular_file
from connectors.errors import UnsafeArchive, UnsupportedFile
from connectors.exclusions import ExclusionRules, Reason, rules_for
from connectors.models import QuarantinedFile, Source, SyncRun
from knowledge import audit
from knowledge.chunking import Piece, chunk_item
from knowledge.indexing import reembed_replies_to
from knowledge.masking import KINDS as MASKABLE_KINDS
from knowledge.masking import mask_personal_data
from knowledge.models import Audience, Chunk, Container, Item, RedactedDocument
from knowledge.tombstones import without_erased

logger = logging.getLogger(__name__)

# Copies of quarantined files larger than this are not kept; the record still is.
MAX_QUARANTINE_COPY_BYTES = 200 * 1024 * 1024
_COPY_BLOCK = 1024 * 1024
# A copy is written under this prefix and renamed when complete (`_copy_into_quarantine`).
PARTIAL_PREFIX = ".partial-"
# A partial copy older than this was cut short (its process died): no copy takes an hour.
STALE_PARTIAL_AGE = timedelta(hours=1)


UPDATABLE_FIELDS = [
    "kind",
    "author",
    "container",
    "thread_key",
    "title",
    "body",
    "url",
    "created_at",
    "updated_at",
    "audience",
    "metadata",
    "content_hash",
]


# Metadata that holds free text of the document (a mail's quoted reply and signature): masked
# like its body.
MASKED_METADATA_KEYS = ("quoted", "signature")


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    colleague_ids: set[int] = field(default_factory=set)
    # Documents not stored because an exclusion rule matched them, by reason.
    excluded: Counter[str] = field(default_factory=Counter)
    # Of those, items stored earlier and deleted now (a document edited into exclusion).
    removed: int = 0
    # Documents not stored because they are by or name an erased person (knowledge.erasure).
    erased: int = 0


def ingest_batch(
    *,
    source: Source,
    batch: SourceBatch,
    run: SyncRun | None = None,
    advance_checkpoint: bool = True,
) -> BatchResult:
    """Store one batch and, unless `advance_checkpoint` is False, set the source's checkpoint
    to the batch's cursor, in one transaction.

    An offboarding capture (offboarding/capture.py) stores a selection of a read from the
    beginning with `advance_checkpoint=False`: the source's incremental syncs go on from where
    they were.

    Idempotent on (source, external_id): a document whose content is unchanged is left alone,
    a changed one is updated and re-chunked. Failures become quarantined files; the copies of
    their files are made once the transaction commits (`_keep_copies`).

    Before anything is written, the source's exclusion rules (`connectors.exclusions`) drop the
    documents they exclude, deleting any earlier stored version of them everywhere, and third
    parties' personal data in what is kept is masked (`knowledge.masking`,
    COLLEAGUE_MASK_PERSONAL_DATA), with counts per kind in the item's metadata["masked"].
    First of all, what erased people wrote or what names them is dropped, and they are left
    out of the batch's people (`knowledge.tombstones.without_erased`).
    """
    result = BatchResult()
    offered = {d.external_id for d in batch.documents}
    with transaction.atomic():
        batch, result.erased = without_erased(batch)
        identities = resolve_people(batch.people)
        rules = rules_for(source.config)
        batch, excluded = _screen(source, batch, rules)
        batch = _without_redacted(source, batch)
        if excluded:
            result.excluded.update(excluded.values())
            stored = dict(_select_items(source.pk, list(excluded), "id"))
            result.removed = delete_items(item_ids=list(stored.values()))
        dropped = offered - {d.external_id for d in batch.documents}
        if dropped and source.kind == "upload":
            # Not captured, so not kept either: the uploaded files go too.
            _remove_uploads_on_commit(source.config, dropped)
        names = {p.ref: p.display_name or p.real_name for p in batch.people}
        identities.update(identities_for_refs(_refs_in(batch) - identities.keys(), names=names))
        containers = _upsert_containers(
            source, batch.containers, identities, withheld=_excluded_containers(batch, rules)
        )
        containers.update(_existing_containers(source, batch, containers))
        audiences = _AudienceCache(containers, identities)
        documents = _masked(batch.documents, batch.people)
        _store_documents(source, documents, identities, containers, audiences, result)
        if batch.failures:
            _quarantine(source, run, batch.failures)
            result.quarantined += len(batch.failures)
        if advance_checkpoint:
            source.checkpoint = batch.cursor
            source.save(update_fields=["checkpoint"])
        if (result.created or result.updated) and settings.COLLEAGUE_EMBED_ON_INGEST:
            from knowledge import tasks

            # Embed the new chunks once committed (inline when no broker is configured).
            transaction.on_commit(lambda: tasks.embed_pending_chunks.delay(source.pk), robust=True)
    return result


def _refs_in(batch: SourceBatch) -> set[PersonRef]:
    refs: set[PersonRef] = set()
    for doc in batch.documents:
        if doc.author is not None:
            refs.add(doc.author)
        refs.update(doc.audience.people)
    for container in batch.containers:
        refs.update(container.members)
    return refs


def _upsert_containers(
    source: Source,
    wanted: Iterable[SourceContainer],
    identities: dict[PersonRef, Identity],
    *,
    withheld: frozenset[str] = frozenset(),
) -> dict[str, Container]:
    """Store the containers; those in `withheld` (excluded) without their topic.

    Excluded containers are still stored: later batches of the same sync name their documents
    by container id only, and the stored kind and name are what excludes those documents too.
    """
    stored: dict[str, Container] = {}
    for spec in wanted:
        if spec.external_id in withheld and spec.topic:
            spec = replace(spec, topic="")
        container, created = Container.objects.get_or_create(
            source=source,
            external_id=spec.external_id,
            defaults={
                "name": spec.name[:300],
                "kind": spec.kind,
                "is_private": spec.is_private,
                "topic": spec.topic,
            },
        )
        if not created and (
            container.name,
            container.kind,
            container.is_private,
            container.topic,
        ) != (spec.name[:300], spec.kind, spec.is_private, spec.topic):
            container.name = spec.name[:300]
            container.kind = spec.kind
            container.is_private = spec.is_private
            container.topic = spec.topic
            container.save(update_fields=["name", "kind", "is_private", "topic"])
        # Membership mirrors the source: people who left the channel lose sight of it.
        container.members.set([identities[ref].pk for ref in spec.members])
        stored[spec.external_id] = container
    return stored


# Exclusions, redactions and masking: applied to a batch before anything of it is written.


def _without_redacted(source: Source, batch: SourceBatch) -> SourceBatch:
    """The batch without documents redacted earlier (knowledge.redaction): never captured
    again."""
    if not batch.documents or not RedactedDocument.objects.filter(source=source).exists():
        return batch
    hashes = {
        d.external_id: hashlib.sha256(d.external_id.encode()).hexdigest() for d in batch.documents
    }
    redacted = set(
        RedactedDocument.objects.filter(
            source=source, external_id_sha256__in=set(hashes.values())
        ).values_list("external_id_sha256", flat=True)
    )
    if not redacted:
        return batch
    kept = tuple(d for d in batch.documents if hashes[d.external_id] not in redacted)
    logger.info("Skipped %s redacted documents of %s", len(batch.documents) - len(kept), source)
    return replace(batch, documents=kept)


def _screen(
    source: Source, batch: SourceBatch, rules: ExclusionRules
) -> tuple[SourceBatch, dict[str, Reason]]:
    """Return the batch without the documents `rules` exclude, and why each was excluded."""
    if not batch.documents:
        return batch, {}
    places: dict[str, tuple[str, str]] = {c.external_id: (c.name, c.kind) for c in batch.containers}
    unknown = {d.container_id for d in batch.documents if d.container_id} - places.keys()
    if unknown:
        places.update(
            (external_id, (name, kind))
            for external_id, name, kind in Container.objects.filter(
                source=source, external_id__in=unknown
            ).values_list("external_id", "name", "kind")
        )
    senders: dict[PersonRef, set[str]] = {}
    if rules.senders:
        authors = {d.author for d in batch.documents if d.author is not None}
        senders = _addresses_of(authors, batch.people)
    by_container: dict[str, Reason | None] = {
        external_id: rules.container_reason(external_id=external_id, name=name, kind=kind)
        for external_id, (name, kind) in places.items()
    }
    excluded: dict[str, Reason] = {}
    kept: list[SourceDocument] = []
    # The last version of a repeated id is the one stored (`_store_documents`): judge that one.
    for doc in {doc.external_id: doc for doc in batch.documents}.values():
        reason = by_container.get(doc.container_id) if doc.container_id else None
        author = senders.get(doc.author) if doc.author is not None else None
        if reason is None and author and rules.excludes_sender(author):
            reason = "sender"
        if reason is None and rules.mentions_keyword(doc.title, doc.body):
            reason = "keyword"
        if reason is None:
            kept.append(doc)
        else:
            excluded[doc.external_id] = reason
    if not excluded:
        return batch, {}
    return replace(batch, documents=tuple(kept)), excluded


def _excluded_containers(batch: SourceBatch, rules: ExclusionRules) -> frozenset[str]:
    return frozenset(
        c.external_id
        for c in batch.containers
        if rules.container_reason(external_id=c.external_id, name=c.name, kind=c.kind)
    )


def _addresses_of(
    refs: Iterable[PersonRef], people: Iterable[SourcePerson]
) -> dict[PersonRef, set[str]]:
    """Every address of each person: the ref's value (and a Slack user's id alone), the address
    the source gives for them, and the addresses and identities of their colleague."""
    addresses: dict[PersonRef, set[str]] = {}
    for ref in refs:
        own = addresses[ref] = {ref.value.lower()}
        if ref.kind == "slack":
            own.add(ref.value.rsplit("/", 1)[-1].lower())
    for person in people:
        if person.ref in addresses and person.email:
            addresses[person.ref].add(person.email.lower())
    if not addresses:
        return addresses
    colleague_of: dict[PersonRef, int] = {}
    values_by_kind: dict[str, set[str]] = {}
    for ref, own in addresses.items():
        values_by_kind.setdefault(ref.kind, set()).add(ref.value)
        if ref.kind == "slack":
            values_by_kind.setdefault("email", set()).update(a for a in own if "@" in a)
    found: dict[tuple[str, str], int] = {}
    for kind, values in values_by_kind.items():
        rows = Identity.objects.filter(kind=kind, value__in=values, colleague__isnull=False)
        for value, linked_id in rows.values_list("value", "colleague_id"):
            if linked_id is not None:
                found[(kind, value)] = linked_id
    for ref, own in addresses.items():
        linked = [found.get((ref.kind, ref.value)), *(found.get(("email", a)) for a in own)]
        colleague_id = next((c for c in linked if c is not None), None)
        if colleague_id is not None:
            colleague_of[ref] = colleague_id
    if not colleague_of:
        return addresses
    theirs = colleague_addresses(colleague_of.values())
    for ref, colleague_id in colleague_of.items():
        addresses[ref] |= theirs.get(colleague_id, set())
    return addresses


def colleague_addresses(colleague_ids: Iterable[int]) -> dict[int, set[str]]:
    """Each colleague's primary address and the values of all their identities, lower-cased."""
    wanted = set(colleague_ids)
    theirs: dict[int, set[str]] = {}
    if not wanted:
        return theirs
    rows = Identity.objects.filter(colleague_id__in=wanted).values_list("colleague_id", "value")
    for colleague_id, value in rows:
        if colleague_id is not None:
            theirs.setdefault(colleague_id, set()).add(value.lower())
    for colleague_id, address in Colleague.objects.filter(id__in=wanted).values_list("id", "email"):
        if address:
            theirs.setdefault(colleague_id, set()).add(address.lower())
    return theirs


def _masked(
    documents: Sequence[SourceDocument], people: Iterable[SourcePerson]
) -> Sequence[SourceDocument]:
    """Return the documents with third parties' personal data masked in their text.

    The author's own addresses are kept; what was masked is counted in metadata["masked"].
    """
    kinds = tuple(getattr(settings, "COLLEAGUE_MASK_PERSONAL_DATA", ()))
    if not kinds or not documents:
        return documents
    unknown = set(kinds) - set(MASKABLE_KINDS)
    if unknown:
        raise ImproperlyConfigured(
            f"COLLEAGUE_MASK_PERSONAL_DATA: unknown kinds {sorted(unknown)}; "
            f"choose from {', '.join(MASKABLE_KINDS)}"
        )
    authors = {d.author for d in documents if d.author is not None}
    own = _addresses_of(authors, people)
    masked: list[SourceDocument] = []
    for doc in documents:
        keep = own.get(doc.author, set()) if doc.author is not None else set()
        title = mask_personal_data(doc.title, kinds=kinds, keep=keep)
        body = mask_personal_data(doc.body, kinds=kinds, keep=keep)
        counts: Counter[str] = Counter(title.counts)
        counts.update(body.counts)
        changed: dict[str, str] = {}
        for key in MASKED_METADATA_KEYS:
            value = doc.metadata.get(key)
            if isinstance(value, str) and value:
                found = mask_personal_data(value, kinds=kinds, keep=keep)
                if found.counts:
                    changed[key] = found.text
                    counts.update(found.counts)
        if not counts:
            masked.append(doc)
            continue
        metadata = {**doc.metadata, **changed, "masked": dict(sorted(counts.items()))}
        masked.append(replace(doc, title=title.text, body=body.text, metadata=metadata))
    return masked


def delete_items(*, item_ids: Sequence[int]) -> int:
    """Delete these items and their chunks from the database and from every index; return how
    many items were deleted.

    Runs in the caller's transaction when there is one. Chunks leave the keyword index with
    their rows; copies outside the Chunk table are deleted once the transaction commits
    (Weaviate through the index outbox, written in this transaction; pgvector directly).
    Audiences no item or chunk uses any more are deleted too, and the files of deleted uploads
    once the transaction commits (`forget_upload_files`).
    """
    ids = sorted(set(item_ids))
    if not ids:
        return 0
    chunk_ids: list[int] = []
    deleted = 0
    with transaction.atomic():
        forget_upload_files(Item.objects.filter(id__in=ids))
        for start in range(0, len(ids), 1000):
            part = ids[start : start + 1000]
            reembed_replies_to(part)
            chunk_ids.extend(Chunk.objects.filter(item_id__in=part).values_list("id", flat=True))
            Chunk.objects.filter(item_id__in=part).delete()
            deleted += Item.objects.filter(id__in=part).delete()[1].get(Item._meta.label, 0)
        Audience.objects.filter(items__isnull=True, chunks__isnull=True).delete()
        _forget_chunks(chunk_ids)
    return deleted


def forget_upload_files(items: QuerySet[Item]) -> None:
    """Once the caller's transaction commits, delete the upload folders (the uploaded file and
    its manifest) of those of `items` that came from an uploads source. Call it before the
    items are deleted."""
    by_source: dict[int, tuple[Any, list[str]]] = {}
    rows = items.filter(source__kind="upload").values_list(
        "source_id", "source__config", "external_id"
    )
    for source_id, config, external_id in rows:
        by_source.setdefault(source_id, (config, []))[1].append(external_id)
    for config, names in by_source.values():
        _remove_uploads_on_commit(config, names)


def _remove_uploads_on_commit(config: Any, names: Iterable[str]) -> None:
    from connectors.uploads.storage import remove_upload_folders

    root = config.get("path") if isinstance(config, dict) else None
    if root:
        transaction.on_commit(
            functools.partial(remove_upload_folders, Path(root), list(names)), robust=True
        )


def _delete_chunks_of(item_ids: list[int]) -> None:
    """Delete these items' chunks, from the database and (`_forget_chunks`) every index; the
    items stay, to be given new chunks."""
    chunks = Chunk.objects.filter(item_id__in=item_ids)
    _forget_chunks(list(chunks.values_list("id", flat=True)))
    chunks.delete()


def _forget_chunks(chunk_ids: list[int]) -> None:
    """Delete the index copies of deleted chunks once the deletion commits.

    The db backend is the Chunk table: its rows are gone already (its in-memory candidates
    drop ids found gone). Weaviate gets outbox rows, in this transaction; pgvector a delete.
    """
    from knowledge.index.outbox import queue_index_changes

    if not chunk_ids or queue_index_changes(deleted=chunk_ids):
        return
    if (getattr(settings, "COLLEAGUE_INDEX_BACKEND", "db") or "db") == "db":
        return
    transaction.on_commit(functools.partial(_delete_from_index, chunk_ids), robust=True)


def _delete_from_index(chunk_ids: list[int]) -> None:
    from knowledge.index import get_index

    index = get_index()
    for start in range(0, len(chunk_ids), 5000):
        index.delete(chunk_ids[start : start + 5000])


def _existing_containers(
    source: Source, batch: SourceBatch, known: dict[str, Container]
) -> dict[str, Container]:
    wanted = {doc.container_id for doc in batch.documents if doc.container_id} - known.keys()
    for doc in batch.documents:
        wanted.update(c for c in doc.audience.containers if c not in known)
    if not wanted:
        return {}
    return {
        c.external_id: c for c in Container.objects.filter(source=source, external_id__in=wanted)
    }


class _AudienceCache:
    """Find or create the Audience row for each distinct set of principals."""

    def __init__(
        self, containers: dict[str, Container], identities: dict[PersonRef, Identity]
    ) -> None:
        self.containers = containers
        self.identities = identities
        self.cache: dict[str, Audience] = {}
        self.by_spec: dict[connectors_base.Audience, Audience] = {}

    def get(self, doc: SourceDocument) -> Audience:
        found = self.by_spec.get(doc.audience)
        if found is None:
            found = self.by_spec[doc.audience] = self._get(doc)
        return found

    def _get(self, doc: SourceDocument) -> Audience:
        spec = doc.audience
        container_ids = sorted(
            {self.containers[c].pk for c in spec.containers if c in self.containers}
        )
        identity_ids = sorted({self.identities[p].pk for p in spec.people})
        missing = [c for c in spec.containers if c not in self.containers]
        if missing:
            # Fail closed: a document naming a container we do not know is visible to nobody
            # but the operator, rather than to anyone by accident.
            logger.warning("Document %s names unknown containers %s", doc.external_id, missing)
        key = json.dumps(
            {"public": spec.public, "containers": container_ids, "identities": identity_ids},
            sort_keys=True,
        )
        fingerprint = hashlib.sha256(key.encode()).hexdigest()
        if fingerprint not in self.cache:
            audience, created = Audience.objects.get_or_create(
                fingerprint=fingerprint, defaults={"is_public": spec.public}
            )
            if created:
                audience.containers.set(container_ids)
                audience.identities.set(identity_ids)
            self.cache[fingerprint] = audience
        return self.cache[fingerprint]


def _content_hash(
    doc: SourceDocument,
    author_id: int | None,
    audience_id: int,
    container_id: int | None,
    metadata_json: str,
) -> str:
    """Return the hash telling a changed document from an unchanged one.

    `metadata_json` is `_metadata_json(doc)`. The payload is the JSON list [kind, title, body,
    url, author id, audience id, container id, thread id, metadata] with sorted keys; it is
    spelled out so the metadata is serialised once for the hash and the column.
    """
    # Timestamps are left out: a file touched or re-exported without a change is unchanged.
    head = _HEAD_ENCODER.encode(
        [
            doc.kind,
            doc.title,
            doc.body,
            doc.url or "",
            author_id,
            audience_id,
            container_id,
            doc.thread_id or "",
        ]
    )
    payload = f"{head[:-1]}, {metadata_json}]"
    return hashlib.sha256(payload.encode()).hexdigest()


# What json.dumps(value, default=str) and json.dumps(value, sort_keys=True, default=str) build
# for each call, built once: the same output, without an encoder per document.
_HEAD_ENCODER = json.JSONEncoder(default=str)
_METADATA_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


def _metadata_json(doc: SourceDocument) -> str:
    return _METADATA_ENCODER.encode(dict(doc.metadata))


@dataclass
class _Row:
    """A document ready to store: its item's columns, and the chunks to index."""

    pk: int | None
    external_id: str
    doc: SourceDocument
    author_id: int | None
    container_id: int | None
    audience_id: int
    metadata_json: str
    content_hash: str

    def chunk_pieces(self) -> list[Piece]:
        return chunk_item(self.doc.kind, self.doc.title, self.doc.body)


def _store_documents(
    source: Source,
    documents: Iterable[SourceDocument],
    identities: dict[PersonRef, Identity],
    containers: dict[str, Container],
    audiences: _AudienceCache,
    result: BatchResult,
) -> None:
    docs = {doc.external_id: doc for doc in documents}  # the last version of a repeated id wins
    if not docs:
        return
    # (id, content hash) of what is stored: enough to tell new, changed and unchanged apart.
    existing = {
        external_id: (pk, content_hash)
        for external_id, pk, content_hash in _select_items(
            source.pk, list(docs), "id, content_hash"
        )
    }
    colleagues: dict[int, int | None] = {}  # identity id -> its colleague's id
    # Per batch, looked up once: author ref -> identity id, container id -> row id.
    author_ids: dict[PersonRef, int] = {}
    container_ids: dict[str, int | None] = {}
    new_rows: list[_Row] = []
    changed: list[_Row] = []
    for external_id, doc in docs.items():
        author_id: int | None = None
        if doc.author is not None:
            author_id = author_ids.get(doc.author)
            if author_id is None:
                author = identities[doc.author]
                author_id = author_ids[doc.author] = author.pk
                if author_id not in colleagues:
                    colleagues[author_id] = ensure_author_colleague(author)
                colleague_id = colleagues[author_id]
                if colleague_id is not None:
                    result.colleague_ids.add(colleague_id)
        audience_id = audiences.get(doc).pk
        container_id: int | None = None
        if doc.container_id:
            if doc.container_id in container_ids:
                container_id = container_ids[doc.container_id]
            else:
                container = containers.get(doc.container_id)
                container_id = container_ids[doc.container_id] = container.pk if container else None
        metadata_json = _metadata_json(doc)
        row = _Row(
            pk=None,
            external_id=external_id,
            doc=doc,
            author_id=author_id,
            container_id=container_id,
            audience_id=audience_id,
            metadata_json=metadata_json,
            content_hash=_content_hash(doc, author_id, audience_id, container_id, metadata_json),
        )
        known = existing.get(external_id)
        if known is None:
            new_rows.append(row)
        elif known[1] == row.content_hash:
            result.unchanged += 1
        else:
            row.pk = known[0]
            changed.append(row)
    if new_rows:
        _insert_items(source, new_rows)
        # A thread's first message stored after replies to it (a later sync or export): the
        # replies, embedded without their question, are embedded again with it.
        reembed_replies_to(
            [r.pk for r in new_rows if r.pk is not None and r.doc.thread_id == r.external_id]
        )
    if changed:
        Item.objects.bulk_update(
            [_item(source, row) for row in changed], UPDATABLE_FIELDS, batch_size=500
        )
        changed_ids = [row.pk for row in changed if row.pk is not None]
        # Replies embedded with a changed question are embedded again with the new one.
        reembed_replies_to(changed_ids)
        _delete_chunks_of(changed_ids)
    _insert_chunks([*new_rows, *changed])
    result.created += len(new_rows)
    result.updated += len(changed)


def _item(source: Source, row: _Row) -> Item:
    doc = row.doc
    return Item(
        pk=row.pk,
        source=source,
        external_id=row.external_id,
        kind=doc.kind,
        author_id=row.author_id,
        container_id=row.container_id,
        thread_key=(doc.thread_id or "")[:500],
        title=doc.title[:500],
        body=doc.body,
        url=(doc.url or "")[:1000],
        created_at=doc.created_at,
        updated_at=doc.updated_at,
        audience_id=row.audience_id,
        metadata=dict(doc.metadata),
        content_hash=row.content_hash,
    )


# Items and chunks of a batch are written with plain executemany rather than bulk_create:
# at thousands of rows per batch, preparing each value through the ORM cost more than the
# database's own work (issue 3, docs/BENCHMARKS.md). Only the models' table and column names
# are interpolated into the SQL; every value is a parameter.


def _select_items(source_id: int, external_ids: list[str], columns: str) -> list[tuple[Any, ...]]:
    """Return (external_id, *columns) of the source's items among `external_ids`."""
    connection = connections[Item.objects.db]
    table = connection.ops.quote_name(Item._meta.db_table)
    # The ids travel as one parameter (a JSON array for SQLite, an array for PostgreSQL):
    # binding, and logging with DEBUG on, cost as much as the lookup at 10,000 ids.
    ids: str | list[str]
    if connection.vendor == "sqlite":
        wanted, ids = "IN (SELECT value FROM json_each(%s))", json.dumps(external_ids)
    else:
        wanted, ids = "= ANY(%s)", external_ids
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT external_id, {columns} FROM {table}"  # noqa: S608
            f" WHERE source_id = %s AND external_id {wanted}",
            [source_id, ids],
        )
        return cursor.fetchall()


# In the order `_insert_items` builds its rows.
_INSERTED_FIELDS = (
    "source",
    "external_id",
    "kind",
    "author",
    "container",
    "thread_key",
    "title",
    "body",
    "url",
    "created_at",
    "updated_at",
    "content_hash",
    "audience",
    "metadata",
    "ingested_at",
)


def _insert_items(source: Source, rows: list[_Row]) -> None:
    """Insert the items of new rows and set the rows' ids."""
    connection = connections[Item.objects.db]
    ops = connection.ops
    sqlite = connection.vendor == "sqlite"
    columns = ", ".join(
        ops.quote_name(Item._meta.get_field(name).get_attname_column()[1] or name)  # type: ignore[union-attr]
        for name in _INSERTED_FIELDS
    )
    placeholders = ", ".join(["%s"] * len(_INSERTED_FIELDS))
    table = ops.quote_name(Item._meta.db_table)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
    datetime_value = _sqlite_datetime if sqlite else ops.adapt_datetimefield_value
    ingested_at = datetime_value(timezone.now())
    params = []
    for row in rows:
        doc = row.doc
        params.append(
            (
                source.pk,
                row.external_id,
                doc.kind,
                row.author_id,
                row.container_id,
                (doc.thread_id or "")[:500],
                doc.title[:500],
                doc.body,
                (doc.url or "")[:1000],
                datetime_value(doc.created_at),
                datetime_value(doc.updated_at),
                row.content_hash,
                row.audience_id,
                row.metadata_json if sqlite else ops.adapt_json_value(dict(doc.metadata), None),
                ingested_at,
            )
        )
    with connection.cursor() as cursor:
        # New ids are greater than every id before (SQLite's AUTOINCREMENT, a sequence on
        # PostgreSQL), and (source, external_id) is unique: the rows above `before` with these
        # external ids are these rows.
        cursor.execute(f"SELECT MAX(id) FROM {table}")  # noqa: S608
        before = cursor.fetchone()[0] or 0
        cursor.executemany(sql, params)
        # By the primary key alone: a range of the newest rows (an index on source would
        # make the database read every item of the source).
        cursor.execute(
            f"SELECT external_id, id, source_id FROM {table} WHERE id > %s",  # noqa: S608
            [before],
        )
        ids = {external_id: pk for external_id, pk, source_id in cursor if source_id == source.pk}
    for row in rows:
        row.pk = ids[row.external_id]


def _insert_chunks(rows: list[_Row]) -> None:
    """Insert the chunks of stored rows."""
    _insert_pieces([(row.pk, row.audience_id, row.chunk_pieces()) for row in rows])


def _insert_pieces(items: Sequence[tuple[int | None, int, list[Piece]]]) -> None:
    """Insert chunks: (item id, audience id, pieces in order) per item."""
    params = [
        (item_id, ordinal, piece.text, piece.context, audience_id)
        for item_id, audience_id, pieces in items
        for ordinal, piece in enumerate(pieces)
    ]
    if not params:
        return
    connection = connections[Chunk.objects.db]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {quote(Chunk._meta.db_table)}"  # noqa: S608
            f" ({quote('item_id')}, {quote('ordinal')}, {quote('text')}, {quote('context')},"
            f" {quote('audience_id')}) VALUES (%s, %s, %s, %s, %s)",
            params,
        )


#: Items read and, when their cuts changed, re-chunked per transaction.
RECHUNK_BATCH = 500


def rechunk_items(*, progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """Cut every item again with the current chunker (knowledge/chunking.py) and replace the
    chunks of those whose pieces differ; return (items read, items re-chunked).

    The new chunks are pending (no vector yet: `embed_chunks` follows); the old ones leave the
    index with their rows, and pgvector or Weaviate once each batch commits. Items whose
    chunks are as the chunker cuts them now are not touched, so a second run changes nothing.
    """
    total = Item.objects.count() if progress is not None else 0
    read = rechunked = 0
    after = 0
    while True:
        items = list(
            Item.objects.filter(id__gt=after)
            .order_by("id")
            .values_list("id", "kind", "title", "body", "audience_id")[:RECHUNK_BATCH]
        )
        if not items:
            return read, rechunked
        after = items[-1][0]
        stored: dict[int, list[Piece]] = {pk: [] for pk, *_ in items}
        chunks = Chunk.objects.filter(item_id__in=list(stored)).order_by("item_id", "ordinal")
        for item_id, text, context in chunks.values_list("item_id", "text", "context"):
            stored[item_id].append(Piece(text, context))
        stale = [
            (pk, audience_id, pieces)
            for pk, kind, title, body, audience_id in items
            if (pieces := chunk_item(kind, title, body)) != stored[pk]
        ]
        if stale:
            with transaction.atomic():
                _delete_chunks_of([pk for pk, _, _ in stale])
                _insert_pieces(stale)
        read += len(items)
        rechunked += len(stale)
        if progress is not None:
            progress(read, max(total, read))


def _sqlite_datetime(value: datetime) -> str:
    # What Django's SQLite backend stores for an aware datetime: naive UTC, ISO with a space.
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _quarantine(source: Source, run: SyncRun | None, failures: Sequence[SourceFailure]) -> None:
    """Record each failure, with an audit event; copy the files they name once the
    transaction commits.

    A rolled-back batch records nothing and copies nothing. A file named by several failures
    (the messages of one mbox, the members of one ZIP) is copied once for all of them.
    """
    records = QuarantinedFile.objects.bulk_create(
        [
            QuarantinedFile(
                source=source,
                run=run,
                path=_storable(failure.path)[:1000],
                file=_storable(failure.file)[:1000],
                member=_storable(failure.member)[:1000],
                copy_status=(
                    QuarantinedFile.Copy.PENDING if failure.file else QuarantinedFile.Copy.NO_FILE
                ),
                error_type=_storable(failure.error_type)[:100],
                message=_storable(failure.message)[:5000],
            )
            for failure in failures
        ]
    )
    for record in records:
        # Ids and the error's type only, never the path or the message (SECURITY.md row 13).
        audit.record(
            "quarantine.created",
            f"quarantine:{record.pk}",
            result=audit.Result.FAILED,
            source=source.pk,
            run=run.pk if run is not None else None,
            error_type=record.error_type,
        )
    copies: dict[str, list[int]] = {}
    for failure, record in zip(failures, records, strict=True):
        if failure.file:
            # The file as the OS spells it, which `record.file` may not (a name not in UTF-8).
            copies.setdefault(failure.file, []).append(record.pk)
    if copies:
        run_id = run.pk if run is not None else None
        keep = functools.partial(_keep_copies, source.pk, copies, run_id=run_id)
        transaction.on_commit(keep, robust=True)


def _storable(text: str) -> str:
    """Return `text` as any database stores it: no NUL, no lone surrogate."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


@dataclass(frozen=True)
class _Copy:
    status: QuarantinedFile.Copy
    detail: str
    stored_path: str = ""


def _keep_copies(
    source_id: int, copies: Mapping[str, list[int]], *, run_id: int | None = None
) -> None:
    """Copy each file into the source's quarantine folder and record on its rows what was
    copied, or why not. Runs after the batch's transaction has committed.

    A file already copied earlier in run `run_id` (a Slack ZIP with bad members in several
    batches) is not copied again: its rows point at that copy.
    """
    folder = Path(settings.COLLEAGUE_QUARANTINE_DIR) / str(source_id)
    for file, record_ids in copies.items():
        copy = _copy_made_in_run(run_id, file, record_ids) or _copy_into_quarantine(
            Path(file), folder
        )
        updated = QuarantinedFile.objects.filter(pk__in=record_ids).update(
            stored_path=copy.stored_path[:1000],
            copy_status=copy.status,
            copy_detail=_storable(copy.detail)[:500],
        )
        if copy.stored_path and not updated:
            # The rows are gone (the source was deleted meanwhile): keep no orphan copy.
            Path(copy.stored_path).unlink(missing_ok=True)


def _copy_made_in_run(run_id: int | None, file: str, record_ids: list[int]) -> _Copy | None:
    """Return the copy of `file` made earlier in run `run_id`, if it is still there."""
    if run_id is None:
        return None
    earlier = (
        QuarantinedFile.objects.filter(
            run_id=run_id, file=_storable(file)[:1000], copy_status=QuarantinedFile.Copy.COPIED
        )
        .exclude(pk__in=record_ids)
        .order_by("pk")
        .values_list("stored_path", "copy_detail")
        .first()
    )
    if earlier is None or not os.path.isfile(earlier[0]):
        return None
    return _Copy(QuarantinedFile.Copy.COPIED, earlier[1], earlier[0])


@dataclass(frozen=True)
class FinishedCopies:
    """What `finish_interrupted_copies` did."""

    retried: int  # pending rows whose file was there: copied now (or settled why not)
    gone: int  # pending rows whose file was gone: marked unreadable
    partials_removed: int  # stale `.partial-*` files deleted


def finish_interrupted_copies(*, source: Source) -> FinishedCopies:
    """Settle the quarantine copies a sync of `source` that died left undone.

    A batch's quarantine rows are committed as `pending` and copied just after: a process
    killed in between leaves them `pending` and may leave a `.partial-*` file. Each such row
    of a run that is over gets its copy now, through the same safe path, if its file is still
    there (else the row is marked unreadable, the file gone); `.partial-*` files older than
    STALE_PARTIAL_AGE in the source's quarantine folder are deleted. `run_sync` calls this
    before each sync of `source`, when no other sync of it is running.
    """
    pending: dict[str, list[int]] = {}
    rows = (
        source.quarantine.filter(copy_status=QuarantinedFile.Copy.PENDING)
        .exclude(run__status=SyncRun.Status.RUNNING)
        .values_list("pk", "file")
    )
    for pk, file in rows:
        pending.setdefault(file, []).append(pk)
    retried = gone = 0
    for file, record_ids in pending.items():
        if file and os.path.lexists(file):
            _keep_copies(source.pk, {file: record_ids})
            retried += len(record_ids)
            continue
        # No file (a row that should not be pending), or the file went away meanwhile. (A
        # name that is not UTF-8 is stored escaped, and reads as gone too.)
        status = QuarantinedFile.Copy.UNREADABLE if file else QuarantinedFile.Copy.NO_FILE
        detail = "the file was gone when the interrupted copy was retried" if file else ""
        QuarantinedFile.objects.filter(pk__in=record_ids).update(
            copy_status=status, copy_detail=detail
        )
        gone += len(record_ids)
    partials = _remove_stale_partials(Path(settings.COLLEAGUE_QUARANTINE_DIR) / str(source.pk))
    if retried or gone or partials:
        logger.info(
            "Source %s: retried %s interrupted quarantine copies (%s more files gone), removed "
            "%s partial copies",
            source.pk,
            retried,
            gone,
            partials,
        )
    return FinishedCopies(retried=retried, gone=gone, partials_removed=partials)


def _remove_stale_partials(folder: Path) -> int:
    """Delete the `.partial-*` regular files in `folder` older than STALE_PARTIAL_AGE."""
    cutoff = (timezone.now() - STALE_PARTIAL_AGE).timestamp()
    removed = 0
    try:
        with os.scandir(folder) as entries:
            stale = [
                entry.path
                for entry in entries
                if entry.name.startswith(PARTIAL_PREFIX)
                and entry.is_file(follow_symlinks=False)
                and entry.stat(follow_symlinks=False).st_mtime < cutoff
            ]
    except FileNotFoundError:
        return 0
    except OSError as exc:
        logger.warning("Could not list quarantine folder %s: %s", folder, exc)
        return 0
    for path in stale:
        try:
            os.unlink(path)
        except OSError as exc:
            logger.warning("Could not remove partial copy %s: %s", path, exc)
        else:
            removed += 1
    return removed


def _copy_into_quarantine(original: Path, folder: Path) -> _Copy:
    """Copy the regular file `original` into `folder`; return what was done.

    The file is opened once, without following a link and without blocking (a FIFO cannot
    hang the sync), and read at most to MAX_QUARANTINE_COPY_BYTES even if it grows. The copy
    is written under a temporary name in `folder` and renamed into place only when complete,
    so no half-written copy is ever under its final name.
    """
    limit = MAX_QUARANTINE_COPY_BYTES
    try:
        handle = open_regular_file(original, follow_symlinks=False)
    except UnsafeArchive:
        return _Copy(QuarantinedFile.Copy.SYMLINK, "a symbolic link; links are not followed")
    except UnsupportedFile as exc:
        return _Copy(QuarantinedFile.Copy.NOT_REGULAR, str(exc))
    except OSError as exc:
        return _Copy(QuarantinedFile.Copy.UNREADABLE, exc.strerror or str(exc))
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            return _Copy(QuarantinedFile.Copy.TOO_LARGE, f"{size} bytes, over {limit}")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(prefix=PARTIAL_PREFIX, dir=folder)
        except OSError as exc:
            logger.warning("Could not copy quarantined file %s: %s", original, exc)
            return _Copy(QuarantinedFile.Copy.UNREADABLE, f"quarantine folder: {exc}")
        try:
            copied = 0
            with os.fdopen(descriptor, "wb") as out:
                while block := handle.read(_COPY_BLOCK):
                    copied += len(block)
                    if copied > limit:
                        break
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            if copied > limit:
                Path(temporary).unlink()
                return _Copy(QuarantinedFile.Copy.TOO_LARGE, f"grew past {limit} bytes")
            target = folder / _copy_name(original)
            os.replace(temporary, target)
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            logger.warning("Could not copy quarantined file %s: %s", original, exc)
            return _Copy(QuarantinedFile.Copy.UNREADABLE, exc.strerror or str(exc))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return _Copy(QuarantinedFile.Copy.COPIED, f"the whole file, {copied} bytes", str(target))


def _copy_name(original: Path) -> str:
    """Name the copy of `original`: one per file path, so a file quarantined again replaces
    its earlier copy, and two files of the same name do not collide."""
    digest = hashlib.sha256(os.fsencode(original)).hexdigest()[:16]
    return f"{digest}-{_storable(original.name)[:100]}"
