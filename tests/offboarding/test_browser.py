"""In a real Chromium, HR walks a departure through: open the case, notify, capture the
person's mail, review and redact, approve, publish, set retention, retain (issue 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from colleagues.models import Colleague
from colleagues.roles import Role
from connectors.actions import create_source
from knowledge.models import Item
from offboarding.models import OffboardingCase
from tests import factories as f
from tests.knowledge.conftest import Org
from tests.knowledge.conftest import org as org  # the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "tests" / "artifacts"
HANDOVER = "The narwhal ledger retries run nightly; restart them with the runbook."
PRIVATE = "My doctor's appointment moved to Tuesday."


def _mbox(path: Path) -> Path:
    return f.write_mbox(
        path,
        ("alice@acme.test", "bob@acme.test", "Ledger", HANDOVER),
        ("alice@acme.test", "carol@acme.test", "Tuesday", PRIVATE),
        id_prefix="b",
    )


def test_hr_walks_a_departure_from_case_to_retained_package(  # type: ignore[no-untyped-def]
    page, console_errors, org: Org, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    Colleague.objects.filter(pk=org.alice.pk).update(manager=org.bob)
    create_source(
        name="alice-mail", kind="email", config={"path": str(_mbox(tmp_path / "mail" / "in"))}
    )
    f.make_user("hilda", roles=(Role.HR_ADMIN,))

    page.goto("/login/")
    page.get_by_label("Username").fill("hilda")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    # The main navigation's: HR's home also links the offboarding audit report.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Offboarding").click()
    page.get_by_role("heading", name="Offboarding", exact=True).wait_for()

    page.get_by_label("Colleague").select_option(label="Alice Archer")
    page.get_by_label("Last day").fill("2026-12-18")
    page.get_by_label("Accounts removed on").fill("2027-01-15")
    page.get_by_role("button", name="Open case").click()
    page.get_by_role("heading", name="Offboarding of Alice Archer").wait_for()
    assert page.locator("#checklist tbody tr").count() == 7

    page.get_by_role("button", name="Move to notified").click()
    page.get_by_text("is notified").wait_for()
    page.get_by_label("alice-mail").check()
    page.get_by_role("button", name="Capture", exact=True).click()
    page.locator("#captures").get_by_text("Done").wait_for()
    page.get_by_role("button", name="Move to in review").click()
    page.get_by_text("is in review").wait_for()
    page.screenshot(path=str(ARTIFACTS / "offboarding-case.png"), full_page=True)

    page.get_by_role("link", name="Review what was captured").click()
    # Two Slack messages of hers from before, and the two mails just captured.
    assert page.locator("#review-items tbody tr").count() == 4
    private = Item.objects.get(body__contains="doctor")
    page.locator(f"#item-{private.pk}").get_by_text("Redact…").click()
    page.locator(f"#item-{private.pk}").get_by_role("button", name="Redact everywhere").click()
    page.get_by_text("removed everywhere").wait_for()
    assert page.locator(f"#item-{private.pk}").count() == 0
    # HR reads the public message; of the mail and the private channel's post, which it could
    # not see at the source, only what each is.
    assert page.get_by_text("billing keys every quarter").count() == 1
    assert page.get_by_text("narwhal ledger retries").count() == 0
    assert page.get_by_text("you could not see its text at the source").count() == 2
    page.get_by_role("button", name="Approve the review").click()
    page.get_by_text("Review approved.").wait_for()
    page.get_by_role("button", name="Build and publish the package").click()
    page.get_by_text("Package published").wait_for()

    page.get_by_role("spinbutton").fill("365")
    page.get_by_role("button", name="Set retention").click()
    page.get_by_text("kept 365 days").first.wait_for()
    page.get_by_role("button", name="Move to retained").click()
    page.get_by_text("is retained").wait_for()
    page.screenshot(path=str(ARTIFACTS / "offboarding-retained.png"), full_page=True)

    case = OffboardingCase.objects.get()
    assert case.state == "retained"
    assert not Item.objects.filter(body__contains="doctor").exists()
    assert console_errors == []
