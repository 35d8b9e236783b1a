"""Offboarding notices by email and, when SLACK_BOT_TOKEN is set, by Slack direct message.

Who hears what:
- a case opened: the HR admins (active users of the "HR admin" role with an address) and the
  person's manager;
- a package published: the manager and the successors named in the handover map;
- a checklist step overdue: whoever is responsible for it (the person, their manager, or HR),
  at most once a day, and from the second reminder on the HR admins as well.

Notices name the person, the step and its dates, and link to the case; they never carry
anything captured from the person's sources, nor the areas of the handover map. They go out
once the surrounding transaction commits (at once outside one), and a failure to deliver is
logged, never raised into the action that sent it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import partial, wraps

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Count, F, Prefetch, Q
from django.utils import timezone, translation
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from colleagues.models import Colleague, Identity
from colleagues.roles import Role
from offboarding.cases import overdue_items
from offboarding.models import ChecklistItem, OffboardingCase, Responsible

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipient:
    """Where one person is told: an address, a Slack user id, or both."""

    email: str
    slack_user: str = ""


@dataclass(frozen=True)
class Notice:
    subject: str
    text: str
    recipients: tuple[Recipient, ...]


# Recipients.


def _slack_identities(lookup: str = "identities") -> Prefetch:
    """Prefetch the Slack identities at `lookup` into `slack_identities`."""
    return Prefetch(
        lookup,
        queryset=Identity.objects.filter(kind=Identity.Kind.SLACK, is_bot=False).order_by("value"),
        to_attr="slack_identities",
    )


def _slack_user(colleague: Colleague) -> str:
    """The Slack user id of `colleague` ("<workspace>/<user id>" identities), or ""."""
    identities = getattr(colleague, "slack_identities", None)
    if identities is None:
        identities = colleague.identities.filter(kind=Identity.Kind.SLACK, is_bot=False).order_by(
            "value"
        )
    for identity in identities:
        _, _, user_id = identity.value.rpartition("/")
        if user_id:
            return str(user_id)
    return ""


def colleague_recipient(colleague: Colleague | None) -> Recipient | None:
    """The colleague's primary address (else their login's) and Slack id, None if neither."""
    if colleague is None:
        return None
    email = colleague.email or (colleague.user.email if colleague.user is not None else "")
    found = Recipient(email=email, slack_user=_slack_user(colleague))
    return found if found.email or found.slack_user else None


def hr_admins() -> list[Recipient]:
    """Every active HR admin with an address, with their Slack id when they are a colleague."""
    users = (
        User.objects.filter(groups__name=Role.HR_ADMIN.value, is_active=True)
        .exclude(email="")
        .select_related("colleague")
        .prefetch_related(_slack_identities("colleague__identities"))
        .order_by("pk")
        .distinct()
    )
    found = []
    for user in users:
        colleague = getattr(user, "colleague", None)
        found.append(Recipient(user.email, _slack_user(colleague) if colleague else ""))
    return found


def _with_people(cases: Iterable[int]) -> dict[int, OffboardingCase]:
    """The cases of these ids with the person, their manager and logins, and Slack ids."""
    return (
        OffboardingCase.objects.select_related("colleague__user", "colleague__manager__user")
        .prefetch_related(
            _slack_identities("colleague__identities"),
            _slack_identities("colleague__manager__identities"),
        )
        .in_bulk(list(cases))
    )


def _manager(case: OffboardingCase) -> Recipient | None:
    return colleague_recipient(case.colleague.manager if case.colleague else None)


# Delivery.


def _one_line(text: str) -> str:
    """`text` with no line breaks, safe in a subject (names come from outside systems)."""
    return " ".join(text.split())


def _case_url(case: OffboardingCase) -> str:
    return settings.COLLEAGUE_BASE_URL.rstrip("/") + case.get_absolute_url()


def _unique(recipients: Iterable[Recipient | None]) -> tuple[Recipient, ...]:
    seen: set[str] = set()
    found = []
    for recipient in recipients:
        if recipient is None:
            continue
        key = recipient.email.lower() or f"slack:{recipient.slack_user}"
        if key not in seen:
            seen.add(key)
            found.append(recipient)
    return tuple(found)


def send_notices(notices: Sequence[Notice]) -> None:
    """Queue `notices` for when the current transaction commits (now, outside one)."""
    notices = [n for n in notices if n.recipients]
    if notices:
        transaction.on_commit(partial(_deliver, notices), robust=True)


def _deliver(notices: Sequence[Notice]) -> None:
    """Send each notice: one email per address, one Slack message per Slack id."""
    messages = [
        EmailMessage(
            subject=_one_line(notice.subject),
            body=notice.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[recipient.email],
        )
        for notice in notices
        for recipient in notice.recipients
        if recipient.email
    ]
    if messages:
        get_connection().send_messages(messages)
    token = settings.SLACK_BOT_TOKEN
    if not token:
        return
    client = WebClient(token=token, base_url=settings.SLACK_API_URL, timeout=10)
    for notice in notices:
        for recipient in notice.recipients:
            if recipient.slack_user:
                _post_dm(client, recipient.slack_user, f"*{notice.subject}*\n{notice.text}")


def _post_dm(client: WebClient, user_id: str, text: str) -> None:
    """Post `text` to the user's direct messages: chat.postMessage with a user id as the
    channel opens the app's DM with them (https://docs.slack.dev/reference/methods/chat.postMessage)."""
    try:
        client.chat_postMessage(channel=user_id, text=text, unfurl_links=False)
    except SlackApiError as exc:
        logger.warning("Slack refused an offboarding DM to %s: %s", user_id, exc.response["error"])
    except (SlackClientError, OSError) as exc:
        logger.warning("Slack unreachable for an offboarding DM to %s: %s", user_id, type(exc))


# What is said when.


def _in_english(notify: Callable[[OffboardingCase], None]) -> Callable[[OffboardingCase], None]:
    """Write the notice in LANGUAGE_CODE, as the rest of its text, whatever the language of the
    page whose action set it off (a choice label would come out in Chinese)."""

    @wraps(notify)
    def wrapper(case: OffboardingCase) -> None:
        with translation.override(settings.LANGUAGE_CODE):
            notify(case)

    return wrapper


@_in_english
def notify_opened(case: OffboardingCase) -> None:
    """Tell the HR admins and the person's manager that a case was opened (on commit)."""
    case = _with_people([case.pk])[case.pk]
    removal = (
        f", accounts removed on {case.account_removal_on:%Y-%m-%d}"
        if case.account_removal_on
        else ""
    )
    first = case.checklist.filter(done_at__isnull=True).order_by("due_on", "position").first()
    text = (
        f"An offboarding case was opened for {case.subject_label}: last day "
        f"{case.last_day:%Y-%m-%d}{removal}. {case.get_opened_via_display()}.\n"
        + (f"First step: {first.title}, due {first.due_on:%Y-%m-%d}.\n" if first else "")
        + f"\nThe case and its checklist: {_case_url(case)}\n"
    )
    send_notices(
        [
            Notice(
                subject=f"Offboarding opened: {case.subject_label}",
                text=text,
                recipients=_unique([*hr_admins(), _manager(case)]),
            )
        ]
    )


@_in_english
def notify_published(case: OffboardingCase) -> None:
    """Tell the manager and the named successors that the person's package is published (on
    commit); successors learn how many areas they take over, not which."""
    case = _with_people([case.pk])[case.pk]
    subject = f"Knowledge package published: {case.subject_label}"
    url = _case_url(case)
    notices = [
        Notice(
            subject=subject,
            text=(
                f"The knowledge package of {case.subject_label} is published "
                f"({case.get_access_policy_display().lower()}).\n\nThe case: {url}\n"
            ),
            recipients=_unique([_manager(case)]),
        )
    ]
    successors = (
        Colleague.objects.filter(pk__in=case.successors.values("successor"))
        .select_related("user")
        .prefetch_related(_slack_identities())
    )
    counts: dict[int, int] = dict(
        case.successors.filter(successor__isnull=False)
        .order_by()
        .values("successor")
        .annotate(n=Count("pk"))
        .values_list("successor", "n")
    )
    for successor in successors:
        n = counts.get(successor.pk, 0)
        notices.append(
            Notice(
                subject=subject,
                text=(
                    f"The knowledge package of {case.subject_label} is published. You were named "
                    f"successor for {n} area{'s' if n != 1 else ''} in the handover map.\n\n"
                    f"The case: {url}\n"
                ),
                recipients=_unique([colleague_recipient(successor)]),
            )
        )
    send_notices(notices)


def remind_overdue(today: date | None = None) -> int:
    """Remind whoever is responsible for each overdue step (`cases.overdue_items`), at most
    once per step a day; from a step's second reminder on, tell the HR admins too. Count each
    reminder on the step (`reminders`, `reminded_at`); return how many steps were reminded."""
    today = today or timezone.localdate()
    start_of_day = timezone.make_aware(datetime.combine(today, time.min))
    not_today = Q(reminded_at__isnull=True) | Q(reminded_at__lt=start_of_day)
    items = list(overdue_items(today).filter(not_today))
    cases = _with_people({item.case_id for item in items})
    admins: list[Recipient] | None = None
    notices = []
    for item in items:
        # Claimed by a conditional update, so two runs on one day cannot both remind.
        claimed = (
            ChecklistItem.objects.filter(pk=item.pk, reminders=item.reminders)
            .filter(not_today)
            .update(reminders=F("reminders") + 1, reminded_at=timezone.now())
        )
        if not claimed:
            continue
        number = item.reminders + 1
        case = cases[item.case_id]
        responsible: list[Recipient | None]
        if item.responsible == Responsible.PERSON:
            responsible = [colleague_recipient(case.colleague)]
        elif item.responsible == Responsible.MANAGER:
            responsible = [_manager(case)]
        else:
            responsible = []
        escalate = number >= 2 or item.responsible == Responsible.HR or not any(responsible)
        if escalate and admins is None:
            admins = hr_admins()
        extra = admins if escalate and admins is not None else []
        notices.append(_reminder(case, item, today, number, [*responsible, *extra]))
    send_notices(notices)
    return len(notices)


def _reminder(
    case: OffboardingCase,
    item: ChecklistItem,
    today: date,
    number: int,
    recipients: list[Recipient | None],
) -> Notice:
    days = (today - item.due_on).days
    escalated = number >= 2 and item.responsible != Responsible.HR
    text = (
        f'The offboarding step "{item.title}" for {case.subject_label} was due on '
        f"{item.due_on:%Y-%m-%d} ({days} day{'s' if days != 1 else ''} ago) and is not done. "
        f"It is for {item.get_responsible_display().lower()} to do.\n"
        + (f"Reminder {number}: HR has been told as well.\n" if escalated else "")
        + f"\nTick it off on the case: {_case_url(case)}\n"
    )
    return Notice(
        subject=f"Overdue offboarding step: {item.title} ({case.subject_label})",
        text=text,
        recipients=_unique(recipients),
    )
