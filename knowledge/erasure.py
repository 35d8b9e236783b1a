"""Erasure: forget a person on request (the right to be forgotten; issue 8, item 4).

A request names a departed colleague, a case label and a reason (`request_erasure`); someone
else holding `colleagues.erase_colleagues` approves it (`approve_erasure`, four eyes) or rejects
it. An approved request runs (`run_erasure`, in the worker when a broker is configured):

1. **Tombstones first**: the SHA-256 of each of the person's addresses and accounts is stored
   (ErasedIdentity) and committed, so a sync running meanwhile, and every later one, skips
   what they wrote and what names them (`without_erased`, called by ingest).
2. **Items**, in batches of BATCH_SIZE, each one transaction that re-reads the legal holds
   first: everything any identity of theirs authored, and every other item whose title, text
   or metadata names them (one of their mail addresses, their Slack user id, or their full
   name of two words or more: `Identifiers`). Items by others that name them are deleted
   whole: an edited copy of someone's words is not theirs any more. Derived data goes with
   them as in the retention purge (`knowledge.retention.purge.delete_with_derived`): chunks,
   index entries, skill versions citing them (other packages are rebuilt), quoting answers.
3. **What holds keep stays**, recorded as a `blocked_by_hold` event. While anything of theirs
   is held, or an active hold names them, the request waits in state HELD: the person, their
   package (rebuilt from what remains) and their identities are kept, because the held items
   are theirs. `resume_held_erasures` (daily, with the purge) runs it again once holds end.
4. **The person**, once nothing of theirs is held: their skill package with every version
   and correction, the conversations about them, their grants, identities, login account
   (with the conversations and feedback it wrote), the directory sync's record of their
   account and the colleague record itself; their offboarding cases move to erased and keep
   only their case label. The directory sync skips their entry from then on.
5. **The certificate**: one `erasure_certified` audit event per run holding counts, ids of
   deleted rows and the holds that kept anything, never content; the request keeps it and a
   link to that event (its chain position and hash). `certificate_lines` renders it.

Not covered (said on the certificate): the audit trail keeps its events as written (ids, the
actor's login name, hashes: the legal record of access, exempt under GDPR art. 17(3)(b) and
(e)); database free pages and backups keep bytes until reused or rotated; names of two words or
more in later syncs are not recognised (only addresses and Slack ids are hashed).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext

from answers.models import Conversation
from colleagues.models import AccessGrant, Colleague, Identity
from connectors.directory.models import DirectoryAccount
from knowledge import audit
from knowledge.audit import Actor, login_user
from knowledge.models import AuditEvent, ErasedIdentity, ErasureRequest, Item
from knowledge.retention.holds import active_holds, held_condition, record_blocked
from knowledge.retention.purge import PurgeBatch, delete_with_derived, rebuild_packages
from knowledge.tombstones import identity_sha256
from skills.models import SkillPackage

logger = logging.getLogger(__name__)

PERMISSION = "colleagues.erase_colleagues"
REQUESTED = "erasure_requested"
APPROVED = "erasure_approved"
REJECTED = "erasure_rejected"
CERTIFIED = "erasure_certified"
BATCH_SIZE = 500
# Names shorter than this many words are too common to erase what mentions them.
MIN_NAME_WORDS = 2
NOT_COVERED = (
    "The audit trail keeps its events as written (ids, login names and hashes, never "
    "content): it is the legal record of access (GDPR art. 17(3)(b) and (e)).",
    "Database free pages and backups keep deleted bytes until they are reused or rotated.",
    "Later syncs skip items by or naming the person's addresses and Slack account; their "
    "name alone is not recognised there.",
)


class ErasureRefused(ValueError):
    """A request or decision that cannot be taken as asked."""


def can_erase(user: User | AnonymousUser) -> bool:
    return user.is_active and user.has_perm(PERMISSION)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def subject_sha256(address: str) -> str:
    """What a request keeps of its subject: the SHA-256 of their lower-cased address."""
    return _sha256(address.strip().lower())


# What names a person.


@dataclass(frozen=True)
class Identifiers:
    """The addresses, Slack user ids and full names by which text names one person."""

    emails: frozenset[str]
    slack_ids: frozenset[str]
    names: frozenset[str]

    @classmethod
    def of(cls, colleague: Colleague) -> Identifiers:
        emails = {colleague.email.lower()} if colleague.email else set()
        slack_ids: set[str] = set()
        names = {colleague.name}
        for kind, value, display in Identity.objects.filter(colleague=colleague).values_list(
            "kind", "value", "display_name"
        ):
            if kind == Identity.Kind.EMAIL:
                emails.add(value.lower())
            elif kind == Identity.Kind.SLACK:
                slack_ids.add(value.rsplit("/", 1)[-1])
            else:
                names.add(value)
            names.add(display)
        return cls(
            emails=frozenset(e for e in emails if e),
            slack_ids=frozenset(s for s in slack_ids if s),
            names=frozenset(" ".join(n.split()) for n in names if len(n.split()) >= MIN_NAME_WORDS),
        )

    @property
    def tombstones(self) -> set[str]:
        return {identity_sha256("email", e) for e in self.emails} | {
            identity_sha256("slack", s) for s in self.slack_ids
        }

    @functools.cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        parts = [rf"(?<![\w.%+\-]){re.escape(e)}(?![\w\-]|\.\w)" for e in self.emails]
        parts += [rf"\b{re.escape(s)}\b" for s in self.slack_ids]
        parts += [r"\b" + r"\s+".join(map(re.escape, n.split())) + r"\b" for n in self.names]
        return re.compile("|".join(parts), re.IGNORECASE) if parts else None

    def named_in(self, *texts: str) -> bool:
        """Whether any of `texts` names the person (whole words, any case)."""
        pattern = self._pattern
        return pattern is not None and any(pattern.search(t) for t in texts if t)

    def candidates(self) -> Q | None:
        """A superset of the items naming the person, for the database to narrow first."""
        condition: Q | None = None
        # A name's longest word: the text may break the name across lines or spaces.
        words = {max(n.split(), key=len) for n in self.names}
        for token in sorted(self.emails | self.slack_ids | words):
            part = (
                Q(title__icontains=token)
                | Q(body__icontains=token)
                | Q(metadata_text__icontains=token)
            )
            condition = part if condition is None else condition | part
        return condition


def items_naming(identifiers: Identifiers, *, exclude: QuerySet[Item]) -> list[int]:
    """Ids of the items, other than `exclude`, whose title, text or metadata names the person."""
    condition = identifiers.candidates()
    if condition is None:
        return []
    rows = (
        Item.objects.annotate(metadata_text=Cast("metadata", TextField()))
        .filter(condition)
        .exclude(pk__in=exclude.values("pk"))
        .order_by("pk")
        .values_list("pk", "title", "body", "metadata")
    )
    return [
        pk
        for pk, title, body, metadata in rows.iterator(chunk_size=500)
        if identifiers.named_in(title, body, json.dumps(metadata, ensure_ascii=False))
    ]


# Requests.


def request_erasure(
    colleague: Colleague, *, requested_by: Actor, label: str, reason: str
) -> ErasureRequest:
    """Ask for `colleague` to be erased; audited. Raises ErasureRefused when they are still
    employed, their login is an administrator's, no label or reason is given, or a request
    for them is open already."""
    label, reason = label.strip(), reason.strip()
    if not label or not reason:
        raise ErasureRefused(gettext("Give a case label (not the person's name) and a reason."))
    if not colleague.is_departed:
        raise ErasureRefused(
            gettext("%(person)s is still employed: record their departure before erasing them.")
            % {"person": colleague}
        )
    if colleague.user is not None and (colleague.user.is_staff or colleague.user.is_superuser):
        raise ErasureRefused(
            gettext("Their login is an administrator's: remove its administrator rights first.")
        )
    with transaction.atomic():
        Colleague.objects.select_for_update().filter(pk=colleague.pk).first()
        if ErasureRequest.objects.filter(
            colleague=colleague,
            state__in=[
                ErasureRequest.State.REQUESTED,
                ErasureRequest.State.APPROVED,
                ErasureRequest.State.HELD,
            ],
        ).exists():
            raise ErasureRefused(
                gettext("An erasure request for %(person)s is open already.")
                % {"person": colleague}
            )
        request = ErasureRequest.objects.create(
            colleague=colleague,
            subject_sha256=subject_sha256(colleague.email or f"colleague:{colleague.pk}"),
            subject_label=label[:200],
            reason=reason[:1000],
            requested_by=login_user(requested_by),
        )
        audit.record(
            REQUESTED,
            f"erasure:{request.pk}",
            actor=requested_by,
            colleague=colleague.pk,
            subject_sha256=request.subject_sha256,
        )
    return request


def approve_erasure(request: ErasureRequest, *, approver: User, reason: str = "") -> ErasureRequest:
    """Approve a request (someone other than who asked, holding the permission) and queue its
    run once committed (inline without a broker); audited."""
    _check_decider(request, approver)
    with transaction.atomic():
        request = _lock_requested(request)
        request.state = ErasureRequest.State.APPROVED
        request.decided_by = approver
        request.decided_at = timezone.now()
        request.decision_reason = reason.strip()[:1000]
        request.save(update_fields=["state", "decided_by", "decided_at", "decision_reason"])
        audit.record(APPROVED, f"erasure:{request.pk}", actor=approver)
        from knowledge import tasks

        pk, actor_id = request.pk, approver.pk
        transaction.on_commit(lambda: tasks.run_erasure_request.delay(pk, actor_id), robust=True)
    return request


def reject_erasure(request: ErasureRequest, *, approver: User, reason: str) -> ErasureRequest:
    """Reject a request, saying why; audited."""
    _check_decider(request, approver)
    if not reason.strip():
        raise ErasureRefused(gettext("Say why the request is rejected."))
    with transaction.atomic():
        request = _lock_requested(request)
        request.state = ErasureRequest.State.REJECTED
        request.decided_by = approver
        request.decided_at = timezone.now()
        request.decision_reason = reason.strip()[:1000]
        request.save(update_fields=["state", "decided_by", "decided_at", "decision_reason"])
        audit.record(REJECTED, f"erasure:{request.pk}", actor=approver)
    return request


def _check_decider(request: ErasureRequest, approver: User) -> None:
    if not can_erase(approver):
        raise PermissionDenied("Only an HR admin decides on erasure requests.")
    if request.requested_by_id == approver.pk:
        raise ErasureRefused(
            gettext("Someone other than who asked must decide on an erasure request.")
        )


def _lock_requested(request: ErasureRequest) -> ErasureRequest:
    locked = ErasureRequest.objects.select_for_update().get(pk=request.pk)
    if locked.state != ErasureRequest.State.REQUESTED:
        raise ErasureRefused(
            gettext("This request is %(state)s already.")
            % {"state": locked.get_state_display().lower()}
        )
    return locked


# Runs.


@dataclass
class Certificate:
    """What one run erased and what holds kept (counts and ids, never content)."""

    request_id: int
    subject_sha256: str
    subject_label: str
    started_at: datetime
    finished_at: datetime | None = None
    complete: bool = False
    items_authored: int = 0
    items_naming: int = 0
    items_deleted: list[int] = field(default_factory=list)
    chunks_deleted: int = 0
    versions_deleted: int = 0
    packages_rebuilt: set[int] = field(default_factory=set)
    turns_blanked: int = 0
    held: dict[int, int] = field(default_factory=dict)
    held_items: int = 0
    tombstones: int = 0
    # Set when the person went (step 4).
    package_versions_deleted: int = 0
    conversations_deleted: int = 0
    grants_deleted: int = 0
    identities_deleted: int = 0
    login_deleted: bool = False
    colleague_deleted: bool = False
    # Their offboarding cases, moved to erased.
    cases_closed: list[int] = field(default_factory=list)
    # The LDAP directory's record of their account (the directory sync skips them from now on).
    directory_accounts_deleted: int = 0

    def add(self, batch: PurgeBatch) -> None:
        self.items_deleted.extend(batch.item_ids)
        self.chunks_deleted += batch.chunks
        self.versions_deleted += batch.versions_deleted
        self.packages_rebuilt.update(batch.packages_rebuilt)
        self.turns_blanked += batch.turns_blanked

    def as_json(self) -> dict[str, Any]:
        return {
            "request": self.request_id,
            "subject_sha256": self.subject_sha256,
            "subject_label": self.subject_label,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "complete": self.complete,
            "items_authored": self.items_authored,
            "items_naming": self.items_naming,
            "items_deleted": len(self.items_deleted),
            "item_ids_sha256": _sha256(",".join(map(str, sorted(self.items_deleted)))),
            "chunks_deleted": self.chunks_deleted,
            "versions_deleted": self.versions_deleted,
            "packages_rebuilt": sorted(self.packages_rebuilt),
            "turns_blanked": self.turns_blanked,
            "held_items": self.held_items,
            "held_by": {str(k): v for k, v in sorted(self.held.items())},
            "tombstones": self.tombstones,
            "package_versions_deleted": self.package_versions_deleted,
            "conversations_deleted": self.conversations_deleted,
            "grants_deleted": self.grants_deleted,
            "identities_deleted": self.identities_deleted,
            "login_deleted": self.login_deleted,
            "colleague_deleted": self.colleague_deleted,
            "offboarding_cases_erased": self.cases_closed,
            "directory_accounts_deleted": self.directory_accounts_deleted,
            "not_covered": list(NOT_COVERED),
        }


def run_erasure(
    request: ErasureRequest,
    *,
    actor: Actor = None,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[PurgeBatch], None] | None = None,
) -> ErasureRequest:
    """Run an approved (or held) request as the module docstring says; return it with its
    certificate. Safe to interrupt and to run again: each batch commits whole, and a new run
    finds what is left from the database alone."""
    request = ErasureRequest.objects.select_related("colleague").get(pk=request.pk)
    if request.state not in (ErasureRequest.State.APPROVED, ErasureRequest.State.HELD):
        raise ErasureRefused(
            gettext("This request is %(state)s.") % {"state": request.get_state_display().lower()}
        )
    colleague = request.colleague
    certificate = Certificate(
        request_id=request.pk,
        subject_sha256=request.subject_sha256,
        subject_label=request.subject_label,
        started_at=timezone.now(),
    )
    if colleague is not None:
        identifiers = Identifiers.of(colleague)
        with transaction.atomic():
            for value in identifiers.tombstones:
                _, created = ErasedIdentity.objects.get_or_create(
                    value_sha256=value, defaults={"request": request}
                )
                certificate.tombstones += int(created)
        authored = Item.objects.filter(author__colleague=colleague)
        naming = items_naming(identifiers, exclude=authored)
        targets = sorted(set(authored.values_list("pk", flat=True)) | set(naming))
        certificate.items_authored = len(targets) - len(naming)
        certificate.items_naming = len(naming)
        package_id = (
            SkillPackage.objects.filter(colleague=colleague).values_list("pk", flat=True).first()
        )
        spare = frozenset({package_id} if package_id is not None else ())
        for number, start in enumerate(range(0, len(targets), batch_size), start=1):
            with transaction.atomic():
                # Re-read per batch: a hold placed meanwhile is honoured from here on.
                batch_items = Item.objects.filter(pk__in=targets[start : start + batch_size])
                condition = held_condition(active_holds())
                if condition is not None:
                    batch_items = batch_items.exclude(condition)
                ids = list(batch_items.order_by("pk").values_list("pk", flat=True))
                if not ids:
                    continue
                batch = delete_with_derived(ids, number=number, actor=actor, spare_packages=spare)
            certificate.add(batch)
            if on_batch is not None:
                on_batch(batch)
    else:
        targets = []
    # The person, and the certificate saying so, go in one transaction.
    with transaction.atomic():
        if colleague is not None:
            remaining = Item.objects.filter(pk__in=targets)
            target = f"erasure:{request.pk}"
            certificate.held = record_blocked("erasure", target, remaining, actor=actor)
            certificate.held_items = remaining.count()
            named_by_hold = any(h.colleague_id == colleague.pk for h in active_holds())
            if certificate.held_items or named_by_hold:
                # Held items remain: their package is rebuilt from them alone.
                rebuild_packages(set(spare), actor=actor)
            else:
                _forget(colleague, certificate)
        certificate.complete = certificate.colleague_deleted or colleague is None
        certificate.finished_at = timezone.now()
        detail = certificate.as_json()
        del detail["not_covered"]
        event = audit.record(CERTIFIED, f"erasure:{request.pk}", actor=actor, **detail)
        ErasureRequest.objects.filter(pk=request.pk).update(
            state=ErasureRequest.State.DONE if certificate.complete else ErasureRequest.State.HELD,
            certificate=certificate.as_json(),
            certificate_event=event,
            finished_at=certificate.finished_at if certificate.complete else None,
        )
    request.refresh_from_db()
    logger.info(
        "Erasure request %s: %s items deleted, %s kept by holds, complete=%s",
        request.pk,
        len(certificate.items_deleted),
        certificate.held_items,
        certificate.complete,
    )
    return request


def _forget(colleague: Colleague, certificate: Certificate) -> None:
    """Delete the person: package, conversations about them, grants, identities, login,
    colleague record (step 4), in one transaction."""
    from offboarding.cases import close_for_erasure

    with transaction.atomic():
        certificate.cases_closed = close_for_erasure(
            colleague, actor=None, request_id=certificate.request_id
        )
        package = SkillPackage.objects.filter(colleague=colleague).first()
        if package is not None:
            certificate.package_versions_deleted = package.versions.count()
            package.delete()
        certificate.conversations_deleted = Conversation.objects.filter(colleague=colleague).count()
        certificate.grants_deleted = AccessGrant.objects.filter(colleague=colleague).count()
        certificate.directory_accounts_deleted, _ = DirectoryAccount.objects.filter(
            colleague=colleague
        ).delete()
        _, deleted = Identity.objects.filter(colleague=colleague).delete()
        certificate.identities_deleted = deleted.get(Identity._meta.label, 0)
        login = colleague.user
        colleague.delete()
        certificate.colleague_deleted = True
        if login is not None:
            login.delete()
            certificate.login_deleted = True


def resume_held_erasures(*, actor: Actor = None) -> list[int]:
    """Run again every request waiting for holds (the daily job); return their ids."""
    ids = list(
        ErasureRequest.objects.filter(state=ErasureRequest.State.HELD)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in ids:
        run_erasure(ErasureRequest(pk=pk), actor=actor)
    return ids


# Reads.


def open_requests() -> QuerySet[ErasureRequest]:
    """Requests waiting for a decision, a run or holds, oldest first."""
    return (
        ErasureRequest.objects.filter(
            state__in=[
                ErasureRequest.State.REQUESTED,
                ErasureRequest.State.APPROVED,
                ErasureRequest.State.HELD,
            ]
        )
        .select_related("colleague", "requested_by", "decided_by")
        .order_by("created_at", "pk")
    )


def certificate_lines(request: ErasureRequest) -> list[tuple[str, str]]:
    """The certificate as (what, value) rows for a page, a CSV or a PDF."""
    c = request.certificate or {}
    event: AuditEvent | None = request.certificate_event
    held = ", ".join(
        gettext("legal hold #%(number)s: %(items)s items") % {"number": k, "items": v}
        for k, v in c.get("held_by", {}).items()
    )
    rows = [
        (gettext("Request"), f"#{request.pk} {request.subject_label}"),
        (gettext("Subject (SHA-256 of their address)"), request.subject_sha256),
        (gettext("State"), request.get_state_display()),
        (gettext("Reason"), request.reason),
        (
            gettext("Requested"),
            gettext("%(when)s UTC by %(who)s")
            % {"when": f"{request.created_at:%Y-%m-%d %H:%M}", "who": _who(request.requested_by)},
        ),
        (
            gettext("Decided"),
            gettext("%(when)s UTC by %(who)s")
            % {"when": f"{request.decided_at:%Y-%m-%d %H:%M}", "who": _who(request.decided_by)}
            if request.decided_at
            else gettext("not yet"),
        ),
        (gettext("Items they wrote, deleted or held"), str(c.get("items_authored", 0))),
        (gettext("Items naming them, deleted or held"), str(c.get("items_naming", 0))),
        (gettext("Items deleted (this run)"), str(c.get("items_deleted", 0))),
        (gettext("SHA-256 of the deleted item ids"), str(c.get("item_ids_sha256", ""))),
        (gettext("Chunks deleted"), str(c.get("chunks_deleted", 0))),
        (gettext("Skill versions citing them deleted"), str(c.get("versions_deleted", 0))),
        (gettext("Other packages rebuilt"), str(len(c.get("packages_rebuilt", [])))),
        (gettext("Answers blanked"), str(c.get("turns_blanked", 0))),
        (gettext("Their package versions deleted"), str(c.get("package_versions_deleted", 0))),
        (gettext("Conversations about them deleted"), str(c.get("conversations_deleted", 0))),
        (gettext("Access grants deleted"), str(c.get("grants_deleted", 0))),
        (gettext("Identities deleted"), str(c.get("identities_deleted", 0))),
        (
            gettext("Login account deleted"),
            gettext("yes") if c.get("login_deleted") else gettext("no"),
        ),
        (
            gettext("Person record deleted"),
            gettext("yes") if c.get("colleague_deleted") else gettext("no"),
        ),
        (gettext("Kept by legal holds"), held or gettext("nothing")),
        (
            gettext("Complete"),
            gettext("yes") if c.get("complete") else gettext("no: waiting for legal holds to end"),
        ),
        (
            gettext("Recorded in the audit trail"),
            gettext("event #%(seq)s, %(when)s UTC, hash %(hash)s")
            % {"seq": event.seq, "when": f"{event.at:%Y-%m-%d %H:%M:%S}", "hash": event.hash}
            if event is not None
            else gettext("not yet run"),
        ),
    ]
    rows += [(gettext("Not covered"), text) for text in c.get("not_covered", NOT_COVERED)]
    return rows


def _who(user: User | None) -> str:
    return user.get_username() if user is not None else gettext("the console operator")
