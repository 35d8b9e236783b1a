"""Who knows counts how many items each person wrote on a question, over everything the reader
may see (the `volume` signal), and nothing the reader may not see; the count is the same
whatever the database (SQLite's BM25 and PostgreSQL's ts_rank_cd score on different scales)."""

from __future__ import annotations

from typing import Any

import pytest

from answers.who_knows import who_knows
from colleagues.models import Colleague
from connectors.base import SourceDocument
from knowledge.actions import ingest_batch
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


def test_whoever_wrote_most_on_a_question_is_ranked_first() -> None:
    ingest(
        *reconciliation("CGENERAL1", "UDANA0001", 12),
        message("CGENERAL1", "UBOB00001", "I looked at the ledger reconciliation once."),
    )
    experts = who_knows(Reader.operator(), QUESTION)
    assert names(experts)[:2] == ["Dana Reyes", "Bob Stone"]
    assert experts[0].signals.volume == 1.0
    assert experts[0].evidence


def test_what_a_reader_may_not_see_does_not_rank_its_author() -> None:
    ingest(
        *reconciliation("GFINANCE1", "UALICE001", 12, private=True),
        *reconciliation("CGENERAL1", "UDANA0001", 2),
    )
    bob = make_user(
        "bob", email="bob@acme.test", colleague=Colleague.objects.get(email="bob@acme.test")
    )
    assert names(who_knows(Reader.operator(), QUESTION))[0] == "Alice Moreau"
    experts = who_knows(reader_for(bob), QUESTION)
    assert names(experts) == ["Dana Reyes"]
    assert "finance" not in str([e.evidence for e in experts])
