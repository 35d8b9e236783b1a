"""Exclusions (issue 7, item 5): what a rule excludes is never stored, and a rule added later
removes what it excludes from the database, the chunks and the search index."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from connectors.actions import create_source, remove_excluded_items, run_sync, source_for_path
from connectors.base import SourceContainer
from connectors.errors import ConnectorConfigError
from connectors.models import Source
from knowledge import index as index_registry
from knowledge.actions import ingest_batch
from knowledge.index.outbox import IndexOutbox
from knowledge.models import Chunk, Item
from tests import factories as f
from tests.connectors.slack.builders import private_export
from tests.connectors.test_source_operations import write_mail
from tests.knowledge.index import fake_weaviate

pytestmark = pytest.mark.django_db

PEOPLE = (
    f.slack_person("U1", "Alice Archer", "alice@acme.test"),
    f.slack_person("U2", "Bob Baker", "bob@legal.acme.test"),
)
CHANNELS = (
    f.channel("CGEN", "general", members=("U1", "U2")),
    f.channel("CHR", "hr-private", private=True, members=("U1", "U2")),
)
DM = SourceContainer("DAB", "DM: Alice, Bob", "dm", True, members=(f.slack_ref("U1"),))
GROUP_DM = SourceContainer("GMP", "mpdm-alice--bob-1", "mpim", True, members=(f.slack_ref("U1"),))


def slack_source(**config: Any) -> Source:
    source = f.make_source()
    source.config = config
    source.save(update_fields=["config"])
    return source


def stored_bodies(source: Source) -> set[str]:
    return set(Item.objects.filter(source=source).values_list("body", flat=True))


def ingest(path: Path, *options: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("ingest", str(path), "--json", *options, stdout=out)
    summary: dict[str, Any] = json.loads(out.getvalue())
    return summary


def search(query: str) -> list[int]:
    out = io.StringIO()
    call_command("search", query, "--json", "--mode", "keyword", stdout=out)
    return [hit["item_id"] for hit in json.loads(out.getvalue())["results"]]


# --- containers, senders, keywords ------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["hr-*", "#HR-Private", "CHR", "*private*"])
def test_a_message_in_an_excluded_channel_is_never_stored(pattern: str) -> None:
    source = slack_source(exclude={"containers": [pattern]})
    result = ingest_batch(
        source=source,
        batch=f.batch(
            f.message("CGEN", "U1", "Deploys go through the pipeline."),
            f.message("CHR", "U1", "Salary review for Bob is on Friday.", private=True),
            people=PEOPLE,
            containers=CHANNELS,
        ),
    )
    assert stored_bodies(source) == {"Deploys go through the pipeline."}
    assert result.excluded == {"container": 1}
    assert not Chunk.objects.filter(text__contains="Salary").exists()


def test_a_folder_rule_excludes_the_folders_below_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "legal" / "contracts").mkdir(parents=True)
    (docs / "eng").mkdir()
    (docs / "legal" / "contracts" / "acme.md").write_text("# Acme contract\n\nPenalty terms.\n")
    (docs / "legal" / "nda.md").write_text("# NDA\n\nConfidential.\n")
    (docs / "eng" / "runbook.md").write_text("# Runbook\n\nDrain the node first.\n")
    source = source_for_path(docs, kind="docs", exclude={"containers": ["legal"]})
    run = run_sync(source=source)
    assert set(Item.objects.values_list("title", flat=True)) == {"Runbook"}
    assert run.items_excluded == 2
    assert run.exclusions["skipped"] == {"container": 2}


def test_mail_from_an_excluded_sender_glob_is_never_stored() -> None:
    source = f.make_source("mail", kind="email")
    source.config = {"exclude": {"senders": ["*@legal.example.com"]}}
    source.save(update_fields=["config"])
    result = ingest_batch(
        source=source,
        batch=f.batch(
            f.email("counsel@legal.example.com", ("ann@acme.test",), "Litigation", "Hold it."),
            f.email("ann@acme.test", ("bob@acme.test",), "Kernel", "Patch on Tuesday."),
        ),
    )
    assert set(Item.objects.values_list("title", flat=True)) == {"Kernel"}
    assert result.excluded == {"sender": 1}


@pytest.mark.parametrize("pattern", ["U2", "*@legal.acme.test", "T0TEST/U2"])
def test_a_slack_author_is_excluded_by_user_id_or_profile_address(pattern: str) -> None:
    source = slack_source(exclude={"senders": [pattern]})
    ingest_batch(
        source=source,
        batch=f.batch(
            f.message("CGEN", "U1", "Alice speaking."),
            f.message("CGEN", "U2", "Bob speaking."),
            people=PEOPLE,
            containers=CHANNELS,
        ),
    )
    assert stored_bodies(source) == {"Alice speaking."}


def test_a_sender_rule_knows_a_slack_author_by_an_address_learned_in_an_earlier_batch() -> None:
    source = slack_source(exclude={"senders": ["*@legal.acme.test"]})
    # The first batch introduces the people (as a Slack export does); later ones only name them.
    ingest_batch(source=source, batch=f.batch(people=PEOPLE, containers=CHANNELS))
    ingest_batch(source=source, batch=f.batch(f.message("CGEN", "U2", "Bob again.")))
    assert not Item.objects.filter(source=source).exists()


def test_keywords_match_whole_words_and_phrases_in_any_case_in_title_or_body() -> None:
    source = slack_source(exclude={"keywords": ["medical leave", "grievance"]})
    result = ingest_batch(
        source=source,
        batch=f.batch(
            f.message("CGEN", "U1", "Bob is on MEDICAL\nleave until May."),
            f.message("CGEN", "U1", "Filed a grievance."),
            f.message("CGEN", "U1", "Medical leaves of absence policy is in the wiki."),
            f.message("CGEN", "U1", "The grievances board meets monthly."),
            f.message("CGEN", "U1", "Pharmaceutical leave-behinds arrived."),
            people=PEOPLE,
            containers=CHANNELS,
        ),
    )
    assert stored_bodies(source) == {
        "Medical leaves of absence policy is in the wiki.",
        "The grievances board meets monthly.",
        "Pharmaceutical leave-behinds arrived.",
    }
    assert result.excluded == {"keyword": 2}
    mail = f.make_source("mail", kind="email")
    mail.config = {"exclude": {"keywords": ["grievance"]}}
    mail.save(update_fields=["config"])
    ingest_batch(
        source=mail,
        batch=f.batch(f.email("ann@acme.test", ("bob@acme.test",), "Grievance #12", "See me.")),
    )
    assert not Item.objects.filter(source=mail).exists()


def test_organisation_wide_rules_apply_to_every_source(settings: Any) -> None:
    settings.COLLEAGUE_EXCLUDE_KEYWORDS = ["disciplinary"]
    settings.COLLEAGUE_EXCLUDE_CONTAINERS = ["hr-*"]
    settings.COLLEAGUE_EXCLUDE_SENDERS = ["*@legal.acme.test"]
    source = slack_source()
    result = ingest_batch(
        source=source,
        batch=f.batch(
            f.message("CGEN", "U1", "Disciplinary hearing on Monday."),
            f.message("CHR", "U1", "Offer letters.", private=True),
            f.message("CGEN", "U2", "Counsel's view."),
            f.message("CGEN", "U1", "Ship it."),
            people=PEOPLE,
            containers=CHANNELS,
        ),
    )
    assert stored_bodies(source) == {"Ship it."}
    assert result.excluded == {"keyword": 1, "container": 1, "sender": 1}


def test_malformed_rules_stop_the_batch_with_a_clear_error() -> None:
    source = slack_source(exclude={"containers": "hr-*"})
    with pytest.raises(ConnectorConfigError, match=r"exclude\.containers"):
        ingest_batch(
            source=source,
            batch=f.batch(f.message("CGEN", "U1", "x"), people=PEOPLE, containers=CHANNELS),
        )
    assert not Item.objects.exists()


def test_a_source_with_malformed_rules_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConnectorConfigError, match=r"exclude\.keywords"):
        create_source(
            name="bad", kind="docs", config={"path": str(tmp_path), "exclude": {"keywords": 3}}
        )
    assert not Source.objects.filter(name="bad").exists()


# --- direct messages ---------------------------------------------------------------------------


def dm_batch() -> Any:
    return f.batch(
        f.message("DAB", "U1", "Between us: the reorg is next week.", private=True),
        f.message("GMP", "U1", "Group chat: lunch?", private=True),
        f.message("CGEN", "U1", "Public note."),
        people=PEOPLE,
        containers=(*CHANNELS, DM, GROUP_DM),
    )


def test_direct_messages_are_not_captured_by_default() -> None:
    source = slack_source()
    result = ingest_batch(source=source, batch=dm_batch())
    assert stored_bodies(source) == {"Public note."}
    assert result.excluded == {"direct_message": 2}


def test_direct_messages_are_captured_when_the_source_enables_them() -> None:
    source = slack_source(include_direct_messages=True)
    ingest_batch(source=source, batch=dm_batch())
    assert stored_bodies(source) == {
        "Between us: the reorg is next week.",
        "Group chat: lunch?",
        "Public note.",
    }


def test_a_slack_export_keeps_its_dms_out_unless_ingested_with_them(tmp_path: Path) -> None:
    export = private_export(tmp_path / "export")
    summary = ingest(export, "--source", "acme")
    kinds = set(Item.objects.values_list("container__kind", flat=True))
    assert kinds.isdisjoint({"dm", "mpim"})
    assert summary["items_excluded"] > 0
    assert set(summary["exclusions"]["skipped"]) == {"direct_message"}
    # Enabling them later does not re-read the past; a source created with them captures them.
    ingest(export, "--source", "acme with dms", "--include-direct-messages")
    with_dms = Source.objects.get(name="acme with dms")
    kinds = set(Item.objects.filter(source=with_dms).values_list("container__kind", flat=True))
    assert {"dm", "mpim"} <= kinds


# --- a rule added later -----------------------------------------------------------------------


def test_a_rule_added_later_removes_the_stored_item_everywhere_on_the_next_sync(
    tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    mail = write_mail(tmp_path / "mail", ["Zebracorn grievance", "Kernel patching"])
    with django_capture_on_commit_callbacks(execute=True):
        first = ingest(mail, "--source", "mail")
    assert first["items_created"] == 2
    assert "items_excluded" not in first  # the contract's keys are unchanged when nothing is
    grievance = Item.objects.get(title="Zebracorn grievance")
    chunk_ids = list(grievance.chunks.values_list("id", flat=True))
    assert chunk_ids
    assert Chunk.objects.filter(id__in=chunk_ids, embedding__isnull=False).exists()
    assert search("zebracorn") == [grievance.pk]

    admin = get_user_model().objects.create_user("ops", password="pw", is_staff=True)
    client = Client()
    client.force_login(admin)
    source = Source.objects.get(name="mail")
    response = client.post(
        f"/sources/{source.pk}/exclusions/",
        {"containers": "", "senders": "", "keywords": "grievance\n"},
    )
    assert response.status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        again = ingest(mail, "--source", "mail")
    assert again["items_removed_by_exclusions"] == 1
    assert again["exclusions"]["removed"] == {"keyword": 1}
    assert set(Item.objects.values_list("title", flat=True)) == {"Kernel patching"}
    assert not Chunk.objects.filter(id__in=chunk_ids).exists()
    assert search("zebracorn") == []
    assert search("kernel")  # the rest is still found
    # The rules did not change since: the next sync removes nothing more and counts nothing.
    assert "items_removed_by_exclusions" not in ingest(mail, "--source", "mail")


@pytest.fixture
def weaviate(settings: Any) -> Iterator[fake_weaviate.FakeWeaviate]:
    """The Weaviate backend, at a Weaviate-shaped server on loopback (tests/knowledge/index)."""
    with fake_weaviate.serve() as server:
        settings.COLLEAGUE_INDEX_BACKEND = "weaviate"
        settings.WEAVIATE_URL = server.url
        settings.WEAVIATE_GRPC_PORT = server.grpc_port
        settings.WEAVIATE_COLLECTION = "Chunks"
        index_registry._local.__dict__.pop("backends", None)  # built per thread: afresh
        yield server
        for made in index_registry._local.__dict__.pop("backends", {}).values():
            made.close()


def test_an_external_index_loses_the_chunks_of_what_a_new_rule_excludes(
    weaviate: fake_weaviate.FakeWeaviate, django_capture_on_commit_callbacks: Any
) -> None:
    source = slack_source()
    with django_capture_on_commit_callbacks(execute=True):
        ingest_batch(
            source=source,
            batch=f.batch(
                f.message("CGEN", "U1", "The zebracorn grievance hearing is on Friday."),
                f.message("CGEN", "U1", "Kernel patching on Tuesday."),
                people=PEOPLE,
                containers=CHANNELS,
            ),
        )
    excluded = list(Chunk.objects.filter(text__contains="zebracorn").values_list("id", flat=True))
    kept = list(Chunk.objects.exclude(id__in=excluded).values_list("id", flat=True))
    assert set(weaviate.objects("ChunksOrg")) == {*excluded, *kept}
    source.config = {"exclude": {"keywords": ["grievance"]}}
    source.save(update_fields=["config"])
    with django_capture_on_commit_callbacks(execute=True):
        # What a sync runs first when the rules changed since its last run.
        removed = remove_excluded_items(source=source)
    assert removed == {"keyword": 1}
    assert set(weaviate.objects("ChunksOrg")) == set(kept)
    assert not IndexOutbox.objects.exists()


def test_a_document_edited_into_exclusion_is_removed_with_its_new_version() -> None:
    source = slack_source(exclude={"keywords": ["layoff"]})
    first = f.message("CGEN", "U1", "Team offsite plans.", minutes=5)
    ingest_batch(source=source, batch=f.batch(first, people=PEOPLE, containers=CHANNELS))
    assert stored_bodies(source) == {"Team offsite plans."}
    edited = f.message("CGEN", "U1", "Team offsite cancelled: layoff list attached.", minutes=5)
    result = ingest_batch(source=source, batch=f.batch(edited))
    assert result.removed == 1
    assert not Item.objects.filter(source=source).exists()
    assert not Chunk.objects.filter(item__source=source).exists()


def test_rules_added_later_remove_dms_and_container_and_sender_matches(tmp_path: Path) -> None:
    export = private_export(tmp_path / "export")
    ingest(export, "--source", "acme", "--include-direct-messages")
    source = Source.objects.get(name="acme")
    stored = set(Item.objects.values_list("container__kind", flat=True))
    assert {"dm", "mpim", "channel"} <= stored
    source.config = {
        **{k: v for k, v in source.config.items() if k != "include_direct_messages"},
        "exclude": {"containers": ["secret-*"], "senders": ["UBOB00001"]},
    }
    source.save(update_fields=["config"])
    again = ingest(export, "--source", "acme")
    removed = again["exclusions"]["removed"]
    assert removed["direct_message"] > 0
    assert set(removed) <= {"direct_message", "container", "sender"}
    left = Item.objects.filter(source=source)
    assert not left.filter(container__kind__in=["dm", "mpim"]).exists()
    assert not left.filter(container__name="secret-project").exists()
    assert not left.filter(author__value__endswith="/UBOB00001").exists()


# --- the source page --------------------------------------------------------------------------


def test_the_source_page_shows_and_saves_the_rules(settings: Any) -> None:
    settings.COLLEAGUE_EXCLUDE_KEYWORDS = ["disciplinary"]
    source = slack_source()
    admin = get_user_model().objects.create_user("ops", password="pw", is_staff=True)
    client = Client()
    client.force_login(admin)
    page = client.get(f"/sources/{source.pk}/").content.decode()
    assert "What is never captured" in page
    assert "<code>disciplinary</code>" in page  # the organisation's rule, shown
    response = client.post(
        f"/sources/{source.pk}/exclusions/",
        {
            "containers": "hr-*\n\n#legal\n",
            "senders": "*@legal.example.com",
            "keywords": "medical leave",
            "include_direct_messages": "on",
        },
        follow=True,
    )
    assert "Exclusion rules of" in response.content.decode()
    source.refresh_from_db()
    assert source.config == {
        "exclude": {
            "containers": ["hr-*", "#legal"],
            "senders": ["*@legal.example.com"],
            "keywords": ["medical leave"],
        },
        "include_direct_messages": True,
    }
    page = client.get(f"/sources/{source.pk}/").content.decode()
    assert "*@legal.example.com" in page
    assert "medical leave" in page
    # Clearing them leaves no trace in the config.
    client.post(f"/sources/{source.pk}/exclusions/", {"containers": "", "senders": ""})
    source.refresh_from_db()
    assert source.config == {}


def test_only_staff_may_change_the_rules() -> None:
    source = slack_source()
    user = get_user_model().objects.create_user("eve", password="pw")
    client = Client()
    client.force_login(user)
    response = client.post(f"/sources/{source.pk}/exclusions/", {"keywords": "anything"})
    assert response.status_code == 302
    assert "/login" in response["Location"] or "admin" in response["Location"]
    source.refresh_from_db()
    assert source.config == {}
