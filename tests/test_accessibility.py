"""Every page of the intranet, for every role, passes axe-core's WCAG 2.1 A/AA rules with no
serious or critical violation, in the light and the dark colour scheme (issue 11, item 3).

axe-core runs inside Chromium from tests/vendor/axe.min.js (no network). The pages are those
of the demo company (`load_demo`), as each demo login and an auditor see them.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test.utils import override_settings
from django.utils import timezone

from colleagues.models import Colleague
from colleagues.roles import Role
from connectors.models import Source
from knowledge.selectors import items_visible_to
from knowledge.visibility import reader_for
from offboarding import cases
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(settings.BASE_DIR) / "tests" / "vendor" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
  }));
}"""


def _pages_for(username: str) -> list[str]:
    """The GET pages `username` can open in the demo company, with real objects."""
    user = Colleague.objects.get(user__username=username).user if username != "auditor" else None
    departed = Colleague.objects.filter(status=Colleague.Status.DEPARTED).order_by("name").first()
    assert departed is not None
    common = [
        "/",
        "/colleagues/",
        f"/colleagues/{departed.slug}/",
        f"/colleagues/{departed.slug}/skill/",
        f"/colleagues/{departed.slug}/ask/",
        "/who-knows/?q=billing+key+rotation",
        "/knowledge/search/?q=deploy",
        "/knowledge/privacy/",
        "/sources/upload/",
        "/agents/tokens/",
        "/no/such/page/",
    ]
    if user is not None:
        item = items_visible_to(reader_for(user)).order_by("pk").first()
        assert item is not None
        common.append(f"/knowledge/items/{item.pk}/")
    by_role = {
        "engineer": [],
        "manager": [],
        "auditor": [
            "/knowledge/audit/",
            "/knowledge/audit/packages/",
            "/knowledge/audit/users/",
            "/knowledge/audit/retention/",
            "/knowledge/audit/consent/",
            "/knowledge/audit/erasures/",
            "/knowledge/audit/offboarding/",
            "/offboarding/",  # refused: the 403 page
        ],
        "hr": [
            "/offboarding/",
            "/offboarding/template/",
            f"/colleagues/{departed.slug}/access/",
            "/offboarding/bus-factor/",
            "/knowledge/retention/",
            "/knowledge/privacy/requests/",
            "/knowledge/privacy/erasure/",
            "/skills/",
            "/curation/feedback/",
            "/sources/",
            f"/sources/{Source.objects.order_by('pk').first().pk}/",  # type: ignore[union-attr]
            "/sources/add/",
            "/sources/add/docs/",
            "/sources/add/imap/",
            "/sources/add/slack/",
            "/knowledge/audit/",
        ],
    }
    return common + by_role[username]


def _case_pages() -> list[str]:
    """An open case of someone leaving, its page and its review page (HR)."""
    leaving = Colleague.objects.filter(status=Colleague.Status.CURRENT).order_by("name").first()
    assert leaving is not None
    case = cases.open_case(
        leaving, last_day=timezone.localdate() + timezone.timedelta(days=14), via="ui"
    )
    return [f"/offboarding/cases/{case.pk}/", f"/offboarding/cases/{case.pk}/review/"]


def _violations(page: Any, path: str) -> list[str]:
    page.goto(path)
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate(RUN_AXE, WCAG_TAGS)
    return [
        f"{path}: {v['id']} ({v['impact']}) {v['help']}: {', '.join(v['nodes'])}"
        for v in found
        if v["impact"] in BLOCKING
    ]


def _log_in(page: Any, username: str, password: str) -> None:
    page.context.clear_cookies()
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def test_every_page_for_every_role_has_no_serious_accessibility_violation(  # type: ignore[no-untyped-def]
    page, tmp_path: Path
) -> None:
    out = io.StringIO()
    with override_settings(VAR_DIR=tmp_path):
        call_command("load_demo", "--json", stdout=out)
    logins = {
        login["username"]: login["password"] for login in json.loads(out.getvalue())["logins"]
    }
    make_user("auditor", roles=(Role.AUDITOR,))
    logins["auditor"] = "correct horse battery"
    case_pages = _case_pages()

    problems: list[str] = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.context.clear_cookies()
        problems += [f"[{scheme}, anonymous] {p}" for p in _violations(page, "/login/")]
        for username in ("engineer", "manager", "hr", "auditor"):
            _log_in(page, username, logins[username])
            paths = _pages_for(username) + (case_pages if username == "hr" else [])
            for path in paths:
                problems += [f"[{scheme}, {username}] {p}" for p in _violations(page, path)]
    assert problems == [], "\n".join(problems)
