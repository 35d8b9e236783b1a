"""The handover map, the bus-factor view and exit-interview questions (issue 9, items 3, 6).

Packages are given analyses as a build writes them (systems and expertise areas with their
counts), so the figures are known exactly.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from colleagues.models import Colleague
from knowledge.models import AuditEvent
from offboarding.cases import open_case
from offboarding.handover import bus_factor, exit_interview_questions, handover_map, set_successor
from skills.models import SkillPackage, SkillVersion
from tests.knowledge.conftest import Org
from tests.knowledge.conftest import org as org  # the fixture

pytestmark = pytest.mark.django_db


def system(name: str, count: int, asked: int = 0) -> dict[str, Any]:
    return {"name": name, "count": count, "asked": asked, "evidence": list(range(count))}


def area(label: str, evidence: int, asked: int = 0) -> dict[str, Any]:
    return {"label": label, "terms": [], "evidence": list(range(evidence)), "asked": asked}


def built(colleague: Colleague, *, systems: list[Any], expertise: list[Any]) -> None:
    package, _ = SkillPackage.objects.get_or_create(colleague=colleague)
    SkillVersion.objects.create(
        package=package,
        number=package.versions.count() + 1,
        generator="test",
        analysis={"work": {"systems": systems, "expertise": expertise}, "style": {}},
        files={},
    )


@pytest.fixture
def packages(org: Org) -> Org:
    built(
        org.alice,
        systems=[system("Vault", 9, asked=4), system("Stripe", 1, asked=3)],
        expertise=[area("Billing keys", 5), area("Card tokens", 2, asked=1)],
    )
    built(org.bob, systems=[system("Terraform", 6), system("vault", 2)], expertise=[])
    return org


def test_the_bus_factor_lists_what_one_person_alone_writes_about_leavers_first(
    packages: Org,
) -> None:
    org = packages
    before = [(t.name, t.holder.name, t.leaving) for t in bus_factor()]
    # Vault is shared (any case), so it is nobody's alone.
    assert before == [
        ("Terraform", "Bob Baker", False),
        ("Billing keys", "Alice Archer", False),
        ("Card tokens", "Alice Archer", False),
        ("Stripe", "Alice Archer", False),
    ]
    open_case(org.alice, last_day=date(2026, 12, 18), via="ui")
    leaving = [(t.name, t.leaving) for t in bus_factor()]
    assert leaving[:3] == [("Billing keys", True), ("Card tokens", True), ("Stripe", True)]


def test_exit_interview_questions_start_with_what_others_asked_and_little_explains(
    packages: Org,
) -> None:
    questions = exit_interview_questions(packages.alice)
    assert questions[0].startswith("Colleagues asked you about Stripe 3 times, but only 1 of")
    assert questions[1].startswith("Colleagues asked you about Card tokens 1 time, but only 2")
    assert not any("Vault" in q and q.startswith("Colleagues asked") for q in questions)
    assert exit_interview_questions(packages.carol) == []  # no package yet


def test_the_handover_map_joins_their_areas_with_the_successors_named(packages: Org) -> None:
    org = packages
    case = open_case(org.alice, last_day=date(2026, 12, 18), via="ui")
    set_successor(case, area="VAULT", successor=org.bob, actor=None, note="runbook in the wiki")
    set_successor(case, area="On-call rota", successor=org.carol, actor=None)
    rows = {row.area: row for row in handover_map(case)}
    assert list(rows) == ["Vault", "Billing keys", "Card tokens", "Stripe", "on-call rota"]
    assert rows["Vault"].successor == org.bob
    assert rows["Vault"].note == "runbook in the wiki"
    assert rows["Stripe"].successor is None
    assert rows["on-call rota"].successor == org.carol
    # Renaming the successor replaces the first choice; each change is audited, as ids.
    set_successor(case, area="vault", successor=org.carol, actor=None)
    assert {r.area: r.successor for r in handover_map(case)}["Vault"] == org.carol
    events = AuditEvent.objects.filter(action="offboarding_successor")
    assert events.count() == 3
    assert "vault" not in str([e.detail for e in events]).lower()
