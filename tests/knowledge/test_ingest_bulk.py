"""Storing large batches: the bulk path keeps what the ORM path guaranteed (issue 3)."""

from __future__ import annotations

import pytest

from knowledge.actions import ingest_batch
from knowledge.models import Chunk, Item
from knowledge.search import search_items
from knowledge.visibility import Reader
from tests import factories as f

pytestmark = pytest.mark.django_db

PEOPLE = (f.slack_person("U1", "Ann"),)
CONTAINERS = (f.channel("C1", "general", members=("U1",)),)


def test_bulk_inserted_items_keep_their_fields_chunks_and_search() -> None:
    source = f.make_source()
    docs = [f.message("C1", "U1", f"note {n} about pelicans", minutes=n) for n in range(300)]
    result = ingest_batch(source=source, batch=f.batch(*docs, people=PEOPLE, containers=CONTAINERS))
    assert result.created == 300
    stored = Item.objects.get(external_id=docs[7].external_id)
    assert stored.created_at == docs[7].created_at
    assert stored.updated_at == docs[7].updated_at
    assert stored.author is not None
    assert stored.author.value.endswith("/U1")
    assert stored.container is not None
    assert stored.container.external_id == "C1"
    assert stored.metadata == dict(docs[7].metadata)
    assert stored.ingested_at is not None
    assert [c.text for c in stored.chunks.all()] == ["note 7 about pelicans"]
    assert Chunk.objects.filter(audience=stored.audience).count() == 300
    hits = search_items(reader=Reader.operator(), query="pelicans")
    assert hits
    assert all("pelicans" in hit.item.body for hit in hits)


def test_items_stored_by_one_batch_are_unchanged_in_the_next() -> None:
    source = f.make_source()
    docs = [f.message("C1", "U1", f"message {n}", minutes=n) for n in range(20)]
    ingest_batch(source=source, batch=f.batch(*docs[:12], people=PEOPLE, containers=CONTAINERS))
    # A retried batch overlapping the stored one, plus new documents.
    again = ingest_batch(source=source, batch=f.batch(*docs[6:]))
    assert (again.created, again.updated, again.unchanged) == (8, 0, 6)
    assert Item.objects.count() == 20
    assert Chunk.objects.count() == 20


def test_a_changed_document_among_new_ones_is_updated_once() -> None:
    source = f.make_source()
    original = f.message("C1", "U1", "the pelican service", minutes=1)
    ingest_batch(source=source, batch=f.batch(original, people=PEOPLE, containers=CONTAINERS))
    edited = f.message("C1", "U1", "the flamingo service", minutes=1)
    fresh = f.message("C1", "U1", "a new message", minutes=2)
    result = ingest_batch(source=source, batch=f.batch(edited, fresh))
    assert (result.created, result.updated) == (1, 1)
    item = Item.objects.get(external_id=original.external_id)
    assert [c.text for c in item.chunks.all()] == ["the flamingo service"]
