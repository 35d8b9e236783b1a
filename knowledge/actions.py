"""Writes of captured knowledge: storing a connector's batch."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from colleagues.actions import ensure_author_colleague, identities_for_refs, resolve_people
from colleagues.models import Identity
from connectors.base import PersonRef, SourceBatch, SourceContainer, SourceDocument, SourceFailure
from connectors.models import QuarantinedFile, Source, SyncRun
from knowledge.chunking import split_text
from knowledge.models import Audience, Chunk, Container, Item

logger = logging.getLogger(__name__)

# Copies of quarantined files larger than this are not kept; the record still is.
MAX_QUARANTINE_COPY_BYTES = 200 * 1024 * 1024


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


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    colleague_ids: set[int] = field(default_factory=set)


def ingest_batch(*, source: Source, batch: SourceBatch, run: SyncRun | None = None) -> BatchResult:
    """Store one batch and advance the source's checkpoint, in one transaction.

    Idempotent on (source, external_id): a document whose content is unchanged is left alone,
    a changed one is updated and re-chunked. Failures become quarantined files.
    """
    result = BatchResult()
    with transaction.atomic():
        identities = resolve_people(batch.people)
        names = {p.ref: p.display_name or p.real_name for p in batch.people}
        identities.update(identities_for_refs(_refs_in(batch) - identities.keys(), names=names))
        containers = _upsert_containers(source, batch.containers, identities)
        containers.update(_existing_containers(source, batch, containers))
        audiences = _AudienceCache(containers, identities)
        _store_documents(source, batch.documents, identities, containers, audiences, result)
        for failure in batch.failures:
            _quarantine(source, run, failure)
            result.quarantined += 1
        source.checkpoint = batch.cursor
        source.save(update_fields=["checkpoint"])
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
    source: Source, wanted: Iterable[SourceContainer], identities: dict[PersonRef, Identity]
) -> dict[str, Container]:
    stored: dict[str, Container] = {}
    for spec in wanted:
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

    def get(self, doc: SourceDocument) -> Audience:
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
    doc: SourceDocument, author_id: int | None, audience_id: int, container_id: int | None
) -> str:
    # Timestamps are left out: a file touched or re-exported without a change is unchanged.
    payload = json.dumps(
        [
            doc.kind,
            doc.title,
            doc.body,
            doc.url or "",
            author_id,
            audience_id,
            container_id,
            doc.thread_id or "",
            dict(doc.metadata),
        ],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


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
    existing = {
        item.external_id: item
        for item in Item.objects.filter(source=source, external_id__in=list(docs))
    }
    new_items: list[Item] = []
    changed: list[Item] = []
    for external_id, doc in docs.items():
        author = identities[doc.author] if doc.author is not None else None
        if author is not None:
            colleague_id = ensure_author_colleague(author)
            if colleague_id is not None:
                result.colleague_ids.add(colleague_id)
        audience = audiences.get(doc)
        container = containers.get(doc.container_id) if doc.container_id else None
        fields = {
            "kind": doc.kind,
            "author": author,
            "container": container,
            "thread_key": (doc.thread_id or "")[:500],
            "title": doc.title[:500],
            "body": doc.body,
            "url": (doc.url or "")[:1000],
            "created_at": doc.created_at,
            "updated_at": doc.updated_at,
            "audience": audience,
            "metadata": dict(doc.metadata),
            "content_hash": _content_hash(
                doc,
                author.pk if author else None,
                audience.pk,
                container.pk if container else None,
            ),
        }
        item = existing.get(external_id)
        if item is None:
            new_items.append(Item(source=source, external_id=external_id, **fields))
        elif item.content_hash == fields["content_hash"]:
            result.unchanged += 1
        else:
            for name, value in fields.items():
                setattr(item, name, value)
            changed.append(item)
    Item.objects.bulk_create(new_items, batch_size=500)
    if changed:
        Item.objects.bulk_update(changed, UPDATABLE_FIELDS, batch_size=500)
        Chunk.objects.filter(item__in=changed).delete()
    Chunk.objects.bulk_create(
        [chunk for item in [*new_items, *changed] for chunk in _chunks_of(item)], batch_size=1000
    )
    result.created += len(new_items)
    result.updated += len(changed)


def _chunks_of(item: Item) -> list[Chunk]:
    text = item.body
    if item.kind != Item.Kind.MESSAGE and item.title:
        text = f"{item.title}\n\n{text}"
    return [
        Chunk(item=item, ordinal=n, text=piece, audience=item.audience)
        for n, piece in enumerate(split_text(text))
    ]


def _quarantine(source: Source, run: SyncRun | None, failure: SourceFailure) -> QuarantinedFile:
    stored_path = ""
    original = Path(failure.path)
    try:
        if original.is_file() and original.stat().st_size <= MAX_QUARANTINE_COPY_BYTES:
            digest = hashlib.sha256(failure.path.encode()).hexdigest()[:16]
            folder = Path(settings.COLLEAGUE_QUARANTINE_DIR) / str(source.pk)
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{digest}-{original.name}"
            shutil.copyfile(original, target)
            stored_path = str(target)
    except OSError as exc:
        logger.warning("Could not copy quarantined file %s: %s", failure.path, exc)
    return QuarantinedFile.objects.create(
        source=source,
        run=run,
        path=failure.path[:1000],
        stored_path=stored_path,
        error_type=failure.error_type[:100],
        message=failure.message[:5000],
    )
