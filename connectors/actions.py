"""Writes about sources: configuring them and running their syncs."""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import reset_queries, transaction
from django.db.models import Q
from django.utils import timezone

from connectors.base import SourceFailure
from connectors.credentials import encrypt_credentials
from connectors.detection import detect_kind
from connectors.errors import ConnectorConfigError, FileRejected
from connectors.exclusions import (
    ExclusionRules,
    Reason,
    config_with_rules,
    rules_for,
    source_rules,
)
from connectors.models import STUCK_AFTER, STUCK_ERROR, QuarantinedFile, Source, SyncRun
from connectors.prefetch import read_ahead
from connectors.registry import connector_class

if TYPE_CHECKING:
    from knowledge.audit import Actor

logger = logging.getLogger(__name__)


@transaction.atomic
def create_source(
    *,
    name: str,
    kind: str,
    config: Mapping[str, Any],
    credentials: Mapping[str, str] | None = None,
    sync_every: timedelta | None = None,
    actor: Actor = None,
) -> Source:
    """Create a source after checking its connector accepts the config and credentials, and
    audit it ("source.created", naming the credential keys, never their values).

    The one way a source is made: `manage.py add_source` (actor None, the console operator),
    the "Add a source" page (its staff user), `ingest` and the uploads source. Credentials
    are stored encrypted and never appear in `config`.
    """
    from knowledge import audit

    credentials = dict(credentials or {})
    if not name.strip():
        raise ConnectorConfigError("a source needs a name")
    connector_class(kind)(config=config, credentials=credentials).validate()
    source_rules(config)  # malformed exclusion rules are refused here, not at the first sync
    if Source.objects.filter(name=name).exists():
        raise DuplicateSourceName(f"a source named {name!r} already exists")
    if sync_every is not None and sync_every <= timedelta(0):
        raise ConnectorConfigError("the sync schedule must be a positive duration")
    source = Source.objects.create(
        name=name,
        kind=kind,
        config=dict(config),
        encrypted_credentials=encrypt_credentials(credentials),
        sync_every=sync_every,
    )
    audit.record(
        "source.created",
        f"source:{source.pk}",
        actor=actor,
        kind=kind,
        credential_keys=sorted(credentials),
        scheduled=sync_every is not None,
    )
    return source


class DuplicateSourceName(ConnectorConfigError):
    """Another source already has this name."""


@transaction.atomic
def source_for_path(
    path: Path, *, kind: str | None = None, name: str | None = None, **config: Any
) -> Source:
    """Return the source reading `path`, creating or re-pointing it.

    Named sources keep their checkpoint when pointed at a newer copy of the same data (a new
    Slack export of the same workspace), so only what changed is stored.
    """
    path = path.expanduser().resolve()
    name = name or str(path)
    source = Source.objects.select_for_update().filter(name=name).first()
    # A known source keeps its kind: an emptied folder is still the same mail folder.
    kind = kind or (source.kind if source is not None else detect_kind(path))
    wanted = {"path": str(path), **{k: v for k, v in config.items() if v is not None}}
    if source is None:
        return create_source(name=name[:200], kind=kind, config=wanted)
    if source.kind != kind:
        raise ConnectorConfigError(f"source {name!r} reads {source.kind}, not {kind}")
    if source.config != {**source.config, **wanted}:
        connector_class(kind)(
            config={**source.config, **wanted}, credentials=source.credentials
        ).validate()
        source_rules({**source.config, **wanted})
        source.config = {**source.config, **wanted}
        source.save(update_fields=["config"])
    return source


@dataclass(frozen=True)
class SyncProgress:
    run: SyncRun
    items_per_second: float


ProgressCallback = Callable[[SyncProgress], None]


class SyncAlreadyRunning(ConnectorConfigError):
    """Another run of this source is in progress; two runs never interleave their batches."""


@transaction.atomic
def _start_run(source: Source) -> SyncRun:
    locked = Source.objects.select_for_update().get(pk=source.pk)
    now = timezone.now()
    running = locked.runs.filter(status=SyncRun.Status.RUNNING)
    # A run whose process died (SIGKILL, power loss) stops sending heartbeats: it is over.
    running.filter(heartbeat_at__lt=now - STUCK_AFTER).update(
        status=SyncRun.Status.FAILED, error=STUCK_ERROR, finished_at=now
    )
    alive = running.first()
    if alive is not None:
        raise SyncAlreadyRunning(f"{locked.name} is already syncing (run {alive.pk})")
    return SyncRun.objects.create(
        source=locked, status=SyncRun.Status.RUNNING, started_at=now, heartbeat_at=now
    )


def run_sync(*, source: Source, on_progress: ProgressCallback | None = None) -> SyncRun:
    """Fetch everything new at `source` and store it batch by batch; return the finished run.

    Each batch is stored with its checkpoint in one transaction, so a crash resumes after the
    last stored batch; quarantine copies a crashed run left undone are made first. A failure
    marks the run failed with its error and is raised again.
    """
    from knowledge.actions import finish_interrupted_copies, ingest_batch

    run = _start_run(source)
    started = time.monotonic()
    colleague_ids: set[int] = set()
    try:
        # Quarantine copies a killed run of this source left undone (none is running now).
        finish_interrupted_copies(source=source)
        # Rules added since the last run remove what they exclude before anything new is read.
        rules = rules_for(source.config)
        removed: Counter[str] = Counter()
        if rules.fingerprint != _rules_last_applied(source, before=run):
            removed = remove_excluded_items(source=source, rules=rules)
        skipped: Counter[str] = Counter()
        run.exclusions = _exclusions_summary(rules, skipped, removed)
        run.save(update_fields=["exclusions"])
        connector = connector_class(source.kind)(
            config=source.config, credentials=source.credentials
        )
        connector.validate()
        # Parse the next batches while this one is stored (connectors/prefetch.py).
        for batch in read_ahead(connector.fetch(cursor=source.checkpoint or None)):
            result = ingest_batch(source=source, batch=batch, run=run)
            if settings.DEBUG:
                # Django keeps the last 9,000 statements in DEBUG, some with a batch's ids:
                # tens of MB over a long sync, for nothing.
                reset_queries()
            colleague_ids |= result.colleague_ids
            if result.excluded:
                skipped.update(result.excluded)
                run.exclusions = _exclusions_summary(rules, skipped, removed)
            run.items_created += result.created
            run.items_updated += result.updated
            run.items_unchanged += result.unchanged
            run.files_quarantined += result.quarantined
            run.colleagues = len(colleague_ids)
            if batch.documents:
                run.current_container = (batch.documents[-1].container_id or "")[:300]
            run.heartbeat_at = timezone.now()
            run.save(
                update_fields=[
                    "items_created",
                    "items_updated",
                    "items_unchanged",
                    "files_quarantined",
                    "colleagues",
                    "current_container",
                    "heartbeat_at",
                    "exclusions",
                ]
            )
            if on_progress is not None:
                elapsed = max(time.monotonic() - started, 1e-6)
                on_progress(SyncProgress(run=run, items_per_second=run.items_stored / elapsed))
    except BaseException as exc:  # KeyboardInterrupt too: never leave a run "running"
        run.status = SyncRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:5000]
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        logger.exception("Sync of source %s failed", source.pk)
        raise
    run.status = SyncRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    source.last_synced_at = run.finished_at
    source.save(update_fields=["last_synced_at"])
    return run


def _rules_last_applied(source: Source, *, before: SyncRun) -> str | None:
    """The fingerprint of the rules the latest earlier run applied, None if none recorded."""
    for exclusions in (
        source.runs.filter(pk__lt=before.pk).order_by("-pk").values_list("exclusions", flat=True)
    )[:50]:
        if isinstance(exclusions, dict) and exclusions.get("rules"):
            return str(exclusions["rules"])
    return None


def _exclusions_summary(
    rules: ExclusionRules, skipped: Counter[str], removed: Counter[str]
) -> dict[str, Any]:
    return {
        "rules": rules.fingerprint,
        "skipped": dict(sorted(skipped.items())),
        "removed": dict(sorted(removed.items())),
    }


def remove_excluded_items(*, source: Source, rules: ExclusionRules | None = None) -> Counter[str]:
    """Delete the stored items of `source` that its exclusion rules exclude, from the database,
    its chunks and every index (`knowledge.actions.delete_items`, as pruning does); return how
    many by reason.

    `run_sync` calls this at the start of a run whenever the rules changed since the last run.
    """
    from knowledge.actions import delete_items

    rules = rules or rules_for(source.config)
    reasons = _excluded_stored_items(source, rules)
    counts: Counter[str] = Counter(reasons.values())
    if reasons:
        with transaction.atomic():
            delete_items(item_ids=list(reasons))
        logger.info("Removed %s items of source %s excluded by its rules", len(reasons), source.pk)
    return counts


def _excluded_stored_items(source: Source, rules: ExclusionRules) -> dict[int, Reason]:
    """The stored items of `source` that `rules` exclude, with the first reason that does."""
    from colleagues.models import Identity
    from knowledge.actions import colleague_addresses
    from knowledge.models import Container, Item

    items = Item.objects.filter(source=source)
    reasons: dict[int, Reason] = {}
    by_container: dict[int, Reason] = {}
    for pk, external_id, name, kind in Container.objects.filter(source=source).values_list(
        "pk", "external_id", "name", "kind"
    ):
        reason = rules.container_reason(external_id=external_id, name=name, kind=kind)
        if reason is not None:
            by_container[pk] = reason
    if by_container:
        for pk, container_id in items.filter(container_id__in=by_container).values_list(
            "pk", "container_id"
        ):
            reasons[pk] = by_container[container_id]
    if rules.senders:
        authors = Identity.objects.filter(items__source=source).distinct()
        addresses: dict[int, set[str]] = {}
        colleague_ids: dict[int, int | None] = {}
        for pk, kind, value, colleague_id in authors.values_list(
            "pk", "kind", "value", "colleague_id"
        ):
            own = addresses[pk] = {value.lower()}
            if kind == Identity.Kind.SLACK:
                own.add(value.rsplit("/", 1)[-1].lower())
            colleague_ids[pk] = colleague_id
        theirs = colleague_addresses(c for c in colleague_ids.values() if c is not None)
        for pk, linked_id in colleague_ids.items():
            if linked_id is not None:
                addresses[pk] |= theirs.get(linked_id, set())
        excluded_authors = [pk for pk, own in addresses.items() if rules.excludes_sender(own)]
        for start in range(0, len(excluded_authors), 1000):
            part = excluded_authors[start : start + 1000]
            for pk in items.filter(author_id__in=part).values_list("pk", flat=True):
                reasons.setdefault(pk, "sender")
    if rules.keywords:
        rows = items.values_list("pk", "title", "body").iterator(chunk_size=2000)
        for pk, title, body in rows:
            if pk not in reasons and rules.mentions_keyword(title, body):
                reasons[pk] = "keyword"
    return reasons


@transaction.atomic
def set_source_exclusions(*, source: Source, rules: ExclusionRules) -> None:
    """Replace the source's own exclusion rules; the next sync removes what they exclude."""
    locked = Source.objects.select_for_update().get(pk=source.pk)
    locked.config = config_with_rules(locked.config, rules)
    locked.save(update_fields=["config"])
    source.config = locked.config


def set_source_status(*, source: Source, status: Source.Status) -> None:
    """Pause or resume a source. A paused source is skipped by the scheduler and by re-runs."""
    if source.status != status:
        source.status = status
        source.save(update_fields=["status"])


@dataclass(frozen=True)
class DeletedSource:
    name: str
    items: int
    quarantined_files: int


def delete_source(*, source: Source) -> DeletedSource:
    """Delete a source with everything captured from it: items, chunks, containers, runs,
    quarantine rows and the quarantined copies on disk.

    Refused (ConnectorConfigError) while a sync of it is running: pause it and let the run end.
    While a legal hold covers any of its items, or names it or one of its containers, only the
    items no hold covers are deleted, the source is paused and kept, the skip is audited, and
    SourceHeld says so.
    """
    from knowledge.models import Audience, Chunk, Item

    with transaction.atomic():
        source = Source.objects.select_for_update().get(pk=source.pk)
        if source.runs.filter(status=SyncRun.Status.RUNNING).exists():
            raise ConnectorConfigError(
                f"{source.name} is syncing; pause it and delete it once the run has ended"
            )
        refusal = _delete_unheld_items(source) if _is_held(source) else None
        copies = [
            Path(stored)
            for stored in source.quarantine.exclude(stored_path="").values_list(
                "stored_path", flat=True
            )
        ]
        deleted = DeletedSource(
            name=source.name,
            items=Item.objects.filter(source=source).count(),
            quarantined_files=source.quarantine.count(),
        )
        if refusal is None:
            Chunk.objects.filter(item__source=source).delete()
            Item.objects.filter(source=source).delete()
            source.delete()
            Audience.objects.filter(items__isnull=True, chunks__isnull=True).delete()
            transaction.on_commit(lambda: _remove_files(copies))
    if refusal is not None:
        raise SourceHeld(refusal)
    logger.info("Deleted source %s with %s items", deleted.name, deleted.items)
    return deleted


class SourceHeld(ConnectorConfigError):
    """A legal hold keeps a source from being deleted; its unheld items were deleted."""


def _is_held(source: Source) -> bool:
    """Whether an active legal hold names the source or one of its containers, or covers any
    of its items."""
    from knowledge.models import Item, LegalHold
    from knowledge.retention.holds import held_condition

    held = held_condition(LegalHold.objects.filter(released_at__isnull=True))
    names = LegalHold.objects.filter(released_at__isnull=True).filter(
        Q(source=source) | Q(container__source=source)
    )
    return names.exists() or (
        held is not None and Item.objects.filter(source=source).filter(held).exists()
    )


def _delete_unheld_items(source: Source) -> str:
    """Delete what no hold covers, pause the source, audit the skip; say what was done."""
    from knowledge.actions import delete_items
    from knowledge.models import Item
    from knowledge.retention.holds import record_blocked, without_held

    items = Item.objects.filter(source=source)
    deleted = delete_items(item_ids=list(without_held(items).values_list("pk", flat=True)))
    counts = record_blocked("source_deletion", f"source:{source.pk}", items)
    source.status = Source.Status.PAUSED
    source.save(update_fields=["status"])
    holds = ", ".join(f"#{hold_id}" for hold_id in sorted(counts)) or "naming it"
    return (
        f"{source.name} is under legal hold ({holds}): deleted its {deleted} unheld items, "
        f"kept {items.count()} held items and the source (paused)"
    )


def _remove_files(paths: list[Path]) -> None:
    quarantine = Path(settings.COLLEAGUE_QUARANTINE_DIR).resolve()
    for path in paths:
        if not path.resolve().is_relative_to(quarantine):
            logger.warning("Not removing %s: outside the quarantine folder", path)
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError:
            logger.warning("Could not remove quarantined copy %s", path, exc_info=True)


UPLOADS_SOURCE = "Uploads"


def uploads_source() -> Source:
    """The source holding documents uploaded in the intranet, created on first use."""
    root = Path(settings.MEDIA_ROOT) / "uploads"
    source = Source.objects.filter(name=UPLOADS_SOURCE, kind="upload").first()
    return source or create_source(name=UPLOADS_SOURCE, kind="upload", config={"path": str(root)})


@dataclass(frozen=True)
class Upload:
    source: Source
    folder: Path
    author_email: str


def store_upload(
    *,
    name: str,
    chunks: Iterable[bytes],
    uploader_email: str,
    chosen_author_email: str,
    public: bool,
    people_emails: Iterable[str] = (),
) -> Upload:
    """Keep an uploaded file with who may see it, for the uploads source's next sync.

    The author is the one the document names when that is a colleague's address or name,
    else `chosen_author_email`. The upload appears to the connector only once complete.
    """
    from colleagues.selectors import colleague_by_email, colleague_by_name
    from connectors.documents.parsing import parse_document
    from connectors.uploads.connector import MANIFEST

    source = uploads_source()
    root = Path(source.config["path"])
    root.mkdir(parents=True, exist_ok=True)
    safe_name = Path(name.replace("\\", "/")).name.strip(". ") or "upload"
    staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=root))
    try:
        path = staging / safe_name[:200]
        with path.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
        author_email = chosen_author_email
        try:
            stated = parse_document(path).author.strip()
        except FileRejected:
            stated = ""  # the sync quarantines it with its typed error
        named = (
            (colleague_by_email(stated) if "@" in stated else colleague_by_name(stated))
            if stated
            else None
        )
        if named is not None and named.email:
            author_email = named.email
        manifest = {
            "uploader": uploader_email.lower(),
            "author": author_email.lower(),
            "public": public,
            "people": sorted({e.strip().lower() for e in people_emails if e.strip()}),
            "uploaded_at": timezone.now().isoformat(),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
        folder = root / f"{stamp}-{secrets.token_hex(4)}"
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Upload(source=source, folder=folder, author_email=author_email)


@dataclass(frozen=True)
class Pruned:
    """What a prune did, and what it kept because the listing could not tell."""

    deleted: int
    # Stored items not listed, kept because something that failed while listing may hold
    # them (an unreadable file or folder, a corrupt day file): see `failures`.
    kept: int = 0
    failures: tuple[SourceFailure, ...] = ()
    # Gone at the source, but kept because a legal hold covers them.
    held: int = 0


def prune_source(*, source: Source) -> Pruned:
    """Delete the items of `source` its connector no longer lists; return what was done.

    Only what is known to be gone is deleted. What fails while the connector lists its ids
    (a file that cannot be read or parsed now, a folder that cannot be listed, a corrupt day
    file of a Slack export) keeps every stored item it may hold, and is named in
    `Pruned.failures`; a later prune deletes those items if they are gone by then. Refused
    (ConnectorConfigError) when the connector cannot list ids, or lists none and nothing
    failed while items are stored: an unmounted folder or a revoked token must not read as
    "all deleted".
    """
    from knowledge.actions import delete_items
    from knowledge.models import Item
    from knowledge.retention.holds import active_holds, held_condition, record_blocked

    connector = connector_class(source.kind)(config=source.config, credentials=source.credentials)
    connector.validate()
    try:
        listing = connector.list_source()
    except NotImplementedError as exc:
        raise ConnectorConfigError(f"{source.kind} sources cannot be pruned: {exc}") from exc
    stored = Item.objects.filter(source=source)
    if not listing.external_ids and not listing.gaps and stored.exists():
        raise ConnectorConfigError(
            f"{source.name} lists no items at all; not pruning (is it reachable?)"
        )
    gone: list[int] = []
    kept = 0
    rows = stored.values_list("id", "external_id", "container__external_id").iterator()
    for item_id, external_id, container_id in rows:
        if external_id in listing.external_ids:
            continue
        if listing.may_hold(external_id, container_id):
            kept += 1
        else:
            gone.append(item_id)
    # A legal hold beats the source's deletion: what one covers stays, and the skip is audited.
    covered = held_condition(active_holds())
    held_ids = set(stored.filter(covered).values_list("pk", flat=True)) if covered else set()
    kept_by_hold = [item_id for item_id in gone if item_id in held_ids]
    if kept_by_hold:
        record_blocked("prune", f"source:{source.pk}", Item.objects.filter(pk__in=kept_by_hold))
        gone = [item_id for item_id in gone if item_id not in held_ids]
    # Chunks go too, from the database and from every index backend.
    delete_items(item_ids=gone)
    if gone:
        logger.info("Pruned %s items of source %s deleted at the source", len(gone), source.pk)
    failures = tuple(gap.failure for gap in listing.gaps)
    if failures:
        logger.warning(
            "Prune of source %s kept %s unlisted items: %s failed while listing (first: %s)",
            source.pk,
            kept,
            len(failures),
            failures[0].path,
        )
    return Pruned(deleted=len(gone), kept=kept, failures=failures, held=len(kept_by_hold))


class QuarantineClosed(ConnectorConfigError):
    """The quarantined file was already stored by a retry or dismissed."""


class SourceSyncing(ConnectorConfigError):
    """A sync of the source is running: a retry waits until it has ended."""


class MissingReason(ConnectorConfigError):
    """A quarantined file is dismissed only with a reason."""


class CannotReread(ConnectorConfigError):
    """This quarantined file cannot be read again on its own: its source's next sync reads
    it if it changed."""


@dataclass(frozen=True)
class RetryOutcome:
    """What a retry of a quarantined file did: stored its documents, or failed again."""

    record: QuarantinedFile
    stored: bool
    # The items the file's documents are stored as (empty if an exclusion rule or an erasure
    # kept them out), and how many were new or changed.
    item_ids: tuple[int, ...] = ()
    created: int = 0
    updated: int = 0
    excluded: int = 0


def can_reread(record: QuarantinedFile) -> bool:
    """Whether `retry_quarantined` can read this file again on its own: a whole file on disk
    (not a record within one) of a connector that re-reads single files."""
    if not record.file or record.member:
        return False
    try:
        return connector_class(record.source.kind).rereads_files
    except ConnectorConfigError:
        return False


def retry_quarantined(*, record: QuarantinedFile, actor: Actor = None) -> RetryOutcome:
    """Read a quarantined file again through the connector and `ingest_batch`, as a sync reads
    and stores it (the source's checkpoint does not move), and audit it ("quarantine.retried").

    Stored: the row, and any other open row of the same file, is marked resolved (kept in the
    record). Rejected again: the row holds the new typed error; nothing is stored. Refused with
    ConnectorConfigError when the row is not open, its source is syncing, or the file cannot be
    read again on its own (CannotReread).
    """
    from knowledge import audit
    from knowledge.actions import ingest_batch
    from knowledge.models import Item

    with transaction.atomic():
        record = (
            QuarantinedFile.objects.select_for_update().select_related("source").get(pk=record.pk)
        )
        source = record.source
        if record.state != QuarantinedFile.State.OPEN:
            raise QuarantineClosed(f"{record.path} is no longer quarantined")
        if source.runs.filter(status=SyncRun.Status.RUNNING).exists():
            raise SourceSyncing(f"{source.name} is syncing; retry once the run has ended")
        if not can_reread(record):
            raise CannotReread(
                f"{source.kind} sources cannot read {record.path} again on its own; the next "
                "sync reads it if it changed"
            )
        connector = connector_class(source.kind)(
            config=source.config, credentials=source.credentials
        )
        connector.validate()
        batch = connector.read_file(record.file)
        now = timezone.now()
        record.retried_at = now
        record.retries += 1
        if batch.failures:
            failure = batch.failures[0]
            record.error_type = _storable(failure.error_type)[:100]
            record.message = _storable(failure.message)[:5000]
            record.save(update_fields=["retried_at", "retries", "error_type", "message"])
            audit.record(
                "quarantine.retried",
                f"quarantine:{record.pk}",
                actor=actor,
                result=audit.Result.FAILED,
                source=source.pk,
                error_type=record.error_type,
            )
            return RetryOutcome(record=record, stored=False)
        result = ingest_batch(source=source, batch=batch, advance_checkpoint=False)
        ids = [document.external_id for document in batch.documents]
        item_ids = tuple(
            Item.objects.filter(source=source, external_id__in=ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        resolution = ", ".join(f"item:{pk}" for pk in item_ids) or "nothing stored: excluded"
        same_file = QuarantinedFile.objects.filter(
            source=source, file=record.file, member="", state=QuarantinedFile.State.OPEN
        ).exclude(pk=record.pk)
        same_file.update(
            state=QuarantinedFile.State.RESOLVED,
            resolved_at=now,
            resolved_by=audit.login_user(actor),
            resolution=resolution,
        )
        record.state = QuarantinedFile.State.RESOLVED
        record.resolved_at = now
        record.resolved_by = audit.login_user(actor)
        record.resolution = resolution
        record.save(
            update_fields=[
                "retried_at",
                "retries",
                "state",
                "resolved_at",
                "resolved_by",
                "resolution",
            ]
        )
        audit.record(
            "quarantine.retried",
            f"quarantine:{record.pk}",
            actor=actor,
            source=source.pk,
            items=list(item_ids),
            created=result.created,
            updated=result.updated,
        )
    return RetryOutcome(
        record=record,
        stored=True,
        item_ids=item_ids,
        created=result.created,
        updated=result.updated,
        excluded=sum(result.excluded.values()) + result.erased,
    )


def dismiss_quarantined(
    *, record: QuarantinedFile, reason: str, actor: Actor = None
) -> QuarantinedFile:
    """Close a quarantined file without storing it, with the administrator's reason, and audit
    it ("quarantine.dismissed"). The row stays, marked dismissed. Refused (ConnectorConfigError)
    without a reason or when the row is not open."""
    from knowledge import audit

    reason = reason.strip()
    if not reason:
        raise MissingReason("say why the file is dismissed")
    with transaction.atomic():
        record = QuarantinedFile.objects.select_for_update().get(pk=record.pk)
        if record.state != QuarantinedFile.State.OPEN:
            raise QuarantineClosed(f"{record.path} is no longer quarantined")
        record.state = QuarantinedFile.State.DISMISSED
        record.resolved_at = timezone.now()
        record.resolved_by = audit.login_user(actor)
        record.resolution = reason[:2000]
        record.save(update_fields=["state", "resolved_at", "resolved_by", "resolution"])
        audit.record(
            "quarantine.dismissed",
            f"quarantine:{record.pk}",
            actor=actor,
            source=record.source_id,
            reason=reason[:500],
        )
    return record


def _storable(text: str) -> str:
    """`text` as any database stores it: no NUL, no lone surrogate."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
