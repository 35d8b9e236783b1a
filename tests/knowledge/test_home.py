"""The home page: each role lands on its main job, in a bounded number of queries."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from colleagues.models import Colleague
from colleagues.roles import Role
from connectors.models import QuarantinedFile, Source, SyncRun
from offboarding import cases
from skills.models import SkillPackage
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def colleague(name: str, **extra: object) -> Colleague:
    slug = name.lower().replace(" ", "-")
    return Colleague.objects.create(name=name, slug=slug, email=f"{slug}@example.com", **extra)


def home_of(user: object) -> str:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def panels(page: str) -> list[str]:
    """The ids of the home page's panels, in page order."""
    return re.findall(r'<section aria-labelledby="(home-[a-z-]+)"', page)


def test_an_employee_lands_on_who_knows_and_their_own_package() -> None:
    dana = colleague("Dana Whitfield", title="Billing engineer")
    SkillPackage.objects.create(colleague=dana, status=SkillPackage.Status.FRESH)
    colleague("Omar Haddad", status=Colleague.Status.DEPARTED, departed_on=date(2025, 6, 30))
    page = home_of(make_user("dana", colleague=dana, roles=(Role.EMPLOYEE,)))
    assert panels(page) == ["home-who-knows", "home-mine"]
    assert 'action="/who-knows/"' in page
    assert 'href="/colleagues/dana-whitfield/skill/"' in page
    assert "Up to date" in page
    assert "Omar Haddad" in page
    for other in ("Offboarding dashboard", "Audit reports", "Sources and sync health"):
        assert other not in page


def test_a_manager_lands_on_their_teams_packages_and_the_cases_they_review() -> None:
    lena = colleague("Lena Park")
    dana = colleague("Dana Whitfield", manager=lena)
    colleague("Ivo Brandt", manager=dana)  # two levels down: still their team
    colleague("Sam Outsider")
    SkillPackage.objects.create(colleague=dana, status=SkillPackage.Status.STALE)
    case = cases.open_case(dana, last_day=timezone.localdate() + timedelta(days=20), via="ui")
    page = home_of(make_user("lena", colleague=lena, roles=(Role.MANAGER,)))
    assert panels(page)[0] == "home-team"
    team = page[page.index('id="home-team"') : page.index('id="home-who-knows"')]
    assert f'href="/offboarding/cases/{case.pk}/review/"' in team
    assert "Dana Whitfield" in team
    assert "Ivo Brandt" in team
    assert "Sam Outsider" not in team
    assert "Waiting for a rebuild" in team  # Dana's package state
    assert "Packages of your team (2 people)" in team


def test_an_employee_with_reports_but_not_the_manager_role_has_no_team_panel() -> None:
    lena = colleague("Lena Park")
    colleague("Dana Whitfield", manager=lena)
    page = home_of(make_user("lena", colleague=lena, roles=(Role.EMPLOYEE,)))
    assert "home-team" not in panels(page)


def test_hr_lands_on_open_offboarding_cases_with_what_is_overdue() -> None:
    today = timezone.localdate()
    late = cases.open_case(colleague("Omar Haddad"), last_day=today - timedelta(days=3), via="ui")
    cases.open_case(colleague("Dana Whitfield"), last_day=today + timedelta(days=30), via="ui")
    overdue = cases.overdue_items(today).filter(case=late).count()
    assert overdue > 0
    page = home_of(make_user("hr", roles=(Role.HR_ADMIN,)))
    assert panels(page)[0] == "home-hr"
    start = page.index('id="home-hr"')
    hr = page[start : page.index("</section>", start)]
    assert "2 open cases." in hr
    assert f"{overdue} step" in hr
    assert hr.index("Omar Haddad") < hr.index("Dana Whitfield")  # soonest last day first
    assert 'href="/offboarding/"' in hr


def test_an_auditor_lands_on_the_reports() -> None:
    page = home_of(make_user("audrey", roles=(Role.AUDITOR,)))
    assert panels(page)[0] == "home-audit"
    for url in ("/knowledge/audit/", "/knowledge/audit/users/", "/knowledge/audit/erasures/"):
        assert f'href="{url}"' in page


def test_an_admin_lands_on_sources_and_their_sync_health() -> None:
    slack = Source.objects.create(name="Slack export", kind="slack-export")
    mail = Source.objects.create(name="Mail archive", kind="mbox")
    SyncRun.objects.create(source=slack, status=SyncRun.Status.SUCCEEDED)
    SyncRun.objects.create(
        source=slack, status=SyncRun.Status.FAILED, error="invalid_auth: the token was revoked"
    )
    QuarantinedFile.objects.create(source=mail, path="a.mbox", error_type="ParseError", message="x")
    page = home_of(make_user("admin", is_staff=True))
    assert panels(page)[0] == "home-sources"
    rows = re.findall(r"<tr>(.*?)</tr>", page, flags=re.S)
    mail_row = next(r for r in rows if "Mail archive" in r)
    slack_row = next(r for r in rows if "Slack export" in r)
    assert "Never synced" in mail_row
    assert "<td>1</td>" in mail_row
    assert "Failed" in slack_row
    assert "invalid_auth" in slack_row


def test_several_roles_show_each_panel_hr_first() -> None:
    user = make_user("both", roles=(Role.HR_ADMIN, Role.AUDITOR), is_staff=True)
    assert panels(home_of(user))[:3] == ["home-hr", "home-audit", "home-sources"]


def test_a_departed_login_sees_no_role_panel() -> None:
    gone = colleague("Omar Haddad", status=Colleague.Status.DEPARTED, departed_on=date(2025, 6, 30))
    user = make_user("omar", colleague=gone, roles=(Role.HR_ADMIN,), is_staff=True)
    assert panels(home_of(user)) == ["home-who-knows", "home-mine"]


def queries_of_home(user: object) -> int:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    return len(queries)


def test_the_home_page_reads_a_fixed_number_of_queries_whatever_the_rows() -> None:
    boss = colleague("Lena Park")
    user = make_user(
        "all", colleague=boss, roles=(Role.HR_ADMIN, Role.AUDITOR, Role.MANAGER), is_staff=True
    )
    queries_of_home(user)  # warm caches (content types, permissions)

    def add(n: int) -> None:
        for i in range(n):
            person = colleague(f"Person {n}-{i}", manager=boss)
            SkillPackage.objects.create(colleague=person)
            cases.open_case(person, last_day=timezone.localdate() + timedelta(days=i), via="ui")
            source = Source.objects.create(name=f"Source {n}-{i}", kind="mbox")
            SyncRun.objects.create(source=source, status=SyncRun.Status.SUCCEEDED)

    add(2)
    few = queries_of_home(user)
    add(10)
    many = queries_of_home(user)
    assert many == few
    assert few <= 25
