"""The db index backend: the contract, and the pipeline around it on real ingested data."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from colleagues.models import Colleague, Identity
from connectors.actions import delete_source
from connectors.models import Source
from knowledge.actions import ingest_batch
from knowledge.index import get_index, records_for, scope_for
from knowledge.index.base import PUBLIC, ChunkRecord, Filters, Scope
from knowledge.index.db import DbIndexBackend, reset_caches
from knowledge.indexing import verify_index
from knowledge.models import Audience, Chunk, Container, Item
from knowledge.selectors import items_visible_to
from knowledge.visibility import Reader, reader_for
from tests import factories as f
from tests.knowledge.conftest import CHANNELS, PEOPLE, Org
from tests.knowledge.index.contract import (
    BASE_TIME,
    EMBEDDER,
    IndexBackendContract,
    Spec,
    vector,
)

pytestmark = pytest.mark.django_db

EVERYONE = Scope(principals=None)
_external_ids = itertools.count(1)


class TestDbIndexBackend(IndexBackendContract):
    """The contract, with each record a real Item and Chunk."""

    def backend(self) -> DbIndexBackend:
        Chunk.objects.all().delete()
        Item.objects.all().delete()
        reset_caches()
        return DbIndexBackend(embedder_name=EMBEDDER.name)

    def store(self, specs: list[Spec]) -> list[ChunkRecord]:
        chunk_ids = []
        for spec in specs:
            source = _source(spec.source_id)
            author = None
            if spec.colleague_id is not None:
                colleague, _ = Colleague.objects.get_or_create(
                    pk=spec.colleague_id,
                    defaults={
                        "name": f"Colleague {spec.colleague_id}",
                        "slug": f"colleague-{spec.colleague_id}",
                    },
                )
                author, _ = Identity.objects.get_or_create(
                    pk=1000 + spec.colleague_id,
                    defaults={
                        "kind": "name",
                        "value": f"author-{spec.colleague_id}",
                        "colleague": colleague,
                    },
                )
            audience = _audience(spec.principals)
            item = Item.objects.create(
                source=source,
                external_id=f"spec-{next(_external_ids)}",
                kind=spec.kind,
                author=author,
                body=spec.text,
                created_at=BASE_TIME + timedelta(days=spec.days),
                updated_at=BASE_TIME,
                content_hash="-",
                audience=audience,
            )
            chunk = Chunk.objects.create(item=item, ordinal=0, text=spec.text, audience=audience)
            chunk_ids.append(chunk.pk)
        records = records_for(chunk_ids, embedder_name=EMBEDDER.name)
        return [dataclasses.replace(r, vector=vector(r.text)) for r in records]

    def change(self, record: ChunkRecord, **fields: Any) -> ChunkRecord:
        chunk = Chunk.objects.get(pk=record.chunk_id)
        if "text" in fields:
            chunk.text = fields["text"]
        if "principals" in fields:
            chunk.audience = _audience(fields["principals"])
            Item.objects.filter(pk=chunk.item_id).update(audience=chunk.audience)
        chunk.save(update_fields=["text", "audience"])
        (stored,) = records_for([chunk.pk], embedder_name=EMBEDDER.name)
        return dataclasses.replace(stored, vector=fields.get("vector", record.vector))

    def discard(self, records: list[ChunkRecord]) -> None:
        Chunk.objects.filter(pk__in=[r.chunk_id for r in records]).delete()


def _source(source_id: int) -> Source:
    source, _ = Source.objects.get_or_create(
        pk=source_id, defaults={"name": f"contract-{source_id}", "kind": "docs", "config": {}}
    )
    return source


def _audience(principals: tuple[str, ...]) -> Audience:
    audience, created = Audience.objects.get_or_create(
        fingerprint="contract:" + ",".join(sorted(principals)),
        defaults={"is_public": PUBLIC in principals},
    )
    if created:
        for principal in principals:
            number = int(principal[1:]) if principal != PUBLIC else 0
            if principal.startswith("c"):
                container, _ = Container.objects.get_or_create(
                    pk=number,
                    defaults={
                        "source": _source(1),
                        "external_id": f"C{number}",
                        "name": f"c{number}",
                        "kind": "private_channel",
                    },
                )
                audience.containers.add(container)
            elif principal.startswith("i"):
                identity, _ = Identity.objects.get_or_create(
                    pk=number, defaults={"kind": "name", "value": f"member-{number}"}
                )
                audience.identities.add(identity)
    return audience


# Scope and records from real ingested data (tests/knowledge/conftest.py's organisation).


def _private_channel() -> Container:
    return Container.objects.get(external_id="GSEC")


def test_scope_for_gives_private_channel_members_its_container(org: Org) -> None:
    private = f"c{_private_channel().pk}"
    alice = scope_for(reader_for(org.alice_user))
    carol = scope_for(reader_for(org.carol_user))
    assert alice.principals is not None
    assert carol.principals is not None
    assert private in alice.principals
    assert private not in carol.principals
    assert PUBLIC in carol.principals
    assert {f"i{i}" for i in reader_for(org.alice_user).identity_ids} <= alice.principals


def test_scope_for_outsiders_nobody_and_the_operator(org: Org) -> None:
    assert scope_for(reader_for(org.outsider_user)).principals == frozenset({PUBLIC})
    assert scope_for(Reader.nobody()).principals == frozenset()
    assert scope_for(Reader.operator()).unrestricted


def test_records_for_follow_each_chunks_audience(org: Org) -> None:
    records = {r.text: r for r in records_for(Chunk.objects.all())}
    public = next(r for t, r in records.items() if "terraform" in t)
    private = next(r for t, r in records.items() if "zebracorn" in t)
    mail = next(r for t, r in records.items() if "narwhal" in t)
    assert public.principals == (PUBLIC,)
    # Members of the channel, and holders of a grant on the author's package.
    assert set(private.principals) == {
        f"c{_private_channel().pk}",
        f"a{private.colleague_id}",
    }
    recipients = Identity.objects.filter(value__in=["carol@acme.test", "alice@acme.test"])
    assert set(mail.principals) == {f"i{i.pk}" for i in recipients} | {f"a{org.carol.pk}"}
    assert public.colleague_id == org.bob.pk
    assert mail.colleague_id == org.carol.pk
    assert mail.source_id == org.mail.pk
    assert mail.kind == "email"
    assert all(r.vector is None for r in records.values())  # nothing embedded yet


def test_principals_see_exactly_what_the_visibility_selector_shows(org: Org) -> None:
    records = records_for(Chunk.objects.all())
    for user in (org.alice_user, org.bob_user, org.carol_user, org.outsider_user):
        reader = reader_for(user)
        held = scope_for(reader).principals
        assert held is not None
        by_principals = {r.item_id for r in records if set(r.principals) & held}
        assert by_principals == set(items_visible_to(reader).values_list("id", flat=True))


def test_mail_recipients_find_the_mail_and_others_do_not(org: Org) -> None:
    _embed_all()
    index = get_index()
    query = vector("narwhal budget approved for the billing migration")
    for user, sees in ((org.alice_user, True), (org.carol_user, True), (org.bob_user, False)):
        scope = scope_for(reader_for(user))
        keyword = index.keyword_search("narwhal", scope=scope, filters=Filters(), limit=5)
        near = index.vector_search(query, scope=scope, filters=Filters(), limit=5)
        mail = set(Chunk.objects.filter(item__source=org.mail).values_list("id", flat=True))
        assert bool({h.chunk_id for h in keyword} & mail) is sees
        assert bool({h.chunk_id for h in near} & mail) is sees


def test_private_channel_chunks_reach_members_only(org: Org) -> None:
    _embed_all()
    index = get_index()
    private = set(
        Chunk.objects.filter(item__container__external_id="GSEC").values_list("id", flat=True)
    )
    query = vector("zebracorn outage postmortem")
    for user, sees in ((org.alice_user, True), (org.bob_user, True), (org.carol_user, False)):
        scope = scope_for(reader_for(user))
        near = index.vector_search(query, scope=scope, filters=Filters(), limit=10)
        keyword = index.keyword_search("zebracorn", scope=scope, filters=Filters(), limit=10)
        assert bool({h.chunk_id for h in near} & private) is sees
        assert bool({h.chunk_id for h in keyword} & private) is sees


# The embedding pipeline.


def _embed_all() -> None:
    call_command("index", "reembed", stdout=io.StringIO())


def _verify_json() -> dict[str, Any]:
    return verify_index().as_json()


def test_ingest_embeds_its_chunks_on_commit(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    source = f.make_source("embedded")
    with django_capture_on_commit_callbacks(execute=True):
        ingest_batch(
            source=source,
            batch=f.batch(
                f.message("CGEN", "U1", "The vault runbook covers key rotation."),
                f.message("CGEN", "U2", "Terraform plans run in CI."),
                people=PEOPLE,
                containers=CHANNELS,
            ),
        )
    chunks = list(Chunk.objects.filter(item__source=source))
    assert chunks
    assert {c.embedder for c in chunks} == {EMBEDDER.name}
    assert {c.dimension for c in chunks} == {EMBEDDER.dimension}
    assert all(c.embedding is not None and c.embedded_at is not None for c in chunks)
    hits = get_index().vector_search(
        vector("vault runbook key rotation"), scope=EVERYONE, filters=Filters(), limit=1
    )
    assert hits[0].chunk_id == next(c.pk for c in chunks if "vault" in c.text)


def test_stored_vectors_keep_their_cosine(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    source = f.make_source()
    text = "Quarterly key rotation is owned by the billing team."
    with django_capture_on_commit_callbacks(execute=True):
        ingest_batch(
            source=source,
            batch=f.batch(f.message("CGEN", "U1", text), people=PEOPLE, containers=CHANNELS),
        )
    (record,) = records_for(Chunk.objects.filter(item__source=source))
    assert record.vector is not None
    assert float(record.vector @ vector(text)) > 0.99


def test_a_changed_item_is_chunked_and_embedded_again(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    source = f.make_source()
    first = f.message("CGEN", "U1", "The old deploy process used fabric.", minutes=5)
    with django_capture_on_commit_callbacks(execute=True):
        ingest_batch(source=source, batch=f.batch(first, people=PEOPLE, containers=CHANNELS))
    changed = dataclasses.replace(first, body="The new deploy process uses argo rollouts.")
    with django_capture_on_commit_callbacks(execute=True):
        ingest_batch(source=source, batch=f.batch(changed, people=PEOPLE, containers=CHANNELS))
    (chunk,) = Chunk.objects.filter(item__source=source)
    assert "argo" in chunk.text
    assert chunk.embedder == EMBEDDER.name
    hits = get_index().vector_search(
        vector("argo rollouts deploy"), scope=EVERYONE, filters=Filters(), limit=5
    )
    assert [h.chunk_id for h in hits] == [chunk.pk]
    assert _verify_json()["ok"]


def test_another_models_vectors_are_pending_until_rebuilt(org: Org) -> None:
    _embed_all()
    assert _verify_json()["ok"]
    total = Chunk.objects.count()
    Chunk.objects.update(embedder="an-older-model-v0")
    report = _verify_json()
    assert (report["ok"], report["stale"], report["pending"]) == (False, total, 0)
    # Vectors of another model are never compared with the query's.
    assert not get_index().vector_search(
        vector("billing keys"), scope=EVERYONE, filters=Filters(), limit=5
    )
    out = io.StringIO()
    call_command("index", "rebuild", "--json", stdout=out)
    rebuilt = json.loads(out.getvalue())
    assert rebuilt["embedded"] == total
    assert rebuilt["after"]["ok"]
    assert get_index().vector_search(
        vector("billing keys"), scope=EVERYONE, filters=Filters(), limit=5
    )


def test_verify_reports_pending_chunks_and_exits_non_zero(org: Org) -> None:
    # The org fixture ingests inside the test's transaction: no commit, so nothing embedded.
    total = Chunk.objects.count()
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("index", "verify", "--json", stdout=out)
    assert exited.value.code == 1
    report = json.loads(out.getvalue())
    assert report["backend"] == "db"
    assert report["embedder"] == EMBEDDER.name
    assert (report["chunks"], report["pending"], report["indexed"]) == (total, total, 0)
    assert sorted(report["sample"]["pending"]) == sorted(Chunk.objects.values_list("id", flat=True))
    call_command("index", "rebuild", stdout=io.StringIO())
    call_command("index", "verify", stdout=io.StringIO())  # exits 0 now


def test_an_unknown_index_backend_is_a_configuration_error(settings: Any) -> None:
    settings.COLLEAGUE_INDEX_BACKEND = "elasticsearch"
    with pytest.raises(ImproperlyConfigured, match="elasticsearch"):
        get_index()


# Deletion and the in-memory cache.


def test_a_deleted_source_leaves_no_hit_even_in_a_warm_cache(org: Org, settings: Any) -> None:
    _embed_all()
    index = get_index()
    query = vector("rotate the billing keys every quarter with the vault runbook")
    before = index.vector_search(query, scope=EVERYONE, filters=Filters(), limit=10)
    slack = set(Chunk.objects.filter(item__source=org.source).values_list("id", flat=True))
    assert {h.chunk_id for h in before} & slack
    settings.COLLEAGUE_INDEX_DB_REFRESH_SECONDS = 3600  # the cache will not look again
    delete_source(source=org.source)
    after = index.vector_search(query, scope=EVERYONE, filters=Filters(), limit=10)
    assert not {h.chunk_id for h in after} & slack
    assert {h.item_id for h in after} <= set(Item.objects.values_list("id", flat=True))
    keyword = index.keyword_search("billing", scope=EVERYONE, filters=Filters(), limit=10)
    assert not {h.chunk_id for h in keyword} & slack


def test_a_warm_cache_finds_chunks_embedded_later(org: Org) -> None:
    _embed_all()
    index = get_index()
    index.vector_search(vector("warm up"), scope=EVERYONE, filters=Filters(), limit=1)
    source = f.make_source()
    ingest_batch(
        source=source,
        batch=f.batch(
            f.message("CGEN", "U3", "Kubernetes upgrades happen on the second Tuesday."),
            people=PEOPLE,
            containers=CHANNELS,
        ),
    )
    _embed_all()
    hits = index.vector_search(
        vector("kubernetes upgrades second tuesday"), scope=EVERYONE, filters=Filters(), limit=1
    )
    assert Chunk.objects.get(pk=hits[0].chunk_id).item.source == source


def test_beyond_the_rescore_budget_results_stay_in_scope(
    db: None, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """With more permitted chunks than the rescoring budget, candidates come from the sign-bit
    ranking: still inside the scope, still `limit` of them, the near-duplicate first."""
    settings.COLLEAGUE_INDEX_DB_RESCORE = 8
    source = f.make_source()
    messages = [
        f.message("GSEC", "U1", f"secret payroll export batch {n}", private=True) for n in range(60)
    ] + [f.message("CGEN", "U2", f"release notes for version {n} of the app") for n in range(60)]
    with django_capture_on_commit_callbacks(execute=True):
        ingest_batch(source=source, batch=f.batch(*messages, people=PEOPLE, containers=CHANNELS))
    outsider = Scope(principals=frozenset({PUBLIC}))
    hits = get_index().vector_search(
        vector("release notes for version 42 of the app"),
        scope=outsider,
        filters=Filters(),
        limit=5,
    )
    assert len(hits) == 5
    texts = dict(Chunk.objects.filter(pk__in=[h.chunk_id for h in hits]).values_list("id", "text"))
    assert all("release notes" in t for t in texts.values())
    assert texts[hits[0].chunk_id] == "release notes for version 42 of the app"
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert np.isclose(scores[0], 1.0, atol=0.01)


def test_merging_colleagues_moves_their_chunks_at_once_in_a_warm_cache() -> None:
    """Identities moved to another colleague (colleagues merged) after the vector cache
    loaded: a search scoped to the colleague who kept them finds their chunks by meaning and
    by word at once, and one scoped to the colleague absorbed finds none."""
    store = TestDbIndexBackend()
    backend = store.backend()
    kept = store.store([Spec(f"quarterly budget review {n}", colleague_id=1) for n in range(3)])
    absorbed = store.store([Spec(f"budget forecast draft {n}", colleague_id=2) for n in range(3)])
    backend.upsert(kept + absorbed)
    query = vector("budget forecast draft")
    assert len(backend.vector_search(query, scope=EVERYONE, filters=Filters(), limit=10)) == 6

    Identity.objects.filter(colleague_id=2).update(colleague_id=1)

    for search in (
        lambda f: backend.vector_search(query, scope=EVERYONE, filters=f, limit=10),
        lambda f: backend.keyword_search("budget", scope=EVERYONE, filters=f, limit=10),
    ):
        found = {h.chunk_id for h in search(Filters(colleague_id=1))}
        assert found == {r.chunk_id for r in kept + absorbed}
        assert search(Filters(colleague_id=2)) == []
