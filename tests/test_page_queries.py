"""List pages read the database a fixed number of times, however many rows they list (issue 11,
item 6): no N+1 query.

Each test renders a page with a few rows, adds many more rows of what the page lists, renders it
again, and asserts both renders ran the same number of SQL queries, below a stated bound. A
query per listed row (a foreign key read in the template, a count per row) makes the second
count larger and the test fail. The rows are made through the actions users' requests go
through (ingest, grants, cases, tokens, feedback, audit records).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.actions import create_token
from answers.conversations import ask_in_conversation, give_feedback
from colleagues.grants import grant_access
from colleagues.models import Colleague
from colleagues.roles import Role
from connectors.models import QuarantinedFile, Source, SyncRun
from knowledge import audit
from knowledge.actions import ingest_batch
from knowledge.erasure import request_erasure
from knowledge.models import Container, Item, RedactionRequest, RetentionPolicy
from knowledge.redaction import reject_request, request_redaction
from knowledge.retention.holds import place_hold
from knowledge.retention.policies import create_policy
from offboarding import cases
from offboarding.handover import set_successor
from skills.actions import add_correction, build_packages
from skills.models import Correction, SkillPackage
from tests import factories as f

pytestmark = pytest.mark.django_db

FEW = 2
MANY = 12
_serial = itertools.count(1)


def _make_user(username: str, **kwargs: Any) -> User:
    return cast(User, f.make_user(username, **kwargs))


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def queries_of(
    client: Client, path: str, method: str = "get", data: dict[str, str] | None = None
) -> tuple[list[str], str]:
    """The SQL of one request to `path` (which must succeed), and the page."""
    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(path, data or {})
    assert response.status_code == 200, (path, response.status_code)
    return [q["sql"] for q in captured.captured_queries], response.content.decode()


def _shape(sql: str) -> str:
    """The statement without its literals, to group a repeated query."""
    return re.sub(r"'[^']*'|\b\d+\b", "?", sql)[:300]


def assert_flat(
    client: Client,
    path: str,
    grow: Callable[[int], object],
    bound: int,
    *,
    shown: str,
    method: str = "get",
    data: dict[str, str] | None = None,
) -> None:
    """`path` runs the same number of queries (at most `bound`) with FEW and with MANY rows;
    `shown`, a text of each listed row, appears more often with MANY (the rows are listed).

    Each state is rendered twice: the first render after new rows may fill caches (package
    outlines, once per process), the second is the steady state. The steady counts must be
    equal; the first render with MANY rows may not take more queries than the one with FEW (a
    cache filled row by row would).
    """
    grow(FEW)
    cold_few, _ = queries_of(client, path, method, data)
    few, page_few = queries_of(client, path, method, data)
    grow(MANY - FEW)
    cold_many, _ = queries_of(client, path, method, data)
    many, page_many = queries_of(client, path, method, data)
    assert page_many.count(shown) > page_few.count(shown), f"{path} does not list more {shown!r}"
    for before, after in ((few, many), (cold_few, cold_many)):
        extra = Counter(map(_shape, after)) - Counter(map(_shape, before))
        grown = (
            f"{path}: {len(before)} queries with {FEW} rows, {len(after)} with {MANY}; more of:\n"
            + "\n".join(f"{n} x {sql}" for sql, n in extra.most_common(5))
        )
        assert len(after) <= len(before), grown
        assert before is cold_few or len(after) == len(before), grown
    assert len(many) <= bound, f"{path}: {len(many)} queries, bound {bound}"


def _word(n: int) -> str:
    """A word of letters only, different for each n (a system name of its own)."""
    return "".join(chr(ord("a") + int(d)) for d in str(n))


def authors(count: int, *, build: bool = False) -> list[Colleague]:
    """`count` new colleagues, each the author of three public Slack messages (one a thread
    reply) about deploys, billing key rotation and a repository of their own; their packages
    built when `build`."""
    source = Source.objects.filter(name="perf-slack").first() or f.make_source("perf-slack")
    people, documents = [], []
    for _ in range(count):
        n = next(_serial)
        user_id = f"UPERF{n:05d}"
        repository = f"acme/svc-{_word(n)}"
        people.append(f.slack_person(user_id, f"Perf Person{n}", f"perf{n}@acme.test"))
        first = f.message("CPERF0001", user_id, f"How do we deploy the billing service {n}?")
        documents += [
            first,
            f.message(
                "CPERF0001",
                user_id,
                f"Deploy {repository} with the runbook; rotate the billing key first ({n}).",
                thread=first.external_id,
            ),
            f.message("CPERF0001", user_id, f"I merged the fix into {repository} today."),
            f.message("CPERF0001", user_id, f"{repository} has a new release."),
        ]
    general = f.channel("CPERF0001", "perf-general")
    ingest_batch(
        source=source,
        batch=f.batch(*documents, people=tuple(people), containers=(general,)),
    )
    made = list(Colleague.objects.filter(email__in=[p.email for p in people]))
    assert len(made) == count
    if build:
        outcomes = build_packages(made)
        assert [o.error for o in outcomes if o.version is None] == []
    return made


@pytest.fixture
def employee() -> User:
    """An employee with a colleague of their own (reads public channels)."""
    colleague = Colleague.objects.create(name="Erin Reader", email="erin@acme.test", slug="erin")
    return _make_user("erin", colleague=colleague, roles=(Role.EMPLOYEE,))


@pytest.fixture
def hr() -> User:
    colleague = Colleague.objects.create(name="Hana Hr", email="hana@acme.test", slug="hana")
    return _make_user("hana", colleague=colleague, roles=(Role.HR_ADMIN,), is_staff=True)


@pytest.fixture
def auditor() -> User:
    return _make_user("audrey", roles=(Role.AUDITOR,))


# --- Directory, search, who knows ------------------------------------------------------------


def test_directory(employee: User) -> None:
    def grow(count: int) -> None:
        boss = Colleague.objects.create(
            name=f"Boss {next(_serial)}", email="", slug=f"boss-{next(_serial)}"
        )
        for _ in range(count):
            n = next(_serial)
            Colleague.objects.create(
                name=f"Dir Person{n}", slug=f"dir-{n}", department=f"Dept {n % 3}", manager=boss
            )

    assert_flat(signed_in(employee), "/colleagues/", grow, bound=8, shown="Dir Person")


def test_search_results(employee: User) -> None:
    assert_flat(
        signed_in(employee), "/knowledge/search/?q=deploy", authors, bound=20, shown="Perf Person"
    )


def test_who_knows(employee: User) -> None:
    def grow(count: int) -> None:
        authors(count, build=True)

    assert_flat(
        signed_in(employee), "/who-knows/?q=deploy+billing+key", grow, bound=35, shown="Perf Person"
    )


def test_colleague_page_recent_items(employee: User) -> None:
    """A colleague's page lists their 20 latest items."""
    author = authors(1)[0]
    assert_flat(
        signed_in(employee),
        f"/colleagues/{author.slug}/",
        _writes(author),
        bound=25,
        shown="deploy note",
    )


# --- Skills, curation, grants, tokens --------------------------------------------------------


def test_skills_overview(hr: User) -> None:
    def grow(count: int) -> None:
        authors(count, build=True)

    assert_flat(signed_in(hr), "/skills/", grow, bound=8, shown="Perf Person")


def test_curation_feedback(hr: User, employee: User) -> None:
    expert = authors(1, build=True)[0]

    def grow(count: int) -> None:
        for _ in range(count):
            turn = ask_in_conversation(
                user=employee, colleague=expert, question=f"how do we deploy {next(_serial)}?"
            )
            give_feedback(
                turn=turn,
                user=employee,
                verdict="wrong",
                comment="the runbook moved",
                correction_kind=Correction.Kind.WORK,
                correction_wrong="runbook",
                correction_right="wiki page",
            )

    assert_flat(signed_in(hr), "/curation/feedback/", grow, bound=10, shown="the runbook moved")


def test_access_page_grants(hr: User) -> None:
    subject = authors(1)[0]

    def grow(count: int) -> None:
        for _ in range(count):
            n = next(_serial)
            holder = _make_user(f"holder{n}", roles=(Role.EMPLOYEE,))
            grant_access(subject, user=holder, reason="handover", actor=hr)
            grant_access(subject, department=f"Dept {n}", reason="team", actor=hr)

    assert_flat(signed_in(hr), f"/colleagues/{subject.slug}/access/", grow, bound=10, shown="Dept ")


def test_agent_tokens(employee: User) -> None:
    def grow(count: int) -> None:
        for _ in range(count):
            create_token(
                employee,
                name=f"token {next(_serial)}",
                scopes=["ask"],
                expires_at=timezone.now() + timedelta(days=30),
            )

    assert_flat(signed_in(employee), "/agents/tokens/", grow, bound=8, shown="token ")


# --- Sources and offboarding -----------------------------------------------------------------


def _sources(count: int) -> None:
    for _ in range(count):
        source = f.make_source()
        run = SyncRun.objects.create(source=source, status=SyncRun.Status.SUCCEEDED)
        QuarantinedFile.objects.create(
            source=source, run=run, path="bad.zip", error_type="BadZip", message="hostile"
        )


def test_sources_list(hr: User) -> None:
    assert_flat(signed_in(hr), "/sources/", _sources, bound=6, shown="source-")


def test_source_page_runs(hr: User) -> None:
    source = f.make_source()

    def grow(count: int) -> None:
        for _ in range(count):
            run = SyncRun.objects.create(source=source, status=SyncRun.Status.SUCCEEDED)
            QuarantinedFile.objects.create(
                source=source,
                run=run,
                path=f"bad{next(_serial)}.zip",
                error_type="BadZip",
                message="hostile",
            )

    assert_flat(signed_in(hr), f"/sources/{source.pk}/", grow, bound=14, shown="BadZip")


def _cases(count: int) -> None:
    for colleague in authors(count):
        cases.open_case(colleague, last_day=timezone.localdate() + timedelta(days=14), via="ui")


def test_offboarding_dashboard(hr: User) -> None:
    assert_flat(signed_in(hr), "/offboarding/", _cases, bound=12, shown="Perf Person")


def test_bus_factor(hr: User) -> None:
    def grow(count: int) -> None:
        authors(count, build=True)

    assert_flat(signed_in(hr), "/offboarding/bus-factor/", grow, bound=12, shown="Perf Person")


# --- Audit reports ---------------------------------------------------------------------------


def _audit_activity(hr: User) -> Callable[[int], None]:
    """Events of every report, per colleague: a grant, an offboarding case, an ask, a package
    download, a retention policy and a legal hold; and an erasure request of someone gone."""
    requester = _make_user(f"asker{next(_serial)}", roles=(Role.EMPLOYEE,))

    def grow(count: int) -> None:
        for colleague in authors(count, build=True):
            n = next(_serial)
            grant_access(colleague, user=requester, reason="handover", actor=hr)
            cases.open_case(colleague, last_day=timezone.localdate() + timedelta(days=14), via="ui")
            ask_in_conversation(user=requester, colleague=colleague, question="how to deploy?")
            audit.record("package.downloaded", f"colleague:{colleague.pk}", actor=requester)
            create_policy(
                name=f"Policy {n}",
                scope=RetentionPolicy.Scope.DEPARTURE,
                keep_days=60 + n,
                actor=hr,
            )
            place_hold(name=f"Hold {n}", reason="a claim", owner=hr, colleague=colleague)
        for gone in authors(count):
            gone.status = Colleague.Status.DEPARTED
            gone.departed_on = timezone.localdate() - timedelta(days=30)
            gone.save()
            request_erasure(gone, requested_by=hr, label=f"DSR-{next(_serial)}", reason="Art. 17")

    return grow


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/knowledge/audit/", "package.downloaded"),
        ("/knowledge/audit/packages/", "Perf Person"),
        ("/knowledge/audit/users/", "Perf Person"),
        ("/knowledge/audit/retention/", "Hold "),
        ("/knowledge/audit/consent/", "Perf Person"),
        ("/knowledge/audit/erasures/", "DSR-"),
        ("/knowledge/audit/offboarding/", "Perf Person"),
    ],
)
def test_audit_reports(path: str, shown: str, hr: User, auditor: User) -> None:
    assert_flat(signed_in(auditor), path, _audit_activity(hr), bound=15, shown=shown)


# --- The JSON API ----------------------------------------------------------------------------


def test_api_colleagues(employee: User) -> None:
    assert_flat(signed_in(employee), "/api/colleagues/", authors, bound=8, shown="Perf Person")


def test_api_items(employee: User) -> None:
    assert_flat(signed_in(employee), "/api/items/", authors, bound=12, shown="Perf Person")


def test_api_search(employee: User) -> None:
    assert_flat(
        signed_in(employee), "/api/search/?q=deploy", authors, bound=15, shown='"colleague":"perf'
    )


def test_api_who_knows(employee: User) -> None:
    def grow(count: int) -> None:
        authors(count, build=True)

    assert_flat(
        signed_in(employee),
        "/api/who-knows/",
        grow,
        bound=35,
        shown="Perf Person",
        method="post",
        data={"question": "who knows about deploy billing key?"},
    )


def test_api_grants(hr: User) -> None:
    subject = authors(1)[0]

    def grow(count: int) -> None:
        for _ in range(count):
            holder = _make_user(f"holder{next(_serial)}", roles=(Role.EMPLOYEE,))
            grant_access(subject, user=holder, reason="handover", actor=hr)

    assert_flat(
        signed_in(hr), f"/api/colleagues/{subject.slug}/grants/", grow, bound=8, shown="holder"
    )


def test_api_versions_and_corrections(hr: User) -> None:
    subject = authors(1, build=True)[0]
    package = SkillPackage.objects.get(colleague=subject)

    def grow(count: int) -> None:
        for _ in range(count):
            add_correction(
                package,
                kind=Correction.Kind.WORK,
                wrong="runbook",
                right=f"wiki page {next(_serial)}",
                user=hr,
            )

    client = signed_in(hr)
    assert_flat(
        client,
        f"/api/colleagues/{subject.slug}/skill/corrections/",
        grow,
        bound=10,
        shown="wiki page",
    )
    assert_flat(
        client, f"/api/colleagues/{subject.slug}/skill/versions/", grow, bound=10, shown="number"
    )


def test_api_offboarding_cases(hr: User) -> None:
    assert_flat(signed_in(hr), "/api/offboarding/cases/", _cases, bound=8, shown="perf-person")


# --- Pages of one colleague, case or person ---------------------------------------------------


def _writes(author: Colleague) -> Callable[[int], None]:
    """`count` more public messages by `author`, each run."""
    source = Source.objects.get(name="perf-slack")
    user_id = author.identities.get(kind="slack").value.split("/")[-1]

    def grow(count: int) -> None:
        documents = [
            f.message("CPERF0001", user_id, f"deploy note {next(_serial)}") for _ in range(count)
        ]
        ingest_batch(source=source, batch=f.batch(*documents))

    return grow


def test_case_and_review_pages(hr: User) -> None:
    """The review page lists what the leaver wrote; the case page their package's areas (the
    handover map) and the colleagues who may succeed them."""
    leaver = authors(1)[0]
    case = cases.open_case(leaver, last_day=timezone.localdate() + timedelta(days=14), via="ui")
    client = signed_in(hr)
    assert_flat(
        client,
        f"/offboarding/cases/{case.pk}/review/",
        _writes(leaver),
        bound=20,
        shown="deploy note",
    )

    def grow(count: int) -> None:
        authors(count)
        build_packages([leaver])

    assert_flat(client, f"/offboarding/cases/{case.pk}/", grow, bound=25, shown="Perf Person")


def test_my_data(employee: User) -> None:
    """The privacy page lists (a page of) the items captured of the signed-in person, and
    their redaction requests."""
    me = authors(1)[0]
    user = _make_user("me", colleague=me, roles=(Role.EMPLOYEE,))
    grow_items = _writes(me)

    def grow(count: int) -> None:
        grow_items(count)
        asked = RedactionRequest.objects.values("item_id")
        for item in Item.objects.filter(author__colleague=me).exclude(pk__in=asked)[:count]:
            request_redaction(item, user=user, reason="not mine to share")

    assert_flat(signed_in(user), "/knowledge/privacy/", grow, bound=20, shown="deploy note")


def test_redaction_queue(hr: User) -> None:
    """The queue lists the open requests and the decided ones."""
    me = authors(1)[0]
    user = _make_user("me", colleague=me, roles=(Role.EMPLOYEE,))
    grow_items = _writes(me)

    def grow(count: int) -> None:
        grow_items(2 * count)
        asked = RedactionRequest.objects.values("item_id")
        items = list(Item.objects.filter(author__colleague=me).exclude(pk__in=asked)[: 2 * count])
        for open_one, rejected in zip(items[::2], items[1::2], strict=True):
            request_redaction(open_one, user=user, reason="not mine to share")
            decided = request_redaction(rejected, user=user, reason="old")
            reject_request(decided, curator=hr, reason="still needed")

    assert_flat(signed_in(hr), "/knowledge/privacy/requests/", grow, bound=10, shown="still needed")
    assert "not mine to share" in signed_in(hr).get("/knowledge/privacy/requests/").content.decode()


def test_erasure_requests(hr: User) -> None:
    def grow(count: int) -> None:
        for colleague in authors(count):
            colleague.status = Colleague.Status.DEPARTED
            colleague.departed_on = timezone.localdate() - timedelta(days=30)
            colleague.save()
            request_erasure(
                colleague, requested_by=hr, label=f"DSR-{next(_serial)}", reason="Art. 17"
            )

    assert_flat(signed_in(hr), "/knowledge/privacy/erasure/", grow, bound=10, shown="DSR-")


def test_retention_page(hr: User) -> None:
    def grow(count: int) -> None:
        for colleague in authors(count):
            n = next(_serial)
            create_policy(
                name=f"Policy {n}",
                scope=RetentionPolicy.Scope.CONTAINER,
                container=Container.objects.get(name="perf-general"),
                keep_days=400 + n,
                actor=hr,
            )
            place_hold(name=f"Hold {n}", reason="a claim", owner=hr, colleague=colleague)

    assert_flat(signed_in(hr), "/knowledge/retention/", grow, bound=12, shown="Hold ")


def test_package_page(hr: User) -> None:
    """A package page lists its versions and corrections."""
    subject = authors(1, build=True)[0]
    package = SkillPackage.objects.get(colleague=subject)

    def grow(count: int) -> None:
        for _ in range(count):
            add_correction(
                package, kind=Correction.Kind.WORK, wrong="", right=f"wiki {next(_serial)}", user=hr
            )

    assert_flat(signed_in(hr), f"/colleagues/{subject.slug}/skill/", grow, bound=30, shown="wiki ")


def test_conversation_page(employee: User) -> None:
    """The ask page lists the user's conversations, and an open one its turns."""
    expert = authors(1, build=True)[0]
    first = ask_in_conversation(user=employee, colleague=expert, question="how do we deploy?")

    def grow(count: int) -> None:
        for _ in range(count):
            question = f"and the billing key {next(_serial)}?"
            ask_in_conversation(
                user=employee, colleague=expert, question=question, conversation=first.conversation
            )
            ask_in_conversation(user=employee, colleague=expert, question=question)

    path = f"/colleagues/{expert.slug}/ask/{first.conversation.pk}/"
    assert_flat(signed_in(employee), path, grow, bound=30, shown="billing key")


@pytest.mark.parametrize("role", ["hr", "manager"])
def test_home(role: str, hr: User) -> None:
    """The home page's panels (cases, a manager's team, packages) do not read per row."""
    boss = Colleague.objects.create(name="Mona Manager", email="mona@acme.test", slug="mona")
    user = hr if role == "hr" else _make_user("mona", colleague=boss, roles=(Role.MANAGER,))

    def grow(count: int) -> None:
        team = authors(count, build=True)
        Colleague.objects.filter(pk__in=[c.pk for c in team]).update(manager=boss)
        _cases(count)

    assert_flat(signed_in(user), "/", grow, bound=25, shown="Perf Person")


def test_item_page_thread(employee: User) -> None:
    """An item's page shows its whole thread."""
    author = authors(1)[0]
    user_id = author.identities.get(kind="slack").value.split("/")[-1]
    first = f.message("CPERF0001", user_id, "Where is the deploy runbook?")
    first = dataclasses.replace(first, thread_id=first.external_id)  # a thread's first message
    source = Source.objects.get(name="perf-slack")
    ingest_batch(source=source, batch=f.batch(first))
    item = Item.objects.get(external_id=first.external_id)

    def grow(count: int) -> None:
        replies = [
            f.message(
                "CPERF0001",
                user_id,
                f"reply {next(_serial)}: in the wiki",
                thread=first.external_id,
            )
            for _ in range(count)
        ]
        ingest_batch(source=source, batch=f.batch(*replies))

    assert_flat(signed_in(employee), f"/knowledge/items/{item.pk}/", grow, bound=15, shown="reply ")


# --- Lists without a bound are paged ---------------------------------------------------------


def test_directory_is_paged_and_keeps_its_filters(employee: User) -> None:
    """A directory of thousands is not one page: 100 colleagues a page, the pager's links
    keep the filters."""
    Colleague.objects.bulk_create(
        Colleague(name=f"Paged Person{n:03d}", slug=f"paged-{n}", department="Robotics")
        for n in range(130)
    )
    client = signed_in(employee)
    first = client.get("/colleagues/?department=Robotics").content.decode()
    assert first.count("Paged Person") == 100
    assert "Paged Person099" in first
    assert "Paged Person100" not in first
    assert 'href="?department=Robotics&amp;page=2"' in first
    second = client.get("/colleagues/?department=Robotics&page=2").content.decode()
    assert second.count("Paged Person") == 30
    assert "Paged Person129" in second
    assert 'href="?department=Robotics&amp;page=1"' in second
    # The htmx filter's answer (the rows only) is paged the same way.
    rows = client.get("/colleagues/?q=Paged", headers={"HX-Request": "true"}).content.decode()
    assert rows.count("Paged Person") == 100
    assert 'href="?q=Paged&amp;page=2"' in rows


def test_handover_map(hr: User) -> None:
    """The case page and the successors API list every named area with its successor."""
    leaver = authors(1)[0]
    case = cases.open_case(leaver, last_day=timezone.localdate() + timedelta(days=14), via="ui")

    def grow(count: int) -> None:
        for successor in authors(count):
            set_successor(case, area=f"area {_word(successor.pk)}", successor=successor, actor=hr)

    client = signed_in(hr)
    assert_flat(client, f"/offboarding/cases/{case.pk}/", grow, bound=25, shown="area ")
    assert_flat(
        client, f"/api/offboarding/cases/{case.pk}/successors/", grow, bound=10, shown='"area '
    )
