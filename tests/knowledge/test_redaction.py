"""Redaction (issue 7, item 4): an item removed everywhere a user could meet it again, on an
operator's word or on the person's request approved by a curator; "My data" shows a person
everything captured of theirs, and no one else.

Runs on the demo company with every package built (tests/answers/conftest.py): Dana's answer
on how often the billing API keys are rotated is cited by her package, by `ask`, by who-knows
and by a stored conversation turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils.html import escape

from answers.ask import ask
from answers.conversations import ask_in_conversation
from answers.models import Turn
from answers.who_knows import who_knows
from colleagues.models import Colleague
from colleagues.roles import Role
from knowledge.actions import ingest_batch
from knowledge.embeddings import get_embedder
from knowledge.index import get_index, records_for
from knowledge.index.base import Filters, Scope
from knowledge.models import AuditEvent, Chunk, Item, RedactionRequest
from knowledge.redaction import REDACTED_ANSWER, redact_item
from knowledge.visibility import Reader, reader_for
from skills.models import SkillVersion
from skills.selectors import evidence_ids, package_view, version_of, versions_of
from tests import factories as f
from tests.answers.conftest import SAMUEL, TOM, login, northwind  # noqa: F401
from tests.knowledge.index.test_pgvector_backend import pgvector_url  # noqa: F401
from tests.skills.conftest import demo_company  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("northwind")]

DANA = "dana.kowalski@northwind.example"
# Dana's answer, given in several threads and mails; each names the ticket of the last rotation.
REPLY = "Every 90 days, and immediately if a key shows up anywhere"
REPLY_WORDS = "key shows up anywhere it shouldn't"
QUESTION = "How often do we rotate the billing API keys?"
WHO_KNOWS = "PAY-2169 rotation"
# One of them, and words that find it.
MARKER = "PAY-2169"
SEARCHED = "last rotation is logged in PAY-2169"
# "Wei Zhang asked on 1 May 2025 in #payments: “Hi team, quick question: …”"
CONTEXT = re.compile(r"^.+ asked on .+?: “(.+)”$", re.MULTILINE)

Capture = Callable[..., Any]


@pytest.fixture
def engineer() -> AbstractUser:
    """Tom, a platform engineer in no private channel: public channels, his DMs and mail."""
    return login("tom", TOM)


@pytest.fixture
def manager() -> AbstractUser:
    """Samuel, the payments manager."""
    return login("samuel", SAMUEL)


def dana() -> Colleague:
    return Colleague.objects.get(email=DANA)


def the_reply() -> Item:
    return Item.objects.get(body__contains=MARKER)


def search_ids(query: str) -> list[int]:
    out = StringIO()
    call_command("search", query, "--json", "--mode", "keyword", "--limit", "20", stdout=out)
    return [hit["item_id"] for hit in json.loads(out.getvalue())["results"]]


def evidence_of_dana(question: str) -> list[int]:
    experts = who_knows(Reader.operator(), question)
    return [e.item_id for x in experts if x.colleague.email == DANA for e in x.evidence]


def chunk_vector_hits(vectors: list[Any]) -> set[int]:
    found: set[int] = set()
    for vector in vectors:
        hits = get_index().vector_search(
            vector, scope=Scope(principals=None), filters=Filters(), limit=5
        )
        found.update(h.chunk_id for h in hits)
    return found


def curator_client(username: str = "cura") -> tuple[AbstractUser, Client]:
    user = f.make_user(username, roles=(Role.CURATOR,))
    client = Client()
    client.force_login(user)
    return user, client


def client_for(user: AbstractUser) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_redacted_item_is_gone_from_every_surface(
    engineer: AbstractUser, django_capture_on_commit_callbacks: Capture
) -> None:
    """Dana gave the same answer several times (each with its own ticket); all of them go."""
    replies = list(Item.objects.filter(body__contains=REPLY))
    ids = {item.pk for item in replies}
    assert len(ids) >= 3
    assert all(item.author.colleague == dana() for item in replies)
    chunk_ids = set(Chunk.objects.filter(item__in=ids).values_list("pk", flat=True))
    vectors = [get_embedder().embed_one(c.text) for c in Chunk.objects.filter(item__in=ids)]
    before = version_of(dana())
    assert before is not None
    # Every surface shows them before.
    assert ids <= set(search_ids(REPLY_WORDS))
    answer = ask(reader_for(engineer), dana(), QUESTION)
    assert ids & {c.item_id for c in answer.citations}
    assert REPLY in answer.answer
    assert ids & set(evidence_of_dana(WHO_KNOWS))
    assert ids <= evidence_ids(before.analysis)
    assert REPLY in "".join(package_view(Reader.operator(), before).files.files.values())
    assert chunk_ids <= chunk_vector_hits(vectors)  # the db index's vector cache holds them
    turn = ask_in_conversation(user=engineer, colleague=dana(), question=QUESTION)
    assert ids & {c["item_id"] for c in turn.citations}

    with django_capture_on_commit_callbacks(execute=True):
        for item in replies:
            assert redact_item(item, actor=None, reason="asked by Dana") is not None

    assert not Item.objects.filter(pk__in=ids).exists()
    assert not Chunk.objects.filter(pk__in=chunk_ids).exists()
    # Search, ask and who knows.
    assert not ids & set(search_ids(REPLY_WORDS))
    answer = ask(reader_for(engineer), dana(), QUESTION)
    assert not ids & {c.item_id for c in answer.citations}
    assert REPLY not in answer.answer
    assert not ids & set(evidence_of_dana(WHO_KNOWS))
    # The db index's in-memory vectors no longer return their chunks.
    assert not chunk_ids & chunk_vector_hits(vectors)
    # The package: rebuilt as a new version; every version citing them is gone.
    after = version_of(dana())
    assert after is not None
    assert after.number > before.number
    assert not ids & evidence_ids(after.analysis)
    shown = package_view(Reader.operator(), after).files.files
    for name in ("SKILL.md", "work.md", "persona.md", "references/evidence.md"):
        assert REPLY not in shown[name]
        assert not any(f"#item-{i})" in shown[name] for i in ids)
    assert before.number not in set(versions_of(dana()).values_list("number", flat=True))
    for version in SkillVersion.objects.all():
        assert not ids & evidence_ids(version.analysis)
        assert REPLY not in json.dumps(version.files, ensure_ascii=False)
    # The stored conversation keeps the question, not the excerpt.
    turn = Turn.objects.get(pk=turn.pk)
    assert turn.answer == REDACTED_ANSWER
    page = client_for(engineer).get(turn.conversation.get_absolute_url()).content.decode()
    assert QUESTION in page
    assert "Every 90 days" not in page
    # Audited, with ids and hashes only.
    events = AuditEvent.objects.filter(
        action="item_redacted", target__in=[f"item:{i}" for i in ids]
    )
    assert events.count() == len(ids)
    assert {c for e in events for c in e.detail["chunks"]} == chunk_ids
    assert {t for e in events for t in e.detail["turns"]} == {turn.pk}
    assert all(c["excerpt"] == "" for c in turn.citations if c["item_id"] in ids)
    assert before.number in {v["number"] for e in events for v in e.detail["versions_deleted"]}
    for event in events:
        detail = json.dumps(event.detail, ensure_ascii=False)
        assert "Every 90 days" not in detail
        assert "PAY-" not in detail


def test_a_turn_that_quoted_the_item_as_context_is_blanked(
    engineer: AbstractUser, django_capture_on_commit_callbacks: Capture
) -> None:
    """The question someone asked is shown in Dana's answer, which cites only her reply."""
    turn = ask_in_conversation(user=engineer, colleague=dana(), question=QUESTION)
    context = CONTEXT.search(turn.answer)
    assert context is not None
    asked = context.group(1).strip("…")
    question = Item.objects.get(body__contains=asked)
    assert question.author.colleague != dana()
    assert question.pk not in [c["item_id"] for c in turn.citations]

    with django_capture_on_commit_callbacks(execute=True):
        redact_item(question, actor=None, reason="their own question")

    turn.refresh_from_db()
    assert turn.question == QUESTION
    assert asked not in turn.answer
    page = client_for(engineer).get(turn.conversation.get_absolute_url()).content.decode()
    assert escape(asked) not in page
    # Dana's replies themselves are still there to be found.
    assert the_reply().pk in search_ids(SEARCHED)


def test_redacting_an_item_twice_is_a_no_op() -> None:
    item = the_reply()
    out = StringIO()
    call_command("redact_item", str(item.pk), "--reason", "operator", "--json", stdout=out)
    first = json.loads(out.getvalue())
    assert first["redacted"] is True
    assert first["chunks"] >= 1
    assert first["packages_rebuilt"][0]["colleague"] == DANA
    assert redact_item(item, actor=None, reason="again") is None
    out = StringIO()
    call_command("redact_item", str(item.pk), "--reason", "again", "--json", stdout=out)
    assert json.loads(out.getvalue())["already_redacted"] is True
    assert AuditEvent.objects.filter(action="item_redacted", target=f"item:{item.pk}").count() == 1
    with pytest.raises(CommandError, match="no item 999999999"):
        call_command("redact_item", "999999999", "--reason", "typo")


def test_a_request_approved_by_a_curator_redacts_the_item(
    django_capture_on_commit_callbacks: Capture,
) -> None:
    item_id = the_reply().pk
    owner = client_for(login("dana", DANA))
    response = owner.post(f"/knowledge/privacy/items/{item_id}/redact/", {"reason": "private"})
    assert response.status_code == 302
    request = RedactionRequest.objects.get(item_id=item_id)
    assert request.state == RedactionRequest.State.REQUESTED
    assert request.item_description.startswith("Message in a public channel from Northwind Slack")
    curator, curators = curator_client()
    queue = curators.get("/knowledge/privacy/requests/").content.decode()
    assert request.item_description in queue
    assert MARKER not in queue

    with django_capture_on_commit_callbacks(execute=True):
        curators.post(
            f"/knowledge/privacy/requests/{request.pk}/",
            {"decision": "approve", "reason": "her own words"},
        )

    request.refresh_from_db()
    assert request.state == RedactionRequest.State.DONE
    assert request.decided_by == curator
    assert not Item.objects.filter(pk=item_id).exists()
    assert item_id not in search_ids(SEARCHED)
    actions = set(
        AuditEvent.objects.filter(target=f"item:{item_id}").values_list("action", flat=True)
    )
    assert actions == {"redaction_requested", "redaction_approved", "item_redacted"}
    # What the person sees of it afterwards.
    page = owner.get("/knowledge/privacy/").content.decode()
    assert "Redacted" in page
    assert MARKER not in page


def test_a_rejected_request_keeps_the_item_and_needs_a_reason() -> None:
    item_id = the_reply().pk
    owner = client_for(login("dana", DANA))
    owner.post(f"/knowledge/privacy/items/{item_id}/redact/")
    request = RedactionRequest.objects.get(item_id=item_id)
    _, curators = curator_client()
    curators.post(f"/knowledge/privacy/requests/{request.pk}/", {"decision": "reject"})
    request.refresh_from_db()
    assert request.state == RedactionRequest.State.REQUESTED
    curators.post(
        f"/knowledge/privacy/requests/{request.pk}/",
        {"decision": "reject", "reason": "needed for the audit of PAY work"},
    )
    request.refresh_from_db()
    assert request.state == RedactionRequest.State.REJECTED
    assert Item.objects.filter(pk=item_id).exists()
    assert item_id in search_ids(SEARCHED)
    assert AuditEvent.objects.filter(action="redaction_rejected", target=f"item:{item_id}").exists()
    page = owner.get("/knowledge/privacy/").content.decode()
    assert "needed for the audit of PAY work" in page


def test_only_an_item_of_ones_own_may_be_requested(engineer: AbstractUser) -> None:
    item_id = the_reply().pk
    # Tom neither wrote Dana's reply nor has it in his package.
    response = client_for(engineer).post(f"/knowledge/privacy/items/{item_id}/redact/")
    assert response.status_code == 404
    nobody = client_for(f.make_user("visitor"))
    assert nobody.post(f"/knowledge/privacy/items/{item_id}/redact/").status_code == 404
    assert not RedactionRequest.objects.exists()
    # Dana's package cites what others wrote (questions she answered): she may ask for those.
    version = version_of(dana())
    assert version is not None
    others = Item.objects.filter(pk__in=evidence_ids(version.analysis)).exclude(
        author__colleague=dana()
    )
    cited = others.first()
    assert cited is not None
    owner = client_for(login("dana", DANA))
    assert owner.post(f"/knowledge/privacy/items/{cited.pk}/redact/").status_code == 302
    assert RedactionRequest.objects.filter(item_id=cited.pk).exists()


def test_the_request_queue_is_for_curators_only(
    engineer: AbstractUser, django_assert_max_num_queries: Capture
) -> None:
    owner = client_for(login("dana", DANA))
    owner.post(f"/knowledge/privacy/items/{the_reply().pk}/redact/")
    request = RedactionRequest.objects.get()
    tom = client_for(engineer)
    assert tom.get("/knowledge/privacy/requests/").status_code == 403
    response = tom.post(f"/knowledge/privacy/requests/{request.pk}/", {"decision": "approve"})
    assert response.status_code == 403
    assert owner.get("/knowledge/privacy/requests/").status_code == 403
    assert Item.objects.filter(pk=request.item_id).exists()
    _, curators = curator_client()
    with django_assert_max_num_queries(10):
        queue = curators.get("/knowledge/privacy/requests/")
    assert queue.status_code == 200
    assert f"#{request.item_id}" in queue.content.decode()


def test_my_data_shows_the_owner_their_private_messages_and_no_one_else(
    engineer: AbstractUser, manager: AbstractUser, django_assert_max_num_queries: Capture
) -> None:
    tom = Colleague.objects.get(user=engineer)
    dm = (
        Item.objects.filter(author__colleague=tom, container__kind="dm")
        .order_by("-created_at", "-id")
        .first()
    )
    assert dm is not None
    snippet = dm.body.split("\n")[0][:60]
    # Newest first, 25 a page: find the page it is on.
    newer = Item.objects.filter(author__colleague=tom, created_at__gt=dm.created_at).count()
    url = f"/knowledge/privacy/?page={newer // 25 + 1}"
    owner = client_for(engineer)
    with django_assert_max_num_queries(14):  # whatever the number of items
        own = owner.get(url)
    assert own.status_code == 200
    page = own.content.decode()
    assert f'id="item-{dm.pk}"' in page
    assert escape(snippet) in page
    assert f"/knowledge/privacy/items/{dm.pk}/redact/" in page
    assert tom.get_consent_display() in page
    others = client_for(manager).get(url).content.decode()
    assert f'id="item-{dm.pk}"' not in others
    lone = client_for(f.make_user("visitor")).get("/knowledge/privacy/")
    assert lone.status_code == 200
    assert "not linked to a colleague" in lone.content.decode()


@pytest.mark.pgvector
def test_redaction_removes_the_items_copies_from_a_pgvector_index(
    settings: Any, request: pytest.FixtureRequest, django_capture_on_commit_callbacks: Capture
) -> None:
    """An index outside the Chunk table loses the chunks once the redaction commits."""
    settings.PGVECTOR_URL = request.getfixturevalue("pgvector_url")
    settings.COLLEAGUE_INDEX_BACKEND = "pgvector"
    item = the_reply()
    chunk_ids = set(Chunk.objects.filter(item=item).values_list("pk", flat=True))
    index = get_index()
    assert index.name == "pgvector"
    index.upsert(records_for(sorted(chunk_ids)))
    assert chunk_ids <= set(index.indexed_ids())

    with django_capture_on_commit_callbacks(execute=True):
        redact_item(item, actor=None, reason="asked by Dana")

    assert not chunk_ids & set(index.indexed_ids())


@pytest.mark.django_db
def test_a_redacted_document_is_not_captured_again_by_a_later_sync() -> None:
    source = f.make_source("resync")
    people = (f.slack_person("U1", "Ann Lee", "ann@acme.test"),)
    general = (f.channel("CGEN", "general", members=("U1",)),)
    document = f.message("CGEN", "U1", "My home address is 12 Elm Street.", minutes=1)
    other = f.message("CGEN", "U1", "Deploys go through the pipeline.", minutes=2)
    ingest_batch(source=source, batch=f.batch(document, other, people=people, containers=general))
    item = Item.objects.get(external_id=document.external_id)
    redact_item(item, actor=None, reason="personal")
    again = ingest_batch(
        source=source, batch=f.batch(document, other, people=people, containers=general)
    )
    assert not Item.objects.filter(external_id=document.external_id).exists()
    assert Item.objects.filter(external_id=other.external_id).exists()
    assert (again.created, again.unchanged) == (0, 1)
