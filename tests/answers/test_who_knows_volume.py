"""Who knows counts how many items each person wrote on a question, over everything the reader
may see (the `volume` signal), and nothing the reader may not see: the items nearest the
question by meaning when chunks have vectors, its keyword matches until they do (ingest embeds
after its transaction commits, so a test's items have no vector until `embed_chunks`)."""

from __future__ import annotations

from typing import Any

import pytest

from answers.who_knows import who_knows
from colleagues.models import Colleague
from connectors.base import SourceDocument
from knowledge.actions import ingest_batch
from knowledge.indexing import embed_chunks
from knowledge.visibility import Reader, reader_for
from tests.factories import batch, channel, make_source, make_user, message, slack_person

pytestmark = pytest.mark.django_db

QUESTION = "Who knows about the ledger reconciliation?"


def reconciliation(channel_id: str, author: str, n: int, *, private: bool = False) -> list[Any]:
    return [
        message(
            channel_id,
            author,
            f"Ledger reconciliation run {i}: the vendor totals matched after the {i}th retry.",
            private=private,
        )
        for i in range(n)
    ]


def ingest(*documents: SourceDocument) -> None:
    people = (
        slack_person("UDANA0001", "Dana Reyes", "dana@acme.test"),
        slack_person("UALICE001", "Alice Moreau", "alice@acme.test"),
        slack_person("UBOB00001", "Bob Stone", "bob@acme.test"),
    )
    general = channel("CGENERAL1", "general", members=("UDANA0001", "UALICE001", "UBOB00001"))
    finance = channel("GFINANCE1", "finance-ops", private=True, members=("UALICE001",))
    ingest_batch(
        source=make_source("acme-slack"),
        batch=batch(*documents, people=people, containers=(general, finance)),
    )


def names(experts: list[Any]) -> list[str]:
    return [e.colleague.name for e in experts]


def lunch(channel_id: str, author: str, n: int) -> list[Any]:
    return [
        message(channel_id, author, f"Lunch order {i}: two pizzas and a salad for the team.")
        for i in range(n)
    ]


@pytest.mark.parametrize("embedded", [False, True], ids=["keywords", "vectors"])
def test_whoever_wrote_most_on_a_question_is_ranked_first(embedded: bool) -> None:
    ingest(
        *reconciliation("CGENERAL1", "UDANA0001", 12),
        message("CGENERAL1", "UBOB00001", "I looked at the ledger reconciliation once."),
    )
    if embedded:
        assert embed_chunks() == 13
    experts = who_knows(Reader.operator(), QUESTION)
    assert names(experts)[:2] == ["Dana Reyes", "Bob Stone"]
    assert experts[0].signals.volume == 1.0
    assert experts[0].evidence


@pytest.mark.parametrize("embedded", [False, True], ids=["keywords", "vectors"])
def test_what_a_reader_may_not_see_does_not_rank_its_author(embedded: bool) -> None:
    ingest(
        *reconciliation("GFINANCE1", "UALICE001", 12, private=True),
        *reconciliation("CGENERAL1", "UDANA0001", 2),
    )
    if embedded:
        assert embed_chunks() == 14
    bob = make_user(
        "bob", email="bob@acme.test", colleague=Colleague.objects.get(email="bob@acme.test")
    )
    assert names(who_knows(Reader.operator(), QUESTION))[0] == "Alice Moreau"
    experts = who_knows(reader_for(bob), QUESTION)
    assert names(experts) == ["Dana Reyes"]
    assert "finance" not in str([e.evidence for e in experts])


def test_what_someone_wrote_on_other_subjects_does_not_count() -> None:
    """In a small organisation the question's nearest items by meaning reach everything
    written: only those nearly as near as the nearest count, so the most prolific person
    is not an expert on everything."""
    ingest(
        *reconciliation("CGENERAL1", "UDANA0001", 4),
        *lunch("CGENERAL1", "UALICE001", 30),
        message("CGENERAL1", "UBOB00001", "I looked at the ledger reconciliation once."),
    )
    assert embed_chunks() == 35
    experts = who_knows(Reader.operator(), QUESTION)
    assert names(experts) == ["Dana Reyes", "Bob Stone"]
    assert experts[0].signals.volume == 1.0
    assert experts[1].signals.volume == 0.25


@pytest.mark.parametrize(
    "question",
    ["Who knows about sourdough starters?", "Who knows about vinaigrette for a salad dressing?"],
)
def test_a_subject_nobody_wrote_about_finds_nobody(question: str) -> None:
    """Nearest by meaning is not knowing: with nothing written in enough of the question's
    words (a salad ordered for lunch is not a dressing recipe), nobody is counted, however
    near their items are."""
    ingest(*reconciliation("CGENERAL1", "UDANA0001", 4), *lunch("CGENERAL1", "UALICE001", 4))
    assert embed_chunks() == 8
    assert who_knows(Reader.operator(), question) == []
