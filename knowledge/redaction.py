"""Redaction: remove one captured item everywhere, and the requests that ask for it.

`redact_item` removes an item, in one database transaction:

- **Database**: the item's chunks (the SQLite FTS rows go with them, by trigger; PostgreSQL
  keeps its tsvector on the chunk row), the item row, and its audience when nothing else uses
  it.
- **Index**: the chunks' deletions go through the same outbox every index change does
  (`knowledge.index.outbox.queue_index_changes`): with an index outside the database (Weaviate)
  a row per chunk is written in the transaction and flushed once it commits, retried until
  the copies are gone. Backends without an outbox (db, pgvector) are told once the transaction
  has committed (`IndexBackend.delete`); the db backend then also drops the chunks from its
  in-memory vector cache. Should that call fail, the chunks are orphans that the hourly
  `repair_index` deletes; no search returns them meanwhile, because every backend's hits are
  read back through `items_visible_to`, where the item no longer exists.
- **Skill packages**: every version whose analysis or rendered files cite the item is deleted.
  Versions are otherwise immutable and kept (skills/models.py); redaction is the one case that
  removes history, because an immutable copy of the item's words is exactly what must go. The
  packages concerned (those versions' packages and the author's own, whose statistics counted
  the item) are rebuilt first, in the same transaction and after the item is gone, so each
  keeps a current version and no version number is reused. A rebuild that fails leaves its
  package marked stale for the next scheduled rebuild; the versions citing the item are
  deleted all the same. The builds (and, with an LLM configured, their narratives) run inside
  the transaction: a redaction takes seconds per package concerned.
- **Conversations**: a turn that cited or quoted the item keeps its question; its answer is
  replaced by a notice and the item's citation keeps only its id, source and date.
- **Open requests** to redact the item are closed as done.
- **Caches** of this process are cleared once the transaction commits: the style matcher
  (skills.selectors) and who-knows' package outlines. Other processes key those caches on the
  newest version ids, which the rebuild changed, and the db backend re-reads every vector hit
  from the database, so a deleted chunk is never returned there either.
- **Audit**: one `item_redacted` event on "item:<id>", holding ids and hashes, never the text.

Redacting an item that no longer exists is a no-op. `redaction_blocked_by` is asked first: it
is where legal holds plug in.

A later sync that offers the same document again skips it: the redaction leaves a
RedactedDocument (the SHA-256 of the source's id for it) that ingest checks. Not covered here:
SQLite's free pages and PostgreSQL's dead tuples keep the bytes until they are reused or
vacuumed.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext

from answers.models import Turn
from answers.packages import forget_versions
from colleagues.access import own_colleague
from colleagues.models import Colleague
from knowledge import audit
from knowledge.actions import forget_upload_files
from knowledge.audit import Actor, login_user
from knowledge.index import get_index
from knowledge.index.outbox import queue_index_changes
from knowledge.indexing import reembed_replies_to
from knowledge.models import (
    Audience,
    AuditEvent,
    Chunk,
    Item,
    RedactedDocument,
    RedactionRequest,
)
from knowledge.retention.holds import blocked_reason, record_blocked
from knowledge.selectors import SourceCount
from knowledge.visibility import Reader
from skills import selectors as skill_selectors
from skills.actions import OrgContext, build_package
from skills.citations import EVIDENCE_FILE
from skills.models import SkillPackage, SkillVersion
from skills.selectors import evidence_ids

logger = logging.getLogger(__name__)

REDACTED = "item_redacted"
CURATE_PERMISSION = "colleagues.curate_packages"
# What a conversation shows instead of an answer that cited or quoted a redacted item.
REDACTED_ANSWER = (
    "[This answer quoted an item that has since been redacted, so it is no longer shown. "
    "Ask again for an answer from what remains.]"
)
# Turns that quote an item without citing it (another person's question shown as context)
# are found by runs of this many of its words.
QUOTE_WORDS = 6
MAX_QUOTE_PROBES = 300


class RedactionRefused(ValueError):
    """A request or decision that cannot be taken (decided already, no reason given)."""


class RedactionBlocked(RedactionRefused):
    """Something (a legal hold) keeps the item from being redacted now."""


def redaction_blocked_by(item: Item) -> str | None:
    """Why `item` may not be redacted now, or None when it may.

    The hook for legal holds (issue 8): a hold covering the item makes this return a
    sentence naming it, and `redact_item` then raises RedactionBlocked before anything is
    touched, and an approved request waits (RedactionRequest.State.APPROVED) until a curator
    approves it again once the hold has ended (knowledge.retention.holds).
    """
    return blocked_reason(item)


# Reads.


def items_captured_from(colleague: Colleague) -> QuerySet[Item]:
    """Every item any identity of `colleague` authored, whatever its audience, newest first.

    The owner's view, and only for showing a person what was captured of their own writing
    ("My data"): it reads around `knowledge.selectors`' visibility on purpose. Never use it
    to show one person's items to someone else.
    """
    return (
        Item.objects.filter(author__colleague=colleague)
        .select_related("source", "container")
        .order_by("-created_at", "-id")
    )


def captured_counts(colleague: Colleague) -> list[SourceCount]:
    """How many items of `colleague`'s were captured, per source (the owner's view)."""
    rows = (
        Item.objects.filter(author__colleague=colleague)
        .order_by()
        .values("source__name", "source__kind")
        .annotate(items=Count("id"))
        .order_by("-items", "source__name")
    )
    return [SourceCount(r["source__name"], r["source__kind"], r["items"]) for r in rows]


def can_curate(user: User | AnonymousUser) -> bool:
    return user.is_active and user.has_perm(CURATE_PERMISSION)


def is_redacted(item_id: int) -> bool:
    """Whether an item of this id was redacted (it is gone, and the audit says why)."""
    return AuditEvent.objects.filter(action=REDACTED, target=f"item:{item_id}").exists()


def access_redactable_item(user: User | AnonymousUser, item_id: int) -> Item:
    """The item `user` may ask to have redacted: one any identity of their colleague authored,
    or one their own skill package cites. Raise Http404 otherwise (absent or not theirs)."""
    colleague = own_colleague(user)
    item = Item.objects.select_related("source", "container", "author").filter(pk=item_id).first()
    if colleague is None or item is None:
        raise Http404("No such item of yours.")
    if item.author is not None and item.author.colleague_id == colleague.pk:
        return item
    if item.pk in _cited_by_package_of(colleague):
        return item
    raise Http404("No such item of yours.")


def _cited_by_package_of(colleague: Colleague) -> set[int]:
    cited: set[int] = set()
    analyses = SkillVersion.objects.filter(package__colleague=colleague).values_list(
        "analysis", flat=True
    )
    for analysis in analyses.iterator(chunk_size=20):
        cited |= evidence_ids(analysis)
    return cited


def open_requests() -> QuerySet[RedactionRequest]:
    """Requests waiting for a curator or for a hold to end, oldest first."""
    return (
        RedactionRequest.objects.filter(
            state__in=[RedactionRequest.State.REQUESTED, RedactionRequest.State.APPROVED]
        )
        .select_related("requested_by", "colleague", "decided_by")
        .order_by("created_at", "id")
    )


# Redaction.


@dataclass(frozen=True)
class Rebuilt:
    """A package rebuilt without the item: its new version, or why the build failed."""

    colleague_id: int
    email: str
    version: int | None
    error: str = ""


@dataclass(frozen=True)
class Redacted:
    """What one redaction removed (ids and counts only)."""

    item_id: int
    chunk_ids: tuple[int, ...]
    # (package id, version number) of every deleted version.
    versions_deleted: tuple[tuple[int, int], ...]
    rebuilt: tuple[Rebuilt, ...]
    turn_ids: tuple[int, ...]
    request_ids: tuple[int, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "redacted": True,
            "already_redacted": False,
            "chunks": len(self.chunk_ids),
            "versions_deleted": len(self.versions_deleted),
            "packages_rebuilt": [
                {"colleague": r.email, "version": r.version, "error": r.error or None}
                for r in self.rebuilt
            ],
            "turns_blanked": len(self.turn_ids),
            "requests_closed": len(self.request_ids),
        }


def redact_item(item: Item, *, actor: Actor, reason: str) -> Redacted | None:
    """Remove `item` everywhere (see the module docstring) and audit it; return what was
    removed, or None when it was gone already.

    Raises RedactionBlocked, touching nothing, when `redaction_blocked_by` names a reason.
    Rebuilds the packages concerned synchronously; queues the external index's deletions
    and clears this process's caches once the transaction commits.
    """
    blocked = redaction_blocked_by(item)
    if blocked is not None:
        record_blocked("redaction", f"item:{item.pk}", Item.objects.filter(pk=item.pk), actor=actor)
        raise RedactionBlocked(blocked)
    with transaction.atomic():
        return _redact(item.pk, actor=actor, reason=reason)


def _redact(item_id: int, *, actor: Actor, reason: str) -> Redacted | None:
    """The redaction itself; call it inside a transaction."""
    item = (
        Item.objects.select_for_update(of=("self",))
        .select_related("author", "source")
        .filter(pk=item_id)
        .first()
    )
    if item is None:
        return None
    author_colleague_id = item.author.colleague_id if item.author is not None else None
    fragments = _quoted_fragments(item.body)
    detail: dict[str, Any] = {
        "reason": reason.strip()[:1000],
        "source_id": item.source_id,
        "kind": item.kind,
        "created_at": item.created_at.isoformat(),
        "content_hash": item.content_hash,
        # A later sync may offer the same document again: this is what ingest can match.
        "external_id_sha256": hashlib.sha256(item.external_id.encode()).hexdigest(),
        "author_colleague_id": author_colleague_id,
    }

    chunk_ids = tuple(
        Chunk.objects.filter(item_id=item.pk).order_by("id").values_list("id", flat=True)
    )
    queued = queue_index_changes(deleted=chunk_ids)
    reembed_replies_to([item.pk])
    forget_upload_files(Item.objects.filter(pk=item.pk))
    Chunk.objects.filter(pk__in=chunk_ids).delete()
    Item.objects.filter(pk=item.pk).delete()
    RedactedDocument.objects.get_or_create(
        source_id=item.source_id, external_id_sha256=detail["external_id_sha256"]
    )
    Audience.objects.filter(pk=item.audience_id, items__isnull=True, chunks__isnull=True).delete()

    citing = _versions_citing(item.pk)
    rebuilt = _rebuild_packages(
        {package_id for _, package_id, _ in citing},
        author_colleague_id=author_colleague_id,
        actor=actor,
    )
    SkillVersion.objects.filter(pk__in=[pk for pk, _, _ in citing]).delete()
    turn_ids = _blank_turns(item.pk, fragments)
    request_ids = _close_requests(item.pk, actor=actor)

    audit.record(
        REDACTED,
        f"item:{item.pk}",
        actor=actor,
        chunks=list(chunk_ids),
        index_rows_queued=queued,
        versions_deleted=[{"package": p, "number": n} for _, p, n in citing],
        packages_rebuilt=[{"colleague": r.colleague_id, "version": r.version} for r in rebuilt],
        turns=list(turn_ids),
        requests=list(request_ids),
        **detail,
    )
    transaction.on_commit(
        functools.partial(
            _forget_after_commit,
            chunk_ids=chunk_ids,
            version_ids=[pk for pk, _, _ in citing],
            index_told=queued > 0,
        )
    )
    logger.info(
        "Redacted item %s: %s chunks, %s versions deleted, %s packages rebuilt, %s turns",
        item.pk,
        len(chunk_ids),
        len(citing),
        len(rebuilt),
        len(turn_ids),
    )
    return Redacted(
        item_id=item.pk,
        chunk_ids=chunk_ids,
        versions_deleted=tuple((p, n) for _, p, n in citing),
        rebuilt=rebuilt,
        turn_ids=turn_ids,
        request_ids=request_ids,
    )


def _id_patterns(item_id: int) -> Q:
    """JSON text holding `item_id` as a number in a list or as a value (a superset: the
    caller checks each row exactly)."""
    n = item_id
    condition = Q()
    for text in (f"[{n},", f"[{n}]", f" {n},", f" {n}]", f": {n},", f": {n}}}", f",{n},"):
        condition |= Q(analysis__icontains=text)
    return condition


def _versions_citing(item_id: int) -> list[tuple[int, int, int]]:
    """(version id, package id, number) of every skill version whose analysis cites the item
    or whose files link to it."""
    # How rendered files link a cited item (skills.citations.Citations).
    anchor = f"{EVIDENCE_FILE}#item-{item_id})"
    linking = set(SkillVersion.objects.filter(files__icontains=anchor).values_list("pk", flat=True))
    rows = (
        SkillVersion.objects.filter(Q(pk__in=linking) | _id_patterns(item_id))
        .order_by("pk")
        .values_list("pk", "package_id", "number", "analysis")
    )
    return [
        (pk, package_id, number)
        for pk, package_id, number, analysis in rows.iterator(chunk_size=20)
        if pk in linking or item_id in evidence_ids(analysis)
    ]


def _rebuild_packages(
    package_ids: set[int], *, author_colleague_id: int | None, actor: Actor
) -> tuple[Rebuilt, ...]:
    """Rebuild these packages and the author's (if built), now that the item is gone."""
    condition = Q(pk__in=package_ids)
    if author_colleague_id is not None:
        condition |= Q(colleague_id=author_colleague_id)
    packages = list(
        SkillPackage.objects.filter(condition).select_related("colleague").order_by("pk")
    )
    if not packages:
        return ()
    context = OrgContext.compute(Reader.operator())
    rebuilt = []
    for package in packages:
        colleague = package.colleague
        try:
            # A savepoint: a failed build must not undo the redaction around it.
            with transaction.atomic():
                version = build_package(colleague, context=context, user=actor)
            rebuilt.append(Rebuilt(colleague.pk, colleague.email, version.number))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            logger.warning("Package of %s not rebuilt after a redaction: %s", colleague, error)
            SkillPackage.objects.filter(pk=package.pk).update(
                status=SkillPackage.Status.STALE,
                build_error=error[:2000],
                updated_at=timezone.now(),
            )
            rebuilt.append(Rebuilt(colleague.pk, colleague.email, None, error))
    return tuple(rebuilt)


def _quoted_fragments(body: str) -> list[str]:
    """Runs of QUOTE_WORDS words of `body`, white space made single as answers quote it: an
    answer holding one of them quotes the item."""
    words = body.split()
    if len(words) <= QUOTE_WORDS:
        whole = " ".join(words)
        return [whole] if len(whole) >= 12 else []
    step = max(QUOTE_WORDS // 2, -(-len(words) // MAX_QUOTE_PROBES))
    starts = range(0, len(words) - QUOTE_WORDS + 1, step)
    return list(dict.fromkeys(" ".join(words[s : s + QUOTE_WORDS]) for s in starts))


def blank_turns(item_id: int, body: str) -> tuple[int, ...]:
    """Replace the answers of the conversation turns citing or quoting the item of this id and
    `body` (deleted or about to be); return their ids. The retention purge uses it too."""
    return _blank_turns(item_id, _quoted_fragments(body))


def _blank_turns(item_id: int, fragments: Sequence[str]) -> tuple[int, ...]:
    """Replace the answers of the turns citing or quoting the item; return their ids."""
    condition = Q(citations__icontains=str(item_id))
    for fragment in fragments:
        condition |= Q(answer__contains=fragment)
    changed: list[int] = []
    rows = Turn.objects.filter(condition).only("pk", "answer", "citations", "extra")
    for turn in rows.order_by("pk").iterator(chunk_size=200):
        cites = any(_cites(c, item_id) for c in turn.citations)
        if not cites and not any(fragment in turn.answer for fragment in fragments):
            continue
        turn.answer = REDACTED_ANSWER
        turn.citations = [_blank_citation(c) if _cites(c, item_id) else c for c in turn.citations]
        extra = dict(turn.extra or {})
        extra["redacted"] = True
        turn.extra = extra
        turn.save(update_fields=["answer", "citations", "extra"])
        changed.append(turn.pk)
    return tuple(changed)


def _cites(citation: Any, item_id: int) -> bool:
    return isinstance(citation, dict) and citation.get("item_id") == item_id


def _blank_citation(citation: dict[str, Any]) -> dict[str, Any]:
    return {
        "item_id": citation.get("item_id"),
        "excerpt": "",
        "source": citation.get("source", ""),
        "created_at": citation.get("created_at", ""),
        "url": None,
        "redacted": True,
    }


def _close_requests(item_id: int, *, actor: Actor) -> tuple[int, ...]:
    """Mark the open requests to redact this item done."""
    now = timezone.now()
    waiting = RedactionRequest.objects.filter(
        item_id=item_id,
        state__in=[RedactionRequest.State.REQUESTED, RedactionRequest.State.APPROVED],
    )
    ids = tuple(waiting.order_by("pk").values_list("pk", flat=True))
    RedactionRequest.objects.filter(pk__in=ids, decided_at__isnull=True).update(
        decided_at=now, decided_by=login_user(actor)
    )
    RedactionRequest.objects.filter(pk__in=ids).update(
        state=RedactionRequest.State.DONE, done_at=now
    )
    return ids


def _forget_after_commit(
    *, chunk_ids: Sequence[int], version_ids: Iterable[int], index_told: bool
) -> None:
    """Once the redaction has committed: tell an index without an outbox, clear caches."""
    if not index_told and chunk_ids:
        try:
            get_index().delete(list(chunk_ids))
        except Exception:
            # The rows are gone: the copies are orphans that `repair_index` deletes.
            logger.exception("Index copies of %s redacted chunks not deleted yet", len(chunk_ids))
    skill_selectors._matcher_cache.clear()
    forget_versions(version_ids)


# Requests.


def request_redaction(item: Item, *, user: User, reason: str = "") -> RedactionRequest:
    """Ask curators to redact `item` (which `access_redactable_item` gave `user`); audited.

    Asking again while a request of theirs for it is open returns that request.
    """
    colleague = own_colleague(user)
    existing = (
        RedactionRequest.objects.filter(
            item_id=item.pk,
            requested_by_id=user.pk,
            state__in=[RedactionRequest.State.REQUESTED, RedactionRequest.State.APPROVED],
        )
        .order_by("pk")
        .first()
    )
    if existing is not None:
        return existing
    with transaction.atomic():
        request = RedactionRequest.objects.create(
            item_id=item.pk,
            item_source=item.source.name[:200],
            item_kind=item.kind,
            item_container_kind=item.container.kind if item.container is not None else "",
            item_created_at=item.created_at,
            colleague=colleague,
            requested_by_id=user.pk,
            reason=reason.strip()[:1000],
        )
        audit.record(
            "redaction_requested",
            f"item:{item.pk}",
            actor=user,
            request=request.pk,
            colleague=colleague.pk if colleague is not None else None,
        )
    return request


def approve_request(
    request: RedactionRequest, *, curator: User, reason: str = ""
) -> RedactionRequest:
    """Approve a redaction request and redact its item (or, while a hold blocks it, leave it
    approved); audited. Raises PermissionDenied for a non-curator, RedactionRefused for a
    request decided already."""
    _check_curator(curator)
    with transaction.atomic():
        request = _lock_open(request)
        now = timezone.now()
        request.decided_by_id = curator.pk
        request.decided_at = now
        request.decision_reason = reason.strip()[:1000]
        item = Item.objects.filter(pk=request.item_id).first()
        blocked = redaction_blocked_by(item) if item is not None else None
        request.state = RedactionRequest.State.APPROVED if blocked else RedactionRequest.State.DONE
        audit.record(
            "redaction_approved",
            f"item:{request.item_id}",
            actor=curator,
            request=request.pk,
            reason=request.decision_reason,
            blocked_by=blocked,
        )
        if item is not None and blocked:
            record_blocked(
                "redaction", f"item:{item.pk}", Item.objects.filter(pk=item.pk), actor=curator
            )
        if item is not None and not blocked:
            why = request.decision_reason or request.reason or "requested by the person"
            _redact(item.pk, actor=curator, reason=f"request {request.pk}: {why}")
        if request.state == RedactionRequest.State.DONE:
            request.done_at = now
        request.save(
            update_fields=["state", "decided_by", "decided_at", "decision_reason", "done_at"]
        )
    return request


def reject_request(request: RedactionRequest, *, curator: User, reason: str) -> RedactionRequest:
    """Reject a redaction request, saying why; the item stays. Audited."""
    _check_curator(curator)
    reason = reason.strip()
    if not reason:
        raise RedactionRefused(gettext("Say why the request is rejected."))
    with transaction.atomic():
        request = _lock_open(request)
        request.state = RedactionRequest.State.REJECTED
        request.decided_by_id = curator.pk
        request.decided_at = timezone.now()
        request.decision_reason = reason[:1000]
        request.save(update_fields=["state", "decided_by", "decided_at", "decision_reason"])
        audit.record(
            "redaction_rejected",
            f"item:{request.item_id}",
            actor=curator,
            request=request.pk,
            reason=request.decision_reason,
        )
    return request


def _check_curator(user: User) -> None:
    if not can_curate(user):
        raise PermissionDenied("Only a knowledge curator or HR admin decides on redactions.")


def _lock_open(request: RedactionRequest) -> RedactionRequest:
    locked = RedactionRequest.objects.select_for_update().get(pk=request.pk)
    if not locked.is_open:
        raise RedactionRefused(
            gettext("This request is %(state)s already.")
            % {"state": locked.get_state_display().lower()}
        )
    return locked
