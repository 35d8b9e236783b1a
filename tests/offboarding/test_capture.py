"""Capturing a departing person's data: only theirs, from the beginning, checkpoints kept
(issue 9)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from colleagues.actions import create_colleague
from colleagues.models import Colleague
from colleagues.roles import Role
from connectors import registry
from connectors.actions import create_source, run_sync
from connectors.base import Connector, SourceBatch
from connectors.errors import SourceUnavailableError
from connectors.models import Source
from connectors.slack.export import SlackExportConnector
from knowledge.models import AuditEvent, Item
from offboarding.capture import capture_progress, start_capture
from offboarding.cases import CaseRefused, TransitionRefused, open_case, transition
from offboarding.models import CaptureRun, OffboardingCase
from offboarding.review import approve_review
from tests import factories as f
from tests.connectors.slack.builders import write_export

pytestmark = pytest.mark.django_db

State = OffboardingCase.State
Callbacks = Callable[..., Any]

# Dana leaves. Erin works with her, Olga once replied in her thread, Pat has nothing to do
# with her: nothing of Pat's may be captured.
DANA_REPLY = "We rotate the billing keys with the vault runbook."
DANA_POST = "Deploy freeze starts Friday, no exceptions."
ERIN_QUESTION = "How do we rotate the billing keys?"
OLGA_THANKS = "Thanks, the vault runbook worked for sales too."
PAT_POST = "Lunch at noon for the pelican crew."
OLGA_QUESTION = "Who owns the flamingo dashboard?"
ERIN_ANSWER = "Pat owns the flamingo dashboard."
MAIL_SENT = "The billing keys live in the vault, Erin."
MAIL_RECEIVED = "Dana, can you check the forecast export?"
MAIL_OTHERS = "Pat, the zebracorn party is on Friday."
DOC_DANA = "Runbook: rotating the billing keys step by step."
DOC_PAT = "Party planning for the zebracorn team."


@dataclass
class Org:
    dana: Colleague
    mark: Colleague
    erin: Colleague
    olga: Colleague
    dana_user: User
    mark_user: User
    erin_user: User
    olga_user: User
    hr_user: User
    case: OffboardingCase
    slack: Source
    mail: Source
    docs: Source


def _slack_export(root: Path) -> Path:
    def user(uid: str, name: str, address: str) -> dict[str, Any]:
        return {
            "id": uid,
            "team_id": "TACME0001",
            "name": name.lower(),
            "real_name": name,
            "profile": {"display_name": name, "real_name": name, "email": address},
        }

    def post(uid: str, text: str, ts: str, thread: str | None = None) -> dict[str, Any]:
        message = {"type": "message", "user": uid, "text": text, "ts": ts}
        if thread is not None:
            message["thread_ts"] = thread
        return message

    everyone = ["UDANA0001", "UERIN0001", "UOLGA0001", "UPAT00001"]
    return write_export(
        root,
        {
            "users.json": [
                user("UDANA0001", "Dana Diaz", "dana@acme.test"),
                user("UERIN0001", "Erin Evans", "erin@acme.test"),
                user("UOLGA0001", "Olga Ortiz", "olga@acme.test"),
                user("UPAT00001", "Pat Park", "pat@acme.test"),
            ],
            "channels.json": [
                {"id": "CGENERAL1", "name": "general", "members": everyone},
                {"id": "CRANDOM01", "name": "random", "members": everyone[1:]},
            ],
            # Erin's question comes before Dana's reply: the whole thread is Dana's.
            "general/2025-01-06.json": [
                post("UERIN0001", ERIN_QUESTION, "1736150400.000100", "1736150400.000100"),
                post("UDANA0001", DANA_REPLY, "1736150500.000100", "1736150400.000100"),
                post("UOLGA0001", OLGA_THANKS, "1736150600.000100", "1736150400.000100"),
                post("UPAT00001", PAT_POST, "1736150700.000100"),
                post("UDANA0001", DANA_POST, "1736150800.000100"),
            ],
            "random/2025-01-06.json": [
                post("UOLGA0001", OLGA_QUESTION, "1736150900.000100", "1736150900.000100"),
                post("UERIN0001", ERIN_ANSWER, "1736151000.000100", "1736150900.000100"),
            ],
        },
    )


def _mbox(path: Path) -> Path:
    return f.write_mbox(
        path,
        ("dana@acme.test", "erin@acme.test", "Billing key handover", MAIL_SENT),
        ("olga@acme.test", "dana@acme.test", "Forecast", MAIL_RECEIVED),
        ("olga@acme.test", "pat@acme.test", "Friday", MAIL_OTHERS),
    )


def _documents(root: Path) -> Path:
    root.mkdir()
    for name, author, body in (("runbook", "Dana Diaz", DOC_DANA), ("party", "Pat Park", DOC_PAT)):
        (root / f"{name}.html").write_text(
            f'<html><head><title>{name}</title><meta name="author" content="{author}"></head>'
            f"<body><p>{body}</p></body></html>"
        )
    return root


def login(username: str, **extra: Any) -> User:
    """A login user (tests.factories.make_user) typed as the project's user model."""
    user = f.make_user(username, **extra)
    assert isinstance(user, User)
    return user


@pytest.fixture
def org(db: None, tmp_path: Path) -> Org:
    mark = create_colleague(name="Mark Moss", email="mark@acme.test")
    mark.department = "Leadership"
    mark.save(update_fields=["department"])
    dana = create_colleague(name="Dana Diaz", email="dana@acme.test")
    dana.department, dana.manager = "Billing", mark
    dana.save(update_fields=["department", "manager"])
    erin = create_colleague(name="Erin Evans", email="erin@acme.test")
    erin.department = "Billing"
    erin.save(update_fields=["department"])
    olga = create_colleague(name="Olga Ortiz", email="olga@acme.test")
    olga.department = "Sales"
    olga.save(update_fields=["department"])
    users = {
        name: login(name, colleague=colleague)
        for name, colleague in (("dana", dana), ("mark", mark), ("erin", erin), ("olga", olga))
    }
    case = open_case(dana, last_day=date(2026, 12, 18), via="ui")
    case = transition(case, State.NOTIFIED, actor=None)
    return Org(
        dana=dana,
        mark=mark,
        erin=erin,
        olga=olga,
        dana_user=users["dana"],
        mark_user=users["mark"],
        erin_user=users["erin"],
        olga_user=users["olga"],
        hr_user=login("hr", roles=(Role.HR_ADMIN,)),
        case=case,
        slack=create_source(
            name="acme-slack",
            kind="slack-export",
            config={"path": str(_slack_export(tmp_path / "slack"))},
        ),
        mail=create_source(
            name="dana-mail", kind="email", config={"path": str(_mbox(tmp_path / "mail" / "in"))}
        ),
        docs=create_source(
            name="shared-docs", kind="docs", config={"path": str(_documents(tmp_path / "docs"))}
        ),
    )


def captured(org: Org, capture_callbacks: Callable[..., Any], *sources: Source) -> None:
    """Start a capture of `sources` by HR and run its queued tasks (inline, as without a
    broker)."""
    with capture_callbacks(execute=True):
        start_capture(org.case, sources=sources, actor=org.hr_user)


def bodies(source: Source) -> set[str]:
    return set(Item.objects.filter(source=source).values_list("body", flat=True))


def test_capture_takes_only_the_persons_messages_threads_mail_and_documents(
    org: Org, django_capture_on_commit_callbacks: Callbacks
) -> None:
    captured(org, django_capture_on_commit_callbacks, org.slack, org.mail, org.docs)

    assert bodies(org.slack) == {ERIN_QUESTION, DANA_REPLY, OLGA_THANKS, DANA_POST}
    assert {b.strip() for b in bodies(org.mail)} == {MAIL_SENT, MAIL_RECEIVED}
    assert {b.strip() for b in bodies(org.docs)} == {DOC_DANA}
    everything = " ".join(Item.objects.values_list("body", flat=True))
    for unrelated in ("pelican", "flamingo", "zebracorn"):
        assert unrelated not in everything
    # The thread's messages are stored as the source has them, with their authors.
    question = Item.objects.select_related("author").get(body=ERIN_QUESTION)
    assert question.author is not None
    assert question.author.colleague == org.erin
    assert Item.objects.filter(author__colleague=org.dana).count() == 4


def test_capture_leaves_the_sources_checkpoint_alone(
    org: Org, django_capture_on_commit_callbacks: Callbacks
) -> None:
    captured(org, django_capture_on_commit_callbacks, org.slack)

    org.slack.refresh_from_db()
    assert org.slack.checkpoint == ""
    # The next incremental sync still reads everything the capture left out.
    run = run_sync(source=org.slack)
    assert run.items_created == 3
    assert PAT_POST in bodies(org.slack)


def test_progress_counts_what_was_read_and_kept_per_source(
    org: Org, django_capture_on_commit_callbacks: Callbacks
) -> None:
    captured(org, django_capture_on_commit_callbacks, org.slack, org.mail, org.docs)

    progress = capture_progress(org.case)
    assert (progress["done"], progress["failed"], progress["total"]) == (3, 0, 3)
    assert progress["finished"] is True
    assert progress["state"] == State.CAPTURING
    counts = {
        run["source"]: (
            run["state"],
            run["documents_read"],
            run["documents_theirs"],
            run["items_created"],
            run["items_updated"],
        )
        for run in progress["runs"]
    }
    assert counts == {
        "acme-slack": ("done", 7, 4, 4, 0),
        "dana-mail": ("done", 3, 2, 2, 0),
        "shared-docs": ("done", 2, 1, 1, 0),
    }
    assert org.case.checklist.get(step="capture").is_done

    # Capturing a source again reuses its run: nothing new, nothing changed.
    captured(org, django_capture_on_commit_callbacks, org.slack)
    again = CaptureRun.objects.get(case=org.case, source=org.slack)
    assert (again.state, again.documents_theirs, again.items_created, again.items_updated) == (
        "done",
        4,
        0,
        0,
    )
    assert CaptureRun.objects.filter(case=org.case).count() == 3


class DroppingSlackConnector(Connector):
    """A Slack workspace whose connection drops after the first batch (as the Web API's can)."""

    kind = "dropping"

    def fetch(self, *, cursor: str | None) -> Iterator[SourceBatch]:
        export = SlackExportConnector(config=self.config, credentials=self.credentials)
        yield next(iter(export.fetch(cursor=cursor)))
        raise SourceUnavailableError("connection reset by peer")


def test_a_failing_source_fails_its_run_only(
    org: Org,
    django_capture_on_commit_callbacks: Callbacks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        registry.CONNECTORS, "dropping", f"{__name__}.{DroppingSlackConnector.__name__}"
    )
    dropping = Source.objects.create(name="flaky-slack", kind="dropping", config=org.slack.config)

    captured(org, django_capture_on_commit_callbacks, dropping, org.mail)

    failed = CaptureRun.objects.get(source=dropping)
    assert failed.state == CaptureRun.State.FAILED
    assert failed.error == "SourceUnavailableError: connection reset by peer"
    # Counters are saved per batch: the batch read before the drop is counted.
    assert failed.documents_read > 0
    assert failed.finished_at is not None
    assert CaptureRun.objects.get(source=org.mail).state == CaptureRun.State.DONE
    assert {b.strip() for b in bodies(org.mail)} == {MAIL_SENT, MAIL_RECEIVED}
    assert not Item.objects.filter(source=dropping).exists()
    assert capture_progress(org.case)["failed"] == 1
    assert AuditEvent.objects.filter(action="offboarding_capture_failed").count() == 1


def test_review_is_refused_until_every_run_is_done(
    org: Org, django_capture_on_commit_callbacks: Callbacks
) -> None:
    missing = org.docs.config["path"] + "-gone"
    broken = Source.objects.create(name="moved-docs", kind="docs", config={"path": missing})
    with django_capture_on_commit_callbacks() as queued:
        start_capture(org.case, sources=[org.slack, broken], actor=org.hr_user)
    assert OffboardingCase.objects.get(pk=org.case.pk).state == State.CAPTURING
    with pytest.raises(TransitionRefused, match=r"Capture has not finished.*2 captures not done"):
        transition(org.case, State.IN_REVIEW, actor=org.hr_user)

    for task in queued:
        task()
    assert CaptureRun.objects.get(source=broken).state == CaptureRun.State.FAILED
    with pytest.raises(TransitionRefused, match=r"1 capture not done"):
        transition(org.case, State.IN_REVIEW, actor=org.hr_user)

    # The folder is mounted again: capturing that source again finishes the capture.
    broken.config = org.docs.config
    broken.save(update_fields=["config"])
    captured(org, django_capture_on_commit_callbacks, broken)
    case = transition(org.case, State.IN_REVIEW, actor=org.hr_user)
    assert case.state == State.IN_REVIEW


def test_a_planned_case_or_withheld_consent_captures_nothing(
    org: Org, django_capture_on_commit_callbacks: Callbacks
) -> None:
    from offboarding.cases import CaseRefused

    planned = open_case(org.erin, last_day=date(2026, 12, 18), via="ui")
    with pytest.raises(CaseRefused, match="once the person is notified"):
        start_capture(planned, sources=[org.slack], actor=org.hr_user)
    org.dana.consent = Colleague.Consent.REFUSED
    org.dana.save(update_fields=["consent"])
    with pytest.raises(CaseRefused, match="consent is refused"):
        start_capture(org.case, sources=[org.slack], actor=org.hr_user)
    assert not CaptureRun.objects.exists()
    assert not Item.objects.exists()


def test_every_capture_step_is_audited(
    org: Org, django_capture_on_commit_callbacks: Callbacks
) -> None:
    captured(org, django_capture_on_commit_callbacks, org.slack)

    events = AuditEvent.objects.filter(target=f"offboarding:{org.case.pk}").order_by("seq")
    assert [e.action for e in events] == [
        "offboarding_opened",
        "offboarding_transition",  # planned → notified
        "offboarding_transition",  # notified → capturing
        "offboarding_capture_started",
        "offboarding_capture_done",
        "offboarding_step_done",  # capture
    ]
    started = events.get(action="offboarding_capture_started")
    assert started.actor_name == "hr"
    assert started.detail["sources"] == [org.slack.pk]


def test_a_stalled_run_may_be_started_again_and_a_live_one_may_not(
    org: Org, django_capture_on_commit_callbacks: Callbacks
) -> None:
    # Queued, and its task never ran (the worker died before it).
    (run,) = start_capture(org.case, sources=[org.mail], actor=org.hr_user)
    with pytest.raises(CaseRefused, match="being captured already"):
        start_capture(org.case, sources=[org.mail], actor=org.hr_user)
    CaptureRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        (again,) = start_capture(org.case, sources=[org.mail], actor=org.hr_user)
    again.refresh_from_db()
    assert (again.pk, again.state) == (run.pk, CaptureRun.State.DONE)


def test_capturing_again_from_review_reopens_the_review(
    org: Org, django_capture_on_commit_callbacks: Callbacks
) -> None:
    captured(org, django_capture_on_commit_callbacks, org.mail)
    case = transition(org.case, State.IN_REVIEW, actor=None)
    approve_review(case, actor=org.mark_user)
    assert case.checklist.get(step="review").done_at is not None
    captured(org, django_capture_on_commit_callbacks, org.docs)
    case.refresh_from_db()
    assert case.state == State.CAPTURING
    assert case.checklist.get(step="review").done_at is None
    assert AuditEvent.objects.filter(action="offboarding_step_reopened").count() == 1
