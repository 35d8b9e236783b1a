"""Nobody sees what they could not see at the source, on any surface."""

from __future__ import annotations

import itertools

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from colleagues.models import Colleague
from knowledge.actions import ingest_batch
from knowledge.models import Item
from knowledge.search import search_items
from knowledge.selectors import (
    access_item,
    characteristic_terms,
    items_visible_to,
    visible_items_among,
)
from knowledge.visibility import Reader, reader_for
from tests import factories as f
from tests.knowledge.conftest import Org

pytestmark = pytest.mark.django_db

SECRET_WORD = "zebracorn"


def secret_item(org: Org) -> Item:
    return Item.objects.get(body__contains=SECRET_WORD)


def test_selectors_hide_private_channel_from_non_members(org: Org) -> None:
    assert secret_item(org) in items_visible_to(reader_for(org.bob_user))
    assert secret_item(org) not in items_visible_to(reader_for(org.carol_user))
    assert secret_item(org) not in items_visible_to(reader_for(org.outsider_user))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(wanted=st.lists(st.integers(min_value=-5, max_value=60), max_size=40))
def test_items_among_ids_are_the_visible_ones_with_those_ids(org: Org, wanted: list[int]) -> None:
    """`visible_items_among` (ids as one SQL parameter) keeps exactly what
    `items_visible_to` keeps of those ids, for every reader: repeats, unknown ids and none."""
    for user in (org.alice_user, org.bob_user, org.carol_user, org.outsider_user):
        reader = reader_for(user)
        expected = set(items_visible_to(reader).filter(pk__in=wanted).values_list("pk", flat=True))
        assert set(visible_items_among(reader, wanted).values_list("pk", flat=True)) == expected


def test_items_among_thousands_of_ids_take_one_query(
    org: Org,
    django_assert_num_queries,  # type: ignore[no-untyped-def]
) -> None:
    secret = secret_item(org)
    ids = [*range(100_000, 105_000), secret.pk]
    bob = reader_for(org.bob_user)
    with django_assert_num_queries(1):
        assert list(visible_items_among(bob, ids)) == [secret]
    assert list(visible_items_among(reader_for(org.carol_user), ids)) == []


def test_search_hides_private_channel_from_non_members(org: Org) -> None:
    def found(user) -> bool:  # type: ignore[no-untyped-def]
        return any(
            SECRET_WORD in h.item.body
            for h in search_items(reader=reader_for(user), query=SECRET_WORD)
        )

    assert found(org.alice_user)
    assert found(org.bob_user)
    assert not found(org.carol_user)
    assert not found(org.outsider_user)


def test_mail_is_visible_to_sender_and_recipients_only(org: Org) -> None:
    def sees(user) -> bool:  # type: ignore[no-untyped-def]
        return bool(search_items(reader=reader_for(user), query="narwhal"))

    assert sees(org.carol_user)
    assert sees(org.alice_user)
    assert not sees(org.bob_user)
    assert not sees(org.outsider_user)


def test_user_without_colleague_sees_only_public(org: Org) -> None:
    visible = items_visible_to(reader_for(org.outsider_user))
    assert visible.count() == 3
    assert all(item.audience.is_public for item in visible)


def test_anonymous_reader_sees_nothing(org: Org) -> None:
    assert not items_visible_to(Reader.nobody()).exists()
    assert search_items(reader=Reader.nobody(), query="billing") == []


def test_hidden_item_is_404_not_403(org: Org) -> None:
    from django.http import Http404

    with pytest.raises(Http404):
        access_item(reader_for(org.carol_user), secret_item(org).pk)


def test_leaving_a_private_channel_removes_access_on_next_read(org: Org) -> None:
    bob = reader_for(org.bob_user)
    assert secret_item(org) in items_visible_to(bob)
    ingest_batch(
        source=org.source,
        batch=f.batch(
            containers=(f.channel("GSEC", "payments-incidents", private=True, members=("U1",)),)
        ),
    )
    assert secret_item(org) not in items_visible_to(reader_for(org.bob_user))


def test_characteristic_terms_use_only_visible_items(org: Org) -> None:
    alice_terms = {t.term for t in characteristic_terms(reader_for(org.bob_user), org.alice)}
    carol_view = {t.term for t in characteristic_terms(reader_for(org.carol_user), org.alice)}
    assert SECRET_WORD not in carol_view
    # Carol sees only Alice's public message, which holds each word once: too few for a term.
    assert alice_terms >= carol_view


def test_pages_hide_private_channel_from_non_members(org: Org) -> None:
    member, other = Client(), Client()
    member.force_login(org.bob_user)
    other.force_login(org.carol_user)
    search_url = reverse("knowledge:search") + "?q=postmortem"
    assert SECRET_WORD in member.get(search_url).content.decode()
    assert SECRET_WORD not in other.get(search_url).content.decode()
    page = reverse("colleagues:detail", kwargs={"slug": org.alice.slug})
    assert SECRET_WORD in member.get(page).content.decode()
    assert SECRET_WORD not in other.get(page).content.decode()
    item_url = reverse("knowledge:item", kwargs={"pk": secret_item(org).pk})
    assert member.get(item_url).status_code == 200
    assert other.get(item_url).status_code == 404


def test_api_hides_private_channel_from_non_members(org: Org) -> None:
    member, other = APIClient(), APIClient()
    member.force_authenticate(org.bob_user)
    other.force_authenticate(org.carol_user)
    item_id = secret_item(org).pk
    assert member.get(f"/api/items/{item_id}/").status_code == 200
    assert other.get(f"/api/items/{item_id}/").status_code == 404
    listed = [row["id"] for row in other.get("/api/items/?page_size=100").json()["results"]]
    assert item_id not in listed
    assert item_id in [row["id"] for row in member.get("/api/items/").json()["results"]]
    found = other.get("/api/search/", {"q": SECRET_WORD}).json()["results"]
    assert found == []
    assert member.get("/api/search/", {"q": SECRET_WORD}).json()["results"][0]["item_id"] == item_id


def test_api_refuses_anonymous_callers(org: Org) -> None:
    client = APIClient()
    for url in ("/api/items/", "/api/colleagues/", "/api/search/?q=billing"):
        assert client.get(url).status_code == 401


_scenario = itertools.count()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    people=st.integers(min_value=2, max_value=6),
    channels=st.lists(
        st.tuples(st.booleans(), st.sets(st.integers(min_value=0, max_value=5))),
        min_size=1,
        max_size=4,
    ),
    posts=st.lists(
        st.tuples(st.integers(min_value=0, max_value=5), st.integers(min_value=0, max_value=3)),
        min_size=1,
        max_size=12,
    ),
    mails=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=5), st.sets(st.integers(min_value=0, max_value=5))
        ),
        max_size=5,
    ),
)
def test_random_organisations_never_leak(db, people, channels, posts, mails) -> None:  # type: ignore[no-untyped-def]
    """Every user sees exactly what the source model allows: public, member of, or addressed."""
    n = next(_scenario)
    word = f"token{n}x"
    uids = [f"S{n}P{i}" for i in range(people)]
    emails = [f"p{i}.s{n}@acme.test" for i in range(people)]
    specs = []
    for c, (private, members) in enumerate(channels):
        member_ids = tuple(uids[m] for m in members if m < people)
        specs.append((f"S{n}C{c}", private, member_ids))
    documents = []
    expected_by_person: dict[int, set[str]] = {i: set() for i in range(people)}
    public: set[str] = set()
    for k, (author, channel_index) in enumerate(posts):
        if author >= people or channel_index >= len(specs):
            continue
        cid, private, member_ids = specs[channel_index]
        doc = f.message(cid, uids[author], f"{word} post {k}", private=private)
        documents.append(doc)
        if not private:
            public.add(doc.external_id)
        for i, uid in enumerate(uids):
            if private and uid in member_ids:
                expected_by_person[i].add(doc.external_id)
    for k, (sender, recipients) in enumerate(mails):
        if sender >= people:
            continue
        to = tuple(emails[r] for r in recipients if r < people)
        doc = f.email(emails[sender], to, "note", f"{word} mail {k}", message_id=f"m{k}.s{n}@test")
        documents.append(doc)
        for i in {sender, *(r for r in recipients if r < people)}:
            expected_by_person[i].add(doc.external_id)
    source = f.make_source(f"scenario-{n}")
    ingest_batch(
        source=source,
        batch=f.batch(
            *documents,
            people=tuple(
                f.slack_person(uid, f"P{i} S{n}", emails[i]) for i, uid in enumerate(uids)
            ),
            containers=tuple(
                f.channel(cid, cid, private=private, members=member_ids)
                for cid, private, member_ids in specs
            ),
        ),
    )
    for i in range(people):
        colleague = Colleague.objects.get(email=emails[i])
        user = f.make_user(f"user-{n}-{i}", colleague=colleague)
        reader = reader_for(user)
        expected = public | expected_by_person[i]
        seen = set(
            items_visible_to(reader).filter(source=source).values_list("external_id", flat=True)
        )
        assert seen == expected
        found = {
            h.item.external_id
            for h in search_items(reader=reader, query=word, limit=100)
            if h.item.source_id == source.pk
        }
        assert found == expected
