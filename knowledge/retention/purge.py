"""The purge: delete expired, unheld items with everything derived from them; and its check.

`purge_expired` works in batches (BATCH_SIZE items), each one database transaction that
re-reads the active holds first, so a hold placed while a purge runs protects what it covers
from the next batch on. Each batch:

- deletes the items, their chunks and their index entries (`knowledge.actions.delete_items`:
  Weaviate through the outbox, pgvector once the batch commits);
- rebuilds, in the batch, every skill package one of whose versions cites a purged item, then
  deletes those versions (as redaction does: an immutable version quoting an expired item is a
  copy of it); a failed rebuild leaves the package marked stale for the scheduled rebuild job,
  and the versions are deleted all the same. The packages of the purged items' authors whose
  versions cite none of them are only marked stale: their statistics counted the items, and
  `rebuild-stale-skills` rebuilds them within ten minutes;
- blanks the conversation turns citing or quoting a purged item (knowledge.redaction);
- records one `retention_purged` audit event (ids and counts, never content).

A killed run loses at most its current batch, which rolls back whole; a run started again
finds what is left from the database alone, so runs converge. After the last batch the items
holds kept are recorded as one `blocked_by_hold` event with the count per hold.

`verify_retention` scans the database and the index backend in use for expired unheld items
and index entries whose chunk is gone, the identities for erased people, and the stored files:
the only files that hold an item's text are uploads (their folders go with their items:
`knowledge.actions.forget_upload_files`); quarantined copies are of files never captured.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from answers.packages import forget_versions
from colleagues.models import Identity
from connectors.models import QuarantinedFile, Source
from connectors.uploads.storage import upload_folders
from knowledge import audit
from knowledge.actions import delete_items
from knowledge.audit import Actor
from knowledge.index import get_index
from knowledge.models import Chunk, Item
from knowledge.redaction import blank_turns
from knowledge.retention.holds import active_holds, held_condition, held_counts, record_blocked
from knowledge.retention.policies import expired_items
from knowledge.tombstones import erased_hashes, identity_sha256
from knowledge.visibility import Reader
from skills import selectors as skill_selectors
from skills.actions import OrgContext, build_package
from skills.models import SkillPackage, SkillVersion
from skills.selectors import evidence_ids

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
PURGED = "retention_purged"
# How rendered package files link a cited item (skills.citations).
_LINKED_ITEM = re.compile(r"#item-(\d+)\)")


@dataclass
class PurgeBatch:
    """What one batch deleted (ids and counts)."""

    number: int
    item_ids: list[int]
    chunks: int = 0
    versions_deleted: int = 0
    packages_rebuilt: list[int] = field(default_factory=list)
    packages_failed: list[int] = field(default_factory=list)
    packages_marked_stale: list[int] = field(default_factory=list)
    turns_blanked: int = 0


@dataclass
class PurgeReport:
    dry_run: bool
    now: datetime
    items_deleted: int = 0
    chunks_deleted: int = 0
    versions_deleted: int = 0
    packages_rebuilt: set[int] = field(default_factory=set)
    packages_failed: set[int] = field(default_factory=set)
    packages_marked_stale: set[int] = field(default_factory=set)
    turns_blanked: int = 0
    batches: int = 0
    # Expired items kept by holds: hold id -> count, and the distinct items in all.
    held: dict[int, int] = field(default_factory=dict)
    held_items: int = 0
    # For a dry run: how many items would be deleted.
    would_delete: int = 0

    def add(self, batch: PurgeBatch) -> None:
        self.batches += 1
        self.items_deleted += len(batch.item_ids)
        self.chunks_deleted += batch.chunks
        self.versions_deleted += batch.versions_deleted
        self.packages_rebuilt.update(batch.packages_rebuilt)
        self.packages_failed.update(batch.packages_failed)
        self.packages_marked_stale.update(batch.packages_marked_stale)
        self.turns_blanked += batch.turns_blanked

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "now": self.now.isoformat(),
            "items_deleted": self.items_deleted,
            "would_delete": self.would_delete,
            "chunks_deleted": self.chunks_deleted,
            "versions_deleted": self.versions_deleted,
            "packages_rebuilt": sorted(self.packages_rebuilt),
            "packages_failed": sorted(self.packages_failed),
            "packages_marked_stale": sorted(self.packages_marked_stale),
            "turns_blanked": self.turns_blanked,
            "batches": self.batches,
            "held_items": self.held_items,
            "held_by": {str(k): v for k, v in sorted(self.held.items())},
        }


def purge_expired(
    *,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    dry_run: bool = False,
    actor: Actor = None,
    on_batch: Callable[[PurgeBatch], None] | None = None,
) -> PurgeReport:
    """Delete every expired item no active hold covers, with what derives from it (see the
    module docstring), `batch_size` items per transaction; return what was done.

    `on_batch` is called after each batch has committed (a progress line). With `dry_run`
    nothing is written: the report counts what would be deleted and what holds keep.
    """
    now = now or timezone.now()
    report = PurgeReport(dry_run=dry_run, now=now)
    if dry_run:
        expired = expired_items(now=now)
        condition = held_condition(active_holds())
        report.would_delete = (
            expired.exclude(condition) if condition is not None else expired
        ).count()
        held = expired.filter(condition) if condition is not None else expired.none()
        report.held_items = held.count()
        report.held = held_counts(expired)
        return report
    number = 0
    while True:
        number += 1
        batch = _purge_batch(number, now=now, batch_size=batch_size, actor=actor)
        if batch is None:
            break
        report.add(batch)
        if on_batch is not None:
            on_batch(batch)
    expired = expired_items(now=now)
    report.held = record_blocked("retention_purge", "retention", expired, actor=actor)
    condition = held_condition(active_holds())
    report.held_items = expired.filter(condition).count() if condition is not None else 0
    logger.info(
        "Retention purge: %s items deleted in %s batches, %s kept by holds",
        report.items_deleted,
        report.batches,
        report.held_items,
    )
    return report


def _purge_batch(number: int, *, now: datetime, batch_size: int, actor: Actor) -> PurgeBatch | None:
    """Delete one batch of expired, unheld items in one transaction; None when none is left."""
    with transaction.atomic():
        # Re-read per batch: a hold placed since the last batch is honoured from here on.
        condition = held_condition(active_holds())
        candidates = expired_items(now=now)
        if condition is not None:
            candidates = candidates.exclude(condition)
        ids = list(candidates.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return None
        batch = delete_with_derived(ids, number=number, actor=actor)
        audit.record(
            PURGED,
            "retention",
            actor=actor,
            batch=number,
            items=batch.item_ids,
            chunks=batch.chunks,
            versions_deleted=batch.versions_deleted,
            packages_rebuilt=batch.packages_rebuilt,
            packages_failed=batch.packages_failed,
            packages_marked_stale=batch.packages_marked_stale,
            turns_blanked=batch.turns_blanked,
        )
    return batch


def delete_with_derived(
    ids: list[int],
    *,
    number: int,
    actor: Actor,
    spare_packages: frozenset[int] = frozenset(),
) -> PurgeBatch:
    """Delete these items, their chunks and index entries, the skill versions citing them
    (after rebuilding their packages) and the conversation answers quoting them; mark their
    authors' other packages stale. Call it inside a transaction; nothing is audited here.

    The packages in `spare_packages` lose their versions citing the items but are neither
    rebuilt nor marked stale: the caller decides their fate (erasure deletes them).
    """
    # Lock them (PostgreSQL), and read what blanking their quotes needs.
    rows = list(
        Item.objects.select_for_update(of=("self",))
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", "body", "author__colleague_id")
    )
    ids = [pk for pk, _, _ in rows]
    batch = PurgeBatch(number=number, item_ids=ids)
    batch.chunks = Chunk.objects.filter(item_id__in=ids).count()
    citing = versions_citing(set(ids))
    delete_items(item_ids=ids)
    for pk, body, _ in rows:
        batch.turns_blanked += len(blank_turns(pk, body))
    packages = {package_id for _, package_id in citing} - spare_packages
    batch.packages_rebuilt, batch.packages_failed = rebuild_packages(packages, actor=actor)
    SkillVersion.objects.filter(pk__in=[pk for pk, _ in citing]).delete()
    batch.versions_deleted = len(citing)
    authors = {colleague for _, _, colleague in rows if colleague is not None}
    stale = list(
        SkillPackage.objects.filter(colleague_id__in=authors)
        .exclude(pk__in=packages | spare_packages)
        .values_list("pk", flat=True)
    )
    SkillPackage.objects.filter(pk__in=stale).update(
        status=SkillPackage.Status.STALE, updated_at=timezone.now()
    )
    batch.packages_marked_stale = stale
    transaction.on_commit(functools.partial(_clear_caches, [pk for pk, _ in citing]), robust=True)
    return batch


def versions_citing(item_ids: set[int]) -> list[tuple[int, int]]:
    """(version id, package id) of every skill version whose analysis cites one of these items
    or whose rendered files link to one."""
    found = []
    rows = SkillVersion.objects.order_by("pk").values_list("pk", "package_id", "analysis", "files")
    for pk, package_id, analysis, files in rows.iterator(chunk_size=20):
        if evidence_ids(analysis) & item_ids or _linked(files) & item_ids:
            found.append((pk, package_id))
    return found


def _linked(files: Any) -> set[int]:
    texts: Iterable[Any] = files.values() if isinstance(files, dict) else ()
    return {int(n) for text in texts if isinstance(text, str) for n in _LINKED_ITEM.findall(text)}


def rebuild_packages(package_ids: set[int], *, actor: Actor) -> tuple[list[int], list[int]]:
    """Rebuild these packages now that the items are gone; (rebuilt, failed) package ids. A
    failed build leaves its package stale with the error, for the scheduled rebuild."""
    if not package_ids:
        return [], []
    packages = SkillPackage.objects.filter(pk__in=package_ids).select_related("colleague")
    context = OrgContext.compute(Reader.operator())
    rebuilt, failed = [], []
    for package in packages.order_by("pk"):
        try:
            # A savepoint: a failed build must not undo the purge around it.
            with transaction.atomic():
                build_package(package.colleague, context=context, user=actor)
            rebuilt.append(package.pk)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            logger.warning("Package %s not rebuilt after items were deleted: %s", package.pk, error)
            SkillPackage.objects.filter(pk=package.pk).update(
                status=SkillPackage.Status.STALE,
                build_error=error[:2000],
                updated_at=timezone.now(),
            )
            failed.append(package.pk)
    return rebuilt, failed


def _clear_caches(version_ids: list[int]) -> None:
    skill_selectors._matcher_cache.clear()
    forget_versions(version_ids)


# Verification.


@dataclass
class RetentionReport:
    now: datetime
    backend: str
    expired_unheld: list[int]
    expired_held: int
    chunks: int
    indexed: int
    # Index entries whose chunk is gone from the database.
    index_orphans: list[int]
    # Identities of erased people found again (knowledge.erasure): 0 unless a sync ignored
    # the tombstones.
    erased_identities: list[int] = field(default_factory=list)
    # Uploaded files whose document was read but is not stored (deleted, or never captured).
    orphan_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.expired_unheld or self.index_orphans or self.erased_identities or self.orphan_files
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "now": self.now.isoformat(),
            "backend": self.backend,
            "expired_unheld": len(self.expired_unheld),
            "expired_unheld_ids": self.expired_unheld[:100],
            "expired_held": self.expired_held,
            "chunks": self.chunks,
            "indexed": self.indexed,
            "index_orphans": len(self.index_orphans),
            "index_orphan_ids": self.index_orphans[:100],
            "erased_identities_present": len(self.erased_identities),
            "orphan_files": len(self.orphan_files),
            "orphan_file_paths": self.orphan_files[:100],
        }


def verify_retention(*, now: datetime | None = None) -> RetentionReport:
    """Scan the database and the index backend in use: expired items no hold covers (0 after a
    purge), index entries without a chunk in the database (orphans; 0 after a purge once an
    external index has been told), identities of erased people (0), and stored files: uploads
    a sync has read whose document is neither stored nor quarantined (0)."""
    now = now or timezone.now()
    expired = expired_items(now=now)
    condition = held_condition(active_holds())
    unheld = expired.exclude(condition) if condition is not None else expired
    index = get_index()
    chunk_ids = set(Chunk.objects.values_list("pk", flat=True).iterator(chunk_size=10_000))
    indexed = set(index.indexed_ids())
    return RetentionReport(
        now=now,
        backend=index.name,
        expired_unheld=list(unheld.order_by("pk").values_list("pk", flat=True)),
        expired_held=expired.filter(condition).count() if condition is not None else 0,
        chunks=len(chunk_ids),
        indexed=len(indexed),
        index_orphans=sorted(indexed - chunk_ids),
        erased_identities=erased_identities_present(),
        orphan_files=orphan_upload_files(),
    )


def erased_identities_present() -> list[int]:
    """Ids of the identities whose address or Slack account an erasure tombstoned."""
    erased = erased_hashes()
    if not erased:
        return []
    rows = Identity.objects.filter(kind__in=[Identity.Kind.EMAIL, Identity.Kind.SLACK])
    return [
        pk
        for pk, kind, value in rows.order_by("pk").values_list("pk", "kind", "value").iterator()
        if identity_sha256(kind, value) in erased
    ]


def orphan_upload_files() -> list[str]:
    """Paths of upload folders a sync has read (at or before the source's cursor) whose
    document is neither a stored item nor a quarantined file: a copy of something deleted."""
    found: list[str] = []
    for source in Source.objects.filter(kind="upload").order_by("pk"):
        root = Path(str(source.config.get("path", "")))
        names = [n for n in upload_folders(root) if n <= (source.checkpoint or "")]
        if not names:
            continue
        stored = set(
            Item.objects.filter(source=source, external_id__in=names).values_list(
                "external_id", flat=True
            )
        )
        quarantined = {
            part
            for file in QuarantinedFile.objects.filter(source=source).values_list("file", flat=True)
            for part in Path(file).parts
        }
        found += [str(root / n) for n in names if n not in stored and n not in quarantined]
    return found
