"""What the home page shows each user: a panel per role they hold, their main job first.

HR lands on open offboarding cases, an auditor on the reports, an admin (staff) on sources and
sync health, a manager on their team's packages and the offboarding cases they review; everyone
on asking, who knows, their own package and the departed colleagues. Each panel reads a bounded
number of rows in a fixed number of queries, whatever the size of the company. Nothing here
reads what colleagues wrote: only directory facts, package states, cases, runs and counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth.models import User
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from colleagues.access import own_colleague, team_of
from colleagues.models import Colleague
from connectors.models import Source, SyncRun
from knowledge.models import AuditEvent
from offboarding import cases
from offboarding.models import OffboardingCase
from skills.models import SkillPackage

# How many rows a panel lists before it links to the full page.
PANEL_ROWS = 8
DEPARTED_SHOWN = 12
CLOSED = (OffboardingCase.State.ARCHIVED, OffboardingCase.State.ERASED)


@dataclass(frozen=True)
class SourceHealth:
    source: Source
    latest: SyncRun | None
    quarantined: int


@dataclass(frozen=True)
class TeamMember:
    colleague: Colleague
    package: SkillPackage | None


@dataclass
class Home:
    """The panels of one user's home page (a role's panel is None when they lack the role)."""

    colleague: Colleague | None
    own_package: SkillPackage | None
    departed: list[Colleague]
    hr_cases: list[OffboardingCase] | None = None
    hr_overdue: int = 0
    hr_open: int = 0
    reviews: list[OffboardingCase] | None = None
    team: list[TeamMember] | None = None
    team_size: int = 0
    sources: list[SourceHealth] | None = None
    audit_week: int | None = None
    audit_denied_week: int = 0
    # The role panels to show, main job first: "hr", "audit", "sources", "team".
    roles: list[str] = field(default_factory=list)


def _open_cases() -> QuerySet[OffboardingCase]:
    return OffboardingCase.objects.exclude(state__in=CLOSED).select_related("colleague")


def home_for(user: User) -> Home:
    """The home page of `user`: the panels of every role they hold."""
    colleague = own_colleague(user)
    home = Home(
        colleague=colleague,
        own_package=(
            SkillPackage.objects.filter(colleague=colleague).first()
            if colleague is not None
            else None
        ),
        departed=list(
            Colleague.objects.filter(status=Colleague.Status.DEPARTED).order_by(
                "-departed_on", "name"
            )[:DEPARTED_SHOWN]
        ),
    )
    if colleague is not None and colleague.is_departed:
        return home  # a departed login reads nothing (knowledge/visibility.py)
    if cases.can_manage(user):
        _add_hr(home)
    if user.has_perm("colleagues.view_audit_reports"):
        _add_audit(home)
    if user.is_staff:
        _add_sources(home)
    if colleague is not None:
        _add_manager(home, user, colleague)
    return home


def _add_hr(home: Home) -> None:
    today = timezone.localdate()
    open_cases = _open_cases().annotate(
        overdue=Count(
            "checklist", filter=Q(checklist__done_at__isnull=True, checklist__due_on__lt=today)
        )
    )
    home.hr_cases = list(open_cases.order_by("last_day", "pk")[:PANEL_ROWS])
    home.hr_open = _open_cases().count()
    home.hr_overdue = cases.overdue_items(today).count()
    home.roles.append("hr")


def _add_audit(home: Home) -> None:
    week = AuditEvent.objects.filter(at__gte=timezone.now() - timedelta(days=7))
    counts = week.aggregate(
        total=Count("pk"), denied=Count("pk", filter=Q(result=AuditEvent.Result.DENIED))
    )
    home.audit_week = counts["total"]
    home.audit_denied_week = counts["denied"]
    home.roles.append("audit")


def _add_sources(home: Home) -> None:
    sources = list(
        Source.objects.annotate(quarantined=Count("quarantine", distinct=True)).order_by("name")[
            :PANEL_ROWS
        ]
    )
    latest_ids = (
        SyncRun.objects.filter(source__in=sources)
        .values("source_id")
        .annotate(latest=Max("pk"))
        .values_list("latest", flat=True)
    )
    latest = {run.source_id: run for run in SyncRun.objects.filter(pk__in=latest_ids)}
    home.sources = [
        SourceHealth(source, latest.get(source.pk), source.quarantined) for source in sources
    ]
    home.roles.append("sources")


def _add_manager(home: Home, user: User, colleague: Colleague) -> None:
    reviews = list(
        _open_cases().filter(colleague__manager=colleague).order_by("last_day", "pk")[:PANEL_ROWS]
    )
    team = team_of(user)
    team_size = team.count()
    if not reviews and not team_size:
        return
    home.reviews = reviews
    home.team_size = team_size
    members = list(team.order_by("status", "name")[:PANEL_ROWS])
    packages = {p.colleague_id: p for p in SkillPackage.objects.filter(colleague__in=members)}
    home.team = [TeamMember(member, packages.get(member.pk)) for member in members]
    home.roles.append("team")
