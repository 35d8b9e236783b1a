"""Builders for test data. Rows that carry behaviour are made through actions."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group

from colleagues.models import Colleague
from colleagues.roles import Role
from connectors.base import (
    Audience,
    PersonRef,
    SourceBatch,
    SourceContainer,
    SourceDocument,
    SourcePerson,
)
from connectors.models import Source
from knowledge.actions import ingest_batch

_counter = itertools.count(1)
BASE_TIME = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
WORKSPACE = "T0TEST"


def make_source(name: str = "", kind: str = "slack-export") -> Source:
    return Source.objects.create(name=name or f"source-{next(_counter)}", kind=kind, config={})


def slack_ref(user_id: str) -> PersonRef:
    return PersonRef("slack", f"{WORKSPACE}/{user_id}")


def email_ref(address: str) -> PersonRef:
    return PersonRef("email", address.lower())


def slack_person(user_id: str, name: str, email: str = "", **extra: object) -> SourcePerson:
    return SourcePerson(
        ref=slack_ref(user_id),
        display_name=name,
        real_name=name,
        email=email,
        **extra,  # type: ignore[arg-type]
    )


def channel(
    channel_id: str, name: str, *, private: bool = False, members: tuple[str, ...] = ()
) -> SourceContainer:
    return SourceContainer(
        external_id=channel_id,
        name=name,
        kind="private_channel" if private else "channel",
        is_private=private,
        members=tuple(slack_ref(m) for m in members),
    )


def message(
    channel_id: str,
    author: str,
    body: str,
    *,
    private: bool = False,
    minutes: int | None = None,
    thread: str | None = None,
) -> SourceDocument:
    n = next(_counter) if minutes is None else minutes
    at = BASE_TIME + timedelta(minutes=n)
    return SourceDocument(
        external_id=f"{channel_id}/{at.timestamp():.6f}",
        kind="message",
        title=f"#{channel_id}",
        body=body,
        author=slack_ref(author),
        created_at=at,
        updated_at=at,
        audience=Audience(containers=(channel_id,)) if private else Audience(public=True),
        container_id=channel_id,
        thread_id=thread,
    )


def email(
    sender: str, recipients: tuple[str, ...], subject: str, body: str, *, message_id: str = ""
) -> SourceDocument:
    at = BASE_TIME + timedelta(hours=next(_counter))
    return SourceDocument(
        external_id=message_id or f"msg-{next(_counter)}@test",
        kind="email",
        title=subject,
        body=body,
        author=email_ref(sender),
        created_at=at,
        updated_at=at,
        audience=Audience(people=tuple(email_ref(a) for a in (sender, *recipients))),
        container_id="INBOX",
    )


def batch(
    *documents: SourceDocument,
    people: tuple[SourcePerson, ...] = (),
    containers: tuple[SourceContainer, ...] = (),
    cursor: str = "",
) -> SourceBatch:
    mailbox = SourceContainer("INBOX", "INBOX", "mailbox", True)
    needs_mailbox = any(d.container_id == "INBOX" for d in documents)
    return SourceBatch(
        cursor=cursor or f"cursor-{next(_counter)}",
        documents=documents,
        people=people,
        containers=(*containers, *((mailbox,) if needs_mailbox else ())),
    )


def make_user(
    username: str,
    *,
    colleague: Colleague | None = None,
    roles: tuple[Role, ...] = (),
    **extra: object,
) -> AbstractUser:
    """A login user with a password, linked to `colleague`, holding `roles`."""
    user = get_user_model().objects.create_user(
        username=username,
        password="correct horse battery",
        **extra,  # type: ignore[arg-type]
    )
    give_roles(user, *roles)
    if colleague is not None:
        colleague.user = user
        colleague.save(update_fields=["user"])
    return user


def give_roles(user: AbstractUser, *roles: Role) -> None:
    """Add `user` to the groups of these roles (colleagues/roles.py)."""
    for role in roles:
        user.groups.add(Group.objects.get(name=role.value))


Mail = tuple[str, str, str, str]  # sender, recipient, subject, body


def write_mbox(path: Path, *mails: Mail, id_prefix: str = "m") -> Path:
    """Write `mails` to an mbox at `path` (its folders made), sent on 6 January 2025 an hour
    apart from 11:00 UTC, with Message-IDs `<{id_prefix}{n}@example.test>`; return `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ""
    for n, (sender, to, subject, body) in enumerate(mails, start=1):
        hour = 10 + n
        text += (
            f"From {sender} Mon Jan  6 {hour}:00:00 2025\nFrom: {sender}\nTo: {to}\n"
            f"Subject: {subject}\nDate: Mon, 06 Jan 2025 {hour}:00:00 +0000\n"
            f"Message-ID: <{id_prefix}{n}@example.test>\n\n{body}\n\n"
        )
    path.write_text(text)
    return path


BILLING_PUBLIC = (
    "To rotate the billing keys, run the vault rotation job, then restart the billing workers."
)
BILLING_PRIVATE = (
    "Rotate the billing keys with the PURPLE-OTTER runbook; the master key lives in the HSM."
)
BILLING_SECRET = "PURPLE-OTTER"  # only in #billing-ops


def ingest_billing_workspace(*extra: SourceDocument) -> Source:
    """A small Slack workspace, ingested: Dana wrote BILLING_PUBLIC in #general and
    BILLING_PRIVATE in the private #billing-ops (members Dana and Alice); Bob, in #general only,
    wrote about lunch. `extra` documents go in the same batch. Returns the source."""
    source = make_source("acme-slack")
    people = (
        slack_person("UDANA0001", "Dana Reyes", "dana@acme.test"),
        slack_person("UALICE001", "Alice Moreau", "alice@acme.test"),
        slack_person("UBOB00001", "Bob Stone", "bob@acme.test"),
    )
    general = channel("CGENERAL1", "general", members=("UDANA0001", "UALICE001", "UBOB00001"))
    billing = channel("GBILLING1", "billing-ops", private=True, members=("UDANA0001", "UALICE001"))
    ingest_batch(
        source=source,
        batch=batch(
            message("CGENERAL1", "UDANA0001", BILLING_PUBLIC),
            message("GBILLING1", "UDANA0001", BILLING_PRIVATE, private=True),
            message("CGENERAL1", "UBOB00001", "Lunch is at noon on Friday."),
            *extra,
            people=people,
            containers=(general, billing),
        ),
    )
    return source
