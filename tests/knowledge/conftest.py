"""A small organisation, stored through the real ingest action."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AbstractUser

from colleagues.models import Colleague
from colleagues.selectors import colleague_by_email
from connectors.models import Source
from knowledge.actions import ingest_batch
from tests import factories as f


@dataclass
class Org:
    source: Source
    mail: Source
    alice: Colleague
    bob: Colleague
    carol: Colleague
    alice_user: AbstractUser
    bob_user: AbstractUser
    carol_user: AbstractUser
    outsider_user: AbstractUser


PEOPLE = (
    f.slack_person("U1", "Alice Archer", "alice@acme.test", title="Billing lead"),
    f.slack_person("U2", "Bob Baker", "bob@acme.test"),
    f.slack_person("U3", "Carol Chen", "carol@acme.test"),
)
CHANNELS = (
    f.channel("CGEN", "general", members=("U1", "U2", "U3")),
    f.channel("GSEC", "payments-incidents", private=True, members=("U1", "U2")),
)


@pytest.fixture
def org(db) -> Org:  # type: ignore[no-untyped-def]
    source = f.make_source("acme-slack")
    ingest_batch(
        source=source,
        batch=f.batch(
            f.message(
                "CGEN", "U1", "We rotate the billing keys every quarter with the vault runbook."
            ),
            f.message("CGEN", "U2", "Deploys go through the terraform pipeline, never by hand."),
            f.message("CGEN", "U3", "Forecast numbers for the quarter are in the finance sheet."),
            f.message(
                "GSEC",
                "U1",
                "Postmortem draft: the zebracorn outage leaked card tokens.",
                private=True,
            ),
            people=PEOPLE,
            containers=CHANNELS,
        ),
    )
    mail = f.make_source("acme-mail", kind="email")
    ingest_batch(
        source=mail,
        batch=f.batch(
            f.email(
                "carol@acme.test",
                ("alice@acme.test",),
                "Budget",
                "Alice, the narwhal budget is approved for the billing migration.",
            ),
        ),
    )
    alice = colleague_by_email("alice@acme.test")
    bob = colleague_by_email("bob@acme.test")
    carol = colleague_by_email("carol@acme.test")
    assert alice is not None
    assert bob is not None
    assert carol is not None
    return Org(
        source=source,
        mail=mail,
        alice=alice,
        bob=bob,
        carol=carol,
        alice_user=f.make_user("alice", colleague=alice),
        bob_user=f.make_user("bob", colleague=bob),
        carol_user=f.make_user("carol", colleague=carol),
        outsider_user=f.make_user("outsider"),
    )
