"""Roles, grants and the default package access, as users meet them (colleagues/access.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from colleagues.grants import GrantRefused, grant_access, revoke_grant
from colleagues.models import AccessGrant
from colleagues.roles import ROLE_PERMISSIONS, Role
from knowledge.models import AuditEvent, Item
from knowledge.selectors import items_visible_to
from knowledge.visibility import reader_for
from tests import factories as f
from tests.knowledge.conftest import Org
from tests.knowledge.conftest import org as org  # the fixture

ALICE = "/colleagues/alice-archer"


def _private_item() -> Item:
    return Item.objects.get(body__contains="zebracorn")


@pytest.fixture
def team_mode(settings, org: Org) -> Org:  # type: ignore[no-untyped-def]
    settings.COLLEAGUE_PACKAGE_DEFAULT_ACCESS = "team"
    for colleague, department in ((org.alice, "Payments"), (org.bob, "Payments")):
        colleague.department = department
        colleague.save(update_fields=["department"])
    org.carol.department = "Finance"
    org.carol.save(update_fields=["department"])
    return org


@pytest.mark.django_db
def test_every_role_exists_with_exactly_its_permissions() -> None:
    for role, wanted in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role.value)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert held == wanted, role


def test_team_mode_hides_other_teams_packages_until_a_grant_and_after_its_revocation(
    team_mode: Org,
) -> None:
    org = team_mode
    carol = Client()
    carol.force_login(org.carol_user)
    ask = {"colleague": "alice-archer", "question": "How are the billing keys rotated?"}
    assert carol.get(f"{ALICE}/skill/").status_code == 404
    assert carol.post("/api/ask/", ask, content_type="application/json").status_code == 404
    with pytest.raises(CommandError, match="no colleague"):
        call_command("ask", "alice@acme.test", "billing keys", "--as", "carol")
    # Bob, in Alice's department, may open it; and Alice her own.
    bob = Client()
    bob.force_login(org.bob_user)
    assert bob.get(f"{ALICE}/skill/").status_code == 200

    grant = grant_access(org.alice, user=org.carol_user, reason="handover")
    assert carol.get(f"{ALICE}/skill/").status_code == 200
    assert carol.post("/api/ask/", ask, content_type="application/json").status_code == 200
    # The grant shows Carol what Alice wrote in a private channel Carol is not in.
    private = _private_item()
    assert carol.get(f"/api/items/{private.pk}/").status_code == 200

    revoke_grant(grant)
    assert carol.get(f"{ALICE}/skill/").status_code == 404
    assert carol.get(f"/api/items/{private.pk}/").status_code == 404
    assert AuditEvent.objects.filter(action="grant_created").count() == 1
    assert AuditEvent.objects.filter(action="grant_revoked").count() == 1


def test_an_expired_grant_stops_working(team_mode: Org) -> None:
    org = team_mode
    grant = grant_access(org.alice, user=org.carol_user)
    private = _private_item().pk
    assert private in items_visible_to(reader_for(org.carol_user)).values_list("id", flat=True)
    AccessGrant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - timedelta(1))
    assert private not in items_visible_to(reader_for(org.carol_user)).values_list("id", flat=True)


def test_group_and_department_grants_reach_their_members(team_mode: Org) -> None:
    org = team_mode
    outsider = Client()
    outsider.force_login(org.outsider_user)
    assert outsider.get(f"{ALICE}/skill/").status_code == 404
    group = Group.objects.create(name="handover-team")
    grant_access(org.alice, group=group)
    assert outsider.get(f"{ALICE}/skill/").status_code == 404
    org.outsider_user.groups.add(group)
    assert outsider.get(f"{ALICE}/skill/").status_code == 200

    carol = Client()
    carol.force_login(org.carol_user)
    grant_access(org.alice, department="Finance")
    assert carol.get(f"{ALICE}/skill/").status_code == 200


def test_managers_above_a_colleague_open_their_package_with_the_manager_role(
    team_mode: Org,
) -> None:
    org = team_mode
    org.alice.manager = org.carol
    org.alice.save(update_fields=["manager"])
    carol = Client()
    carol.force_login(org.carol_user)
    assert carol.get(f"{ALICE}/skill/").status_code == 404
    f.give_roles(org.carol_user, Role.MANAGER)
    assert carol.get(f"{ALICE}/skill/").status_code == 200


def test_a_curator_grant_lets_its_holder_correct_and_a_viewer_grant_does_not(org: Org) -> None:
    from skills.actions import build_package

    build_package(org.alice)
    carol = Client()
    carol.force_login(org.carol_user)
    correction = {"kind": "style", "wrong": "hi", "right": "hello"}
    grant = grant_access(org.alice, user=org.carol_user)
    assert carol.post(f"{ALICE}/skill/corrections/", correction).status_code == 403
    revoke_grant(grant)
    grant_access(org.alice, user=org.carol_user, level=AccessGrant.Level.CURATOR)
    assert carol.post(f"{ALICE}/skill/corrections/", correction).status_code == 302
    assert org.alice.skill_package.corrections.count() == 1
    # Alice may correct her own package without any grant.
    alice = Client()
    alice.force_login(org.alice_user)
    assert alice.post(f"{ALICE}/skill/corrections/", correction).status_code == 302


def test_a_login_whose_colleague_departed_sees_nothing(org: Org) -> None:
    before = items_visible_to(reader_for(org.bob_user)).count()
    assert before > 0
    org.bob.status = org.bob.Status.DEPARTED
    org.bob.departed_on = timezone.localdate()
    org.bob.save(update_fields=["status", "departed_on"])
    assert items_visible_to(reader_for(org.bob_user)).count() == 0
    bob = Client()
    bob.force_login(org.bob_user)
    assert bob.get(f"{ALICE}/skill/").status_code == 404


def test_a_grant_names_exactly_one_grantee_and_a_future_expiry(org: Org) -> None:
    with pytest.raises(GrantRefused, match="exactly one"):
        grant_access(org.alice)
    with pytest.raises(GrantRefused, match="exactly one"):
        grant_access(org.alice, user=org.carol_user, department="Finance")
    with pytest.raises(GrantRefused, match="future"):
        grant_access(
            org.alice, user=org.carol_user, expires_at=timezone.now() - timedelta(minutes=1)
        )
    assert not AccessGrant.objects.exists()


def test_hr_grants_and_revokes_from_the_intranet(org: Org) -> None:
    hr = f.make_user("hr", roles=(Role.HR_ADMIN,))
    client = Client()
    client.force_login(hr)
    page = client.post(
        f"{ALICE}/access/", {"username": "carol", "level": "viewer", "reason": "handover"}
    )
    assert page.status_code == 302
    grant = AccessGrant.objects.get()
    assert grant.user == org.carol_user
    assert "user carol" in client.get(f"{ALICE}/access/").content.decode()
    both = client.post(f"{ALICE}/access/", {"username": "carol", "department": "Finance"})
    assert "exactly one" in both.content.decode()
    client.post(f"{ALICE}/access/{grant.pk}/revoke/")
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    assert grant.revoked_by == hr
    assert AuditEvent.objects.filter(action="grant_revoked", actor=hr).count() == 1


def test_no_package_is_built_without_consent_where_it_is_required(org: Org) -> None:
    from skills.actions import BuildRefused, build_package, colleagues_with_new_material

    hr = f.make_user("hr", roles=(Role.HR_ADMIN,))
    client = Client()
    client.force_login(hr)
    client.post(f"{ALICE}/consent/", {"consent": "refused"})
    org.alice.refresh_from_db()
    assert org.alice.consent == "refused"
    assert AuditEvent.objects.filter(action="consent_changed", actor=hr).count() == 1
    with pytest.raises(BuildRefused, match="refused"):
        build_package(org.alice)
    assert org.alice not in colleagues_with_new_material()
    page = client.post(f"{ALICE}/skill/build/", follow=True).content.decode()
    assert "consent to capture is refused" in page
    client.post(f"{ALICE}/consent/", {"consent": "given"})
    org.alice.refresh_from_db()
    assert build_package(org.alice).number == 1


def test_a_refused_request_is_an_audited_denial(org: Org) -> None:
    client = Client()
    client.force_login(org.carol_user)
    response = client.get("/skills/", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 403
    denial = AuditEvent.objects.get(action="access_denied")
    assert denial.actor == org.carol_user
    assert denial.target == "path:/skills/"
    assert denial.result == "denied"
    assert denial.request_id == "req-42"
    assert denial.ip == "127.0.0.1"
