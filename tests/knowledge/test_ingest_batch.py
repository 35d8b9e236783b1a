"""Storing batches: idempotency, updates, identities, quarantine."""

from __future__ import annotations

import pytest

from colleagues.models import Colleague, Identity
from connectors.base import SourceFailure
from connectors.models import QuarantinedFile
from knowledge.actions import ingest_batch
from knowledge.models import Chunk, Item
from knowledge.search import search_items
from knowledge.visibility import Reader
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_ingest_batch_is_idempotent() -> None:
    source = f.make_source()
    people = (f.slack_person("U1", "Ann"),)
    docs = (
        f.message("C1", "U1", "first words", minutes=1),
        f.message("C1", "U1", "second", minutes=2),
    )
    containers = (f.channel("C1", "general", members=("U1",)),)
    first = ingest_batch(source=source, batch=f.batch(*docs, people=people, containers=containers))
    again = ingest_batch(source=source, batch=f.batch(*docs, people=people, containers=containers))
    assert (first.created, first.unchanged) == (2, 0)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert Item.objects.count() == 2
    assert Chunk.objects.count() == 2
    assert Colleague.objects.count() == 1


def test_changed_document_is_updated_and_reindexed() -> None:
    source = f.make_source()
    people = (f.slack_person("U1", "Ann"),)
    containers = (f.channel("C1", "general", members=("U1",)),)
    original = f.message("C1", "U1", "the pelican service owns invoices", minutes=5)
    ingest_batch(source=source, batch=f.batch(original, people=people, containers=containers))
    edited = f.message("C1", "U1", "the flamingo service owns invoices", minutes=5)
    assert edited.external_id == original.external_id
    result = ingest_batch(
        source=source, batch=f.batch(edited, people=people, containers=containers)
    )
    assert (result.created, result.updated) == (0, 1)
    operator = Reader.operator()
    assert [h.item.body for h in search_items(reader=operator, query="flamingo")] == [
        "the flamingo service owns invoices"
    ]
    assert search_items(reader=operator, query="pelican") == []


def test_slack_profile_email_and_mail_address_are_one_colleague() -> None:
    slack = f.make_source()
    ingest_batch(
        source=slack,
        batch=f.batch(
            f.message("C1", "U7", "hello from slack"),
            people=(f.slack_person("U7", "Dana Diaz", "Dana@Acme.test"),),
            containers=(f.channel("C1", "general"),),
        ),
    )
    mail = f.make_source(kind="email")
    ingest_batch(
        source=mail,
        batch=f.batch(f.email("dana@acme.test", ("eve@acme.test",), "Hi", "hello from mail")),
    )
    dana = Colleague.objects.get(email="dana@acme.test")
    assert Item.objects.filter(author__colleague=dana).count() == 2
    assert set(dana.identities.values_list("kind", flat=True)) == {"slack", "email"}


def test_recipients_stay_external_identities_not_colleagues(settings) -> None:  # type: ignore[no-untyped-def]
    settings.COLLEAGUE_ORG_DOMAINS = ["acme.test"]
    mail = f.make_source(kind="email")
    ingest_batch(
        source=mail,
        batch=f.batch(
            f.email("vendor@supplier.test", ("ann@acme.test",), "Quote", "our quote"),
            f.email("ann@acme.test", ("vendor@supplier.test",), "Re: Quote", "thanks"),
        ),
    )
    assert list(Colleague.objects.values_list("email", flat=True)) == ["ann@acme.test"]
    vendor = Identity.objects.get(value="vendor@supplier.test")
    assert vendor.is_external


def test_deleted_slack_account_makes_a_departed_colleague() -> None:
    ingest_batch(
        source=f.make_source(),
        batch=f.batch(people=(f.slack_person("U9", "Gone Person", is_deleted=True),)),
    )
    assert Colleague.objects.get(name="Gone Person").status == Colleague.Status.DEPARTED


def test_bots_are_identities_but_not_colleagues() -> None:
    ingest_batch(
        source=f.make_source(),
        batch=f.batch(
            f.message("C1", "B1", "deploy finished"),
            people=(f.slack_person("B1", "deploybot", is_bot=True),),
            containers=(f.channel("C1", "general"),),
        ),
    )
    assert Colleague.objects.count() == 0
    assert Identity.objects.get(value=f"{f.WORKSPACE}/B1").is_bot


def test_failures_are_quarantined_and_the_checkpoint_saved(  # type: ignore[no-untyped-def]
    tmp_path, settings, django_capture_on_commit_callbacks
) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 garbage")
    source = f.make_source()
    batch = f.batch(cursor="after-broken")
    batch = type(batch)(
        cursor="after-broken",
        failures=(SourceFailure(str(bad), "CorruptFile", "no xref table", file=str(bad)),),
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest_batch(source=source, batch=batch)
    assert result.quarantined == 1
    record = QuarantinedFile.objects.get()
    assert (record.error_type, record.path) == ("CorruptFile", str(bad))
    assert record.stored_path.startswith(str(settings.COLLEAGUE_QUARANTINE_DIR))
    source.refresh_from_db()
    assert source.checkpoint == "after-broken"
    assert Item.objects.count() == 0


def test_a_document_naming_an_unknown_container_is_visible_to_nobody() -> None:
    source = f.make_source()
    ingest_batch(
        source=source,
        batch=f.batch(
            f.message("GHOST", "U1", "invisible words here", private=True),
            people=(f.slack_person("U1", "Ann", "ann@acme.test"),),
        ),
    )
    from knowledge.visibility import reader_for

    ann = Colleague.objects.get()
    user = f.make_user("ann", colleague=ann)
    assert search_items(reader=reader_for(user), query="invisible") == []
    assert len(search_items(reader=Reader.operator(), query="invisible")) == 1
