"""Erasure requests: a person forgotten on request, holds honoured, a certificate kept (issue 8).

The small organisation of tests/knowledge/conftest.py, plus messages by others that name Alice
(by Slack mention, by full name, by address) and one that does not. Alice has left.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from answers.conversations import ask_in_conversation
from answers.models import Conversation
from colleagues.grants import grant_access
from colleagues.models import AccessGrant, Colleague, Identity
from colleagues.roles import Role
from knowledge import audit
from knowledge.actions import ingest_batch
from knowledge.erasure import (
    ErasureRefused,
    Identifiers,
    approve_erasure,
    certificate_lines,
    reject_erasure,
    request_erasure,
    resume_held_erasures,
    run_erasure,
)
from knowledge.index import get_index, records_for
from knowledge.models import AuditEvent, Chunk, ErasedIdentity, ErasureRequest, Item
from knowledge.retention.holds import place_hold, release_hold
from knowledge.retention.purge import PurgeBatch, verify_retention
from knowledge.tombstones import without_erased
from offboarding.cases import open_case
from skills.actions import build_package
from skills.models import SkillPackage
from tests import factories as f
from tests.knowledge.conftest import PEOPLE, Org
from tests.knowledge.index.test_pgvector_backend import pgvector_url  # noqa: F401
from tests.knowledge.test_audit_reports import assert_pages, rows_of

pytestmark = pytest.mark.django_db

NAMING = (
    ("U2", "Ask <@U1> about the vault runbook before you rotate anything."),
    ("U3", "Alice  Archer owns the ledger reconciliation."),
)
# Sent to her: the mail connector lists recipients in the metadata.
TO_HER = replace(
    f.email("carol@acme.test", ("alice@acme.test",), "Forecast", "The narwhal forecast, as asked."),
    metadata={"to": ["Alice@acme.test"], "cc": []},
)
UNRELATED = ("U2", "The zeppelin cache warms up after every deploy.")


@pytest.fixture
def left(org: Org) -> Org:
    """Alice has left; others wrote about her; her package and Bob's are built."""
    ingest_batch(
        source=org.source,
        batch=f.batch(
            *(f.message("CGEN", author, text) for author, text in (*NAMING, UNRELATED)),
            people=PEOPLE,
        ),
    )
    ingest_batch(source=org.mail, batch=f.batch(TO_HER))
    Colleague.objects.filter(pk=org.alice.pk).update(
        status="departed", departed_on=date(2025, 5, 1)
    )
    org.alice.refresh_from_db()
    build_package(org.alice)
    build_package(org.bob)
    return org


def hr(name: str) -> AbstractUser:
    return f.make_user(name, roles=(Role.HR_ADMIN,))


def bodies() -> list[str]:
    return sorted(Item.objects.values_list("body", flat=True))


def erase(org: Org, capture: Any, **holds: Any) -> ErasureRequest:
    request = request_erasure(
        org.alice, requested_by=hr("hr1"), label="DSR-2025-7", reason="Art. 17 request"
    )
    with capture(execute=True):
        approve_erasure(request, approver=hr("hr2"))
    request.refresh_from_db()
    return request


def test_an_approved_erasure_forgets_the_person_and_what_names_them(
    left: Org, django_capture_on_commit_callbacks: Any
) -> None:
    org = left
    ask_in_conversation(user=org.bob_user, colleague=org.alice, question="How do we rotate keys?")
    grant_access(org.alice, user=org.carol_user, actor=None)
    alice_items = set(Item.objects.filter(author__colleague=org.alice).values_list("pk", flat=True))
    chunk_ids = set(
        Chunk.objects.filter(item__author__colleague=org.alice).values_list("pk", flat=True)
    )
    alice_user_id = org.alice_user.pk

    request = erase(org, django_capture_on_commit_callbacks)

    assert request.state == ErasureRequest.State.DONE
    # What she wrote, and what others wrote naming her, is gone; the rest stays.
    remaining = bodies()
    assert not any("billing keys" in b or "zebracorn" in b for b in remaining)
    assert not any(text in b for _, text in NAMING for b in remaining)
    assert TO_HER.body not in remaining
    assert UNRELATED[1] in remaining
    assert any("terraform" in b for b in remaining)
    assert not Item.objects.filter(pk__in=alice_items).exists()
    assert not set(get_index().indexed_ids()) & chunk_ids
    # The person, her login, identities, package, conversations and grants are gone.
    assert not Colleague.objects.filter(pk=org.alice.pk).exists()
    assert not get_user_model().objects.filter(pk=alice_user_id).exists()
    assert not Identity.objects.filter(value__in=["acme/U1", "alice@acme.test"]).exists()
    assert not Identity.objects.filter(display_name__icontains="alice").exists()
    assert not SkillPackage.objects.filter(colleague_id=org.alice.pk).exists()
    assert not Conversation.objects.filter(colleague_id=org.alice.pk).exists()
    assert not AccessGrant.objects.filter(colleague_id=org.alice.pk).exists()
    assert ErasedIdentity.objects.count() == 2  # her address and her Slack account
    # Bob's package no longer cites what named her.
    assert "vault runbook" not in json.dumps(org.bob.skill_package.versions.last().files)

    # The certificate: counts and hashes in the request and in one chained audit event.
    certificate = request.certificate
    assert certificate["complete"] is True
    assert (certificate["items_authored"], certificate["items_naming"]) == (2, 3)
    assert certificate["items_deleted"] == 5
    assert certificate["colleague_deleted"]
    assert certificate["login_deleted"]
    assert certificate["conversations_deleted"] == 1
    assert certificate["grants_deleted"] == 1
    event = AuditEvent.objects.get(action="erasure_certified")
    assert request.certificate_event == event
    assert event.detail["items_deleted"] == 5
    text = json.dumps(event.detail) + json.dumps(certificate)
    for secret in ("billing", "zebracorn", "Alice", "alice@", "vault"):
        assert secret not in text
    assert audit.verify_chain().ok
    lines = dict(certificate_lines(request))
    assert lines["Complete"] == "yes"
    assert f"event #{event.seq}" in lines["Recorded in the audit trail"]


def test_a_later_sync_skips_what_the_erased_person_wrote_and_what_names_them(
    left: Org, django_capture_on_commit_callbacks: Any
) -> None:
    org = left
    erase(org, django_capture_on_commit_callbacks)
    before = Item.objects.count()
    result = ingest_batch(
        source=org.source,
        batch=f.batch(
            f.message("CGEN", "U1", "Back from the dead: the billing keys live in the vault."),
            f.message("CGEN", "U2", "Thanks <@U1|alice>, noted."),
            f.message("CGEN", "U2", "Write to Alice@Acme.test if in doubt."),
            f.message("GSEC", "U2", "The hedgehog incident is closed.", private=True),
            people=PEOPLE,
            containers=(
                f.channel("GSEC", "payments-incidents", private=True, members=("U1", "U2")),
            ),
        ),
    )
    assert result.erased == 3
    assert Item.objects.count() == before + 1
    assert Item.objects.filter(body__contains="hedgehog").exists()
    # Nothing of hers came back: no identity, no colleague, no container membership.
    assert not Identity.objects.filter(value__in=["acme/U1", "alice@acme.test"]).exists()
    assert not Colleague.objects.filter(email="alice@acme.test").exists()


def test_a_hold_keeps_what_it_covers_and_the_person_until_it_is_released(
    left: Org, django_capture_on_commit_callbacks: Any
) -> None:
    org = left
    postmortem = Item.objects.get(body__contains="zebracorn")
    hold = place_hold(
        name="Card token case",
        reason="Regulator inquiry",
        owner=None,
        container=postmortem.container,
    )
    request = erase(org, django_capture_on_commit_callbacks)

    assert request.state == ErasureRequest.State.HELD
    assert request.certificate["held_items"] == 1
    assert request.certificate["held_by"] == {str(hold.pk): 1}
    assert Item.objects.filter(pk=postmortem.pk).exists()
    assert not Item.objects.filter(body__contains="billing keys").exists()
    # She, and her package rebuilt from the held item alone, stay while the hold lasts.
    assert Colleague.objects.filter(pk=org.alice.pk).exists()
    version = org.alice.skill_package.versions.order_by("number").last()
    assert "billing keys" not in json.dumps(version.files)
    blocked = AuditEvent.objects.get(action="blocked_by_hold")
    assert blocked.detail["operation"] == "erasure"

    # Nothing changes while the hold lasts; its release lets the daily job finish.
    assert resume_held_erasures() == [request.pk]
    request.refresh_from_db()
    assert request.state == ErasureRequest.State.HELD
    release_hold(hold, actor=None)
    assert resume_held_erasures() == [request.pk]
    request.refresh_from_db()
    assert request.state == ErasureRequest.State.DONE
    assert not Item.objects.filter(pk=postmortem.pk).exists()
    assert not Colleague.objects.filter(pk=org.alice.pk).exists()
    assert AuditEvent.objects.filter(action="erasure_certified").count() == 3


def test_requests_are_refused_as_the_rules_say(left: Org) -> None:
    org = left
    asker, decider = hr("hr1"), hr("hr2")
    with pytest.raises(ErasureRefused, match="still employed"):
        request_erasure(org.bob, requested_by=asker, label="DSR-1", reason="asked")
    with pytest.raises(ErasureRefused, match="case label"):
        request_erasure(org.alice, requested_by=asker, label=" ", reason="asked")
    request = request_erasure(org.alice, requested_by=asker, label="DSR-1", reason="asked")
    with pytest.raises(ErasureRefused, match="open already"):
        request_erasure(org.alice, requested_by=decider, label="DSR-2", reason="asked")
    with pytest.raises(ErasureRefused, match="other than who asked"):
        approve_erasure(request, approver=asker)
    with pytest.raises(PermissionDenied):
        approve_erasure(request, approver=org.bob_user)
    with pytest.raises(ErasureRefused, match="Say why"):
        reject_erasure(request, approver=decider, reason="")
    reject_erasure(request, approver=decider, reason="Retention duty applies")
    with pytest.raises(ErasureRefused, match="rejected already"):
        approve_erasure(request, approver=decider)
    with pytest.raises(ErasureRefused, match="rejected"):
        run_erasure(request)
    # Nothing was deleted by any of it.
    assert Item.objects.filter(author__colleague=org.alice).count() == 2
    assert list(
        AuditEvent.objects.filter(action__startswith="erasure_")
        .values_list("action", flat=True)
        .order_by("seq")
    ) == ["erasure_requested", "erasure_rejected"]


# --- what names a person ----------------------------------------------------------------------


WORDS = st.text(alphabet=st.characters(codec="ascii", categories=("L", "N", "Zs")), max_size=40)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=WORDS, after=WORDS, upper=st.booleans())
def test_any_text_with_the_address_or_mention_is_dropped_and_other_text_is_kept(
    db: None, before: str, after: str, upper: bool
) -> None:
    ErasedIdentity.objects.get_or_create(
        value_sha256=Identifiers(
            emails=frozenset({"alice@acme.test"}), slack_ids=frozenset(), names=frozenset()
        ).tombstones.pop()
    )
    address = "ALICE@ACME.TEST" if upper else "alice@acme.test"
    naming = f.message("CGEN", "U2", f"{before} {address} {after}", minutes=1)
    plain = f.message("CGEN", "U2", f"{before} alice at acme {after}", minutes=2)
    kept, dropped = without_erased(f.batch(naming, plain, cursor="c"))
    assert dropped == 1
    assert [d.body for d in kept.documents] == [plain.body]


@given(
    name=st.sampled_from(["Alice Archer", "alice archer", "ALICE\tARCHER"]),
    glue=st.sampled_from(["", "x", "_", "9"]),
)
def test_a_full_name_is_matched_as_whole_words_in_any_case(name: str, glue: str) -> None:
    identifiers = Identifiers(
        emails=frozenset(), slack_ids=frozenset(), names=frozenset({"Alice Archer"})
    )
    assert identifiers.named_in(f"Ask {name}, please.")
    assert identifiers.named_in(f"ask {name}{glue}") is (glue == "")


# --- the intranet and the console -------------------------------------------------------------


def test_one_hr_admin_asks_in_the_intranet_and_another_approves(
    left: Org, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    org = left
    client.force_login(hr("hr1"))
    page = client.get(reverse("knowledge:erasure_requests"), {"colleague": org.alice.pk})
    assert page.status_code == 200
    assert f'<option value="{org.alice.pk}" selected>' in page.text
    # Only people who have left may be chosen.
    assert f'<option value="{org.bob.pk}"' not in page.text
    asked = client.post(
        reverse("knowledge:erasure_requests"),
        {"colleague": org.alice.pk, "label": "DSR-9", "reason": "She asked by letter"},
        follow=True,
    )
    request = ErasureRequest.objects.get()
    assert "waits for another HR admin" in asked.text
    assert "Approve and erase" not in asked.text

    client.force_login(hr("hr2"))
    page = client.get(reverse("knowledge:erasure_request", args=[request.pk]))
    assert "Approve and erase" in page.text
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            reverse("knowledge:decide_erasure", args=[request.pk]),
            {"decision": "approve"},
            follow=True,
        )
    assert "approved: the erasure runs now" in done.text
    # The run starts once the approval has committed; the page then shows the certificate.
    page = client.get(reverse("knowledge:erasure_request", args=[request.pk]))
    assert '<th scope="row">Complete</th><td>yes</td>' in page.text
    assert not Colleague.objects.filter(pk=org.alice.pk).exists()


def test_erasure_pages_are_refused_to_everyone_but_hr_admins(left: Org, client: Client) -> None:
    org = left
    request = request_erasure(org.alice, requested_by=hr("hr1"), label="DSR-3", reason="asked")
    for user in (org.bob_user, f.make_user("auditor", roles=(Role.AUDITOR,))):
        client.force_login(user)
        assert client.get(reverse("knowledge:erasure_requests")).status_code == 403
        assert (
            client.get(reverse("knowledge:erasure_request", args=[request.pk])).status_code == 403
        )
        decided = client.post(
            reverse("knowledge:decide_erasure", args=[request.pk]), {"decision": "approve"}
        )
        assert decided.status_code == 403
    request.refresh_from_db()
    assert request.state == ErasureRequest.State.REQUESTED


def command(*args: str) -> Any:
    out = StringIO()
    call_command("erasure", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_the_console_lists_runs_again_and_prints_certificates(
    left: Org, django_capture_on_commit_callbacks: Any
) -> None:
    request = erase(left, django_capture_on_commit_callbacks)
    listed = command("list")
    assert [(r["id"], r["state"], r["complete"]) for r in listed] == [(request.pk, "done", True)]
    certificate = command("certificate", str(request.pk))
    assert certificate["items_deleted"] == 5
    assert certificate["audit_event"]["hash"] == request.certificate_event.hash
    with pytest.raises(CommandError, match="is erased"):
        command("run", str(request.pk))
    with pytest.raises(CommandError, match="no erasure request 999"):
        command("certificate", "999")


def test_retention_verify_finds_an_erased_identity_brought_back_around_the_tombstones(
    left: Org, django_capture_on_commit_callbacks: Any
) -> None:
    erase(left, django_capture_on_commit_callbacks)
    assert verify_retention().as_json()["erased_identities_present"] == 0
    assert verify_retention().ok
    # As a sync that ignored the tombstones would.
    back = Identity.objects.create(kind=Identity.Kind.SLACK, value="T0TEST/U1")
    report = verify_retention()
    assert report.erased_identities == [back.pk]
    assert not report.ok


def test_auditors_read_every_certificate_as_a_page_a_csv_and_a_pdf(
    left: Org, django_capture_on_commit_callbacks: Any, tmp_path: Path
) -> None:
    request = erase(left, django_capture_on_commit_callbacks)
    client = Client()
    client.force_login(f.make_user("auditor", roles=(Role.AUDITOR,)))
    listing = client.get(reverse("knowledge:audit_erasures"))
    assert listing.status_code == 200
    assert f'<a href="?request={request.pk}">#{request.pk}</a>' in listing.text
    assert "DSR-2025-7" in listing.text
    assert "Alice" not in listing.text
    one = client.get(reverse("knowledge:audit_erasures"), {"request": request.pk})
    assert '<th scope="row">Person record deleted</th><td>yes</td>' in one.text
    rows = rows_of(
        client.get(
            reverse("knowledge:audit_erasures"), {"request": request.pk, "format": "csv"}
        ).content
    )
    assert ["Items deleted (this run)", "5"] in rows
    for query in ({"format": "pdf"}, {"request": request.pk, "format": "pdf"}):
        pdf = client.get(reverse("knowledge:audit_erasures"), query)
        assert pdf["Content-Type"] == "application/pdf"
        assert_pages(pdf.content, tmp_path, f"erasure-{len(query)}")
    downloads = AuditEvent.objects.filter(action="report_downloaded")
    assert sorted(e.target for e in downloads) == [
        f"audit_report:erasure-{request.pk}",
        f"audit_report:erasure-{request.pk}",
        "audit_report:erasures",
    ]
    assert client.get(reverse("knowledge:audit_erasures"), {"request": "x"}).status_code == 404


class Killed(Exception):
    """The process dying between two batches."""


def test_an_erasure_killed_between_batches_finishes_when_run_again(left: Org) -> None:
    org = left
    request = request_erasure(org.alice, requested_by=hr("hr1"), label="DSR-4", reason="asked")
    # Approved by the console operator's worker run, not inline: run it by hand.
    ErasureRequest.objects.filter(pk=request.pk).update(state=ErasureRequest.State.APPROVED)

    def die(batch: PurgeBatch) -> None:
        raise Killed

    with pytest.raises(Killed):
        run_erasure(request, batch_size=2, on_batch=die)
    request.refresh_from_db()
    # The first batch committed whole; the person and the rest are still there.
    assert request.state == ErasureRequest.State.APPROVED
    assert Colleague.objects.filter(pk=org.alice.pk).exists()
    assert Item.objects.filter(author__colleague=org.alice).count() == 0
    done = run_erasure(request, batch_size=2)
    assert done.state == ErasureRequest.State.DONE
    assert done.certificate["items_deleted"] == 3  # the rest: what names her
    assert not Colleague.objects.filter(pk=org.alice.pk).exists()
    assert verify_retention().ok


@pytest.mark.pgvector
def test_an_erasure_leaves_nothing_of_hers_in_a_pgvector_index(
    left: Org,
    settings: Any,
    request: pytest.FixtureRequest,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.PGVECTOR_URL = request.getfixturevalue("pgvector_url")
    settings.COLLEAGUE_INDEX_BACKEND = "pgvector"
    index = get_index()
    assert index.name == "pgvector"
    # The index outlives each test's database: start from an empty one, leave one behind.
    index.delete(list(index.indexed_ids()))
    index.upsert(records_for(sorted(Chunk.objects.values_list("pk", flat=True))))
    try:
        hers = set(
            Chunk.objects.filter(item__author__colleague=left.alice).values_list("pk", flat=True)
        )
        assert hers <= set(index.indexed_ids())
        erase(left, django_capture_on_commit_callbacks)
        assert not hers & set(index.indexed_ids())
        report = verify_retention()
        assert report.ok
        assert report.backend == "pgvector"
        assert set(index.indexed_ids()) == set(Chunk.objects.values_list("pk", flat=True))
    finally:
        index.delete(list(index.indexed_ids()))


def test_erasing_a_person_closes_their_offboarding_case_and_takes_their_name_off_it(
    left: Org, django_capture_on_commit_callbacks: Any
) -> None:
    case = open_case(left.alice, last_day=date(2025, 5, 1), via="ui")
    request = erase(left, django_capture_on_commit_callbacks)
    case.refresh_from_db()
    assert case.state == "erased"
    assert case.colleague is None
    assert case.subject_label == f"Erased person (erasure request #{request.pk})"
    assert request.certificate["offboarding_cases_erased"] == [case.pk]
