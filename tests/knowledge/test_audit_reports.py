"""Audit reports: the event log, access per package and per user, retention and consent, as
pages, CSV and PDF; for auditors and HR only; every download audited (issue 8 item 7, SECURITY.md
row 13).

The small organisation of tests/knowledge/conftest.py: four Slack messages of 1 March 2025 in
#general (Alice, Bob, Carol) and #payments-incidents (Alice's zebracorn postmortem), and one
mail from Carol. The clock is moved with time-machine.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import AbstractUser
from django.test import Client

from answers.conversations import ask_in_conversation
from colleagues.grants import set_consent
from colleagues.models import Colleague
from colleagues.roles import Role
from knowledge.actions import ingest_batch
from knowledge.models import AuditEvent, Container, Item, LegalHold, RetentionPolicy
from knowledge.reports_retention import SOONEST
from knowledge.retention.holds import place_hold
from knowledge.retention.policies import create_policy, expiry_of
from skills.actions import build_package
from tests import factories as f
from tests.knowledge.conftest import PEOPLE, Org

QUESTION = "How do we rotate the billing keys?"


@pytest.fixture
def auditor(org: Org) -> AbstractUser:
    return f.make_user("audrey", roles=(Role.AUDITOR,))


@pytest.fixture
def activity(org: Org) -> dict[str, object]:
    """Bob asks about Alice's package and downloads it; a failed login with a hostile name."""
    build_package(org.alice)
    turn = ask_in_conversation(user=org.bob_user, colleague=org.alice, question=QUESTION)
    bob = Client()
    bob.force_login(org.bob_user)
    assert bob.get("/colleagues/alice-archer/skill/download/").status_code == 200
    Client().post("/login/", {"username": "=HYPERLINK(1)", "password": "wrong"})
    asked = AuditEvent.objects.get(action="answers.asked")
    return {"turn": turn, "cited": asked.detail["cited_items"]}


def signed_in(user: AbstractUser) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rows_of(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"))))


def assert_pages(pdf: bytes, tmp_path: Path, name: str) -> None:
    """pdftoppm turns `pdf` into at least one non-empty page image."""
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "install poppler-utils (.ci/run does)"
    assert pdf.startswith(b"%PDF")
    (tmp_path / f"{name}.pdf").write_bytes(pdf)
    subprocess.run(
        [pdftoppm, "-r", "50", "-png", str(tmp_path / f"{name}.pdf"), str(tmp_path / name)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    pages = list(tmp_path.glob(f"{name}-*.png"))
    assert pages
    assert all(p.stat().st_size > 0 for p in pages)


@pytest.mark.django_db
def test_the_event_log_filters_by_action_and_actor_and_never_shows_the_question(
    org: Org, auditor: AbstractUser, activity: dict[str, object], django_assert_max_num_queries
) -> None:
    client = signed_in(auditor)
    with django_assert_max_num_queries(12):
        page = client.get("/knowledge/audit/", {"action": "answers.asked", "actor": "bob"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "answers.asked" in text
    assert f"colleague:{org.alice.pk}" in text
    assert "<svg" in text  # the events-per-day chart
    assert QUESTION not in text
    assert "login_failed" not in text.split("<tbody>")[1]  # filtered out
    assert "1 event." in text


@pytest.mark.django_db
def test_access_per_package_says_who_asked_and_exported_and_which_items_were_cited(
    org: Org, auditor: AbstractUser, activity: dict[str, object]
) -> None:
    client = signed_in(auditor)
    page = client.get("/knowledge/audit/packages/", {"colleague": "alice-archer"})
    assert page.status_code == 200
    assert "Alice Archer" in page.content.decode()
    download = client.get(
        "/knowledge/audit/packages/", {"colleague": "alice-archer", "format": "csv"}
    )
    assert download["Content-Type"].startswith("text/csv")
    header, *rows = rows_of(download.content)
    assert header[:6] == ["Package of", "User", "Questions", "Who knows", "Exports", "Opened"]
    bob = next(r for r in rows if r[1] == "bob")
    assert bob[:6] == ["Alice Archer", "bob", "1", "0", "1", "0"]
    cited = {int(i) for i in bob[6].split()}
    assert set(activity["cited"]) <= cited  # type: ignore[call-overload]
    assert QUESTION not in download.content.decode()


@pytest.mark.django_db
def test_access_per_user_lists_the_packages_a_user_touched(
    org: Org, auditor: AbstractUser, activity: dict[str, object]
) -> None:
    download = signed_in(auditor).get("/knowledge/audit/users/", {"user": "bob", "format": "csv"})
    header, *rows = rows_of(download.content)
    assert header[:2] == ["User", "Package of"]
    assert [r[:3] for r in rows] == [["bob", "Alice Archer", "1"]]
    nobody = signed_in(auditor).get("/knowledge/audit/users/", {"user": "carol", "format": "csv"})
    assert rows_of(nobody.content)[1:] == []


@pytest.mark.django_db
def test_a_csv_cell_never_starts_a_spreadsheet_formula(auditor: AbstractUser) -> None:
    f.make_user("=SUM(A1)")
    Client().post("/login/", {"username": "=SUM(A1)", "password": "correct horse battery"})
    download = signed_in(auditor).get("/knowledge/audit/", {"format": "csv", "action": "login"})
    rows = rows_of(download.content)[1:]
    assert sorted(row[2] for row in rows) == ["'=SUM(A1)", "audrey"]  # audrey: force_login
    assert not any(c.startswith(("=", "+", "-", "@")) for r in rows for c in r)


@pytest.mark.django_db
def test_every_download_is_itself_audited(
    auditor: AbstractUser, activity: dict[str, object]
) -> None:
    client = signed_in(auditor)
    client.get("/knowledge/audit/", {"action": "login_failed"})  # a page: not a download
    client.get("/knowledge/audit/", {"action": "login_failed", "format": "csv"})
    client.get("/knowledge/audit/users/", {"format": "pdf", "from": "2020-01-01"})
    downloads = AuditEvent.objects.filter(action="report_downloaded").order_by("seq")
    assert [(e.target, e.detail["format"], e.actor_id) for e in downloads] == [
        ("audit_report:events", "csv", auditor.pk),
        ("audit_report:users", "pdf", auditor.pk),
    ]
    assert downloads[0].detail["filters"] == {"action": "login_failed"}
    assert all(e.request_id for e in downloads)


@pytest.mark.django_db
def test_report_pdfs_turn_into_pages(
    auditor: AbstractUser, activity: dict[str, object], tmp_path: Path
) -> None:
    client = signed_in(auditor)
    for url in (
        "/knowledge/audit/",
        "/knowledge/audit/packages/",
        "/knowledge/audit/users/",
        "/knowledge/audit/retention/",  # no policy, no hold: every table empty
        "/knowledge/audit/consent/",
    ):
        response = client.get(url, {"format": "pdf"})
        assert response["Content-Type"] == "application/pdf"
        assert_pages(response.content, tmp_path, url.strip("/").replace("/", "-"))


@pytest.mark.django_db
def test_reports_are_refused_to_everyone_but_auditors_and_hr(org: Org) -> None:
    assert Client().get("/knowledge/audit/").status_code == 302  # to the login page
    assert signed_in(org.carol_user).get("/knowledge/audit/packages/").status_code == 403
    hr = f.make_user("hilda", roles=(Role.HR_ADMIN,))
    assert signed_in(hr).get("/knowledge/audit/users/").status_code == 200
    for url in ("/knowledge/audit/retention/", "/knowledge/audit/consent/"):
        assert Client().get(url).status_code == 302
        assert signed_in(org.carol_user).get(url, {"format": "csv"}).status_code == 403
        assert signed_in(hr).get(url).status_code == 200
    assert not AuditEvent.objects.filter(action="report_downloaded").exists()


# --- Retention ------------------------------------------------------------------------------

JUNE_15 = datetime(2025, 6, 15, 12, tzinfo=UTC)


@pytest.fixture
def retention(org: Org) -> None:
    """Slack 100 days; #general 400 days; leavers 60 days after departure, and Carol left on
    20 May 2025; a legal hold on what Alice wrote. On 15 June 2025 Alice's zebracorn
    postmortem has expired (9 June) but is held; Carol's mail expires on 19 July; the three
    #general messages on 5 April 2026."""
    Colleague.objects.filter(pk=org.carol.pk).update(
        status=Colleague.Status.DEPARTED, departed_on=date(2025, 5, 20)
    )
    scope = RetentionPolicy.Scope
    create_policy(
        name="Slack", scope=scope.SOURCE_KIND, source_kind="slack-export", keep_days=100, actor=None
    )
    create_policy(
        name="General",
        scope=scope.CONTAINER,
        container=Container.objects.get(name="general"),
        keep_days=400,
        actor=None,
    )
    create_policy(name="Leavers", scope=scope.DEPARTURE, keep_days=60, actor=None)
    with time_machine.travel(JUNE_15, tick=False):
        place_hold(
            name="Acme v. Alice",
            reason="a claim about the billing keys",
            owner=f.make_user("legal"),
            colleague=org.alice,
        )


def csv_of(client: Client, url: str, **query: str) -> list[list[str]]:
    response = client.get(url, {"format": "csv", **query})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return rows_of(response.content)


@pytest.mark.django_db
def test_the_retention_report_counts_what_each_policy_governs_and_when_it_expires(
    org: Org, auditor: AbstractUser, retention: None
) -> None:
    client = signed_in(auditor)
    url = "/knowledge/audit/retention/"
    with time_machine.travel(JUNE_15, tick=False):
        page = client.get(url)
        policies = csv_of(client, url, table="policies")
        expiring = csv_of(client, url, table="expiring")
        holds = csv_of(client, url, table="holds")
        months = csv_of(client, url, table="months")

    assert page.status_code == 200
    text = page.content.decode()
    assert '<svg class="chart"' in text
    assert "5 items, 5 under a policy; 1 expired, 1 of them kept by legal holds." in text
    for words in ("zebracorn", "narwhal", "billing keys every quarter", "Budget"):
        assert words not in text  # ids and metadata, never an item's text
    assert policies[0] == [
        "Policy",
        "Applies to",
        "Keep",
        "Items",
        "Expired",
        "Expire within 30 days",
        "Expire within 90 days",
        "Expire within 365 days",
    ]
    slack, general, leavers = RetentionPolicy.objects.order_by("pk")
    assert policies[1:] == [
        [
            f"#{slack.pk} Slack",
            "Every source of a kind: slack-export",
            "100 days from creation",
            "4",
            "1",
            "0",
            "0",
            "3",
        ],
        [
            f"#{general.pk} General",
            "One channel or folder: general",
            "400 days from creation",
            "3",
            "0",
            "0",
            "0",
            "3",
        ],
        [
            f"#{leavers.pk} Leavers",
            "What departed colleagues wrote, counted from their departure",
            "60 days after departure",
            "2",
            "0",
            "0",
            "1",
            "2",
        ],
        ["Any policy (the longest wins)", "", "", "5", "1", "0", "1", "4"],
    ]

    # Soonest first: the mail (only the leavers' policy applies), then the #general messages
    # (the longest of the policies applying decides). The expired postmortem is not listed.
    narwhal, billing, deploys, forecast = (
        Item.objects.get(body__contains=w)
        for w in ("narwhal", "billing keys", "terraform", "Forecast")
    )

    def in_400_days(item: Item) -> str:
        return f"{item.created_at + timedelta(days=400):%Y-%m-%d %H:%M}"

    assert [[r[0], r[3], r[4], r[5], r[6], r[7], r[8]] for r in expiring[1:]] == [
        [
            str(narwhal.pk),
            "2025-07-19 00:00",
            "acme-mail",
            "INBOX",
            f"#{leavers.pk} Leavers",
            "1",
            "",
        ],
        [
            str(billing.pk),
            in_400_days(billing),
            "acme-slack",
            "general",
            f"#{general.pk} General",
            "2",
            f"legal hold #{LegalHold.objects.get().pk} 'Acme v. Alice'",
        ],
        [
            str(deploys.pk),
            in_400_days(deploys),
            "acme-slack",
            "general",
            f"#{general.pk} General",
            "2",
            "",
        ],
        [
            str(forecast.pk),
            in_400_days(forecast),
            "acme-slack",
            "general",
            f"#{general.pk} General",
            "3",
            "",
        ],
    ]
    with time_machine.travel(JUNE_15, tick=False):  # as the retention page explains each item
        for row in expiring[1:]:
            decided = expiry_of(Item.objects.get(pk=int(row[0])))
            assert decided.policy is not None
            assert row[6] == f"#{decided.policy.pk} {decided.policy.name}"
            assert row[3] == f"{decided.expires_at:%Y-%m-%d %H:%M}"

    assert holds[1][1:] == [
        "a claim about the billing keys",
        "legal",
        "what Alice Archer wrote",
        "2025-06-15",
        "2",  # the billing keys and the postmortem
        "1",  # the expired postmortem
    ]
    assert months[1:] == [
        ["2025-06", "0"],
        ["2025-07", "1"],
        ["2025-08", "0"],
        ["2025-09", "0"],
        ["2025-10", "0"],
        ["2025-11", "0"],
        ["2025-12", "0"],
        ["2026-01", "0"],
        ["2026-02", "0"],
        ["2026-03", "0"],
        ["2026-04", "3"],
        ["2026-05", "0"],
    ]


@pytest.mark.django_db
def test_the_soonest_expiring_items_are_found_without_working_out_every_item(
    org: Org, auditor: AbstractUser, django_assert_max_num_queries
) -> None:
    """70 daily messages under one 100-day policy: the list holds exactly the SOONEST items
    whose expiry comes first, in order, and the page takes a bounded number of queries."""
    create_policy(
        name="Slack",
        scope=RetentionPolicy.Scope.SOURCE_KIND,
        source_kind="slack-export",
        keep_days=100,
        actor=None,
    )
    daily = f.channel("CDAY", "daily", members=("U1", "U2"))
    ingest_batch(
        source=org.source,
        batch=f.batch(
            *(f.message("CDAY", "U2", f"standup {n}", minutes=n * 1440) for n in range(1, 71)),
            people=PEOPLE,
            containers=(daily,),
        ),
    )
    client = signed_in(auditor)
    with time_machine.travel(datetime(2025, 6, 1, 12, tzinfo=UTC), tick=False):
        with django_assert_max_num_queries(30):
            page = client.get("/knowledge/audit/retention/")
        expiring = csv_of(client, "/knowledge/audit/retention/", table="expiring")
        everything = sorted(
            (e.expires_at, e.item_id)
            for e in (expiry_of(i) for i in Item.objects.all())
            if e.expires_at is not None and not e.expired
        )
    assert page.status_code == 200
    assert len(everything) == 74
    assert [int(row[0]) for row in expiring[1:]] == [pk for _, pk in everything[:SOONEST]]


# --- Consent ----------------------------------------------------------------------------------


@pytest.fixture
def consents(org: Org) -> AbstractUser:
    """Alice (Finance): required by the operator on 1 June, given by HR on 2 June; Bob
    (Finance, left on 1 May): refused by HR on 3 June; Carol (Sales): never changed."""
    hr = f.make_user("hilda", roles=(Role.HR_ADMIN,))
    Colleague.objects.filter(pk__in=[org.alice.pk, org.bob.pk]).update(department="Finance")
    Colleague.objects.filter(pk=org.carol.pk).update(department="Sales")
    Colleague.objects.filter(pk=org.bob.pk).update(
        status=Colleague.Status.DEPARTED, departed_on=date(2025, 5, 1)
    )
    with time_machine.travel(datetime(2025, 6, 1, 9, tzinfo=UTC), tick=False):
        set_consent(org.alice, Colleague.Consent.REQUIRED, actor=None)
    with time_machine.travel(datetime(2025, 6, 2, 10, 30, tzinfo=UTC), tick=False):
        set_consent(org.alice, Colleague.Consent.GIVEN, actor=hr)
    with time_machine.travel(datetime(2025, 6, 3, 8, tzinfo=UTC), tick=False):
        set_consent(org.bob, Colleague.Consent.REFUSED, actor=hr)
    return hr


@pytest.mark.django_db
def test_the_consent_report_says_each_state_and_when_and_by_whom_it_last_changed(
    org: Org, auditor: AbstractUser, consents: AbstractUser, django_assert_max_num_queries
) -> None:
    client = signed_in(auditor)
    url = "/knowledge/audit/consent/"
    with django_assert_max_num_queries(12):
        page = client.get(url)
    text = page.content.decode()
    assert page.status_code == 200
    assert '<svg class="chart"' in text
    assert "Given: <strong>1</strong>" in text
    assert "3 colleagues." in text
    assert csv_of(client, url) == [
        ["Colleague", "Department", "Status", "Consent", "Last changed (UTC)", "By", "Before"],
        [
            "Alice Archer",
            "Finance",
            "Current",
            "Given",
            "2025-06-02 10:30",
            "hilda",
            "Required, not yet asked",
        ],
        [
            "Bob Baker",
            "Finance",
            "Departed (2025-05-01)",
            "Refused",
            "2025-06-03 08:00",
            "hilda",
            "Not required by policy",
        ],
        ["Carol Chen", "Sales", "Current", "Not required by policy", "never recorded", "", ""],
    ]
    assert csv_of(client, url, table="states") == [
        ["Consent", "Colleagues"],
        ["Not required by policy", "1"],
        ["Required, not yet asked", "0"],
        ["Given", "1"],
        ["Refused", "1"],
    ]
    # Filters: by state, and by department and status (the count per state follows those).
    assert [r[0] for r in csv_of(client, url, state="given")[1:]] == ["Alice Archer"]
    assert [r[0] for r in csv_of(client, url, department="Sales")[1:]] == ["Carol Chen"]
    finance_now = csv_of(client, url, department="Finance", status="current", table="states")
    assert [r[1] for r in finance_now[1:]] == ["0", "0", "1", "0"]
    filtered = client.get(url, {"department": "Finance", "state": "refused"}).content.decode()
    assert "1 colleague." in filtered
    assert "Bob Baker" in filtered
    assert "Alice Archer" not in filtered
    # The operator's change shows as such.
    set_consent(org.carol, Colleague.Consent.REQUIRED, actor=None)
    assert csv_of(client, url, department="Sales")[1][5] == "operator"


@pytest.mark.django_db
def test_retention_and_consent_downloads_are_audited_and_their_pdfs_turn_into_pages(
    org: Org, auditor: AbstractUser, retention: None, consents: AbstractUser, tmp_path: Path
) -> None:
    client = signed_in(auditor)
    with time_machine.travel(JUNE_15, tick=False):
        client.get("/knowledge/audit/retention/")  # a page: not a download
        holds = client.get("/knowledge/audit/retention/", {"format": "csv", "table": "holds"})
        retention_pdf = client.get("/knowledge/audit/retention/", {"format": "pdf"})
    consent_pdf = client.get("/knowledge/audit/consent/", {"format": "pdf", "state": "given"})
    assert 'filename="audit-retention-holds-' in holds["Content-Disposition"]
    downloads = AuditEvent.objects.filter(action="report_downloaded").order_by("seq")
    assert [(e.target, e.detail["format"], e.detail["filters"], e.actor_id) for e in downloads] == [
        ("audit_report:retention", "csv", {"table": "holds"}, auditor.pk),
        ("audit_report:retention", "pdf", {}, auditor.pk),
        ("audit_report:consent", "pdf", {"state": "given"}, auditor.pk),
    ]
    assert [e.detail["rows"] for e in downloads] == [1, 3 + 1 + 4 + 1 + 12, 1 + 4]
    assert_pages(retention_pdf.content, tmp_path, "retention")
    assert_pages(consent_pdf.content, tmp_path, "consent")
