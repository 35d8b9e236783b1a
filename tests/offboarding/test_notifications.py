"""Offboarding notices: who is told by email and Slack DM, what they are told (never captured
content), and overdue reminders escalating to HR on their second day (issue 9).

Slack is `FakeSlack` (tests/connectors/slack/fake_slack.py), an HTTP server on 127.0.0.1 that
here also answers chat.postMessage as Slack documents it; the real slack_sdk client talks to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any, cast

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core import mail
from django.db import transaction
from pytest_django.fixtures import Settings

from colleagues.models import Colleague
from colleagues.roles import Role
from offboarding.cases import complete_step, open_case, transition
from offboarding.handover import set_successor
from offboarding.models import ChecklistItem, OffboardingCase, Responsible
from offboarding.notifications import notify_published, remind_overdue
from offboarding.tasks import remind_overdue_steps
from tests import factories as f
from tests.connectors.slack.fake_slack import TOKEN, FakeSlack, _SlackError
from tests.directory.slapd import free_port
from tests.knowledge.conftest import Org
from tests.knowledge.conftest import org as org  # the fixture

pytestmark = pytest.mark.django_db

LAST_DAY = date(2026, 12, 18)
# Words of what the org's people wrote (tests/knowledge/conftest.py): never in a notice.
CAPTURED = ("billing keys", "vault runbook", "zebracorn", "terraform", "narwhal", "card tokens")


class SlackWithChat(FakeSlack):
    """FakeSlack that also answers chat.postMessage, as documented at
    https://docs.slack.dev/reference/methods/chat.postMessage (scope chat:write)."""

    def __init__(self) -> None:
        super().__init__()
        self.scopes.add("chat:write")
        self.user_ids = {"U1", "U2", "U3"}

    def _chat_postMessage(self, params: dict[str, str]) -> dict[str, Any]:
        self._need("chat:write")
        channel = params.get("channel", "")
        if channel not in self.user_ids:
            raise _SlackError("channel_not_found")
        ts = self.next_ts()
        return {
            "channel": "D" + channel[1:].rjust(8, "0"),  # the app's DM with that user
            "ts": ts,
            "message": {
                "type": "message",
                "subtype": "bot_message",
                "text": params.get("text", ""),
                "bot_id": "BCOLLEAGU",
                "ts": ts,
            },
        }


@pytest.fixture
def slack(settings: Settings) -> Iterator[SlackWithChat]:
    fake = SlackWithChat()
    with fake:
        settings.SLACK_BOT_TOKEN = TOKEN
        settings.SLACK_API_URL = fake.base_url
        yield fake


@pytest.fixture
def hr(org: Org) -> User:
    """An HR admin who is also Carol (Slack U3)."""
    org.carol_user.email = "carol.hr@acme.test"
    org.carol_user.save(update_fields=["email"])
    f.give_roles(org.carol_user, Role.HR_ADMIN)
    return cast(User, org.carol_user)


@pytest.fixture
def managed(org: Org) -> Colleague:
    """Alice, managed by Bob (Slack U2)."""
    org.alice.manager = org.bob
    org.alice.save(update_fields=["manager"])
    return org.alice


def sent() -> list[tuple[str, str]]:
    """(recipient, subject) of every mail sent, sorted."""
    return sorted((to, str(m.subject)) for m in mail.outbox for to in m.to)


def assert_no_content() -> None:
    for message in mail.outbox:
        text = f"{message.subject}\n{message.body}".lower()
        assert not [word for word in CAPTURED if word in text], text


# A case opened.


def test_opening_a_case_emails_the_hr_admins_and_the_manager(
    org: Org, hr: User, managed: Colleague, django_capture_on_commit_callbacks: Any
) -> None:
    f.make_user("hr-nomail", roles=(Role.HR_ADMIN,))
    f.make_user("hr-gone", roles=(Role.HR_ADMIN,), email="gone@acme.test", is_active=False)
    f.make_user("staff", roles=(Role.EMPLOYEE,), email="staff@acme.test")

    with django_capture_on_commit_callbacks(execute=True):
        case = open_case(
            managed, last_day=LAST_DAY, account_removal_on=date(2027, 1, 15), via="ui", actor=None
        )

    subject = "Offboarding opened: Alice Archer"
    assert sent() == [("bob@acme.test", subject), ("carol.hr@acme.test", subject)]
    body = mail.outbox[0].body
    assert "last day 2026-12-18, accounts removed on 2027-01-15" in body
    assert "First step: Connect and scope the sources, due 2026-12-04." in body
    assert f"http://127.0.0.1:8000/offboarding/cases/{case.pk}/" in body
    assert mail.outbox[0].from_email == django_settings.DEFAULT_FROM_EMAIL
    assert_no_content()


def test_nothing_is_sent_for_a_case_that_was_rolled_back(
    org: Org, hr: User, managed: Colleague, django_capture_on_commit_callbacks: Any
) -> None:
    def open_then_fail() -> None:
        with transaction.atomic():
            open_case(managed, last_day=LAST_DAY, via="ui", actor=None)
            raise RuntimeError("the request failed later")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        open_then_fail()

    assert mail.outbox == []
    assert not OffboardingCase.objects.exists()


def test_a_manager_without_an_address_is_mailed_at_their_login(
    org: Org, managed: Colleague, django_capture_on_commit_callbacks: Any
) -> None:
    org.bob.email = ""
    org.bob.save(update_fields=["email"])
    org.bob_user.email = "bob.login@acme.test"
    org.bob_user.save(update_fields=["email"])

    with django_capture_on_commit_callbacks(execute=True):
        open_case(managed, last_day=LAST_DAY, via="ui", actor=None)

    assert [to for to, _ in sent()] == ["bob.login@acme.test"]


def test_the_manager_and_hr_admins_get_a_slack_dm_too(
    org: Org,
    hr: User,
    managed: Colleague,
    slack: SlackWithChat,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        open_case(managed, last_day=LAST_DAY, via="webhook", actor=None)

    posts = slack.calls_of("chat.postMessage")
    assert sorted(p["channel"] for p in posts) == ["U2", "U3"]
    assert all(p["text"].startswith("*Offboarding opened: Alice Archer*") for p in posts)
    assert all("Opened by the HR system" in p["text"] for p in posts)
    assert not [w for p in posts for w in CAPTURED if w in p["text"].lower()]
    assert len(mail.outbox) == 2


def test_a_slack_refusal_or_outage_does_not_stop_the_mail(
    org: Org,
    hr: User,
    managed: Colleague,
    slack: SlackWithChat,
    settings: Settings,
    django_capture_on_commit_callbacks: Any,
) -> None:
    slack.fail("chat.postMessage", "channel_not_found")
    with django_capture_on_commit_callbacks(execute=True):
        case = open_case(managed, last_day=LAST_DAY, via="ui", actor=None)
    transition(case, OffboardingCase.State.ARCHIVED, actor=None)
    settings.SLACK_API_URL = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens
    with django_capture_on_commit_callbacks(execute=True):
        open_case(managed, last_day=LAST_DAY, via="ui", actor=None)

    assert len(slack.calls_of("chat.postMessage")) == 2  # the refused ones
    assert len(mail.outbox) == 4


# A package published.


def test_publishing_tells_the_manager_and_each_successor_how_many_areas(
    org: Org, managed: Colleague, slack: SlackWithChat, django_capture_on_commit_callbacks: Any
) -> None:
    org.alice.manager = org.carol
    org.alice.save(update_fields=["manager"])
    case = open_case(org.alice, last_day=LAST_DAY, via="ui", actor=None)
    set_successor(case, area="Billing keys", successor=org.bob, actor=None)
    set_successor(case, area="Vault runbook", successor=org.bob, actor=None)
    set_successor(case, area="Terraform", successor=None, actor=None)

    with django_capture_on_commit_callbacks(execute=True):
        notify_published(case)

    subject = "Knowledge package published: Alice Archer"
    assert sent() == [("bob@acme.test", subject), ("carol@acme.test", subject)]
    bob_mail = next(m for m in mail.outbox if m.to == ["bob@acme.test"])
    assert "You were named successor for 2 areas in the handover map." in bob_mail.body
    assert "their manager and department" in str(mail.outbox[0].body) + str(mail.outbox[1].body)
    assert sorted(p["channel"] for p in slack.calls_of("chat.postMessage")) == ["U2", "U3"]
    assert_no_content()


# Overdue steps.


@pytest.fixture
def overdue_case(org: Org, managed: Colleague, hr: User) -> OffboardingCase:
    """A case whose HR steps before the 13th are done: "Name successors" (the manager's, due
    2026-12-13) is the first open step."""
    case = open_case(managed, last_day=LAST_DAY, via="ui", actor=None)
    complete_step(case, "connect_sources", actor=hr)
    complete_step(case, "exit_interview", actor=hr)
    return case


def remind_at(moment: datetime, capture: Any) -> int:
    mail.outbox.clear()
    with time_machine.travel(moment, tick=False), capture(execute=True):
        return remind_overdue()


def test_an_overdue_step_reminds_its_owner_then_escalates_to_hr_on_the_second_day(
    overdue_case: OffboardingCase, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    subject = "Overdue offboarding step: Name successors per area and system (Alice Archer)"
    item = overdue_case.checklist.get(step="successors")

    assert remind_at(datetime(2026, 12, 13, 23, 0, tzinfo=UTC), capture) == 0  # due today

    assert remind_at(datetime(2026, 12, 14, 8, 0, tzinfo=UTC), capture) == 1
    assert sent() == [("bob@acme.test", subject)]
    assert "was due on 2026-12-13 (1 day ago)" in mail.outbox[0].body
    assert "HR has been told" not in mail.outbox[0].body
    item.refresh_from_db()
    assert (item.reminders, item.reminded_at) == (1, datetime(2026, 12, 14, 8, 0, tzinfo=UTC))

    assert remind_at(datetime(2026, 12, 14, 20, 0, tzinfo=UTC), capture) == 0  # once a day
    assert mail.outbox == []

    assert remind_at(datetime(2026, 12, 15, 8, 0, tzinfo=UTC), capture) == 1
    assert sent() == [("bob@acme.test", subject), ("carol.hr@acme.test", subject)]
    assert "Reminder 2: HR has been told as well." in mail.outbox[0].body
    item.refresh_from_db()
    assert item.reminders == 2
    assert_no_content()


def test_hr_steps_remind_the_hr_admins_and_person_steps_the_person(
    overdue_case: OffboardingCase, django_capture_on_commit_callbacks: Any
) -> None:
    ChecklistItem.objects.filter(case=overdue_case, step="successors").update(
        responsible=Responsible.PERSON
    )

    # On the 16th: "Name successors" (now the person's) and "Capture" (HR's, due the 15th).
    assert (
        remind_at(datetime(2026, 12, 16, 8, 0, tzinfo=UTC), django_capture_on_commit_callbacks) == 2
    )

    assert sent() == [
        (
            "alice@acme.test",
            "Overdue offboarding step: Name successors per area and system (Alice Archer)",
        ),
        (
            "carol.hr@acme.test",
            "Overdue offboarding step: Capture this person's data (Alice Archer)",
        ),
    ]


def test_done_steps_and_closed_cases_are_not_reminded(
    overdue_case: OffboardingCase, hr: User, django_capture_on_commit_callbacks: Any
) -> None:
    complete_step(overdue_case, "successors", actor=hr)
    assert (
        remind_at(datetime(2026, 12, 14, 8, 0, tzinfo=UTC), django_capture_on_commit_callbacks) == 0
    )

    transition(overdue_case, OffboardingCase.State.ARCHIVED, actor=hr)
    assert (
        remind_at(datetime(2027, 3, 1, 8, 0, tzinfo=UTC), django_capture_on_commit_callbacks) == 0
    )
    assert mail.outbox == []


def test_the_daily_task_reminds_and_is_on_the_beat_schedule(
    overdue_case: OffboardingCase, django_capture_on_commit_callbacks: Any
) -> None:
    moment = datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
    with (
        time_machine.travel(moment, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert remind_overdue_steps.delay().get() == 1
    assert [to for to, _ in sent()] == ["bob@acme.test"]
    entry = django_settings.CELERY_BEAT_SCHEDULE["remind-overdue-offboarding-steps"]
    assert (entry["task"], entry["schedule"]) == (remind_overdue_steps.name, 86_400)
