"""A few threads' items (`items_in_threads`): exactly the visible items of those threads of
those sources, oldest first, found through the (source, thread key) index."""

from __future__ import annotations

import pytest
from django.db import connection

from colleagues.selectors import colleague_by_email
from knowledge.actions import ingest_batch
from knowledge.models import Item
from knowledge.selectors import items_in_threads
from knowledge.visibility import Reader, reader_for
from tests import factories as f

pytestmark = pytest.mark.django_db

PEOPLE = (
    f.slack_person("U1", "Alice Archer", "alice@acme.test"),
    f.slack_person("U2", "Bob Baker", "bob@acme.test"),
)
CHANNELS = (
    f.channel("CGEN", "general", members=("U1", "U2")),
    f.channel("GSEC", "secrets", private=True, members=("U1",)),
)


def ingest(name: str, *messages: tuple[str, str, str, bool, int, str]) -> int:
    """Messages (channel, author, body, private, minute, thread) into a new source."""
    source = f.make_source(name)
    documents = [
        f.message(c, a, body, private=private, minutes=minute, thread=thread)
        for c, a, body, private, minute, thread in messages
    ]
    ingest_batch(source=source, batch=f.batch(*documents, people=PEOPLE, containers=CHANNELS))
    return source.pk


def bodies(reader: Reader, threads: list[tuple[int, str]]) -> list[str]:
    return [item.body for item in items_in_threads(reader, threads)]


def test_a_reader_gets_the_visible_items_of_those_threads_oldest_first() -> None:
    slack = ingest(
        "slack",
        ("CGEN", "U2", "How do we rotate keys?", False, 10, "t-keys"),
        ("CGEN", "U1", "With the vault runbook.", False, 12, "t-keys"),
        ("GSEC", "U1", "Which token leaked?", True, 11, "t-leak"),
        ("GSEC", "U1", "The card token.", True, 13, "t-leak"),
        ("CGEN", "U2", "Lunch?", False, 14, "t-lunch"),
    )
    other = ingest("other", ("CGEN", "U2", "Same key, other source.", False, 9, "t-keys"))
    keys = dict(Item.objects.filter(source_id=slack).values_list("body", "thread_key"))
    asked = [(slack, keys["How do we rotate keys?"]), (slack, keys["Which token leaked?"])]
    alice = colleague_by_email("alice@acme.test")
    bob = colleague_by_email("bob@acme.test")
    assert alice is not None
    assert bob is not None
    as_alice = reader_for(f.make_user("alice", colleague=alice))
    as_bob = reader_for(f.make_user("bob", colleague=bob))

    assert bodies(as_alice, asked) == [
        "How do we rotate keys?",
        "Which token leaked?",
        "With the vault runbook.",
        "The card token.",
    ]
    assert bodies(as_bob, asked) == ["How do we rotate keys?", "With the vault runbook."]
    assert bodies(as_bob, [(other, keys["How do we rotate keys?"])]) == ["Same key, other source."]
    assert bodies(Reader.nobody(), asked) == []
    assert bodies(as_alice, [(slack, "")]) == []


def test_sqlite_finds_the_threads_through_the_source_thread_index() -> None:
    """Whatever its statistics (none here): the index covers the threads' ids."""
    if connection.vendor != "sqlite":
        return  # PostgreSQL picks by cost, with statistics of real tables
    threads = [(1, "t-keys"), (1, "t-leak"), (2, "t-keys")]
    sql, params = items_in_threads(Reader.operator(), threads).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert "COVERING INDEX item_source_thread" in plan, plan
