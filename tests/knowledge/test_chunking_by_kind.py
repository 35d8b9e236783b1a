"""Chunking per kind of item (knowledge/chunking.py) and what is embedded for each chunk
(knowledge/indexing.py): documents cut at headings and carrying their heading path, emails
their subject, Slack replies embedded with the question their thread began with, and that
question forgotten when its message goes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from io import StringIO
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from hypothesis import given
from hypothesis import strategies as st

from connectors.models import Source
from knowledge.actions import delete_items, ingest_batch
from knowledge.chunking import MAX_CHUNK_CHARS, MAX_CONTEXT_CHARS, chunk_item
from knowledge.embeddings import get_embedder
from knowledge.indexing import dequantise, embed_chunks
from knowledge.models import Chunk, Item
from knowledge.redaction import redact_item
from knowledge.retrieval import retrieve
from knowledge.visibility import Reader
from tests import factories as f

RUNBOOK = """Operations handbook for the billing team.

# Deploys

## Rollback
Revert the release tag and redeploy the previous build.

```sh
# this comment is code, not a heading
make rollback
```

## Canary
Send five percent of traffic first.

# On call
Page the secondary after fifteen minutes."""


def non_space(text: str) -> str:
    return "".join(text.split())


def test_a_document_is_cut_at_its_headings_and_each_piece_knows_where_it_stands() -> None:
    pieces = chunk_item("document", "Billing runbook", RUNBOOK)

    assert [(piece.text.split("\n")[0], piece.context) for piece in pieces] == [
        ("Billing runbook", ""),  # the title opens the first piece: no context needed
        ("# Deploys", "Billing runbook › Deploys › Rollback"),  # an empty section joins the next
        ("## Canary", "Billing runbook › Deploys › Canary"),
        ("# On call", "Billing runbook › On call"),
    ]
    assert "make rollback" in pieces[1].text  # the code block stays with its section


def test_a_long_section_is_cut_by_size_and_every_piece_keeps_its_headings() -> None:
    body = "# Vendors\n\n" + "\n\n".join(
        f"Vendor {n} invoices monthly in euros." * 9 for n in range(40)
    )

    pieces = chunk_item("document", "Payables", body)

    assert len(pieces) > 5
    assert all(len(piece.text) <= MAX_CHUNK_CHARS for piece in pieces)
    assert {piece.context for piece in pieces} == {"Payables › Vendors"}


def test_an_email_keeps_its_subject_on_every_piece_and_a_message_has_no_context() -> None:
    body = "\n\n".join(
        f"Paragraph {n} about the audit schedule and its owners." * 8 for n in range(12)
    )

    pieces = chunk_item("email", "Audit dates", body)

    assert pieces[0].text.startswith("Audit dates\n\n")
    assert pieces[0].context == ""
    assert len(pieces) > 2
    assert {piece.context for piece in pieces[1:]} == {"Audit dates"}
    assert [piece.context for piece in chunk_item("message", "#general", body)] == [""] * len(
        chunk_item("message", "#general", body)
    )


_LINES = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=200),
    st.builds(
        lambda level, name: "#" * level + " " + name, st.integers(1, 7), st.text(max_size=400)
    ),
    st.sampled_from(["```", "~~~", "", "   ", "#", "# "]),
)


@given(
    kind=st.sampled_from(["message", "email", "document"]),
    title=st.text(max_size=600),
    lines=st.lists(_LINES, max_size=40),
)
def test_pieces_hold_every_word_in_order_within_bounds(
    kind: str, title: str, lines: list[str]
) -> None:
    body = "\n".join(lines)

    pieces = chunk_item(kind, title, body)

    expected = body if kind == "message" or not title else f"{title}\n\n{body}"
    assert non_space("".join(piece.text for piece in pieces)) == non_space(expected)
    assert all(0 < len(piece.text) <= MAX_CHUNK_CHARS for piece in pieces)
    assert all(len(piece.context) <= MAX_CONTEXT_CHARS for piece in pieces)
    assert all("\n" not in piece.context for piece in pieces)


# Stored and embedded.

PEOPLE = (
    f.slack_person("Q1", "Quinn Quail", "quinn@acme.test"),
    f.slack_person("Q2", "Ravi Reed", "ravi@acme.test"),
)
QUESTION = "How do we restart the payroll exporter after the nightly batch fails?"
ANSWER = "Use the blue button on the operations console, then wait two minutes."
NOISE = (
    "Lunch on Friday is at the usual place near the station.",
    "The printer on floor three is jammed again, facilities know.",
    "Welcome to the team, glad to have you with us.",
    "Standup moves to ten thirty tomorrow because of the offsite.",
)


def _thread(question: str = QUESTION, source: Source | None = None) -> tuple[Item, Item]:
    """A Slack thread (question by Ravi, answer by Quinn) among unrelated messages, embedded."""
    source = source or f.make_source()
    root_id = f.message("CQ", "Q2", question, minutes=10).external_id
    documents = [
        f.message("CQ", "Q2", question, minutes=10, thread=root_id),
        f.message("CQ", "Q1", ANSWER, minutes=11, thread=root_id),
        *(f.message("CQ", "Q1", text, minutes=20 + n) for n, text in enumerate(NOISE)),
    ]
    containers = (f.channel("CQ", "ops", members=("Q1", "Q2")),)
    ingest_batch(source=source, batch=f.batch(*documents, people=PEOPLE, containers=containers))
    embed_chunks()
    items = Item.objects.filter(source=source)
    return items.get(body=question), items.get(body=ANSWER)


def _vector_of(item: Item) -> np.ndarray:
    chunk = Chunk.objects.get(item=item)
    assert chunk.embedding is not None
    return dequantise(bytes(chunk.embedding), chunk.embedding_scale or 0.0)


def _near(vector: np.ndarray, text: str) -> bool:
    expected = get_embedder().embed([text])[0]
    return float(np.dot(vector, expected)) > 0.99


@pytest.mark.django_db
def test_a_reply_is_found_by_the_question_it_answers_and_shows_only_its_own_words() -> None:
    _, answer = _thread()

    found = retrieve(Reader.operator(), "restart the payroll exporter", mode="vector")

    assert [hit.item.body for hit in found.hits[:2]].count(ANSWER) == 1
    assert Chunk.objects.get(item=answer).text == ANSWER  # the question is not its words
    assert _near(_vector_of(answer), f"{QUESTION}\n\n{ANSWER}")


def _delete(item: Item) -> None:
    delete_items(item_ids=[item.pk])  # as retention, erasure and source pruning do


def _redact(item: Item) -> None:
    redact_item(item, actor=None, reason="posted by mistake")


@pytest.mark.django_db
@pytest.mark.parametrize("remove", [_delete, _redact])
def test_removing_the_question_re_embeds_its_replies_without_it(
    remove: Callable[[Item], None], django_capture_on_commit_callbacks: Any
) -> None:
    question, answer = _thread()

    with django_capture_on_commit_callbacks(execute=True):
        remove(question)

    assert _near(_vector_of(answer), ANSWER)


@pytest.mark.django_db
def test_an_edited_question_re_embeds_its_replies_with_the_new_words(
    django_capture_on_commit_callbacks: Any,
) -> None:
    question, _ = _thread()
    edited = "How do we restart the invoice mailer when the queue stalls?"

    with django_capture_on_commit_callbacks(execute=True):
        _, answer = _thread(edited, source=question.source)

    assert _near(_vector_of(answer), f"{edited}\n\n{ANSWER}")


@pytest.mark.django_db
def test_a_question_stored_after_its_reply_re_embeds_the_reply_with_it(
    django_capture_on_commit_callbacks: Any,
) -> None:
    """A later sync or export brings the thread's first message: the reply stored before it
    is embedded again, now with the question it answers."""
    source = f.make_source()
    root_id = f.message("CQ", "Q2", QUESTION, minutes=10).external_id
    containers = (f.channel("CQ", "ops", members=("Q1", "Q2")),)
    reply = f.message("CQ", "Q1", ANSWER, minutes=11, thread=root_id)
    ingest_batch(source=source, batch=f.batch(reply, people=PEOPLE, containers=containers))
    embed_chunks()
    answer = Item.objects.get(source=source, body=ANSWER)
    assert _near(_vector_of(answer), ANSWER)

    root = f.message("CQ", "Q2", QUESTION, minutes=10, thread=root_id)
    with django_capture_on_commit_callbacks(execute=True):
        ingest_batch(source=source, batch=f.batch(root, people=PEOPLE, containers=containers))

    assert _near(_vector_of(answer), f"{QUESTION}\n\n{ANSWER}")


@pytest.mark.django_db
def test_stored_document_chunks_carry_their_headings() -> None:
    source = f.make_source(kind="documents")
    document = f.message("CQ", "Q1", RUNBOOK)
    document = type(document)(
        **{**document.__dict__, "kind": "document", "title": "Billing runbook"}
    )
    containers = (f.channel("CQ", "ops", members=("Q1",)),)
    ingest_batch(source=source, batch=f.batch(document, people=PEOPLE, containers=containers))

    contexts = list(Chunk.objects.order_by("ordinal").values_list("context", flat=True))

    assert contexts == [
        "",
        "Billing runbook › Deploys › Rollback",
        "Billing runbook › Deploys › Canary",
        "Billing runbook › On call",
    ]


@pytest.mark.django_db
def test_index_rechunk_recuts_items_stored_by_an_older_chunker_once() -> None:
    _, answer = _thread()
    source = f.make_source(kind="documents")
    document = replace(f.message("CQ", "Q1", RUNBOOK), kind="document", title="Billing runbook")
    containers = (f.channel("CQ", "ops", members=("Q1",)),)
    ingest_batch(source=source, batch=f.batch(document, people=PEOPLE, containers=containers))
    runbook = Item.objects.get(source=source)
    # As a release that cut documents by size only left it: one chunk, no headings.
    Chunk.objects.filter(item=runbook).delete()
    Chunk.objects.create(item=runbook, ordinal=0, text=RUNBOOK, audience=runbook.audience)

    first, second = (
        json.loads(_call("index", "rechunk", "--json")),
        json.loads(_call("index", "rechunk", "--json")),
    )

    assert (first["rechunked"], first["embedded"]) == (1, 4)
    assert (second["rechunked"], second["embedded"]) == (0, 0)
    assert first["items"] == second["items"] == Item.objects.count()
    assert list(runbook.chunks.order_by("ordinal").values_list("context", flat=True)) == [
        "",
        "Billing runbook › Deploys › Rollback",
        "Billing runbook › Deploys › Canary",
        "Billing runbook › On call",
    ]
    assert Chunk.objects.filter(embedding__isnull=True).count() == 0
    assert _near(_vector_of(answer), f"{QUESTION}\n\n{ANSWER}")  # untouched


def _call(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()
