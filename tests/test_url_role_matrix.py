"""Every URL of the intranet and the API, for every role: the expected status (SECURITY.md 8).

The table below is the contract. A URL added to the project without a row here fails
`test_every_url_has_a_row`, so nothing is exposed by accident. Each request runs in a
transaction rolled back afterwards, so a POST that succeeds changes nothing for the next one.

Expected outcomes: a status code, "login" (a redirect to a login page: the intranet for
anonymous visitors, the admin's for non-staff on staff pages) or "done" (a redirect elsewhere:
a form handled). Another user's object ids, or objects the user may not see, give 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from answers.conversations import ask_in_conversation, give_feedback
from colleagues.grants import grant_access
from colleagues.models import Colleague
from colleagues.roles import Role
from connectors.models import QuarantinedFile
from knowledge.erasure import request_erasure
from knowledge.models import Item
from knowledge.redaction import request_redaction
from offboarding.cases import open_case
from skills.actions import add_correction, build_package
from skills.models import Correction
from tests import factories as f
from tests.knowledge.conftest import Org
from tests.knowledge.conftest import org as org  # the fixture

ROLES = ("anonymous", "employee", "manager", "curator", "hr", "auditor", "admin")
SIGNED_IN = ROLES[1:]


@dataclass
class World:
    org: Org
    users: dict[str, AbstractUser]
    ids: dict[str, int]


@pytest.fixture
def world(org: Org) -> World:
    users: dict[str, AbstractUser] = {
        "employee": org.carol_user,  # not in the private channel
        "manager": f.make_user("manager", roles=(Role.MANAGER,)),
        "curator": f.make_user("curator", roles=(Role.CURATOR,)),
        "hr": f.make_user("hr", roles=(Role.HR_ADMIN,)),
        "auditor": f.make_user("auditor", roles=(Role.AUDITOR,)),
        "admin": f.make_user("admin", is_staff=True, is_superuser=True),
    }
    f.give_roles(org.carol_user, Role.EMPLOYEE)
    build_package(org.alice)
    package = org.alice.skill_package
    correction_version = add_correction(
        package, kind=Correction.Kind.STYLE, wrong="hi", right="hello", user=users["curator"]
    )
    assert correction_version.number == 2
    # Bob's conversation with Alice's package, and his feedback on it: nobody else's.
    turn = ask_in_conversation(
        user=org.bob_user, colleague=org.alice, question="How do we rotate the billing keys?"
    )
    feedback = give_feedback(
        turn=turn,
        user=org.bob_user,
        verdict="wrong",
        correction_kind="work",
        correction_right="Keys live in the KMS",
    )
    grant = grant_access(org.bob, department="Sales", actor=None)
    redaction = request_redaction(
        Item.objects.get(body__contains="terraform pipeline"), user=org.bob_user
    )
    public = Item.objects.get(body__contains="terraform pipeline")
    private = Item.objects.get(body__contains="zebracorn")
    gone, also_gone = (
        Colleague.objects.create(
            name=name, slug=name.lower(), status="departed", departed_on=date(2025, 1, 31)
        )
        for name in ("Dan", "Erin")
    )
    erasure = request_erasure(gone, requested_by=users["hr"], label="DSR-1", reason="asked")
    # Bob is leaving: his manager is nobody of the roles above.
    case = open_case(org.bob, last_day=date(2026, 12, 18), via="ui")
    quarantined = QuarantinedFile.objects.create(
        source=org.source, path="general/2016-01-14.json", error_type="CorruptFile", message="x"
    )
    return World(
        org=org,
        users=users,
        ids={
            "turn": turn.pk,
            "conversation": turn.conversation_id,
            "feedback": feedback.pk,
            "correction": package.corrections.get().pk,
            "grant": grant.pk,
            "redaction": redaction.pk,
            "public_item": public.pk,
            "private_item": private.pk,
            "source": org.source.pk,
            "identity": org.alice.identities.first().pk,  # type: ignore[union-attr]
            "erasure": erasure.pk,
            "case": case.pk,
            "departed": also_gone.pk,
            "quarantined": quarantined.pk,
        },
    )


# Who may do what: the roles' expectations, by shorthand.
def everyone_signed_in(ok: Any) -> dict[str, Any]:
    return {"anonymous": "login", **dict.fromkeys(SIGNED_IN, ok)}


def only(roles: tuple[str, ...], ok: Any, other: Any, anonymous: Any = "login") -> dict[str, Any]:
    return {
        "anonymous": anonymous,
        **{r: ok if r in roles else other for r in SIGNED_IN},
    }


CURATORS = ("curator", "hr", "admin")
GRANT_MANAGERS = ("hr", "admin")
STAFF = ("admin",)
# Holders of colleagues.view_audit_reports (a superuser holds every permission).
AUDITORS = ("auditor", "hr", "admin")
# Holders of colleagues.erase_colleagues.
ERASERS = ("hr", "admin")
API = {"anonymous": 401}


def api_signed_in(ok: Any) -> dict[str, Any]:
    return {**dict.fromkeys(SIGNED_IN, ok), **API}


def api_only(roles: tuple[str, ...], ok: Any, other: Any = 403) -> dict[str, Any]:
    return {**{r: ok if r in roles else other for r in SIGNED_IN}, **API}


@dataclass(frozen=True)
class Row:
    name: str  # the URL's name (namespace:name)
    method: str
    path: Callable[[World], str]
    expected: dict[str, Any]
    data: Callable[[World], dict[str, Any]] | None = None
    json: bool = False


A = "/colleagues/alice-archer"
ROWS: tuple[Row, ...] = (
    Row("home", "get", lambda w: "/", everyone_signed_in(200)),
    # A signed-in user is sent on from the login page.
    Row(
        "login", "get", lambda w: "/login/", {**dict.fromkeys(SIGNED_IN, "done"), "anonymous": 200}
    ),
    Row("logout", "get", lambda w: "/logout/", dict.fromkeys(ROLES, 405)),
    # Anyone may choose the interface's language (back to English here, for the rows after).
    Row(
        "set_language",
        "post",
        lambda w: "/i18n/setlang/",
        dict.fromkeys(ROLES, "done"),
        data=lambda w: {"language": "en", "next": "/"},
    ),
    Row("colleagues:directory", "get", lambda w: "/colleagues/", everyone_signed_in(200)),
    Row("colleagues:detail", "get", lambda w: f"{A}/", everyone_signed_in(200)),
    Row(
        "colleagues:merge",
        "post",
        lambda w: f"{A}/merge/",
        only(STAFF, "done", "login"),
        data=lambda w: {"absorb": "bob-baker"},
    ),
    Row("colleagues:access", "get", lambda w: f"{A}/access/", only(GRANT_MANAGERS, 200, 403)),
    Row(
        "colleagues:revoke",
        "post",
        lambda w: f"/colleagues/bob-baker/access/{w.ids['grant']}/revoke/",
        only(GRANT_MANAGERS, "done", 403),
    ),
    Row(
        "colleagues:consent",
        "post",
        lambda w: f"{A}/consent/",
        only(GRANT_MANAGERS, "done", 403),
        data=lambda w: {"consent": "given"},
    ),
    Row(
        "colleagues:split",
        "post",
        lambda w: f"{A}/identities/{w.ids['identity']}/split/",
        only(STAFF, "done", "login"),
    ),
    Row("skills:overview", "get", lambda w: "/skills/", only(CURATORS, 200, 403)),
    Row("skills:rebuild_all", "post", lambda w: "/skills/rebuild/", only(CURATORS, "done", 403)),
    Row("skills:package", "get", lambda w: f"{A}/skill/", everyone_signed_in(200)),
    Row("skills:diff", "get", lambda w: f"{A}/skill/diff/?from=1&to=2", everyone_signed_in(200)),
    Row("skills:download", "get", lambda w: f"{A}/skill/download/", everyone_signed_in(200)),
    Row("skills:build", "post", lambda w: f"{A}/skill/build/", only(CURATORS, "done", 403)),
    Row(
        "skills:correct",
        "post",
        lambda w: f"{A}/skill/corrections/",
        only(CURATORS, "done", 403),
        data=lambda w: {"kind": "style", "wrong": "cheers", "right": "thanks"},
    ),
    Row(
        "skills:withdraw",
        "post",
        lambda w: f"{A}/skill/corrections/{w.ids['correction']}/withdraw/",
        only(CURATORS, "done", 403),
    ),
    Row(
        "skills:restore",
        "post",
        lambda w: f"{A}/skill/versions/1/restore/",
        only(CURATORS, "done", 403),
    ),
    Row(
        "skills:style_check",
        "post",
        lambda w: f"{A}/skill/style-check/",
        everyone_signed_in(200),
        data=lambda w: {"text": "We rotate the keys every quarter."},
    ),
    Row("answers:chat", "get", lambda w: f"{A}/ask/", everyone_signed_in(200)),
    Row(
        "answers:conversation",
        "get",
        lambda w: f"{A}/ask/{w.ids['conversation']}/",
        everyone_signed_in(404),  # Bob's
    ),
    Row(
        "answers:feedback",
        "post",
        lambda w: f"/answers/{w.ids['turn']}/feedback/",
        everyone_signed_in(404),  # on Bob's answer
        data=lambda w: {"verdict": "helpful"},
    ),
    Row("answers:who_knows", "get", lambda w: "/who-knows/?q=billing", everyone_signed_in(200)),
    Row("answers:feedback_queue", "get", lambda w: "/curation/feedback/", only(CURATORS, 200, 403)),
    Row(
        "answers:review",
        "post",
        lambda w: f"/curation/feedback/{w.ids['feedback']}/",
        only(CURATORS, "done", 404),
        data=lambda w: {"decision": "reject"},
    ),
    Row(
        "knowledge:search", "get", lambda w: "/knowledge/search/?q=billing", everyone_signed_in(200)
    ),
    Row(
        "knowledge:item",
        "get",
        lambda w: f"/knowledge/items/{w.ids['public_item']}/",
        everyone_signed_in(200),
    ),
    Row(
        "knowledge:item",
        "get",
        lambda w: f"/knowledge/items/{w.ids['private_item']}/",
        everyone_signed_in(404),  # a private channel none of them is in
    ),
    Row("knowledge:my_data", "get", lambda w: "/knowledge/privacy/", everyone_signed_in(200)),
    Row(
        "knowledge:ask_redaction",
        "post",
        lambda w: f"/knowledge/privacy/items/{w.ids['public_item']}/redact/",
        everyone_signed_in(404),  # Bob's message: none of them wrote it
    ),
    Row(
        "knowledge:redaction_queue",
        "get",
        lambda w: "/knowledge/privacy/requests/",
        only(CURATORS, 200, 403),
    ),
    Row(
        "knowledge:decide_redaction",
        "post",
        lambda w: f"/knowledge/privacy/requests/{w.ids['redaction']}/",
        only(CURATORS, "done", 403),
        data=lambda w: {"decision": "reject", "reason": "it is not personal"},
    ),
    Row(
        "knowledge:retention",
        "get",
        lambda w: "/knowledge/retention/",
        only(GRANT_MANAGERS, 200, 403),
    ),
    Row(
        "knowledge:add_policy",
        "post",
        lambda w: "/knowledge/retention/policies/",
        only(GRANT_MANAGERS, "done", 403),
        data=lambda w: {
            "name": "Slack 2 years",
            "scope": "source_kind",
            "source_kind": "slack-export",
            "keep_days": 730,
        },
    ),
    Row(
        "knowledge:place_hold",
        "post",
        lambda w: "/knowledge/retention/holds/",
        only(GRANT_MANAGERS, "done", 403),
        data=lambda w: {"name": "Litigation", "reason": "a claim", "colleague": w.org.alice.pk},
    ),
    # No hold exists in the world: the permission is checked before the lookup.
    Row(
        "knowledge:release_hold",
        "post",
        lambda w: "/knowledge/retention/holds/999999/release/",
        only(GRANT_MANAGERS, 404, 403),
    ),
    Row("knowledge:audit_events", "get", lambda w: "/knowledge/audit/", only(AUDITORS, 200, 403)),
    Row(
        "knowledge:audit_events",
        "get",
        lambda w: "/knowledge/audit/?format=csv&action=login",
        only(AUDITORS, 200, 403),
    ),
    Row(
        "knowledge:audit_packages",
        "get",
        lambda w: "/knowledge/audit/packages/",
        only(AUDITORS, 200, 403),
    ),
    Row(
        "knowledge:audit_packages",
        "get",
        lambda w: "/knowledge/audit/packages/?format=pdf",
        only(AUDITORS, 200, 403),
    ),
    Row(
        "knowledge:audit_users",
        "get",
        lambda w: "/knowledge/audit/users/",
        only(AUDITORS, 200, 403),
    ),
    Row(
        "knowledge:audit_users",
        "get",
        lambda w: "/knowledge/audit/users/?format=csv&user=bob",
        only(AUDITORS, 200, 403),
    ),
    Row(
        "knowledge:audit_retention",
        "get",
        lambda w: "/knowledge/audit/retention/",
        only(AUDITORS, 200, 403),
    ),
    Row(
        "knowledge:audit_retention",
        "get",
        lambda w: "/knowledge/audit/retention/?format=csv&table=holds",
        only(AUDITORS, 200, 403),
    ),
    Row(
        "knowledge:audit_consent",
        "get",
        lambda w: "/knowledge/audit/consent/?state=given",
        only(AUDITORS, 200, 403),
    ),
    Row(
        "knowledge:audit_consent",
        "get",
        lambda w: "/knowledge/audit/consent/?format=pdf",
        only(AUDITORS, 200, 403),
    ),
    Row(
        "knowledge:audit_erasures",
        "get",
        lambda w: "/knowledge/audit/erasures/",
        only(AUDITORS, 200, 403),
    ),
    Row(
        "knowledge:audit_erasures",
        "get",
        lambda w: f"/knowledge/audit/erasures/?request={w.ids['erasure']}&format=pdf",
        only(AUDITORS, 200, 403),
    ),
    Row(
        "knowledge:erasure_requests",
        "get",
        lambda w: "/knowledge/privacy/erasure/",
        only(ERASERS, 200, 403),
    ),
    Row(
        "knowledge:erasure_requests",
        "post",
        lambda w: "/knowledge/privacy/erasure/",
        only(ERASERS, "done", 403),
        data=lambda w: {"colleague": w.ids["departed"], "label": "DSR-2", "reason": "asked"},
    ),
    Row(
        "knowledge:erasure_request",
        "get",
        lambda w: f"/knowledge/privacy/erasure/{w.ids['erasure']}/",
        only(ERASERS, 200, 403),
    ),
    Row(
        "knowledge:decide_erasure",
        "post",
        lambda w: f"/knowledge/privacy/erasure/{w.ids['erasure']}/decide/",
        only(ERASERS, "done", 403),
        data=lambda w: {"decision": "reject", "reason": "a duty to keep"},
    ),
    Row(
        "knowledge:audit_offboarding",
        "get",
        lambda w: "/knowledge/audit/offboarding/",
        only(AUDITORS, 200, 403),
    ),
    Row(
        "knowledge:audit_offboarding",
        "get",
        lambda w: "/knowledge/audit/offboarding/?format=pdf",
        only(AUDITORS, 200, 403),
    ),
    # The offboarding pages: HR (colleagues.manage_offboarding, as GRANT_MANAGERS) runs them;
    # the person and their manager review their case (none of the roles here is either).
    Row("offboarding:dashboard", "get", lambda w: "/offboarding/", only(GRANT_MANAGERS, 200, 403)),
    Row(
        "offboarding:open_case",
        "post",
        lambda w: "/offboarding/cases/",
        only(GRANT_MANAGERS, "done", 403),
        data=lambda w: {
            "colleague": w.org.carol.pk,
            "last_day": "2026-12-31",
            "access_policy": "team",
        },
    ),
    Row(
        "offboarding:case",
        "get",
        lambda w: f"/offboarding/cases/{w.ids['case']}/",
        only(GRANT_MANAGERS, 200, 403),
    ),
    Row(
        "offboarding:move",
        "post",
        lambda w: f"/offboarding/cases/{w.ids['case']}/move/",
        only(GRANT_MANAGERS, "done", 403),
        data=lambda w: {"state": "notified"},
    ),
    Row(
        "offboarding:tick_step",
        "post",
        lambda w: f"/offboarding/cases/{w.ids['case']}/steps/connect_sources/",
        only(GRANT_MANAGERS, "done", 403),
    ),
    Row(
        "offboarding:capture",
        "post",
        lambda w: f"/offboarding/cases/{w.ids['case']}/capture/",
        only(GRANT_MANAGERS, "done", 403),
        data=lambda w: {"sources": [w.ids["source"]]},
    ),
    Row(
        "offboarding:successor",
        "post",
        lambda w: f"/offboarding/cases/{w.ids['case']}/successors/",
        only(GRANT_MANAGERS, "done", 403),
        data=lambda w: {"area": "Deploys", "successor": w.org.carol.pk},
    ),
    Row(
        "offboarding:retention",
        "post",
        lambda w: f"/offboarding/cases/{w.ids['case']}/retention/",
        only(GRANT_MANAGERS, "done", 403),
        data=lambda w: {"days": 365},
    ),
    Row(
        "offboarding:review",
        "get",
        lambda w: f"/offboarding/cases/{w.ids['case']}/review/",
        only(GRANT_MANAGERS, 200, 403),
    ),
    # No such item: who may review gets 404, everyone else 403 first.
    Row(
        "offboarding:redact",
        "post",
        lambda w: f"/offboarding/cases/{w.ids['case']}/review/items/999999/redact/",
        only(GRANT_MANAGERS, 404, 403),
    ),
    Row(
        "offboarding:approve",
        "post",
        lambda w: f"/offboarding/cases/{w.ids['case']}/review/approve/",
        only(GRANT_MANAGERS, "done", 403),
    ),
    Row(
        "offboarding:publish",
        "post",
        lambda w: f"/offboarding/cases/{w.ids['case']}/publish/",
        only(GRANT_MANAGERS, "done", 403),
    ),
    Row(
        "offboarding:template",
        "get",
        lambda w: "/offboarding/template/",
        only(GRANT_MANAGERS, 200, 403),
    ),
    Row(
        "offboarding:bus_factor",
        "get",
        lambda w: "/offboarding/bus-factor/",
        only(GRANT_MANAGERS, 200, 403),
    ),
    Row("connectors:sources", "get", lambda w: "/sources/", only(STAFF, 200, "login")),
    # Anyone signed in may upload documents of their own (README "Uploads").
    Row("connectors:upload", "get", lambda w: "/sources/upload/", everyone_signed_in(200)),
    Row(
        "connectors:source",
        "get",
        lambda w: f"/sources/{w.ids['source']}/",
        only(STAFF, 200, "login"),
    ),
    Row("connectors:add", "get", lambda w: "/sources/add/", only(STAFF, 200, "login")),
    Row(
        "connectors:add_kind",
        "get",
        lambda w: "/sources/add/docs/",
        only(STAFF, 200, "login"),
    ),
    Row(
        "connectors:quarantine_retry",
        "post",
        lambda w: f"/sources/{w.ids['source']}/quarantine/{w.ids['quarantined']}/retry/",
        only(STAFF, "done", "login"),
    ),
    Row(
        "connectors:quarantine_dismiss",
        "post",
        lambda w: f"/sources/{w.ids['source']}/quarantine/{w.ids['quarantined']}/dismiss/",
        only(STAFF, "done", "login"),
        data=lambda w: {"reason": "an old export"},
    ),
    Row(
        "connectors:sync",
        "post",
        lambda w: f"/sources/{w.ids['source']}/sync/",
        only(STAFF, "done", "login"),
    ),
    Row(
        "connectors:exclusions",
        "post",
        lambda w: f"/sources/{w.ids['source']}/exclusions/",
        only(STAFF, "done", "login"),
        data=lambda w: {"keywords": "salary"},
    ),
    Row(
        "connectors:pause",
        "post",
        lambda w: f"/sources/{w.ids['source']}/pause/",
        only(STAFF, "done", "login"),
    ),
    Row(
        "connectors:delete",
        "post",
        lambda w: f"/sources/{w.ids['source']}/delete/",
        only(STAFF, "done", "login"),
    ),
    # The API: 401 without credentials.
    Row("api-token", "post", lambda w: "/api/auth/token/", dict.fromkeys(ROLES, 400)),
    Row("api-colleagues", "get", lambda w: "/api/colleagues/", api_signed_in(200)),
    Row("api-colleague", "get", lambda w: "/api/colleagues/alice-archer/", api_signed_in(200)),
    Row(
        "api-grants",
        "get",
        lambda w: "/api/colleagues/bob-baker/grants/",
        api_only(GRANT_MANAGERS, 200),
    ),
    Row(
        "api-grants",
        "post",
        lambda w: "/api/colleagues/bob-baker/grants/",
        api_only(GRANT_MANAGERS, 201),
        data=lambda w: {"department": "Finance", "level": "viewer"},
        json=True,
    ),
    Row(
        "api-grant",
        "delete",
        lambda w: f"/api/colleagues/bob-baker/grants/{w.ids['grant']}/",
        api_only(GRANT_MANAGERS, 204),
    ),
    Row(
        "api-grant",
        "delete",
        lambda w: f"/api/colleagues/alice-archer/grants/{w.ids['grant']}/",
        api_only(GRANT_MANAGERS, 404),  # a grant of another colleague's package
    ),
    Row("api-skill", "get", lambda w: "/api/colleagues/alice-archer/skill/", api_signed_in(200)),
    Row(
        "api-skill-versions",
        "get",
        lambda w: "/api/colleagues/alice-archer/skill/versions/",
        api_signed_in(200),
    ),
    Row(
        "api-skill-diff",
        "get",
        lambda w: "/api/colleagues/alice-archer/skill/diff/?from=1&to=2",
        api_signed_in(200),
    ),
    Row(
        "api-skill-corrections",
        "get",
        lambda w: "/api/colleagues/alice-archer/skill/corrections/",
        api_signed_in(200),
    ),
    Row(
        "api-skill-corrections",
        "post",
        lambda w: "/api/colleagues/alice-archer/skill/corrections/",
        api_only(CURATORS, 201),
        data=lambda w: {"kind": "style", "wrong": "cheers", "right": "thanks"},
        json=True,
    ),
    Row(
        "api-skill-rollback",
        "post",
        lambda w: "/api/colleagues/alice-archer/skill/rollback/",
        api_only(CURATORS, 201),
        data=lambda w: {"version": 1},
        json=True,
    ),
    Row(
        "api-skill-build",
        "post",
        lambda w: "/api/colleagues/alice-archer/skill/build/",
        api_only(CURATORS, 202),
    ),
    Row(
        "api-skill-export",
        "get",
        lambda w: "/api/colleagues/alice-archer/skill/export/",
        api_signed_in(200),
    ),
    Row(
        "api-style-match",
        "post",
        lambda w: "/api/style-match/",
        api_signed_in(200),
        data=lambda w: {"text": "We rotate the keys every quarter."},
        json=True,
    ),
    Row("api-items", "get", lambda w: "/api/items/", api_signed_in(200)),
    Row("api-item", "get", lambda w: f"/api/items/{w.ids['public_item']}/", api_signed_in(200)),
    Row("api-item", "get", lambda w: f"/api/items/{w.ids['private_item']}/", api_signed_in(404)),
    Row("api-search", "get", lambda w: "/api/search/?q=billing", api_signed_in(200)),
    Row(
        "api-ask",
        "post",
        lambda w: "/api/ask/",
        api_signed_in(200),
        data=lambda w: {"colleague": "alice-archer", "question": "How are keys rotated?"},
        json=True,
    ),
    Row(
        "api-who-knows",
        "post",
        lambda w: "/api/who-knows/",
        api_signed_in(200),
        data=lambda w: {"question": "billing keys"},
        json=True,
    ),
    # Offboarding, for holders of colleagues.manage_offboarding (HR and the superuser, the same
    # as GRANT_MANAGERS). Case 999999 does not exist: the permission is checked before the
    # lookup, so HR gets 404 and everyone else 403; Bob's case (w.ids["case"]) does.
    Row(
        "api-offboarding-cases",
        "get",
        lambda w: "/api/offboarding/cases/?state=planned",
        api_only(GRANT_MANAGERS, 200),
    ),
    Row(
        "api-offboarding-cases",
        "post",
        lambda w: "/api/offboarding/cases/",
        api_only(GRANT_MANAGERS, 201),
        data=lambda w: {"colleague": "alice-archer", "last_day": "2026-12-31"},
        json=True,
    ),
    Row(
        "api-offboarding-case",
        "get",
        lambda w: "/api/offboarding/cases/999999/",
        api_only(GRANT_MANAGERS, 404),
    ),
    Row(
        "api-offboarding-transition",
        "post",
        lambda w: "/api/offboarding/cases/999999/transition/",
        api_only(GRANT_MANAGERS, 404),
        data=lambda w: {"state": "notified"},
        json=True,
    ),
    Row(
        "api-offboarding-step",
        "post",
        lambda w: "/api/offboarding/cases/999999/steps/capture/",
        api_only(GRANT_MANAGERS, 404),
        data=lambda w: {},
        json=True,
    ),
    Row(
        "api-offboarding-retention",
        "post",
        lambda w: "/api/offboarding/cases/999999/retention/",
        api_only(GRANT_MANAGERS, 404),
        data=lambda w: {"days": 365},
        json=True,
    ),
    Row(
        "api-offboarding-successors",
        "get",
        lambda w: "/api/offboarding/cases/999999/successors/",
        api_only(GRANT_MANAGERS, 404),
    ),
    Row(
        "api-offboarding-successors",
        "post",
        lambda w: "/api/offboarding/cases/999999/successors/",
        api_only(GRANT_MANAGERS, 404),
        data=lambda w: {"area": "Billing", "successor": "bob-baker"},
        json=True,
    ),
    # Bob's open (planned) case: HR may look at it, but it is not in review, so its actions
    # are refused (409). None of the roles is Bob or his manager, so only HR reviews it.
    Row(
        "api-offboarding-capture",
        "get",
        lambda w: f"/api/offboarding/cases/{w.ids['case']}/capture/",
        api_only(GRANT_MANAGERS, 200),
    ),
    Row(
        "api-offboarding-capture",
        "post",
        lambda w: f"/api/offboarding/cases/{w.ids['case']}/capture/",
        api_only(GRANT_MANAGERS, 409),  # planned: capture starts once Bob is notified
        data=lambda w: {"sources": [w.ids["source"]]},
        json=True,
    ),
    Row(
        "api-offboarding-review",
        "get",
        lambda w: f"/api/offboarding/cases/{w.ids['case']}/review/",
        api_only(GRANT_MANAGERS, 200),
    ),
    # No such case: HR learns so, everyone else gets 403 and cannot tell.
    Row(
        "api-offboarding-review",
        "get",
        lambda w: "/api/offboarding/cases/999999/review/",
        api_only(GRANT_MANAGERS, 404),
    ),
    # No such item: who may review gets 404, everyone else 403 first.
    Row(
        "api-offboarding-redact",
        "post",
        lambda w: f"/api/offboarding/cases/{w.ids['case']}/review/items/999999/redact/",
        api_only(GRANT_MANAGERS, 404),
        data=lambda w: {"reason": "private"},
        json=True,
    ),
    Row(
        "api-offboarding-approve",
        "post",
        lambda w: f"/api/offboarding/cases/{w.ids['case']}/review/approve/",
        api_only(GRANT_MANAGERS, 409),
        data=lambda w: {},
        json=True,
    ),
    Row(
        "api-offboarding-publish",
        "post",
        lambda w: f"/api/offboarding/cases/{w.ids['case']}/publish/",
        api_only(GRANT_MANAGERS, 409),
    ),
    Row(
        "api-offboarding-handover",
        "get",
        lambda w: f"/api/offboarding/cases/{w.ids['case']}/handover/",
        api_only(GRANT_MANAGERS, 200),
    ),
    # HR holding colleagues.view_all_packages, as the bus-factor page.
    Row(
        "api-offboarding-bus-factor",
        "get",
        lambda w: "/api/offboarding/bus-factor/",
        api_only(GRANT_MANAGERS, 200),
    ),
    # The HR system's webhook takes no login, only its signature; with no
    # OFFBOARDING_WEBHOOK_SECRET (as in tests) it is switched off and answers 404 to everyone.
    Row(
        "api-offboarding-webhook",
        "post",
        lambda w: "/api/offboarding/webhook/",
        dict.fromkeys(ROLES, 404),
        data=lambda w: {"event": "offboarding.cancelled", "id": "HR-1"},
        json=True,
    ),
    # Slack's URLs take no login, only Slack's signature (tests/slack_command); with no
    # SLACK_SIGNING_SECRET (as here) they are switched off and answer 404 to everyone.
    Row(
        "slack_command:command",
        "post",
        lambda w: "/slack/commands/",
        dict.fromkeys(ROLES, 404),
        data=lambda w: {"command": "/colleague", "text": "help"},
    ),
    Row(
        "slack_command:interaction",
        "post",
        lambda w: "/slack/interactions/",
        dict.fromkeys(ROLES, 404),
        data=lambda w: {"payload": "{}"},
    ),
    # Everyone signed in manages their own API tokens for AI agents (agents/); another user's
    # token, or none, is a 404.
    Row("agents:tokens", "get", lambda w: "/agents/tokens/", everyone_signed_in(200)),
    Row(
        "agents:tokens",
        "post",
        lambda w: "/agents/tokens/",
        everyone_signed_in(200),
        data=lambda w: {"name": "laptop", "scopes": ["ask"], "expires_in_days": "7"},
    ),
    Row(
        "agents:revoke", "post", lambda w: "/agents/tokens/999999/revoke/", everyone_signed_in(404)
    ),
    # The API's description is public; it holds no data.
    Row("api-schema", "get", lambda w: "/api/schema/", dict.fromkeys(ROLES, 200)),
    Row("api-docs", "get", lambda w: "/api/docs/", dict.fromkeys(ROLES, 200)),
)


def _outcome(response: HttpResponse) -> Any:
    if response.status_code == 302:
        location = response["Location"]
        return "login" if "/login/" in location else "done"
    return response.status_code


def _request(client: Client, row: Row, world: World) -> HttpResponse:
    path = row.path(world)
    data = row.data(world) if row.data else {}
    call = getattr(client, row.method)
    if row.json:
        return call(path, data, content_type="application/json")  # type: ignore[no-any-return]
    return call(path, data)  # type: ignore[no-any-return]


@pytest.mark.parametrize("role", ROLES)
def test_every_url_answers_each_role_as_the_table_says(world: World, role: str) -> None:
    client = Client()
    if role != "anonymous":
        client.force_login(world.users[role])
    wrong = []
    for row in ROWS:
        with transaction.atomic():
            outcome = _outcome(_request(client, row, world))
            transaction.set_rollback(True)
        if outcome != row.expected[role]:
            wrong.append(
                f"{row.method.upper()} {row.path(world)}: {outcome}, not {row.expected[role]}"
            )
    assert wrong == [], f"{role}:\n" + "\n".join(wrong)


def _names(patterns: list[Any], namespace: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue  # Django's admin: staff only, its own permission checks
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= _names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(f"{namespace}{pattern.name}")
    return names


def test_every_url_has_a_row() -> None:
    assert _names(get_resolver().url_patterns) == {row.name for row in ROWS}
