"""Load the demo company into the database: its directory, its sources and three logins."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.test.utils import override_settings

from colleagues.actions import import_directory, link_login
from colleagues.demo.company import DOMAIN, PEOPLE_BY_KEY
from colleagues.demo.generate import DemoCompany, generate_company
from colleagues.models import Colleague
from colleagues.roles import Role
from connectors.actions import run_sync, source_for_path
from connectors.models import SyncRun
from skills.actions import build_packages, colleagues_with_new_material
from skills.models import SkillVersion

WORKSPACE_URL = "https://northwind-robotics.slack.com"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str
    colleague: str


# username, person key, what they can see, staff (sources pages and admin), role
DEMO_LOGINS: tuple[tuple[str, str, str, bool, Role], ...] = (
    ("hr", "grace", "HR admin: People channels, sources and the admin", True, Role.HR_ADMIN),
    (
        "manager",
        "samuel",
        "Payments manager: #payments-incidents and #leadership",
        False,
        Role.MANAGER,
    ),
    (
        "engineer",
        "tom",
        "Platform engineer: public channels and own DMs only",
        False,
        Role.EMPLOYEE,
    ),
)


@dataclass(frozen=True)
class DemoLoad:
    company: DemoCompany
    runs: tuple[SyncRun, ...]
    logins: tuple[DemoLogin, ...]
    packages_built: int


StepCallback = Callable[[str], None]


def load_demo(out_dir: Path, *, on_step: StepCallback | None = None) -> DemoLoad:
    """Generate Northwind Robotics into `out_dir`, ingest it, build the skill packages of
    colleagues with new material and (re)create the demo logins.

    Idempotent: running it again stores nothing new, builds no package, and resets the demo
    logins' passwords (they are printed, never stored in clear).
    """
    step = on_step or (lambda _message: None)
    step(f"Generating the demo company into {out_dir}")
    company = generate_company(out_dir)
    runs = ingest_company(company, on_step=step)
    stale = colleagues_with_new_material()
    step(f"Building skill packages ({len(stale)} colleagues with new material)")
    built = build_packages(stale, reason=SkillVersion.Reason.NEW_MATERIAL)
    logins = tuple(_demo_login(*spec) for spec in DEMO_LOGINS)
    return DemoLoad(
        company=company,
        runs=tuple(runs),
        logins=logins,
        packages_built=sum(1 for outcome in built if outcome.version is not None),
    )


def ingest_company(company: DemoCompany, *, on_step: StepCallback | None = None) -> list[SyncRun]:
    """Import the company's HR directory and sync its Slack export, mailbox and documents."""
    step = on_step or (lambda _message: None)
    step(f"Importing the HR directory ({len(company.people)} people)")
    import_directory(company.directory_csv)
    runs = []
    # Mail from outside northwind.example (vendors, customers) is captured, but its senders
    # are not colleagues.
    with override_settings(COLLEAGUE_ORG_DOMAINS=[DOMAIN]):
        for label, path, config in (
            # The demo shows DMs (their visibility, their evidence): captured only when the
            # source enables them (README "Exclusions and masking").
            (
                "Northwind Slack",
                company.slack_export,
                {"workspace_url": WORKSPACE_URL, "include_direct_messages": True},
            ),
            ("Northwind mail", company.mbox, {}),
            ("Northwind documents", company.docs_dir, {"audience": "public"}),
        ):
            step(f"Ingesting {label} from {path.name}")
            source = source_for_path(path, name=label, **config)
            runs.append(run_sync(source=source))
    return runs


@transaction.atomic
def _demo_login(username: str, person_key: str, role: str, staff: bool, group: Role) -> DemoLogin:
    person = PEOPLE_BY_KEY[person_key]
    colleague = Colleague.objects.get(email__iexact=person.email)
    password = secrets.token_urlsafe(9)
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.email = person.email
    user.first_name, _, user.last_name = person.name.partition(" ")
    user.is_staff = staff
    user.is_superuser = staff
    user.set_password(password)
    user.save()
    user.groups.set([Group.objects.get(name=group.value)])
    link_login(colleague=colleague, user=user)
    return DemoLogin(username=username, password=password, role=role, colleague=person.name)
