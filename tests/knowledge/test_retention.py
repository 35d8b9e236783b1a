"""Retention policies, legal holds and the purge (issue 8; SECURITY.md row 11).

The small organisation of tests/knowledge/conftest.py: four Slack messages of 1 March 2025 in
#general (Alice, Bob, Carol) and #payments-incidents (Alice's zebracorn postmortem), and one
mail from Carol. The clock is moved with time-machine.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client

from answers.conversations import ask_in_conversation
from answers.models import Turn
from colleagues.models import Colleague
from colleagues.roles import Role
from connectors.actions import SourceHeld, delete_source, prune_source
from connectors.models import Source
from knowledge.index import get_index, records_for
from knowledge.models import AuditEvent, Chunk, Container, Item, LegalHold, RetentionPolicy
from knowledge.redaction import REDACTED_ANSWER, RedactionBlocked, redact_item
from knowledge.retention.holds import place_hold, release_hold
from knowledge.retention.policies import create_policy, expiry_of
from knowledge.retention.purge import PurgeBatch, purge_expired, verify_retention
from skills.actions import build_package
from skills.models import SkillVersion
from skills.selectors import evidence_ids
from tests import factories as f
from tests.connectors.test_source_operations import write_mail
from tests.knowledge.conftest import Org
from tests.knowledge.index.test_pgvector_backend import pgvector_url  # noqa: F401

pytestmark = pytest.mark.django_db

JUNE_2025 = datetime(2025, 6, 1, 12, tzinfo=UTC)
Scope = RetentionPolicy.Scope


def item(words: str) -> Item:
    return Item.objects.get(body__contains=words)


def bodies() -> set[str]:
    return {body.split()[0] for body in Item.objects.values_list("body", flat=True)}


def slack_for(org: Org, days: int, name: str = "Slack") -> RetentionPolicy:
    return create_policy(
        name=name, scope=Scope.SOURCE_KIND, source_kind=org.source.kind, keep_days=days, actor=None
    )


def blocked_events(operation: str) -> list[dict[str, Any]]:
    return [
        e.detail
        for e in AuditEvent.objects.filter(action="blocked_by_hold").order_by("id")
        if e.detail["operation"] == operation
    ]


# --- what an item inherits: the longest retention wins ----------------------------------------


def test_the_longest_retention_wins_over_overlapping_policies(org: Org) -> None:
    general = Container.objects.get(name="general")
    slack_for(org, 30, "Slack 30 days")
    create_policy(
        name="General 400 days", scope=Scope.CONTAINER, container=general, keep_days=400, actor=None
    )
    deploys, postmortem = item("terraform pipeline"), item("zebracorn")
    with time_machine.travel(JUNE_2025, tick=False):
        kept = expiry_of(deploys)
        gone = expiry_of(postmortem)
        mail = expiry_of(item("narwhal"))
        purge_expired()

    # The factory dates messages by a counter shared with earlier tests: from the items' dates.
    assert kept.policy is not None
    assert kept.policy.name == "General 400 days"
    assert kept.explanation.startswith(
        f"Expires on {deploys.created_at + timedelta(days=400):%Y-%m-%d}"
    )
    assert "because of policy 'General 400 days'" in kept.explanation
    assert "the longest of 2 policies" in kept.explanation
    assert gone.expired
    assert gone.explanation.startswith(
        f"Expired on {postmortem.created_at + timedelta(days=30):%Y-%m-%d}"
    )
    assert mail.expires_at is None
    assert mail.explanation == "Kept: no retention policy applies."
    # Only the private channel's postmortem had expired under every policy applying to it.
    assert not Item.objects.filter(body__contains="zebracorn").exists()
    assert Item.objects.count() == 4


def test_an_inactive_policy_deletes_nothing(org: Org) -> None:
    from knowledge.retention.policies import change_policy

    policy = slack_for(org, 1)
    change_policy(policy, actor=None, is_active=False)
    with time_machine.travel(JUNE_2025, tick=False):
        assert purge_expired().items_deleted == 0
    assert Item.objects.count() == 5
    assert AuditEvent.objects.filter(action="retention_policy_changed").count() == 1


def test_a_departure_policy_counts_from_the_day_the_author_left(org: Org) -> None:
    Colleague.objects.filter(pk=org.bob.pk).update(
        status=Colleague.Status.DEPARTED, departed_on=date(2025, 5, 1)
    )
    create_policy(name="Leavers 90 days", scope=Scope.DEPARTURE, keep_days=90, actor=None)
    deploys = item("terraform pipeline")
    with time_machine.travel(JUNE_2025, tick=False):
        assert expiry_of(deploys).explanation.startswith("Expires on 2025-07-30")
        assert expiry_of(item("billing keys")).expires_at is None  # Alice has not left
    with time_machine.travel(datetime(2025, 7, 29, 23, 59, tzinfo=UTC), tick=False):
        assert purge_expired().items_deleted == 0
    with time_machine.travel(datetime(2025, 7, 30, 0, 0, tzinfo=UTC), tick=False):
        assert purge_expired().items_deleted == 1
    assert not Item.objects.filter(pk=deploys.pk).exists()


# --- holds beat every deletion ------------------------------------------------------------------


def test_a_hold_beats_retention_and_its_release_lets_the_next_purge_delete(org: Org) -> None:
    slack_for(org, 30)
    owner = f.make_user("legal")
    hold = place_hold(
        name="Acme v. Zebracorn", reason="litigation", owner=owner, colleague=org.alice
    )
    with time_machine.travel(JUNE_2025, tick=False):
        assert "Not deleted while held by legal hold" in expiry_of(item("zebracorn")).explanation
        report = purge_expired()
        assert verify_retention().ok  # held items are not "expired unheld"

    # Alice's two messages stay; Bob's and Carol's went; the mail has no policy.
    assert report.items_deleted == 2
    assert bodies() == {"We", "Postmortem", "Alice,"}
    assert report.held == {hold.pk: 2}
    [blocked] = blocked_events("retention_purge")
    assert blocked["holds"] == {str(hold.pk): 2}
    assert blocked["items"] == 2

    release_hold(hold, actor=owner)
    with time_machine.travel(JUNE_2025, tick=False):
        assert purge_expired().items_deleted == 2
        assert verify_retention().ok
    assert bodies() == {"Alice,"}
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"legal_hold_placed", "legal_hold_released", "retention_purged"} <= actions


def test_a_hold_on_a_date_range_covers_only_those_days(org: Org) -> None:
    # The factory dates mail by a counter shared with earlier tests: read the day it got.
    day = item("narwhal").created_at.date()
    hold = place_hold(
        name="That day's mail",
        reason="audit",
        owner=None,
        source=org.mail,
        created_from=day,
        created_until=day,
    )
    slack_for(org, 30)
    create_policy(name="Mail", scope=Scope.SOURCE, source=org.mail, keep_days=1, actor=None)
    with time_machine.travel(JUNE_2025, tick=False):
        report = purge_expired()
    assert report.held == {hold.pk: 1}
    assert bodies() == {"Alice,"}


def test_a_hold_beats_redaction(org: Org) -> None:
    hold = place_hold(name="Incident review", reason="regulator", owner=None, colleague=org.alice)
    postmortem = item("zebracorn")
    with pytest.raises(RedactionBlocked, match=f"legal hold #{hold.pk}"):
        redact_item(postmortem, actor=None, reason="asked by Alice")
    assert Item.objects.filter(pk=postmortem.pk).exists()
    assert Chunk.objects.filter(item=postmortem).exists()
    assert blocked_events("redaction") == [
        {"operation": "redaction", "holds": {str(hold.pk): 1}, "items": 1}
    ]
    release_hold(hold, actor=None)
    assert redact_item(postmortem, actor=None, reason="asked by Alice") is not None


def test_a_hold_beats_source_deletion(org: Org) -> None:
    private = Container.objects.get(name="payments-incidents")
    hold = place_hold(name="Card tokens", reason="breach inquiry", owner=None, container=private)
    with pytest.raises(SourceHeld, match="deleted its 3 unheld items, kept 1 held"):
        delete_source(source=org.source)
    source = Source.objects.get(pk=org.source.pk)
    assert source.status == Source.Status.PAUSED
    assert list(Item.objects.filter(source=source).values_list("body", flat=True)) == [
        "Postmortem draft: the zebracorn outage leaked card tokens."
    ]
    assert blocked_events("source_deletion") == [
        {"operation": "source_deletion", "holds": {str(hold.pk): 1}, "items": 1}
    ]
    release_hold(hold, actor=None)
    delete_source(source=source)
    assert not Source.objects.filter(pk=org.source.pk).exists()


def test_a_hold_beats_prune(tmp_path: Path) -> None:
    mail = write_mail(tmp_path / "mail", ["Kernel patching", "Node drains", "Billing keys"])
    call_command("ingest", str(mail), "--json", stdout=StringIO())
    source = Source.objects.get()
    hold = place_hold(name="Ops mail", reason="dispute", owner=None, source=source)
    (mail / "1.eml").unlink()
    pruned = prune_source(source=source)
    assert (pruned.deleted, pruned.held) == (0, 1)
    assert Item.objects.count() == 3
    assert blocked_events("prune") == [
        {"operation": "prune", "holds": {str(hold.pk): 1}, "items": 1}
    ]
    release_hold(hold, actor=None)
    assert prune_source(source=source).deleted == 1
    assert set(Item.objects.values_list("title", flat=True)) == {"Kernel patching", "Billing keys"}


# --- the purge: per batch, resumable, derived data follows -------------------------------------


def test_a_hold_placed_between_two_batches_stops_deletion_of_what_it_covers(org: Org) -> None:
    slack_for(org, 30)
    placed: list[LegalHold] = []

    def after(batch: PurgeBatch) -> None:
        if batch.number == 1:
            placed.append(
                place_hold(name="Late", reason="subpoena", owner=None, colleague=org.alice)
            )

    with time_machine.travel(JUNE_2025, tick=False):
        report = purge_expired(batch_size=1, on_batch=after)
        assert verify_retention().ok
    # The first batch took Alice's billing message (the oldest id); the hold kept her other.
    assert report.items_deleted == 3
    assert bodies() == {"Postmortem", "Alice,"}
    assert report.held == {placed[0].pk: 1}


class Killed(Exception):
    """Stands for the worker dying after a batch has committed."""


def test_a_purge_killed_after_one_batch_converges_when_run_again(org: Org) -> None:
    slack_for(org, 30)

    def die(batch: PurgeBatch) -> None:
        raise Killed

    with time_machine.travel(JUNE_2025, tick=False):
        with pytest.raises(Killed):
            purge_expired(batch_size=2, on_batch=die)
        assert Item.objects.count() == 3
        assert len(verify_retention().expired_unheld) == 2
        assert purge_expired(batch_size=2).items_deleted == 2
        again = verify_retention()
        assert purge_expired(batch_size=2).items_deleted == 0
    assert again.ok
    assert again.expired_unheld == []
    assert again.index_orphans == []
    assert bodies() == {"Alice,"}
    assert not Chunk.objects.filter(item__source=org.source).exists()
    assert set(get_index().indexed_ids()) <= set(Chunk.objects.values_list("pk", flat=True))


def test_purged_items_leave_packages_and_conversations(
    org: Org, django_capture_on_commit_callbacks: Any
) -> None:
    build_package(org.alice)
    turn = ask_in_conversation(
        user=org.bob_user, colleague=org.alice, question="How do we rotate the billing keys?"
    )
    billing = item("billing keys")
    cited = {c["item_id"] for c in turn.citations}
    assert billing.pk in cited
    first = org.alice.skill_package.versions.get()
    assert billing.pk in evidence_ids(first.analysis)

    slack_for(org, 30)
    with (
        time_machine.travel(JUNE_2025, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        report = purge_expired()
    assert report.items_deleted == 4

    # The version citing the items is gone, the package rebuilt without them.
    versions = list(SkillVersion.objects.filter(package__colleague=org.alice))
    assert [v.number for v in versions] == [2]
    assert not evidence_ids(versions[0].analysis) & {billing.pk}
    assert "billing keys every quarter" not in json.dumps(versions[0].files)
    # The conversation keeps its question; the answer and the citation's excerpt are gone.
    turn = Turn.objects.get(pk=turn.pk)
    assert turn.question == "How do we rotate the billing keys?"
    assert turn.answer == REDACTED_ANSWER
    blanked = [c for c in turn.citations if c["item_id"] == billing.pk]
    assert blanked
    assert blanked[0]["excerpt"] == ""


# --- the command ---------------------------------------------------------------------------------


def run(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("retention", *args, "--json", stdout=out)
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def test_the_retention_command_explains_purges_and_verifies(org: Org) -> None:
    slack_for(org, 30, "Slack 30 days")
    postmortem = item("zebracorn")
    with time_machine.travel(JUNE_2025, tick=False):
        explained = run("explain", str(postmortem.pk))
        assert explained["policy_name"] == "Slack 30 days"
        assert explained["will_be_deleted"] is True
        with pytest.raises(CommandError, match="4 expired unheld items"):
            call_command("retention", "verify", stdout=StringIO())
        dry = run("purge", "--dry-run")
        assert (dry["would_delete"], dry["items_deleted"]) == (4, 0)
        assert Item.objects.count() == 5
        done = run("purge", "--batch-size", "3")
        assert (done["items_deleted"], done["batches"]) == (4, 2)
        verified = run("verify")
    assert verified["ok"] is True
    assert (verified["expired_unheld"], verified["index_orphans"]) == (0, 0)


# --- the page ---------------------------------------------------------------------------------


def test_hr_places_and_releases_a_hold_on_the_retention_page(org: Org) -> None:
    hr = f.make_user("hr", roles=(Role.HR_ADMIN,))
    client = Client()
    client.force_login(hr)
    page = client.get("/knowledge/retention/")
    assert page.status_code == 200
    response = client.post(
        "/knowledge/retention/holds/",
        {"name": "Acme v. Zebracorn", "reason": "litigation", "colleague": org.alice.pk},
    )
    assert response.status_code == 302
    hold = LegalHold.objects.get()
    assert hold.owner == hr
    assert hold.colleague == org.alice
    assert hold.is_active
    assert "Acme v. Zebracorn" in client.get("/knowledge/retention/").content.decode()
    response = client.post(
        "/knowledge/retention/policies/",
        {
            "name": "Slack 2 years",
            "scope": "source_kind",
            "source_kind": "slack-export",
            "keep_days": 730,
        },
    )
    assert response.status_code == 302
    assert RetentionPolicy.objects.get().keep_days == 730
    client.post(f"/knowledge/retention/holds/{hold.pk}/release/")
    hold.refresh_from_db()
    assert hold.released_at is not None
    assert hold.released_by == hr

    employee = Client()
    employee.force_login(org.carol_user)
    assert employee.get("/knowledge/retention/").status_code == 403
    assert employee.post(f"/knowledge/retention/holds/{hold.pk}/release/").status_code == 403


def test_the_item_page_says_when_the_item_expires(org: Org) -> None:
    slack_for(org, 730, "Slack 2 years")
    client = Client()
    client.force_login(org.carol_user)
    deploys = item("terraform pipeline")
    # The factory dates messages by a counter shared with earlier tests: 1 March 2025 or after.
    expires = (deploys.created_at + timedelta(days=730)).date()
    assert expires >= date(2027, 3, 1)
    with time_machine.travel(JUNE_2025, tick=False):
        page = client.get(f"/knowledge/items/{deploys.pk}/").content.decode()
    assert f"Expires on {expires:%Y-%m-%d} because of policy &#x27;Slack 2 years&#x27;" in page


@pytest.mark.pgvector
def test_verify_scans_a_pgvector_index_and_finds_nothing_after_a_purge(
    org: Org,
    settings: Any,
    request: pytest.FixtureRequest,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.PGVECTOR_URL = request.getfixturevalue("pgvector_url")
    settings.COLLEAGUE_INDEX_BACKEND = "pgvector"
    index = get_index()
    assert index.name == "pgvector"
    chunk_ids = sorted(Chunk.objects.values_list("pk", flat=True))
    index.upsert(records_for(chunk_ids))
    slack_for(org, 30)
    # An entry whose chunk is gone (a delete the index never heard of) is an orphan.
    orphan = Chunk.objects.get(item__body__contains="narwhal").pk
    Chunk.objects.filter(pk=orphan).delete()
    with time_machine.travel(JUNE_2025, tick=False):
        before = verify_retention()
        assert (len(before.expired_unheld), before.index_orphans) == (4, [orphan])
        with django_capture_on_commit_callbacks(execute=True):
            purge_expired(batch_size=3)
        index.delete([orphan])
        after = verify_retention()
    assert after.ok
    assert after.backend == "pgvector"
    assert set(index.indexed_ids()) == set(Chunk.objects.values_list("pk", flat=True))
