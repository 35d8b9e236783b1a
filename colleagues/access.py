"""Who may open, and who may curate, a colleague's skill package.

A login whose colleague has departed opens nothing (knowledge.visibility agrees: it reads
nothing). Two questions, answered afresh on every request (so a revoked or expired grant stops
working on the next one):

- *May this user open the package at all?* (`can_view_package`) — the package page, its
  downloads, asking the colleague. Everyone else gets a 404, never a hint that it exists.
- *What of it may they see?* — not decided here: every statement and excerpt is filtered by
  knowledge.visibility (what the reader could see at the source, widened by grants).

The default for packages nobody granted is `COLLEAGUE_PACKAGE_DEFAULT_ACCESS`:
``"organisation"`` (every signed-in member may open every package, each seeing only the
evidence they may see) or ``"team"`` (only the colleague, their department, the managers above
them, and holders of the roles' permissions).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as LoginUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from colleagues.models import AccessGrant, Colleague

User = AbstractBaseUser | AnonymousUser

ORGANISATION = "organisation"
TEAM = "team"
DEFAULT_ACCESS_CHOICES = (ORGANISATION, TEAM)
# A management chain longer than this is a data error (a loop): stop walking it.
_MAX_CHAIN = 50


def _login(user: User | None) -> LoginUser | None:
    """`user` if it is an active login (anonymous and inactive users are nobody)."""
    return user if isinstance(user, LoginUser) and user.is_active else None


def own_colleague(user: User | None) -> Colleague | None:
    """The colleague a login user reads as, or None."""
    login = _login(user)
    if login is None:
        return None
    return Colleague.objects.filter(user_id=login.pk).first()


def live_grants() -> QuerySet[AccessGrant]:
    """Grants in force now: not revoked, not expired."""
    return AccessGrant.objects.filter(revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )


def grants_held_by(user: User | None) -> QuerySet[AccessGrant]:
    """The live grants that name `user`, one of their groups, or their colleague's department."""
    login = _login(user)
    if login is None:
        return AccessGrant.objects.none()
    condition = Q(user_id=login.pk) | Q(group__in=login.groups.all())
    department = (
        Colleague.objects.filter(user_id=login.pk).values_list("department", flat=True).first()
    )
    if department:
        condition |= Q(department=department)
    return live_grants().filter(condition)


def granted_colleague_ids(user: User | None) -> frozenset[int]:
    """Colleagues whose packages `user` holds a live grant on."""
    return frozenset(grants_held_by(user).values_list("colleague_id", flat=True))


def _managers_of(colleague: Colleague) -> set[int]:
    """Ids of the managers above `colleague`, up the chain."""
    found: set[int] = set()
    manager_id = colleague.manager_id
    while manager_id is not None and manager_id not in found and len(found) < _MAX_CHAIN:
        found.add(manager_id)
        manager_id = (
            Colleague.objects.filter(pk=manager_id).values_list("manager_id", flat=True).first()
        )
    return found


def default_access() -> str:
    return getattr(settings, "COLLEAGUE_PACKAGE_DEFAULT_ACCESS", ORGANISATION)


def can_view_package(user: User | None, colleague: Colleague) -> bool:
    """Whether `user` may open `colleague`'s package (and ask them)."""
    login = _login(user)
    if login is None:
        return False
    reader = own_colleague(user)
    if reader is not None and reader.is_departed:
        return False
    if login.has_perm("colleagues.view_all_packages"):
        return True
    if reader is not None and reader.pk == colleague.pk:
        return True
    if grants_held_by(user).filter(colleague=colleague).exists():
        return True
    if default_access() == ORGANISATION:
        return True
    if reader is None:
        return False
    if reader.department and reader.department == colleague.department:
        return True
    # Managers above the colleague see their package; the Manager role is what lets them.
    return reader.pk in _managers_of(colleague) and login.has_perm("colleagues.view_team_packages")


def can_curate_package(user: User | None, colleague: Colleague) -> bool:
    """Whether `user` may correct, rebuild, restore and review feedback on the package."""
    login = _login(user)
    if login is None:
        return False
    own = own_colleague(user)
    if own is not None and own.is_departed:
        return False
    if login.has_perm("colleagues.curate_packages"):
        return True
    return (
        grants_held_by(user).filter(colleague=colleague, level=AccessGrant.Level.CURATOR).exists()
    )


def viewable_colleague(user: User | None, slug: str) -> Colleague:
    """The colleague `slug` names if `user` may open their package; Http404 otherwise."""
    colleague = Colleague.objects.select_related("manager").filter(slug=slug).first()
    if colleague is None or not can_view_package(user, colleague):
        raise Http404("No such colleague.")
    return colleague


def viewable_colleagues(user: User | None) -> QuerySet[Colleague]:
    """The colleagues whose packages `user` may open."""
    everyone = Colleague.objects.all()
    login = _login(user)
    if login is None:
        return everyone.none()
    reader = own_colleague(user)
    if reader is not None and reader.is_departed:
        return everyone.none()
    if login.has_perm("colleagues.view_all_packages"):
        return everyone
    if default_access() == ORGANISATION:
        return everyone
    condition = Q(pk__in=granted_colleague_ids(user))
    if reader is not None:
        condition |= Q(pk=reader.pk)
        if reader.department:
            condition |= Q(department=reader.department)
        if login.has_perm("colleagues.view_team_packages"):
            condition |= Q(pk__in=_reports_of(reader))
    return everyone.filter(condition)


def team_of(user: User | None) -> QuerySet[Colleague]:
    """Everyone below `user`'s colleague, down the chain, when they hold the Manager role's
    permission to open their team's packages; nobody otherwise."""
    login = _login(user)
    reader = own_colleague(user)
    if (
        login is None
        or reader is None
        or reader.is_departed
        or not login.has_perm("colleagues.view_team_packages")
    ):
        return Colleague.objects.none()
    return Colleague.objects.filter(pk__in=_reports_of(reader))


def _reports_of(manager: Colleague) -> set[int]:
    """Ids of everyone below `manager`, down the chain."""
    found: set[int] = set()
    frontier = {manager.pk}
    for _ in range(_MAX_CHAIN):
        below = set(Colleague.objects.filter(manager_id__in=frontier).values_list("id", flat=True))
        below -= found | {manager.pk}
        if not below:
            break
        found |= below
        frontier = below
    return found


def curated_colleague(user: User | None, slug: str) -> Colleague:
    """The colleague `slug` names if `user` may curate their package: Http404 if they may not
    even open it, PermissionDenied if they may open but not curate it."""
    colleague = viewable_colleague(user, slug)
    if not can_curate_package(user, colleague):
        raise PermissionDenied("Only the package's curators may do this.")
    return colleague
