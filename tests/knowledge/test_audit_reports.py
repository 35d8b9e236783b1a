"""Audit reports: the event log, access per package and per user, as pages, CSV and PDF; for
auditors and HR only; every download audited (issue 8 item 7, SECURITY.md row 13)."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client

from answers.conversations import ask_in_conversation
from colleagues.roles import Role
from knowledge.models import AuditEvent
from skills.actions import build_package
from tests import factories as f
from tests.knowledge.conftest import Org

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
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "install poppler-utils (.ci/run does)"
    client = signed_in(auditor)
    for url in ("/knowledge/audit/", "/knowledge/audit/packages/", "/knowledge/audit/users/"):
        response = client.get(url, {"format": "pdf"})
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        name = url.strip("/").replace("/", "-")
        (tmp_path / f"{name}.pdf").write_bytes(response.content)
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
def test_reports_are_refused_to_everyone_but_auditors_and_hr(org: Org) -> None:
    assert Client().get("/knowledge/audit/").status_code == 302  # to the login page
    assert signed_in(org.carol_user).get("/knowledge/audit/packages/").status_code == 403
    hr = f.make_user("hilda", roles=(Role.HR_ADMIN,))
    assert signed_in(hr).get("/knowledge/audit/users/").status_code == 200
    assert not AuditEvent.objects.filter(action="report_downloaded").exists()
