"""Randomized access control (docs/SECURITY.md row 8): no surface shows what a user may not see.

A hypothesis state machine builds a small organisation step by step — users, groups,
departments, private channels and their membership, DMs, mail, grants and their revocation or
expiry, departures, redactions, package builds — and keeps its own model of who may see which item:

    a user sees an item when they are an active login whose colleague (if any) has not
    departed, and the item is public, or their colleague is a member of its private channel or
    DM, or a sender or recipient of its mail, or they hold a live grant (user, group or
    department) on the package of the item's author.

After every step, for every user, the item and chunk selectors must show exactly the model's
items and the index backend nothing beyond them; at random steps (a rule of its own) and at the
end of every scenario, every other surface is checked for a user: hybrid search, ask and the
evidence an LLM would be handed (prompt text included), who knows, every built package as the
user sees it, the REST API, and the Slack command (`/colleague ask` and `who knows`, signed,
answered to a local Slack-shaped server). Each message carries a unique token, so a leak of its text
anywhere in a surface's output is caught too, not only a leak of its id.

The number of scenarios is `ACCESS_SCENARIOS` (default 60, about a minute here); the figure
in docs/BENCHMARKS.md comes from `ACCESS_SCENARIOS=10000 pytest tests/test_access_scenarios.py`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction
from django.test import Client, TestCase
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from pytest_django.fixtures import Settings

from answers.ask import gather_evidence
from answers.llm_mode import build_prompt, profile_of
from answers.who_knows import who_knows
from colleagues.access import can_view_package
from colleagues.grants import grant_access, revoke_grant
from colleagues.models import AccessGrant, Colleague
from colleagues.selectors import colleague_by_email
from connectors.base import Audience, SourceContainer, SourceDocument
from knowledge.actions import ingest_batch
from knowledge.index import get_index, scope_for
from knowledge.index.base import Filters
from knowledge.models import Item
from knowledge.redaction import redact_item
from knowledge.retrieval import retrieve
from knowledge.selectors import chunks_visible_to, items_visible_to
from knowledge.visibility import Reader, reader_for
from skills.actions import build_package
from skills.selectors import package_view, version_of
from slack_command.signature import sign
from tests import factories as f
from tests.connectors.slack.fake_slack import TOKEN as SLACK_TOKEN
from tests.connectors.slack.fake_slack import FakeSlack

PEOPLE_COUNT = 4
DEPARTMENTS = ("Payments", "Platform")
WORD = "kiwi"


def _email(i: int) -> str:
    return f"p{i}@acme.test"


def _slack(i: int) -> str:
    return f"U{i}"


def _login_email(name: str) -> str:
    """A login's own address: what the Slack command maps a Slack user to."""
    return f"{name}@logins.test"


def _slack_user_of(name: str) -> str:
    return f"USLACK{name.upper()}"


SLACK_SECRET = "scenario-signing-secret"
_slack_requests = itertools.count(1)  # response URL names, unique over all scenarios
_slack_turns = itertools.count()


@dataclass
class Post:
    """An item as the model knows it: who may see it at the source, and its unique token."""

    item_external_id: str
    author: int
    token: str
    public: bool = False
    container: str = ""  # a private channel or DM: its members see it
    people: frozenset[int] = frozenset()  # mail: sender and recipients see it


@dataclass
class LiveGrant:
    grant_id: int
    colleague: int
    user: str = ""
    group: bool = False
    department: str = ""


@dataclass
class World:
    colleagues: dict[int, Colleague] = field(default_factory=dict)
    departed: set[int] = field(default_factory=set)
    users: dict[str, AbstractUser] = field(default_factory=dict)
    user_colleague: dict[str, int | None] = field(default_factory=dict)
    in_group: set[str] = field(default_factory=set)
    members: dict[str, set[int]] = field(default_factory=dict)  # container -> people
    dms: set[str] = field(default_factory=set)
    posts: list[Post] = field(default_factory=list)
    grants: dict[int, LiveGrant] = field(default_factory=dict)
    built: set[int] = field(default_factory=set)
    redacted: list[Post] = field(default_factory=list)


def _department(i: int) -> str:
    return DEPARTMENTS[i % 2]


class AccessMachine(RuleBasedStateMachine):
    containers = Bundle("containers")
    grants = Bundle("grants")
    # Slack's Web API and response URLs, for the Slack surface (started by the test).
    slack_fake: FakeSlack

    def __init__(self) -> None:
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.world = World()
        self.counter = 0

    # The organisation.

    @initialize()
    def organisation(self) -> None:
        w = self.world
        self.slack = f.make_source("scenario-slack")
        self.slack.config = {"include_direct_messages": True}
        self.slack.save(update_fields=["config"])
        self.mail = f.make_source("scenario-mail", kind="email")
        self.group = Group.objects.create(name="scenario-group")
        people = tuple(
            f.slack_person(_slack(i), f"Person {i}", _email(i)) for i in range(PEOPLE_COUNT)
        )
        general = f.channel("CPUB", "general", members=tuple(_slack(i) for i in range(4)))
        ingest_batch(
            source=self.slack,
            batch=f.batch(
                self._document("CPUB", 0, public=True), people=people, containers=(general,)
            ),
        )
        self.people = people
        for i in range(PEOPLE_COUNT):
            colleague = colleague_by_email(_email(i))
            assert colleague is not None
            colleague.department = _department(i)
            colleague.save(update_fields=["department"])
            w.colleagues[i] = colleague
        # Logins: three people, and one with no colleague. Person 3 has no login.
        for i in range(3):
            name = f"user{i}"
            w.users[name] = f.make_user(name, colleague=w.colleagues[i], email=_login_email(name))
            w.user_colleague[name] = i
        w.users["outsider"] = f.make_user("outsider", email=_login_email("outsider"))
        w.user_colleague["outsider"] = None

    def _document(self, container: str, author: int, *, public: bool = False) -> SourceDocument:
        self.counter += 1
        token = f"zq{self.counter}x"
        at = f.BASE_TIME + timedelta(minutes=self.counter)
        document = SourceDocument(
            external_id=f"{container}/{self.counter}",
            kind="message",
            title=f"#{container}",
            body=f"{WORD} rotation notes {token} about the billing keys",
            author=f.slack_ref(_slack(author)),
            created_at=at,
            updated_at=at,
            audience=Audience(public=True) if public else Audience(containers=(container,)),
            container_id=container,
        )
        self.world.posts.append(
            Post(
                item_external_id=document.external_id,
                author=author,
                token=token,
                public=public,
                container="" if public else container,
            )
        )
        return document

    def _container(self, name: str) -> SourceContainer:
        members = tuple(_slack(i) for i in sorted(self.world.members[name]))
        if name in self.world.dms:
            return SourceContainer(
                name, name, "dm", True, members=tuple(f.slack_ref(m) for m in members)
            )
        return f.channel(name, name.lower(), private=True, members=members)

    @rule(target=containers, members=st.sets(st.integers(0, PEOPLE_COUNT - 1), min_size=1))
    def private_channel(self, members: set[int]) -> str:
        name = f"GPRIV{len(self.world.members)}"
        self.world.members[name] = set(members)
        ingest_batch(
            source=self.slack,
            batch=f.batch(people=self.people, containers=(self._container(name),)),
        )
        return name

    @rule(
        target=containers,
        pair=st.lists(st.integers(0, PEOPLE_COUNT - 1), min_size=2, max_size=2, unique=True),
    )
    def direct_messages(self, pair: list[int]) -> str:
        name = f"DDM{len(self.world.members)}"
        self.world.members[name] = set(pair)
        self.world.dms.add(name)
        ingest_batch(
            source=self.slack,
            batch=f.batch(people=self.people, containers=(self._container(name),)),
        )
        return name

    @rule(container=containers, data=st.data())
    def post_privately(self, container: str, data: st.DataObject) -> None:
        author = data.draw(st.sampled_from(sorted(self.world.members[container])))
        document = self._document(container, author)
        ingest_batch(
            source=self.slack,
            batch=f.batch(document, people=self.people, containers=(self._container(container),)),
        )

    @rule(author=st.integers(0, PEOPLE_COUNT - 1))
    def post_publicly(self, author: int) -> None:
        general = f.channel("CPUB", "general", members=tuple(_slack(i) for i in range(4)))
        ingest_batch(
            source=self.slack,
            batch=f.batch(
                self._document("CPUB", author, public=True),
                people=self.people,
                containers=(general,),
            ),
        )

    @rule(
        container=containers,
        person=st.integers(0, PEOPLE_COUNT - 1),
        join=st.booleans(),
    )
    def change_membership(self, container: str, person: int, join: bool) -> None:
        if container in self.world.dms:
            return  # a DM's participants never change
        members = self.world.members[container]
        if join:
            members.add(person)
        elif len(members) > 1:
            members.discard(person)
        ingest_batch(
            source=self.slack,
            batch=f.batch(people=self.people, containers=(self._container(container),)),
        )

    @rule(
        sender=st.integers(0, PEOPLE_COUNT - 1),
        recipients=st.sets(st.integers(0, PEOPLE_COUNT - 1), min_size=1, max_size=2),
    )
    def send_mail(self, sender: int, recipients: set[int]) -> None:
        self.counter += 1
        token = f"zq{self.counter}x"
        document = f.email(
            _email(sender),
            tuple(_email(r) for r in sorted(recipients)),
            "Keys",
            f"{WORD} mail {token} on rotating the billing keys",
            message_id=f"mail-{self.counter}@acme.test",
        )
        ingest_batch(source=self.mail, batch=f.batch(document))
        self.world.posts.append(
            Post(
                item_external_id=document.external_id,
                author=sender,
                token=token,
                people=frozenset({sender, *recipients}),
            )
        )

    # Grants, departures, packages.

    @rule(
        target=grants,
        colleague=st.integers(0, PEOPLE_COUNT - 1),
        grantee=st.sampled_from(["user0", "user1", "user2", "outsider", "group", *DEPARTMENTS]),
        level=st.sampled_from(AccessGrant.Level.values),
    )
    def grant(self, colleague: int, grantee: str, level: str) -> int:
        w = self.world
        kwargs: dict[str, object] = {}
        if grantee == "group":
            kwargs["group"] = self.group
        elif grantee in DEPARTMENTS:
            kwargs["department"] = grantee
        else:
            kwargs["user"] = w.users[grantee]
        grant = grant_access(w.colleagues[colleague], level=level, **kwargs)  # type: ignore[arg-type]
        w.grants[grant.pk] = LiveGrant(
            grant_id=grant.pk,
            colleague=colleague,
            user=grantee if grantee in w.users else "",
            group=grantee == "group",
            department=grantee if grantee in DEPARTMENTS else "",
        )
        return grant.pk

    @rule(grant_id=consumes(grants), expire=st.booleans())
    def end_grant(self, grant_id: int, expire: bool) -> None:
        grant = AccessGrant.objects.get(pk=grant_id)
        if expire:
            AccessGrant.objects.filter(pk=grant_id).update(
                expires_at=timezone.now() - timedelta(seconds=1)
            )
        else:
            revoke_grant(grant)
        del self.world.grants[grant_id]

    @rule(user=st.sampled_from(["user0", "user1", "user2", "outsider"]), join=st.booleans())
    def group_membership(self, user: str, join: bool) -> None:
        if join:
            self.world.users[user].groups.add(self.group)
            self.world.in_group.add(user)
        else:
            self.world.users[user].groups.remove(self.group)
            self.world.in_group.discard(user)

    @rule(person=st.integers(0, PEOPLE_COUNT - 1))
    def depart(self, person: int) -> None:
        colleague = self.world.colleagues[person]
        colleague.status = Colleague.Status.DEPARTED
        colleague.departed_on = timezone.localdate()
        colleague.save(update_fields=["status", "departed_on"])
        self.world.departed.add(person)

    @rule(data=st.data())
    def redact(self, data: st.DataObject) -> None:
        """A curator redacts one item: it is gone from every surface, packages rebuilt."""
        if not self.world.posts:
            return
        post = data.draw(st.sampled_from(self.world.posts))
        item = Item.objects.get(external_id=post.item_external_id)
        redact_item(item, actor=None, reason="scenario")
        self.world.posts.remove(post)
        self.world.redacted.append(post)

    @rule(person=st.integers(0, PEOPLE_COUNT - 1))
    def build(self, person: int) -> None:
        build_package(self.world.colleagues[person])
        self.world.built.add(person)

    # The model.

    def _may_see(self, user: str, post: Post) -> bool:
        w = self.world
        own = w.user_colleague[user]
        if own is not None and own in w.departed:
            return False
        if post.public:
            return True
        if own is not None and post.container and own in w.members[post.container]:
            return True
        if own is not None and own in post.people:
            return True
        own_department = _department(own) if own is not None else None
        for g in w.grants.values():
            if g.colleague != post.author:
                continue
            if (
                g.user == user
                or (g.group and user in w.in_group)
                or (g.department and g.department == own_department)
            ):
                return True
        return False

    def _allowed(self, user: str) -> tuple[set[int], set[str]]:
        """Item ids the user may see, and the tokens of those they may not."""
        ids = dict(
            Item.objects.filter(
                external_id__in=[p.item_external_id for p in self.world.posts]
            ).values_list("external_id", "id")
        )
        allowed = {ids[p.item_external_id] for p in self.world.posts if self._may_see(user, p)}
        hidden = {p.token for p in self.world.posts if not self._may_see(user, p)}
        hidden |= {p.token for p in self.world.redacted}
        return allowed, hidden

    @invariant()
    def selectors_and_index_follow_the_model(self) -> None:
        """After every step, for every user: the selectors show exactly the model's items, and
        the index returns none beyond them."""
        for name, user in self.world.users.items():
            allowed, _ = self._allowed(name)
            reader = reader_for(user)
            assert set(items_visible_to(reader).values_list("id", flat=True)) == allowed, name
            chunks = chunks_visible_to(reader).values_list("item_id", flat=True)
            assert set(chunks) == allowed, name
            hits = get_index().keyword_search(
                WORD, scope=scope_for(reader), filters=Filters(), limit=10_000
            )
            assert {h.item_id for h in hits} <= allowed, f"keyword index for {name}"

    @rule(name=st.sampled_from(["user0", "user1", "user2", "outsider"]))
    def every_surface(self, name: str) -> None:
        """At random points: every surface, for one user."""
        self._check_surfaces(name)

    def teardown(self) -> None:
        try:
            if self.world.users:
                for name in self.world.users:
                    self._check_surfaces(name)
        finally:
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)

    def _check_surfaces(self, name: str) -> None:
        user = self.world.users[name]
        allowed, hidden = self._allowed(name)
        self._check_reader(name, user, reader_for(user), allowed, hidden)

    def _check_reader(
        self,
        name: str,
        user: AbstractUser,
        reader: Reader,
        allowed: set[int],
        hidden: set[str],
    ) -> None:
        def clean(text: str, surface: str) -> None:
            leaked = [t for t in hidden if t in text]
            assert not leaked, f"{surface} shows {name} hidden tokens {leaked}"

        found = retrieve(reader, f"{WORD} billing keys", limit=100)
        assert {h.item.pk for h in found.hits} <= allowed, f"search for {name}"
        # Who knows.
        for expert in who_knows(reader, f"{WORD} billing keys rotation", limit=5):
            assert {e.item_id for e in expert.evidence} <= allowed, f"who knows for {name}"
            clean(json.dumps(expert.as_json()), "who knows")
        # Ask, the evidence an LLM is handed, and packages: for each colleague they may open.
        for colleague in self.world.colleagues.values():
            if not can_view_package(user, colleague):
                continue
            evidence = gather_evidence(reader, colleague, f"{WORD} billing keys", limit=5)
            prompt = build_prompt(evidence, profile_of(evidence))
            assert {p.item.pk for p in prompt.pieces} <= allowed, f"LLM evidence for {name}"
            clean("\n".join(m.content for m in prompt.messages), "LLM prompt")
            version = version_of(colleague)
            if version is not None:
                view = package_view(reader, version)
                assert set(view.evidence) <= allowed, f"package for {name}"
                clean(json.dumps(view.files.files), f"{colleague}'s package")
        # The REST API.
        client = Client()
        client.force_login(user)
        response = client.get("/api/search/", {"q": WORD, "limit": 50})
        if reader.is_member:
            assert response.status_code == 200
            ids = {r["item_id"] for r in response.json()["results"]}
            assert ids <= allowed, f"API search for {name}"
            clean(response.content.decode(), "API search")
        items = client.get("/api/items/", {"page_size": 200})
        if items.status_code == 200:
            clean(items.content.decode(), "API items")
        # Slack, as the Slack user mapped to this login: who knows, and ask one colleague, in
        # turn (every colleague, over a scenario's checks; the other surfaces ask them all).
        asked = next(_slack_turns) % PEOPLE_COUNT
        questions = [f"who knows {WORD} billing keys rotation", f"ask {_email(asked)} {WORD} keys"]
        for question in questions:
            reply = self._slack_reply(name, question)
            cited = {int(n) for n in re.findall(r"/knowledge/items/(\d+)/", reply)}
            assert cited <= allowed, f"Slack {question!r} for {name}"
            clean(reply, "Slack")

    def _slack_reply(self, name: str, text: str) -> str:
        """What `/colleague text` sent by `name`'s Slack user gets back, as JSON text."""
        slack = self.slack_fake
        key = f"scenario-{next(_slack_requests)}"
        body = urlencode(
            {
                "team_id": f.WORKSPACE,
                "user_id": _slack_user_of(name),
                "channel_id": "CPUB",
                "command": "/colleague",
                "text": text,
                "response_url": slack.response_url(key),
                "trigger_id": key,
            }
        ).encode()
        at = str(int(time.time()))
        headers = {
            "X-Slack-Request-Timestamp": at,
            "X-Slack-Signature": sign(SLACK_SECRET, body, at),
        }
        with TestCase.captureOnCommitCallbacks(execute=True):
            ack = Client().generic(
                "POST",
                "/slack/commands/",
                body,
                "application/x-www-form-urlencoded",
                headers=headers,
            )
        assert ack.status_code == 200, ack.content
        (reply,) = slack.responses_to(key)
        return json.dumps(reply)


def _scenarios() -> int:
    return int(os.environ.get("ACCESS_SCENARIOS", "60"))


@pytest.mark.django_db
def test_no_surface_shows_what_a_user_may_not_see(settings: Settings) -> None:
    with FakeSlack() as slack:
        for name in ("user0", "user1", "user2", "outsider"):
            slack.add_user(
                _slack_user_of(name), name, email=_login_email(name), team_id=f.WORKSPACE
            )
        settings.SLACK_SIGNING_SECRET = SLACK_SECRET
        settings.SLACK_BOT_TOKEN = SLACK_TOKEN
        settings.SLACK_API_URL = slack.base_url
        settings.SLACK_RESPONSE_URL_PREFIXES = [slack.response_url_prefix]
        AccessMachine.slack_fake = slack
        _run_scenarios()


def _run_scenarios() -> None:
    run_state_machine_as_test(
        AccessMachine,
        settings=settings(
            max_examples=_scenarios(),
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=os.environ.get("ACCESS_SCENARIOS_RANDOM") is None,
        ),
    )
