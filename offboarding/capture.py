"""Capturing one departing person's data from chosen sources (issue 9).

A capture reads a source's connector from the beginning (cursor None), twice:

1. a scan learns how the person appears in this source (a Slack user whose profile email is
   one of their addresses) and which threads they took part in (a thread's first message
   comes before their reply, so this must be known before anything is kept);
2. a second read keeps only the person's documents and stores them with
   `knowledge.actions.ingest_batch(..., advance_checkpoint=False)`: the source's incremental
   syncs go on from their own checkpoint.

What is theirs: every document one of their identities authored; Slack messages of threads
they wrote in (the thread's first message and its replies); mail they sent or received
(sender or recipient among its audience). Each kept batch carries the containers and people
its documents refer to, so visibility at the source is mirrored as in a sync; nothing else of
the source is stored. The source's exclusion rules, redactions and erasures apply as in any
sync (ingest_batch). Files the connector cannot read are left to the source's own syncs to
quarantine: a capture records no quarantine.

Counters are saved after every batch, each save its own short transaction, so a page polling
`capture_progress` shows them grow: `documents_read` during the scan (every document at the
source, counted once), `documents_theirs`, `items_created` and `items_updated` while storing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from colleagues.models import Colleague, Identity
from colleagues.selectors import colleague_by_name
from connectors.base import PersonRef, SourceBatch, SourceContainer, SourceDocument, SourcePerson
from connectors.models import Source
from connectors.prefetch import read_ahead
from connectors.registry import connector_class
from knowledge import audit
from knowledge.actions import ingest_batch
from knowledge.audit import Actor
from offboarding import tasks_capture
from offboarding.cases import CaseRefused, complete_step, transition
from offboarding.models import CaptureRun, OffboardingCase, Step

logger = logging.getLogger(__name__)

State = OffboardingCase.State
Run = CaptureRun.State
STARTED = "offboarding_capture_started"
FINISHED = "offboarding_capture_done"
FAILED = "offboarding_capture_failed"
# Consent states under which nothing of the person may be captured (as offboarding.cases).
WITHOUT_CONSENT = (Colleague.Consent.REQUIRED, Colleague.Consent.REFUSED)


# Starting.


def start_capture(
    case: OffboardingCase, *, sources: Iterable[Source], actor: Actor
) -> list[CaptureRun]:
    """Queue a capture of the case's person from each of `sources`; return the runs. Audited.

    A notified case (or one in review, to capture more) moves to capturing first, its consent
    guard applying. A source captured before for this case gets its run back, reset to queued
    (so a failed run can be retried and the capturing → in review guard sees only the latest);
    one still queued or running is refused, unless it is stalled (`is_stalled`: not saved for
    STALLED_AFTER, its worker gone). Capturing again from review reopens the review step: what
    is new must be reviewed too. Raises CaseRefused (changing nothing) when the case cannot
    capture. Queues `run_capture_task` per run once the transaction commits.
    """
    chosen = list({source.pk: source for source in sources}.values())
    if not chosen:
        raise CaseRefused(gettext("Choose at least one source to capture from."))
    with transaction.atomic():
        locked = (
            OffboardingCase.objects.select_for_update(of=("self",))
            .select_related("colleague")
            .get(pk=case.pk)
        )
        colleague = _capturable_colleague(locked)
        if locked.state in (State.NOTIFIED, State.IN_REVIEW):
            if locked.state == State.IN_REVIEW:
                reopened = locked.checklist.filter(step=Step.REVIEW, done_at__isnull=False)
                if reopened.update(done_at=None, done_by=None):
                    audit.record(
                        "offboarding_step_reopened",
                        f"offboarding:{locked.pk}",
                        actor=actor,
                        step=Step.REVIEW,
                    )
            locked = transition(locked, State.CAPTURING, actor=actor, reason="capture started")
        elif locked.state != State.CAPTURING:
            raise CaseRefused(
                gettext(
                    "Case #%(number)s is %(state)s: capture starts once the person is notified."
                )
                % {"number": locked.pk, "state": locked.get_state_display().lower()}
            )
        existing = {
            run.source_id: run
            for run in CaptureRun.objects.select_for_update()
            .filter(case=locked, source__in=chosen)
            .order_by("pk")
        }
        runs = []
        for source in chosen:
            run = existing.get(source.pk)
            if run is None:
                run = CaptureRun.objects.create(case=locked, source=source)
            elif run.state in (Run.QUEUED, Run.RUNNING) and not is_stalled(run):
                raise CaseRefused(
                    gettext("%(source)s is being captured already (run %(run)s).")
                    % {"source": source.name, "run": run.pk}
                )
            else:
                _reset(run, state=Run.QUEUED)
                run.save(
                    update_fields=[
                        *_COUNTERS,
                        "state",
                        "error",
                        "started_at",
                        "finished_at",
                        "updated_at",
                    ]
                )
            runs.append(run)
        audit.record(
            STARTED,
            f"offboarding:{locked.pk}",
            actor=actor,
            colleague=colleague.pk,
            runs=[run.pk for run in runs],
            sources=[source.pk for source in chosen],
        )
        for run in runs:
            transaction.on_commit(
                functools.partial(tasks_capture.run_capture_task.delay, run.pk), robust=True
            )
    return runs


def _capturable_colleague(case: OffboardingCase) -> Colleague:
    colleague = case.colleague
    if colleague is None:
        raise CaseRefused(
            gettext("The person of this case was erased: there is nothing to capture.")
        )
    if colleague.consent in WITHOUT_CONSENT:
        raise CaseRefused(
            gettext("%(person)s's consent is %(consent)s: nothing of theirs may be captured.")
            % {"person": colleague, "consent": colleague.get_consent_display().lower()}
        )
    return colleague


_COUNTERS = ["documents_read", "documents_theirs", "items_created", "items_updated"]
# A queued or running run not saved for this long is stalled: its worker is gone.
STALLED_AFTER = timedelta(minutes=30)


def is_stalled(run: CaptureRun) -> bool:
    """Whether a queued or running run has not moved for STALLED_AFTER (it may be restarted)."""
    return run.state in (Run.QUEUED, Run.RUNNING) and (
        run.updated_at is None or run.updated_at < timezone.now() - STALLED_AFTER
    )


def _reset(run: CaptureRun, *, state: str) -> None:
    for name in _COUNTERS:
        setattr(run, name, 0)
    run.state = state
    run.error = ""
    run.started_at = None
    run.finished_at = None


# Running.


def run_capture(run: CaptureRun) -> CaptureRun:
    """Capture the person's documents from the run's source (see the module docstring) and
    return the finished run: done, or failed with its error (never raised, so other runs go
    on). The source's checkpoint is left as it was. Audited; when every run of the case is
    done, the checklist's capture step is ticked off.
    """
    run = CaptureRun.objects.select_related("case", "case__colleague", "source").get(pk=run.pk)
    _reset(run, state=Run.RUNNING)
    run.started_at = timezone.now()
    run.save(
        update_fields=[*_COUNTERS, "state", "error", "started_at", "finished_at", "updated_at"]
    )
    case, source = run.case, run.source
    try:
        if not case.is_open:
            raise CaseRefused(
                gettext("Case #%(number)s is %(state)s.")
                % {"number": case.pk, "state": case.get_state_display().lower()}
            )
        person = _Person.of(_capturable_colleague(case))
        connector = connector_class(source.kind)(
            config=source.config, credentials=source.credentials
        )
        connector.validate()
        threads: set[str] = set()
        for batch in read_ahead(connector.fetch(cursor=None)):
            _scan(batch, person, threads)
            run.documents_read += len(batch.documents)
            run.save(update_fields=["documents_read", "updated_at"])
        selection = _Selection(person, threads)
        for batch in read_ahead(connector.fetch(cursor=None)):
            kept = selection.keep(batch)
            if kept is None:
                continue
            result = ingest_batch(source=source, batch=kept, advance_checkpoint=False)
            run.documents_theirs += len(kept.documents)
            run.items_created += result.created
            run.items_updated += result.updated
            run.save(
                update_fields=["documents_theirs", "items_created", "items_updated", "updated_at"]
            )
    except BaseException as exc:  # KeyboardInterrupt too: never leave a run "running"
        run.state = Run.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:5000]
        run.finished_at = timezone.now()
        logger.exception("Capture run %s (case %s, source %s) failed", run.pk, case.pk, source.pk)
        with transaction.atomic():
            run.save(update_fields=["state", "error", "finished_at", "updated_at"])
            audit.record(
                FAILED,
                f"offboarding:{case.pk}",
                run=run.pk,
                source=source.pk,
                error_type=type(exc).__name__,
            )
        if not isinstance(exc, Exception):
            raise
        return run
    run.state = Run.DONE
    run.finished_at = timezone.now()
    with transaction.atomic():
        # Runs of one case finishing at once take turns, so the last one sees all done.
        OffboardingCase.objects.select_for_update().filter(pk=case.pk).first()
        run.save(update_fields=["state", "finished_at", "updated_at"])
        audit.record(
            FINISHED,
            f"offboarding:{case.pk}",
            run=run.pk,
            source=source.pk,
            **{name: getattr(run, name) for name in _COUNTERS},
        )
        _tick_off_capture_when_done(case)
    return run


def _tick_off_capture_when_done(case: OffboardingCase) -> None:
    runs = CaptureRun.objects.filter(case=case)
    if runs.exclude(state=Run.DONE).exists():
        return
    if case.checklist.filter(step=Step.CAPTURE, done_at__isnull=True).exists():
        count = runs.count()
        complete_step(case, Step.CAPTURE, actor=None, note=f"{count} source(s) captured")


@dataclass
class _Person:
    """How one colleague appears at a source: their refs, mail addresses and name."""

    refs: set[PersonRef]
    addresses: set[str]
    names: set[str]

    @classmethod
    def of(cls, colleague: Colleague) -> _Person:
        refs: set[PersonRef] = set()
        addresses: set[str] = set()
        names: set[str] = set()
        for kind, value in Identity.objects.filter(colleague=colleague).values_list(
            "kind", "value"
        ):
            refs.add(PersonRef(kind, value))  # type: ignore[arg-type]
            if kind == Identity.Kind.EMAIL:
                addresses.add(value.lower())
            elif kind == Identity.Kind.NAME:
                names.add(value.strip().casefold())
        if colleague.email:
            addresses.add(colleague.email.lower())
        # An author name is theirs only when it names nobody else (as ingest links names).
        if colleague.name.strip() and colleague_by_name(colleague.name) == colleague:
            names.add(colleague.name.strip().casefold())
        return cls(refs=refs, addresses=addresses, names=names)

    def is_theirs(self, ref: PersonRef | None) -> bool:
        if ref is None:
            return False
        if ref in self.refs:
            return True
        if ref.kind == "email":
            return ref.value.lower() in self.addresses
        if ref.kind == "name":
            return ref.value.strip().casefold() in self.names
        return False

    def learn(self, people: Iterable[SourcePerson]) -> None:
        """Add the source's people whose verified address is theirs (their Slack user)."""
        for person in people:
            address = person.email.strip().lower()
            if not address:
                continue
            if address in self.addresses:
                self.refs.add(person.ref)
            elif self.is_theirs(person.ref):
                self.addresses.add(address)


def _scan(batch: SourceBatch, person: _Person, threads: set[str]) -> None:
    """Learn the person's refs from `batch`, and the threads they wrote in."""
    person.learn(batch.people)
    for document in batch.documents:
        if document.kind == "message" and person.is_theirs(document.author):
            # A reply names its thread; a first message is the thread others' replies name.
            threads.add(document.external_id)
            if document.thread_id:
                threads.add(document.thread_id)


@dataclass
class _Selection:
    """Picks the person's documents out of each batch, with what they refer to."""

    person: _Person
    threads: set[str]
    # Everything the source described so far: a later batch's documents may refer to them.
    people: dict[PersonRef, SourcePerson] = field(default_factory=dict)
    containers: dict[str, SourceContainer] = field(default_factory=dict)
    # What earlier kept batches carried already.
    sent_people: set[PersonRef] = field(default_factory=set)
    sent_containers: set[str] = field(default_factory=set)

    def is_theirs(self, document: SourceDocument) -> bool:
        if self.person.is_theirs(document.author):
            return True
        if document.kind == "email":
            return any(self.person.is_theirs(ref) for ref in document.audience.people)
        if document.kind == "message":
            return document.external_id in self.threads or (
                document.thread_id is not None and document.thread_id in self.threads
            )
        return False

    def keep(self, batch: SourceBatch) -> SourceBatch | None:
        """The batch with only the person's documents and what those refer to, or None when
        none of its documents is theirs."""
        self.person.learn(batch.people)
        self.people.update((person.ref, person) for person in batch.people)
        self.containers.update((c.external_id, c) for c in batch.containers)
        documents = tuple(d for d in batch.documents if self.is_theirs(d))
        if not documents:
            return None
        containers = [self.containers[c] for c in _container_ids(documents) if self._unsent(c)]
        self.sent_containers.update(c.external_id for c in containers)
        refs = set(_refs_of(documents))
        for container in containers:
            refs.update(container.members)
        people = [self.people[r] for r in sorted(refs - self.sent_people) if r in self.people]
        self.sent_people.update(p.ref for p in people)
        return replace(
            batch,
            documents=documents,
            people=tuple(people),
            containers=tuple(containers),
            failures=(),
        )

    def _unsent(self, container_id: str) -> bool:
        return container_id in self.containers and container_id not in self.sent_containers


def _container_ids(documents: Iterable[SourceDocument]) -> list[str]:
    """The containers the documents live in or are shown to, in first-use order."""
    ids: dict[str, None] = {}
    for document in documents:
        if document.container_id:
            ids[document.container_id] = None
        ids.update(dict.fromkeys(document.audience.containers))
    return list(ids)


def _refs_of(documents: Iterable[SourceDocument]) -> Iterator[PersonRef]:
    for document in documents:
        if document.author is not None:
            yield document.author
        yield from document.audience.people


# Progress.


def capture_progress(case: OffboardingCase) -> dict[str, Any]:
    """The case's capture runs with their state and counters, and how many are finished:
    `{"case", "state", "runs": [...], "done", "failed", "total", "finished"}`, JSON-ready."""
    state = OffboardingCase.objects.filter(pk=case.pk).values_list("state", flat=True).first()
    runs = list(CaptureRun.objects.filter(case_id=case.pk).select_related("source").order_by("pk"))
    done = sum(run.state == Run.DONE for run in runs)
    failed = sum(run.state == Run.FAILED for run in runs)
    return {
        "case": case.pk,
        "state": state,
        "runs": [
            {
                "id": run.pk,
                "source": run.source.name,
                "kind": run.source.kind,
                "state": run.state,
                "documents_read": run.documents_read,
                "documents_theirs": run.documents_theirs,
                "items_created": run.items_created,
                "items_updated": run.items_updated,
                "error": run.error,
                "started_at": run.started_at.isoformat() if run.started_at else None,
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            }
            for run in runs
        ],
        "done": done,
        "failed": failed,
        "total": len(runs),
        "finished": bool(runs) and done + failed == len(runs),
    }
